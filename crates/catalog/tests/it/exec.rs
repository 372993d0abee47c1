//! Every action executed through the catalog against atlassian-sim over real sockets, with
//! API-token Basic auth on the site URL and with an OAuth access token (Bearer) through
//! `<api>/ex/jira/{cloudId}`.

use std::collections::HashMap;
use std::sync::Arc;
use std::time::Duration;

use atlassian_sim::{SimConfig, SimHandle, Simulator};
use futures::StreamExt;
use jiragate_catalog::{Catalog, CatalogError, ExecContext};
use jiragate_jira::{ClientConfig, JiraAuth, JiraClient, StaticTokenSource, Target, TokenSource};
use secrecy::SecretString;
use serde_json::{Value, json};

pub(crate) async fn sim(issues: usize) -> SimHandle {
    Simulator::start(SimConfig {
        issues_per_site: issues,
        ..Default::default()
    })
    .await
    .expect("simulator starts")
}

pub(crate) fn basic_source(sim: &SimHandle) -> Arc<dyn TokenSource> {
    let user = &sim.info.users[0];
    let base = sim
        .info
        .site_url
        .replace("{subdomain}", &sim.info.sites[0].subdomain);
    Arc::new(StaticTokenSource(Target::new(
        base,
        JiraAuth::Basic {
            email: user.email.clone(),
            token: SecretString::from(user.api_token.clone()),
        },
        "acme-basic",
    )))
}

/// Every scope any catalog action lists, plus offline_access.
fn all_scopes() -> Vec<String> {
    let mut scopes: Vec<String> = Catalog::new()
        .actions()
        .iter()
        .flat_map(|a| a.classic_scopes.iter().chain(a.granular_scopes))
        .map(|s| s.to_string())
        .collect();
    scopes.push("offline_access".into());
    scopes.sort();
    scopes.dedup();
    scopes
}

/// Drives /authorize (auto-consent) and /oauth/token like a browser and a backend would.
pub(crate) async fn bearer_source(sim: &SimHandle) -> Arc<dyn TokenSource> {
    bearer_source_with(sim, &all_scopes()).await
}

/// An OAuth access token granted exactly `scopes` (the simulator then enforces each
/// route's scopes from the specs).
pub(crate) async fn bearer_source_with(sim: &SimHandle, scopes: &[String]) -> Arc<dyn TokenSource> {
    let http = jiragate_jira::reqwest::Client::builder()
        .redirect(jiragate_jira::reqwest::redirect::Policy::none())
        .build()
        .unwrap();
    let client = &sim.info.oauth_clients[0];
    let redirect = client.redirect_uris[0].clone();
    let scope = scopes.join(" ");
    let mut url = url::Url::parse(&format!("{}/authorize", sim.info.auth_url)).unwrap();
    url.query_pairs_mut()
        .append_pair("audience", "api.atlassian.com")
        .append_pair("client_id", &client.client_id)
        .append_pair("scope", &scope)
        .append_pair("redirect_uri", &redirect)
        .append_pair("state", "catalog-test")
        .append_pair("response_type", "code")
        .append_pair("prompt", "consent");
    let resp = http.get(url.as_str()).send().await.unwrap();
    assert_eq!(
        resp.status().as_u16(),
        302,
        "authorize: {}",
        resp.text().await.unwrap_or_default()
    );
    let location = resp.headers()["location"].to_str().unwrap().to_owned();
    let location = url::Url::parse(&location).unwrap();
    let code = location
        .query_pairs()
        .find(|(k, _)| k == "code")
        .map(|(_, v)| v.into_owned())
        .expect("code in redirect");
    let token: Value = http
        .post(format!("{}/oauth/token", sim.info.auth_url))
        .json(&json!({
            "grant_type": "authorization_code",
            "client_id": client.client_id,
            "client_secret": client.client_secret,
            "code": code,
            "redirect_uri": redirect,
        }))
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    let access = token["access_token"]
        .as_str()
        .expect("access_token")
        .to_owned();
    let base = format!(
        "{}/ex/jira/{}",
        sim.info.api_url, sim.info.sites[0].cloud_id
    );
    Arc::new(StaticTokenSource(Target::new(
        base,
        JiraAuth::Bearer(SecretString::from(access)),
        "acme-oauth",
    )))
}

pub(crate) fn client() -> JiraClient {
    JiraClient::new(ClientConfig::default())
}

fn ctx() -> ExecContext {
    ExecContext {
        granted_scopes: None,
        api_type: "platform".into(),
        read_only: false,
    }
}

/// One row of the table: run `entity.action` with `params` (strings `$name` are replaced by
/// a value saved earlier, `#name` by that value as a number), then save values from `data`.
struct Case {
    entity: &'static str,
    action: &'static str,
    params: Value,
    save: &'static [(&'static str, &'static str)],
    check: Option<fn(&Value) -> bool>,
}

fn case(entity: &'static str, action: &'static str, params: Value) -> Case {
    Case {
        entity,
        action,
        params,
        save: &[],
        check: None,
    }
}

impl Case {
    fn save(mut self, save: &'static [(&'static str, &'static str)]) -> Case {
        self.save = save;
        self
    }
    fn check(mut self, check: fn(&Value) -> bool) -> Case {
        self.check = Some(check);
        self
    }
}

