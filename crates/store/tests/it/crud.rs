//! Create/read/update/delete of every record type, on both backends.

use std::time::Duration;

use jiragate_store::*;
use jiragate_vault::{DataKey, MasterKey};
use time::OffsetDateTime;

use crate::common::*;

both_backends!(
    organizations_and_workspaces,
    api_keys,
    data_keys_and_key_check,
    oauth_clients,
    connections_and_credentials,
    connect_sessions,
    audit_and_health,
    oauth_client_ids_are_unique_and_clients_update,
    audit_query_filters_and_pages,
    mcp_grants_and_tokens,
    mcp_user_grants_and_settings,
);

/// A grant whose principal is an Atlassian account (no API key) round-trips, its tokens follow
/// it, and an organization's MCP settings are stored and replaced.
async fn mcp_user_grants_and_settings(db: &TestDb) {
    let s = &db.store;
    let org = org(s, "o").await;
    let conn = s
        .create_connection(&org, new_connection("c"), NewCredential::default())
        .await
        .unwrap();
    let now = OffsetDateTime::now_utc();
    let grant = McpGrantRecord {
        id: "gu".into(),
        org_id: org.clone(),
        connection_id: conn.id.clone(),
        principal: GrantPrincipal::AtlassianUser {
            account_id: "712020:abc".into(),
        },
        client_id: "https://agent.example/client.json".into(),
        client_name: "Agent".into(),
        scope: "jira:read".into(),
        resource: "http://x/mcp".into(),
        created_at: now,
        revoked_at: None,
    };
    s.insert_mcp_grant(&grant).await.unwrap();
    let back = s.find_mcp_grant("gu").await.unwrap().unwrap();
    assert_eq!(back.principal, grant.principal);
    s.insert_mcp_token(
        "h-u",
        "access",
        Some("gu"),
        "{}",
        now + time::Duration::hours(1),
    )
    .await
    .unwrap();
    assert_eq!(s.list_mcp_grants(&org, None).await.unwrap(), vec![back]);
    assert!(s.revoke_mcp_grant(&org, "gu", now).await.unwrap());
    assert!(s.find_mcp_token("h-u", "access").await.unwrap().is_none());

    assert_eq!(s.get_mcp_settings(&org).await.unwrap(), None);
    assert!(!s.any_mcp_atlassian_sign_in().await.unwrap());
    let mut settings = McpSettingsRecord {
        sign_in: "atlassian".into(),
        oauth_client_id: None,
        subdomain: Some("acme".into()),
        updated_at: time_col_now(),
    };
    s.put_mcp_settings(&org, &settings).await.unwrap();
    assert_eq!(
        s.get_mcp_settings(&org).await.unwrap(),
        Some(settings.clone())
    );
    assert!(s.any_mcp_atlassian_sign_in().await.unwrap());
    settings.sign_in = "console".into();
    settings.subdomain = None;
    s.put_mcp_settings(&org, &settings).await.unwrap();
    assert_eq!(s.get_mcp_settings(&org).await.unwrap(), Some(settings));
    assert!(!s.any_mcp_atlassian_sign_in().await.unwrap());
}

/// Now, at the precision the database keeps (whole microseconds at most).
fn time_col_now() -> OffsetDateTime {
    let now = OffsetDateTime::now_utc();
    now.replace_nanosecond(now.nanosecond() / 1_000_000 * 1_000_000)
        .unwrap()
}

