//! jiragate-jira: the HTTP client for Jira Cloud REST v3, Jira Software agile 1.0 and Jira
//! Service Management — pooled connections, per-connection limits, rate limits and retries,
//! one credential refresh after a 401, typed errors without secrets, pagination as streams,
//! and Markdown ↔ Atlassian Document Format.

pub mod adf;
mod client;
mod error;
mod limiter;
mod paginate;
mod request;
mod retry;
mod target;
pub mod text;
pub mod upstream;
pub mod urls;

pub use client::{ClientConfig, FORWARDING_HEADERS, HoldBoard, JiraClient, strip_for_upstream};
pub use error::{ErrorBody, JiraError, UNNAMED_SCOPE};
pub use paginate::{MAX_PAGES, PageStyle};
pub use request::{JiraRequest, JiraResponse, RequestBody};
pub use target::{JiraAuth, StaticTokenSource, Target, TokenSource};
pub use text::{NameError, check_name, quote};
pub use upstream::{UpstreamError, UpstreamPolicy, upstream_url};

// Re-exported so dependents name the same versions.
pub use async_trait::async_trait;
pub use bytes::Bytes;
pub use http::{HeaderMap, Method, StatusCode};
pub use reqwest;
