//! The token manager against the simulator: refresh storms, rotation, invalid_grant, 401s.

use std::sync::Arc;

use jiragate_auth::AuthError;
use jiragate_jira::{JiraAuth, JiraRequest, Target};
use jiragate_store::ConnectionStatus;
use secrecy::ExposeSecret;

use crate::common::{Env, within};

fn bearer(t: &Target) -> String {
    match &t.auth {
        JiraAuth::Bearer(s) => s.expose_secret().to_owned(),
        JiraAuth::Basic { .. } => panic!("expected a bearer token"),
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn refresh_storm_on_sqlite_makes_exactly_one_token_request() {
    let env = Env::sqlite().await;
    let conn = env.oauth_connection("storm").await;
    let first = env
        .svc
        .tokens()
        .get_valid_token(&env.org, &conn.id)
        .await
        .unwrap();
    env.advance(3700); // the access token is now expired for us and for Atlassian
    let before = env.sim.stats().await;
    let tasks: Vec<_> = (0..1000)
        .map(|_| {
            let tm = env.svc.tokens().clone();
            let (org, id) = (env.org.clone(), conn.id.clone());
            tokio::spawn(async move { tm.get_valid_token(&org, &id).await })
        })
        .collect();
    let mut tokens = std::collections::HashSet::new();
    for t in within(60, futures::future::join_all(tasks)).await {
        tokens.insert(bearer(&t.unwrap().unwrap()));
    }
    let after = env.sim.stats().await;
    assert_eq!(
        after.token_requests.refresh_token - before.token_requests.refresh_token,
        1,
        "1000 concurrent callers must share one refresh"
    );
    assert_eq!(after.refresh_token_reuse, 0);
    assert_eq!(tokens.len(), 1, "every caller got the same new token");
    assert_ne!(tokens.into_iter().next().unwrap(), bearer(&first));
    // And the new token works on Jira.
    let src = env.svc.token_source(&env.org, &conn);
    let resp = env
        .svc
        .jira()
        .send(src.as_ref(), JiraRequest::get("/rest/api/3/myself"))
        .await
        .unwrap();
    assert_eq!(resp.status.as_u16(), 200);
}

#[tokio::test]
async fn cache_hit_does_not_touch_the_database() {
    let env = Env::sqlite().await;
    let conn = env.oauth_connection("cache").await;
    env.svc
        .tokens()
        .get_valid_token(&env.org, &conn.id)
        .await
        .unwrap();
    let flights = env.svc.tokens().stats().flights;
    // Close the pool: any database access from now on would fail.
    env.store.close().await;
    for _ in 0..100 {
        env.svc
            .tokens()
            .get_valid_token(&env.org, &conn.id)
            .await
            .unwrap();
    }
    assert_eq!(env.svc.tokens().stats().flights, flights);
    assert!(env.svc.tokens().stats().cache_hits >= 100);
}

#[tokio::test]
async fn fifty_refresh_cycles_keep_the_newest_refresh_token() {
    let env = Env::sqlite().await;
    let conn = env.oauth_connection("cycles").await;
    let mut last_generation = env
        .store
        .get_credential(&env.org, &conn.id)
        .await
        .unwrap()
        .unwrap()
        .generation;
    let mut seen_refresh_tokens = std::collections::HashSet::new();
    for i in 0..50 {
        env.advance(3601);
        let t = env
            .svc
            .tokens()
            .get_valid_token(&env.org, &conn.id)
            .await
            .unwrap();
        let cred = env
            .store
            .get_credential(&env.org, &conn.id)
            .await
            .unwrap()
            .unwrap();
        assert_eq!(
            cred.generation,
            last_generation + 1,
            "cycle {i}: one commit per refresh"
        );
        last_generation = cred.generation;
        let rt = env
            .svc
            .keyring()
            .open_str(
                &env.org,
                conn.id.as_ref(),
                jiragate_auth::fields::REFRESH_TOKEN,
                cred.sealed_refresh_token.as_deref().unwrap(),
            )
            .await
            .unwrap();
        assert!(
            seen_refresh_tokens.insert(rt.expose_secret().to_owned()),
            "cycle {i}: refresh token rotated"
        );
        let at = env
            .svc
            .keyring()
            .open_str(
                &env.org,
                conn.id.as_ref(),
                jiragate_auth::fields::ACCESS_TOKEN,
                cred.sealed_access_token.as_deref().unwrap(),
            )
            .await
            .unwrap();
        assert_eq!(
            at.expose_secret(),
            bearer(&t),
            "cycle {i}: the handed-out token is the stored one"
        );
    }
    let stats = env.sim.stats().await;
    assert_eq!(stats.token_requests.refresh_token, 50);
    assert_eq!(
        stats.refresh_token_reuse, 0,
        "never presented an old refresh token"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn concurrent_401s_on_a_token_we_think_valid_coalesce_into_one_refresh() {
    let env = Env::sqlite().await;
    let conn = env.oauth_connection("skew").await;
    env.svc
        .tokens()
        .get_valid_token(&env.org, &conn.id)
        .await
        .unwrap();
    // Only Atlassian's clock moves: our cache still believes the token is valid.
    env.sim.advance_clock(3700);
    let before = env.sim.stats().await;
    let src = env.svc.token_source(&env.org, &conn);
    let calls: Vec<_> = (0..50)
        .map(|_| {
            let (src, jira) = (Arc::clone(&src), env.svc.jira().clone());
            tokio::spawn(async move {
                jira.send(src.as_ref(), JiraRequest::get("/rest/api/3/myself"))
                    .await
            })
        })
        .collect();
    for r in within(60, futures::future::join_all(calls)).await {
        assert_eq!(r.unwrap().unwrap().status.as_u16(), 200);
    }
    let after = env.sim.stats().await;
    assert_eq!(
        after.token_requests.refresh_token - before.token_requests.refresh_token,
        1
    );
    assert_eq!(after.refresh_token_reuse, 0);
}

#[tokio::test]
async fn invalid_grant_marks_needs_reauth_and_stops_upstream_calls() {
    let env = Env::sqlite().await;
    let conn = env.oauth_connection("dead").await;
    let t = env
        .svc
        .tokens()
        .get_valid_token(&env.org, &conn.id)
        .await
        .unwrap();
    let http = reqwest::Client::new();
    let r = http
        .post(format!("{}/__sim/revoke", env.sim.auth_url))
        .json(&serde_json::json!({"access_token": bearer(&t)}))
        .send()
        .await
        .unwrap();
    assert!(r.status().is_success());
    env.advance(3700);
    let err = env
        .svc
        .tokens()
        .get_valid_token(&env.org, &conn.id)
        .await
        .unwrap_err();
    assert!(matches!(err, AuthError::NeedsReauth { .. }), "{err}");
    assert_eq!(err.kind(), "needs_reauth");
    let stored = env
        .store
        .get_connection(&env.org, &conn.id)
        .await
        .unwrap()
        .unwrap();
    assert_eq!(stored.status, ConnectionStatus::NeedsReauth);
    assert!(stored.status_reason.unwrap().contains("invalid_grant"));
    let audit = env.store.list_audit(&env.org, 50).await.unwrap();
    assert!(
        audit
            .iter()
            .any(|e| e.action == "connection.needs_reauth" && e.target == conn.id.as_str())
    );
    // No further upstream calls, however often it is asked.
    let before = env.sim.stats().await;
    for _ in 0..20 {
        let e = env
            .svc
            .tokens()
            .get_valid_token(&env.org, &conn.id)
            .await
            .unwrap_err();
        assert!(matches!(e, AuthError::NeedsReauth { .. }));
    }
    let after = env.sim.stats().await;
    assert_eq!(
        after.token_requests.refresh_token,
        before.token_requests.refresh_token
    );
    assert_eq!(after.requests, before.requests);

    // Re-authorization with new tokens (here: from a fresh consent) brings it back.
    let client = env
        .svc
        .store()
        .list_oauth_clients(&env.org)
        .await
        .unwrap()
        .remove(0);
    let donor = match env.connect(&client, "donor", Some("acme")).await.unwrap() {
        jiragate_auth::CallbackOutcome::Connected(c) => c,
        other => panic!("{other:?}"),
    };
    let cred = env
        .store
        .get_credential(&env.org, &donor.id)
        .await
        .unwrap()
        .unwrap();
    let rt = env
        .svc
        .keyring()
        .open_str(
            &env.org,
            donor.id.as_ref(),
            jiragate_auth::fields::REFRESH_TOKEN,
            cred.sealed_refresh_token.as_deref().unwrap(),
        )
        .await
        .unwrap();
    env.store
        .delete_connection(&env.org, &donor.id)
        .await
        .unwrap();
    let revived = env
        .svc
        .replace_credentials(
            &env.org,
            &conn.id,
            jiragate_auth::Credentials::OAuthTokens {
                refresh_token: rt,
                access_token: None,
                client_id: None,
                client_secret: None,
            },
        )
        .await
        .unwrap();
    assert_eq!(revived.status, ConnectionStatus::Healthy);
    env.svc
        .tokens()
        .get_valid_token(&env.org, &conn.id)
        .await
        .unwrap();
    assert_eq!(
        env.svc.check(&env.org, &conn.id).await.unwrap().status,
        ConnectionStatus::Healthy
    );
}

#[tokio::test]
async fn health_check_detects_a_revoked_grant() {
    let env = Env::sqlite().await;
    let conn = env.oauth_connection("health").await;
    let ok = env.svc.check(&env.org, &conn.id).await.unwrap();
    assert_eq!(ok.status, ConnectionStatus::Healthy);
    let t = env
        .svc
        .tokens()
        .get_valid_token(&env.org, &conn.id)
        .await
        .unwrap();
    reqwest::Client::new()
        .post(format!("{}/__sim/revoke", env.sim.auth_url))
        .json(&serde_json::json!({"access_token": bearer(&t)}))
        .send()
        .await
        .unwrap();
    let check = env.svc.check(&env.org, &conn.id).await.unwrap();
    assert_eq!(check.status, ConnectionStatus::NeedsReauth, "{check:?}");
    assert!(check.reason.is_some());
    let stored = env
        .store
        .get_connection(&env.org, &conn.id)
        .await
        .unwrap()
        .unwrap();
    assert_eq!(stored.status, ConnectionStatus::NeedsReauth);
    assert!(stored.last_checked_at.is_some());
    let latest = env
        .store
        .latest_health(&env.org, &conn.id)
        .await
        .unwrap()
        .unwrap();
    assert_eq!(latest.status, ConnectionStatus::NeedsReauth);
}

#[tokio::test]
async fn access_token_is_fresh_and_audited() {
    let env = Env::sqlite().await;
    let conn = env.oauth_connection("export").await;
    let (token, expires) = env.svc.access_token(&env.org, &conn.id).await.unwrap();
    assert!(expires > env.clock.now());
    let t = env
        .svc
        .tokens()
        .get_valid_token(&env.org, &conn.id)
        .await
        .unwrap();
    assert_eq!(token.expose_secret(), bearer(&t));
    let audit = env.store.list_audit(&env.org, 50).await.unwrap();
    assert!(audit.iter().any(|e| e.action == "credential.access_token"));
}

#[tokio::test]
async fn background_pass_refreshes_tokens_close_to_expiry() {
    let env = Env::sqlite().await;
    let conn = env.oauth_connection("proactive").await;
    let first = env
        .svc
        .tokens()
        .get_valid_token(&env.org, &conn.id)
        .await
        .unwrap();
    // 2 minutes left: inside the 5-minute margin, still valid for callers.
    env.advance(3600 - 120);
    let still = env
        .svc
        .tokens()
        .get_valid_token(&env.org, &conn.id)
        .await
        .unwrap();
    assert_eq!(bearer(&first), bearer(&still));
    let before = env.sim.stats().await.token_requests.refresh_token;
    env.svc.run_background_pass().await;
    assert_eq!(
        env.sim.stats().await.token_requests.refresh_token,
        before + 1
    );
    let after = env
        .svc
        .tokens()
        .get_valid_token(&env.org, &conn.id)
        .await
        .unwrap();
    assert_ne!(bearer(&first), bearer(&after));
}

#[tokio::test]
async fn keep_alive_refreshes_idle_connections() {
    let env = Env::sqlite_with(
        |_| {},
        |cfg| {
            cfg.background.keepalive_after = std::time::Duration::from_secs(20 * 24 * 3600);
        },
    )
    .await;
    let conn = env.oauth_connection("idle").await;
    let before = env.sim.stats().await.token_requests.refresh_token;
    env.svc.run_background_pass().await;
    assert_eq!(
        env.sim.stats().await.token_requests.refresh_token,
        before,
        "fresh grant: nothing to do"
    );
    env.advance(21 * 24 * 3600);
    env.svc.run_background_pass().await;
    assert_eq!(
        env.sim.stats().await.token_requests.refresh_token,
        before + 1
    );
    let cred = env
        .store
        .get_credential(&env.org, &conn.id)
        .await
        .unwrap()
        .unwrap();
    assert!(cred.refresh_issued_at.unwrap() > env.clock.now() - time::Duration::hours(1));
}

#[tokio::test]
async fn scheduled_health_checks_are_due_by_interval_and_rate_limited() {
    let env = Env::sqlite_with(
        |_| {},
        |cfg| {
            cfg.background.health_interval = std::time::Duration::from_secs(60);
            cfg.background.health_jitter = std::time::Duration::ZERO;
            cfg.background.health_checks_per_minute = 1;
        },
    )
    .await;
    let a = env.oauth_connection("a").await;
    let client = env
        .svc
        .store()
        .list_oauth_clients(&env.org)
        .await
        .unwrap()
        .remove(0);
    let b = match env.connect(&client, "b", Some("globex")).await.unwrap() {
        jiragate_auth::CallbackOutcome::Connected(c) => c,
        other => panic!("{other:?}"),
    };
    env.svc.run_background_pass().await;
    let checked = |env: &Env, id| {
        let (store, org) = (env.store.clone(), env.org.clone());
        async move { store.latest_health(&org, &id).await.unwrap().is_some() }
    };
    assert!(
        !checked(&env, a.id.clone()).await && !checked(&env, b.id.clone()).await,
        "not due yet"
    );
    env.advance(120);
    env.svc.run_background_pass().await;
    let done = [
        checked(&env, a.id.clone()).await,
        checked(&env, b.id.clone()).await,
    ];
    assert_eq!(
        done.iter().filter(|d| **d).count(),
        1,
        "global limit: one check per minute"
    );
    env.svc.run_background_pass().await; // a new pass = a new minute window here
    assert!(checked(&env, a.id.clone()).await && checked(&env, b.id.clone()).await);
}

/// A token that lives 20 s (less than the 30 s refresh skew) is refreshed when a quarter of its
/// life is left, not on every call.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn short_lived_tokens_are_not_refreshed_on_every_call() {
    let env = Env::sqlite_with(
        |sim| sim.access_token_ttl = std::time::Duration::from_secs(20),
        |_| {},
    )
    .await;
    let conn = env.oauth_connection("short").await;
    let before = env.sim.stats().await;
    let tm = env.svc.tokens();
    let first = bearer(&tm.get_valid_token(&env.org, &conn.id).await.unwrap());
    for _ in 0..20 {
        let t = tm.get_valid_token(&env.org, &conn.id).await.unwrap();
        assert_eq!(bearer(&t), first, "a fresh 20 s token is reused");
    }
    let mid = env.sim.stats().await;
    assert_eq!(
        mid.token_requests.refresh_token - before.token_requests.refresh_token,
        0,
        "no refresh while the token has more than a quarter of its life left"
    );
    env.advance(16); // 4 s left: inside the 5 s margin of a 20 s token
    let second = bearer(&tm.get_valid_token(&env.org, &conn.id).await.unwrap());
    assert_ne!(second, first, "due: refreshed");
    for _ in 0..10 {
        assert_eq!(
            bearer(&tm.get_valid_token(&env.org, &conn.id).await.unwrap()),
            second
        );
    }
    let after = env.sim.stats().await;
    assert_eq!(
        after.token_requests.refresh_token - before.token_requests.refresh_token,
        1
    );
    assert_eq!(after.refresh_token_reuse, 0);
}