async fn mcp_grants_and_tokens(db: &TestDb) {
    let s = &db.store;
    let org = org(s, "o").await;
    let other = crate::common::org(s, "other").await;
    let conn = s
        .create_connection(&org, new_connection("c"), NewCredential::default())
        .await
        .unwrap();
    let key = s
        .create_api_key(
            &org,
            NewApiKey {
                name: "k".into(),
                prefix: "jg_k".into(),
                key_hash: "key-hash".into(),
                scopes: vec!["admin".into()],
                platform: false,
            },
        )
        .await
        .unwrap();
    s.insert_mcp_client("jgmc_1", "Agent", "[\"http://127.0.0.1/cb\"]")
        .await
        .unwrap();
    assert!(s.insert_mcp_client("jgmc_1", "Again", "[]").await.is_err());
    assert_eq!(
        s.find_mcp_client("jgmc_1")
            .await
            .unwrap()
            .unwrap()
            .client_name,
        "Agent"
    );
    let now = OffsetDateTime::now_utc();
    let grant = McpGrantRecord {
        id: "g1".into(),
        org_id: org.clone(),
        connection_id: conn.id.clone(),
        principal: GrantPrincipal::ApiKey {
            api_key_id: key.id.clone(),
        },
        client_id: "jgmc_1".into(),
        client_name: "Agent".into(),
        scope: "jira:read".into(),
        resource: "http://x/mcp".into(),
        created_at: now,
        revoked_at: None,
    };
    s.insert_mcp_grant(&grant).await.unwrap();
    s.insert_mcp_token(
        "h-refresh",
        "refresh",
        Some("g1"),
        "{}",
        now + time::Duration::days(1),
    )
    .await
    .unwrap();
    s.insert_mcp_token(
        "h-old",
        "access",
        Some("g1"),
        "{}",
        now - time::Duration::seconds(1),
    )
    .await
    .unwrap();
    // single use: exactly one consumer wins, and the kind must match
    assert!(
        s.consume_mcp_token("h-refresh", "access", now)
            .await
            .unwrap()
            .is_none()
    );
    let won = s
        .consume_mcp_token("h-refresh", "refresh", now)
        .await
        .unwrap()
        .unwrap();
    assert_eq!(won.grant_id.as_deref(), Some("g1"));
    assert!(
        s.consume_mcp_token("h-refresh", "refresh", now)
            .await
            .unwrap()
            .is_none()
    );
    assert!(
        s.find_mcp_token("h-refresh", "refresh")
            .await
            .unwrap()
            .unwrap()
            .used_at
            .is_some()
    );
    // purge: only expired rows
    assert_eq!(s.purge_expired_mcp_tokens(now).await.unwrap(), 1);
    assert!(
        s.find_mcp_token("h-refresh", "refresh")
            .await
            .unwrap()
            .is_some()
    );
    // listing and revoking are scoped by organization
    assert_eq!(s.list_mcp_grants(&org, None).await.unwrap().len(), 1);
    assert_eq!(
        s.list_mcp_grants(&org, Some(&conn.id)).await.unwrap().len(),
        1
    );
    assert!(s.list_mcp_grants(&other, None).await.unwrap().is_empty());
    assert!(!s.revoke_mcp_grant(&other, "g1", now).await.unwrap());
    assert!(
        s.find_mcp_grant("g1")
            .await
            .unwrap()
            .unwrap()
            .revoked_at
            .is_none()
    );
    assert!(s.revoke_mcp_grant(&org, "g1", now).await.unwrap());
    assert!(
        s.find_mcp_grant("g1")
            .await
            .unwrap()
            .unwrap()
            .revoked_at
            .is_some()
    );
    // revoking deletes the grant's tokens
    assert!(
        s.find_mcp_token("h-refresh", "refresh")
            .await
            .unwrap()
            .is_none()
    );
}

async fn organizations_and_workspaces(db: &TestDb) {
    let s = &db.store;
    let a = s.create_organization("alpha").await.unwrap();
    let b = s.create_organization("beta").await.unwrap();
    assert_eq!(s.get_organization(&a.id).await.unwrap(), Some(a.clone()));
    assert_eq!(
        s.get_organization_by_name("beta").await.unwrap(),
        Some(b.clone())
    );
    assert_eq!(s.get_organization_by_name("gamma").await.unwrap(), None);
    assert_eq!(
        s.list_organizations().await.unwrap(),
        vec![a.clone(), b.clone()]
    );
    let dup = s.create_organization("alpha").await.unwrap_err();
    assert_eq!(dup.kind(), "already_exists", "{dup}");

    let w1 = s.ensure_workspace(&a.id, "default").await.unwrap();
    let w1_again = s.ensure_workspace(&a.id, "default").await.unwrap();
    assert_eq!(w1, w1_again, "ensure_workspace is idempotent");
    s.ensure_workspace(&a.id, "team").await.unwrap();
    let names: Vec<_> = s
        .list_workspaces(&a.id)
        .await
        .unwrap()
        .into_iter()
        .map(|w| w.name)
        .collect();
    assert_eq!(names, ["default", "team"]);
    let missing = s.ensure_workspace(&OrgId::new(), "x").await.unwrap_err();
    assert!(missing.is_not_found(), "{missing}");
}

