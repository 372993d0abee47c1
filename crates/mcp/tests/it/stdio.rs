//! stdio: rmcp's client spawns the crate's `jiragate-mcp-stdio` server binary.

use std::time::{Duration, Instant};

use rmcp::ServiceExt;
use rmcp::model::{ClientConfig, ReadResourceRequestParams};
use rmcp::service::{RoleClient, RunningService};
use rmcp::transport::TokioChildProcess;
use serde_json::{Value, json};

use crate::common::{Fixture, ok, python_json_len, tool_error};

const SERVER: &str = env!("CARGO_BIN_EXE_jiragate-mcp-stdio");

type Client = RunningService<RoleClient, ClientConfig>;

async fn spawn(fixture: &Fixture, extra_env: &[(&str, &str)]) -> (Client, Duration) {
    let mut command = tokio::process::Command::new(SERVER);
    for (key, value) in fixture.server_env() {
        command.env(key, value);
    }
    for (key, value) in extra_env {
        command.env(key, value);
    }
    let started = Instant::now();
    let transport = TokioChildProcess::new(command).expect("server spawns");
    let client = tokio::time::timeout(
        Duration::from_secs(30),
        ClientConfig::default().serve(transport),
    )
    .await
    .expect("initialize within 30 s")
    .expect("initialize succeeds");
    (client, started.elapsed())
}

/// The issues of a search result (`data` is the page's items, or an object holding `issues`).
pub fn issues(page: &Value) -> Vec<Value> {
    let data = &page["data"];
    data.as_array()
        .or_else(|| data.get("issues").and_then(Value::as_array))
        .cloned()
        .unwrap_or_default()
}

