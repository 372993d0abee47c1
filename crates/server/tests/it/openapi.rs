//! `/openapi.json` as a generator reads it: fetched from a real server, checked against the
//! structural rules of OpenAPI 3.1 that generators rely on, and its request schemas checked
//! against what the server actually accepts. (`clients/compat` runs `openapi-spec-validator` and
//! `openapi-python-client` on the same live document.)

use std::collections::{BTreeSet, HashSet};

use reqwest::Method;
use serde_json::{Value, json};

use crate::common::{Db, Env};

const METHODS: [&str; 8] = [
    "get", "put", "post", "delete", "options", "head", "patch", "trace",
];

/// `{name}` placeholders of a path template.
fn template_params(path: &str) -> BTreeSet<String> {
    path.split('{')
        .skip(1)
        .filter_map(|s| s.split_once('}').map(|(name, _)| name.to_owned()))
        .collect()
}

/// Follows a `#/…` JSON pointer inside the document.
fn resolve<'a>(doc: &'a Value, reference: &str) -> Option<&'a Value> {
    doc.pointer(reference.strip_prefix('#')?)
}

fn refs(v: &Value, out: &mut Vec<String>) {
    match v {
        Value::Object(m) => {
            if let Some(Value::String(r)) = m.get("$ref") {
                out.push(r.clone());
            }
            m.values().for_each(|x| refs(x, out));
        }
        Value::Array(a) => a.iter().for_each(|x| refs(x, out)),
        _ => {}
    }
}

