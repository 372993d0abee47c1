//! Tenant isolation: every org-scoped method, called with another organization's id,
//! finds nothing and changes nothing.

use std::time::Duration;

use jiragate_store::*;
use jiragate_vault::{DataKey, MasterKey};
use time::OffsetDateTime;

use crate::common::*;

both_backends!(other_org_sees_and_changes_nothing);

async fn other_org_sees_and_changes_nothing(db: &TestDb) {
    let s = &db.store;
    let a = org(s, "tenant-a").await;
    let b = org(s, "tenant-b").await;

    // Everything belongs to A.
    let master = MasterKey::generate();
    s.put_key_check(&master.key_id(), &master.key_check())
        .await
        .unwrap();
    s.put_data_key(&a, 1, &master.wrap(&DataKey::generate(), a.as_str(), 1))
        .await
        .unwrap();
    s.ensure_workspace(&a, "default").await.unwrap();
    let key = s
        .create_api_key(
            &a,
            NewApiKey {
                name: "k".into(),
                prefix: "jg_a".into(),
                key_hash: "hash-a".into(),
                scopes: vec![],
                platform: false,
            },
        )
        .await
        .unwrap();
    let client = s
        .create_oauth_client(&a, new_oauth_client("client-a"))
        .await
        .unwrap();
    let conn = s
        .create_connection(&a, new_connection("jira"), api_token_credential("jgv1.1.a"))
        .await
        .unwrap();
    let sess = s
        .create_connect_session(
            &a,
            new_session(&client.id, "state-a", Duration::from_secs(600)),
        )
        .await
        .unwrap();
    s.append_audit(
        &a,
        NewAuditEvent {
            actor: "x".into(),
            action: "y".into(),
            target: "z".into(),
            detail: serde_json::json!({}),
        },
    )
    .await
    .unwrap();
    let check = HealthCheck {
        connection_id: conn.id.clone(),
        // whole seconds: both backends keep microseconds, and this compares exactly
        at: OffsetDateTime::now_utc().replace_nanosecond(0).unwrap(),
        status: ConnectionStatus::Healthy,
        reason: None,
        latency_ms: 1,
    };
    s.record_health_check(&a, &check).await.unwrap();
    let snapshot = (
        s.get_connection(&a, &conn.id).await.unwrap(),
        s.get_credential(&a, &conn.id).await.unwrap(),
        s.get_connect_session(&a, &sess.id).await.unwrap(),
        s.get_api_key(&a, &key.id).await.unwrap(),
        s.get_oauth_client(&a, &client.id).await.unwrap(),
    );

    // Reads as B: nothing.
    assert!(s.get_data_keys(&b).await.unwrap().is_empty());
    assert!(s.list_workspaces(&b).await.unwrap().is_empty());
    assert!(s.list_api_keys(&b).await.unwrap().is_empty());
    assert_eq!(s.get_api_key(&b, &key.id).await.unwrap(), None);
    assert_eq!(s.get_oauth_client(&b, &client.id).await.unwrap(), None);
    assert_eq!(
        s.find_oauth_client_by_client_id(&b, "client-a")
            .await
            .unwrap(),
        None
    );
    assert!(s.list_oauth_clients(&b).await.unwrap().is_empty());
    assert_eq!(s.get_connection(&b, &conn.id).await.unwrap(), None);
    assert_eq!(
        s.find_connection(&b, "default", "jira").await.unwrap(),
        None
    );
    assert!(s.list_connections(&b, None).await.unwrap().is_empty());
    assert!(
        s.list_connections(&b, Some("default"))
            .await
            .unwrap()
            .is_empty()
    );
    assert_eq!(s.get_credential(&b, &conn.id).await.unwrap(), None);
    assert_eq!(s.get_connect_session(&b, &sess.id).await.unwrap(), None);
    assert!(s.list_audit(&b, 100).await.unwrap().is_empty());
    assert_eq!(s.latest_health(&b, &conn.id).await.unwrap(), None);

    // Writes as B: not found, and A's rows unchanged.
    let nf = |r: Result<_, StoreError>, what: &str| {
        let e = r
            .err()
            .unwrap_or_else(|| panic!("{what}: succeeded across organizations"));
        assert!(e.is_not_found(), "{what}: {e}");
    };
    nf(
        s.revoke_api_key(&b, &key.id).await.map(|_| ()),
        "revoke_api_key",
    );
    nf(s.touch_api_key(&b, &key.id).await, "touch_api_key");
    nf(
        s.delete_oauth_client(&b, &client.id).await,
        "delete_oauth_client",
    );
    nf(
        s.update_connection(
            &b,
            &conn.id,
            1,
            ConnectionPatch {
                name: Some("stolen".into()),
                ..Default::default()
            },
        )
        .await
        .map(|_| ()),
        "update_connection",
    );
    nf(
        s.set_connection_status(
            &b,
            &conn.id,
            ConnectionStatus::Revoked,
            None,
            OffsetDateTime::now_utc(),
        )
        .await,
        "set_connection_status",
    );
    nf(
        s.replace_credential(&b, &conn.id, api_token_credential("evil"))
            .await
            .map(|_| ()),
        "replace_credential",
    );
    nf(
        s.commit_refreshed_credential(
            &b,
            &conn.id,
            1,
            RefreshedCredential {
                sealed_access_token: "evil".into(),
                sealed_refresh_token: None,
                access_expires_at: None,
                refresh_issued_at: None,
            },
        )
        .await
        .map(|_| ()),
        "commit_refreshed_credential",
    );
    assert!(
        !s.admin_reseal_credential(&b, &conn.id, 1, Some("evil"), None, None)
            .await
            .unwrap()
    );
    assert!(
        !s.admin_reseal_oauth_client_secret(&b, &client.id, &client.sealed_client_secret, "evil")
            .await
            .unwrap()
    );
    nf(
        s.update_connect_session(
            &b,
            &sess.id,
            ConnectSessionPatch {
                status: Some(SessionStatus::Failed),
                ..Default::default()
            },
        )
        .await
        .map(|_| ()),
        "update_connect_session",
    );
    nf(
        s.record_health_check(&b, &check).await,
        "record_health_check",
    );
    nf(s.delete_connection(&b, &conn.id).await, "delete_connection");
    // B cannot use A's OAuth client, nor point its session at A's connection.
    nf(
        s.create_connect_session(
            &b,
            new_session(&client.id, "state-b", Duration::from_secs(60)),
        )
        .await
        .map(|_| ()),
        "create_connect_session with another org's client",
    );
    let mut stolen = new_connection("uses-a-client");
    stolen.oauth_client_id = Some(client.id.clone());
    nf(
        s.create_connection(&b, stolen, NewCredential::default())
            .await
            .map(|_| ()),
        "create_connection with another org's client",
    );
    let b_client = s
        .create_oauth_client(&b, new_oauth_client("client-b"))
        .await
        .unwrap();
    let b_sess = s
        .create_connect_session(
            &b,
            new_session(&b_client.id, "state-b", Duration::from_secs(60)),
        )
        .await
        .unwrap();
    nf(
        s.update_connect_session(
            &b,
            &b_sess.id,
            ConnectSessionPatch {
                connection_id: Some(Some(conn.id.clone())),
                ..Default::default()
            },
        )
        .await
        .map(|_| ()),
        "session pointing at another org's connection",
    );
    let b_conn = s
        .create_connection(&b, new_connection("b-conn"), NewCredential::default())
        .await
        .unwrap();
    nf(
        s.update_connection(
            &b,
            &b_conn.id,
            1,
            ConnectionPatch {
                oauth_client_id: Some(Some(client.id.clone())),
                ..Default::default()
            },
        )
        .await
        .map(|_| ()),
        "update_connection to another org's client",
    );

    let after = (
        s.get_connection(&a, &conn.id).await.unwrap(),
        s.get_credential(&a, &conn.id).await.unwrap(),
        s.get_connect_session(&a, &sess.id).await.unwrap(),
        s.get_api_key(&a, &key.id).await.unwrap(),
        s.get_oauth_client(&a, &client.id).await.unwrap(),
    );
    assert_eq!(after, snapshot, "A's records unchanged");
    assert_eq!(s.list_audit(&a, 10).await.unwrap().len(), 1);
    assert_eq!(s.latest_health(&a, &conn.id).await.unwrap(), Some(check));
    assert_eq!(s.get_data_keys(&a).await.unwrap().len(), 1);
}
