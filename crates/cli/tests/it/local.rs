//! Every `connectors` subcommand in local mode, the seed's `--json` forms verbatim, output
//! formats and exit codes.

use serde_json::Value;

use crate::support::*;

#[tokio::test(flavor = "multi_thread")]
async fn seed_json_forms_work_in_local_mode() {
    let env = Env::new().await;
    let o = create_seed_connector(&env).await;
    assert!(o.status.success(), "{}", all_output(&o));
    assert!(
        !all_output(&o).contains(env.token()),
        "the token must never be printed"
    );
    assert!(
        files_containing(&env.data_dir(), env.token()).is_empty(),
        "token in clear in the data dir"
    );

    let o = env
        .jg(&[
            "connectors",
            "describe",
            "--json",
            r#"{"workspace": "w", "name": "jira"}"#,
        ])
        .await;
    assert!(
        o.status.success() && stdout(&o).contains("issues"),
        "{}",
        all_output(&o)
    );

    let key = env.project_key().await;
    let exec = format!(
        r#"{{"workspace": "w", "name": "jira", "entity": "issues", "action": "search", "params": {{"jql": "project = {key}"}}}}"#
    );
    let o = env
        .jg(&["connectors", "execute", "--output", "json", "--json", &exec])
        .await;
    assert!(o.status.success(), "{}", all_output(&o));
    let v: Value = serde_json::from_str(&stdout(&o)).expect("valid JSON");
    assert!(v.get("data").is_some(), "{v}");

    let exec_all = format!(
        r#"{{"workspace": "w", "name": "jira", "entity": "issues", "action": "search", "params": {{"jql": "project = {key}", "all": true}}}}"#
    );
    let o = env
        .jg(&[
            "connectors",
            "execute",
            "--output",
            "ndjson",
            "--json",
            &exec_all,
        ])
        .await;
    assert!(o.status.success(), "{}", all_output(&o));
    let out = stdout(&o);
    let lines: Vec<&str> = out.lines().filter(|l| !l.trim().is_empty()).collect();
    assert!(lines.len() > 1, "ndjson rows: {}", lines.len());
    for l in &lines {
        let row: Value = serde_json::from_str(l).expect("each line is JSON");
        assert!(row.get("key").is_some(), "an issue per line: {l}");
    }
    assert!(
        stderr(&o).is_empty() || !stderr(&o).contains('\u{1b}'),
        "no progress bar when stderr is not a terminal"
    );
}

