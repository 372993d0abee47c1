//! Jira Software agile 1.0: boards, board configuration, sprints, backlog, epics.

use http::StatusCode;
use serde_json::{Value, json};

use crate::call::Call;
use crate::clock::{iso_time, parse_date};
use crate::jql::{self, Env};
use crate::model::{Category, EPIC, PROJECTS, STATUSES, STORY_POINTS_FIELD, SUBTASK, project_id};
use crate::platform::issues::{FieldSel, issue_json};
use crate::reply::{HandlerResult, Reply};
use crate::sitedata::{Board, SiteData, Sprint, SprintState};

pub fn handle(call: &Call) -> Option<HandlerResult> {
    Some(match call.op.operation_id {
        "getAllBoards" => all_boards(call),
        "getBoard" => get_board(call),
        "getConfiguration" => configuration(call),
        "getAllSprints" => board_sprints(call),
        "getIssuesForBacklog" => board_issue_page(call, IssueScope::Backlog),
        "getIssuesForBoard" => board_issue_page(call, IssueScope::Board),
        "getEpics" => board_epics(call),
        "createSprint" => create_sprint(call),
        "getSprint" => get_sprint(call),
        "updateSprint" | "partiallyUpdateSprint" => update_sprint(call),
        "getIssuesForSprint" => sprint_issues(call),
        "moveIssuesToSprintAndRank" => move_to_sprint(call),
        "moveIssuesToBacklog" => move_to_backlog(call),
        "getEpic" => get_epic(call),
        "getIssuesForEpic" => epic_issues(call),
        "getProjects" => board_projects(call),
        "getAllVersions" => board_versions(call),
        "deleteSprint" => delete_sprint(call),
        "rankIssues" => rank_issues(call),
        "partiallyUpdateEpic" => update_epic(call),
        "moveIssuesToEpic" => move_to_epic(call),
        "removeIssuesFromEpic" => remove_from_epic(call),
        _ => return None,
    })
}

fn board_json(call: &Call, b: &Board) -> Value {
    let p = usize::from(b.project);
    let d = &PROJECTS[p];
    json!({
        "id": b.id,
        "self": call.url(&format!("/rest/agile/1.0/board/{}", b.id)),
        "name": b.name,
        "type": if b.scrum { "scrum" } else { "kanban" },
        "location": {
            "projectId": project_id(p),
            "displayName": format!("{} ({})", d.name, d.key),
            "projectName": d.name,
            "projectKey": d.key,
            "projectTypeKey": d.kind.type_key(),
            "avatarURI": format!("/secure/projectavatar?size=small&pid={}", project_id(p)),
            "name": format!("{} ({})", d.name, d.key),
        },
        "isPrivate": false,
    })
}

fn sprint_json(call: &Call, s: &Sprint) -> Value {
    let mut j = json!({
        "id": s.id,
        "self": call.url(&format!("/rest/agile/1.0/sprint/{}", s.id)),
        "state": s.state.as_str(),
        "name": s.name,
        "originBoardId": s.board,
        "goal": s.goal,
        "createdDate": iso_time(s.created),
    });
    if let Some(t) = s.start {
        j["startDate"] = json!(iso_time(t));
    }
    if let Some(t) = s.end {
        j["endDate"] = json!(iso_time(t));
    }
    if let Some(t) = s.complete {
        j["completeDate"] = json!(iso_time(t));
    }
    j
}

/// Agile pages: `startAt`, `maxResults`, `isLast`, `total`, `values`.
fn value_page(call: &Call, items: Vec<Value>) -> HandlerResult {
    let start = call.q_num("startAt", 0)?;
    let max = call.q_num("maxResults", 50)?.clamp(1, 1000);
    let total = items.len();
    let values: Vec<Value> = items.into_iter().skip(start).take(max).collect();
    Ok(Reply::ok(
        json!({"maxResults": max, "startAt": start, "total": total, "isLast": start + values.len() >= total, "values": values}),
    ))
}

