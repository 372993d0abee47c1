//! Per-issue collections: comments, worklogs, watchers, attachments, issue links.

use bytes::Bytes;
use http::StatusCode;
use serde_json::{Value, json};

use super::issues::{
    NOT_FOUND, attachment_json, comment_json, linked_issue_json, parse_duration, resolve_issue,
    worklog_json,
};
use super::meta::link_type_json;
use crate::call::Call;
use crate::model::LINK_TYPES;
use crate::multipart::Upload;
use crate::reply::{Body, HandlerResult, Reply};
use crate::sitedata::{Attachment, Comment, IssueLink, Worklog};

fn adf_body(body: &Value, field: &str) -> Result<Value, Reply> {
    let v = body.get(field).cloned().unwrap_or(Value::Null);
    if v.get("type").and_then(Value::as_str) == Some("doc")
        && v.get("content").is_some_and(Value::is_array)
    {
        Ok(v)
    } else if v.is_null() {
        Err(Reply::field_error(field, "Comment body can not be empty!"))
    } else {
        Err(Reply::field_error(
            field,
            "Operation value must be an Atlassian Document (see the Atlassian Document Format)",
        ))
    }
}

pub fn list_comments(call: &Call) -> HandlerResult {
    let data = call.data();
    let id = resolve_issue(&data, call.param("issueIdOrKey"))?;
    let start = call.q_num("startAt", 0)?;
    let max = call.q_num("maxResults", 5000)?;
    let mut list = data.comments(id);
    if call.q("orderBy") == Some("-created") {
        list.reverse();
    }
    let total = list.len();
    let page: Vec<Value> = list
        .iter()
        .skip(start)
        .take(max)
        .map(|c| comment_json(call, id, c))
        .collect();
    Ok(Reply::ok(
        json!({"startAt": start, "maxResults": max, "total": total, "comments": page}),
    ))
}

pub fn add_comment(call: &Call) -> HandlerResult {
    let body = call.json_body()?;
    let text = adf_body(&body, "body")?;
    let mut data = call.data_mut();
    let id = resolve_issue(&data, call.param("issueIdOrKey"))?;
    let cid = data.alloc_id();
    let me = call.caller.user as u8;
    let c = Comment {
        id: cid,
        author: me,
        update_author: me,
        body: text,
        created: call.now,
        updated: call.now,
        public: true,
    };
    let out = comment_json(call, id, &c);
    data.comments_mut(id).push(c);
    if let Some(core) = data.core_mut(id) {
        core.updated = call.now;
    }
    Ok(Reply::created(out))
}

fn comment_id(call: &Call) -> u64 {
    call.param("id").parse().unwrap_or(0)
}

pub fn get_comment(call: &Call) -> HandlerResult {
    let data = call.data();
    let id = resolve_issue(&data, call.param("issueIdOrKey"))?;
    let cid = comment_id(call);
    let list = data.comments(id);
    let c = list
        .iter()
        .find(|c| c.id == cid)
        .ok_or_else(|| Reply::not_found("Can not find a comment for the id."))?;
    Ok(Reply::ok(comment_json(call, id, c)))
}

pub fn update_comment(call: &Call) -> HandlerResult {
    let body = call.json_body()?;
    let text = adf_body(&body, "body")?;
    let mut data = call.data_mut();
    let id = resolve_issue(&data, call.param("issueIdOrKey"))?;
    let cid = comment_id(call);
    let me = call.caller.user as u8;
    let now = call.now;
    let c = data
        .comments_mut(id)
        .iter_mut()
        .find(|c| c.id == cid)
        .ok_or_else(|| Reply::not_found("Can not find a comment for the id."))?;
    c.body = text;
    c.updated = now;
    c.update_author = me;
    let c = c.clone();
    Ok(Reply::ok(comment_json(call, id, &c)))
}

pub fn delete_comment(call: &Call) -> HandlerResult {
    let mut data = call.data_mut();
    let id = resolve_issue(&data, call.param("issueIdOrKey"))?;
    let cid = comment_id(call);
    let list = data.comments_mut(id);
    let before = list.len();
    list.retain(|c| c.id != cid);
    if list.len() == before {
        return Err(Reply::not_found("Can not find a comment for the id."));
    }
    Ok(Reply::no_content())
}

