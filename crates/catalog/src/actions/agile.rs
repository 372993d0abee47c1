//! Jira Software (agile 1.0) actions: boards, sprints, backlog, epics.

use schemars::JsonSchema;
use serde::Deserialize;
use serde_json::json;

use super::common::put;
use super::platform::{newtype_params, paged, window};
use super::{Builder, Params, action};
use crate::def::Paging;
use crate::error::CatalogError;
use crate::plan::{Plan, Shape, path};

/// Board type.
#[derive(Deserialize, JsonSchema, Clone, Copy)]
#[serde(rename_all = "lowercase")]
pub(crate) enum BoardType {
    Scrum,
    Kanban,
    Simple,
}

paged! {
/// Boards visible to the connection.
#[derive(Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub(crate) struct BoardsList {
    /// Only boards whose name contains this text.
    #[serde(default)]
    pub name: Option<String>,
    /// Only boards of this project (key or id).
    #[serde(default)]
    pub project: Option<String>,
    /// `scrum`, `kanban` or `simple`.
    #[serde(default, rename = "type")]
    pub board_type: Option<BoardType>,
}
}

impl Params for BoardsList {
    fn plan(self) -> Result<Plan, CatalogError> {
        let kind = self.board_type.map(|t| match t {
            BoardType::Scrum => "scrum",
            BoardType::Kanban => "kanban",
            BoardType::Simple => "simple",
        });
        Ok(window!(
            Plan::get("/rest/agile/1.0/board".into())
                .q_opt("name", self.name.clone())
                .q_opt("projectKeyOrId", self.project.clone())
                .q_opt("type", kind),
            self
        ))
    }
}

/// One board.
#[derive(Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub(crate) struct BoardRef {
    /// Board id.
    pub board_id: u64,
}

struct BoardsGet(BoardRef);
struct BoardsConfiguration(BoardRef);

paged! {
/// Issues of a board (or its backlog), optionally narrowed by JQL.
#[derive(Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub(crate) struct BoardIssues {
    /// Board id.
    pub board_id: u64,
    /// Extra JQL filter, e.g. `assignee = currentUser()`.
    #[serde(default)]
    pub jql: Option<String>,
    /// Fields to return (default: navigable fields).
    #[serde(default)]
    pub fields: Option<Vec<String>>,
}
}

fn issues_page(template: &str, id: &str, jql: Option<String>, fields: Option<Vec<String>>) -> Plan {
    Plan::get(path(template, &[id]))
        .q_opt("jql", jql)
        .q_list("fields", fields)
        .shape(Shape::Issue)
}

impl Params for BoardIssues {
    fn plan(self) -> Result<Plan, CatalogError> {
        let id = self.board_id.to_string();
        Ok(window!(
            issues_page(
                "/rest/agile/1.0/board/{boardId}/issue",
                &id,
                self.jql.clone(),
                self.fields.clone()
            ),
            self
        ))
    }
}

struct BacklogList(BoardIssues);

paged! {
/// Projects or versions of a board.
#[derive(Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub(crate) struct BoardPaged {
    /// Board id.
    pub board_id: u64,
}
}

struct BoardsProjects(BoardPaged);

paged! {
/// Versions of a board's projects.
#[derive(Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub(crate) struct BoardVersions {
    /// Board id.
    pub board_id: u64,
    /// Only released (`true`) or unreleased (`false`) versions.
    #[serde(default)]
    pub released: Option<bool>,
}
}

impl Params for BoardVersions {
    fn plan(self) -> Result<Plan, CatalogError> {
        Ok(window!(
            Plan::get(path(
                "/rest/agile/1.0/board/{boardId}/version",
                &[&self.board_id.to_string()]
            ))
            .q_opt("released", self.released),
            self
        ))
    }
}

// ---------------------------------------------------------------- sprints

/// Sprint state.
#[derive(Deserialize, JsonSchema, Clone, Copy)]
#[serde(rename_all = "lowercase")]
pub(crate) enum SprintState {
    Future,
    Active,
    Closed,
}

impl SprintState {
    fn as_str(self) -> &'static str {
        match self {
            SprintState::Future => "future",
            SprintState::Active => "active",
            SprintState::Closed => "closed",
        }
    }
}

paged! {
/// Sprints of a board.
#[derive(Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub(crate) struct SprintsList {
    /// Board id (a scrum board).
    pub board_id: u64,
    /// Only sprints in these states.
    #[serde(default)]
    pub state: Option<Vec<SprintState>>,
}
}

