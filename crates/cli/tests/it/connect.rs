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
