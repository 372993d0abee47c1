//! MCP benchmark: `cargo run --release -p jiragate-mcp --example bench [-- CALLS]`.
//!
//! Starts atlassian-sim in process, creates an API-token connection on a fresh data dir, then
//! spawns this same executable as a stdio MCP server (role chosen by an env var) and drives it
//! with rmcp's client: time from spawn to the initialize response, tools/list size, tools/call
//! per second with p50/p99, the server's RSS; next to a direct `Engine::execute` of the same
//! action in the same run.

use std::path::PathBuf;
use std::sync::Arc;
use std::time::{Duration, Instant};

use atlassian_sim::{SimConfig, Simulator};
use jiragate_engine::model::{ApiType, AtlassianEndpoints, NewApiTokenConnection, Owner, SiteRef};
use jiragate_engine::{ActionRequest, Actor, ConnRef, Engine, EngineConfig, NewConnection};
use jiragate_mcp::{LocalBackend, McpOptions, serve_stdio};
use rmcp::ServiceExt;
use rmcp::model::{CallToolRequestParams, ClientConfig};
use rmcp::transport::TokioChildProcess;
use secrecy::SecretString;
use serde_json::json;

const ROLE_ENV: &str = "JIRAGATE_MCP_BENCH_ROLE";

fn endpoints(auth: &str, api: &str, site: &str) -> AtlassianEndpoints {
    AtlassianEndpoints {
        auth_url: auth.to_owned(),
        api_url: api.to_owned(),
        site_url_template: site.to_owned(),
    }
}

fn engine_config(data_dir: PathBuf, endpoints: AtlassianEndpoints) -> EngineConfig {
    EngineConfig {
        data_dir,
        database_url: None,
        master_key: None,
        public_url: "http://127.0.0.1:8080".to_owned(),
        endpoints,
        allowed_upstream_hosts: Vec::new(),
        instance_id: None,
        migrate: true,
        background: false,
        bootstrap_admin_key: false,
        admission: Default::default(),
    }
}

/// The server role: what `jiragate mcp` does, on the data dir the driver prepared.
async fn serve() -> Result<(), Box<dyn std::error::Error>> {
    let var = |k: &str| std::env::var(k).unwrap_or_default();
    let config = engine_config(
        PathBuf::from(var("JIRAGATE_DATA_DIR")),
        endpoints(
            &var("JIRAGATE_ATLASSIAN_AUTH_URL"),
            &var("JIRAGATE_ATLASSIAN_API_URL"),
            &var("JIRAGATE_JIRA_SITE_URL"),
        ),
    );
    let (engine, _) = Engine::open(config).await?;
    let org = engine.default_org.clone();
    serve_stdio(
        Arc::new(LocalBackend::new(engine, org)),
        McpOptions::default(),
    )
    .await?;
    Ok(())
}

fn percentile(sorted: &[Duration], p: f64) -> Duration {
    if sorted.is_empty() {
        return Duration::ZERO;
    }
    let index = ((sorted.len() as f64 - 1.0) * p).round() as usize;
    sorted[index.min(sorted.len() - 1)]
}

fn rss_mb(pid: u32) -> Option<f64> {
    let status = std::fs::read_to_string(format!("/proc/{pid}/status")).ok()?;
    let line = status.lines().find(|l| l.starts_with("VmRSS:"))?;
    let kb: f64 = line.split_whitespace().nth(1)?.parse().ok()?;
    Some(kb / 1024.0)
}

fn report(label: &str, mut samples: Vec<Duration>, total: Duration) {
    samples.sort();
    println!(
        "{label:<34} {:>8.0} calls/s   p50 {:>7.3} ms   p99 {:>7.3} ms",
        samples.len() as f64 / total.as_secs_f64(),
        percentile(&samples, 0.50).as_secs_f64() * 1000.0,
        percentile(&samples, 0.99).as_secs_f64() * 1000.0,
    );
}

