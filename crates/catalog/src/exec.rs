//! Running a plan against Jira: look-ups, one page, or every page.

use std::sync::Arc;

use base64::Engine as _;
use futures::Stream;
use jiragate_jira::{JiraClient, JiraRequest, JiraResponse, RequestBody, TokenSource};
use serde_json::{Value, json};

use crate::def::{ActionDef, Paging};
use crate::error::CatalogError;
use crate::fields::{self, FieldList};
use crate::paging::{self, Cursor};
use crate::plan::{Lookup, Plan, PreStep, Shape, Window};
use crate::{ExecuteJson, ExecuteOutput, JsonText, scopes, shape};

/// Default page size when the caller gives no `limit`.
const DEFAULT_LIMIT: u32 = 50;

pub(crate) async fn execute(
    client: &JiraClient,
    src: Arc<dyn TokenSource>,
    def: &'static ActionDef,
    mut plan: Plan,
) -> Result<ExecuteOutput, CatalogError> {
    run_pre_steps(client, src.as_ref(), def, &mut plan).await?;
    let window = plan.window.clone();
    match (def.paging, window) {
        (Paging::None, _) | (_, None) => single(client, src.as_ref(), def, plan).await,
        (paging, Some(w)) if !w.all => one_page(client, src.as_ref(), def, paging, plan, w).await,
        (paging, Some(w)) => every_page(client, src.as_ref(), def, paging, plan, w).await,
    }
}

/// [`execute`], answering JSON text: Jira's text passes through, shaped without being parsed
/// into values where the shape allows ([`shape::item_text`]); the parsed form is the fallback
/// for every answer of another form, so both answer the same JSON.
pub(crate) async fn execute_json(
    client: &JiraClient,
    src: Arc<dyn TokenSource>,
    def: &'static ActionDef,
    mut plan: Plan,
) -> Result<ExecuteJson, CatalogError> {
    run_pre_steps(client, src.as_ref(), def, &mut plan).await?;
    let window = plan.window.clone();
    match (def.paging, window) {
        (Paging::None, _) | (_, None) => single_json(client, src.as_ref(), def, plan).await,
        (paging, Some(w)) if !w.all => {
            one_page_json(client, src.as_ref(), def, paging, plan, w).await
        }
        (paging, Some(w)) => Ok(every_page(client, src.as_ref(), def, paging, plan, w)
            .await?
            .into()),
    }
}

fn not_json(e: serde_json::Error) -> CatalogError {
    CatalogError::Jira(jiragate_jira::JiraError::InvalidResponse {
        message: format!("body is not the expected JSON: {e}"),
    })
}

async fn single_json(
    client: &JiraClient,
    src: &dyn TokenSource,
    def: &'static ActionDef,
    plan: Plan,
) -> Result<ExecuteJson, CatalogError> {
    let response = send_main(client, src, def, &plan, plan.req.clone()).await?;
    let text = match (&plan.shape, std::str::from_utf8(&response.body)) {
        (Shape::Raw, Ok(text)) if !text.trim().is_empty() => text,
        // An array is counted by its elements: the value path does it.
        (Shape::Issue, Ok(text))
            if !text.trim().is_empty() && !text.trim_start().starts_with('[') =>
        {
            text
        }
        _ => {
            let data = answer(&plan.shape, response)?;
            let items = match &data {
                Value::Array(a) => a.len() as u64,
                _ => 1,
            };
            return Ok(ExecuteJson {
                data: JsonText::from_value(&data),
                next_page_token: None,
                meta: meta(def, 1, items),
            });
        }
    };
    let mut out = Vec::with_capacity(text.len() + 256);
    // An array counts its elements (as the value path does); anything else is one item.
    let items = if text.trim_start().starts_with('[') && matches!(plan.shape, Shape::Raw) {
        let elements: Vec<&serde_json::value::RawValue> =
            serde_json::from_str(text).map_err(not_json)?;
        out.extend_from_slice(text.trim().as_bytes());
        elements.len() as u64
    } else {
        shape::item_text(&plan.shape, text, &mut out).map_err(not_json)?;
        1
    };
    Ok(ExecuteJson {
        data: JsonText(out),
        next_page_token: None,
        meta: meta(def, 1, items),
    })
}

