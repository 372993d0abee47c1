//! Jira Service Management: service desks, request types and their fields, customer
//! requests, request comments, transitions, approvals, queues, customers, organizations.

use std::collections::BTreeSet;

use http::StatusCode;
use serde_json::{Value, json};

use crate::call::Call;
use crate::clock::jira_time;
use crate::jql::{self, Env};
use crate::model::{
    Category, FIRST_CUSTOMER, PROJECTS, ProjectKind, QUEUES, REQUEST_TYPES, SERVICE_REQUEST,
    STATUSES, project_id, transition_id,
};
use crate::platform::issues::{FieldSel, apply_transition, issue_json};
use crate::reply::{HandlerResult, Reply};
use crate::seed::{adf_paragraph, adf_text};
use crate::sitedata::{
    ApprovalDecision, Comment, IssueCore, IssueExtra, NO_USER, Organization, SiteData,
};

pub fn handle(call: &Call) -> Option<HandlerResult> {
    Some(match call.op.operation_id {
        "getServiceDesks" => service_desks(call),
        "getServiceDeskById" => service_desk(call),
        "getRequestTypes" => request_types(call),
        "getRequestTypeFields" => request_type_fields(call),
        "getQueues" => queues(call),
        "getQueue" => queue(call),
        "removeCustomers" => remove_customers(call),
        "getIssuesInQueue" => queue_issues(call),
        "getCustomers" => customers(call),
        "addCustomers" => add_customers(call),
        "getCustomerRequests" => list_requests(call),
        "createCustomerRequest" => create_request(call),
        "getCustomerRequestByIdOrKey" => get_request(call),
        "getRequestComments" => list_comments(call),
        "createRequestComment" => add_comment(call),
        "getCustomerTransitions" => transitions(call),
        "performCustomerTransition" => perform_transition(call),
        "getApprovals" => approvals(call),
        "answerApproval" => answer_approval(call),
        "getApprovalById" => approval_by_id(call),
        "createCustomer" => create_customer(call),
        "getOrganizations" if call.op.template.contains("/servicedesk/") => {
            desk_organizations(call)
        }
        "getOrganizations" => organizations(call),
        "createOrganization" => create_organization(call),
        "deleteOrganization" => delete_organization(call),
        "getUsersInOrganization" => organization_users(call),
        "addUsersToOrganization" => add_organization_users(call),
        "addOrganization" => add_desk_organization(call),
        "getOrganization" => organization(call),
        "getAllRequestTypes" => all_request_types(call),
        "getRequestTypeById" => request_type_by_id(call),
        "getCustomerRequestStatus" => request_status(call),
        "getRequestCommentById" => get_comment(call),
        "getSlaInformation" => sla_information(call),
        "getRequestParticipants" => participants(call),
        "addRequestParticipants" => add_participants(call),
        _ => return None,
    })
}

/// The one service desk of every site: id 1, the first service-desk project.
const DESK_ID: &str = "1";

fn desk_project() -> usize {
    PROJECTS
        .iter()
        .position(|p| p.kind == ProjectKind::ServiceDesk)
        .unwrap_or(0)
}

fn desk_or_404(call: &Call) -> Result<(), Reply> {
    let raw = call.param("serviceDeskId");
    if raw == DESK_ID
        || raw == PROJECTS[desk_project()].key
        || raw == project_id(desk_project()).to_string()
    {
        Ok(())
    } else {
        Err(Reply::sd_error(
            StatusCode::NOT_FOUND,
            &format!("Service Desk with id {raw} does not exist."),
        ))
    }
}

fn sd_base(call: &Call) -> String {
    call.url("/rest/servicedeskapi")
}

/// Service Management paging: `start`, `limit`, `size`, `isLastPage`, `values`, `_links`.
fn sd_page(call: &Call, items: Vec<Value>, path: &str) -> HandlerResult {
    let start = call.q_num("start", 0)?;
    let limit = call.q_num("limit", 50)?.clamp(1, 100);
    let total = items.len();
    let values: Vec<Value> = items.into_iter().skip(start).take(limit).collect();
    let is_last = start + values.len() >= total;
    let mut links = json!({"base": sd_base(call), "context": "", "self": call.url(&format!("{path}?start={start}&limit={limit}"))});
    if !is_last {
        links["next"] = json!(call.url(&format!("{path}?start={}&limit={limit}", start + limit)));
    }
    if start > 0 {
        links["prev"] = json!(call.url(&format!(
            "{path}?start={}&limit={limit}",
            start.saturating_sub(limit)
        )));
    }
    Ok(Reply::ok(
        json!({"_expands": [], "size": values.len(), "start": start, "limit": limit, "isLastPage": is_last, "_links": links, "values": values}),
    ))
}

fn date_dto(t: i64) -> Value {
    let jira = jira_time(t);
    json!({"iso8601": jira.replace(".000", ""), "jira": jira, "friendly": jira[..16].replace('T', " "), "epochMillis": t * 1000})
}

fn user_dto(call: &Call, u: u8) -> Value {
    if u == NO_USER {
        return Value::Null;
    }
    let user = &call.state.users[usize::from(u)];
    json!({
        "accountId": user.account_id,
        "emailAddress": user.email,
        "displayName": user.display_name,
        "active": true,
        "timeZone": user.time_zone,
        "_links": {
            "jiraRest": call.url(&format!("/rest/api/3/user?accountId={}", user.account_id)),
            "avatarUrls": crate::platform::avatar_urls("user", &user.account_id),
            "self": call.url(&format!("/rest/api/3/user?accountId={}", user.account_id)),
        },
    })
}

