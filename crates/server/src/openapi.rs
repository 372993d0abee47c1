//! The OpenAPI 3.1 document, generated from the handlers' `#[utoipa::path]` annotations.

use serde_json::{Map, Value, json};
use utoipa::openapi::security::{Http, HttpAuthScheme, SecurityScheme};
use utoipa::{Modify, OpenApi};

use crate::problem::ProblemBody;
use crate::routes::{admin, connectors, credentials, oauth, ops, proxy, records, webhooks};

struct ApiKeyAuth;

impl Modify for ApiKeyAuth {
    fn modify(&self, openapi: &mut utoipa::openapi::OpenApi) {
        let components = openapi.components.get_or_insert_with(Default::default);
        let mut http = Http::new(HttpAuthScheme::Bearer);
        http.description = Some(
            "An API key (`jg_…`). Scopes: admin, connectors:write, execute, proxy, credentials:read. \
             Platform keys may send `X-Organization-Id` to act for another organization."
                .to_owned(),
        );
        components.add_security_scheme("api_key", SecurityScheme::Http(http));
    }
}

const PROXY_PATH: &str = "/api/v1/integrations/connectors/{id}/proxy/{path}";
const METHODS: [&str; 8] = [
    "get", "put", "post", "delete", "options", "head", "patch", "trace",
];

fn problem(description: &str) -> Value {
    json!({
        "description": description,
        "content": {"application/problem+json": {"schema": {"$ref": "#/components/schemas/ProblemBody"}}}
    })
}

fn add_missing(responses: &mut Map<String, Value>, answers: &[(&str, &str)]) {
    for (status, description) in answers {
        responses
            .entry(*status)
            .or_insert_with(|| problem(description));
    }
}

/// Adds the problem answers every operation of a kind can give, documented once: the middleware
/// and extractors behind them are shared (authentication, key scopes, the per-key rate limit,
/// JSON body parsing and validation), so listing them per handler would only let them drift.
/// Also gives each method of the proxy its own `operationId`, and a request body to the methods
/// that carry one (the handler is one function for every method). Edited as JSON: the rules read
/// like the document they describe.
fn shared_answers(doc: &mut Value) {
    if let Some(item) = doc.pointer_mut(&format!("/paths/{}", PROXY_PATH.replace('/', "~1"))) {
        for method in ["get", "post", "put", "patch", "delete"] {
            let Some(op) = item.get_mut(method) else {
                continue;
            };
            op["operationId"] = json!(format!("proxy_{method}"));
            op["summary"] = json!(format!("Proxy a {} request to Jira", method.to_uppercase()));
            if matches!(method, "post" | "put" | "patch") {
                op["requestBody"] = json!({
                    "description": "Forwarded to Jira as sent, with its Content-Type (JSON, or multipart for attachments)",
                    "required": false,
                    "content": {"application/json": {"schema": {}}}
                });
            }
        }
    }
    let Some(paths) = doc.get_mut("paths").and_then(Value::as_object_mut) else {
        return;
    };
    for item in paths.values_mut() {
        for method in METHODS {
            let Some(op) = item.get_mut(method).and_then(Value::as_object_mut) else {
                continue;
            };
            let secured = op
                .get("security")
                .and_then(Value::as_array)
                .is_some_and(|s| !s.is_empty());
            let json_body = op
                .get("requestBody")
                .and_then(|b| b.pointer("/content/application~1json"))
                .is_some();
            let query = op
                .get("parameters")
                .and_then(Value::as_array)
                .is_some_and(|ps| ps.iter().any(|p| p["in"] == "query"));
            let is_proxy = op
                .get("operationId")
                .and_then(Value::as_str)
                .is_some_and(|id| id.starts_with("proxy_"));
            let Some(responses) = op.get_mut("responses").and_then(Value::as_object_mut) else {
                continue;
            };
            if secured {
                add_missing(
                    responses,
                    &[
                        ("401", "No API key, or an unknown, revoked or malformed one"),
                        (
                            "403",
                            "The key lacks the scope this operation needs, or may not act for the organization named by `X-Organization-Id`",
                        ),
                        (
                            "429",
                            "The key's rate limit is spent; retry after `Retry-After` seconds",
                        ),
                    ],
                );
            }
            if json_body && !is_proxy {
                add_missing(
                    responses,
                    &[
                        ("400", "The body is not valid JSON"),
                        (
                            "413",
                            "The body exceeds the configured limit (`JIRAGATE_MAX_BODY_BYTES`)",
                        ),
                        ("415", "The body's Content-Type is not `application/json`"),
                        (
                            "422",
                            "A field is missing, mistyped or invalid; the problem names it",
                        ),
                    ],
                );
            }
            if query {
                add_missing(responses, &[("400", "A query parameter is malformed")]);
            }
            if is_proxy {
                add_missing(
                    responses,
                    &[
                        (
                            "413",
                            "The body exceeds the configured limit (`JIRAGATE_MAX_BODY_BYTES`)",
                        ),
                        (
                            "422",
                            "The path would leave the connection's site (traversal, encoded separators, double encoding …); nothing was sent",
                        ),
                    ],
                );
            }
        }
    }
}

