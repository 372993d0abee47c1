//! Keyring: key-check record, per-organization data keys, master-key rotation.

use jiragate_auth::{AuthError, Keyring, fields};
use jiragate_store::ConnectionStatus;
use jiragate_vault::MasterKey;
use secrecy::{ExposeSecret, SecretString};

use crate::common::{Env, sqlite_store};

#[tokio::test]
async fn wrong_master_key_is_refused_with_a_clear_message() {
    let dir = tempfile::tempdir().unwrap();
    let store = sqlite_store(dir.path()).await;
    let right = MasterKey::generate();
    Keyring::open_or_init(store.clone(), right.clone())
        .await
        .unwrap();
    // Re-opening with the same key works; another key does not.
    Keyring::open_or_init(store.clone(), right).await.unwrap();
    let err = Keyring::open_or_init(store, MasterKey::generate())
        .await
        .unwrap_err();
    assert!(matches!(err, AuthError::WrongMasterKey));
    assert_eq!(err.to_string(), "master key does not match this database");
}

#[tokio::test]
async fn secrets_are_bound_to_org_record_and_field() {
    let dir = tempfile::tempdir().unwrap();
    let store = sqlite_store(dir.path()).await;
    let a = store.create_organization("a").await.unwrap().id;
    let b = store.create_organization("b").await.unwrap().id;
    let master = MasterKey::generate();
    let kr = Keyring::open_or_init(store.clone(), master.clone())
        .await
        .unwrap();
    let secret = SecretString::from("s3cret-value");
    let sealed = kr
        .seal_str(&a, "rec-1", fields::API_TOKEN, &secret)
        .await
        .unwrap();
    assert!(!sealed.contains("s3cret"));
    assert_eq!(
        kr.open_str(&a, "rec-1", fields::API_TOKEN, &sealed)
            .await
            .unwrap()
            .expose_secret(),
        "s3cret-value"
    );
    assert!(
        kr.open_str(&a, "rec-2", fields::API_TOKEN, &sealed)
            .await
            .is_err()
    );
    assert!(
        kr.open_str(&a, "rec-1", fields::REFRESH_TOKEN, &sealed)
            .await
            .is_err()
    );
    assert!(
        kr.open_str(&b, "rec-1", fields::API_TOKEN, &sealed)
            .await
            .is_err()
    );
    // The organization's data key is created once and shared by every keyring (instance)
    // opened with the same master key.
    let kr2 = Keyring::open_or_init(store.clone(), master).await.unwrap();
    assert_eq!(
        kr2.open_str(&a, "rec-1", fields::API_TOKEN, &sealed)
            .await
            .unwrap()
            .expose_secret(),
        "s3cret-value"
    );
    let sealed_b = kr2
        .seal_str(&b, "rec-1", fields::API_TOKEN, &secret)
        .await
        .unwrap();
    assert_eq!(
        kr.open_str(&b, "rec-1", fields::API_TOKEN, &sealed_b)
            .await
            .unwrap()
            .expose_secret(),
        "s3cret-value"
    );
}