async fn api_keys(db: &TestDb) {
    let s = &db.store;
    let org = org(s, "o").await;
    let rec = s
        .create_api_key(
            &org,
            NewApiKey {
                name: "admin".into(),
                prefix: "jg_abc".into(),
                key_hash: "hash-1".into(),
                scopes: vec!["admin".into(), "credentials:token".into()],
                platform: true,
            },
        )
        .await
        .unwrap();
    assert!(rec.platform);
    assert_eq!(
        s.find_api_key_by_hash("hash-1").await.unwrap(),
        Some(rec.clone())
    );
    assert_eq!(s.find_api_key_by_hash("hash-2").await.unwrap(), None);
    assert_eq!(
        s.get_api_key(&org, &rec.id).await.unwrap(),
        Some(rec.clone())
    );
    assert_eq!(s.list_api_keys(&org).await.unwrap(), vec![rec.clone()]);

    let at = OffsetDateTime::now_utc() - Duration::from_secs(5);
    s.touch_api_key_at(&org, &rec.id, at).await.unwrap();
    let touched = s.get_api_key(&org, &rec.id).await.unwrap().unwrap();
    assert_eq!(
        touched.last_used_at.unwrap().unix_timestamp_nanos() / 1000,
        at.unix_timestamp_nanos() / 1000
    );
    s.touch_api_key(&org, &rec.id).await.unwrap();

    let revoked = s.revoke_api_key(&org, &rec.id).await.unwrap();
    let first = revoked.revoked_at.expect("revoked");
    let again = s.revoke_api_key(&org, &rec.id).await.unwrap();
    assert_eq!(again.revoked_at, Some(first), "revocation time is kept");
    assert!(
        s.find_api_key_by_hash("hash-1")
            .await
            .unwrap()
            .unwrap()
            .revoked_at
            .is_some()
    );

    let dup = s
        .create_api_key(
            &org,
            NewApiKey {
                name: "dup".into(),
                prefix: "jg_dup".into(),
                key_hash: "hash-1".into(),
                scopes: vec![],
                platform: false,
            },
        )
        .await
        .unwrap_err();
    assert_eq!(dup.kind(), "already_exists");
    assert!(
        s.revoke_api_key(&org, &ApiKeyId::new())
            .await
            .unwrap_err()
            .is_not_found()
    );
    assert!(
        s.touch_api_key(&org, &ApiKeyId::new())
            .await
            .unwrap_err()
            .is_not_found()
    );
}

async fn data_keys_and_key_check(db: &TestDb) {
    let s = &db.store;
    let org = org(s, "o").await;
    let master = MasterKey::generate();
    assert_eq!(s.get_key_check().await.unwrap(), None);
    assert!(
        s.put_key_check(&master.key_id(), &master.key_check())
            .await
            .unwrap()
    );
    let other = MasterKey::generate();
    assert!(
        !s.put_key_check(&other.key_id(), &other.key_check())
            .await
            .unwrap(),
        "an existing key-check record is never overwritten"
    );
    let kc = s.get_key_check().await.unwrap().unwrap();
    assert_eq!(kc.master_key_id, master.key_id());
    master.verify_key_check(&kc.record).unwrap();
    assert!(other.verify_key_check(&kc.record).is_err());

    let dk1 = DataKey::generate();
    let rec1 = s
        .put_data_key(&org, 1, &master.wrap(&dk1, org.as_str(), 1))
        .await
        .unwrap();
    let dup = s
        .put_data_key(&org, 1, &master.wrap(&dk1, org.as_str(), 1))
        .await
        .unwrap_err();
    assert_eq!(dup.kind(), "already_exists");
    let foreign = s
        .put_data_key(&org, 2, &other.wrap(&DataKey::generate(), org.as_str(), 2))
        .await
        .unwrap_err();
    assert_eq!(foreign.kind(), "master_key_changed", "{foreign}");
    let rec2 = s
        .put_data_key(&org, 2, &master.wrap(&DataKey::generate(), org.as_str(), 2))
        .await
        .unwrap();
    let keys = s.get_data_keys(&org).await.unwrap();
    assert_eq!(keys, vec![rec1.clone(), rec2]);
    master.unwrap(&keys[0].wrapped, org.as_str(), 1).unwrap();
    assert_eq!(s.admin_list_all_data_keys().await.unwrap().len(), 2);
}

