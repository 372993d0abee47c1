//! `--overload`: the overload curve (issue 20). The simulator answers every request after a
//! fixed latency, so one connection's capacity through jiragate is known: its per-connection
//! slots (8) divided by that latency. An open-loop load (a request every 1/rate s, whatever
//! came back) is offered at multiples of that capacity; for each step the run prints offered vs
//! served calls/s, p50/p99 of the admitted calls, how many were shed (503 `overloaded`) and how
//! fast, and the upstream request rate — then jiragate's RSS under load and after 10 s idle.

use std::sync::Arc;
use std::time::{Duration, Instant};

use anyhow::{Context, Result};
use serde_json::{Value, json};
use tokio::sync::Mutex;

use crate::procs::{self, Procs};
use crate::stats::{self, Samples};
use crate::{Args, http_client, sample_issues, sim_requests};

/// jiragate's default per-connection concurrency (`ClientConfig::per_connection_concurrency`).
const SLOTS: f64 = 8.0;

#[derive(Default)]
struct Step {
    ok: Samples,
    shed: Samples,
    other: u64,
    first_other: Option<String>,
}

pub async fn run(args: &Args, procs: &mut Procs) -> Result<()> {
    let (jiragate_bin, sim_bin) = procs::binaries(&args.jiragate_bin, &args.sim_bin);
    let latency_ms = args.overload_latency_ms;
    let capacity = SLOTS * 1000.0 / latency_ms as f64;
    let started = procs::start_with_connection(
        procs,
        (&jiragate_bin, &sim_bin),
        &["--fault", &format!("latency={latency_ms}ms")],
        &[],
        "jiragate-overload-",
    )
    .await?;
    let (http, sim, serve_pid) = (started.http.clone(), started.sim.clone(), started.serve_pid);
    // The callers: a client of their own, so that its keep-alive connections can be closed
    // when the load ends while the run's own client keeps reading the simulator's counters.
    let load = http_client()?;
    let (base, key, conn) = (
        started.base_url.clone(),
        started.admin_key.clone(),
        started.connector_id.clone(),
    );
    let (_, issues) = sample_issues(&http, &sim).await?;
    let issue = issues.first().cloned().context("no issue to read")?;
    // Warm up, so that the code a call runs is paged in before idle is measured (file-backed
    // RSS that grows once, not memory the load holds), from a client of its own whose
    // connection is then closed.
    let execute = format!("{base}/api/v1/integrations/connectors/{conn}/execute");
    let body = json!({"entity": "issues", "action": "get", "params": {"issue": issue}});
    let warm = http_client()?;
    for _ in 0..20 {
        let r = warm
            .post(&execute)
            .bearer_auth(&key)
            .json(&body)
            .send()
            .await?;
        anyhow::ensure!(
            r.status().is_success(),
            "warm-up call failed: {}",
            r.status()
        );
    }
    drop(warm);
    tokio::time::sleep(Duration::from_secs(1)).await;
    let idle_rss = stats::rss_mib(serve_pid);
    let idle_anon = stats::rss_anon_mib(serve_pid);
    let seconds = args.overload_seconds;
    println!(
        "overload curve: sim latency {latency_ms} ms, {SLOTS} slots per connection -> capacity {capacity:.0} calls/s; {seconds:.0} s per step, open loop"
    );
    println!(
        "{:>8} {:>9} {:>9} {:>8} {:>9} {:>9} {:>8} {:>11} {:>10}",
        "x cap",
        "offered/s",
        "served/s",
        "shed",
        "p50 ms",
        "p99 ms",
        "other",
        "shed p99 ms",
        "upstream/s"
    );
    let mut rows = Vec::new();
    let mut peak_rss: Option<f64> = None;
    for factor in [0.5, 1.0, 1.5, 2.0] {
        let rate = capacity * factor;
        let step = Arc::new(Mutex::new(Step::default()));
        let upstream_before = sim_requests(&http, &sim).await;
        let started = Instant::now();
        let every = Duration::from_secs_f64(1.0 / rate);
        let mut tick = tokio::time::interval(every);
        tick.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Burst);
        let mut tasks = Vec::new();
        let mut offered = 0u64;
        while started.elapsed().as_secs_f64() < seconds {
            tick.tick().await;
            offered += 1;
            if offered.is_multiple_of(50)
                && let Some(now) = stats::rss_mib(serve_pid)
            {
                peak_rss = Some(peak_rss.map_or(now, |p: f64| p.max(now)));
            }
            let (http, step) = (load.clone(), step.clone());
            let (url, body, key) = (execute.clone(), body.clone(), key.clone());
            tasks.push(tokio::spawn(async move {
                let t0 = Instant::now();
                let r = http.post(url).bearer_auth(key).json(&body).send().await;
                let took = t0.elapsed();
                let mut s = step.lock().await;
                match r {
                    Ok(resp) if resp.status().is_success() => s.ok.push(took),
                    Ok(resp) if resp.status().as_u16() == 503 => {
                        let v: Value = resp.json().await.unwrap_or(Value::Null);
                        if v["type"]
                            .as_str()
                            .is_some_and(|t| t.ends_with("/overloaded"))
                        {
                            s.shed.push(took);
                        } else {
                            s.other += 1;
                            s.first_other.get_or_insert_with(|| v.to_string());
                        }
                    }
                    Ok(resp) => {
                        s.other += 1;
                        let st = resp.status();
                        s.first_other.get_or_insert_with(|| st.to_string());
                    }
                    Err(e) => {
                        s.other += 1;
                        s.first_other.get_or_insert_with(|| e.to_string());
                    }
                }
            }));
        }
        for t in tasks {
            let _ = t.await;
        }
        let wall = started.elapsed().as_secs_f64();
        let upstream = match (upstream_before, sim_requests(&http, &sim).await) {
            (Some(a), Some(b)) => Some((b - a) as f64 / wall),
            _ => None,
        };
        let mut s = step.lock().await;
        let served = s.ok.len() as f64 / wall;
        let shed = s.shed.len();
        let (p50, p99, shed_p99) = (
            s.ok.percentile_ms(0.5),
            s.ok.percentile_ms(0.99),
            s.shed.percentile_ms(0.99),
        );
        let fmt = |v: Option<f64>| v.map_or("-".to_owned(), |v| format!("{v:.1}"));
        println!(
            "{factor:>8.1} {:>9.0} {served:>9.0} {shed:>8} {:>9} {:>9} {:>8} {:>11} {:>10}",
            offered as f64 / wall,
            fmt(p50),
            fmt(p99),
            s.other,
            fmt(shed_p99),
            upstream.map_or("-".to_owned(), |u| format!("{u:.0}")),
        );
        if let Some(e) = &s.first_other {
            println!("         first other error: {e}");
        }
        rows.push(json!({
            "factor": factor, "offered_per_s": offered as f64 / wall, "served_per_s": served,
            "shed": shed, "other_errors": s.other, "p50_ms": p50, "p99_ms": p99,
            "shed_p99_ms": shed_p99, "upstream_per_s": upstream,
        }));
    }
    let peak_sockets = stats::open_sockets(serve_pid);
    tokio::time::sleep(Duration::from_secs(10)).await;
    let after_idle = stats::rss_mib(serve_pid);
    let after_anon = stats::rss_anon_mib(serve_pid);
    println!("anonymous RSS: idle {idle_anon:?} MiB, 10 s after the load {after_anon:?} MiB");
    let idle_sockets = stats::open_sockets(serve_pid);
    // The callers go away: what the connections they kept open were holding.
    drop(load);
    tokio::time::sleep(Duration::from_secs(2)).await;
    let after_closed = stats::rss_mib(serve_pid);
    let closed_sockets = stats::open_sockets(serve_pid);
    println!(
        "sockets held by serve: {peak_sockets:?} as the load ended, {idle_sockets:?} 10 s later, {closed_sockets:?} after the callers closed theirs (RSS then {after_closed:?} MiB)"
    );
    let fmt = |v: Option<f64>| v.map_or("-".to_owned(), |v| format!("{v:.1} MiB"));
    println!(
        "RSS: idle {}, peak under load {}, 10 s after the load {}",
        fmt(idle_rss),
        fmt(peak_rss),
        fmt(after_idle)
    );
    let verdicts = criteria(&rows, capacity, idle_rss, peak_rss, after_idle);
    for (name, ok, detail) in &verdicts {
        println!("{} {name}: {detail}", if *ok { "PASS" } else { "FAIL" });
    }
    if let Some(path) = &args.json {
        let checks: Vec<Value> = verdicts
            .iter()
            .map(|(name, ok, detail)| json!({"criterion": name, "pass": ok, "detail": detail}))
            .collect();
        let doc = json!({
            "overload": rows, "capacity_per_s": capacity, "latency_ms": latency_ms,
            "rss_mib": {"idle": idle_rss, "peak": peak_rss, "after_idle_10s": after_idle},
            "criteria": checks,
        });
        std::fs::write(path, serde_json::to_string_pretty(&doc)? + "\n")?;
    }
    let failed: Vec<&str> = verdicts
        .iter()
        .filter(|(_, ok, _)| !ok)
        .map(|(name, _, _)| *name)
        .collect();
    anyhow::ensure!(failed.is_empty(), "overload criteria failed: {failed:?}");
    Ok(())
}

