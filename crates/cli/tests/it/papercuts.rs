//! Small things a person hits on the first day (issue 13): each says what is wrong and what to do.

use std::process::Stdio;
use std::time::Duration;

use serde_json::Value;

use crate::remote::{Served, free_port};
use crate::support::*;

#[tokio::test(flavor = "multi_thread")]
async fn listen_accepts_host_names_and_a_busy_port_says_what_to_do() {
    let env = Env::new().await;
    let port = free_port();
    let mut c = env.cmd();
    c.args(["serve", "--listen", &format!("localhost:{port}")])
        .stdout(Stdio::null())
        .stderr(Stdio::null());
    let served = Served {
        child: c.spawn().unwrap(),
        base: format!("http://127.0.0.1:{port}"),
        key: String::new(),
    };
    let mut up = false;
    for _ in 0..300 {
        if let Ok(r) = reqwest::get(format!("{}/healthz", served.base)).await
            && r.status().is_success()
        {
            up = true;
            break;
        }
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    assert!(up, "serve --listen localhost:PORT answers");

    // The port is taken now.
    let o = env
        .jg(&["serve", "--listen", &format!("127.0.0.1:{port}")])
        .await;
    assert_eq!(o.status.code(), Some(2), "{}", all_output(&o));
    let e = stderr(&o);
    assert!(
        e.contains(&format!("127.0.0.1:{port}")) && e.contains("in use") && e.contains("--listen"),
        "{e}"
    );
    drop(served);
}

#[tokio::test(flavor = "multi_thread")]
async fn server_without_scheme_database_url_file_and_migrate_json() {
    let env = Env::new().await;
    // Loopback without a scheme is http://; the error is about the connection, not a "builder".
    let o = env
        .jg(&[
            "connectors",
            "list",
            "--server",
            &format!("127.0.0.1:{}", free_port()),
        ])
        .await;
    let mut c = env.cmd();
    c.env("JIRAGATE_API_KEY", "jg_x").args([
        "connectors",
        "list",
        "--server",
        &format!("127.0.0.1:{}", free_port()),
    ]);
    let o2 = run(c).await;
    for o in [&o, &o2] {
        assert!(!o.status.success());
        assert!(
            !all_output(o).contains("builder error"),
            "{}",
            all_output(o)
        );
    }
    assert!(stderr(&o2).contains("http://127.0.0.1:"), "{}", stderr(&o2));
    let mut c = env.cmd();
    c.env("JIRAGATE_API_KEY", "jg_x").args([
        "connectors",
        "list",
        "--server",
        "jiragate.example.com:8080",
    ]);
    let o = run(c).await;
    assert_eq!(o.status.code(), Some(2), "{}", all_output(&o));
    assert!(stderr(&o).contains("no scheme"), "{}", stderr(&o));

    // JIRAGATE_DATABASE_URL_FILE, like the other secrets; migrate -o json prints JSON.
    let db = env.dir.path().join("from-file.db");
    let url_file = env.dir.path().join("db-url");
    std::fs::write(&url_file, format!("sqlite://{}\n", db.display())).unwrap();
    let mut c = env.cmd();
    c.env("JIRAGATE_DATABASE_URL_FILE", &url_file)
        .args(["migrate", "-o", "json"]);
    let o = run(c).await;
    assert!(o.status.success(), "{}", all_output(&o));
    let v: Value = serde_json::from_str(&stdout(&o)).expect("migrate -o json prints JSON");
    assert_eq!(v["migrations_applied"], true, "{v}");
    assert!(db.exists(), "the database named in the file was used");
    assert!(!env.data_dir().join("jiragate.db").exists());
}

#[tokio::test(flavor = "multi_thread")]
async fn a_missing_master_key_next_to_a_database_writes_nothing() {
    let env = Env::new().await;
    assert!(env.jg(&["keys", "list"]).await.status.success());
    let key = env.data_dir().join("master.key");
    std::fs::remove_file(&key).unwrap();
    let o = env.jg(&["keys", "list"]).await;
    assert!(!o.status.success(), "{}", all_output(&o));
    assert!(stderr(&o).contains("master.key"), "{}", stderr(&o));
    assert!(!key.exists(), "a new, wrong master.key was written");
}

#[tokio::test(flavor = "multi_thread")]
async fn mcp_refuses_a_data_dir_that_does_not_exist() {
    let env = Env::new().await;
    let typo = env.dir.path().join("jiragate-dta");
    let mut c = env.cmd();
    c.env("JIRAGATE_DATA_DIR", &typo).arg("mcp");
    let o = run(c).await;
    assert_eq!(o.status.code(), Some(2), "{}", all_output(&o));
    assert!(stderr(&o).contains("does not exist"), "{}", stderr(&o));
    assert!(!typo.exists(), "no empty store was created");
}

#[tokio::test(flavor = "multi_thread")]
async fn flags_have_help_and_scopes_are_listed() {
    let env = Env::new().await;
    let o = env.jg(&["connectors", "execute", "--help"]).await;
    let h = stdout(&o);
    assert!(
        h.contains("What to act on") && h.contains("What to do with it"),
        "--entity and --action have help: {h}"
    );
    let h = stdout(&env.jg(&["keys", "create", "--help"]).await);
    assert!(
        h.contains("credentials:read") && h.contains("connectors:write"),
        "{h}"
    );
    let h = stdout(&env.jg(&["oauth-clients", "add", "--help"]).await);
    assert!(
        h.contains("Client ID") && h.contains("read:jira-work"),
        "{h}"
    );
    let h = stdout(&env.jg(&["connect", "--help"]).await);
    assert!(h.contains("Name of the new connection"), "{h}");
}

/// A wrong setting is the operator's configuration, not an internal error: exit 78 (EX_CONFIG)
/// and a message that says which setting to fix.
#[tokio::test(flavor = "multi_thread")]
async fn configuration_errors_are_labelled_as_configuration() {
    let env = Env::new().await;
    std::fs::create_dir_all(env.dir.path()).unwrap();
    let file = env.dir.path().join("a-file");
    std::fs::write(&file, "not a directory").unwrap();
    let mut c = env.cmd();
    c.env("JIRAGATE_DATA_DIR", file.join("data"))
        .args(["keys", "list"]);
    let o = run(c).await;
    assert_eq!(o.status.code(), Some(78), "{}", all_output(&o));
    let err = stderr(&o);
    assert!(err.contains("configuration problem"), "{err}");
    assert!(err.contains("JIRAGATE_DATA_DIR"), "{err}");
    assert!(!err.contains("internal error"), "{err}");

    let mut c = env.cmd();
    c.env("JIRAGATE_MASTER_KEY", "not-a-key")
        .args(["keys", "list"]);
    let o = run(c).await;
    assert_eq!(o.status.code(), Some(78), "{}", all_output(&o));
    let err = stderr(&o);
    assert!(err.contains("configuration problem"), "{err}");
    assert!(err.contains("JIRAGATE_MASTER_KEY"), "{err}");
}

/// Out-of-range time and size settings of `serve` are usage errors that name the flag, before
/// anything listens.
#[tokio::test(flavor = "multi_thread")]
async fn serve_time_settings_out_of_range_are_usage_errors() {
    let env = Env::new().await;
    for (flag, value) in [
        ("--idle-timeout", "0"),
        ("--idle-timeout", "3601"),
        ("--idle-timeout", "NaN"),
        ("--max-queue-wait", "3601"),
        ("--mcp-max-sessions-per-caller", "0"),
        ("--mcp-max-sessions-per-caller", "many"),
        ("--worker-threads", "0"),
        ("--worker-threads", "many"),
    ] {
        env.assert_serve_refuses(flag, value).await;
    }
}

/// `JIRAGATE_WORKER_THREADS` sets how many threads run requests, and `/metrics` says how many
/// do; without it, one per core (`available_parallelism`, as tokio counts them).
#[tokio::test(flavor = "multi_thread")]
async fn worker_threads_are_what_serve_was_told() {
    let cores = std::thread::available_parallelism().map_or(1, |n| n.get());
    let env = Env::new().await;
    for (setting, expected) in [
        (Some("1"), 1),
        (Some("3"), 3),
        (Some("auto"), cores),
        (Some(""), cores),
        (None, cores),
    ] {
        let extra: Vec<(&str, &str)> = setting
            .map(|n| ("JIRAGATE_WORKER_THREADS", n))
            .into_iter()
            .collect();
        let served = crate::remote::serve_with(&env, free_port(), &extra).await;
        let text = reqwest::get(format!("{}/metrics", served.base))
            .await
            .unwrap()
            .text()
            .await
            .unwrap();
        let line = text
            .lines()
            .find(|l| l.starts_with("jiragate_runtime_worker_threads "))
            .unwrap_or_else(|| panic!("no worker gauge in /metrics:\n{text}"));
        assert_eq!(
            line,
            format!("jiragate_runtime_worker_threads {expected}"),
            "{setting:?}"
        );
    }
}