fn table() -> Vec<Case> {
    vec![
        case("myself", "get", json!({})).save(&[("me", "/accountId")]),
        case("server_info", "get", json!({})),
        case("projects", "list", json!({"limit": 10})).save(&[("project", "/0/key"), ("project_id", "/0/id")]),
        case("projects", "get", json!({"project": "$project"})).check(|d| d["key"].is_string()),
        case("projects", "statuses", json!({"project": "$project"})),
        case("issues", "search", json!({"jql": "project = $project ORDER BY key ASC", "limit": 3, "fields": ["summary", "description"]}))
            .save(&[("issue", "/0/key"), ("issue2", "/1/key"), ("issue3", "/2/key")])
            .check(|d| d.as_array().is_some_and(|a| a.len() == 3)),
        case("issues", "count", json!({"jql": "project = $project"})),
        case("issues", "get", json!({"issue": "$issue"})).check(|d| d["key"].is_string()),
        case("issue_types", "list", json!({})).save(&[("issue_type_id", "/0/id")]),
        case("issue_types", "get", json!({"issue_type_id": "$issue_type_id"})),
        case("issue_types", "list_for_project", json!({"project_id": "#project_id"})),
        case("issues", "create", json!({"project": "$project", "summary": "catalog test", "issue_type": "Task", "description": "Some **bold** text", "labels": ["cat"]}))
            .save(&[("new_issue", "/key")])
            .check(|d| d["key"].is_string()),
        case("issues", "get", json!({"issue": "$new_issue", "fields": ["summary", "description", "labels"]}))
            .check(|d| d["description_markdown"].as_str().is_some_and(|m| m.contains("**bold**"))),
        case("issues", "update", json!({"issue": "$new_issue", "summary": "catalog test (edited)", "description": "_new_"})),
        case("issues", "bulk_create", json!({"issues": [{"project": "$project", "summary": "bulk 1", "issue_type": "Task"}, {"project": "$project", "summary": "bulk 2", "issue_type": "Task"}]}))
            .save(&[("bulk_issue", "/issues/0/key")]),
        case("issues", "editmeta", json!({"issue": "$issue"})),
        case("issues_assignee", "update", json!({"issue": "$new_issue", "account_id": "$me"})),
        case("issue_transitions", "list", json!({"issue": "$new_issue"})).save(&[("transition_id", "/0/id"), ("transition_name", "/0/name")]),
        case("issue_transitions", "transition", json!({"issue": "$new_issue", "transition": "$transition_name", "comment": "moving on"})),
        case("issue_comments", "create", json!({"issue": "$issue", "body": "Hello **world**"})).save(&[("comment_id", "/id")]),
        case("issue_comments", "list", json!({"issue": "$issue"})).check(|d| d.as_array().is_some_and(|a| !a.is_empty())),
        case("issue_comments", "get", json!({"issue": "$issue", "comment_id": "$comment_id"}))
            .check(|d| d["body_markdown"].as_str().is_some_and(|m| m.contains("**world**"))),
        case("issue_comments", "update", json!({"issue": "$issue", "comment_id": "$comment_id", "body": "edited"})),
        case("issue_comments", "delete", json!({"issue": "$issue", "comment_id": "$comment_id"})),
        case("issue_worklogs", "create", json!({"issue": "$issue", "time_spent": "1h", "comment": "pairing"})).save(&[("worklog_id", "/id")]),
        case("issue_worklogs", "list", json!({"issue": "$issue"})),
        case("issue_worklogs", "get", json!({"issue": "$issue", "worklog_id": "$worklog_id"})),
        case("issue_worklogs", "update", json!({"issue": "$issue", "worklog_id": "$worklog_id", "time_spent": "2h"})),
        case("issue_worklogs", "delete", json!({"issue": "$issue", "worklog_id": "$worklog_id"})),
        case("issue_link_types", "list", json!({})).save(&[("link_type", "/0/name")]),
        case("issue_links", "create", json!({"type": "$link_type", "inward_issue": "$issue", "outward_issue": "$issue2"})),
        case("issues", "get", json!({"issue": "$issue", "fields": ["issuelinks"]})).save(&[("link_id", "/fields/issuelinks/0/id")]),
        case("issue_links", "get", json!({"link_id": "$link_id"})),
        case("issue_links", "delete", json!({"link_id": "$link_id"})),
        case("issue_changelogs", "list", json!({"issue": "$new_issue"})),
        case("issue_watchers", "add", json!({"issue": "$issue", "account_id": "$me"})),
        case("issue_watchers", "list", json!({"issue": "$issue"})),
        case("issue_watchers", "remove", json!({"issue": "$issue", "account_id": "$me"})),
        case("attachments", "upload", json!({"issue": "$issue", "filename": "notes.txt", "content": "hello attachment"})).save(&[("attachment_id", "/0/id")]),
        case("attachments", "list", json!({"issue": "$issue"})).check(|d| d.as_array().is_some_and(|a| !a.is_empty())),
        case("attachments", "get", json!({"attachment_id": "$attachment_id"})),
        case("attachments", "download", json!({"attachment_id": "$attachment_id"}))
            .check(|d| d["content_base64"] == "aGVsbG8gYXR0YWNobWVudA=="),
        case("attachments", "delete", json!({"attachment_id": "$attachment_id"})),
        case("attachments", "settings", json!({})),
        case("components", "create", json!({"project": "$project", "name": "Backend-test"})).save(&[("component_id", "/id")]),
        case("components", "list", json!({"project": "$project"})),
        case("components", "get", json!({"component_id": "$component_id"})),
        case("components", "update", json!({"component_id": "$component_id", "description": "server"})),
        case("components", "delete", json!({"component_id": "$component_id"})),
        case("versions", "create", json!({"project": "$project", "name": "v9.9"})).save(&[("version_id", "/id")]),
        case("versions", "list", json!({"project": "$project"})),
        case("versions", "get", json!({"version_id": "$version_id"})),
        case("versions", "update", json!({"version_id": "$version_id", "released": true})),
        case("versions", "delete", json!({"version_id": "$version_id"})),
        case("users", "list", json!({"limit": 5})),
        case("users", "get", json!({"account_id": "$me"})),
        case("users", "search", json!({"query": "a"})),
        case("users", "assignable", json!({"project": "$project"})),
        case("issue_fields", "list", json!({})),
        case("issue_fields", "search", json!({"query": "story point"})).save(&[("sp_field", "/0/name")]),
        // Forms that make the action look something up first (custom field by name).
        case("issues", "create", json!({"project": "$project", "summary": "named field", "issue_type": "Task", "fields": {"$sp_field": 3}}))
            .save(&[("named_issue", "/key")]),
        case("issues", "update", json!({"issue": "$named_issue", "fields": {"$sp_field": 5}})),
        case("issues", "bulk_create", json!({"issues": [{"project": "$project", "summary": "bulk named", "issue_type": "Task", "fields": {"$sp_field": 2}}]})),
        case("issue_fields", "resolve", json!({"names": ["Summary", "nope-field"]}))
            .check(|d| d["fields"]["Summary"]["id"] == "summary" && d["unknown"] == json!(["nope-field"])),
        case("priorities", "list", json!({}))
            .save(&[("priority_id", "/0/id")])
            .check(|d| d.as_array().is_some_and(|a| a.len() >= 3 && a.iter().all(|p| p["id"].is_string() && p["name"].is_string() && p["statusColor"].is_string()))),
        case("priorities", "search", json!({})),
        case("priorities", "get", json!({"priority_id": "$priority_id"})),
        case("statuses", "list", json!({})).save(&[("status_id", "/0/id")]),
        case("statuses", "get", json!({"status": "$status_id"})),
        case("statuses", "search", json!({})),
        case("createmeta", "issue_types", json!({"project": "$project"})).save(&[("cm_type", "/0/id")]),
        case("createmeta", "fields", json!({"project": "$project", "issue_type_id": "$cm_type"})),
        case("labels", "list", json!({})),
        case("jql", "parse", json!({"queries": ["project = $project"]})),
        case("jql", "autocomplete", json!({})),
        case("jql", "suggestions", json!({"field_name": "project"})),
        case("resolutions", "list", json!({})),
        // agile
        case("boards", "list", json!({})).save(&[("board_id", "/0/id")]),
        case("boards", "get", json!({"board_id": "#board_id"})),
        case("boards", "configuration", json!({"board_id": "#board_id"})),
        case("boards", "issues", json!({"board_id": "#board_id", "limit": 5})),
        case("boards", "projects", json!({"board_id": "#board_id"})),
        case("boards", "versions", json!({"board_id": "#board_id"})),
        case("backlog", "list", json!({"board_id": "#board_id", "limit": 5})),
        case("sprints", "list", json!({"board_id": "#board_id"})),
        case("sprints", "create", json!({"board_id": "#board_id", "name": "Catalog sprint"})).save(&[("sprint_id", "/id")]),
        case("sprints", "get", json!({"sprint_id": "#sprint_id"})),
        case("sprints", "update", json!({"sprint_id": "#sprint_id", "goal": "ship"})),
        case("sprints", "move_issues", json!({"sprint_id": "#sprint_id", "issues": ["$issue3"]})),
        case("sprints", "issues", json!({"sprint_id": "#sprint_id"})),
        case("sprints", "start", json!({"sprint_id": "#sprint_id", "start_date": "2026-01-01T09:00:00.000Z", "end_date": "2026-01-15T09:00:00.000Z"})),
        case("backlog", "move_issues", json!({"issues": ["$issue3"]})),
        case("sprints", "close", json!({"sprint_id": "#sprint_id"})),
        case("sprints", "delete", json!({"sprint_id": "#sprint_id"})),
        case("issues", "rank", json!({"issues": ["$issue2"], "rank_before": "$issue"})),
        case("epics", "list", json!({"board_id": "#board_id"})).save(&[("epic", "/0/key")]),
        case("epics", "get", json!({"epic": "$epic"})),
        case("epics", "issues", json!({"epic": "$epic"})),
        case("epics", "move_issues", json!({"epic": "$epic", "issues": ["$issue2"]})),
        case("epics", "remove_issues", json!({"issues": ["$issue2"]})),
        case("epics", "update", json!({"epic": "$epic", "summary": "epic summary"})),
        // service management
        case("service_desks", "list", json!({})).save(&[("sd", "/0/id")]),
        case("service_desks", "get", json!({"service_desk_id": "$sd"})),
        case("request_types", "list", json!({"service_desk_id": "$sd"})).save(&[("rt", "/0/id")]),
        case("request_types", "search", json!({})),
        case("request_types", "get", json!({"service_desk_id": "$sd", "request_type_id": "$rt"})),
        case("request_types", "fields", json!({"service_desk_id": "$sd", "request_type_id": "$rt"})),
        case("customer_requests", "create", json!({"service_desk_id": "$sd", "request_type_id": "$rt", "summary": "VPN down", "description": "since 9"}))
            .save(&[("req", "/issueKey")]),
        case("customer_requests", "list", json!({"limit": 5})).save(&[("seeded_req", "/0/issueKey")]),
        case("customer_requests", "get", json!({"request": "$req"})),
        case("customer_requests", "status", json!({"request": "$req"})),
        case("request_comments", "create", json!({"request": "$req", "body": "on it"})).save(&[("req_comment", "/id")]),
        case("request_comments", "list", json!({"request": "$req"})),
        case("request_comments", "get", json!({"request": "$req", "comment_id": "#req_comment"})),
        case("request_participants", "add", json!({"request": "$req", "account_ids": ["$me"]})),
        case("request_participants", "list", json!({"request": "$req"})),
        case("request_sla", "list", json!({"request": "$req"})),
        case("approvals", "list", json!({"request": "$req"})),
        case("approvals", "list", json!({"request": "$seeded_req"})).save(&[("approval_id", "/0/id")]),
        case("approvals", "get", json!({"request": "$seeded_req", "approval_id": "#approval_id"})),
        case("approvals", "answer", json!({"request": "$seeded_req", "approval_id": "#approval_id", "decision": "approve"})),
        case("request_transitions", "list", json!({"request": "$req"})).save(&[("req_transition", "/0/id")]),
        case("request_transitions", "transition", json!({"request": "$req", "transition_id": "$req_transition"})),
        case("queues", "list", json!({"service_desk_id": "$sd"})).save(&[("queue_id", "/0/id")]),
        case("queues", "get", json!({"service_desk_id": "$sd", "queue_id": "#queue_id"})),
        case("queues", "issues", json!({"service_desk_id": "$sd", "queue_id": "#queue_id"})),
        case("customers", "create", json!({"email": "pat@example.com", "display_name": "Pat"})).save(&[("customer", "/accountId")]),
        case("customers", "add", json!({"service_desk_id": "$sd", "account_ids": ["$me"]})),
        case("customers", "list", json!({"service_desk_id": "$sd"})),
        case("customers", "remove", json!({"service_desk_id": "$sd", "account_ids": ["$me"]})),
        case("organizations", "list", json!({})).save(&[("org", "/0/id")]),
        case("organizations", "create", json!({"name": "Globex Org"})).save(&[("org", "/id")]),
        case("organizations", "get", json!({"organization_id": "#org"})),
        case("organizations", "add_users", json!({"organization_id": "#org", "account_ids": ["$me"]})),
        case("organizations", "users", json!({"organization_id": "#org"})),
        case("organizations", "add_to_service_desk", json!({"service_desk_id": "$sd", "organization_id": "#org"})),
        case("organizations", "list_for_service_desk", json!({"service_desk_id": "$sd"})),
        case("organizations", "delete", json!({"organization_id": "#org"})),
        // last: deletes
        case("issues", "delete", json!({"issue": "$new_issue"})),
    ]
}

