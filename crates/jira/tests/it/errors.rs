//! Error mapping of non-2xx answers, and that no secret ever shows up in errors or Debug.

use axum::Router;
use axum::http::StatusCode;
use axum::routing::any;
use jiragate_jira::{JiraAuth, JiraClient, JiraError, JiraRequest, StaticTokenSource, Target};
use secrecy::SecretString;

use crate::support::*;

fn answering(status: StatusCode, body: &'static str) -> Router {
    Router::new().route(
        "/{*rest}",
        any(move || async move {
            (
                status,
                [
                    ("x-arequestid", "req-42"),
                    ("content-type", "application/json"),
                ],
                body,
            )
        }),
    )
}

#[tokio::test]
async fn maps_jira_error_bodies_with_request_id_and_hint() {
    let (base, _log) = serve(answering(
        StatusCode::BAD_REQUEST,
        r#"{"errorMessages":["Field errors"],"errors":{"summary":"You must specify a summary of the issue."}}"#,
    ))
    .await;
    let client = JiraClient::new(fast_config());
    let src = StaticTokenSource(basic_target(&base));
    let err = within(
        10,
        client.send(
            &src,
            JiraRequest::post("/rest/api/3/issue", serde_json::json!({})),
        ),
    )
    .await
    .unwrap_err();
    match &err {
        JiraError::Upstream {
            status,
            messages,
            field_errors,
            request_id,
            hint,
            connection,
        } => {
            assert_eq!(*status, 400);
            assert_eq!(messages, &vec!["Field errors".to_owned()]);
            assert_eq!(
                field_errors["summary"],
                "You must specify a summary of the issue."
            );
            assert_eq!(request_id.as_deref(), Some("req-42"));
            assert!(hint.is_some());
            assert_eq!(connection, "conn-test");
        }
        other => panic!("{other:?}"),
    }
    let text = err.to_string();
    assert!(
        text.contains("summary: You must specify") && text.contains("req-42"),
        "{text}"
    );
}

#[tokio::test]
async fn not_found_and_gone_have_actionable_hints() {
    let (base, _log) = serve(answering(
        StatusCode::NOT_FOUND,
        r#"{"errorMessages":["Issue does not exist or you do not have permission to see it."],"errors":{}}"#,
    ))
    .await;
    let client = JiraClient::new(fast_config());
    let src = StaticTokenSource(basic_target(&base));
    let err = client
        .send(&src, JiraRequest::get("/rest/api/3/issue/NOPE-1"))
        .await
        .unwrap_err();
    assert!(
        err.to_string().contains("issue key wrong or no permission"),
        "{err}"
    );

    let (base, _log) = serve(answering(
        StatusCode::GONE,
        r#"{"errorMessages":["removed"]}"#,
    ))
    .await;
    let src = StaticTokenSource(basic_target(&base));
    let err = client
        .send(
            &src,
            JiraRequest::get("/rest/api/3/search").query("jql", "project = A"),
        )
        .await
        .unwrap_err();
    assert_eq!(err.status(), Some(410));
    assert!(err.to_string().contains("/rest/api/3/search/jql"), "{err}");
}

#[tokio::test]
async fn non_json_error_bodies_are_kept_short() {
    let (base, _log) = serve(answering(
        StatusCode::BAD_GATEWAY,
        "<html>upstream broke</html>",
    ))
    .await;
    let client = JiraClient::new(jiragate_jira::ClientConfig {
        max_retries: 0,
        ..fast_config()
    });
    let src = StaticTokenSource(basic_target(&base));
    let err = client.send(&src, JiraRequest::get("/x")).await.unwrap_err();
    match err {
        JiraError::Upstream { messages, .. } => {
            assert_eq!(messages, vec!["<html>upstream broke</html>"])
        }
        other => panic!("{other:?}"),
    }
}

#[tokio::test]
async fn no_secret_in_errors_or_debug() {
    // Every failure kind the client can produce, each rendered with Display and Debug.
    let (base401, _) = serve(answering(StatusCode::UNAUTHORIZED, r#"{"message":"nope"}"#)).await;
    let (base404, _) = serve(answering(
        StatusCode::NOT_FOUND,
        r#"{"errorMessages":["x"]}"#,
    ))
    .await;
    let client = JiraClient::new(jiragate_jira::ClientConfig {
        max_retries: 0,
        ..fast_config()
    });
    let mut rendered = Vec::new();
    for base in [base401.as_str(), base404.as_str(), "http://127.0.0.1:1"] {
        for target in [basic_target(base), bearer_target(base, SECRET_TOKEN)] {
            rendered.push(format!("{target:?}"));
            rendered.push(format!("{:?}", target.auth));
            let src = StaticTokenSource(target);
            rendered.push(format!("{src:?}"));
            let err = client
                .send(&src, JiraRequest::get("/rest/api/3/myself"))
                .await
                .unwrap_err();
            rendered.push(err.to_string());
            rendered.push(format!("{err:?}"));
        }
    }
    rendered.push(format!("{client:?}"));
    // The Basic header value is base64 of email:token; make sure that is absent too.
    use base64::Engine as _;
    let basic = base64::engine::general_purpose::STANDARD
        .encode(format!("dev@example.test:{SECRET_TOKEN}"));
    for text in &rendered {
        assert!(!text.contains(SECRET_TOKEN), "secret leaked: {text}");
        assert!(!text.contains(&basic), "encoded secret leaked: {text}");
    }
    // Sanity: the test really exercised the targets.
    assert!(rendered.iter().any(|t| t.contains("dev@example.test")));
}

#[test]
fn target_debug_redacts_both_auth_kinds() {
    let t = Target::new(
        "https://x.atlassian.net/",
        JiraAuth::Bearer(SecretString::from("tok-123456")),
        "c",
    );
    assert_eq!(t.base_url, "https://x.atlassian.net");
    let dbg = format!("{t:?}");
    assert!(
        !dbg.contains("tok-123456") && dbg.contains("redacted"),
        "{dbg}"
    );
}