fn desk_json(call: &Call) -> Value {
    let p = desk_project();
    json!({
        "id": DESK_ID,
        "projectId": project_id(p).to_string(),
        "projectName": PROJECTS[p].name,
        "projectKey": PROJECTS[p].key,
        "projectTypeKey": "service_desk",
        "_links": {"self": call.url(&format!("/rest/servicedeskapi/servicedesk/{DESK_ID}"))},
    })
}

fn service_desks(call: &Call) -> HandlerResult {
    sd_page(
        call,
        vec![desk_json(call)],
        "/rest/servicedeskapi/servicedesk",
    )
}

fn service_desk(call: &Call) -> HandlerResult {
    desk_or_404(call)?;
    Ok(Reply::ok(desk_json(call)))
}

fn request_type_json(call: &Call, rt: usize) -> Value {
    let d = &REQUEST_TYPES[rt];
    json!({
        "id": d.id,
        "_links": {"self": call.url(&format!("/rest/servicedeskapi/servicedesk/{DESK_ID}/requesttype/{}", d.id))},
        "name": d.name,
        "description": d.description,
        "helpText": format!("{} — we usually answer within a day.", d.name),
        "issueTypeId": crate::model::ISSUE_TYPES[usize::from(SERVICE_REQUEST)].id,
        "serviceDeskId": DESK_ID,
        "portalId": DESK_ID,
        "groupIds": ["1"],
        "canCreateRequest": true,
    })
}

fn request_types(call: &Call) -> HandlerResult {
    desk_or_404(call)?;
    let q = call.q("searchQuery").map(str::to_lowercase);
    let list = (0..REQUEST_TYPES.len())
        .filter(|rt| {
            q.as_ref()
                .is_none_or(|q| REQUEST_TYPES[*rt].name.to_lowercase().contains(q.as_str()))
        })
        .map(|rt| request_type_json(call, rt))
        .collect();
    sd_page(
        call,
        list,
        &format!("/rest/servicedeskapi/servicedesk/{DESK_ID}/requesttype"),
    )
}

fn request_type_index(raw: &str) -> Option<usize> {
    REQUEST_TYPES.iter().position(|r| r.id == raw)
}

fn request_type_fields(call: &Call) -> HandlerResult {
    desk_or_404(call)?;
    let rt = request_type_index(call.param("requestTypeId")).ok_or_else(|| {
        Reply::sd_error(StatusCode::NOT_FOUND, "The request type does not exist.")
    })?;
    let mut fields = vec![
        json!({"fieldId": "summary", "name": "What do you need?", "description": "Summarize the request in one line.", "required": true,
               "defaultValues": [], "validValues": [], "visible": true, "jiraSchema": {"type": "string", "system": "summary"}}),
        json!({"fieldId": "description", "name": "Why do you need this?", "description": "Give as much detail as you can.", "required": false,
               "defaultValues": [], "validValues": [], "visible": true, "jiraSchema": {"type": "string", "system": "description"}}),
    ];
    if REQUEST_TYPES[rt].needs_approval {
        fields.push(json!({"fieldId": "priority", "name": "Urgency", "description": "How soon is it needed?", "required": false,
            "defaultValues": [{"value": "3", "label": "Medium", "children": []}],
            "validValues": crate::model::PRIORITIES.iter().map(|p| json!({"value": p.id, "label": p.name, "children": []})).collect::<Vec<_>>(),
            "visible": true, "jiraSchema": {"type": "priority", "system": "priority"}}));
    }
    Ok(Reply::ok(
        json!({"requestTypeFields": fields, "canRaiseOnBehalfOf": call.caller.user < FIRST_CUSTOMER, "canAddRequestParticipants": true}),
    ))
}

fn is_request(data: &SiteData, id: u64) -> bool {
    data.core(id)
        .is_some_and(|c| PROJECTS[usize::from(c.project)].kind == ProjectKind::ServiceDesk)
}

fn request_or_404(call: &Call, data: &SiteData) -> Result<u64, Reply> {
    let raw = call.param("issueIdOrKey");
    data.resolve(raw)
        .filter(|id| is_request(data, *id))
        .ok_or_else(|| {
            Reply::sd_error(
                StatusCode::NOT_FOUND,
                &format!(
                    "The request {raw} does not exist or you do not have permission to see it."
                ),
            )
        })
}

fn is_agent(call: &Call) -> bool {
    call.caller.user < FIRST_CUSTOMER
}

fn request_json(call: &Call, data: &SiteData, id: u64) -> Value {
    let Some(c) = data.core(id) else {
        return Value::Null;
    };
    let st = &STATUSES[usize::from(c.status)];
    let description = adf_text(&data.description(id));
    json!({
        "_expands": ["participant", "status", "sla", "requestType", "serviceDesk", "attachment", "action", "comment"],
        "issueId": id.to_string(),
        "issueKey": data.key(id),
        "summary": data.summary(id),
        "requestTypeId": REQUEST_TYPES[usize::from(c.request_type)].id,
        "serviceDeskId": DESK_ID,
        "createdDate": date_dto(c.created),
        "reporter": user_dto(call, c.reporter),
        "requestFieldValues": [
            {"fieldId": "summary", "label": "What do you need?", "value": data.summary(id)},
            {"fieldId": "description", "label": "Why do you need this?", "value": description,
             "renderedValue": {"html": format!("<p>{}</p>", crate::auth::authorize::html_escape(&description))}},
        ],
        "currentStatus": {"status": st.name, "statusCategory": st.category.sd_name(), "statusDate": date_dto(c.updated)},
        "_links": {
            "jiraRest": call.url(&format!("/rest/api/3/issue/{id}")),
            "web": call.url(&format!("/servicedesk/customer/portal/{DESK_ID}/{}", data.key(id))),
            "agent": call.url(&format!("/browse/{}", data.key(id))),
            "self": call.url(&format!("/rest/servicedeskapi/request/{id}")),
        },
    })
}

