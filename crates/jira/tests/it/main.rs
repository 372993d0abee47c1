//! Integration tests of jiragate-jira over real sockets: a tiny axum server for precise
//! fault control, and the atlassian-sim simulator for Jira behaviour.

mod auth_refresh;
mod errors;
mod limits;
mod metrics_export;
mod pagination;
mod proxy;
mod rate_limits;
mod retries;
mod sim;
mod support;
mod upstream_policy;
