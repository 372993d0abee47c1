//! Issues: rendering, create (single and bulk), get, edit, delete, assign, transitions,
//! changelog.

use serde_json::{Map, Value, json};

use super::meta::{component_json, field_schema, version_json};
use super::{
    issue_type_json, priority_json, project_ref_json, status_json, user_json, user_or_null,
};
use crate::call::Call;
use crate::clock::{iso_time, jira_time};
use crate::model::{
    Category, FIELDS, ISSUE_TYPES, NOTES_FIELD, PRIORITIES, PROJECTS, REQUEST_TYPE_FIELD,
    REQUEST_TYPES, SPRINT_FIELD, STATUSES, STORY_POINTS_FIELD, SUBTASK, TEAM_FIELD,
    status_for_transition, transition_id,
};
use crate::reply::{HandlerResult, Reply};
use crate::seed::adf_text;
use crate::sitedata::{ChangeItem, IssueCore, IssueExtra, NO_USER, SiteData};

pub const NOT_FOUND: &str = "Issue does not exist or you do not have permission to see it.";

pub fn resolve_issue(data: &SiteData, id_or_key: &str) -> Result<u64, Reply> {
    data.resolve(id_or_key)
        .ok_or_else(|| Reply::not_found(NOT_FOUND))
}

/// Which fields to render.
pub struct FieldSel {
    all: bool,
    navigable: bool,
    include: Vec<String>,
    exclude: Vec<String>,
}

impl FieldSel {
    pub fn parse(list: &[String], default: &str) -> FieldSel {
        let mut s = FieldSel {
            all: false,
            navigable: false,
            include: Vec::new(),
            exclude: Vec::new(),
        };
        let items: Vec<String> = if list.is_empty() {
            vec![default.to_owned()]
        } else {
            list.to_vec()
        };
        for f in items {
            match f.as_str() {
                "*all" => s.all = true,
                "*navigable" => s.navigable = true,
                x if x.starts_with('-') => {
                    s.exclude.push(x[1..].to_owned());
                    if !s.all && s.include.is_empty() {
                        s.navigable = true;
                    }
                }
                x => s.include.push(x.to_owned()),
            }
        }
        s
    }
    fn wants(&self, field: &str) -> bool {
        if self.exclude.iter().any(|e| e == field) {
            return false;
        }
        self.all
            || (self.navigable && !matches!(field, "comment" | "worklog"))
            || self.include.iter().any(|i| i == field)
    }
    /// True when no field besides the id/key is wanted.
    pub fn ids_only(&self) -> bool {
        !self.all && !self.navigable && self.include.iter().all(|i| i == "id" || i == "key")
    }
}

fn sprint_json(data: &SiteData, sprint: u32) -> Value {
    match data.sprint(sprint) {
        Some(s) => {
            let mut j = json!({"id": s.id, "name": s.name, "state": s.state.as_str(), "boardId": s.board, "goal": s.goal});
            if let Some(t) = s.start {
                j["startDate"] = json!(iso_time(t));
            }
            if let Some(t) = s.end {
                j["endDate"] = json!(iso_time(t));
            }
            if let Some(t) = s.complete {
                j["completeDate"] = json!(iso_time(t));
            }
            json!([j])
        }
        None => Value::Null,
    }
}

pub fn comment_json(call: &Call, issue: u64, c: &crate::sitedata::Comment) -> Value {
    json!({
        "self": call.url(&format!("/rest/api/3/issue/{issue}/comment/{}", c.id)),
        "id": c.id.to_string(),
        "author": user_json(call, usize::from(c.author)),
        "updateAuthor": user_json(call, usize::from(c.update_author)),
        "body": c.body,
        "created": jira_time(c.created),
        "updated": jira_time(c.updated),
        "jsdPublic": c.public,
    })
}

pub fn worklog_json(call: &Call, w: &crate::sitedata::Worklog) -> Value {
    let mut j = json!({
        "self": call.url(&format!("/rest/api/3/issue/{}/worklog/{}", w.issue, w.id)),
        "id": w.id.to_string(),
        "issueId": w.issue.to_string(),
        "author": user_json(call, usize::from(w.author)),
        "updateAuthor": user_json(call, usize::from(w.update_author)),
        "started": jira_time(w.started),
        "timeSpent": format_duration(w.time_spent_seconds),
        "timeSpentSeconds": w.time_spent_seconds,
        "created": jira_time(w.created),
        "updated": jira_time(w.updated),
    });
    if !w.comment.is_null() {
        j["comment"] = w.comment.clone();
    }
    j
}

pub fn format_duration(secs: i64) -> String {
    let (w, d, h, m) = (
        secs / (5 * 8 * 3600),
        (secs / (8 * 3600)) % 5,
        (secs / 3600) % 8,
        (secs / 60) % 60,
    );
    let mut parts = Vec::new();
    for (n, u) in [(w, "w"), (d, "d"), (h, "h"), (m, "m")] {
        if n > 0 {
            parts.push(format!("{n}{u}"));
        }
    }
    if parts.is_empty() {
        "0m".to_owned()
    } else {
        parts.join(" ")
    }
}

