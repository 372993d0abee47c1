//! Jira Cloud platform REST v3 actions.

use base64::Engine as _;
use bytes::Bytes;
use schemars::JsonSchema;
use serde::Deserialize;
use serde_json::{Map, Value, json};

use super::common::{Visibility, adf, is_numeric, key_or_id, name_or_id, put};
use super::{Builder, Params, action};
use crate::def::Paging;
use crate::error::CatalogError;
use crate::plan::{Lookup, Plan, PreStep, Shape, path};

/// Adds `limit`, `page_token` and `all` to a params struct.
macro_rules! paged {
    ($(#[$m:meta])* pub(crate) struct $name:ident { $($body:tt)* }) => {
        $(#[$m])*
        pub(crate) struct $name {
            $($body)*
            /// Maximum number of items to return (one page unless `all` is true).
            #[schemars(range(min = 1, max = 100000))]
            #[serde(default)]
            pub limit: Option<u32>,
            /// The `next_page_token` of a previous call, to continue from there.
            #[serde(default)]
            pub page_token: Option<String>,
            /// Follow every page (with `limit`, stop after that many items).
            #[serde(default)]
            pub all: Option<bool>,
        }
    };
}
pub(crate) use paged;

/// `Plan::paged` from a params struct made with `paged!`.
macro_rules! window {
    ($plan:expr, $p:expr) => {
        $plan.paged($p.limit, $p.page_token, $p.all)
    };
}
pub(crate) use window;

const ISSUE: &str = "/rest/api/3/issue/{issueIdOrKey}";

// ---------------------------------------------------------------- issues

paged! {
/// Search issues with JQL (`POST /rest/api/3/search/jql`, paged by `nextPageToken`).
#[derive(Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub(crate) struct IssuesSearch {
    /// JQL query, e.g. `project = ACME AND status = "In Progress" ORDER BY created DESC`.
    pub jql: String,
    /// Fields to return: ids or names like `summary`, `customfield_10016`, or `*all`,
    /// `*navigable` (default).
    #[serde(default)]
    pub fields: Option<Vec<String>>,
    /// Comma-separated expansions, e.g. `renderedFields,changelog`.
    #[serde(default)]
    pub expand: Option<String>,
}
}

impl Params for IssuesSearch {
    fn plan(self) -> Result<Plan, CatalogError> {
        let fields = self.fields.unwrap_or_else(|| vec!["*navigable".to_owned()]);
        let mut body = json!({"jql": self.jql, "fields": fields});
        put(&mut body, "expand", self.expand);
        Ok(window!(Plan::post("/rest/api/3/search/jql".into(), body), self).shape(Shape::Issue))
    }
}

/// Approximate number of issues matching a JQL query.
#[derive(Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub(crate) struct IssuesCount {
    /// JQL query (must be bounded, e.g. by project).
    pub jql: String,
}

impl Params for IssuesCount {
    fn plan(self) -> Result<Plan, CatalogError> {
        Ok(Plan::post(
            "/rest/api/3/search/approximate-count".into(),
            json!({"jql": self.jql}),
        ))
    }
}

/// Get one issue.
#[derive(Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub(crate) struct IssuesGet {
    /// Issue key (e.g. `ACME-12`) or numeric id.
    pub issue: String,
    /// Fields to return (default: all navigable fields).
    #[serde(default)]
    pub fields: Option<Vec<String>>,
    /// Comma-separated expansions, e.g. `renderedFields,changelog,transitions`.
    #[serde(default)]
    pub expand: Option<String>,
}

impl Params for IssuesGet {
    fn plan(self) -> Result<Plan, CatalogError> {
        Ok(Plan::get(path(ISSUE, &[&self.issue]))
            .q_list("fields", self.fields)
            .q_opt("expand", self.expand)
            .shape(Shape::Issue))
    }
}

/// The fields of a new issue.
#[derive(Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub(crate) struct NewIssue {
    /// Project key (e.g. `ACME`) or numeric id.
    pub project: String,
    /// One-line summary.
    pub summary: String,
    /// Issue type name (e.g. `Task`, `Bug`, `Story`) or numeric id.
    pub issue_type: String,
    /// Description in Markdown (converted to Atlassian Document Format).
    #[serde(default)]
    pub description: Option<String>,
    /// Account id of the assignee.
    #[serde(default)]
    pub assignee: Option<String>,
    /// Labels (no spaces).
    #[serde(default)]
    pub labels: Option<Vec<String>>,
    /// Priority name (e.g. `High`) or id.
    #[serde(default)]
    pub priority: Option<String>,
    /// Parent issue key or id (for sub-tasks, or an epic as parent).
    #[serde(default)]
    pub parent: Option<String>,
    /// Component names or ids.
    #[serde(default)]
    pub components: Option<Vec<String>>,
    /// Due date, `YYYY-MM-DD`.
    #[serde(default)]
    pub due_date: Option<String>,
    /// More fields by id (`customfield_10016`) or by name (`Story Points`), raw Jira values;
    /// a Markdown string for a rich-text custom field is converted to ADF.
    #[serde(default)]
    pub fields: Option<Map<String, Value>>,
}

impl NewIssue {
    fn into_fields(self) -> Value {
        let mut f = json!({
            "project": key_or_id(&self.project),
            "summary": self.summary,
            "issuetype": name_or_id(&self.issue_type),
        });
        put(&mut f, "description", self.description.as_deref().map(adf));
        put(
            &mut f,
            "assignee",
            self.assignee.map(|a| json!({"accountId": a})),
        );
        put(&mut f, "labels", self.labels);
        put(&mut f, "priority", self.priority.as_deref().map(name_or_id));
        put(&mut f, "parent", self.parent.as_deref().map(key_or_id));
        put(
            &mut f,
            "components",
            self.components
                .map(|c| c.iter().map(|c| name_or_id(c)).collect::<Vec<_>>()),
        );
        put(&mut f, "duedate", self.due_date);
        if let (Some(extra), Some(map)) = (self.fields, f.as_object_mut()) {
            map.extend(extra);
        }
        f
    }
}

struct IssuesCreate(NewIssue);

/// Create up to 50 issues in one call.
#[derive(Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub(crate) struct IssuesBulkCreate {
    /// The issues to create.
    #[schemars(length(min = 1, max = 50))]
    pub issues: Vec<NewIssue>,
}

impl Params for IssuesBulkCreate {
    fn plan(self) -> Result<Plan, CatalogError> {
        let updates: Vec<Value> = self
            .issues
            .into_iter()
            .map(|i| json!({"fields": i.into_fields()}))
            .collect();
        Ok(Plan::post(
            "/rest/api/3/issue/bulk".into(),
            json!({"issueUpdates": updates}),
        )
        .pre(PreStep::FieldNames))
    }
}

/// Edit an issue's fields.
#[derive(Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub(crate) struct IssuesUpdate {
    /// Issue key or id.
    pub issue: String,
    #[serde(default)]
    pub summary: Option<String>,
    /// New description in Markdown.
    #[serde(default)]
    pub description: Option<String>,
    /// Account id of the new assignee.
    #[serde(default)]
    pub assignee: Option<String>,
    /// Replaces the labels.
    #[serde(default)]
    pub labels: Option<Vec<String>>,
    /// Priority name or id.
    #[serde(default)]
    pub priority: Option<String>,
    /// Due date, `YYYY-MM-DD`.
    #[serde(default)]
    pub due_date: Option<String>,
    /// More fields by id or name, raw Jira values.
    #[serde(default)]
    pub fields: Option<Map<String, Value>>,
    /// Raw Jira `update` operations, e.g. `{"labels": [{"add": "x"}]}`.
    #[serde(default)]
    pub update: Option<Map<String, Value>>,
    /// Send notification emails (default true).
    #[serde(default)]
    pub notify_users: Option<bool>,
}

impl Params for IssuesUpdate {
    fn plan(self) -> Result<Plan, CatalogError> {
        let mut f = json!({});
        put(&mut f, "summary", self.summary);
        put(&mut f, "description", self.description.as_deref().map(adf));
        put(
            &mut f,
            "assignee",
            self.assignee.map(|a| json!({"accountId": a})),
        );
        put(&mut f, "labels", self.labels);
        put(&mut f, "priority", self.priority.as_deref().map(name_or_id));
        put(&mut f, "duedate", self.due_date);
        if let (Some(extra), Some(map)) = (self.fields, f.as_object_mut()) {
            map.extend(extra);
        }
        let mut body = json!({"fields": f});
        put(&mut body, "update", self.update.map(Value::Object));
        if body["fields"].as_object().is_some_and(Map::is_empty) && body.get("update").is_none() {
            return Err(CatalogError::invalid(
                "fields",
                "nothing to change: give at least one of summary, description, assignee, labels, priority, due_date, fields, update",
            ));
        }
        Ok(Plan::put(path(ISSUE, &[&self.issue]), body)
            .q_opt("notifyUsers", self.notify_users)
            .shape(Shape::Ack)
            .pre(PreStep::FieldNames))
    }
}

