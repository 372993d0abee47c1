//! Request and response values of [`crate::JiraClient::send`].

use bytes::Bytes;
use http::{HeaderMap, Method, StatusCode};
use serde::de::DeserializeOwned;
use serde_json::Value;

use crate::error::JiraError;

/// The body of a [`JiraRequest`]. Always replayable (owned bytes), so retries are possible.
#[derive(Debug, Clone, Default)]
pub enum RequestBody {
    #[default]
    None,
    Json(Value),
    /// One file as `multipart/form-data` (attachments: field `file`).
    Multipart {
        field: String,
        filename: String,
        content_type: String,
        bytes: Bytes,
    },
    Bytes {
        content_type: String,
        bytes: Bytes,
    },
}

/// A Jira REST call relative to a [`crate::Target`]'s base URL.
#[derive(Debug, Clone)]
pub struct JiraRequest {
    pub method: Method,
    /// Starts with '/', e.g. `/rest/api/3/myself`; already percent-encoded where needed.
    pub path: String,
    pub query: Vec<(String, String)>,
    pub body: RequestBody,
    pub headers: Vec<(String, String)>,
    /// A read sent as POST (`/search/jql`, approximate count, JQL parse, bulk fetch): safe to
    /// repeat after a 5xx or a lost connection, like a GET.
    pub read_only: bool,
}

impl JiraRequest {
    pub fn new(method: Method, path: impl Into<String>) -> Self {
        JiraRequest {
            method,
            path: path.into(),
            query: Vec::new(),
            body: RequestBody::None,
            headers: Vec::new(),
            read_only: false,
        }
    }

    pub fn get(path: impl Into<String>) -> Self {
        Self::new(Method::GET, path)
    }

    pub fn post(path: impl Into<String>, json: Value) -> Self {
        Self::new(Method::POST, path).json(json)
    }

    pub fn put(path: impl Into<String>, json: Value) -> Self {
        Self::new(Method::PUT, path).json(json)
    }

    pub fn delete(path: impl Into<String>) -> Self {
        Self::new(Method::DELETE, path)
    }

    /// Appends a query parameter (repeatable keys are kept in order).
    pub fn query(mut self, key: impl Into<String>, value: impl Into<String>) -> Self {
        self.query.push((key.into(), value.into()));
        self
    }

    /// Sets (replaces) every occurrence of a query parameter.
    pub fn set_query(&mut self, key: &str, value: impl Into<String>) {
        self.query.retain(|(k, _)| k != key);
        self.query.push((key.to_owned(), value.into()));
    }

    /// The current value of a query parameter.
    pub fn query_value(&self, key: &str) -> Option<&str> {
        self.query
            .iter()
            .find(|(k, _)| k == key)
            .map(|(_, v)| v.as_str())
    }

    /// Marks a POST (or other non-idempotent method) as a read that may be retried like a GET.
    pub fn read_only(mut self) -> Self {
        self.read_only = true;
        self
    }

    pub fn json(mut self, value: Value) -> Self {
        self.body = RequestBody::Json(value);
        self
    }

    pub fn header(mut self, key: impl Into<String>, value: impl Into<String>) -> Self {
        self.headers.push((key.into(), value.into()));
        self
    }

    pub fn multipart(
        mut self,
        field: impl Into<String>,
        filename: impl Into<String>,
        content_type: impl Into<String>,
        bytes: Bytes,
    ) -> Self {
        self.body = RequestBody::Multipart {
            field: field.into(),
            filename: filename.into(),
            content_type: content_type.into(),
            bytes,
        };
        self
    }

    /// `path?query` as it goes on the wire (for logs and error hints).
    pub fn path_and_query(&self) -> String {
        if self.query.is_empty() {
            self.path.clone()
        } else {
            let qs = serde_urlencoded::to_string(&self.query).unwrap_or_default();
            format!("{}?{}", self.path, qs)
        }
    }
}

/// A successful (2xx) answer, fully buffered.
#[derive(Debug, Clone)]
pub struct JiraResponse {
    pub status: StatusCode,
    pub headers: HeaderMap,
    pub body: Bytes,
}

impl JiraResponse {
    /// Deserializes the body.
    pub fn json<T: DeserializeOwned>(&self) -> Result<T, JiraError> {
        serde_json::from_slice(&self.body).map_err(|e| JiraError::InvalidResponse {
            message: format!("body is not the expected JSON: {e}"),
        })
    }

    /// The body as JSON; an empty body (204) is `null`.
    pub fn value(&self) -> Result<Value, JiraError> {
        if self.body.iter().all(u8::is_ascii_whitespace) {
            return Ok(Value::Null);
        }
        self.json()
    }

    /// Jira's request id (`X-AREQUESTID`).
    pub fn request_id(&self) -> Option<&str> {
        self.headers
            .get("x-arequestid")
            .and_then(|v| v.to_str().ok())
    }
}