#[derive(OpenApi)]
#[openapi(
    info(
        title = "jiragate",
        description = "Self-hosted Jira Cloud connector and credential broker. Every error is `application/problem+json` with a stable `type` URI under https://jiragate.dev/problems/.",
        license(name = "Apache-2.0", identifier = "Apache-2.0")
    ),
    paths(
        connectors::create_connector,
        connectors::list_connectors,
        connectors::get_connector,
        connectors::update_connector,
        connectors::delete_connector,
        connectors::describe_connector,
        connectors::execute,
        connectors::check,
        proxy::proxy,
        webhooks::receive,
        webhooks::create_subscription,
        webhooks::list_subscriptions,
        webhooks::delete_subscription,
        webhooks::list_events,
        webhooks::list_deliveries,
        webhooks::replay_delivery,
        oauth::create_client,
        oauth::list_clients,
        oauth::get_client,
        oauth::update_client,
        oauth::delete_client,
        oauth::create_session,
        oauth::get_connect_settings,
        oauth::put_connect_settings,
        oauth::get_session,
        oauth::choose_site,
        oauth::callback,
        oauth::callback_site,
        records::list_scopes,
        records::list_audit,
        credentials::token,
        crate::mcp_oauth::list_grants,
        crate::mcp_oauth::revoke_grant,
        crate::mcp_oauth::get_settings,
        crate::mcp_oauth::put_settings,
        admin::create_organization,
        admin::list_organizations,
        admin::list_workspaces,
        admin::create_workspace,
        admin::create_key,
        admin::list_keys,
        admin::revoke_key,
        ops::healthz,
        ops::readyz,
        ops::metrics_text,
        ops::openapi_json,
        ops::docs,
    ),
    components(schemas(ProblemBody)),
    modifiers(&ApiKeyAuth),
    tags(
        (name = "connectors", description = "Jira connections: create, read, use"),
        (name = "proxy", description = "Raw Jira REST with the credential injected"),
        (name = "webhooks", description = "Jira events in (verified, deduplicated, stored) and delivered to subscribers at least once"),
        (name = "oauth", description = "OAuth 2.0 (3LO) clients and connect sessions"),
        (name = "credentials", description = "Fresh access tokens (audited)"),
        (name = "organizations", description = "Tenants (platform keys)"),
        (name = "workspaces", description = "Groups of connections"),
        (name = "keys", description = "API keys"),
        (name = "audit", description = "The audit trail of changes and token hand-outs (admin)"),
        (name = "operations", description = "Health, readiness, metrics, this document"),
    )
)]
pub struct ApiDoc;

/// The document served at `/openapi.json`, with the crate version filled in and the shared
/// answers added.
pub fn document() -> Value {
    let mut api = ApiDoc::openapi();
    api.info.version = env!("CARGO_PKG_VERSION").to_owned();
    let mut doc = serde_json::to_value(api).unwrap_or(Value::Null);
    shared_answers(&mut doc);
    doc
}
