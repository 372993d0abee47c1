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
    serve_on(env, free_port()).await
}

/// Starts `jiragate serve` on `port` (known in advance, e.g. for a registered redirect URI).
pub async fn serve_on(env: &Env, port: u16) -> Served {
    serve_with(env, port, &[]).await
}

/// As [`serve_on`], with more environment variables for `serve`.
pub async fn serve_with(env: &Env, port: u16, extra: &[(&str, &str)]) -> Served {
    let mut c: Command = env.cmd();
    c.envs(extra.iter().copied());
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

#[tokio::test(flavor = "multi_thread")]
async fn keys_clients_doctor_and_connect_agree_with_local_mode() {
    let port = free_port();
    let public = format!("http://127.0.0.1:{port}");
    let env = Env::with(atlassian_sim::SimConfig {
        issues_per_site: 8,
        redirect_uris: vec![format!("{public}/oauth/callback")],
        ..atlassian_sim::SimConfig::default()
    })
    .await;
    let served = serve_on(&env, port).await;
    let remote = |c: &mut Command| {
        c.env("JIRAGATE_SERVER", &served.base)
            .env("JIRAGATE_API_KEY", &served.key);
    };
    let client = env.sim.oauth_clients[0].clone();
    let mut c = env.cmd();
    remote(&mut c);
    c.env("JIRAGATE_OAUTH_CLIENT_SECRET", &client.client_secret)
        .args(["oauth-clients", "add", "--client-id", &client.client_id]);
    let o = run(c).await;
    assert!(o.status.success(), "{}", all_output(&o));

    // Tables show the rows; JSON is the same array in both modes.
    for (list, needle) in [
        ("keys", "admin"),
        ("oauth-clients", client.client_id.as_str()),
    ] {
        let mut c = env.cmd();
        remote(&mut c);
        c.args([list, "list"]);
        let o = run(c).await;
        assert!(o.status.success(), "{}", all_output(&o));
        assert!(
            stdout(&o).contains(needle) && stdout(&o).contains("ID"),
            "remote {list} list table: {}",
            stdout(&o)
        );
        let mut c = env.cmd();
        remote(&mut c);
        c.args([list, "list", "-o", "json"]);
        let o = run(c).await;
        let remote_json: Value = serde_json::from_str(&stdout(&o)).expect("json");
        let o = env.jg(&[list, "list", "-o", "json"]).await;
        let local_json: Value = serde_json::from_str(&stdout(&o)).expect("json");
        let keys = |v: &Value| -> Vec<String> {
            let rows = v
                .as_array()
                .unwrap_or_else(|| panic!("{list}: an array: {v}"));
            assert!(!rows.is_empty(), "{list}: {v}");
            let mut k: Vec<String> = rows[0].as_object().unwrap().keys().cloned().collect();
            k.sort();
            k
        };
        assert_eq!(keys(&remote_json), keys(&local_json), "{list}: one shape");
        assert_eq!(
            remote_json.as_array().unwrap().len(),
            local_json.as_array().unwrap().len()
        );
    }

    // connect --client <Atlassian client id> against the server.
    let mut c = env.cmd();
    remote(&mut c);
    c.args([
        "connect",
        "--client",
        &client.client_id,
        "--no-browser",
        "--name",
        "cloud",
        "--subdomain",
        &env.sim.sites[1].subdomain,
        "--output",
        "json",
        "--timeout",
        "60",
    ])
    .stdout(Stdio::piped())
    .stderr(Stdio::piped());
    let mut child = c.spawn().unwrap();
    let stderr = child.stderr.take().unwrap();
    let url = tokio::task::spawn_blocking(move || {
        use std::io::BufRead;
        for line in std::io::BufReader::new(stderr).lines().take(50) {
            let line = line.unwrap_or_default();
            if let Some(u) = line
                .split_whitespace()
                .find(|w| w.starts_with("http") && w.contains("/authorize?"))
            {
                return u.to_string();
            }
        }
        String::new()
    })
    .await
    .unwrap();
    assert!(url.contains("/authorize?"), "no authorize URL: {url:?}");
    let http = reqwest::Client::builder()
        .redirect(reqwest::redirect::Policy::none())
        .build()
        .unwrap();
    let consent = http.get(&url).send().await.unwrap();
    let location = consent.headers()["location"].to_str().unwrap().to_string();
    assert!(location.starts_with(&public), "{location}");
    let page = http.get(&location).send().await.unwrap();
    assert!(page.status().is_success(), "{}", page.status());
    let out = tokio::time::timeout(
        Duration::from_secs(30),
        tokio::task::spawn_blocking(move || child.wait_with_output().unwrap()),
    )
    .await
    .unwrap()
    .unwrap();
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stdout)
    );
    let conn: Value = serde_json::from_slice(&out.stdout).unwrap();
    assert_eq!(conn["auth_kind"], "oauth2", "{conn}");

    // doctor checks the server, not a local data dir, and creates nothing.
    let empty = tempfile::tempdir().unwrap();
    let mut c = env.cmd();
    remote(&mut c);
    c.env_remove("JIRAGATE_DATA_DIR")
        .current_dir(empty.path())
        .args(["doctor"]);
    let o = run(c).await;
    let text = all_output(&o);
    assert!(o.status.success(), "{text}");
    for needle in [
        "healthz",
        "readyz",
        "api key",
        "connection default/cloud",
        "healthy",
    ] {
        assert!(
            text.contains(needle),
            "doctor --server misses {needle}: {text}"
        );
    }
    assert!(
        std::fs::read_dir(empty.path()).unwrap().next().is_none(),
        "remote doctor created files in the working directory"
    );
    // A wrong key is a failed check.
    let mut c = env.cmd();
    remote(&mut c);
    c.env("JIRAGATE_API_KEY", "jg_wrong").args(["doctor"]);
    let o = run(c).await;
    assert!(
        !o.status.success() && all_output(&o).contains("api key"),
        "{}",
        all_output(&o)
    );
}