pub fn list_worklogs(call: &Call) -> HandlerResult {
    let data = call.data();
    let id = resolve_issue(&data, call.param("issueIdOrKey"))?;
    let start = call.q_num("startAt", 0)?;
    let max = call.q_num("maxResults", 5000)?;
    let list = data.worklogs.get(&id).cloned().unwrap_or_default();
    let page: Vec<Value> = list
        .iter()
        .skip(start)
        .take(max)
        .map(|w| worklog_json(call, w))
        .collect();
    Ok(Reply::ok(
        json!({"startAt": start, "maxResults": max, "total": list.len(), "worklogs": page}),
    ))
}

/// Time spent (seconds), start (Unix seconds) and comment of a worklog body, each optional.
type WorklogFields = (Option<i64>, Option<i64>, Option<Value>);

fn worklog_fields(body: &Value) -> Result<WorklogFields, Reply> {
    let secs =
        match (
            body.get("timeSpentSeconds").and_then(Value::as_i64),
            body.get("timeSpent").and_then(Value::as_str),
        ) {
            (Some(s), _) => Some(s),
            (None, Some(t)) => Some(parse_duration(t).ok_or_else(|| {
                Reply::field_error("timeLogged", "Invalid time duration entered.")
            })?),
            (None, None) => None,
        };
    if secs.is_some_and(|s| s <= 0) {
        return Err(Reply::field_error(
            "timeLogged",
            "Time Spent must be greater than zero.",
        ));
    }
    let started = match body.get("started").and_then(Value::as_str) {
        Some(s) => Some(crate::clock::parse_date(s).ok_or_else(|| Reply::field_error("started", "Invalid date format. Please enter the date in the format \"yyyy-MM-dd'T'HH:mm:ss.SSSZ\"."))?),
        None => None,
    };
    let comment = match body.get("comment") {
        None => None,
        Some(v) if v.get("type").and_then(Value::as_str) == Some("doc") => Some(v.clone()),
        Some(_) => {
            return Err(Reply::field_error(
                "comment",
                "Operation value must be an Atlassian Document (see the Atlassian Document Format)",
            ));
        }
    };
    Ok((secs, started, comment))
}

pub fn add_worklog(call: &Call) -> HandlerResult {
    let body = call.json_body()?;
    let (secs, started, comment) = worklog_fields(&body)?;
    let secs = secs.ok_or_else(|| {
        Reply::field_error("timeLogged", "You must indicate the time spent working.")
    })?;
    let mut data = call.data_mut();
    let id = resolve_issue(&data, call.param("issueIdOrKey"))?;
    let wid = data.alloc_id();
    let me = call.caller.user as u8;
    let w = Worklog {
        id: wid,
        issue: id,
        author: me,
        update_author: me,
        comment: comment.unwrap_or(Value::Null),
        started: started.unwrap_or(call.now),
        time_spent_seconds: secs,
        created: call.now,
        updated: call.now,
    };
    let out = worklog_json(call, &w);
    data.worklogs.entry(id).or_default().push(w);
    Ok(Reply::created(out))
}

fn worklog_id(call: &Call) -> u64 {
    call.param("id").parse().unwrap_or(0)
}

const NO_WORKLOG: &str = "Cannot find worklog with id.";

pub fn get_worklog(call: &Call) -> HandlerResult {
    let data = call.data();
    let id = resolve_issue(&data, call.param("issueIdOrKey"))?;
    let wid = worklog_id(call);
    let w = data
        .worklogs
        .get(&id)
        .and_then(|l| l.iter().find(|w| w.id == wid))
        .ok_or_else(|| Reply::not_found(NO_WORKLOG))?;
    Ok(Reply::ok(worklog_json(call, w)))
}

pub fn update_worklog(call: &Call) -> HandlerResult {
    let body = call.json_body()?;
    let (secs, started, comment) = worklog_fields(&body)?;
    let mut data = call.data_mut();
    let id = resolve_issue(&data, call.param("issueIdOrKey"))?;
    let wid = worklog_id(call);
    let w = data
        .worklogs
        .get_mut(&id)
        .and_then(|l| l.iter_mut().find(|w| w.id == wid))
        .ok_or_else(|| Reply::not_found(NO_WORKLOG))?;
    if let Some(s) = secs {
        w.time_spent_seconds = s;
    }
    if let Some(s) = started {
        w.started = s;
    }
    if let Some(c) = comment {
        w.comment = c;
    }
    w.updated = call.now;
    w.update_author = call.caller.user as u8;
    let w = w.clone();
    Ok(Reply::ok(worklog_json(call, &w)))
}

