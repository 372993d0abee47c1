//! `--webhooks`: Jira's events through jiragate to a subscriber (issue 19). Events signed as a
//! Jira admin webhook signs them (`X-Hub-Signature: sha256=<HMAC of the body>` with the
//! connection's admin-webhook secret, a unique `X-Atlassian-Webhook-Identifier`) are posted to
//! `POST /hooks/jira/{connection}` of a real `serve`; jiragate verifies, stores and delivers
//! them to a loopback subscriber in this process. The baseline in the same run posts the same
//! bodies with the same client straight to that subscriber. For both: events/s (first post to
//! last arrival), p50/p99 lag (post started → the subscriber has it), the post's own p99.

use std::collections::HashMap;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use anyhow::{Context, Result, bail};
use hmac::{KeyInit, Mac};
use serde_json::{Value, json};

use crate::procs::{self, Procs};
use crate::stats::Samples;
use crate::{Args, sample_issues};

/// Arrivals at the subscriber: `bench_seq` of the body and when it came.
#[derive(Default)]
struct Arrivals {
    seen: Mutex<Vec<(u64, Instant)>>,
    notify: tokio::sync::Notify,
}

impl Arrivals {
    fn take(&self) -> Vec<(u64, Instant)> {
        std::mem::take(&mut *self.seen.lock().unwrap_or_else(|p| p.into_inner()))
    }

    fn distinct(&self) -> usize {
        let seen = self.seen.lock().unwrap_or_else(|p| p.into_inner());
        let mut seqs: Vec<u64> = seen.iter().map(|(s, _)| *s).collect();
        seqs.sort_unstable();
        seqs.dedup();
        seqs.len()
    }
}

/// A subscriber that answers 204 at once and notes each arrival.
async fn start_subscriber() -> Result<(String, Arc<Arrivals>, tokio::task::JoinHandle<()>)> {
    let arrivals = Arc::new(Arrivals::default());
    let a = arrivals.clone();
    let app = axum::Router::new().route(
        "/hook",
        axum::routing::post(move |body: axum::body::Bytes| {
            let a = a.clone();
            async move {
                let at = Instant::now();
                if let Some(seq) = serde_json::from_slice::<Value>(&body)
                    .ok()
                    .and_then(|v| v.get("bench_seq").and_then(Value::as_u64))
                {
                    a.seen
                        .lock()
                        .unwrap_or_else(|p| p.into_inner())
                        .push((seq, at));
                    a.notify.notify_waiters();
                }
                axum::http::StatusCode::NO_CONTENT
            }
        }),
    );
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await?;
    let url = format!("http://{}/hook", listener.local_addr()?);
    let task = tokio::spawn(async move {
        let _ = axum::serve(listener, app).await;
    });
    Ok((url, arrivals, task))
}

/// An `jira:issue_updated` body of about 1 KB, like Jira's (which are larger with all fields).
fn event_body(seq: u64, issue: &str) -> Vec<u8> {
    json!({
        "timestamp": 1_765_000_000_000u64 + seq,
        "webhookEvent": "jira:issue_updated",
        "issue_event_type_name": "issue_generic",
        "user": {"accountId": "bench", "displayName": "Bench"},
        "issue": {"id": (10_000 + seq).to_string(), "key": issue,
                  "fields": {"summary": format!("bench change {seq}"), "description": "x".repeat(700)}},
        "changelog": {"items": [{"field": "summary", "fromString": "before", "toString": "after"}]},
        "bench_seq": seq,
    })
    .to_string()
    .into_bytes()
}

fn hub_signature(secret: &str, body: &[u8]) -> String {
    let mut mac = <hmac::Hmac<sha2::Sha256> as KeyInit>::new_from_slice(secret.as_bytes())
        .unwrap_or_else(|_| unreachable!("HMAC takes keys of any length"));
    mac.update(body);
    let hex: String = mac
        .finalize()
        .into_bytes()
        .iter()
        .map(|b| format!("{b:02x}"))
        .collect();
    format!("sha256={hex}")
}

/// Where a phase posts.
#[derive(Clone)]
enum Target {
    Direct(String),
    Receiver {
        url: String,
        secret: String,
        run: String,
    },
}

