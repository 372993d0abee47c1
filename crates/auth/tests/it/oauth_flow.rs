//! The OAuth 2.0 (3LO) connect flow against the simulator.

use std::time::Duration;

use base64::Engine as _;
use jiragate_auth::{AuthError, CallbackOutcome, NewOAuthTokens, StartConnect, fields};
use jiragate_store::{ApiType, AuthKind, Owner, SessionStatus};
use secrecy::{ExposeSecret, SecretString};
use sha2::Digest as _;

use crate::common::{Env, consent, redirect_uri};

fn start_req(
    client: &jiragate_store::OAuthClientRecord,
    name: &str,
    subdomain: Option<&str>,
) -> StartConnect {
    StartConnect {
        oauth_client_id: client.id.clone(),
        workspace: "w".to_owned(),
        name: name.to_owned(),
        scopes: None,
        subdomain: subdomain.map(str::to_owned),
        owner: Owner::Installation,
        api_type: ApiType::Platform,
    }
}

#[tokio::test]
async fn requested_subdomain_connects_to_that_site() {
    let env = Env::sqlite().await;
    let client = env.oauth_client().await;
    assert_eq!(client.redirect_uri, redirect_uri());
    for sub in ["globex", "acme"] {
        let out = env
            .connect(&client, &format!("c-{sub}"), Some(sub))
            .await
            .unwrap();
        let CallbackOutcome::Connected(conn) = out else {
            panic!("{out:?}")
        };
        let site = env.sim.sites.iter().find(|s| s.subdomain == sub).unwrap();
        assert_eq!(conn.cloud_id.as_deref(), Some(site.cloud_id.as_str()));
        assert_eq!(conn.site_url, site.url.trim_end_matches('/'));
        assert_eq!(conn.subdomain.as_deref(), Some(sub));
        assert_eq!(conn.auth_kind, AuthKind::OAuth2);
        assert!(
            conn.scopes.iter().any(|s| s == "read:jira-work"),
            "{:?}",
            conn.scopes
        );
        assert!(conn.account_id.is_some());
        let t = env
            .svc
            .tokens()
            .get_valid_token(&env.org, &conn.id)
            .await
            .unwrap();
        assert_eq!(
            t.base_url,
            format!("{}/ex/jira/{}", env.sim.api_url, site.cloud_id)
        );
    }
}

#[tokio::test]
async fn several_sites_wait_for_an_explicit_choice() {
    let env = Env::sqlite().await;
    let client = env.oauth_client().await;
    let out = env.connect(&client, "two", None).await.unwrap();
    let CallbackOutcome::ChooseSite { session_id, sites } = out else {
        panic!("{out:?}")
    };
    assert_eq!(sites.len(), 2);
    let session = env
        .store
        .get_connect_session(&env.org, &session_id)
        .await
        .unwrap()
        .unwrap();
    assert_eq!(session.status, SessionStatus::ChooseSite);
    assert!(session.connection_id.is_none());
    assert!(
        env.store
            .list_connections(&env.org, None)
            .await
            .unwrap()
            .is_empty(),
        "never silently the first"
    );
    let err = env
        .svc
        .choose_site(&env.org, &session_id, "not-a-cloud-id")
        .await
        .unwrap_err();
    assert!(matches!(err, AuthError::SiteNotFound { .. }), "{err}");
    let globex = env
        .sim
        .sites
        .iter()
        .find(|s| s.subdomain == "globex")
        .unwrap();
    let conn = env
        .svc
        .choose_site(&env.org, &session_id, &globex.cloud_id)
        .await
        .unwrap();
    assert_eq!(conn.cloud_id.as_deref(), Some(globex.cloud_id.as_str()));
    let session = env
        .store
        .get_connect_session(&env.org, &session_id)
        .await
        .unwrap()
        .unwrap();
    assert_eq!(session.status, SessionStatus::Connected);
    assert_eq!(session.connection_id.as_ref(), Some(&conn.id));
    assert!(
        session.sealed_pending_tokens.is_none(),
        "parked tokens are erased"
    );
    // A second choice is refused.
    let again = env
        .svc
        .choose_site(&env.org, &session_id, &globex.cloud_id)
        .await
        .unwrap_err();
    assert!(matches!(again, AuthError::SessionState { .. }), "{again}");
    // And the chosen connection works.
    assert_eq!(
        env.svc.check(&env.org, &conn.id).await.unwrap().status,
        jiragate_store::ConnectionStatus::Healthy
    );
}

