//! Jira Service Management actions (`/rest/servicedeskapi`).

use schemars::JsonSchema;
use serde::Deserialize;
use serde_json::{Map, Value, json};

use super::common::put;
use super::platform::{newtype_params, paged, window};
use super::{Builder, Params, action};
use crate::def::Paging;
use crate::error::CatalogError;
use crate::plan::{Plan, Shape, path};

paged! {
/// Service desks visible to the connection.
#[derive(Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub(crate) struct ServiceDesksList {}
}

/// One service desk.
#[derive(Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub(crate) struct ServiceDeskRef {
    /// Service desk id.
    pub service_desk_id: String,
}

struct ServiceDesksGet(ServiceDeskRef);

paged! {
/// Request types of a service desk.
#[derive(Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub(crate) struct RequestTypesList {
    /// Service desk id.
    pub service_desk_id: String,
    /// Text matched against request type names and descriptions.
    #[serde(default)]
    pub query: Option<String>,
}
}

impl Params for RequestTypesList {
    fn plan(self) -> Result<Plan, CatalogError> {
        Ok(window!(
            Plan::get(path(
                "/rest/servicedeskapi/servicedesk/{serviceDeskId}/requesttype",
                &[&self.service_desk_id]
            ))
            .q_opt("searchQuery", self.query.clone()),
            self
        ))
    }
}

paged! {
/// Request types across every service desk.
#[derive(Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub(crate) struct RequestTypesSearch {
    /// Text matched against request type names and descriptions.
    #[serde(default)]
    pub query: Option<String>,
}
}

impl Params for RequestTypesSearch {
    fn plan(self) -> Result<Plan, CatalogError> {
        Ok(window!(
            Plan::get("/rest/servicedeskapi/requesttype".into())
                .q_opt("searchQuery", self.query.clone()),
            self
        ))
    }
}

/// One request type.
#[derive(Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub(crate) struct RequestTypeRef {
    /// Service desk id.
    pub service_desk_id: String,
    /// Request type id.
    pub request_type_id: String,
}

struct RequestTypesGet(RequestTypeRef);
struct RequestTypesFields(RequestTypeRef);

/// Which requests to list.
#[derive(Deserialize, JsonSchema, Clone, Copy)]
pub(crate) enum RequestStatusFilter {
    #[serde(rename = "OPEN_REQUESTS")]
    Open,
    #[serde(rename = "CLOSED_REQUESTS")]
    Closed,
    #[serde(rename = "ALL_REQUESTS")]
    All,
}

paged! {
/// Customer requests the connection's user can see.
#[derive(Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub(crate) struct RequestsList {
    /// Only requests of this service desk.
    #[serde(default)]
    pub service_desk_id: Option<u64>,
    /// Only requests of this request type (needs `service_desk_id`).
    #[serde(default)]
    pub request_type_id: Option<u64>,
    /// Text matched against request summaries.
    #[serde(default)]
    pub search_term: Option<String>,
    /// `OPEN_REQUESTS`, `CLOSED_REQUESTS` or `ALL_REQUESTS` (default).
    #[serde(default)]
    pub request_status: Option<RequestStatusFilter>,
}
}

impl Params for RequestsList {
    fn plan(self) -> Result<Plan, CatalogError> {
        let status = self.request_status.map(|s| match s {
            RequestStatusFilter::Open => "OPEN_REQUESTS",
            RequestStatusFilter::Closed => "CLOSED_REQUESTS",
            RequestStatusFilter::All => "ALL_REQUESTS",
        });
        Ok(window!(
            Plan::get("/rest/servicedeskapi/request".into())
                .q_opt("serviceDeskId", self.service_desk_id)
                .q_opt("requestTypeId", self.request_type_id)
                .q_opt("searchTerm", self.search_term.clone())
                .q_opt("requestStatus", status),
            self
        ))
    }
}

