//! Integration tests of jiragate-server.

mod common;
mod console;
mod e2e;
mod graceful;
mod links;
mod oauth;
mod openapi;
mod records;
mod router;
mod security;