/// Replaces `$name` / `#name` strings; `Err(name)` when a value was never saved.
fn substitute(v: &Value, vars: &HashMap<String, Value>) -> Result<Value, String> {
    Ok(match v {
        Value::String(s) if s.starts_with('#') => {
            let name = &s[1..];
            let saved = vars.get(name).ok_or_else(|| name.to_owned())?;
            match saved {
                Value::Number(_) => saved.clone(),
                Value::String(t) => t
                    .parse::<u64>()
                    .map(Value::from)
                    .map_err(|_| name.to_owned())?,
                _ => return Err(name.to_owned()),
            }
        }
        Value::String(s) if s.contains('$') => {
            // `$name` runs to the end of the identifier, so `$issue2` never reads `$issue`.
            let mut out = String::new();
            let mut rest = s.as_str();
            while let Some(at) = rest.find('$') {
                out.push_str(&rest[..at]);
                let tail = &rest[at + 1..];
                let len = tail
                    .find(|c: char| !(c.is_ascii_alphanumeric() || c == '_'))
                    .unwrap_or(tail.len());
                let name = &tail[..len];
                let value = vars.get(name).ok_or_else(|| name.to_owned())?;
                out.push_str(
                    &value
                        .as_str()
                        .map(str::to_owned)
                        .unwrap_or_else(|| value.to_string()),
                );
                rest = &tail[len..];
            }
            out.push_str(rest);
            Value::String(out)
        }
        Value::Array(a) => Value::Array(
            a.iter()
                .map(|x| substitute(x, vars))
                .collect::<Result<_, _>>()?,
        ),
        Value::Object(o) => Value::Object(
            o.iter()
                .map(|(k, x)| {
                    // Keys too (a custom field given by its name).
                    let key = match substitute(&Value::String(k.clone()), vars)? {
                        Value::String(key) => key,
                        other => other.to_string(),
                    };
                    Ok((key, substitute(x, vars)?))
                })
                .collect::<Result<_, String>>()?,
        ),
        other => other.clone(),
    })
}