/// One customer request.
#[derive(Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub(crate) struct RequestRef {
    /// Request issue key (e.g. `HELP-4`) or id.
    pub request: String,
}

const REQUEST: &str = "/rest/servicedeskapi/request/{issueIdOrKey}";

struct RequestsGet(RequestRef);
struct ParticipantsList(RequestRef);
struct SlaList(RequestRef);

paged! {
/// Paged sub-resources of a request (status history, transitions, approvals).
#[derive(Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub(crate) struct RequestPaged {
    /// Request issue key or id.
    pub request: String,
}
}

struct RequestsStatus(RequestPaged);
struct RequestTransitionsList(RequestPaged);
struct ApprovalsList(RequestPaged);

/// Raise a customer request.
#[derive(Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub(crate) struct RequestsCreate {
    /// Service desk id.
    pub service_desk_id: String,
    /// Request type id (see request_types.list).
    pub request_type_id: String,
    /// Summary (the `summary` request field).
    #[serde(default)]
    pub summary: Option<String>,
    /// Description (the `description` request field, plain text).
    #[serde(default)]
    pub description: Option<String>,
    /// Other request field values by field id (see request_types.fields).
    #[serde(default)]
    pub fields: Option<Map<String, Value>>,
    /// Account id of the customer to raise the request for.
    #[serde(default)]
    pub raise_on_behalf_of: Option<String>,
    /// Account ids of request participants.
    #[serde(default)]
    pub participants: Option<Vec<String>>,
}

impl Params for RequestsCreate {
    fn plan(self) -> Result<Plan, CatalogError> {
        let mut values = Map::new();
        if let Some(s) = self.summary {
            values.insert("summary".into(), s.into());
        }
        if let Some(d) = self.description {
            values.insert("description".into(), d.into());
        }
        values.extend(self.fields.unwrap_or_default());
        let mut body = json!({
            "serviceDeskId": self.service_desk_id,
            "requestTypeId": self.request_type_id,
            "requestFieldValues": values,
        });
        put(&mut body, "raiseOnBehalfOf", self.raise_on_behalf_of);
        put(&mut body, "requestParticipants", self.participants);
        Ok(Plan::post("/rest/servicedeskapi/request".into(), body))
    }
}

paged! {
/// Comments on a request.
#[derive(Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub(crate) struct RequestCommentsList {
    /// Request issue key or id.
    pub request: String,
    /// Include public comments (default true).
    #[serde(default)]
    pub public: Option<bool>,
    /// Include internal comments (default true).
    #[serde(default)]
    pub internal: Option<bool>,
}
}

impl Params for RequestCommentsList {
    fn plan(self) -> Result<Plan, CatalogError> {
        Ok(window!(
            Plan::get(path(
                "/rest/servicedeskapi/request/{issueIdOrKey}/comment",
                &[&self.request]
            ))
            .q_opt("public", self.public)
            .q_opt("internal", self.internal),
            self
        ))
    }
}

/// Comment on a request.
#[derive(Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub(crate) struct RequestCommentsCreate {
    /// Request issue key or id.
    pub request: String,
    /// Comment text.
    pub body: String,
    /// Visible to the customer (default true); `false` makes an internal note.
    #[serde(default)]
    pub public: Option<bool>,
}

impl Params for RequestCommentsCreate {
    fn plan(self) -> Result<Plan, CatalogError> {
        Ok(Plan::post(
            path(
                "/rest/servicedeskapi/request/{issueIdOrKey}/comment",
                &[&self.request],
            ),
            json!({"body": self.body, "public": self.public.unwrap_or(true)}),
        ))
    }
}

/// One request comment.
#[derive(Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub(crate) struct RequestCommentRef {
    /// Request issue key or id.
    pub request: String,
    /// Comment id.
    pub comment_id: u64,
}

struct RequestCommentsGet(RequestCommentRef);

