//! The action table: one builder call per action, grouped by API family.

mod agile;
mod common;
mod jsm;
mod platform;

use schemars::JsonSchema;
use serde::de::DeserializeOwned;
use serde_json::Value;

use crate::def::{ActionDef, ApiType, Operation, Paging, SpecDoc};
use crate::error::CatalogError;
use crate::plan::Plan;
use crate::scopes;

/// A params struct: deserialised after schema validation, then turned into a plan.
pub(crate) trait Params: DeserializeOwned + JsonSchema {
    fn plan(self) -> Result<Plan, CatalogError>;
}

fn schema_of<P: JsonSchema>() -> Value {
    schemars::schema_for!(P).to_value()
}

fn plan_of<P: Params>(params: Value) -> Result<Plan, CatalogError> {
    let p: P = serde_json::from_value(params)
        .map_err(|e| CatalogError::invalid("params", e.to_string()))?;
    p.plan()
}

pub(crate) struct Builder {
    entity: &'static str,
    action: &'static str,
    description: &'static str,
    ops: Vec<Operation>,
    paging: Paging,
    result: &'static str,
    example: &'static str,
    read_only: Option<bool>,
    schema: fn() -> Value,
    plan: fn(Value) -> Result<Plan, CatalogError>,
}

/// Starts the definition of `entity.action` whose params are `P`.
pub(crate) fn action<P: Params>(
    entity: &'static str,
    action: &'static str,
    description: &'static str,
) -> Builder {
    Builder {
        entity,
        action,
        description,
        ops: Vec::new(),
        paging: Paging::None,
        result: "the Jira answer as JSON",
        example: "{}",
        read_only: None,
        schema: schema_of::<P>,
        plan: plan_of::<P>,
    }
}

impl Builder {
    /// An operation the action always calls.
    pub fn op(mut self, method: &'static str, path: &'static str) -> Builder {
        self.ops.push(Operation {
            method,
            path,
            spec: SpecDoc::of_path(path),
            when: None,
        });
        self
    }

    /// An operation called only in some cases.
    pub fn op_when(
        mut self,
        method: &'static str,
        path: &'static str,
        when: &'static str,
    ) -> Builder {
        self.ops.push(Operation {
            method,
            path,
            spec: SpecDoc::of_path(path),
            when: Some(when),
        });
        self
    }

    pub fn paging(mut self, paging: Paging) -> Builder {
        self.paging = paging;
        self
    }

    pub fn result(mut self, result: &'static str) -> Builder {
        self.result = result;
        self
    }

    pub fn example(mut self, example: &'static str) -> Builder {
        self.example = example;
        self
    }

    /// For POST operations that only read (search, parse).
    pub fn reads(mut self) -> Builder {
        self.read_only = Some(true);
        self
    }

    fn build(self) -> ActionDef {
        let main: Vec<&Operation> = self.ops.iter().filter(|o| o.when.is_none()).collect();
        let read_only = self
            .read_only
            .unwrap_or_else(|| main.iter().all(|o| o.method == "GET"));
        let api_type = if main.iter().any(|o| o.spec == SpecDoc::ServiceManagement) {
            ApiType::ServiceManagement
        } else {
            ApiType::Platform
        };
        let (classic, granular) = scopes::union(&self.ops);
        // The table is built once per process (a LazyLock), so these leaks are bounded.
        ActionDef {
            entity: self.entity,
            action: self.action,
            description: self.description,
            read_only,
            classic_scopes: Box::leak(classic.into_boxed_slice()),
            granular_scopes: Box::leak(granular.into_boxed_slice()),
            operations: Box::leak(self.ops.into_boxed_slice()),
            api_type,
            paging: self.paging,
            result: self.result,
            example: self.example,
            schema: self.schema,
            plan: self.plan,
            validator: std::sync::OnceLock::new(),
        }
    }
}

/// Every action, in describe order.
pub(crate) fn all() -> Vec<ActionDef> {
    let mut builders = platform::actions();
    builders.extend(agile::actions());
    builders.extend(jsm::actions());
    builders.into_iter().map(Builder::build).collect()
}
