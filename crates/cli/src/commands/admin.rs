//! Operator commands: API keys, OAuth clients, master-key rotation, migrations.

use std::io::{IsTerminal, Read};

use jiragate_auth::Keyring;
use jiragate_engine::{Actor, ApiScope, EngineError};
use jiragate_store::{ApiKeyId, OAuthClientRecordId, Store};
use jiragate_vault::MasterKey;
use secrecy::{ExposeSecret, SecretString};
use serde_json::{Value, json};

use crate::cli::{Global, KeysCmd, MasterKeyCmd, OauthClientsCmd, OutputFormat};
use crate::context;
use crate::error::CliError;
use crate::output::Printer;

fn to_value<T: serde::Serialize>(v: &T) -> Value {
    serde_json::to_value(v).unwrap_or_default()
}

fn store_err(e: jiragate_store::StoreError) -> CliError {
    EngineError::from(e).into()
}

pub async fn keys(g: &Global, cmd: KeysCmd) -> Result<(), CliError> {
    let out = Printer::new(g.output);
    let remote = context::remote(g)?;
    match cmd {
        KeysCmd::Create {
            name,
            scopes,
            platform,
        } => {
            let parsed = scopes
                .iter()
                .map(|s| ApiScope::parse(s).ok_or_else(|| CliError::usage(format!("unknown scope '{s}': use admin, connectors:write, execute, proxy, credentials:read"))))
                .collect::<Result<Vec<_>, _>>()?;
            let v = match &remote {
                Some(rc) => {
                    rc.post(
                        "/api/v1/keys",
                        &json!({"name": name, "scopes": scopes, "platform": platform}),
                    )
                    .await?
                }
                None => {
                    let e = context::local(g).await?;
                    let (rec, key) = e
                        .create_api_key_as(
                            Actor::Operator,
                            &e.default_org,
                            &name,
                            &parsed,
                            platform,
                        )
                        .await?;
                    let mut v = to_value(&rec);
                    v["key"] = Value::String(key.expose_secret().to_string());
                    v
                }
            };
            if g.output == OutputFormat::Table {
                println!(
                    "{}",
                    v.get("key").and_then(Value::as_str).unwrap_or_default()
                );
                eprintln!(
                    "this key is shown once; store it now (id {})",
                    v.get("id").and_then(Value::as_str).unwrap_or_default()
                );
            } else {
                out.value(&v, &[]);
            }
            Ok(())
        }
        KeysCmd::List => {
            let v = match &remote {
                Some(rc) => rc.get("/api/v1/keys").await?,
                None => {
                    let e = context::local(g).await?;
                    to_value(
                        &e.store
                            .list_api_keys(&e.default_org)
                            .await
                            .map_err(store_err)?,
                    )
                }
            };
            out.value(
                &v,
                &[
                    "id",
                    "name",
                    "prefix",
                    "scopes",
                    "platform",
                    "created_at",
                    "revoked_at",
                    "last_used_at",
                ],
            );
            Ok(())
        }
        KeysCmd::Revoke { id } => {
            match &remote {
                Some(rc) => {
                    rc.delete(&format!("/api/v1/keys/{id}")).await?;
                }
                None => {
                    let e = context::local(g).await?;
                    let kid: ApiKeyId = id
                        .parse()
                        .map_err(|_| CliError::not_found(format!("no API key '{id}'")))?;
                    e.revoke_api_key(Actor::Operator, &e.default_org, &kid)
                        .await?;
                }
            }
            out.note("revoked");
            Ok(())
        }
    }
}

fn read_client_secret(from_stdin: bool) -> Result<SecretString, CliError> {
    if from_stdin {
        let mut s = String::new();
        std::io::stdin()
            .read_to_string(&mut s)
            .map_err(|e| CliError::usage(format!("reading the secret: {e}")))?;
        if !s.trim().is_empty() {
            return Ok(SecretString::from(s.trim().to_string()));
        }
    }
    if let Some(s) = context::secret_env("JIRAGATE_OAUTH_CLIENT_SECRET")? {
        return Ok(s);
    }
    if std::io::stdin().is_terminal() {
        let s = rpassword::prompt_password("OAuth client secret: ")
            .map_err(|e| CliError::usage(e.to_string()))?;
        if !s.trim().is_empty() {
            return Ok(SecretString::from(s.trim().to_string()));
        }
    }
    Err(CliError::usage(
        "no client secret: use --client-secret-stdin, JIRAGATE_OAUTH_CLIENT_SECRET(_FILE), or a terminal prompt",
    ))
}

