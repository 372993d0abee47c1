//! `jiragate doctor`: each line is ok, or what is wrong and what to do about it.

use std::time::Duration;

use jiragate_engine::admin::{self, DatabaseProbe, MasterKeyProbe};
use jiragate_engine::{Actor, ConnRef, Engine};
use serde_json::{Value, json};

use crate::cli::{Global, OutputFormat};
use crate::context;
use crate::error::CliError;
use crate::output::color_enabled;

#[derive(Clone, Copy, PartialEq, Eq)]
enum Level {
    Ok,
    Warn,
    Fail,
}

struct Report {
    lines: Vec<(Level, String, String)>,
}

impl Report {
    fn add(&mut self, level: Level, what: &str, detail: impl Into<String>) {
        self.lines.push((level, what.to_string(), detail.into()));
    }
}

pub async fn run(g: &Global) -> Result<(), CliError> {
    let mut r = Report { lines: vec![] };
    if let Some(server) = &g.server {
        remote(server, &mut r).await?;
        return finish(g, r);
    }
    let cfg = context::engine_config(g, None, false, false)?;
    r.add(Level::Ok, "data dir", g.data_dir.display().to_string());
    let shown_url = redact_url(&cfg.database_url());

    // Master key: present and well-formed?
    let key_ok = match admin::probe_master_key(&cfg) {
        MasterKeyProbe::FromEnv => {
            r.add(Level::Ok, "master key", "from JIRAGATE_MASTER_KEY");
            true
        }
        MasterKeyProbe::InvalidEnv(e) => {
            r.add(
                Level::Fail,
                "master key",
                format!("JIRAGATE_MASTER_KEY is invalid ({e}); it must be base64 of 32 bytes"),
            );
            false
        }
        MasterKeyProbe::File(p) => {
            r.add(Level::Ok, "master key", p.display().to_string());
            true
        }
        MasterKeyProbe::Missing(p) => {
            r.add(
                Level::Warn,
                "master key",
                format!(
                    "{} does not exist yet; `jiragate serve` creates it on first start",
                    p.display()
                ),
            );
            false
        }
    };

    // Database reachable and migrated?
    let db_ok = match admin::probe_database(&cfg).await {
        DatabaseProbe::UpToDate { backend } => {
            r.add(
                Level::Ok,
                "database",
                format!("{shown_url} ({backend}, schema up to date)"),
            );
            true
        }
        DatabaseProbe::MigrationsPending => {
            r.add(Level::Warn, "database", format!("{shown_url}: migrations pending; run `jiragate migrate` (serve does it on start)"));
            false
        }
        DatabaseProbe::Failed(e) => {
            r.add(Level::Fail, "database", format!("{shown_url}: {e}"));
            false
        }
        DatabaseProbe::Unreachable(e) => {
            r.add(
                Level::Fail,
                "database",
                format!("{shown_url}: {e}; check JIRAGATE_DATABASE_URL and that the server is up"),
            );
            false
        }
    };

    // Atlassian endpoints and clock skew (from the Date header).
    let http = reqwest::Client::builder()
        .timeout(Duration::from_secs(5))
        .build()
        .map_err(|e| CliError::failure(e.to_string()))?;
    for (what, base) in [
        ("atlassian auth", g.atlassian_auth_url.clone()),
        ("atlassian api", g.atlassian_api_url.clone()),
    ] {
        match http.get(&base).send().await {
            Ok(resp) => {
                r.add(
                    Level::Ok,
                    what,
                    format!("{base} reachable (HTTP {})", resp.status().as_u16()),
                );
                if let Some(skew) = clock_skew(resp.headers()) {
                    let level = if skew.abs() > 60 {
                        Level::Warn
                    } else {
                        Level::Ok
                    };
                    let detail = if level == Level::Ok {
                        format!("{skew:+} s against {base}")
                    } else {
                        format!(
                            "{skew:+} s against {base}: tokens may look valid when they are not; sync the clock (NTP)"
                        )
                    };
                    if what == "atlassian auth" {
                        r.add(level, "clock skew", detail);
                    }
                }
            }
            Err(e) => r.add(
                Level::Fail,
                what,
                format!(
                    "{base} unreachable ({e}); check the network/proxy or JIRAGATE_ATLASSIAN_*_URL"
                ),
            ),
        }
    }

    // Each connection's health (needs the key and the database).
    if key_ok && db_ok {
        match Engine::open(context::engine_config(g, None, false, false)?).await {
            Ok((engine, _)) => {
                let org = engine.default_org.clone();
                match engine.list_connections(Actor::Operator, &org, None).await {
                    Ok(conns) if conns.is_empty() => r.add(
                        Level::Ok,
                        "connections",
                        "none yet; `jiragate connectors create` or `jiragate connect`",
                    ),
                    Ok(conns) => {
                        for c in conns {
                            let label = format!("connection {}/{}", c.workspace, c.name);
                            match tokio::time::timeout(
                                Duration::from_secs(20),
                                engine.check(Actor::Operator, &org, &ConnRef::Id(c.id.clone())),
                            )
                            .await
                            {
                                Ok(Ok((_, h))) => {
                                    let status = serde_json::to_value(&h)
                                        .ok()
                                        .and_then(|v| {
                                            v.get("status")
                                                .and_then(Value::as_str)
                                                .map(str::to_string)
                                        })
                                        .unwrap_or_default();
                                    if status == "healthy" {
                                        r.add(
                                            Level::Ok,
                                            &label,
                                            format!("healthy ({})", c.site_url),
                                        );
                                    } else {
                                        let reason = serde_json::to_value(&h)
                                            .ok()
                                            .and_then(|v| {
                                                v.get("reason")
                                                    .and_then(Value::as_str)
                                                    .map(str::to_string)
                                            })
                                            .unwrap_or_default();
                                        r.add(Level::Fail, &label, format!("{status}: {reason}; re-authorize with `jiragate connect` or replace its credentials"));
                                    }
                                }
                                Ok(Err(e)) => r.add(Level::Fail, &label, e.to_string()),
                                Err(_) => r.add(Level::Fail, &label, "check timed out after 20 s"),
                            }
                        }
                    }
                    Err(e) => r.add(Level::Fail, "connections", e.to_string()),
                }
            }
            Err(e) => r.add(Level::Fail, "engine", e.to_string()),
        }
    }

    finish(g, r)
}

