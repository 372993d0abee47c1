//! The shared core of every front end: opens the database and the key hierarchy, bootstraps the
//! default organization, and offers the operations that the HTTP API, the MCP server and the CLI
//! (local mode) all perform — so those three stay thin and agree on behaviour and errors.

mod error;
pub mod keys;

use std::path::{Path, PathBuf};
use std::sync::Arc;

use futures::stream::{BoxStream, StreamExt};
use jiragate_auth::{AtlassianEndpoints, AuthConfig, AuthService, Keyring};
use jiragate_catalog::{Catalog, ExecContext, ExecuteOutput};
use jiragate_jira::{ClientConfig, JiraClient};
use jiragate_store::{
    ApiKeyId, ApiKeyRecord, ApiType, AuthKind, Connection, ConnectionId, HealthCheck, NewApiKey,
    OrgId, Store,
};
use jiragate_vault::MasterKey;
use secrecy::{ExposeSecret, SecretString};
use serde_json::Value;

pub use error::EngineError;
pub use keys::ApiScope;

/// Name of the organization created on first start.
pub const DEFAULT_ORG: &str = "default";
/// Workspace used when a caller names none.
pub const DEFAULT_WORKSPACE: &str = "default";

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
    /// Apply migrations (otherwise fail when the schema is behind).
    pub migrate: bool,
    /// Run proactive refresh and scheduled health checks.
    pub background: bool,
    /// Write `<data_dir>/admin.key` when the database is new.
    pub bootstrap_admin_key: bool,
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

/// Who asks for an operation: the holder of an API key, or the operator on the host that holds
/// the data dir and the master key (the local CLI), who may do anything an installation allows.
#[derive(Debug, Clone, Copy)]
pub enum Actor<'a> {
    Key(&'a ApiKeyRecord),
    Operator,
}