pub async fn oauth_clients(g: &Global, cmd: OauthClientsCmd) -> Result<(), CliError> {
    let out = Printer::new(g.output);
    let remote = context::remote(g)?;
    let cols = ["id", "client_id", "redirect_uri", "scopes", "created_at"];
    match cmd {
        OauthClientsCmd::Add {
            client_id,
            client_secret_stdin,
            scopes,
        } => {
            let secret = read_client_secret(client_secret_stdin)?;
            let v = match &remote {
                Some(rc) => {
                    rc.post(
                        "/api/v1/oauth/clients",
                        &json!({"client_id": client_id, "client_secret": secret.expose_secret(), "scopes": scopes}),
                    )
                    .await?
                }
                None => {
                    let e = context::local(g).await?;
                    let rec = e.auth.create_oauth_client(&e.default_org, &client_id, secret, scopes).await.map_err(EngineError::from)?;
                    to_value(&rec)
                }
            };
            out.value(&v, &cols);
            if g.output == OutputFormat::Table {
                eprintln!(
                    "register {} as a callback URL in the Atlassian developer console",
                    v.get("redirect_uri")
                        .and_then(Value::as_str)
                        .unwrap_or_default()
                );
            }
            Ok(())
        }
        OauthClientsCmd::List => {
            let v = match &remote {
                Some(rc) => rc.get("/api/v1/oauth/clients").await?,
                None => {
                    let e = context::local(g).await?;
                    to_value(
                        &e.store
                            .list_oauth_clients(&e.default_org)
                            .await
                            .map_err(store_err)?,
                    )
                }
            };
            out.value(&v, &cols);
            Ok(())
        }
        OauthClientsCmd::Delete { id } => {
            match &remote {
                Some(rc) => {
                    rc.delete(&format!("/api/v1/oauth/clients/{id}")).await?;
                }
                None => {
                    let e = context::local(g).await?;
                    let cid: OAuthClientRecordId = id
                        .parse()
                        .map_err(|_| CliError::not_found(format!("no OAuth client '{id}'")))?;
                    e.store
                        .delete_oauth_client(&e.default_org, &cid)
                        .await
                        .map_err(store_err)?;
                }
            }
            out.note("deleted");
            Ok(())
        }
    }
}

pub async fn master_key(g: &Global, cmd: MasterKeyCmd) -> Result<(), CliError> {
    let MasterKeyCmd::Rotate {
        new_key_file,
        reencrypt,
    } = cmd;
    let out = Printer::new(g.output);
    let text = std::fs::read_to_string(&new_key_file)
        .map_err(|e| CliError::usage(format!("--new-key-file {}: {e}", new_key_file.display())))?;
    let new = MasterKey::from_base64(text.trim()).map_err(|e| {
        CliError::usage(format!(
            "--new-key-file {}: {e} (expected base64 of 32 bytes)",
            new_key_file.display()
        ))
    })?;
    let cfg = context::engine_config(g, None, true, false)?;
    let old = match &cfg.master_key {
        Some(b64) => MasterKey::from_base64(b64.expose_secret())
            .map_err(|e| CliError::usage(format!("JIRAGATE_MASTER_KEY: {e}")))?,
        None => {
            MasterKey::load_or_create(&g.data_dir)
                .map_err(|e| CliError::failure(e.to_string()))?
                .0
        }
    };
    let url = cfg
        .database_url
        .clone()
        .unwrap_or_else(|| format!("sqlite://{}", g.data_dir.join("jiragate.db").display()));
    let store = Store::connect(&url).await.map_err(store_err)?;
    store.migrate().await.map_err(store_err)?;
    let report = Keyring::rotate_master(&store, &old, &new, reencrypt)
        .await
        .map_err(EngineError::from)?;
    // The embedded default keeps its key in the data dir: switch the file too.
    if cfg.master_key.is_none() {
        let path = g.data_dir.join("master.key");
        let backup = g.data_dir.join("master.key.previous");
        let _ = std::fs::rename(&path, &backup);
        jiragate_engine::write_private_file(&path, new.to_base64().expose_secret().as_bytes())?;
        eprintln!(
            "master.key replaced; the previous key is in {} until you delete it",
            backup.display()
        );
    } else {
        eprintln!("set JIRAGATE_MASTER_KEY to the new key before the next start");
    }
    let v = json!({
        "data_keys_rewrapped": report.data_keys_rewrapped,
        "new_data_keys": report.new_data_keys,
        "secrets_resealed": report.secrets_resealed,
    });
    out.value(
        &v,
        &["data_keys_rewrapped", "new_data_keys", "secrets_resealed"],
    );
    Ok(())
}

pub async fn migrate(g: &Global) -> Result<(), CliError> {
    let cfg = context::engine_config(g, None, true, false)?;
    let url = cfg
        .database_url
        .clone()
        .unwrap_or_else(|| format!("sqlite://{}", g.data_dir.join("jiragate.db").display()));
    std::fs::create_dir_all(&g.data_dir)
        .map_err(|e| CliError::failure(format!("{}: {e}", g.data_dir.display())))?;
    let store = Store::connect(&url).await.map_err(store_err)?;
    store.migrate().await.map_err(store_err)?;
    println!("migrations applied ({})", store.backend().as_str());
    Ok(())
}