/// Every rule a violation of which broke a generator or the validator (issue 14), applied to
/// the document a running server serves. Returns the violations.
fn violations(doc: &Value) -> Vec<String> {
    let mut bad = Vec::new();
    if !doc["openapi"]
        .as_str()
        .is_some_and(|v| v.starts_with("3.1"))
    {
        bad.push(format!("openapi version {}", doc["openapi"]));
    }
    let mut op_ids = HashSet::new();
    let paths = doc["paths"].as_object().expect("paths");
    for (path, item) in paths {
        let in_template = template_params(path);
        for method in METHODS {
            let Some(op) = item.get(method) else { continue };
            let at = format!("{} {path}", method.to_uppercase());
            match op["operationId"].as_str() {
                Some(id) if op_ids.insert(id.to_owned()) => {}
                Some(id) => bad.push(format!("{at}: operationId {id} is used twice")),
                None => bad.push(format!("{at}: no operationId")),
            }
            // Parameters: a path parameter is in the template and required; everything in the
            // template is a path parameter; a query parameter is not in the template.
            let params = op["parameters"].as_array().cloned().unwrap_or_default();
            let mut declared_path = BTreeSet::new();
            let mut seen = HashSet::new();
            for p in &params {
                let p = match p.get("$ref").and_then(Value::as_str) {
                    Some(r) => resolve(doc, r).cloned().unwrap_or(Value::Null),
                    None => p.clone(),
                };
                let name = p["name"].as_str().unwrap_or_default().to_owned();
                let location = p["in"].as_str().unwrap_or_default().to_owned();
                if !seen.insert((name.clone(), location.clone())) {
                    bad.push(format!("{at}: parameter {name} ({location}) twice"));
                }
                match location.as_str() {
                    "path" => {
                        if !in_template.contains(&name) {
                            bad.push(format!(
                                "{at}: path parameter {name} is not in the path template"
                            ));
                        }
                        if p["required"] != json!(true) {
                            bad.push(format!("{at}: path parameter {name} is not required"));
                        }
                        declared_path.insert(name);
                    }
                    "query" | "header" | "cookie" => {
                        if in_template.contains(&name) {
                            bad.push(format!("{at}: {location} parameter {name} is in the path"));
                        }
                    }
                    other => bad.push(format!("{at}: parameter {name} in {other:?}")),
                }
            }
            if declared_path != in_template {
                bad.push(format!(
                    "{at}: template parameters {in_template:?} but path parameters {declared_path:?}"
                ));
            }
            // Responses: each has a description; statuses are codes a generator maps to types.
            let responses = op["responses"].as_object().cloned().unwrap_or_default();
            if !responses.keys().any(|s| s.starts_with('2')) {
                bad.push(format!("{at}: no success response"));
            }
            for (status, resp) in &responses {
                let valid_status = status == "default"
                    || (status.len() == 3
                        && status.chars().all(|c| c.is_ascii_digit())
                        && ("100".."600").contains(&status.as_str()));
                if !valid_status {
                    bad.push(format!("{at}: response status {status:?}"));
                }
                if resp["description"]
                    .as_str()
                    .is_none_or(|d| d.trim().is_empty())
                {
                    bad.push(format!("{at}: response {status} has no description"));
                }
            }
            // The shared answers: authentication and scopes on every secured operation; body
            // parsing and validation on every JSON body.
            let secured = op["security"].as_array().is_some_and(|s| !s.is_empty());
            if secured {
                for s in ["401", "403"] {
                    if !responses.contains_key(s) {
                        bad.push(format!("{at}: secured but {s} is not documented"));
                    }
                }
            }
            if op
                .pointer("/requestBody/content/application~1json")
                .is_some()
                && !op["operationId"]
                    .as_str()
                    .is_some_and(|id| id.starts_with("proxy_"))
            {
                for s in ["415", "422"] {
                    if !responses.contains_key(s) {
                        bad.push(format!("{at}: takes JSON but {s} is not documented"));
                    }
                }
            }
        }
    }
    let mut all = Vec::new();
    refs(doc, &mut all);
    for r in all {
        if resolve(doc, &r).is_none() {
            bad.push(format!("$ref {r} does not resolve"));
        }
    }
    bad
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_served_document_follows_the_rules_generators_need() {
    let env = Env::start(Db::Sqlite).await;
    let r = env.client.get(&env.url("/openapi.json"), None).await;
    assert_eq!(r.status, 200, "{}", r.text);
    let doc = r.json();
    let bad = violations(&doc);
    assert!(
        bad.is_empty(),
        "{} violations:\n{}",
        bad.len(),
        bad.join("\n")
    );

    // The rules catch what the outside tester found (a query parameter declared in path, a
    // response without description): the checker is not vacuous.
    let mut broken = doc.clone();
    broken["paths"]["/api/v1/integrations/connectors"]["get"]["parameters"][0]["in"] =
        json!("path");
    broken["paths"]["/healthz"]["get"]["responses"]["200"]
        .as_object_mut()
        .unwrap()
        .remove("description");
    let found = violations(&broken);
    assert!(
        found
            .iter()
            .any(|v| v.contains("workspace_name is not in the path template"))
            && found
                .iter()
                .any(|v| v.contains("/healthz: response 200 has no description")),
        "{found:?}"
    );

    // The proxy: every method it accepts, each its own operation.
    let proxy = &doc["paths"]["/api/v1/integrations/connectors/{id}/proxy/{path}"];
    for m in ["get", "post", "put", "patch", "delete"] {
        assert_eq!(proxy[m]["operationId"], format!("proxy_{m}"), "{proxy}");
    }
    // An execute result is any JSON (an array for searches, an object for single records).
    let data = &doc["components"]["schemas"]["ExecuteResponse"]["properties"]["data"];
    assert!(data.get("type").is_none(), "{data}");
    // Query parameters are documented as such.
    let q = &doc["paths"]["/oauth/callback"]["get"]["parameters"];
    assert!(
        q.as_array()
            .unwrap()
            .iter()
            .all(|p| p["in"] == "query" && p["required"] != json!(true)),
        "{q}"
    );
}

/// A validator for the request body schema `name` of the document.
fn body_validator(doc: &Value, name: &str) -> jsonschema::Validator {
    let schema = json!({
        "$ref": format!("#/components/schemas/{name}"),
        "components": doc["components"].clone(),
    });
    jsonschema::validator_for(&schema).expect("schema compiles")
}

/// For bodies on both sides of each documented constraint, the schema's verdict equals the
/// server's: what the schema refuses gets 422, what it admits is not refused as invalid.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn request_schemas_state_what_the_server_enforces() {
    let env = Env::start(Db::Sqlite).await;
    let doc = env.client.get(&env.url("/openapi.json"), None).await.json();
    let long = "n".repeat(201);
    let max = "m".repeat(200);
    let seed = env.seed_body("x");
    let connector = |name: &str| {
        let mut b = seed.clone();
        b["name"] = json!(name);
        b
    };
    let cases: Vec<(&str, &str, Value)> = vec![
        (
            "/api/v1/workspaces",
            "CreateWorkspaceRequest",
            json!({"name": ""}),
        ),
        (
            "/api/v1/workspaces",
            "CreateWorkspaceRequest",
            json!({"name": "   "}),
        ),
        (
            "/api/v1/workspaces",
            "CreateWorkspaceRequest",
            json!({"name": "a/b"}),
        ),
        (
            "/api/v1/workspaces",
            "CreateWorkspaceRequest",
            json!({"name": long}),
        ),
        (
            "/api/v1/workspaces",
            "CreateWorkspaceRequest",
            json!({"name": max}),
        ),
        (
            "/api/v1/workspaces",
            "CreateWorkspaceRequest",
            json!({"name": "team one"}),
        ),
        (
            "/api/v1/keys",
            "CreateKeyRequest",
            json!({"name": "k", "scopes": []}),
        ),
        (
            "/api/v1/keys",
            "CreateKeyRequest",
            json!({"name": "k", "scopes": ["root"]}),
        ),
        (
            "/api/v1/keys",
            "CreateKeyRequest",
            json!({"name": "", "scopes": ["execute"]}),
        ),
        (
            "/api/v1/keys",
            "CreateKeyRequest",
            json!({"name": "k", "scopes": ["execute", "proxy"]}),
        ),
        (
            "/api/v1/integrations/connectors",
            "CreateConnectorRequest",
            connector(""),
        ),
        (
            "/api/v1/integrations/connectors",
            "CreateConnectorRequest",
            connector("a/b"),
        ),
        (
            "/api/v1/integrations/connectors",
            "CreateConnectorRequest",
            connector(&long),
        ),
        (
            "/api/v1/integrations/connectors",
            "CreateConnectorRequest",
            connector("jira"),
        ),
        (
            "/api/v1/integrations/connectors",
            "CreateConnectorRequest",
            {
                let mut b = connector("other");
                b["connector_type"] = json!("Confluence");
                b
            },
        ),
        (
            "/api/v1/integrations/connectors",
            "CreateConnectorRequest",
            {
                let mut b = connector("jsm");
                b["replication_config"]["api_type"] = json!("bogus");
                b
            },
        ),
        (
            "/api/v1/integrations/connectors",
            "CreateConnectorRequest",
            {
                let mut b = connector("jsm2");
                b["replication_config"]["api_type"] = json!("service_management");
                b
            },
        ),
    ];
    let mut admitted = 0;
    for (path, schema, body) in cases {
        let schema_ok = body_validator(&doc, schema).is_valid(&body);
        let r = env
            .client
            .send(
                Method::POST,
                &env.url(path),
                Some(env.key()),
                Some(&body),
                &[],
            )
            .await;
        let server_ok = r.status.is_success();
        assert_eq!(
            schema_ok, server_ok,
            "{path} {body}: the schema says {schema_ok}, the server answered {}: {}",
            r.status, r.text
        );
        if !server_ok {
            assert_eq!(r.status, 422, "{path} {body}: {}", r.text);
        }
        admitted += usize::from(schema_ok);
    }
    assert_eq!(admitted, 5);
}

