//! Integration tests of jiragate-auth against atlassian-sim over real sockets, with real
//! SQLite files and the real PostgreSQL (`JIRAGATE_TEST_POSTGRES_URL`).

mod api_token;
mod common;
mod crash;
mod keyring;
mod oauth_flow;
mod postgres;
mod secrets;
mod tokens;