/// Delete an issue.
#[derive(Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub(crate) struct IssuesDelete {
    /// Issue key or id.
    pub issue: String,
    /// Also delete its sub-tasks (required when it has some).
    #[serde(default)]
    pub delete_subtasks: Option<bool>,
}

impl Params for IssuesDelete {
    fn plan(self) -> Result<Plan, CatalogError> {
        Ok(Plan::delete(path(ISSUE, &[&self.issue])).q_opt("deleteSubtasks", self.delete_subtasks))
    }
}

/// Just an issue.
#[derive(Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub(crate) struct IssueOnly {
    /// Issue key (e.g. `ACME-12`) or numeric id.
    pub issue: String,
}

struct EditMeta(IssueOnly);

/// Assign an issue (or unassign it with `account_id: null`).
#[derive(Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub(crate) struct AssigneeUpdate {
    /// Issue key or id.
    pub issue: String,
    /// Account id of the new assignee; `null` unassigns; `-1` picks the project default.
    #[schemars(required, extend("type" = ["string", "null"]))]
    pub account_id: Option<String>,
}

impl Params for AssigneeUpdate {
    fn plan(self) -> Result<Plan, CatalogError> {
        Ok(Plan::put(
            path("/rest/api/3/issue/{issueIdOrKey}/assignee", &[&self.issue]),
            json!({"accountId": self.account_id}),
        )
        .shape(Shape::Ack))
    }
}

// ---------------------------------------------------------------- transitions

struct TransitionsList(IssueOnly);

/// Move an issue through its workflow.
#[derive(Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub(crate) struct TransitionDo {
    /// Issue key or id.
    pub issue: String,
    /// Transition id, or its name / target status name (e.g. `Done`).
    pub transition: String,
    /// A comment to add, in Markdown.
    #[serde(default)]
    pub comment: Option<String>,
    /// Fields to set on the transition screen (ids or names), e.g. `{"resolution": {"name": "Done"}}`.
    #[serde(default)]
    pub fields: Option<Map<String, Value>>,
}

impl Params for TransitionDo {
    fn plan(self) -> Result<Plan, CatalogError> {
        let p = path(
            "/rest/api/3/issue/{issueIdOrKey}/transitions",
            &[&self.issue],
        );
        let mut body = json!({"transition": {"id": self.transition}});
        put(&mut body, "fields", self.fields.map(Value::Object));
        if let Some(c) = self.comment {
            body["update"] = json!({"comment": [{"add": {"body": adf(&c)}}]});
        }
        let mut plan = Plan::post(p, body)
            .shape(Shape::Ack)
            .pre(PreStep::FieldNames);
        if !is_numeric(&self.transition) {
            plan = plan.pre(PreStep::TransitionName {
                issue: self.issue,
                name: self.transition,
            });
        }
        Ok(plan)
    }
}

// ---------------------------------------------------------------- comments

paged! {
/// Comments of an issue.
#[derive(Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub(crate) struct CommentsList {
    /// Issue key or id.
    pub issue: String,
    /// `created` or `-created`.
    #[serde(default)]
    pub order_by: Option<String>,
}
}

impl Params for CommentsList {
    fn plan(self) -> Result<Plan, CatalogError> {
        Ok(window!(
            Plan::get(path(
                "/rest/api/3/issue/{issueIdOrKey}/comment",
                &[&self.issue]
            ))
            .q_opt("orderBy", self.order_by.clone()),
            self
        )
        .shape(Shape::Comment))
    }
}

/// Add a comment.
#[derive(Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub(crate) struct CommentsCreate {
    /// Issue key or id.
    pub issue: String,
    /// Comment text in Markdown.
    pub body: String,
    /// Restrict who can see the comment.
    #[serde(default)]
    pub visibility: Option<Visibility>,
}

impl Params for CommentsCreate {
    fn plan(self) -> Result<Plan, CatalogError> {
        let mut body = json!({"body": adf(&self.body)});
        put(
            &mut body,
            "visibility",
            self.visibility.map(|v| v.to_json()),
        );
        Ok(Plan::post(
            path("/rest/api/3/issue/{issueIdOrKey}/comment", &[&self.issue]),
            body,
        )
        .shape(Shape::Comment))
    }
}

/// One comment.
#[derive(Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub(crate) struct CommentRef {
    /// Issue key or id.
    pub issue: String,
    /// Comment id.
    pub comment_id: String,
}

const COMMENT: &str = "/rest/api/3/issue/{issueIdOrKey}/comment/{id}";

struct CommentsGet(CommentRef);
struct CommentsDelete(CommentRef);

/// Edit a comment.
#[derive(Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub(crate) struct CommentsUpdate {
    /// Issue key or id.
    pub issue: String,
    /// Comment id.
    pub comment_id: String,
    /// New text in Markdown.
    pub body: String,
    #[serde(default)]
    pub visibility: Option<Visibility>,
    /// Send notification emails (default true).
    #[serde(default)]
    pub notify_users: Option<bool>,
}

impl Params for CommentsUpdate {
    fn plan(self) -> Result<Plan, CatalogError> {
        let mut body = json!({"body": adf(&self.body)});
        put(
            &mut body,
            "visibility",
            self.visibility.map(|v| v.to_json()),
        );
        Ok(
            Plan::put(path(COMMENT, &[&self.issue, &self.comment_id]), body)
                .q_opt("notifyUsers", self.notify_users)
                .shape(Shape::Comment),
        )
    }
}

// ---------------------------------------------------------------- worklogs

paged! {
/// Worklogs of an issue.
#[derive(Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub(crate) struct WorklogsList {
    /// Issue key or id.
    pub issue: String,
    /// Only worklogs started at or after this time (epoch milliseconds).
    #[serde(default)]
    pub started_after: Option<i64>,
    /// Only worklogs started before this time (epoch milliseconds).
    #[serde(default)]
    pub started_before: Option<i64>,
}
}

impl Params for WorklogsList {
    fn plan(self) -> Result<Plan, CatalogError> {
        Ok(window!(
            Plan::get(path(
                "/rest/api/3/issue/{issueIdOrKey}/worklog",
                &[&self.issue]
            ))
            .q_opt("startedAfter", self.started_after)
            .q_opt("startedBefore", self.started_before),
            self
        )
        .shape(Shape::Comment))
    }
}

/// One worklog.
#[derive(Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub(crate) struct WorklogRef {
    /// Issue key or id.
    pub issue: String,
    /// Worklog id.
    pub worklog_id: String,
}

const WORKLOG: &str = "/rest/api/3/issue/{issueIdOrKey}/worklog/{id}";

struct WorklogsGet(WorklogRef);
struct WorklogsDelete(WorklogRef);

/// Log work on an issue.
#[derive(Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub(crate) struct WorklogsCreate {
    /// Issue key or id.
    pub issue: String,
    /// Time spent in Jira duration format, e.g. `3h 20m`.
    #[serde(default)]
    pub time_spent: Option<String>,
    /// Time spent in seconds (instead of `time_spent`).
    #[serde(default)]
    pub time_spent_seconds: Option<u64>,
    /// When the work started, e.g. `2024-05-01T09:00:00.000+0000` (default: now).
    #[serde(default)]
    pub started: Option<String>,
    /// Comment in Markdown.
    #[serde(default)]
    pub comment: Option<String>,
    #[serde(default)]
    pub visibility: Option<Visibility>,
}

impl WorklogsCreate {
    fn body(
        time_spent: Option<String>,
        seconds: Option<u64>,
        started: Option<String>,
        comment: Option<String>,
        visibility: Option<Visibility>,
    ) -> Value {
        let mut body = json!({});
        put(&mut body, "timeSpent", time_spent);
        put(&mut body, "timeSpentSeconds", seconds);
        put(&mut body, "started", started);
        put(&mut body, "comment", comment.as_deref().map(adf));
        put(&mut body, "visibility", visibility.map(|v| v.to_json()));
        body
    }
}

fn jira_now() -> String {
    // Jira's worklog timestamp format: 2024-05-01T09:00:00.000+0000.
    let secs = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map(|d| d.as_secs())
        .unwrap_or(0);
    let days = secs / 86_400;
    let rem = secs % 86_400;
    let (y, m, d) = civil_from_days(days as i64);
    format!(
        "{y:04}-{m:02}-{d:02}T{:02}:{:02}:{:02}.000+0000",
        rem / 3600,
        (rem % 3600) / 60,
        rem % 60
    )
}

