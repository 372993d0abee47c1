//! The platform spec's dynamic webhook operations (`registerDynamicWebhooks`,
//! `getDynamicWebhooksForApp`, `deleteWebhookById`, `refreshWebhooks`, `getFailedWebhooks`).
//! Only OAuth 2.0 apps may call them ("Only Connect and OAuth 2.0 apps can use this
//! operation"); others get 403 with an `ErrorCollection`. Webhooks belong to the calling app
//! (client id) on the site of the request.

use http::StatusCode;
use serde_json::{Value, json};

use super::{DYNAMIC_EVENTS, DYNAMIC_TTL_MS, DynamicHook, MAX_DYNAMIC_PER_APP};
use crate::call::Call;
use crate::jql::{self, Expr, Op};
use crate::reply::{Body, HandlerResult, Reply};

const NOT_AN_APP: &str = "Only Connect and OAuth 2.0 apps can use this operation.";

/// The calling app's client id, from the OAuth grant behind the access token.
fn app_of(call: &Call) -> Result<String, Reply> {
    let family = call
        .caller
        .credential
        .strip_prefix("oauth:")
        .and_then(|f| f.parse::<u64>().ok());
    let auth = call.state.auth.lock();
    family
        .and_then(|f| auth.grants.get(&f))
        .map(|g| g.client_id.clone())
        .ok_or_else(|| Reply::jira_error(StatusCode::FORBIDDEN, &[NOT_AN_APP], &[]))
}

fn now_ms(call: &Call) -> i64 {
    call.state.clock.now_ms()
}

fn hook_json(h: &DynamicHook) -> Value {
    let mut j = json!({
        "id": h.id,
        "jqlFilter": h.jql,
        "events": h.events,
        "url": h.url,
        "expirationDate": h.expires_ms,
    });
    if let Some(f) = &h.field_ids {
        j["fieldIdsFilter"] = json!(f);
    }
    if let Some(k) = &h.property_keys {
        j["issuePropertyKeysFilter"] = json!(k);
    }
    j
}

/// Fields and operators the spec allows in a webhook's `jqlFilter`: fields `issueKey`,
/// `project`, `issuetype`, `status`, `assignee`, `reporter` (the spec also names
/// `issue.property` and `cf[id]`, which the simulator's JQL cannot evaluate, so they are
/// refused), operators `=`, `!=`, `IN`, `NOT IN`, joined with AND/OR/NOT.
fn check_subset(e: &Expr, errors: &mut Vec<String>) {
    match e {
        Expr::And(a, b) | Expr::Or(a, b) => {
            check_subset(a, errors);
            check_subset(b, errors);
        }
        Expr::Not(a) => check_subset(a, errors),
        Expr::Clause { field, op, .. } => {
            let f = field.to_ascii_lowercase();
            let ok_field = matches!(
                f.as_str(),
                "issuekey"
                    | "key"
                    | "project"
                    | "issuetype"
                    | "type"
                    | "status"
                    | "assignee"
                    | "reporter"
            );
            if !ok_field {
                errors.push(format!("The clause {field} is unsupported"));
            } else if !matches!(op, Op::Eq | Op::Ne | Op::In | Op::NotIn) {
                errors.push(format!(
                    "The operator used in the clause {field} is unsupported"
                ));
            }
        }
    }
}

