//! The shape of one row of the action table.

use std::fmt;

use serde::Serialize;
use serde_json::Value;

use crate::error::CatalogError;
use crate::plan::{Lookup, Plan};
use crate::{ExecContext, scopes, validate};

/// Which API family an action belongs to (and which connections list it).
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum ApiType {
    /// Jira Cloud platform REST v3 and Jira Software agile 1.0.
    Platform,
    /// Jira Service Management (`/rest/servicedeskapi`).
    ServiceManagement,
}

impl ApiType {
    pub fn as_str(self) -> &'static str {
        match self {
            ApiType::Platform => "platform",
            ApiType::ServiceManagement => "service_management",
        }
    }
}

/// The Atlassian OpenAPI document an operation is defined in (files in ../shared/specs).
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum SpecDoc {
    Platform,
    Software,
    ServiceManagement,
}

impl SpecDoc {
    pub fn file_name(self) -> &'static str {
        match self {
            SpecDoc::Platform => "jira-platform-v3.json",
            SpecDoc::Software => "jira-software-agile.json",
            SpecDoc::ServiceManagement => "jira-service-management.json",
        }
    }

    pub(crate) fn of_path(path: &str) -> SpecDoc {
        if path.starts_with("/rest/agile/") {
            SpecDoc::Software
        } else if path.starts_with("/rest/servicedeskapi/") {
            SpecDoc::ServiceManagement
        } else {
            SpecDoc::Platform
        }
    }
}

/// One Jira REST operation an action calls.
#[derive(Clone, Copy, Debug, Serialize)]
pub struct Operation {
    pub method: &'static str,
    /// Path template exactly as in the spec, e.g. `/rest/api/3/issue/{issueIdOrKey}`.
    pub path: &'static str,
    pub spec: SpecDoc,
    /// `Some(condition)` when the call happens only in some cases (a look-up before the main
    /// request). Its scopes are part of the action's scopes all the same: describe lists
    /// every scope any form of the params can need.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub when: Option<&'static str>,
}

/// How an action's results are paged upstream.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Paging {
    /// One object, no pages.
    None,
    /// `startAt`/`maxResults` with `isLast` or `total`; items under the given key.
    Offset { items: &'static str },
    /// `startAt`/`maxResults` answered by a bare JSON array.
    OffsetArray,
    /// `nextPageToken`/`maxResults` (search/jql); in the JSON body for POST, else the query.
    NextPageToken { items: &'static str },
    /// Agile `startAt`/`maxResults` with `isLast`.
    Agile { items: &'static str },
    /// Service management `start`/`limit` with `isLastPage`; items under `values`.
    ServiceDesk,
}

impl Paging {
    pub fn name(self) -> &'static str {
        match self {
            Paging::None => "none",
            Paging::Offset { .. } => "offset",
            Paging::OffsetArray => "offset_array",
            Paging::NextPageToken { .. } => "next_page_token",
            Paging::Agile { .. } => "agile",
            Paging::ServiceDesk => "service_desk",
        }
    }
}

/// One action of the catalog.
pub struct ActionDef {
    pub entity: &'static str,
    pub action: &'static str,
    pub description: &'static str,
    pub read_only: bool,
    /// The action calls an operation the specs mark deprecated, and the specs name no
    /// replacement for it (the description says so).
    pub deprecated_without_replacement: bool,
    /// Classic OAuth scopes needed (all of them), from the spec's operation security, for
    /// every operation the action may call (conditional look-ups included).
    pub classic_scopes: &'static [&'static str],
    /// Granular OAuth scopes needed (all of them); an alternative to the classic set.
    pub granular_scopes: &'static [&'static str],
    pub operations: &'static [Operation],
    pub api_type: ApiType,
    pub paging: Paging,
    /// A short note on what `data` holds.
    pub result: &'static str,
    /// Representative params (JSON), shown in describe and used by the conformance test.
    pub example: &'static str,
    pub(crate) schema: fn() -> Value,
    pub(crate) plan: fn(Value) -> Result<Plan, CatalogError>,
    pub(crate) validator: std::sync::OnceLock<jsonschema::Validator>,
}

impl fmt::Debug for ActionDef {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("ActionDef")
            .field("entity", &self.entity)
            .field("action", &self.action)
            .field("read_only", &self.read_only)
            .finish_non_exhaustive()
    }
}

impl ActionDef {
    /// `entity.action`.
    pub fn name(&self) -> String {
        format!("{}.{}", self.entity, self.action)
    }

    /// The params JSON Schema (draft 2020-12).
    pub fn params_schema(&self) -> Value {
        (self.schema)()
    }

    /// The example params as JSON.
    pub fn example_params(&self) -> Value {
        serde_json::from_str(self.example).unwrap_or(Value::Null)
    }

    /// Validates params (schema first), then builds the plan.
    pub(crate) fn prepare(&self, params: Value) -> Result<Plan, CatalogError> {
        let params = if params.is_null() {
            Value::Object(Default::default())
        } else {
            params
        };
        let validator = self
            .validator
            .get_or_init(|| validate::compile(&self.params_schema()));
        validate::check(validator, &params)?;
        let mut plan = (self.plan)(params)?;
        debug_assert!(
            plan.lookups().iter().all(|l| self.declares(*l)),
            "{}: a look-up the action does not declare",
            self.name()
        );
        // Experimental operations (Service Management) refuse calls without the opt-in.
        let main = scopes::main_op(self, &plan);
        plan.req = scopes::opt_in(plan.req, main);
        // An action that only reads may be repeated after a 5xx even when it is a POST
        // (`search/jql`, approximate count, JQL parse, bulk fetch).
        plan.req.read_only = self.read_only;
        Ok(plan)
    }

    /// Whether the action declares the look-up (so its operation and scopes are listed).
    pub(crate) fn declares(&self, lookup: Lookup) -> bool {
        let (method, path) = lookup.operation();
        self.operations
            .iter()
            .any(|o| o.method == method && o.path == path && o.when.is_some())
    }

    /// Scope and read-only checks, then [`ActionDef::prepare`]. Params are validated first
    /// so that a malformed call is reported as such whatever the rights.
    pub(crate) fn authorize_and_prepare(
        &self,
        ctx: &ExecContext,
        params: Value,
    ) -> Result<Plan, CatalogError> {
        let mut plan = self.prepare(params)?;
        if let Some(granted) = &ctx.granted_scopes {
            scopes::check(self, &plan, granted)?;
        }
        plan.granted = ctx.granted_scopes.clone();
        if ctx.read_only && !self.read_only {
            return Err(CatalogError::ReadOnly {
                action: self.name(),
            });
        }
        Ok(plan)
    }
}
