//! The MCP resource of a connection's recent webhook events, over `/mcp` with rmcp's
//! streamable HTTP client (which negotiates a session with `initialize`): listed, read newest
//! first, and announced with `notifications/resources/updated` to a session that subscribed
//! (`resources/subscribe`) when the simulator's signed delivery reaches the receiver; refused
//! for a connection the caller may not use. A child of `webhooks` (shared helpers).

use std::time::Duration;

use atlassian_sim::SimConfig;
use rmcp::model::{
    ClientConfig, ReadResourceRequestParams, ResourceContents, ResourceUpdatedNotificationParam,
    SubscribeRequestParams,
};
use rmcp::service::{NotificationContext, RoleClient, RunningService};
use serde_json::Value;
use tokio::sync::mpsc;

use super::{Subscriber, edit_issue, fast_webhooks, some_issue, subscribe};
use crate::common::{Db, Env};
use crate::mcp_auth::{full_grant, mcp_client_with};

/// A client that passes on the URIs of `notifications/resources/updated`.
struct Updates(mpsc::UnboundedSender<String>);

impl rmcp::ClientHandler for Updates {
    async fn on_resource_updated(
        &self,
        params: ResourceUpdatedNotificationParam,
        _context: NotificationContext<RoleClient>,
    ) {
        let _ = self.0.send(params.uri);
    }

    fn get_info(&self) -> ClientConfig {
        ClientConfig::default()
    }
}

type Client = RunningService<RoleClient, Updates>;

async fn connect(env: &Env, token: &str) -> (Client, mpsc::UnboundedReceiver<String>) {
    let (tx, rx) = mpsc::unbounded_channel();
    (
        mcp_client_with(&env.url("/mcp"), token, Updates(tx)).await,
        rx,
    )
}

#[allow(deprecated)]
async fn subscribe_to(client: &Client, uri: &str) -> Result<(), String> {
    client
        .subscribe(SubscribeRequestParams::new(uri.to_owned()))
        .await
        .map(|_| ())
        .map_err(|e| e.to_string())
}