impl Params for SprintsList {
    fn plan(self) -> Result<Plan, CatalogError> {
        let states = self
            .state
            .as_ref()
            .map(|s| s.iter().map(|x| x.as_str().to_owned()).collect());
        Ok(window!(
            Plan::get(path(
                "/rest/agile/1.0/board/{boardId}/sprint",
                &[&self.board_id.to_string()]
            ))
            .q_list("state", states),
            self
        ))
    }
}

/// One sprint.
#[derive(Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub(crate) struct SprintRef {
    /// Sprint id.
    pub sprint_id: u64,
}

struct SprintsGet(SprintRef);
struct SprintsDelete(SprintRef);
struct SprintsClose(SprintRef);

const SPRINT: &str = "/rest/agile/1.0/sprint/{sprintId}";

/// Create a sprint on a board.
#[derive(Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub(crate) struct SprintsCreate {
    /// Board id the sprint belongs to.
    pub board_id: u64,
    pub name: String,
    /// Sprint goal.
    #[serde(default)]
    pub goal: Option<String>,
    /// ISO 8601 date-time, e.g. `2024-05-01T09:00:00.000Z`.
    #[serde(default)]
    pub start_date: Option<String>,
    /// ISO 8601 date-time.
    #[serde(default)]
    pub end_date: Option<String>,
}

impl Params for SprintsCreate {
    fn plan(self) -> Result<Plan, CatalogError> {
        let mut body = json!({"name": self.name, "originBoardId": self.board_id});
        put(&mut body, "goal", self.goal);
        put(&mut body, "startDate", self.start_date);
        put(&mut body, "endDate", self.end_date);
        Ok(Plan::post("/rest/agile/1.0/sprint".into(), body))
    }
}

/// Change some fields of a sprint.
#[derive(Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub(crate) struct SprintsUpdate {
    /// Sprint id.
    pub sprint_id: u64,
    #[serde(default)]
    pub name: Option<String>,
    #[serde(default)]
    pub goal: Option<String>,
    /// ISO 8601 date-time.
    #[serde(default)]
    pub start_date: Option<String>,
    /// ISO 8601 date-time.
    #[serde(default)]
    pub end_date: Option<String>,
}

impl Params for SprintsUpdate {
    fn plan(self) -> Result<Plan, CatalogError> {
        let mut body = json!({});
        put(&mut body, "name", self.name);
        put(&mut body, "goal", self.goal);
        put(&mut body, "startDate", self.start_date);
        put(&mut body, "endDate", self.end_date);
        Ok(Plan::post(
            path(SPRINT, &[&self.sprint_id.to_string()]),
            body,
        ))
    }
}

/// Start a future sprint.
#[derive(Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub(crate) struct SprintsStart {
    /// Sprint id.
    pub sprint_id: u64,
    /// ISO 8601 date-time (required by Jira unless already set on the sprint).
    #[serde(default)]
    pub start_date: Option<String>,
    /// ISO 8601 date-time (required by Jira unless already set on the sprint).
    #[serde(default)]
    pub end_date: Option<String>,
}

impl Params for SprintsStart {
    fn plan(self) -> Result<Plan, CatalogError> {
        let mut body = json!({"state": "active"});
        put(&mut body, "startDate", self.start_date);
        put(&mut body, "endDate", self.end_date);
        Ok(Plan::post(
            path(SPRINT, &[&self.sprint_id.to_string()]),
            body,
        ))
    }
}

paged! {
/// Issues in a sprint.
#[derive(Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub(crate) struct SprintIssues {
    /// Sprint id.
    pub sprint_id: u64,
    /// Extra JQL filter.
    #[serde(default)]
    pub jql: Option<String>,
    /// Fields to return.
    #[serde(default)]
    pub fields: Option<Vec<String>>,
}
}

impl Params for SprintIssues {
    fn plan(self) -> Result<Plan, CatalogError> {
        let id = self.sprint_id.to_string();
        Ok(window!(
            issues_page(
                "/rest/agile/1.0/sprint/{sprintId}/issue",
                &id,
                self.jql.clone(),
                self.fields.clone()
            ),
            self
        ))
    }
}

/// Move issues into a sprint.
#[derive(Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub(crate) struct SprintsMoveIssues {
    /// Sprint id.
    pub sprint_id: u64,
    /// Issue keys or ids (at most 50).
    #[schemars(length(min = 1, max = 50))]
    pub issues: Vec<String>,
    /// Rank the issues before this issue.
    #[serde(default)]
    pub rank_before: Option<String>,
    /// Rank the issues after this issue.
    #[serde(default)]
    pub rank_after: Option<String>,
}

