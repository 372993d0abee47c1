//! Validates the simulator's answers against the response schemas of Atlassian's OpenAPI
//! documents, for every operation the simulator implements.

use std::collections::{BTreeSet, HashMap};
use std::path::PathBuf;

use atlassian_sim::SimHandle;
use atlassian_sim::routes::{OpSpec, operations};
use reqwest::Method;
use reqwest::multipart::{Form, Part};
use serde_json::{Value, json};

use crate::common::*;

fn specs_dir() -> PathBuf {
    // The specs live next to the project (../shared/specs from the workspace root).
    let manifest = PathBuf::from(env!("CARGO_MANIFEST_DIR"));
    let candidates = [
        std::env::var("JIRAGATE_SPECS_DIR")
            .map(PathBuf::from)
            .unwrap_or_default(),
        manifest.join("../../../shared/specs"),
        PathBuf::from("/work/shared/specs"),
    ];
    candidates
        .into_iter()
        .find(|p| p.join("jira-platform-v3.json").exists())
        .expect("Atlassian specs directory")
}

/// OpenAPI 3.0 -> JSON Schema: `nullable` becomes `type: [T, "null"]`; a composition
/// (`anyOf`/`oneOf`/`allOf`) with `additionalProperties: false` but no `properties` of its own
/// loses that keyword, since generators mean it for the union (as written it rejects every
/// non-empty object, including Atlassian's own examples).
fn openapi_to_json_schema(v: &mut Value) {
    match v {
        Value::Object(o) => {
            let composed = ["anyOf", "oneOf", "allOf"]
                .iter()
                .any(|k| o.contains_key(*k));
            if composed
                && !o.contains_key("properties")
                && o.get("additionalProperties") == Some(&Value::Bool(false))
            {
                o.remove("additionalProperties");
            }
            if o.get("nullable") == Some(&Value::Bool(true)) {
                if let Some(Value::String(t)) = o.get("type").cloned() {
                    o.insert("type".into(), json!([t, "null"]));
                } else if !o.contains_key("type") {
                    let inner = Value::Object(o.clone());
                    o.clear();
                    o.insert("anyOf".into(), json!([inner, {"type": "null"}]));
                }
            }
            for child in o.values_mut() {
                openapi_to_json_schema(child);
            }
        }
        Value::Array(a) => a.iter_mut().for_each(openapi_to_json_schema),
        _ => {}
    }
}

struct Spec {
    doc: Value,
    components: Value,
}

struct Checker {
    sim: SimHandle,
    specs: HashMap<&'static str, Spec>,
    covered: BTreeSet<&'static str>,
    failures: Vec<String>,
}

impl Checker {
    fn op(&self, operation_id: &str) -> &'static OpSpec {
        operations()
            .iter()
            .find(|o| o.operation_id == operation_id)
            .unwrap_or_else(|| panic!("{operation_id} is not implemented"))
    }

    fn validate(&mut self, op: &'static OpSpec, status: u16, body: &Value, raw_len: usize) {
        let spec = &self.specs[op.api.spec_file()];
        let responses = &spec.doc["paths"][op.template][op.method.to_lowercase()]["responses"];
        if status == 410 && op.template == "/rest/api/3/search" {
            // Removed by Atlassian after the document was written; the spec still shows it live.
            return;
        }
        let Some(resp) = responses
            .get(status.to_string())
            .or_else(|| responses.get("default"))
        else {
            self.failures.push(format!(
                "{}: status {status} is not documented",
                op.operation_id
            ));
            return;
        };
        let Some(schema) = resp.pointer("/content/application~1json/schema") else {
            // Documented without a JSON body (204 and the like).
            if raw_len > 0 && status == 204 {
                self.failures
                    .push(format!("{}: 204 with a body", op.operation_id));
            }
            return;
        };
        let mut schema = schema.clone();
        openapi_to_json_schema(&mut schema);
        let root = json!({"allOf": [schema], "components": spec.components});
        let validator = jsonschema::options()
            .with_draft(jsonschema::Draft::Draft4)
            .should_validate_formats(false)
            .build(&root)
            .unwrap_or_else(|e| panic!("schema of {} does not compile: {e}", op.operation_id));
        let errors: Vec<String> = validator
            .iter_errors(body)
            .take(5)
            .map(|e| format!("{} at {}", e, e.instance_path()))
            .collect();
        if !errors.is_empty() {
            self.failures.push(format!(
                "{} ({status}): {}",
                op.operation_id,
                errors.join("; ")
            ));
        }
    }

    async fn call(
        &mut self,
        operation_id: &str,
        method: Method,
        path: &str,
        body: Option<Value>,
    ) -> Value {
        // Resolve by route: an operationId may name more than one path (getOrganizations).
        let route = path.split('?').next().unwrap_or(path);
        let op = match atlassian_sim::routes::find(method.as_str(), route) {
            atlassian_sim::routes::Match::Found(op, _) if op.operation_id == operation_id => op,
            _ => self.op(operation_id),
        };
        assert_eq!(op.method, method.as_str(), "{operation_id} method");
        let mut req = site_req(&self.sim, method, path);
        if op.opt_in_header {
            req = req.header("X-ExperimentalApi", "opt-in");
        }
        if let Some(b) = body {
            req = req.json(&b);
        }
        let resp = req.send().await.expect("send");
        self.finish(op, resp).await
    }

    /// The same through the gateway with an OAuth 2.0 (3LO) access token (operations only
    /// apps may call).
    async fn call_app(
        &mut self,
        operation_id: &str,
        method: Method,
        path: &str,
        body: Option<Value>,
        token: &str,
    ) -> Value {
        let op = self.op(operation_id);
        assert_eq!(op.method, method.as_str(), "{operation_id} method");
        let mut req = gateway_req(&self.sim, 0, method, path, token);
        if let Some(b) = body {
            req = req.json(&b);
        }
        let resp = req.send().await.expect("send");
        self.finish(op, resp).await
    }

    async fn finish(&mut self, op: &'static OpSpec, resp: reqwest::Response) -> Value {
        let status = resp.status().as_u16();
        let bytes = resp.bytes().await.expect("body");
        let body: Value = serde_json::from_slice(&bytes).unwrap_or(Value::Null);
        if !(200..300).contains(&status) && status != 410 {
            self.failures.push(format!(
                "{}: unexpected status {status}: {}",
                op.operation_id,
                String::from_utf8_lossy(&bytes)
            ));
        }
        self.covered.insert(op.operation_id);
        self.validate(op, status, &body, bytes.len());
        body
    }
}

