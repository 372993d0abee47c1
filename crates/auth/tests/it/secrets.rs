//! Secrets never show up in Debug output, error messages, audit events or the database file.

use jiragate_auth::{AuthError, Credentials, NewApiTokenConnection, NewOAuthTokens, SiteRef};
use jiragate_jira::JiraAuth;
use jiragate_store::{ApiType, Owner};
use secrecy::{ExposeSecret, SecretString};

use crate::common::Env;

#[tokio::test]
async fn no_secret_in_debug_errors_audit_or_database() {
    let env = Env::sqlite().await;
    let user = env.sim.users[0].clone();
    let client_secret = env.sim.oauth_clients[0].client_secret.clone();
    let mut texts: Vec<String> = Vec::new();

    let api = env
        .svc
        .create_api_token_connection(
            &env.org,
            NewApiTokenConnection {
                workspace: "w".into(),
                name: "api".into(),
                site: SiteRef::Subdomain("acme".into()),
                email: user.email.clone(),
                token: SecretString::from(user.api_token.clone()),
                scoped: None,
                api_type: ApiType::Platform,
                owner: Owner::Installation,
            },
        )
        .await
        .unwrap();
    let oauth = env.oauth_connection("oauth").await;
    let target = env
        .svc
        .tokens()
        .get_valid_token(&env.org, &oauth.id)
        .await
        .unwrap();
    let JiraAuth::Bearer(access) = &target.auth else {
        panic!()
    };
    let access = access.expose_secret().to_owned();
    let cred = env
        .store
        .get_credential(&env.org, &oauth.id)
        .await
        .unwrap()
        .unwrap();
    let refresh = env
        .svc
        .keyring()
        .open_str(
            &env.org,
            oauth.id.as_ref(),
            jiragate_auth::fields::REFRESH_TOKEN,
            cred.sealed_refresh_token.as_deref().unwrap(),
        )
        .await
        .unwrap()
        .expose_secret()
        .to_owned();
    let api_target = env
        .svc
        .tokens()
        .get_valid_token(&env.org, &api.id)
        .await
        .unwrap();

    texts.push(format!("{:?}", env.svc));
    texts.push(format!("{:?}", env.svc.keyring()));
    texts.push(format!("{:?}", env.svc.tokens()));
    texts.push(format!("{target:?} {api_target:?}"));
    texts.push(format!("{api:?} {oauth:?} {cred:?}"));
    texts.push(serde_json::to_string(&oauth).unwrap());
    texts.push(serde_json::to_string(&cred).unwrap());
    texts.push(format!(
        "{:?}",
        NewApiTokenConnection {
            workspace: "w".into(),
            name: "x".into(),
            site: SiteRef::Subdomain("acme".into()),
            email: user.email.clone(),
            token: SecretString::from(user.api_token.clone()),
            scoped: None,
            api_type: ApiType::Platform,
            owner: Owner::Installation,
        }
    ));
    texts.push(format!(
        "{:?}",
        Credentials::OAuthTokens {
            refresh_token: SecretString::from(refresh.clone()),
            access_token: Some(SecretString::from(access.clone())),
            client_id: None,
            client_secret: Some(SecretString::from(client_secret.clone())),
        }
    ));

    // Errors produced while handling secrets.
    let errors: Vec<AuthError> = vec![
        env.svc
            .create_api_token_connection(
                &env.org,
                NewApiTokenConnection {
                    workspace: "w".into(),
                    name: "bad".into(),
                    site: SiteRef::Subdomain("acme".into()),
                    email: user.email.clone(),
                    token: SecretString::from(format!("{}-wrong", user.api_token)),
                    scoped: None,
                    api_type: ApiType::Platform,
                    owner: Owner::Installation,
                },
            )
            .await
            .unwrap_err(),
        env.svc
            .create_byo_oauth_connection(
                &env.org,
                NewOAuthTokens {
                    workspace: "w".into(),
                    name: "byo".into(),
                    refresh_token: SecretString::from(format!("{refresh}-stale")),
                    access_token: Some(SecretString::from(access.clone())),
                    client_id: env.sim.oauth_clients[0].client_id.clone(),
                    client_secret: Some(SecretString::from(client_secret.clone())),
                    subdomain: None,
                    api_type: ApiType::Platform,
                    owner: Owner::Installation,
                    may_register_client: true,
                },
            )
            .await
            .unwrap_err(),
        env.svc
            .handle_callback(&access, Some(&refresh), None)
            .await
            .unwrap_err(),
    ];
    for e in &errors {
        texts.push(format!("{e} {e:?}"));
    }
    for e in env.store.list_audit(&env.org, 100).await.unwrap() {
        texts.push(serde_json::to_string(&e).unwrap());
    }

    let secrets = [
        user.api_token.as_str(),
        client_secret.as_str(),
        access.as_str(),
        refresh.as_str(),
    ];
    for text in &texts {
        for s in secrets {
            assert!(!text.contains(s), "a secret leaked into: {text}");
        }
    }
    // Nor in the database file (or its WAL) in clear.
    env.store.close().await;
    for entry in std::fs::read_dir(env.dir.path()).unwrap() {
        let bytes = std::fs::read(entry.unwrap().path()).unwrap();
        for s in secrets {
            assert!(
                !bytes.windows(s.len()).any(|w| w == s.as_bytes()),
                "a secret is stored in clear in the database"
            );
        }
    }
}
