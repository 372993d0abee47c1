//! The same commands against a running `jiragate serve` (`--server` + `JIRAGATE_API_KEY`).

use std::process::{Child, Command, Stdio};
use std::time::Duration;

use serde_json::Value;

use crate::support::*;

pub struct Served {
    pub child: Child,
    pub base: String,
    pub key: String,
}

impl Drop for Served {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

pub fn free_port() -> u16 {
    std::net::TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port()
}

/// Starts `jiragate serve` on a free port and waits for /healthz.
pub async fn serve(env: &Env) -> Served {
    let port = free_port();
    let mut c: Command = env.cmd();
    c.arg("serve")
        .env("JIRAGATE_LISTEN", format!("127.0.0.1:{port}"))
        .env("JIRAGATE_PUBLIC_URL", format!("http://127.0.0.1:{port}"))
        .stdout(Stdio::null())
        .stderr(Stdio::null());
    let base = format!("http://127.0.0.1:{port}");
    // Owned by `Served` at once, so the process is killed and reaped on every path.
    let mut served = Served {
        child: c.spawn().expect("serve starts"),
        base: base.clone(),
        key: String::new(),
    };
    let http = reqwest::Client::new();
    for _ in 0..300 {
        if let Ok(r) = http.get(format!("{base}/healthz")).send().await
            && r.status().is_success()
        {
            served.key = std::fs::read_to_string(env.data_dir().join("admin.key"))
                .expect("admin.key written")
                .trim()
                .to_string();
            return served;
        }
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    panic!("serve did not answer /healthz within 15 s");
}

#[tokio::test(flavor = "multi_thread")]
async fn every_connectors_command_works_remotely() {
    let env = Env::new().await;
    let served = serve(&env).await;
    let remote = |c: &mut Command| {
        c.env("JIRAGATE_SERVER", &served.base)
            .env("JIRAGATE_API_KEY", &served.key);
    };

    let mut c = env.cmd();
    remote(&mut c);
    env.jira_env(&mut c);
    c.args([
        "connectors",
        "create",
        "--json",
        r#"{"workspace": "w", "name": "jira"}"#,
    ]);
    let o = run(c).await;
    assert!(o.status.success(), "{}", all_output(&o));
    assert!(!all_output(&o).contains(env.token()));

    for args in [
        vec!["connectors", "list", "--output", "json"],
        vec![
            "connectors",
            "get",
            "--json",
            r#"{"workspace": "w", "name": "jira"}"#,
        ],
        vec![
            "connectors",
            "describe",
            "--json",
            r#"{"workspace": "w", "name": "jira"}"#,
            "--output",
            "json",
        ],
        vec!["connectors", "check", "-w", "w", "-n", "jira"],
    ] {
        let mut c = env.cmd();
        remote(&mut c);
        c.args(&args);
        let o = run(c).await;
        assert!(o.status.success(), "{args:?}: {}", all_output(&o));
        assert!(
            stdout(&o).contains("jira")
                || stdout(&o).contains("issues")
                || stdout(&o).contains("healthy"),
            "{args:?}: {}",
            stdout(&o)
        );
    }

    let key = env.project_key().await;
    let exec = format!(
        r#"{{"workspace": "w", "name": "jira", "entity": "issues", "action": "search", "params": {{"jql": "project = {key}"}}}}"#
    );
    let mut c = env.cmd();
    remote(&mut c);
    c.args([
        "connectors",
        "execute",
        "--output",
        "ndjson",
        "--all",
        "--json",
        &exec,
    ]);
    let o = run(c).await;
    assert!(o.status.success(), "{}", all_output(&o));
    let rows = stdout(&o).lines().filter(|l| l.starts_with('{')).count();
    let expected = approximate_count(&env, &key).await;
    assert_eq!(
        rows as u64, expected,
        "--all streams every issue of the project"
    );

    let mut c = env.cmd();
    remote(&mut c);
    c.args(["connectors", "get", "-w", "w", "-n", "nope"]);
    assert_eq!(run(c).await.status.code(), Some(3));

    let mut c = env.cmd();
    remote(&mut c);
    c.env("JIRAGATE_API_KEY", "jg_wrong")
        .args(["connectors", "list"]);
    assert_eq!(run(c).await.status.code(), Some(4), "bad key → 4");

    let mut c = env.cmd();
    remote(&mut c);
    c.args(["connectors", "delete", "-w", "w", "-n", "jira"]);
    let o = run(c).await;
    assert!(o.status.success(), "{}", all_output(&o));
    let mut c = env.cmd();
    remote(&mut c);
    c.args(["connectors", "list", "--output", "json"]);
    let o = run(c).await;
    assert_eq!(
        serde_json::from_str::<Value>(&stdout(&o))
            .unwrap()
            .as_array()
            .map(Vec::len),
        Some(0),
        "{}",
        stdout(&o)
    );
}

async fn approximate_count(env: &Env, key: &str) -> u64 {
    let u = &env.sim.users[0];
    let v: Value = reqwest::Client::new()
        .post(format!(
            "{}/rest/api/3/search/approximate-count",
            env.sim.site_url(&env.sim.sites[0].subdomain)
        ))
        .basic_auth(&u.email, Some(&u.api_token))
        .json(&serde_json::json!({"jql": format!("project = {key}")}))
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    v["count"].as_u64().expect("count")
}
