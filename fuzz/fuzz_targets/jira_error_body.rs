//! Parsing Jira's error bodies (untrusted: Jira, the API gateway, or any proxy in between)
//! and rendering the resulting error must never panic.
//!
//! Covers `ErrorBody::parse` (JSON shapes of platform, gateway, service management and
//! OAuth errors; non-JSON bodies cut to an excerpt on a char boundary) and the `Display` of
//! `JiraError::Upstream` built from it. Half the inputs are raw bytes; the other half are
//! JSON objects built from the keys `ErrorBody::parse` looks at, so the JSON paths are hit.
//!
//! `Retry-After` / `X-RateLimit-Reset` parsing (`retry::rate_limit_wait`) is `pub(crate)` in
//! jiragate-jira and so not reachable from here; see fuzz/README.md.
#![no_main]

use std::collections::BTreeMap;

use arbitrary::{Result, Unstructured};
use jiragate_fuzz::ValueGen;
use jiragate_jira::{ErrorBody, JiraError};
use libfuzzer_sys::fuzz_target;
use serde_json::Value;

const KEYS: &[&str] = &[
    "errorMessages",
    "errors",
    "errorMessage",
    "message",
    "error_description",
    "error",
    "code",
    "status",
];
const STRINGS: &[&str] = &[
    "",
    " ",
    "Unauthorized; scope does not match",
    "read:jira-work",
    "Issue does not exist",
    "<html>bad gateway</html>",
    "ünïcödé",
    "\u{0}",
    "…",
];

fn structured(u: &mut Unstructured) -> Result<Vec<u8>> {
    let vg = ValueGen {
        keys: KEYS,
        strings: STRINGS,
    };
    let body = Value::Object(vg.object(u, 3)?);
    Ok(serde_json::to_vec(&body).expect("a Value serialises"))
}

fn check(body: &[u8], status: u16) {
    let parsed = ErrorBody::parse(body);
    for m in &parsed.messages {
        // Non-JSON bodies are cut to 300 chars plus an ellipsis.
        if serde_json::from_slice::<Value>(body).is_err() {
            assert!(m.chars().count() <= 301, "excerpt not truncated");
        }
    }
    let err = JiraError::Upstream {
        status,
        messages: parsed.messages,
        field_errors: parsed.field_errors.into_iter().collect::<BTreeMap<_, _>>(),
        request_id: None,
        hint: None,
        connection: "conn-fuzz".to_owned(),
    };
    let _ = (err.to_string(), err.kind(), err.status());
}

fuzz_target!(|data: &[u8]| {
    let Some((&mode, rest)) = data.split_first() else {
        return;
    };
    let status = 400 + u16::from(mode % 200);
    if mode % 2 == 0 {
        check(rest, status);
    } else if let Ok(body) = structured(&mut Unstructured::new(rest)) {
        check(&body, status);
    }
});