impl Params for SprintsMoveIssues {
    fn plan(self) -> Result<Plan, CatalogError> {
        let mut body = json!({"issues": self.issues});
        put(&mut body, "rankBeforeIssue", self.rank_before);
        put(&mut body, "rankAfterIssue", self.rank_after);
        Ok(Plan::post(
            path(
                "/rest/agile/1.0/sprint/{sprintId}/issue",
                &[&self.sprint_id.to_string()],
            ),
            body,
        )
        .shape(Shape::Ack))
    }
}

/// Issues to move.
#[derive(Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub(crate) struct IssueList {
    /// Issue keys or ids (at most 50).
    #[schemars(length(min = 1, max = 50))]
    pub issues: Vec<String>,
}

struct BacklogMoveIssues(IssueList);
struct EpicsRemoveIssues(IssueList);

/// Rank issues before or after another issue.
#[derive(Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub(crate) struct IssuesRank {
    /// Issue keys or ids to rank (at most 50).
    #[schemars(length(min = 1, max = 50))]
    pub issues: Vec<String>,
    /// Put them before this issue.
    #[serde(default)]
    pub rank_before: Option<String>,
    /// Put them after this issue.
    #[serde(default)]
    pub rank_after: Option<String>,
}

impl Params for IssuesRank {
    fn plan(self) -> Result<Plan, CatalogError> {
        if self.rank_before.is_none() == self.rank_after.is_none() {
            return Err(CatalogError::invalid(
                "rank_before",
                "give exactly one of rank_before or rank_after",
            ));
        }
        let mut body = json!({"issues": self.issues});
        put(&mut body, "rankBeforeIssue", self.rank_before);
        put(&mut body, "rankAfterIssue", self.rank_after);
        Ok(Plan::with_method(
            http::Method::PUT,
            "/rest/agile/1.0/issue/rank".into(),
            Some(body),
        )
        .shape(Shape::Ack))
    }
}

// ---------------------------------------------------------------- epics

paged! {
/// Epics of a board.
#[derive(Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub(crate) struct EpicsList {
    /// Board id.
    pub board_id: u64,
    /// Only done (`true`) or not done (`false`) epics.
    #[serde(default)]
    pub done: Option<bool>,
}
}

impl Params for EpicsList {
    fn plan(self) -> Result<Plan, CatalogError> {
        Ok(window!(
            Plan::get(path(
                "/rest/agile/1.0/board/{boardId}/epic",
                &[&self.board_id.to_string()]
            ))
            .q_opt("done", self.done),
            self
        ))
    }
}

/// One epic.
#[derive(Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub(crate) struct EpicRef {
    /// Epic issue key or id.
    pub epic: String,
}

struct EpicsGet(EpicRef);

paged! {
/// Issues of an epic.
#[derive(Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub(crate) struct EpicIssues {
    /// Epic issue key or id.
    pub epic: String,
    /// Extra JQL filter.
    #[serde(default)]
    pub jql: Option<String>,
    /// Fields to return.
    #[serde(default)]
    pub fields: Option<Vec<String>>,
}
}

impl Params for EpicIssues {
    fn plan(self) -> Result<Plan, CatalogError> {
        Ok(window!(
            issues_page(
                "/rest/agile/1.0/epic/{epicIdOrKey}/issue",
                &self.epic,
                self.jql.clone(),
                self.fields.clone()
            ),
            self
        ))
    }
}

/// Move issues into an epic.
#[derive(Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub(crate) struct EpicsMoveIssues {
    /// Epic issue key or id.
    pub epic: String,
    /// Issue keys or ids (at most 50).
    #[schemars(length(min = 1, max = 50))]
    pub issues: Vec<String>,
}

impl Params for EpicsMoveIssues {
    fn plan(self) -> Result<Plan, CatalogError> {
        Ok(Plan::post(
            path("/rest/agile/1.0/epic/{epicIdOrKey}/issue", &[&self.epic]),
            json!({"issues": self.issues}),
        )
        .shape(Shape::Ack))
    }
}

/// Change an epic's name, summary, colour or done flag.
#[derive(Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub(crate) struct EpicsUpdate {
    /// Epic issue key or id.
    pub epic: String,
    #[serde(default)]
    pub name: Option<String>,
    #[serde(default)]
    pub summary: Option<String>,
    #[serde(default)]
    pub done: Option<bool>,
    /// Colour key, e.g. `color_4`.
    #[serde(default)]
    pub color: Option<String>,
}

impl Params for EpicsUpdate {
    fn plan(self) -> Result<Plan, CatalogError> {
        let mut body = json!({});
        put(&mut body, "name", self.name);
        put(&mut body, "summary", self.summary);
        put(&mut body, "done", self.done);
        put(&mut body, "color", self.color.map(|c| json!({"key": c})));
        Ok(Plan::post(
            path("/rest/agile/1.0/epic/{epicIdOrKey}", &[&self.epic]),
            body,
        ))
    }
}