fn validate_webhook(call: &Call, w: &Value) -> Result<DynamicHook, Vec<String>> {
    let mut errors = Vec::new();
    let events: Vec<String> = match w.get("events").and_then(Value::as_array) {
        Some(a) if !a.is_empty() => a
            .iter()
            .map(|e| e.as_str().unwrap_or("").to_owned())
            .collect(),
        _ => {
            errors.push("At least one event is required.".to_owned());
            Vec::new()
        }
    };
    for e in &events {
        if !DYNAMIC_EVENTS.contains(&e.as_str()) {
            errors.push(format!("The event {e} is not supported."));
        }
    }
    let jql_text = w
        .get("jqlFilter")
        .and_then(Value::as_str)
        .unwrap_or("")
        .trim()
        .to_owned();
    if jql_text.is_empty() {
        errors.push("The JQL filter is required.".to_owned());
    } else {
        match jql::parse(&jql_text) {
            Err(m) => errors.push(m),
            Ok(q) => {
                if !q.order.is_empty() {
                    errors.push("The ORDER BY clause is unsupported".to_owned());
                }
                if let Some(f) = &q.filter {
                    check_subset(f, &mut errors);
                }
                if errors.is_empty() {
                    let env = jql::Env {
                        now: call.now,
                        current_user: call.caller.user,
                        users: &call.state.users,
                    };
                    if let Err(ms) = jql::compile(&q, &env, &call.data()) {
                        errors.extend(ms);
                    }
                }
            }
        }
    }
    let strings = |k: &str| -> Option<Vec<String>> {
        w.get(k).and_then(Value::as_array).map(|a| {
            a.iter()
                .filter_map(Value::as_str)
                .map(str::to_owned)
                .collect()
        })
    };
    if !errors.is_empty() {
        return Err(errors);
    }
    Ok(DynamicHook {
        id: 0,
        client_id: String::new(),
        site: call.site,
        user: call.caller.user,
        url: String::new(),
        events,
        jql: jql_text,
        field_ids: strings("fieldIdsFilter"),
        property_keys: strings("issuePropertyKeysFilter"),
        expires_ms: 0,
    })
}

pub fn register(call: &Call) -> HandlerResult {
    let client_id = app_of(call)?;
    let body = call.json_body()?;
    let url = body
        .get("url")
        .and_then(Value::as_str)
        .map(str::trim)
        .unwrap_or("");
    let Some(list) = body.get("webhooks").and_then(Value::as_array) else {
        return Err(Reply::bad_request("The webhooks list is required."));
    };
    let lower = url.to_ascii_lowercase();
    if url.is_empty() || !(lower.starts_with("http://") || lower.starts_with("https://")) {
        return Err(Reply::bad_request(
            "The webhook URL must be an absolute http(s) URL.",
        ));
    }
    let now = now_ms(call);
    let mut results = Vec::new();
    for w in list {
        let validated = validate_webhook(call, w);
        let mut hooks = call.state.hooks.lock();
        hooks.prune(now);
        let mine = hooks
            .dynamic
            .iter()
            .filter(|h| h.client_id == client_id && h.site == call.site);
        // "Only a single URL per app is allowed to be registered."
        let other_url = mine.clone().any(|h| h.url != url);
        let count = mine.count();
        let outcome = match validated {
            Err(errors) => json!({"errors": errors}),
            Ok(_) if other_url => {
                json!({"errors": ["Only a single URL per app is allowed to be registered."]})
            }
            Ok(_) if count >= MAX_DYNAMIC_PER_APP => json!({"errors": [format!(
                "The app has reached the limit of {MAX_DYNAMIC_PER_APP} webhooks on this site."
            )]}),
            Ok(mut h) => {
                h.id = hooks.alloc_id();
                h.client_id = client_id.clone();
                h.url = url.to_owned();
                h.expires_ms = now + DYNAMIC_TTL_MS;
                let id = h.id;
                hooks.dynamic.push(h);
                json!({"createdWebhookId": id})
            }
        };
        results.push(outcome);
    }
    Ok(Reply::ok(json!({"webhookRegistrationResult": results})))
}

pub fn list(call: &Call) -> HandlerResult {
    let client_id = app_of(call)?;
    let start = call.q_num("startAt", 0)?;
    let max = call.q_num("maxResults", 100)?.clamp(1, 100);
    let now = now_ms(call);
    let mine: Vec<DynamicHook> = {
        let mut hooks = call.state.hooks.lock();
        hooks.prune(now);
        hooks
            .dynamic
            .iter()
            .filter(|h| h.client_id == client_id && h.site == call.site)
            .cloned()
            .collect()
    };
    let total = mine.len();
    let values: Vec<Value> = mine.iter().skip(start).take(max).map(hook_json).collect();
    let is_last = start + values.len() >= total;
    let mut page = json!({
        "self": call.url(&format!("/rest/api/3/webhook?startAt={start}&maxResults={max}")),
        "startAt": start,
        "maxResults": max,
        "total": total,
        "isLast": is_last,
        "values": values,
    });
    if !is_last {
        page["nextPage"] = json!(call.url(&format!(
            "/rest/api/3/webhook?startAt={}&maxResults={max}",
            start + max
        )));
    }
    Ok(Reply::ok(page))
}

