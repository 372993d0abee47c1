//! Simulator benchmark: start-up time and RSS with 100k issues, requests/s for GET issue and
//! for `search/jql` paging. Run: `cargo run --release -p atlassian-sim --example bench`.
//! Optional args: `--issues N` (default 100000), `--secs S` per phase (default 5),
//! `--concurrency C` (default 16).

use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::{Duration, Instant};

use atlassian_sim::{SimConfig, Simulator};
use serde_json::Value;

fn arg(name: &str, default: u64) -> u64 {
    let args: Vec<String> = std::env::args().collect();
    args.iter()
        .position(|a| a == name)
        .and_then(|i| args.get(i + 1))
        .and_then(|v| v.parse().ok())
        .unwrap_or(default)
}

fn rss_kib() -> u64 {
    std::fs::read_to_string("/proc/self/status")
        .ok()
        .and_then(|s| {
            s.lines()
                .find(|l| l.starts_with("VmRSS:"))
                .and_then(|l| l.split_whitespace().nth(1)?.parse().ok())
        })
        .unwrap_or(0)
}

async fn run_phase<F, Fut>(secs: u64, concurrency: u64, work: F) -> (u64, f64)
where
    F: Fn(u64) -> Fut + Send + Sync + 'static,
    Fut: std::future::Future<Output = bool> + Send,
{
    let work = Arc::new(work);
    let done = Arc::new(AtomicU64::new(0));
    let failed = Arc::new(AtomicU64::new(0));
    let deadline = Instant::now() + Duration::from_secs(secs);
    let start = Instant::now();
    let mut tasks = Vec::new();
    for worker in 0..concurrency {
        let (work, done, failed) = (work.clone(), done.clone(), failed.clone());
        tasks.push(tokio::spawn(async move {
            let mut i = worker;
            while Instant::now() < deadline {
                if work(i).await {
                    done.fetch_add(1, Ordering::Relaxed);
                } else {
                    failed.fetch_add(1, Ordering::Relaxed);
                }
                i += concurrency;
            }
        }));
    }
    for t in tasks {
        let _ = t.await;
    }
    let n = done.load(Ordering::Relaxed);
    assert_eq!(
        failed.load(Ordering::Relaxed),
        0,
        "requests failed during the benchmark"
    );
    (n, n as f64 / start.elapsed().as_secs_f64())
}

#[tokio::main]
async fn main() {
    let issues = arg("--issues", 100_000) as usize;
    let secs = arg("--secs", 5);
    let concurrency = arg("--concurrency", 16);
    let rss_before = rss_kib();
    let t0 = Instant::now();
    let sim = Simulator::start(SimConfig {
        issues_per_site: issues,
        sites: vec!["acme".into()],
        ..SimConfig::default()
    })
    .await
    .expect("start");
    let startup = t0.elapsed();
    let rss_after = rss_kib();
    println!(
        "start-up with {issues} issues: {:.0} ms",
        startup.as_secs_f64() * 1000.0
    );
    println!(
        "RSS after start-up: {} MiB (process before: {} MiB)",
        rss_after / 1024,
        rss_before / 1024
    );

    let user = sim.users[0].clone();
    let base = sim.site_url("acme");
    let client = reqwest::Client::builder()
        .pool_max_idle_per_host(64)
        .build()
        .expect("client");
    let per_project = (issues / 4).max(1) as u64;

    let (c, b, u) = (client.clone(), base.clone(), user.clone());
    let (n, rps) = run_phase(secs, concurrency, move |i| {
        let (c, b, u) = (c.clone(), b.clone(), u.clone());
        async move {
            let key = format!("ENG-{}", i % per_project + 1);
            c.get(format!("{b}/rest/api/3/issue/{key}"))
                .basic_auth(&u.email, Some(&u.api_token))
                .send()
                .await
                .is_ok_and(|r| r.status().is_success())
        }
    })
    .await;
    println!("GET issue: {rps:.0} requests/s ({n} requests, concurrency {concurrency})");

    // Each worker walks the pages of one project query; a page fetch is one request.
    let (c, b, u) = (client.clone(), base.clone(), user.clone());
    let tokens: Arc<Vec<parking_lot_free::Slot>> = Arc::new(
        (0..concurrency)
            .map(|_| parking_lot_free::Slot::default())
            .collect(),
    );
    let (n, rps) = run_phase(secs, concurrency, move |i| {
        let (c, b, u, tokens) = (c.clone(), b.clone(), u.clone(), tokens.clone());
        async move {
            let slot = &tokens[(i % concurrency) as usize];
            let token = slot.take();
            let mut q = vec![
                ("jql", "project = ENG ORDER BY key".to_owned()),
                ("maxResults", "100".to_owned()),
                ("fields", "summary,status".to_owned()),
            ];
            if let Some(t) = token {
                q.push(("nextPageToken", t));
            }
            let Ok(resp) = c
                .get(format!("{b}/rest/api/3/search/jql"))
                .basic_auth(&u.email, Some(&u.api_token))
                .query(&q)
                .send()
                .await
            else {
                return false;
            };
            if !resp.status().is_success() {
                return false;
            }
            let Ok(page) = resp.json::<Value>().await else {
                return false;
            };
            slot.put(
                page.get("nextPageToken")
                    .and_then(Value::as_str)
                    .map(str::to_owned),
            );
            true
        }
    })
    .await;
    println!(
        "search/jql paging (100 per page, project of {per_project} issues): {rps:.0} pages/s ({n} pages)"
    );
    println!("RSS after load: {} MiB", rss_kib() / 1024);
    sim.shutdown().await;
}

/// A tiny per-worker mailbox for the next page token.
mod parking_lot_free {
    use std::sync::Mutex;

    #[derive(Default)]
    pub struct Slot(Mutex<Option<String>>);

    impl Slot {
        pub fn take(&self) -> Option<String> {
            self.0.lock().ok().and_then(|mut g| g.take())
        }
        pub fn put(&self, v: Option<String>) {
            if let Ok(mut g) = self.0.lock() {
                *g = v;
            }
        }
    }
}
