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
use crate::plan::{Lookup, Plan};
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
    deprecated_without_replacement: bool,
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
        deprecated_without_replacement: false,
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

    /// A look-up the action's plans may make before the main request: its operation is
    /// listed (with the condition) and its scopes count towards the action's scopes.
    pub fn lookup(mut self, lookup: Lookup) -> Builder {
        let (method, path) = lookup.operation();
        self.ops.push(Operation {
            method,
            path,
            spec: SpecDoc::of_path(path),
            when: Some(lookup.when()),
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

    /// The action calls an operation the specs mark deprecated without naming a replacement
    /// for it. The description then says so (the conformance test allows deprecated
    /// operations only in actions marked like this).
    pub fn deprecated_without_replacement(mut self) -> Builder {
        self.deprecated_without_replacement = true;
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
        let description = if self.deprecated_without_replacement {
            let deprecated: Vec<String> = self
                .ops
                .iter()
                .filter(|o| scopes::spec_op(o).is_some_and(|s| s.deprecated))
                .map(|o| format!("{} {}", o.method, o.path))
                .collect();
            let note = format!(
                "{} Note: Atlassian marks {} deprecated and names no replacement for it.",
                self.description,
                deprecated.join(" and ")
            );
            &*Box::leak(note.into_boxed_str())
        } else {
            self.description
        };
        // The table is built once per process (a LazyLock), so these leaks are bounded.
        ActionDef {
            entity: self.entity,
            action: self.action,
            description,
            read_only,
            deprecated_without_replacement: self.deprecated_without_replacement,
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

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_lookup_is_declared_by_an_action_and_known_to_the_spec_table() {
        let table = all();
        for lookup in Lookup::ALL {
            let (method, path) = lookup.operation();
            assert!(
                scopes::spec_op_at(method, path).is_some(),
                "{method} {path} missing from spec_ops.rs (re-run tools/gen_spec_ops.py)"
            );
            assert!(
                table.iter().any(|d| d.declares(lookup)),
                "no action declares {lookup:?}"
            );
        }
    }

    #[test]
    fn actions_without_a_replacement_say_so() {
        for def in all() {
            let deprecated = def
                .operations
                .iter()
                .any(|o| scopes::spec_op(o).is_some_and(|s| s.deprecated));
            assert_eq!(
                def.deprecated_without_replacement,
                deprecated,
                "{}",
                def.name()
            );
            if def.deprecated_without_replacement {
                assert!(
                    def.description.contains("names no replacement"),
                    "{}",
                    def.description
                );
            }
        }
    }
}