newtype_params!(BoardsGet(BoardRef), |p| Plan::get(path(
    "/rest/agile/1.0/board/{boardId}",
    &[&p.board_id.to_string()]
)));
newtype_params!(BoardsConfiguration(BoardRef), |p| Plan::get(path(
    "/rest/agile/1.0/board/{boardId}/configuration",
    &[&p.board_id.to_string()]
)));
newtype_params!(BacklogList(BoardIssues), |p| {
    let id = p.board_id.to_string();
    window!(
        issues_page(
            "/rest/agile/1.0/board/{boardId}/backlog",
            &id,
            p.jql.clone(),
            p.fields.clone()
        ),
        p
    )
});
newtype_params!(BoardsProjects(BoardPaged), |p| window!(
    Plan::get(path(
        "/rest/agile/1.0/board/{boardId}/project",
        &[&p.board_id.to_string()]
    )),
    p
));
newtype_params!(SprintsGet(SprintRef), |p| Plan::get(path(
    SPRINT,
    &[&p.sprint_id.to_string()]
)));
newtype_params!(SprintsDelete(SprintRef), |p| Plan::delete(path(
    SPRINT,
    &[&p.sprint_id.to_string()]
)));
newtype_params!(SprintsClose(SprintRef), |p| Plan::post(
    path(SPRINT, &[&p.sprint_id.to_string()]),
    json!({"state": "closed"})
));
newtype_params!(BacklogMoveIssues(IssueList), |p| Plan::post(
    "/rest/agile/1.0/backlog/issue".into(),
    json!({"issues": p.issues})
)
.shape(Shape::Ack));
newtype_params!(EpicsRemoveIssues(IssueList), |p| Plan::post(
    "/rest/agile/1.0/epic/none/issue".into(),
    json!({"issues": p.issues})
)
.shape(Shape::Ack));
newtype_params!(EpicsGet(EpicRef), |p| Plan::get(path(
    "/rest/agile/1.0/epic/{epicIdOrKey}",
    &[&p.epic]
)));

