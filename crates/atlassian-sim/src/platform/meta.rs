//! Reference data: myself, server info, projects, versions, components, issue types,
//! fields, priorities, statuses, users, labels, link types, create metadata.

use std::collections::BTreeSet;

use serde_json::{Value, json};

use super::{
    issue_type_json, offset_page, priority_json, project_lead, project_or_404, project_ref_json,
    status_json, user_json,
};
use crate::call::Call;
use crate::clock::jira_time;
use crate::model::{
    FIELDS, FIRST_CUSTOMER, ISSUE_TYPES, LINK_TYPES, PRIORITIES, PROJECTS, STATUSES, project_id,
};
use crate::reply::{HandlerResult, Reply};
use crate::sitedata::{Component, Version};

pub fn myself(call: &Call) -> HandlerResult {
    let mut u = user_json(call, call.caller.user);
    u["locale"] = json!("en_US");
    u["groups"] = json!({"size": 2, "items": []});
    u["applicationRoles"] = json!({"size": 1, "items": []});
    u["expand"] = json!("groups,applicationRoles");
    Ok(Reply::ok(u))
}

pub fn server_info(call: &Call) -> HandlerResult {
    Ok(Reply::ok(json!({
        "baseUrl": call.state.site_url(&call.site().subdomain),
        "displayUrl": call.state.site_url(&call.site().subdomain),
        "version": "1001.0.0-SNAPSHOT",
        "versionNumbers": [1001, 0, 0],
        "deploymentType": "Cloud",
        "buildNumber": 100_285,
        "buildDate": "2025-01-01T00:00:00.000+0000",
        "serverTime": jira_time(call.now),
        "scmInfo": "c69b1b3ac22a0efe14837fa9e25386d5c357b9e5",
        "serverTitle": format!("{} Jira", call.site().name),
        "serverTimeZone": "UTC",
    })))
}

pub fn version_json(call: &Call, v: &Version) -> Value {
    let mut j = json!({
        "self": call.url(&format!("/rest/api/3/version/{}", v.id)),
        "id": v.id.to_string(),
        "name": v.name,
        "description": v.description,
        "archived": v.archived,
        "released": v.released,
        "projectId": project_id(usize::from(v.project)),
    });
    if let Some(d) = &v.release_date {
        j["releaseDate"] = json!(d);
    }
    if let Some(d) = &v.start_date {
        j["startDate"] = json!(d);
    }
    j
}

pub fn component_json(call: &Call, c: &Component) -> Value {
    let mut j = json!({
        "self": call.url(&format!("/rest/api/3/component/{}", c.id)),
        "id": c.id.to_string(),
        "name": c.name,
        "description": c.description,
        "assigneeType": "PROJECT_DEFAULT",
        "realAssigneeType": "PROJECT_DEFAULT",
        "isAssigneeTypeValid": false,
        "project": PROJECTS[usize::from(c.project)].key,
        "projectId": project_id(usize::from(c.project)),
    });
    if let Some(l) = c.lead {
        j["lead"] = user_json(call, usize::from(l));
    }
    j
}

pub fn project_json(call: &Call, p: usize, expand: &[String]) -> Value {
    let mut j = project_ref_json(call, p);
    let kind = PROJECTS[p].kind;
    j["description"] = json!(format!("The {} project.", PROJECTS[p].name));
    j["lead"] = user_json(call, project_lead(p));
    j["assigneeType"] = json!("UNASSIGNED");
    j["style"] = json!("classic");
    j["isPrivate"] = json!(false);
    j["properties"] = json!({});
    j["expand"] = json!("description,lead,issueTypes,url,projectKeys,permissions,insight");
    j["issueTypes"] = Value::Array(
        kind.issue_types()
            .iter()
            .map(|t| issue_type_json(call, *t))
            .collect(),
    );
    let data = call.data();
    j["components"] = Value::Array(
        data.components
            .iter()
            .filter(|c| usize::from(c.project) == p)
            .map(|c| component_json(call, c))
            .collect(),
    );
    j["versions"] = Value::Array(
        data.versions
            .iter()
            .filter(|v| usize::from(v.project) == p)
            .map(|v| version_json(call, v))
            .collect(),
    );
    j["roles"] = json!({"Administrators": call.url(&format!("/rest/api/3/project/{}/role/10002", project_id(p)))});
    if expand.iter().any(|e| e == "insight") {
        let count = data
            .live_ids()
            .filter(|id| data.core(*id).is_some_and(|c| usize::from(c.project) == p))
            .count();
        j["insight"] =
            json!({"totalIssueCount": count, "lastIssueUpdateTime": jira_time(call.now)});
    }
    j
}

