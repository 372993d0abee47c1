//! Events raised by API calls that change issues, matched against registered webhooks and
//! queued for delivery.
//!
//! Raised (through the platform REST operations, on the site or through the gateway):
//! `jira:issue_created` (createIssue, createIssues), `jira:issue_updated` (editIssue,
//! assignIssue, doTransition; and, with `issue_event_type_name` `issue_commented` /
//! `issue_comment_edited` / `issue_comment_deleted`, the comment operations),
//! `jira:issue_deleted` (deleteIssue), `comment_created`, `comment_updated`, `comment_deleted`.
//! Other registered events are accepted but never raised by the simulator.
//!
//! Payload (webhooks guide, "Example callback for an issue-related event"):
//! `{timestamp, webhookEvent, issue_event_type_name, user, issue, changelog?, comment?}`;
//! dynamic deliveries add `matchedWebhookIds`. Comment events carry `{timestamp, webhookEvent,
//! comment, issue}` with a reduced issue (id, self, key, summary/issuetype/project/priority/
//! status/assignee), as in the guide's comment examples.

use std::collections::BTreeMap;
use std::sync::Arc;

use bytes::Bytes;
use serde_json::{Value, json};

use super::deliver::{self, Job, Signing};
use super::{AdminHook, DynamicHook};
use crate::call::Call;
use crate::jql;
use crate::platform::issues::{FieldSel, comment_json, history_json, issue_json};
use crate::platform::user_json;
use crate::reply::{Body, HandlerResult};
use crate::sitedata::SiteData;
use crate::state::{SimState, random_token};

/// What an operation needs remembered from before it ran.
pub enum Pre {
    Nothing,
    /// Issue id and the length of its history before the change.
    Update(u64, usize),
    /// Comment operations: issue id and, for update/delete, the comment before.
    Comment(u64, Option<Value>),
    /// Deliveries of `jira:issue_deleted`, rendered before the issue disappears.
    Deleted(Vec<Job>),
}

fn watched(op: &str) -> bool {
    matches!(
        op,
        "createIssue"
            | "createIssues"
            | "editIssue"
            | "assignIssue"
            | "doTransition"
            | "deleteIssue"
            | "addComment"
            | "updateComment"
            | "deleteComment"
    )
}

fn has_hooks(call: &Call) -> bool {
    let now = call.state.clock.now_ms();
    let mut hooks = call.state.hooks.lock();
    hooks.prune(now);
    hooks.any_for_site(call.site)
}

pub fn before(call: &Call) -> Pre {
    let op = call.op.operation_id;
    if !watched(op) || !has_hooks(call) {
        return Pre::Nothing;
    }
    let data = call.data();
    let Some(id) = data.resolve(call.param("issueIdOrKey")) else {
        return Pre::Nothing;
    };
    match op {
        "editIssue" | "assignIssue" | "doTransition" => Pre::Update(id, data.history(id).len()),
        "addComment" => Pre::Comment(id, None),
        "updateComment" | "deleteComment" => {
            let cid: u64 = call.param("id").parse().unwrap_or(0);
            let c = data.comments(id).into_iter().find(|c| c.id == cid);
            let rc = render_call(call);
            Pre::Comment(id, c.map(|c| comment_json(&rc, id, &c)))
        }
        "deleteIssue" => {
            let rc = render_call(call);
            let jobs = jobs_for(&rc, &data, id, "jira:issue_deleted", None, None);
            Pre::Deleted(jobs)
        }
        _ => Pre::Nothing,
    }
}