async fn oauth_clients(db: &TestDb) {
    let s = &db.store;
    let org = org(s, "o").await;
    let c = s
        .create_oauth_client(&org, new_oauth_client("client-a"))
        .await
        .unwrap();
    assert_eq!(
        s.get_oauth_client(&org, &c.id).await.unwrap(),
        Some(c.clone())
    );
    assert_eq!(
        s.find_oauth_client_by_client_id(&org, "client-a")
            .await
            .unwrap(),
        Some(c.clone())
    );
    assert_eq!(s.list_oauth_clients(&org).await.unwrap(), vec![c.clone()]);
    let json = serde_json::to_string(&c).unwrap();
    assert!(
        !json.contains("sealed"),
        "sealed secret is not serialized: {json}"
    );

    // In use by a connection: refused; after the connection is gone: deleted.
    let mut nc = new_connection("uses-client");
    nc.auth_kind = AuthKind::OAuth2;
    nc.oauth_client_id = Some(c.id.clone());
    let conn = s
        .create_connection(&org, nc, NewCredential::default())
        .await
        .unwrap();
    let in_use = s.delete_oauth_client(&org, &c.id).await.unwrap_err();
    assert_eq!(in_use.kind(), "in_use", "{in_use}");
    assert!(in_use.to_string().contains("uses-client"));
    s.delete_connection(&org, &conn.id).await.unwrap();
    s.delete_oauth_client(&org, &c.id).await.unwrap();
    assert_eq!(s.get_oauth_client(&org, &c.id).await.unwrap(), None);
    assert!(
        s.delete_oauth_client(&org, &c.id)
            .await
            .unwrap_err()
            .is_not_found()
    );
}