/// Days since 1970-01-01 to a proleptic Gregorian date (Howard Hinnant's algorithm).
fn civil_from_days(z: i64) -> (i64, u32, u32) {
    let z = z + 719_468;
    let era = z.div_euclid(146_097);
    let doe = z.rem_euclid(146_097);
    let yoe = (doe - doe / 1460 + doe / 36_524 - doe / 146_096) / 365;
    let y = yoe + era * 400;
    let doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
    let mp = (5 * doy + 2) / 153;
    let d = (doy - (153 * mp + 2) / 5 + 1) as u32;
    let m = if mp < 10 { mp + 3 } else { mp - 9 } as u32;
    (if m <= 2 { y + 1 } else { y }, m, d)
}

impl Params for WorklogsCreate {
    fn plan(self) -> Result<Plan, CatalogError> {
        if self.time_spent.is_none() && self.time_spent_seconds.is_none() {
            return Err(CatalogError::invalid(
                "time_spent",
                "give time_spent (e.g. \"2h 30m\") or time_spent_seconds",
            ));
        }
        let started = Some(self.started.unwrap_or_else(jira_now));
        let body = WorklogsCreate::body(
            self.time_spent,
            self.time_spent_seconds,
            started,
            self.comment,
            self.visibility,
        );
        Ok(Plan::post(
            path("/rest/api/3/issue/{issueIdOrKey}/worklog", &[&self.issue]),
            body,
        )
        .shape(Shape::Comment))
    }
}

/// Change a worklog.
#[derive(Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub(crate) struct WorklogsUpdate {
    /// Issue key or id.
    pub issue: String,
    /// Worklog id.
    pub worklog_id: String,
    #[serde(default)]
    pub time_spent: Option<String>,
    #[serde(default)]
    pub time_spent_seconds: Option<u64>,
    #[serde(default)]
    pub started: Option<String>,
    /// Comment in Markdown.
    #[serde(default)]
    pub comment: Option<String>,
    #[serde(default)]
    pub visibility: Option<Visibility>,
}

impl Params for WorklogsUpdate {
    fn plan(self) -> Result<Plan, CatalogError> {
        let body = WorklogsCreate::body(
            self.time_spent,
            self.time_spent_seconds,
            self.started,
            self.comment,
            self.visibility,
        );
        if body.as_object().is_some_and(Map::is_empty) {
            return Err(CatalogError::invalid("time_spent", "nothing to change"));
        }
        Ok(Plan::put(path(WORKLOG, &[&self.issue, &self.worklog_id]), body).shape(Shape::Comment))
    }
}

// ---------------------------------------------------------------- links

/// Link two issues.
#[derive(Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub(crate) struct LinksCreate {
    /// Link type name (e.g. `Blocks`, `Relates`, `Duplicate`) or id.
    #[serde(rename = "type")]
    pub link_type: String,
    /// Issue on the inward side (e.g. "is blocked by").
    pub inward_issue: String,
    /// Issue on the outward side (e.g. "blocks").
    pub outward_issue: String,
    /// Comment to add to the outward issue, in Markdown.
    #[serde(default)]
    pub comment: Option<String>,
}

impl Params for LinksCreate {
    fn plan(self) -> Result<Plan, CatalogError> {
        let mut body = json!({
            "type": name_or_id(&self.link_type),
            "inwardIssue": key_or_id(&self.inward_issue),
            "outwardIssue": key_or_id(&self.outward_issue),
        });
        put(
            &mut body,
            "comment",
            self.comment.map(|c| json!({"body": adf(&c)})),
        );
        Ok(Plan::post("/rest/api/3/issueLink".into(), body).shape(Shape::Ack))
    }
}

/// One issue link.
#[derive(Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub(crate) struct LinkRef {
    /// Issue link id.
    pub link_id: String,
}

struct LinksGet(LinkRef);
struct LinksDelete(LinkRef);

// ---------------------------------------------------------------- changelog, watchers

paged! {
/// Change history of an issue.
#[derive(Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub(crate) struct ChangelogList {
    /// Issue key or id.
    pub issue: String,
}
}

impl Params for ChangelogList {
    fn plan(self) -> Result<Plan, CatalogError> {
        Ok(window!(
            Plan::get(path(
                "/rest/api/3/issue/{issueIdOrKey}/changelog",
                &[&self.issue]
            )),
            self
        ))
    }
}

struct WatchersList(IssueOnly);

/// A watcher of an issue.
#[derive(Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub(crate) struct WatcherRef {
    /// Issue key or id.
    pub issue: String,
    /// Account id of the user.
    pub account_id: String,
}

struct WatchersAdd(WatcherRef);
struct WatchersRemove(WatcherRef);

// ---------------------------------------------------------------- attachments

struct AttachmentsList(IssueOnly);

/// One attachment.
#[derive(Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub(crate) struct AttachmentRef {
    /// Attachment id.
    pub attachment_id: String,
}

struct AttachmentsGet(AttachmentRef);
struct AttachmentsDownload(AttachmentRef);
struct AttachmentsDelete(AttachmentRef);

/// Attach a file to an issue.
#[derive(Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub(crate) struct AttachmentsUpload {
    /// Issue key or id.
    pub issue: String,
    /// File name shown in Jira.
    pub filename: String,
    /// File content as text (UTF-8).
    #[serde(default)]
    pub content: Option<String>,
    /// File content, base64-encoded (for binary files).
    #[serde(default)]
    pub content_base64: Option<String>,
    /// MIME type (default `application/octet-stream`, or `text/plain` for `content`).
    #[serde(default)]
    pub content_type: Option<String>,
}

impl Params for AttachmentsUpload {
    fn plan(self) -> Result<Plan, CatalogError> {
        let (bytes, default_type) = match (self.content, self.content_base64) {
            (Some(text), None) => (Bytes::from(text.into_bytes()), "text/plain"),
            (None, Some(b64)) => {
                let raw = base64::engine::general_purpose::STANDARD
                    .decode(b64.trim())
                    .map_err(|e| {
                        CatalogError::invalid("content_base64", format!("not base64: {e}"))
                    })?;
                (Bytes::from(raw), "application/octet-stream")
            }
            _ => {
                return Err(CatalogError::invalid(
                    "content",
                    "give exactly one of content (text) or content_base64",
                ));
            }
        };
        let content_type = self.content_type.unwrap_or_else(|| default_type.to_owned());
        Ok(Plan::multipart(
            path(
                "/rest/api/3/issue/{issueIdOrKey}/attachments",
                &[&self.issue],
            ),
            self.filename,
            content_type,
            bytes,
        ))
    }
}

// ---------------------------------------------------------------- projects, components, versions

paged! {
/// Projects visible to the connection.
#[derive(Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub(crate) struct ProjectsList {
    /// Text matched against project key and name.
    #[serde(default)]
    pub query: Option<String>,
    /// Only these project keys.
    #[serde(default)]
    pub keys: Option<Vec<String>>,
    /// Sort, e.g. `key`, `-name`, `lastIssueUpdatedTime`.
    #[serde(default)]
    pub order_by: Option<String>,
    /// Comma-separated expansions, e.g. `description,lead,issueTypes`.
    #[serde(default)]
    pub expand: Option<String>,
}
}

impl Params for ProjectsList {
    fn plan(self) -> Result<Plan, CatalogError> {
        let mut plan = Plan::get("/rest/api/3/project/search".into())
            .q_opt("query", self.query.clone())
            .q_opt("orderBy", self.order_by.clone())
            .q_opt("expand", self.expand.clone());
        for key in self.keys.clone().unwrap_or_default() {
            plan = plan.q("keys", key);
        }
        Ok(window!(plan, self))
    }
}

/// One project.
#[derive(Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub(crate) struct ProjectRef {
    /// Project key (e.g. `ACME`) or numeric id.
    pub project: String,
    /// Comma-separated expansions, e.g. `description,lead,issueTypes`.
    #[serde(default)]
    pub expand: Option<String>,
}

impl Params for ProjectRef {
    fn plan(self) -> Result<Plan, CatalogError> {
        Ok(Plan::get(path(
            "/rest/api/3/project/{projectIdOrKey}",
            &[&self.project],
        ))
        .q_opt("expand", self.expand))
    }
}

/// Just a project.
#[derive(Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub(crate) struct ProjectOnly {
    /// Project key (e.g. `ACME`) or numeric id.
    pub project: String,
}

struct ProjectStatuses(ProjectOnly);