fn webhook_ids(call: &Call) -> Result<Vec<i64>, Reply> {
    let body = call.json_body()?;
    body.get("webhookIds")
        .and_then(Value::as_array)
        .map(|a| a.iter().filter_map(Value::as_i64).collect())
        .ok_or_else(|| Reply::bad_request("The list of webhook IDs is required."))
}

pub fn delete(call: &Call) -> HandlerResult {
    let client_id = app_of(call)?;
    let ids = webhook_ids(call)?;
    let mut hooks = call.state.hooks.lock();
    // "Only webhooks registered by the calling app are removed."
    hooks
        .dynamic
        .retain(|h| !(h.client_id == client_id && h.site == call.site && ids.contains(&h.id)));
    Ok(Reply {
        status: StatusCode::ACCEPTED,
        body: Body::Empty,
        headers: Vec::new(),
    })
}

pub fn refresh(call: &Call) -> HandlerResult {
    let client_id = app_of(call)?;
    let ids = webhook_ids(call)?;
    let now = now_ms(call);
    let expires = now + DYNAMIC_TTL_MS;
    let mut hooks = call.state.hooks.lock();
    hooks.prune(now);
    // "Unrecognized webhook IDs (those that are not found or belong to other apps) are ignored."
    for h in hooks.dynamic.iter_mut() {
        if h.client_id == client_id && h.site == call.site && ids.contains(&h.id) {
            h.expires_ms = expires;
        }
    }
    Ok(Reply::ok(json!({"expirationDate": expires})))
}

/// `getFailedWebhooks`. The spec says only Connect apps may call it; the simulator lets the
/// OAuth app that owns the deliveries read them (jiragate's reconciliation needs that).
/// Cursor: `after` (the spec's parameter) or `failedAfter` (its description and `next` link),
/// in ms since the epoch; records with the failure time of the page's last record are never
/// split across pages.
pub fn failed(call: &Call) -> HandlerResult {
    let client_id = app_of(call)?;
    let max = call.q_num("maxResults", 100)?.clamp(1, 100);
    let after: i64 = match call.q("after").or_else(|| call.q("failedAfter")) {
        None | Some("") => i64::MIN,
        Some(v) => v.parse().map_err(|_| {
            Reply::bad_request(&format!(
                "The value '{v}' is not valid for the parameter 'after'."
            ))
        })?,
    };
    let now = now_ms(call);
    let mut hooks = call.state.hooks.lock();
    hooks.prune(now);
    let mut mine: Vec<&super::FailedDelivery> = hooks
        .failed
        .iter()
        .filter(|f| f.client_id == client_id && f.site == call.site && f.failure_ms > after)
        .collect();
    mine.sort_by_key(|f| f.failure_ms);
    let mut page: Vec<&super::FailedDelivery> = Vec::new();
    for f in mine {
        if page.len() >= max && page.last().is_some_and(|l| l.failure_ms != f.failure_ms) {
            break;
        }
        page.push(f);
    }
    let values: Vec<Value> = page
        .iter()
        .map(|f| json!({"id": f.id, "body": f.body, "url": f.url, "failureTime": f.failure_ms}))
        .collect();
    let mut out = json!({"values": values, "maxResults": max});
    if let Some(last) = page.last() {
        out["next"] = json!(call.url(&format!(
            "/rest/api/3/webhook/failed?failedAfter={}&maxResults={max}",
            last.failure_ms
        )));
    }
    Ok(Reply::ok(out))
}
