//! `jiragate connect`: OAuth 2.0 (3LO) from a terminal.
//!
//! Local mode listens on the loopback address of the OAuth client's registered redirect URI
//! (Atlassian matches redirect URIs exactly, so the port must be the registered one), prints
//! the authorize URL (and opens a browser where it can), waits for the callback, asks which
//! site when the grant covers several, and prints the connection. Remote mode asks the server
//! for a connect session and follows it until it settles.

use std::io::{IsTerminal, Write};
use std::net::SocketAddr;
use std::time::Duration;

use axum::extract::{Query, State};
use axum::response::Html;
use jiragate_engine::model::{
    ApiType, Connection, OAuthClientRecord, Owner, SiteChoice, StartConnect,
};
use jiragate_engine::oauth::OAuthCallback;
use jiragate_engine::{Actor, Engine, EngineError};
use serde_json::{Value, json};
use tokio::sync::mpsc;

use crate::cli::{ConnectArgs, Global};
use crate::context;
use crate::error::CliError;
use crate::output::Printer;
use crate::remote::RemoteClient;

const CONNECTION_COLUMNS: &[&str] = &[
    "id",
    "workspace",
    "name",
    "auth_kind",
    "site_url",
    "status",
    "scopes",
];

pub async fn run(g: &Global, a: ConnectArgs) -> Result<(), CliError> {
    let out = Printer::new(g.output);
    if let (Some(session), Some(site)) = (&a.session, &a.site) {
        return finish_session(g, &out, session, site).await;
    }
    match context::remote(g)? {
        Some(rc) => remote_connect(&rc, &out, a).await,
        None => local_connect(g, &out, a).await,
    }
}

fn open_browser(url: &str) {
    let opener = if cfg!(target_os = "macos") {
        "open"
    } else {
        "xdg-open"
    };
    let _ = std::process::Command::new(opener)
        .arg(url)
        .stdin(std::process::Stdio::null())
        .stdout(std::process::Stdio::null())
        .stderr(std::process::Stdio::null())
        .spawn();
}

fn show_url(url: &str, no_browser: bool) {
    eprintln!("Open this URL in a browser to authorize jiragate:\n\n  {url}\n");
    let _ = std::io::stderr().flush();
    if !no_browser && std::env::var_os("CI").is_none() {
        open_browser(url);
    }
}

fn spinner(msg: &str) -> indicatif::ProgressBar {
    let bar = crate::output::progress_bar();
    bar.set_style(
        indicatif::ProgressStyle::with_template("{spinner} {msg} {elapsed}")
            .unwrap_or_else(|_| indicatif::ProgressStyle::default_spinner()),
    );
    bar.set_message(msg.to_string());
    bar
}

/// Asks which site on a terminal; elsewhere fails with the list and how to choose.
fn choose_site(sites: &[SiteChoice]) -> Result<String, CliError> {
    let list = sites
        .iter()
        .map(|s| format!("{} ({})", s.name, s.url))
        .collect::<Vec<_>>()
        .join(", ");
    if !std::io::stdin().is_terminal() {
        return Err(CliError::usage(format!(
            "this grant covers several Jira sites: {list}; run again with --subdomain to pick one"
        )));
    }
    eprintln!("This grant covers several Jira sites:");
    for (i, s) in sites.iter().enumerate() {
        eprintln!("  {}) {}  {}", i + 1, s.name, s.url);
    }
    // Bounded: three tries, then give up.
    for _ in 0..3 {
        eprint!("Which one? [1-{}] ", sites.len());
        let _ = std::io::stderr().flush();
        let mut line = String::new();
        if std::io::stdin().read_line(&mut line).is_err() {
            break;
        }
        if let Ok(n) = line.trim().parse::<usize>()
            && (1..=sites.len()).contains(&n)
        {
            return Ok(sites[n - 1].cloud_id.clone());
        }
    }
    Err(CliError::usage("no site chosen"))
}

async fn find_client(engine: &Engine, wanted: Option<&str>) -> Result<OAuthClientRecord, CliError> {
    let clients = engine
        .list_oauth_clients(Actor::Operator, &engine.default_org)
        .await?;
    let found: Vec<&OAuthClientRecord> = match wanted {
        Some(w) => clients
            .iter()
            .filter(|c| c.id.as_ref() == w || c.client_id == w)
            .collect(),
        None => clients.iter().collect(),
    };
    match found.as_slice() {
        [one] => Ok((*one).clone()),
        [] if wanted.is_some() => Err(CliError::not_found(format!(
            "no OAuth client '{}'",
            wanted.unwrap_or_default()
        ))),
        [] => Err(CliError::not_found(
            "no OAuth client registered; run `jiragate oauth-clients add` first",
        )),
        _ => Err(CliError::usage(
            "several OAuth clients are registered; pick one with --client",
        )),
    }
}