/// Whether the simulator implements every operation the action always calls (its own
/// operation table is the authority).
fn sim_implements(entity: &str, action: &str) -> bool {
    let def = Catalog::new().find(entity, action).expect("action exists");
    def.operations
        .iter()
        .filter(|o| o.when.is_none())
        .all(|op| {
            atlassian_sim::routes::operations()
                .iter()
                .any(|s| s.method == op.method && s.template == op.path)
        })
}

#[derive(Default, Debug)]
struct Report {
    ok: Vec<String>,
    sim_missing: Vec<String>,
    skipped: Vec<String>,
    failed: Vec<String>,
    /// Read-only actions whose JSON-text answer was compared with the values answer.
    text_checked: usize,
}

/// How each case authenticates.
enum Auth<'a> {
    /// One token source for every case, no scope check in the catalog.
    Fixed(Arc<dyn TokenSource>),
    /// Per action, an OAuth grant of exactly the scopes describe lists for it (the classic
    /// or the granular family), also passed to the catalog as the granted scopes.
    DescribedScopes { sim: &'a SimHandle, granular: bool },
}

/// The scopes describe lists for `entity.action` (one family).
fn described_scopes(entity: &str, action: &str, granular: bool) -> Vec<String> {
    let described = Catalog::new().describe(None, Some(&format!("{entity}.{action}")));
    assert_eq!(described["action_count"], 1, "{entity}.{action}");
    let family = if granular { "granular" } else { "classic" };
    described["entities"][0]["actions"][0]["scopes"][family]
        .as_array()
        .expect("scopes listed")
        .iter()
        .map(|s| s.as_str().unwrap().to_owned())
        .collect()
}

