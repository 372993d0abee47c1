//! The OpenAPI 3.1 document, generated from the handlers' `#[utoipa::path]` annotations.

use utoipa::openapi::security::{Http, HttpAuthScheme, SecurityScheme};
use utoipa::{Modify, OpenApi};

use crate::problem::ProblemBody;
use crate::routes::{admin, connectors, credentials, oauth, ops, proxy, records};

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
        oauth::create_client,
        oauth::list_clients,
        oauth::get_client,
        oauth::update_client,
        oauth::delete_client,
        oauth::create_session,
        oauth::get_session,
        oauth::choose_site,
        oauth::callback,
        oauth::callback_site,
        records::list_scopes,
        records::list_audit,
        credentials::token,
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

/// The document served at `/openapi.json`, with the crate version filled in.
pub fn document() -> utoipa::openapi::OpenApi {
    let mut doc = ApiDoc::openapi();
    doc.info.version = env!("CARGO_PKG_VERSION").to_owned();
    doc
}