#[tokio::test(flavor = "multi_thread")]
async fn flags_tables_and_exit_codes() {
    let env = Env::new().await;
    assert!(create_seed_connector(&env).await.status.success());

    // Table output lists the connection.
    let o = env.jg(&["connectors", "list"]).await;
    assert!(
        o.status.success() && stdout(&o).contains("jira") && stdout(&o).contains("NAME"),
        "{}",
        all_output(&o)
    );

    // Ordinary flags: --workspace/--name/--entity/--action/--param.
    let key = env.project_key().await;
    let o = run({
        let mut c = env.cmd();
        c.args([
            "connectors",
            "execute",
            "-w",
            "w",
            "-n",
            "jira",
            "--entity",
            "issues",
            "--action",
            "search",
        ])
        .args([
            "--param",
            &format!("jql=project = {key} ORDER BY key"),
            "--param",
            "limit=3",
            "--output",
            "json",
        ]);
        c
    })
    .await;
    assert!(o.status.success(), "{}", all_output(&o));
    let v: Value = serde_json::from_str(&stdout(&o)).unwrap();
    let first = v["data"]
        .as_array()
        .map(|a| a.len())
        .or_else(|| v["data"]["issues"].as_array().map(|a| a.len()));
    assert_eq!(first, Some(3), "limit=3 honoured: {v}");

    // --params-file.
    let pf = env.dir.path().join("params.json");
    std::fs::write(&pf, format!(r#"{{"jql": "project = {key}", "limit": 2}}"#)).unwrap();
    let o = run({
        let mut c = env.cmd();
        c.args([
            "connectors",
            "execute",
            "-w",
            "w",
            "-n",
            "jira",
            "--entity",
            "issues",
            "--action",
            "search",
            "--output",
            "json",
        ])
        .arg("--params-file")
        .arg(&pf);
        c
    })
    .await;
    assert!(o.status.success(), "{}", all_output(&o));

    // get / check / exit codes.
    let o = env
        .jg(&[
            "connectors",
            "get",
            "--json",
            r#"{"workspace": "w", "name": "nope"}"#,
        ])
        .await;
    assert_eq!(
        o.status.code(),
        Some(3),
        "unknown connector → 3: {}",
        all_output(&o)
    );

    let o = env
        .jg(&[
            "connectors",
            "check",
            "-w",
            "w",
            "-n",
            "jira",
            "--output",
            "json",
        ])
        .await;
    assert!(
        o.status.success() && stdout(&o).contains("healthy"),
        "{}",
        all_output(&o)
    );

    let o = env
        .jg(&[
            "connectors",
            "execute",
            "-w",
            "w",
            "-n",
            "jira",
            "--entity",
            "issues",
            "--action",
            "search",
            "--param",
            "jql=42",
        ])
        .await;
    assert_eq!(
        o.status.code(),
        Some(2),
        "invalid params → usage exit: {}",
        all_output(&o)
    );

    let o = env
        .jg(&[
            "connectors",
            "execute",
            "-w",
            "w",
            "-n",
            "jira",
            "--entity",
            "issues",
            "--action",
            "get",
            "--param",
            "issue=NOPE-999999",
        ])
        .await;
    assert_eq!(
        o.status.code(),
        Some(3),
        "Jira 404 → not-found exit (the caller's key was wrong, Jira is fine): {}",
        all_output(&o)
    );

    let o = env
        .jg(&["connectors", "delete", "-w", "w", "-n", "jira"])
        .await;
    assert!(o.status.success(), "{}", all_output(&o));
    let o = env
        .jg(&["connectors", "get", "-w", "w", "-n", "jira"])
        .await;
    assert_eq!(o.status.code(), Some(3));
}

#[tokio::test(flavor = "multi_thread")]
async fn a_wrong_token_saves_nothing_and_secrets_never_come_from_argv() {
    let env = Env::new().await;
    let mut c = env.cmd();
    env.jira_env(&mut c);
    c.env("JIRA_API_TOKEN", "definitely-wrong");
    c.args(["connectors", "create", "-w", "w", "-n", "bad"]);
    let o = run(c).await;
    assert_eq!(o.status.code(), Some(2), "{}", all_output(&o));
    assert!(!all_output(&o).contains("definitely-wrong"));
    let o = env.jg(&["connectors", "list", "--output", "json"]).await;
    assert_eq!(
        serde_json::from_str::<Value>(&stdout(&o)).unwrap(),
        Value::Array(vec![])
    );

    // --token-stdin
    let mut c = env.cmd();
    let u = &env.sim.users[0];
    c.args([
        "connectors",
        "create",
        "-w",
        "w",
        "-n",
        "piped",
        "--site",
        &env.sim.sites[0].subdomain,
        "--email",
        &u.email,
        "--token-stdin",
    ])
    .stdin(std::process::Stdio::piped())
    .stdout(std::process::Stdio::piped())
    .stderr(std::process::Stdio::piped());
    let token = u.api_token.clone();
    let o = tokio::task::spawn_blocking(move || {
        use std::io::Write;
        let mut child = c.spawn().unwrap();
        child
            .stdin
            .take()
            .unwrap()
            .write_all(token.as_bytes())
            .unwrap();
        child.wait_with_output().unwrap()
    })
    .await
    .unwrap();
    assert!(o.status.success(), "{}", all_output(&o));

    // No token at all and no terminal: a usage error, not a hang.
    let mut c = env.cmd();
    c.args([
        "connectors",
        "create",
        "-w",
        "w",
        "-n",
        "none",
        "--site",
        "acme",
        "--email",
        "a@b.c",
    ]);
    let o = run(c).await;
    assert_eq!(o.status.code(), Some(2), "{}", all_output(&o));
}

#[tokio::test(flavor = "multi_thread")]
async fn keys_oauth_clients_doctor_migrate_and_completions() {
    let env = Env::new().await;
    let o = run({
        let mut c = env.cmd();
        c.arg("migrate");
        c
    })
    .await;
    assert!(o.status.success(), "{}", all_output(&o));

    let o = env
        .jg(&[
            "keys",
            "create",
            "--name",
            "ci",
            "--scopes",
            "execute,proxy",
            "--output",
            "json",
        ])
        .await;
    assert!(o.status.success(), "{}", all_output(&o));
    let v: Value = serde_json::from_str(&stdout(&o)).unwrap();
    let key = v["key"].as_str().unwrap().to_string();
    let id = v["id"].as_str().unwrap().to_string();
    assert!(key.starts_with("jg_"));
    let o = env.jg(&["keys", "list"]).await;
    assert!(
        stdout(&o).contains("ci") && !stdout(&o).contains(&key),
        "{}",
        all_output(&o)
    );
    let o = env.jg(&["keys", "revoke", &id]).await;
    assert!(o.status.success(), "{}", all_output(&o));
    assert!(
        files_containing(&env.data_dir(), &key).is_empty(),
        "API key stored in clear"
    );

    let client = &env.sim.oauth_clients[0];
    let o = run({
        let mut c = env.cmd();
        c.env("JIRAGATE_OAUTH_CLIENT_SECRET", &client.client_secret)
            .args([
                "oauth-clients",
                "add",
                "--client-id",
                &client.client_id,
                "--output",
                "json",
            ]);
        c
    })
    .await;
    assert!(o.status.success(), "{}", all_output(&o));
    assert!(!all_output(&o).contains(&client.client_secret));
    let cid = serde_json::from_str::<Value>(&stdout(&o)).unwrap()["id"]
        .as_str()
        .unwrap()
        .to_string();
    let o = env.jg(&["oauth-clients", "list"]).await;
    assert!(stdout(&o).contains(&client.client_id), "{}", all_output(&o));
    let o = env.jg(&["oauth-clients", "delete", &cid]).await;
    assert!(o.status.success(), "{}", all_output(&o));

    assert!(create_seed_connector(&env).await.status.success());
    let o = run({
        let mut c = env.cmd();
        c.arg("doctor");
        c
    })
    .await;
    let out = stdout(&o);
    assert!(
        out.contains("database") && out.contains("master key") && out.contains("connection w/jira"),
        "{out}"
    );
    assert!(
        o.status.success(),
        "every check passes against the simulator: {}",
        all_output(&o)
    );

    for shell in ["bash", "zsh", "fish"] {
        let o = env.jg(&["completions", shell]).await;
        assert!(
            o.status.success() && stdout(&o).len() > 200 && stdout(&o).contains("connectors"),
            "{shell}"
        );
    }
}

#[tokio::test(flavor = "multi_thread")]
async fn master_key_rotation_keeps_connections_usable() {
    let env = Env::new().await;
    assert!(create_seed_connector(&env).await.status.success());
    let new_key = env.dir.path().join("new.key");
    use base64::Engine as _;
    std::fs::write(
        &new_key,
        base64::engine::general_purpose::STANDARD.encode([7u8; 32]),
    )
    .unwrap();
    for extra in [&[][..], &["--reencrypt"][..]] {
        let o = run({
            let mut c = env.cmd();
            c.args(["master-key", "rotate", "--new-key-file"])
                .arg(&new_key)
                .args(extra)
                .args(["--output", "json"]);
            c
        })
        .await;
        assert!(o.status.success(), "{}", all_output(&o));
        let o = env
            .jg(&["connectors", "check", "-w", "w", "-n", "jira"])
            .await;
        assert!(
            o.status.success(),
            "connection still opens after rotation: {}",
            all_output(&o)
        );
        // Nothing runs on the old key: it can be retired before the next rotation.
        let o = env.jg(&["master-key", "retire"]).await;
        assert!(o.status.success(), "{}", all_output(&o));
        std::fs::write(
            &new_key,
            base64::engine::general_purpose::STANDARD.encode([9u8; 32]),
        )
        .unwrap();
    }
    // A wrong key is refused with the well-known message.
    let o = run({
        let mut c = env.cmd();
        c.env(
            "JIRAGATE_MASTER_KEY",
            base64::engine::general_purpose::STANDARD.encode([1u8; 32]),
        )
        .args(["connectors", "list"]);
        c
    })
    .await;
    assert!(
        !o.status.success() && stderr(&o).contains("master key does not match this database"),
        "{}",
        all_output(&o)
    );
}

/// The last platform key cannot be revoked; `keys create --platform` on the host mints a new
/// one (the recovery path the README describes), after which the old one can go.
#[tokio::test(flavor = "multi_thread")]
async fn platform_key_recovery_on_the_host() {
    let env = Env::new().await;
    let o = env.jg(&["keys", "list", "--output", "json"]).await;
    assert!(o.status.success(), "{}", all_output(&o));
    let keys: Value = serde_json::from_str(&stdout(&o)).unwrap();
    let first = keys
        .as_array()
        .and_then(|a| a.iter().find(|k| k["platform"] == true))
        .expect("the bootstrap platform key")["id"]
        .as_str()
        .unwrap()
        .to_string();
    let o = env.jg(&["keys", "revoke", &first]).await;
    assert_eq!(o.status.code(), Some(2), "{}", all_output(&o));
    assert!(
        all_output(&o).contains("keys create --platform"),
        "{}",
        all_output(&o)
    );
    let o = env
        .jg(&[
            "keys",
            "create",
            "--name",
            "recovered",
            "--scopes",
            "admin",
            "--platform",
            "--output",
            "json",
        ])
        .await;
    assert!(o.status.success(), "{}", all_output(&o));
    let v: Value = serde_json::from_str(&stdout(&o)).unwrap();
    assert_eq!(v["platform"], true, "{v}");
    let o = env.jg(&["keys", "revoke", &first]).await;
    assert!(o.status.success(), "{}", all_output(&o));
}