/// Perform a customer transition.
#[derive(Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub(crate) struct RequestTransition {
    /// Request issue key or id.
    pub request: String,
    /// Transition id (see request_transitions.list).
    pub transition_id: String,
    /// Comment to add with the transition.
    #[serde(default)]
    pub comment: Option<String>,
}

impl Params for RequestTransition {
    fn plan(self) -> Result<Plan, CatalogError> {
        let mut body = json!({"id": self.transition_id});
        put(
            &mut body,
            "additionalComment",
            self.comment.map(|c| json!({"body": c})),
        );
        Ok(Plan::post(
            path(
                "/rest/servicedeskapi/request/{issueIdOrKey}/transition",
                &[&self.request],
            ),
            body,
        )
        .shape(Shape::Ack))
    }
}

/// One approval.
#[derive(Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub(crate) struct ApprovalRef {
    /// Request issue key or id.
    pub request: String,
    /// Approval id.
    pub approval_id: u64,
}

struct ApprovalsGet(ApprovalRef);

/// Approve or decline.
#[derive(Deserialize, JsonSchema, Clone, Copy)]
#[serde(rename_all = "lowercase")]
pub(crate) enum Decision {
    Approve,
    Decline,
}

/// Answer an approval.
#[derive(Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub(crate) struct ApprovalsAnswer {
    /// Request issue key or id.
    pub request: String,
    /// Approval id.
    pub approval_id: u64,
    /// `approve` or `decline`.
    pub decision: Decision,
}

impl Params for ApprovalsAnswer {
    fn plan(self) -> Result<Plan, CatalogError> {
        let decision = match self.decision {
            Decision::Approve => "approve",
            Decision::Decline => "decline",
        };
        Ok(Plan::post(
            path(
                "/rest/servicedeskapi/request/{issueIdOrKey}/approval/{approvalId}",
                &[&self.request, &self.approval_id.to_string()],
            ),
            json!({"decision": decision}),
        ))
    }
}

/// Add participants to a request.
#[derive(Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub(crate) struct ParticipantsAdd {
    /// Request issue key or id.
    pub request: String,
    /// Account ids to add.
    #[schemars(length(min = 1))]
    pub account_ids: Vec<String>,
}

impl Params for ParticipantsAdd {
    fn plan(self) -> Result<Plan, CatalogError> {
        Ok(Plan::post(
            path(
                "/rest/servicedeskapi/request/{issueIdOrKey}/participant",
                &[&self.request],
            ),
            json!({"accountIds": self.account_ids}),
        ))
    }
}

paged! {
/// Queues of a service desk.
#[derive(Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub(crate) struct QueuesList {
    /// Service desk id.
    pub service_desk_id: String,
    /// Include the number of issues in each queue.
    #[serde(default)]
    pub include_count: Option<bool>,
}
}

impl Params for QueuesList {
    fn plan(self) -> Result<Plan, CatalogError> {
        Ok(window!(
            Plan::get(path(
                "/rest/servicedeskapi/servicedesk/{serviceDeskId}/queue",
                &[&self.service_desk_id]
            ))
            .q_opt("includeCount", self.include_count),
            self
        ))
    }
}

/// One queue.
#[derive(Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub(crate) struct QueueRef {
    /// Service desk id.
    pub service_desk_id: String,
    /// Queue id.
    pub queue_id: u64,
}

struct QueuesGet(QueueRef);

paged! {
/// Issues in a queue.
#[derive(Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub(crate) struct QueueIssues {
    /// Service desk id.
    pub service_desk_id: String,
    /// Queue id.
    pub queue_id: u64,
}
}

paged! {
/// Customers of a service desk.
#[derive(Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub(crate) struct CustomersList {
    /// Service desk id.
    pub service_desk_id: String,
    /// Text matched against customer names and emails.
    #[serde(default)]
    pub query: Option<String>,
}
}