type CallbackResult = Result<OAuthCallback, EngineError>;

#[derive(Clone)]
struct CallbackState {
    engine: Engine,
    tx: mpsc::Sender<CallbackResult>,
}

async fn callback(
    State(st): State<CallbackState>,
    Query(q): Query<std::collections::HashMap<String, String>>,
) -> Html<String> {
    let res = st
        .engine
        .handle_oauth_callback(
            q.get("state").map(String::as_str).unwrap_or(""),
            q.get("code").map(String::as_str),
            q.get("error").map(String::as_str),
        )
        .await
        .map_err(|failure| failure.error);
    let page = match &res {
        Ok(OAuthCallback::Connected(c)) => format!(
            "<h1>Connected</h1><p>{} is connected to {}. You can close this tab.</p>",
            esc(&c.name),
            esc(&c.site_url)
        ),
        Ok(OAuthCallback::ChooseSite { .. }) => {
            "<h1>Almost there</h1><p>Choose the Jira site in your terminal.</p>".to_string()
        }
        Err(e) => format!("<h1>Not connected</h1><p>{}</p>", esc(&e.to_string())),
    };
    let _ = st.tx.send(res).await;
    Html(format!(
        "<!doctype html><html><head><meta charset=utf-8><title>jiragate</title></head><body style=\"font-family:sans-serif;max-width:40em;margin:4em auto\">{page}</body></html>"
    ))
}

fn esc(s: &str) -> String {
    s.replace('&', "&amp;")
        .replace('<', "&lt;")
        .replace('>', "&gt;")
        .replace('"', "&quot;")
}

async fn local_connect(g: &Global, out: &Printer, a: ConnectArgs) -> Result<(), CliError> {
    let engine = context::local(g).await?;
    let client = find_client(&engine, a.client.as_deref()).await?;
    let redirect = url::Url::parse(&client.redirect_uri).map_err(|e| {
        CliError::usage(format!(
            "OAuth client redirect URI {:?}: {e}",
            client.redirect_uri
        ))
    })?;
    let host = redirect
        .host_str()
        .unwrap_or_default()
        .trim_matches(['[', ']'])
        .to_string();
    let loopback = matches!(host.as_str(), "127.0.0.1" | "localhost" | "::1");
    if !loopback {
        return Err(CliError::usage(format!(
            "the OAuth client's redirect URI {} is not a loopback address, so this terminal cannot receive the callback; \
             run `jiragate connect --server <that server>` instead",
            client.redirect_uri
        )));
    }
    let ip = if host == "localhost" {
        "127.0.0.1"
    } else {
        host.as_str()
    };
    let addr: SocketAddr = format!(
        "{}:{}",
        if ip.contains(':') {
            format!("[{ip}]")
        } else {
            ip.to_string()
        },
        redirect.port_or_known_default().unwrap_or(80)
    )
    .parse()
    .map_err(|e| CliError::usage(format!("redirect URI address: {e}")))?;
    let listener = tokio::net::TcpListener::bind(addr)
        .await
        .map_err(|e| CliError::usage(format!("cannot listen on {addr} for the OAuth callback: {e} (is `jiragate serve` using it? then use --server)")))?;

    let (tx, mut rx) = mpsc::channel::<CallbackResult>(4);
    let app = axum::Router::new()
        .route(redirect.path(), axum::routing::get(callback))
        .with_state(CallbackState {
            engine: engine.clone(),
            tx,
        });
    let server = tokio::spawn(async move {
        let _ = axum::serve(listener, app).await;
    });

    let start = engine
        .start_connect(
            Actor::Operator,
            &engine.default_org,
            StartConnect {
                oauth_client_id: client.id.clone(),
                workspace: a.workspace.clone(),
                name: a.name.clone().unwrap_or_default(),
                scopes: a.scopes.clone(),
                subdomain: a.subdomain.clone(),
                owner: Owner::Installation,
                api_type: ApiType::Platform,
            },
        )
        .await?;
    show_url(&start.authorize_url, a.no_browser);
    let bar = spinner("waiting for the browser…");
    let outcome = tokio::time::timeout(Duration::from_secs(a.timeout), rx.recv()).await;
    bar.finish_and_clear();
    server.abort();
    let outcome = match outcome {
        Err(_) => {
            return Err(CliError::failure(format!(
                "no callback within {} s; run `jiragate connect` again",
                a.timeout
            )));
        }
        Ok(None) => return Err(CliError::failure("the callback listener stopped")),
        Ok(Some(r)) => r?,
    };
    let conn = match outcome {
        OAuthCallback::Connected(c) => c,
        OAuthCallback::ChooseSite {
            session_id, sites, ..
        } => {
            let cloud_id = choose_site(&sites)?;
            engine
                .choose_site(Actor::Operator, &engine.default_org, &session_id, &cloud_id)
                .await?
                .0
        }
    };
    print_connection(out, &conn);
    Ok(())
}

