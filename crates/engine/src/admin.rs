//! Operator and operational work: readiness and metrics for the HTTP API, database migrations,
//! master-key rotation and the probes of `jiragate doctor`. The functions that take an
//! [`EngineConfig`] run without opening an [`Engine`] (the database may be behind, the key
//! may be missing: that is what they find out or fix).

use std::path::PathBuf;

use jiragate_auth::{Keyring, RetireReport, TokenStats};
use jiragate_store::{ConnectionStatus, Store};
use jiragate_vault::MasterKey;
use secrecy::ExposeSecret;

use crate::{Engine, EngineConfig, EngineError, write_private_file};

impl EngineConfig {
    /// The database URL: the configured one, or the embedded SQLite file in the data dir.
    pub fn database_url(&self) -> String {
        self.database_url
            .clone()
            .unwrap_or_else(|| format!("sqlite://{}", self.data_dir.join("jiragate.db").display()))
    }
}

/// Whether this instance can serve requests.
#[derive(Debug)]
pub enum Readiness {
    Ready,
    DatabaseUnreachable(String),
    MigrationsPending,
    MigrationStateUnknown(String),
}

impl Engine {
    /// The database answers and every migration is applied.
    pub async fn readiness(&self) -> Readiness {
        if let Err(e) = self.store.ping().await {
            return Readiness::DatabaseUnreachable(e.to_string());
        }
        match self.store.migrations_pending().await {
            Ok(false) => Readiness::Ready,
            Ok(true) => Readiness::MigrationsPending,
            Err(e) => Readiness::MigrationStateUnknown(e.to_string()),
        }
    }

    /// The status of every connection of every organization (for the health gauge).
    pub async fn connection_statuses(&self) -> Result<Vec<ConnectionStatus>, EngineError> {
        let mut out = Vec::new();
        for org in self.store.list_organizations().await? {
            out.extend(
                self.store
                    .list_connections(&org.id, None)
                    .await?
                    .into_iter()
                    .map(|c| c.status),
            );
        }
        Ok(out)
    }

    /// This instance's token-cache counters.
    pub fn token_stats(&self) -> TokenStats {
        self.auth.tokens().stats()
    }
}

/// Applies the database migrations; returns the backend's name (`sqlite`, `postgres`).
pub async fn migrate_database(cfg: &EngineConfig) -> Result<&'static str, EngineError> {
    std::fs::create_dir_all(&cfg.data_dir)
        .map_err(|e| {
            EngineError::config(format!(
                "cannot create the data dir {}: {e}; set --data-dir / JIRAGATE_DATA_DIR to a writable directory",
                cfg.data_dir.display()
            ))
        })?;
    let store = Store::connect(&cfg.database_url()).await?;
    store.migrate().await?;
    Ok(store.backend().as_str())
}

/// A master-key rotation that did not happen.
#[derive(Debug, thiserror::Error)]
pub enum MasterKeyError {
    /// The new key is not base64 of 32 bytes.
    #[error("{0}")]
    InvalidNewKey(String),
    /// `JIRAGATE_MASTER_KEY` (the current key) is not base64 of 32 bytes.
    #[error("{0}")]
    InvalidCurrentKey(String),
    /// The current key file could not be read.
    #[error("{0}")]
    KeyFile(String),
    #[error(transparent)]
    Engine(#[from] EngineError),
}

/// What a master-key rotation did.
#[derive(Debug)]
pub struct MasterKeyRotation {
    pub data_keys_rewrapped: usize,
    pub new_data_keys: usize,
    pub secrets_resealed: usize,
    /// The embedded default keeps its key in the data dir: the file was switched and the
    /// previous key kept here. `None` when the key comes from `JIRAGATE_MASTER_KEY`, which the
    /// operator must change.
    pub previous_key_file: Option<PathBuf>,
}

/// Rewraps every data key under `new_key` (base64 of 32 bytes); with `reencrypt`, also moves
/// every secret to a fresh data key.
pub async fn rotate_master_key(
    cfg: &EngineConfig,
    new_key: &str,
    reencrypt: bool,
) -> Result<MasterKeyRotation, MasterKeyError> {
    let new = MasterKey::from_base64(new_key.trim())
        .map_err(|e| MasterKeyError::InvalidNewKey(e.to_string()))?;
    let old = match &cfg.master_key {
        Some(b64) => MasterKey::from_base64(b64.expose_secret())
            .map_err(|e| MasterKeyError::InvalidCurrentKey(e.to_string()))?,
        None => {
            MasterKey::load_or_create(&cfg.data_dir)
                .map_err(|e| MasterKeyError::KeyFile(e.to_string()))?
                .0
        }
    };
    let store = Store::connect(&cfg.database_url())
        .await
        .map_err(EngineError::from)?;
    store.migrate().await.map_err(EngineError::from)?;
    let report = Keyring::rotate_master(&store, &old, &new, reencrypt)
        .await
        .map_err(EngineError::from)?;
    let previous_key_file = if cfg.master_key.is_none() {
        // Switch the file atomically (a running instance re-reads it when it meets a data key
        // wrapped by the new key), keeping the previous key next to it until `retire`.
        let path = cfg.data_dir.join("master.key");
        let backup = cfg.data_dir.join("master.key.previous");
        let staged = cfg.data_dir.join("master.key.new");
        write_private_file(&backup, old.to_base64().expose_secret().as_bytes())?;
        write_private_file(&staged, new.to_base64().expose_secret().as_bytes())?;
        std::fs::rename(&staged, &path)
            .map_err(|e| EngineError::config(format!("cannot replace {}: {e}", path.display())))?;
        Some(backup)
    } else {
        None
    };
    Ok(MasterKeyRotation {
        data_keys_rewrapped: report.data_keys_rewrapped,
        new_data_keys: report.new_data_keys,
        secrets_resealed: report.secrets_resealed,
        previous_key_file,
    })
}

/// `master-key retire`: forgets the master key the last rotation replaced, once no instance
/// reported using it for three report intervals (90 s). Run with the current (new) key.
pub async fn retire_master_key(cfg: &EngineConfig) -> Result<RetireReport, MasterKeyError> {
    let current = match &cfg.master_key {
        Some(b64) => MasterKey::from_base64(b64.expose_secret())
            .map_err(|e| MasterKeyError::InvalidCurrentKey(e.to_string()))?,
        None => MasterKey::from_file(&cfg.data_dir.join("master.key"))
            .map_err(|e| MasterKeyError::KeyFile(e.to_string()))?,
    };
    let store = Store::connect(&cfg.database_url())
        .await
        .map_err(EngineError::from)?;
    store.migrate().await.map_err(EngineError::from)?;
    let report = Keyring::retire_previous_master(&store, &current, RETIRE_WINDOW)
        .await
        .map_err(EngineError::from)?;
    Ok(report)
}

/// How long after an instance's last report on the previous master key `retire` still waits.
pub const RETIRE_WINDOW: std::time::Duration =
    std::time::Duration::from_secs(3 * jiragate_auth::KEY_REPORT_INTERVAL.as_secs());

impl Engine {
    /// This process's name in the master-key reports: `<instance_id>#<boot_id>`.
    pub fn instance_name(&self) -> String {
        let cfg = self.auth.config();
        format!("{}#{}", cfg.instance_id, cfg.boot_id)
    }