async fn run_table(src: Arc<dyn TokenSource>) -> Report {
    run_table_with(Auth::Fixed(src)).await
}

async fn run_table_with(auth: Auth<'_>) -> Report {
    let catalog = Catalog::new();
    let client = client();
    let mut vars: HashMap<String, Value> = HashMap::new();
    let mut report = Report::default();
    for case in table() {
        let (src, ctx) = match &auth {
            Auth::Fixed(src) => (src.clone(), ctx()),
            Auth::DescribedScopes { sim, granular } => {
                let mut scopes = described_scopes(case.entity, case.action, *granular);
                if scopes.is_empty() {
                    // The spec offers only the other family (priority/search: classic only).
                    scopes = described_scopes(case.entity, case.action, !*granular);
                }
                // Authorize wants some scope; offline_access grants no API call.
                let grant = if scopes.is_empty() {
                    vec!["offline_access".to_owned()]
                } else {
                    scopes.clone()
                };
                let ctx = ExecContext {
                    granted_scopes: Some(scopes),
                    ..ctx()
                };
                (bearer_source_with(sim, &grant).await, ctx)
            }
        };
        let name = format!("{}.{}", case.entity, case.action);
        let params = match substitute(&case.params, &vars) {
            Ok(p) => p,
            Err(missing) => {
                report
                    .skipped
                    .push(format!("{name} (needs ${missing}, not produced earlier)"));
                continue;
            }
        };
        let result = tokio::time::timeout(
            Duration::from_secs(20),
            catalog.execute(
                &client,
                src.clone(),
                &ctx,
                case.entity,
                case.action,
                params.clone(),
            ),
        )
        .await
        .unwrap_or_else(|_| panic!("{name} timed out"));
        match result {
            Ok(out) => {
                if let Some(check) = case.check
                    && !check(&out.data)
                {
                    report
                        .failed
                        .push(format!("{name}: unexpected data {}", truncate(&out.data)));
                    continue;
                }
                assert_eq!(out.meta["entity"], case.entity);
                // The JSON-text path answers the same document (read-only actions: asking
                // twice changes nothing).
                if catalog
                    .actions()
                    .iter()
                    .any(|a| a.entity == case.entity && a.action == case.action && a.read_only)
                {
                    let text = catalog
                        .execute_json(
                            &client,
                            src.clone(),
                            &ctx,
                            case.entity,
                            case.action,
                            params.clone(),
                        )
                        .await
                        .unwrap_or_else(|e| panic!("{name} as JSON text: {e}"));
                    let data = text
                        .data
                        .to_value()
                        .unwrap_or_else(|e| panic!("{name}: data is not JSON: {e}"));
                    if data != out.data
                        || text.meta != out.meta
                        || text.next_page_token != out.next_page_token
                    {
                        report.failed.push(format!(
                            "{name}: JSON text answers {} (meta {}, next {:?}), values answer {} (meta {}, next {:?})",
                            truncate(&data), text.meta, text.next_page_token, truncate(&out.data), out.meta, out.next_page_token
                        ));
                        continue;
                    }
                    report.text_checked += 1;
                }
                for (var, pointer) in case.save {
                    if let Some(v) = out.data.pointer(pointer) {
                        vars.insert((*var).to_owned(), v.clone());
                    }
                }
                report.ok.push(name);
            }
            // Not implemented by the simulator yet: it must fail (Jira-shaped 404/405 or a
            // wrong route), and the gap is reported.
            Err(_) if !sim_implements(case.entity, case.action) => report.sim_missing.push(name),
            Err(e) => report.failed.push(format!("{name} {params}: {e}")),
        }
    }
    report
}

