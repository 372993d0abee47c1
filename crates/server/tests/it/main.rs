//! Integration tests of jiragate-server.

mod byo;
mod common;
mod console;
mod e2e;
mod graceful;
mod links;
mod lock;
mod mcp_auth;
mod oauth;
mod openapi;
mod overload;
mod records;
mod rotation;
mod router;
mod security;
mod webhooks;