fn board_or_404(call: &Call, data: &SiteData) -> Result<Board, Reply> {
    let id: u32 = call.param("boardId").parse().unwrap_or(0);
    data.board(id).cloned().ok_or_else(|| {
        Reply::not_found(&format!(
            "Board {} does not exist or you do not have permission to see it.",
            call.param("boardId")
        ))
    })
}

fn all_boards(call: &Call) -> HandlerResult {
    let data = call.data();
    let kind = call.q("type");
    let name = call.q("name").map(str::to_lowercase);
    let project = call.q("projectKeyOrId");
    let list = data
        .boards
        .iter()
        .filter(|b| {
            kind.is_none_or(|k| {
                k.split(',')
                    .any(|k| k == if b.scrum { "scrum" } else { "kanban" })
            })
        })
        .filter(|b| {
            name.as_ref()
                .is_none_or(|n| b.name.to_lowercase().contains(n.as_str()))
        })
        .filter(|b| {
            project.is_none_or(|p| crate::platform::find_project(p) == Some(usize::from(b.project)))
        })
        .map(|b| board_json(call, b))
        .collect();
    value_page(call, list)
}

fn get_board(call: &Call) -> HandlerResult {
    let data = call.data();
    let b = board_or_404(call, &data)?;
    Ok(Reply::ok(board_json(call, &b)))
}

fn configuration(call: &Call) -> HandlerResult {
    let data = call.data();
    let b = board_or_404(call, &data)?;
    let p = usize::from(b.project);
    let columns: Vec<Value> = PROJECTS[p]
        .kind
        .workflow()
        .iter()
        .map(|s| {
            let st = &STATUSES[usize::from(*s)];
            json!({"name": st.name, "statuses": [{"id": st.id, "self": call.url(&format!("/rest/api/3/status/{}", st.id))}]})
        })
        .collect();
    Ok(Reply::ok(json!({
        "id": b.id,
        "name": b.name,
        "type": if b.scrum { "scrum" } else { "kanban" },
        "self": call.url(&format!("/rest/agile/1.0/board/{}/configuration", b.id)),
        "location": {"type": "project", "projectKeyOrId": PROJECTS[p].key},
        "filter": {"id": (10000 + b.id).to_string(), "self": call.url(&format!("/rest/api/3/filter/{}", 10000 + b.id))},
        "subQuery": {"query": "fixVersion in unreleasedVersions() OR fixVersion is EMPTY"},
        "columnConfig": {"columns": columns, "constraintType": "none"},
        "estimation": {"type": "field", "field": {"fieldId": STORY_POINTS_FIELD, "displayName": "Story point estimate"}},
        "ranking": {"rankCustomFieldId": 10019},
    })))
}

fn board_sprints(call: &Call) -> HandlerResult {
    let data = call.data();
    let b = board_or_404(call, &data)?;
    if !b.scrum {
        return Err(Reply::bad_request("The board does not support sprints"));
    }
    let states = call.q_list("state");
    let list = data
        .sprints
        .iter()
        .filter(|s| {
            s.board == b.id && (states.is_empty() || states.iter().any(|x| x == s.state.as_str()))
        })
        .map(|s| sprint_json(call, s))
        .collect();
    value_page(call, list)
}

enum IssueScope {
    Board,
    Backlog,
}

/// `SearchResults` page of the given ids.
fn issue_page(call: &Call, data: &SiteData, ids: Vec<u64>) -> HandlerResult {
    let start = call.q_num("startAt", 0)?;
    let max = call.q_num("maxResults", 50)?.clamp(1, 1000);
    let sel = FieldSel::parse(&call.q_list("fields"), "*navigable");
    let expand = call.q_list("expand");
    let total = ids.len();
    let issues: Vec<Value> = ids
        .iter()
        .skip(start)
        .take(max)
        .map(|id| issue_json(call, data, *id, &sel, &expand))
        .collect();
    Ok(Reply::ok(
        json!({"expand": "names,schema", "startAt": start, "maxResults": max, "total": total, "issues": issues}),
    ))
}