paged! {
/// Components of a project.
#[derive(Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub(crate) struct ComponentsList {
    /// Project key or id.
    pub project: String,
    /// Text matched against component names and descriptions.
    #[serde(default)]
    pub query: Option<String>,
}
}

impl Params for ComponentsList {
    fn plan(self) -> Result<Plan, CatalogError> {
        Ok(window!(
            Plan::get(path(
                "/rest/api/3/project/{projectIdOrKey}/component",
                &[&self.project]
            ))
            .q_opt("query", self.query.clone()),
            self
        ))
    }
}

/// One component.
#[derive(Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub(crate) struct ComponentRef {
    /// Component id.
    pub component_id: String,
}

struct ComponentsGet(ComponentRef);

/// Create a component.
#[derive(Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub(crate) struct ComponentsCreate {
    /// Project key.
    pub project: String,
    pub name: String,
    #[serde(default)]
    pub description: Option<String>,
    /// Account id of the component lead.
    #[serde(default)]
    pub lead_account_id: Option<String>,
}

impl Params for ComponentsCreate {
    fn plan(self) -> Result<Plan, CatalogError> {
        let mut body = json!({"project": self.project, "name": self.name});
        put(&mut body, "description", self.description);
        put(&mut body, "leadAccountId", self.lead_account_id);
        Ok(Plan::post("/rest/api/3/component".into(), body))
    }
}

/// Change a component.
#[derive(Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub(crate) struct ComponentsUpdate {
    /// Component id.
    pub component_id: String,
    #[serde(default)]
    pub name: Option<String>,
    #[serde(default)]
    pub description: Option<String>,
    #[serde(default)]
    pub lead_account_id: Option<String>,
}

impl Params for ComponentsUpdate {
    fn plan(self) -> Result<Plan, CatalogError> {
        let mut body = json!({});
        put(&mut body, "name", self.name);
        put(&mut body, "description", self.description);
        put(&mut body, "leadAccountId", self.lead_account_id);
        Ok(Plan::put(
            path("/rest/api/3/component/{id}", &[&self.component_id]),
            body,
        ))
    }
}

/// Delete a component.
#[derive(Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub(crate) struct ComponentsDelete {
    /// Component id.
    pub component_id: String,
    /// Component id that takes over its issues.
    #[serde(default)]
    pub move_issues_to: Option<String>,
}

impl Params for ComponentsDelete {
    fn plan(self) -> Result<Plan, CatalogError> {
        Ok(
            Plan::delete(path("/rest/api/3/component/{id}", &[&self.component_id]))
                .q_opt("moveIssuesTo", self.move_issues_to),
        )
    }
}

paged! {
/// Versions (releases) of a project.
#[derive(Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub(crate) struct VersionsList {
    /// Project key or id.
    pub project: String,
    /// Text matched against version names and descriptions.
    #[serde(default)]
    pub query: Option<String>,
    /// Comma-separated: `released`, `unreleased`, `archived`.
    #[serde(default)]
    pub status: Option<String>,
    /// Sort, e.g. `sequence`, `-releaseDate`, `name`.
    #[serde(default)]
    pub order_by: Option<String>,
}
}

impl Params for VersionsList {
    fn plan(self) -> Result<Plan, CatalogError> {
        Ok(window!(
            Plan::get(path(
                "/rest/api/3/project/{projectIdOrKey}/version",
                &[&self.project]
            ))
            .q_opt("query", self.query.clone())
            .q_opt("status", self.status.clone())
            .q_opt("orderBy", self.order_by.clone()),
            self
        ))
    }
}

/// One version.
#[derive(Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub(crate) struct VersionRef {
    /// Version id.
    pub version_id: String,
}

struct VersionsGet(VersionRef);

/// Create a version.
#[derive(Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub(crate) struct VersionsCreate {
    /// Project key or numeric id.
    pub project: String,
    pub name: String,
    #[serde(default)]
    pub description: Option<String>,
    /// `YYYY-MM-DD`.
    #[serde(default)]
    pub start_date: Option<String>,
    /// `YYYY-MM-DD`.
    #[serde(default)]
    pub release_date: Option<String>,
    #[serde(default)]
    pub released: Option<bool>,
}

impl Params for VersionsCreate {
    fn plan(self) -> Result<Plan, CatalogError> {
        let mut body = json!({"name": self.name});
        put(&mut body, "description", self.description);
        put(&mut body, "startDate", self.start_date);
        put(&mut body, "releaseDate", self.release_date);
        put(&mut body, "released", self.released);
        let plan = if is_numeric(&self.project) {
            body["projectId"] = self.project.parse::<i64>().unwrap_or_default().into();
            Plan::post("/rest/api/3/version".into(), body)
        } else {
            Plan::post("/rest/api/3/version".into(), body).pre(PreStep::ProjectId {
                key: self.project,
                target: "projectId",
            })
        };
        Ok(plan)
    }
}

/// Change a version (release it, rename it, ...).
#[derive(Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub(crate) struct VersionsUpdate {
    /// Version id.
    pub version_id: String,
    #[serde(default)]
    pub name: Option<String>,
    #[serde(default)]
    pub description: Option<String>,
    #[serde(default)]
    pub start_date: Option<String>,
    #[serde(default)]
    pub release_date: Option<String>,
    #[serde(default)]
    pub released: Option<bool>,
    #[serde(default)]
    pub archived: Option<bool>,
}

impl Params for VersionsUpdate {
    fn plan(self) -> Result<Plan, CatalogError> {
        let mut body = json!({});
        put(&mut body, "name", self.name);
        put(&mut body, "description", self.description);
        put(&mut body, "startDate", self.start_date);
        put(&mut body, "releaseDate", self.release_date);
        put(&mut body, "released", self.released);
        put(&mut body, "archived", self.archived);
        Ok(Plan::put(
            path("/rest/api/3/version/{id}", &[&self.version_id]),
            body,
        ))
    }
}

/// Delete a version, moving its issues to other versions.
#[derive(Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub(crate) struct VersionsDelete {
    /// Version id.
    pub version_id: String,
    /// Version id that takes over the fix-version issues.
    #[serde(default)]
    pub move_fix_issues_to: Option<i64>,
    /// Version id that takes over the affects-version issues.
    #[serde(default)]
    pub move_affected_issues_to: Option<i64>,
}

impl Params for VersionsDelete {
    fn plan(self) -> Result<Plan, CatalogError> {
        let mut body = json!({});
        put(&mut body, "moveFixIssuesTo", self.move_fix_issues_to);
        put(
            &mut body,
            "moveAffectedIssuesTo",
            self.move_affected_issues_to,
        );
        Ok(Plan::post(
            path(
                "/rest/api/3/version/{id}/removeAndSwap",
                &[&self.version_id],
            ),
            body,
        )
        .shape(Shape::Ack))
    }
}

// ---------------------------------------------------------------- users

paged! {
/// All users (active and inactive, including apps).
#[derive(Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub(crate) struct UsersList {}
}

impl Params for UsersList {
    fn plan(self) -> Result<Plan, CatalogError> {
        Ok(window!(Plan::get("/rest/api/3/users/search".into()), self))
    }
}

/// One user.
#[derive(Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub(crate) struct UsersGet {
    /// Account id.
    pub account_id: String,
    /// `groups`, `applicationRoles`.
    #[serde(default)]
    pub expand: Option<String>,
}

impl Params for UsersGet {
    fn plan(self) -> Result<Plan, CatalogError> {
        Ok(Plan::get("/rest/api/3/user".into())
            .q("accountId", self.account_id)
            .q_opt("expand", self.expand))
    }
}

paged! {
/// Users whose name or email matches.
#[derive(Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub(crate) struct UsersSearch {
    /// Text matched against display name and email address.
    pub query: String,
}
}

impl Params for UsersSearch {
    fn plan(self) -> Result<Plan, CatalogError> {
        Ok(window!(
            Plan::get("/rest/api/3/user/search".into()).q("query", self.query.clone()),
            self
        ))
    }
}

paged! {
/// Users who can be assigned issues of a project or an issue.
#[derive(Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub(crate) struct UsersAssignable {
    /// Project key or id (this or `issue` is required).
    #[serde(default)]
    pub project: Option<String>,
    /// Issue key (this or `project` is required).
    #[serde(default)]
    pub issue: Option<String>,
    /// Text matched against display name and email address.
    #[serde(default)]
    pub query: Option<String>,
}
}

impl Params for UsersAssignable {
    fn plan(self) -> Result<Plan, CatalogError> {
        if self.project.is_none() && self.issue.is_none() {
            return Err(CatalogError::invalid("project", "give project or issue"));
        }
        Ok(window!(
            Plan::get("/rest/api/3/user/assignable/search".into())
                .q_opt("project", self.project.clone())
                .q_opt("issueKey", self.issue.clone())
                .q_opt("query", self.query.clone()),
            self
        ))
    }
}