/// The generated table's flags against the documents themselves: `experimental` is the
/// operation's `x-experimental`, and `opt_in_header` is set exactly for experimental
/// operations of a document that requires `X-ExperimentalApi: opt-in`.
#[test]
fn route_table_flags_match_the_specs() {
    let dir = specs_dir();
    let mut docs: HashMap<&str, (Value, bool)> = HashMap::new();
    for file in [
        "jira-platform-v3.json",
        "jira-software-agile.json",
        "jira-service-management.json",
    ] {
        let doc: Value = serde_json::from_slice(&std::fs::read(dir.join(file)).expect("spec"))
            .expect("spec JSON");
        // "Experimental operations must include the `X-ExperimentalApi: opt-in` header in
        // requests" appears in the Service Management narrative, nowhere in the others.
        let mut rest = doc.clone();
        rest.as_object_mut().unwrap().remove("paths");
        let requires = rest.to_string().contains("X-ExperimentalApi: opt-in");
        docs.insert(file, (doc, requires));
    }
    assert!(docs["jira-service-management.json"].1);
    assert!(!docs["jira-platform-v3.json"].1);
    let mut opt_in = 0;
    for op in operations() {
        let (doc, requires) = &docs[op.api.spec_file()];
        let spec_op = &doc["paths"][op.template][op.method.to_lowercase()];
        let experimental = spec_op["x-experimental"].as_bool().unwrap_or(false);
        assert_eq!(op.experimental, experimental, "{}", op.operation_id);
        assert_eq!(
            op.opt_in_header,
            experimental && *requires,
            "{}",
            op.operation_id
        );
        opt_in += usize::from(op.opt_in_header);
    }
    assert!(
        opt_in >= 3,
        "only {opt_in} operations need the opt-in header"
    );
}