#[tokio::test]
async fn rotation_rewraps_online_and_reencrypt_reseals_everything() {
    let env = Env::sqlite().await;
    let user = env.sim.users[0].clone();
    let api = env
        .svc
        .create_api_token_connection(
            &env.org,
            jiragate_auth::NewApiTokenConnection {
                workspace: "w".into(),
                name: "api".into(),
                site: jiragate_auth::SiteRef::Subdomain("acme".into()),
                email: user.email.clone(),
                token: SecretString::from(user.api_token.clone()),
                scoped: Some(false),
                api_type: jiragate_store::ApiType::Platform,
                owner: jiragate_store::Owner::Installation,
            },
        )
        .await
        .unwrap();
    let oauth = env.oauth_connection("oauth").await;
    let new_master = MasterKey::generate();

    // Plain rotation: data keys rewrapped, sealed values untouched; the running service
    // (holding unwrapped data keys) keeps working.
    let before = env
        .store
        .get_credential(&env.org, &api.id)
        .await
        .unwrap()
        .unwrap();
    let report = Keyring::rotate_master(&env.store, &env.master, &new_master, false)
        .await
        .unwrap();
    assert!(report.data_keys_rewrapped >= 1);
    let after = env
        .store
        .get_credential(&env.org, &api.id)
        .await
        .unwrap()
        .unwrap();
    assert_eq!(before.sealed_api_token, after.sealed_api_token);
    assert_eq!(
        env.svc.check(&env.org, &api.id).await.unwrap().status,
        ConnectionStatus::Healthy
    );
    // Until `retire`, the old key still opens the database (instances on it keep working).
    Keyring::open_or_init(env.store.clone(), env.master.clone())
        .await
        .unwrap();
    let kr_new = Keyring::open_or_init(env.store.clone(), new_master.clone())
        .await
        .unwrap();
    let token = kr_new
        .open_str(
            &env.org,
            api.id.as_ref(),
            fields::API_TOKEN,
            after.sealed_api_token.as_deref().unwrap(),
        )
        .await
        .unwrap();
    assert_eq!(token.expose_secret(), user.api_token);
    // Running it again is harmless.
    let again = Keyring::rotate_master(&env.store, &env.master, &new_master, false)
        .await
        .unwrap();
    assert_eq!(again.data_keys_rewrapped, 0);
    // A second rotation waits for the first one's old key to be retired.
    let err = Keyring::rotate_master(&env.store, &new_master, &MasterKey::generate(), false)
        .await
        .unwrap_err();
    assert!(err.to_string().contains("retire"), "{err}");
    let retired = Keyring::retire_previous_master(
        &env.store,
        &new_master,
        std::time::Duration::from_secs(90),
    )
    .await
    .unwrap();
    assert_eq!(retired.retired_master_key_id, Some(env.master.key_id()));
    let err = Keyring::open_or_init(env.store.clone(), env.master.clone())
        .await
        .unwrap_err();
    assert!(matches!(err, AuthError::WrongMasterKey));

    // Rotation with re-encryption: new data key version, every secret resealed.
    let newest = MasterKey::generate();
    let report = Keyring::rotate_master(&env.store, &new_master, &newest, true)
        .await
        .unwrap();
    assert!(report.new_data_keys >= 1);
    assert!(report.secrets_resealed >= 4, "{report:?}"); // api token, access, refresh, client secret
    let resealed = env
        .store
        .get_credential(&env.org, &api.id)
        .await
        .unwrap()
        .unwrap();
    assert_ne!(resealed.sealed_api_token, after.sealed_api_token);
    let version = |s: &str| s.split('.').nth(1).unwrap().parse::<u32>().unwrap();
    assert!(
        version(resealed.sealed_api_token.as_deref().unwrap())
            > version(after.sealed_api_token.as_deref().unwrap())
    );
    let kr3 = Keyring::open_or_init(env.store.clone(), newest.clone())
        .await
        .unwrap();
    let o = env
        .store
        .get_credential(&env.org, &oauth.id)
        .await
        .unwrap()
        .unwrap();
    kr3.open_str(
        &env.org,
        oauth.id.as_ref(),
        fields::REFRESH_TOKEN,
        o.sealed_refresh_token.as_deref().unwrap(),
    )
    .await
    .unwrap();
    // A fresh service on the new key works end to end (refresh included).
    let svc = jiragate_auth::AuthService::new(
        env.store.clone(),
        kr3,
        crate::common::jira_client(),
        crate::common::auth_config(&env.sim, &env.clock),
    );
    env.advance(3700);
    svc.tokens()
        .get_valid_token(&env.org, &oauth.id)
        .await
        .unwrap();
    assert_eq!(
        svc.check(&env.org, &api.id).await.unwrap().status,
        ConnectionStatus::Healthy
    );
}

/// A keyring whose master key comes from a file adopts the rotated key written there by
/// another process (its next report names the new key, so `retire` need not wait for a restart).
#[tokio::test]
async fn a_file_keyed_instance_picks_up_the_rotated_key() {
    let env = Env::sqlite().await;
    let dir = tempfile::tempdir().unwrap();
    let file = dir.path().join("master.key");
    std::fs::write(&file, env.master.to_base64().expose_secret()).unwrap();
    let kr = Keyring::open_with_key_file(env.store.clone(), env.master.clone(), Some(file.clone()))
        .await
        .unwrap();
    assert!(
        !kr.pick_up_rotated_key().await.unwrap(),
        "nothing rotated yet"
    );
    let new_master = MasterKey::generate();
    Keyring::rotate_master(&env.store, &env.master, &new_master, false)
        .await
        .unwrap();
    std::fs::write(&file, new_master.to_base64().expose_secret()).unwrap();
    assert_eq!(kr.master_key_id(), env.master.key_id());
    assert!(kr.pick_up_rotated_key().await.unwrap());
    assert_eq!(kr.master_key_id(), new_master.key_id());
    kr.report_in_use("instance-a").await.unwrap();
    Keyring::retire_previous_master(&env.store, &new_master, std::time::Duration::from_secs(90))
        .await
        .unwrap();
    // A key file with a key the database does not know is ignored.
    std::fs::write(&file, MasterKey::generate().to_base64().expose_secret()).unwrap();
    assert!(!kr.pick_up_rotated_key().await.unwrap());
    assert_eq!(kr.master_key_id(), new_master.key_id());
}