/// `connect --session ID --site S`: chooses the site of a session that waits for one.
async fn finish_session(
    g: &Global,
    out: &Printer,
    session: &str,
    site: &str,
) -> Result<(), CliError> {
    match context::remote(g)? {
        Some(rc) => {
            let st = rc
                .post(
                    &format!("/api/v1/connect/sessions/{session}/site"),
                    &json!({"cloud_id": site}),
                )
                .await?;
            let conn_id = st
                .get("connector_id")
                .and_then(Value::as_str)
                .unwrap_or_default();
            let conn = rc
                .get(&format!("/api/v1/integrations/connectors/{conn_id}"))
                .await?;
            out.value(&conn, CONNECTION_COLUMNS);
            Ok(())
        }
        None => {
            let engine = context::local(g).await?;
            let id = session.parse().map_err(|_| {
                CliError::from(EngineError::NotFound {
                    what: "connect session",
                    id: session.to_owned(),
                })
            })?;
            let (conn, _) = engine
                .choose_site(Actor::Operator, &engine.default_org, &id, site)
                .await?;
            print_connection(out, &conn);
            Ok(())
        }
    }
}

fn print_connection(out: &Printer, c: &Connection) {
    out.value(
        &serde_json::to_value(c).unwrap_or_default(),
        CONNECTION_COLUMNS,
    );
}

/// The server's record id of the OAuth client named by `--client` (its jiragate id or its
/// Atlassian client id), or of the only one registered.
async fn remote_client_id(rc: &RemoteClient, wanted: Option<&str>) -> Result<String, CliError> {
    let list = rc.get_list("/api/v1/oauth/clients").await?;
    let rows = list.as_array().cloned().unwrap_or_default();
    let field = |c: &Value, k: &str| c.get(k).and_then(Value::as_str).map(str::to_string);
    let found: Vec<&Value> = match wanted {
        Some(w) => rows
            .iter()
            .filter(|c| {
                field(c, "id").as_deref() == Some(w) || field(c, "client_id").as_deref() == Some(w)
            })
            .collect(),
        None => rows.iter().collect(),
    };
    match found.as_slice() {
        [one] => Ok(field(one, "id").unwrap_or_default()),
        [] if wanted.is_some() => Err(CliError::not_found(format!(
            "no OAuth client '{}' on the server (give its id or its Atlassian client id; see `jiragate oauth-clients list`)",
            wanted.unwrap_or_default()
        ))),
        [] => Err(CliError::not_found(
            "no OAuth client registered on the server; run `jiragate oauth-clients add` first",
        )),
        _ => Err(CliError::usage(
            "several OAuth clients are registered; pick one with --client",
        )),
    }
}

