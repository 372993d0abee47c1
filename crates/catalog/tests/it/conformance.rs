//! Every action against Atlassian's OpenAPI documents: the operations exist, the scopes are
//! the specs' scopes, and the request built from representative params sends the required
//! path and query parameters, only declared query parameters, and a body that validates
//! against the operation's request schema.

use std::collections::{BTreeSet, HashMap};
use std::path::PathBuf;
use std::sync::OnceLock;

use jiragate_catalog::{ActionDef, Catalog, CatalogError, SpecDoc};
use serde_json::{Value, json};

fn specs_dir() -> PathBuf {
    if let Ok(dir) = std::env::var("JIRAGATE_SPECS_DIR") {
        return PathBuf::from(dir);
    }
    // <project>/crates/catalog -> <project>/../shared/specs
    PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../../../shared/specs")
}

fn spec(doc: SpecDoc) -> &'static Value {
    static SPECS: OnceLock<HashMap<&'static str, Value>> = OnceLock::new();
    let specs = SPECS.get_or_init(|| {
        let mut m = HashMap::new();
        for d in [
            SpecDoc::Platform,
            SpecDoc::Software,
            SpecDoc::ServiceManagement,
        ] {
            let path = specs_dir().join(d.file_name());
            let text = std::fs::read_to_string(&path)
                .unwrap_or_else(|e| panic!("cannot read {}: {e}", path.display()));
            m.insert(
                d.file_name(),
                serde_json::from_str(&text).expect("spec is JSON"),
            );
        }
        m
    });
    &specs[doc.file_name()]
}

fn spec_operation(doc: SpecDoc, method: &str, path: &str) -> Option<&'static Value> {
    spec(doc)["paths"]
        .get(path)?
        .get(method.to_ascii_lowercase())
}

/// Does a concrete path match a spec template (`{x}` = one non-empty segment)?
fn template_matches(template: &str, path: &str) -> bool {
    let t: Vec<&str> = template.split('/').collect();
    let p: Vec<&str> = path.split('/').collect();
    t.len() == p.len()
        && t.iter().zip(&p).all(|(t, p)| {
            if t.starts_with('{') && t.ends_with('}') {
                !p.is_empty()
            } else {
                t == p
            }
        })
}

fn scopes_from_spec(
    op: &Value,
    doc: SpecDoc,
    method: &str,
) -> (BTreeSet<String>, BTreeSet<String>) {
    let mut all = Vec::new();
    for sec in op["security"].as_array().into_iter().flatten() {
        for scopes in sec.as_object().into_iter().flat_map(|o| o.values()) {
            all.extend(
                scopes
                    .as_array()
                    .into_iter()
                    .flatten()
                    .filter_map(Value::as_str),
            );
        }
    }
    for entry in op["x-atlassian-oauth2-scopes"]
        .as_array()
        .into_iter()
        .flatten()
    {
        all.extend(
            entry["scopes"]
                .as_array()
                .into_iter()
                .flatten()
                .filter_map(Value::as_str),
        );
    }
    let classic: BTreeSet<String> = all
        .iter()
        .filter(|s| s.matches(':').count() == 1)
        .map(|s| s.to_string())
        .collect();
    let granular: BTreeSet<String> = all
        .iter()
        .filter(|s| s.matches(':').count() >= 2)
        .map(|s| s.to_string())
        .collect();
    if doc == SpecDoc::Software && classic.is_empty() {
        // The agile document lists granular scopes only; Atlassian documents the classic
        // equivalent for Jira Software as read:jira-work / write:jira-work.
        let c = if method == "GET" {
            "read:jira-work"
        } else {
            "write:jira-work"
        };
        return (BTreeSet::from([c.to_owned()]), granular);
    }
    (classic, granular)
}