/// Issues passing an optional `jql` parameter and a row filter, in rank (id) order.
fn filtered(
    call: &Call,
    data: &SiteData,
    keep: impl Fn(&crate::sitedata::IssueCore) -> bool,
) -> Result<Vec<u64>, Reply> {
    let compiled = match call.q("jql").filter(|j| !j.trim().is_empty()) {
        Some(q) => {
            let env = Env {
                now: call.now,
                current_user: call.caller.user,
                users: &call.state.users,
            };
            Some(jql::prepare(q, &env, data).map_err(|m| {
                Reply::bad_request(m.first().map(String::as_str).unwrap_or("Invalid JQL"))
            })?)
        }
        None => None,
    };
    Ok(data
        .live_ids()
        .filter(|id| data.core(*id).is_some_and(&keep))
        .filter(|id| compiled.as_ref().is_none_or(|c| jql::matches(data, c, *id)))
        .collect())
}

fn board_issue_page(call: &Call, scope: IssueScope) -> HandlerResult {
    let data = call.data();
    let b = board_or_404(call, &data)?;
    let ids = filtered(call, &data, |c| {
        usize::from(c.project) == usize::from(b.project)
            && match scope {
                IssueScope::Board => true,
                IssueScope::Backlog => {
                    c.issue_type != EPIC
                        && STATUSES[usize::from(c.status)].category != Category::Done
                        && (c.sprint == 0
                            || data
                                .sprint(c.sprint)
                                .is_some_and(|s| s.state == SprintState::Closed))
                }
            }
    })?;
    issue_page(call, &data, ids)
}

fn epic_json(call: &Call, data: &SiteData, id: u64) -> Value {
    let done = data
        .core(id)
        .is_some_and(|c| STATUSES[usize::from(c.status)].category == Category::Done);
    json!({
        "id": id,
        "key": data.key(id),
        "self": call.url(&format!("/rest/agile/1.0/epic/{id}")),
        "name": data.summary(id),
        "summary": data.summary(id),
        "color": {"key": format!("color_{}", id % 14 + 1)},
        "done": done,
    })
}

fn board_epics(call: &Call) -> HandlerResult {
    let data = call.data();
    let b = board_or_404(call, &data)?;
    let done_filter = call.q("done").map(|d| d.eq_ignore_ascii_case("true"));
    let list = data
        .live_ids()
        .filter(|id| {
            data.core(*id).is_some_and(|c| {
                usize::from(c.project) == usize::from(b.project) && c.issue_type == EPIC
            })
        })
        .map(|id| epic_json(call, &data, id))
        .filter(|e| done_filter.is_none_or(|d| e["done"] == d))
        .collect();
    value_page(call, list)
}

fn sprint_or_404(data: &SiteData, raw: &str) -> Result<Sprint, Reply> {
    let id: u32 = raw.parse().unwrap_or(0);
    data.sprint(id).cloned().ok_or_else(|| {
        Reply::not_found(&format!(
            "Sprint with id {raw} does not exist or you do not have permission to see it."
        ))
    })
}

fn date_field(body: &Value, k: &str) -> Result<Option<i64>, Reply> {
    match body.get(k) {
        None | Some(Value::Null) => Ok(None),
        Some(Value::String(s)) => parse_date(s)
            .map(Some)
            .ok_or_else(|| Reply::field_error(k, "Invalid date format.")),
        Some(_) => Err(Reply::field_error(k, "Invalid date format.")),
    }
}