fn list_requests(call: &Call) -> HandlerResult {
    let data = call.data();
    if let Some(d) = call.q("serviceDeskId")
        && d != DESK_ID
    {
        return sd_page(call, Vec::new(), "/rest/servicedeskapi/request");
    }
    let rt = call
        .q("requestTypeId")
        .map(|r| request_type_index(r).unwrap_or(usize::MAX));
    let status = call.q("requestStatus").unwrap_or("ALL_REQUESTS");
    let term = call.q("searchTerm").map(str::to_lowercase);
    let me = call.caller.user as u8;
    let agent = is_agent(call);
    let ownership = call.q("requestOwnership").unwrap_or(if agent {
        "ALL_REQUESTS"
    } else {
        "OWNED_REQUESTS"
    });
    let mut ids: Vec<u64> = data
        .live_ids()
        .filter(|id| is_request(&data, *id))
        .filter(|id| {
            let Some(c) = data.core(*id) else {
                return false;
            };
            let done = STATUSES[usize::from(c.status)].category == Category::Done;
            let owned = c.reporter == me;
            (ownership != "OWNED_REQUESTS" && agent || owned)
                && rt.is_none_or(|r| usize::from(c.request_type) == r)
                && match status {
                    "OPEN_REQUESTS" => !done,
                    "CLOSED_REQUESTS" => done,
                    _ => true,
                }
                && term
                    .as_ref()
                    .is_none_or(|t| data.summary(*id).to_lowercase().contains(t.as_str()))
        })
        .collect();
    ids.reverse();
    let items = ids
        .iter()
        .map(|id| request_json(call, &data, *id))
        .collect();
    sd_page(call, items, "/rest/servicedeskapi/request")
}

fn create_request(call: &Call) -> HandlerResult {
    let body = call.json_body()?;
    if body
        .get("serviceDeskId")
        .and_then(Value::as_str)
        .unwrap_or(DESK_ID)
        != DESK_ID
    {
        return Err(Reply::sd_error(
            StatusCode::NOT_FOUND,
            "The service desk does not exist.",
        ));
    }
    let rt = body
        .get("requestTypeId")
        .and_then(|v| {
            v.as_str()
                .map(str::to_owned)
                .or_else(|| v.as_u64().map(|n| n.to_string()))
        })
        .and_then(|r| request_type_index(&r))
        .ok_or_else(|| {
            Reply::sd_error(StatusCode::BAD_REQUEST, "The request type does not exist.")
        })?;
    let values = body
        .get("requestFieldValues")
        .and_then(Value::as_object)
        .cloned()
        .unwrap_or_default();
    let summary = values
        .get("summary")
        .and_then(Value::as_str)
        .filter(|s| !s.trim().is_empty())
        .ok_or_else(|| Reply::sd_error(StatusCode::BAD_REQUEST, "Your request could not be created. Please check the fields have been correctly filled in. What do you need?: You must specify a summary of the issue."))?;
    let description = match values.get("description") {
        Some(Value::String(s)) => adf_paragraph(s),
        Some(v) if v.get("type").and_then(Value::as_str) == Some("doc") => v.clone(),
        _ => Value::Null,
    };
    let reporter = match body.get("raiseOnBehalfOf").and_then(Value::as_str) {
        Some(who) => {
            let u = call
                .state
                .user_by_account(who)
                .or_else(|| call.state.user_by_email(who))
                .ok_or_else(|| {
                    Reply::sd_error(
                        StatusCode::BAD_REQUEST,
                        &format!("The user '{who}' does not exist."),
                    )
                })?;
            u.index as u8
        }
        None => call.caller.user as u8,
    };
    let priority = values
        .get("priority")
        .and_then(|p| p.get("id").and_then(Value::as_str).or(p.as_str()))
        .and_then(|p| crate::model::PRIORITIES.iter().position(|d| d.id == p))
        .map(|p| p as u8)
        .unwrap_or(crate::model::DEFAULT_PRIORITY);
    let p = desk_project();
    let mut data = call.data_mut();
    let number = data.take_number(p as u8);
    let core = IssueCore {
        project: p as u8,
        number,
        issue_type: SERVICE_REQUEST,
        status: PROJECTS[p].kind.workflow()[0],
        priority,
        assignee: NO_USER,
        reporter,
        labels: 0,
        story_points: 0,
        request_type: rt as u8,
        deleted: false,
        has_extra: true,
        sprint: 0,
        parent: 0,
        created: call.now,
        updated: call.now,
        resolved: 0,
    };
    let extra = IssueExtra {
        summary: summary.trim().to_owned(),
        description,
        ..IssueExtra::default()
    };
    let id = data.insert_issue(core, extra);
    data.customers.insert(reporter);
    Ok(Reply::created(request_json(call, &data, id)))
}