impl Actor<'_> {
    pub fn is_platform(&self) -> bool {
        match self {
            Actor::Key(k) => k.platform,
            Actor::Operator => true,
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

#[derive(Clone)]
pub struct Engine {
    pub store: Store,
    pub auth: AuthService,
    pub catalog: Arc<Catalog>,
    pub jira: JiraClient,
    pub default_org: OrgId,
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

        let master = match &cfg.master_key {
            Some(b64) => MasterKey::from_base64(b64.expose_secret())
                .map_err(|e| EngineError::validation("JIRAGATE_MASTER_KEY", e.to_string()))?,
            None => {
                let (key, created) = MasterKey::load_or_create(&cfg.data_dir).map_err(|e| {
                    EngineError::Internal(format!("master key in {}: {e}", cfg.data_dir.display()))
                })?;
                boot.master_key_created = created;
                boot.master_key_path = Some(cfg.data_dir.join("master.key"));
                key
            }
        };

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
        let keyring = Keyring::open_or_init(store.clone(), master).await?;
        let mut auth_cfg =
            AuthConfig::new(cfg.endpoints.clone(), cfg.public_url.trim_end_matches('/'));
        auth_cfg.allowed_upstream_hosts = cfg.allowed_upstream_hosts.clone();
        let policy = auth_cfg.upstream_policy().map_err(|e| {
            EngineError::validation(
                "upstream configuration",
                format!("{e}; check JIRAGATE_ATLASSIAN_* and JIRAGATE_ALLOWED_UPSTREAM_HOSTS"),
            )
        })?;
        let jira = JiraClient::new(ClientConfig {
            upstream_policy: Some(policy),
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
            engine.auth.spawn_background();
        }
        Ok((engine, boot))
    }

    /// Creates an API key for `actor`: only a platform key or the operator on the host may
    /// mint a platform key. The key is returned once and stored only as a hash.
    pub async fn create_api_key_as(
        &self,
        actor: Actor<'_>,
        org: &OrgId,
        name: &str,
        scopes: &[ApiScope],
        platform: bool,
    ) -> Result<(ApiKeyRecord, SecretString), EngineError> {
        if platform && !actor.is_platform() {
            return Err(EngineError::Forbidden {
                needed: "platform (only a platform key, or `jiragate keys create --platform` on the host, may create a platform key)".into(),
            });
        }
        self.create_api_key(org, name, scopes, platform).await
    }

    /// Revokes an API key for `actor`. A platform key can be revoked only by a platform key or
    /// the operator, and the last active platform key cannot be revoked at all (organization
    /// management would be lost for good).
    pub async fn revoke_api_key(
        &self,
        actor: Actor<'_>,
        org: &OrgId,
        id: &ApiKeyId,
    ) -> Result<ApiKeyRecord, EngineError> {
        let target =
            self.store
                .get_api_key(org, id)
                .await?
                .ok_or_else(|| EngineError::NotFound {
                    what: "API key",
                    id: id.to_string(),
                })?;
        if target.platform && !actor.is_platform() {
            return Err(EngineError::Forbidden {
                needed: "platform (only a platform key may revoke a platform key)".into(),
            });
        }
        self.store
            .revoke_api_key_keeping_platform(org, id)
            .await?
            .ok_or_else(|| EngineError::Conflict {
                message: format!(
                    "API key {id} is the last active platform key and cannot be revoked; create another first with `jiragate keys create --platform` on the host that holds the data dir"
                ),
            })
    }

    /// Creates an API key; the key is returned once and stored only as a hash.
    pub async fn create_api_key(
        &self,
        org: &OrgId,
        name: &str,
        scopes: &[ApiScope],
        platform: bool,
    ) -> Result<(ApiKeyRecord, SecretString), EngineError> {
        let name = check_name("name", name)?;
        let name = name.as_str();
        let (key, key_hash, prefix) = keys::generate();
        let rec = self
            .store
            .create_api_key(
                org,
                NewApiKey {
                    name: name.to_string(),
                    prefix,
                    key_hash,
                    scopes: scopes.iter().map(|s| s.as_str().to_string()).collect(),
                    platform,
                },
            )
            .await?;
        Ok((rec, key))
    }

    /// The key record for a presented bearer key, or `Unauthorized`.
    pub async fn authenticate(&self, presented: &str) -> Result<ApiKeyRecord, EngineError> {
        let presented = presented.trim();
        if !presented.starts_with(keys::KEY_PREFIX) || presented.len() > 200 {
            return Err(EngineError::Unauthorized);
        }
        let h = keys::hash(presented);
        let rec = self
            .store
            .find_api_key_by_hash(&h)
            .await?
            .ok_or(EngineError::Unauthorized)?;
        if rec.revoked_at.is_some() {
            return Err(EngineError::Unauthorized);
        }
        Ok(rec)
    }

    pub async fn resolve(&self, org: &OrgId, r: &ConnRef) -> Result<Connection, EngineError> {
        let found = match r {
            ConnRef::Id(id) => self
                .store
                .get_connection(org, id)
                .await
                .or_else(not_found_as_none)?,
            ConnRef::Name { workspace, name } => {
                self.store.find_connection(org, workspace, name).await?
            }
        };
        found.ok_or_else(|| EngineError::NotFound {
            what: "connection",
            id: r.to_string(),
        })
    }

    fn exec_context(conn: &Connection, read_only: bool) -> ExecContext {
        ExecContext {
            // API tokens carry the user's permissions, not OAuth scopes: nothing to compare.
            granted_scopes: match conn.auth_kind {
                AuthKind::OAuth2 => Some(conn.scopes.clone()),
                _ => None,
            },
            api_type: conn.api_type.as_str().to_string(),
            read_only,
        }
    }

    pub fn describe(&self, conn: &Connection, filter: Option<&str>) -> Value {
        let api = match conn.api_type {
            ApiType::ServiceManagement => "service_management",
            _ => "platform",
        };
        // One Jira Cloud credential reaches the platform, agile and service-management APIs of
        // its site, so every action is listed; each entity says which API it belongs to.
        let mut d = self.catalog.describe(None, filter);
        if let Value::Object(o) = &mut d {
            o.insert("connector_id".into(), Value::String(conn.id.to_string()));
            o.insert("name".into(), Value::String(conn.name.clone()));
            o.insert("api_type".into(), Value::String(api.into()));
        }
        d
    }

    pub async fn execute(
        &self,
        org: &OrgId,
        conn: &Connection,
        entity: &str,
        action: &str,
        params: Value,
        read_only: bool,
    ) -> Result<ExecuteOutput, EngineError> {
        let src = self.auth.token_source(org, conn);
        let ctx = Self::exec_context(conn, read_only);
        Ok(self
            .catalog
            .execute(&self.jira, src, &ctx, entity, action, params)
            .await?)
    }

    /// Every item of every page, one at a time (constant memory).
    pub fn execute_stream(
        &self,
        org: &OrgId,
        conn: &Connection,
        entity: &str,
        action: &str,
        params: Value,
        read_only: bool,
    ) -> Result<BoxStream<'static, Result<Value, EngineError>>, EngineError> {
        let src = self.auth.token_source(org, conn);
        let ctx = Self::exec_context(conn, read_only);
        let s = self
            .catalog
            .execute_stream(&self.jira, src, &ctx, entity, action, params)?;
        Ok(s.map(|r| r.map_err(EngineError::from)).boxed())
    }

    pub async fn check(&self, org: &OrgId, conn: &Connection) -> Result<HealthCheck, EngineError> {
        Ok(self.auth.check(org, &conn.id).await?)
    }
}

fn not_found_as_none<T>(e: jiragate_store::StoreError) -> Result<Option<T>, EngineError> {
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
        EngineError::Internal(format!("cannot create data dir {}: {e}", dir.display()))
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
        .map_err(|e| EngineError::Internal(format!("cannot write {}: {e}", path.display())))?;
    f.write_all(bytes)
        .and_then(|_| f.write_all(b"\n"))
        .map_err(|e| EngineError::Internal(format!("cannot write {}: {e}", path.display())))?;
    Ok(())
}