async fn connections_and_credentials(db: &TestDb) {
    let s = &db.store;
    let org = org(s, "o").await;
    let client = s
        .create_oauth_client(&org, new_oauth_client("cl"))
        .await
        .unwrap();
    let conn = s
        .create_connection(
            &org,
            new_connection("jira"),
            api_token_credential("jgv1.1.tok"),
        )
        .await
        .unwrap();
    assert_eq!(conn.version, 1);
    assert_eq!(
        s.get_connection(&org, &conn.id).await.unwrap(),
        Some(conn.clone())
    );
    assert_eq!(
        s.find_connection(&org, "default", "jira").await.unwrap(),
        Some(conn.clone())
    );
    assert_eq!(
        s.find_connection(&org, "other", "jira").await.unwrap(),
        None
    );
    let mut second = new_connection("sm");
    second.workspace = "team".into();
    second.api_type = ApiType::ServiceManagement;
    second.owner = Owner::User("user-7".into());
    let second = s
        .create_connection(&org, second, NewCredential::default())
        .await
        .unwrap();
    assert_eq!(
        s.list_connections(&org, None).await.unwrap(),
        vec![conn.clone(), second.clone()]
    );
    assert_eq!(
        s.list_connections(&org, Some("team")).await.unwrap(),
        vec![second.clone()]
    );
    let dup = s
        .create_connection(&org, new_connection("jira"), NewCredential::default())
        .await
        .unwrap_err();
    assert_eq!(dup.kind(), "already_exists");

    let cred = s.get_credential(&org, &conn.id).await.unwrap().unwrap();
    assert_eq!(cred.generation, 1);
    assert_eq!(cred.sealed_api_token.as_deref(), Some("jgv1.1.tok"));

    // Patch: only named columns change; Some(None) clears a nullable one.
    let updated = s
        .update_connection(
            &org,
            &conn.id,
            1,
            ConnectionPatch {
                name: Some("jira-renamed".into()),
                workspace: Some("moved".into()),
                email: Some(None),
                scopes: Some(vec!["read:jira-work".into()]),
                oauth_client_id: Some(Some(client.id.clone())),
                auth_kind: Some(AuthKind::OAuth2),
                ..ConnectionPatch::default()
            },
        )
        .await
        .unwrap();
    assert_eq!(updated.version, 2);
    assert_eq!(updated.name, "jira-renamed");
    assert_eq!(updated.workspace, "moved");
    assert_eq!(updated.email, None);
    assert_eq!(
        updated.account_name.as_deref(),
        Some("Ada"),
        "untouched column kept"
    );
    assert_eq!(updated.oauth_client_id, Some(client.id.clone()));
    assert!(
        s.list_workspaces(&org)
            .await
            .unwrap()
            .iter()
            .any(|w| w.name == "moved")
    );
    assert_eq!(
        s.get_connection(&org, &conn.id).await.unwrap(),
        Some(updated.clone())
    );

    // Status updates don't bump the version.
    let checked = OffsetDateTime::now_utc();
    s.set_connection_status(
        &org,
        &conn.id,
        ConnectionStatus::NeedsReauth,
        Some("invalid_grant"),
        checked,
    )
    .await
    .unwrap();
    let after = s.get_connection(&org, &conn.id).await.unwrap().unwrap();
    assert_eq!(after.status, ConnectionStatus::NeedsReauth);
    assert_eq!(after.status_reason.as_deref(), Some("invalid_grant"));
    assert_eq!(after.version, 2);
    assert!(after.last_checked_at.is_some());

    // Replace: every field replaced, never merged.
    let replaced = s
        .replace_credential(
            &org,
            &conn.id,
            NewCredential {
                sealed_access_token: Some("jgv1.1.at".into()),
                sealed_refresh_token: Some("jgv1.1.rt".into()),
                access_expires_at: Some(checked + Duration::from_secs(3600)),
                ..NewCredential::default()
            },
        )
        .await
        .unwrap();
    assert_eq!(replaced.generation, 2);
    assert_eq!(replaced.sealed_api_token, None);

    let refreshed = s
        .commit_refreshed_credential(
            &org,
            &conn.id,
            2,
            RefreshedCredential {
                sealed_access_token: "jgv1.1.at2".into(),
                sealed_refresh_token: None,
                access_expires_at: Some(checked + Duration::from_secs(7200)),
                refresh_issued_at: None,
            },
        )
        .await
        .unwrap();
    assert_eq!(refreshed.generation, 3);
    assert_eq!(
        refreshed.sealed_refresh_token.as_deref(),
        Some("jgv1.1.rt"),
        "kept when not rotated"
    );
    assert_eq!(
        s.get_credential(&org, &conn.id).await.unwrap(),
        Some(refreshed.clone())
    );

    // Background-refresh listing sees it only when due and while not needing re-consent.
    s.set_connection_status(&org, &conn.id, ConnectionStatus::Healthy, None, checked)
        .await
        .unwrap();
    assert!(s.refresh_due(checked, 10).await.unwrap().is_empty());
    let due = s
        .refresh_due(checked + Duration::from_secs(10_000), 10)
        .await
        .unwrap();
    assert_eq!(due.len(), 1);
    assert_eq!(due[0].connection_id, conn.id);
    assert_eq!(due[0].generation, 3);

    // Admin reseal: CAS on generation, generation unchanged.
    assert!(
        !s.admin_reseal_credential(&org, &conn.id, 2, None, Some("x"), None)
            .await
            .unwrap()
    );
    assert!(
        s.admin_reseal_credential(&org, &conn.id, 3, None, Some("jgv2.at"), Some("jgv2.rt"))
            .await
            .unwrap()
    );
    let resealed = s.get_credential(&org, &conn.id).await.unwrap().unwrap();
    assert_eq!(resealed.generation, 3);
    assert_eq!(resealed.sealed_access_token.as_deref(), Some("jgv2.at"));
    assert_eq!(s.admin_list_all_credentials().await.unwrap().len(), 2);

    s.delete_connection(&org, &conn.id).await.unwrap();
    assert_eq!(s.get_connection(&org, &conn.id).await.unwrap(), None);
    assert_eq!(s.get_credential(&org, &conn.id).await.unwrap(), None);
    assert!(
        s.delete_connection(&org, &conn.id)
            .await
            .unwrap_err()
            .is_not_found()
    );
    assert!(
        s.get_credential(&org, &second.id).await.unwrap().is_some(),
        "others untouched"
    );
}