/// The user the connection acts as.
#[derive(Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub(crate) struct Myself {
    /// `groups`, `applicationRoles`.
    #[serde(default)]
    pub expand: Option<String>,
}

impl Params for Myself {
    fn plan(self) -> Result<Plan, CatalogError> {
        Ok(Plan::get("/rest/api/3/myself".into()).q_opt("expand", self.expand))
    }
}

/// No params.
#[derive(Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub(crate) struct NoParams {}

struct ServerInfo(NoParams);
struct FieldsList(NoParams);
struct IssueTypesList(NoParams);
struct StatusesList(NoParams);
struct PrioritiesAll(NoParams);
struct LinkTypesList(NoParams);
struct AttachmentSettings(NoParams);
struct JqlAutocomplete(NoParams);

// ---------------------------------------------------------------- fields

paged! {
/// Fields, paged and filterable.
#[derive(Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub(crate) struct FieldsSearch {
    /// Text matched against field names and descriptions.
    #[serde(default)]
    pub query: Option<String>,
    /// `custom` or `system`.
    #[serde(default)]
    pub field_type: Option<FieldType>,
}
}

#[derive(Deserialize, JsonSchema, Clone, Copy)]
#[serde(rename_all = "lowercase")]
pub(crate) enum FieldType {
    Custom,
    System,
}

impl Params for FieldsSearch {
    fn plan(self) -> Result<Plan, CatalogError> {
        let kind = self.field_type.map(|t| match t {
            FieldType::Custom => "custom",
            FieldType::System => "system",
        });
        Ok(window!(
            Plan::get("/rest/api/3/field/search".into())
                .q_opt("query", self.query.clone())
                .q_opt("type", kind),
            self
        ))
    }
}

/// Resolve field names (e.g. `Story Points`) to ids (`customfield_10016`).
#[derive(Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub(crate) struct FieldsResolve {
    /// Field names or ids.
    #[schemars(length(min = 1))]
    pub names: Vec<String>,
}

impl Params for FieldsResolve {
    fn plan(self) -> Result<Plan, CatalogError> {
        Ok(Plan::get("/rest/api/3/field".into()).shape(Shape::ResolveFields(self.names)))
    }
}

// ---------------------------------------------------------------- issue types, priorities, statuses

/// One issue type.
#[derive(Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub(crate) struct IssueTypeRef {
    /// Issue type id.
    pub issue_type_id: String,
}

struct IssueTypesGet(IssueTypeRef);

/// Issue types of a project.
#[derive(Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub(crate) struct IssueTypesForProject {
    /// Numeric project id.
    pub project_id: u64,
}

impl Params for IssueTypesForProject {
    fn plan(self) -> Result<Plan, CatalogError> {
        Ok(Plan::get("/rest/api/3/issuetype/project".into()).q("projectId", self.project_id))
    }
}

paged! {
/// Priorities.
#[derive(Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub(crate) struct PrioritiesList {
    /// Text matched against priority names.
    #[serde(default)]
    pub name: Option<String>,
}
}

impl Params for PrioritiesList {
    fn plan(self) -> Result<Plan, CatalogError> {
        Ok(window!(
            Plan::get("/rest/api/3/priority/search".into())
                .q_opt("priorityName", self.name.clone()),
            self
        ))
    }
}

/// One priority.
#[derive(Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub(crate) struct PriorityRef {
    /// Priority id.
    pub priority_id: String,
}

struct PrioritiesGet(PriorityRef);

/// One status.
#[derive(Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub(crate) struct StatusRef {
    /// Status id or name.
    pub status: String,
}

struct StatusesGet(StatusRef);

paged! {
/// Statuses, paged and filterable.
#[derive(Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub(crate) struct StatusesSearch {
    /// Only statuses of this numeric project id.
    #[serde(default)]
    pub project_id: Option<String>,
    /// Text matched against status names.
    #[serde(default)]
    pub query: Option<String>,
    /// `TODO`, `IN_PROGRESS` or `DONE`.
    #[serde(default)]
    pub category: Option<String>,
}
}

impl Params for StatusesSearch {
    fn plan(self) -> Result<Plan, CatalogError> {
        Ok(window!(
            Plan::get("/rest/api/3/statuses/search".into())
                .q_opt("projectId", self.project_id.clone())
                .q_opt("searchString", self.query.clone())
                .q_opt("statusCategory", self.category.clone()),
            self
        ))
    }
}

// ---------------------------------------------------------------- createmeta, labels, jql

paged! {
/// Issue types that can be created in a project.
#[derive(Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub(crate) struct CreatemetaTypes {
    /// Project key or id.
    pub project: String,
}
}

impl Params for CreatemetaTypes {
    fn plan(self) -> Result<Plan, CatalogError> {
        Ok(window!(
            Plan::get(path(
                "/rest/api/3/issue/createmeta/{projectIdOrKey}/issuetypes",
                &[&self.project]
            )),
            self
        ))
    }
}

paged! {
/// Fields (with allowed values) for creating an issue of a type in a project.
#[derive(Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub(crate) struct CreatemetaFields {
    /// Project key or id.
    pub project: String,
    /// Issue type id (see createmeta.issue_types).
    pub issue_type_id: String,
}
}

impl Params for CreatemetaFields {
    fn plan(self) -> Result<Plan, CatalogError> {
        Ok(window!(
            Plan::get(path(
                "/rest/api/3/issue/createmeta/{projectIdOrKey}/issuetypes/{issueTypeId}",
                &[&self.project, &self.issue_type_id]
            )),
            self
        ))
    }
}

paged! {
/// Labels used on the site.
#[derive(Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub(crate) struct LabelsList {}
}

impl Params for LabelsList {
    fn plan(self) -> Result<Plan, CatalogError> {
        Ok(window!(Plan::get("/rest/api/3/label".into()), self))
    }
}

/// How strictly to validate JQL.
#[derive(Deserialize, JsonSchema, Clone, Copy)]
#[serde(rename_all = "lowercase")]
pub(crate) enum JqlValidation {
    Strict,
    Warn,
    None,
}

/// Parse and validate JQL queries.
#[derive(Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub(crate) struct JqlParse {
    /// JQL queries to parse.
    #[schemars(length(min = 1))]
    pub queries: Vec<String>,
    /// `strict` (default), `warn` or `none`.
    #[serde(default)]
    pub validation: Option<JqlValidation>,
}

impl Params for JqlParse {
    fn plan(self) -> Result<Plan, CatalogError> {
        let validation = match self.validation.unwrap_or(JqlValidation::Strict) {
            JqlValidation::Strict => "strict",
            JqlValidation::Warn => "warn",
            JqlValidation::None => "none",
        };
        Ok(Plan::post(
            "/rest/api/3/jql/parse".into(),
            json!({"queries": self.queries}),
        )
        .q("validation", validation))
    }
}

/// Value suggestions for a JQL field.
#[derive(Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub(crate) struct JqlSuggestions {
    /// JQL field name, e.g. `reporter`, `project`.
    pub field_name: String,
    /// The partial value typed so far.
    #[serde(default)]
    pub field_value: Option<String>,
}

impl Params for JqlSuggestions {
    fn plan(self) -> Result<Plan, CatalogError> {
        Ok(
            Plan::get("/rest/api/3/jql/autocompletedata/suggestions".into())
                .q("fieldName", self.field_name)
                .q_opt("fieldValue", self.field_value),
        )
    }
}

paged! {
/// Resolutions (e.g. Done, Won't Do).
#[derive(Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub(crate) struct ResolutionsList {}
}

impl Params for ResolutionsList {
    fn plan(self) -> Result<Plan, CatalogError> {
        Ok(window!(
            Plan::get("/rest/api/3/resolution/search".into()),
            self
        ))
    }
}

// ---------------------------------------------------------------- newtype wrappers

/// Implements Deserialize + JsonSchema for a newtype over a params struct, plus its plan.
macro_rules! newtype_params {
    ($name:ident($inner:ty), |$p:ident| $body:expr) => {
        impl<'de> Deserialize<'de> for $name {
            fn deserialize<D: serde::Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
                <$inner>::deserialize(d).map($name)
            }
        }
        impl JsonSchema for $name {
            fn schema_name() -> std::borrow::Cow<'static, str> {
                <$inner>::schema_name()
            }
            fn json_schema(g: &mut schemars::SchemaGenerator) -> schemars::Schema {
                <$inner>::json_schema(g)
            }
        }
        impl Params for $name {
            fn plan(self) -> Result<Plan, CatalogError> {
                let $p = self.0;
                Ok($body)
            }
        }
    };
}
pub(crate) use newtype_params;

