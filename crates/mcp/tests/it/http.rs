//! Streamable HTTP: the service mounted at /mcp in a small axum app on 127.0.0.1:0, API-key
//! auth through `EngineKeyResolver`, and rmcp's streamable HTTP client.

use std::collections::BTreeMap;
use std::sync::Arc;
use std::time::Duration;

use jiragate_catalog::Catalog;
use jiragate_engine::model::{ApiType, NewApiTokenConnection, Owner, SiteRef};
use jiragate_engine::{Actor, ApiScope, NewConnection};
use jiragate_mcp::{EngineKeyResolver, streamable_http_service};
use rmcp::ServiceExt;
use rmcp::model::ClientConfig;
use rmcp::service::{RoleClient, RunningService};
use rmcp::transport::StreamableHttpClientTransport;
use rmcp::transport::streamable_http_client::StreamableHttpClientTransportConfig;
use secrecy::{ExposeSecret, SecretString};
use serde_json::{Value, json};

use crate::common::{Fixture, call, ok, python_json_len, text};

struct HttpServer {
    url: String,
    task: tokio::task::JoinHandle<()>,
}

impl Drop for HttpServer {
    fn drop(&mut self) {
        self.task.abort();
    }
}

async fn mount(fixture: &Fixture) -> HttpServer {
    let service = streamable_http_service(
        Arc::new(EngineKeyResolver::new(fixture.engine.clone())),
        jiragate_mcp::McpOptions::default(),
    )
    .expect("service builds");
    serve(service).await
}

/// Serves `service` at `/mcp` on 127.0.0.1:0 until the returned server is dropped.
async fn serve(service: jiragate_mcp::McpHttpService) -> HttpServer {
    let app = axum::Router::new().route_service("/mcp", service);
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = listener.local_addr().unwrap();
    let task = tokio::spawn(async move {
        let _ = axum::serve(listener, app).await;
    });
    HttpServer {
        url: format!("http://{addr}/mcp"),
        task,
    }
}

/// [`mount`] letting each caller hold `cap` sessions.
async fn mount_with_session_cap(fixture: &Fixture, cap: usize) -> HttpServer {
    let service = jiragate_mcp::streamable_http_service_with_session_cap(
        Arc::new(EngineKeyResolver::new(fixture.engine.clone())),
        jiragate_mcp::McpOptions::default(),
        rmcp::transport::StreamableHttpServerConfig::default().disable_allowed_hosts(),
        cap,
    )
    .expect("service builds");
    serve(service).await
}

async fn key(fixture: &Fixture, scopes: &[ApiScope]) -> SecretString {
    fixture
        .engine
        .create_api_key(&fixture.org, "mcp-test", scopes, false)
        .await
        .expect("API key")
        .1
}

async fn client(url: &str, key: &SecretString) -> RunningService<RoleClient, ClientConfig> {
    let transport = StreamableHttpClientTransport::from_config(
        StreamableHttpClientTransportConfig::with_uri(url.to_owned())
            .auth_header(key.expose_secret().to_owned()),
    );
    tokio::time::timeout(
        Duration::from_secs(20),
        ClientConfig::default().serve(transport),
    )
    .await
    .expect("initialize within 20 s")
    .expect("initialize over HTTP")
}

/// What atlassian-sim answers for a route it does not implement.
const SIM_ROUTE_MISSING: &str = "No resource matches this path";

/// The catalog's examples name project `ACME` and issues `ACME-<n>`; use the simulator's.
fn localize(example: &Value, project: &str, issue: &str) -> Value {
    let text = example.to_string();
    let mut out = String::with_capacity(text.len());
    let mut rest = text.as_str();
    while let Some(at) = rest.find("ACME") {
        out.push_str(&rest[..at]);
        let after = &rest[at + 4..];
        let digits = after
            .strip_prefix('-')
            .map(|d| d.len() - d.trim_start_matches(|c: char| c.is_ascii_digit()).len());
        match digits {
            Some(n) if n > 0 => {
                out.push_str(issue);
                rest = &after[1 + n..];
            }
            _ => {
                out.push_str(project);
                rest = after;
            }
        }
    }
    out.push_str(rest);
    serde_json::from_str(&out).unwrap_or_else(|_| example.clone())
}

