//! Issue 13 from the command line, local and remote: `oauth-clients update`, a repeated
//! client_id refused, `audit` and `scopes`.

use std::io::Write;
use std::process::Stdio;

use serde_json::Value;

use crate::remote::serve;
use crate::support::*;

fn json_of(o: &std::process::Output) -> Value {
    serde_json::from_str(&stdout(o)).unwrap_or_else(|e| panic!("{e}: {}", all_output(o)))
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn oauth_clients_update_audit_and_scopes_work_locally_and_remotely() {
    let env = Env::new().await;
    let o = create_seed_connector(&env).await;
    assert!(o.status.success(), "{}", all_output(&o));

    // A client_id is registered once.
    let add = |secret: &'static str| {
        let mut c = env.cmd();
        c.env("JIRAGATE_OAUTH_CLIENT_SECRET", secret).args([
            "oauth-clients",
            "add",
            "--client-id",
            "app-1",
            "-o",
            "json",
        ]);
        run(c)
    };
    let o = add("first-secret-0001").await;
    assert!(o.status.success(), "{}", all_output(&o));
    let id = json_of(&o)["id"].as_str().unwrap().to_owned();
    let o = add("second").await;
    assert!(!o.status.success());
    assert!(
        stderr(&o).contains("already registered") && stderr(&o).contains(&id),
        "{}",
        all_output(&o)
    );

    // Local update: secret from stdin, scopes replaced.
    let mut c = env.cmd();
    c.args([
        "oauth-clients",
        "update",
        &id,
        "--client-secret-stdin",
        "--scopes",
        "read:jira-work,read:me",
        "-o",
        "json",
    ])
    .stdin(Stdio::piped())
    .stdout(Stdio::piped())
    .stderr(Stdio::piped());
    let mut child = c.spawn().unwrap();
    child
        .stdin
        .take()
        .unwrap()
        .write_all(b"rotated-secret-0002\n")
        .unwrap();
    let o = tokio::task::spawn_blocking(move || child.wait_with_output().unwrap())
        .await
        .unwrap();
    assert!(o.status.success(), "{}", all_output(&o));
    assert_eq!(
        json_of(&o)["scopes"],
        serde_json::json!(["read:jira-work", "read:me"])
    );
    assert!(!stdout(&o).contains("rotated-secret-0002"));
    let o = env.jg(&["oauth-clients", "update", &id]).await;
    assert_eq!(
        o.status.code(),
        Some(2),
        "nothing to change is a usage error"
    );
    assert!(files_containing(env.dir.path(), "rotated-secret-0002").is_empty());

    // Local audit: ndjson rows, filtered by kind and by connection.
    let o = env
        .jg(&["audit", "--kind", "oauth_client.", "-o", "ndjson"])
        .await;
    assert!(o.status.success(), "{}", all_output(&o));
    let actions: Vec<String> = stdout(&o)
        .lines()
        .map(|l| {
            serde_json::from_str::<Value>(l).unwrap()["action"]
                .as_str()
                .unwrap()
                .to_owned()
        })
        .collect();
    assert!(
        actions.contains(&"oauth_client.update".to_owned()),
        "{actions:?}"
    );
    assert!(actions.iter().all(|a| a.starts_with("oauth_client.")));
    let o = env
        .jg(&["audit", "--connection", "w/jira", "-o", "json"])
        .await;
    let local_rows = json_of(&o);
    assert!(!local_rows.as_array().unwrap().is_empty(), "{local_rows}");
    let o = env.jg(&["audit", "--since", "yesterday"]).await;
    assert_eq!(o.status.code(), Some(2), "{}", all_output(&o));
    let o = env.jg(&["audit", "--limit", "1"]).await;
    assert!(stdout(&o).contains("--page-token"), "{}", all_output(&o));

    // Local scopes.
    let o = env.jg(&["scopes"]).await;
    assert!(o.status.success(), "{}", all_output(&o));
    assert!(stdout(&o).contains("read:jira-work") && stdout(&o).contains("SCOPE"));
    let local_scopes = json_of(
        &env.jg(&["scopes", "--action", "issues.search", "-o", "json"])
            .await,
    );

    // Remote: the same commands, the same shapes.
    let served = serve(&env).await;
    let remote = |args: &[&str]| {
        let mut c = env.cmd();
        c.env("JIRAGATE_SERVER", &served.base)
            .env("JIRAGATE_API_KEY", &served.key)
            .args(args);
        run(c)
    };
    let o = remote(&["scopes", "--action", "issues.search", "-o", "json"]).await;
    assert!(o.status.success(), "{}", all_output(&o));
    assert_eq!(json_of(&o), local_scopes);
    let o = remote(&[
        "oauth-clients",
        "update",
        &id,
        "--scopes",
        "read:jira-user",
        "-o",
        "json",
    ])
    .await;
    assert!(o.status.success(), "{}", all_output(&o));
    assert_eq!(json_of(&o)["scopes"], serde_json::json!(["read:jira-user"]));
    let o = remote(&["audit", "--connection", "w/jira", "-o", "json"]).await;
    assert!(o.status.success(), "{}", all_output(&o));
    assert_eq!(json_of(&o), local_rows, "one shape in both modes");
    let o = remote(&["audit", "--kind", "oauth_client.update", "-o", "json"]).await;
    assert_eq!(json_of(&o).as_array().unwrap().len(), 2);
}
