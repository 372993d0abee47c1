//! The OAuth connect flow through the API, the site choice, single-use state and the refresh
//! storm across two instances on one PostgreSQL database.

use std::time::Duration;

use atlassian_sim::{SimConfig, Simulator};
use jiragate_server::App;
use reqwest::StatusCode;
use serde_json::{Value, json};

use crate::both_backends;
use crate::common::{Client, Db, Env, PgDb, Server, base_config, fresh_master_key};

/// Register the simulator's OAuth client; returns its jiragate id.
pub async fn register_client(
    client: &Client,
    base: &str,
    key: &str,
    sim: &atlassian_sim::SimHandle,
) -> String {
    let c = &sim.oauth_clients[0];
    let r = client
        .post(
            &format!("{base}/api/v1/oauth/clients"),
            Some(key),
            &json!({"client_id": c.client_id, "client_secret": c.client_secret,
                      "scopes": ["read:jira-work", "write:jira-work", "read:jira-user"]}),
        )
        .await;
    assert_eq!(r.status, StatusCode::CREATED, "{}", r.text);
    r.json()["id"].as_str().unwrap().to_owned()
}

/// Start a session and follow the authorize URL to the simulator's auto-consent redirect.
/// Returns (session id, callback URL on `callback_base`).
pub async fn consent(
    client: &Client,
    base: &str,
    key: &str,
    body: Value,
    callback_base: &str,
) -> (String, String) {
    let r = client
        .post(&format!("{base}/api/v1/connect/sessions"), Some(key), &body)
        .await;
    assert_eq!(r.status, StatusCode::CREATED, "{}", r.text);
    let s = r.json();
    let authorize = s["authorize_url"].as_str().unwrap().to_owned();
    let q: std::collections::HashMap<String, String> = url::Url::parse(&authorize)
        .unwrap()
        .query_pairs()
        .into_owned()
        .collect();
    assert_eq!(
        q.get("audience").map(String::as_str),
        Some("api.atlassian.com")
    );
    assert_eq!(q.get("prompt").map(String::as_str), Some("consent"));
    assert_eq!(
        q.get("code_challenge_method").map(String::as_str),
        Some("S256")
    );
    assert!(q.get("scope").is_some_and(|s| s.contains("offline_access")));
    assert!(q.contains_key("state"));
    let consent = client.http.get(&authorize).send().await.unwrap();
    assert_eq!(
        consent.status(),
        StatusCode::FOUND,
        "auto-consent redirects"
    );
    let location = consent.headers()["location"].to_str().unwrap().to_owned();
    let loc = url::Url::parse(&location).unwrap();
    let callback = format!(
        "{callback_base}{}?{}",
        loc.path(),
        loc.query().unwrap_or("")
    );
    (s["id"].as_str().unwrap().to_owned(), callback)
}

/// A connected OAuth connector for the first site, named `name` in workspace `w`.
pub async fn connect_with_subdomain(env: &Env, name: &str, owner: Option<&str>) -> String {
    let client_id = match env
        .client
        .get(&env.url("/api/v1/oauth/clients"), Some(env.key()))
        .await
        .json()["data"][0]["id"]
        .as_str()
    {
        Some(id) => id.to_owned(),
        None => register_client(&env.client, &env.server.url, env.key(), &env.sim).await,
    };
    let mut body = json!({"oauth_client_id": client_id, "workspace_name": "w", "name": name, "subdomain": env.sim.sites[0].subdomain});
    if let Some(o) = owner {
        body["owner"] = json!(o);
    }
    let (sid, callback) = consent(
        &env.client,
        &env.server.url,
        env.key(),
        body,
        &env.server.url,
    )
    .await;
    let page = env.client.get(&callback, None).await;
    assert_eq!(page.status, StatusCode::OK, "{}", page.text);
    assert!(page.text.contains("Jira connected"), "{}", page.text);
    let st = env
        .client
        .get(
            &env.url(&format!("/api/v1/connect/sessions/{sid}")),
            Some(env.key()),
        )
        .await
        .json();
    assert_eq!(st["status"], "connected", "{st}");
    st["connector_id"].as_str().unwrap().to_owned()
}

fn ticket_of(html: &str) -> String {
    let start = html.find("name=\"ticket\" value=\"").expect("ticket field")
        + "name=\"ticket\" value=\"".len();
    html[start..].split('"').next().unwrap().to_owned()
}