    /// Reports the master key this instance holds (serving instances, every
    /// [`jiragate_auth::KEY_REPORT_INTERVAL`]; `master-key retire` waits for them).
    pub async fn report_master_key(&self) -> Result<(), EngineError> {
        Ok(self
            .auth
            .keyring()
            .report_in_use(&self.instance_name())
            .await?)
    }

    /// Reports now and then every interval until the handle is aborted.
    pub fn spawn_master_key_reports(&self) -> tokio::task::JoinHandle<()> {
        let engine = self.clone();
        tokio::spawn(async move {
            loop {
                if let Err(e) = engine.report_master_key().await {
                    tracing::warn!(error = %e, "could not report the master key in use");
                }
                tokio::time::sleep(jiragate_auth::KEY_REPORT_INTERVAL).await;
            }
        })
    }

    /// A stopping instance withdraws its report.
    pub async fn withdraw_master_key_report(&self) {
        if let Err(e) = self
            .auth
            .keyring()
            .withdraw_report(&self.instance_name())
            .await
        {
            tracing::warn!(error = %e, "could not withdraw the master key report");
        }
    }
}

/// Where the master key comes from, and whether it is usable (`jiragate doctor`).
#[derive(Debug)]
pub enum MasterKeyProbe {
    /// `JIRAGATE_MASTER_KEY` holds a well-formed key.
    FromEnv,
    /// `JIRAGATE_MASTER_KEY` is set but not base64 of 32 bytes.
    InvalidEnv(String),
    /// The data dir's key file exists.
    File(PathBuf),
    /// No key yet: `serve` creates this file on first start.
    Missing(PathBuf),
}

pub fn probe_master_key(cfg: &EngineConfig) -> MasterKeyProbe {
    match &cfg.master_key {
        Some(k) => match MasterKey::from_base64(k.expose_secret()) {
            Ok(_) => MasterKeyProbe::FromEnv,
            Err(e) => MasterKeyProbe::InvalidEnv(e.to_string()),
        },
        None => {
            let p = cfg.data_dir.join("master.key");
            if p.exists() {
                MasterKeyProbe::File(p)
            } else {
                MasterKeyProbe::Missing(p)
            }
        }
    }
}

/// Whether the database answers and its schema is current (`jiragate doctor`).
#[derive(Debug)]
pub enum DatabaseProbe {
    UpToDate {
        backend: &'static str,
    },
    MigrationsPending,
    /// Connected, but the migration state could not be read.
    Failed(String),
    Unreachable(String),
}

pub async fn probe_database(cfg: &EngineConfig) -> DatabaseProbe {
    match Store::connect(&cfg.database_url()).await {
        Ok(store) => match store.migrations_pending().await {
            Ok(false) => DatabaseProbe::UpToDate {
                backend: store.backend().as_str(),
            },
            Ok(true) => DatabaseProbe::MigrationsPending,
            Err(e) => DatabaseProbe::Failed(e.to_string()),
        },
        Err(e) => DatabaseProbe::Unreachable(e.to_string()),
    }
}
