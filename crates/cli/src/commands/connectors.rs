//! `jiragate connectors …`: the seed-compatible `--json '{…}'` form and ordinary flags, on the
//! local data dir or a remote server.

use std::io::{IsTerminal, Read};

use futures::StreamExt;
use jiragate_engine::model::{ApiType, Connection, NewApiTokenConnection, Owner, SiteRef};
use jiragate_engine::{ActionRequest, Actor, ConnRef, DEFAULT_WORKSPACE, Engine, NewConnection};
use secrecy::{ExposeSecret, SecretString};
use serde_json::{Map, Value, json};

use crate::cli::{ConnectorsCmd, CreateArgs, ExecuteArgs, Global, OutputFormat, Selector};
use crate::context;
use crate::error::CliError;
use crate::output::{Printer, RowSink};
use crate::remote::RemoteClient;

const CONNECTION_COLUMNS: &[&str] = &[
    "id",
    "workspace",
    "name",
    "auth_kind",
    "site_url",
    "status",
    "last_checked_at",
];

/// The merged request: `--json` first, then flags override.
#[derive(Debug, Default)]
struct Request {
    id: Option<String>,
    workspace: Option<String>,
    name: Option<String>,
    entity: Option<String>,
    action: Option<String>,
    params: Map<String, Value>,
    extra: Map<String, Value>,
}

impl Request {
    fn from(sel: &Selector) -> Result<Self, CliError> {
        let mut r = Request::default();
        if let Some(j) = &sel.json {
            let v: Value = serde_json::from_str(j)
                .map_err(|e| CliError::usage(format!("--json is not valid JSON: {e}")))?;
            let Value::Object(mut o) = v else {
                return Err(CliError::usage("--json must be a JSON object"));
            };
            let mut take = |k: &str| o.remove(k).and_then(|v| v.as_str().map(str::to_string));
            r.id = take("id").or_else(|| take("connector_id"));
            r.workspace = take("workspace").or_else(|| take("workspace_name"));
            r.name = take("name");
            r.entity = take("entity");
            r.action = take("action");
            match o.remove("params") {
                Some(Value::Object(p)) => r.params = p,
                Some(Value::Null) | None => {}
                Some(_) => return Err(CliError::usage("--json: \"params\" must be an object")),
            }
            r.extra = o;
        }
        if sel.id.is_some() {
            r.id = sel.id.clone();
        }
        if sel.workspace.is_some() {
            r.workspace = sel.workspace.clone();
        }
        if sel.name.is_some() {
            r.name = sel.name.clone();
        }
        Ok(r)
    }

    fn conn_ref(&self) -> Result<ConnRef, CliError> {
        if let Some(id) = &self.id {
            return Ok(ConnRef::parse(id));
        }
        let name = self
            .name
            .clone()
            .ok_or_else(|| CliError::usage("name the connection: --name (and --workspace), --id, or --json '{\"workspace\": …, \"name\": …}'"))?;
        Ok(ConnRef::Name {
            workspace: self
                .workspace
                .clone()
                .unwrap_or_else(|| DEFAULT_WORKSPACE.into()),
            name,
        })
    }
}

