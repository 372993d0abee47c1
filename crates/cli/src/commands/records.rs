//! Readable records: `jiragate audit` and `jiragate scopes` (local and remote).

use jiragate_engine::audit::{AuditFilter, parse_time};
use jiragate_engine::{Actor, ConnRef};
use serde_json::Value;

use crate::cli::{AuditArgs, Global, OutputFormat};
use crate::context;
use crate::error::CliError;
use crate::output::Printer;

const AUDIT_COLUMNS: &[&str] = &["at", "actor", "action", "target", "detail"];
const SCOPE_COLUMNS: &[&str] = &["scope", "kind", "description", "actions"];

/// `path?k=v&…` with the values encoded.
fn with_query(path: &str, pairs: &[(&str, Option<String>)]) -> String {
    let mut url = reqwest::Url::parse("http://x").expect("static URL");
    url.set_path(path);
    {
        let mut q = url.query_pairs_mut();
        for (k, v) in pairs {
            if let Some(v) = v {
                q.append_pair(k, v);
            }
        }
    }
    match url.query() {
        Some(q) if !q.is_empty() => format!("{path}?{q}"),
        _ => path.to_owned(),
    }
}

pub async fn audit(g: &Global, a: AuditArgs) -> Result<(), CliError> {
    let out = Printer::new(g.output);
    let (rows, next) = match context::remote(g)? {
        Some(rc) => {
            let path = with_query(
                "/api/v1/audit",
                &[
                    ("connection", a.connection),
                    ("kind", a.kind),
                    ("since", a.since),
                    ("until", a.until),
                    ("limit", Some(a.limit.to_string())),
                    ("page_token", a.page_token),
                ],
            );
            let mut v = rc.get(&path).await?;
            let next = v
                .get("next_page_token")
                .and_then(Value::as_str)
                .map(str::to_owned);
            (v.get_mut("data").map(Value::take).unwrap_or_default(), next)
        }
        None => {
            let filter = AuditFilter {
                connection: a.connection.as_deref().map(ConnRef::parse),
                kind: a.kind,
                since: a.since.map(|s| parse_time("since", &s)).transpose()?,
                until: a.until.map(|s| parse_time("until", &s)).transpose()?,
                limit: Some(a.limit),
                page_token: a.page_token,
            };
            let e = context::local(g).await?;
            let page = e
                .query_audit(Actor::Operator, &e.default_org, filter)
                .await?;
            let rows = page
                .events
                .iter()
                .map(|ev| {
                    let mut v = serde_json::to_value(ev).unwrap_or_default();
                    if let Some(o) = v.as_object_mut() {
                        o.remove("org_id");
                    }
                    v
                })
                .collect();
            (Value::Array(rows), page.next_page_token)
        }
    };
    out.value(&rows, AUDIT_COLUMNS);
    if let Some(t) = next {
        // Machine formats keep stdout to the rows; the hint goes to stderr.
        let hint = format!("more events: run again with --page-token {t}");
        if g.output == OutputFormat::Table {
            println!("{hint}");
        } else {
            eprintln!("{hint}");
        }
    }
    Ok(())
}

pub async fn scopes(g: &Global, action: Option<String>) -> Result<(), CliError> {
    let out = Printer::new(g.output);
    let v = match context::remote(g)? {
        Some(rc) => {
            rc.get_list(&with_query("/api/v1/scopes", &[("action", action)]))
                .await?
        }
        None => {
            let e = context::local(g).await?;
            serde_json::to_value(e.scopes(Actor::Operator, action.as_deref())?).unwrap_or_default()
        }
    };
    out.value(&v, SCOPE_COLUMNS);
    Ok(())
}