fn truncate(v: &Value) -> String {
    let s = v.to_string();
    s.chars().take(300).collect()
}

fn assert_report(label: &str, report: &Report) {
    eprintln!(
        "[{label}] ok {} / sim-missing {} / skipped {} / failed {}\n  sim lacks: {:?}\n  skipped: {:?}",
        report.ok.len(),
        report.sim_missing.len(),
        report.skipped.len(),
        report.failed.len(),
        report.sim_missing,
        report.skipped
    );
    assert!(
        report.failed.is_empty(),
        "[{label}] failures:\n{}",
        report.failed.join("\n")
    );
    assert!(
        report.text_checked >= 20,
        "[{label}] only {} read-only actions compared as JSON text",
        report.text_checked
    );
    let covered: std::collections::BTreeSet<String> = table()
        .iter()
        .map(|c| format!("{}.{}", c.entity, c.action))
        .collect();
    for def in Catalog::new().actions() {
        assert!(
            covered.contains(&def.name()),
            "no execution case for {}",
            def.name()
        );
    }
    for must in [
        "issues.search",
        "issues.create",
        "issues.get",
        "issues.update",
        "issues.delete",
        "issue_comments.create",
        "issue_comments.list",
        "issue_transitions.transition",
        "projects.list",
        "myself.get",
        "sprints.list",
        "boards.list",
        "service_desks.list",
        "customer_requests.create",
    ] {
        assert!(
            report.ok.iter().any(|n| n == must),
            "[{label}] {must} did not run OK"
        );
    }
}

#[tokio::test]
async fn every_action_with_api_token_basic_auth() {
    let sim = sim(30).await;
    let report = run_table(basic_source(&sim)).await;
    assert_report("basic", &report);
}

#[tokio::test]
async fn every_action_with_oauth_bearer_through_ex_jira() {
    let sim = sim(30).await;
    let report = run_table(bearer_source(&sim).await).await;
    assert_report("bearer", &report);
}

/// With exactly the scopes describe lists granted (and nothing else), every action runs,
/// including the forms that look something up first (transition by name, version by
/// project key, custom fields by name): no 403 from the simulator, which enforces each
/// route's scopes from the specs, and no refusal by the catalog's own check.
#[tokio::test]
async fn every_action_with_exactly_the_classic_scopes_describe_lists() {
    let sim = sim(30).await;
    let report = run_table_with(Auth::DescribedScopes {
        sim: &sim,
        granular: false,
    })
    .await;
    assert_report("described classic scopes", &report);
    assert!(report.skipped.is_empty(), "{:?}", report.skipped);
}

#[tokio::test]
async fn every_action_with_exactly_the_granular_scopes_describe_lists() {
    let sim = sim(30).await;
    let report = run_table_with(Auth::DescribedScopes {
        sim: &sim,
        granular: true,
    })
    .await;
    assert_report("described granular scopes", &report);
    assert!(report.skipped.is_empty(), "{:?}", report.skipped);
}

/// A scope missing for a look-up is named, both by the catalog's own check (grant known)
/// and when Jira refuses the look-up (grant unknown; Jira's 403 names no scope).
#[tokio::test]
async fn missing_scope_errors_name_the_real_scope() {
    let sim = sim(5).await;
    let catalog = Catalog::new();
    let client = client();
    let project = catalog
        .execute(
            &client,
            basic_source(&sim),
            &ctx(),
            "projects",
            "list",
            json!({}),
        )
        .await
        .unwrap()
        .data[0]["key"]
        .as_str()
        .unwrap()
        .to_owned();
    let create = json!({"project": project, "summary": "s", "issue_type": "Task", "fields": {"Story point estimate": 1}});
    // The scopes of POST /rest/api/3/issue alone: GET /rest/api/3/field needs read:jira-work.
    let write_only = vec!["write:jira-work".to_owned()];
    let src = bearer_source_with(&sim, &write_only).await;
    let known = ExecContext {
        granted_scopes: Some(write_only.clone()),
        ..ctx()
    };
    let before = serde_json::to_value(sim.stats().await).unwrap();
    match catalog
        .execute(
            &client,
            src.clone(),
            &known,
            "issues",
            "create",
            create.clone(),
        )
        .await
    {
        Err(e @ CatalogError::MissingScope { .. }) => {
            assert!(e.to_string().contains("read:jira-work"), "{e}");
        }
        other => panic!("{other:?}"),
    }
    let after = serde_json::to_value(sim.stats().await).unwrap();
    assert_eq!(
        before["requests"], after["requests"],
        "refused before calling Jira"
    );
    // Without custom fields by name there is no look-up, and write:jira-work suffices.
    catalog
        .execute(
            &client,
            src.clone(),
            &known,
            "issues",
            "create",
            json!({"project": project, "summary": "s", "issue_type": "Task"}),
        )
        .await
        .unwrap();
    // Grant unknown to the catalog: Jira refuses the look-up without naming the scope.
    for (entity, action, params) in [
        ("issues", "create", create.clone()),
        (
            "versions",
            "create",
            json!({"project": project, "name": "v-scope"}),
        ),
    ] {
        match catalog
            .execute(&client, src.clone(), &ctx(), entity, action, params)
            .await
        {
            Err(e @ CatalogError::MissingScope { .. }) => {
                let text = e.to_string();
                assert!(text.contains("read:jira-work"), "{text}");
                assert!(!text.contains("unnamed"), "{text}");
                assert_eq!(e.kind(), "missing_scope");
            }
            other => panic!("{entity}.{action}: {other:?}"),
        }
    }
    // A granular grant is told the granular scope: the granular scopes of POST
    // /rest/api/3/issue (from the platform spec), none of GET /rest/api/3/field's.
    let granular: Vec<String> = [
        "read:issue:jira",
        "write:attachment:jira",
        "write:comment.property:jira",
        "write:comment:jira",
        "write:issue:jira",
    ]
    .map(str::to_owned)
    .to_vec();
    let get_fields = [
        "read:avatar:jira",
        "read:field-configuration:jira",
        "read:field:jira",
        "read:project-category:jira",
        "read:project:jira",
    ];
    let known = ExecContext {
        granted_scopes: Some(granular.clone()),
        ..ctx()
    };
    let src = bearer_source_with(&sim, &granular).await;
    match catalog
        .execute(&client, src, &known, "issues", "create", create)
        .await
    {
        Err(CatalogError::MissingScope { scope, action }) => {
            assert_eq!(action, "issues.create");
            assert!(get_fields.contains(&scope.as_str()), "{scope}");
        }
        other => panic!("{other:?}"),
    }
}

