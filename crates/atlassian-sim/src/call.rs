//! The context an API handler receives: who calls, on which site, with what input.

use bytes::Bytes;
use http::HeaderMap;
use parking_lot::{RwLockReadGuard, RwLockWriteGuard};
use serde_json::Value;

use crate::reply::Reply;
use crate::routes::OpSpec;
use crate::sitedata::SiteData;
use crate::state::{SimState, Site};

/// An authenticated caller.
#[derive(Clone, Debug)]
pub struct Caller {
    pub user: usize,
    /// Granted OAuth scopes; `None` for classic API tokens (no scope checks).
    pub scopes: Option<Vec<String>>,
    /// Identity used for rate limiting: stable across token refreshes of one grant.
    pub credential: String,
}

pub struct Call<'a> {
    pub state: &'a SimState,
    pub op: &'static OpSpec,
    pub params: Vec<(&'static str, String)>,
    pub query: Vec<(String, String)>,
    pub headers: &'a HeaderMap,
    pub body: Bytes,
    pub site: usize,
    pub caller: Caller,
    /// Base URL the caller used (site URL or `<api>/ex/jira/{cloudId}`), for `self` links.
    pub base: String,
    pub now: i64,
}

impl<'a> Call<'a> {
    pub fn param(&self, name: &str) -> &str {
        self.params
            .iter()
            .find(|(n, _)| *n == name)
            .map(|(_, v)| v.as_str())
            .unwrap_or("")
    }

    pub fn q(&self, name: &str) -> Option<&str> {
        self.query
            .iter()
            .find(|(k, _)| k == name)
            .map(|(_, v)| v.as_str())
    }

    /// Every value of a repeated or comma-separated query parameter.
    pub fn q_list(&self, name: &str) -> Vec<String> {
        self.query
            .iter()
            .filter(|(k, _)| k == name)
            .flat_map(|(_, v)| v.split(','))
            .map(|s| s.trim().to_owned())
            .filter(|s| !s.is_empty())
            .collect()
    }

    pub fn q_num(&self, name: &str, default: usize) -> Result<usize, Reply> {
        match self.q(name) {
            None | Some("") => Ok(default),
            Some(v) => v.parse::<i64>().map(|n| n.max(0) as usize).map_err(|_| {
                Reply::bad_request(&format!(
                    "The value '{v}' is not valid for the parameter '{name}'."
                ))
            }),
        }
    }

    pub fn q_bool(&self, name: &str) -> bool {
        self.q(name).is_some_and(|v| v.eq_ignore_ascii_case("true"))
    }

    pub fn json_body(&self) -> Result<Value, Reply> {
        if self.body.is_empty() {
            return Err(Reply::bad_request("No content to map due to end-of-input"));
        }
        serde_json::from_slice(&self.body).map_err(|e| {
            Reply::bad_request(&format!("Unexpected character in the request body: {e}"))
        })
    }

    pub fn data(&self) -> RwLockReadGuard<'a, SiteData> {
        self.state.data[self.site].read()
    }

    pub fn data_mut(&self) -> RwLockWriteGuard<'a, SiteData> {
        self.state.data[self.site].write()
    }

    pub fn site(&self) -> &'a Site {
        &self.state.sites[self.site]
    }

    pub fn url(&self, path: &str) -> String {
        format!("{}{path}", self.base)
    }
}
