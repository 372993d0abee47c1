//! `Retry-After` / `X-RateLimit-Reset` handling must never panic, whatever Jira (or a proxy)
//! sends.
//!
//! The parser (`retry::rate_limit_wait`) is `pub(crate)` in jiragate-jira, so this target goes
//! through the public `JiraClient::send` against a one-thread HTTP/1.1 responder on
//! 127.0.0.1 that answers every request with the fuzzed status (429, 503, 500, 502, 504) and
//! the two fuzzed headers. Slower than an in-process parser call, but it also covers what
//! the client does with the parsed wait (budget checks, sleeps, retries).
#![no_main]

use std::io::{Read, Write};
use std::net::{SocketAddr, TcpListener};
use std::sync::{LazyLock, Mutex};
use std::time::Duration;

use arbitrary::{Result, Unstructured};
use jiragate_jira::{ClientConfig, JiraAuth, JiraClient, JiraRequest, StaticTokenSource, Target};
use libfuzzer_sys::fuzz_target;
use secrecy::SecretString;

const STATUSES: &[u16] = &[429, 503, 500, 502, 504];
const VALUES: &[&str] = &[
    "0",
    "1",
    "0.001",
    "1.5",
    "-1",
    "1e20",
    "1e308",
    "18446744073709551615",
    "18446744073709551616",
    "NaN",
    "inf",
    " 2 ",
    "",
    "soon",
    "Wed, 21 Oct 2015 07:28:10 GMT",
    "Fri, 31 Dec 9999 23:59:59 GMT",
    "2026-01-01T00:00:05Z",
    "9999-12-31T23:59:59Z",
    "1970-01-01T00:00:00Z",
    "2026-01-01T00:00:05.123456789+14:00",
];

/// The response the responder sends next (status line, headers, small JSON body).
static RESPONSE: Mutex<Vec<u8>> = Mutex::new(Vec::new());

static SERVER: LazyLock<SocketAddr> = LazyLock::new(|| {
    let listener = TcpListener::bind("127.0.0.1:0").expect("bind 127.0.0.1:0");
    let addr = listener.local_addr().expect("local addr");
    std::thread::spawn(move || {
        for stream in listener.incoming() {
            let Ok(mut stream) = stream else { continue };
            let _ = stream.set_read_timeout(Some(Duration::from_secs(2)));
            // Read the request head (GET, no body), then answer and close.
            let mut head = Vec::new();
            let mut buf = [0u8; 1024];
            while !head.windows(4).any(|w| w == b"\r\n\r\n") {
                match stream.read(&mut buf) {
                    Ok(0) | Err(_) => break,
                    Ok(n) => head.extend_from_slice(&buf[..n]),
                }
            }
            let response = RESPONSE.lock().map(|r| r.clone()).unwrap_or_default();
            let _ = stream.write_all(&response);
        }
    });
    addr
});

static RUNTIME: LazyLock<tokio::runtime::Runtime> = LazyLock::new(|| {
    tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .expect("tokio runtime")
});

static CLIENT: LazyLock<JiraClient> = LazyLock::new(|| {
    JiraClient::new(ClientConfig {
        connect_timeout: Duration::from_secs(1),
        request_timeout: Duration::from_secs(2),
        deadline: Duration::from_secs(3),
        max_retries: 1,
        max_retry_wait: Duration::from_millis(5),
        base_backoff: Duration::from_millis(1),
        ..ClientConfig::default()
    })
});

fn header_value(u: &mut Unstructured) -> Result<Option<String>> {
    Ok(match u.int_in_range(0..=3u8)? {
        0 => None,
        1 => Some(u.arbitrary::<String>()?),
        _ => Some((*u.choose(VALUES)?).to_owned()),
    }
    // Keep the response well-framed: no line breaks inside a header value.
    .map(|v| v.replace(['\r', '\n'], "")))
}

fn response(u: &mut Unstructured) -> Result<Vec<u8>> {
    let status = *u.choose(STATUSES)?;
    let mut head = format!("HTTP/1.1 {status} Fuzz\r\n");
    if let Some(v) = header_value(u)? {
        head.push_str(&format!("Retry-After: {v}\r\n"));
    }
    if let Some(v) = header_value(u)? {
        head.push_str(&format!("X-RateLimit-Reset: {v}\r\n"));
    }
    let body = br#"{"errorMessages":["fuzz"]}"#;
    head.push_str(&format!(
        "Content-Type: application/json\r\nContent-Length: {}\r\nConnection: close\r\n\r\n",
        body.len()
    ));
    let mut out = head.into_bytes();
    out.extend_from_slice(body);
    Ok(out)
}

fuzz_target!(|data: &[u8]| {
    let Ok(bytes) = response(&mut Unstructured::new(data)) else {
        return;
    };
    if std::env::var_os("JIRAGATE_FUZZ_PRINT").is_some() {
        // For reports: `JIRAGATE_FUZZ_PRINT=1 <binary> <crash file>` shows the answer sent.
        eprintln!("{}", String::from_utf8_lossy(&bytes));
    }
    *RESPONSE.lock().expect("response lock") = bytes;
    let target = Target::new(
        format!("http://{}", *SERVER),
        JiraAuth::Basic {
            email: "fuzz@example.com".to_owned(),
            token: SecretString::from("not-a-secret"),
        },
        "conn-fuzz",
    );
    let src = StaticTokenSource(target);
    let result = RUNTIME.block_on(CLIENT.send(&src, JiraRequest::get("/rest/api/3/myself")));
    assert!(result.is_err(), "an error status was reported as success");
});