async fn one_page_json(
    client: &JiraClient,
    src: &dyn TokenSource,
    def: &'static ActionDef,
    paging: Paging,
    plan: Plan,
    w: Window,
) -> Result<ExecuteJson, CatalogError> {
    let cursor = Cursor::from_token(paging, w.page_token.as_deref())?;
    let size = page_size(&w, paging, 0).unwrap_or(DEFAULT_LIMIT);
    let mut req = plan.req.clone();
    paging::apply(paging, &mut req, &cursor, size);
    let response = send_main(client, src, def, &plan, req).await?;
    let Some(page) = paging::read_raw(paging, &response.body, &cursor, size) else {
        // Not the usual form: the value path decides (and names the error, if any).
        let page = paging::read(paging, response.value()?, &cursor, size);
        let items: Vec<Value> = page
            .items
            .into_iter()
            .map(|v| shape::item(&plan.shape, v))
            .collect();
        let count = items.len() as u64;
        return Ok(ExecuteJson {
            data: JsonText::from_value(&Value::Array(items)),
            next_page_token: page.next.and_then(|c| c.token()),
            meta: meta(def, 1, count),
        });
    };
    let mut out = Vec::with_capacity(response.body.len() + 128 * page.items.len() + 2);
    out.push(b'[');
    for (i, item) in page.items.iter().enumerate() {
        if i > 0 {
            out.push(b',');
        }
        shape::item_text(&plan.shape, item.get(), &mut out).map_err(not_json)?;
    }
    out.push(b']');
    Ok(ExecuteJson {
        data: JsonText(out),
        next_page_token: page.next.and_then(|c| c.token()),
        meta: meta(def, 1, page.items.len() as u64),
    })
}

/// The main request of a plan with the first page's parameters applied.
pub(crate) fn first_request(
    def: &ActionDef,
    plan: &Plan,
) -> Result<crate::PlannedRequest, CatalogError> {
    let mut req = plan.req.clone();
    if let (paging, Some(w)) = (def.paging, &plan.window)
        && paging != Paging::None
    {
        let cursor = Cursor::from_token(paging, w.page_token.as_deref())?;
        let size = page_size(w, paging, 0).unwrap_or(DEFAULT_LIMIT);
        paging::apply(paging, &mut req, &cursor, size);
    }
    let mut planned = crate::PlannedRequest::from_request(&req);
    planned.lookups = plan
        .lookups()
        .into_iter()
        .map(|l| {
            let (method, path) = l.operation();
            (method.to_owned(), path.to_owned())
        })
        .collect();
    Ok(planned)
}

/// Sends the plan's main request (or one page of it), naming the scope if Jira refuses it.
async fn send_main(
    client: &JiraClient,
    src: &dyn TokenSource,
    def: &ActionDef,
    plan: &Plan,
    req: JiraRequest,
) -> Result<JiraResponse, CatalogError> {
    client
        .send(src, req)
        .await
        .map_err(|e| scopes::refused(e, scopes::main_op(def, plan), plan.granted.as_deref(), def))
}

fn meta(def: &ActionDef, pages: u64, items: u64) -> Value {
    json!({
        "entity": def.entity,
        "action": def.action,
        "api_type": def.api_type.as_str(),
        "pages": pages,
        "items": items,
    })
}

async fn single(
    client: &JiraClient,
    src: &dyn TokenSource,
    def: &'static ActionDef,
    plan: Plan,
) -> Result<ExecuteOutput, CatalogError> {
    let response = send_main(client, src, def, &plan, plan.req.clone()).await?;
    let data = answer(&plan.shape, response)?;
    let items = match &data {
        Value::Array(a) => a.len() as u64,
        _ => 1,
    };
    Ok(ExecuteOutput {
        data,
        next_page_token: None,
        meta: meta(def, 1, items),
    })
}