#[tokio::test]
async fn search_all_pages_through_execute_and_stream() {
    let sim = sim(120).await;
    let src = basic_source(&sim);
    let catalog = Catalog::new();
    let client = client();
    let projects = catalog
        .execute(&client, src.clone(), &ctx(), "projects", "list", json!({}))
        .await
        .unwrap();
    let mut total = 0usize;
    for p in projects.data.as_array().unwrap() {
        let jql = format!("project = {}", p["key"].as_str().unwrap());
        let all = catalog
            .execute(
                &client,
                src.clone(),
                &ctx(),
                "issues",
                "search",
                json!({"jql": jql, "all": true, "fields": ["summary"]}),
            )
            .await
            .unwrap();
        let items = all.data.as_array().unwrap().len();
        assert_eq!(all.meta["items"], items);
        assert!(all.next_page_token.is_none());
        // Page by page with explicit tokens gives the same issues.
        let mut token: Option<String> = None;
        let mut paged = Vec::new();
        for _ in 0..100 {
            let mut params = json!({"jql": jql, "limit": 7, "fields": ["summary"]});
            if let Some(t) = &token {
                params["page_token"] = t.clone().into();
            }
            let page = catalog
                .execute(&client, src.clone(), &ctx(), "issues", "search", params)
                .await
                .unwrap();
            paged.extend(
                page.data
                    .as_array()
                    .unwrap()
                    .iter()
                    .map(|i| i["key"].clone()),
            );
            token = page.next_page_token;
            if token.is_none() {
                break;
            }
        }
        let all_keys: Vec<Value> = all
            .data
            .as_array()
            .unwrap()
            .iter()
            .map(|i| i["key"].clone())
            .collect();
        assert_eq!(paged, all_keys);
        // The stream yields the same items one by one.
        let stream = catalog
            .execute_stream(
                &client,
                src.clone(),
                &ctx(),
                "issues",
                "search",
                json!({"jql": jql, "all": true, "fields": ["summary"]}),
            )
            .unwrap();
        let streamed: Vec<Value> = stream.map(|r| r.unwrap()["key"].clone()).collect().await;
        assert_eq!(streamed, all_keys);
        total += items;
    }
    assert_eq!(total, 120, "every seeded issue of the site");
    // `limit` with `all` caps the total across pages.
    let capped = catalog
        .execute(&client, src.clone(), &ctx(), "issues", "search", json!({"jql": format!("project = {}", projects.data[0]["key"].as_str().unwrap()), "all": true, "limit": 3}))
        .await
        .unwrap();
    assert_eq!(capped.data.as_array().unwrap().len(), 3);
}

