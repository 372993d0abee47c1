//! Connecting, migrating, master-key replacement (the store half of rotation) and erasure.

use std::sync::Arc;
use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};
use std::time::Duration;

use jiragate_store::*;
use jiragate_vault::{DataKey, MasterKey};

use crate::common::*;

both_backends!(
    migrations_are_tracked,
    master_key_replacement_is_atomic_under_concurrent_reads,
    master_key_replacement_refuses_incomplete_or_stale_input,
    replacement_keeps_the_previous_wrapping_until_retired,
    deleting_a_connection_erases_its_secrets,
);

#[tokio::test]
async fn bad_urls_are_clear_errors() {
    let err = Store::connect("mysql://x").await.unwrap_err();
    assert_eq!(err.kind(), "invalid_url");
    let err = Store::connect("postgres://u:hunter2@127.0.0.1:1/db")
        .await
        .unwrap_err();
    assert_eq!(err.kind(), "connect");
    assert!(
        !err.to_string().contains("hunter2"),
        "password leaked: {err}"
    );
}

#[tokio::test]
async fn fresh_sqlite_file_reports_pending_migrations() {
    let dir = tempfile::tempdir().unwrap();
    let url = format!("sqlite://{}", dir.path().join("fresh.db").display());
    let store = Store::connect(&url).await.unwrap();
    assert_eq!(store.backend(), Backend::Sqlite);
    store.ping().await.unwrap();
    assert!(store.migrations_pending().await.unwrap());
    store.migrate().await.unwrap();
    assert!(!store.migrations_pending().await.unwrap());
    store.migrate().await.unwrap();
    let journal: String = {
        use sqlx::Connection;
        let mut c = sqlx::SqliteConnection::connect(&url).await.unwrap();
        sqlx::query_scalar("PRAGMA journal_mode")
            .fetch_one(&mut c)
            .await
            .unwrap()
    };
    assert_eq!(journal, "wal");
}

async fn migrations_are_tracked(db: &TestDb) {
    assert!(!db.store.migrations_pending().await.unwrap());
    db.store.migrate().await.unwrap(); // idempotent
    db.store.ping().await.unwrap();
    let expected = if db.sqlite_path.is_some() {
        Backend::Sqlite
    } else {
        Backend::Postgres
    };
    assert_eq!(db.store.backend(), expected);
}

/// Sets up `orgs` organizations with two data key versions each under `master`.
async fn seed_keys(s: &Store, master: &MasterKey, orgs: usize) -> Vec<OrgId> {
    assert!(
        s.put_key_check(&master.key_id(), &master.key_check())
            .await
            .unwrap()
    );
    let mut ids = Vec::new();
    for i in 0..orgs {
        let org = org(s, &format!("org-{i}")).await;
        for v in 1..=2 {
            s.put_data_key(&org, v, &master.wrap(&DataKey::generate(), org.as_str(), v))
                .await
                .unwrap();
        }
        ids.push(org);
    }
    ids
}