#[test]
fn the_catalog_covers_the_connector_surface() {
    let catalog = Catalog::new();
    let actions = catalog.actions();
    assert!(actions.len() >= 90, "only {} actions", actions.len());
    let required = [
        ("issues", "search"),
        ("issues", "create"),
        ("issues", "get"),
        ("issues", "update"),
        ("issues", "delete"),
        ("projects", "list"),
        ("projects", "get"),
        ("users", "list"),
        ("users", "get"),
        ("users", "search"),
        ("issue_fields", "list"),
        ("issue_fields", "search"),
        ("issue_comments", "list"),
        ("issue_comments", "create"),
        ("issue_comments", "get"),
        ("issue_comments", "update"),
        ("issue_comments", "delete"),
        ("issue_worklogs", "list"),
        ("issue_worklogs", "get"),
        ("issues_assignee", "update"),
        ("issue_transitions", "list"),
        ("issue_transitions", "transition"),
        ("issue_links", "create"),
        ("myself", "get"),
        ("issue_types", "list"),
        ("priorities", "list"),
        ("statuses", "list"),
        ("createmeta", "issue_types"),
        ("issue_watchers", "list"),
        ("attachments", "list"),
        ("attachments", "upload"),
        ("attachments", "download"),
        ("attachments", "delete"),
        ("versions", "list"),
        ("components", "list"),
        ("labels", "list"),
        ("issue_fields", "resolve"),
        ("issues", "bulk_create"),
        ("issue_changelogs", "list"),
        ("issue_worklogs", "create"),
        ("issue_worklogs", "update"),
        ("issue_worklogs", "delete"),
        ("jql", "parse"),
        ("jql", "autocomplete"),
        ("boards", "list"),
        ("sprints", "list"),
        ("sprints", "get"),
        ("sprints", "create"),
        ("sprints", "update"),
        ("sprints", "start"),
        ("sprints", "close"),
        ("sprints", "move_issues"),
        ("backlog", "list"),
        ("epics", "list"),
        ("boards", "issues"),
        ("service_desks", "list"),
        ("request_types", "list"),
        ("request_types", "fields"),
        ("customer_requests", "create"),
        ("customer_requests", "get"),
        ("customer_requests", "list"),
        ("request_comments", "create"),
        ("request_transitions", "transition"),
        ("approvals", "list"),
        ("queues", "list"),
        ("customers", "list"),
        ("organizations", "list"),
    ];
    for (e, a) in required {
        assert!(catalog.find(e, a).is_some(), "missing {e}.{a}");
    }
    let mut names = BTreeSet::new();
    for a in actions {
        assert!(names.insert(a.name()), "duplicate action {}", a.name());
        assert!(
            !a.description.is_empty() && !a.result.is_empty(),
            "{} lacks text",
            a.name()
        );
        assert!(!a.operations.is_empty(), "{} has no operation", a.name());
    }
}

#[test]
fn every_operation_exists_in_its_spec() {
    for def in Catalog::new().actions() {
        for op in def.operations {
            let found = spec_operation(op.spec, op.method, op.path);
            assert!(
                found.is_some(),
                "{}: {} {} is not in {}",
                def.name(),
                op.method,
                op.path,
                op.spec.file_name()
            );
        }
    }
}

#[test]
fn scopes_are_the_union_of_the_specs_scopes() {
    for def in Catalog::new().actions() {
        let mut classic = BTreeSet::new();
        let mut granular = BTreeSet::new();
        // Every operation, conditional look-ups included: describe lists every scope any
        // form of the params can need.
        for op in def.operations {
            let spec_op = spec_operation(op.spec, op.method, op.path).expect("operation exists");
            let (c, g) = scopes_from_spec(spec_op, op.spec, op.method);
            classic.extend(c);
            granular.extend(g);
        }
        let got_c: BTreeSet<String> = def.classic_scopes.iter().map(|s| s.to_string()).collect();
        let got_g: BTreeSet<String> = def.granular_scopes.iter().map(|s| s.to_string()).collect();
        assert_eq!(
            got_c,
            classic,
            "{}: classic scopes drift from the spec (re-run tools/gen_spec_ops.py)",
            def.name()
        );
        assert_eq!(
            got_g,
            granular,
            "{}: granular scopes drift from the spec",
            def.name()
        );
        // A read-only action never needs a classic write scope.
        if def.read_only {
            assert!(
                !def.classic_scopes.iter().any(|s| s.starts_with("write:")),
                "{} is read-only but needs {:?}",
                def.name(),
                def.classic_scopes
            );
        }
    }
}

