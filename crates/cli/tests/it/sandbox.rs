//! `jiragate sandbox`: a newcomer's first minute — server, simulator and two demo connections.

use std::io::{BufRead, BufReader};
use std::process::Stdio;
use std::time::Duration;

use serde_json::{Value, json};

use crate::remote::free_port;
use crate::support::*;

#[tokio::test(flavor = "multi_thread")]
async fn sandbox_serves_two_working_demo_connections() {
    let env = Env::new().await;
    let port = free_port();
    let mut c = env.cmd();
    c.args([
        "sandbox",
        "--listen",
        &format!("127.0.0.1:{port}"),
        "--issues",
        "40",
    ])
    .stdout(Stdio::piped())
    .stderr(Stdio::null());
    let mut child = c.spawn().unwrap();
    let stdout = child.stdout.take().unwrap();
    let banner = tokio::task::spawn_blocking(move || {
        let mut text = String::new();
        for line in BufReader::new(stdout).lines().take(40) {
            let line = line.unwrap_or_default();
            text.push_str(&line);
            text.push('\n');
            if line.contains("Ctrl-C") {
                break;
            }
        }
        text
    });
    let banner = tokio::time::timeout(Duration::from_secs(60), banner)
        .await
        .expect("banner in time")
        .unwrap();
    let guard = scopeguard(child);
    assert!(
        banner.contains("demo-token") && banner.contains("demo-oauth (")
            || banner.contains("demo-oauth  ("),
        "{banner}"
    );
    let key_path = banner
        .split("JIRAGATE_API_KEY=$(cat ")
        .nth(1)
        .and_then(|rest| rest.split(')').next())
        .unwrap_or_else(|| panic!("the banner says where the key is:\n{banner}"))
        .to_string();
    let key = std::fs::read_to_string(&key_path)
        .unwrap()
        .trim()
        .to_string();
    let base = format!("http://127.0.0.1:{port}");
    let http = reqwest::Client::new();
    let list: Value = http
        .get(format!("{base}/api/v1/integrations/connectors"))
        .bearer_auth(&key)
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    let list = list.get("data").cloned().unwrap_or(list);
    let conns = list.as_array().expect("a list");
    assert_eq!(conns.len(), 2, "{list}");
    for conn in conns {
        let id = conn["id"].as_str().unwrap();
        let r = http
            .post(format!("{base}/api/v1/integrations/connectors/{id}/execute"))
            .bearer_auth(&key)
            .json(&json!({"entity": "issues", "action": "search", "params": {"jql": "project = ENG"}}))
            .send()
            .await
            .unwrap();
        assert_eq!(
            r.status(),
            200,
            "{} via {}",
            r.text().await.unwrap(),
            conn["name"]
        );
    }
    drop(guard);
}

struct Kill(std::process::Child);
impl Drop for Kill {
    fn drop(&mut self) {
        let _ = self.0.kill();
        let _ = self.0.wait();
    }
}
fn scopeguard(c: std::process::Child) -> Kill {
    Kill(c)
}

#[tokio::test(flavor = "multi_thread")]
async fn sandbox_honours_listen_env_sim_listen_and_refuses_deployment_flags() {
    let env = Env::new().await;
    let port = free_port();
    let sim_port = free_port();
    let mut c = env.cmd();
    c.env("JIRAGATE_LISTEN", format!("127.0.0.1:{port}"))
        .args([
            "sandbox",
            "--sim-listen",
            &format!("127.0.0.1:{sim_port}"),
            "--issues",
            "8",
        ])
        .stdout(Stdio::piped())
        .stderr(Stdio::null());
    let mut child = c.spawn().unwrap();
    let stdout = child.stdout.take().unwrap();
    let guard = scopeguard(child);
    let banner = tokio::task::spawn_blocking(move || {
        let mut text = String::new();
        for line in BufReader::new(stdout).lines().take(80) {
            let line = line.unwrap_or_default();
            text.push_str(&line);
            text.push('\n');
            if line.contains("Ctrl-C") {
                break;
            }
        }
        text
    });
    let banner = tokio::time::timeout(Duration::from_secs(60), banner)
        .await
        .expect("banner in time")
        .unwrap();
    assert!(banner.contains(&format!("127.0.0.1:{port}")), "{banner}");
    assert!(
        banner.contains(&format!("127.0.0.1:{sim_port}")),
        "{banner}"
    );
    assert!(
        banner.contains("jql=project = ENG") && !banner.contains("ACME"),
        "{banner}"
    );
    assert!(
        banner.contains("simulated users") && banner.contains("API token") && banner.contains('@'),
        "{banner}"
    );
    let r = reqwest::get(format!("http://127.0.0.1:{port}/healthz"))
        .await
        .unwrap();
    assert!(r.status().is_success());
    drop(guard);

    for flag in [
        vec!["--data-dir", "/tmp/nope"],
        vec!["--database-url", "sqlite:///tmp/nope.db"],
        vec!["--server", "http://127.0.0.1:1"],
    ] {
        let mut args = vec!["sandbox"];
        args.extend(&flag);
        let o = env.jg(&args).await;
        assert_eq!(o.status.code(), Some(2), "{flag:?}: {}", all_output(&o));
        assert!(stderr(&o).contains(flag[0]), "{flag:?}: {}", stderr(&o));
    }
}
