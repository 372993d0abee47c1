//! The shared core of every front end: opens the database and the key hierarchy, bootstraps the
//! default organization, and offers the operations that the HTTP API, the MCP server and the CLI
//! (local mode) all perform — so those three stay thin and agree on behaviour and errors.

mod access;
mod actor;
pub mod admin;
mod api_keys;
pub mod audit;
pub mod connect_links;
mod connections;
pub mod console;
mod error;
mod event_notices;
mod hot_cache;
pub mod keys;
pub mod links;
pub mod mcp_auth;
pub mod model;
mod net_guard;
pub mod oauth;
mod orgs;
pub mod proxy;
mod rate_holds;
mod scope_docs;
pub mod scopes;
pub mod webhooks;
pub mod webhooks_delivery;
mod webhooks_refresh;

use std::path::{Path, PathBuf};
use std::sync::Arc;

use jiragate_auth::{AtlassianEndpoints, AuthConfig, AuthService, Keyring};
use jiragate_catalog::Catalog;
use jiragate_jira::{ClientConfig, JiraClient};
use jiragate_store::{ConnectionId, OrgId, Store};
use jiragate_vault::MasterKey;
use secrecy::{ExposeSecret, SecretString};

pub use access::ORG_HEADER;
pub use actor::Actor;
pub use connections::{ActionRequest, NewConnection, OAuthTokensInput, TokenFor, TokenGrant};
pub use error::EngineError;
pub use hot_cache::HOT_CACHE_TTL;
pub use jiragate_catalog::{ExecuteJson, JsonText};
pub use keys::ApiScope;

/// Name of the organization created on first start.
pub const DEFAULT_ORG: &str = "default";
/// Workspace used when a caller names none.
pub const DEFAULT_WORKSPACE: &str = "default";

/// Bounded admission in front of each connection's concurrency slots: at most
/// `max_queued_per_connection` requests wait for a busy connection, each at most
/// `max_queue_wait`; the rest are shed at once with `overloaded` (503, `Retry-After`).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct AdmissionLimits {
    pub max_queued_per_connection: usize,
    pub max_queue_wait: std::time::Duration,
}

impl Default for AdmissionLimits {
    fn default() -> Self {
        let c = ClientConfig::default();
        AdmissionLimits {
            max_queued_per_connection: c.max_queued_per_connection,
            max_queue_wait: c.max_queue_wait,
        }
    }
}

pub struct EngineConfig {
    pub data_dir: PathBuf,
    /// `None` = `sqlite://<data_dir>/jiragate.db`.
    pub database_url: Option<String>,
    /// Base64 of 32 bytes; `None` = `<data_dir>/master.key`, created (0600) on first run.
    pub master_key: Option<SecretString>,
    /// Base of the OAuth redirect URI.
    pub public_url: String,
    pub endpoints: AtlassianEndpoints,
    /// Hosts besides `*.atlassian.net` that a site URL may name (custom domains), as `host` or
    /// `host:port` (`JIRAGATE_ALLOWED_UPSTREAM_HOSTS`).
    pub allowed_upstream_hosts: Vec<String>,
    /// A stable name for this instance (`JIRAGATE_INSTANCE_ID`); `None` = random per process.
    /// With a stable, unique name a restarted instance takes over the refresh leases its
    /// crashed predecessor still held instead of waiting for them to lapse.
    pub instance_id: Option<String>,
    /// Apply migrations (otherwise fail when the schema is behind).
    pub migrate: bool,
    /// Run proactive refresh and scheduled health checks.
    pub background: bool,
    /// Write `<data_dir>/admin.key` when the database is new.
    pub bootstrap_admin_key: bool,
    /// Load shedding per connection (`JIRAGATE_MAX_QUEUED_PER_CONNECTION`,
    /// `JIRAGATE_MAX_QUEUE_WAIT`).
    pub admission: AdmissionLimits,
}

/// What `open` did that the operator should hear about.
#[derive(Debug, Default)]
pub struct Bootstrap {
    pub master_key_created: bool,
    pub master_key_path: Option<PathBuf>,
    pub admin_key_path: Option<PathBuf>,
}

/// One connection, named the way people and scripts do.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum ConnRef {
    Id(ConnectionId),
    Name { workspace: String, name: String },
}

impl ConnRef {
    /// `<uuid>` → id; `workspace/name`; `name` (workspace `default`).
    pub fn parse(s: &str) -> ConnRef {
        let s = s.trim();
        if let Ok(id) = s.parse::<ConnectionId>() {
            return ConnRef::Id(id);
        }
        match s.split_once('/') {
            Some((w, n)) => ConnRef::Name {
                workspace: w.to_string(),
                name: n.to_string(),
            },
            None => ConnRef::Name {
                workspace: DEFAULT_WORKSPACE.to_string(),
                name: s.to_string(),
            },
        }
    }
}

