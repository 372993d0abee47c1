//! `serve`, `sandbox` and `mcp`: the long-running commands.

use std::net::SocketAddr;
use std::sync::Arc;

use atlassian_sim::{SimConfig, Simulator};
use jiragate_engine::model::{
    ApiType, AtlassianEndpoints, NewApiTokenConnection, Owner, SiteRef, StartConnect,
};
use jiragate_engine::oauth::OAuthCallback;
use jiragate_engine::{Actor, DEFAULT_WORKSPACE, Engine, EngineError, NewConnection};
use jiragate_mcp::{Backend, LocalBackend, McpOptions, RemoteBackend};
use jiragate_server::{App, RateLimitConfig, ServerConfig};
use secrecy::SecretString;

use crate::cli::{Global, McpArgs, SandboxArgs, ServeArgs};
use crate::context;
use crate::error::CliError;

/// `host:port`, where host is an IP address or a name (`localhost:8080`) resolved now.
fn parse_listen(s: &str) -> Result<SocketAddr, CliError> {
    if let Ok(a) = s.parse() {
        return Ok(a);
    }
    let bad = || {
        CliError::usage(format!(
            "--listen '{s}': expected host:port such as 127.0.0.1:8080 or localhost:8080"
        ))
    };
    let (host, port) = s.rsplit_once(':').ok_or_else(bad)?;
    if host.is_empty() || port.parse::<u16>().is_err() {
        return Err(bad());
    }
    use std::net::ToSocketAddrs;
    let addrs: Vec<SocketAddr> = s
        .to_socket_addrs()
        .map_err(|e| CliError::usage(format!("--listen '{s}': cannot resolve '{host}': {e}")))?
        .collect();
    // Prefer IPv4 (what `localhost` means to most clients), else the first answer.
    addrs
        .iter()
        .find(|a| a.is_ipv4())
        .or(addrs.first())
        .copied()
        .ok_or_else(bad)
}

/// A bind failure that names the address and what to do.
fn listen_error(addr: &SocketAddr, flag: &str, e: &std::io::Error) -> CliError {
    if e.kind() == std::io::ErrorKind::AddrInUse {
        CliError::usage(format!(
            "cannot listen on {addr}: the address is already in use (another jiragate or program?); choose another with {flag} (e.g. {flag} {}:0 for any free port)",
            addr.ip()
        ))
    } else {
        CliError::usage(format!(
            "cannot listen on {addr}: {e}; choose another with {flag}"
        ))
    }
}

async fn shutdown_signal() {
    let ctrl_c = async {
        let _ = tokio::signal::ctrl_c().await;
    };
    #[cfg(unix)]
    let term = async {
        match tokio::signal::unix::signal(tokio::signal::unix::SignalKind::terminate()) {
            Ok(mut s) => {
                s.recv().await;
            }
            Err(_) => std::future::pending::<()>().await,
        }
    };
    #[cfg(not(unix))]
    let term = std::future::pending::<()>();
    tokio::select! { _ = ctrl_c => {}, _ = term => {} }
    tracing::info!("shutdown requested; draining in-flight requests");
}

fn server_config(
    g: &Global,
    listen: SocketAddr,
    endpoints: AtlassianEndpoints,
    migrate: bool,
    cors: Vec<String>,
) -> Result<ServerConfig, CliError> {
    Ok(ServerConfig {
        listen,
        data_dir: g.data_dir.clone(),
        database_url: context::database_url(g)?.unwrap_or_default(),
        master_key: context::secret_env("JIRAGATE_MASTER_KEY")?,
        public_url: g.public_url.clone(),
        endpoints,
        migrate,
        cors_origins: cors,
        allowed_upstream_hosts: g.allowed_upstream_hosts.clone(),
        instance_id: g.instance_id.clone(),
        ..ServerConfig::default()
    })
}

fn announce(app: &App) {
    if app.bootstrap.master_key_created
        && let Some(p) = &app.bootstrap.master_key_path
    {
        eprintln!(
            "generated a new master key at {} — back it up: without it the stored credentials cannot be read",
            p.display()
        );
    }
    if let Some(p) = &app.bootstrap.admin_key_path {
        eprintln!(
            "created organization 'default' and an admin API key; it is in {} (shown nowhere else)",
            p.display()
        );
    }
}

