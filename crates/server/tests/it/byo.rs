//! Bring-your-own OAuth tokens: a create that cannot decide the site after refreshing keeps the
//! rotated tokens in a connect session instead of burning the caller's refresh token.

use reqwest::StatusCode;
use serde_json::{Value, json};

use crate::both_backends;
use crate::common::{Db, Env};

/// A fresh grant straight from the simulator (what a caller's own OAuth app holds): the
/// authorization-code flow of its first OAuth client, covering every seeded site.
async fn grant(env: &Env) -> (String, String) {
    let c = &env.sim.oauth_clients[0];
    let redirect = c.redirect_uris[0].clone();
    let authorize = env
        .client
        .http
        .get(format!("{}/authorize", env.sim.auth_url))
        .query(&[
            ("audience", "api.atlassian.com"),
            ("client_id", c.client_id.as_str()),
            (
                "scope",
                "read:jira-work write:jira-work read:jira-user offline_access",
            ),
            ("redirect_uri", redirect.as_str()),
            ("state", "byo-test"),
            ("response_type", "code"),
            ("prompt", "consent"),
        ])
        .send()
        .await
        .unwrap();
    assert_eq!(authorize.status(), StatusCode::FOUND);
    let location = authorize.headers()["location"].to_str().unwrap().to_owned();
    let code = url::Url::parse(&location)
        .unwrap()
        .query_pairs()
        .find(|(k, _)| k == "code")
        .map(|(_, v)| v.into_owned())
        .expect("code");
    let tokens: Value = env
        .client
        .http
        .post(format!("{}/oauth/token", env.sim.auth_url))
        .json(
            &json!({"grant_type": "authorization_code", "client_id": c.client_id,
                      "client_secret": c.client_secret, "code": code, "redirect_uri": redirect}),
        )
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    (
        tokens["refresh_token"]
            .as_str()
            .expect("refresh")
            .to_owned(),
        tokens["access_token"].as_str().expect("access").to_owned(),
    )
}

fn byo_body(env: &Env, name: &str, refresh: &str, subdomain: Option<&str>) -> Value {
    let c = &env.sim.oauth_clients[0];
    let mut body = json!({"workspace_name": "w", "name": name,
        "credentials": {"refresh_token": refresh, "client_id": c.client_id, "client_secret": c.client_secret}});
    if let Some(s) = subdomain {
        body["replication_config"] = json!({"subdomain": s});
    }
    body
}

/// The refused create names the session, both sites and how to continue; nothing leaks.
fn assert_parked(p: &Value, env: &Env, refresh: &str) -> String {
    let sid = p["session_id"].as_str().expect("session_id").to_owned();
    let detail = p["detail"].as_str().unwrap();
    assert!(detail.contains(&sid), "{p}");
    assert!(
        detail.contains(&format!("jiragate connect --session {sid}")),
        "{p}"
    );
    assert!(
        detail.contains(&format!("/api/v1/connect/sessions/{sid}/site")),
        "{p}"
    );
    assert_eq!(
        p["continue"]["path"],
        format!("/api/v1/connect/sessions/{sid}/site")
    );
    let sites: Vec<&str> = p["sites"]
        .as_array()
        .expect("sites")
        .iter()
        .map(|s| s["cloud_id"].as_str().unwrap())
        .collect();
    assert_eq!(sites.len(), 2, "{p}");
    for s in &env.sim.sites[..2] {
        assert!(sites.contains(&s.cloud_id.as_str()), "{p}");
    }
    assert!(!p.to_string().contains(refresh), "the refresh token leaked");
    sid
}

async fn execute_ok(env: &Env, conn: &str) {
    let r = env
        .client
        .post(
            &env.url(&format!("/api/v1/integrations/connectors/{conn}/execute")),
            Some(env.key()),
            &json!({"entity": "projects", "action": "list"}),
        )
        .await;
    assert_eq!(r.status, StatusCode::OK, "{}", r.text);
}

both_backends!(byo_refused_create_keeps_tokens, |db: Db| async move {
    let env = Env::start(db).await;
    assert!(env.sim.sites.len() >= 2, "the grant must cover two sites");

    // 1. No subdomain on a two-site grant: refused after the refresh, tokens parked.
    let (refresh, _) = grant(&env).await;
    let r = env
        .client
        .post(
            &env.url("/api/v1/integrations/connectors"),
            Some(env.key()),
            &byo_body(&env, "byo", &refresh, None),
        )
        .await;
    let p = r.assert_problem(422, "site_choice_required");
    let sid = assert_parked(&p, &env, &refresh);
    let st = env
        .client
        .get(
            &env.url(&format!("/api/v1/connect/sessions/{sid}")),
            Some(env.key()),
        )
        .await
        .json();
    assert_eq!(st["status"], "choose_site", "{st}");
    // Finish it by subdomain: the connection exists and works.
    let second = &env.sim.sites[1];
    let r = env
        .client
        .post(
            &env.url(&format!("/api/v1/connect/sessions/{sid}/site")),
            Some(env.key()),
            &json!({"cloud_id": second.subdomain}),
        )
        .await;
    assert_eq!(r.status, StatusCode::OK, "{}", r.text);
    let conn = r.json()["connector_id"].as_str().unwrap().to_owned();
    let c = env
        .client
        .get(
            &env.url(&format!("/api/v1/integrations/connectors/{conn}")),
            Some(env.key()),
        )
        .await
        .json();
    assert_eq!(c["name"], "byo", "{c}");
    assert!(
        c.to_string().contains(&second.cloud_id) || c.to_string().contains(&second.subdomain),
        "{c}"
    );
    execute_ok(&env, &conn).await;
    // The parked refresh token keeps the connection alive after the access token expires.
    let refreshes = env.sim.stats().await.token_requests.refresh_token;
    env.sim.advance_clock(2 * 3600);
    execute_ok(&env, &conn).await;
    let stats = env.sim.stats().await;
    assert!(stats.token_requests.refresh_token > refreshes, "{stats:?}");

    // 2. An unknown subdomain takes the same path.
    let (refresh2, _) = grant(&env).await;
    let r = env
        .client
        .post(
            &env.url("/api/v1/integrations/connectors"),
            Some(env.key()),
            &byo_body(&env, "byo2", &refresh2, Some("no-such-site")),
        )
        .await;
    let p = r.assert_problem(422, "site_choice_required");
    assert!(
        p["detail"].as_str().unwrap().contains("no-such-site"),
        "{p}"
    );
    let sid2 = assert_parked(&p, &env, &refresh2);
    let first = &env.sim.sites[0];
    let r = env
        .client
        .post(
            &env.url(&format!("/api/v1/connect/sessions/{sid2}/site")),
            Some(env.key()),
            &json!({"cloud_id": first.cloud_id}),
        )
        .await;
    assert_eq!(r.status, StatusCode::OK, "{}", r.text);
    let conn2 = r.json()["connector_id"].as_str().unwrap().to_owned();
    execute_ok(&env, &conn2).await;

    // Neither caller's refresh token was ever presented twice: no family was revoked.
    let stats = env.sim.stats().await;
    assert_eq!(stats.refresh_token_reuse, 0, "{stats:?}");
    assert_eq!(stats.refresh_token_reuse_late, 0, "{stats:?}");
    env.client
        .assert_never_seen(&[refresh.as_str(), refresh2.as_str()]);
});
