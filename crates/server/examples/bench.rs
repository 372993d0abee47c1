//! Throughput and latency of execute and proxy through jiragate vs. straight to the simulator,
//! in the same run, plus start-up time of `App::build` and idle RSS.
//!
//! `cargo run --release -p jiragate-server --example bench [-- --requests N --concurrency C]`

use std::sync::Arc;
use std::time::{Duration, Instant};

use atlassian_sim::{SimConfig, Simulator};
use jiragate_engine::model::AtlassianEndpoints;
use jiragate_server::{App, ServerConfig};
use serde_json::json;
use tokio::sync::Semaphore;

struct Args {
    requests: usize,
    concurrency: usize,
}

fn args() -> Args {
    let mut a = Args {
        requests: 2000,
        concurrency: 32,
    };
    let mut it = std::env::args().skip(1);
    while let Some(flag) = it.next() {
        let value = it.next().and_then(|v| v.parse().ok());
        match (flag.as_str(), value) {
            ("--requests", Some(v)) => a.requests = v,
            ("--concurrency", Some(v)) => a.concurrency = v,
            _ => {
                eprintln!("usage: bench [--requests N] [--concurrency C]");
                std::process::exit(2);
            }
        }
    }
    a
}

fn rss_kib() -> Option<u64> {
    let status = std::fs::read_to_string("/proc/self/status").ok()?;
    status
        .lines()
        .find(|l| l.starts_with("VmRSS:"))?
        .split_whitespace()
        .nth(1)?
        .parse()
        .ok()
}

struct Run {
    rps: f64,
    p50: Duration,
    p99: Duration,
    errors: usize,
}

/// Fire `n` requests built by `make`, at most `c` at a time.
async fn load(n: usize, c: usize, make: impl Fn() -> reqwest::RequestBuilder) -> Run {
    let sem = Arc::new(Semaphore::new(c));
    let started = Instant::now();
    let mut tasks = Vec::with_capacity(n);
    for _ in 0..n {
        let permit = sem.clone().acquire_owned().await.expect("semaphore open");
        let req = make();
        tasks.push(tokio::spawn(async move {
            let t = Instant::now();
            let ok = match req.send().await {
                Ok(r) => {
                    let ok = r.status().is_success();
                    let _ = r.bytes().await;
                    ok
                }
                Err(_) => false,
            };
            drop(permit);
            (t.elapsed(), ok)
        }));
    }
    let mut lat = Vec::with_capacity(n);
    let mut errors = 0;
    for t in tasks {
        let (d, ok) = t.await.expect("request task");
        lat.push(d);
        errors += usize::from(!ok);
    }
    let total = started.elapsed();
    lat.sort();
    let pct = |p: f64| lat[((lat.len() as f64 * p) as usize).min(lat.len() - 1)];
    Run {
        rps: n as f64 / total.as_secs_f64(),
        p50: pct(0.50),
        p99: pct(0.99),
        errors,
    }
}

fn row(name: &str, r: &Run) {
    println!(
        "{name:<34} {:>9.0} req/s   p50 {:>7.2} ms   p99 {:>7.2} ms   errors {}",
        r.rps,
        r.p50.as_secs_f64() * 1e3,
        r.p99.as_secs_f64() * 1e3,
        r.errors
    );
}

