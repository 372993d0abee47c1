//! Issue 13: OAuth clients are unique per organization and editable, expired connect sessions
//! say so, the audit trail and the scopes catalogue are readable — all decided in the engine.

use jiragate_engine::audit::{AuditFilter, parse_time};
use jiragate_engine::model::{ApiType, Owner, StartConnect};
use jiragate_engine::oauth::{OAuthClientUpdate, SessionState};
use jiragate_engine::scopes::ScopeKind;
use jiragate_engine::{Actor, ApiScope, ConnRef, EngineError};
use secrecy::SecretString;

use crate::support::*;

#[tokio::test]
async fn a_client_id_is_registered_once_per_organization_and_can_be_updated() {
    let sim = sim().await;
    let dir = tempfile::tempdir().unwrap();
    let e = engine(dir.path(), &sim).await;
    let org = e.default_org.clone();
    let op = Actor::Operator;
    let c = e
        .create_oauth_client(
            op,
            &org,
            "app-1",
            SecretString::from("first-secret-111"),
            vec!["read:jira-work".into()],
        )
        .await
        .unwrap();
    let dup = e
        .create_oauth_client(op, &org, " app-1 ", SecretString::from("x"), Vec::new())
        .await
        .unwrap_err();
    assert_eq!(dup.kind(), "conflict", "{dup}");
    assert_eq!(dup.http_status(), 409);
    assert!(dup.to_string().contains(c.id.as_str()), "{dup}");
    assert_eq!(e.list_oauth_clients(op, &org).await.unwrap().len(), 1);

    // Another organization may register the same Atlassian app.
    let other = e.create_organization(op, &org, "other").await.unwrap();
    e.create_oauth_client(op, &other.id, "app-1", SecretString::from("s"), Vec::new())
        .await
        .unwrap();

    // Update: only admin; nothing to change is refused; the secret is sealed, never audited.
    let (exec_key, _) = e
        .create_api_key(&org, "exec", &[ApiScope::Execute], false)
        .await
        .unwrap();
    let refused = e
        .update_oauth_client(
            Actor::Key(&exec_key),
            &org,
            &c.id,
            OAuthClientUpdate {
                scopes: Some(vec!["read:me".into()]),
                ..Default::default()
            },
        )
        .await
        .unwrap_err();
    assert_eq!(refused.kind(), "forbidden");
    let empty = e
        .update_oauth_client(op, &org, &c.id, OAuthClientUpdate::default())
        .await
        .unwrap_err();
    assert_eq!(empty.kind(), "validation");
    let up = e
        .update_oauth_client(
            op,
            &org,
            &c.id,
            OAuthClientUpdate {
                client_secret: Some(SecretString::from("rotated-secret-222")),
                scopes: Some(vec![
                    "read:jira-work write:jira-work".into(),
                    "read:me".into(),
                ]),
            },
        )
        .await
        .unwrap();
    assert_eq!(up.scopes, ["read:jira-work", "write:jira-work", "read:me"]);
    assert_ne!(up.sealed_client_secret, c.sealed_client_secret);
    assert!(!up.sealed_client_secret.contains("rotated-secret-222"));
    let in_other_org = e
        .update_oauth_client(
            op,
            &other.id,
            &c.id,
            OAuthClientUpdate {
                scopes: Some(Vec::new()),
                ..Default::default()
            },
        )
        .await
        .unwrap_err();
    assert_eq!(in_other_org.kind(), "not_found");

    let page = e
        .query_audit(
            op,
            &org,
            AuditFilter {
                kind: Some("oauth_client.update".into()),
                ..Default::default()
            },
        )
        .await
        .unwrap();
    assert_eq!(page.events.len(), 1);
    let ev = serde_json::to_string(&page.events[0]).unwrap();
    assert!(ev.contains("\"secret_rotated\":true"), "{ev}");
    assert!(!ev.contains("rotated-secret-222"), "{ev}");
    for f in std::fs::read_dir(dir.path()).unwrap() {
        let bytes = std::fs::read(f.unwrap().path()).unwrap_or_default();
        assert!(
            !String::from_utf8_lossy(&bytes).contains("rotated-secret-222"),
            "the rotated secret is never stored in clear"
        );
    }
}

#[tokio::test]
async fn an_expired_connect_session_reports_expired() {
    let sim = sim().await;
    let dir = tempfile::tempdir().unwrap();
    let e = engine(dir.path(), &sim).await;
    let org = e.default_org.clone();
    let c = e
        .create_oauth_client(
            Actor::Operator,
            &org,
            "app",
            SecretString::from("s"),
            vec!["read:jira-work".into()],
        )
        .await
        .unwrap();
    let start = e
        .start_connect(
            Actor::Operator,
            &org,
            StartConnect {
                oauth_client_id: c.id.clone(),
                workspace: "default".into(),
                name: "cloud".into(),
                scopes: None,
                subdomain: None,
                owner: Owner::Installation,
                api_type: ApiType::Platform,
            },
        )
        .await
        .unwrap();
    let s = e
        .get_connect_session(Actor::Operator, &org, &start.session_id)
        .await
        .unwrap()
        .unwrap();
    assert_eq!(SessionState::now(&s), SessionState::Pending);
    assert_eq!(
        SessionState::of(&s, s.expires_at + std::time::Duration::from_secs(1)),
        SessionState::Expired
    );
    assert_eq!(SessionState::Expired.as_str(), "expired");
}

