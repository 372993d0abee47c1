//! jiragate-server: the HTTP API of jiragate (axum).
//!
//! `App::build(ServerConfig)` binds a listener, opens the [`jiragate_engine::Engine`] and
//! assembles the router; `App::serve(shutdown)` runs it with graceful shutdown. Routes follow
//! the contract in design.md: seed-compatible connectors, describe/execute/check, the
//! credential-injecting proxy, OAuth clients and connect sessions with `/oauth/callback`,
//! `/api/v1/credentials/token`, organizations, workspaces, API keys, and the operational
//! endpoints (`/healthz`, `/readyz`, `/metrics`, `/openapi.json`, `/docs`, `/mcp`).
//! Every failure is an RFC 9457 problem document ([`problem::Problem`]).

pub mod app;
pub mod caller;
pub mod config;
pub mod extract;
pub mod head_errors;
pub mod html;
mod listen;
pub mod logging;
pub mod mcp;
pub mod mcp_oauth;
pub mod metrics;
pub mod middleware;
pub mod openapi;
pub mod problem;
pub mod ratelimit;
pub mod routes;
pub mod serve_lock;
pub mod state;
pub mod views;

pub use app::App;
pub use config::{RateLimitConfig, ServerConfig};
pub use problem::{Problem, ProblemKind};