fn get_request(call: &Call) -> HandlerResult {
    let data = call.data();
    let id = request_or_404(call, &data)?;
    Ok(Reply::ok(request_json(call, &data, id)))
}

fn comment_dto(call: &Call, issue: u64, c: &Comment) -> Value {
    let text = adf_text(&c.body);
    json!({
        "id": c.id.to_string(),
        "body": text,
        "public": c.public,
        "author": user_dto(call, c.author),
        "created": date_dto(c.created),
        "renderedBody": {"html": format!("<p>{}</p>", crate::auth::authorize::html_escape(&text))},
        "_links": {"self": call.url(&format!("/rest/servicedeskapi/request/{issue}/comment/{}", c.id))},
    })
}

fn list_comments(call: &Call) -> HandlerResult {
    let data = call.data();
    let id = request_or_404(call, &data)?;
    let want_public = call.q("public").is_none_or(|v| v == "true");
    let want_internal = is_agent(call) && call.q("internal").is_none_or(|v| v == "true");
    let items = data
        .comments(id)
        .iter()
        .filter(|c| (c.public && want_public) || (!c.public && want_internal))
        .map(|c| comment_dto(call, id, c))
        .collect();
    sd_page(
        call,
        items,
        &format!("/rest/servicedeskapi/request/{id}/comment"),
    )
}

fn add_comment(call: &Call) -> HandlerResult {
    let body = call.json_body()?;
    let text = body
        .get("body")
        .and_then(Value::as_str)
        .filter(|s| !s.trim().is_empty())
        .ok_or_else(|| {
            Reply::sd_error(
                StatusCode::BAD_REQUEST,
                "The comment body must not be empty.",
            )
        })?;
    let public = body.get("public").and_then(Value::as_bool).unwrap_or(true);
    if !public && !is_agent(call) {
        return Err(Reply::sd_error(
            StatusCode::FORBIDDEN,
            "Customers can only add public comments.",
        ));
    }
    let mut data = call.data_mut();
    let id = request_or_404(call, &data)?;
    let cid = data.alloc_id();
    let me = call.caller.user as u8;
    let c = Comment {
        id: cid,
        author: me,
        update_author: me,
        body: adf_paragraph(text),
        created: call.now,
        updated: call.now,
        public,
    };
    let out = comment_dto(call, id, &c);
    data.comments_mut(id).push(c);
    Ok(Reply::created(out))
}

fn transitions(call: &Call) -> HandlerResult {
    let data = call.data();
    let id = request_or_404(call, &data)?;
    let Some(c) = data.core(id) else {
        return Err(Reply::sd_error(
            StatusCode::NOT_FOUND,
            "The request does not exist.",
        ));
    };
    let items = PROJECTS[usize::from(c.project)]
        .kind
        .workflow()
        .iter()
        .filter(|s| **s != c.status)
        .map(|s| json!({"id": transition_id(*s), "name": STATUSES[usize::from(*s)].transition}))
        .collect();
    sd_page(
        call,
        items,
        &format!("/rest/servicedeskapi/request/{id}/transition"),
    )
}

fn perform_transition(call: &Call) -> HandlerResult {
    let body = call.json_body()?;
    let tid = body
        .get("id")
        .and_then(|v| {
            v.as_str()
                .map(str::to_owned)
                .or_else(|| v.as_u64().map(|n| n.to_string()))
        })
        .ok_or_else(|| {
            Reply::sd_error(StatusCode::BAD_REQUEST, "The transition id is required.")
        })?;
    let mut data = call.data_mut();
    let id = request_or_404(call, &data)?;
    let me = call.caller.user as u8;
    apply_transition(&mut data, id, &tid, me, call.now).map_err(|_| {
        Reply::sd_error(
            StatusCode::BAD_REQUEST,
            &format!("The transition {tid} is not valid for this request."),
        )
    })?;
    if let Some(text) = body
        .get("additionalComment")
        .and_then(|c| c.get("body"))
        .and_then(Value::as_str)
    {
        let cid = data.alloc_id();
        data.comments_mut(id).push(Comment {
            id: cid,
            author: me,
            update_author: me,
            body: adf_paragraph(text),
            created: call.now,
            updated: call.now,
            public: true,
        });
    }
    Ok(Reply::no_content())
}

fn approval_json(call: &Call, issue: u64, a: &crate::sitedata::Approval) -> Value {
    let decision = match a.decision {
        ApprovalDecision::Pending => "pending",
        ApprovalDecision::Approved => "approved",
        ApprovalDecision::Declined => "declined",
    };
    let mut j = json!({
        "id": a.id.to_string(),
        "name": a.name,
        "finalDecision": decision,
        "canAnswerApproval": a.decision == ApprovalDecision::Pending && a.approvers.contains(&(call.caller.user as u8)),
        "approvers": a.approvers.iter().map(|u| json!({"approver": user_dto(call, *u), "approverDecision": decision})).collect::<Vec<_>>(),
        "createdDate": date_dto(a.created),
        "_links": {"self": call.url(&format!("/rest/servicedeskapi/request/{issue}/approval/{}", a.id))},
    });
    if let Some(t) = a.completed {
        j["completedDate"] = date_dto(t);
    }
    j
}

fn approvals(call: &Call) -> HandlerResult {
    let data = call.data();
    let id = request_or_404(call, &data)?;
    let items = data
        .approvals(id)
        .iter()
        .map(|a| approval_json(call, id, a))
        .collect();
    sd_page(
        call,
        items,
        &format!("/rest/servicedeskapi/request/{id}/approval"),
    )
}