pub fn delete_worklog(call: &Call) -> HandlerResult {
    let mut data = call.data_mut();
    let id = resolve_issue(&data, call.param("issueIdOrKey"))?;
    let wid = worklog_id(call);
    let list = data
        .worklogs
        .get_mut(&id)
        .ok_or_else(|| Reply::not_found(NO_WORKLOG))?;
    let before = list.len();
    list.retain(|w| w.id != wid);
    if list.len() == before {
        return Err(Reply::not_found(NO_WORKLOG));
    }
    Ok(Reply::no_content())
}

pub fn get_watchers(call: &Call) -> HandlerResult {
    let data = call.data();
    let id = resolve_issue(&data, call.param("issueIdOrKey"))?;
    let w = data.watchers(id);
    let me = call.caller.user as u8;
    Ok(Reply::ok(json!({
        "self": call.url(&format!("/rest/api/3/issue/{}/watchers", data.key(id))),
        "isWatching": w.contains(&me),
        "watchCount": w.len(),
        "watchers": w.iter().map(|u| super::user_json(call, usize::from(*u))).collect::<Vec<_>>(),
    })))
}

pub fn add_watcher(call: &Call) -> HandlerResult {
    // The body is a bare JSON string (the account id); an empty body means the caller.
    let user = if call.body.is_empty() {
        call.caller.user as u8
    } else {
        let v: Value = call.json_body()?;
        let account = v.as_str().ok_or_else(|| {
            Reply::bad_request("The request body must be a JSON string with the accountId.")
        })?;
        call.state
            .user_by_account(account)
            .map(|u| u.index as u8)
            .ok_or_else(|| Reply::not_found("The user does not exist."))?
    };
    let mut data = call.data_mut();
    let id = resolve_issue(&data, call.param("issueIdOrKey"))?;
    let w = data.watchers_mut(id);
    if !w.contains(&user) {
        w.push(user);
    }
    Ok(Reply::no_content())
}

pub fn remove_watcher(call: &Call) -> HandlerResult {
    let account = call
        .q("accountId")
        .ok_or_else(|| Reply::bad_request("The accountId query parameter is required."))?;
    let user = call
        .state
        .user_by_account(account)
        .map(|u| u.index as u8)
        .ok_or_else(|| Reply::not_found("The user does not exist."))?;
    let mut data = call.data_mut();
    let id = resolve_issue(&data, call.param("issueIdOrKey"))?;
    data.watchers_mut(id).retain(|u| *u != user);
    Ok(Reply::no_content())
}

pub fn add_attachments(call: &Call, uploads: Vec<Upload>) -> HandlerResult {
    // Jira's XSRF check: without this header uploads are refused.
    let token = call
        .headers
        .get("x-atlassian-token")
        .and_then(|v| v.to_str().ok());
    if !token
        .is_some_and(|t| t.eq_ignore_ascii_case("no-check") || t.eq_ignore_ascii_case("nocheck"))
    {
        return Err(Reply::jira_error(
            StatusCode::FORBIDDEN,
            &["XSRF check failed"],
            &[],
        ));
    }
    let files: Vec<Upload> = uploads.into_iter().filter(|u| u.field == "file").collect();
    if files.is_empty() {
        return Err(Reply::bad_request(
            "No file was attached: send the file in the multipart field 'file'.",
        ));
    }
    let mut data = call.data_mut();
    let id = resolve_issue(&data, call.param("issueIdOrKey"))?;
    let mut out = Vec::new();
    for f in files {
        let aid = data.alloc_id();
        let a = Attachment {
            id: aid,
            issue: id,
            filename: if f.filename.is_empty() {
                "attachment".to_owned()
            } else {
                f.filename
            },
            mime_type: f.content_type,
            author: call.caller.user as u8,
            created: call.now,
            content: f.data,
        };
        out.push(attachment_json(call, &a, false));
        data.attachments.insert(aid, a);
    }
    Ok(Reply::ok(Value::Array(out)))
}

fn attachment_id(call: &Call) -> u64 {
    call.param("id").parse().unwrap_or(0)
}

const NO_ATTACHMENT: &str = "The attachment with id does not exist.";