/// The `data` of an unpaged answer.
fn answer(shape: &Shape, response: JiraResponse) -> Result<Value, CatalogError> {
    match shape {
        Shape::Binary => {
            let content_type = response
                .headers
                .get(http::header::CONTENT_TYPE)
                .and_then(|v| v.to_str().ok())
                .unwrap_or("application/octet-stream")
                .to_owned();
            Ok(json!({
                "content_base64": base64::engine::general_purpose::STANDARD.encode(&response.body),
                "content_type": content_type,
                "size": response.body.len(),
            }))
        }
        Shape::ResolveFields(names) => {
            let list = FieldList(as_array(response.value()?));
            let mut resolved = serde_json::Map::new();
            let mut unknown = Vec::new();
            for name in names {
                let found = list.matching(name);
                match found.as_slice() {
                    [] => unknown.push(Value::String(name.clone())),
                    [one] => {
                        resolved.insert(name.clone(), field_summary(one));
                    }
                    many => {
                        resolved.insert(
                            name.clone(),
                            Value::Array(many.iter().map(|f| field_summary(f)).collect()),
                        );
                    }
                }
            }
            Ok(json!({"fields": resolved, "unknown": unknown}))
        }
        other => Ok(shape::item(other, response.value()?)),
    }
}

fn field_summary(f: &Value) -> Value {
    json!({"id": f["id"], "name": f["name"], "custom": f["custom"], "schema": f["schema"]})
}

fn as_array(v: Value) -> Vec<Value> {
    match v {
        Value::Array(a) => a,
        _ => Vec::new(),
    }
}

fn page_size(w: &Window, paging: Paging, collected: u64) -> Option<u32> {
    match w.limit {
        None if w.all => Some(paging::max_page(paging)),
        None => Some(DEFAULT_LIMIT),
        Some(limit) => {
            let left = u64::from(limit).saturating_sub(collected);
            if left == 0 {
                return None;
            }
            let cap = if w.all {
                paging::max_page(paging)
            } else {
                u32::MAX
            };
            Some(u32::try_from(left).unwrap_or(u32::MAX).min(cap))
        }
    }
}

async fn fetch_page(
    client: &JiraClient,
    src: &dyn TokenSource,
    def: &ActionDef,
    paging: Paging,
    plan: &Plan,
    cursor: &Cursor,
    size: u32,
) -> Result<paging::Page, CatalogError> {
    let mut req = plan.req.clone();
    paging::apply(paging, &mut req, cursor, size);
    let response = send_main(client, src, def, plan, req).await?;
    Ok(paging::read(paging, response.value()?, cursor, size))
}

async fn one_page(
    client: &JiraClient,
    src: &dyn TokenSource,
    def: &'static ActionDef,
    paging: Paging,
    plan: Plan,
    w: Window,
) -> Result<ExecuteOutput, CatalogError> {
    let cursor = Cursor::from_token(paging, w.page_token.as_deref())?;
    let size = page_size(&w, paging, 0).unwrap_or(DEFAULT_LIMIT);
    let page = fetch_page(client, src, def, paging, &plan, &cursor, size).await?;
    let items: Vec<Value> = page
        .items
        .into_iter()
        .map(|v| shape::item(&plan.shape, v))
        .collect();
    let count = items.len() as u64;
    Ok(ExecuteOutput {
        data: Value::Array(items),
        next_page_token: page.next.and_then(|c| c.token()),
        meta: meta(def, 1, count),
    })
}

async fn every_page(
    client: &JiraClient,
    src: &dyn TokenSource,
    def: &'static ActionDef,
    paging: Paging,
    plan: Plan,
    w: Window,
) -> Result<ExecuteOutput, CatalogError> {
    let mut cursor = Cursor::from_token(paging, w.page_token.as_deref())?;
    let mut items = Vec::new();
    let mut pages = 0u64;
    let mut next = None;
    while let Some(size) = page_size(&w, paging, items.len() as u64) {
        let page = fetch_page(client, src, def, paging, &plan, &cursor, size).await?;
        pages += 1;
        items.extend(page.items.into_iter().map(|v| shape::item(&plan.shape, v)));
        match page.next {
            Some(c) => {
                next = c.token();
                cursor = c;
            }
            None => {
                next = None;
                break;
            }
        }
    }
    // With a limit, the last page may hold more than asked for.
    if let Some(limit) = w.limit {
        items.truncate(limit as usize);
    }
    let count = items.len() as u64;
    Ok(ExecuteOutput {
        data: Value::Array(items),
        next_page_token: next,
        meta: meta(def, pages, count),
    })
}

