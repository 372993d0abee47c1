//! OAuth scopes: derived per action from the spec operations it always calls, and checked
//! against what a connection was granted.

use crate::def::{ActionDef, Operation};
use crate::error::CatalogError;
use crate::spec_ops::{SPEC_OPS, SpecOp};

/// The spec operation behind an action's operation, if the spec has it.
pub fn spec_op(op: &Operation) -> Option<&'static SpecOp> {
    SPEC_OPS
        .iter()
        .find(|s| s.doc == op.spec && s.method == op.method && s.path == op.path)
}

/// Union (sorted, deduplicated) of the classic and granular scopes of the operations an
/// action always calls.
pub(crate) fn union(ops: &[Operation]) -> (Vec<&'static str>, Vec<&'static str>) {
    let mut classic = Vec::new();
    let mut granular = Vec::new();
    for op in ops.iter().filter(|o| o.when.is_none()) {
        if let Some(spec) = spec_op(op) {
            classic.extend_from_slice(spec.classic_scopes);
            granular.extend_from_slice(spec.granular_scopes);
        }
    }
    classic.sort_unstable();
    classic.dedup();
    granular.sort_unstable();
    granular.dedup();
    (classic, granular)
}

/// Satisfied when every classic scope, or every granular scope, of the action is granted.
/// Names the first missing scope of the family the connection appears to use.
pub(crate) fn check(def: &ActionDef, granted: &[String]) -> Result<(), CatalogError> {
    let has = |s: &&str| granted.iter().any(|g| g == s);
    let classic_ok = !def.classic_scopes.is_empty() && def.classic_scopes.iter().all(has);
    let granular_ok = !def.granular_scopes.is_empty() && def.granular_scopes.iter().all(has);
    let none_needed = def.classic_scopes.is_empty() && def.granular_scopes.is_empty();
    if classic_ok || granular_ok || none_needed {
        return Ok(());
    }
    // A connection consented with granular scopes (three-part names) is told about the
    // granular scope it lacks; everyone else about the classic one.
    let uses_granular = granted
        .iter()
        .any(|g| g.matches(':').count() == 2 && g != "offline_access");
    let pick = |set: &'static [&'static str]| set.iter().find(|s| !has(s)).copied();
    let missing = if uses_granular {
        pick(def.granular_scopes).or_else(|| pick(def.classic_scopes))
    } else {
        pick(def.classic_scopes).or_else(|| pick(def.granular_scopes))
    };
    Err(CatalogError::MissingScope {
        scope: missing.unwrap_or("unknown").to_owned(),
        action: def.name(),
    })
}