pub fn all_projects(call: &Call) -> HandlerResult {
    let expand = call.q_list("expand");
    Ok(Reply::ok(Value::Array(
        (0..PROJECTS.len())
            .map(|p| project_json(call, p, &expand))
            .collect(),
    )))
}

pub fn search_projects(call: &Call) -> HandlerResult {
    let start = call.q_num("startAt", 0)?;
    let max = call.q_num("maxResults", 50)?.clamp(1, 100);
    let query = call.q("query").unwrap_or("").to_lowercase();
    let keys = call.q_list("keys");
    let ids = call.q_list("id");
    let type_key = call.q_list("typeKey");
    let expand = call.q_list("expand");
    let mut ps: Vec<usize> = (0..PROJECTS.len())
        .filter(|p| {
            let d = &PROJECTS[*p];
            (query.is_empty()
                || d.key.to_lowercase().contains(&query)
                || d.name.to_lowercase().contains(&query))
                && (keys.is_empty() || keys.iter().any(|k| k.eq_ignore_ascii_case(d.key)))
                && (ids.is_empty() || ids.iter().any(|i| *i == project_id(*p).to_string()))
                && (type_key.is_empty() || type_key.iter().any(|t| t == d.kind.type_key()))
        })
        .collect();
    match call.q("orderBy").unwrap_or("key") {
        "-key" => ps.sort_by(|a, b| PROJECTS[*b].key.cmp(PROJECTS[*a].key)),
        "name" => ps.sort_by(|a, b| PROJECTS[*a].name.cmp(PROJECTS[*b].name)),
        "-name" => ps.sort_by(|a, b| PROJECTS[*b].name.cmp(PROJECTS[*a].name)),
        _ => ps.sort_by(|a, b| PROJECTS[*a].key.cmp(PROJECTS[*b].key)),
    }
    let items = ps
        .into_iter()
        .map(|p| project_json(call, p, &expand))
        .collect();
    Ok(Reply::ok(offset_page(
        call,
        items,
        start,
        max,
        "/rest/api/3/project/search",
    )))
}

pub fn get_project(call: &Call) -> HandlerResult {
    let p = project_or_404(call.param("projectIdOrKey"))?;
    Ok(Reply::ok(project_json(call, p, &call.q_list("expand"))))
}

pub fn project_statuses(call: &Call) -> HandlerResult {
    let p = project_or_404(call.param("projectIdOrKey"))?;
    let kind = PROJECTS[p].kind;
    let statuses: Vec<Value> = kind
        .workflow()
        .iter()
        .map(|s| status_json(call, *s))
        .collect();
    let out = kind
        .issue_types()
        .iter()
        .map(|t| {
            let d = &ISSUE_TYPES[usize::from(*t)];
            json!({"self": call.url(&format!("/rest/api/3/issuetype/{}", d.id)), "id": d.id, "name": d.name,
                   "subtask": d.subtask, "statuses": statuses})
        })
        .collect();
    Ok(Reply::ok(Value::Array(out)))
}

pub fn project_versions(call: &Call) -> HandlerResult {
    let p = project_or_404(call.param("projectIdOrKey"))?;
    let data = call.data();
    let list: Vec<Value> = data
        .versions
        .iter()
        .filter(|v| usize::from(v.project) == p)
        .map(|v| version_json(call, v))
        .collect();
    if call.op.operation_id == "getProjectVersions" {
        return Ok(Reply::ok(Value::Array(list)));
    }
    let start = call.q_num("startAt", 0)?;
    let max = call.q_num("maxResults", 50)?.max(1);
    let path = format!("/rest/api/3/project/{}/version", PROJECTS[p].key);
    Ok(Reply::ok(offset_page(call, list, start, max, &path)))
}

fn str_field<'a>(body: &'a Value, k: &str) -> Option<&'a str> {
    body.get(k).and_then(Value::as_str)
}

fn project_from_body(body: &Value) -> Result<usize, Reply> {
    let p = body
        .get("projectId")
        .map(|v| {
            v.as_u64()
                .map(|n| n.to_string())
                .or_else(|| v.as_str().map(str::to_owned))
                .unwrap_or_default()
        })
        .or_else(|| str_field(body, "project").map(str::to_owned))
        .ok_or_else(|| Reply::field_error("project", "Project must be specified."))?;
    super::find_project(&p)
        .ok_or_else(|| Reply::field_error("project", "The project specified does not exist."))
}

