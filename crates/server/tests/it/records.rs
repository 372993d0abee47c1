//! Issue 13 through the HTTP API: one registration per client_id, PATCH of OAuth clients,
//! expired connect sessions, the audit trail and the scopes catalogue.

use reqwest::{Method, StatusCode};
use serde_json::{Value, json};
use sqlx::Connection;

use crate::both_backends;
use crate::common::{Db, Env};
use crate::oauth::consent;

both_backends!(oauth_clients_are_unique_and_editable, |db: Db| async move {
    let env = Env::start(db).await;
    let key = env.key();
    let sim_client = env.sim.oauth_clients[0].clone();
    // Registered with a wrong secret: the code exchange would fail.
    let r = env
        .client
        .post(
            &env.url("/api/v1/oauth/clients"),
            Some(key),
            &json!({"client_id": sim_client.client_id, "client_secret": "wrong-secret-0001",
                    "scopes": ["read:jira-work"]}),
        )
        .await;
    assert_eq!(r.status, StatusCode::CREATED, "{}", r.text);
    let id = r.json()["id"].as_str().unwrap().to_owned();

    let dup = env
        .client
        .post(
            &env.url("/api/v1/oauth/clients"),
            Some(key),
            &json!({"client_id": sim_client.client_id, "client_secret": "other"}),
        )
        .await;
    let p = dup.assert_problem(409, "conflict");
    assert!(p["detail"].as_str().unwrap().contains(&id), "{p}");
    let list = env
        .client
        .get(&env.url("/api/v1/oauth/clients"), Some(key))
        .await
        .json();
    assert_eq!(list["data"].as_array().unwrap().len(), 1);

    // PATCH: rotate the secret to the right one and change the scopes.
    let patch = |body: Value, k: String| {
        let env = &env;
        let id = id.clone();
        async move {
            env.client
                .send(
                    Method::PATCH,
                    &env.url(&format!("/api/v1/oauth/clients/{id}")),
                    Some(&k),
                    Some(&body),
                    &[],
                )
                .await
        }
    };
    let exec = env.key_with(&["connectors:write"]).await;
    patch(json!({"scopes": ["read:me"]}), exec)
        .await
        .assert_problem(403, "forbidden");
    patch(json!({}), key.to_owned())
        .await
        .assert_problem(422, "validation");
    let r = patch(
        json!({"client_secret": sim_client.client_secret,
               "scopes": ["read:jira-work", "write:jira-work", "read:jira-user"]}),
        key.to_owned(),
    )
    .await;
    assert_eq!(r.status, StatusCode::OK, "{}", r.text);
    let v = r.json();
    assert_eq!(
        v["scopes"],
        json!(["read:jira-work", "write:jira-work", "read:jira-user"])
    );
    assert!(v.get("client_secret").is_none(), "{v}");

    // The rotated secret is the one used: the OAuth flow now completes.
    let (sid, callback) = consent(
        &env.client,
        &env.server.url,
        key,
        json!({"oauth_client_id": id, "workspace_name": "w", "name": "rotated",
               "subdomain": env.sim.sites[0].subdomain}),
        &env.server.url,
    )
    .await;
    let page = env.client.get(&callback, None).await;
    assert_eq!(page.status, StatusCode::OK, "{}", page.text);
    let st = env
        .client
        .get(
            &env.url(&format!("/api/v1/connect/sessions/{sid}")),
            Some(key),
        )
        .await
        .json();
    assert_eq!(st["status"], "connected", "{st}");

    // The update is audited, without the secret.
    let audit = env
        .client
        .get(
            &env.url("/api/v1/audit?kind=oauth_client.update"),
            Some(key),
        )
        .await;
    assert_eq!(audit.status, StatusCode::OK, "{}", audit.text);
    let events = audit.json()["data"].as_array().unwrap().clone();
    assert_eq!(events.len(), 1, "{events:?}");
    assert_eq!(events[0]["target"], json!(id));
    assert_eq!(events[0]["detail"]["secret_rotated"], json!(true));
    env.client
        .assert_never_seen(&[sim_client.client_secret.as_str(), "wrong-secret-0001"]);
});

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_expired_connect_session_reports_expired() {
    let env = Env::start(Db::Sqlite).await;
    let key = env.key();
    let client_id =
        crate::oauth::register_client(&env.client, &env.server.url, key, &env.sim).await;
    let r = env
        .client
        .post(
            &env.url("/api/v1/connect/sessions"),
            Some(key),
            &json!({"oauth_client_id": client_id, "name": "late"}),
        )
        .await;
    assert_eq!(r.status, StatusCode::CREATED, "{}", r.text);
    let sid = r.json()["id"].as_str().unwrap().to_owned();
    let url = env.url(&format!("/api/v1/connect/sessions/{sid}"));
    assert_eq!(
        env.client.get(&url, Some(key)).await.json()["status"],
        "pending"
    );

    // Its time runs out (expires_at is INTEGER microseconds on SQLite).
    let db = env._dir.path().join("jiragate.db");
    let mut c = sqlx::SqliteConnection::connect(&format!("sqlite://{}", db.display()))
        .await
        .unwrap();
    sqlx::query("UPDATE connect_sessions SET expires_at = 1000000 WHERE id = ?")
        .bind(&sid)
        .execute(&mut c)
        .await
        .unwrap();
    c.close().await.unwrap();
    let st = env.client.get(&url, Some(key)).await.json();
    assert_eq!(st["status"], "expired", "{st}");
}

