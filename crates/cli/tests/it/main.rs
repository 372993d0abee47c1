//! Tests of the real `jiragate` binary against a temporary data dir and the simulator.

mod connect;
mod export;
mod help;
mod local;
mod mcp;
mod mcp_grants;
mod papercuts;
mod records;
mod remote;
mod rotation;
mod sandbox;
mod support;
mod tour;
mod webhooks;
mod webhooks_crash;