#[tokio::main]
async fn main() -> anyhow::Result<()> {
    let a = args();
    let sim = Simulator::start(SimConfig {
        issues_per_site: 50,
        ..SimConfig::default()
    })
    .await?;
    let dir = tempfile::tempdir()?;
    let rss_before = rss_kib();
    let t0 = Instant::now();
    let app = App::build(ServerConfig {
        listen: "127.0.0.1:0".parse()?,
        data_dir: dir.path().to_path_buf(),
        endpoints: AtlassianEndpoints {
            auth_url: sim.auth_url.clone(),
            api_url: sim.api_url.clone(),
            site_url_template: sim.site_url.clone(),
        },
        background: false,
        rate_limit_per_key: None,
        ..ServerConfig::default()
    })
    .await?;
    let startup = t0.elapsed();
    let base = app.base_url();
    let key = std::fs::read_to_string(
        app.bootstrap
            .admin_key_path
            .as_ref()
            .expect("fresh data dir"),
    )?
    .trim()
    .to_owned();
    let (stop_tx, stop_rx) = tokio::sync::oneshot::channel::<()>();
    let server = tokio::spawn(app.serve(async move {
        let _ = stop_rx.await;
    }));
    tokio::time::sleep(Duration::from_millis(300)).await;
    let rss_idle = rss_kib();

    let http = reqwest::Client::builder()
        .pool_max_idle_per_host(a.concurrency)
        .build()?;
    let user = sim.users[0].clone();
    let site = sim.sites[0].subdomain.clone();
    let created: serde_json::Value = http
        .post(format!("{base}/api/v1/integrations/connectors"))
        .bearer_auth(&key)
        .json(
            &json!({"workspace_name": "bench", "connector_type": "Jira", "name": "bench",
                      "credentials": {"username": user.email, "password": user.api_token},
                      "replication_config": {"subdomain": site}}),
        )
        .send()
        .await?
        .error_for_status()?
        .json()
        .await?;
    let id = created["id"].as_str().expect("connector id").to_owned();
    let site_url = sim.site_url(&site);
    let projects: serde_json::Value = http
        .get(format!("{site_url}/rest/api/3/project/search?maxResults=1"))
        .basic_auth(&user.email, Some(&user.api_token))
        .send()
        .await?
        .json()
        .await?;
    let issue = format!(
        "{}-1",
        projects["values"][0]["key"].as_str().expect("a project")
    );

    println!(
        "jiragate bench: {} requests per run, concurrency {}",
        a.requests, a.concurrency
    );
    println!(
        "App::build start-up: {:.1} ms (SQLite, fresh data dir, migrations + bootstrap)",
        startup.as_secs_f64() * 1e3
    );
    if let (Some(b), Some(i)) = (rss_before, rss_idle) {
        println!(
            "RSS: {:.1} MiB idle after start (process incl. simulator); App::build added {:.1} MiB",
            i as f64 / 1024.0,
            i.saturating_sub(b) as f64 / 1024.0
        );
    }
    // Warm both paths (connection pools, token caches).
    let _ = load(64, a.concurrency, || {
        http.get(format!("{site_url}/rest/api/3/myself"))
            .basic_auth(&user.email, Some(&user.api_token))
    })
    .await;

    let direct_get = load(a.requests, a.concurrency, || {
        http.get(format!("{site_url}/rest/api/3/issue/{issue}"))
            .basic_auth(&user.email, Some(&user.api_token))
    })
    .await;
    let via_execute = load(a.requests, a.concurrency, || {
        http.post(format!(
            "{base}/api/v1/integrations/connectors/{id}/execute"
        ))
        .bearer_auth(&key)
        .json(&json!({"entity": "issues", "action": "get", "params": {"issue": issue}}))
    })
    .await;
    let direct_myself = load(a.requests, a.concurrency, || {
        http.get(format!("{site_url}/rest/api/3/myself"))
            .basic_auth(&user.email, Some(&user.api_token))
    })
    .await;
    let via_proxy = load(a.requests, a.concurrency, || {
        http.get(format!(
            "{base}/api/v1/integrations/connectors/{id}/proxy/rest/api/3/myself"
        ))
        .bearer_auth(&key)
    })
    .await;
    row("direct  GET issue (simulator)", &direct_get);
    row("execute issues.get (jiragate)", &via_execute);
    row("direct  GET myself (simulator)", &direct_myself);
    row("proxy   GET myself (jiragate)", &via_proxy);
    println!(
        "overhead p50: execute +{:.2} ms, proxy +{:.2} ms",
        (via_execute.p50.as_secs_f64() - direct_get.p50.as_secs_f64()) * 1e3,
        (via_proxy.p50.as_secs_f64() - direct_myself.p50.as_secs_f64()) * 1e3
    );
    let _ = stop_tx.send(());
    server.await??;
    Ok(())
}