pub async fn run(g: &Global, cmd: ConnectorsCmd) -> Result<(), CliError> {
    let out = Printer::new(g.output);
    let remote = context::remote(g)?;
    match cmd {
        ConnectorsCmd::Create(a) => create(g, &out, remote.as_ref(), a).await,
        ConnectorsCmd::List { sel } => {
            let r = Request::from(&sel)?;
            let list = match &remote {
                Some(rc) => rc.list(r.workspace.as_deref()).await?,
                None => {
                    let e = context::local(g).await?;
                    let conns = e
                        .list_connections(Actor::Operator, &e.default_org, r.workspace.as_deref())
                        .await?;
                    serde_json::to_value(conns).unwrap_or_default()
                }
            };
            out.value(&normalize_list(list), CONNECTION_COLUMNS);
            Ok(())
        }
        ConnectorsCmd::Get { sel } => {
            let r = Request::from(&sel)?;
            let v = match &remote {
                Some(rc) => {
                    let id = remote_id(rc, &r).await?;
                    rc.get(&format!("/api/v1/integrations/connectors/{id}"))
                        .await?
                }
                None => {
                    let e = context::local(g).await?;
                    let c = e
                        .get_connection(Actor::Operator, &e.default_org, &r.conn_ref()?)
                        .await?;
                    serde_json::to_value(c).unwrap_or_default()
                }
            };
            out.value(&v, CONNECTION_COLUMNS);
            Ok(())
        }
        ConnectorsCmd::Describe { sel, filter } => {
            let r = Request::from(&sel)?;
            let v = match &remote {
                Some(rc) => {
                    let id = remote_id(rc, &r).await?;
                    let q = filter
                        .as_deref()
                        .map(|f| format!("?filter={}", urlenc(f)))
                        .unwrap_or_default();
                    rc.get(&format!("/api/v1/integrations/connectors/{id}/describe{q}"))
                        .await?
                }
                None => {
                    let e = context::local(g).await?;
                    e.describe(
                        Actor::Operator,
                        &e.default_org,
                        &r.conn_ref()?,
                        filter.as_deref(),
                    )
                    .await?
                }
            };
            if g.output == OutputFormat::Table {
                out.value(
                    &describe_rows(&v),
                    &["entity", "action", "read_only", "description"],
                );
            } else {
                out.value(&v, &[]);
            }
            Ok(())
        }
        ConnectorsCmd::Execute(a) => execute(g, &out, remote.as_ref(), a).await,
        ConnectorsCmd::Check { sel } => {
            let r = Request::from(&sel)?;
            let v = match &remote {
                Some(rc) => {
                    let id = remote_id(rc, &r).await?;
                    rc.post(
                        &format!("/api/v1/integrations/connectors/{id}/check"),
                        &json!({}),
                    )
                    .await?
                }
                None => {
                    let e = context::local(g).await?;
                    let (_, health) = e
                        .check(Actor::Operator, &e.default_org, &r.conn_ref()?)
                        .await?;
                    serde_json::to_value(health).unwrap_or_default()
                }
            };
            out.value(
                &v,
                &["connection_id", "status", "reason", "latency_ms", "at"],
            );
            let status = v.get("status").and_then(Value::as_str).unwrap_or("");
            match status {
                "healthy" | "" => Ok(()),
                "needs_reauth" | "revoked" => {
                    Err(CliError::new(4, format!("connection is {status}")))
                }
                other => Err(CliError::upstream(format!("connection check: {other}"))),
            }
        }
        ConnectorsCmd::Delete { sel } => {
            let r = Request::from(&sel)?;
            match &remote {
                Some(rc) => {
                    let id = remote_id(rc, &r).await?;
                    rc.delete(&format!("/api/v1/integrations/connectors/{id}"))
                        .await?;
                }
                None => {
                    let e = context::local(g).await?;
                    e.delete_connection(Actor::Operator, &e.default_org, &r.conn_ref()?)
                        .await?;
                }
            }
            out.note("deleted; its secrets are erased");
            if g.output != OutputFormat::Table {
                out.value(&json!({"deleted": true}), &[]);
            }
            Ok(())
        }
    }
}

async fn remote_id(rc: &RemoteClient, r: &Request) -> Result<String, CliError> {
    rc.connector_id(
        r.id.as_deref(),
        Some(r.workspace.as_deref().unwrap_or(DEFAULT_WORKSPACE)),
        r.name.as_deref(),
    )
    .await
}

fn urlenc(s: &str) -> String {
    url::form_urlencoded::byte_serialize(s.as_bytes()).collect()
}

/// Remote lists use `workspace_name`; local ones `workspace`: show one shape.
fn normalize_list(v: Value) -> Value {
    match v {
        Value::Array(items) => Value::Array(
            items
                .into_iter()
                .map(|mut c| {
                    if let Value::Object(o) = &mut c
                        && !o.contains_key("workspace")
                        && let Some(w) = o.get("workspace_name").cloned()
                    {
                        o.insert("workspace".into(), w);
                    }
                    c
                })
                .collect(),
        ),
        other => other,
    }
}