fn approval_by_id(call: &Call) -> HandlerResult {
    let data = call.data();
    let id = request_or_404(call, &data)?;
    let aid: u64 = call.param("approvalId").parse().unwrap_or(0);
    data.approvals(id)
        .iter()
        .find(|a| a.id == aid)
        .map(|a| Reply::ok(approval_json(call, id, a)))
        .ok_or_else(|| Reply::sd_error(StatusCode::NOT_FOUND, "The approval does not exist."))
}

fn create_customer(call: &Call) -> HandlerResult {
    let body = call.json_body()?;
    let field = |k: &str| {
        body.get(k)
            .and_then(Value::as_str)
            .map(str::trim)
            .filter(|s| !s.is_empty())
            .map(str::to_owned)
    };
    let Some(email) = field("email") else {
        return Err(Reply::sd_error(
            StatusCode::BAD_REQUEST,
            "The customer email address is required.",
        ));
    };
    let display_name = field("displayName")
        .or_else(|| field("fullName"))
        .unwrap_or_else(|| email.clone());
    let mut data = call.data_mut();
    let taken = call
        .state
        .users
        .iter()
        .any(|u| u.email.eq_ignore_ascii_case(&email))
        || data
            .created_customers
            .iter()
            .any(|c| c.email.eq_ignore_ascii_case(&email));
    if taken {
        return Err(Reply::sd_error(
            StatusCode::BAD_REQUEST,
            "A user with that email address already exists.",
        ));
    }
    let n = data.alloc_id();
    let account_id = format!("qm:customer:{n:012x}");
    data.created_customers
        .push(crate::sitedata::CreatedCustomer {
            account_id: account_id.clone(),
            email: email.clone(),
            display_name: display_name.clone(),
        });
    let me = call.url(&format!("/rest/api/3/user?accountId={account_id}"));
    Ok(Reply::created(json!({
        "accountId": account_id,
        "emailAddress": email,
        "displayName": display_name,
        "active": true,
        "timeZone": "UTC",
        "_links": {
            "jiraRest": me,
            "avatarUrls": crate::platform::avatar_urls("user", &account_id),
            "self": me,
        },
    })))
}

fn answer_approval(call: &Call) -> HandlerResult {
    let body = call.json_body()?;
    let decision = match body.get("decision").and_then(Value::as_str) {
        Some("approve") => ApprovalDecision::Approved,
        Some("decline") => ApprovalDecision::Declined,
        _ => {
            return Err(Reply::sd_error(
                StatusCode::BAD_REQUEST,
                "The decision must be 'approve' or 'decline'.",
            ));
        }
    };
    let aid: u64 = call.param("approvalId").parse().unwrap_or(0);
    let me = call.caller.user as u8;
    let now = call.now;
    let mut data = call.data_mut();
    let id = request_or_404(call, &data)?;
    let a = data
        .approvals_mut(id)
        .iter_mut()
        .find(|a| a.id == aid)
        .ok_or_else(|| Reply::sd_error(StatusCode::NOT_FOUND, "The approval does not exist."))?;
    if !a.approvers.contains(&me) {
        return Err(Reply::sd_error(
            StatusCode::FORBIDDEN,
            "You are not an approver of this request.",
        ));
    }
    if a.decision != ApprovalDecision::Pending {
        return Err(Reply::sd_error(
            StatusCode::BAD_REQUEST,
            "The approval has already been answered.",
        ));
    }
    a.decision = decision;
    a.completed = Some(now);
    let a = a.clone();
    Ok(Reply::ok(approval_json(call, id, &a)))
}

fn queue_or_404(call: &Call) -> Result<usize, Reply> {
    QUEUES
        .iter()
        .position(|q| q.id == call.param("queueId"))
        .ok_or_else(|| Reply::sd_error(StatusCode::NOT_FOUND, "The queue does not exist."))
}

fn queue_ids(call: &Call, data: &SiteData, q: usize) -> Result<Vec<u64>, Reply> {
    let env = Env {
        now: call.now,
        current_user: call.caller.user,
        users: &call.state.users,
    };
    let compiled = jql::prepare(QUEUES[q].jql, &env, data).map_err(|m| {
        Reply::sd_error(
            StatusCode::INTERNAL_SERVER_ERROR,
            m.first().map(String::as_str).unwrap_or("queue JQL"),
        )
    })?;
    Ok(jql::run(data, &compiled, 0))
}

fn queues(call: &Call) -> HandlerResult {
    desk_or_404(call)?;
    if !is_agent(call) {
        return Err(Reply::sd_error(
            StatusCode::FORBIDDEN,
            "Only agents can view queues.",
        ));
    }
    let data = call.data();
    let with_count = call.q_bool("includeCount");
    let items = (0..QUEUES.len())
        .map(|i| queue_json(call, &data, i, with_count))
        .collect::<Result<Vec<_>, _>>()?;
    sd_page(
        call,
        items,
        &format!("/rest/servicedeskapi/servicedesk/{DESK_ID}/queue"),
    )
}

fn queue_json(call: &Call, data: &SiteData, i: usize, with_count: bool) -> Result<Value, Reply> {
    let q = &QUEUES[i];
    let mut j = json!({"id": q.id, "name": q.name, "jql": q.jql, "fields": ["issuetype", "issuekey", "summary", "reporter", "status", "created"],
                       "_links": {"self": call.url(&format!("/rest/servicedeskapi/servicedesk/{DESK_ID}/queue/{}", q.id))}});
    if with_count {
        j["issueCount"] = json!(queue_ids(call, data, i)?.len());
    }
    Ok(j)
}