/// Validators for request-body schemas, compiled once per (spec, schema).
fn body_validator(doc: SpecDoc, schema: &Value) -> &'static jsonschema::Validator {
    static CACHE: OnceLock<std::sync::Mutex<HashMap<String, &'static jsonschema::Validator>>> =
        OnceLock::new();
    let key = format!("{}:{}", doc.file_name(), schema);
    let cache = CACHE.get_or_init(Default::default);
    if let Some(v) = cache.lock().unwrap().get(&key) {
        return v;
    }
    // The operation's schema plus the document's components, so `#/components/...` resolves.
    let mut root = schema.clone();
    if let Some(obj) = root.as_object_mut() {
        obj.insert("components".into(), spec(doc)["components"].clone());
    }
    let validator = jsonschema::validator_for(&root)
        .unwrap_or_else(|e| panic!("spec schema does not compile: {e}"));
    let leaked: &'static jsonschema::Validator = Box::leak(Box::new(validator));
    cache.lock().unwrap().insert(key, leaked);
    leaked
}

fn check_request(def: &ActionDef, params: &Value) {
    let name = def.name();
    let planned = Catalog::new()
        .plan(def.entity, def.action, params.clone())
        .unwrap_or_else(|e| panic!("{name}: example params rejected: {e}"));
    // Look-ups go to operations the action declares as conditional (so describe lists
    // them and their scopes), and are called with the opt-in header when experimental.
    for (method, path) in &planned.lookups {
        let declared = def
            .operations
            .iter()
            .find(|o| o.method == method && o.path == path && o.when.is_some())
            .unwrap_or_else(|| panic!("{name}: looks up {method} {path} without declaring it"));
        let spec_op =
            spec_operation(declared.spec, method, path).expect("look-up operation exists");
        assert!(
            !is_experimental(spec_op),
            "{name}: experimental look-up {method} {path} (exec adds the header; extend this test)"
        );
    }
    let op = def
        .operations
        .iter()
        .find(|o| o.method == planned.method && template_matches(o.path, &planned.path))
        .unwrap_or_else(|| {
            panic!(
                "{name}: {} {} matches none of its operations",
                planned.method, planned.path
            )
        });
    let spec_op = spec_operation(op.spec, op.method, op.path).expect("operation exists");
    let opted_in = planned
        .headers
        .iter()
        .any(|(k, v)| k.eq_ignore_ascii_case("x-experimentalapi") && v == "opt-in");
    if is_experimental(spec_op) {
        // Jira Service Management answers 412 to an experimental call without it.
        assert!(
            opted_in,
            "{name}: {} {} is experimental; the request lacks X-ExperimentalApi: opt-in",
            op.method, op.path
        );
    } else {
        assert!(
            !opted_in,
            "{name}: {} {} is not experimental, yet opts in",
            op.method, op.path
        );
    }
    let declared: Vec<&Value> = spec_op["parameters"]
        .as_array()
        .into_iter()
        .flatten()
        .collect();
    for p in &declared {
        let pname = p["name"].as_str().unwrap_or_default();
        let required = p["required"].as_bool().unwrap_or(false);
        match p["in"].as_str() {
            Some("path") => assert!(
                op.path.contains(&format!("{{{pname}}}")),
                "{name}: path param {pname} not in template"
            ),
            Some("query") if required => assert!(
                planned.query.iter().any(|(k, _)| k == pname),
                "{name}: required query param {pname} not sent"
            ),
            _ => {}
        }
    }
    for (k, _) in &planned.query {
        assert!(
            declared
                .iter()
                .any(|p| p["in"] == "query" && p["name"] == k.as_str()),
            "{name}: sends query param {k} that {} {} does not declare",
            op.method,
            op.path
        );
    }
    let body_spec = &spec_op["requestBody"];
    match (&planned.body, planned.content_type.as_deref()) {
        (None, _) => assert!(
            !body_spec["required"].as_bool().unwrap_or(false),
            "{name}: {} {} requires a body",
            op.method,
            op.path
        ),
        (Some(_), Some("multipart/form-data")) => {
            assert!(
                body_spec["content"].get("multipart/form-data").is_some(),
                "{name}: multipart not accepted"
            );
            assert!(
                planned
                    .headers
                    .iter()
                    .any(|(k, v)| k.eq_ignore_ascii_case("x-atlassian-token") && v == "no-check"),
                "{name}: uploads need X-Atlassian-Token: no-check"
            );
        }
        (Some(body), _) => {
            let schema = body_spec["content"]["application/json"]["schema"].clone();
            assert!(
                !schema.is_null(),
                "{name}: sends a JSON body to an operation without one"
            );
            let validator = body_validator(op.spec, &schema);
            let errors: Vec<String> = validator
                .iter_errors(body)
                .map(|e| format!("{} at {}", e, e.instance_path()))
                .collect();
            assert!(
                errors.is_empty(),
                "{name}: body {body} does not validate: {errors:?}"
            );
        }
    }
}

