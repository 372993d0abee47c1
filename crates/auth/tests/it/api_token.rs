//! API-token connections: verified before saving, classic and scoped.

use jiragate_auth::{AuthError, NewApiTokenConnection, SiteRef};
use jiragate_jira::JiraRequest;
use jiragate_store::{ApiType, AuthKind, ConnectionStatus, Owner};
use secrecy::SecretString;

use crate::common::Env;

fn req(
    env: &Env,
    name: &str,
    site: SiteRef,
    token: &str,
    scoped: Option<bool>,
) -> NewApiTokenConnection {
    NewApiTokenConnection {
        workspace: "w".to_owned(),
        name: name.to_owned(),
        site,
        email: env.sim.users[0].email.clone(),
        token: SecretString::from(token.to_owned()),
        scoped,
        api_type: ApiType::Platform,
        owner: Owner::Installation,
    }
}

#[tokio::test]
async fn classic_token_is_verified_and_saved_with_the_account() {
    let env = Env::sqlite().await;
    let user = env.sim.users[0].clone();
    let conn = env
        .svc
        .create_api_token_connection(
            &env.org,
            req(
                &env,
                "classic",
                SiteRef::Subdomain("acme".into()),
                &user.api_token,
                None,
            ),
        )
        .await
        .unwrap();
    assert_eq!(conn.auth_kind, AuthKind::ApiToken);
    assert_eq!(conn.account_id.as_deref(), Some(user.account_id.as_str()));
    assert!(conn.account_name.as_deref().is_some_and(|n| !n.is_empty()));
    assert_eq!(conn.site_url, env.sim.site_url("acme"));
    assert_eq!(conn.subdomain.as_deref(), Some("acme"));
    assert_eq!(conn.status, ConnectionStatus::Healthy);
    let src = env.svc.token_source(&env.org, &conn);
    let resp = env
        .svc
        .jira()
        .send(src.as_ref(), JiraRequest::get("/rest/api/3/serverInfo"))
        .await
        .unwrap();
    assert_eq!(resp.status.as_u16(), 200);
    // A base URL works the same way.
    let by_url = env
        .svc
        .create_api_token_connection(
            &env.org,
            req(
                &env,
                "by-url",
                SiteRef::BaseUrl(env.sim.site_url("globex") + "/"),
                &user.api_token,
                Some(false),
            ),
        )
        .await
        .unwrap();
    assert_eq!(by_url.subdomain.as_deref(), Some("globex"));
}

#[tokio::test]
async fn wrong_token_is_refused_and_nothing_is_saved() {
    let env = Env::sqlite().await;
    let err = env
        .svc
        .create_api_token_connection(
            &env.org,
            req(
                &env,
                "bad",
                SiteRef::Subdomain("acme".into()),
                "definitely-wrong",
                None,
            ),
        )
        .await
        .unwrap_err();
    assert!(matches!(err, AuthError::Verification { .. }), "{err}");
    assert!(err.to_string().contains("401"), "{err}");
    assert!(
        env.store
            .list_connections(&env.org, None)
            .await
            .unwrap()
            .is_empty()
    );
}

#[tokio::test]
async fn unknown_site_is_refused_clearly() {
    let env = Env::sqlite().await;
    let user = env.sim.users[0].clone();
    let err = env
        .svc
        .create_api_token_connection(
            &env.org,
            req(
                &env,
                "nosite",
                SiteRef::Subdomain("initech".into()),
                &user.api_token,
                None,
            ),
        )
        .await
        .unwrap_err();
    assert!(matches!(err, AuthError::Verification { .. }), "{err}");
    assert!(err.to_string().contains("initech"), "{err}");
    // A host that is not a Jira site is refused by the upstream policy before any request.
    let err = env
        .svc
        .create_api_token_connection(
            &env.org,
            req(
                &env,
                "nohost",
                SiteRef::BaseUrl("http://127.0.0.1:1".into()),
                &user.api_token,
                Some(false),
            ),
        )
        .await
        .unwrap_err();
    assert!(
        matches!(
            err,
            AuthError::InvalidInput {
                field: "base_url",
                ..
            }
        ),
        "{err}"
    );
    assert!(err.to_string().contains("not a Jira Cloud site"), "{err}");
    assert!(
        env.store
            .list_connections(&env.org, None)
            .await
            .unwrap()
            .is_empty()
    );
}