/// Every status the server answers to a few probes of each operation is one the document lists
/// for that operation: no key, a key with an unknown id (or an empty JSON object as the body),
/// and a body that is not JSON.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn every_status_the_server_answers_is_documented() {
    let env = Env::start(Db::Sqlite).await;
    let doc = env.client.get(&env.url("/openapi.json"), None).await.json();
    let mut undocumented = Vec::new();
    let mut probes = 0;
    for (path, item) in doc["paths"].as_object().unwrap() {
        let concrete = path
            .replace("{path}", "rest/api/3/myself")
            .replace("{id}", "00000000-0000-0000-0000-000000000000");
        for method in METHODS {
            let Some(op) = item.get(method) else { continue };
            let documented = op["responses"].as_object().unwrap();
            let json_body = op
                .pointer("/requestBody/content/application~1json")
                .is_some();
            let m = Method::from_bytes(method.to_uppercase().as_bytes()).unwrap();
            let url = env.url(&concrete);
            let mut replies = vec![
                (
                    "no key",
                    env.client.send(m.clone(), &url, None, None, &[]).await,
                ),
                (
                    "unknown id or empty body",
                    env.client
                        .send(
                            m.clone(),
                            &url,
                            Some(env.key()),
                            json_body.then_some(&json!({})),
                            &[],
                        )
                        .await,
                ),
            ];
            if json_body {
                let r = env
                    .client
                    .http
                    .request(m.clone(), &url)
                    .bearer_auth(env.key())
                    .header("content-type", "text/plain")
                    .body("name=x")
                    .send()
                    .await
                    .unwrap();
                replies.push((
                    "text body",
                    crate::common::Reply {
                        status: r.status(),
                        headers: r.headers().clone(),
                        text: r.text().await.unwrap_or_default(),
                    },
                ));
            }
            for (probe, r) in replies {
                probes += 1;
                let status = r.status.as_str().to_owned();
                if !documented.contains_key(&status) && !documented.contains_key("default") {
                    undocumented.push(format!(
                        "{} {path} ({probe}): {status} {}",
                        method.to_uppercase(),
                        r.text.chars().take(160).collect::<String>()
                    ));
                }
            }
        }
    }
    assert!(probes > 60, "{probes}");
    assert!(
        undocumented.is_empty(),
        "undocumented answers:\n{}",
        undocumented.join("\n")
    );
}