pub fn after(call: &Call, pre: Pre, result: &HandlerResult) {
    let Ok(reply) = result else { return };
    if !reply.status.is_success() {
        return;
    }
    let op = call.op.operation_id;
    let body = match &reply.body {
        Body::Json(v) => Some(v),
        _ => None,
    };
    let mut jobs = Vec::new();
    match (op, pre) {
        (_, Pre::Deleted(j)) => jobs = j,
        ("createIssue" | "createIssues", _) => {
            if !has_hooks(call) {
                return;
            }
            let ids: Vec<u64> = match body {
                Some(b) if op == "createIssue" => b["id"].as_str().into_iter().collect(),
                Some(b) => b["issues"]
                    .as_array()
                    .map(|a| a.iter().filter_map(|i| i["id"].as_str()).collect())
                    .unwrap_or_default(),
                None => Vec::new(),
            }
            .into_iter()
            .filter_map(|s| s.parse().ok())
            .collect();
            let rc = render_call(call);
            let data = call.data();
            for id in ids {
                jobs.extend(jobs_for(&rc, &data, id, "jira:issue_created", None, None));
            }
        }
        (_, Pre::Update(id, before_len)) => {
            let rc = render_call(call);
            let data = call.data();
            let new: Vec<_> = data.history(id).into_iter().skip(before_len).collect();
            if new.is_empty() {
                return;
            }
            let rendered: Vec<Value> = new.iter().map(|h| history_json(&rc, h)).collect();
            let items: Vec<Value> = rendered
                .iter()
                .flat_map(|h| h["items"].as_array().cloned().unwrap_or_default())
                .collect();
            let changelog = json!({"id": rendered.last().map(|h| h["id"].clone()), "items": items});
            jobs = jobs_for(&rc, &data, id, "jira:issue_updated", Some(changelog), None);
        }
        (_, Pre::Comment(id, old)) => {
            let rc = render_call(call);
            let data = call.data();
            let (event, comment) = match op {
                "addComment" => ("comment_created", body.cloned()),
                "updateComment" => ("comment_updated", body.cloned()),
                _ => ("comment_deleted", old),
            };
            let Some(comment) = comment else { return };
            jobs = jobs_for(&rc, &data, id, event, None, Some(comment.clone()));
            jobs.extend(jobs_for(
                &rc,
                &data,
                id,
                "jira:issue_updated",
                None,
                Some(comment),
            ));
        }
        _ => {}
    }
    for j in jobs {
        deliver::enqueue(call.state, j);
    }
}

/// A copy of the call whose links point at the site (`https://<site>.atlassian.net/…`), as
/// in Atlassian's payloads, whichever base the caller used.
fn render_call<'a>(call: &Call<'a>) -> Call<'a> {
    Call {
        state: call.state,
        op: call.op,
        params: Vec::new(),
        query: Vec::new(),
        headers: call.headers,
        body: Bytes::new(),
        site: call.site,
        caller: call.caller.clone(),
        base: call.state.site_url(&call.state.sites[call.site].subdomain),
        now: call.now,
    }
}

fn event_type_name(event: &str, comment: bool, call: &Call) -> &'static str {
    match (event, comment, call.op.operation_id) {
        ("jira:issue_created", _, _) => "issue_created",
        ("jira:issue_deleted", _, _) => "issue_deleted",
        ("jira:issue_updated", true, "addComment") => "issue_commented",
        ("jira:issue_updated", true, "updateComment") => "issue_comment_edited",
        ("jira:issue_updated", true, _) => "issue_comment_deleted",
        ("jira:issue_updated", false, "assignIssue") => "issue_assigned",
        _ => "issue_generic",
    }
}

fn compact_issue(full: &Value) -> Value {
    let mut fields = serde_json::Map::new();
    for f in [
        "summary",
        "issuetype",
        "project",
        "assignee",
        "priority",
        "status",
    ] {
        if let Some(v) = full["fields"].get(f) {
            fields.insert(f.to_owned(), v.clone());
        }
    }
    json!({"id": full["id"], "self": full["self"], "key": full["key"], "fields": fields})
}

fn matches_jql(call: &Call, data: &SiteData, user: usize, query: &str, issue: u64) -> bool {
    if query.trim().is_empty() {
        return true;
    }
    let env = jql::Env {
        now: call.now,
        current_user: user,
        users: &call.state.users,
    };
    jql::prepare(query, &env, data).is_ok_and(|c| jql::matches(data, &c, issue))
}

fn changed_fields(changelog: Option<&Value>) -> Vec<String> {
    changelog
        .and_then(|c| c["items"].as_array())
        .map(|items| {
            items
                .iter()
                .flat_map(|i| [i["fieldId"].as_str(), i["field"].as_str()])
                .flatten()
                .map(str::to_owned)
                .collect()
        })
        .unwrap_or_default()
}

fn dynamic_wants(
    h: &DynamicHook,
    event: &str,
    changelog: Option<&Value>,
    comment: bool,
    now_ms: i64,
) -> bool {
    if h.expires_ms <= now_ms || !h.events.iter().any(|e| e == event) {
        return false;
    }
    if event == "jira:issue_updated"
        && !comment
        && let Some(filter) = &h.field_ids
    {
        // "When the issue changelog contains any of the fields, the webhook
        // jira:issue_updated is sent."
        let changed = changed_fields(changelog);
        return filter.iter().any(|f| changed.iter().any(|c| c == f));
    }
    if event == "jira:issue_updated" && comment && h.field_ids.is_some() {
        return false;
    }
    true
}