#[tokio::test]
async fn wrong_subdomain_fails_clearly_and_lists_the_sites() {
    let env = Env::sqlite().await;
    let client = env.oauth_client().await;
    let err = env
        .connect(&client, "nope", Some("initech"))
        .await
        .unwrap_err();
    let AuthError::SiteNotFound {
        requested,
        available,
    } = &err
    else {
        panic!("{err}")
    };
    assert_eq!(requested, "initech");
    assert_eq!(available.len(), 2);
    let msg = err.to_string();
    assert!(
        msg.contains("initech") && msg.contains("acme") && msg.contains("globex"),
        "{msg}"
    );
    assert!(
        env.store
            .list_connections(&env.org, None)
            .await
            .unwrap()
            .is_empty()
    );
}

#[tokio::test]
async fn state_is_single_use_and_unknown_states_are_refused() {
    let env = Env::sqlite().await;
    let client = env.oauth_client().await;
    let start = env
        .svc
        .start_connect(&env.org, start_req(&client, "once", Some("acme")))
        .await
        .unwrap();
    let (code, state) = consent(&start.authorize_url).await;
    assert!(matches!(
        env.svc
            .handle_callback(&state, Some(&code), None)
            .await
            .unwrap(),
        CallbackOutcome::Connected(_)
    ));
    let replay = env
        .svc
        .handle_callback(&state, Some(&code), None)
        .await
        .unwrap_err();
    assert!(
        matches!(replay, AuthError::State { reason: "replayed" }),
        "{replay}"
    );
    assert!(replay.to_string().contains("already used"));
    let forged = env
        .svc
        .handle_callback(
            "forged-state-value-that-was-never-issued",
            Some(&code),
            None,
        )
        .await
        .unwrap_err();
    assert!(
        matches!(forged, AuthError::State { reason: "unknown" }),
        "{forged}"
    );
    let empty = env
        .svc
        .handle_callback("", Some(&code), None)
        .await
        .unwrap_err();
    assert!(matches!(empty, AuthError::State { .. }));
}

#[tokio::test]
async fn expired_state_is_refused() {
    let env = Env::sqlite_with(
        |_| {},
        |cfg| cfg.connect_session_ttl = Duration::from_secs(1),
    )
    .await;
    let client = env.oauth_client().await;
    let start = env
        .svc
        .start_connect(&env.org, start_req(&client, "late", Some("acme")))
        .await
        .unwrap();
    let (code, state) = consent(&start.authorize_url).await;
    tokio::time::sleep(Duration::from_millis(1500)).await;
    let err = env
        .svc
        .handle_callback(&state, Some(&code), None)
        .await
        .unwrap_err();
    assert!(
        matches!(err, AuthError::State { reason: "expired" }),
        "{err}"
    );
    assert!(
        env.store
            .list_connections(&env.org, None)
            .await
            .unwrap()
            .is_empty()
    );
}

#[tokio::test]
async fn expired_by_our_clock_is_refused_too() {
    let env = Env::sqlite().await;
    let client = env.oauth_client().await;
    let start = env
        .svc
        .start_connect(&env.org, start_req(&client, "late2", Some("acme")))
        .await
        .unwrap();
    let (code, state) = consent(&start.authorize_url).await;
    env.clock.advance(Duration::from_secs(11 * 60));
    let err = env
        .svc
        .handle_callback(&state, Some(&code), None)
        .await
        .unwrap_err();
    assert!(
        matches!(err, AuthError::State { reason: "expired" }),
        "{err}"
    );
}