/// A remote session waits for its site: the server's browser page offers the choice too, so
/// the terminal asks (when it is one) while the session is polled; whichever answers first
/// wins. Without a terminal, only the browser page (or --subdomain) can choose.
async fn remote_choose_site(
    rc: &RemoteClient,
    id: &str,
    sites: &[SiteChoice],
    deadline: tokio::time::Instant,
) -> Result<Value, CliError> {
    let (tx, mut rx) = mpsc::channel::<Result<String, CliError>>(1);
    if std::io::stdin().is_terminal() {
        eprintln!("(or choose it on the page the browser shows)");
        let sites = sites.to_vec();
        // A blocking read cannot be cancelled; the process exits when the command ends.
        std::thread::spawn(move || {
            let _ = tx.blocking_send(choose_site(&sites));
        });
    } else {
        let list = sites
            .iter()
            .map(|s| format!("{} ({})", s.name, s.url))
            .collect::<Vec<_>>()
            .join(", ");
        eprintln!(
            "this grant covers several Jira sites: {list}; choose one on the page the browser shows (or run again with --subdomain)"
        );
        drop(tx);
    }
    let mut terminal_open = true;
    loop {
        if tokio::time::Instant::now() > deadline {
            return Err(CliError::failure(
                "no site was chosen in time; run `jiragate connect` again",
            ));
        }
        let st = rc.get(&format!("/api/v1/connect/sessions/{id}")).await?;
        match st.get("status").and_then(Value::as_str) {
            Some("connected") => return Ok(st),
            Some("failed") => {
                return Err(CliError::failure(format!(
                    "OAuth failed: {}",
                    st.get("error")
                        .and_then(Value::as_str)
                        .unwrap_or("unknown reason")
                )));
            }
            _ => {}
        }
        let wait = tokio::time::sleep(Duration::from_millis(500));
        if terminal_open {
            tokio::select! {
                chosen = rx.recv() => match chosen {
                    Some(Ok(cloud_id)) => {
                        match rc
                            .post(
                                &format!("/api/v1/connect/sessions/{id}/site"),
                                &json!({"cloud_id": cloud_id}),
                            )
                            .await
                        {
                            Ok(v) => return Ok(v),
                            // The browser may have chosen meanwhile: the next poll tells.
                            Err(e) => {
                                let st = rc.get(&format!("/api/v1/connect/sessions/{id}")).await?;
                                if st.get("status").and_then(Value::as_str) == Some("connected") {
                                    return Ok(st);
                                }
                                return Err(e);
                            }
                        }
                    }
                    Some(Err(e)) => {
                        eprintln!("{e}; waiting for the browser page instead");
                        terminal_open = false;
                    }
                    None => terminal_open = false,
                },
                _ = wait => {}
            }
        } else {
            wait.await;
        }
    }
}

async fn remote_connect(rc: &RemoteClient, out: &Printer, a: ConnectArgs) -> Result<(), CliError> {
    let client = remote_client_id(rc, a.client.as_deref()).await?;
    let mut body =
        json!({"oauth_client_id": client, "workspace_name": a.workspace, "name": a.name});
    if let Some(s) = &a.subdomain {
        body["subdomain"] = Value::String(s.clone());
    }
    if let Some(s) = &a.scopes {
        body["scopes"] = json!(s);
    }
    let sess = rc.post("/api/v1/connect/sessions", &body).await?;
    let id = sess
        .get("id")
        .and_then(Value::as_str)
        .unwrap_or_default()
        .to_string();
    let url = sess
        .get("authorize_url")
        .and_then(Value::as_str)
        .unwrap_or_default();
    show_url(url, a.no_browser);
    let bar = spinner("waiting for the browser…");
    let deadline = tokio::time::Instant::now() + Duration::from_secs(a.timeout);
    let result = loop {
        if tokio::time::Instant::now() > deadline {
            bar.finish_and_clear();
            return Err(CliError::failure(format!(
                "no callback within {} s; run `jiragate connect` again",
                a.timeout
            )));
        }
        let st = rc.get(&format!("/api/v1/connect/sessions/{id}")).await?;
        match st.get("status").and_then(Value::as_str) {
            Some("connected") => break st,
            Some("failed") => {
                bar.finish_and_clear();
                return Err(CliError::failure(format!(
                    "OAuth failed: {}",
                    st.get("error")
                        .and_then(Value::as_str)
                        .unwrap_or("unknown reason")
                )));
            }
            Some("expired") => {
                bar.finish_and_clear();
                return Err(CliError::failure(
                    "the connect session expired before the browser came back; run `jiragate connect` again",
                ));
            }
            Some("choose_site") => {
                bar.finish_and_clear();
                let sites: Vec<SiteChoice> =
                    serde_json::from_value(st.get("sites").cloned().unwrap_or_default())
                        .unwrap_or_default();
                break remote_choose_site(rc, &id, &sites, deadline).await?;
            }
            _ => tokio::time::sleep(Duration::from_millis(500)).await,
        }
    };
    bar.finish_and_clear();
    let conn_id = result
        .get("connector_id")
        .and_then(Value::as_str)
        .unwrap_or_default();
    let conn = rc
        .get(&format!("/api/v1/integrations/connectors/{conn_id}"))
        .await?;
    out.value(&conn, CONNECTION_COLUMNS);
    Ok(())
}