impl Params for CustomersList {
    fn plan(self) -> Result<Plan, CatalogError> {
        Ok(window!(
            Plan::get(path(
                "/rest/servicedeskapi/servicedesk/{serviceDeskId}/customer",
                &[&self.service_desk_id]
            ))
            .q_opt("query", self.query.clone()),
            self
        ))
    }
}

/// Customers to add to or remove from a service desk.
#[derive(Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub(crate) struct CustomersChange {
    /// Service desk id.
    pub service_desk_id: String,
    /// Account ids.
    #[schemars(length(min = 1))]
    pub account_ids: Vec<String>,
}

struct CustomersAdd(CustomersChange);
struct CustomersRemove(CustomersChange);

/// Create a customer account.
#[derive(Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub(crate) struct CustomersCreate {
    /// Email address.
    pub email: String,
    /// Display name.
    pub display_name: String,
}

impl Params for CustomersCreate {
    fn plan(self) -> Result<Plan, CatalogError> {
        Ok(Plan::post(
            "/rest/servicedeskapi/customer".into(),
            json!({"email": self.email, "displayName": self.display_name}),
        ))
    }
}

paged! {
/// Organizations.
#[derive(Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub(crate) struct OrganizationsList {
    /// Only organizations this account belongs to.
    #[serde(default)]
    pub account_id: Option<String>,
}
}

impl Params for OrganizationsList {
    fn plan(self) -> Result<Plan, CatalogError> {
        Ok(window!(
            Plan::get("/rest/servicedeskapi/organization".into())
                .q_opt("accountId", self.account_id.clone()),
            self
        ))
    }
}

/// One organization.
#[derive(Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub(crate) struct OrganizationRef {
    /// Organization id.
    pub organization_id: u64,
}

const ORGANIZATION: &str = "/rest/servicedeskapi/organization/{organizationId}";

struct OrganizationsGet(OrganizationRef);
struct OrganizationsDelete(OrganizationRef);

/// Create an organization.
#[derive(Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub(crate) struct OrganizationsCreate {
    /// Organization name.
    pub name: String,
}

impl Params for OrganizationsCreate {
    fn plan(self) -> Result<Plan, CatalogError> {
        Ok(Plan::post(
            "/rest/servicedeskapi/organization".into(),
            json!({"name": self.name}),
        ))
    }
}

paged! {
/// Users of an organization.
#[derive(Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub(crate) struct OrganizationUsers {
    /// Organization id.
    pub organization_id: u64,
}
}

/// Add users to an organization.
#[derive(Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub(crate) struct OrganizationAddUsers {
    /// Organization id.
    pub organization_id: u64,
    /// Account ids.
    #[schemars(length(min = 1))]
    pub account_ids: Vec<String>,
}

impl Params for OrganizationAddUsers {
    fn plan(self) -> Result<Plan, CatalogError> {
        Ok(Plan::post(
            path(
                "/rest/servicedeskapi/organization/{organizationId}/user",
                &[&self.organization_id.to_string()],
            ),
            json!({"accountIds": self.account_ids}),
        )
        .shape(Shape::Ack))
    }
}

paged! {
/// Organizations of a service desk.
#[derive(Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub(crate) struct DeskOrganizations {
    /// Service desk id.
    pub service_desk_id: String,
}
}

/// Add an organization to a service desk.
#[derive(Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub(crate) struct DeskAddOrganization {
    /// Service desk id.
    pub service_desk_id: String,
    /// Organization id.
    pub organization_id: u64,
}

impl Params for DeskAddOrganization {
    fn plan(self) -> Result<Plan, CatalogError> {
        Ok(Plan::post(
            path(
                "/rest/servicedeskapi/servicedesk/{serviceDeskId}/organization",
                &[&self.service_desk_id],
            ),
            json!({"organizationId": self.organization_id}),
        )
        .shape(Shape::Ack))
    }
}

impl Params for ServiceDesksList {
    fn plan(self) -> Result<Plan, CatalogError> {
        Ok(window!(
            Plan::get("/rest/servicedeskapi/servicedesk".into()),
            self
        ))
    }
}