pub fn get_attachment(call: &Call) -> HandlerResult {
    let data = call.data();
    let a = data
        .attachments
        .get(&attachment_id(call))
        .ok_or_else(|| Reply::not_found(NO_ATTACHMENT))?;
    Ok(Reply::ok(attachment_json(call, a, true)))
}

pub fn attachment_content(call: &Call) -> HandlerResult {
    let data = call.data();
    let a = data
        .attachments
        .get(&attachment_id(call))
        .ok_or_else(|| Reply::not_found(NO_ATTACHMENT))?;
    Ok(Reply {
        status: StatusCode::OK,
        body: Body::Bytes {
            content_type: a.mime_type.clone(),
            data: Bytes::clone(&a.content),
            filename: Some(a.filename.clone()),
        },
        headers: Vec::new(),
    })
}

pub fn delete_attachment(call: &Call) -> HandlerResult {
    let mut data = call.data_mut();
    data.attachments
        .remove(&attachment_id(call))
        .ok_or_else(|| Reply::not_found(NO_ATTACHMENT))?;
    Ok(Reply::no_content())
}

pub fn link_issues(call: &Call) -> HandlerResult {
    let body = call.json_body()?;
    let type_name = body
        .get("type")
        .and_then(|t| t.get("name").or(t.get("id")))
        .and_then(Value::as_str)
        .ok_or_else(|| Reply::field_error("issueLinkType", "No issue link type specified."))?;
    let t = LINK_TYPES
        .iter()
        .position(|l| l.name.eq_ignore_ascii_case(type_name) || l.id == type_name)
        .ok_or_else(|| {
            Reply::not_found(&format!(
                "No issue link type with name '{type_name}' found."
            ))
        })?;
    let key_of = |side: &str| {
        body.get(side)
            .and_then(|i| i.get("key").or(i.get("id")))
            .and_then(Value::as_str)
            .map(str::to_owned)
    };
    let mut data = call.data_mut();
    let inward = key_of("inwardIssue")
        .and_then(|k| data.resolve(&k))
        .ok_or_else(|| Reply::not_found(NOT_FOUND))?;
    let outward = key_of("outwardIssue")
        .and_then(|k| data.resolve(&k))
        .ok_or_else(|| Reply::not_found(NOT_FOUND))?;
    if inward == outward {
        return Err(Reply::bad_request("You cannot link an issue to itself."));
    }
    if !data
        .links
        .iter()
        .any(|l| usize::from(l.link_type) == t && l.inward == inward && l.outward == outward)
    {
        let id = data.alloc_id();
        data.links.push(IssueLink {
            id,
            link_type: t as u8,
            inward,
            outward,
        });
    }
    if let Some(comment) = body.get("comment").and_then(|c| c.get("body"))
        && comment.get("type").and_then(Value::as_str) == Some("doc")
    {
        let cid = data.alloc_id();
        let me = call.caller.user as u8;
        let c = Comment {
            id: cid,
            author: me,
            update_author: me,
            body: comment.clone(),
            created: call.now,
            updated: call.now,
            public: true,
        };
        data.comments_mut(outward).push(c);
    }
    Ok(Reply {
        status: StatusCode::CREATED,
        body: Body::Empty,
        headers: Vec::new(),
    })
}

pub fn get_link(call: &Call) -> HandlerResult {
    let data = call.data();
    let lid: u64 = call.param("linkId").parse().unwrap_or(0);
    let l = data
        .links
        .iter()
        .find(|l| l.id == lid)
        .ok_or_else(|| Reply::not_found("No issue link with the specified id."))?;
    Ok(Reply::ok(json!({
        "id": l.id.to_string(),
        "self": call.url(&format!("/rest/api/3/issueLink/{}", l.id)),
        "type": link_type_json(call, usize::from(l.link_type)),
        "inwardIssue": linked_issue_json(call, &data, l.inward),
        "outwardIssue": linked_issue_json(call, &data, l.outward),
    })))
}

pub fn delete_link(call: &Call) -> HandlerResult {
    let mut data = call.data_mut();
    let lid: u64 = call.param("linkId").parse().unwrap_or(0);
    let before = data.links.len();
    data.links.retain(|l| l.id != lid);
    if data.links.len() == before {
        return Err(Reply::not_found("No issue link with the specified id."));
    }
    Ok(Reply::no_content())
}
