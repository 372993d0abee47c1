//! `jiragate connect` end to end: the test plays the browser by following the authorize URL to
//! the simulator's auto-consent and then the redirect to the CLI's loopback listener.

use std::io::{BufRead, BufReader};
use std::process::Stdio;
use std::time::Duration;

use atlassian_sim::SimConfig;
use serde_json::Value;

use crate::remote::free_port;
use crate::support::*;

#[tokio::test(flavor = "multi_thread")]
async fn connect_in_local_mode_with_the_loopback_callback() {
    let port = free_port();
    let public = format!("http://127.0.0.1:{port}");
    let env = Env::with(SimConfig {
        redirect_uris: vec![format!("{public}/oauth/callback")],
        ..SimConfig::default()
    })
    .await;
    let client = &env.sim.oauth_clients[0];
    let o = run({
        let mut c = env.cmd();
        c.env("JIRAGATE_PUBLIC_URL", &public)
            .env("JIRAGATE_OAUTH_CLIENT_SECRET", &client.client_secret)
            .args(["oauth-clients", "add", "--client-id", &client.client_id]);
        c
    })
    .await;
    assert!(o.status.success(), "{}", all_output(&o));

    let mut c = env.cmd();
    c.env("JIRAGATE_PUBLIC_URL", &public)
        .args([
            "connect",
            "--no-browser",
            "--name",
            "cloud",
            "--subdomain",
            &env.sim.sites[1].subdomain,
            "--output",
            "json",
            "--timeout",
            "60",
        ])
        .stdout(Stdio::piped())
        .stderr(Stdio::piped());
    let mut child = c.spawn().unwrap();
    let stderr = child.stderr.take().unwrap();
    // The URL is printed on stderr; read until it appears.
    let url = tokio::task::spawn_blocking(move || {
        let reader = BufReader::new(stderr);
        for line in reader.lines().take(50) {
            let line = line.unwrap_or_default();
            if let Some(u) = line
                .split_whitespace()
                .find(|w| w.starts_with("http") && w.contains("/authorize?"))
            {
                return u.to_string();
            }
        }
        String::new()
    })
    .await
    .unwrap();
    assert!(
        url.contains("code_challenge_method=S256") && url.contains("offline_access"),
        "{url}"
    );

    let http = reqwest::Client::builder()
        .redirect(reqwest::redirect::Policy::none())
        .build()
        .unwrap();
    let consent = http.get(&url).send().await.unwrap();
    assert!(consent.status().is_redirection(), "{}", consent.status());
    let location = consent.headers()["location"].to_str().unwrap().to_string();
    assert!(location.starts_with(&public), "{location}");
    let page = http.get(&location).send().await.unwrap();
    assert!(page.status().is_success());
    assert!(page.text().await.unwrap().contains("Connected"));

    let out = tokio::time::timeout(
        Duration::from_secs(30),
        tokio::task::spawn_blocking(move || child.wait_with_output().unwrap()),
    )
    .await
    .unwrap()
    .unwrap();
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stdout)
    );
    let conn: Value = serde_json::from_slice(&out.stdout).unwrap();
    assert_eq!(conn["auth_kind"], "oauth2");
    assert!(
        conn["site_url"]
            .as_str()
            .unwrap()
            .ends_with(&env.sim.sites[1].subdomain),
        "{conn}"
    );

    // The connection works for execute afterwards.
    let o = run({
        let mut c = env.cmd();
        c.args([
            "connectors",
            "execute",
            "-n",
            "cloud",
            "--entity",
            "myself",
            "--action",
            "get",
            "--output",
            "json",
        ]);
        c
    })
    .await;
    assert!(o.status.success(), "{}", all_output(&o));
}

/// A grant of the simulator's first OAuth client over both sites, as a caller's own OAuth app
/// would hold it: (refresh token, client id, client secret).
async fn own_grant(env: &Env) -> (String, String, String) {
    let c = &env.sim.oauth_clients[0];
    let redirect = c.redirect_uris[0].clone();
    let http = reqwest::Client::builder()
        .redirect(reqwest::redirect::Policy::none())
        .build()
        .unwrap();
    let r = http
        .get(format!("{}/authorize", env.sim.auth_url))
        .query(&[
            ("audience", "api.atlassian.com"),
            ("client_id", c.client_id.as_str()),
            ("scope", "read:jira-work read:jira-user offline_access"),
            ("redirect_uri", redirect.as_str()),
            ("state", "cli-byo"),
            ("response_type", "code"),
            ("prompt", "consent"),
        ])
        .send()
        .await
        .unwrap();
    let location = r.headers()["location"].to_str().unwrap().to_owned();
    let code = url::Url::parse(&location)
        .unwrap()
        .query_pairs()
        .find(|(k, _)| k == "code")
        .map(|(_, v)| v.into_owned())
        .expect("code");
    let t: Value = http
        .post(format!("{}/oauth/token", env.sim.auth_url))
        .json(
            &serde_json::json!({"grant_type": "authorization_code", "client_id": c.client_id,
            "client_secret": c.client_secret, "code": code, "redirect_uri": redirect}),
        )
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    (
        t["refresh_token"].as_str().unwrap().to_owned(),
        c.client_id.clone(),
        c.client_secret.clone(),
    )
}

/// A bring-your-own-token create that cannot decide the site parks the tokens; the command
/// the problem names (`connect --session … --site …`) finishes it against the server.
#[tokio::test(flavor = "multi_thread")]
async fn connect_session_finishes_a_parked_byo_create() {
    let env = Env::new().await;
    let served = crate::remote::serve(&env).await;
    let (refresh, client_id, secret) = own_grant(&env).await;
    let r = reqwest::Client::new()
        .post(format!("{}/api/v1/integrations/connectors", served.base))
        .bearer_auth(&served.key)
        .json(&serde_json::json!({"workspace_name": "w", "name": "byo",
            "credentials": {"refresh_token": refresh, "client_id": client_id, "client_secret": secret}}))
        .send()
        .await
        .unwrap();
    assert_eq!(r.status().as_u16(), 422);
    let p: Value = r.json().await.unwrap();
    let cli = p["continue"]["cli"]
        .as_str()
        .expect("continue.cli")
        .to_owned();
    let session = p["session_id"].as_str().unwrap().to_owned();
    assert!(
        cli.starts_with(&format!("jiragate connect --session {session} --site ")),
        "{p}"
    );
    let site = env.sim.sites[1].subdomain.clone();
    let mut c = env.cmd();
    c.env("JIRAGATE_SERVER", &served.base)
        .env("JIRAGATE_API_KEY", &served.key)
        .args([
            "connect",
            "--session",
            &session,
            "--site",
            &site,
            "-o",
            "json",
        ]);
    let o = run(c).await;
    assert!(o.status.success(), "{}", all_output(&o));
    let conn: Value = serde_json::from_str(&stdout(&o)).unwrap();
    assert_eq!(conn["name"], "byo", "{conn}");
    let text = conn.to_string();
    assert!(
        text.contains(&env.sim.sites[1].cloud_id) || text.contains(&site),
        "{conn}"
    );
    assert!(!all_output(&o).contains(&refresh));
}