/// Parses Jira durations like `3h 30m`, `1d`, `2w` (8h days, 5d weeks).
pub fn parse_duration(s: &str) -> Option<i64> {
    let mut total = 0i64;
    let mut any = false;
    for part in s.split_whitespace() {
        let (num, unit) = part.split_at(part.find(|c: char| !c.is_ascii_digit() && c != '.')?);
        let n: f64 = num.parse().ok()?;
        let mult = match unit {
            "w" => 5 * 8 * 3600,
            "d" => 8 * 3600,
            "h" => 3600,
            "m" => 60,
            _ => return None,
        };
        total += (n * mult as f64) as i64;
        any = true;
    }
    any.then_some(total)
}

/// Attachment details. The upload answer (`Attachment`) types the id as a string; the
/// metadata answer and the issue field (`AttachmentMetadata`) as a number.
pub fn attachment_json(call: &Call, a: &crate::sitedata::Attachment, numeric_id: bool) -> Value {
    json!({
        "self": call.url(&format!("/rest/api/3/attachment/{}", a.id)),
        "id": if numeric_id { json!(a.id) } else { json!(a.id.to_string()) },
        "filename": a.filename,
        "author": user_json(call, usize::from(a.author)),
        "created": jira_time(a.created),
        "size": a.content.len(),
        "mimeType": a.mime_type,
        "content": call.url(&format!("/rest/api/3/attachment/content/{}", a.id)),
    })
}

/// The compact issue rendering used for parents, subtasks and links.
pub fn linked_issue_json(call: &Call, data: &SiteData, id: u64) -> Value {
    let Some(c) = data.core(id) else {
        return json!({"id": id.to_string()});
    };
    json!({
        "id": id.to_string(),
        "key": data.key(id),
        "self": call.url(&format!("/rest/api/3/issue/{id}")),
        "fields": {
            "summary": data.summary(id),
            "status": status_json(call, c.status),
            "priority": priority_json(call, c.priority),
            "issuetype": issue_type_json(call, c.issue_type),
        }
    })
}

fn resolution_json(call: &Call, c: &IssueCore) -> Value {
    if c.resolved == 0 {
        return Value::Null;
    }
    json!({"self": call.url("/rest/api/3/resolution/10000"), "id": "10000", "description": "Work has been completed on this issue.", "name": "Done"})
}

pub fn issue_links_json(call: &Call, data: &SiteData, id: u64) -> Vec<Value> {
    data.links
        .iter()
        .filter(|l| l.inward == id || l.outward == id)
        .map(|l| {
            let t = &crate::model::LINK_TYPES[usize::from(l.link_type)];
            let mut j = json!({
                "id": l.id.to_string(),
                "self": call.url(&format!("/rest/api/3/issueLink/{}", l.id)),
                "type": {"id": t.id, "name": t.name, "inward": t.inward, "outward": t.outward, "self": call.url(&format!("/rest/api/3/issueLinkType/{}", t.id))},
            });
            if l.inward == id {
                j["outwardIssue"] = linked_issue_json(call, data, l.outward);
            } else {
                j["inwardIssue"] = linked_issue_json(call, data, l.inward);
            }
            j
        })
        .collect()
}