#[tokio::test]
async fn scoped_token_is_detected_and_uses_the_gateway() {
    let env = Env::sqlite().await;
    let user = env.sim.users[0].clone();
    let conn = env
        .svc
        .create_api_token_connection(
            &env.org,
            req(
                &env,
                "scoped",
                SiteRef::Subdomain("acme".into()),
                &user.scoped_api_token,
                None,
            ),
        )
        .await
        .unwrap();
    assert_eq!(conn.auth_kind, AuthKind::ScopedApiToken);
    let acme = env
        .sim
        .sites
        .iter()
        .find(|s| s.subdomain == "acme")
        .unwrap();
    assert_eq!(conn.cloud_id.as_deref(), Some(acme.cloud_id.as_str()));
    let t = env
        .svc
        .tokens()
        .get_valid_token(&env.org, &conn.id)
        .await
        .unwrap();
    assert_eq!(
        t.base_url,
        format!("{}/ex/jira/{}", env.sim.api_url, acme.cloud_id)
    );
    let audit = env.store.list_audit(&env.org, 10).await.unwrap();
    assert!(
        audit
            .iter()
            .any(|e| e.detail["scoped_api_token_detected"] == true)
    );
    // Explicit flag, no detection round-trip.
    let flagged = env
        .svc
        .create_api_token_connection(
            &env.org,
            req(
                &env,
                "scoped2",
                SiteRef::Subdomain("acme".into()),
                &user.scoped_api_token,
                Some(true),
            ),
        )
        .await
        .unwrap();
    assert_eq!(flagged.auth_kind, AuthKind::ScopedApiToken);
    let src = env.svc.token_source(&env.org, &flagged);
    let resp = env
        .svc
        .jira()
        .send(src.as_ref(), JiraRequest::get("/rest/api/3/myself"))
        .await
        .unwrap();
    assert_eq!(resp.status.as_u16(), 200);
}

#[tokio::test]
async fn revoked_api_token_shows_in_the_health_check_and_can_be_replaced() {
    let env = Env::sqlite().await;
    let user = env.sim.users[0].clone();
    let conn = env
        .svc
        .create_api_token_connection(
            &env.org,
            req(
                &env,
                "rev",
                SiteRef::Subdomain("acme".into()),
                &user.api_token,
                None,
            ),
        )
        .await
        .unwrap();
    reqwest::Client::new()
        .post(format!("{}/__sim/revoke", env.sim.auth_url))
        .json(&serde_json::json!({"api_token": user.api_token}))
        .send()
        .await
        .unwrap();
    let check = env.svc.check(&env.org, &conn.id).await.unwrap();
    assert_eq!(check.status, ConnectionStatus::Revoked, "{check:?}");
    // Replacing with a wrong token is refused and changes nothing.
    let generation = env
        .store
        .get_credential(&env.org, &conn.id)
        .await
        .unwrap()
        .unwrap()
        .generation;
    let err = env
        .svc
        .replace_credentials(
            &env.org,
            &conn.id,
            jiragate_auth::Credentials::ApiToken {
                email: None,
                token: SecretString::from("nope"),
            },
        )
        .await
        .unwrap_err();
    assert_eq!(err.kind(), "verification_failed");
    assert_eq!(
        env.store
            .get_credential(&env.org, &conn.id)
            .await
            .unwrap()
            .unwrap()
            .generation,
        generation
    );
    // A valid replacement is verified, stored, and used at once.
    let other = env.sim.users[1].clone();
    let replaced = env
        .svc
        .replace_credentials(
            &env.org,
            &conn.id,
            jiragate_auth::Credentials::ApiToken {
                email: Some(other.email.clone()),
                token: SecretString::from(other.api_token.clone()),
            },
        )
        .await
        .unwrap();
    assert_eq!(replaced.status, ConnectionStatus::Healthy);
    assert_eq!(
        replaced.account_id.as_deref(),
        Some(other.account_id.as_str())
    );
    assert_eq!(replaced.email.as_deref(), Some(other.email.as_str()));
    assert_eq!(
        env.store
            .get_credential(&env.org, &conn.id)
            .await
            .unwrap()
            .unwrap()
            .generation,
        generation + 1
    );
    assert_eq!(
        env.svc.check(&env.org, &conn.id).await.unwrap().status,
        ConnectionStatus::Healthy
    );
}
