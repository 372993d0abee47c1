//! What an action's params turn into: the first Jira request, how to page it, and how to
//! shape the answer.

use bytes::Bytes;
use http::Method;
use jiragate_jira::{JiraRequest, RequestBody};
use percent_encoding::{AsciiSet, NON_ALPHANUMERIC, utf8_percent_encode};
use serde::Serialize;
use serde_json::Value;

/// Characters left as-is in a path segment (RFC 3986 unreserved).
const SEGMENT: &AsciiSet = &NON_ALPHANUMERIC
    .remove(b'-')
    .remove(b'.')
    .remove(b'_')
    .remove(b'~');

/// The caller's paging wishes.
#[derive(Clone, Debug, Default)]
pub(crate) struct Window {
    /// Maximum number of items to return (page size for one page; overall cap with `all`).
    pub limit: Option<u32>,
    pub page_token: Option<String>,
    pub all: bool,
}

/// How the answer becomes `data`.
#[derive(Clone, Debug)]
pub(crate) enum Shape {
    /// The JSON as Jira sent it.
    Raw,
    /// No content expected (204): `{"ok": true}` unless Jira sent a body.
    Ack,
    /// An issue: add `description_markdown` rendered from the ADF description.
    Issue,
    /// A comment (or worklog): add `body_markdown` / `comment_markdown` from ADF.
    Comment,
    /// The value at a JSON pointer, e.g. `/fields/attachment`.
    Pick(&'static str),
    /// Binary content: `{content_base64, content_type, size}`.
    Binary,
    /// `issue_fields.resolve`: the fields matching the given names or ids.
    ResolveFields(Vec<String>),
}

/// A validated action call, ready to send.
#[derive(Clone, Debug)]
pub(crate) struct Plan {
    pub req: JiraRequest,
    pub window: Option<Window>,
    pub shape: Shape,
    /// Look-ups to run before the request (each names the extra operation it calls).
    pub pre: Vec<PreStep>,
    /// The connection's granted OAuth scopes, when known: used to name the scope Jira
    /// refuses a call for (Jira's 403 does not name it).
    pub granted: Option<Vec<String>>,
}

/// A look-up some actions make before their main request, and the one Jira operation it
/// calls. Actions declare the look-ups their plans may use ([`crate::actions`]'s
/// `Builder::lookup`), which puts the operation, with its condition, in the action's
/// operations: describe then lists its scopes, and the scope check covers it.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum Lookup {
    FieldNames,
    TransitionName,
    ProjectId,
}

impl Lookup {
    #[cfg(test)]
    pub(crate) const ALL: [Lookup; 3] = [
        Lookup::FieldNames,
        Lookup::TransitionName,
        Lookup::ProjectId,
    ];

    /// Method and spec path template of the operation the look-up calls.
    pub(crate) const fn operation(self) -> (&'static str, &'static str) {
        match self {
            Lookup::FieldNames => ("GET", "/rest/api/3/field"),
            Lookup::TransitionName => ("GET", "/rest/api/3/issue/{issueIdOrKey}/transitions"),
            Lookup::ProjectId => ("GET", "/rest/api/3/project/{projectIdOrKey}"),
        }
    }

    /// When the look-up happens (shown by describe).
    pub(crate) const fn when(self) -> &'static str {
        match self {
            Lookup::FieldNames => "when fields are given by name or are custom fields",
            Lookup::TransitionName => "when the transition is given by name",
            Lookup::ProjectId => "when the project is given by key",
        }
    }
}

/// A look-up some actions need before their main request.
#[derive(Clone, Debug)]
pub(crate) enum PreStep {
    /// Field names in the body's `fields`/`update` maps (also inside `issueUpdates[]`) become
    /// field ids via `GET /rest/api/3/field` (fetched once per call); Markdown strings for
    /// rich-text custom fields become ADF.
    FieldNames,
    /// A transition given by name becomes its id via `GET .../transitions` of the issue.
    TransitionName { issue: String, name: String },
    /// A project given by key becomes its numeric id (into `body[target]`) via
    /// `GET /rest/api/3/project/{key}`.
    ProjectId { key: String, target: &'static str },
}

impl PreStep {
    pub(crate) fn lookup(&self) -> Lookup {
        match self {
            PreStep::FieldNames => Lookup::FieldNames,
            PreStep::TransitionName { .. } => Lookup::TransitionName,
            PreStep::ProjectId { .. } => Lookup::ProjectId,
        }
    }
}

impl Plan {
    pub fn new(req: JiraRequest) -> Plan {
        Plan {
            req,
            window: None,
            shape: Shape::Raw,
            pre: Vec::new(),
            granted: None,
        }
    }

    pub fn get(path: String) -> Plan {
        Plan::new(JiraRequest::get(path))
    }

    pub fn delete(path: String) -> Plan {
        Plan::new(JiraRequest::delete(path)).shape(Shape::Ack)
    }

    pub fn post(path: String, body: Value) -> Plan {
        Plan::new(JiraRequest::post(path, body))
    }

    pub fn put(path: String, body: Value) -> Plan {
        Plan::new(JiraRequest::put(path, body))
    }

    pub fn with_method(method: Method, path: String, body: Option<Value>) -> Plan {
        let mut req = JiraRequest::new(method, path);
        if let Some(body) = body {
            req = req.json(body);
        }
        Plan::new(req)
    }

    pub fn multipart(path: String, filename: String, content_type: String, bytes: Bytes) -> Plan {
        let req = JiraRequest::new(Method::POST, path)
            // Jira refuses multipart uploads without this XSRF opt-out header.
            .header("X-Atlassian-Token", "no-check")
            .multipart("file", filename, content_type, bytes);
        Plan::new(req)
    }