fn field_value(call: &Call, data: &SiteData, id: u64, c: &IssueCore, field: &str) -> Option<Value> {
    let extra = data.extras.get(&id);
    Some(match field {
        "summary" => json!(data.summary(id)),
        "description" => data.description(id),
        "issuetype" => issue_type_json(call, c.issue_type),
        "project" => project_ref_json(call, usize::from(c.project)),
        "status" => status_json(call, c.status),
        "priority" => priority_json(call, c.priority),
        "assignee" => user_or_null(call, c.assignee),
        "reporter" => user_or_null(call, c.reporter),
        "labels" => json!(data.labels(id)),
        "created" => json!(jira_time(c.created)),
        "updated" => json!(jira_time(c.updated)),
        "resolution" => resolution_json(call, c),
        "resolutiondate" => {
            if c.resolved == 0 {
                Value::Null
            } else {
                json!(jira_time(c.resolved))
            }
        }
        "duedate" => extra
            .and_then(|x| x.duedate.clone())
            .map(Value::String)
            .unwrap_or(Value::Null),
        "parent" => {
            if c.parent == 0 {
                return None;
            }
            linked_issue_json(call, data, c.parent)
        }
        "components" => Value::Array(
            extra
                .map(|x| {
                    x.components
                        .iter()
                        .filter_map(|cid| data.components.iter().find(|k| k.id == *cid))
                        .map(|k| component_json(call, k))
                        .collect()
                })
                .unwrap_or_default(),
        ),
        "fixVersions" => Value::Array(
            extra
                .map(|x| {
                    x.fix_versions
                        .iter()
                        .filter_map(|vid| data.versions.iter().find(|v| v.id == *vid))
                        .map(|v| version_json(call, v))
                        .collect()
                })
                .unwrap_or_default(),
        ),
        "comment" => {
            let list: Vec<Value> = data
                .comments(id)
                .iter()
                .map(|cm| comment_json(call, id, cm))
                .collect();
            json!({"comments": list, "self": call.url(&format!("/rest/api/3/issue/{id}/comment")), "maxResults": list.len(), "total": list.len(), "startAt": 0})
        }
        "worklog" => {
            let list: Vec<Value> = data
                .worklogs
                .get(&id)
                .map(|w| w.iter().map(|x| worklog_json(call, x)).collect())
                .unwrap_or_default();
            json!({"startAt": 0, "maxResults": 20, "total": list.len(), "worklogs": list})
        }
        "attachment" => Value::Array(
            data.attachments
                .values()
                .filter(|a| a.issue == id)
                .map(|a| attachment_json(call, a, true))
                .collect(),
        ),
        "issuelinks" => Value::Array(issue_links_json(call, data, id)),
        "subtasks" => Value::Array(
            data.subtasks_of(id)
                .into_iter()
                .map(|sid| linked_issue_json(call, data, sid))
                .collect(),
        ),
        "watches" => {
            let w = data.watchers(id);
            json!({"self": call.url(&format!("/rest/api/3/issue/{}/watchers", data.key(id))), "watchCount": w.len(), "isWatching": w.contains(&(call.caller.user as u8))})
        }
        SPRINT_FIELD => {
            if c.sprint == 0 {
                Value::Null
            } else {
                sprint_json(data, c.sprint)
            }
        }
        STORY_POINTS_FIELD => match data.custom_field(id, STORY_POINTS_FIELD) {
            Some(v) => v.clone(),
            None if c.story_points != 0 => json!(c.story_points),
            None => Value::Null,
        },
        REQUEST_TYPE_FIELD => {
            if PROJECTS[usize::from(c.project)].kind != crate::model::ProjectKind::ServiceDesk {
                Value::Null
            } else {
                let rt = &REQUEST_TYPES[usize::from(c.request_type)];
                json!({"requestType": {"id": rt.id, "name": rt.name}, "currentStatus": {"status": STATUSES[usize::from(c.status)].name}})
            }
        }
        TEAM_FIELD | NOTES_FIELD => data.custom_field(id, field).cloned().unwrap_or(Value::Null),
        _ => return None,
    })
}

/// One issue as `IssueBean`.
pub fn issue_json(
    call: &Call,
    data: &SiteData,
    id: u64,
    sel: &FieldSel,
    expand: &[String],
) -> Value {
    let mut j = json!({
        "expand": "renderedFields,names,schema,operations,editmeta,changelog,versionedRepresentations",
        "id": id.to_string(),
        "self": call.url(&format!("/rest/api/3/issue/{id}")),
        "key": data.key(id),
    });
    let Some(c) = data.core(id) else { return j };
    if !sel.ids_only() || sel.include.iter().any(|f| f != "id" && f != "key") {
        let mut fields = Map::new();
        for f in FIELDS {
            if sel.wants(f.id)
                && let Some(v) = field_value(call, data, id, c, f.id)
            {
                fields.insert(f.id.to_owned(), v);
            }
        }
        if sel.wants("creator") {
            fields.insert("creator".to_owned(), user_or_null(call, c.reporter));
        }
        if sel.wants("statuscategorychangedate") {
            fields.insert(
                "statuscategorychangedate".to_owned(),
                json!(jira_time(c.updated)),
            );
        }
        j["fields"] = Value::Object(fields);
    }
    if expand.iter().any(|e| e == "renderedFields") {
        let html = |t: String| {
            if t.is_empty() {
                Value::Null
            } else {
                json!(format!(
                    "<p>{}</p>",
                    crate::auth::authorize::html_escape(&t)
                ))
            }
        };
        j["renderedFields"] = json!({
            "description": html(adf_text(&data.description(id))),
            "created": jira_time(c.created),
            "updated": jira_time(c.updated),
        });
    }
    if expand.iter().any(|e| e == "names") {
        j["names"] = Value::Object(
            FIELDS
                .iter()
                .filter(|f| sel.wants(f.id))
                .map(|f| (f.id.to_owned(), json!(f.name)))
                .collect(),
        );
    }
    if expand.iter().any(|e| e == "schema") {
        j["schema"] = Value::Object(
            FIELDS
                .iter()
                .filter(|f| sel.wants(f.id))
                .map(|f| (f.id.to_owned(), field_schema(f)))
                .collect(),
        );
    }
    if expand.iter().any(|e| e == "changelog") {
        let hs: Vec<Value> = data
            .history(id)
            .iter()
            .map(|h| history_json(call, h))
            .collect();
        j["changelog"] =
            json!({"startAt": 0, "maxResults": hs.len(), "total": hs.len(), "histories": hs});
    }
    if expand.iter().any(|e| e == "transitions") {
        j["transitions"] = Value::Array(transitions_list(call, c));
    }
    j
}