newtype_params!(CommentsGet(CommentRef), |p| Plan::get(path(
    COMMENT,
    &[&p.issue, &p.comment_id]
))
.shape(Shape::Comment));
newtype_params!(CommentsDelete(CommentRef), |p| Plan::delete(path(
    COMMENT,
    &[&p.issue, &p.comment_id]
)));
newtype_params!(WorklogsGet(WorklogRef), |p| Plan::get(path(
    WORKLOG,
    &[&p.issue, &p.worklog_id]
))
.shape(Shape::Comment));
newtype_params!(WorklogsDelete(WorklogRef), |p| Plan::delete(path(
    WORKLOG,
    &[&p.issue, &p.worklog_id]
)));
newtype_params!(LinksGet(LinkRef), |p| Plan::get(path(
    "/rest/api/3/issueLink/{linkId}",
    &[&p.link_id]
)));
newtype_params!(LinksDelete(LinkRef), |p| Plan::delete(path(
    "/rest/api/3/issueLink/{linkId}",
    &[&p.link_id]
)));
newtype_params!(WatchersList(IssueOnly), |p| Plan::get(path(
    "/rest/api/3/issue/{issueIdOrKey}/watchers",
    &[&p.issue]
)));
newtype_params!(WatchersAdd(WatcherRef), |p| Plan::post(
    path("/rest/api/3/issue/{issueIdOrKey}/watchers", &[&p.issue]),
    Value::String(p.account_id)
)
.shape(Shape::Ack));
newtype_params!(WatchersRemove(WatcherRef), |p| Plan::delete(path(
    "/rest/api/3/issue/{issueIdOrKey}/watchers",
    &[&p.issue]
))
.q("accountId", p.account_id));
newtype_params!(AttachmentsList(IssueOnly), |p| Plan::get(path(
    ISSUE,
    &[&p.issue]
))
.q("fields", "attachment")
.shape(Shape::Pick("/fields/attachment")));
newtype_params!(AttachmentsGet(AttachmentRef), |p| Plan::get(path(
    "/rest/api/3/attachment/{id}",
    &[&p.attachment_id]
)));
newtype_params!(AttachmentsDownload(AttachmentRef), |p| Plan::get(path(
    "/rest/api/3/attachment/content/{id}",
    &[&p.attachment_id]
))
// Ask for the bytes directly rather than a redirect to the media service.
.q("redirect", false)
.shape(Shape::Binary));
newtype_params!(AttachmentsDelete(AttachmentRef), |p| Plan::delete(path(
    "/rest/api/3/attachment/{id}",
    &[&p.attachment_id]
)));
newtype_params!(ProjectStatuses(ProjectOnly), |p| Plan::get(path(
    "/rest/api/3/project/{projectIdOrKey}/statuses",
    &[&p.project]
)));
newtype_params!(ComponentsGet(ComponentRef), |p| Plan::get(path(
    "/rest/api/3/component/{id}",
    &[&p.component_id]
)));
newtype_params!(VersionsGet(VersionRef), |p| Plan::get(path(
    "/rest/api/3/version/{id}",
    &[&p.version_id]
)));
newtype_params!(ServerInfo(NoParams), |_p| Plan::get(
    "/rest/api/3/serverInfo".into()
));
newtype_params!(FieldsList(NoParams), |_p| Plan::get(
    "/rest/api/3/field".into()
));
newtype_params!(IssueTypesList(NoParams), |_p| Plan::get(
    "/rest/api/3/issuetype".into()
));
newtype_params!(IssueTypesGet(IssueTypeRef), |p| Plan::get(path(
    "/rest/api/3/issuetype/{id}",
    &[&p.issue_type_id]
)));
newtype_params!(PrioritiesGet(PriorityRef), |p| Plan::get(path(
    "/rest/api/3/priority/{id}",
    &[&p.priority_id]
)));
// `GET /rest/api/3/priority` is deprecated; the spec names `priority/search` as its
// replacement. Every page of it keeps this action's contract: all priorities, one array.
newtype_params!(PrioritiesAll(NoParams), |_p| Plan::get(
    "/rest/api/3/priority/search".into()
)
.paged(None, None, Some(true)));
newtype_params!(StatusesList(NoParams), |_p| Plan::get(
    "/rest/api/3/status".into()
));
newtype_params!(StatusesGet(StatusRef), |p| Plan::get(path(
    "/rest/api/3/status/{idOrName}",
    &[&p.status]
)));
newtype_params!(LinkTypesList(NoParams), |_p| Plan::get(
    "/rest/api/3/issueLinkType".into()
)
.shape(Shape::Pick("/issueLinkTypes")));
newtype_params!(AttachmentSettings(NoParams), |_p| Plan::get(
    "/rest/api/3/attachment/meta".into()
));
newtype_params!(JqlAutocomplete(NoParams), |_p| Plan::get(
    "/rest/api/3/jql/autocompletedata".into()
));

newtype_params!(IssuesCreate(NewIssue), |p| Plan::post(
    "/rest/api/3/issue".into(),
    json!({"fields": p.into_fields()})
)
.pre(PreStep::FieldNames));
newtype_params!(EditMeta(IssueOnly), |p| Plan::get(path(
    "/rest/api/3/issue/{issueIdOrKey}/editmeta",
    &[&p.issue]
)));
newtype_params!(TransitionsList(IssueOnly), |p| Plan::get(path(
    "/rest/api/3/issue/{issueIdOrKey}/transitions",
    &[&p.issue]
))
.shape(Shape::Pick("/transitions")));

// ---------------------------------------------------------------- the table

