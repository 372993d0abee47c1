//! Integration tests of jiragate-server.

mod common;
mod console;
mod e2e;
mod graceful;
mod links;
mod mcp_auth;
mod oauth;
mod openapi;
mod records;
mod router;
mod security;