pub fn history_json(call: &Call, h: &crate::sitedata::History) -> Value {
    json!({
        "id": h.id.to_string(),
        "author": user_json(call, usize::from(h.author)),
        "created": jira_time(h.created),
        "items": h.items.iter().map(change_item_json).collect::<Vec<_>>(),
    })
}

/// A change item; absent values are left out (the spec types them as plain strings).
fn change_item_json(i: &ChangeItem) -> Value {
    let mut j = json!({"field": i.field, "fieldtype": "jira", "fieldId": i.field});
    for (k, v) in [
        ("from", &i.from),
        ("fromString", &i.from_string),
        ("to", &i.to),
        ("toString", &i.to_string),
    ] {
        if let Some(v) = v {
            j[k] = json!(v);
        }
    }
    j
}

pub fn get_issue(call: &Call) -> HandlerResult {
    let data = call.data();
    let id = resolve_issue(&data, call.param("issueIdOrKey"))?;
    let sel = FieldSel::parse(&call.q_list("fields"), "*all");
    Ok(Reply::ok(issue_json(
        call,
        &data,
        id,
        &sel,
        &call.q_list("expand"),
    )))
}

// ---------------------------------------------------------------------------------------
// Writing fields.

fn id_or_key_of(v: &Value) -> Option<String> {
    match v {
        Value::Object(o) => o
            .get("id")
            .and_then(|x| {
                x.as_str()
                    .map(str::to_owned)
                    .or_else(|| x.as_u64().map(|n| n.to_string()))
            })
            .or_else(|| o.get("key").and_then(Value::as_str).map(str::to_owned))
            .or_else(|| o.get("name").and_then(Value::as_str).map(str::to_owned)),
        Value::String(s) => Some(s.clone()),
        Value::Number(n) => Some(n.to_string()),
        _ => None,
    }
}

fn user_of(call: &Call, v: &Value, field: &str) -> Result<u8, (String, String)> {
    if v.is_null() {
        return Ok(NO_USER);
    }
    let account = v.get("accountId").and_then(Value::as_str).or(v.as_str());
    match account {
        Some(a) => call
            .state
            .user_by_account(a)
            .map(|u| u.index as u8)
            .ok_or_else(|| (field.to_owned(), format!("Specified user does not exist or you do not have required permissions (accountId: {a})."))),
        None => Err((field.to_owned(), "Specify the user by accountId.".to_owned())),
    }
}

fn is_adf(v: &Value) -> bool {
    v.get("type").and_then(Value::as_str) == Some("doc")
        && v.get("content").is_some_and(Value::is_array)
}