/// The queue-wait deadline `serve` runs with by default (`JIRAGATE_MAX_QUEUE_WAIT`).
const QUEUE_WAIT_MS: f64 = 5000.0;

/// Issue 20's "done means" for overload, judged on the 2x step: admitted calls' p99 under the
/// queue-wait deadline (plus one upstream answer), refusals within 100 ms, the upstream rate
/// never above capacity (5 % measuring slack), RSS under 64 MiB and back within 20 % of idle
/// 10 s after the load.
fn criteria(
    rows: &[Value],
    capacity: f64,
    idle: Option<f64>,
    peak: Option<f64>,
    after: Option<f64>,
) -> Vec<(&'static str, bool, String)> {
    let at_2x = rows.iter().find(|r| r["factor"].as_f64() == Some(2.0));
    let num = |key: &str| at_2x.and_then(|r| r[key].as_f64());
    let latency = rows
        .first()
        .and_then(|r| r["p50_ms"].as_f64())
        .unwrap_or(0.0);
    let mut out = Vec::new();
    let p99 = num("p99_ms");
    out.push((
        "admitted p99 at 2x under the queue deadline",
        p99.is_some_and(|p| p < QUEUE_WAIT_MS + latency),
        format!("{p99:?} ms < {:.0} ms", QUEUE_WAIT_MS + latency),
    ));
    let shed = num("shed_p99_ms");
    out.push((
        "refusals within 100 ms",
        shed.is_some_and(|p| p < 100.0),
        format!("shed p99 {shed:?} ms"),
    ));
    let upstream_max = rows
        .iter()
        .filter_map(|r| r["upstream_per_s"].as_f64())
        .fold(None, |m: Option<f64>, u| Some(m.map_or(u, |m| m.max(u))));
    out.push((
        "upstream rate never above capacity",
        upstream_max.is_some_and(|u| u <= capacity * 1.05),
        format!("max {upstream_max:?}/s, capacity {capacity:.0}/s"),
    ));
    out.push((
        "RSS under 64 MiB",
        peak.is_some_and(|p| p < 64.0),
        format!("peak {peak:?} MiB"),
    ));
    out.push((
        "RSS back within 20 % of idle 10 s after",
        matches!((idle, after), (Some(i), Some(a)) if a <= i * 1.2),
        format!("idle {idle:?} MiB, after {after:?} MiB"),
    ));
    out
}
