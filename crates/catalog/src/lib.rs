//! jiragate-catalog: the execution catalog of Jira entities and actions.
//!
//! Every action is a row of data ([`ActionDef`]): entity, action, description, a JSON Schema
//! for its params (derived with schemars from a per-action params struct), the Jira
//! operations it calls (method + path exactly as in Atlassian's OpenAPI documents), the OAuth
//! scopes those operations need (generated from the same documents), and whether it writes.
//! [`Catalog::describe`] serialises the table; [`Catalog::execute`] validates params against
//! the schema, checks scopes and read-only mode, then calls Jira through
//! [`jiragate_jira::JiraClient`].

// `CatalogError::Jira(JiraError)` is part of the crate interface (INTERFACES.md); JiraError
// carries upstream messages by value, so results are large but errors are rare and cold.
#![allow(clippy::result_large_err)]

mod actions;
mod def;
mod describe;
mod error;
mod exec;
mod fields;
mod paging;
mod plan;
mod scopes;
mod shape;
pub mod spec_ops;
mod validate;

use std::sync::{Arc, LazyLock};

use futures::Stream;
use jiragate_jira::{JiraClient, TokenSource};
use serde::Serialize;
use serde_json::Value;

pub use def::{ActionDef, ApiType, Operation, Paging, SpecDoc};
pub use error::CatalogError;
pub use plan::PlannedRequest;

/// The action table, built once per process.
static TABLE: LazyLock<Vec<ActionDef>> = LazyLock::new(actions::all);

/// Handle to the static, data-driven action table. Cheap to create and copy.
#[derive(Clone, Copy, Debug, Default)]
pub struct Catalog;

/// Who is calling and with what rights.
#[derive(Clone, Debug, Default)]
pub struct ExecContext {
    /// OAuth scopes granted to the connection; `None` for API tokens (no scope check).
    pub granted_scopes: Option<Vec<String>>,
    /// `platform` or `service_management` (the connection's api type).
    pub api_type: String,
    /// Refuse every action that writes.
    pub read_only: bool,
}

/// What `execute` returns: `data` (a page of items, or one object), the token of the next
/// page when there is one, and `meta` (entity, action, pages, items, ...).
#[derive(Clone, Debug, Serialize)]
pub struct ExecuteOutput {
    pub data: Value,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub next_page_token: Option<String>,
    pub meta: Value,
}

/// JSON text known to be one well-formed JSON value (built from Jira's checked answer or by
/// the serializer), so it can be written into a response as is.
#[derive(Clone, PartialEq, Eq)]
pub struct JsonText(pub(crate) Vec<u8>);

impl JsonText {
    pub(crate) fn from_value(v: &Value) -> JsonText {
        // Serializing a `Value` cannot fail (its map keys are strings).
        JsonText(serde_json::to_vec(v).unwrap_or_else(|_| b"null".to_vec()))
    }

    pub fn as_bytes(&self) -> &[u8] {
        &self.0
    }

    pub fn into_bytes(self) -> Vec<u8> {
        self.0
    }

    /// The text parsed (for callers that need values after all).
    pub fn to_value(&self) -> serde_json::Result<Value> {
        serde_json::from_slice(&self.0)
    }
}

impl std::fmt::Debug for JsonText {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "JsonText({} bytes)", self.0.len())
    }
}

/// [`ExecuteOutput`] with `data` as JSON text ([`Catalog::execute_json`]).
#[derive(Clone, Debug)]
pub struct ExecuteJson {
    pub data: JsonText,
    pub next_page_token: Option<String>,
    pub meta: Value,
}

impl From<ExecuteOutput> for ExecuteJson {
    fn from(out: ExecuteOutput) -> ExecuteJson {
        ExecuteJson {
            data: JsonText::from_value(&out.data),
            next_page_token: out.next_page_token,
            meta: out.meta,
        }
    }
}