/// Every item, one at a time; only one page is held in memory.
pub(crate) fn stream(
    client: JiraClient,
    src: Arc<dyn TokenSource>,
    def: &'static ActionDef,
    plan: Plan,
) -> impl Stream<Item = Result<Value, CatalogError>> + Send + 'static {
    async_stream::try_stream! {
        let mut plan = plan;
        run_pre_steps(&client, src.as_ref(), def, &mut plan).await?;
        match (def.paging, plan.window.clone()) {
            (Paging::None, _) | (_, None) => {
                let out = single(&client, src.as_ref(), def, plan).await?;
                match out.data {
                    Value::Array(items) => for item in items { yield item; },
                    other => yield other,
                }
            }
            (paging, Some(w)) => {
                let mut cursor = Cursor::from_token(paging, w.page_token.as_deref())?;
                let mut sent = 0u64;
                // Without `all`, the stream is the one page the caller asked for.
                let mut more = true;
                while more {
                    let Some(size) = page_size(&w, paging, sent) else { break };
                    let page = fetch_page(&client, src.as_ref(), def, paging, &plan, &cursor, size).await?;
                    for item in page.items {
                        if w.limit.is_some_and(|l| sent >= u64::from(l)) {
                            break;
                        }
                        sent += 1;
                        yield shape::item(&plan.shape, item);
                    }
                    match page.next {
                        Some(c) if w.all => cursor = c,
                        _ => more = false,
                    }
                }
            }
        }
    }
}

/// Sends the look-up's request, naming the scope if Jira refuses it.
async fn send_lookup(
    client: &JiraClient,
    src: &dyn TokenSource,
    def: &ActionDef,
    plan: &Plan,
    lookup: Lookup,
    values: &[&str],
) -> Result<Value, CatalogError> {
    let (method, template) = lookup.operation();
    let op = scopes::spec_op_at(method, template);
    let method = http::Method::from_bytes(method.as_bytes())
        .map_err(|e| CatalogError::invalid("lookup", e.to_string()))?;
    let req = scopes::opt_in(
        JiraRequest::new(method, crate::plan::path(template, values)),
        op,
    );
    let response = client
        .send(src, req)
        .await
        .map_err(|e| scopes::refused(e, op, plan.granted.as_deref(), def))?;
    Ok(response.value()?)
}

async fn run_pre_steps(
    client: &JiraClient,
    src: &dyn TokenSource,
    def: &ActionDef,
    plan: &mut Plan,
) -> Result<(), CatalogError> {
    let steps = std::mem::take(&mut plan.pre);
    for step in steps {
        let lookup = step.lookup();
        match step {
            PreStep::FieldNames => {
                let RequestBody::Json(body) = &plan.req.body else {
                    continue;
                };
                if !fields::needs_lookup(body) {
                    continue;
                }
                let list = send_lookup(client, src, def, plan, lookup, &[]).await?;
                if let RequestBody::Json(body) = &mut plan.req.body {
                    fields::rewrite(body, &FieldList(as_array(list)))?;
                }
            }
            PreStep::TransitionName { issue, name } => {
                let answer = send_lookup(client, src, def, plan, lookup, &[&issue]).await?;
                let transitions = answer["transitions"]
                    .as_array()
                    .cloned()
                    .unwrap_or_default();
                let found = transitions.iter().find(|t| {
                    t["name"]
                        .as_str()
                        .is_some_and(|n| n.eq_ignore_ascii_case(&name))
                        || t["to"]["name"]
                            .as_str()
                            .is_some_and(|n| n.eq_ignore_ascii_case(&name))
                });
                let Some(id) = found.and_then(|t| t["id"].as_str()) else {
                    let names: Vec<&str> = transitions
                        .iter()
                        .filter_map(|t| t["name"].as_str())
                        .collect();
                    return Err(CatalogError::invalid(
                        "transition",
                        format!(
                            "issue {issue} has no transition named '{name}' now; available: {}",
                            names.join(", ")
                        ),
                    ));
                };
                if let RequestBody::Json(body) = &mut plan.req.body {
                    body["transition"] = json!({"id": id});
                }
            }
            PreStep::ProjectId { key, target } => {
                let project = send_lookup(client, src, def, plan, lookup, &[&key]).await?;
                let id = project["id"]
                    .as_str()
                    .and_then(|s| s.parse::<i64>().ok())
                    .or_else(|| project["id"].as_i64())
                    .ok_or_else(|| {
                        CatalogError::invalid(
                            "project",
                            format!("Jira returned no id for project {key}"),
                        )
                    })?;
                if let RequestBody::Json(body) = &mut plan.req.body {
                    body[target] = id.into();
                }
            }
        }
    }
    Ok(())
}