async fn connect_sessions(db: &TestDb) {
    let s = &db.store;
    let org = org(s, "o").await;
    let client = s
        .create_oauth_client(&org, new_oauth_client("cl"))
        .await
        .unwrap();
    let sess = s
        .create_connect_session(
            &org,
            new_session(&client.id, "h-1", Duration::from_secs(600)),
        )
        .await
        .unwrap();
    assert_eq!(sess.status, SessionStatus::Pending);
    assert_eq!(
        s.get_connect_session(&org, &sess.id).await.unwrap(),
        Some(sess.clone())
    );

    let consumed = s
        .consume_session_state("h-1")
        .await
        .unwrap()
        .expect("first consume");
    assert_eq!(consumed.id, sess.id);
    assert!(consumed.consumed_at.is_some());
    assert_eq!(
        s.consume_session_state("h-1").await.unwrap(),
        None,
        "single use"
    );
    assert_eq!(s.consume_session_state("unknown").await.unwrap(), None);
    let explained = s.find_session_by_state_hash("h-1").await.unwrap().unwrap();
    assert!(explained.consumed_at.is_some());

    let conn = s
        .create_connection(&org, new_connection("c"), NewCredential::default())
        .await
        .unwrap();
    let sites =
        serde_json::json!([{"cloud_id": "a", "name": "acme"}, {"cloud_id": "b", "name": "globex"}]);
    let chosen = s
        .update_connect_session(
            &org,
            &sess.id,
            ConnectSessionPatch {
                status: Some(SessionStatus::ChooseSite),
                sites_json: Some(Some(sites.clone())),
                sealed_pending_tokens: Some(Some("jgv1.1.pending".into())),
                ..ConnectSessionPatch::default()
            },
        )
        .await
        .unwrap();
    assert_eq!(chosen.status, SessionStatus::ChooseSite);
    assert_eq!(chosen.sites_json, Some(sites));
    let done = s
        .update_connect_session(
            &org,
            &sess.id,
            ConnectSessionPatch {
                status: Some(SessionStatus::Connected),
                sealed_pending_tokens: Some(None),
                connection_id: Some(Some(conn.id.clone())),
                ..ConnectSessionPatch::default()
            },
        )
        .await
        .unwrap();
    assert_eq!(done.sealed_pending_tokens, None);
    assert_eq!(done.connection_id, Some(conn.id.clone()));
    assert!(done.sites_json.is_some(), "untouched column kept");

    // Expired sessions cannot be consumed and are purged.
    let old = s
        .create_connect_session(
            &org,
            new_session(&client.id, "h-old", Duration::from_millis(1)),
        )
        .await
        .unwrap();
    tokio::time::sleep(Duration::from_millis(5)).await;
    assert_eq!(s.consume_session_state("h-old").await.unwrap(), None);
    let purged = s
        .delete_expired_connect_sessions(OffsetDateTime::now_utc())
        .await
        .unwrap();
    assert_eq!(purged, 1);
    assert_eq!(s.get_connect_session(&org, &old.id).await.unwrap(), None);
    let dup = s
        .create_connect_session(
            &org,
            new_session(&client.id, "h-1", Duration::from_secs(60)),
        )
        .await
        .unwrap_err();
    assert_eq!(dup.kind(), "already_exists");
}

async fn audit_and_health(db: &TestDb) {
    let s = &db.store;
    let org = org(s, "o").await;
    for i in 0..3 {
        s.append_audit(
            &org,
            NewAuditEvent {
                actor: "key:admin".into(),
                action: format!("connection.create.{i}"),
                target: "conn".into(),
                detail: serde_json::json!({"i": i}),
            },
        )
        .await
        .unwrap();
    }
    let events = s.list_audit(&org, 2).await.unwrap();
    assert_eq!(events.len(), 2);
    assert_eq!(events[0].action, "connection.create.2", "newest first");
    assert_eq!(events[0].detail, serde_json::json!({"i": 2}));

    let conn = s
        .create_connection(&org, new_connection("c"), NewCredential::default())
        .await
        .unwrap();
    assert_eq!(s.latest_health(&org, &conn.id).await.unwrap(), None);
    let now = OffsetDateTime::now_utc();
    let first = HealthCheck {
        connection_id: conn.id.clone(),
        at: now - Duration::from_secs(60),
        status: ConnectionStatus::Healthy,
        reason: None,
        latency_ms: 12,
    };
    let second = HealthCheck {
        at: now,
        status: ConnectionStatus::Error,
        reason: Some("HTTP 503".into()),
        latency_ms: 40,
        ..first.clone()
    };
    s.record_health_check(&org, &first).await.unwrap();
    s.record_health_check(&org, &second).await.unwrap();
    let latest = s.latest_health(&org, &conn.id).await.unwrap().unwrap();
    assert_eq!(latest.status, ConnectionStatus::Error);
    assert_eq!(latest.reason.as_deref(), Some("HTTP 503"));
    let missing = HealthCheck {
        connection_id: ConnectionId::new(),
        ..second
    };
    assert!(
        s.record_health_check(&org, &missing)
            .await
            .unwrap_err()
            .is_not_found()
    );
}

