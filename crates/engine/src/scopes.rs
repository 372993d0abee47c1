//! The OAuth scopes catalogue: every classic and granular Jira OAuth 2.0 scope the catalog's
//! actions need, with its description from the specs' `securitySchemes` and the actions that
//! need it — what to tick in the Atlassian developer console and what to ask for in
//! `oauth-clients add --scopes`.

use std::collections::BTreeMap;

use serde::Serialize;

use crate::scope_docs::SCOPE_DOCS;
use crate::{Actor, Engine, EngineError};

/// Classic (`read:jira-work`) or granular (`read:issue:jira`).
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum ScopeKind {
    Classic,
    Granular,
}

/// One OAuth scope and the catalog actions that need it.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct ScopeInfo {
    pub scope: String,
    pub kind: ScopeKind,
    /// From the specs' `securitySchemes` (`None` only if no spec defines the scope).
    pub description: Option<String>,
    /// The spec document that defines it (`jira-platform-v3.json` …).
    pub defined_in: Option<String>,
    /// `entity.action` names, sorted.
    pub actions: Vec<String>,
}

/// The description and defining document of a scope, from the specs.
pub fn scope_doc(scope: &str) -> Option<(&'static str, &'static str)> {
    SCOPE_DOCS
        .binary_search_by(|(s, _, _)| (*s).cmp(scope))
        .ok()
        .map(|i| (SCOPE_DOCS[i].1, SCOPE_DOCS[i].2))
}

impl Engine {
    /// Every scope the catalog's actions use, classic first, each sorted by name; with
    /// `action` (`entity.action`), only the scopes of that action. Catalogue data: any API key
    /// (or the operator) may read it.
    pub fn scopes(
        &self,
        _actor: Actor<'_>,
        action: Option<&str>,
    ) -> Result<Vec<ScopeInfo>, EngineError> {
        let action = action.map(str::trim).filter(|a| !a.is_empty());
        let defs = self.catalog.actions();
        if let Some(a) = action
            && !defs.iter().any(|d| d.name() == a)
        {
            return Err(EngineError::NotFound {
                what: "action",
                id: a.to_owned(),
            });
        }
        let mut map: BTreeMap<(ScopeKind, &'static str), Vec<String>> = BTreeMap::new();
        for def in defs {
            let name = def.name();
            if action.is_some_and(|a| a != name) {
                continue;
            }
            let kinds = [
                (ScopeKind::Classic, def.classic_scopes),
                (ScopeKind::Granular, def.granular_scopes),
            ];
            for (kind, scopes) in kinds {
                for scope in scopes {
                    map.entry((kind, scope)).or_default().push(name.clone());
                }
            }
        }
        Ok(map
            .into_iter()
            .map(|((kind, scope), mut actions)| {
                actions.sort();
                actions.dedup();
                let doc = scope_doc(scope);
                ScopeInfo {
                    scope: scope.to_owned(),
                    kind,
                    description: doc.map(|d| d.0.to_owned()),
                    defined_in: doc.map(|d| d.1.to_owned()),
                    actions,
                }
            })
            .collect())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_table_is_sorted_for_binary_search() {
        assert!(SCOPE_DOCS.windows(2).all(|w| w[0].0 < w[1].0));
        assert!(scope_doc("read:jira-work").is_some());
        assert!(scope_doc("no:such:scope").is_none());
    }
}