both_backends!(connect_flow_with_site_choice, |db: Db| async move {
    let env = Env::start(db).await;
    let key = env.key();
    let client_id = register_client(&env.client, &env.server.url, key, &env.sim).await;

    // two sites, none asked for: the session waits for a choice
    let (sid, callback) = consent(
        &env.client,
        &env.server.url,
        key,
        json!({"oauth_client_id": client_id, "workspace_name": "w", "name": "two-sites"}),
        &env.server.url,
    )
    .await;
    let pending = env
        .client
        .get(
            &env.url(&format!("/api/v1/connect/sessions/{sid}")),
            Some(key),
        )
        .await
        .json();
    assert_eq!(pending["status"], "pending");
    let page = env.client.get(&callback, None).await;
    assert_eq!(page.status, StatusCode::OK, "{}", page.text);
    assert!(page.content_type().starts_with("text/html"));
    assert!(page.text.contains("Choose the Jira site"), "{}", page.text);
    let st = env
        .client
        .get(
            &env.url(&format!("/api/v1/connect/sessions/{sid}")),
            Some(key),
        )
        .await
        .json();
    assert_eq!(st["status"], "choose_site", "{st}");
    assert_eq!(st["sites"].as_array().map(Vec::len), Some(2), "{st}");
    // the state is single-use
    let replay = env.client.get(&callback, None).await;
    assert_eq!(replay.status, StatusCode::BAD_REQUEST, "{}", replay.text);
    assert!(
        replay.text.contains("already used") || replay.text.contains("single-use"),
        "{}",
        replay.text
    );

    // choose in the browser: the form posts the page's ticket, no API key
    let globex = env.sim.sites[1].cloud_id.clone();
    let ticket = ticket_of(&page.text);
    let form = [("ticket", ticket.as_str()), ("cloud_id", globex.as_str())];
    let chosen = env
        .client
        .http
        .post(env.url("/oauth/callback/site"))
        .form(&form)
        .send()
        .await
        .unwrap();
    assert_eq!(chosen.status(), StatusCode::OK);
    assert!(chosen.text().await.unwrap().contains("Jira connected"));
    let again = env
        .client
        .http
        .post(env.url("/oauth/callback/site"))
        .form(&form)
        .send()
        .await
        .unwrap();
    assert_eq!(
        again.status(),
        StatusCode::BAD_REQUEST,
        "ticket is single-use"
    );
    let st = env
        .client
        .get(
            &env.url(&format!("/api/v1/connect/sessions/{sid}")),
            Some(key),
        )
        .await
        .json();
    assert_eq!(st["status"], "connected", "{st}");
    let conn = st["connector_id"].as_str().unwrap().to_owned();
    let c = env
        .client
        .get(
            &env.url(&format!("/api/v1/integrations/connectors/{conn}")),
            Some(key),
        )
        .await
        .json();
    assert_eq!(c["cloud_id"], globex.as_str(), "{c}");
    assert_eq!(c["auth_kind"], "oauth2");

    // the API route does the same for a second session
    let (sid2, cb2) = consent(
        &env.client,
        &env.server.url,
        key,
        json!({"oauth_client_id": client_id, "workspace_name": "w", "name": "api-choice"}),
        &env.server.url,
    )
    .await;
    assert_eq!(env.client.get(&cb2, None).await.status, StatusCode::OK);
    let acme = env.sim.sites[0].cloud_id.clone();
    let r = env
        .client
        .post(
            &env.url(&format!("/api/v1/connect/sessions/{sid2}/site")),
            Some(key),
            &json!({"cloud_id": acme}),
        )
        .await;
    assert_eq!(r.status, StatusCode::OK, "{}", r.text);
    assert_eq!(r.json()["status"], "connected");
    // choosing twice is refused
    let r = env
        .client
        .post(
            &env.url(&format!("/api/v1/connect/sessions/{sid2}/site")),
            Some(key),
            &json!({"cloud_id": acme}),
        )
        .await;
    assert!(r.status.is_client_error(), "{}", r.text);

    // asking for a subdomain connects without a question; the proxy reaches the site
    let conn3 = connect_with_subdomain(&env, "by-subdomain", None).await;
    let info = env
        .client
        .get(
            &env.url(&format!(
                "/api/v1/integrations/connectors/{conn3}/proxy/rest/api/3/serverInfo"
            )),
            Some(key),
        )
        .await;
    assert_eq!(info.status, StatusCode::OK, "{}", info.text);

    // a consent denied at Atlassian ends on the failure page
    let (_sid4, cb4) = consent(
        &env.client,
        &env.server.url,
        key,
        json!({"oauth_client_id": client_id, "workspace_name": "w", "name": "denied"}),
        &env.server.url,
    )
    .await;
    let state = url::Url::parse(&cb4)
        .unwrap()
        .query_pairs()
        .find(|(k, _)| k == "state")
        .unwrap()
        .1
        .into_owned();
    let denied = env
        .client
        .get(
            &env.url(&format!(
                "/oauth/callback?state={state}&error=access_denied"
            )),
            None,
        )
        .await;
    assert!(
        denied.status.is_client_error() || denied.status.is_server_error(),
        "{}",
        denied.text
    );
    assert!(denied.text.contains("was not made"), "{}", denied.text);
    env.client.assert_never_seen(
        &env.sim_secrets()
            .iter()
            .map(String::as_str)
            .collect::<Vec<_>>(),
    );
});