both_backends!(
    audit_trail_is_readable_filtered_and_paged,
    |db: Db| async move {
        let env = Env::start(db).await;
        let key = env.key();
        let a = env.seed_connector("a").await;
        let _b = env.seed_connector("b").await;
        let check = env
            .client
            .post(
                &env.url(&format!("/api/v1/integrations/connectors/{a}/check")),
                Some(key),
                &json!({}),
            )
            .await;
        assert!(check.status.is_success(), "{}", check.text);

        let get = |q: String, k: String| {
            let env = &env;
            async move {
                env.client
                    .get(&env.url(&format!("/api/v1/audit{q}")), Some(&k))
                    .await
            }
        };
        let all = get(String::new(), key.to_owned()).await;
        assert_eq!(all.status, StatusCode::OK, "{}", all.text);
        let all = all.json()["data"].as_array().unwrap().clone();
        assert!(all.len() >= 2, "{all:?}");
        // Compared as instants: RFC 3339 text drops trailing zeros of the fraction, so
        // `…:00.12Z` sorts after `…:00.1234Z` as text although it is earlier.
        let at = |v: &serde_json::Value| {
            let text = v["at"].as_str().unwrap_or_default();
            time::OffsetDateTime::parse(text, &time::format_description::well_known::Rfc3339)
                .unwrap_or_else(|e| panic!("`at` {text:?} is not RFC 3339: {e}"))
        };
        assert!(
            all.windows(2).all(|w| at(&w[0]) >= at(&w[1])),
            "newest first: {:?}",
            all.iter().map(|v| v["at"].clone()).collect::<Vec<_>>()
        );

        let only_a = get(format!("?connection={a}"), key.to_owned()).await.json();
        let only_a = only_a["data"].as_array().unwrap();
        assert!(!only_a.is_empty());
        assert!(only_a.iter().all(|e| e["target"] == json!(a)), "{only_a:?}");
        let by_name = get("?connection=w/a".into(), key.to_owned()).await.json();
        assert_eq!(by_name["data"].as_array().unwrap().len(), only_a.len());

        // Pages of one, joined, are the whole list.
        let mut ids = Vec::new();
        let mut token: Option<String> = None;
        loop {
            let q = match &token {
                Some(t) => format!("?limit=1&page_token={t}"),
                None => "?limit=1".into(),
            };
            let page = get(q, key.to_owned()).await.json();
            ids.extend(
                page["data"]
                    .as_array()
                    .unwrap()
                    .iter()
                    .map(|e| e["id"].clone()),
            );
            match page["next_page_token"].as_str() {
                Some(t) => token = Some(t.to_owned()),
                None => break,
            }
        }
        assert_eq!(ids, all.iter().map(|e| e["id"].clone()).collect::<Vec<_>>());

        let future = get("?since=2999-01-01T00:00:00Z".into(), key.to_owned())
            .await
            .json();
        assert!(future["data"].as_array().unwrap().is_empty());
        get("?limit=501".into(), key.to_owned())
            .await
            .assert_problem(422, "validation");
        get("?since=yesterday".into(), key.to_owned())
            .await
            .assert_problem(422, "validation");
        get("?page_token=nope".into(), key.to_owned())
            .await
            .assert_problem(422, "validation");
        let exec = env.key_with(&["execute"]).await;
        get(String::new(), exec)
            .await
            .assert_problem(403, "forbidden");
    }
);

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_scopes_catalogue_is_served() {
    let env = Env::start(Db::Sqlite).await;
    let exec = env.key_with(&["execute"]).await;
    let r = env
        .client
        .get(&env.url("/api/v1/scopes"), Some(&exec))
        .await;
    assert_eq!(r.status, StatusCode::OK, "{}", r.text);
    let data = r.json()["data"].as_array().unwrap().clone();
    let work = data
        .iter()
        .find(|s| s["scope"] == "read:jira-work")
        .expect("read:jira-work is listed");
    assert_eq!(work["kind"], "classic");
    assert!(!work["description"].as_str().unwrap().is_empty());
    assert!(
        work["actions"]
            .as_array()
            .unwrap()
            .contains(&json!("issues.search"))
    );
    assert!(data.iter().any(|s| s["kind"] == "granular"));
    assert!(data.iter().all(|s| s["description"].is_string()));
    let one = env
        .client
        .get(&env.url("/api/v1/scopes?action=issues.search"), Some(&exec))
        .await
        .json();
    assert!(
        one["data"]
            .as_array()
            .unwrap()
            .iter()
            .all(|s| s["actions"] == json!(["issues.search"]))
    );
    env.client
        .get(&env.url("/api/v1/scopes?action=no.such"), Some(&exec))
        .await
        .assert_problem(404, "not_found");
}