impl Target {
    fn request(&self, http: &reqwest::Client, seq: u64, issue: &str) -> reqwest::RequestBuilder {
        let body = event_body(seq, issue);
        match self {
            Target::Direct(url) => http
                .post(url)
                .header("content-type", "application/json")
                .body(body),
            Target::Receiver { url, secret, run } => http
                .post(url)
                .header("content-type", "application/json")
                .header("x-atlassian-webhook-identifier", format!("{run}-{seq}"))
                .header("x-hub-signature", hub_signature(secret, &body))
                .body(body),
        }
    }
}

/// One path's figures.
struct Phase {
    name: &'static str,
    events: u64,
    arrived: usize,
    duplicates: usize,
    errors: u64,
    first_error: Option<String>,
    wall: Duration,
    per_s: f64,
    lag_p50_ms: Option<f64>,
    lag_p99_ms: Option<f64>,
    post_p99_ms: Option<f64>,
}

impl Phase {
    fn json(&self) -> Value {
        json!({
            "path": self.name, "events": self.events, "arrived": self.arrived,
            "duplicates": self.duplicates, "errors": self.errors, "first_error": self.first_error,
            "wall_s": self.wall.as_secs_f64(), "events_per_s": self.per_s,
            "lag_p50_ms": self.lag_p50_ms, "lag_p99_ms": self.lag_p99_ms, "post_p99_ms": self.post_p99_ms,
        })
    }
}

/// How a phase posts: events `first..first + n`, at most `conc` in flight, as fast as they
/// are answered or (open loop) one every `1/rate` s; then up to `wait` for the arrivals.
#[derive(Clone, Copy)]
struct Load {
    first: u64,
    n: u64,
    conc: usize,
    rate: Option<f64>,
    wait: Duration,
}

/// Posts one [`Load`] to `target`, then waits until the subscriber has every event.
async fn phase(
    name: &'static str,
    (http, target): (&reqwest::Client, &Target),
    issues: &[String],
    arrivals: &Arrivals,
    load: Load,
) -> Phase {
    let Load {
        first,
        n,
        conc,
        rate,
        wait,
    } = load;
    arrivals.take();
    let start = Instant::now();
    let sent: Arc<Vec<AtomicU64>> = Arc::new((0..n).map(|_| AtomicU64::new(0)).collect());
    let next = Arc::new(AtomicU64::new(0));
    let mut tasks = Vec::new();
    for _ in 0..conc.max(1) {
        let (http, target, sent, next) = (http.clone(), target.clone(), sent.clone(), next.clone());
        let issues = issues.to_vec();
        tasks.push(tokio::spawn(async move {
            let (mut post, mut errors, mut first_error) = (Samples::default(), 0u64, None);
            loop {
                let i = next.fetch_add(1, Ordering::Relaxed);
                if i >= n {
                    break;
                }
                if let Some(rate) = rate {
                    tokio::time::sleep_until(
                        (start + Duration::from_secs_f64(i as f64 / rate)).into(),
                    )
                    .await;
                }
                let issue = &issues[(i as usize) % issues.len()];
                let t = Instant::now();
                sent[i as usize].store(
                    u64::try_from((t - start).as_nanos()).unwrap_or(u64::MAX),
                    Ordering::Relaxed,
                );
                match target.request(&http, first + i, issue).send().await {
                    Ok(r) if r.status().is_success() => post.push(t.elapsed()),
                    Ok(r) => {
                        errors += 1;
                        first_error.get_or_insert(format!("HTTP {}", r.status()));
                    }
                    Err(e) => {
                        errors += 1;
                        first_error.get_or_insert(e.to_string());
                    }
                }
            }
            (post, errors, first_error)
        }));
    }
    let (mut post, mut errors, mut first_error) = (Samples::default(), 0, None);
    for t in tasks {
        if let Ok((p, e, f)) = t.await {
            post.extend(p);
            errors += e;
            if first_error.is_none() {
                first_error = f;
            }
        }
    }
    let expected = usize::try_from(n).unwrap_or(usize::MAX) - errors as usize;
    let deadline = Instant::now() + wait;
    while arrivals.distinct() < expected && Instant::now() < deadline {
        let _ = tokio::time::timeout(Duration::from_millis(50), arrivals.notify.notified()).await;
    }
    // Late duplicates, if any, would arrive now.
    tokio::time::sleep(Duration::from_millis(200)).await;
    let seen = arrivals.take();
    let mut firsts: HashMap<u64, Instant> = HashMap::new();
    for (seq, at) in &seen {
        firsts.entry(*seq).or_insert(*at);
    }
    let mut lag = Samples::default();
    let mut last = start;
    for (seq, at) in &firsts {
        let Some(i) = seq.checked_sub(first).filter(|i| *i < n) else {
            continue;
        };
        let sent_at = start + Duration::from_nanos(sent[i as usize].load(Ordering::Relaxed));
        lag.push(at.saturating_duration_since(sent_at));
        last = last.max(*at);
    }
    let wall = last - start;
    Phase {
        name,
        events: n,
        arrived: firsts.len(),
        duplicates: seen.len() - firsts.len(),
        errors,
        first_error,
        wall,
        per_s: firsts.len() as f64 / wall.as_secs_f64().max(1e-9),
        lag_p50_ms: lag.percentile_ms(0.50),
        lag_p99_ms: lag.percentile_ms(0.99),
        post_p99_ms: post.percentile_ms(0.99),
    }
}