#[tokio::test]
async fn scopes_read_only_and_validation_are_checked_before_calling_jira() {
    let sim = sim(5).await;
    let src = basic_source(&sim);
    let catalog = Catalog::new();
    let client = client();
    let before = serde_json::to_value(sim.stats().await).unwrap();
    let classic_reader = ExecContext {
        granted_scopes: Some(vec!["read:jira-work".into(), "read:jira-user".into()]),
        ..ctx()
    };
    let create = json!({"project": "X", "summary": "s", "issue_type": "Task"});
    match catalog
        .execute(
            &client,
            src.clone(),
            &classic_reader,
            "issues",
            "create",
            create.clone(),
        )
        .await
    {
        Err(e @ CatalogError::MissingScope { .. }) => {
            assert_eq!(e.kind(), "missing_scope");
            assert!(e.to_string().contains("write:jira-work"), "{e}");
        }
        other => panic!("{other:?}"),
    }
    let granular_reader = ExecContext {
        granted_scopes: Some(vec!["read:issue:jira".into()]),
        ..ctx()
    };
    match catalog
        .execute(
            &client,
            src.clone(),
            &granular_reader,
            "issues",
            "create",
            create.clone(),
        )
        .await
    {
        Err(CatalogError::MissingScope { scope, .. }) => {
            assert!(scope.ends_with(":jira"), "{scope}")
        }
        other => panic!("{other:?}"),
    }
    let read_only = ExecContext {
        read_only: true,
        ..ctx()
    };
    assert!(matches!(
        catalog
            .execute(&client, src.clone(), &read_only, "issues", "create", create)
            .await,
        Err(CatalogError::ReadOnly { .. })
    ));
    assert!(matches!(
        catalog.execute(&client, src.clone(), &ctx(), "issues", "search", json!({"jql": 42})).await,
        Err(CatalogError::InvalidParams { ref field, .. }) if field == "jql"
    ));
    assert!(
        catalog
            .execute_stream(
                &client,
                src.clone(),
                &ctx(),
                "issues",
                "search",
                json!({"jql": "x", "bogus": 1})
            )
            .is_err()
    );
    let after = serde_json::to_value(sim.stats().await).unwrap();
    assert_eq!(
        before["requests"], after["requests"],
        "refused calls must not reach Jira"
    );
    // Granted scopes that cover the action let it through.
    let full = ExecContext {
        granted_scopes: Some(
            catalog
                .find("myself", "get")
                .unwrap()
                .classic_scopes
                .iter()
                .map(|s| s.to_string())
                .collect(),
        ),
        ..ctx()
    };
    catalog
        .execute(&client, src, &full, "myself", "get", json!({}))
        .await
        .unwrap();
}

#[tokio::test]
async fn custom_fields_can_be_set_by_name() {
    let sim = sim(5).await;
    let src = basic_source(&sim);
    let catalog = Catalog::new();
    let client = client();
    let fields = catalog
        .execute(
            &client,
            src.clone(),
            &ctx(),
            "issue_fields",
            "list",
            json!({}),
        )
        .await
        .unwrap();
    let Some(custom) = fields.data.as_array().unwrap().iter().find(|f| {
        f["custom"] == true
            && matches!(
                f["schema"]["type"].as_str(),
                Some("number") | Some("string")
            )
            && !f["schema"]["custom"]
                .as_str()
                .unwrap_or_default()
                .ends_with("textarea")
    }) else {
        panic!(
            "the simulator seeds no simple custom field: {}",
            fields.data
        );
    };
    let (id, name) = (
        custom["id"].as_str().unwrap(),
        custom["name"].as_str().unwrap(),
    );
    let value = if custom["schema"]["type"] == "number" {
        json!(5)
    } else {
        json!("five")
    };
    let project = catalog
        .execute(&client, src.clone(), &ctx(), "projects", "list", json!({}))
        .await
        .unwrap();
    let created = catalog
        .execute(
            &client,
            src.clone(),
            &ctx(),
            "issues",
            "create",
            json!({
                "project": project.data[0]["key"], "summary": "by name", "issue_type": "Task",
                "fields": {name: value.clone()}
            }),
        )
        .await
        .unwrap();
    let got = catalog
        .execute(
            &client,
            src.clone(),
            &ctx(),
            "issues",
            "get",
            json!({"issue": created.data["key"], "fields": [id]}),
        )
        .await
        .unwrap();
    assert_eq!(got.data["fields"][id], value, "{}", got.data);
    match catalog
        .execute(&client, src, &ctx(), "issues", "create", json!({
            "project": project.data[0]["key"], "summary": "x", "issue_type": "Task", "fields": {"No Such Field": 1}
        }))
        .await
    {
        Err(CatalogError::InvalidParams { field, .. }) => assert_eq!(field, "fields.No Such Field"),
        other => panic!("{other:?}"),
    }
}

/// `issues.search` is a POST (`/search/jql`) but only reads: under injected 503s it is retried
/// like a GET and every call succeeds (a real POST is never repeated: jira's retry tests).
#[tokio::test]
async fn searches_sent_as_post_recover_from_server_errors() {
    let sim = Simulator::start(SimConfig {
        issues_per_site: 30,
        seed: 11,
        faults: atlassian_sim::Faults {
            error_rate: 0.2,
            ..Default::default()
        },
        ..Default::default()
    })
    .await
    .expect("simulator starts");
    let client = JiraClient::new(ClientConfig {
        base_backoff: std::time::Duration::from_millis(5),
        max_retries: 6,
        ..ClientConfig::default()
    });
    let src = basic_source(&sim);
    let catalog = Catalog::new();
    for _ in 0..20 {
        catalog
            .execute(
                &client,
                src.clone(),
                &ctx(),
                "issues",
                "search",
                json!({"jql": "project = ENG ORDER BY key", "limit": 5}),
            )
            .await
            .expect("a search recovers from 503s");
    }
    let stats = sim.stats().await;
    let searches = stats.requests_for("POST /rest/api/3/search/jql");
    assert!(searches > 20, "some searches were retried: {searches}");
}
