//! `--all` exports every row in every output format, locally and remotely, in bounded memory.

use std::io::Read;
use std::process::{Command, Stdio};
use std::time::Duration;

use atlassian_sim::SimConfig;
use serde_json::Value;

use crate::remote::serve;
use crate::support::*;

/// Issues in project ENG: the simulator deals seeded issues round-robin over its 4 projects.
const ENG_ISSUES: usize = 5_000;
/// Generous: a collecting export of 5,000 issues peaked at 360–490 MB.
const PEAK_RSS_LIMIT_KB: u64 = 100 * 1024;

/// Runs `c`, sampling the child's peak RSS (`VmHWM`) while it runs; returns stdout, stderr,
/// success and the peak in KiB.
fn run_measured(mut c: Command) -> (String, String, bool, u64) {
    c.stdout(Stdio::piped()).stderr(Stdio::piped());
    let mut child = c.spawn().expect("binary runs");
    let pid = child.id();
    let mut out = child.stdout.take().unwrap();
    let mut err = child.stderr.take().unwrap();
    let reader = std::thread::spawn(move || {
        let mut s = String::new();
        out.read_to_string(&mut s).unwrap();
        s
    });
    let err_reader = std::thread::spawn(move || {
        let mut s = String::new();
        err.read_to_string(&mut s).unwrap();
        s
    });
    let mut peak = 0u64;
    let started = std::time::Instant::now();
    let status = loop {
        if let Ok(text) = std::fs::read_to_string(format!("/proc/{pid}/status"))
            && let Some(kb) = text
                .lines()
                .find_map(|l| l.strip_prefix("VmHWM:"))
                .and_then(|v| v.trim().trim_end_matches("kB").trim().parse::<u64>().ok())
        {
            peak = peak.max(kb);
        }
        if let Some(st) = child.try_wait().unwrap() {
            break st;
        }
        assert!(
            started.elapsed() < Duration::from_secs(300),
            "export did not finish in 300 s"
        );
        std::thread::sleep(Duration::from_millis(10));
    };
    (
        reader.join().unwrap(),
        err_reader.join().unwrap(),
        status.success(),
        peak,
    )
}

fn count_rows(format: &str, out: &str) -> usize {
    match format {
        "ndjson" => out.lines().filter(|l| l.starts_with('{')).count(),
        "json" => serde_json::from_str::<Value>(out)
            .expect("--all -o json is one JSON array")
            .as_array()
            .expect("an array")
            .len(),
        // A header line, then one line per issue.
        _ => out.lines().filter(|l| l.starts_with("ENG-")).count(),
    }
}

#[tokio::test(flavor = "multi_thread")]
async fn all_exports_every_row_in_every_format_in_bounded_memory() {
    let env = Env::with(SimConfig {
        issues_per_site: ENG_ISSUES * 4,
        ..SimConfig::default()
    })
    .await;
    assert!(create_seed_connector(&env).await.status.success());
    let served = serve(&env).await;
    for remote in [false, true] {
        for format in ["ndjson", "json", "table"] {
            let mut c = env.cmd();
            if remote {
                c.env("JIRAGATE_SERVER", &served.base)
                    .env("JIRAGATE_API_KEY", &served.key);
            }
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
                "--param",
                "jql=project = ENG ORDER BY key",
                "--all",
                "--output",
                format,
            ]);
            let (out, err, ok, peak_kb) = tokio::task::spawn_blocking(move || run_measured(c))
                .await
                .unwrap();
            let mode = if remote { "remote" } else { "local" };
            assert!(ok, "{mode} {format}: {err}");
            assert_eq!(
                count_rows(format, &out),
                ENG_ISSUES,
                "{mode} --all -o {format} prints every matching issue"
            );
            assert!(
                peak_kb < PEAK_RSS_LIMIT_KB,
                "{mode} --all -o {format} peaked at {peak_kb} KiB: the export must stream"
            );
            eprintln!("{mode} {format}: peak {peak_kb} KiB");
        }
    }

    // `limit` caps the total with --all, in both modes.
    for remote in [false, true] {
        let mut c = env.cmd();
        if remote {
            c.env("JIRAGATE_SERVER", &served.base)
                .env("JIRAGATE_API_KEY", &served.key);
        }
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
            "--param",
            "jql=project = ENG ORDER BY key",
            "--param",
            "limit=1000",
            "--all",
            "--output",
            "ndjson",
        ]);
        let o = run(c).await;
        assert!(o.status.success(), "{}", all_output(&o));
        assert_eq!(count_rows("ndjson", &stdout(&o)), 1000, "remote={remote}");
    }
}