pub fn create_version(call: &Call) -> HandlerResult {
    let body = call.json_body()?;
    let p = project_from_body(&body)?;
    let name = str_field(&body, "name")
        .filter(|n| !n.trim().is_empty())
        .ok_or_else(|| Reply::field_error("name", "You must specify a valid version name"))?;
    let mut data = call.data_mut();
    if data
        .versions
        .iter()
        .any(|v| usize::from(v.project) == p && v.name == name)
    {
        return Err(Reply::field_error(
            "name",
            "A version with this name already exists in this project.",
        ));
    }
    let id = data.alloc_id();
    let v = Version {
        id,
        project: p as u8,
        name: name.to_owned(),
        description: str_field(&body, "description").unwrap_or("").to_owned(),
        released: body
            .get("released")
            .and_then(Value::as_bool)
            .unwrap_or(false),
        archived: body
            .get("archived")
            .and_then(Value::as_bool)
            .unwrap_or(false),
        release_date: str_field(&body, "releaseDate").map(str::to_owned),
        start_date: str_field(&body, "startDate").map(str::to_owned),
    };
    let out = version_json(call, &v);
    data.versions.push(v);
    Ok(Reply::created(out))
}

fn version_id(call: &Call) -> Result<u64, Reply> {
    call.param("id")
        .parse()
        .map_err(|_| Reply::not_found("Could not find version for id"))
}

pub fn get_version(call: &Call) -> HandlerResult {
    let id = version_id(call)?;
    let data = call.data();
    let v = data
        .versions
        .iter()
        .find(|v| v.id == id)
        .ok_or_else(|| Reply::not_found(&format!("Could not find version for id '{id}'")))?;
    Ok(Reply::ok(version_json(call, v)))
}

pub fn update_version(call: &Call) -> HandlerResult {
    let id = version_id(call)?;
    let body = call.json_body()?;
    let mut data = call.data_mut();
    let v = data
        .versions
        .iter_mut()
        .find(|v| v.id == id)
        .ok_or_else(|| Reply::not_found(&format!("Could not find version for id '{id}'")))?;
    if let Some(n) = str_field(&body, "name") {
        v.name = n.to_owned();
    }
    if let Some(d) = str_field(&body, "description") {
        v.description = d.to_owned();
    }
    if let Some(r) = body.get("released").and_then(Value::as_bool) {
        v.released = r;
    }
    if let Some(a) = body.get("archived").and_then(Value::as_bool) {
        v.archived = a;
    }
    if let Some(d) = str_field(&body, "releaseDate") {
        v.release_date = Some(d.to_owned());
    }
    if let Some(d) = str_field(&body, "startDate") {
        v.start_date = Some(d.to_owned());
    }
    let v = v.clone();
    Ok(Reply::ok(version_json(call, &v)))
}

pub fn project_components(call: &Call) -> HandlerResult {
    let p = project_or_404(call.param("projectIdOrKey"))?;
    let data = call.data();
    let comps: Vec<&Component> = data
        .components
        .iter()
        .filter(|c| usize::from(c.project) == p)
        .collect();
    if call.op.operation_id == "getProjectComponents" {
        return Ok(Reply::ok(Value::Array(
            comps.iter().map(|c| component_json(call, c)).collect(),
        )));
    }
    let list = comps
        .iter()
        .map(|c| {
            let mut j = component_json(call, c);
            let count = data
                .extras
                .values()
                .filter(|x| x.components.contains(&c.id))
                .count();
            j["issueCount"] = json!(count);
            j
        })
        .collect();
    let start = call.q_num("startAt", 0)?;
    let max = call.q_num("maxResults", 50)?.max(1);
    let path = format!("/rest/api/3/project/{}/component", PROJECTS[p].key);
    Ok(Reply::ok(offset_page(call, list, start, max, &path)))
}

pub fn create_component(call: &Call) -> HandlerResult {
    let body = call.json_body()?;
    let p = project_from_body(&body)?;
    let name = str_field(&body, "name")
        .filter(|n| !n.trim().is_empty())
        .ok_or_else(|| Reply::field_error("name", "The component name specified is invalid."))?;
    let lead = match str_field(&body, "leadAccountId") {
        Some(a) => Some(
            call.state
                .user_by_account(a)
                .ok_or_else(|| Reply::field_error("leadAccountId", "The user does not exist."))?
                .index as u8,
        ),
        None => None,
    };
    let mut data = call.data_mut();
    if data
        .components
        .iter()
        .any(|c| usize::from(c.project) == p && c.name.eq_ignore_ascii_case(name))
    {
        return Err(Reply::field_error(
            "name",
            "A component with the name already exists in this project.",
        ));
    }
    let id = data.alloc_id();
    let c = Component {
        id,
        project: p as u8,
        name: name.to_owned(),
        description: str_field(&body, "description").unwrap_or("").to_owned(),
        lead,
    };
    let out = component_json(call, &c);
    data.components.push(c);
    Ok(Reply::created(out))
}