fn queue(call: &Call) -> HandlerResult {
    desk_or_404(call)?;
    if !is_agent(call) {
        return Err(Reply::sd_error(
            StatusCode::FORBIDDEN,
            "Only agents can view queues.",
        ));
    }
    let q = queue_or_404(call)?;
    let data = call.data();
    Ok(Reply::ok(queue_json(
        call,
        &data,
        q,
        call.q_bool("includeCount"),
    )?))
}

fn queue_issues(call: &Call) -> HandlerResult {
    desk_or_404(call)?;
    let q = queue_or_404(call)?;
    let data = call.data();
    let ids = queue_ids(call, &data, q)?;
    let sel = FieldSel::parse(&[], "*navigable");
    let items = ids
        .iter()
        .map(|id| issue_json(call, &data, *id, &sel, &[]))
        .collect();
    sd_page(
        call,
        items,
        &format!(
            "/rest/servicedeskapi/servicedesk/{DESK_ID}/queue/{}/issue",
            QUEUES[q].id
        ),
    )
}

fn customers(call: &Call) -> HandlerResult {
    desk_or_404(call)?;
    let data = call.data();
    let q = call.q("query").map(str::to_lowercase);
    let items = data
        .customers
        .iter()
        .filter(|u| {
            let user = &call.state.users[usize::from(**u)];
            q.as_ref().is_none_or(|q| {
                user.display_name.to_lowercase().contains(q.as_str())
                    || user.email.to_lowercase().contains(q.as_str())
            })
        })
        .map(|u| user_dto(call, *u))
        .collect();
    sd_page(
        call,
        items,
        &format!("/rest/servicedeskapi/servicedesk/{DESK_ID}/customer"),
    )
}

fn account_list(call: &Call) -> Result<Vec<u8>, Reply> {
    let body = call.json_body()?;
    let ids: Vec<String> = body
        .get("accountIds")
        .and_then(Value::as_array)
        .map(|a| {
            a.iter()
                .filter_map(Value::as_str)
                .map(str::to_owned)
                .collect()
        })
        .unwrap_or_default();
    if ids.is_empty() {
        return Err(Reply::sd_error(
            StatusCode::BAD_REQUEST,
            "accountIds must list at least one account.",
        ));
    }
    ids.iter()
        .map(|a| {
            call.state
                .user_by_account(a)
                .map(|u| u.index as u8)
                .ok_or_else(|| {
                    Reply::sd_error(
                        StatusCode::BAD_REQUEST,
                        &format!("The user {a} does not exist."),
                    )
                })
        })
        .collect()
}

fn remove_customers(call: &Call) -> HandlerResult {
    desk_or_404(call)?;
    let users = account_list(call)?;
    let mut data = call.data_mut();
    for u in users {
        data.customers.remove(&u);
    }
    Ok(Reply::no_content())
}

fn add_customers(call: &Call) -> HandlerResult {
    desk_or_404(call)?;
    let body = call.json_body()?;
    let ids: Vec<String> = body
        .get("accountIds")
        .and_then(Value::as_array)
        .map(|a| {
            a.iter()
                .filter_map(Value::as_str)
                .map(str::to_owned)
                .collect()
        })
        .unwrap_or_default();
    if ids.is_empty() {
        return Err(Reply::sd_error(
            StatusCode::BAD_REQUEST,
            "accountIds must list at least one account.",
        ));
    }
    let users = ids
        .iter()
        .map(|a| {
            call.state
                .user_by_account(a)
                .map(|u| u.index as u8)
                .ok_or_else(|| {
                    Reply::sd_error(
                        StatusCode::BAD_REQUEST,
                        &format!("The user {a} does not exist."),
                    )
                })
        })
        .collect::<Result<Vec<_>, _>>()?;
    let mut data = call.data_mut();
    data.customers.extend(users);
    Ok(Reply::no_content())
}

fn organization_json(call: &Call, o: &Organization) -> Value {
    json!({"id": o.id.to_string(), "name": o.name, "_links": {"self": call.url(&format!("/rest/servicedeskapi/organization/{}", o.id))}})
}

fn organizations(call: &Call) -> HandlerResult {
    let data = call.data();
    let items = data
        .organizations
        .iter()
        .map(|o| organization_json(call, o))
        .collect();
    sd_page(call, items, "/rest/servicedeskapi/organization")
}

fn organization_or_404(call: &Call, data: &SiteData) -> Result<usize, Reply> {
    let id: u64 = call.param("organizationId").parse().unwrap_or(0);
    data.organizations
        .iter()
        .position(|o| o.id == id)
        .ok_or_else(|| Reply::sd_error(StatusCode::NOT_FOUND, "The organization does not exist."))
}

fn organization(call: &Call) -> HandlerResult {
    let data = call.data();
    let i = organization_or_404(call, &data)?;
    Ok(Reply::ok(organization_json(call, &data.organizations[i])))
}

