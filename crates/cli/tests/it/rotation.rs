//! `jiragate master-key rotate` while a real `jiragate serve` process runs on the same data dir:
//! the server keeps executing, `master-key retire` refuses until it stops, then retires.

use std::process::Command;
use std::time::Duration;

use base64::Engine as _;

use crate::remote::serve;
use crate::support::{Env, all_output, create_seed_connector, run, stderr};

/// Writes a new master key into the test dir and runs `master-key rotate --new-key-file` with
/// it and `extra` flags.
pub async fn rotate_master_key(env: &Env, extra: &[&str]) -> std::process::Output {
    let new_key = env.dir.path().join("new.key");
    let bytes: Vec<u8> = (0u8..32)
        .map(|i| i.wrapping_mul(37).wrapping_add(11))
        .collect();
    std::fs::write(
        &new_key,
        base64::engine::general_purpose::STANDARD.encode(bytes),
    )
    .unwrap();
    let mut args = vec![
        "master-key",
        "rotate",
        "--new-key-file",
        new_key.to_str().unwrap(),
    ];
    args.extend_from_slice(extra);
    env.jg(&args).await
}

#[tokio::test(flavor = "multi_thread")]
async fn rotate_under_a_running_serve_then_retire_after_it_stops() {
    let env = Env::new().await;
    let o = create_seed_connector(&env).await;
    assert!(o.status.success(), "{}", all_output(&o));
    // A fresh server process: the organization's data key is not cached in it.
    let mut served = serve(&env).await;
    let o = rotate_master_key(&env, &[]).await;
    assert!(o.status.success(), "{}", all_output(&o));

    let remote_execute = || {
        let mut c = env.cmd();
        c.env("JIRAGATE_SERVER", &served.base)
            .env("JIRAGATE_API_KEY", &served.key)
            .args([
                "connectors",
                "execute",
                "-w",
                "w",
                "-n",
                "jira",
                "--entity",
                "projects",
                "--action",
                "list",
                "-o",
                "json",
            ]);
        c
    };
    let o = run(remote_execute()).await;
    assert!(o.status.success(), "{}", all_output(&o));

    // The server still holds the old key: retire refuses and says who.
    let o = env.jg(&["master-key", "retire"]).await;
    assert!(!o.status.success(), "{}", all_output(&o));
    assert!(stderr(&o).contains("instance"), "{}", stderr(&o));

    // A graceful stop withdraws the server's report; then retire goes through.
    let pid = served.child.id().to_string();
    let killed = Command::new("kill").args(["-TERM", &pid]).status().unwrap();
    assert!(killed.success());
    for _ in 0..200 {
        if served.child.try_wait().unwrap().is_some() {
            break;
        }
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    let o = env.jg(&["master-key", "retire"]).await;
    assert!(o.status.success(), "{}", all_output(&o));
    assert!(stderr(&o).contains("retired"), "{}", stderr(&o));
}