pub fn get_component(call: &Call) -> HandlerResult {
    let id: u64 = call.param("id").parse().unwrap_or(0);
    let data = call.data();
    let c = data.components.iter().find(|c| c.id == id).ok_or_else(|| {
        Reply::not_found(&format!(
            "The component with id {} does not exist.",
            call.param("id")
        ))
    })?;
    Ok(Reply::ok(component_json(call, c)))
}

pub fn issue_types(call: &Call) -> HandlerResult {
    Ok(Reply::ok(Value::Array(
        (0..ISSUE_TYPES.len())
            .map(|t| issue_type_json(call, t as u8))
            .collect(),
    )))
}

pub fn issue_type(call: &Call) -> HandlerResult {
    let t = ISSUE_TYPES
        .iter()
        .position(|t| t.id == call.param("id"))
        .ok_or_else(|| {
            Reply::not_found(
                "The issue type is not found or you do not have permission to view it.",
            )
        })?;
    Ok(Reply::ok(issue_type_json(call, t as u8)))
}

pub fn field_schema(f: &crate::model::FieldDef) -> Value {
    let mut s = json!({"type": f.schema_type});
    if let Some(items) = f.items {
        s["items"] = json!(items);
    }
    if f.custom {
        s["custom"] = json!(f.key);
        s["customId"] = json!(
            f.id.trim_start_matches("customfield_")
                .parse::<i64>()
                .unwrap_or(0)
        );
    } else {
        s["system"] = json!(f.id);
    }
    s
}

pub fn fields(_call: &Call) -> HandlerResult {
    let out = FIELDS
        .iter()
        .map(|f| {
            json!({
                "id": f.id, "key": f.id, "name": f.name, "custom": f.custom,
                "orderable": !matches!(f.id, "comment" | "worklog" | "subtasks" | "watches"),
                "navigable": true, "searchable": !f.clause.is_empty(), "clauseNames": f.clause, "schema": field_schema(f),
            })
        })
        .collect();
    Ok(Reply::ok(Value::Array(out)))
}

pub fn priorities(call: &Call) -> HandlerResult {
    let out = (0..PRIORITIES.len())
        .map(|p| {
            let mut j = priority_json(call, p as u8);
            j["statusColor"] = json!(PRIORITIES[p].color);
            j["description"] = json!(format!("{} priority", PRIORITIES[p].name));
            j["isDefault"] = json!(p == usize::from(crate::model::DEFAULT_PRIORITY));
            j
        })
        .collect();
    Ok(Reply::ok(Value::Array(out)))
}

pub fn priority(call: &Call) -> HandlerResult {
    let p = PRIORITIES
        .iter()
        .position(|p| p.id == call.param("id"))
        .ok_or_else(|| {
            Reply::not_found(&format!("Priority with ID {} not found.", call.param("id")))
        })?;
    let mut j = priority_json(call, p as u8);
    j["statusColor"] = json!(PRIORITIES[p].color);
    j["description"] = json!(format!("{} priority", PRIORITIES[p].name));
    Ok(Reply::ok(j))
}

pub fn statuses(call: &Call) -> HandlerResult {
    Ok(Reply::ok(Value::Array(
        (0..STATUSES.len())
            .map(|s| status_json(call, s as u8))
            .collect(),
    )))
}

fn user_matches(call: &Call, u: usize, query: &str) -> bool {
    let user = &call.state.users[u];
    query.is_empty()
        || user
            .display_name
            .to_lowercase()
            .split(' ')
            .any(|w| w.starts_with(query))
        || user.display_name.to_lowercase().starts_with(query)
        || user.email.to_lowercase().starts_with(query)
}

pub fn all_users(call: &Call) -> HandlerResult {
    let start = call.q_num("startAt", 0)?;
    let max = call.q_num("maxResults", 50)?;
    let out = (0..call.state.users.len())
        .skip(start)
        .take(max)
        .map(|u| user_json(call, u))
        .collect();
    Ok(Reply::ok(Value::Array(out)))
}

pub fn get_user(call: &Call) -> HandlerResult {
    let Some(account) = call.q("accountId") else {
        return Err(Reply::bad_request(
            "The accountId query parameter needs to be provided.",
        ));
    };
    let user = call.state.user_by_account(account).ok_or_else(|| Reply::not_found(&format!("Specified user does not exist or you do not have required permissions (accountId: {account}).")))?;
    let mut j = user_json(call, user.index);
    j["locale"] = json!("en_US");
    Ok(Reply::ok(j))
}

pub fn find_users(call: &Call) -> HandlerResult {
    let query = call.q("query").unwrap_or("").to_lowercase();
    let account = call.q("accountId");
    if query.is_empty() && account.is_none() && call.q("property").is_none() {
        return Err(Reply::bad_request(
            "One of 'query' or 'accountId' query parameters needs to be provided.",
        ));
    }
    let start = call.q_num("startAt", 0)?;
    let max = call.q_num("maxResults", 50)?;
    let out = (0..call.state.users.len())
        .filter(|u| {
            account.is_none_or(|a| call.state.users[*u].account_id == a)
                && user_matches(call, *u, &query)
        })
        .skip(start)
        .take(max)
        .map(|u| user_json(call, u))
        .collect();
    Ok(Reply::ok(Value::Array(out)))
}