#[tokio::test]
async fn pkce_verifier_of_the_session_is_what_the_challenge_commits_to() {
    let env = Env::sqlite().await;
    let client = env.oauth_client().await;
    let start = env
        .svc
        .start_connect(&env.org, start_req(&client, "pkce", Some("acme")))
        .await
        .unwrap();
    let url = url::Url::parse(&start.authorize_url).unwrap();
    let q: std::collections::HashMap<_, _> = url.query_pairs().into_owned().collect();
    assert_eq!(q["code_challenge_method"], "S256");
    assert_eq!(q["audience"], "api.atlassian.com");
    assert_eq!(q["prompt"], "consent");
    assert_eq!(q["response_type"], "code");
    assert!(q["scope"].split(' ').any(|s| s == "offline_access"));
    assert!(q["state"].len() >= 22, "state carries >= 128 bits");
    let session = env
        .store
        .get_connect_session(&env.org, &start.session_id)
        .await
        .unwrap()
        .unwrap();
    assert_ne!(session.state_hash, q["state"], "state is stored hashed");
    let verifier = env
        .svc
        .keyring()
        .open_str(
            &env.org,
            start.session_id.as_ref(),
            fields::PKCE_VERIFIER,
            &session.sealed_pkce_verifier,
        )
        .await
        .unwrap();
    let challenge = base64::engine::general_purpose::URL_SAFE_NO_PAD
        .encode(sha2::Sha256::digest(verifier.expose_secret().as_bytes()));
    assert_eq!(q["code_challenge"], challenge);
    // A code presented with another verifier is refused by Atlassian…
    let (code, state) = consent(&start.authorize_url).await;
    let wrong = jiragate_auth::oauth::OAuthHttp {
        http: reqwest::Client::new(),
        token_url: format!("{}/oauth/token", env.sim.auth_url),
        resources_url: format!("{}/oauth/token/accessible-resources", env.sim.api_url),
        timeout: Duration::from_secs(5),
    }
    .exchange_code(
        &env.sim.oauth_clients[0].client_id,
        &SecretString::from(env.sim.oauth_clients[0].client_secret.clone()),
        &code,
        &redirect_uri(),
        &SecretString::from("x".repeat(64)),
    )
    .await
    .unwrap_err();
    assert!(
        matches!(
            wrong,
            jiragate_auth::oauth::TokenEndpointError::InvalidGrant { .. }
        ),
        "{wrong}"
    );
    // …while a fresh consent through the session's flow (with its verifier) succeeds.
    let _ = state;
    let out = env.connect(&client, "pkce2", Some("acme")).await.unwrap();
    assert!(matches!(out, CallbackOutcome::Connected(_)));
}

#[tokio::test]
async fn consent_denied_fails_the_session() {
    let env = Env::sqlite().await;
    let client = env.oauth_client().await;
    let start = env
        .svc
        .start_connect(&env.org, start_req(&client, "denied", None))
        .await
        .unwrap();
    let (_code, state) = consent(&start.authorize_url).await;
    let err = env
        .svc
        .handle_callback(&state, None, Some("access_denied"))
        .await
        .unwrap_err();
    assert_eq!(err.kind(), "oauth_failed");
    let s = env
        .store
        .get_connect_session(&env.org, &start.session_id)
        .await
        .unwrap()
        .unwrap();
    assert_eq!(s.status, SessionStatus::Failed);
    assert!(s.error.unwrap().contains("access_denied"));
}