fn is_experimental(spec_op: &Value) -> bool {
    spec_op["x-experimental"].as_bool().unwrap_or(false)
}

#[test]
fn experimental_operations_the_catalog_calls_are_known() {
    // The operations of `check_request`'s header check: every action's main operation is
    // planned through it (examples and richer params), so each experimental one is covered.
    let mut experimental = BTreeSet::new();
    for def in Catalog::new().actions() {
        for op in def.operations {
            let spec_op = spec_operation(op.spec, op.method, op.path).expect("operation exists");
            if is_experimental(spec_op) {
                assert!(op.when.is_none(), "{}: experimental look-up", def.name());
                experimental.insert(def.name());
            }
        }
    }
    for name in ["customers.list", "customers.remove", "request_types.search"] {
        assert!(experimental.contains(name), "{name}: {experimental:?}");
    }
}

/// Does the operation's description name a replacement in its deprecation note ("Deprecated,
/// use [Get projects paginated](...)", "**Deprecated:** Use [Search priorities](...)")?
fn names_a_replacement(spec_op: &Value) -> bool {
    let text = spec_op["description"]
        .as_str()
        .unwrap_or_default()
        .to_ascii_lowercase();
    text.match_indices("deprecated").any(|(at, _)| {
        let after: String = text[at..].chars().take(60).collect();
        after.contains("use [") || after.contains("use the [") || after.contains("instead")
    })
}

#[test]
fn no_deprecated_operation_unless_the_spec_names_no_replacement() {
    let mut marked = 0;
    for def in Catalog::new().actions() {
        let mut calls_deprecated = false;
        for op in def.operations {
            let spec_op = spec_operation(op.spec, op.method, op.path).expect("operation exists");
            if !spec_op["deprecated"].as_bool().unwrap_or(false) {
                continue;
            }
            calls_deprecated = true;
            assert!(
                def.deprecated_without_replacement,
                "{}: calls deprecated {} {}; use the replacement the spec names, or mark the action as having none",
                def.name(),
                op.method,
                op.path
            );
            assert!(
                !names_a_replacement(spec_op),
                "{}: the spec names a replacement for deprecated {} {}: {}",
                def.name(),
                op.method,
                op.path,
                spec_op["description"]
            );
        }
        if def.deprecated_without_replacement {
            marked += 1;
            assert!(
                calls_deprecated,
                "{} is marked as calling a deprecated operation but calls none",
                def.name()
            );
            assert!(
                def.description.contains("deprecated")
                    && def.description.contains("no replacement"),
                "{}: describe must say it: {}",
                def.name(),
                def.description
            );
        }
    }
    assert_eq!(marked, 4, "the four agile issue listings");
    // The check itself recognises the replacements Atlassian names.
    let priority = spec_operation(SpecDoc::Platform, "GET", "/rest/api/3/priority").unwrap();
    assert!(names_a_replacement(priority));
    let projects = spec_operation(SpecDoc::Platform, "GET", "/rest/api/3/project").unwrap();
    assert!(names_a_replacement(projects));
    let board = spec_operation(
        SpecDoc::Software,
        "GET",
        "/rest/agile/1.0/board/{boardId}/issue",
    )
    .unwrap();
    assert!(!names_a_replacement(board));
}