    pub fn q(mut self, key: &str, value: impl ToString) -> Plan {
        self.req = self.req.query(key, value.to_string());
        self
    }

    pub fn q_opt<T: ToString>(self, key: &str, value: Option<T>) -> Plan {
        match value {
            Some(v) => self.q(key, v),
            None => self,
        }
    }

    /// A list query param as Jira expects it: comma separated.
    pub fn q_list(self, key: &str, values: Option<Vec<String>>) -> Plan {
        match values {
            Some(v) if !v.is_empty() => self.q(key, v.join(",")),
            _ => self,
        }
    }

    pub fn shape(mut self, shape: Shape) -> Plan {
        self.shape = shape;
        self
    }

    pub fn paged(
        mut self,
        limit: Option<u32>,
        page_token: Option<String>,
        all: Option<bool>,
    ) -> Plan {
        self.window = Some(Window {
            limit,
            page_token,
            all: all.unwrap_or(false),
        });
        self
    }

    pub fn pre(mut self, step: PreStep) -> Plan {
        self.pre.push(step);
        self
    }

    /// The look-ups this plan will really make: a field-name look-up only when the body
    /// names a field that is not a system field id.
    pub(crate) fn lookups(&self) -> Vec<Lookup> {
        let mut out: Vec<Lookup> = Vec::new();
        for step in &self.pre {
            let active = match step {
                PreStep::FieldNames => match &self.req.body {
                    RequestBody::Json(body) => crate::fields::needs_lookup(body),
                    _ => false,
                },
                _ => true,
            };
            if active && !out.contains(&step.lookup()) {
                out.push(step.lookup());
            }
        }
        out
    }
}

/// A request as the catalog would send it: for dry runs and the conformance test.
#[derive(Clone, Debug, Serialize)]
pub struct PlannedRequest {
    pub method: String,
    pub path: String,
    pub query: Vec<(String, String)>,
    /// JSON body; for multipart uploads `{"multipart": {"field", "filename", "content_type"}}`.
    pub body: Option<Value>,
    pub content_type: Option<String>,
    pub headers: Vec<(String, String)>,
    /// Operations called before this request to resolve names (`[method, path template]`),
    /// e.g. `GET /rest/api/3/field` when custom fields are given by name.
    pub lookups: Vec<(String, String)>,
}

impl PlannedRequest {
    pub(crate) fn from_request(req: &JiraRequest) -> PlannedRequest {
        let (body, content_type) = match &req.body {
            RequestBody::None => (None, None),
            RequestBody::Json(v) => (Some(v.clone()), Some("application/json".to_owned())),
            RequestBody::Multipart {
                field,
                filename,
                content_type,
                ..
            } => (
                Some(
                    serde_json::json!({"multipart": {"field": field, "filename": filename, "content_type": content_type}}),
                ),
                Some("multipart/form-data".to_owned()),
            ),
            RequestBody::Bytes { content_type, .. } => (None, Some(content_type.clone())),
        };
        PlannedRequest {
            method: req.method.to_string(),
            path: req.path.clone(),
            query: req.query.clone(),
            body,
            content_type,
            headers: req.headers.clone(),
            lookups: Vec::new(),
        }
    }
}

/// Does a concrete path match a spec path template (`{x}` is one non-empty segment)?
pub(crate) fn template_matches(template: &str, path: &str) -> bool {
    let path = path.split('?').next().unwrap_or(path);
    let t: Vec<&str> = template.split('/').collect();
    let p: Vec<&str> = path.split('/').collect();
    t.len() == p.len()
        && t.iter().zip(&p).all(|(t, p)| {
            if t.starts_with('{') && t.ends_with('}') {
                !p.is_empty()
            } else {
                t == p
            }
        })
}

/// Fills `{name}` placeholders of a spec path template, in order, with percent-encoded values.
pub(crate) fn path(template: &str, values: &[&str]) -> String {
    let mut out = String::with_capacity(template.len() + 16);
    let mut values = values.iter();
    let mut rest = template;
    while let Some(open) = rest.find('{') {
        out.push_str(&rest[..open]);
        let Some(close) = rest[open..].find('}') else {
            break;
        };
        let value = values.next().copied().unwrap_or_default();
        out.extend(utf8_percent_encode(value, SEGMENT));
        rest = &rest[open + close + 1..];
    }
    out.push_str(rest);
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn path_fills_and_encodes_segments() {
        assert_eq!(
            path(
                "/rest/api/3/issue/{issueIdOrKey}/comment/{id}",
                &["ACME-1", "10/0"]
            ),
            "/rest/api/3/issue/ACME-1/comment/10%2F0"
        );
        assert_eq!(path("/rest/api/3/myself", &[]), "/rest/api/3/myself");
        assert!(template_matches(
            "/rest/api/3/issue/{issueIdOrKey}/comment/{id}",
            "/rest/api/3/issue/ACME-1/comment/10%2F0"
        ));
        assert!(!template_matches(
            "/rest/api/3/issue/{issueIdOrKey}",
            "/rest/api/3/issue/bulk/x"
        ));
        assert!(!template_matches(
            "/rest/api/3/issue/{issueIdOrKey}",
            "/rest/api/3/issue/"
        ));
        assert_eq!(
            path("/rest/api/3/status/{idOrName}", &["In Progress"]),
            "/rest/api/3/status/In%20Progress"
        );
    }
}
