//! Shared fixture: atlassian-sim on 127.0.0.1:0, an Engine on a fresh SQLite data dir with an
//! API-token connection `w/jira`, and small helpers around rmcp's client.

use std::path::PathBuf;
use std::time::Duration;

use atlassian_sim::{SimConfig, SimHandle, Simulator};
use jiragate_engine::model::{
    ApiType, AtlassianEndpoints, Connection, NewApiTokenConnection, OrgId, Owner, SiteRef,
};
use jiragate_engine::{ActionRequest, Actor, ConnRef, Engine, EngineConfig, NewConnection};
use rmcp::model::{CallToolRequestParams, CallToolResult};
use rmcp::service::{Peer, RoleClient};
use secrecy::SecretString;
use serde_json::{Value, json};
use tempfile::TempDir;

pub const CALL_TIMEOUT: Duration = Duration::from_secs(30);

pub struct Fixture {
    pub sim: SimHandle,
    pub engine: Engine,
    pub org: OrgId,
    pub connection: Connection,
    pub data_dir: PathBuf,
    pub project: String,
    _dir: TempDir,
}

impl Fixture {
    pub async fn start() -> Fixture {
        let sim = Simulator::start(SimConfig {
            sites: vec!["acme".to_owned()],
            issues_per_site: 24,
            ..SimConfig::default()
        })
        .await
        .expect("simulator starts");
        let dir = tempfile::tempdir().expect("tempdir");
        let data_dir = dir.path().join("data");
        let (engine, _) = Engine::open(EngineConfig {
            data_dir: data_dir.clone(),
            database_url: None,
            master_key: None,
            public_url: "http://127.0.0.1:9".to_owned(),
            endpoints: AtlassianEndpoints {
                auth_url: sim.info.auth_url.clone(),
                api_url: sim.info.api_url.clone(),
                site_url_template: sim.info.site_url.clone(),
            },
            allowed_upstream_hosts: Vec::new(),
            instance_id: None,
            migrate: true,
            background: false,
            bootstrap_admin_key: false,
            admission: Default::default(),
        })
        .await
        .expect("engine opens");
        let org = engine.default_org.clone();
        let user = sim.info.users[0].clone();
        let connection = engine
            .create_connection(
                Actor::Operator,
                &org,
                NewConnection::ApiToken(NewApiTokenConnection {
                    workspace: "w".to_owned(),
                    name: "jira".to_owned(),
                    site: SiteRef::BaseUrl(sim.site_url("acme")),
                    email: user.email.clone(),
                    token: SecretString::from(user.api_token.clone()),
                    scoped: Some(false),
                    api_type: ApiType::Platform,
                    owner: Owner::Installation,
                }),
            )
            .await
            .expect("API-token connection is created");
        let project = engine
            .execute(
                Actor::Operator,
                &org,
                &ConnRef::Id(connection.id.clone()),
                ActionRequest {
                    entity: "projects".to_owned(),
                    action: "list".to_owned(),
                    params: json!({}),
                    read_only: true,
                },
            )
            .await
            .expect("projects.list")
            .data
            .pointer("/0/key")
            .and_then(Value::as_str)
            .expect("the simulator seeds a project")
            .to_owned();
        Fixture {
            sim,
            engine,
            org,
            connection,
            data_dir,
            project,
            _dir: dir,
        }
    }

    /// Environment for a server process on this fixture's data dir.
    pub fn server_env(&self) -> Vec<(&'static str, String)> {
        vec![
            ("JIRAGATE_DATA_DIR", self.data_dir.display().to_string()),
            (
                "JIRAGATE_ATLASSIAN_AUTH_URL",
                self.sim.info.auth_url.clone(),
            ),
            ("JIRAGATE_ATLASSIAN_API_URL", self.sim.info.api_url.clone()),
            ("JIRAGATE_JIRA_SITE_URL", self.sim.info.site_url.clone()),
        ]
    }
}

/// `tools/call`, bounded in time; a protocol error fails the test.
pub async fn call(peer: &Peer<RoleClient>, name: &str, args: Value) -> CallToolResult {
    let request = CallToolRequestParams::new(name.to_owned())
        .with_arguments(args.as_object().cloned().unwrap_or_default());
    tokio::time::timeout(CALL_TIMEOUT, peer.call_tool(request))
        .await
        .unwrap_or_else(|_| panic!("{name} timed out"))
        .unwrap_or_else(|e| panic!("{name} was a protocol error, not a tool result: {e}"))
}

pub fn text(result: &CallToolResult) -> String {
    result
        .content
        .iter()
        .filter_map(|c| c.as_text())
        .map(|t| t.text.as_str())
        .collect::<Vec<_>>()
        .join("\n")
}

/// A successful call's JSON text.
pub async fn ok(peer: &Peer<RoleClient>, name: &str, args: Value) -> Value {
    let result = call(peer, name, args.clone()).await;
    let body = text(&result);
    assert_ne!(result.is_error, Some(true), "{name} {args} failed: {body}");
    serde_json::from_str(&body).unwrap_or_else(|e| panic!("{name} answered non-JSON ({e}): {body}"))
}

/// A failed call's message (it must be a tool error, not a protocol error).
pub async fn tool_error(peer: &Peer<RoleClient>, name: &str, args: Value) -> String {
    let result = call(peer, name, args.clone()).await;
    let body = text(&result);
    assert_eq!(
        result.is_error,
        Some(true),
        "{name} {args} should fail: {body}"
    );
    body
}

/// Size of a JSON value as Python's `json.dumps` writes it (", " and ": " separators), which is
/// how the acceptance script measures tools/list.
pub fn python_json_len(value: &Value) -> usize {
    match value {
        Value::Object(map) => {
            2 + map
                .iter()
                .map(|(k, v)| Value::String(k.clone()).to_string().len() + 2 + python_json_len(v))
                .sum::<usize>()
                + map.len().saturating_sub(1) * 2
        }
        Value::Array(items) => {
            2 + items.iter().map(python_json_len).sum::<usize>() + items.len().saturating_sub(1) * 2
        }
        // serde_json escapes non-ASCII like Python's ensure_ascii only for control characters;
        // our tool list is ASCII, where both agree.
        other => other.to_string().len(),
    }
}