fn create_organization(call: &Call) -> HandlerResult {
    let body = call.json_body()?;
    let name = body
        .get("name")
        .and_then(Value::as_str)
        .map(str::trim)
        .filter(|n| !n.is_empty())
        .ok_or_else(|| {
            Reply::sd_error(
                StatusCode::BAD_REQUEST,
                "The organization name is required.",
            )
        })?;
    let mut data = call.data_mut();
    if data
        .organizations
        .iter()
        .any(|o| o.name.eq_ignore_ascii_case(name))
    {
        return Err(Reply::sd_error(
            StatusCode::BAD_REQUEST,
            &format!("An organization with the name {name} already exists."),
        ));
    }
    let id = data.organizations.iter().map(|o| o.id).max().unwrap_or(0) + 1;
    let o = Organization {
        id,
        name: name.to_owned(),
        members: BTreeSet::new(),
        on_desk: false,
    };
    let j = organization_json(call, &o);
    data.organizations.push(o);
    Ok(Reply::created(j))
}

fn delete_organization(call: &Call) -> HandlerResult {
    let mut data = call.data_mut();
    let i = organization_or_404(call, &data)?;
    data.organizations.remove(i);
    Ok(Reply::no_content())
}

fn organization_users(call: &Call) -> HandlerResult {
    let data = call.data();
    let i = organization_or_404(call, &data)?;
    let o = &data.organizations[i];
    let items = o.members.iter().map(|u| user_dto(call, *u)).collect();
    sd_page(
        call,
        items,
        &format!("/rest/servicedeskapi/organization/{}/user", o.id),
    )
}

fn add_organization_users(call: &Call) -> HandlerResult {
    let users = account_list(call)?;
    let mut data = call.data_mut();
    let i = organization_or_404(call, &data)?;
    data.organizations[i].members.extend(users);
    Ok(Reply::no_content())
}

fn desk_organizations(call: &Call) -> HandlerResult {
    desk_or_404(call)?;
    let member = match call.q("accountId") {
        Some(a) => Some(
            call.state
                .user_by_account(a)
                .map(|u| u.index as u8)
                .ok_or_else(|| {
                    Reply::sd_error(
                        StatusCode::BAD_REQUEST,
                        &format!("The user {a} does not exist."),
                    )
                })?,
        ),
        None => None,
    };
    let data = call.data();
    let items = data
        .organizations
        .iter()
        .filter(|o| o.on_desk && member.is_none_or(|u| o.members.contains(&u)))
        .map(|o| organization_json(call, o))
        .collect();
    sd_page(
        call,
        items,
        &format!("/rest/servicedeskapi/servicedesk/{DESK_ID}/organization"),
    )
}

fn add_desk_organization(call: &Call) -> HandlerResult {
    desk_or_404(call)?;
    let body = call.json_body()?;
    let id = body
        .get("organizationId")
        .and_then(|v| {
            v.as_u64()
                .or_else(|| v.as_str().and_then(|s| s.parse().ok()))
        })
        .ok_or_else(|| Reply::sd_error(StatusCode::BAD_REQUEST, "organizationId is required."))?;
    let mut data = call.data_mut();
    let o = data
        .organizations
        .iter_mut()
        .find(|o| o.id == id)
        .ok_or_else(|| {
            Reply::sd_error(StatusCode::NOT_FOUND, "The organization does not exist.")
        })?;
    o.on_desk = true;
    Ok(Reply::no_content())
}

fn all_request_types(call: &Call) -> HandlerResult {
    let q = call.q("searchQuery").map(str::to_lowercase);
    let desks = call.q_list("serviceDeskId");
    let list = if desks.is_empty() || desks.iter().any(|d| d == DESK_ID) {
        (0..REQUEST_TYPES.len())
            .filter(|rt| {
                q.as_ref()
                    .is_none_or(|q| REQUEST_TYPES[*rt].name.to_lowercase().contains(q.as_str()))
            })
            .map(|rt| request_type_json(call, rt))
            .collect()
    } else {
        Vec::new()
    };
    sd_page(call, list, "/rest/servicedeskapi/requesttype")
}

fn request_type_by_id(call: &Call) -> HandlerResult {
    desk_or_404(call)?;
    let rt = request_type_index(call.param("requestTypeId")).ok_or_else(|| {
        Reply::sd_error(StatusCode::NOT_FOUND, "The request type does not exist.")
    })?;
    Ok(Reply::ok(request_type_json(call, rt)))
}

/// Status history, newest first, from the issue's changelog.
fn request_status(call: &Call) -> HandlerResult {
    let data = call.data();
    let id = request_or_404(call, &data)?;
    let c = data
        .core(id)
        .ok_or_else(|| Reply::sd_error(StatusCode::NOT_FOUND, "The request does not exist."))?;
    let mut items = Vec::new();
    let mut history = data.history(id);
    history.sort_by_key(|h| std::cmp::Reverse(h.created));
    for h in &history {
        for i in h.items.iter().filter(|i| i.field == "status") {
            let name = i.to_string.clone().unwrap_or_default();
            let cat = STATUSES
                .iter()
                .find(|s| s.name == name)
                .map(|s| s.category.sd_name())
                .unwrap_or("UNDEFINED");
            items.push(
                json!({"status": name, "statusCategory": cat, "statusDate": date_dto(h.created)}),
            );
        }
    }
    let st = &STATUSES[usize::from(c.status)];
    if items.first().and_then(|v| v["status"].as_str()) != Some(st.name) {
        items.insert(
            0,
            json!({"status": st.name, "statusCategory": st.category.sd_name(), "statusDate": date_dto(c.updated)}),
        );
    }
    if history.is_empty() && c.updated != c.created {
        let first = &STATUSES[usize::from(PROJECTS[usize::from(c.project)].kind.workflow()[0])];
        if first.name != st.name {
            items.push(json!({"status": first.name, "statusCategory": first.category.sd_name(), "statusDate": date_dto(c.created)}));
        }
    }
    sd_page(
        call,
        items,
        &format!("/rest/servicedeskapi/request/{id}/status"),
    )
}