impl Catalog {
    pub fn new() -> Catalog {
        LazyLock::force(&TABLE);
        Catalog
    }

    pub fn actions(&self) -> &'static [ActionDef] {
        &TABLE
    }

    pub fn find(&self, entity: &str, action: &str) -> Option<&'static ActionDef> {
        TABLE
            .iter()
            .find(|a| a.entity == entity && a.action == action)
    }

    /// `{"entities": [{"entity", "api_type", "actions": [{"action", "description", "read_only",
    /// "params_schema", "result", "operations", "scopes", ...}]}]}`.
    ///
    /// `api_type`: `platform` lists platform and agile actions; `service_management` lists the
    /// service management actions plus the platform ones (a service desk is a Jira project);
    /// `None` lists everything. `filter` keeps actions whose entity, action or description
    /// contains the text (case-insensitive), or that match `entity` / `entity.action` exactly.
    pub fn describe(&self, api_type: Option<&str>, filter: Option<&str>) -> Value {
        describe::describe(&TABLE, api_type, filter)
    }

    /// Resolves an action and validates its params without calling Jira: the main request
    /// `execute` would send (first page; before any look-up such as field names), for
    /// conformance tests and dry runs.
    pub fn plan(
        &self,
        entity: &str,
        action: &str,
        params: Value,
    ) -> Result<PlannedRequest, CatalogError> {
        let def = self.lookup(entity, action)?;
        let plan = def.prepare(params)?;
        exec::first_request(def, &plan)
    }

    pub async fn execute(
        &self,
        client: &JiraClient,
        src: Arc<dyn TokenSource>,
        ctx: &ExecContext,
        entity: &str,
        action: &str,
        params: Value,
    ) -> Result<ExecuteOutput, CatalogError> {
        let def = self.lookup(entity, action)?;
        let plan = def.authorize_and_prepare(ctx, params)?;
        exec::execute(client, src, def, plan).await
    }

    /// [`Catalog::execute`] answering `data` as JSON text: for front ends that write the
    /// answer out as JSON, it spares parsing Jira's answer into values and serializing them
    /// again (the same JSON either way).
    pub async fn execute_json(
        &self,
        client: &JiraClient,
        src: Arc<dyn TokenSource>,
        ctx: &ExecContext,
        entity: &str,
        action: &str,
        params: Value,
    ) -> Result<ExecuteJson, CatalogError> {
        let def = self.lookup(entity, action)?;
        let plan = def.authorize_and_prepare(ctx, params)?;
        exec::execute_json(client, src, def, plan).await
    }

    /// Every item of every page, one at a time, in constant memory (for `--all` ndjson
    /// exports). Actions without pages yield their one result.
    pub fn execute_stream(
        &self,
        client: &JiraClient,
        src: Arc<dyn TokenSource>,
        ctx: &ExecContext,
        entity: &str,
        action: &str,
        params: Value,
    ) -> Result<impl Stream<Item = Result<Value, CatalogError>> + Send + 'static, CatalogError>
    {
        let def = self.lookup(entity, action)?;
        let plan = def.authorize_and_prepare(ctx, params)?;
        Ok(exec::stream(client.clone(), src, def, plan))
    }

    fn lookup(&self, entity: &str, action: &str) -> Result<&'static ActionDef, CatalogError> {
        if let Some(def) = self.find(entity, action) {
            return Ok(def);
        }
        let actions: Vec<String> = TABLE
            .iter()
            .filter(|a| a.entity == entity)
            .map(|a| a.action.to_owned())
            .collect();
        if actions.is_empty() {
            let mut known: Vec<String> = TABLE.iter().map(|a| a.entity.to_owned()).collect();
            known.dedup();
            return Err(CatalogError::UnknownEntity {
                entity: entity.to_owned(),
                known,
            });
        }
        Err(CatalogError::UnknownAction {
            entity: entity.to_owned(),
            action: action.to_owned(),
            known: actions,
        })
    }
}