fn finish(g: &Global, r: Report) -> Result<(), CliError> {
    let failed = r.lines.iter().any(|(l, _, _)| *l == Level::Fail);
    if g.output == OutputFormat::Table {
        let color = color_enabled();
        for (level, what, detail) in &r.lines {
            let tag = match (level, color) {
                (Level::Ok, true) => "\x1b[32mok  \x1b[0m",
                (Level::Warn, true) => "\x1b[33mwarn\x1b[0m",
                (Level::Fail, true) => "\x1b[31mFAIL\x1b[0m",
                (Level::Ok, false) => "ok  ",
                (Level::Warn, false) => "warn",
                (Level::Fail, false) => "FAIL",
            };
            println!("{tag}  {what:<28} {detail}");
        }
    } else {
        let v: Vec<Value> = r
            .lines
            .iter()
            .map(|(l, w, d)| json!({"check": w, "status": match l { Level::Ok => "ok", Level::Warn => "warn", Level::Fail => "fail" }, "detail": d}))
            .collect();
        println!("{}", serde_json::to_string_pretty(&v).unwrap_or_default());
    }
    if failed {
        Err(CliError::failure("some checks failed (see above)"))
    } else {
        Ok(())
    }
}

/// Remote mode: the server's liveness and readiness, the API key, and each connection's health
/// through the API. Nothing local is read or created.
async fn remote(server: &str, r: &mut Report) -> Result<(), CliError> {
    let base = crate::remote::server_base(server)?;
    r.add(Level::Ok, "server", base.clone());
    let http = reqwest::Client::builder()
        .timeout(Duration::from_secs(10))
        .build()
        .map_err(|e| CliError::failure(e.to_string()))?;
    let mut up = false;
    for (what, path) in [("healthz", "/healthz"), ("readyz", "/readyz")] {
        match http.get(format!("{base}{path}")).send().await {
            Ok(resp) => {
                let status = resp.status();
                let body: Value = resp.json().await.unwrap_or(Value::Null);
                let detail = body
                    .get("detail")
                    .and_then(Value::as_str)
                    .or_else(|| body.get("status").and_then(Value::as_str))
                    .unwrap_or_default()
                    .to_string();
                if status.is_success() {
                    up = true;
                    r.add(Level::Ok, what, format!("{base}{path}: {detail}"));
                } else {
                    r.add(
                        Level::Fail,
                        what,
                        format!("{base}{path}: HTTP {} {detail}", status.as_u16()),
                    );
                }
            }
            Err(e) => r.add(
                Level::Fail,
                what,
                format!("{base}{path} unreachable ({e}); check --server / JIRAGATE_SERVER and that `jiragate serve` runs"),
            ),
        }
    }
    if !up {
        return Ok(());
    }
    let Some(key) = context::secret_env("JIRAGATE_API_KEY")? else {
        r.add(
            Level::Fail,
            "api key",
            "JIRAGATE_API_KEY (or JIRAGATE_API_KEY_FILE) is not set; remote commands need it",
        );
        return Ok(());
    };
    let rc = crate::remote::RemoteClient::new(&base, key)?;
    let conns = match rc.list(None).await {
        Ok(list) => {
            r.add(Level::Ok, "api key", "accepted by the server");
            list
        }
        Err(e) => {
            r.add(
                Level::Fail,
                "api key",
                format!("{e}; check JIRAGATE_API_KEY (keys are listed by `jiragate keys list` on the server's host)"),
            );
            return Ok(());
        }
    };
    let rows = conns.as_array().cloned().unwrap_or_default();
    if rows.is_empty() {
        r.add(
            Level::Ok,
            "connections",
            "none yet; `jiragate connectors create` or `jiragate connect`",
        );
    }
    let field = |c: &Value, k: &str| {
        c.get(k)
            .and_then(Value::as_str)
            .unwrap_or_default()
            .to_string()
    };
    for c in rows {
        let workspace = match field(&c, "workspace_name") {
            w if w.is_empty() => field(&c, "workspace"),
            w => w,
        };
        let label = format!("connection {workspace}/{}", field(&c, "name"));
        let id = field(&c, "id");
        match tokio::time::timeout(
            Duration::from_secs(20),
            rc.post(
                &format!("/api/v1/integrations/connectors/{id}/check"),
                &json!({}),
            ),
        )
        .await
        {
            Ok(Ok(h)) if field(&h, "status") == "healthy" => {
                r.add(
                    Level::Ok,
                    &label,
                    format!("healthy ({})", field(&c, "site_url")),
                );
            }
            Ok(Ok(h)) => r.add(
                Level::Fail,
                &label,
                format!(
                    "{}: {}; re-authorize with `jiragate connect` or replace its credentials",
                    field(&h, "status"),
                    field(&h, "reason")
                ),
            ),
            Ok(Err(e)) => r.add(Level::Fail, &label, e.to_string()),
            Err(_) => r.add(Level::Fail, &label, "check timed out after 20 s"),
        }
    }
    Ok(())
}

/// Seconds the local clock is ahead (+) or behind (-) the server's Date header.
fn clock_skew(h: &reqwest::header::HeaderMap) -> Option<i64> {
    let date = h.get(reqwest::header::DATE)?.to_str().ok()?;
    let server = httpdate::parse_http_date(date).ok()?;
    let now = std::time::SystemTime::now();
    Some(match now.duration_since(server) {
        Ok(d) => d.as_secs() as i64,
        Err(e) => -(e.duration().as_secs() as i64),
    })
}

/// Hides a password in a database URL.
fn redact_url(url: &str) -> String {
    match url::Url::parse(url) {
        Ok(mut u) if u.password().is_some() => {
            let _ = u.set_password(Some("***"));
            u.to_string()
        }
        _ => url.to_string(),
    }
}