fn create_sprint(call: &Call) -> HandlerResult {
    let body = call.json_body()?;
    let name = body
        .get("name")
        .and_then(Value::as_str)
        .filter(|n| !n.trim().is_empty())
        .ok_or_else(|| Reply::field_error("name", "Sprint name is required."))?;
    if name.len() > 255 {
        return Err(Reply::field_error("name", "The sprint name is too long."));
    }
    let board_id = body
        .get("originBoardId")
        .and_then(Value::as_u64)
        .ok_or_else(|| Reply::field_error("originBoardId", "Board id is required."))?;
    let start = date_field(&body, "startDate")?;
    let end = date_field(&body, "endDate")?;
    let mut data = call.data_mut();
    let b = data
        .board(board_id as u32)
        .cloned()
        .ok_or_else(|| Reply::field_error("originBoardId", "Board does not exist."))?;
    if !b.scrum {
        return Err(Reply::bad_request("The board does not support sprints"));
    }
    let id = data.sprints.iter().map(|s| s.id).max().unwrap_or(0) + 1;
    let s = Sprint {
        id,
        board: b.id,
        name: name.to_owned(),
        state: SprintState::Future,
        goal: body
            .get("goal")
            .and_then(Value::as_str)
            .unwrap_or("")
            .to_owned(),
        start,
        end,
        complete: None,
        created: call.now,
    };
    let out = sprint_json(call, &s);
    data.sprints.push(s);
    Ok(Reply::created(out))
}

fn get_sprint(call: &Call) -> HandlerResult {
    let data = call.data();
    let s = sprint_or_404(&data, call.param("sprintId"))?;
    Ok(Reply::ok(sprint_json(call, &s)))
}

fn update_sprint(call: &Call) -> HandlerResult {
    let body = call.json_body()?;
    let full = call.op.operation_id == "updateSprint";
    let mut data = call.data_mut();
    let mut s = sprint_or_404(&data, call.param("sprintId"))?;
    if let Some(n) = body.get("name").and_then(Value::as_str) {
        s.name = n.to_owned();
    } else if full {
        return Err(Reply::field_error("name", "Sprint name is required."));
    }
    if let Some(g) = body.get("goal").and_then(Value::as_str) {
        s.goal = g.to_owned();
    }
    if let Some(t) = date_field(&body, "startDate")? {
        s.start = Some(t);
    }
    if let Some(t) = date_field(&body, "endDate")? {
        s.end = Some(t);
    }
    let target = match body.get("state").and_then(Value::as_str) {
        None => s.state,
        Some("future") => SprintState::Future,
        Some("active") => SprintState::Active,
        Some("closed") => SprintState::Closed,
        Some(other) => {
            return Err(Reply::field_error(
                "state",
                &format!("Invalid sprint state '{other}'."),
            ));
        }
    };
    match (s.state, target) {
        (a, b) if a == b => {}
        (SprintState::Future, SprintState::Active) => {
            if s.start.is_none() || s.end.is_none() {
                return Err(Reply::field_error(
                    "startDate",
                    "A sprint can only be started with a start date and an end date.",
                ));
            }
            s.state = SprintState::Active;
        }
        (SprintState::Active, SprintState::Closed) => {
            s.state = SprintState::Closed;
            s.complete = Some(call.now);
            // Unfinished work goes back to the backlog, as Jira does when no target sprint is given.
            let sid = s.id;
            let ids: Vec<u64> = data.live_ids().collect();
            for id in ids {
                if let Some(c) = data.core_mut(id)
                    && c.sprint == sid
                    && STATUSES[usize::from(c.status)].category != Category::Done
                {
                    c.sprint = 0;
                }
            }
        }
        (from, to) => {
            return Err(Reply::bad_request(&format!(
                "A sprint cannot move from state '{}' to '{}'.",
                from.as_str(),
                to.as_str()
            )));
        }
    }
    if let Some(slot) = data.sprints.iter_mut().find(|x| x.id == s.id) {
        *slot = s.clone();
    }
    Ok(Reply::ok(sprint_json(call, &s)))
}

fn sprint_issues(call: &Call) -> HandlerResult {
    let data = call.data();
    let s = sprint_or_404(&data, call.param("sprintId"))?;
    let ids = filtered(call, &data, |c| c.sprint == s.id)?;
    issue_page(call, &data, ids)
}