async fn master_key_replacement_is_atomic_under_concurrent_reads(db: &TestDb) {
    let s = db.store.clone();
    let old = MasterKey::generate();
    let new = MasterKey::generate();
    let orgs = seed_keys(&s, &old, 4).await;

    // Readers: resolve every org's keys with whichever master key the key-check names.
    let stop = Arc::new(AtomicBool::new(false));
    let reads = Arc::new(AtomicUsize::new(0));
    let reader_store = db.second_store().await;
    let mut readers = Vec::new();
    for _ in 0..3 {
        let (s, stop, reads, orgs) = (
            reader_store.clone(),
            stop.clone(),
            reads.clone(),
            orgs.clone(),
        );
        let (old, new) = (old.clone(), new.clone());
        readers.push(tokio::spawn(async move {
            while !stop.load(Ordering::Relaxed) {
                for org in &orgs {
                    for rec in s.get_data_keys(org).await.unwrap() {
                        let mk = if rec.wrapped.master_key_id == old.key_id() {
                            &old
                        } else {
                            &new
                        };
                        mk.unwrap(&rec.wrapped, org.as_str(), rec.version)
                            .expect("every data key readable during rotation");
                    }
                }
                reads.fetch_add(1, Ordering::Relaxed);
            }
        }));
    }

    tokio::time::sleep(Duration::from_millis(30)).await;
    let rewrapped: Vec<DataKeyRecord> = s
        .admin_list_all_data_keys()
        .await
        .unwrap()
        .into_iter()
        .map(|rec| {
            let dk = old
                .unwrap(&rec.wrapped, rec.org_id.as_str(), rec.version)
                .unwrap();
            DataKeyRecord {
                wrapped: new.wrap(&dk, rec.org_id.as_str(), rec.version),
                ..rec
            }
        })
        .collect();
    assert_eq!(rewrapped.len(), 8);
    s.admin_replace_master_key(&old.key_id(), &new.key_id(), &new.key_check(), &rewrapped)
        .await
        .unwrap();
    tokio::time::sleep(Duration::from_millis(30)).await;
    stop.store(true, Ordering::Relaxed);
    for r in readers {
        r.await.unwrap();
    }
    assert!(reads.load(Ordering::Relaxed) > 0);

    let kc = s.get_key_check().await.unwrap().unwrap();
    assert_eq!(kc.master_key_id, new.key_id());
    new.verify_key_check(&kc.record).unwrap();
    assert!(
        old.verify_key_check(&kc.record).is_err(),
        "old key is now refused"
    );
    for rec in s.admin_list_all_data_keys().await.unwrap() {
        new.unwrap(&rec.wrapped, rec.org_id.as_str(), rec.version)
            .unwrap();
    }
    // Data keys wrapped by the old master key are refused from now on.
    let late = s
        .put_data_key(
            &orgs[0],
            3,
            &old.wrap(&DataKey::generate(), orgs[0].as_str(), 3),
        )
        .await
        .unwrap_err();
    assert_eq!(late.kind(), "master_key_changed");
}

async fn master_key_replacement_refuses_incomplete_or_stale_input(db: &TestDb) {
    let s = &db.store;
    let old = MasterKey::generate();
    let new = MasterKey::generate();
    seed_keys(s, &old, 2).await;
    let all = s.admin_list_all_data_keys().await.unwrap();
    let rewrap = |recs: &[DataKeyRecord]| -> Vec<DataKeyRecord> {
        recs.iter()
            .map(|rec| {
                let dk = old
                    .unwrap(&rec.wrapped, rec.org_id.as_str(), rec.version)
                    .unwrap();
                DataKeyRecord {
                    wrapped: new.wrap(&dk, rec.org_id.as_str(), rec.version),
                    ..rec.clone()
                }
            })
            .collect()
    };
    // Missing one key: nothing changes.
    let partial = rewrap(&all[..all.len() - 1]);
    let err = s
        .admin_replace_master_key(&old.key_id(), &new.key_id(), &new.key_check(), &partial)
        .await
        .unwrap_err();
    assert!(err.is_conflict(), "{err}");
    assert_eq!(
        s.get_key_check().await.unwrap().unwrap().master_key_id,
        old.key_id()
    );
    assert_eq!(
        s.admin_list_all_data_keys().await.unwrap(),
        all,
        "rolled back"
    );
    // Wrapped by the wrong key: refused up front.
    let err = s
        .admin_replace_master_key(&old.key_id(), &new.key_id(), &new.key_check(), &all)
        .await
        .unwrap_err();
    assert_eq!(err.kind(), "invalid_input");
    // Stale "old" id (someone rotated already): refused.
    let full = rewrap(&all);
    s.admin_replace_master_key(&old.key_id(), &new.key_id(), &new.key_check(), &full)
        .await
        .unwrap();
    let again = s
        .admin_replace_master_key(&old.key_id(), &new.key_id(), &new.key_check(), &full)
        .await
        .unwrap_err();
    assert_eq!(again.kind(), "master_key_changed");
}

async fn deleting_a_connection_erases_its_secrets(db: &TestDb) {
    let s = &db.store;
    let org = org(s, "o").await;
    let marker = format!("jgv1.1.ERASE-ME-{}", ConnectionId::new());
    let conn = s
        .create_connection(
            &org,
            new_connection("doomed"),
            NewCredential {
                sealed_access_token: Some(format!("{marker}-access")),
                sealed_refresh_token: Some(format!("{marker}-refresh")),
                ..NewCredential::default()
            },
        )
        .await
        .unwrap();
    assert!(
        crate::canary::occurrences(db, &marker).await > 0,
        "positive control: marker is stored"
    );
    s.delete_connection(&org, &conn.id).await.unwrap();
    assert_eq!(s.get_credential(&org, &conn.id).await.unwrap(), None);
    assert_eq!(
        crate::canary::occurrences(db, &marker).await,
        0,
        "sealed credential bytes remain in the database after delete"
    );
}