#[tokio::test]
async fn the_audit_trail_is_filtered_paged_and_admin_only() {
    let sim = sim().await;
    let dir = tempfile::tempdir().unwrap();
    let e = engine(dir.path(), &sim).await;
    let org = e.default_org.clone();
    let op = Actor::Operator;
    for i in 0..7 {
        e.append_audit(
            op,
            &org,
            "connector.check",
            "conn-a",
            serde_json::json!({"i": i}),
        )
        .await;
    }
    e.append_audit(op, &org, "api_key.create", "k", serde_json::json!({}))
        .await;
    let mut ids = Vec::new();
    let mut token = None;
    loop {
        let page = e
            .query_audit(
                op,
                &org,
                AuditFilter {
                    kind: Some("connector.".into()),
                    limit: Some(3),
                    page_token: token.clone(),
                    ..Default::default()
                },
            )
            .await
            .unwrap();
        assert!(page.events.len() <= 3);
        ids.extend(
            page.events
                .iter()
                .map(|ev| ev.detail["i"].as_i64().unwrap()),
        );
        match page.next_page_token {
            Some(t) => token = Some(t),
            None => break,
        }
    }
    assert_eq!(ids, [6, 5, 4, 3, 2, 1, 0], "newest first, each once");

    let bad = |f: AuditFilter| {
        let e = &e;
        let org = &org;
        async move { e.query_audit(op, org, f).await.unwrap_err().kind() }
    };
    assert_eq!(
        bad(AuditFilter {
            limit: Some(501),
            ..Default::default()
        })
        .await,
        "validation"
    );
    assert_eq!(
        bad(AuditFilter {
            page_token: Some("garbage!".into()),
            ..Default::default()
        })
        .await,
        "validation"
    );
    assert_eq!(
        bad(AuditFilter {
            connection: Some(ConnRef::parse("w/missing")),
            ..Default::default()
        })
        .await,
        "not_found"
    );
    assert!(parse_time("since", "yesterday").is_err());
    let since = parse_time("since", "2000-01-01T00:00:00Z").unwrap();
    let all = e
        .query_audit(
            op,
            &org,
            AuditFilter {
                since: Some(since),
                limit: Some(500),
                ..Default::default()
            },
        )
        .await
        .unwrap();
    assert!(all.events.len() >= 8 && all.next_page_token.is_none());

    let (exec_key, _) = e
        .create_api_key(&org, "exec", &[ApiScope::Execute], false)
        .await
        .unwrap();
    let refused = e
        .query_audit(Actor::Key(&exec_key), &org, AuditFilter::default())
        .await
        .unwrap_err();
    assert!(matches!(refused, EngineError::KeyScope { .. }), "{refused}");

    // Another organization sees none of these.
    let other = e.create_organization(op, &org, "other").await.unwrap();
    let theirs = e
        .query_audit(
            op,
            &other.id,
            AuditFilter {
                kind: Some("connector.".into()),
                ..Default::default()
            },
        )
        .await
        .unwrap();
    assert!(theirs.events.is_empty());
}

#[tokio::test]
async fn the_scopes_catalogue_covers_every_action_scope_with_its_description() {
    let sim = sim().await;
    let dir = tempfile::tempdir().unwrap();
    let e = engine(dir.path(), &sim).await;
    let scopes = e.scopes(Actor::Operator, None).unwrap();
    let catalog = jiragate_catalog::Catalog::new();
    for def in catalog.actions() {
        for s in def.classic_scopes.iter().chain(def.granular_scopes) {
            let info = scopes
                .iter()
                .find(|i| i.scope == *s)
                .unwrap_or_else(|| panic!("{s} of {} is listed", def.name()));
            assert!(info.actions.contains(&def.name()));
        }
    }
    for i in &scopes {
        assert!(
            i.description.as_deref().is_some_and(|d| !d.is_empty()),
            "{} has a description from the specs",
            i.scope
        );
    }
    let work = scopes.iter().find(|i| i.scope == "read:jira-work").unwrap();
    assert_eq!(work.kind, ScopeKind::Classic);
    assert!(work.actions.iter().any(|a| a == "issues.search"));
    assert!(
        scopes
            .iter()
            .any(|i| i.kind == ScopeKind::Granular && i.scope == "read:issue:jira")
    );

    let one = e.scopes(Actor::Operator, Some("issues.search")).unwrap();
    assert!(!one.is_empty() && one.iter().all(|i| i.actions == ["issues.search"]));
    assert_eq!(
        e.scopes(Actor::Operator, Some("nope.nope"))
            .unwrap_err()
            .kind(),
        "not_found"
    );
}

/// The generated table (`tools/gen_scope_docs.py`) matches the specs, when they are present.
#[test]
fn scope_descriptions_match_the_specs() {
    let specs = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("../../../shared/specs");
    let Ok(raw) = std::fs::read_to_string(specs.join("jira-platform-v3.json")) else {
        eprintln!("specs not found at {}; skipped", specs.display());
        return;
    };
    let doc: serde_json::Value = serde_json::from_str(&raw).unwrap();
    let flow =
        &doc["components"]["securitySchemes"]["OAuth2"]["flows"]["authorizationCode"]["scopes"];
    let scopes = flow.as_object().unwrap();
    assert!(!scopes.is_empty());
    for (name, desc) in scopes {
        let (got, _) = jiragate_engine::scopes::scope_doc(name)
            .unwrap_or_else(|| panic!("{name} is in the generated table"));
        let want = desc
            .as_str()
            .unwrap()
            .split_whitespace()
            .collect::<Vec<_>>()
            .join(" ");
        assert_eq!(got, want, "{name}");
    }
}