fn issue_keys(page: &Value) -> Vec<String> {
    issues(page)
        .iter()
        .filter_map(|i| i.get("key").and_then(Value::as_str).map(str::to_owned))
        .collect()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn stdio_server_runs_every_first_class_tool() {
    let fixture = Fixture::start().await;
    let (client, startup) = spawn(&fixture, &[]).await;
    assert!(
        startup < Duration::from_secs(10),
        "initialize took {startup:?}"
    );
    let info = client.peer_info().expect("server info after initialize");
    assert_eq!(
        info.server_info.as_ref().map(|s| s.name.as_str()),
        Some("jiragate")
    );

    // tools/list: every tool, and small.
    let tools = client.list_tools(None).await.expect("tools/list");
    let names: Vec<String> = tools.tools.iter().map(|t| t.name.to_string()).collect();
    for expected in jiragate_mcp::known_tool_names() {
        assert!(
            names.iter().any(|n| n == expected),
            "{expected} missing from {names:?}"
        );
    }
    let size = python_json_len(&serde_json::to_value(&tools).unwrap());
    assert!(size <= 10 * 1024, "tools/list is {size} bytes");

    // jira_list_connections
    let listed = ok(&client, "jira_list_connections", json!({})).await;
    let first = &listed["connections"][0];
    assert_eq!(
        (first["workspace"].as_str(), first["name"].as_str()),
        (Some("w"), Some("jira"))
    );
    assert_eq!(first["status"], "healthy");

    // jira_search_issues, two pages through page_token.
    let jql = format!("project = {} ORDER BY key ASC", fixture.project);
    let page1 = ok(
        &client,
        "jira_search_issues",
        json!({"connection": "jira", "jql": jql, "limit": 2}),
    )
    .await;
    let keys1 = issue_keys(&page1);
    assert_eq!(keys1.len(), 2, "{page1}");
    let first_issue = &issues(&page1)[0];
    assert!(
        first_issue["summary"].is_string(),
        "fields are lifted next to the key: {first_issue}"
    );
    assert!(first_issue.get("self").is_none());
    let token = page1["next_page_token"]
        .as_str()
        .expect("a next_page_token on a partial page")
        .to_owned();
    let page2 = ok(
        &client,
        "jira_search_issues",
        json!({"connection": "w/jira", "jql": jql, "limit": 2, "page_token": token}),
    )
    .await;
    let keys2 = issue_keys(&page2);
    assert!(
        !keys2.is_empty() && keys2.iter().all(|k| !keys1.contains(k)),
        "{keys1:?} then {keys2:?}"
    );

    // jira_get_issue
    let got = ok(
        &client,
        "jira_get_issue",
        json!({"connection": "jira", "issue": keys1[0]}),
    )
    .await;
    assert_eq!(got["data"]["key"], keys1[0].as_str());

    // jira_create_issue with a Markdown description, rendered back as Markdown.
    let created = ok(
        &client,
        "jira_create_issue",
        json!({"connection": "jira", "project": fixture.project, "summary": "made over MCP",
               "issue_type": "Task", "description": "Some **bold** text"}),
    )
    .await;
    let new_key = created["data"]["key"]
        .as_str()
        .expect("created issue key")
        .to_owned();
    let fetched = ok(
        &client,
        "jira_get_issue",
        json!({"connection": "jira", "issue": new_key}),
    )
    .await;
    let description = fetched["data"]["description"]
        .as_str()
        .expect("description rendered as text");
    assert!(
        description.contains("**bold**"),
        "ADF rendered as Markdown: {description}"
    );

    // jira_update_issue
    ok(
        &client,
        "jira_update_issue",
        json!({"connection": "jira", "issue": new_key, "summary": "renamed over MCP"}),
    )
    .await;
    let fetched = ok(
        &client,
        "jira_get_issue",
        json!({"connection": "jira", "issue": new_key}),
    )
    .await;
    assert_eq!(fetched["data"]["summary"], "renamed over MCP");

    // jira_add_comment
    let comment = ok(
        &client,
        "jira_add_comment",
        json!({"connection": "jira", "issue": new_key, "body": "a _careful_ note"}),
    )
    .await;
    assert!(
        comment["data"]["body"]
            .as_str()
            .is_some_and(|b| b.contains("careful")),
        "{comment}"
    );

    // jira_transition_issue: to any status the workflow offers.
    let transitions = ok(
        &client,
        "jira_execute",
        json!({"connection": "jira", "entity": crate::tools::TRANSITIONS.0, "action": crate::tools::TRANSITIONS.1,
               "params": {crate::tools::ISSUE_PARAM: new_key}}),
    )
    .await;
    let target = crate::tools::first_transition_name(&transitions["data"]).expect("a transition");
    ok(
        &client,
        "jira_transition_issue",
        json!({"connection": "jira", "issue": new_key, "transition": target}),
    )
    .await;
    let fetched = ok(
        &client,
        "jira_get_issue",
        json!({"connection": "jira", "issue": new_key}),
    )
    .await;
    assert_ne!(fetched["data"]["status"], "To Do", "{fetched}");

    // jira_list_sprints on the first board.
    let boards = ok(
        &client,
        "jira_execute",
        json!({"connection": "jira", "entity": "boards", "action": "list"}),
    )
    .await;
    let board = crate::tools::first_id(&boards["data"]).expect("a board");
    let sprints = ok(
        &client,
        "jira_list_sprints",
        json!({"connection": "jira", "board": board}),
    )
    .await;
    assert!(
        sprints["data"].is_object() || sprints["data"].is_array(),
        "{sprints}"
    );

    // A bad action is a tool error naming the valid ones.
    let message = tool_error(
        &client,
        "jira_execute",
        json!({"connection": "jira", "entity": "issues", "action": "no_such_action", "params": {}}),
    )
    .await;
    assert!(
        message.contains("unknown_action") && message.contains("search"),
        "{message}"
    );
    // An unknown connection is a tool error listing the ones that exist.
    let message = tool_error(
        &client,
        "jira_search_issues",
        json!({"connection": "nope", "jql": jql}),
    )
    .await;
    assert!(message.contains("w/jira"), "{message}");
    // Invalid params name the field.
    let message = tool_error(
        &client,
        "jira_search_issues",
        json!({"connection": "jira", "jql": 42}),
    )
    .await;
    assert!(message.contains("jql"), "{message}");

    // Resources: the list and one connection with a live health check.
    let resources = client.list_resources(None).await.expect("resources/list");
    assert!(
        resources
            .resources
            .iter()
            .any(|r| r.uri == "jiragate://connections")
    );
    let uri = format!("jiragate://connections/{}", fixture.connection.id);
    assert!(
        resources.resources.iter().any(|r| r.uri == uri),
        "{:?}",
        resources.resources
    );
    let read = client
        .read_resource(ReadResourceRequestParams::new(uri.clone()))
        .await
        .expect("resources/read");
    let text = match &read.contents[0] {
        rmcp::model::ResourceContents::TextResourceContents { text, .. } => text.clone(),
        other => panic!("expected text, got {other:?}"),
    };
    let body: Value = serde_json::from_str(&text).unwrap();
    assert_eq!(body["connection"]["name"], "jira");
    assert!(body["health"].is_object(), "{body}");

    client.cancel().await.expect("client closes");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn stdio_read_only_mode_lists_and_reaches_no_write() {
    let fixture = Fixture::start().await;
    let (client, _) = spawn(
        &fixture,
        &[
            ("JIRAGATE_MCP_READ_ONLY", "1"),
            ("JIRAGATE_MCP_CONNECTION", "w/jira"),
        ],
    )
    .await;
    let tools = client.list_tools(None).await.expect("tools/list");
    let names: Vec<String> = tools.tools.iter().map(|t| t.name.to_string()).collect();
    for write in [
        "jira_create_issue",
        "jira_update_issue",
        "jira_add_comment",
        "jira_transition_issue",
    ] {
        assert!(
            !names.iter().any(|n| n == write),
            "{write} listed in read-only mode"
        );
    }
    assert!(names.iter().any(|n| n == "jira_execute"));
    // The default connection makes `connection` optional.
    let execute = tools
        .tools
        .iter()
        .find(|t| t.name == "jira_execute")
        .unwrap();
    let required = execute
        .input_schema
        .get("required")
        .cloned()
        .unwrap_or(json!([]));
    assert!(
        !required.as_array().unwrap().contains(&json!("connection")),
        "{required}"
    );
    let page = ok(
        &client,
        "jira_search_issues",
        json!({"jql": format!("project = {}", fixture.project)}),
    )
    .await;
    assert!(!issue_keys(&page).is_empty());

    let message = tool_error(
        &client,
        "jira_execute",
        json!({"entity": "issues", "action": "create",
               "params": {"project": fixture.project, "summary": "nope", "issue_type": "Task"}}),
    )
    .await;
    assert!(
        message.contains("read_only") && message.contains("read-only"),
        "{message}"
    );
    let message = tool_error(
        &client,
        "jira_create_issue",
        json!({"project": fixture.project, "summary": "nope", "issue_type": "Task"}),
    )
    .await;
    assert!(message.contains("read-only"), "{message}");
    // Write actions are not advertised by describe either.
    let index = ok(&client, "jira_describe", json!({})).await;
    assert!(index["entities"]["issues"].get("search").is_some());
    assert!(
        index["entities"]["issues"].get("create").is_none(),
        "{}",
        index["entities"]["issues"]
    );
    // Nothing was created upstream.
    let search = ok(
        &client,
        "jira_search_issues",
        json!({"jql": "summary ~ nope"}),
    )
    .await;
    assert!(issue_keys(&search).is_empty(), "{search}");

    client.cancel().await.expect("client closes");
}

/// The server process driven line by line (no MCP client in between), for what a conforming
/// client never sends.
struct RawStdio {
    child: tokio::process::Child,
    stdin: tokio::process::ChildStdin,
    stdout: tokio::io::Lines<tokio::io::BufReader<tokio::process::ChildStdout>>,
}

impl RawStdio {
    async fn spawn(fixture: &Fixture) -> RawStdio {
        let mut command = tokio::process::Command::new(SERVER);
        for (key, value) in fixture.server_env() {
            command.env(key, value);
        }
        command
            .stdin(std::process::Stdio::piped())
            .stdout(std::process::Stdio::piped())
            .stderr(std::process::Stdio::null())
            .kill_on_drop(true);
        let mut child = command.spawn().expect("server spawns");
        let stdin = child.stdin.take().unwrap();
        use tokio::io::AsyncBufReadExt;
        let stdout = tokio::io::BufReader::new(child.stdout.take().unwrap()).lines();
        let mut raw = RawStdio {
            child,
            stdin,
            stdout,
        };
        let init = raw
            .request(&json!({"jsonrpc": "2.0", "id": 0, "method": "initialize",
                "params": {"protocolVersion": "2025-06-18", "capabilities": {},
                           "clientInfo": {"name": "raw", "version": "0"}}}))
            .await;
        assert!(init["result"]["serverInfo"].is_object(), "{init}");
        raw.send_line(r#"{"jsonrpc":"2.0","method":"notifications/initialized"}"#)
            .await;
        raw
    }

    async fn send_line(&mut self, line: &str) {
        use tokio::io::AsyncWriteExt;
        self.stdin.write_all(line.as_bytes()).await.unwrap();
        self.stdin.write_all(b"\n").await.unwrap();
        self.stdin.flush().await.unwrap();
    }

    /// The next line the server writes, as JSON.
    async fn next(&mut self) -> Value {
        let line = tokio::time::timeout(Duration::from_secs(30), self.stdout.next_line())
            .await
            .expect("an answer within 30 s")
            .expect("stdout readable")
            .expect("server still running");
        serde_json::from_str(&line).unwrap_or_else(|e| panic!("stdout is not JSON ({e}): {line}"))
    }

    async fn request(&mut self, message: &Value) -> Value {
        self.send_line(&message.to_string()).await;
        self.next().await
    }
}

impl Drop for RawStdio {
    fn drop(&mut self) {
        let _ = self.child.start_kill();
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn stdio_answers_malformed_input_as_json_rpc_requires() {
    let fixture = Fixture::start().await;
    let mut raw = RawStdio::spawn(&fixture).await;

    // Not JSON: Parse error, id null (JSON-RPC 2.0 §5.1), and the session goes on.
    raw.send_line("{\"jsonrpc\": \"2.0\", \"id\": 5, \"method\": ")
        .await;
    let parse = raw.next().await;
    assert_eq!(parse["error"]["code"], -32700, "{parse}");
    assert!(parse.get("id").is_some_and(Value::is_null), "{parse}");
    // JSON but not a message: Invalid Request.
    raw.send_line("[1, 2, 3]").await;
    assert_eq!(raw.next().await["error"]["code"], -32600);
    let pong = raw
        .request(&json!({"jsonrpc": "2.0", "id": 1, "method": "ping"}))
        .await;
    assert_eq!(pong["id"], 1, "{pong}");
    assert!(pong["result"].is_object(), "{pong}");

    // Known methods with params that do not fit: -32602 with the reason, not -32601.
    for (id, method, params, reason) in [
        (2, "tools/call", json!({"arguments": {}}), "name"),
        (
            3,
            "tools/call",
            json!({"name": "jira_list_connections", "arguments": "{}"}),
            "arguments",
        ),
        (4, "resources/read", json!({}), "uri"),
    ] {
        let answer = raw
            .request(&json!({"jsonrpc": "2.0", "id": id, "method": method, "params": params}))
            .await;
        assert_eq!(answer["id"], id, "{answer}");
        assert_eq!(
            answer["error"]["code"], -32602,
            "{method} {params}: {answer}"
        );
        let message = answer["error"]["message"].as_str().unwrap_or_default();
        assert!(message.contains(reason), "{message}");
    }
    // An unknown method is still -32601, its name bounded.
    let long_method = "m".repeat(100_000);
    let answer = raw
        .request(&json!({"jsonrpc": "2.0", "id": 9, "method": long_method}))
        .await;
    assert_eq!(answer["error"]["code"], -32601, "{answer}");
    assert!(
        answer.to_string().len() < 1_000,
        "the method name is echoed whole"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn stdio_enforces_tool_schemas_and_bounds_echoed_input() {
    let fixture = Fixture::start().await;
    let (client, _) = spawn(&fixture, &[]).await;
    crate::tools::assert_strict_tool_inputs(&client, &fixture).await;
    client.cancel().await.expect("client closes");
}
