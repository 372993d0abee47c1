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

fn parse_listen(s: &str) -> Result<SocketAddr, CliError> {
    s.parse().map_err(|_| {
        CliError::usage(format!(
            "--listen '{s}': expected host:port such as 127.0.0.1:8080"
        ))
    })
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
        database_url: g.database_url.clone().unwrap_or_default(),
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

/// Start-up failures say what to fix; a wrong master key is its own, well-known message.
fn startup_error(e: anyhow::Error) -> CliError {
    let text = format!("{e:#}");
    if let Some(ee) = e.downcast_ref::<EngineError>() {
        return CliError::new(ee.exit_code().max(1), text);
    }
    CliError::failure(text)
}

pub async fn sandbox(g: &Global, a: SandboxArgs) -> Result<(), CliError> {
    let listen = parse_listen(&a.listen)?;
    // Bind first so the OAuth redirect URI (which the simulator must allow) is known.
    let probe = std::net::TcpListener::bind(listen)
        .map_err(|e| CliError::usage(format!("cannot listen on {listen}: {e}")))?;
    let addr = probe
        .local_addr()
        .map_err(|e| CliError::failure(e.to_string()))?;
    drop(probe);
    let public_url = format!("http://{addr}");
    let sim = Simulator::start(SimConfig {
        issues_per_site: a.issues,
        redirect_uris: vec![format!("{public_url}/oauth/callback")],
        ..SimConfig::default()
    })
    .await
    .map_err(|e| CliError::failure(format!("starting the simulator: {e}")))?;
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
    println!(
        "jiragate sandbox is running at {base} against a simulated Atlassian Cloud at {sim_url}

connections (workspace 'default'):
  demo-token  (API token, site {site})
  {oauth_note}

try next, in another shell:
  export JIRAGATE_SERVER={base} JIRAGATE_API_KEY=$(cat {key_path})
  jiragate connectors list
  jiragate connectors describe --name demo-token --filter sprints
  jiragate connectors execute --name demo-token --entity issues --action search --param 'jql=project = ACME ORDER BY key' 
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
            let engine = context::local(g).await?;
            let org = engine.default_org.clone();
            Arc::new(LocalBackend::new(engine, org))
        }
    };
    jiragate_mcp::serve_stdio(backend, opts)
        .await
        .map_err(|e| CliError::failure(e.to_string()))
}