pub async fn serve(g: &Global, a: ServeArgs) -> Result<(), CliError> {
    let listen = parse_listen(&a.listen)?;
    // Bind-check first: a busy port is the commonest start-up failure; say which and what to do.
    drop(std::net::TcpListener::bind(listen).map_err(|e| listen_error(&listen, "--listen", &e))?);
    let cfg = server_config(
        g,
        listen,
        context::endpoints(g),
        !a.no_migrate,
        a.cors_origin,
    )?;
    let cfg = ServerConfig {
        rate_limit_per_key: RateLimitConfig::parse(&a.rate_limit_per_key)
            .map_err(|e| CliError::usage(format!("--rate-limit-per-key {e}")))?,
        drain_delay: std::time::Duration::from_secs(a.drain_delay),
        admission: jiragate_engine::AdmissionLimits {
            max_queued_per_connection: a.max_queued_per_connection,
            max_queue_wait: std::time::Duration::try_from_secs_f64(a.max_queue_wait)
                .ok()
                .filter(|d| *d <= std::time::Duration::from_secs(3600))
                .ok_or_else(|| {
                    CliError::usage(format!(
                        "--max-queue-wait {} is not a number of seconds between 0 and 3600",
                        a.max_queue_wait
                    ))
                })?,
        },
        body_limit: a.max_body_bytes,
        shutdown_timeout: std::time::Duration::from_secs(a.shutdown_timeout),
        idle_timeout: std::time::Duration::try_from_secs_f64(a.idle_timeout)
            .ok()
            .filter(|d| !d.is_zero() && *d <= std::time::Duration::from_secs(3600))
            .ok_or_else(|| {
                CliError::usage(format!(
                    "--idle-timeout {} is not a number of seconds above 0 and at most 3600",
                    a.idle_timeout
                ))
            })?,
        mcp_auth: jiragate_engine::mcp_auth::McpAuthConfig {
            dcr: !a.mcp_disable_dcr,
            cimd: !a.mcp_disable_cimd,
            cimd_allow_private: a.mcp_cimd_allow_private,
            ..Default::default()
        },
        webhooks: jiragate_engine::webhooks::WebhookConfig {
            allow_private_subscribers: a.webhooks_allow_private,
            ..Default::default()
        },
        webhook_retention: parse_retention(&a.webhooks_retention)
            .map_err(|e| CliError::usage(format!("--webhooks-retention {e}")))?,
        webhook_rate_limit: RateLimitConfig::parse(&a.webhooks_rate_limit)
            .map_err(|e| CliError::usage(format!("--webhooks-rate-limit {e}")))?,
        mcp_max_sessions_per_caller: a.mcp_max_sessions_per_caller as usize,
        ..cfg
    };
    let app = App::build(cfg).await.map_err(startup_error)?;
    announce(&app);
    eprintln!(
        "jiragate listening on {} (docs at {}/docs)",
        app.base_url(),
        app.base_url()
    );
    app.serve(shutdown_signal())
        .await
        .map_err(|e| CliError::failure(format!("{e:#}")))
}

/// `7d`, `36h`, `90m`, `600s` (or bare seconds): from one second to ten years.
fn parse_retention(s: &str) -> Result<std::time::Duration, String> {
    let t = s.trim();
    let (num, unit) = match t.char_indices().find(|(_, c)| !c.is_ascii_digit()) {
        Some((i, _)) => t.split_at(i),
        None => (t, "s"),
    };
    let n: u64 = num.parse().map_err(|_| {
        format!(
            "{}: use a number and a unit, like 7d, 36h, 90m or 600s",
            jiragate_engine::quote(t)
        )
    })?;
    let unit_secs = match unit.trim() {
        "s" => 1,
        "m" => 60,
        "h" => 3600,
        "d" => 86_400,
        other => {
            return Err(format!(
                "{}: unknown unit {}; use d, h, m or s",
                jiragate_engine::quote(t),
                jiragate_engine::quote(other)
            ));
        }
    };
    let secs = n.saturating_mul(unit_secs);
    if !(1..=3650 * 86_400).contains(&secs) {
        return Err(format!(
            "{}: between 1s and 3650d",
            jiragate_engine::quote(t)
        ));
    }
    Ok(std::time::Duration::from_secs(secs))
}

/// Start-up failures say what to fix; a wrong master key is its own, well-known message.
fn startup_error(e: anyhow::Error) -> CliError {
    let text = format!("{e:#}");
    if let Some(ee) = e.downcast_ref::<EngineError>() {
        return CliError::new(ee.exit_code().max(1), text);
    }
    CliError::failure(text)
}