/// Two instances on one PostgreSQL, requests alternating between them: a full OAuth connect,
/// then a refresh storm across both → exactly one refresh upstream.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn two_instances_one_refresh() {
    tokio::time::timeout(Duration::from_secs(120), async {
        let sim = Simulator::start(SimConfig::default()).await.unwrap();
        let pg = PgDb::create().await;
        let dir_a = tempfile::tempdir().unwrap();
        let dir_b = tempfile::tempdir().unwrap();
        let master = fresh_master_key();
        let mut cfg_a = base_config(&sim, dir_a.path());
        cfg_a.database_url = pg.url.clone();
        cfg_a.master_key = Some(master.clone());
        let app_a = App::build(cfg_a).await.expect("instance A");
        let public = app_a.base_url();
        let mut cfg_b = base_config(&sim, dir_b.path());
        cfg_b.database_url = pg.url.clone();
        cfg_b.master_key = Some(master);
        // both instances register the same redirect URI: either may receive the callback
        cfg_b.public_url = Some(public.clone());
        let app_b = App::build(cfg_b).await.expect("instance B");
        sim.add_redirect_uri(&format!("{public}/oauth/callback"));
        let a = Server::spawn(app_a).await;
        let b = Server::spawn(app_b).await;
        let key = a.admin_key.clone();
        assert!(!key.is_empty(), "A bootstrapped the admin key");
        let client = Client::default();

        // connect: client registered on A, session started on B, callback on A, status on B
        let client_id = register_client(&client, &a.url, &key, &sim).await;
        let (sid, callback) = consent(&client, &b.url, &key,
            json!({"oauth_client_id": client_id, "workspace_name": "w", "name": "shared", "subdomain": sim.sites[0].subdomain}), &a.url).await;
        let page = client.get(&callback, None).await;
        assert_eq!(page.status, StatusCode::OK, "{}", page.text);
        let st = client.get(&format!("{}/api/v1/connect/sessions/{sid}", b.url), Some(&key)).await.json();
        assert_eq!(st["status"], "connected", "{st}");
        let conn = st["connector_id"].as_str().unwrap().to_owned();

        // warm both instances' token caches
        for base in [&a.url, &b.url] {
            let r = client.get(&format!("{base}/api/v1/integrations/connectors/{conn}/proxy/rest/api/3/myself"), Some(&key)).await;
            assert_eq!(r.status, StatusCode::OK, "{}", r.text);
        }
        let before = sim.stats().await;
        sim.advance_clock(3700);
        let mut calls = Vec::new();
        for i in 0..60 {
            let base = if i % 2 == 0 { a.url.clone() } else { b.url.clone() };
            let client = client.clone();
            let key = key.clone();
            let conn = conn.clone();
            calls.push(tokio::spawn(async move {
                client.get(&format!("{base}/api/v1/integrations/connectors/{conn}/proxy/rest/api/3/myself"), Some(&key)).await
            }));
        }
        let mut ok = 0;
        let mut failures = Vec::new();
        for c in calls {
            let r = c.await.unwrap();
            if r.status == StatusCode::OK {
                ok += 1;
            } else {
                failures.push(format!("{} {}", r.status, r.text));
            }
        }
        assert!(failures.is_empty(), "{} failed, first: {}", failures.len(), failures[0]);
        let after = sim.stats().await;
        assert_eq!(ok, 60, "every call of the storm succeeds");
        assert_eq!(after.token_requests.refresh_token - before.token_requests.refresh_token, 1, "exactly one refresh upstream");
        assert_eq!(after.refresh_token_reuse, 0);
        a.stop().await.unwrap();
        b.stop().await.unwrap();
        drop(pg);
    })
    .await
    .expect("finished in time");
}