#[test]
fn lookup_forms_declare_their_operations() {
    // Params that make the action look something up before its main request.
    let cases = [
        (
            "issues",
            "create",
            json!({"project": "ACME", "summary": "s", "issue_type": "Task", "fields": {"Story point estimate": 3}}),
            "/rest/api/3/field",
        ),
        (
            "issues",
            "update",
            json!({"issue": "ACME-1", "fields": {"Story point estimate": 3}}),
            "/rest/api/3/field",
        ),
        (
            "issues",
            "bulk_create",
            json!({"issues": [{"project": "ACME", "summary": "s", "issue_type": "Task", "fields": {"Story point estimate": 3}}]}),
            "/rest/api/3/field",
        ),
        (
            "issue_transitions",
            "transition",
            json!({"issue": "ACME-1", "transition": "Done"}),
            "/rest/api/3/issue/{issueIdOrKey}/transitions",
        ),
        (
            "versions",
            "create",
            json!({"project": "ACME", "name": "v1"}),
            "/rest/api/3/project/{projectIdOrKey}",
        ),
    ];
    let catalog = Catalog::new();
    for (e, a, params, lookup) in cases {
        let def = catalog.find(e, a).expect("action exists");
        let planned = catalog.plan(e, a, params.clone()).unwrap();
        assert!(
            planned
                .lookups
                .iter()
                .any(|(m, p)| m == "GET" && p == lookup),
            "{e}.{a} {params}: {:?}",
            planned.lookups
        );
        check_request(def, &params);
        // Its scopes are among the action's.
        let spec_op = spec_operation(SpecDoc::Platform, "GET", lookup).unwrap();
        let (classic, granular) = scopes_from_spec(spec_op, SpecDoc::Platform, "GET");
        for s in &classic {
            assert!(
                def.classic_scopes.contains(&s.as_str()),
                "{e}.{a} lacks {s}"
            );
        }
        for s in &granular {
            assert!(
                def.granular_scopes.contains(&s.as_str()),
                "{e}.{a} lacks {s}"
            );
        }
    }
    // Ids need no look-up.
    let planned = catalog
        .plan(
            "issue_transitions",
            "transition",
            json!({"issue": "ACME-1", "transition": "31"}),
        )
        .unwrap();
    assert!(planned.lookups.is_empty(), "{:?}", planned.lookups);
    let planned = catalog
        .plan(
            "versions",
            "create",
            json!({"project": "10000", "name": "v"}),
        )
        .unwrap();
    assert!(planned.lookups.is_empty(), "{:?}", planned.lookups);
}

#[test]
fn every_example_builds_a_request_the_spec_accepts() {
    for def in Catalog::new().actions() {
        check_request(def, &def.example_params());
    }
}