/// The sandbox runs its own server on a temporary data dir: settings for a real deployment
/// would be silently ignored, so they are refused on the command line and noted when they only
/// come from the environment.
fn sandbox_refuses_deployment_settings() -> Result<(), CliError> {
    use clap::CommandFactory;
    use clap::parser::ValueSource;
    let Ok(m) = crate::cli::Cli::command().try_get_matches_from(std::env::args_os()) else {
        return Ok(());
    };
    let Some(sub) = m.subcommand_matches("sandbox") else {
        return Ok(());
    };
    for (id, flag, env) in [
        ("data_dir", "--data-dir", "JIRAGATE_DATA_DIR"),
        ("database_url", "--database-url", "JIRAGATE_DATABASE_URL"),
        ("server", "--server", "JIRAGATE_SERVER"),
    ] {
        match sub.value_source(id).or_else(|| m.value_source(id)) {
            Some(ValueSource::CommandLine) => {
                return Err(CliError::usage(format!(
                    "sandbox: {flag} does not apply: the sandbox runs its own server on a temporary data dir and database (use `jiragate serve` for a persistent one)"
                )));
            }
            Some(ValueSource::EnvVariable) => eprintln!(
                "note: ignoring {env}: the sandbox runs its own server on a temporary data dir and database"
            ),
            _ => {}
        }
    }
    Ok(())
}

pub async fn sandbox(g: &Global, a: SandboxArgs) -> Result<(), CliError> {
    sandbox_refuses_deployment_settings()?;
    let listen = parse_listen(&a.listen)?;
    let sim_listen = parse_listen(&a.sim_listen).map_err(|_| {
        CliError::usage(format!(
            "--sim-listen '{}': expected host:port such as 127.0.0.1:9090",
            a.sim_listen
        ))
    })?;
    // Bind first so the OAuth redirect URI (which the simulator must allow) is known.
    let probe =
        std::net::TcpListener::bind(listen).map_err(|e| listen_error(&listen, "--listen", &e))?;
    let addr = probe
        .local_addr()
        .map_err(|e| CliError::failure(e.to_string()))?;
    drop(probe);
    let public_url = format!("http://{addr}");
    let sim = Simulator::start(SimConfig {
        listen: sim_listen,
        issues_per_site: a.issues,
        redirect_uris: vec![format!("{public_url}/oauth/callback")],
        ..SimConfig::default()
    })
    .await
    .map_err(|e| listen_error(&sim_listen, "--sim-listen", &e))?;
    let info = sim.info.clone();
    let endpoints = AtlassianEndpoints {
        auth_url: info.auth_url.clone(),
        api_url: info.api_url.clone(),
        site_url_template: info.site_url.clone(),
    };
    let data_dir = tempfile::Builder::new()
        .prefix("jiragate-sandbox-")
        .tempdir()
        .map_err(|e| CliError::failure(format!("creating a sandbox data dir: {e}")))?;
    let mut sg = g.clone();
    sg.data_dir = data_dir.path().to_path_buf();
    sg.database_url = None;
    sg.public_url = Some(public_url.clone());
    let mut cfg = server_config(&sg, addr, endpoints, true, vec![])?;
    cfg.master_key = None;
    let app = App::build(cfg).await.map_err(startup_error)?;
    let engine = app.engine().clone();
    let org = engine.default_org.clone();

    let user = &info.users[0];
    let site = &info.sites[0];
    engine
        .create_connection(
            Actor::Operator,
            &org,
            NewConnection::ApiToken(NewApiTokenConnection {
                workspace: DEFAULT_WORKSPACE.into(),
                name: "demo-token".into(),
                site: SiteRef::Subdomain(site.subdomain.clone()),
                email: user.email.clone(),
                token: SecretString::from(user.api_token.clone()),
                scoped: Some(false),
                api_type: ApiType::Platform,
                owner: Owner::Installation,
            }),
        )
        .await?;
    let base = app.base_url();
    let admin_key_path = app.bootstrap.admin_key_path.clone();
    let server = tokio::spawn(app.serve(shutdown_signal()));
    let oauth_note = match connect_demo_oauth(&engine, &info).await {
        Ok(()) => "demo-oauth  (OAuth 2.0 3LO, site globex, tokens refresh themselves)".to_string(),
        Err(e) => format!("demo-oauth could not be connected: {e}"),
    };
    let key_path = admin_key_path
        .map(|p| p.display().to_string())
        .unwrap_or_default();
    let sites = info
        .sites
        .iter()
        .map(|s| format!("  {}  {}", s.subdomain, s.url))
        .collect::<Vec<_>>()
        .join("\n");
    let users = info
        .users
        .iter()
        .map(|u| format!("  {}  API token {}", u.email, u.api_token))
        .collect::<Vec<_>>()
        .join("\n");
    println!(
        "jiragate sandbox is running at {base} against a simulated Atlassian Cloud at {sim_url}

connections (workspace 'default'):
  demo-token  (API token, site {site})
  {oauth_note}

simulated sites (projects ENG, OPS, MKT, HELP):
{sites}

simulated users (fake credentials, valid only against this simulator):
{users}

try next, in another shell:
  export JIRAGATE_SERVER={base} JIRAGATE_API_KEY=$(cat {key_path})
  jiragate connectors list
  jiragate connectors describe --name demo-token --filter sprints
  jiragate connectors execute --name demo-token --entity issues --action search --param 'jql=project = ENG ORDER BY key'
  curl -s -H \"Authorization: Bearer $JIRAGATE_API_KEY\" {base}/api/v1/integrations/connectors
  open {base}/docs

Ctrl-C stops the sandbox (its data lives in a temporary directory).",
        sim_url = info.auth_url,
        site = site.subdomain,
    );
    let r = server.await.map_err(|e| CliError::failure(e.to_string()))?;
    sim.shutdown().await;
    drop(data_dir);
    r.map_err(|e| CliError::failure(format!("{e:#}")))
}