impl Params for QueueIssues {
    fn plan(self) -> Result<Plan, CatalogError> {
        Ok(window!(
            Plan::get(path(
                "/rest/servicedeskapi/servicedesk/{serviceDeskId}/queue/{queueId}/issue",
                &[&self.service_desk_id, &self.queue_id.to_string()]
            )),
            self
        )
        .shape(Shape::Issue))
    }
}

impl Params for OrganizationUsers {
    fn plan(self) -> Result<Plan, CatalogError> {
        Ok(window!(
            Plan::get(path(
                "/rest/servicedeskapi/organization/{organizationId}/user",
                &[&self.organization_id.to_string()]
            )),
            self
        ))
    }
}

impl Params for DeskOrganizations {
    fn plan(self) -> Result<Plan, CatalogError> {
        Ok(window!(
            Plan::get(path(
                "/rest/servicedeskapi/servicedesk/{serviceDeskId}/organization",
                &[&self.service_desk_id]
            )),
            self
        ))
    }
}

newtype_params!(ServiceDesksGet(ServiceDeskRef), |p| Plan::get(path(
    "/rest/servicedeskapi/servicedesk/{serviceDeskId}",
    &[&p.service_desk_id]
)));
newtype_params!(RequestTypesGet(RequestTypeRef), |p| Plan::get(path(
    "/rest/servicedeskapi/servicedesk/{serviceDeskId}/requesttype/{requestTypeId}",
    &[&p.service_desk_id, &p.request_type_id]
)));
newtype_params!(RequestTypesFields(RequestTypeRef), |p| Plan::get(path(
    "/rest/servicedeskapi/servicedesk/{serviceDeskId}/requesttype/{requestTypeId}/field",
    &[&p.service_desk_id, &p.request_type_id]
)));
newtype_params!(RequestsGet(RequestRef), |p| Plan::get(path(
    REQUEST,
    &[&p.request]
)));
newtype_params!(RequestsStatus(RequestPaged), |p| window!(
    Plan::get(path(
        "/rest/servicedeskapi/request/{issueIdOrKey}/status",
        &[&p.request]
    )),
    p
));
newtype_params!(RequestTransitionsList(RequestPaged), |p| window!(
    Plan::get(path(
        "/rest/servicedeskapi/request/{issueIdOrKey}/transition",
        &[&p.request]
    )),
    p
));
newtype_params!(ApprovalsList(RequestPaged), |p| window!(
    Plan::get(path(
        "/rest/servicedeskapi/request/{issueIdOrKey}/approval",
        &[&p.request]
    )),
    p
));
newtype_params!(ApprovalsGet(ApprovalRef), |p| Plan::get(path(
    "/rest/servicedeskapi/request/{issueIdOrKey}/approval/{approvalId}",
    &[&p.request, &p.approval_id.to_string()]
)));
newtype_params!(RequestCommentsGet(RequestCommentRef), |p| Plan::get(path(
    "/rest/servicedeskapi/request/{issueIdOrKey}/comment/{commentId}",
    &[&p.request, &p.comment_id.to_string()]
)));
newtype_params!(ParticipantsList(RequestRef), |p| Plan::get(path(
    "/rest/servicedeskapi/request/{issueIdOrKey}/participant",
    &[&p.request]
))
.shape(Shape::Pick("/values")));
newtype_params!(SlaList(RequestRef), |p| Plan::get(path(
    "/rest/servicedeskapi/request/{issueIdOrKey}/sla",
    &[&p.request]
))
.shape(Shape::Pick("/values")));
newtype_params!(QueuesGet(QueueRef), |p| Plan::get(path(
    "/rest/servicedeskapi/servicedesk/{serviceDeskId}/queue/{queueId}",
    &[&p.service_desk_id, &p.queue_id.to_string()]
)));
newtype_params!(CustomersAdd(CustomersChange), |p| Plan::post(
    path(
        "/rest/servicedeskapi/servicedesk/{serviceDeskId}/customer",
        &[&p.service_desk_id]
    ),
    json!({"accountIds": p.account_ids})
)
.shape(Shape::Ack));
newtype_params!(CustomersRemove(CustomersChange), |p| Plan::with_method(
    http::Method::DELETE,
    path(
        "/rest/servicedeskapi/servicedesk/{serviceDeskId}/customer",
        &[&p.service_desk_id]
    ),
    Some(json!({"accountIds": p.account_ids}))
)
.shape(Shape::Ack));
newtype_params!(OrganizationsGet(OrganizationRef), |p| Plan::get(path(
    ORGANIZATION,
    &[&p.organization_id.to_string()]
)));
newtype_params!(OrganizationsDelete(OrganizationRef), |p| Plan::delete(
    path(ORGANIZATION, &[&p.organization_id.to_string()])
));