fn initialize_body() -> Value {
    json!({"jsonrpc": "2.0", "id": 1, "method": "initialize",
           "params": {"protocolVersion": "2025-06-18", "capabilities": {}, "clientInfo": {"name": "t", "version": "0"}}})
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn http_without_a_valid_key_is_refused() {
    let fixture = Fixture::start().await;
    let server = mount(&fixture).await;
    let http = reqwest::Client::new();
    let post = |auth: Option<String>| {
        let mut request = http
            .post(&server.url)
            .header("accept", "application/json, text/event-stream")
            .json(&initialize_body());
        if let Some(auth) = auth {
            request = request.header("authorization", auth);
        }
        request.send()
    };

    let response = post(None).await.unwrap();
    assert_eq!(response.status(), 401);
    assert!(
        response.headers()["www-authenticate"]
            .to_str()
            .unwrap()
            .starts_with("Bearer")
    );
    assert!(
        response.headers()["content-type"]
            .to_str()
            .unwrap()
            .contains("problem+json")
    );
    let body: Value = response.json().await.unwrap();
    assert_eq!(body["type"], "unauthorized");

    assert_eq!(
        post(Some("Bearer jg_not_a_key".to_owned()))
            .await
            .unwrap()
            .status(),
        401
    );
    assert_eq!(
        post(Some("Basic dXNlcjpwYXNz".to_owned()))
            .await
            .unwrap()
            .status(),
        401
    );

    let no_execute = key(&fixture, &[ApiScope::ConnectorsWrite]).await;
    let response = post(Some(format!("Bearer {}", no_execute.expose_secret())))
        .await
        .unwrap();
    assert_eq!(response.status(), 403);

    // A valid key gets through (the MCP layer answers, with a session).
    let good = key(&fixture, &[ApiScope::Execute]).await;
    let response = post(Some(format!("Bearer {}", good.expose_secret())))
        .await
        .unwrap();
    assert_eq!(response.status(), 200, "{:?}", response.text().await);

    // rmcp's client without a key cannot even initialize.
    let transport = StreamableHttpClientTransport::from_config(
        StreamableHttpClientTransportConfig::with_uri(server.url.clone()),
    );
    let refused = tokio::time::timeout(
        Duration::from_secs(20),
        ClientConfig::default().serve(transport),
    )
    .await
    .expect("bounded");
    assert!(refused.is_err(), "initialize without a key must fail");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn http_client_runs_tools_and_reaches_every_entity() {
    let fixture = Fixture::start().await;
    // A service management connection on the same site, for the servicedesk entities.
    let user = fixture.sim.info.users[0].clone();
    fixture
        .engine
        .create_connection(
            Actor::Operator,
            &fixture.org,
            NewConnection::ApiToken(NewApiTokenConnection {
                workspace: "w".to_owned(),
                name: "jsm".to_owned(),
                site: SiteRef::BaseUrl(fixture.sim.site_url("acme")),
                email: user.email.clone(),
                token: SecretString::from(user.api_token.clone()),
                scoped: Some(false),
                api_type: ApiType::ServiceManagement,
                owner: Owner::Installation,
            }),
        )
        .await
        .expect("service management connection");
    let server = mount(&fixture).await;
    let key = key(&fixture, &[ApiScope::Execute]).await;
    let client = client(&server.url, &key).await;

    let tools = client.list_tools(None).await.expect("tools/list");
    assert!(python_json_len(&serde_json::to_value(&tools).unwrap()) <= 10 * 1024);
    let listed = ok(&client, "jira_list_connections", json!({})).await;
    assert_eq!(
        listed["connections"].as_array().map(Vec::len),
        Some(2),
        "{listed}"
    );
    let page = ok(
        &client,
        "jira_search_issues",
        json!({"connection": "w/jira", "jql": format!("project = {}", fixture.project), "limit": 3}),
    )
    .await;
    assert_eq!(crate::stdio::issues(&page).len(), 3, "{page}");

    // Every entity of the catalog answers through jira_execute: its first read action that
    // succeeds with the catalog's own example params, pointed at the simulator's data.
    let issue = crate::stdio::issues(&page)[0]["key"]
        .as_str()
        .expect("an issue key")
        .to_owned();
    // issue_links has no list action: make a link so `issue_links.get` has one to read.
    let other = crate::stdio::issues(&page)[1]["key"]
        .as_str()
        .expect("a second issue")
        .to_owned();
    ok(
        &client,
        "jira_execute",
        json!({"connection": "w/jira", "entity": "issue_links", "action": "create",
               "params": {"type": "Blocks", "inward_issue": other, "outward_issue": issue}}),
    )
    .await;
    let linked = ok(
        &client,
        "jira_get_issue",
        json!({"connection": "w/jira", "issue": issue, "fields": ["issuelinks"]}),
    )
    .await;
    let link_id = linked["data"]["issuelinks"][0]["id"]
        .as_str()
        .expect("the new link")
        .to_owned();
    let catalog = Catalog::new();
    let mut by_entity: BTreeMap<&str, Vec<&jiragate_catalog::ActionDef>> = BTreeMap::new();
    for def in catalog.actions() {
        by_entity.entry(def.entity).or_default().push(def);
    }
    let mut failures = Vec::new();
    let mut sim_gaps = Vec::new();
    for (entity, defs) in &by_entity {
        let mut last = String::new();
        let mut reached = false;
        for def in defs.iter().filter(|d| d.read_only) {
            let connection = match def.api_type {
                jiragate_catalog::ApiType::ServiceManagement => "w/jsm",
                jiragate_catalog::ApiType::Platform => "w/jira",
            };
            let mut params = localize(&def.example_params(), &fixture.project, &issue);
            if let Some(id) = params.get_mut("link_id") {
                *id = json!(link_id);
            }
            let args = json!({"connection": connection, "entity": entity, "action": def.action,
                              "params": params});
            let result = call(&client, "jira_execute", args).await;
            if result.is_error != Some(true) {
                reached = true;
                break;
            }
            last = format!("{}.{}: {}", entity, def.action, text(&result));
        }
        if !reached && defs.iter().any(|d| d.read_only) {
            if last.contains(SIM_ROUTE_MISSING) {
                // The simulator does not implement this route: not something MCP can reach.
                sim_gaps.push(last);
            } else {
                failures.push(last);
            }
        }
    }
    if !sim_gaps.is_empty() {
        eprintln!(
            "entities the simulator does not serve yet:\n{}",
            sim_gaps.join("\n")
        );
    }
    assert!(
        failures.is_empty(),
        "entities not reached:\n{}",
        failures.join("\n")
    );
    assert!(
        sim_gaps.len() * 4 < by_entity.len(),
        "most entities must be reachable; simulator gaps: {sim_gaps:?}"
    );

    client.cancel().await.expect("client closes");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn revoked_credentials_come_back_as_an_actionable_tool_error() {
    let fixture = Fixture::start().await;
    let server = mount(&fixture).await;
    let key = key(&fixture, &[ApiScope::Execute]).await;
    let client = client(&server.url, &key).await;
    let jql = format!("project = {}", fixture.project);
    ok(
        &client,
        "jira_search_issues",
        json!({"connection": "jira", "jql": jql}),
    )
    .await;

    // Atlassian revokes the API token: the next call must say what to do, as a tool result.
    let revoked = reqwest::Client::new()
        .post(format!(
            "{}/__sim/revoke",
            fixture.sim.info.api_url.trim_end_matches('/')
        ))
        .json(&json!({"api_token": fixture.sim.info.users[0].api_token}))
        .send()
        .await
        .expect("simulator control");
    assert!(revoked.status().is_success());
    let message = crate::common::tool_error(
        &client,
        "jira_search_issues",
        json!({"connection": "jira", "jql": jql}),
    )
    .await;
    assert!(message.contains("needs_reauth"), "{message}");
    assert!(message.contains("jiragate connect"), "{message}");

    client.cancel().await.expect("client closes");
}

/// A session driven with plain HTTP requests, for what a conforming client never sends.
struct RawSession {
    http: reqwest::Client,
    url: String,
    auth: String,
    session: String,
}

const BOTH: &str = "application/json, text/event-stream";

impl RawSession {
    async fn open(url: &str, key: &SecretString) -> RawSession {
        let http = reqwest::Client::new();
        let auth = format!("Bearer {}", key.expose_secret());
        let response = http
            .post(url)
            .header("authorization", &auth)
            .header("accept", BOTH)
            .json(&initialize_body())
            .send()
            .await
            .unwrap();
        assert_eq!(response.status(), 200);
        let session = response.headers()["mcp-session-id"]
            .to_str()
            .unwrap()
            .to_owned();
        let raw = RawSession {
            http,
            url: url.to_owned(),
            auth,
            session,
        };
        let initialized = raw
            .post(
                BOTH,
                json!({"jsonrpc": "2.0", "method": "notifications/initialized"}).to_string(),
            )
            .await;
        assert_eq!(initialized.status(), 202);
        raw
    }

    async fn post(&self, accept: &str, body: String) -> reqwest::Response {
        self.http
            .post(&self.url)
            .header("authorization", &self.auth)
            .header("accept", accept)
            .header("content-type", "application/json")
            .header("mcp-session-id", &self.session)
            .header("mcp-protocol-version", "2025-06-18")
            .body(body)
            .send()
            .await
            .unwrap()
    }

    /// HTTP status of a `ping` in this session (200 while it lives, 404 once it is gone).
    async fn ping_status(&self) -> u16 {
        self.post(
            BOTH,
            json!({"jsonrpc": "2.0", "id": 90, "method": "ping"}).to_string(),
        )
        .await
        .status()
        .as_u16()
    }

    /// `DELETE` of this session; its HTTP status.
    async fn delete(&self) -> u16 {
        self.http
            .delete(&self.url)
            .header("authorization", &self.auth)
            .header("mcp-session-id", &self.session)
            .header("mcp-protocol-version", "2025-06-18")
            .send()
            .await
            .unwrap()
            .status()
            .as_u16()
    }

    /// A request's JSON-RPC answer, from a JSON body or the SSE stream.
    async fn request(&self, message: Value) -> Value {
        let response = self.post(BOTH, message.to_string()).await;
        let json = response
            .headers()
            .get("content-type")
            .is_some_and(|v| v.to_str().unwrap_or("").starts_with("application/json"));
        let text = response.text().await.unwrap();
        if json {
            return serde_json::from_str(&text).unwrap();
        }
        text.lines()
            .filter_map(|line| line.strip_prefix("data:"))
            .filter_map(|data| serde_json::from_str::<Value>(data.trim()).ok())
            .find(|v| v.get("id").is_some())
            .unwrap_or_else(|| panic!("no JSON-RPC answer in {text}"))
    }
}

/// A JSON-RPC error body of an HTTP error answer.
async fn error_body(response: reqwest::Response) -> Value {
    assert!(
        response.headers()["content-type"]
            .to_str()
            .unwrap()
            .starts_with("application/json"),
        "{:?}",
        response.headers()
    );
    let body: Value = response.json().await.unwrap();
    assert_eq!(body["jsonrpc"], "2.0", "{body}");
    assert!(body.get("id").is_some_and(Value::is_null), "{body}");
    body
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn http_answers_malformed_input_as_json_rpc_and_mcp_require() {
    let fixture = Fixture::start().await;
    let server = mount(&fixture).await;
    let key = key(&fixture, &[ApiScope::Execute]).await;
    let raw = RawSession::open(&server.url, &key).await;

    // Not JSON: 400 with a Parse error, id null.
    let response = raw
        .post(
            BOTH,
            "{\"jsonrpc\": \"2.0\", \"id\": 5, \"method\": ".to_owned(),
        )
        .await;
    assert_eq!(response.status(), 400);
    assert_eq!(error_body(response).await["error"]["code"], -32700);
    // JSON but no message: 400 Invalid Request.
    let response = raw.post(BOTH, "[1, 2]".to_owned()).await;
    assert_eq!(response.status(), 400);
    assert_eq!(error_body(response).await["error"]["code"], -32600);

    // Known methods with params that do not fit: -32602 with the reason.
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
            .request(json!({"jsonrpc": "2.0", "id": id, "method": method, "params": params}))
            .await;
        assert_eq!(answer["id"], id, "{answer}");
        assert_eq!(
            answer["error"]["code"], -32602,
            "{method} {params}: {answer}"
        );
        let message = answer["error"]["message"].as_str().unwrap_or_default();
        assert!(message.contains(reason), "{message}");
    }

    // Accept without text/event-stream: 406 with a body that says what to accept.
    let response = raw
        .post(
            "application/json",
            json!({"jsonrpc": "2.0", "id": 6, "method": "ping"}).to_string(),
        )
        .await;
    assert_eq!(response.status(), 406);
    let body = error_body(response).await;
    let message = body["error"]["message"].as_str().unwrap_or_default();
    assert!(
        message.contains("application/json") && message.contains("text/event-stream"),
        "{body}"
    );
    assert_eq!(
        body["error"]["data"]["accept"],
        json!(["application/json", "text/event-stream"])
    );

    // The session still works, then DELETE ends it with 200 and it is gone (404).
    let pong = raw
        .request(json!({"jsonrpc": "2.0", "id": 7, "method": "ping"}))
        .await;
    assert!(pong["result"].is_object(), "{pong}");
    assert_eq!(raw.delete().await, 200);
    let gone = raw
        .post(
            BOTH,
            json!({"jsonrpc": "2.0", "id": 8, "method": "ping"}).to_string(),
        )
        .await;
    assert_eq!(gone.status(), 404);
    error_body(gone).await;
}

/// A caller that opens sessions and never closes them keeps only the newest `cap` (each
/// costs `serve` about 60 KB for 5 minutes otherwise); a `DELETE` frees a place, and other
/// callers are not touched.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_caller_holds_at_most_its_cap_of_sessions() {
    let fixture = Fixture::start().await;
    let server = mount_with_session_cap(&fixture, 3).await;
    let (a, b) = (
        key(&fixture, &[ApiScope::Execute]).await,
        key(&fixture, &[ApiScope::Execute]).await,
    );
    let other = RawSession::open(&server.url, &b).await;
    let mut mine = Vec::new();
    for _ in 0..3 {
        mine.push(RawSession::open(&server.url, &a).await);
    }
    for s in &mine {
        assert_eq!(s.ping_status().await, 200);
    }

    // A fourth session closes the oldest of this caller only.
    mine.push(RawSession::open(&server.url, &a).await);
    assert_eq!(mine[0].ping_status().await, 404, "the oldest was closed");
    for s in &mine[1..] {
        assert_eq!(s.ping_status().await, 200);
    }
    assert_eq!(
        other.ping_status().await,
        200,
        "another caller keeps its session"
    );

    // A DELETE frees a place: the next session closes nothing.
    assert_eq!(mine[1].delete().await, 200);
    mine.push(RawSession::open(&server.url, &a).await);
    for s in &mine[2..] {
        assert_eq!(s.ping_status().await, 200);
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn http_enforces_tool_schemas_and_bounds_echoed_input() {
    let fixture = Fixture::start().await;
    let server = mount(&fixture).await;
    let key = key(&fixture, &[ApiScope::Execute]).await;
    let client = client(&server.url, &key).await;
    crate::tools::assert_strict_tool_inputs(&client, &fixture).await;
    client.cancel().await.expect("client closes");
}