pub(crate) fn actions() -> Vec<Builder> {
    const ISSUE_KEY: &str = r#"{"issue": "ACME-1"}"#;
    vec![
        action::<IssuesSearch>("issues", "search", "Search issues with JQL. `all: true` follows every page.")
            .op("POST", "/rest/api/3/search/jql")
            .reads()
            .paging(Paging::NextPageToken { items: "issues" })
            .result("array of issues (id, key, fields; description_markdown when the description is returned)")
            .example(r#"{"jql": "project = ACME ORDER BY created DESC", "fields": ["summary", "status"], "limit": 10}"#),
        action::<IssuesCount>("issues", "count", "Approximate number of issues matching a JQL query.")
            .op("POST", "/rest/api/3/search/approximate-count")
            .reads()
            .result("{count}")
            .example(r#"{"jql": "project = ACME"}"#),
        action::<IssuesGet>("issues", "get", "Get one issue by key or id.")
            .op("GET", ISSUE)
            .result("the issue (id, key, fields, description_markdown)")
            .example(r#"{"issue": "ACME-1", "fields": ["summary", "description"]}"#),
        action::<IssuesCreate>("issues", "create", "Create an issue; description in Markdown; extra fields by id or name.")
            .op("POST", "/rest/api/3/issue")
            .lookup(Lookup::FieldNames)
            .result("{id, key, self}")
            .example(r#"{"project": "ACME", "summary": "Login fails", "issue_type": "Task", "description": "Steps:\n\n1. open **login**", "labels": ["web"], "priority": "High"}"#),
        action::<IssuesUpdate>("issues", "update", "Edit fields of an issue.")
            .op("PUT", ISSUE)
            .lookup(Lookup::FieldNames)
            .result("{ok: true}")
            .example(r#"{"issue": "ACME-1", "summary": "New summary", "description": "Updated *text*"}"#),
        action::<IssuesDelete>("issues", "delete", "Delete an issue.")
            .op("DELETE", ISSUE)
            .result("{ok: true}")
            .example(ISSUE_KEY),
        action::<IssuesBulkCreate>("issues", "bulk_create", "Create up to 50 issues at once.")
            .op("POST", "/rest/api/3/issue/bulk")
            .lookup(Lookup::FieldNames)
            .result("{issues: [{id, key}], errors: [...]}")
            .example(r#"{"issues": [{"project": "ACME", "summary": "One", "issue_type": "Task"}, {"project": "ACME", "summary": "Two", "issue_type": "Bug"}]}"#),
        action::<EditMeta>("issues", "editmeta", "Fields that can be edited on an issue, with allowed values.")
            .op("GET", "/rest/api/3/issue/{issueIdOrKey}/editmeta")
            .result("{fields: {id: {name, schema, allowedValues, operations}}}")
            .example(ISSUE_KEY),
        action::<AssigneeUpdate>("issues_assignee", "update", "Assign an issue to a user, or unassign it.")
            .op("PUT", "/rest/api/3/issue/{issueIdOrKey}/assignee")
            .result("{ok: true}")
            .example(r#"{"issue": "ACME-1", "account_id": "5b10a2844c20165700ede21g"}"#),
        action::<TransitionsList>("issue_transitions", "list", "Transitions available on an issue now.")
            .op("GET", "/rest/api/3/issue/{issueIdOrKey}/transitions")
            .result("array of {id, name, to: status}")
            .example(ISSUE_KEY),
        action::<TransitionDo>("issue_transitions", "transition", "Transition an issue by transition id or name (or target status name).")
            .op("POST", "/rest/api/3/issue/{issueIdOrKey}/transitions")
            .lookup(Lookup::TransitionName)
            .lookup(Lookup::FieldNames)
            .result("{ok: true}")
            .example(r#"{"issue": "ACME-1", "transition": "31", "comment": "Done in **v2**"}"#),
        action::<CommentsList>("issue_comments", "list", "Comments of an issue.")
            .op("GET", "/rest/api/3/issue/{issueIdOrKey}/comment")
            .paging(Paging::Offset { items: "comments" })
            .result("array of comments (body as ADF plus body_markdown)")
            .example(ISSUE_KEY),
        action::<CommentsCreate>("issue_comments", "create", "Add a comment (Markdown).")
            .op("POST", "/rest/api/3/issue/{issueIdOrKey}/comment")
            .result("the comment")
            .example(r#"{"issue": "ACME-1", "body": "Looks good, see [docs](https://example.com)"}"#),
        action::<CommentsGet>("issue_comments", "get", "One comment.")
            .op("GET", COMMENT)
            .result("the comment (with body_markdown)")
            .example(r#"{"issue": "ACME-1", "comment_id": "10000"}"#),
        action::<CommentsUpdate>("issue_comments", "update", "Replace a comment's text (Markdown).")
            .op("PUT", COMMENT)
            .result("the comment")
            .example(r#"{"issue": "ACME-1", "comment_id": "10000", "body": "Edited"}"#),
        action::<CommentsDelete>("issue_comments", "delete", "Delete a comment.")
            .op("DELETE", COMMENT)
            .result("{ok: true}")
            .example(r#"{"issue": "ACME-1", "comment_id": "10000"}"#),
        action::<WorklogsList>("issue_worklogs", "list", "Worklogs of an issue.")
            .op("GET", "/rest/api/3/issue/{issueIdOrKey}/worklog")
            .paging(Paging::Offset { items: "worklogs" })
            .result("array of worklogs (comment_markdown when there is a comment)")
            .example(ISSUE_KEY),
        action::<WorklogsGet>("issue_worklogs", "get", "One worklog.")
            .op("GET", WORKLOG)
            .result("the worklog")
            .example(r#"{"issue": "ACME-1", "worklog_id": "10000"}"#),
        action::<WorklogsCreate>("issue_worklogs", "create", "Log time on an issue.")
            .op("POST", "/rest/api/3/issue/{issueIdOrKey}/worklog")
            .result("the worklog")
            .example(r#"{"issue": "ACME-1", "time_spent": "1h 30m", "started": "2024-05-01T09:00:00.000+0000", "comment": "Pairing"}"#),
        action::<WorklogsUpdate>("issue_worklogs", "update", "Change a worklog.")
            .op("PUT", WORKLOG)
            .result("the worklog")
            .example(r#"{"issue": "ACME-1", "worklog_id": "10000", "time_spent": "2h"}"#),
        action::<WorklogsDelete>("issue_worklogs", "delete", "Delete a worklog.")
            .op("DELETE", WORKLOG)
            .result("{ok: true}")
            .example(r#"{"issue": "ACME-1", "worklog_id": "10000"}"#),
        action::<LinksCreate>("issue_links", "create", "Link two issues (e.g. ACME-1 blocks ACME-2).")
            .op("POST", "/rest/api/3/issueLink")
            .result("{ok: true}")
            .example(r#"{"type": "Blocks", "inward_issue": "ACME-2", "outward_issue": "ACME-1"}"#),
        action::<LinksGet>("issue_links", "get", "One issue link.")
            .op("GET", "/rest/api/3/issueLink/{linkId}")
            .result("{id, type, inwardIssue, outwardIssue}")
            .example(r#"{"link_id": "10001"}"#),
        action::<LinksDelete>("issue_links", "delete", "Remove an issue link.")
            .op("DELETE", "/rest/api/3/issueLink/{linkId}")
            .result("{ok: true}")
            .example(r#"{"link_id": "10001"}"#),
        action::<LinkTypesList>("issue_link_types", "list", "Issue link types (Blocks, Relates, ...).")
            .op("GET", "/rest/api/3/issueLinkType")
            .result("array of {id, name, inward, outward}")
            .example("{}"),
        action::<ChangelogList>("issue_changelogs", "list", "Change history of an issue.")
            .op("GET", "/rest/api/3/issue/{issueIdOrKey}/changelog")
            .paging(Paging::Offset { items: "values" })
            .result("array of {id, author, created, items: [{field, fromString, toString}]}")
            .example(ISSUE_KEY),
        action::<WatchersList>("issue_watchers", "list", "Watchers of an issue.")
            .op("GET", "/rest/api/3/issue/{issueIdOrKey}/watchers")
            .result("{watchCount, isWatching, watchers: [users]}")
            .example(ISSUE_KEY),
        action::<WatchersAdd>("issue_watchers", "add", "Add a watcher.")
            .op("POST", "/rest/api/3/issue/{issueIdOrKey}/watchers")
            .result("{ok: true}")
            .example(r#"{"issue": "ACME-1", "account_id": "5b10a2844c20165700ede21g"}"#),
        action::<WatchersRemove>("issue_watchers", "remove", "Remove a watcher.")
            .op("DELETE", "/rest/api/3/issue/{issueIdOrKey}/watchers")
            .result("{ok: true}")
            .example(r#"{"issue": "ACME-1", "account_id": "5b10a2844c20165700ede21g"}"#),
        action::<AttachmentsList>("attachments", "list", "Attachments of an issue.")
            .op("GET", ISSUE)
            .result("array of attachment metadata {id, filename, size, mimeType, created, author}")
            .example(ISSUE_KEY),
        action::<AttachmentsGet>("attachments", "get", "Metadata of one attachment.")
            .op("GET", "/rest/api/3/attachment/{id}")
            .result("{id, filename, size, mimeType, ...}")
            .example(r#"{"attachment_id": "10000"}"#),
        action::<AttachmentsUpload>("attachments", "upload", "Attach a file (text or base64 content) to an issue.")
            .op("POST", "/rest/api/3/issue/{issueIdOrKey}/attachments")
            .result("array with the new attachment's metadata")
            .example(r#"{"issue": "ACME-1", "filename": "notes.txt", "content": "hello"}"#),
        action::<AttachmentsDownload>("attachments", "download", "Content of an attachment, base64-encoded.")
            .op("GET", "/rest/api/3/attachment/content/{id}")
            .result("{content_base64, content_type, size}")
            .example(r#"{"attachment_id": "10000"}"#),
        action::<AttachmentsDelete>("attachments", "delete", "Delete an attachment.")
            .op("DELETE", "/rest/api/3/attachment/{id}")
            .result("{ok: true}")
            .example(r#"{"attachment_id": "10000"}"#),
        action::<AttachmentSettings>("attachments", "settings", "Whether attachments are enabled and the upload size limit.")
            .op("GET", "/rest/api/3/attachment/meta")
            .result("{enabled, uploadLimit}")
            .example("{}"),
        action::<ProjectsList>("projects", "list", "Projects visible to the connection.")
            .op("GET", "/rest/api/3/project/search")
            .paging(Paging::Offset { items: "values" })
            .result("array of projects {id, key, name, projectTypeKey}")
            .example(r#"{"query": "acme", "limit": 20}"#),
        action::<ProjectRef>("projects", "get", "One project.")
            .op("GET", "/rest/api/3/project/{projectIdOrKey}")
            .result("the project")
            .example(r#"{"project": "ACME"}"#),
        action::<ProjectStatuses>("projects", "statuses", "Statuses of each issue type of a project.")
            .op("GET", "/rest/api/3/project/{projectIdOrKey}/statuses")
            .result("array of {id, name (issue type), statuses: [...]}")
            .example(r#"{"project": "ACME"}"#),
        action::<ComponentsList>("components", "list", "Components of a project.")
            .op("GET", "/rest/api/3/project/{projectIdOrKey}/component")
            .paging(Paging::Offset { items: "values" })
            .result("array of components")
            .example(r#"{"project": "ACME"}"#),
        action::<ComponentsGet>("components", "get", "One component.")
            .op("GET", "/rest/api/3/component/{id}")
            .result("the component")
            .example(r#"{"component_id": "10000"}"#),
        action::<ComponentsCreate>("components", "create", "Create a component in a project.")
            .op("POST", "/rest/api/3/component")
            .result("the component")
            .example(r#"{"project": "ACME", "name": "Backend", "description": "Server side"}"#),
        action::<ComponentsUpdate>("components", "update", "Change a component.")
            .op("PUT", "/rest/api/3/component/{id}")
            .result("the component")
            .example(r#"{"component_id": "10000", "name": "API"}"#),
        action::<ComponentsDelete>("components", "delete", "Delete a component.")
            .op("DELETE", "/rest/api/3/component/{id}")
            .result("{ok: true}")
            .example(r#"{"component_id": "10000"}"#),
        action::<VersionsList>("versions", "list", "Versions (releases) of a project.")
            .op("GET", "/rest/api/3/project/{projectIdOrKey}/version")
            .paging(Paging::Offset { items: "values" })
            .result("array of versions")
            .example(r#"{"project": "ACME", "status": "unreleased"}"#),
        action::<VersionsGet>("versions", "get", "One version.")
            .op("GET", "/rest/api/3/version/{id}")
            .result("the version")
            .example(r#"{"version_id": "10000"}"#),
        action::<VersionsCreate>("versions", "create", "Create a version in a project.")
            .op("POST", "/rest/api/3/version")
            .lookup(Lookup::ProjectId)
            .result("the version")
            .example(r#"{"project": "10000", "name": "v2.0", "release_date": "2024-06-30"}"#),
        action::<VersionsUpdate>("versions", "update", "Change a version (e.g. release it).")
            .op("PUT", "/rest/api/3/version/{id}")
            .result("the version")
            .example(r#"{"version_id": "10000", "released": true}"#),
        action::<VersionsDelete>("versions", "delete", "Delete a version, optionally moving its issues.")
            .op("POST", "/rest/api/3/version/{id}/removeAndSwap")
            .result("{ok: true}")
            .example(r#"{"version_id": "10000", "move_fix_issues_to": 10001}"#),
        action::<UsersList>("users", "list", "All users of the site.")
            .op("GET", "/rest/api/3/users/search")
            .paging(Paging::OffsetArray)
            .result("array of users {accountId, displayName, active, accountType}")
            .example(r#"{"limit": 50}"#),
        action::<UsersGet>("users", "get", "One user by account id.")
            .op("GET", "/rest/api/3/user")
            .result("the user")
            .example(r#"{"account_id": "5b10a2844c20165700ede21g"}"#),
        action::<UsersSearch>("users", "search", "Find users by name or email.")
            .op("GET", "/rest/api/3/user/search")
            .paging(Paging::OffsetArray)
            .result("array of users")
            .example(r#"{"query": "mia"}"#),
        action::<UsersAssignable>("users", "assignable", "Users who can be assigned issues in a project or an issue.")
            .op("GET", "/rest/api/3/user/assignable/search")
            .paging(Paging::OffsetArray)
            .result("array of users")
            .example(r#"{"project": "ACME"}"#),
        action::<Myself>("myself", "get", "The user the connection acts as.")
            .op("GET", "/rest/api/3/myself")
            .result("the user {accountId, displayName, emailAddress, timeZone}")
            .example("{}"),
        action::<ServerInfo>("server_info", "get", "Jira version, deployment type and base URL.")
            .op("GET", "/rest/api/3/serverInfo")
            .result("{baseUrl, version, deploymentType, serverTitle}")
            .example("{}"),
        action::<FieldsList>("issue_fields", "list", "Every system and custom field (id, name, schema).")
            .op("GET", "/rest/api/3/field")
            .result("array of fields {id, key, name, custom, schema}")
            .example("{}"),
        action::<FieldsSearch>("issue_fields", "search", "Fields filtered by text or type, paged.")
            .op("GET", "/rest/api/3/field/search")
            .paging(Paging::Offset { items: "values" })
            .result("array of fields")
            .example(r#"{"query": "story", "field_type": "custom"}"#),
        action::<FieldsResolve>("issue_fields", "resolve", "Resolve field names (e.g. Story Points) to ids (customfield_NNNNN).")
            .op("GET", "/rest/api/3/field")
            .result("{fields: {name: {id, name, custom, schema}}, unknown: [names]}")
            .example(r#"{"names": ["Story Points", "summary"]}"#),
        action::<IssueTypesList>("issue_types", "list", "Issue types visible to the connection.")
            .op("GET", "/rest/api/3/issuetype")
            .result("array of issue types {id, name, subtask, hierarchyLevel}")
            .example("{}"),
        action::<IssueTypesGet>("issue_types", "get", "One issue type.")
            .op("GET", "/rest/api/3/issuetype/{id}")
            .result("the issue type")
            .example(r#"{"issue_type_id": "10001"}"#),
        action::<IssueTypesForProject>("issue_types", "list_for_project", "Issue types of a project (by numeric project id).")
            .op("GET", "/rest/api/3/issuetype/project")
            .result("array of issue types")
            .example(r#"{"project_id": 10000}"#),
        action::<PrioritiesAll>("priorities", "list", "Every priority, all pages (needs admin scope manage:jira-configuration with OAuth).")
            .op("GET", "/rest/api/3/priority/search")
            .paging(Paging::Offset { items: "values" })
            .result("array of priorities {id, name, iconUrl, statusColor}")
            .example("{}"),
        action::<PrioritiesList>("priorities", "search", "Priorities filtered by name, paged (needs admin scope manage:jira-configuration with OAuth).")
            .op("GET", "/rest/api/3/priority/search")
            .paging(Paging::Offset { items: "values" })
            .result("array of priorities {id, name, iconUrl}")
            .example(r#"{"name": "High"}"#),
        action::<PrioritiesGet>("priorities", "get", "One priority.")
            .op("GET", "/rest/api/3/priority/{id}")
            .result("the priority")
            .example(r#"{"priority_id": "3"}"#),
        action::<StatusesList>("statuses", "list", "Every status (id, name, category).")
            .op("GET", "/rest/api/3/status")
            .result("array of statuses")
            .example("{}"),
        action::<StatusesGet>("statuses", "get", "One status by id or name.")
            .op("GET", "/rest/api/3/status/{idOrName}")
            .result("the status")
            .example(r#"{"status": "In Progress"}"#),
        action::<StatusesSearch>("statuses", "search", "Statuses filtered by project, text or category, paged.")
            .op("GET", "/rest/api/3/statuses/search")
            .paging(Paging::Offset { items: "values" })
            .result("array of statuses")
            .example(r#"{"query": "progress"}"#),
        action::<CreatemetaTypes>("createmeta", "issue_types", "Issue types that can be created in a project.")
            .op("GET", "/rest/api/3/issue/createmeta/{projectIdOrKey}/issuetypes")
            .paging(Paging::Offset { items: "issueTypes" })
            .result("array of issue types")
            .example(r#"{"project": "ACME"}"#),
        action::<CreatemetaFields>("createmeta", "fields", "Fields (required flags, allowed values) for creating an issue of a type.")
            .op("GET", "/rest/api/3/issue/createmeta/{projectIdOrKey}/issuetypes/{issueTypeId}")
            .paging(Paging::Offset { items: "fields" })
            .result("array of fields {fieldId, name, required, schema, allowedValues}")
            .example(r#"{"project": "ACME", "issue_type_id": "10001"}"#),
        action::<LabelsList>("labels", "list", "Labels used on the site.")
            .op("GET", "/rest/api/3/label")
            .paging(Paging::Offset { items: "values" })
            .result("array of label strings")
            .example("{}"),
        action::<JqlParse>("jql", "parse", "Parse and validate JQL queries.")
            .op("POST", "/rest/api/3/jql/parse")
            .reads()
            .result("{queries: [{query, structure, errors}]}")
            .example(r#"{"queries": ["project = ACME AND status = Done"]}"#),
        action::<JqlAutocomplete>("jql", "autocomplete", "JQL field names, operators and functions for building queries.")
            .op("GET", "/rest/api/3/jql/autocompletedata")
            .result("{visibleFieldNames, visibleFunctionNames, jqlReservedWords}")
            .example("{}"),
        action::<JqlSuggestions>("jql", "suggestions", "Value suggestions for a JQL field.")
            .op("GET", "/rest/api/3/jql/autocompletedata/suggestions")
            .result("{results: [{value, displayName}]}")
            .example(r#"{"field_name": "project", "field_value": "AC"}"#),
        action::<ResolutionsList>("resolutions", "list", "Resolutions.")
            .op("GET", "/rest/api/3/resolution/search")
            .paging(Paging::Offset { items: "values" })
            .result("array of resolutions {id, name}")
            .example("{}"),
    ]
}