/// Applies `fields` (set semantics) to a row and its extra; returns field errors.
fn apply_fields(
    call: &Call,
    data: &SiteData,
    core: &mut IssueCore,
    extra: &mut IssueExtra,
    fields: &Map<String, Value>,
    creating: bool,
    changes: &mut Vec<ChangeItem>,
) -> Vec<(String, String)> {
    let mut errors = Vec::new();
    let p = usize::from(core.project);
    for (name, v) in fields {
        match name.as_str() {
            "project" | "issuetype" if creating => {}
            "project" | "issuetype" | "status" | "created" | "updated" | "resolutiondate" | "creator" => {
                if !creating || name == "status" {
                    errors.push((name.clone(), format!("Field '{name}' cannot be set. It is not on the appropriate screen, or unknown.")));
                }
            }
            "summary" => match v.as_str().map(str::trim) {
                Some(s) if !s.is_empty() && s.len() <= 255 => {
                    if extra.summary != s {
                        changes.push(change("summary", None, Some(extra.summary.clone()), None, Some(s.to_owned())));
                    }
                    extra.summary = s.to_owned();
                }
                Some(s) if s.len() > 255 => errors.push(("summary".into(), "Summary must be less than 255 characters.".into())),
                _ => errors.push(("summary".into(), "You must specify a summary of the issue.".into())),
            },
            "description" | NOTES_FIELD => {
                if !v.is_null() && !is_adf(v) {
                    errors.push((name.clone(), "Operation value must be an Atlassian Document (see the Atlassian Document Format)".into()));
                } else if name == "description" {
                    changes.push(change("description", None, None, None, None));
                    extra.description = v.clone();
                } else {
                    extra.custom.insert(name.clone(), v.clone());
                }
            }
            "priority" => match id_or_key_of(v).and_then(|x| PRIORITIES.iter().position(|d| d.id == x || d.name.eq_ignore_ascii_case(&x))) {
                Some(pr) => {
                    if core.priority != pr as u8 {
                        changes.push(change("priority", Some(PRIORITIES[usize::from(core.priority)].id), Some(PRIORITIES[usize::from(core.priority)].name.into()), Some(PRIORITIES[pr].id), Some(PRIORITIES[pr].name.into())));
                    }
                    core.priority = pr as u8;
                }
                None => errors.push(("priority".into(), "Specify the Priority (id or name) in the string format".into())),
            },
            "assignee" | "reporter" => match user_of(call, v, name) {
                Ok(u) => {
                    if name == "assignee" {
                        if core.assignee != u {
                            changes.push(user_change(call, "assignee", core.assignee, u));
                        }
                        core.assignee = u;
                    } else if u == NO_USER {
                        errors.push(("reporter".into(), "Reporter is required.".into()));
                    } else {
                        core.reporter = u;
                    }
                }
                Err(e) => errors.push(e),
            },
            "labels" => match v.as_array() {
                Some(ls) if ls.iter().all(|l| l.as_str().is_some_and(|s| !s.contains(' ') && !s.is_empty())) => {
                    let new: Vec<String> = ls.iter().filter_map(|l| l.as_str().map(str::to_owned)).collect();
                    if new != extra.labels {
                        changes.push(change("labels", None, Some(extra.labels.join(" ")), None, Some(new.join(" "))));
                    }
                    extra.labels = new;
                }
                _ => errors.push(("labels".into(), "Labels must be an array of strings without spaces.".into())),
            },
            "duedate" => match v {
                Value::Null => extra.duedate = None,
                Value::String(s) if crate::clock::parse_date(s).is_some() => extra.duedate = Some(s.clone()),
                _ => errors.push(("duedate".into(), "Error parsing date string: use yyyy-MM-dd".into())),
            },
            "parent" => match v {
                Value::Null => core.parent = 0,
                other => match id_or_key_of(other).and_then(|x| data.resolve(&x)) {
                    Some(pid) => core.parent = pid,
                    None => errors.push(("parent".into(), "Could not find issue by id or key.".into())),
                },
            },
            "components" | "fixVersions" => {
                let list = v.as_array().cloned().unwrap_or_default();
                let mut ids = Vec::new();
                for item in &list {
                    let want = id_or_key_of(item).unwrap_or_default();
                    let found = if name == "components" {
                        data.components.iter().find(|c| usize::from(c.project) == p && (c.id.to_string() == want || c.name.eq_ignore_ascii_case(&want))).map(|c| c.id)
                    } else {
                        data.versions.iter().find(|x| usize::from(x.project) == p && (x.id.to_string() == want || x.name.eq_ignore_ascii_case(&want))).map(|x| x.id)
                    };
                    match found {
                        Some(id) => ids.push(id),
                        None => errors.push((name.clone(), format!("{} with id or name '{want}' does not exist.", if name == "components" { "Component" } else { "Version" }))),
                    }
                }
                if name == "components" { extra.components = ids } else { extra.fix_versions = ids }
            }
            SPRINT_FIELD => match v {
                Value::Null => core.sprint = 0,
                other => match other.as_u64().and_then(|s| data.sprint(s as u32)) {
                    Some(s) => core.sprint = s.id,
                    None => errors.push((name.clone(), "Sprint with that id does not exist.".into())),
                },
            },
            STORY_POINTS_FIELD => match v {
                Value::Null | Value::Number(_) => {
                    extra.custom.insert(name.clone(), v.clone());
                }
                _ => errors.push((name.clone(), "Operation value must be a number".into())),
            },
            TEAM_FIELD => match v {
                Value::Null | Value::String(_) => {
                    extra.custom.insert(name.clone(), v.clone());
                }
                _ => errors.push((name.clone(), "Operation value must be a string".into())),
            },
            other => errors.push((other.to_owned(), format!("Field '{other}' cannot be set. It is not on the appropriate screen, or unknown."))),
        }
    }
    errors
}

fn change(
    field: &str,
    from: Option<&str>,
    from_s: Option<String>,
    to: Option<&str>,
    to_s: Option<String>,
) -> ChangeItem {
    ChangeItem {
        field: field.to_owned(),
        from: from.map(str::to_owned),
        from_string: from_s,
        to: to.map(str::to_owned),
        to_string: to_s,
    }
}

fn user_change(call: &Call, field: &str, from: u8, to: u8) -> ChangeItem {
    let name =
        |u: u8| (u != NO_USER).then(|| call.state.users[usize::from(u)].display_name.clone());
    let acct = |u: u8| (u != NO_USER).then(|| call.state.users[usize::from(u)].account_id.clone());
    ChangeItem {
        field: field.to_owned(),
        from: acct(from),
        from_string: name(from),
        to: acct(to),
        to_string: name(to),
    }
}

fn errors_reply(errors: &[(String, String)]) -> Reply {
    let pairs: Vec<(&str, &str)> = errors
        .iter()
        .map(|(k, v)| (k.as_str(), v.as_str()))
        .collect();
    Reply::jira_error(http::StatusCode::BAD_REQUEST, &[], &pairs)
}

