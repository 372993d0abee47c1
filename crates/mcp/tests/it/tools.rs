//! Catalog names the tests rely on, and tools/list budget checks across option sets.

use std::sync::Arc;

use jiragate_mcp::{JiragateMcp, LocalBackend, McpOptions};
use serde_json::Value;

use crate::common::{Fixture, python_json_len};

/// The catalog action that lists an issue's transitions, and its issue param.
pub const TRANSITIONS: (&str, &str) = ("issue_transitions", "list");
pub const ISSUE_PARAM: &str = "issue";

fn items(data: &Value) -> Vec<Value> {
    match data {
        Value::Array(items) => items.clone(),
        Value::Object(map) => ["transitions", "values", "issues"]
            .iter()
            .find_map(|k| map.get(*k).and_then(Value::as_array).cloned())
            .unwrap_or_default(),
        _ => Vec::new(),
    }
}

pub fn first_transition_name(data: &Value) -> Option<String> {
    items(data)
        .iter()
        .find_map(|t| t.get("name").and_then(Value::as_str).map(str::to_owned))
}

pub fn first_id(data: &Value) -> Option<i64> {
    items(data)
        .iter()
        .find_map(|b| b.get("id").and_then(Value::as_i64))
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn tools_list_stays_within_budget_for_every_option_set() {
    let fixture = Fixture::start().await;
    let backend = Arc::new(LocalBackend::new(
        fixture.engine.clone(),
        fixture.org.clone(),
    ));
    let option_sets = [
        McpOptions::default(),
        McpOptions {
            read_only: true,
            ..McpOptions::default()
        },
        McpOptions {
            default_connection: Some("w/jira".to_owned()),
            ..McpOptions::default()
        },
        McpOptions {
            tools: Some(vec!["core".to_owned()]),
            ..McpOptions::default()
        },
    ];
    let mut sizes = Vec::new();
    for opts in option_sets {
        let server = JiragateMcp::new(backend.clone(), opts.clone()).expect("valid options");
        let listed = serde_json::json!({ "tools": server.tools() });
        let text = listed.to_string();
        assert!(
            text.is_ascii(),
            "tool list must be ASCII so every client measures it the same"
        );
        let size = python_json_len(&listed);
        assert!(size <= 10 * 1024, "{opts:?}: tools/list is {size} bytes");
        sizes.push(size);
    }
    // The full list is the largest; the core toolset is a fraction of it.
    assert!(sizes[3] < sizes[0] / 2, "{sizes:?}");
}

/// Strictness every transport must show for tool inputs: the advertised bounds hold, and
/// over-long input is a bounded validation error, never an outage.
pub async fn assert_strict_tool_inputs(
    peer: &rmcp::service::Peer<rmcp::service::RoleClient>,
    fixture: &Fixture,
) {
    use crate::common::tool_error;
    use serde_json::json;

    let jql = format!("project = {}", fixture.project);
    let message = tool_error(
        peer,
        "jira_search_issues",
        json!({"connection": "w/jira", "jql": jql, "limit": 100000}),
    )
    .await;
    assert!(
        message.contains("validation") && message.contains("'limit'") && message.contains("100"),
        "{message}"
    );
    let message = tool_error(
        peer,
        "jira_list_sprints",
        json!({"connection": "w/jira", "board": 1, "limit": 100000}),
    )
    .await;
    assert!(
        message.contains("'limit'") && message.contains("maximum of 50"),
        "{message}"
    );
    let message = tool_error(
        peer,
        "jira_search_issues",
        json!({"connection": "w/jira", "jql": jql, "limit": "ten"}),
    )
    .await;
    assert!(message.contains("must be an integer"), "{message}");

    // A 200,000-character issue key: an input error that says so, echoing at most ~200 chars.
    let huge = "K".repeat(200_000);
    for tool in ["jira_get_issue", "jira_execute"] {
        let args = if tool == "jira_get_issue" {
            json!({"connection": "w/jira", "issue": huge})
        } else {
            json!({"connection": "w/jira", "entity": "issues", "action": "get", "params": {"issue": huge}})
        };
        let message = tool_error(peer, tool, args).await;
        assert!(
            message.contains("error (validation)") && message.contains("Jira URL"),
            "{tool}: {}",
            message.chars().take(300).collect::<String>()
        );
    }
    for (tool, args) in [
        (
            "jira_get_issue",
            json!({"connection": "w/jira", "issue": huge}),
        ),
        (
            "jira_execute",
            json!({"connection": "w/jira", "entity": "issues", "action": "get", "params": {"issue": huge}}),
        ),
        (
            "jira_get_issue",
            json!({"connection": huge, "issue": "X-1"}),
        ),
        (
            "jira_execute",
            json!({"connection": "w/jira", "entity": huge, "action": "get"}),
        ),
    ] {
        let message = tool_error(peer, tool, args).await;
        let head: String = message.chars().take(300).collect();
        assert!(
            !message.contains("could not reach") && !message.contains("builder error"),
            "{tool}: {head}"
        );
        assert!(
            message.contains("validation")
                || message.contains("not_found")
                || message.contains("unknown_action"),
            "{tool}: {head}"
        );
        assert!(
            message.chars().count() < 1_500,
            "{tool}: {} characters: {head}",
            message.chars().count()
        );
    }
}
