//! `jiragate mcp` (the real binary) over stdio: initialize, tools/list, a tool call, and a
//! read-only refusal — newline-delimited JSON-RPC as any MCP client sends it.

use std::io::{BufRead, BufReader, Write};
use std::process::Stdio;

use serde_json::{Value, json};

use crate::support::*;

struct Session {
    child: std::process::Child,
    out: BufReader<std::process::ChildStdout>,
    next: u64,
}

impl Session {
    fn call(&mut self, method: &str, params: Value) -> Value {
        self.next += 1;
        let msg = json!({"jsonrpc": "2.0", "id": self.next, "method": method, "params": params});
        let stdin = self.child.stdin.as_mut().unwrap();
        writeln!(stdin, "{msg}").unwrap();
        stdin.flush().unwrap();
        // Bounded: skip at most a few notifications before the answer.
        for _ in 0..20 {
            let mut line = String::new();
            if self.out.read_line(&mut line).unwrap() == 0 {
                panic!("server closed stdout");
            }
            let v: Value = serde_json::from_str(&line).expect("one JSON message per line");
            if v["id"] == json!(self.next) {
                return v;
            }
        }
        panic!("no answer to {method}");
    }

    fn notify(&mut self, method: &str) {
        let stdin = self.child.stdin.as_mut().unwrap();
        writeln!(stdin, "{}", json!({"jsonrpc": "2.0", "method": method})).unwrap();
        stdin.flush().unwrap();
    }
}

impl Drop for Session {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

fn start(env: &Env, extra: &[&str]) -> Session {
    let mut c = env.cmd();
    c.arg("mcp")
        .args(extra)
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::null());
    let mut child = c.spawn().unwrap();
    let out = BufReader::new(child.stdout.take().unwrap());
    let mut s = Session {
        child,
        out,
        next: 0,
    };
    let init = s.call(
        "initialize",
        json!({"protocolVersion": "2025-06-18", "capabilities": {}, "clientInfo": {"name": "it", "version": "0"}}),
    );
    assert!(init.get("result").is_some(), "{init}");
    s.notify("notifications/initialized");
    s
}

#[tokio::test(flavor = "multi_thread")]
async fn the_jiragate_binary_serves_mcp_on_stdio() {
    let env = Env::new().await;
    assert!(create_seed_connector(&env).await.status.success());
    let key = env.project_key().await;
    let env_ref = &env;
    let (size, names, ok, bad, refused) = tokio::task::block_in_place(|| {
        let mut s = start(env_ref, &[]);
        let tl = s.call("tools/list", json!({}));
        let size = tl["result"].to_string().len();
        let names: Vec<String> = tl["result"]["tools"]
            .as_array()
            .unwrap()
            .iter()
            .map(|t| t["name"].as_str().unwrap().to_string())
            .collect();
        let args = json!({"connection": "w/jira", "entity": "issues", "action": "search", "params": {"jql": format!("project = {key}")}});
        let ok = s.call(
            "tools/call",
            json!({"name": "jira_execute", "arguments": args}),
        );
        let bad = s.call("tools/call", json!({"name": "jira_execute", "arguments": {"connection": "w/jira", "entity": "issues", "action": "nope"}}));
        drop(s);
        let mut ro = start(env_ref, &["--read-only"]);
        let refused = ro.call(
            "tools/call",
            json!({"name": "jira_execute", "arguments": {"connection": "w/jira", "entity": "issues", "action": "create",
                   "params": {"project": key, "summary": "x", "issue_type": "Task"}}}),
        );
        (size, names, ok, bad, refused)
    });
    assert!(
        names.iter().any(|n| n == "jira_describe") && names.iter().any(|n| n == "jira_execute"),
        "{names:?}"
    );
    assert!(size <= 10 * 1024, "tools/list is {size} bytes");
    assert!(
        ok["result"]["content"].is_array() && ok["result"]["isError"] != json!(true),
        "{ok}"
    );
    assert_eq!(
        bad["result"]["isError"],
        json!(true),
        "a bad action is a tool error: {bad}"
    );
    assert_eq!(
        refused["result"]["isError"],
        json!(true),
        "read-only refuses writes: {refused}"
    );
}

/// `serve` with `JIRAGATE_MCP_MAX_SESSIONS_PER_CALLER=2`: a caller's third session on `/mcp`
/// closes its first (404 from then on), the setting reaching rmcp through the real binary.
#[tokio::test(flavor = "multi_thread")]
async fn serve_caps_mcp_sessions_per_caller_as_configured() {
    let env = Env::new().await;
    let served = crate::remote::serve_with(
        &env,
        crate::remote::free_port(),
        &[("JIRAGATE_MCP_MAX_SESSIONS_PER_CALLER", "2")],
    )
    .await;
    let http = reqwest::Client::new();
    let url = format!("{}/mcp", served.base);
    let post = |session: Option<&str>, body: Value| {
        let mut rb = http
            .post(&url)
            .bearer_auth(&served.key)
            .header("accept", "application/json, text/event-stream")
            .header("mcp-protocol-version", "2025-06-18")
            .json(&body);
        if let Some(s) = session {
            rb = rb.header("mcp-session-id", s);
        }
        rb.send()
    };
    let mut sessions = Vec::new();
    for _ in 0..3 {
        let r = post(
            None,
            json!({"jsonrpc": "2.0", "id": 0, "method": "initialize",
                   "params": {"protocolVersion": "2025-06-18", "capabilities": {},
                              "clientInfo": {"name": "t", "version": "0"}}}),
        )
        .await
        .unwrap();
        assert_eq!(r.status(), 200);
        let id = r.headers()["mcp-session-id"].to_str().unwrap().to_owned();
        let r = post(
            Some(&id),
            json!({"jsonrpc": "2.0", "method": "notifications/initialized"}),
        )
        .await
        .unwrap();
        assert_eq!(r.status(), 202);
        sessions.push(id);
    }
    let ping = |id: String| {
        post(
            Some(&id),
            json!({"jsonrpc": "2.0", "id": 1, "method": "ping"}),
        )
    };
    assert_eq!(ping(sessions[0].clone()).await.unwrap().status(), 404);
    for id in &sessions[1..] {
        assert_eq!(ping(id.clone()).await.unwrap().status(), 200);
    }
}