#[tokio::test]
async fn debug_output_never_shows_the_database_password() {
    // Trust authentication ignores the password, so this connects with it in the URL.
    let admin = pg_admin_url();
    let Some(rest) = admin.strip_prefix("postgres://postgres@") else {
        return; // a custom URL with its own credentials: nothing to inject
    };
    let url = format!("postgres://postgres:pw-canary-123@{rest}");
    let store = Store::connect(&url).await.unwrap();
    assert!(!format!("{store:?}").contains("pw-canary-123"));
    assert!(format!("{store:?}").contains("Postgres"));
}

/// A replacement keeps every data key's previous wrapping (and the previous key check) until
/// retired; a second replacement waits for that; instances' key reports are kept and withdrawn.
async fn replacement_keeps_the_previous_wrapping_until_retired(db: &TestDb) {
    let s = &db.store;
    let old = MasterKey::generate();
    let new = MasterKey::generate();
    seed_keys(s, &old, 2).await;
    let rewrapped: Vec<DataKeyRecord> = s
        .admin_list_all_data_keys()
        .await
        .unwrap()
        .into_iter()
        .map(|rec| {
            let dk = old
                .unwrap(&rec.wrapped, rec.org_id.as_str(), rec.version)
                .unwrap();
            DataKeyRecord {
                wrapped: new.wrap(&dk, rec.org_id.as_str(), rec.version),
                ..rec
            }
        })
        .collect();
    s.admin_replace_master_key(&old.key_id(), &new.key_id(), &new.key_check(), &rewrapped)
        .await
        .unwrap();
    let kc = s.get_key_check().await.unwrap().unwrap();
    assert_eq!(kc.previous_master_key_id, Some(old.key_id()));
    old.verify_key_check(kc.previous_record.as_deref().unwrap())
        .unwrap();
    for rec in s.admin_list_all_data_keys().await.unwrap() {
        let prev = rec.previous.as_ref().expect("previous wrapping kept");
        let by_old = old.unwrap(prev, rec.org_id.as_str(), rec.version).unwrap();
        let by_new = new
            .unwrap(&rec.wrapped, rec.org_id.as_str(), rec.version)
            .unwrap();
        let ctx = jiragate_vault::SealContext {
            org_id: rec.org_id.as_str(),
            record_id: "r",
            field: "f",
            key_version: rec.version,
        };
        let sealed = by_old.seal(&ctx, &secrecy::SecretString::from("same key"));
        use secrecy::ExposeSecret;
        assert_eq!(
            by_new.open(&ctx, &sealed).unwrap().expose_secret(),
            "same key"
        );
    }
    // No second replacement before the first one's key is retired.
    let newest = MasterKey::generate();
    let err = s
        .admin_replace_master_key(&new.key_id(), &newest.key_id(), &newest.key_check(), &[])
        .await
        .unwrap_err();
    assert!(err.to_string().contains("retire"), "{err}");

    // Key reports: listed by key and time, withdrawn on request.
    s.touch_master_key_user("a#1", &old.key_id()).await.unwrap();
    s.touch_master_key_user("b#1", &new.key_id()).await.unwrap();
    let since = time::OffsetDateTime::now_utc() - Duration::from_secs(60);
    let users = s.master_key_users(&old.key_id(), since).await.unwrap();
    assert_eq!(users.len(), 1);
    assert_eq!(users[0].instance_id, "a#1");
    s.touch_master_key_user("a#1", &new.key_id()).await.unwrap();
    assert!(
        s.master_key_users(&old.key_id(), since)
            .await
            .unwrap()
            .is_empty()
    );
    s.remove_master_key_user("b#1").await.unwrap();
    assert_eq!(
        s.master_key_users(&new.key_id(), since)
            .await
            .unwrap()
            .len(),
        1
    );

    assert_eq!(
        s.admin_retire_previous_master_key(&old.key_id())
            .await
            .unwrap(),
        4
    );
    let kc = s.get_key_check().await.unwrap().unwrap();
    assert_eq!(kc.previous_master_key_id, None);
    assert!(
        s.admin_list_all_data_keys()
            .await
            .unwrap()
            .iter()
            .all(|r| r.previous.is_none())
    );
    assert!(
        s.admin_retire_previous_master_key(&old.key_id())
            .await
            .is_err()
    );
}