#[tokio::test]
async fn fewer_granted_scopes_are_warned_about() {
    let env = Env::sqlite().await;
    let client = env.oauth_client().await;
    let mut req = start_req(&client, "narrow", Some("acme"));
    req.scopes = Some(vec![
        "read:jira-work".to_owned(),
        "manage:jira-webhook".to_owned(),
    ]);
    let start = env.svc.start_connect(&env.org, req).await.unwrap();
    // Ask Atlassian for less than the session recorded (as a user unticking a scope does).
    let narrowed = start
        .authorize_url
        .replace("manage%3Ajira-webhook+", "")
        .replace("manage:jira-webhook ", "");
    assert_ne!(narrowed, start.authorize_url);
    let (code, state) = consent(&narrowed).await;
    let out = env
        .svc
        .handle_callback(&state, Some(&code), None)
        .await
        .unwrap();
    let CallbackOutcome::Connected(conn) = out else {
        panic!("{out:?}")
    };
    assert!(!conn.scopes.iter().any(|s| s == "manage:jira-webhook"));
    let s = env
        .store
        .get_connect_session(&env.org, &start.session_id)
        .await
        .unwrap()
        .unwrap();
    assert_eq!(s.status, SessionStatus::Connected);
    assert!(s.error.unwrap_or_default().contains("manage:jira-webhook"));
    let audit = env.store.list_audit(&env.org, 50).await.unwrap();
    assert!(
        audit
            .iter()
            .any(|e| e.action == "connect_session.scopes_reduced")
    );
}

#[tokio::test]
async fn bring_your_own_tokens_are_validated_by_one_refresh() {
    let env = Env::sqlite().await;
    let client = env.oauth_client().await;
    // Obtain a refresh token the way another tool would, then forget the connection.
    let CallbackOutcome::Connected(orig) = env
        .connect(&client, "origin", Some("globex"))
        .await
        .unwrap()
    else {
        panic!()
    };
    let cred = env
        .store
        .get_credential(&env.org, &orig.id)
        .await
        .unwrap()
        .unwrap();
    let rt = env
        .svc
        .keyring()
        .open_str(
            &env.org,
            orig.id.as_ref(),
            fields::REFRESH_TOKEN,
            cred.sealed_refresh_token.as_deref().unwrap(),
        )
        .await
        .unwrap();
    env.store
        .delete_connection(&env.org, &orig.id)
        .await
        .unwrap();
    let before = env.sim.stats().await.token_requests.refresh_token;
    let conn = env
        .svc
        .create_byo_oauth_connection(
            &env.org,
            NewOAuthTokens {
                workspace: "w".to_owned(),
                name: "byo".to_owned(),
                refresh_token: rt.clone(),
                access_token: None,
                client_id: env.sim.oauth_clients[0].client_id.clone(),
                client_secret: None, // the registered client's secret is used
                // The grant's own site URL names the site as well as its subdomain does.
                subdomain: Some(format!("{}/", env.sim.site_url("globex"))),
                api_type: ApiType::Platform,
                owner: Owner::User("u-1".to_owned()),
                may_register_client: true,
            },
        )
        .await
        .unwrap();
    assert_eq!(
        env.sim.stats().await.token_requests.refresh_token,
        before + 1
    );
    assert_eq!(conn.subdomain.as_deref(), Some("globex"));
    let resolved = env
        .svc
        .resolve_connection(
            &env.org,
            "w",
            Some("u-1"),
            jiragate_auth::CredentialFor::User,
        )
        .await
        .unwrap();
    assert_eq!(resolved.id, conn.id);
    // A dead refresh token is refused and nothing is saved.
    let err = env
        .svc
        .create_byo_oauth_connection(
            &env.org,
            NewOAuthTokens {
                workspace: "w".to_owned(),
                name: "byo-dead".to_owned(),
                refresh_token: SecretString::from("not-a-refresh-token"),
                access_token: None,
                client_id: env.sim.oauth_clients[0].client_id.clone(),
                client_secret: None,
                subdomain: Some("globex".to_owned()),
                api_type: ApiType::Platform,
                owner: Owner::Installation,
                may_register_client: true,
            },
        )
        .await
        .unwrap_err();
    assert_eq!(err.kind(), "verification_failed", "{err}");
    assert!(
        env.store
            .find_connection(&env.org, "w", "byo-dead")
            .await
            .unwrap()
            .is_none()
    );
}
