//! One module per console section. Each handler parses its form, calls one engine operation
//! as the signed-in key, and renders.

pub(crate) mod audit;
pub(crate) mod connect;
pub(crate) mod connections;
pub(crate) mod keys;
pub(crate) mod mcp_grants;
pub(crate) mod mcp_settings;
pub(crate) mod oauth_clients;
pub(crate) mod orgs;
pub(crate) mod playground;
pub(crate) mod sign_in;
pub(crate) mod webhooks;

use axum::response::{IntoResponse, Redirect, Response};

/// Post/redirect/get: after a change, the browser loads the page that shows it.
pub(crate) fn see_other(to: &str) -> Response {
    Redirect::to(to).into_response()
}

/// A submitted form as its fields in order, so that repeated names (a multi-select) and
/// generated names (the playground's `p.<param>`) read the same way.
#[derive(Debug, Default, serde::Deserialize)]
#[serde(transparent)]
pub(crate) struct Fields(pub Vec<(String, String)>);

impl Fields {
    /// The first value of `name`, trimmed; empty means absent.
    pub fn get(&self, name: &str) -> Option<&str> {
        self.0
            .iter()
            .find(|(k, _)| k == name)
            .map(|(_, v)| v.trim())
            .filter(|v| !v.is_empty())
    }

    /// The raw first value of `name` (secrets: not trimmed, not logged).
    pub fn raw(&self, name: &str) -> Option<&str> {
        self.0
            .iter()
            .find(|(k, _)| k == name)
            .map(|(_, v)| v.as_str())
            .filter(|v| !v.trim().is_empty())
    }

    /// Every non-empty value of `name`, each also split on spaces and commas.
    pub fn all(&self, name: &str) -> Vec<String> {
        let mut out: Vec<String> = Vec::new();
        for (_, v) in self.0.iter().filter(|(k, _)| k == name) {
            for part in v
                .split([' ', ',', '\n'])
                .map(str::trim)
                .filter(|p| !p.is_empty())
            {
                if !out.iter().any(|o| o == part) {
                    out.push(part.to_owned());
                }
            }
        }
        out
    }
}