/// Flattens describe output into rows of (entity, action, read_only, description).
fn describe_rows(v: &Value) -> Value {
    let mut rows = vec![];
    for e in v
        .get("entities")
        .and_then(Value::as_array)
        .into_iter()
        .flatten()
    {
        let entity = e.get("entity").cloned().unwrap_or(Value::Null);
        for a in e
            .get("actions")
            .and_then(Value::as_array)
            .into_iter()
            .flatten()
        {
            rows.push(json!({
                "entity": entity,
                "action": a.get("action"),
                "read_only": a.get("read_only"),
                "description": a.get("description"),
            }));
        }
    }
    Value::Array(rows)
}

fn read_token(token_stdin: bool) -> Result<SecretString, CliError> {
    if token_stdin {
        let mut s = String::new();
        std::io::stdin()
            .read_to_string(&mut s)
            .map_err(|e| CliError::usage(format!("reading the token from stdin: {e}")))?;
        let t = s.trim().to_string();
        if t.is_empty() {
            return Err(CliError::usage("--token-stdin: standard input was empty"));
        }
        return Ok(SecretString::from(t));
    }
    if let Some(t) = context::secret_env("JIRA_API_TOKEN")? {
        return Ok(t);
    }
    if std::io::stdin().is_terminal() {
        let t = rpassword::prompt_password("Atlassian API token: ")
            .map_err(|e| CliError::usage(format!("reading the token: {e}")))?;
        if !t.trim().is_empty() {
            return Ok(SecretString::from(t.trim().to_string()));
        }
    }
    Err(CliError::usage(
        "no API token: set JIRA_API_TOKEN, pipe it with --token-stdin, or run on a terminal to be prompted (never pass it as an argument)",
    ))
}

async fn create(
    g: &Global,
    out: &Printer,
    remote: Option<&RemoteClient>,
    a: CreateArgs,
) -> Result<(), CliError> {
    let r = Request::from(&a.sel)?;
    let str_extra = |k: &str| r.extra.get(k).and_then(Value::as_str).map(str::to_string);
    let name = r
        .name
        .clone()
        .ok_or_else(|| CliError::usage("a connection needs a name: --name or {\"name\": …}"))?;
    let workspace = r
        .workspace
        .clone()
        .unwrap_or_else(|| DEFAULT_WORKSPACE.into());
    let site = a
        .site
        .clone()
        .or_else(|| str_extra("site"))
        .or_else(|| str_extra("base_url"))
        .or_else(|| str_extra("subdomain"))
        .ok_or_else(|| {
            CliError::usage("which Jira site? --site acme (or a base URL), or JIRA_BASE_URL")
        })?;
    let email = a
        .email
        .clone()
        .or_else(|| str_extra("email"))
        .ok_or_else(|| {
            CliError::usage("the Atlassian account email: --email or JIRA_USER_EMAIL")
        })?;
    let api_type = str_extra("api_type").unwrap_or(a.api_type.clone());
    let scoped = a.scoped
        || r.extra
            .get("scoped")
            .and_then(Value::as_bool)
            .unwrap_or(false);
    let token = read_token(a.token_stdin)?;
    let is_url = site.contains("://");

    let created = match remote {
        Some(rc) => {
            let mut replication = json!({"api_type": api_type});
            replication[if is_url { "base_url" } else { "subdomain" }] =
                Value::String(site.clone());
            if scoped {
                replication["scoped_token"] = Value::Bool(true);
            }
            rc.post(
                "/api/v1/integrations/connectors",
                &json!({"workspace_name": workspace, "connector_type": "Jira", "name": name,
                        "credentials": {"username": email, "password": token.expose_secret()},
                        "replication_config": replication}),
            )
            .await?
        }
        None => {
            let e = context::local(g).await?;
            let c = create_local(
                &e, workspace, name, site, is_url, email, token, scoped, &api_type,
            )
            .await?;
            serde_json::to_value(c).unwrap_or_default()
        }
    };
    out.value(&created, CONNECTION_COLUMNS);
    Ok(())
}

