//! Operator commands: API keys, OAuth clients, master-key rotation, migrations.

use std::io::{IsTerminal, Read};

use jiragate_engine::admin::{self, MasterKeyError};
use jiragate_engine::model::{ApiKeyId, OAuthClientRecordId};
use jiragate_engine::{Actor, ApiScope};
use secrecy::{ExposeSecret, SecretString};
use serde_json::{Value, json};

use crate::cli::{
    Global, KeysCmd, MasterKeyCmd, McpGrantsCmd, McpSettingsCmd, OauthClientsCmd, OutputFormat,
};
use crate::context;
use crate::error::CliError;
use crate::output::Printer;

fn to_value<T: serde::Serialize>(v: &T) -> Value {
    serde_json::to_value(v).unwrap_or_default()
}

/// An API key as the HTTP API shows it (`organization_id`), so both modes print one shape.
fn key_view(rec: &jiragate_engine::model::ApiKeyRecord) -> Value {
    let mut v = to_value(rec);
    if let Some(o) = v.as_object_mut()
        && let Some(org) = o.remove("org_id")
    {
        o.insert("organization_id".into(), org);
    }
    v
}

/// An OAuth client as the HTTP API shows it (no organization, never the secret).
fn oauth_client_view(rec: &jiragate_engine::model::OAuthClientRecord) -> Value {
    let mut v = to_value(rec);
    if let Some(o) = v.as_object_mut() {
        o.remove("org_id");
    }
    v
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
                .map(|s| {
                    ApiScope::parse(s).ok_or_else(|| {
                        CliError::usage(format!(
                            "unknown scope '{s}': use {}",
                            crate::cli::API_SCOPES_HELP
                        ))
                    })
                })
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
                    let mut v = key_view(&rec);
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
                Some(rc) => rc.get_list("/api/v1/keys").await?,
                None => {
                    let e = context::local(g).await?;
                    let keys = e.list_api_keys(Actor::Operator, &e.default_org).await?;
                    Value::Array(keys.iter().map(key_view).collect())
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

/// `jiragate mcp-grants list|revoke`, locally or against `--server`.
pub async fn mcp_grants(g: &Global, cmd: McpGrantsCmd) -> Result<(), CliError> {
    let out = Printer::new(g.output);
    let remote = context::remote(g)?;
    match cmd {
        McpGrantsCmd::List { connection } => {
            let v = match &remote {
                Some(rc) => {
                    let path = match &connection {
                        Some(c) => format!(
                            "/api/v1/mcp/grants?connection={}",
                            percent_encoding::utf8_percent_encode(
                                c,
                                percent_encoding::NON_ALPHANUMERIC
                            )
                        ),
                        None => "/api/v1/mcp/grants".to_owned(),
                    };
                    rc.get_list(&path).await?
                }
                None => {
                    let e = context::local(g).await?;
                    let reference = connection.as_deref().map(jiragate_engine::ConnRef::parse);
                    let grants = e
                        .list_mcp_grants(Actor::Operator, &e.default_org, reference.as_ref())
                        .await?;
                    to_value(&grants)
                }
            };
            out.value(
                &v,
                &[
                    "id",
                    "client_name",
                    "client_id",
                    "connection_id",
                    "scope",
                    "created_at",
                    "revoked_at",
                ],
            );
            Ok(())
        }
        McpGrantsCmd::Revoke { id } => {
            match &remote {
                Some(rc) => {
                    rc.delete(&format!(
                        "/api/v1/mcp/grants/{}",
                        percent_encoding::utf8_percent_encode(
                            &id,
                            percent_encoding::NON_ALPHANUMERIC
                        )
                    ))
                    .await?;
                }
                None => {
                    let e = context::local(g).await?;
                    e.revoke_mcp_grant(Actor::Operator, &e.default_org, &id)
                        .await?;
                }
            }
            out.note("revoked");
            Ok(())
        }
    }
}

/// `jiragate mcp-settings show|set`, locally or against `--server`.
pub async fn mcp_settings(g: &Global, cmd: McpSettingsCmd) -> Result<(), CliError> {
    use jiragate_engine::mcp_auth::{McpSettings, SignInMode};
    let out = Printer::new(g.output);
    let remote = context::remote(g)?;
    let v = match cmd {
        McpSettingsCmd::Show => match &remote {
            Some(rc) => rc.get("/api/v1/mcp/settings").await?,
            None => {
                let e = context::local(g).await?;
                to_value(&e.mcp_settings(Actor::Operator, &e.default_org).await?)
            }
        },
        McpSettingsCmd::Set {
            sign_in,
            oauth_client,
            subdomain,
        } => match &remote {
            Some(rc) => {
                rc.call(
                    reqwest::Method::PUT,
                    "/api/v1/mcp/settings",
                    Some(&serde_json::json!({"sign_in": sign_in,
                        "oauth_client_id": oauth_client, "subdomain": subdomain})),
                )
                .await?
            }
            None => {
                let e = context::local(g).await?;
                let sign_in = SignInMode::parse(&sign_in)
                    .ok_or_else(|| CliError::usage("--sign-in is console or atlassian"))?;
                let oauth_client_id = match oauth_client {
                    Some(id) => Some(id.parse().map_err(|_| {
                        CliError::usage(format!("{id:?} is not an OAuth client id"))
                    })?),
                    None => None,
                };
                let s = e
                    .set_mcp_settings(
                        Actor::Operator,
                        &e.default_org,
                        McpSettings {
                            sign_in,
                            oauth_client_id,
                            subdomain,
                        },
                    )
                    .await?;
                to_value(&s)
            }
        },
    };
    out.value(&v, &["sign_in", "oauth_client_id", "subdomain"]);
    Ok(())
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
                    let rec = e
                        .create_oauth_client(
                            Actor::Operator,
                            &e.default_org,
                            &client_id,
                            secret,
                            scopes,
                        )
                        .await?;
                    oauth_client_view(&rec)
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
                Some(rc) => rc.get_list("/api/v1/oauth/clients").await?,
                None => {
                    let e = context::local(g).await?;
                    let clients = e
                        .list_oauth_clients(Actor::Operator, &e.default_org)
                        .await?;
                    Value::Array(clients.iter().map(oauth_client_view).collect())
                }
            };
            out.value(&v, &cols);
            Ok(())
        }
        OauthClientsCmd::Update {
            id,
            client_secret_stdin,
            scopes,
        } => {
            let secret = if client_secret_stdin {
                Some(read_client_secret(true)?)
            } else {
                None
            };
            if secret.is_none() && scopes.is_none() {
                return Err(CliError::usage(
                    "nothing to change: give --client-secret-stdin and/or --scopes",
                ));
            }
            let v = match &remote {
                Some(rc) => {
                    let mut body = json!({});
                    if let Some(s) = &secret {
                        body["client_secret"] = Value::String(s.expose_secret().to_string());
                    }
                    if let Some(s) = &scopes {
                        body["scopes"] = json!(s);
                    }
                    rc.patch(&format!("/api/v1/oauth/clients/{id}"), &body)
                        .await?
                }
                None => {
                    let e = context::local(g).await?;
                    let cid: OAuthClientRecordId = id
                        .parse()
                        .map_err(|_| CliError::not_found(format!("no OAuth client '{id}'")))?;
                    let rec = e
                        .update_oauth_client(
                            Actor::Operator,
                            &e.default_org,
                            &cid,
                            jiragate_engine::oauth::OAuthClientUpdate {
                                client_secret: secret,
                                scopes,
                            },
                        )
                        .await?;
                    oauth_client_view(&rec)
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
                    e.delete_oauth_client(Actor::Operator, &e.default_org, &cid)
                        .await?;
                }
            }
            out.note("deleted");
            Ok(())
        }
    }
}