/// Merges `update` operations (`set`/`add`/`remove`/`edit`) into a plain `fields` map.
fn merge_update(
    data: &SiteData,
    id: Option<u64>,
    fields: &mut Map<String, Value>,
    update: Option<&Value>,
) -> Result<(), Reply> {
    let Some(update) = update.and_then(Value::as_object) else {
        return Ok(());
    };
    for (name, ops) in update {
        let Some(ops) = ops.as_array() else {
            return Err(Reply::field_error(
                name,
                "Update operations must be an array.",
            ));
        };
        for op in ops {
            let Some((verb, value)) = op.as_object().and_then(|o| o.iter().next()) else {
                continue;
            };
            match verb.as_str() {
                "set" | "edit" => {
                    fields.insert(name.clone(), value.clone());
                }
                "add" | "remove" => {
                    let current =
                        fields
                            .get(name)
                            .cloned()
                            .unwrap_or_else(|| match (name.as_str(), id) {
                                ("labels", Some(id)) => json!(data.labels(id)),
                                ("components", Some(id)) => json!(
                                    data.extras
                                        .get(&id)
                                        .map(|x| x
                                            .components
                                            .iter()
                                            .map(|c| json!({"id": c.to_string()}))
                                            .collect::<Vec<_>>())
                                        .unwrap_or_default()
                                ),
                                ("fixVersions", Some(id)) => json!(
                                    data.extras
                                        .get(&id)
                                        .map(|x| x
                                            .fix_versions
                                            .iter()
                                            .map(|c| json!({"id": c.to_string()}))
                                            .collect::<Vec<_>>())
                                        .unwrap_or_default()
                                ),
                                _ => json!([]),
                            });
                    let mut list = current.as_array().cloned().unwrap_or_default();
                    let same = |a: &Value, b: &Value| {
                        a == b || (id_or_key_of(a).is_some() && id_or_key_of(a) == id_or_key_of(b))
                    };
                    if verb == "add" {
                        if !list.iter().any(|x| same(x, value)) {
                            list.push(value.clone());
                        }
                    } else {
                        list.retain(|x| !same(x, value));
                    }
                    fields.insert(name.clone(), Value::Array(list));
                }
                other => {
                    return Err(Reply::field_error(
                        name,
                        &format!("Unsupported update operation '{other}'."),
                    ));
                }
            }
        }
    }
    Ok(())
}

/// Creates one issue from an `IssueUpdateDetails` body; returns the new id or field errors.
pub fn create_one(call: &Call, data: &mut SiteData, body: &Value) -> Result<u64, Reply> {
    let mut fields = body
        .get("fields")
        .and_then(Value::as_object)
        .cloned()
        .unwrap_or_default();
    merge_update(data, None, &mut fields, body.get("update"))?;
    let project = fields
        .get("project")
        .and_then(id_or_key_of)
        .ok_or_else(|| Reply::field_error("project", "Specify a valid project ID or key"))?;
    let p = super::find_project(&project)
        .ok_or_else(|| Reply::field_error("project", "Specify a valid project ID or key"))?;
    let itype = fields
        .get("issuetype")
        .and_then(id_or_key_of)
        .ok_or_else(|| Reply::field_error("issuetype", "Specify an issue type"))?;
    let t = ISSUE_TYPES
        .iter()
        .position(|d| d.id == itype || d.name.eq_ignore_ascii_case(&itype))
        .filter(|t| PROJECTS[p].kind.issue_types().contains(&(*t as u8)))
        .ok_or_else(|| Reply::field_error("issuetype", "The issue type selected is invalid."))?;
    if !fields.contains_key("summary") {
        return Err(Reply::field_error(
            "summary",
            "You must specify a summary of the issue.",
        ));
    }
    if t as u8 == SUBTASK && !fields.contains_key("parent") {
        return Err(Reply::field_error(
            "parent",
            "Given parent work item does not belong to appropriate hierarchy.",
        ));
    }
    let now = call.now;
    let mut core = IssueCore {
        project: p as u8,
        number: 0,
        issue_type: t as u8,
        status: PROJECTS[p].kind.workflow()[0],
        priority: crate::model::DEFAULT_PRIORITY,
        assignee: NO_USER,
        reporter: call.caller.user as u8,
        labels: 0,
        story_points: 0,
        request_type: 0,
        deleted: false,
        has_extra: true,
        sprint: 0,
        parent: 0,
        created: now,
        updated: now,
        resolved: 0,
    };
    let mut extra = IssueExtra {
        description: Value::Null,
        ..IssueExtra::default()
    };
    let errors = apply_fields(
        call,
        data,
        &mut core,
        &mut extra,
        &fields,
        true,
        &mut Vec::new(),
    );
    if !errors.is_empty() {
        return Err(errors_reply(&errors));
    }
    core.number = data.take_number(p as u8);
    Ok(data.insert_issue(core, extra))
}

fn created_json(call: &Call, data: &SiteData, id: u64) -> Value {
    json!({"id": id.to_string(), "key": data.key(id), "self": call.url(&format!("/rest/api/3/issue/{id}"))})
}