pub fn assignable_users(call: &Call) -> HandlerResult {
    if call.q("project").is_none() && call.q("issueKey").is_none() && call.q("issueId").is_none() {
        return Err(Reply::bad_request(
            "The project, issueKey or issueId query parameter must be specified.",
        ));
    }
    if let Some(p) = call.q("project") {
        project_or_404(p)?;
    }
    if let Some(k) = call.q("issueKey").or(call.q("issueId")) {
        call.data().resolve(k).ok_or_else(|| {
            Reply::not_found("Issue does not exist or you do not have permission to see it.")
        })?;
    }
    let query = call.q("query").unwrap_or("").to_lowercase();
    let account = call.q("accountId");
    let start = call.q_num("startAt", 0)?;
    let max = call.q_num("maxResults", 50)?;
    let out = (0..call.state.users.len().min(FIRST_CUSTOMER))
        .filter(|u| {
            account.is_none_or(|a| call.state.users[*u].account_id == a)
                && user_matches(call, *u, &query)
        })
        .skip(start)
        .take(max)
        .map(|u| user_json(call, u))
        .collect();
    Ok(Reply::ok(Value::Array(out)))
}

pub fn labels(call: &Call) -> HandlerResult {
    let data = call.data();
    let mut set: BTreeSet<String> = BTreeSet::new();
    let mut seen_bits = 0u8;
    for c in data.issues.iter().filter(|c| !c.deleted && !c.has_extra) {
        seen_bits |= c.labels;
        if seen_bits == u8::MAX >> 2 {
            break;
        }
    }
    for (i, l) in crate::model::LABELS.iter().enumerate() {
        if seen_bits & (1 << i) != 0 {
            set.insert((*l).to_owned());
        }
    }
    for x in data.extras.values() {
        set.extend(x.labels.iter().cloned());
    }
    let start = call.q_num("startAt", 0)?;
    let max = call.q_num("maxResults", 1000)?.max(1);
    Ok(Reply::ok(offset_page(
        call,
        set.into_iter().map(Value::String).collect(),
        start,
        max,
        "/rest/api/3/label",
    )))
}

pub fn link_type_json(call: &Call, t: usize) -> Value {
    let d = &LINK_TYPES[t];
    json!({"id": d.id, "name": d.name, "inward": d.inward, "outward": d.outward,
           "self": call.url(&format!("/rest/api/3/issueLinkType/{}", d.id))})
}

pub fn link_types(call: &Call) -> HandlerResult {
    Ok(Reply::ok(
        json!({"issueLinkTypes": (0..LINK_TYPES.len()).map(|t| link_type_json(call, t)).collect::<Vec<_>>()}),
    ))
}

pub fn createmeta_issue_types(call: &Call) -> HandlerResult {
    let p = project_or_404(call.param("projectIdOrKey"))?;
    let start = call.q_num("startAt", 0)?;
    let max = call.q_num("maxResults", 50)?;
    let types = PROJECTS[p].kind.issue_types();
    let list: Vec<Value> = types
        .iter()
        .skip(start)
        .take(max)
        .map(|t| {
            let mut j = issue_type_json(call, *t);
            j.as_object_mut().map(|o| o.remove("avatarId"));
            j["avatarId"] = json!(10300 + i64::from(*t));
            j
        })
        .collect();
    Ok(Reply::ok(
        json!({"issueTypes": list, "maxResults": max, "startAt": start, "total": types.len()}),
    ))
}

pub fn createmeta_fields(call: &Call) -> HandlerResult {
    let p = project_or_404(call.param("projectIdOrKey"))?;
    let t = ISSUE_TYPES
        .iter()
        .position(|t| t.id == call.param("issueTypeId"))
        .filter(|t| PROJECTS[p].kind.issue_types().contains(&(*t as u8)))
        .ok_or_else(|| Reply::bad_request("The issue type is not valid for this project."))?;
    let list = settable_fields(call, p, t);
    let start = call.q_num("startAt", 0)?;
    let max = call.q_num("maxResults", 50)?;
    let total = list.len();
    let page: Vec<Value> = list.into_iter().skip(start).take(max).collect();
    Ok(Reply::ok(
        json!({"fields": page.clone(), "results": page, "maxResults": max, "startAt": start, "total": total}),
    ))
}