#[tokio::main]
async fn main() -> Result<(), Box<dyn std::error::Error>> {
    if std::env::var(ROLE_ENV).as_deref() == Ok("server") {
        return serve().await;
    }
    let calls: usize = std::env::args()
        .nth(1)
        .and_then(|a| a.parse().ok())
        .unwrap_or(500);

    let sim = Simulator::start(SimConfig {
        sites: vec!["acme".to_owned()],
        issues_per_site: 40,
        ..SimConfig::default()
    })
    .await?;
    let dir = tempfile::tempdir()?;
    let data_dir = dir.path().join("data");
    let config = engine_config(
        data_dir.clone(),
        endpoints(&sim.info.auth_url, &sim.info.api_url, &sim.info.site_url),
    );
    let (engine, _) = Engine::open(config).await?;
    let org = engine.default_org.clone();
    let user = &sim.info.users[0];
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
        .await?;
    let reference = ConnRef::Id(connection.id.clone());
    let action = |entity: &str, action: &str, params: serde_json::Value| ActionRequest {
        entity: entity.to_owned(),
        action: action.to_owned(),
        params,
        read_only: true,
    };
    let project = engine
        .execute(
            Actor::Operator,
            &org,
            &reference,
            action("projects", "list", json!({})),
        )
        .await?
        .data
        .pointer("/0/key")
        .and_then(|k| k.as_str())
        .unwrap_or("ACME")
        .to_owned();
    let params = json!({"jql": format!("project = {project}"), "limit": 10});

    // Spawn the server and time the handshake.
    let mut command = tokio::process::Command::new(std::env::current_exe()?);
    command
        .env(ROLE_ENV, "server")
        .env("JIRAGATE_DATA_DIR", &data_dir)
        .env("JIRAGATE_ATLASSIAN_AUTH_URL", &sim.info.auth_url)
        .env("JIRAGATE_ATLASSIAN_API_URL", &sim.info.api_url)
        .env("JIRAGATE_JIRA_SITE_URL", &sim.info.site_url);
    let spawned = Instant::now();
    let transport = TokioChildProcess::new(command)?;
    let pid = transport.id();
    let client = ClientConfig::default().serve(transport).await?;
    let initialize = spawned.elapsed();

    let tools = client.list_tools(None).await?;
    let tools_bytes = serde_json::to_string(&tools)?.len();

    let args =
        json!({"connection": "jira", "entity": "issues", "action": "search", "params": params});
    let request = CallToolRequestParams::new("jira_execute")
        .with_arguments(args.as_object().cloned().unwrap_or_default());
    let warm = client.call_tool(request.clone()).await?;
    if warm.is_error == Some(true) {
        return Err(format!("warm-up call failed: {:?}", warm.content).into());
    }
    let mut samples = Vec::with_capacity(calls);
    let started = Instant::now();
    for _ in 0..calls {
        let t = Instant::now();
        let result = client.call_tool(request.clone()).await?;
        samples.push(t.elapsed());
        if result.is_error == Some(true) {
            return Err(format!("tools/call failed: {:?}", result.content).into());
        }
    }
    let mcp_total = started.elapsed();
    let rss = pid.and_then(rss_mb);

    let mut direct = Vec::with_capacity(calls);
    let started = Instant::now();
    for _ in 0..calls {
        let t = Instant::now();
        engine
            .execute(
                Actor::Operator,
                &org,
                &reference,
                action("issues", "search", params.clone()),
            )
            .await?;
        direct.push(t.elapsed());
    }
    let direct_total = started.elapsed();

    println!(
        "jiragate MCP benchmark ({calls} calls of issues.search, limit 10, atlassian-sim in process)"
    );
    println!(
        "spawn -> initialize response          {:>8.1} ms",
        initialize.as_secs_f64() * 1000.0
    );
    println!(
        "tools/list size                       {tools_bytes:>8} bytes ({} tools)",
        tools.tools.len()
    );
    match rss {
        Some(mb) => println!("server RSS after the run              {mb:>8.1} MB"),
        None => println!("server RSS after the run              n/a"),
    }
    report("MCP tools/call over stdio", samples, mcp_total);
    report("direct Engine::execute (same run)", direct, direct_total);

    client.cancel().await?;
    sim.shutdown().await;
    Ok(())
}