async fn oauth_client_ids_are_unique_and_clients_update(db: &TestDb) {
    let s = &db.store;
    let org = org(s, "o").await;
    let other = crate::common::org(s, "other").await;
    let c = s
        .create_oauth_client(&org, new_oauth_client("client-a"))
        .await
        .unwrap();
    let dup = s
        .create_oauth_client(&org, new_oauth_client("client-a"))
        .await
        .unwrap_err();
    assert_eq!(dup.kind(), "already_exists", "{dup}");
    assert!(dup.to_string().contains(c.id.as_str()), "{dup}");
    assert_eq!(s.list_oauth_clients(&org).await.unwrap().len(), 1);
    // Another organization may register the same app.
    s.create_oauth_client(&other, new_oauth_client("client-a"))
        .await
        .unwrap();

    let scopes = vec!["read:jira-work".to_string(), "read:me".to_string()];
    let up = s
        .update_oauth_client(&org, &c.id, Some("sealed-2"), Some(&scopes))
        .await
        .unwrap();
    assert_eq!(up.sealed_client_secret, "sealed-2");
    assert_eq!(up.scopes, scopes);
    assert_eq!(up.client_id, "client-a");
    let up = s
        .update_oauth_client(&org, &c.id, None, None)
        .await
        .unwrap();
    assert_eq!(
        (up.sealed_client_secret.as_str(), up.scopes.clone()),
        ("sealed-2", scopes)
    );
    assert!(
        s.update_oauth_client(&other, &c.id, Some("x"), None)
            .await
            .unwrap_err()
            .is_not_found(),
        "tenant-scoped"
    );
}

async fn audit_query_filters_and_pages(db: &TestDb) {
    let s = &db.store;
    let org = org(s, "o").await;
    let other = crate::common::org(s, "other").await;
    for (i, (action, target)) in [
        ("connector.create", "c1"),
        ("connector.check", "c1"),
        ("oauth_client.create", "oc"),
        ("connector.create", "c2"),
        ("connector_x.other", "c1"),
    ]
    .iter()
    .enumerate()
    {
        s.append_audit(
            &org,
            NewAuditEvent {
                actor: "operator".into(),
                action: action.to_string(),
                target: target.to_string(),
                detail: serde_json::json!({"i": i}),
            },
        )
        .await
        .unwrap();
    }
    s.append_audit(
        &other,
        NewAuditEvent {
            actor: "operator".into(),
            action: "connector.create".into(),
            target: "c1".into(),
            detail: serde_json::json!({}),
        },
    )
    .await
    .unwrap();
    let q = |f: fn(&mut AuditQuery)| {
        let mut q = AuditQuery {
            limit: 100,
            ..AuditQuery::default()
        };
        f(&mut q);
        q
    };
    let all = s.query_audit(&org, &q(|_| {})).await.unwrap();
    assert_eq!(all.len(), 5, "only this organization's events");
    let c1 = s
        .query_audit(&org, &q(|q| q.target = Some("c1".into())))
        .await
        .unwrap();
    assert_eq!(c1.len(), 3);
    let conn = s
        .query_audit(&org, &q(|q| q.action_prefix = Some("connector.".into())))
        .await
        .unwrap();
    assert_eq!(
        conn.iter()
            .map(|e| e.detail["i"].as_i64().unwrap())
            .collect::<Vec<_>>(),
        vec![3, 1, 0],
        "prefix match, newest first"
    );
    // Paging by (at, id): two pages of two and one of one, no repeats.
    let mut seen = Vec::new();
    let mut before = None;
    loop {
        let page = s
            .query_audit(
                &org,
                &AuditQuery {
                    before: before.clone(),
                    limit: 2,
                    ..AuditQuery::default()
                },
            )
            .await
            .unwrap();
        if page.is_empty() {
            break;
        }
        let last = page.last().unwrap();
        before = Some((last.at, last.id.to_string()));
        seen.extend(page.into_iter().map(|e| e.id));
    }
    assert_eq!(seen, all.iter().map(|e| e.id.clone()).collect::<Vec<_>>());
    let future = OffsetDateTime::now_utc() + Duration::from_secs(3600);
    let none = s
        .query_audit(
            &org,
            &AuditQuery {
                since: Some(future),
                limit: 10,
                ..AuditQuery::default()
            },
        )
        .await
        .unwrap();
    assert!(none.is_empty());
    let until = s
        .query_audit(
            &org,
            &AuditQuery {
                until: Some(future),
                limit: 10,
                ..AuditQuery::default()
            },
        )
        .await
        .unwrap();
    assert_eq!(until.len(), 5);
}
