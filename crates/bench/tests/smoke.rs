//! Runs `jiragate-bench --quick` against the workspace's debug `jiragate` and `atlassian-sim`
//! (built next to this test by `cargo test --workspace`): the harness starts both, creates the
//! connection, drives every scenario through execute, proxy and MCP without an error, prints
//! the tables and writes the JSON. It asserts nothing about speed.

use std::path::PathBuf;
use std::process::Command;
use std::time::{Duration, Instant};

const BENCH: &str = env!("CARGO_BIN_EXE_jiragate-bench");

fn sibling(name: &str) -> PathBuf {
    PathBuf::from(BENCH)
        .parent()
        .expect("bench binary has a directory")
        .join(name)
}

/// Runs `jiragate-bench --quick --json <file> <extra>` against the sibling binaries; returns
/// its stdout and the JSON it wrote, after checking it succeeded within two minutes.
fn quick_run(extra: &[&str]) -> (String, serde_json::Value) {
    let (jiragate, sim) = (sibling("jiragate"), sibling("atlassian-sim"));
    assert!(
        jiragate.is_file() && sim.is_file(),
        "{} and {} are built by `cargo test --workspace`; alone, run `cargo build -p jiragate -p atlassian-sim` first",
        jiragate.display(),
        sim.display()
    );
    let dir = tempfile::tempdir().expect("tempdir");
    let json_path = dir.path().join("bench.json");
    let started = Instant::now();
    let out = Command::new(BENCH)
        .arg("--quick")
        .arg("--json")
        .arg(&json_path)
        .arg("--jiragate-bin")
        .arg(&jiragate)
        .arg("--sim-bin")
        .arg(&sim)
        .args(extra)
        .env_remove("JIRAGATE_RATE_LIMIT_PER_KEY")
        .output()
        .expect("jiragate-bench runs");
    let stdout = String::from_utf8_lossy(&out.stdout).into_owned();
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(
        out.status.success(),
        "exit {:?}\nstdout:\n{stdout}\nstderr:\n{stderr}",
        out.status
    );
    assert!(started.elapsed() < Duration::from_secs(120), "bounded");
    let v = serde_json::from_str(&std::fs::read_to_string(&json_path).expect("JSON written"))
        .expect("valid JSON");
    (stdout, v)
}

#[test]
fn quick_run_drives_every_scenario() {
    let (stdout, v) = quick_run(&[]);
    for needle in [
        "execute issues.get",
        "execute issues.search",
        "proxy GET issue",
        "MCP jira_get_issue",
        "direct GET issue",
        "direct POST search/jql",
        "direct GET via TCP relay",
        "floor at 1 in flight: a TCP relay that does no work",
        "jiragate CPU per execute get",
        "serve idle RSS",
    ] {
        assert!(stdout.contains(needle), "{needle} missing from:\n{stdout}");
    }

    let runs = v["runs"].as_array().expect("runs");
    assert_eq!(runs.len(), 14, "7 scenarios × 2 concurrencies: {v}");
    for r in runs {
        assert_eq!(r["errors"], 0, "{r}");
        assert!(r["calls"].as_u64().unwrap_or(0) > 0, "{r}");
        assert!(r["p50_ms"].as_f64().is_some(), "{r}");
        // one upstream request per call (a background health check may add one)
        if let Some(up) = r["upstream_requests_per_call"].as_f64() {
            assert!((1.0..1.5).contains(&up), "{r}");
        }
    }
    assert_eq!(v["targets"].as_array().map(Vec::len), Some(8), "{v}");
    // The relay's floor, and how jiragate's paths compare with it, at both concurrencies.
    let floor = v["floor"].as_array().expect("floor");
    assert_eq!(floor.len(), 2, "{v}");
    for f in floor {
        assert!(f["relay_ratio_vs_direct"].as_f64().is_some(), "{f}");
        assert!(f["execute_get_vs_relay"].as_f64().is_some(), "{f}");
    }
    assert!(v["rss_mib"]["idle"].as_f64().is_some(), "{v}");
    assert!(v["rss_mib"]["idle_anon"].as_f64().is_some(), "{v}");
    assert!(v["rss_mib"]["after_run_anon"].as_f64().is_some(), "{v}");
}

/// `--webhooks --quick`: every signed event posted to the receiver reaches the loopback
/// subscriber once, and both paths are measured.
#[test]
fn quick_webhooks_run_delivers_every_event_once() {
    let (stdout, v) = quick_run(&["--webhooks"]);
    for needle in [
        "direct POST to the subscriber",
        "receiver -> outbox -> subscriber",
        "saturated: jiragate / direct",
        "open loop at",
    ] {
        assert!(stdout.contains(needle), "{needle} missing from:\n{stdout}");
    }
    let runs = v["runs"].as_array().expect("runs");
    assert_eq!(runs.len(), 2, "saturated and open loop: {v}");
    for run in runs {
        for path in ["direct", "jiragate"] {
            let p = &run[path];
            assert_eq!(p["errors"], 0, "{v}");
            assert_eq!(p["duplicates"], 0, "{v}");
            assert_eq!(p["arrived"], p["events"], "{v}");
            assert!(p["lag_p99_ms"].as_f64().is_some(), "{v}");
            assert!(p["events_per_s"].as_f64().unwrap_or(0.0) > 0.0, "{v}");
        }
    }
}