/// Every delivery one event causes: one per (app, URL) for dynamic webhooks, with the ids
/// of all its matching webhooks in `matchedWebhookIds`; one per admin webhook.
fn jobs_for(
    call: &Call,
    data: &SiteData,
    issue: u64,
    event: &str,
    changelog: Option<Value>,
    comment: Option<Value>,
) -> Vec<Job> {
    let state: &SimState = call.state;
    let now_ms = state.clock.now_ms();
    let (dynamic, admin): (Vec<DynamicHook>, Vec<AdminHook>) = {
        let hooks = state.hooks.lock();
        (
            hooks
                .dynamic
                .iter()
                .filter(|h| h.site == call.site)
                .filter(|h| dynamic_wants(h, event, changelog.as_ref(), comment.is_some(), now_ms))
                .cloned()
                .collect(),
            hooks
                .admin
                .iter()
                .filter(|h| h.site == call.site && h.enabled && h.events.iter().any(|e| e == event))
                .cloned()
                .collect(),
        )
    };
    if dynamic.is_empty() && admin.is_empty() {
        return Vec::new();
    }
    let full = issue_json(call, data, issue, &FieldSel::parse(&[], "*all"), &[]);
    let mut payload = json!({"timestamp": now_ms, "webhookEvent": event});
    if event.starts_with("comment_") {
        payload["comment"] = comment.clone().unwrap_or(Value::Null);
        payload["issue"] = compact_issue(&full);
    } else {
        payload["issue_event_type_name"] = json!(event_type_name(event, comment.is_some(), call));
        payload["user"] = user_json(call, call.caller.user);
        payload["issue"] = full.clone();
        if let Some(c) = &changelog {
            payload["changelog"] = c.clone();
        }
        if let Some(c) = &comment {
            payload["comment"] = c.clone();
        }
    }
    let site = &state.sites[call.site];
    let mut jobs = Vec::new();

    let mut groups: BTreeMap<(String, String), (usize, Vec<i64>)> = BTreeMap::new();
    for h in &dynamic {
        if matches_jql(call, data, h.user, &h.jql, issue) {
            let g = groups
                .entry((h.client_id.clone(), h.url.clone()))
                .or_insert((h.user, Vec::new()));
            g.1.push(h.id);
        }
    }
    for ((client_id, url), (user, mut ids)) in groups {
        ids.sort_unstable();
        let secret = {
            let auth = state.auth.lock();
            auth.clients
                .iter()
                .find(|c| c.client_id == client_id)
                .map(|c| c.client_secret.clone())
        };
        let Some(secret) = secret else { continue };
        let mut p = payload.clone();
        p["matchedWebhookIds"] = json!(ids);
        jobs.push(Job {
            identifier: identifier(),
            kind: "dynamic",
            webhook_ids: ids,
            site: call.site,
            event: event.to_owned(),
            url,
            body: Bytes::from(p.to_string()),
            signing: Arc::new(Signing::Jwt {
                client_id: client_id.clone(),
                secret,
                cloud_id: site.cloud_id.clone(),
                account_id: state.users[user].account_id.clone(),
            }),
            duplicate: false,
            failed_client: Some(client_id),
        });
    }
    for h in &admin {
        if !matches_jql(call, data, h.user, &h.jql, issue) {
            continue;
        }
        let body = if h.exclude_body {
            Bytes::new()
        } else {
            Bytes::from(payload.to_string())
        };
        jobs.push(Job {
            identifier: identifier(),
            kind: "admin",
            webhook_ids: vec![h.id],
            site: call.site,
            event: event.to_owned(),
            url: substitute(&h.url, &full),
            body,
            signing: Arc::new(match &h.secret {
                Some(s) if !s.is_empty() => Signing::Hub(s.clone()),
                _ => Signing::None,
            }),
            duplicate: false,
            failed_client: None,
        });
    }
    jobs
}

/// A fresh `X-Atlassian-Webhook-Identifier`. Its format is not documented (only that it
/// identifies a delivery and stays the same across retries); the simulator uses random
/// alphanumerics.
fn identifier() -> String {
    random_token("", 24)
}

/// Admin webhook URL variables (webhooks guide, "Variable substitution in the webhook URL"):
/// `${issue.id}`, `${issue.key}`, `${project.id}`, `${project.key}`.
fn substitute(url: &str, issue: &Value) -> String {
    let s = |v: &Value| {
        v.as_str()
            .map(str::to_owned)
            .unwrap_or_else(|| v.to_string())
    };
    url.replace("${issue.id}", &s(&issue["id"]))
        .replace("${issue.key}", &s(&issue["key"]))
        .replace("${project.id}", &s(&issue["fields"]["project"]["id"]))
        .replace("${project.key}", &s(&issue["fields"]["project"]["key"]))
}