fn get_comment(call: &Call) -> HandlerResult {
    let data = call.data();
    let id = request_or_404(call, &data)?;
    let raw = call.param("commentId");
    let comments = data.comments(id);
    let c = comments
        .iter()
        .find(|c| c.id.to_string() == raw && (c.public || is_agent(call)))
        .ok_or_else(|| {
            Reply::sd_error(
                StatusCode::NOT_FOUND,
                &format!(
                    "The comment {raw} does not exist or you do not have permission to see it."
                ),
            )
        })?;
    Ok(Reply::ok(comment_dto(call, id, c)))
}

fn duration_dto(millis: i64) -> Value {
    let mins = millis.abs() / 60_000;
    let sign = if millis < 0 { "-" } else { "" };
    json!({"millis": millis, "friendly": format!("{sign}{}h {}m", mins / 60, mins % 60)})
}

/// Two SLAs measured from the request's creation: first response (4 h, met by the first
/// public comment from an agent) and resolution (24 h, met when the status is done).
fn sla_information(call: &Call) -> HandlerResult {
    let data = call.data();
    let id = request_or_404(call, &data)?;
    let c = data
        .core(id)
        .ok_or_else(|| Reply::sd_error(StatusCode::NOT_FOUND, "The request does not exist."))?;
    let first_response = data
        .comments(id)
        .iter()
        .filter(|x| x.public && usize::from(x.author) < FIRST_CUSTOMER && x.created >= c.created)
        .map(|x| x.created)
        .min();
    let resolved =
        (STATUSES[usize::from(c.status)].category == Category::Done).then_some(c.updated);
    let slas = [
        ("1", "Time to first response", 4 * 3600, first_response),
        ("2", "Time to resolution", 24 * 3600, resolved),
    ];
    let items = slas
        .iter()
        .map(|(sid, name, goal, stop)| {
            let goal_ms = goal * 1000;
            let breach = c.created + goal;
            let mut j = json!({
                "id": sid, "name": name, "slaDisplayFormat": "NEW_SLA_FORMAT", "completedCycles": [],
                "_links": {"self": call.url(&format!("/rest/servicedeskapi/request/{id}/sla/{sid}"))},
            });
            match stop {
                Some(stop) => {
                    let elapsed = (stop - c.created).max(0) * 1000;
                    j["completedCycles"] = json!([{
                        "startTime": date_dto(c.created), "stopTime": date_dto(*stop), "breachTime": date_dto(breach),
                        "breached": elapsed > goal_ms, "goalDuration": duration_dto(goal_ms),
                        "elapsedTime": duration_dto(elapsed), "remainingTime": duration_dto(goal_ms - elapsed),
                    }]);
                }
                None => {
                    let elapsed = (call.now - c.created).max(0) * 1000;
                    j["ongoingCycle"] = json!({
                        "startTime": date_dto(c.created), "breachTime": date_dto(breach), "breached": elapsed > goal_ms,
                        "paused": false, "withinCalendarHours": true, "goalDuration": duration_dto(goal_ms),
                        "elapsedTime": duration_dto(elapsed), "remainingTime": duration_dto(goal_ms - elapsed),
                    });
                }
            }
            j
        })
        .collect();
    sd_page(
        call,
        items,
        &format!("/rest/servicedeskapi/request/{id}/sla"),
    )
}

fn participants(call: &Call) -> HandlerResult {
    let data = call.data();
    let id = request_or_404(call, &data)?;
    let items = data
        .participants
        .get(&id)
        .map(|ps| ps.iter().map(|u| user_dto(call, *u)).collect())
        .unwrap_or_default();
    sd_page(
        call,
        items,
        &format!("/rest/servicedeskapi/request/{id}/participant"),
    )
}

fn add_participants(call: &Call) -> HandlerResult {
    let body = call.json_body()?;
    let mut users = Vec::new();
    for a in body
        .get("accountIds")
        .and_then(Value::as_array)
        .into_iter()
        .flatten()
    {
        let a = a.as_str().unwrap_or("");
        let u = call.state.user_by_account(a).ok_or_else(|| {
            Reply::sd_error(
                StatusCode::BAD_REQUEST,
                &format!("The user with account ID {a} does not exist."),
            )
        })?;
        users.push(u.index as u8);
    }
    if users.is_empty() {
        return Err(Reply::sd_error(
            StatusCode::BAD_REQUEST,
            "At least one account ID must be given.",
        ));
    }
    let id = {
        let mut data = call.data_mut();
        let id = request_or_404(call, &data)?;
        let list = data.participants.entry(id).or_default();
        for u in users {
            if !list.contains(&u) {
                list.push(u);
            }
        }
        id
    };
    let data = call.data();
    let items = data.participants[&id]
        .iter()
        .map(|u| user_dto(call, *u))
        .collect();
    sd_page(
        call,
        items,
        &format!("/rest/servicedeskapi/request/{id}/participant"),
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn date_dto_shapes() {
        let d = date_dto(0);
        assert_eq!(d["jira"], "1970-01-01T00:00:00.000+0000");
        assert_eq!(d["iso8601"], "1970-01-01T00:00:00+0000");
        assert_eq!(d["epochMillis"], 0);
    }
}