#[allow(clippy::too_many_arguments)]
async fn create_local(
    e: &Engine,
    workspace: String,
    name: String,
    site: String,
    is_url: bool,
    email: String,
    token: SecretString,
    scoped: bool,
    api_type: &str,
) -> Result<Connection, CliError> {
    let api_type = match api_type {
        "service_management" | "servicedesk" => ApiType::ServiceManagement,
        "platform" | "" => ApiType::Platform,
        other => {
            return Err(CliError::usage(format!(
                "api_type '{other}': use platform or service_management"
            )));
        }
    };
    let req = NewApiTokenConnection {
        workspace,
        name,
        site: if is_url {
            SiteRef::BaseUrl(site)
        } else {
            SiteRef::Subdomain(site)
        },
        email,
        token,
        scoped: if scoped { Some(true) } else { None },
        api_type,
        owner: Owner::Installation,
    };
    Ok(e.create_connection(
        Actor::Operator,
        &e.default_org,
        NewConnection::ApiToken(req),
    )
    .await?)
}

fn parse_params(r: &mut Request, a: &ExecuteArgs) -> Result<(), CliError> {
    if let Some(path) = &a.params_file {
        let text = if path.as_os_str() == "-" {
            let mut s = String::new();
            std::io::stdin()
                .read_to_string(&mut s)
                .map_err(|e| CliError::usage(format!("reading params from stdin: {e}")))?;
            s
        } else {
            std::fs::read_to_string(path)
                .map_err(|e| CliError::usage(format!("--params-file {}: {e}", path.display())))?
        };
        match serde_json::from_str(&text) {
            Ok(Value::Object(o)) => r.params.extend(o),
            _ => {
                return Err(CliError::usage(format!(
                    "--params-file {}: expected a JSON object",
                    path.display()
                )));
            }
        }
    }
    for kv in &a.params {
        let (k, v) = kv
            .split_once('=')
            .ok_or_else(|| CliError::usage(format!("--param '{kv}': expected key=value")))?;
        let value = serde_json::from_str(v).unwrap_or_else(|_| Value::String(v.to_string()));
        r.params.insert(k.trim().to_string(), value);
    }
    Ok(())
}