fn issue_list(body: &Value) -> Result<Vec<String>, Reply> {
    let list: Vec<String> = body
        .get("issues")
        .and_then(Value::as_array)
        .map(|a| {
            a.iter()
                .filter_map(|v| {
                    v.as_str()
                        .map(str::to_owned)
                        .or_else(|| v.as_u64().map(|n| n.to_string()))
                })
                .collect()
        })
        .unwrap_or_default();
    if list.is_empty() {
        return Err(Reply::field_error(
            "issues",
            "At least one issue must be given.",
        ));
    }
    if list.len() > 50 {
        return Err(Reply::field_error(
            "issues",
            "At most 50 issues can be moved at once.",
        ));
    }
    Ok(list)
}

fn move_issues(call: &Call, target: u32) -> HandlerResult {
    let body = call.json_body()?;
    let list = issue_list(&body)?;
    let mut data = call.data_mut();
    let ids = list
        .iter()
        .map(|k| {
            data.resolve(k).ok_or_else(|| {
                Reply::bad_request(&format!(
                    "Issue '{k}' does not exist or you do not have permission to see it."
                ))
            })
        })
        .collect::<Result<Vec<_>, _>>()?;
    for id in ids {
        if let Some(c) = data.core_mut(id) {
            c.sprint = target;
            c.updated = call.now;
        }
    }
    Ok(Reply::no_content())
}

fn move_to_sprint(call: &Call) -> HandlerResult {
    let s = sprint_or_404(&call.data(), call.param("sprintId"))?;
    if s.state == SprintState::Closed {
        return Err(Reply::bad_request("Cannot move issues to a closed sprint."));
    }
    move_issues(call, s.id)
}

fn move_to_backlog(call: &Call) -> HandlerResult {
    move_issues(call, 0)
}

fn epic_or_404(call: &Call, data: &SiteData) -> Result<u64, Reply> {
    let raw = call.param("epicIdOrKey");
    data.resolve(raw)
        .filter(|id| data.core(*id).is_some_and(|c| c.issue_type == EPIC))
        .ok_or_else(|| {
            Reply::jira_error(
                StatusCode::NOT_FOUND,
                &[&format!("Issue {raw} is not an epic or does not exist.")],
                &[],
            )
        })
}

fn get_epic(call: &Call) -> HandlerResult {
    let data = call.data();
    let id = epic_or_404(call, &data)?;
    Ok(Reply::ok(epic_json(call, &data, id)))
}

fn epic_issues(call: &Call) -> HandlerResult {
    let data = call.data();
    let id = epic_or_404(call, &data)?;
    let ids = filtered(call, &data, |c| c.parent == id)?;
    issue_page(call, &data, ids)
}

fn board_projects(call: &Call) -> HandlerResult {
    let board = {
        let data = call.data();
        board_or_404(call, &data)?
    };
    let p = usize::from(board.project);
    let mut j = crate::platform::project_ref_json(call, p);
    if let Some(o) = j.as_object_mut() {
        o.remove("simplified");
    }
    value_page(call, vec![j])
}

fn board_versions(call: &Call) -> HandlerResult {
    let data = call.data();
    let board = board_or_404(call, &data)?;
    let released = match call.q("released") {
        None => None,
        Some("true") => Some(true),
        Some("false") => Some(false),
        Some(_) => {
            return Err(Reply::bad_request(
                "The released parameter must be true or false.",
            ));
        }
    };
    let items = data
        .versions
        .iter()
        .filter(|v| v.project == board.project && released.is_none_or(|r| v.released == r))
        .map(|v| {
            let mut j = json!({
                "self": call.url(&format!("/rest/agile/1.0/version/{}", v.id)),
                "id": v.id,
                "projectId": project_id(usize::from(v.project)),
                "name": v.name,
                "description": v.description,
                "archived": v.archived,
                "released": v.released,
            });
            if let Some(d) = &v.release_date {
                j["releaseDate"] = json!(format!("{d}T00:00:00.000Z"));
            }
            j
        })
        .collect();
    value_page(call, items)
}