pub(crate) fn actions() -> Vec<Builder> {
    vec![
        action::<BoardsList>("boards", "list", "Agile boards, filterable by name, project and type.")
            .op("GET", "/rest/agile/1.0/board")
            .paging(Paging::Agile { items: "values" })
            .result("array of boards {id, name, type, location}")
            .example(r#"{"project": "ACME", "type": "scrum"}"#),
        action::<BoardsGet>("boards", "get", "One board.")
            .op("GET", "/rest/agile/1.0/board/{boardId}")
            .result("the board")
            .example(r#"{"board_id": 1}"#),
        action::<BoardsConfiguration>("boards", "configuration", "A board's columns, estimation field and filter.")
            .op("GET", "/rest/agile/1.0/board/{boardId}/configuration")
            .result("{columnConfig, estimation, filter, ranking}")
            .example(r#"{"board_id": 1}"#),
        action::<BoardIssues>("boards", "issues", "Issues on a board, optionally filtered by JQL.")
            .op("GET", "/rest/agile/1.0/board/{boardId}/issue")
            .deprecated_without_replacement()
            .paging(Paging::Agile { items: "issues" })
            .result("array of issues")
            .example(r#"{"board_id": 1, "jql": "status != Done"}"#),
        action::<BoardsProjects>("boards", "projects", "Projects a board shows.")
            .op("GET", "/rest/agile/1.0/board/{boardId}/project")
            .paging(Paging::Agile { items: "values" })
            .result("array of projects")
            .example(r#"{"board_id": 1}"#),
        action::<BoardVersions>("boards", "versions", "Versions of a board's projects.")
            .op("GET", "/rest/agile/1.0/board/{boardId}/version")
            .paging(Paging::Agile { items: "values" })
            .result("array of versions")
            .example(r#"{"board_id": 1, "released": false}"#),
        action::<BacklogList>("backlog", "list", "Issues in a board's backlog.")
            .op("GET", "/rest/agile/1.0/board/{boardId}/backlog")
            .deprecated_without_replacement()
            .paging(Paging::Agile { items: "issues" })
            .result("array of issues")
            .example(r#"{"board_id": 1}"#),
        action::<BacklogMoveIssues>("backlog", "move_issues", "Move issues to the backlog (out of sprints).")
            .op("POST", "/rest/agile/1.0/backlog/issue")
            .result("{ok: true}")
            .example(r#"{"issues": ["ACME-1", "ACME-2"]}"#),
        action::<SprintsList>("sprints", "list", "Sprints of a board.")
            .op("GET", "/rest/agile/1.0/board/{boardId}/sprint")
            .paging(Paging::Agile { items: "values" })
            .result("array of sprints {id, name, state, startDate, endDate, goal}")
            .example(r#"{"board_id": 1, "state": ["active", "future"]}"#),
        action::<SprintsGet>("sprints", "get", "One sprint.")
            .op("GET", SPRINT)
            .result("the sprint")
            .example(r#"{"sprint_id": 1}"#),
        action::<SprintsCreate>("sprints", "create", "Create a future sprint on a board.")
            .op("POST", "/rest/agile/1.0/sprint")
            .result("the sprint")
            .example(r#"{"board_id": 1, "name": "Sprint 7", "goal": "Ship login"}"#),
        action::<SprintsUpdate>("sprints", "update", "Rename a sprint or change its goal or dates.")
            .op("POST", SPRINT)
            .result("the sprint")
            .example(r#"{"sprint_id": 1, "goal": "Ship login and signup"}"#),
        action::<SprintsStart>("sprints", "start", "Start a future sprint.")
            .op("POST", SPRINT)
            .result("the sprint (state active)")
            .example(r#"{"sprint_id": 1, "start_date": "2024-05-01T09:00:00.000Z", "end_date": "2024-05-15T17:00:00.000Z"}"#),
        action::<SprintsClose>("sprints", "close", "Close an active sprint.")
            .op("POST", SPRINT)
            .result("the sprint (state closed)")
            .example(r#"{"sprint_id": 1}"#),
        action::<SprintsDelete>("sprints", "delete", "Delete a sprint.")
            .op("DELETE", SPRINT)
            .result("{ok: true}")
            .example(r#"{"sprint_id": 1}"#),
        action::<SprintIssues>("sprints", "issues", "Issues in a sprint.")
            .op("GET", "/rest/agile/1.0/sprint/{sprintId}/issue")
            .deprecated_without_replacement()
            .paging(Paging::Agile { items: "issues" })
            .result("array of issues")
            .example(r#"{"sprint_id": 1, "fields": ["summary", "status"]}"#),
        action::<SprintsMoveIssues>("sprints", "move_issues", "Move issues into a sprint.")
            .op("POST", "/rest/agile/1.0/sprint/{sprintId}/issue")
            .result("{ok: true}")
            .example(r#"{"sprint_id": 1, "issues": ["ACME-1", "ACME-2"]}"#),
        action::<IssuesRank>("issues", "rank", "Rank issues before or after another issue.")
            .op("PUT", "/rest/agile/1.0/issue/rank")
            .result("{ok: true}")
            .example(r#"{"issues": ["ACME-3"], "rank_before": "ACME-1"}"#),
        action::<EpicsList>("epics", "list", "Epics of a board.")
            .op("GET", "/rest/agile/1.0/board/{boardId}/epic")
            .paging(Paging::Agile { items: "values" })
            .result("array of epics {id, key, name, summary, done}")
            .example(r#"{"board_id": 1, "done": false}"#),
        action::<EpicsGet>("epics", "get", "One epic.")
            .op("GET", "/rest/agile/1.0/epic/{epicIdOrKey}")
            .result("the epic")
            .example(r#"{"epic": "ACME-10"}"#),
        action::<EpicIssues>("epics", "issues", "Issues of an epic (company-managed projects; for team-managed ones the spec points to issues.search with `parent = <epic>`).")
            .op("GET", "/rest/agile/1.0/epic/{epicIdOrKey}/issue")
            .deprecated_without_replacement()
            .paging(Paging::Agile { items: "issues" })
            .result("array of issues")
            .example(r#"{"epic": "ACME-10"}"#),
        action::<EpicsMoveIssues>("epics", "move_issues", "Move issues into an epic.")
            .op("POST", "/rest/agile/1.0/epic/{epicIdOrKey}/issue")
            .result("{ok: true}")
            .example(r#"{"epic": "ACME-10", "issues": ["ACME-1"]}"#),
        action::<EpicsRemoveIssues>("epics", "remove_issues", "Remove issues from their epic.")
            .op("POST", "/rest/agile/1.0/epic/none/issue")
            .result("{ok: true}")
            .example(r#"{"issues": ["ACME-1"]}"#),
        action::<EpicsUpdate>("epics", "update", "Change an epic's name, summary, colour or done flag.")
            .op("POST", "/rest/agile/1.0/epic/{epicIdOrKey}")
            .result("the epic")
            .example(r#"{"epic": "ACME-10", "done": true}"#),
    ]
}