pub fn create_issue(call: &Call) -> HandlerResult {
    let body = call.json_body()?;
    let mut data = call.data_mut();
    let id = create_one(call, &mut data, &body)?;
    Ok(Reply::created(created_json(call, &data, id)))
}

pub fn create_issues(call: &Call) -> HandlerResult {
    let body = call.json_body()?;
    let updates = body
        .get("issueUpdates")
        .and_then(Value::as_array)
        .cloned()
        .unwrap_or_default();
    if updates.len() > 50 {
        return Err(Reply::bad_request(
            "The number of issues to create exceeds the limit of 50.",
        ));
    }
    let mut data = call.data_mut();
    let mut created = Vec::new();
    let mut errors = Vec::new();
    for (n, u) in updates.iter().enumerate() {
        match create_one(call, &mut data, u) {
            Ok(id) => created.push(created_json(call, &data, id)),
            Err(r) => {
                let element = match r.body {
                    crate::reply::Body::Json(v) => v,
                    _ => json!({}),
                };
                errors.push(
                    json!({"status": 400, "elementErrors": element, "failedElementNumber": n}),
                );
            }
        }
    }
    let status = if created.is_empty() && !errors.is_empty() {
        http::StatusCode::BAD_REQUEST
    } else {
        http::StatusCode::CREATED
    };
    Ok(Reply::json(
        status,
        json!({"issues": created, "errors": errors}),
    ))
}

pub fn edit_issue(call: &Call) -> HandlerResult {
    let body = call.json_body()?;
    let mut data = call.data_mut();
    let id = resolve_issue(&data, call.param("issueIdOrKey"))?;
    let mut fields = body
        .get("fields")
        .and_then(Value::as_object)
        .cloned()
        .unwrap_or_default();
    merge_update(&data, Some(id), &mut fields, body.get("update"))?;
    let mut extra = data.extra_mut(id).clone();
    let Some(mut core) = data.core(id).cloned() else {
        return Err(Reply::not_found(NOT_FOUND));
    };
    let mut changes = Vec::new();
    let errors = apply_fields(
        call,
        &data,
        &mut core,
        &mut extra,
        &fields,
        false,
        &mut changes,
    );
    if !errors.is_empty() {
        return Err(errors_reply(&errors));
    }
    core.updated = call.now;
    if let Some(slot) = data.core_mut(id) {
        *slot = core;
    }
    data.extras.insert(id, extra);
    data.record_change(id, call.caller.user as u8, call.now, changes);
    if call.q_bool("returnIssue") {
        let sel = FieldSel::parse(&[], "*all");
        return Ok(Reply::ok(issue_json(
            call,
            &data,
            id,
            &sel,
            &call.q_list("expand"),
        )));
    }
    Ok(Reply::no_content())
}

pub fn delete_issue(call: &Call) -> HandlerResult {
    let mut data = call.data_mut();
    let id = resolve_issue(&data, call.param("issueIdOrKey"))?;
    let subtasks = data.subtasks_of(id);
    if !subtasks.is_empty() && !call.q_bool("deleteSubtasks") {
        return Err(Reply::bad_request(
            "The issue has subtasks and deleteSubtasks is not set to true.",
        ));
    }
    for sid in subtasks.into_iter().chain([id]) {
        if let Some(c) = data.core_mut(sid) {
            c.deleted = true;
        }
        data.links.retain(|l| l.inward != sid && l.outward != sid);
        data.attachments.retain(|_, a| a.issue != sid);
    }
    Ok(Reply::no_content())
}

pub fn assign_issue(call: &Call) -> HandlerResult {
    let body = call.json_body()?;
    let mut data = call.data_mut();
    let id = resolve_issue(&data, call.param("issueIdOrKey"))?;
    let project = data.core(id).map(|c| usize::from(c.project)).unwrap_or(0);
    let to = match body.get("accountId") {
        None | Some(Value::Null) => NO_USER,
        Some(Value::String(s)) if s == "-1" => super::project_lead(project) as u8,
        Some(v) => user_of(call, v, "accountId").map_err(|(k, m)| Reply::field_error(&k, &m))?,
    };
    if to != NO_USER && usize::from(to) >= crate::model::FIRST_CUSTOMER {
        return Err(Reply::bad_request(&format!(
            "User '{}' cannot be assigned issues.",
            call.state.users[usize::from(to)].account_id
        )));
    }
    let from = data.core(id).map(|c| c.assignee).unwrap_or(NO_USER);
    if let Some(c) = data.core_mut(id) {
        c.assignee = to;
        c.updated = call.now;
    }
    if from != to {
        let item = user_change(call, "assignee", from, to);
        data.record_change(id, call.caller.user as u8, call.now, vec![item]);
    }
    Ok(Reply::no_content())
}

