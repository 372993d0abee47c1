//! JSON logs for `jiragate serve`: one object per line, each request's events carrying the
//! `request_id` of its span (set from `X-Request-Id` by the request-id layer).

/// Install a global JSON `tracing` subscriber filtered by `RUST_LOG` (default `info`).
/// Returns `false` when a subscriber was already installed (e.g. by a test harness).
pub fn init_json_logs() -> bool {
    use tracing_subscriber::EnvFilter;
    let filter = EnvFilter::try_from_default_env().unwrap_or_else(|_| EnvFilter::new("info"));
    tracing_subscriber::fmt()
        .json()
        .with_current_span(true)
        .with_span_list(false)
        .with_env_filter(filter)
        .with_writer(std::io::stderr)
        .try_init()
        .is_ok()
}