impl std::str::FromStr for ConnRef {
    type Err = std::convert::Infallible;
    fn from_str(s: &str) -> Result<Self, Self::Err> {
        Ok(ConnRef::parse(s))
    }
}

impl std::fmt::Display for ConnRef {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            ConnRef::Id(id) => write!(f, "{id}"),
            ConnRef::Name { workspace, name } => write!(f, "{workspace}/{name}"),
        }
    }
}

/// Checks a caller-given name (connection, workspace, organization, key): see
/// [`jiragate_jira::check_name`]. A refusal is a validation error naming the field.
pub fn check_name(field: &str, value: &str) -> Result<String, EngineError> {
    jiragate_jira::check_name(field, value).map_err(|e| EngineError::Validation {
        field: e.field,
        message: e.message,
    })
}

pub use jiragate_jira::quote;
pub use jiragate_jira::text::is_forbidden_char;

/// The one door of jiragate: every front end (HTTP API, MCP, CLI) reaches storage, credentials,
/// the catalog and Jira only through the operations of this type, which decide authorization
/// (see [`Actor`]) and write the audit events of state changes.
#[derive(Clone)]
pub struct Engine {
    pub(crate) store: Store,
    pub(crate) auth: AuthService,
    pub(crate) catalog: Arc<Catalog>,
    pub(crate) jira: JiraClient,
    pub default_org: OrgId,
    /// Single-use tickets of the browser's site-choice page (see [`oauth`]).
    pub(crate) site_choices: Arc<oauth::SiteChoiceTickets>,
    /// Base of `/ex/jira/{cloudId}` (Atlassian's API gateway or the simulator).
    pub(crate) api_url: String,
    /// Recently authenticated keys and resolved connections (see [`hot_cache`]).
    pub(crate) hot: Arc<hot_cache::HotCache>,
    /// Tells listeners (MCP resource subscriptions) that a webhook event was stored.
    pub(crate) webhook_events: webhooks::EventBus,
}

impl Engine {
    /// Opens (and on first run creates) everything jiragate keeps: database, master key, default
    /// organization and its admin key.
    pub async fn open(cfg: EngineConfig) -> Result<(Engine, Bootstrap), EngineError> {
        let mut boot = Bootstrap::default();
        ensure_private_dir(&cfg.data_dir)?;
        let db_url = cfg
            .database_url
            .clone()
            .unwrap_or_else(|| format!("sqlite://{}", cfg.data_dir.join("jiragate.db").display()));

        let store = Store::connect(&db_url)
            .await
            .map_err(|e| EngineError::Unavailable(e.to_string()))?;
        if cfg.migrate {
            store
                .migrate()
                .await
                .map_err(|e| EngineError::Internal(e.to_string()))?;
        } else if store.migrations_pending().await? {
            return Err(EngineError::Unavailable(
                "the database schema is behind this binary; run `jiragate migrate`".into(),
            ));
        }
        // A database that already has a master key's check record and no key to go with it:
        // refuse before generating (and writing) a new, wrong master.key.
        if cfg.master_key.is_none()
            && !cfg.data_dir.join("master.key").exists()
            && store.get_key_check().await?.is_some()
        {
            return Err(EngineError::Unavailable(format!(
                "{} does not exist, but the database was set up with a master key: restore master.key from your backup (or set JIRAGATE_MASTER_KEY); nothing was written",
                cfg.data_dir.join("master.key").display()
            )));
        }
        let mut key_file = None;
        let master = match &cfg.master_key {
            Some(b64) => MasterKey::from_base64(b64.expose_secret())
                .map_err(|e| EngineError::config(format!("JIRAGATE_MASTER_KEY: {e}")))?,
            None => {
                let (key, created) = MasterKey::load_or_create(&cfg.data_dir).map_err(|e| {
                    EngineError::config(format!(
                        "master key in {}: {e}; check the file (or set JIRAGATE_MASTER_KEY)",
                        cfg.data_dir.display()
                    ))
                })?;
                boot.master_key_created = created;
                boot.master_key_path = Some(cfg.data_dir.join("master.key"));
                key_file = boot.master_key_path.clone();
                key
            }
        };

        let keyring = Keyring::open_with_key_file(store.clone(), master, key_file).await?;
        let mut auth_cfg =
            AuthConfig::new(cfg.endpoints.clone(), cfg.public_url.trim_end_matches('/'));
        auth_cfg.allowed_upstream_hosts = cfg.allowed_upstream_hosts.clone();
        if let Some(id) = cfg
            .instance_id
            .as_deref()
            .map(str::trim)
            .filter(|s| !s.is_empty())
        {
            auth_cfg.instance_id = check_name("JIRAGATE_INSTANCE_ID", id)?;
        }
        let policy = auth_cfg.upstream_policy().map_err(|e| {
            EngineError::validation(
                "upstream configuration",
                format!("{e}; check JIRAGATE_ATLASSIAN_* and JIRAGATE_ALLOWED_UPSTREAM_HOSTS"),
            )
        })?;
        // Instances sharing PostgreSQL share Jira's rate-limit holds (see [`rate_holds`]).
        let hold_board = store.is_shared().then(|| {
            Arc::new(rate_holds::DbHoldBoard {
                store: store.clone(),
            }) as Arc<dyn jiragate_jira::HoldBoard>
        });
        let jira = JiraClient::new(ClientConfig {
            upstream_policy: Some(policy),
            max_queued_per_connection: cfg.admission.max_queued_per_connection,
            max_queue_wait: cfg.admission.max_queue_wait,
            hold_board,
            ..ClientConfig::default()
        });
        let auth = AuthService::new(store.clone(), keyring, jira.clone(), auth_cfg);

        let (default_org, created) = ensure_default_org(&store).await?;
        let engine = Engine {
            store,
            auth,
            catalog: Arc::new(Catalog::new()),
            jira,
            default_org,
            site_choices: Arc::default(),
            api_url: cfg.endpoints.api_url.clone(),
            hot: Arc::default(),
            webhook_events: webhooks::EventBus::default(),
        };
        if created && cfg.bootstrap_admin_key {
            let (_, key) = engine
                .create_api_key(&engine.default_org, "admin", &[ApiScope::Admin], true)
                .await?;
            let path = cfg.data_dir.join("admin.key");
            write_private_file(&path, key.expose_secret().as_bytes())?;
            boot.admin_key_path = Some(path);
        }
        if cfg.background {
            engine.spawn_background();
        }
        Ok((engine, boot))
    }

