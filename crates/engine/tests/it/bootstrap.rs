//! First start, second start, wrong master key, API keys — on SQLite and PostgreSQL.

use jiragate_engine::{Actor, ApiScope, Engine, EngineError};
use secrecy::{ExposeSecret, SecretString};

use crate::support::*;

#[cfg(unix)]
fn mode(p: &std::path::Path) -> u32 {
    use std::os::unix::fs::PermissionsExt;
    std::fs::metadata(p).unwrap().permissions().mode() & 0o777
}

#[tokio::test]
async fn first_start_creates_keys_once_with_private_modes() {
    let sim = sim().await;
    let dir = tempfile::tempdir().unwrap();
    let (e1, boot) = Engine::open(config(dir.path(), &sim)).await.unwrap();
    assert!(boot.master_key_created);
    let admin = boot
        .admin_key_path
        .clone()
        .expect("admin key written on first start");
    #[cfg(unix)]
    {
        assert_eq!(mode(&admin), 0o600);
        assert_eq!(mode(&dir.path().join("master.key")), 0o600);
    }
    let key = std::fs::read_to_string(&admin).unwrap().trim().to_string();
    let rec = e1.authenticate(&key).await.unwrap();
    assert!(rec.platform && rec.scopes == vec!["admin".to_string()]);
    drop(e1);

    let (e2, boot2) = Engine::open(config(dir.path(), &sim)).await.unwrap();
    assert!(
        !boot2.master_key_created && boot2.admin_key_path.is_none(),
        "second start creates nothing"
    );
    assert!(
        e2.authenticate(&key).await.is_ok(),
        "the same key still works"
    );
    assert!(matches!(
        e2.authenticate("jg_not-a-key").await,
        Err(EngineError::Unauthorized)
    ));
    assert!(matches!(
        e2.authenticate("Bearer something").await,
        Err(EngineError::Unauthorized)
    ));
}

#[tokio::test]
async fn a_wrong_master_key_is_a_clear_startup_error() {
    let sim = sim().await;
    let dir = tempfile::tempdir().unwrap();
    engine(dir.path(), &sim).await;
    let mut cfg = config(dir.path(), &sim);
    use base64::Engine as _;
    cfg.master_key = Some(SecretString::from(
        base64::engine::general_purpose::STANDARD.encode([3u8; 32]),
    ));
    let err = Engine::open(cfg).await.err().expect("refused");
    assert!(matches!(err, EngineError::WrongMasterKey), "{err:?}");
    assert_eq!(err.to_string(), "master key does not match this database");
}

#[tokio::test]
async fn api_keys_are_hashed_scoped_and_revocable() {
    let sim = sim().await;
    let dir = tempfile::tempdir().unwrap();
    let e = engine(dir.path(), &sim).await;
    let (rec, key) = e
        .create_api_key(&e.default_org, "ci", &[ApiScope::Execute], false)
        .await
        .unwrap();
    assert!(!rec.platform && rec.scopes == vec!["execute".to_string()]);
    assert_eq!(
        e.authenticate(key.expose_secret()).await.unwrap().id,
        rec.id
    );
    e.revoke_api_key(Actor::Operator, &e.default_org, &rec.id)
        .await
        .unwrap();
    assert!(matches!(
        e.authenticate(key.expose_secret()).await,
        Err(EngineError::Unauthorized)
    ));
    let db = std::fs::read(dir.path().join("jiragate.db")).unwrap();
    assert!(
        !db.windows(key.expose_secret().len())
            .any(|w| w == key.expose_secret().as_bytes()),
        "key stored in clear"
    );
    assert!(
        e.create_api_key(&e.default_org, " ", &[ApiScope::Execute], false)
            .await
            .is_err()
    );
}

#[tokio::test]
async fn two_instances_on_one_postgres_share_one_default_org() {
    let Some((url, name)) = pg_database().await else {
        panic!("PostgreSQL unreachable: set JIRAGATE_TEST_POSTGRES_URL (see .ci/run)");
    };
    let sim = sim().await;
    let (d1, d2) = (tempfile::tempdir().unwrap(), tempfile::tempdir().unwrap());
    let key = SecretString::from({
        use base64::Engine as _;
        base64::engine::general_purpose::STANDARD.encode([5u8; 32])
    });
    let mk = |d: &std::path::Path| {
        let mut c = config(d, &sim);
        c.database_url = Some(url.clone());
        c.master_key = Some(key.clone());
        c
    };
    let (a, b) = tokio::join!(Engine::open(mk(d1.path())), Engine::open(mk(d2.path())));
    let (a, boot_a) = a.unwrap();
    let (b, boot_b) = b.unwrap();
    assert_eq!(a.default_org, b.default_org);
    assert_eq!(
        usize::from(boot_a.admin_key_path.is_some()) + usize::from(boot_b.admin_key_path.is_some()),
        1,
        "exactly one instance bootstraps the admin key"
    );
    drop((a, b));
    drop_pg_database(&name).await;
}