#[test]
fn richer_params_still_build_conforming_requests() {
    // Optional params that change the body or query shape.
    let cases = [
        (
            "issues",
            "create",
            json!({"project": "10000", "summary": "s", "issue_type": "10001", "assignee": "abc", "parent": "ACME-1", "components": ["Backend"], "due_date": "2024-01-31", "fields": {"customfield_10016": 3}}),
        ),
        (
            "issues",
            "update",
            json!({"issue": "ACME-1", "labels": ["a"], "priority": "High", "update": {"labels": [{"add": "b"}]}, "notify_users": false}),
        ),
        (
            "issues",
            "search",
            json!({"jql": "project = ACME", "expand": "changelog", "page_token": "abc", "limit": 5}),
        ),
        (
            "issues_assignee",
            "update",
            json!({"issue": "ACME-1", "account_id": "-1"}),
        ),
        (
            "issue_transitions",
            "transition",
            json!({"issue": "ACME-1", "transition": "31", "fields": {"resolution": {"name": "Done"}}}),
        ),
        (
            "issue_comments",
            "create",
            json!({"issue": "ACME-1", "body": "x", "visibility": {"type": "role", "value": "Developers"}}),
        ),
        (
            "issue_worklogs",
            "create",
            json!({"issue": "ACME-1", "time_spent_seconds": 60}),
        ),
        (
            "issue_links",
            "create",
            json!({"type": "10000", "inward_issue": "10001", "outward_issue": "10002", "comment": "dup"}),
        ),
        (
            "projects",
            "list",
            json!({"keys": ["ACME", "OPS"], "page_token": "50"}),
        ),
        (
            "versions",
            "create",
            json!({"project": "10000", "name": "v", "released": false, "start_date": "2024-01-01"}),
        ),
        (
            "sprints",
            "list",
            json!({"board_id": 1, "state": ["active"], "all": true}),
        ),
        (
            "sprints",
            "move_issues",
            json!({"sprint_id": 1, "issues": ["ACME-1"], "rank_after": "ACME-2"}),
        ),
        (
            "customer_requests",
            "create",
            json!({"service_desk_id": "1", "request_type_id": "2", "fields": {"customfield_1": "x"}, "raise_on_behalf_of": "abc", "participants": ["def"]}),
        ),
        (
            "customer_requests",
            "list",
            json!({"service_desk_id": 1, "request_type_id": 2, "search_term": "vpn", "page_token": "50", "limit": 10}),
        ),
        (
            "attachments",
            "upload",
            json!({"issue": "ACME-1", "filename": "a.bin", "content_base64": "AAEC"}),
        ),
        (
            "jql",
            "parse",
            json!({"queries": ["a = b"], "validation": "warn"}),
        ),
    ];
    let catalog = Catalog::new();
    for (e, a, params) in cases {
        check_request(catalog.find(e, a).expect("action exists"), &params);
    }
}

#[test]
fn params_schemas_reject_unknown_and_mistyped_params() {
    let catalog = Catalog::new();
    for def in catalog.actions() {
        let schema = def.params_schema();
        assert_eq!(schema["type"], "object", "{}", def.name());
        assert_eq!(
            schema["additionalProperties"],
            false,
            "{} accepts unknown params",
            def.name()
        );
        let mut params = def.example_params();
        params["__not_a_param"] = json!(1);
        match catalog.plan(def.entity, def.action, params) {
            Err(CatalogError::InvalidParams { field, .. }) => {
                assert_eq!(field, "__not_a_param", "{}", def.name())
            }
            other => panic!("{}: unknown param accepted: {other:?}", def.name()),
        }
    }
    match catalog.plan("issues", "search", json!({"jql": 42})) {
        Err(e @ CatalogError::InvalidParams { .. }) => {
            assert_eq!(
                e.to_string(),
                "invalid params: jql: 42 is not of type string"
            );
            assert_eq!(e.kind(), "invalid_params");
        }
        other => panic!("{other:?}"),
    }
    match catalog.plan(
        "issues",
        "create",
        json!({"project": "ACME", "summary": "x"}),
    ) {
        Err(CatalogError::InvalidParams { field, .. }) => assert_eq!(field, "issue_type"),
        other => panic!("{other:?}"),
    }
    match catalog.plan("issues", "frobnicate", json!({})) {
        Err(e @ CatalogError::UnknownAction { .. }) => assert!(e.to_string().contains("search")),
        other => panic!("{other:?}"),
    }
    match catalog.plan("nope", "list", json!({})) {
        Err(e @ CatalogError::UnknownEntity { .. }) => assert!(e.to_string().contains("issues")),
        other => panic!("{other:?}"),
    }
}

#[test]
fn unassigning_sends_a_null_account_id() {
    // assignIssue's description documents `accountId: null` as "unassign", although its
    // request schema (User) types accountId as a plain string; so no schema check here.
    let planned = Catalog::new()
        .plan(
            "issues_assignee",
            "update",
            json!({"issue": "ACME-1", "account_id": null}),
        )
        .unwrap();
    assert_eq!(planned.body.unwrap(), json!({"accountId": null}));
    assert!(matches!(
        Catalog::new().plan("issues_assignee", "update", json!({"issue": "ACME-1"})),
        Err(CatalogError::InvalidParams { ref field, .. }) if field == "account_id"
    ));
}

