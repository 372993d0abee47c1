//! Integration tests: a real rmcp client against a real server process (stdio) and against the
//! streamable HTTP service mounted in axum, both on an Engine backed by atlassian-sim.

mod common;
mod http;
mod stdio;
mod tools;
