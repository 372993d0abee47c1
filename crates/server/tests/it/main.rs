//! Integration tests of jiragate-server.

mod common;
mod console;
mod e2e;
mod graceful;
mod links;
mod oauth;
mod records;
mod router;
mod security;