/// Runs the real OAuth flow against the simulator, playing the browser.
async fn connect_demo_oauth(
    engine: &Engine,
    info: &atlassian_sim::SimInfo,
) -> Result<(), CliError> {
    let org = &engine.default_org;
    let client = &info.oauth_clients[0];
    let rec = engine
        .create_oauth_client(
            Actor::Operator,
            org,
            &client.client_id,
            SecretString::from(client.client_secret.clone()),
            vec![
                "read:jira-work".into(),
                "write:jira-work".into(),
                "read:jira-user".into(),
            ],
        )
        .await?;
    let subdomain = info
        .sites
        .get(1)
        .or(info.sites.first())
        .map(|s| s.subdomain.clone());
    let start = engine
        .start_connect(
            Actor::Operator,
            org,
            StartConnect {
                oauth_client_id: rec.id,
                workspace: DEFAULT_WORKSPACE.into(),
                name: "demo-oauth".into(),
                scopes: None,
                subdomain,
                owner: Owner::Installation,
                api_type: ApiType::Platform,
            },
        )
        .await?;
    let http = reqwest::Client::builder()
        .redirect(reqwest::redirect::Policy::none())
        .build()
        .map_err(|e| CliError::failure(e.to_string()))?;
    let consent = http
        .get(&start.authorize_url)
        .send()
        .await
        .map_err(|e| CliError::upstream(e.to_string()))?;
    let location = consent
        .headers()
        .get("location")
        .and_then(|v| v.to_str().ok())
        .ok_or_else(|| CliError::upstream("the simulator did not redirect back"))?
        .to_string();
    let url = url::Url::parse(&location).map_err(|e| CliError::upstream(e.to_string()))?;
    let q: std::collections::HashMap<String, String> = url.query_pairs().into_owned().collect();
    match engine
        .handle_oauth_callback(
            q.get("state").map(String::as_str).unwrap_or(""),
            q.get("code").map(String::as_str),
            q.get("error").map(String::as_str),
        )
        .await
        .map_err(|failure| failure.error)?
    {
        OAuthCallback::Connected(_) => Ok(()),
        OAuthCallback::ChooseSite { .. } => Err(CliError::failure(
            "the demo grant unexpectedly asks for a site",
        )),
    }
}

pub async fn mcp(g: &Global, a: McpArgs) -> Result<(), CliError> {
    let opts = McpOptions {
        read_only: a.read_only,
        tools: a.tools,
        default_connection: a.connection,
    };
    opts.validate()
        .map_err(|e| CliError::usage(e.to_string()))?;
    let backend: Arc<dyn Backend> = match context::remote(g)? {
        Some(_) => {
            let key = context::secret_env("JIRAGATE_API_KEY")?
                .ok_or_else(|| CliError::usage("JIRAGATE_API_KEY is required with --server"))?;
            let server = crate::remote::server_base(g.server.as_deref().unwrap_or_default())?;
            Arc::new(RemoteBackend::new(server, key).map_err(|e| CliError::failure(e.to_string()))?)
        }
        None => {
            // An MCP client starts this with a configured environment; a mistyped data dir
            // must not turn into a new, empty store the agent then reports as "no connections".
            if !g.data_dir.is_dir() {
                return Err(CliError::usage(format!(
                    "jiragate mcp: the data dir {} does not exist; check JIRAGATE_DATA_DIR / --data-dir (create one with `jiragate connectors create` or `jiragate serve`), or use --server",
                    g.data_dir.display()
                )));
            }
            let engine = context::local(g).await?;
            let org = engine.default_org.clone();
            Arc::new(LocalBackend::new(engine, org))
        }
    };
    jiragate_mcp::serve_stdio(backend, opts)
        .await
        .map_err(|e| CliError::failure(e.to_string()))
}
