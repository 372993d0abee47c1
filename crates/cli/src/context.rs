//! Turns the global flags into what a command needs: a local engine on the data dir or database,
//! or a client for a remote server.

use std::path::Path;

use jiragate_engine::model::AtlassianEndpoints;
use jiragate_engine::{Engine, EngineConfig};
use secrecy::SecretString;

use crate::cli::Global;
use crate::error::CliError;
use crate::remote::RemoteClient;

/// Reads `NAME`, or the file named by `NAME_FILE` (trailing newline trimmed).
pub fn secret_env(name: &str) -> Result<Option<SecretString>, CliError> {
    if let Ok(v) = std::env::var(name)
        && !v.trim().is_empty()
    {
        return Ok(Some(SecretString::from(v.trim().to_string())));
    }
    let file_var = format!("{name}_FILE");
    if let Ok(path) = std::env::var(&file_var) {
        let text = std::fs::read_to_string(Path::new(&path))
            .map_err(|e| CliError::usage(format!("{file_var}={path}: cannot read: {e}")))?;
        return Ok(Some(SecretString::from(text.trim().to_string())));
    }
    Ok(None)
}

/// `--database-url` / `JIRAGATE_DATABASE_URL`, or the file named by `JIRAGATE_DATABASE_URL_FILE`
/// (it holds a password, like the other secrets).
pub fn database_url(g: &Global) -> Result<Option<String>, CliError> {
    if let Some(u) = g.database_url.as_deref().filter(|u| !u.trim().is_empty()) {
        return Ok(Some(u.trim().to_string()));
    }
    if let Ok(path) = std::env::var("JIRAGATE_DATABASE_URL_FILE") {
        let text = std::fs::read_to_string(Path::new(&path)).map_err(|e| {
            CliError::usage(format!(
                "JIRAGATE_DATABASE_URL_FILE={path}: cannot read: {e}"
            ))
        })?;
        let url = text.trim().to_string();
        if url.is_empty() {
            return Err(CliError::usage(format!(
                "JIRAGATE_DATABASE_URL_FILE={path}: the file is empty"
            )));
        }
        return Ok(Some(url));
    }
    Ok(None)
}

pub fn endpoints(g: &Global) -> AtlassianEndpoints {
    AtlassianEndpoints {
        auth_url: g.atlassian_auth_url.trim_end_matches('/').to_string(),
        api_url: g.atlassian_api_url.trim_end_matches('/').to_string(),
        site_url_template: g.jira_site_url.trim_end_matches('/').to_string(),
    }
}

pub fn engine_config(
    g: &Global,
    listen: Option<&str>,
    migrate: bool,
    background: bool,
) -> Result<EngineConfig, CliError> {
    let public_url = g
        .public_url
        .clone()
        .unwrap_or_else(|| format!("http://{}", listen.unwrap_or("127.0.0.1:8080")));
    Ok(EngineConfig {
        data_dir: g.data_dir.clone(),
        database_url: database_url(g)?,
        master_key: secret_env("JIRAGATE_MASTER_KEY")?,
        public_url,
        endpoints: endpoints(g),
        allowed_upstream_hosts: g.allowed_upstream_hosts.clone(),
        instance_id: g.instance_id.clone(),
        migrate,
        background,
        bootstrap_admin_key: true,
        admission: Default::default(),
    })
}

/// Opens the local engine for one-shot commands (migrations applied, no background work).
pub async fn local(g: &Global) -> Result<Engine, CliError> {
    let (engine, boot) = Engine::open(engine_config(g, None, true, false)?).await?;
    if boot.master_key_created
        && let Some(p) = &boot.master_key_path
    {
        eprintln!(
            "note: generated a new master key at {} — back it up; without it the stored credentials cannot be read",
            p.display()
        );
    }
    Ok(engine)
}

pub fn remote(g: &Global) -> Result<Option<RemoteClient>, CliError> {
    let Some(server) = &g.server else {
        return Ok(None);
    };
    let key = secret_env("JIRAGATE_API_KEY")?.ok_or_else(|| {
        CliError::usage("remote mode (--server) needs JIRAGATE_API_KEY or JIRAGATE_API_KEY_FILE")
    })?;
    Ok(Some(RemoteClient::new(server, key)?))
}