pub async fn run(args: &Args, procs: &mut Procs) -> Result<()> {
    let (jiragate_bin, sim_bin) = procs::binaries(&args.jiragate_bin, &args.sim_bin);
    let started = procs::start_with_connection(
        procs,
        (&jiragate_bin, &sim_bin),
        &[],
        &[
            ("JIRAGATE_WEBHOOKS_ALLOW_PRIVATE", "true"),
            ("JIRAGATE_WEBHOOKS_RATE_LIMIT", "off"),
        ],
        "jiragate-webhooks-",
    )
    .await?;
    let (http, base, key) = (&started.http, &started.base_url, &started.admin_key);
    let (project, _) = sample_issues(http, &started.sim).await?;
    // A connection whose token is not a Jira administrator's: jiragate then answers with the
    // admin webhook's URL and secret to paste, and the bench signs its events with that secret
    // as Jira would (an administrator's token would have jiragate register the webhook with a
    // secret only the simulator knows).
    let mut non_admin = started.sim.clone();
    (non_admin.email, non_admin.api_token) = started.sim.non_admin.clone();
    let conn = &crate::create_connection_named(http, base, key, &non_admin, "hooks").await?;
    // Issue keys of the project; Jira's events are what the bench makes up, so the keys need
    // not exist: how many there are sets how many deliveries may run in parallel (each
    // issue's events are delivered one after the other).
    let issues: Vec<String> = (1..=args.webhook_issues.max(1))
        .map(|i| format!("{project}-{i}"))
        .collect();
    let (sub_url, arrivals, _sub) = start_subscriber().await?;

    let r = http
        .post(format!(
            "{base}/api/v1/integrations/connectors/{conn}/webhooks/subscriptions"
        ))
        .bearer_auth(key)
        .json(&json!({"events": ["jira:issue_updated"], "jql_filter": format!("project = {project}"), "url": sub_url}))
        .send()
        .await
        .context("subscribing")?;
    let status = r.status();
    let v: Value = r.json().await.unwrap_or(Value::Null);
    if !status.is_success() {
        bail!("subscribing: HTTP {status}: {v}");
    }
    let secret = v
        .pointer("/admin_webhook/secret")
        .and_then(Value::as_str)
        .context("the subscription's answer has no admin-webhook secret")?
        .to_owned();
    let receiver = Target::Receiver {
        url: format!("{base}/hooks/jira/{conn}"),
        secret,
        run: format!("bench-{}", std::process::id()),
    };
    let direct = Target::Direct(sub_url);

    let n = if args.quick {
        args.webhook_events.min(40)
    } else {
        args.webhook_events
    };
    let conc = args.concurrency;
    let warm = (n / 10).clamp(1, 100);
    let wait = Duration::from_secs(120);
    println!(
        "webhooks: {n} events of {} issues, {conc} posts in flight; the subscriber answers 204 at once",
        issues.len()
    );
    let paths = [
        ("direct POST to the subscriber", &direct),
        ("receiver -> outbox -> subscriber", &receiver),
    ];
    let mut load = Load {
        first: 0,
        n: warm,
        conc,
        rate: None,
        wait,
    };
    // Warm both paths (connections, caches, the first outbox rounds), unmeasured.
    for (path, target) in paths {
        phase(path, (http, target), &issues, &arrivals, load).await;
        load.first += load.n;
    }
    // As fast as each path goes (closed loop: lag includes the backlog that builds up), then
    // open loop at half of jiragate's rate (or --webhook-rate): the lag of a path that keeps up.
    let mut tables: Vec<(String, Vec<Phase>)> = Vec::new();
    for round in 0..2 {
        load.n = n;
        if round == 1 {
            let rate = args
                .webhook_rate
                .unwrap_or_else(|| (tables[0].1[1].per_s / 2.0).max(1.0));
            load.rate = Some(rate);
            load.n = n.min(((rate * 8.0) as u64).max(50));
        }
        let mut phases = Vec::new();
        for (path, target) in paths {
            phases.push(phase(path, (http, target), &issues, &arrivals, load).await);
            load.first += load.n;
        }
        let label = load
            .rate
            .map_or("saturated".to_owned(), |r| format!("open loop at {r:.0}/s"));
        tables.push((label, phases));
        if let Some(p) = procs.serve.as_mut() {
            p.check_alive()?;
        }
    }

    let ms = |v: Option<f64>| v.map_or("-".to_owned(), |x| format!("{x:.2}"));
    let ratio = |a: Option<f64>, b: Option<f64>| match (a, b) {
        (Some(a), Some(b)) if b > 0.0 => format!("{:.2}", a / b),
        _ => "-".to_owned(),
    };
    println!(
        "| load | path | events | arrived | dup | errors | events/s | lag p50 ms | lag p99 ms | post p99 ms |"
    );
    println!("|---|---|---|---|---|---|---|---|---|---|");
    for (label, phases) in &tables {
        for p in phases {
            println!(
                "| {label} | {} | {} | {} | {} | {} | {:.0} | {} | {} | {} |",
                p.name,
                p.events,
                p.arrived,
                p.duplicates,
                p.errors,
                p.per_s,
                ms(p.lag_p50_ms),
                ms(p.lag_p99_ms),
                ms(p.post_p99_ms)
            );
            if let Some(e) = &p.first_error {
                println!("  first error of {}: {e}", p.name);
            }
        }
    }
    for (label, p) in &tables {
        println!(
            "{label}: jiragate / direct: events/s {}, lag p50 {}x, lag p99 {}x",
            ratio(Some(p[1].per_s), Some(p[0].per_s)),
            ratio(p[1].lag_p50_ms, p[0].lag_p50_ms),
            ratio(p[1].lag_p99_ms, p[0].lag_p99_ms)
        );
    }
    if let Some(path) = &args.json {
        let runs: Vec<Value> = tables
            .iter()
            .map(
                |(label, p)| json!({"load": label, "direct": p[0].json(), "jiragate": p[1].json()}),
            )
            .collect();
        let doc = json!({
            "mode": "webhooks",
            "settings": {"events": n, "concurrency": conc, "issues": issues.len(),
                         "jiragate_bin": jiragate_bin.display().to_string()},
            "runs": runs,
        });
        std::fs::write(path, serde_json::to_string_pretty(&doc)? + "\n")
            .with_context(|| format!("writing {}", path.display()))?;
        eprintln!("wrote {}", path.display());
    }
    let lost: Vec<String> = tables
        .iter()
        .flat_map(|(label, p)| p.iter().map(move |p| (label, p)))
        .filter(|(_, p)| p.arrived < p.events as usize)
        .map(|(label, p)| format!("{label}, {}: {} of {}", p.name, p.arrived, p.events))
        .collect();
    if !lost.is_empty() {
        bail!(
            "events did not reach the subscriber within {} s: {}",
            wait.as_secs(),
            lost.join("; ")
        );
    }
    Ok(())
}