fn master_key_error(e: MasterKeyError) -> CliError {
    match e {
        MasterKeyError::InvalidNewKey(e) => {
            CliError::usage(format!("--new-key-file: {e} (expected base64 of 32 bytes)"))
        }
        MasterKeyError::InvalidCurrentKey(e) => CliError::new(
            crate::output::exit::CONFIG,
            format!("JIRAGATE_MASTER_KEY: {e}"),
        ),
        MasterKeyError::KeyFile(e) => CliError::new(crate::output::exit::CONFIG, e),
        MasterKeyError::Engine(e) => e.into(),
    }
}

pub async fn master_key(g: &Global, cmd: MasterKeyCmd) -> Result<(), CliError> {
    let out = Printer::new(g.output);
    let (new_key_file, reencrypt) = match cmd {
        MasterKeyCmd::Rotate {
            new_key_file,
            reencrypt,
        } => (new_key_file, reencrypt),
        MasterKeyCmd::Retire => {
            let cfg = context::engine_config(g, None, true, false)?;
            let report = admin::retire_master_key(&cfg)
                .await
                .map_err(master_key_error)?;
            match &report.retired_master_key_id {
                Some(id) => eprintln!(
                    "master key {id} retired: nothing needs it any more; destroy it (and master.key.previous) when your backups no longer need it"
                ),
                None => eprintln!("no previous master key is kept; nothing to retire"),
            }
            out.value(
                &json!({"retired_master_key_id": report.retired_master_key_id,
                        "data_keys_unwrapped": report.data_keys_unwrapped}),
                &["retired_master_key_id", "data_keys_unwrapped"],
            );
            return Ok(());
        }
    };
    let text = std::fs::read_to_string(&new_key_file)
        .map_err(|e| CliError::usage(format!("--new-key-file {}: {e}", new_key_file.display())))?;
    let cfg = context::engine_config(g, None, true, false)?;
    let report = admin::rotate_master_key(&cfg, &text, reencrypt)
        .await
        .map_err(|e| match e {
            MasterKeyError::InvalidNewKey(e) => CliError::usage(format!(
                "--new-key-file {}: {e} (expected base64 of 32 bytes)",
                new_key_file.display()
            )),
            other => master_key_error(other),
        })?;
    // The embedded default keeps its key in the data dir: the engine switched the file too.
    match &report.previous_key_file {
        Some(backup) => eprintln!(
            "master.key replaced (running instances pick it up); the previous key is in {} and stays readable until `jiragate master-key retire`",
            backup.display()
        ),
        None => eprintln!(
            "running instances keep working on the previous key; restart each with JIRAGATE_MASTER_KEY set to the new key, then run `jiragate master-key retire`"
        ),
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
    let backend = admin::migrate_database(&cfg).await.map_err(|e| match e {
        jiragate_engine::EngineError::Internal(m) => CliError::failure(m),
        other => other.into(),
    })?;
    if g.output == OutputFormat::Table {
        println!("migrations applied ({backend})");
    } else {
        Printer::new(g.output).value(
            &json!({"migrations_applied": true, "backend": backend.to_string()}),
            &[],
        );
    }
    Ok(())
}