async fn execute(
    g: &Global,
    out: &Printer,
    remote: Option<&RemoteClient>,
    a: ExecuteArgs,
) -> Result<(), CliError> {
    let mut r = Request::from(&a.sel)?;
    if a.entity.is_some() {
        r.entity = a.entity.clone();
    }
    if a.action.is_some() {
        r.action = a.action.clone();
    }
    parse_params(&mut r, &a)?;
    let entity = r
        .entity
        .clone()
        .ok_or_else(|| CliError::usage("--entity is required (see `connectors describe`)"))?;
    let action = r
        .action
        .clone()
        .ok_or_else(|| CliError::usage("--action is required (see `connectors describe`)"))?;
    let all = a.all
        || r.params
            .get("all")
            .and_then(Value::as_bool)
            .unwrap_or(false);
    if all {
        // Every format streams: rows are written as they arrive, never collected.
        r.params.remove("all");
        let bar = crate::output::progress_bar();
        let stdout = std::io::BufWriter::new(std::io::stdout().lock());
        let mut sink = RowSink::new(stdout, g.output, columns_for(&entity));
        let write_err = |e: std::io::Error| CliError::failure(format!("writing output: {e}"));
        match remote {
            Some(rc) => {
                let id = remote_id(rc, &r).await?;
                let mut page_token: Option<String> = None;
                // `limit` caps the total, as in local mode.
                let cap = r.params.get("limit").and_then(Value::as_u64);
                let mut n = 0u64;
                // Bounded: a server that never ends its pages cannot keep us here forever.
                for _ in 0..1_000_000 {
                    let mut params = r.params.clone();
                    if let Some(t) = &page_token {
                        params.insert("page_token".into(), Value::String(t.clone()));
                    }
                    let page = rc
                        .execute(&id, &entity, &action, &Value::Object(params))
                        .await?;
                    for item in items_of(page.get("data")) {
                        if cap.is_some_and(|c| n >= c) {
                            break;
                        }
                        sink.push(&item).map_err(write_err)?;
                        n += 1;
                        bar.set_position(n);
                    }
                    page_token = page
                        .get("next_page_token")
                        .and_then(Value::as_str)
                        .map(str::to_string);
                    if page_token.is_none() || cap.is_some_and(|c| n >= c) {
                        break;
                    }
                }
            }
            None => {
                let e = context::local(g).await?;
                let mut params = r.params.clone();
                // The catalog streams every page only when asked for all of them.
                params.insert("all".into(), Value::Bool(true));
                let call = ActionRequest {
                    entity: entity.clone(),
                    action: action.clone(),
                    params: Value::Object(params),
                    read_only: false,
                };
                let mut s = e
                    .execute_stream(Actor::Operator, &e.default_org, &r.conn_ref()?, call)
                    .await?;
                while let Some(item) = s.next().await {
                    sink.push(&item?).map_err(write_err)?;
                    bar.set_position(sink.rows());
                }
            }
        }
        sink.finish().map_err(write_err)?;
        bar.finish_and_clear();
        return Ok(());
    }

    let result = match remote {
        Some(rc) => {
            let id = remote_id(rc, &r).await?;
            rc.execute(&id, &entity, &action, &Value::Object(r.params.clone()))
                .await?
        }
        None => {
            let e = context::local(g).await?;
            let call = ActionRequest {
                entity: entity.clone(),
                action: action.clone(),
                params: Value::Object(r.params.clone()),
                read_only: false,
            };
            let o = e
                .execute(Actor::Operator, &e.default_org, &r.conn_ref()?, call)
                .await?;
            serde_json::to_value(o).unwrap_or_default()
        }
    };
    match g.output {
        OutputFormat::Json => out.value(&result, &[]),
        OutputFormat::Ndjson => {
            let mut stdout = std::io::stdout().lock();
            for item in items_of(result.get("data")) {
                write_line(&mut stdout, &item)?;
            }
        }
        OutputFormat::Table => {
            let data = result.get("data").cloned().unwrap_or(Value::Null);
            let rows = match &data {
                Value::Object(o) if o.values().any(Value::is_array) && o.len() <= 4 => o
                    .values()
                    .find(|v| v.is_array())
                    .cloned()
                    .unwrap_or(data.clone()),
                _ => data.clone(),
            };
            out.value(&rows, columns_for(&entity));
            if let Some(t) = result.get("next_page_token").and_then(Value::as_str) {
                eprintln!("more results: add --param page_token={t} (or --all)");
            }
        }
    }
    Ok(())
}

fn items_of(data: Option<&Value>) -> Vec<Value> {
    match data {
        Some(Value::Array(a)) => a.clone(),
        Some(Value::Object(o)) => match o.values().find(|v| v.is_array()) {
            Some(Value::Array(a)) if o.len() <= 4 => a.clone(),
            _ => vec![Value::Object(o.clone())],
        },
        Some(Value::Null) | None => vec![],
        Some(other) => vec![other.clone()],
    }
}

fn write_line(w: &mut impl std::io::Write, v: &Value) -> Result<(), CliError> {
    writeln!(w, "{v}").map_err(|e| CliError::failure(format!("writing output: {e}")))
}

fn columns_for(entity: &str) -> &'static [&'static str] {
    match entity {
        "issues" => &[
            "key",
            "fields.summary",
            "fields.status.name",
            "fields.assignee.displayName",
            "fields.issuetype.name",
        ],
        "projects" => &["key", "name", "projectTypeKey", "id"],
        "users" => &["accountId", "displayName", "emailAddress", "active"],
        "issue_comments" => &["id", "author.displayName", "created", "body_markdown"],
        "sprints" => &["id", "name", "state", "startDate", "endDate"],
        "boards" => &["id", "name", "type"],
        _ => &[],
    }
}