    /// Starts the background work (proactive refresh, keep-alive, scheduled health checks, and
    /// applying rate-limit holds published by other instances); the caller owns the handle so
    /// a graceful shutdown can stop it: aborting it stops all of them.
    pub fn spawn_background(&self) -> tokio::task::JoinHandle<()> {
        let tasks = [
            self.auth.spawn_background(),
            tokio::spawn(rate_holds::apply_shared_holds(
                self.store.clone(),
                self.jira.clone(),
            )),
        ];
        tokio::spawn(async move {
            let _stop_with_me = tasks.map(AbortOnDrop);
            std::future::pending::<()>().await
        })
    }
}

/// Aborts a task when dropped (a parent task's cancellation reaches its children).
struct AbortOnDrop(tokio::task::JoinHandle<()>);

impl Drop for AbortOnDrop {
    fn drop(&mut self) {
        self.0.abort();
    }
}

pub(crate) fn not_found_as_none<T>(
    e: jiragate_store::StoreError,
) -> Result<Option<T>, EngineError> {
    if e.is_not_found() {
        Ok(None)
    } else {
        Err(e.into())
    }
}

async fn ensure_default_org(store: &Store) -> Result<(OrgId, bool), EngineError> {
    if let Some(o) = store.get_organization_by_name(DEFAULT_ORG).await? {
        return Ok((o.id, false));
    }
    match store.create_organization(DEFAULT_ORG).await {
        Ok(o) => Ok((o.id, true)),
        // Another instance created it first (several `serve` on one PostgreSQL).
        Err(e)
            if e.is_conflict() || matches!(e, jiragate_store::StoreError::AlreadyExists { .. }) =>
        {
            let o = store
                .get_organization_by_name(DEFAULT_ORG)
                .await?
                .ok_or_else(|| EngineError::Internal("default organization vanished".into()))?;
            Ok((o.id, false))
        }
        Err(e) => Err(e.into()),
    }
}

fn ensure_private_dir(dir: &Path) -> Result<(), EngineError> {
    std::fs::create_dir_all(dir).map_err(|e| {
        EngineError::config(format!(
            "cannot create the data dir {}: {e}; set --data-dir / JIRAGATE_DATA_DIR to a writable directory",
            dir.display()
        ))
    })?;
    #[cfg(unix)]
    {
        use std::os::unix::fs::PermissionsExt;
        let _ = std::fs::set_permissions(dir, std::fs::Permissions::from_mode(0o700));
    }
    Ok(())
}

/// Writes a file readable only by its owner (created with 0600, never widened).
pub fn write_private_file(path: &Path, bytes: &[u8]) -> Result<(), EngineError> {
    use std::io::Write;
    let mut opts = std::fs::OpenOptions::new();
    opts.write(true).create(true).truncate(true);
    #[cfg(unix)]
    {
        use std::os::unix::fs::OpenOptionsExt;
        opts.mode(0o600);
    }
    let mut f = opts
        .open(path)
        .map_err(|e| EngineError::config(format!("cannot write {}: {e}", path.display())))?;
    f.write_all(bytes)
        .and_then(|_| f.write_all(b"\n"))
        .map_err(|e| EngineError::config(format!("cannot write {}: {e}", path.display())))?;
    Ok(())
}