fn delete_sprint(call: &Call) -> HandlerResult {
    let mut data = call.data_mut();
    let s = sprint_or_404(&data, call.param("sprintId"))?;
    if s.state == SprintState::Active {
        return Err(Reply::bad_request(
            "An active sprint cannot be deleted. Complete the sprint first.",
        ));
    }
    // Issues of a deleted sprint go back to the backlog.
    let ids: Vec<u64> = data.live_ids().collect();
    for id in ids {
        if let Some(c) = data.core_mut(id)
            && c.sprint == s.id
        {
            c.sprint = 0;
        }
    }
    data.sprints.retain(|x| x.id != s.id);
    Ok(Reply::no_content())
}

fn resolve_all(data: &SiteData, list: &[String]) -> Result<Vec<u64>, Reply> {
    list.iter()
        .map(|k| {
            data.resolve(k).ok_or_else(|| {
                Reply::bad_request(&format!(
                    "Issue '{k}' does not exist or you do not have permission to see it."
                ))
            })
        })
        .collect()
}

/// The simulator keeps no rank order; it validates the request and accepts it.
fn rank_issues(call: &Call) -> HandlerResult {
    let body = call.json_body()?;
    let list = issue_list(&body)?;
    let data = call.data();
    let ids = resolve_all(&data, &list)?;
    let before = body.get("rankBeforeIssue").and_then(Value::as_str);
    let after = body.get("rankAfterIssue").and_then(Value::as_str);
    let pivot = match (before, after) {
        (Some(_), Some(_)) | (None, None) => {
            return Err(Reply::bad_request(
                "Exactly one of rankBeforeIssue and rankAfterIssue must be given.",
            ));
        }
        (Some(k), None) | (None, Some(k)) => k,
    };
    let pivot_id = resolve_all(&data, &[pivot.to_owned()])?[0];
    if ids.contains(&pivot_id) {
        return Err(Reply::bad_request(
            "An issue cannot be ranked relative to itself.",
        ));
    }
    Ok(Reply::no_content())
}

fn update_epic(call: &Call) -> HandlerResult {
    let body = call.json_body()?;
    let mut data = call.data_mut();
    let id = epic_or_404(call, &data)?;
    let text = ["summary", "name"]
        .iter()
        .find_map(|k| body.get(*k).and_then(Value::as_str));
    if let Some(t) = text {
        if t.trim().is_empty() {
            return Err(Reply::field_error(
                "summary",
                "The summary cannot be empty.",
            ));
        }
        data.extra_mut(id).summary = t.to_owned();
    }
    if let Some(done) = body.get("done").and_then(Value::as_bool) {
        let want = if done { Category::Done } else { Category::New };
        let status = STATUSES.iter().position(|s| s.category == want);
        if let (Some(st), Some(c)) = (status, data.core_mut(id))
            && (STATUSES[usize::from(c.status)].category == Category::Done) != done
        {
            c.status = st as u8;
            c.resolved = if done { call.now } else { 0 };
        }
    }
    if let Some(c) = data.core_mut(id) {
        c.updated = call.now;
    }
    Ok(Reply::ok(epic_json(call, &data, id)))
}

fn set_epic(call: &Call, data: &mut SiteData, list: &[String], epic: u64) -> HandlerResult {
    let ids = resolve_all(data, list)?;
    for id in &ids {
        let t = data.core(*id).map(|c| c.issue_type);
        if t == Some(EPIC) || t == Some(SUBTASK) {
            return Err(Reply::bad_request(&format!(
                "Issue {} cannot be moved to or out of an epic.",
                data.key(*id)
            )));
        }
    }
    for id in ids {
        if let Some(c) = data.core_mut(id) {
            c.parent = epic;
            c.updated = call.now;
        }
    }
    Ok(Reply::no_content())
}

fn move_to_epic(call: &Call) -> HandlerResult {
    let body = call.json_body()?;
    let list = issue_list(&body)?;
    let mut data = call.data_mut();
    let epic = epic_or_404(call, &data)?;
    set_epic(call, &mut data, &list, epic)
}

fn remove_from_epic(call: &Call) -> HandlerResult {
    let body = call.json_body()?;
    let list = issue_list(&body)?;
    let mut data = call.data_mut();
    set_epic(call, &mut data, &list, 0)
}