/// Field metadata (`FieldCreateMetadata`, with `fieldId`) of every settable field of a
/// project and issue type.
fn settable_fields(call: &Call, p: usize, t: usize) -> Vec<Value> {
    let mut list = Vec::new();
    for f in FIELDS {
        let settable = matches!(
            f.id,
            "summary"
                | "description"
                | "issuetype"
                | "project"
                | "priority"
                | "assignee"
                | "reporter"
                | "labels"
                | "duedate"
                | "components"
                | "fixVersions"
                | "parent"
        ) || (f.custom
            && f.id != crate::model::REQUEST_TYPE_FIELD
            && f.id != crate::model::SPRINT_FIELD);
        if !settable {
            continue;
        }
        let required = matches!(f.id, "summary" | "issuetype" | "project")
            || (f.id == "parent" && ISSUE_TYPES[t].subtask);
        let mut j = json!({
            "fieldId": f.id, "key": f.id, "name": f.name, "required": required, "hasDefaultValue": f.id == "priority",
            "operations": if f.items.is_some() { json!(["add", "set", "remove"]) } else { json!(["set"]) },
            "schema": field_schema(f),
        });
        match f.id {
            "priority" => {
                j["allowedValues"] = Value::Array(
                    (0..PRIORITIES.len())
                        .map(|x| priority_json(call, x as u8))
                        .collect(),
                )
            }
            "issuetype" => j["allowedValues"] = json!([issue_type_json(call, t as u8)]),
            "project" => j["allowedValues"] = json!([project_ref_json(call, p)]),
            "components" => {
                let data = call.data();
                j["allowedValues"] = Value::Array(
                    data.components
                        .iter()
                        .filter(|c| usize::from(c.project) == p)
                        .map(|c| component_json(call, c))
                        .collect(),
                );
            }
            "fixVersions" => {
                let data = call.data();
                j["allowedValues"] = Value::Array(
                    data.versions
                        .iter()
                        .filter(|v| usize::from(v.project) == p)
                        .map(|v| version_json(call, v))
                        .collect(),
                );
            }
            "assignee" | "reporter" => {
                j["autoCompleteUrl"] = json!(call.url("/rest/api/3/user/search?query="))
            }
            _ => {}
        }
        list.push(j);
    }
    list
}

pub fn edit_meta(call: &Call) -> HandlerResult {
    let (p, t) = {
        let data = call.data();
        let id = super::issues::resolve_issue(&data, call.param("issueIdOrKey"))?;
        let c = data
            .core(id)
            .ok_or_else(|| Reply::not_found(super::issues::NOT_FOUND))?;
        (usize::from(c.project), usize::from(c.issue_type))
    };
    let mut fields = serde_json::Map::new();
    for mut f in settable_fields(call, p, t) {
        let Some(id) = f
            .as_object_mut()
            .and_then(|o| o.remove("fieldId"))
            .and_then(|v| v.as_str().map(str::to_owned))
        else {
            continue;
        };
        if matches!(id.as_str(), "project" | "reporter") {
            continue;
        }
        f["required"] = json!(matches!(id.as_str(), "summary" | "issuetype"));
        fields.insert(id, f);
    }
    Ok(Reply::ok(json!({ "fields": fields })))
}

fn priority_full_json(call: &Call, p: usize) -> Value {
    let mut j = priority_json(call, p as u8);
    j["statusColor"] = json!(PRIORITIES[p].color);
    j["description"] = json!(format!("{} priority", PRIORITIES[p].name));
    j["isDefault"] = json!(p == usize::from(crate::model::DEFAULT_PRIORITY));
    j
}

pub fn search_priorities(call: &Call) -> HandlerResult {
    let start = call.q_num("startAt", 0)?;
    let max = call.q_num("maxResults", 50)?.max(1);
    let ids = call.q_list("id");
    let name = call.q("priorityName").unwrap_or("").to_lowercase();
    let only_default = call.q("onlyDefault") == Some("true");
    for pid in call.q_list("projectId") {
        if !(0..PROJECTS.len()).any(|p| project_id(p).to_string() == pid) {
            return Err(Reply::not_found(&format!(
                "Project with ID {pid} not found."
            )));
        }
    }
    let items = (0..PRIORITIES.len())
        .filter(|p| {
            let d = &PRIORITIES[*p];
            (ids.is_empty() || ids.iter().any(|i| i == d.id))
                && (name.is_empty() || d.name.to_lowercase().contains(&name))
                && (!only_default || *p == usize::from(crate::model::DEFAULT_PRIORITY))
        })
        .map(|p| priority_full_json(call, p))
        .collect();
    Ok(Reply::ok(offset_page(
        call,
        items,
        start,
        max,
        "/rest/api/3/priority/search",
    )))
}

