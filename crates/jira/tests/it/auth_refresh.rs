//! 401 → one refresh through the token source; hints; scope problems are not refreshed.

use axum::Router;
use axum::http::{HeaderMap, StatusCode};
use axum::response::IntoResponse;
use axum::routing::any;
use jiragate_jira::{JiraClient, JiraError, JiraRequest, StaticTokenSource};

use crate::support::*;

/// Accepts only `Authorization: Bearer good`.
fn only_good_token() -> Router {
    Router::new().route(
        "/{*rest}",
        any(|headers: HeaderMap| async move {
            let auth = headers
                .get("authorization")
                .and_then(|v| v.to_str().ok())
                .unwrap_or("");
            if auth == "Bearer good" {
                (StatusCode::OK, r#"{"accountId":"abc"}"#).into_response()
            } else {
                (
                    StatusCode::UNAUTHORIZED,
                    r#"{"code":401,"message":"Unauthorized"}"#,
                )
                    .into_response()
            }
        }),
    )
}

#[tokio::test]
async fn refreshes_once_after_401_and_retries() {
    let (base, log) = serve(only_good_token()).await;
    let src = RefreshingSource::new(
        bearer_target(&base, "expired"),
        Some(bearer_target(&base, "good")),
    );
    let client = JiraClient::new(fast_config());
    // Even a POST is repeated after a 401: the first attempt was rejected before any effect.
    let resp = within(
        10,
        client.send(
            &src,
            JiraRequest::post("/rest/api/3/x", serde_json::json!({})),
        ),
    )
    .await
    .unwrap();
    assert_eq!(resp.value().unwrap()["accountId"], "abc");
    assert_eq!(src.refresh_count(), 1);
    let seen = log.all();
    assert_eq!(seen.len(), 2);
    assert_eq!(seen[0].headers["authorization"], "Bearer expired");
    assert_eq!(seen[1].headers["authorization"], "Bearer good");
}

#[tokio::test]
async fn second_401_is_unauthorized_with_reauth_hint() {
    let (base, log) = serve(only_good_token()).await;
    let src = RefreshingSource::new(
        bearer_target(&base, "expired"),
        Some(bearer_target(&base, "still-bad")),
    );
    let client = JiraClient::new(fast_config());
    let err = within(
        10,
        client.send(&src, JiraRequest::get("/rest/api/3/myself")),
    )
    .await
    .unwrap_err();
    match &err {
        JiraError::Unauthorized { connection, hint } => {
            assert_eq!(connection, "conn-oauth");
            assert!(hint.contains("re-authorize the connection"), "{hint}");
        }
        other => panic!("{other:?}"),
    }
    assert_eq!(src.refresh_count(), 1, "refresh is attempted exactly once");
    assert_eq!(log.count(), 2);
}

#[tokio::test]
async fn api_token_401_hints_at_the_token() {
    let (base, log) = serve(only_good_token()).await;
    let client = JiraClient::new(fast_config());
    let src = StaticTokenSource(basic_target(&base));
    let err = within(
        10,
        client.send(&src, JiraRequest::get("/rest/api/3/myself")),
    )
    .await
    .unwrap_err();
    assert_eq!(err.kind(), "unauthorized");
    assert!(err.to_string().contains("check the API token"), "{err}");
    assert_eq!(log.count(), 1, "nothing to refresh for a static token");
}

#[tokio::test]
async fn scope_mismatch_is_missing_scope_without_refresh() {
    let router = Router::new().route(
        "/{*rest}",
        any(|| async {
            (
                StatusCode::UNAUTHORIZED,
                r#"{"code":401,"message":"Unauthorized; scope does not match"}"#,
            )
        }),
    );
    let (base, log) = serve(router).await;
    let src = RefreshingSource::new(bearer_target(&base, "t"), Some(bearer_target(&base, "t2")));
    let client = JiraClient::new(fast_config());
    let err = within(
        10,
        client.send(&src, JiraRequest::get("/rest/api/3/issue/A-1")),
    )
    .await
    .unwrap_err();
    assert_eq!(err.kind(), "missing_scope", "{err:?}");
    assert_eq!(src.refresh_count(), 0, "a refresh keeps the same scopes");
    assert_eq!(log.count(), 1);
}

#[tokio::test]
async fn forbidden_naming_a_scope_reports_it() {
    let router = Router::new().route(
        "/{*rest}",
        any(|| async {
            (
                StatusCode::FORBIDDEN,
                r#"{"errorMessages":["Insufficient scope: required scopes are [write:jira-work]"]}"#,
            )
        }),
    );
    let (base, _log) = serve(router).await;
    let client = JiraClient::new(fast_config());
    let src = StaticTokenSource(bearer_target(&base, "t"));
    let err = within(
        10,
        client.send(&src, JiraRequest::delete("/rest/api/3/issue/A-1")),
    )
    .await
    .unwrap_err();
    match err {
        JiraError::MissingScope { scope, connection } => {
            assert_eq!(scope, "write:jira-work");
            assert_eq!(connection, "conn-oauth");
        }
        other => panic!("{other:?}"),
    }
}

#[tokio::test]
async fn needs_reauth_from_the_token_source_is_returned() {
    struct Dead;
    #[jiragate_jira::async_trait]
    impl jiragate_jira::TokenSource for Dead {
        async fn target(&self) -> Result<jiragate_jira::Target, JiraError> {
            Err(JiraError::NeedsReauth {
                connection: "c9".into(),
                reason: "refresh token reused (invalid_grant)".into(),
            })
        }
        async fn on_unauthorized(
            &self,
            _failed: &jiragate_jira::Target,
        ) -> Result<Option<jiragate_jira::Target>, JiraError> {
            Ok(None)
        }
    }
    let client = JiraClient::new(fast_config());
    let err = client
        .send(&Dead, JiraRequest::get("/rest/api/3/myself"))
        .await
        .unwrap_err();
    assert_eq!(err.kind(), "needs_reauth");
}