pub(crate) fn actions() -> Vec<Builder> {
    const REQ: &str = r#"{"request": "HELP-1"}"#;
    vec![
        action::<ServiceDesksList>("service_desks", "list", "Service desks visible to the connection.")
            .op("GET", "/rest/servicedeskapi/servicedesk")
            .paging(Paging::ServiceDesk)
            .result("array of service desks {id, projectId, projectKey, projectName}")
            .example("{}"),
        action::<ServiceDesksGet>("service_desks", "get", "One service desk.")
            .op("GET", "/rest/servicedeskapi/servicedesk/{serviceDeskId}")
            .result("the service desk")
            .example(r#"{"service_desk_id": "1"}"#),
        action::<RequestTypesList>("request_types", "list", "Request types of a service desk.")
            .op("GET", "/rest/servicedeskapi/servicedesk/{serviceDeskId}/requesttype")
            .paging(Paging::ServiceDesk)
            .result("array of request types {id, name, description, issueTypeId}")
            .example(r#"{"service_desk_id": "1"}"#),
        action::<RequestTypesSearch>("request_types", "search", "Request types across every service desk.")
            .op("GET", "/rest/servicedeskapi/requesttype")
            .paging(Paging::ServiceDesk)
            .result("array of request types")
            .example(r#"{"query": "access"}"#),
        action::<RequestTypesGet>("request_types", "get", "One request type.")
            .op("GET", "/rest/servicedeskapi/servicedesk/{serviceDeskId}/requesttype/{requestTypeId}")
            .result("the request type")
            .example(r#"{"service_desk_id": "1", "request_type_id": "10"}"#),
        action::<RequestTypesFields>("request_types", "fields", "Fields a customer fills in for a request type.")
            .op("GET", "/rest/servicedeskapi/servicedesk/{serviceDeskId}/requesttype/{requestTypeId}/field")
            .result("{requestTypeFields: [{fieldId, name, required, validValues}], canRaiseOnBehalfOf}")
            .example(r#"{"service_desk_id": "1", "request_type_id": "10"}"#),
        action::<RequestsList>("customer_requests", "list", "Customer requests visible to the connection.")
            .op("GET", "/rest/servicedeskapi/request")
            .paging(Paging::ServiceDesk)
            .result("array of requests {issueKey, requestTypeId, currentStatus, requestFieldValues}")
            .example(r#"{"service_desk_id": 1, "request_status": "OPEN_REQUESTS"}"#),
        action::<RequestsGet>("customer_requests", "get", "One customer request.")
            .op("GET", REQUEST)
            .result("the request")
            .example(REQ),
        action::<RequestsCreate>("customer_requests", "create", "Raise a customer request.")
            .op("POST", "/rest/servicedeskapi/request")
            .result("the request")
            .example(r#"{"service_desk_id": "1", "request_type_id": "10", "summary": "VPN is down", "description": "Since 9am"}"#),
        action::<RequestsStatus>("customer_requests", "status", "Status history of a request.")
            .op("GET", "/rest/servicedeskapi/request/{issueIdOrKey}/status")
            .paging(Paging::ServiceDesk)
            .result("array of {status, statusCategory, statusDate}")
            .example(REQ),
        action::<RequestCommentsList>("request_comments", "list", "Comments on a request.")
            .op("GET", "/rest/servicedeskapi/request/{issueIdOrKey}/comment")
            .paging(Paging::ServiceDesk)
            .result("array of {id, body, public, author, created}")
            .example(REQ),
        action::<RequestCommentsCreate>("request_comments", "create", "Comment on a request (public reply or internal note).")
            .op("POST", "/rest/servicedeskapi/request/{issueIdOrKey}/comment")
            .result("the comment")
            .example(r#"{"request": "HELP-1", "body": "We are on it", "public": true}"#),
        action::<RequestCommentsGet>("request_comments", "get", "One request comment.")
            .op("GET", "/rest/servicedeskapi/request/{issueIdOrKey}/comment/{commentId}")
            .result("the comment")
            .example(r#"{"request": "HELP-1", "comment_id": 10000}"#),
        action::<RequestTransitionsList>("request_transitions", "list", "Transitions a customer can perform on a request.")
            .op("GET", "/rest/servicedeskapi/request/{issueIdOrKey}/transition")
            .paging(Paging::ServiceDesk)
            .result("array of {id, name}")
            .example(REQ),
        action::<RequestTransition>("request_transitions", "transition", "Perform a customer transition on a request.")
            .op("POST", "/rest/servicedeskapi/request/{issueIdOrKey}/transition")
            .result("{ok: true}")
            .example(r#"{"request": "HELP-1", "transition_id": "1", "comment": "Resolved by restart"}"#),
        action::<ApprovalsList>("approvals", "list", "Approvals of a request.")
            .op("GET", "/rest/servicedeskapi/request/{issueIdOrKey}/approval")
            .paging(Paging::ServiceDesk)
            .result("array of {id, name, finalDecision, approvers}")
            .example(REQ),
        action::<ApprovalsGet>("approvals", "get", "One approval.")
            .op("GET", "/rest/servicedeskapi/request/{issueIdOrKey}/approval/{approvalId}")
            .result("the approval")
            .example(r#"{"request": "HELP-1", "approval_id": 1}"#),
        action::<ApprovalsAnswer>("approvals", "answer", "Approve or decline an approval.")
            .op("POST", "/rest/servicedeskapi/request/{issueIdOrKey}/approval/{approvalId}")
            .result("the approval")
            .example(r#"{"request": "HELP-1", "approval_id": 1, "decision": "approve"}"#),
        action::<ParticipantsList>("request_participants", "list", "Participants of a request.")
            .op("GET", "/rest/servicedeskapi/request/{issueIdOrKey}/participant")
            .result("array of users")
            .example(REQ),
        action::<ParticipantsAdd>("request_participants", "add", "Add participants to a request.")
            .op("POST", "/rest/servicedeskapi/request/{issueIdOrKey}/participant")
            .result("page of participants")
            .example(r#"{"request": "HELP-1", "account_ids": ["5b10a2844c20165700ede21g"]}"#),
        action::<SlaList>("request_sla", "list", "SLA metrics of a request.")
            .op("GET", "/rest/servicedeskapi/request/{issueIdOrKey}/sla")
            .result("array of {name, ongoingCycle, completedCycles}")
            .example(REQ),
        action::<QueuesList>("queues", "list", "Queues of a service desk.")
            .op("GET", "/rest/servicedeskapi/servicedesk/{serviceDeskId}/queue")
            .paging(Paging::ServiceDesk)
            .result("array of queues {id, name, jql, issueCount}")
            .example(r#"{"service_desk_id": "1", "include_count": true}"#),
        action::<QueuesGet>("queues", "get", "One queue.")
            .op("GET", "/rest/servicedeskapi/servicedesk/{serviceDeskId}/queue/{queueId}")
            .result("the queue")
            .example(r#"{"service_desk_id": "1", "queue_id": 1}"#),
        action::<QueueIssues>("queues", "issues", "Issues in a queue.")
            .op("GET", "/rest/servicedeskapi/servicedesk/{serviceDeskId}/queue/{queueId}/issue")
            .paging(Paging::ServiceDesk)
            .result("array of issues")
            .example(r#"{"service_desk_id": "1", "queue_id": 1}"#),
        action::<CustomersList>("customers", "list", "Customers of a service desk.")
            .op("GET", "/rest/servicedeskapi/servicedesk/{serviceDeskId}/customer")
            .paging(Paging::ServiceDesk)
            .result("array of users")
            .example(r#"{"service_desk_id": "1"}"#),
        action::<CustomersAdd>("customers", "add", "Add existing customers to a service desk.")
            .op("POST", "/rest/servicedeskapi/servicedesk/{serviceDeskId}/customer")
            .result("{ok: true}")
            .example(r#"{"service_desk_id": "1", "account_ids": ["5b10a2844c20165700ede21g"]}"#),
        action::<CustomersRemove>("customers", "remove", "Remove customers from a service desk.")
            .op("DELETE", "/rest/servicedeskapi/servicedesk/{serviceDeskId}/customer")
            .result("{ok: true}")
            .example(r#"{"service_desk_id": "1", "account_ids": ["5b10a2844c20165700ede21g"]}"#),
        action::<CustomersCreate>("customers", "create", "Create a customer account.")
            .op("POST", "/rest/servicedeskapi/customer")
            .result("the user")
            .example(r#"{"email": "pat@example.com", "display_name": "Pat"}"#),
        action::<OrganizationsList>("organizations", "list", "Organizations.")
            .op("GET", "/rest/servicedeskapi/organization")
            .paging(Paging::ServiceDesk)
            .result("array of {id, name}")
            .example("{}"),
        action::<OrganizationsGet>("organizations", "get", "One organization.")
            .op("GET", ORGANIZATION)
            .result("{id, name}")
            .example(r#"{"organization_id": 1}"#),
        action::<OrganizationsCreate>("organizations", "create", "Create an organization.")
            .op("POST", "/rest/servicedeskapi/organization")
            .result("{id, name}")
            .example(r#"{"name": "Globex"}"#),
        action::<OrganizationsDelete>("organizations", "delete", "Delete an organization.")
            .op("DELETE", ORGANIZATION)
            .result("{ok: true}")
            .example(r#"{"organization_id": 1}"#),
        action::<OrganizationUsers>("organizations", "users", "Users of an organization.")
            .op("GET", "/rest/servicedeskapi/organization/{organizationId}/user")
            .paging(Paging::ServiceDesk)
            .result("array of users")
            .example(r#"{"organization_id": 1}"#),
        action::<OrganizationAddUsers>("organizations", "add_users", "Add users to an organization.")
            .op("POST", "/rest/servicedeskapi/organization/{organizationId}/user")
            .result("{ok: true}")
            .example(r#"{"organization_id": 1, "account_ids": ["5b10a2844c20165700ede21g"]}"#),
        action::<DeskOrganizations>("organizations", "list_for_service_desk", "Organizations of a service desk.")
            .op("GET", "/rest/servicedeskapi/servicedesk/{serviceDeskId}/organization")
            .paging(Paging::ServiceDesk)
            .result("array of {id, name}")
            .example(r#"{"service_desk_id": "1"}"#),
        action::<DeskAddOrganization>("organizations", "add_to_service_desk", "Add an organization to a service desk.")
            .op("POST", "/rest/servicedeskapi/servicedesk/{serviceDeskId}/organization")
            .result("{ok: true}")
            .example(r#"{"service_desk_id": "1", "organization_id": 1}"#),
    ]
}