pub fn transitions_list(call: &Call, c: &IssueCore) -> Vec<Value> {
    PROJECTS[usize::from(c.project)]
        .kind
        .workflow()
        .iter()
        .filter(|s| **s != c.status)
        .map(|s| {
            json!({
                "id": transition_id(*s),
                "name": STATUSES[usize::from(*s)].transition,
                "to": status_json(call, *s),
                "hasScreen": false, "isGlobal": true, "isInitial": false, "isAvailable": true,
                "isConditional": false, "isLooped": false,
            })
        })
        .collect()
}

pub fn get_transitions(call: &Call) -> HandlerResult {
    let data = call.data();
    let id = resolve_issue(&data, call.param("issueIdOrKey"))?;
    let Some(c) = data.core(id) else {
        return Err(Reply::not_found(NOT_FOUND));
    };
    let mut list = transitions_list(call, c);
    if let Some(t) = call.q("transitionId") {
        list.retain(|x| x["id"] == t);
    }
    Ok(Reply::ok(
        json!({"expand": "transitions", "transitions": list}),
    ))
}

/// Moves an issue to the status a transition leads to, recording the change.
pub fn apply_transition(
    data: &mut SiteData,
    id: u64,
    transition: &str,
    author: u8,
    now: i64,
) -> Result<(), Reply> {
    let Some(c) = data.core(id) else {
        return Err(Reply::not_found(NOT_FOUND));
    };
    let target = status_for_transition(transition)
        .filter(|s| *s != c.status && PROJECTS[usize::from(c.project)].kind.workflow().contains(s))
        .ok_or_else(|| {
            Reply::bad_request(&format!(
                "Transition id '{transition}' is not valid for this issue."
            ))
        })?;
    let from = c.status;
    if let Some(c) = data.core_mut(id) {
        c.status = target;
        c.updated = now;
        c.resolved = if STATUSES[usize::from(target)].category == Category::Done {
            now
        } else {
            0
        };
    }
    let (f, t) = (&STATUSES[usize::from(from)], &STATUSES[usize::from(target)]);
    data.record_change(
        id,
        author,
        now,
        vec![change(
            "status",
            Some(f.id),
            Some(f.name.into()),
            Some(t.id),
            Some(t.name.into()),
        )],
    );
    Ok(())
}

pub fn do_transition(call: &Call) -> HandlerResult {
    let body = call.json_body()?;
    let transition = body
        .get("transition")
        .and_then(id_or_key_of)
        .ok_or_else(|| Reply::bad_request("Missing 'transition' identifier"))?;
    let mut data = call.data_mut();
    let id = resolve_issue(&data, call.param("issueIdOrKey"))?;
    apply_transition(&mut data, id, &transition, call.caller.user as u8, call.now)?;
    let fields = body
        .get("fields")
        .and_then(Value::as_object)
        .cloned()
        .unwrap_or_default();
    if !fields.is_empty() {
        let mut extra = data.extra_mut(id).clone();
        let Some(mut core) = data.core(id).cloned() else {
            return Err(Reply::not_found(NOT_FOUND));
        };
        let mut changes = Vec::new();
        let errors = apply_fields(
            call,
            &data,
            &mut core,
            &mut extra,
            &fields,
            false,
            &mut changes,
        );
        if !errors.is_empty() {
            return Err(errors_reply(&errors));
        }
        if let Some(slot) = data.core_mut(id) {
            *slot = core;
        }
        data.extras.insert(id, extra);
        data.record_change(id, call.caller.user as u8, call.now, changes);
    }
    Ok(Reply::no_content())
}

pub fn changelog(call: &Call) -> HandlerResult {
    let data = call.data();
    let id = resolve_issue(&data, call.param("issueIdOrKey"))?;
    let start = call.q_num("startAt", 0)?;
    let max = call.q_num("maxResults", 100)?.max(1);
    let list: Vec<Value> = data
        .history(id)
        .iter()
        .map(|h| history_json(call, h))
        .collect();
    Ok(Reply::ok(super::offset_page(
        call,
        list,
        start,
        max,
        &format!("/rest/api/3/issue/{}/changelog", data.key(id)),
    )))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn durations_round_trip() {
        assert_eq!(parse_duration("3h 30m"), Some(12_600));
        assert_eq!(parse_duration("1d"), Some(28_800));
        assert_eq!(parse_duration("1w"), Some(144_000));
        assert_eq!(parse_duration("soon"), None);
        assert_eq!(format_duration(12_600), "3h 30m");
        assert_eq!(format_duration(0), "0m");
    }

    #[test]
    fn field_selection() {
        let s = FieldSel::parse(&[], "id");
        assert!(s.ids_only());
        let s = FieldSel::parse(&["summary".into(), "status".into()], "id");
        assert!(s.wants("summary") && !s.wants("description"));
        let s = FieldSel::parse(&["*all".into(), "-comment".into()], "id");
        assert!(s.wants("description") && !s.wants("comment"));
        let s = FieldSel::parse(&["-description".into()], "id");
        assert!(s.wants("summary") && !s.wants("description"));
    }
}
