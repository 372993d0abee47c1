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