async fn read(client: &Client, uri: &str) -> Result<Value, String> {
    let r = tokio::time::timeout(
        Duration::from_secs(30),
        client.read_resource(ReadResourceRequestParams::new(uri.to_owned())),
    )
    .await
    .expect("read in time")
    .map_err(|e| e.to_string())?;
    let text = match &r.contents[..] {
        [ResourceContents::TextResourceContents { text, .. }] => text.clone(),
        other => panic!("one text content: {other:?}"),
    };
    Ok(serde_json::from_str(&text).expect("JSON"))
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn mcp_events_resource_is_read_and_updated_after_a_signed_delivery() {
    tokio::time::timeout(Duration::from_secs(120), async {
        let env = Env::start_with(Db::Sqlite, SimConfig::default(), fast_webhooks).await;
        let conn = env.seed_connector("hooks").await;
        let other = env.seed_connector("elsewhere").await;
        let project = env.project_keys().await[0].clone();
        let sub = Subscriber::start().await;
        let created = subscribe(&env, &conn, &project, &sub.url).await;
        assert_eq!(created["admin_webhook"]["registered"], true, "{created}");
        let uri = format!("jiragate://connections/{conn}/events");

        let (client, mut updates) = connect(&env, env.key()).await;
        let listed = client.list_all_resources().await.expect("resources/list");
        assert!(listed.iter().any(|r| r.uri == uri), "{listed:?}");
        let templates = client
            .list_all_resource_templates()
            .await
            .expect("resources/templates/list");
        assert!(
            templates
                .iter()
                .any(|t| t.uri_template == "jiragate://connections/{id}/events"),
            "{templates:?}"
        );
        let before = read(&client, &uri).await.expect("readable");
        assert_eq!(before["data"], serde_json::json!([]), "{before}");
        assert_eq!(before["connection"]["id"], conn.as_str());
        subscribe_to(&client, &uri)
            .await
            .expect("resources/subscribe");

        let issue = some_issue(&env, &project).await;
        edit_issue(&env, &issue, "agents hear of this").await;
        let note = tokio::time::timeout(Duration::from_secs(30), updates.recv())
            .await
            .expect("a notification in time")
            .expect("a notification");
        assert_eq!(note, uri);
        let after = read(&client, &uri).await.expect("readable");
        let events = after["data"].as_array().expect("events");
        assert_eq!(events.len(), 1, "{after}");
        assert_eq!(events[0]["event"], "jira:issue_updated");
        assert_eq!(events[0]["issue_key"], issue.as_str());
        assert_eq!(events[0]["payload"]["webhookEvent"], "jira:issue_updated");

        // An MCP grant for the other connection may neither read nor watch this one.
        let (_, tokens) = full_grant(&env, &other, "jira:read").await;
        let (granted, mut granted_updates) =
            connect(&env, tokens["access_token"].as_str().unwrap()).await;
        let own = read(&granted, &format!("jiragate://connections/{other}/events"))
            .await
            .expect("its own connection's events");
        assert_eq!(own["data"], serde_json::json!([]));
        let refused = read(&granted, &uri).await.expect_err("another connection");
        assert!(refused.contains("one connection"), "{refused}");
        let listed = granted.list_all_resources().await.expect("resources/list");
        assert!(!listed.iter().any(|r| r.uri == uri), "{listed:?}");
        let refused = subscribe_to(&granted, &uri)
            .await
            .expect_err("another connection");
        assert!(refused.contains("one connection"), "{refused}");
        // A second event: the subscribed session hears of it, the refused one does not.
        edit_issue(&env, &issue, "and of this").await;
        let note = tokio::time::timeout(Duration::from_secs(30), updates.recv())
            .await
            .expect("a second notification in time");
        assert_eq!(note.as_deref(), Some(uri.as_str()));
        tokio::time::sleep(Duration::from_millis(300)).await;
        assert!(
            granted_updates.try_recv().is_err(),
            "nothing for the refused session"
        );
    })
    .await
    .expect("finished in time");
}

/// Reads the SSE stream of `response` until a `data:` line contains `needle`; returns it.
async fn sse_until(response: &mut reqwest::Response, seen: &mut String, needle: &str) -> String {
    loop {
        if let Some(line) = seen
            .lines()
            .find(|l| l.starts_with("data:") && l.contains(needle))
        {
            let line = line.to_owned();
            let at = seen.find(&line).unwrap() + line.len();
            seen.drain(..at);
            return line;
        }
        let chunk = tokio::time::timeout(Duration::from_secs(30), response.chunk())
            .await
            .unwrap_or_else(|_| panic!("no {needle} in time; stream so far: {seen}"))
            .expect("the stream goes on")
            .unwrap_or_else(|| panic!("the stream ended before {needle}: {seen}"));
        seen.push_str(&String::from_utf8_lossy(&chunk));
    }
}

/// MCP 2026-07-28, without a session: a `subscriptions/listen` request (raw JSON-RPC over
/// streamable HTTP, the request metadata in `_meta`) is acknowledged with the events resource
/// and then carries `notifications/resources/updated` after a signed delivery.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn mcp_2026_listen_streams_resource_updates() {
    tokio::time::timeout(Duration::from_secs(120), async {
        let env = Env::start_with(Db::Sqlite, SimConfig::default(), fast_webhooks).await;
        let conn = env.seed_connector("hooks").await;
        let project = env.project_keys().await[0].clone();
        let sub = Subscriber::start().await;
        subscribe(&env, &conn, &project, &sub.url).await;
        let uri = format!("jiragate://connections/{conn}/events");
        let body = serde_json::json!({
            "jsonrpc": "2.0", "id": 7, "method": "subscriptions/listen",
            "params": {
                "_meta": {
                    "io.modelcontextprotocol/protocolVersion": "2026-07-28",
                    "io.modelcontextprotocol/clientCapabilities": {},
                    "io.modelcontextprotocol/clientInfo": {"name": "raw", "version": "0"}
                },
                "notifications": {"resourceSubscriptions": [uri, "jiragate://elsewhere"]}
            }
        });
        let mut response = env
            .client
            .http
            .post(env.url("/mcp"))
            .bearer_auth(env.key())
            .header("accept", "application/json, text/event-stream")
            .header("mcp-protocol-version", "2026-07-28")
            .header("mcp-method", "subscriptions/listen")
            .json(&body)
            .send()
            .await
            .unwrap();
        assert_eq!(response.status(), reqwest::StatusCode::OK);
        let mut seen = String::new();
        let ack = sse_until(
            &mut response,
            &mut seen,
            "notifications/subscriptions/acknowledged",
        )
        .await;
        let ack: Value = serde_json::from_str(ack.trim_start_matches("data:").trim()).unwrap();
        assert_eq!(
            ack["params"]["notifications"]["resourceSubscriptions"],
            serde_json::json!([uri]),
            "only the events resource is accepted: {ack}"
        );
        let issue = some_issue(&env, &project).await;
        edit_issue(&env, &issue, "streamed").await;
        let update = sse_until(&mut response, &mut seen, "notifications/resources/updated").await;
        let update: Value =
            serde_json::from_str(update.trim_start_matches("data:").trim()).unwrap();
        assert_eq!(update["params"]["uri"], uri.as_str(), "{update}");
        assert_eq!(
            update["params"]["_meta"]["io.modelcontextprotocol/subscriptionId"], 7,
            "{update}"
        );
    })
    .await
    .expect("finished in time");
}
