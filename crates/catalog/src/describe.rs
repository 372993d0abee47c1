//! The JSON that `describe` returns.

use serde_json::{Value, json};

use crate::def::{ActionDef, ApiType};
use crate::scopes;

pub(crate) fn describe(table: &[ActionDef], api_type: Option<&str>, filter: Option<&str>) -> Value {
    let needle = filter
        .map(|f| f.trim().to_ascii_lowercase())
        .filter(|f| !f.is_empty());
    // An exact entity or `entity.action` name selects just that; other text is a search.
    let exact = needle.as_deref().is_some_and(|n| {
        table
            .iter()
            .any(|d| d.entity == n || format!("{}.{}", d.entity, d.action) == n)
    });
    // Entities in table order; actions grouped under their entity wherever they appear.
    let mut groups: Vec<(&str, ApiType, Vec<Value>)> = Vec::new();
    for def in table {
        if !listed_for(def.api_type, api_type) || !matches(def, needle.as_deref(), exact) {
            continue;
        }
        match groups.iter_mut().find(|(e, _, _)| *e == def.entity) {
            Some((_, _, actions)) => actions.push(action_json(def)),
            None => groups.push((def.entity, def.api_type, vec![action_json(def)])),
        }
    }
    let entities: Vec<Value> = groups.into_iter().map(entity_json).collect();
    let count: usize = entities
        .iter()
        .map(|e| e["actions"].as_array().map_or(0, Vec::len))
        .sum();
    json!({"entities": entities, "action_count": count})
}

fn listed_for(action: ApiType, wanted: Option<&str>) -> bool {
    match wanted {
        Some("platform") => action == ApiType::Platform,
        // A service desk is a Jira project: its connections use the platform actions too.
        Some("service_management") | None => true,
        Some(_) => true,
    }
}

fn matches(def: &ActionDef, needle: Option<&str>, exact: bool) -> bool {
    let Some(needle) = needle else { return true };
    let full = format!("{}.{}", def.entity, def.action);
    if exact {
        return needle == def.entity || needle == full;
    }
    full.contains(needle) || def.description.to_ascii_lowercase().contains(needle)
}

fn entity_json((entity, api_type, actions): (&str, ApiType, Vec<Value>)) -> Value {
    json!({"entity": entity, "api_type": api_type.as_str(), "actions": actions})
}

fn action_json(def: &ActionDef) -> Value {
    let operations: Vec<Value> = def
        .operations
        .iter()
        .map(|op| {
            let mut o = json!({"method": op.method, "path": op.path, "spec": op.spec.file_name()});
            if let Some(spec) = scopes::spec_op(op) {
                o["operation_id"] = spec.operation_id.into();
                if spec.deprecated {
                    o["deprecated"] = true.into();
                }
            }
            if let Some(when) = op.when {
                o["when"] = when.into();
            }
            o
        })
        .collect();
    json!({
        "action": def.action,
        "description": def.description,
        "read_only": def.read_only,
        "params_schema": def.params_schema(),
        "example": def.example_params(),
        "result": def.result,
        "pagination": def.paging.name(),
        "operations": operations,
        "scopes": {"classic": def.classic_scopes, "granular": def.granular_scopes},
    })
}