#[tokio::test]
async fn every_implemented_operation_matches_its_response_schema() {
    let dir = specs_dir();
    let mut specs = HashMap::new();
    for file in [
        "jira-platform-v3.json",
        "jira-software-agile.json",
        "jira-service-management.json",
    ] {
        let doc: Value = serde_json::from_slice(&std::fs::read(dir.join(file)).expect("spec"))
            .expect("spec JSON");
        let mut components = doc["components"].clone();
        openapi_to_json_schema(&mut components);
        specs.insert(file, Spec { doc, components });
    }
    let sim = sim(200).await;
    let me = sim.users[0].account_id.clone();
    let bob = sim.users[1].account_id.clone();
    let mut c = Checker {
        sim,
        specs,
        covered: BTreeSet::new(),
        failures: Vec::new(),
    };
    let adf = json!({"type": "doc", "version": 1, "content": [{"type": "paragraph", "content": [{"type": "text", "text": "conformance"}]}]});

    // Reference data.
    c.call("getCurrentUser", Method::GET, "/rest/api/3/myself", None)
        .await;
    c.call("getServerInfo", Method::GET, "/rest/api/3/serverInfo", None)
        .await;
    c.call("getAllProjects", Method::GET, "/rest/api/3/project", None)
        .await;
    c.call(
        "searchProjects",
        Method::GET,
        "/rest/api/3/project/search?expand=insight&maxResults=2",
        None,
    )
    .await;
    c.call("getProject", Method::GET, "/rest/api/3/project/ENG", None)
        .await;
    c.call(
        "getAllStatuses",
        Method::GET,
        "/rest/api/3/project/HELP/statuses",
        None,
    )
    .await;
    c.call(
        "getProjectVersions",
        Method::GET,
        "/rest/api/3/project/ENG/versions",
        None,
    )
    .await;
    c.call(
        "getProjectVersionsPaginated",
        Method::GET,
        "/rest/api/3/project/ENG/version?maxResults=1",
        None,
    )
    .await;
    let v = c
        .call(
            "createVersion",
            Method::POST,
            "/rest/api/3/version",
            Some(json!({"projectId": 10000, "name": "9.9", "releaseDate": "2030-01-01"})),
        )
        .await;
    let vid = s(&v["id"]);
    c.call(
        "getVersion",
        Method::GET,
        &format!("/rest/api/3/version/{vid}"),
        None,
    )
    .await;
    c.call(
        "updateVersion",
        Method::PUT,
        &format!("/rest/api/3/version/{vid}"),
        Some(json!({"description": "updated"})),
    )
    .await;
    let spare = c
        .call(
            "createVersion",
            Method::POST,
            "/rest/api/3/version",
            Some(json!({"projectId": 10000, "name": "9.8"})),
        )
        .await;
    c.call(
        "deleteAndReplaceVersion",
        Method::POST,
        &format!("/rest/api/3/version/{}/removeAndSwap", s(&spare["id"])),
        Some(json!({"moveFixIssuesTo": vid})),
    )
    .await;
    let comp = c
        .call(
            "createComponent",
            Method::POST,
            "/rest/api/3/component",
            Some(json!({"project": "ENG", "name": "Conformance", "leadAccountId": me})),
        )
        .await;
    let comp_id = s(&comp["id"]);
    c.call(
        "updateComponent",
        Method::PUT,
        &format!("/rest/api/3/component/{comp_id}"),
        Some(json!({"description": "updated"})),
    )
    .await;
    let doomed = c
        .call(
            "createComponent",
            Method::POST,
            "/rest/api/3/component",
            Some(json!({"project": "ENG", "name": "Doomed"})),
        )
        .await;
    c.call(
        "getComponent",
        Method::GET,
        &format!("/rest/api/3/component/{comp_id}"),
        None,
    )
    .await;
    c.call(
        "getProjectComponents",
        Method::GET,
        "/rest/api/3/project/ENG/components",
        None,
    )
    .await;
    c.call(
        "getProjectComponentsPaginated",
        Method::GET,
        "/rest/api/3/project/ENG/component",
        None,
    )
    .await;
    c.call(
        "getIssueAllTypes",
        Method::GET,
        "/rest/api/3/issuetype",
        None,
    )
    .await;
    c.call(
        "getIssueType",
        Method::GET,
        "/rest/api/3/issuetype/10001",
        None,
    )
    .await;
    c.call("getFields", Method::GET, "/rest/api/3/field", None)
        .await;
    c.call("getPriorities", Method::GET, "/rest/api/3/priority", None)
        .await;
    c.call("getPriority", Method::GET, "/rest/api/3/priority/3", None)
        .await;
    c.call("getStatuses", Method::GET, "/rest/api/3/status", None)
        .await;
    c.call(
        "searchPriorities",
        Method::GET,
        "/rest/api/3/priority/search?maxResults=2",
        None,
    )
    .await;
    c.call("getStatus", Method::GET, "/rest/api/3/status/Done", None)
        .await;
    c.call(
        "search",
        Method::GET,
        "/rest/api/3/statuses/search?projectId=10000",
        None,
    )
    .await;
    c.call(
        "searchResolutions",
        Method::GET,
        "/rest/api/3/resolution/search",
        None,
    )
    .await;
    c.call(
        "getFieldsPaginated",
        Method::GET,
        "/rest/api/3/field/search?type=custom&maxResults=3",
        None,
    )
    .await;
    c.call(
        "getIssueTypesForProject",
        Method::GET,
        "/rest/api/3/issuetype/project?projectId=10000",
        None,
    )
    .await;
    c.call(
        "getAttachmentMeta",
        Method::GET,
        "/rest/api/3/attachment/meta",
        None,
    )
    .await;
    c.call(
        "getEditIssueMeta",
        Method::GET,
        "/rest/api/3/issue/ENG-1/editmeta",
        None,
    )
    .await;
    c.call("getAllUsers", Method::GET, "/rest/api/3/users/search", None)
        .await;
    c.call(
        "getUser",
        Method::GET,
        &format!("/rest/api/3/user?accountId={me}"),
        None,
    )
    .await;
    c.call(
        "findUsers",
        Method::GET,
        "/rest/api/3/user/search?query=a",
        None,
    )
    .await;
    c.call(
        "findAssignableUsers",
        Method::GET,
        "/rest/api/3/user/assignable/search?project=ENG",
        None,
    )
    .await;
    c.call("getAllLabels", Method::GET, "/rest/api/3/label", None)
        .await;
    c.call(
        "getIssueLinkTypes",
        Method::GET,
        "/rest/api/3/issueLinkType",
        None,
    )
    .await;
    c.call(
        "getCreateIssueMetaIssueTypes",
        Method::GET,
        "/rest/api/3/issue/createmeta/ENG/issuetypes",
        None,
    )
    .await;
    c.call(
        "getCreateIssueMetaIssueTypeId",
        Method::GET,
        "/rest/api/3/issue/createmeta/ENG/issuetypes/10002",
        None,
    )
    .await;

    // Issues.
    let created = c
        .call(
            "createIssue",
            Method::POST,
            "/rest/api/3/issue",
            Some(json!({"fields": {"project": {"key": "ENG"}, "summary": "Conformance", "issuetype": {"name": "Story"}, "description": adf,
                                   "labels": ["conf"], "components": [{"id": comp_id}], "fixVersions": [{"id": vid}], "duedate": "2030-02-01",
                                   "parent": {"key": "ENG-1"}, "customfield_10016": 3, "customfield_10020": 2}})),
        )
        .await;
    let key = s(&created["key"]);
    c.call(
        "createIssues",
        Method::POST,
        "/rest/api/3/issue/bulk",
        Some(json!({"issueUpdates": [
        {"fields": {"project": {"key": "OPS"}, "summary": "b1", "issuetype": {"name": "Task"}}},
        {"fields": {"project": {"key": "OPS"}, "issuetype": {"name": "Task"}}}]})),
    )
    .await;
    c.call(
        "editIssue",
        Method::PUT,
        &format!("/rest/api/3/issue/{key}"),
        Some(json!({"fields": {"summary": "Conformance 2"}})),
    )
    .await;
    c.call(
        "assignIssue",
        Method::PUT,
        &format!("/rest/api/3/issue/{key}/assignee"),
        Some(json!({"accountId": bob})),
    )
    .await;
    let tr = c
        .call(
            "getTransitions",
            Method::GET,
            &format!("/rest/api/3/issue/{key}/transitions"),
            None,
        )
        .await;
    c.call(
        "doTransition",
        Method::POST,
        &format!("/rest/api/3/issue/{key}/transitions"),
        Some(json!({"transition": {"id": tr["transitions"][0]["id"]}})),
    )
    .await;
    c.call(
        "getChangeLogs",
        Method::GET,
        &format!("/rest/api/3/issue/{key}/changelog"),
        None,
    )
    .await;
    let comment = c
        .call(
            "addComment",
            Method::POST,
            &format!("/rest/api/3/issue/{key}/comment"),
            Some(json!({"body": adf})),
        )
        .await;
    let cid = s(&comment["id"]);
    c.call(
        "getComments",
        Method::GET,
        &format!("/rest/api/3/issue/{key}/comment"),
        None,
    )
    .await;
    c.call(
        "getComment",
        Method::GET,
        &format!("/rest/api/3/issue/{key}/comment/{cid}"),
        None,
    )
    .await;
    c.call(
        "updateComment",
        Method::PUT,
        &format!("/rest/api/3/issue/{key}/comment/{cid}"),
        Some(json!({"body": adf})),
    )
    .await;
    let w = c
        .call(
            "addWorklog",
            Method::POST,
            &format!("/rest/api/3/issue/{key}/worklog"),
            Some(json!({"timeSpent": "2h", "comment": adf})),
        )
        .await;
    let wid = s(&w["id"]);
    c.call(
        "getIssueWorklog",
        Method::GET,
        &format!("/rest/api/3/issue/{key}/worklog"),
        None,
    )
    .await;
    c.call(
        "getWorklog",
        Method::GET,
        &format!("/rest/api/3/issue/{key}/worklog/{wid}"),
        None,
    )
    .await;
    c.call(
        "updateWorklog",
        Method::PUT,
        &format!("/rest/api/3/issue/{key}/worklog/{wid}"),
        Some(json!({"timeSpentSeconds": 60})),
    )
    .await;
    c.call(
        "addWatcher",
        Method::POST,
        &format!("/rest/api/3/issue/{key}/watchers"),
        Some(json!(bob)),
    )
    .await;
    c.call(
        "getIssueWatchers",
        Method::GET,
        &format!("/rest/api/3/issue/{key}/watchers"),
        None,
    )
    .await;
    c.call(
        "removeWatcher",
        Method::DELETE,
        &format!("/rest/api/3/issue/{key}/watchers?accountId={bob}"),
        None,
    )
    .await;
    let form = Form::new().part(
        "file",
        Part::bytes(&b"conformance"[..])
            .file_name("c.txt")
            .mime_str("text/plain")
            .unwrap(),
    );
    let op = c.op("addAttachment");
    let resp = site_req(
        &c.sim,
        Method::POST,
        &format!("/rest/api/3/issue/{key}/attachments"),
    )
    .header("X-Atlassian-Token", "no-check")
    .multipart(form)
    .send()
    .await
    .unwrap();
    let att = c.finish(op, resp).await;
    let aid = s(&att[0]["id"]);
    c.call(
        "getAttachment",
        Method::GET,
        &format!("/rest/api/3/attachment/{aid}"),
        None,
    )
    .await;
    let op = c.op("getAttachmentContent");
    let resp = site_req(
        &c.sim,
        Method::GET,
        &format!("/rest/api/3/attachment/content/{aid}"),
    )
    .send()
    .await
    .unwrap();
    assert_eq!(resp.status(), 200);
    assert_eq!(resp.bytes().await.unwrap().as_ref(), b"conformance");
    c.covered.insert(op.operation_id);
    c.call("linkIssues", Method::POST, "/rest/api/3/issueLink", Some(json!({"type": {"name": "Relates"}, "inwardIssue": {"key": key}, "outwardIssue": {"key": "ENG-2"}}))).await;
    c.call(
        "getIssue",
        Method::GET,
        &format!(
            "/rest/api/3/issue/{key}?expand=changelog,renderedFields,names,schema,transitions"
        ),
        None,
    )
    .await;
    let seeded = c
        .call(
            "getIssue",
            Method::GET,
            "/rest/api/3/issue/ENG-2?fields=*all",
            None,
        )
        .await;
    let link_id = s(&seeded["fields"]["issuelinks"][0]["id"]);
    c.call(
        "getIssueLink",
        Method::GET,
        &format!("/rest/api/3/issueLink/{link_id}"),
        None,
    )
    .await;
    c.call("getIssue", Method::GET, "/rest/api/3/issue/HELP-1", None)
        .await;

    // Search.
    c.call("searchAndReconsileIssuesUsingJql", Method::GET, "/rest/api/3/search/jql?jql=project%20%3D%20ENG%20ORDER%20BY%20key&maxResults=5&fields=*all&expand=names,schema", None).await;
    c.call(
        "searchAndReconsileIssuesUsingJqlPost",
        Method::POST,
        "/rest/api/3/search/jql",
        Some(json!({"jql": "project = HELP", "maxResults": 3, "fields": ["*navigable"]})),
    )
    .await;
    c.call(
        "countIssues",
        Method::POST,
        "/rest/api/3/search/approximate-count",
        Some(json!({"jql": "project = ENG"})),
    )
    .await;
    c.call("parseJqlQueries", Method::POST, "/rest/api/3/jql/parse", Some(json!({"queries": ["project = ENG AND assignee = currentUser() ORDER BY key", "nope ="]}))).await;
    c.call(
        "getAutoComplete",
        Method::GET,
        "/rest/api/3/jql/autocompletedata",
        None,
    )
    .await;
    c.call(
        "getFieldAutoCompleteForQueryString",
        Method::GET,
        "/rest/api/3/jql/autocompletedata/suggestions?fieldName=status&fieldValue=do",
        None,
    )
    .await;
    c.call(
        "searchForIssuesUsingJql",
        Method::GET,
        "/rest/api/3/search?jql=project%20%3D%20ENG",
        None,
    )
    .await;
    c.call(
        "searchForIssuesUsingJqlPost",
        Method::POST,
        "/rest/api/3/search",
        Some(json!({"jql": "project = ENG"})),
    )
    .await;

    // Agile.
    c.call("getAllBoards", Method::GET, "/rest/agile/1.0/board", None)
        .await;
    c.call("getBoard", Method::GET, "/rest/agile/1.0/board/1", None)
        .await;
    c.call(
        "getConfiguration",
        Method::GET,
        "/rest/agile/1.0/board/1/configuration",
        None,
    )
    .await;
    c.call(
        "getAllSprints",
        Method::GET,
        "/rest/agile/1.0/board/1/sprint",
        None,
    )
    .await;
    c.call(
        "getIssuesForBacklog",
        Method::GET,
        "/rest/agile/1.0/board/1/backlog?maxResults=3",
        None,
    )
    .await;
    c.call(
        "getEpics",
        Method::GET,
        "/rest/agile/1.0/board/1/epic",
        None,
    )
    .await;
    c.call(
        "getIssuesForBoard",
        Method::GET,
        "/rest/agile/1.0/board/1/issue?maxResults=3",
        None,
    )
    .await;
    let sprint = c.call("createSprint", Method::POST, "/rest/agile/1.0/sprint", Some(json!({"name": "Conf sprint", "originBoardId": 1, "startDate": "2030-01-01T00:00:00.000Z", "endDate": "2030-01-14T00:00:00.000Z"}))).await;
    let sid = sprint["id"].as_u64().unwrap_or(0);
    c.call(
        "getSprint",
        Method::GET,
        &format!("/rest/agile/1.0/sprint/{sid}"),
        None,
    )
    .await;
    c.call(
        "partiallyUpdateSprint",
        Method::POST,
        &format!("/rest/agile/1.0/sprint/{sid}"),
        Some(json!({"goal": "conform"})),
    )
    .await;
    c.call(
        "updateSprint",
        Method::PUT,
        &format!("/rest/agile/1.0/sprint/{sid}"),
        Some(json!({"name": "Conf sprint", "state": "active"})),
    )
    .await;
    c.call(
        "moveIssuesToSprintAndRank",
        Method::POST,
        &format!("/rest/agile/1.0/sprint/{sid}/issue"),
        Some(json!({"issues": [key]})),
    )
    .await;
    c.call(
        "getIssuesForSprint",
        Method::GET,
        &format!("/rest/agile/1.0/sprint/{sid}/issue"),
        None,
    )
    .await;
    c.call(
        "moveIssuesToBacklog",
        Method::POST,
        "/rest/agile/1.0/backlog/issue",
        Some(json!({"issues": [key]})),
    )
    .await;
    c.call(
        "getProjects",
        Method::GET,
        "/rest/agile/1.0/board/1/project",
        None,
    )
    .await;
    c.call(
        "getAllVersions",
        Method::GET,
        "/rest/agile/1.0/board/1/version",
        None,
    )
    .await;
    let future = c
        .call(
            "createSprint",
            Method::POST,
            "/rest/agile/1.0/sprint",
            Some(json!({"name": "Doomed sprint", "originBoardId": 1})),
        )
        .await;
    c.call(
        "deleteSprint",
        Method::DELETE,
        &format!("/rest/agile/1.0/sprint/{}", future["id"]),
        None,
    )
    .await;
    c.call("getEpic", Method::GET, "/rest/agile/1.0/epic/ENG-1", None)
        .await;
    c.call(
        "getIssuesForEpic",
        Method::GET,
        "/rest/agile/1.0/epic/ENG-1/issue",
        None,
    )
    .await;
    c.call(
        "removeIssuesFromEpic",
        Method::POST,
        "/rest/agile/1.0/epic/none/issue",
        Some(json!({"issues": [key]})),
    )
    .await;
    c.call(
        "moveIssuesToEpic",
        Method::POST,
        "/rest/agile/1.0/epic/ENG-1/issue",
        Some(json!({"issues": [key]})),
    )
    .await;
    c.call(
        "partiallyUpdateEpic",
        Method::POST,
        "/rest/agile/1.0/epic/ENG-1",
        Some(json!({"summary": "Renamed epic", "color": {"key": "color_2"}})),
    )
    .await;
    c.call(
        "rankIssues",
        Method::PUT,
        "/rest/agile/1.0/issue/rank",
        Some(json!({"issues": [key], "rankBeforeIssue": "ENG-1"})),
    )
    .await;

    // Service management.
    c.call(
        "getServiceDesks",
        Method::GET,
        "/rest/servicedeskapi/servicedesk",
        None,
    )
    .await;
    c.call(
        "getServiceDeskById",
        Method::GET,
        "/rest/servicedeskapi/servicedesk/1",
        None,
    )
    .await;
    c.call(
        "getRequestTypes",
        Method::GET,
        "/rest/servicedeskapi/servicedesk/1/requesttype",
        None,
    )
    .await;
    c.call(
        "getRequestTypeFields",
        Method::GET,
        "/rest/servicedeskapi/servicedesk/1/requesttype/2/field",
        None,
    )
    .await;
    c.call(
        "getQueues",
        Method::GET,
        "/rest/servicedeskapi/servicedesk/1/queue?includeCount=true",
        None,
    )
    .await;
    c.call(
        "getQueue",
        Method::GET,
        "/rest/servicedeskapi/servicedesk/1/queue/1?includeCount=true",
        None,
    )
    .await;
    c.call(
        "getIssuesInQueue",
        Method::GET,
        "/rest/servicedeskapi/servicedesk/1/queue/1/issue?limit=3",
        None,
    )
    .await;
    c.call(
        "addCustomers",
        Method::POST,
        "/rest/servicedeskapi/servicedesk/1/customer",
        Some(json!({"accountIds": [bob]})),
    )
    .await;
    c.call(
        "getCustomers",
        Method::GET,
        "/rest/servicedeskapi/servicedesk/1/customer",
        None,
    )
    .await;
    c.call(
        "removeCustomers",
        Method::DELETE,
        "/rest/servicedeskapi/servicedesk/1/customer",
        Some(json!({"accountIds": [bob]})),
    )
    .await;
    let req = c.call("createCustomerRequest", Method::POST, "/rest/servicedeskapi/request", Some(json!({"serviceDeskId": "1", "requestTypeId": "1", "requestFieldValues": {"summary": "Help", "description": "Please"}}))).await;
    let rkey = s(&req["issueKey"]);
    c.call(
        "getCustomerRequests",
        Method::GET,
        "/rest/servicedeskapi/request?limit=3",
        None,
    )
    .await;
    c.call(
        "getCustomerRequestByIdOrKey",
        Method::GET,
        &format!("/rest/servicedeskapi/request/{rkey}"),
        None,
    )
    .await;
    let rc = c
        .call(
            "createRequestComment",
            Method::POST,
            &format!("/rest/servicedeskapi/request/{rkey}/comment"),
            Some(json!({"body": "hi", "public": true})),
        )
        .await;
    c.call(
        "getRequestCommentById",
        Method::GET,
        &format!(
            "/rest/servicedeskapi/request/{rkey}/comment/{}",
            s(&rc["id"])
        ),
        None,
    )
    .await;
    c.call(
        "getAllRequestTypes",
        Method::GET,
        "/rest/servicedeskapi/requesttype?serviceDeskId=1",
        None,
    )
    .await;
    c.call(
        "getRequestTypeById",
        Method::GET,
        "/rest/servicedeskapi/servicedesk/1/requesttype/2",
        None,
    )
    .await;
    c.call(
        "getSlaInformation",
        Method::GET,
        &format!("/rest/servicedeskapi/request/{rkey}/sla"),
        None,
    )
    .await;
    c.call(
        "addRequestParticipants",
        Method::POST,
        &format!("/rest/servicedeskapi/request/{rkey}/participant"),
        Some(json!({"accountIds": [bob]})),
    )
    .await;
    c.call(
        "getRequestParticipants",
        Method::GET,
        &format!("/rest/servicedeskapi/request/{rkey}/participant"),
        None,
    )
    .await;
    c.call(
        "getRequestComments",
        Method::GET,
        &format!("/rest/servicedeskapi/request/{rkey}/comment"),
        None,
    )
    .await;
    let trs = c
        .call(
            "getCustomerTransitions",
            Method::GET,
            &format!("/rest/servicedeskapi/request/{rkey}/transition"),
            None,
        )
        .await;
    c.call(
        "performCustomerTransition",
        Method::POST,
        &format!("/rest/servicedeskapi/request/{rkey}/transition"),
        Some(json!({"id": trs["values"][0]["id"]})),
    )
    .await;
    c.call(
        "getCustomerRequestStatus",
        Method::GET,
        &format!("/rest/servicedeskapi/request/{rkey}/status"),
        None,
    )
    .await;
    let hw = c
        .call(
            "getCustomerRequests",
            Method::GET,
            "/rest/servicedeskapi/request?requestTypeId=2&requestStatus=OPEN_REQUESTS&limit=100",
            None,
        )
        .await;
    let hkey = s(&hw["values"][0]["issueKey"]);
    let approvals = c
        .call(
            "getApprovals",
            Method::GET,
            &format!("/rest/servicedeskapi/request/{hkey}/approval"),
            None,
        )
        .await;
    let approval = s(&approvals["values"][0]["id"]);
    c.call(
        "getApprovalById",
        Method::GET,
        &format!("/rest/servicedeskapi/request/{hkey}/approval/{approval}"),
        None,
    )
    .await;
    c.call(
        "createCustomer",
        Method::POST,
        "/rest/servicedeskapi/customer",
        Some(json!({"email": "pat@example.com", "displayName": "Pat"})),
    )
    .await;
    c.call(
        "answerApproval",
        Method::POST,
        &format!("/rest/servicedeskapi/request/{hkey}/approval/{approval}"),
        Some(json!({"decision": "approve"})),
    )
    .await;
    c.call(
        "getOrganizations",
        Method::GET,
        "/rest/servicedeskapi/organization",
        None,
    )
    .await;
    c.call(
        "getOrganization",
        Method::GET,
        "/rest/servicedeskapi/organization/1",
        None,
    )
    .await;
    let org = c
        .call(
            "createOrganization",
            Method::POST,
            "/rest/servicedeskapi/organization",
            Some(json!({"name": "Conformance Org"})),
        )
        .await;
    let org_id = s(&org["id"]);
    c.call(
        "addUsersToOrganization",
        Method::POST,
        &format!("/rest/servicedeskapi/organization/{org_id}/user"),
        Some(json!({"accountIds": [bob]})),
    )
    .await;
    c.call(
        "getUsersInOrganization",
        Method::GET,
        &format!("/rest/servicedeskapi/organization/{org_id}/user"),
        None,
    )
    .await;
    c.call(
        "addOrganization",
        Method::POST,
        "/rest/servicedeskapi/servicedesk/1/organization",
        Some(json!({"organizationId": org_id.parse::<u64>().unwrap()})),
    )
    .await;
    c.call(
        "getOrganizations",
        Method::GET,
        "/rest/servicedeskapi/servicedesk/1/organization",
        None,
    )
    .await;
    c.call(
        "deleteOrganization",
        Method::DELETE,
        &format!("/rest/servicedeskapi/organization/{org_id}"),
        None,
    )
    .await;

    // Dynamic webhooks (OAuth 2.0 apps only).
    let tokens = oauth_tokens(&c.sim, "read:jira-work manage:jira-webhook").await;
    let at = s(&tokens["access_token"]);
    let reg = c
        .call_app(
            "registerDynamicWebhooks",
            Method::POST,
            "/rest/api/3/webhook",
            Some(json!({"url": "http://127.0.0.1:9/hook", "webhooks": [
                {"events": ["jira:issue_created", "jira:issue_updated"], "jqlFilter": "project = ENG", "fieldIdsFilter": ["summary"]},
                {"events": ["comment_created"], "jqlFilter": "watchCount > 3"}
            ]})),
            &at,
        )
        .await;
    let hook_id = reg["webhookRegistrationResult"][0]["createdWebhookId"].clone();
    assert!(hook_id.is_i64(), "{reg}");
    assert!(
        reg["webhookRegistrationResult"][1]["errors"].is_array(),
        "{reg}"
    );
    c.call_app(
        "getDynamicWebhooksForApp",
        Method::GET,
        "/rest/api/3/webhook?maxResults=10",
        None,
        &at,
    )
    .await;
    c.call_app(
        "refreshWebhooks",
        Method::PUT,
        "/rest/api/3/webhook/refresh",
        Some(json!({"webhookIds": [hook_id]})),
        &at,
    )
    .await;
    c.call_app(
        "getFailedWebhooks",
        Method::GET,
        "/rest/api/3/webhook/failed",
        None,
        &at,
    )
    .await;
    c.call_app(
        "deleteWebhookById",
        Method::DELETE,
        "/rest/api/3/webhook",
        Some(json!({"webhookIds": [hook_id]})),
        &at,
    )
    .await;

    // Deletions last.
    c.call(
        "deleteComponent",
        Method::DELETE,
        &format!(
            "/rest/api/3/component/{}?moveIssuesTo={comp_id}",
            s(&doomed["id"])
        ),
        None,
    )
    .await;
    c.call(
        "deleteIssueLink",
        Method::DELETE,
        &format!("/rest/api/3/issueLink/{link_id}"),
        None,
    )
    .await;
    c.call(
        "removeAttachment",
        Method::DELETE,
        &format!("/rest/api/3/attachment/{aid}"),
        None,
    )
    .await;
    c.call(
        "deleteWorklog",
        Method::DELETE,
        &format!("/rest/api/3/issue/{key}/worklog/{wid}"),
        None,
    )
    .await;
    c.call(
        "deleteComment",
        Method::DELETE,
        &format!("/rest/api/3/issue/{key}/comment/{cid}"),
        None,
    )
    .await;
    c.call(
        "deleteIssue",
        Method::DELETE,
        &format!("/rest/api/3/issue/{key}"),
        None,
    )
    .await;

    let all: BTreeSet<&str> = operations().iter().map(|o| o.operation_id).collect();
    let missing: Vec<&&str> = all.difference(&c.covered).collect();
    assert!(
        missing.is_empty(),
        "operations without a conformance check: {missing:?}"
    );
    assert!(
        c.failures.is_empty(),
        "{} conformance failures:\n{}",
        c.failures.len(),
        c.failures.join("\n")
    );
}