pub fn get_status(call: &Call) -> HandlerResult {
    let q = call.param("idOrName");
    let s = STATUSES
        .iter()
        .position(|s| s.id == q || s.name.eq_ignore_ascii_case(q))
        .ok_or_else(|| {
            Reply::not_found(&format!("The status with id or name '{q}' does not exist."))
        })?;
    Ok(Reply::ok(status_json(call, s as u8)))
}

fn category_enum(c: crate::model::Category) -> &'static str {
    match c {
        crate::model::Category::New => "TODO",
        crate::model::Category::InProgress => "IN_PROGRESS",
        crate::model::Category::Done => "DONE",
    }
}

pub fn search_statuses(call: &Call) -> HandlerResult {
    let start = call.q_num("startAt", 0)?;
    let max = call.q_num("maxResults", 200)?.max(1);
    let query = call.q("searchString").unwrap_or("").to_lowercase();
    let category = call.q("statusCategory").map(str::to_uppercase);
    let project = match call.q("projectId") {
        Some(pid) => Some(
            (0..PROJECTS.len())
                .find(|p| project_id(*p).to_string() == pid)
                .ok_or_else(|| Reply::not_found(&format!("Project with ID {pid} not found.")))?,
        ),
        None => None,
    };
    let items = (0..STATUSES.len())
        .filter(|s| {
            let d = &STATUSES[*s];
            (query.is_empty() || d.name.to_lowercase().contains(&query))
                && category
                    .as_deref()
                    .is_none_or(|c| category_enum(d.category) == c)
                && project.is_none_or(|p| PROJECTS[p].kind.workflow().contains(&(*s as u8)))
        })
        .map(|s| {
            let d = &STATUSES[s];
            json!({"id": d.id, "name": d.name, "description": "",
                   "statusCategory": category_enum(d.category),
                   "scope": {"type": "GLOBAL"}})
        })
        .collect();
    Ok(Reply::ok(offset_page(
        call,
        items,
        start,
        max,
        "/rest/api/3/statuses/search",
    )))
}

/// The one resolution issues are resolved with.
pub fn search_resolutions(call: &Call) -> HandlerResult {
    let start = call.q_num("startAt", 0)?;
    let max = call.q_num("maxResults", 50)?.max(1);
    let ids = call.q_list("id");
    let items = if ids.is_empty() || ids.iter().any(|i| i == "10000") {
        vec![json!({
            "self": call.url("/rest/api/3/resolution/10000"), "id": "10000", "name": "Done",
            "description": "Work has been completed on this issue.", "default": true,
        })]
    } else {
        Vec::new()
    };
    Ok(Reply::ok(offset_page(
        call,
        items,
        start,
        max,
        "/rest/api/3/resolution/search",
    )))
}

pub fn search_fields(call: &Call) -> HandlerResult {
    let start = call.q_num("startAt", 0)?;
    let max = call.q_num("maxResults", 50)?.max(1);
    let types = call.q_list("type");
    let ids = call.q_list("id");
    let query = call.q("query").unwrap_or("").to_lowercase();
    let mut list: Vec<&crate::model::FieldDef> = FIELDS
        .iter()
        .filter(|f| {
            (types.is_empty()
                || types
                    .iter()
                    .any(|t| (t == "custom" && f.custom) || (t == "system" && !f.custom)))
                && (ids.is_empty() || ids.iter().any(|i| i == f.id))
                && (query.is_empty()
                    || f.name.to_lowercase().contains(&query)
                    || f.id.to_lowercase().contains(&query))
        })
        .collect();
    match call.q("orderBy").unwrap_or("") {
        "name" | "+name" => list.sort_by_key(|f| f.name.to_lowercase()),
        "-name" => list.sort_by_key(|f| std::cmp::Reverse(f.name.to_lowercase())),
        _ => {}
    }
    let items = list
        .into_iter()
        .map(|f| {
            json!({"id": f.id, "key": f.id, "name": f.name, "schema": field_schema(f),
                   "description": "", "isLocked": !f.custom, "searcherKey": f.key})
        })
        .collect();
    Ok(Reply::ok(offset_page(
        call,
        items,
        start,
        max,
        "/rest/api/3/field/search",
    )))
}

pub fn issue_types_for_project(call: &Call) -> HandlerResult {
    let pid = call
        .q("projectId")
        .ok_or_else(|| Reply::bad_request("The projectId query parameter must be specified."))?;
    let p = (0..PROJECTS.len())
        .find(|p| project_id(*p).to_string() == pid)
        .ok_or_else(|| Reply::not_found(&format!("No project could be found with id '{pid}'.")))?;
    let level = match call.q("level") {
        Some(l) => Some(
            l.parse::<i64>()
                .map_err(|_| Reply::bad_request("The level parameter is invalid."))?,
        ),
        None => None,
    };
    let out = PROJECTS[p]
        .kind
        .issue_types()
        .iter()
        .filter(|t| level.is_none_or(|l| i64::from(ISSUE_TYPES[usize::from(**t)].hierarchy) == l))
        .map(|t| {
            let mut j = issue_type_json(call, *t);
            j["scope"] = json!({"type": "PROJECT", "project": {"id": project_id(p).to_string()}});
            j
        })
        .collect();
    Ok(Reply::ok(Value::Array(out)))
}

