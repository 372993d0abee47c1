//! CLI failures carry the exit code a script can branch on and a message a person can act on.

use serde_json::Value;

use crate::output::exit;

#[derive(Debug)]
pub struct CliError {
    pub code: i32,
    pub message: String,
}

impl CliError {
    pub fn new(code: i32, message: impl Into<String>) -> Self {
        Self {
            code,
            message: message.into(),
        }
    }
    pub fn usage(m: impl Into<String>) -> Self {
        Self::new(exit::USAGE, m)
    }
    pub fn not_found(m: impl Into<String>) -> Self {
        Self::new(exit::NOT_FOUND, m)
    }
    pub fn upstream(m: impl Into<String>) -> Self {
        Self::new(exit::UPSTREAM, m)
    }
    pub fn failure(m: impl Into<String>) -> Self {
        Self::new(exit::FAILURE, m)
    }

    /// Maps a stable problem `type` (or engine error kind) to an exit code.
    pub fn code_for_kind(kind: &str) -> i32 {
        let k = kind.rsplit('/').next().unwrap_or(kind);
        match k {
            "validation"
            | "invalid_params"
            | "unknown_action"
            | "unknown_entity"
            | "conflict"
            | "site_choice_required" => exit::USAGE,
            "config" => exit::CONFIG,
            "not_found" => exit::NOT_FOUND,
            "needs_reauth" | "forbidden" | "unauthorized" | "missing_scope" | "read_only" => {
                exit::NEEDS_REAUTH_OR_FORBIDDEN
            }
            "upstream_error" | "upstream" | "rate_limited" | "timeout" | "transport" => {
                exit::UPSTREAM
            }
            _ => exit::FAILURE,
        }
    }

    pub fn from_problem(status: u16, body: &Value) -> Self {
        let kind = body.get("type").and_then(Value::as_str).unwrap_or("");
        let detail = body
            .get("detail")
            .or_else(|| body.get("title"))
            .and_then(Value::as_str)
            .map(str::to_string)
            .unwrap_or_else(|| body.to_string());
        let code = if kind.is_empty() {
            match status {
                404 => exit::NOT_FOUND,
                401 | 403 => exit::NEEDS_REAUTH_OR_FORBIDDEN,
                400 | 422 => exit::USAGE,
                _ => exit::UPSTREAM,
            }
        } else {
            Self::code_for_kind(kind)
        };
        Self::new(code, detail)
    }
}

impl std::fmt::Display for CliError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(&self.message)
    }
}

impl From<jiragate_engine::EngineError> for CliError {
    fn from(e: jiragate_engine::EngineError) -> Self {
        Self::new(Self::code_for_kind(e.kind()), e.to_string())
    }
}

impl From<anyhow::Error> for CliError {
    fn from(e: anyhow::Error) -> Self {
        Self::failure(format!("{e:#}"))
    }
}
