//! describe / execute / stream / check through the engine, and error kinds.

use futures::StreamExt;
use jiragate_engine::{ActionRequest, Actor, ConnRef, EngineError};
use serde_json::{Value, json};

use crate::support::*;

fn req(entity: &str, action: &str, params: Value, read_only: bool) -> ActionRequest {
    ActionRequest {
        entity: entity.into(),
        action: action.into(),
        params,
        read_only,
    }
}

#[test]
fn connection_references_parse_like_people_write_them() {
    assert_eq!(
        ConnRef::parse("w/jira"),
        ConnRef::Name {
            workspace: "w".into(),
            name: "jira".into()
        }
    );
    assert_eq!(
        ConnRef::parse("jira"),
        ConnRef::Name {
            workspace: "default".into(),
            name: "jira".into()
        }
    );
    let id = jiragate_store::ConnectionId::new();
    assert_eq!(ConnRef::parse(id.as_ref()), ConnRef::Id(id));
}

#[tokio::test]
async fn execute_stream_and_errors_carry_stable_kinds() {
    let sim = sim().await;
    let dir = tempfile::tempdir().unwrap();
    let e = engine(dir.path(), &sim).await;
    let c = api_token_connection(&e, &sim, "jira").await;
    let org = e.default_org.clone();
    let r = ConnRef::Id(c.id.clone());

    let found = e.resolve(&org, &ConnRef::parse("w/jira")).await.unwrap();
    assert_eq!(found.id, c.id);
    let nf = e
        .resolve(&org, &ConnRef::parse("w/nope"))
        .await
        .unwrap_err();
    assert_eq!(
        (nf.kind(), nf.http_status(), nf.exit_code()),
        ("not_found", 404, 3)
    );

    let d = e
        .describe(Actor::Operator, &org, &r, Some("sprint"))
        .await
        .unwrap();
    assert!(d.to_string().contains("sprints"), "{d}");

    let out = e
        .execute(
            Actor::Operator,
            &org,
            &r,
            req("myself", "get", json!({}), false),
        )
        .await
        .unwrap();
    assert_eq!(out.data["emailAddress"], sim.users[0].email.as_str());

    // Every item of every page, in order, with small pages.
    let rows: Vec<_> = e
        .execute_stream(
            Actor::Operator,
            &org,
            &r,
            req(
                "issues",
                "search",
                json!({"jql": "project = ENG ORDER BY key"}),
                false,
            ),
        )
        .await
        .unwrap()
        .collect()
        .await;
    let count = e
        .execute(
            Actor::Operator,
            &org,
            &r,
            req(
                "issues",
                "search",
                json!({"jql": "project = ENG", "all": true}),
                false,
            ),
        )
        .await
        .unwrap();
    assert!(
        rows.len() > 2 && rows.iter().all(Result::is_ok),
        "{} rows",
        rows.len()
    );
    assert_eq!(
        Some(rows.len()),
        count.data.as_array().map(Vec::len),
        "stream and collected agree"
    );
    let capped = e
        .execute_stream(
            Actor::Operator,
            &org,
            &r,
            req(
                "issues",
                "search",
                json!({"jql": "project = ENG", "limit": 2}),
                false,
            ),
        )
        .await
        .unwrap()
        .count()
        .await;
    assert_eq!(capped, 2, "limit caps the stream");

    let bad = e
        .execute(
            Actor::Operator,
            &org,
            &r,
            req("issues", "search", json!({"jql": 42}), false),
        )
        .await
        .unwrap_err();
    assert_eq!(
        (bad.kind(), bad.http_status(), bad.exit_code()),
        ("validation", 422, 2)
    );
    assert!(bad.to_string().contains("jql"), "{bad}");

    let ro = e
        .execute(
            Actor::Operator,
            &org,
            &r,
            req(
                "issues",
                "create",
                json!({"project": "ENG", "summary": "x", "issue_type": "Task"}),
                true,
            ),
        )
        .await
        .unwrap_err();
    assert_eq!(ro.kind(), "forbidden", "{ro}");

    let up = e
        .execute(
            Actor::Operator,
            &org,
            &r,
            req("issues", "get", json!({"issue": "ENG-999999"}), false),
        )
        .await
        .unwrap_err();
    assert!(
        matches!(up, EngineError::Upstream { status: 404, .. }),
        "{up:?}"
    );
    // A missing issue is the caller's mistake: not found (exit 3), not an outage.
    assert_eq!(
        (up.kind(), up.http_status(), up.exit_code()),
        ("not_found", 404, 3)
    );

    let (_, h) = e.check(Actor::Operator, &org, &r).await.unwrap();
    assert_eq!(serde_json::to_value(&h).unwrap()["status"], "healthy");
}
