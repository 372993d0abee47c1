//! Jira platform REST v3 handlers and the JSON renderings they share.

pub mod comments;
pub mod issues;
pub mod meta;
pub mod search;

use serde_json::{Value, json};

use crate::call::Call;
use crate::model::{ISSUE_TYPES, PRIORITIES, PROJECTS, STATUSES, project_id};
use crate::reply::Reply;
use crate::sitedata::NO_USER;

pub fn avatar_urls(kind: &str, id: &str) -> Value {
    let base = format!("https://avatar-management.services.atlassian.com/{kind}/{id}");
    json!({"16x16": format!("{base}?size=16"), "24x24": format!("{base}?size=24"),
           "32x32": format!("{base}?size=32"), "48x48": format!("{base}?size=48")})
}

/// A user as Jira renders it (`User` / `UserDetails`).
pub fn user_json(call: &Call, user: usize) -> Value {
    let u = &call.state.users[user];
    json!({
        "self": call.url(&format!("/rest/api/3/user?accountId={}", u.account_id)),
        "accountId": u.account_id,
        "accountType": "atlassian",
        "emailAddress": u.email,
        "avatarUrls": avatar_urls("user", &u.account_id),
        "displayName": u.display_name,
        "active": true,
        "timeZone": u.time_zone,
    })
}

pub fn user_or_null(call: &Call, user: u8) -> Value {
    if user == NO_USER || usize::from(user) >= call.state.users.len() {
        Value::Null
    } else {
        user_json(call, usize::from(user))
    }
}

pub fn status_category_json(call: &Call, status: u8) -> Value {
    let c = STATUSES[usize::from(status)].category;
    json!({"self": call.url(&format!("/rest/api/3/statuscategory/{}", c.id())), "id": c.id(), "key": c.key(),
           "colorName": c.color(), "name": c.name()})
}

pub fn status_json(call: &Call, status: u8) -> Value {
    let s = &STATUSES[usize::from(status)];
    json!({
        "self": call.url(&format!("/rest/api/3/status/{}", s.id)),
        "description": "",
        "iconUrl": call.url("/images/icons/statuses/generic.png"),
        "name": s.name,
        "id": s.id,
        "statusCategory": status_category_json(call, status),
    })
}

pub fn issue_type_json(call: &Call, t: u8) -> Value {
    let d = &ISSUE_TYPES[usize::from(t)];
    json!({
        "self": call.url(&format!("/rest/api/3/issuetype/{}", d.id)),
        "id": d.id,
        "description": d.description,
        "iconUrl": call.url(&format!("/rest/api/2/universal_avatar/view/type/issuetype/avatar/{}?size=medium", d.id)),
        "name": d.name,
        "subtask": d.subtask,
        "avatarId": 10300 + i64::from(t),
        "hierarchyLevel": d.hierarchy,
    })
}

pub fn priority_json(call: &Call, p: u8) -> Value {
    let d = &PRIORITIES[usize::from(p)];
    json!({
        "self": call.url(&format!("/rest/api/3/priority/{}", d.id)),
        "iconUrl": call.url(&format!("/images/icons/priorities/{}.svg", d.name.to_lowercase())),
        "name": d.name,
        "id": d.id,
    })
}

/// The short project rendering used inside issues.
pub fn project_ref_json(call: &Call, p: usize) -> Value {
    let d = &PROJECTS[p];
    json!({
        "self": call.url(&format!("/rest/api/3/project/{}", project_id(p))),
        "id": project_id(p).to_string(),
        "key": d.key,
        "name": d.name,
        "projectTypeKey": d.kind.type_key(),
        "simplified": false,
        "avatarUrls": avatar_urls("project", &project_id(p).to_string()),
    })
}

pub fn find_project(id_or_key: &str) -> Option<usize> {
    PROJECTS.iter().enumerate().position(|(i, d)| {
        d.key.eq_ignore_ascii_case(id_or_key) || project_id(i).to_string() == id_or_key
    })
}

pub fn project_or_404(id_or_key: &str) -> Result<usize, Reply> {
    find_project(id_or_key).ok_or_else(|| {
        Reply::not_found(&format!(
            "No project could be found with key '{id_or_key}'."
        ))
    })
}

pub fn project_lead(p: usize) -> usize {
    p % 3
}

/// Offset paging for `PageBean*` answers.
pub fn offset_page(
    call: &Call,
    items: Vec<Value>,
    start_at: usize,
    max_results: usize,
    path: &str,
) -> Value {
    let total = items.len();
    let values: Vec<Value> = items.into_iter().skip(start_at).take(max_results).collect();
    let is_last = start_at + values.len() >= total;
    let mut page = json!({
        "self": call.url(&format!("{path}?startAt={start_at}&maxResults={max_results}")),
        "maxResults": max_results,
        "startAt": start_at,
        "total": total,
        "isLast": is_last,
        "values": values,
    });
    if !is_last {
        page["nextPage"] = Value::String(call.url(&format!(
            "{path}?startAt={}&maxResults={max_results}",
            start_at + max_results
        )));
    }
    page
}