#[test]
fn markdown_bodies_become_adf() {
    let planned = Catalog::new()
        .plan("issues", "create", json!({"project": "ACME", "summary": "s", "issue_type": "Task", "description": "Some **bold** text"}))
        .unwrap();
    let body = planned.body.unwrap();
    let description = &body["fields"]["description"];
    assert_eq!(description["type"], "doc");
    assert_eq!(description["version"], 1);
    let text = description.to_string();
    assert!(text.contains("strong"), "{text}");
    assert_eq!(body["fields"]["project"], json!({"key": "ACME"}));
    assert_eq!(body["fields"]["issuetype"], json!({"name": "Task"}));
}

#[test]
fn describe_lists_schemas_operations_and_scopes() {
    let catalog = Catalog::new();
    let all = catalog.describe(None, None);
    let count: usize = all["entities"]
        .as_array()
        .unwrap()
        .iter()
        .map(|e| e["actions"].as_array().unwrap().len())
        .sum();
    assert_eq!(count, catalog.actions().len());
    assert_eq!(all["action_count"], count);
    let issues = all["entities"]
        .as_array()
        .unwrap()
        .iter()
        .find(|e| e["entity"] == "issues")
        .unwrap();
    let search = issues["actions"]
        .as_array()
        .unwrap()
        .iter()
        .find(|a| a["action"] == "search")
        .unwrap();
    assert_eq!(search["read_only"], true);
    assert_eq!(
        search["params_schema"]["properties"]["jql"]["type"],
        "string"
    );
    assert_eq!(search["operations"][0]["method"], "POST");
    assert_eq!(search["operations"][0]["path"], "/rest/api/3/search/jql");
    assert!(
        search["scopes"]["classic"]
            .as_array()
            .unwrap()
            .contains(&json!("read:jira-work"))
    );
    assert!(!search["scopes"]["granular"].as_array().unwrap().is_empty());

    let platform = catalog.describe(Some("platform"), None);
    let entities: Vec<&str> = platform["entities"]
        .as_array()
        .unwrap()
        .iter()
        .map(|e| e["entity"].as_str().unwrap())
        .collect();
    assert!(entities.contains(&"sprints") && entities.contains(&"boards"));
    assert!(!entities.contains(&"customer_requests"));
    let jsm = catalog.describe(Some("service_management"), None);
    let entities: Vec<&str> = jsm["entities"]
        .as_array()
        .unwrap()
        .iter()
        .map(|e| e["entity"].as_str().unwrap())
        .collect();
    assert!(entities.contains(&"customer_requests") && entities.contains(&"issues"));

    let sprints = catalog.describe(None, Some("sprints"));
    let entities = sprints["entities"].as_array().unwrap();
    assert_eq!(entities.len(), 1, "{sprints}");
    let one = catalog.describe(None, Some("issues.search"));
    assert_eq!(one["action_count"], 1);

    let action = |name: &str| {
        let d = catalog.describe(None, Some(name));
        assert_eq!(d["action_count"], 1, "{name}");
        d["entities"][0]["actions"][0].clone()
    };
    // Look-ups are listed with their condition, and their scopes are the action's.
    let create = action("issues.create");
    let lookup = create["operations"]
        .as_array()
        .unwrap()
        .iter()
        .find(|o| o["path"] == "/rest/api/3/field")
        .expect("field look-up listed");
    assert!(lookup["when"].is_string());
    let classic = create["scopes"]["classic"].as_array().unwrap();
    assert!(
        classic.contains(&json!("read:jira-work")) && classic.contains(&json!("write:jira-work"))
    );
    // A deprecated operation without a replacement says so where describe shows it.
    let board_issues = action("boards.issues");
    assert_eq!(board_issues["operations"][0]["deprecated"], true);
    assert!(
        board_issues["description"].as_str().unwrap().contains(
            "GET /rest/agile/1.0/board/{boardId}/issue deprecated and names no replacement"
        ),
        "{}",
        board_issues["description"]
    );
    let priorities = action("priorities.list");
    assert_eq!(
        priorities["operations"][0]["path"],
        "/rest/api/3/priority/search"
    );
    assert!(priorities["operations"][0].get("deprecated").is_none());
}