pub fn attachment_meta(_call: &Call) -> HandlerResult {
    Ok(Reply::ok(
        json!({"enabled": true, "uploadLimit": 10_485_760}),
    ))
}

fn component_id(call: &Call) -> u64 {
    call.param("id").parse().unwrap_or(0)
}

fn component_404(call: &Call) -> Reply {
    Reply::not_found(&format!(
        "The component with id {} does not exist.",
        call.param("id")
    ))
}

pub fn update_component(call: &Call) -> HandlerResult {
    let id = component_id(call);
    let body = call.json_body()?;
    let lead = match body.get("leadAccountId") {
        Some(Value::String(a)) => Some(Some(
            call.state
                .user_by_account(a)
                .ok_or_else(|| Reply::field_error("leadAccountId", "The user does not exist."))?
                .index as u8,
        )),
        Some(Value::Null) => Some(None),
        _ => None,
    };
    let mut data = call.data_mut();
    let project = data
        .components
        .iter()
        .find(|c| c.id == id)
        .ok_or_else(|| component_404(call))?
        .project;
    if let Some(n) = str_field(&body, "name") {
        if n.trim().is_empty() {
            return Err(Reply::field_error(
                "name",
                "The component name specified is invalid.",
            ));
        }
        if data
            .components
            .iter()
            .any(|c| c.id != id && c.project == project && c.name.eq_ignore_ascii_case(n))
        {
            return Err(Reply::field_error(
                "name",
                "A component with the name already exists in this project.",
            ));
        }
    }
    let c = data
        .components
        .iter_mut()
        .find(|c| c.id == id)
        .ok_or_else(|| component_404(call))?;
    if let Some(n) = str_field(&body, "name") {
        c.name = n.to_owned();
    }
    if let Some(d) = str_field(&body, "description") {
        c.description = d.to_owned();
    }
    if let Some(l) = lead {
        c.lead = l;
    }
    let c = c.clone();
    Ok(Reply::ok(component_json(call, &c)))
}

pub fn delete_component(call: &Call) -> HandlerResult {
    let id = component_id(call);
    let mut data = call.data_mut();
    let pos = data
        .components
        .iter()
        .position(|c| c.id == id)
        .ok_or_else(|| component_404(call))?;
    let project = data.components[pos].project;
    let target = match call.q("moveIssuesTo") {
        Some(t) => {
            let t: u64 = t.parse().unwrap_or(0);
            if t == id
                || !data
                    .components
                    .iter()
                    .any(|c| c.id == t && c.project == project)
            {
                return Err(Reply::bad_request(&format!(
                    "The component with id {t} does not exist."
                )));
            }
            Some(t)
        }
        None => None,
    };
    data.components.remove(pos);
    for x in data.extras.values_mut() {
        if x.components.contains(&id) {
            x.components.retain(|c| *c != id);
            if let Some(t) = target.filter(|t| !x.components.contains(t)) {
                x.components.push(t);
            }
        }
    }
    Ok(Reply::no_content())
}

pub fn delete_and_replace_version(call: &Call) -> HandlerResult {
    let id = version_id(call)?;
    let body = call.json_body()?;
    let mut data = call.data_mut();
    let pos = data
        .versions
        .iter()
        .position(|v| v.id == id)
        .ok_or_else(|| Reply::not_found(&format!("Could not find version for id '{id}'")))?;
    let project = data.versions[pos].project;
    let target = match body.get("moveFixIssuesTo") {
        None | Some(Value::Null) => None,
        Some(v) => {
            let t = v
                .as_u64()
                .or_else(|| v.as_str().and_then(|s| s.parse().ok()))
                .unwrap_or(0);
            if t == id
                || !data
                    .versions
                    .iter()
                    .any(|v| v.id == t && v.project == project)
            {
                return Err(Reply::bad_request(&format!(
                    "The version with id {t} does not exist."
                )));
            }
            Some(t)
        }
    };
    data.versions.remove(pos);
    for x in data.extras.values_mut() {
        if x.fix_versions.contains(&id) {
            x.fix_versions.retain(|v| *v != id);
            if let Some(t) = target.filter(|t| !x.fix_versions.contains(t)) {
                x.fix_versions.push(t);
            }
        }
    }
    Ok(Reply::no_content())
}
