//! What the specs say about the operations an action calls: their OAuth scopes (derived per
//! action, checked against what a connection was granted, and used to name the scope Jira
//! refuses a call for) and whether they are experimental (then they need the
//! `X-ExperimentalApi: opt-in` header).

use jiragate_jira::{JiraError, JiraRequest, UNNAMED_SCOPE};

use crate::def::{ActionDef, Operation};
use crate::error::CatalogError;
use crate::plan::{Plan, template_matches};
use crate::spec_ops::{SPEC_OPS, SpecOp};

/// The header (and its value) Jira Service Management requires on experimental operations;
/// without it Jira answers 412.
pub const OPT_IN_HEADER: (&str, &str) = ("X-ExperimentalApi", "opt-in");

/// The spec operation behind an action's operation, if the spec has it.
pub fn spec_op(op: &Operation) -> Option<&'static SpecOp> {
    spec_op_at(op.method, op.path)
}

/// The spec operation with this method and path template.
pub(crate) fn spec_op_at(method: &str, template: &str) -> Option<&'static SpecOp> {
    SPEC_OPS
        .iter()
        .find(|s| s.method == method && s.path == template)
}

/// Union (sorted, deduplicated) of the classic and granular scopes of every operation an
/// action may call, look-ups made only in some cases included: granting exactly these lets
/// every form of the action's params through.
pub(crate) fn union(ops: &[Operation]) -> (Vec<&'static str>, Vec<&'static str>) {
    let mut classic = Vec::new();
    let mut granular = Vec::new();
    for op in ops {
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

/// The operation of the action the plan's main request goes to.
pub(crate) fn main_op(def: &ActionDef, plan: &Plan) -> Option<&'static SpecOp> {
    let method = plan.req.method.as_str();
    def.operations
        .iter()
        .filter(|o| o.when.is_none())
        .find(|o| o.method == method && template_matches(o.path, &plan.req.path))
        .and_then(spec_op)
}

/// The spec operations a plan calls: the look-ups it will make, then its main request.
/// When the main request matches none of the action's operations (never for a well-formed
/// action; the conformance test checks it), every operation the action always calls.
fn plan_ops(def: &ActionDef, plan: &Plan) -> Vec<&'static SpecOp> {
    let mut ops: Vec<&'static SpecOp> = plan
        .lookups()
        .into_iter()
        .filter_map(|l| {
            let (method, path) = l.operation();
            spec_op_at(method, path)
        })
        .collect();
    match main_op(def, plan) {
        Some(op) => ops.push(op),
        None => ops.extend(
            def.operations
                .iter()
                .filter(|o| o.when.is_none())
                .filter_map(spec_op),
        ),
    }
    ops
}

/// Every operation the plan calls must be covered: by all of its classic scopes, or all of
/// its granular ones. Names the first missing scope of the family the connection appears
/// to use.
pub(crate) fn check(def: &ActionDef, plan: &Plan, granted: &[String]) -> Result<(), CatalogError> {
    for op in plan_ops(def, plan) {
        if let Some(scope) = missing(op, granted) {
            return Err(CatalogError::MissingScope {
                scope: scope.to_owned(),
                action: def.name(),
            });
        }
    }
    Ok(())
}

/// `None` when `granted` covers the operation, else the scope to ask for.
fn missing(op: &SpecOp, granted: &[String]) -> Option<&'static str> {
    let has = |s: &&str| granted.iter().any(|g| g == s);
    let classic_ok = !op.classic_scopes.is_empty() && op.classic_scopes.iter().all(has);
    let granular_ok = !op.granular_scopes.is_empty() && op.granular_scopes.iter().all(has);
    let none_needed = op.classic_scopes.is_empty() && op.granular_scopes.is_empty();
    if classic_ok || granular_ok || none_needed {
        return None;
    }
    // A connection consented with granular scopes (three-part names) is told about the
    // granular scope it lacks; everyone else about the classic one.
    let uses_granular = granted
        .iter()
        .any(|g| g.matches(':').count() == 2 && g != "offline_access");
    let pick = |set: &'static [&'static str]| set.iter().find(|s| !has(s)).copied();
    if uses_granular {
        pick(op.granular_scopes).or_else(|| pick(op.classic_scopes))
    } else {
        pick(op.classic_scopes).or_else(|| pick(op.granular_scopes))
    }
}

/// Turns Jira's scope refusal of a call to `op` into the catalog's error naming a real
/// scope. Jira's API gateway answers "scope does not match" without naming one; the catalog
/// knows the operation it called, so it names the operation's scope the connection lacks
/// (or, when the grant is unknown, the operation's first classic scope).
pub(crate) fn refused(
    err: JiraError,
    op: Option<&SpecOp>,
    granted: Option<&[String]>,
    def: &ActionDef,
) -> CatalogError {
    match err {
        JiraError::MissingScope { scope, .. } => {
            let scope = if scope == UNNAMED_SCOPE {
                op.and_then(|op| {
                    granted
                        .and_then(|g| missing(op, g))
                        .or_else(|| op.classic_scopes.first().copied())
                        .or_else(|| op.granular_scopes.first().copied())
                })
                .map(str::to_owned)
                .unwrap_or(scope)
            } else {
                scope
            };
            CatalogError::MissingScope {
                scope,
                action: def.name(),
            }
        }
        other => other.into(),
    }
}

/// Adds `X-ExperimentalApi: opt-in` when the spec marks the operation experimental.
pub(crate) fn opt_in(req: JiraRequest, op: Option<&SpecOp>) -> JiraRequest {
    let already = req
        .headers
        .iter()
        .any(|(k, _)| k.eq_ignore_ascii_case(OPT_IN_HEADER.0));
    if op.is_some_and(|op| op.experimental) && !already {
        req.header(OPT_IN_HEADER.0, OPT_IN_HEADER.1)
    } else {
        req
    }
}
