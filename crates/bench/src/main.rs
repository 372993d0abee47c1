//! `jiragate-bench`: what a call through jiragate costs next to the same client calling the
//! Atlassian simulator directly (issue 15). Starts `atlassian-sim` and `jiragate serve` as
//! child processes on loopback, creates an API-token connection over the HTTP API, then runs
//! each scenario sequentially and at 16 in flight and prints calls/s, p50, p99, the ratio to
//! the direct call, jiragate's CPU per call and its RSS, against the issue's targets.
//! A measurement, not a test: it exits 0 whether the targets are met or not.

mod calls;
mod overload;
mod procs;
mod relay;
mod report;
mod stats;
mod webhooks;

use std::path::PathBuf;
use std::sync::Arc;
use std::sync::atomic::{AtomicU64, AtomicUsize, Ordering};
use std::time::{Duration, Instant};

use anyhow::{Context, Result, bail};
use clap::Parser;
use serde_json::{Value, json};

use calls::{CallError, Ctx, Kind, McpSession};
use procs::Procs;
use stats::Samples;

#[derive(Debug, Clone, Parser)]
#[command(
    name = "jiragate-bench",
    version,
    about = "Measures execute, proxy and MCP calls through jiragate against the same client calling the Atlassian simulator directly",
    after_help = "Example:\n  cargo build --release -p jiragate-bench -p jiragate -p atlassian-sim\n  target/release/jiragate-bench --json bench.json"
)]
pub struct Args {
    /// The `jiragate` binary (default: next to this executable).
    #[arg(long)]
    pub jiragate_bin: Option<PathBuf>,
    /// The `atlassian-sim` binary (default: next to this executable).
    #[arg(long)]
    pub sim_bin: Option<PathBuf>,
    /// Measured calls per scenario and concurrency (a run also stops after --seconds).
    #[arg(long, default_value_t = 3000)]
    pub calls: u64,
    /// Longest measured time per scenario and concurrency, in seconds.
    #[arg(long, default_value_t = 6.0)]
    pub seconds: f64,
    /// Unmeasured calls before each run (connections, caches, JIT-free but warm).
    #[arg(long, default_value_t = 200)]
    pub warmup: u64,
    /// Rounds per concurrency: each round runs every scenario for its share of --calls and
    /// --seconds, so a jiragate path and its direct baseline are measured interleaved and a
    /// slow or fast stretch of the machine falls on both; each scenario's figures sum its rounds.
    #[arg(long, default_value_t = 3)]
    pub rounds: u32,
    /// Calls in flight for the concurrent runs (the sequential runs use 1).
    #[arg(long, default_value_t = 16)]
    pub concurrency: usize,
    /// Seeded issues on the simulated site.
    #[arg(long, default_value_t = 200)]
    pub issues: u32,
    /// Write the results as JSON to this file as well.
    #[arg(long)]
    pub json: Option<PathBuf>,
    /// A few calls per scenario: proves the harness works (used by the smoke test), measures nothing.
    #[arg(long)]
    pub quick: bool,
    /// API keys to spread calls over while `serve` enforces its per-key rate limit and cannot
    /// turn it off (0 = as many as the planned calls need). Ignored when the limit is off.
    #[arg(long, default_value_t = 0)]
    pub key_pool: usize,
    /// Run only these scenarios (comma-separated ids: direct_get, relay_get, execute_get,
    /// proxy_get, mcp_get, direct_search, execute_search), each with the direct call it is
    /// compared with; e.g. a long `--only execute_get` run to profile `serve`.
    #[arg(long, value_delimiter = ',')]
    pub only: Vec<String>,
    /// Measure the overload curve instead (issue 20): open-loop load at 0.5x to 2x one
    /// connection's capacity against a simulator that answers after --overload-latency-ms.
    #[arg(long)]
    pub overload: bool,
    /// Simulator latency for --overload.
    #[arg(long, default_value_t = 50)]
    pub overload_latency_ms: u64,
    /// Seconds per load step for --overload.
    #[arg(long, default_value_t = 10.0)]
    pub overload_seconds: f64,
    /// Measure webhooks instead (issue 19): signed events posted to jiragate's receiver and
    /// delivered to a loopback subscriber, against the same events posted to it directly.
    #[arg(long)]
    pub webhooks: bool,
    /// Events per path for --webhooks (--concurrency of them in flight).
    #[arg(long, default_value_t = 2000)]
    pub webhook_events: u64,
    /// Distinct issues the --webhooks events cycle over (each issue's events are delivered
    /// in order, one at a time).
    #[arg(long, default_value_t = 50)]
    pub webhook_issues: usize,
    /// Open-loop rate (events/s) of the second --webhooks run (default: half the rate
    /// jiragate reached in the first).
    #[arg(long)]
    pub webhook_rate: Option<f64>,
    /// Internal: run as the zero-work TCP relay to this address (the bench starts itself so
    /// for the `relay_get` scenario).
    #[arg(long, hide = true)]
    pub relay_to: Option<std::net::SocketAddr>,
}

impl Args {
    fn effective(mut self) -> Args {
        if self.quick {
            self.calls = self.calls.min(24);
            self.warmup = self.warmup.min(4);
            self.seconds = self.seconds.min(10.0);
            self.concurrency = self.concurrency.min(4);
            self.issues = self.issues.min(30);
            self.rounds = 1;
        }
        self.rounds = self.rounds.max(1);
        self
    }
}

/// The scenario order: every jiragate path right after the direct call it is compared with.
const ORDER: [Kind; 7] = [
    Kind::DirectGet,
    Kind::RelayGet,
    Kind::ExecuteGet,
    Kind::ProxyGet,
    Kind::McpGet,
    Kind::DirectSearch,
    Kind::ExecuteSearch,
];

/// One scenario at one concurrency.
#[derive(Debug, Clone)]
pub struct RunResult {
    pub kind: Kind,
    pub concurrency: usize,
    pub ok: u64,
    pub errors: u64,
    pub rate_limited: u64,
    pub first_error: Option<String>,
    pub wall: Duration,
    pub calls_per_s: f64,
    pub p50_ms: Option<f64>,
    pub p99_ms: Option<f64>,
    /// CPU of `serve` over the measured calls, ms per successful call.
    pub serve_cpu_ms_per_call: Option<f64>,
    /// CPU of the simulator over the measured calls, ms per successful call.
    pub sim_cpu_ms_per_call: Option<f64>,
    /// Requests the simulator saw per measured call.
    pub upstream_per_call: Option<f64>,
}

/// Facts about the whole run.
#[derive(Debug, Clone, Default)]
pub struct RunInfo {
    pub clk_tck: u64,
    pub clk_tck_asked: bool,
    pub idle_rss_mib: Option<f64>,
    pub final_rss_mib: Option<f64>,
    /// The anonymous part of each (heap, stacks); the rest is the binary's pages.
    pub idle_anon_mib: Option<f64>,
    pub final_anon_mib: Option<f64>,
    pub jiragate_requests: u64,
    pub rate_limit_note: String,
    pub rate_limit_off: bool,
    pub keys: usize,
    pub env_note: Vec<(String, String)>,
    pub jiragate_bin: String,
    pub sim_bin: String,
    pub cores: usize,
}

#[tokio::main]
async fn main() {
    let args = Args::parse().effective();
    if let Some(target) = args.relay_to {
        if let Err(e) = relay::serve(target).await {
            eprintln!("jiragate-bench relay: {e:#}");
            std::process::exit(1);
        }
        return;
    }
    let mut procs = Procs::default();
    let outcome = tokio::select! {
        r = async {
            if args.overload {
                overload::run(&args, &mut procs).await
            } else if args.webhooks {
                webhooks::run(&args, &mut procs).await
            } else {
                run(&args, &mut procs).await
            }
        } => r,
        _ = interrupted() => Err(anyhow::anyhow!("interrupted; stopping the child processes")),
    };
    procs.stop_all().await;
    if let Err(e) = outcome {
        eprintln!("jiragate-bench: {e:#}");
        std::process::exit(1);
    }
}

async fn interrupted() {
    let ctrl_c = async {
        let _ = tokio::signal::ctrl_c().await;
    };
    let term = async {
        match tokio::signal::unix::signal(tokio::signal::unix::SignalKind::terminate()) {
            Ok(mut s) => {
                s.recv().await;
            }
            Err(_) => std::future::pending::<()>().await,
        }
    };
    tokio::select! { _ = ctrl_c => {}, _ = term => {} }
}

fn http_client() -> Result<reqwest::Client> {
    // The same settings for the direct and the jiragate paths: HTTP/1.1, keep-alive, no proxy.
    Ok(reqwest::Client::builder()
        .http1_only()
        .no_proxy()
        .tcp_nodelay(true)
        .pool_max_idle_per_host(256)
        .timeout(Duration::from_secs(30))
        .build()?)
}

async fn run(args: &Args, procs: &mut Procs) -> Result<()> {
    let (jiragate_bin, sim_bin) = procs::binaries(&args.jiragate_bin, &args.sim_bin);
    for (flag, p) in [("--jiragate-bin", &jiragate_bin), ("--sim-bin", &sim_bin)] {
        if !p.is_file() {
            bail!(
                "{} not found (give {flag}, or build it: cargo build --release -p jiragate -p atlassian-sim)",
                p.display()
            );
        }
    }
    let (clk_tck, clk_tck_asked) = stats::clock_ticks_per_second();
    let mut info = RunInfo {
        clk_tck,
        clk_tck_asked,
        jiragate_bin: jiragate_bin.display().to_string(),
        sim_bin: sim_bin.display().to_string(),
        cores: std::thread::available_parallelism().map_or(0, |n| n.get()),
        ..RunInfo::default()
    };
    let http = http_client()?;

    eprintln!("starting {} …", sim_bin.display());
    let (sim_proc, sim) = procs::start_sim(&sim_bin, args.issues).await?;
    let sim_pid = sim_proc.pid;
    procs.sim = Some(sim_proc);
    let (relay_proc, relay_site_url) = procs::start_relay(&sim.site_url).await?;
    procs.relay = Some(relay_proc);

    let knows_env = procs::serve_knows_rate_limit_env(&jiragate_bin).await;
    let user_env = std::env::var("JIRAGATE_RATE_LIMIT_PER_KEY").ok();
    let tmp = tempfile::Builder::new()
        .prefix("jiragate-bench-")
        .tempdir()?;
    let data_dir = tmp.path().join("data");
    eprintln!("starting {} serve …", jiragate_bin.display());
    let serve = procs::start_serve(
        &jiragate_bin,
        &data_dir,
        &sim,
        &http,
        knows_env.then(|| "off".to_owned()),
        &[],
    )
    .await?;
    let serve_pid = serve.proc.pid;
    let base_url = serve.base_url.clone();
    let admin_key = serve.admin_key.clone();
    info.env_note = serve.env_note.clone();
    procs.serve = Some(serve.proc);

    // Idle: started, nothing asked of it yet but /healthz.
    tokio::time::sleep(Duration::from_millis(if args.quick { 100 } else { 1000 })).await;
    info.idle_rss_mib = stats::rss_mib(serve_pid);
    info.idle_anon_mib = stats::rss_anon_mib(serve_pid);

    let rounds = u64::from(args.rounds);
    let jiragate_calls_planned =
        4 * 2 * (args.calls + rounds + args.warmup + (rounds - 1) * (args.warmup / 10)) + 64;
    info.rate_limit_off = match (&user_env, knows_env) {
        (Some(v), true) => v.eq_ignore_ascii_case("off"),
        (None, true) => true,
        _ => false,
    };
    let keys_wanted = if info.rate_limit_off {
        1
    } else if args.key_pool > 0 {
        args.key_pool
    } else {
        // The default bucket holds 1000 (and refills at 100/s); use at most 800 of each.
        usize::try_from(jiragate_calls_planned.div_ceil(800))
            .unwrap_or(1)
            .max(1)
    };
    info.rate_limit_note = if info.rate_limit_off {
        "per-key rate limit off (JIRAGATE_RATE_LIMIT_PER_KEY=off)".to_owned()
    } else if knows_env {
        format!(
            "per-key rate limit ON (JIRAGATE_RATE_LIMIT_PER_KEY={}); calls spread over {keys_wanted} API keys",
            user_env.as_deref().unwrap_or("?")
        )
    } else {
        format!(
            "this jiragate cannot turn its per-key rate limit off (no JIRAGATE_RATE_LIMIT_PER_KEY; 100 req/s, burst 1000 per key): calls are spread round-robin over {keys_wanted} API keys so that no measured call is throttled"
        )
    };
    if !info.rate_limit_off {
        eprintln!("NOTE: {}", info.rate_limit_note);
    }

    // Setup over the HTTP API: the connection, extra keys, issue keys for the calls.
    let connector_id = create_connection(&http, &base_url, &admin_key, &sim).await?;
    let mut keys = vec![admin_key.clone()];
    for i in 1..keys_wanted {
        keys.push(create_key(&http, &base_url, &admin_key, i).await?);
    }
    info.keys = keys.len();
    let (project, issue_keys) = sample_issues(&http, &sim).await?;
    let setup_requests = 2 + keys_wanted as u64;

    let ctx = Arc::new(Ctx {
        http,
        site_url: sim.site_url.clone(),
        relay_site_url,
        email: sim.email.clone(),
        api_token: sim.api_token.clone(),
        jiragate: base_url.clone(),
        connector_id,
        keys,
        next_key: AtomicUsize::new(0),
        issue_keys,
        project,
        rate_limited: AtomicU64::new(0),
        jiragate_requests: AtomicU64::new(setup_requests),
    });

    for id in &args.only {
        if !ORDER.iter().any(|k| k.id() == id) {
            bail!(
                "--only: unknown scenario {id:?} (known: {})",
                ORDER.map(Kind::id).join(", ")
            );
        }
    }
    let selected = |kind: Kind| {
        args.only.is_empty()
            || args.only.iter().any(|id| {
                id == kind.id()
                    || ORDER
                        .iter()
                        .any(|k| k.id() == id && k.baseline() == Some(kind))
            })
    };
    let mut results = Vec::new();
    for conc in [1, args.concurrency] {
        let kinds: Vec<Kind> = ORDER.into_iter().filter(|k| selected(*k)).collect();
        let mut sums: Vec<Round> = kinds.iter().map(|_| Round::default()).collect();
        for round in 0..args.rounds {
            for (kind, sum) in kinds.iter().zip(sums.iter_mut()) {
                if let Some(p) = procs.serve.as_mut() {
                    p.check_alive()?;
                }
                let r = run_round(&ctx, args, *kind, conc, round, serve_pid, sim_pid, &sim).await?;
                sum.add(r);
            }
        }
        for (kind, sum) in kinds.into_iter().zip(sums) {
            let r = sum.result(kind, conc, clk_tck);
            eprintln!(
                "  {:<24} c={:<3} {:>9.0} calls/s  p50 {:>7.3} ms  p99 {:>7.3} ms{}",
                kind.name(),
                conc,
                r.calls_per_s,
                r.p50_ms.unwrap_or(f64::NAN),
                r.p99_ms.unwrap_or(f64::NAN),
                if r.errors > 0 {
                    format!("  {} errors", r.errors)
                } else {
                    String::new()
                }
            );
            results.push(r);
        }
    }
    info.final_rss_mib = stats::rss_mib(serve_pid);
    info.final_anon_mib = stats::rss_anon_mib(serve_pid);
    info.jiragate_requests = ctx.jiragate_requests.load(Ordering::Relaxed);

    let rep = report::Report::new(args, info, results);
    println!("{}", rep.text());
    if let Some(path) = &args.json {
        std::fs::write(path, serde_json::to_string_pretty(&rep.json())? + "\n")
            .with_context(|| format!("writing {}", path.display()))?;
        eprintln!("wrote {}", path.display());
    }
    let failed: u64 = rep.results.iter().map(|r| r.errors).sum();
    if failed > 0 && args.quick {
        bail!("{failed} calls failed in --quick mode");
    }
    Ok(())
}

async fn create_connection(
    http: &reqwest::Client,
    base: &str,
    admin_key: &str,
    sim: &procs::SimInfo,
) -> Result<String> {
    create_connection_named(http, base, admin_key, sim, "jira").await
}

/// A connection `bench/<name>` with `sim`'s user's API token on its first site.
async fn create_connection_named(
    http: &reqwest::Client,
    base: &str,
    admin_key: &str,
    sim: &procs::SimInfo,
    name: &str,
) -> Result<String> {
    let body = json!({
        "workspace_name": "bench",
        "connector_type": "Jira",
        "name": name,
        "credentials": {"username": sim.email, "password": sim.api_token},
        "replication_config": {"subdomain": sim.subdomain, "api_type": "platform"},
    });
    let r = http
        .post(format!("{base}/api/v1/integrations/connectors"))
        .bearer_auth(admin_key)
        .json(&body)
        .send()
        .await
        .context("creating the connection")?;
    let status = r.status();
    let v: Value = r.json().await.unwrap_or(Value::Null);
    if !status.is_success() {
        bail!("creating the connection: HTTP {status}: {v}");
    }
    v.get("id")
        .and_then(Value::as_str)
        .map(str::to_owned)
        .with_context(|| format!("the created connection has no id: {v}"))
}

async fn create_key(
    http: &reqwest::Client,
    base: &str,
    admin_key: &str,
    i: usize,
) -> Result<String> {
    let r = http
        .post(format!("{base}/api/v1/keys"))
        .bearer_auth(admin_key)
        .json(&json!({"name": format!("bench-{i}"), "scopes": ["execute", "proxy"]}))
        .send()
        .await
        .context("creating an API key")?;
    let status = r.status();
    let v: Value = r.json().await.unwrap_or(Value::Null);
    if !status.is_success() {
        bail!("creating an API key: HTTP {status}: {v}");
    }
    v.get("key")
        .and_then(Value::as_str)
        .map(str::to_owned)
        .context("the created API key is missing from the answer")
}

/// The first project and up to 50 of its issue keys, asked of the simulator directly.
async fn sample_issues(
    http: &reqwest::Client,
    sim: &procs::SimInfo,
) -> Result<(String, Vec<String>)> {
    let v: Value = http
        .get(format!(
            "{}/rest/api/3/project/search?maxResults=1",
            sim.site_url
        ))
        .basic_auth(&sim.email, Some(&sim.api_token))
        .send()
        .await?
        .error_for_status()?
        .json()
        .await?;
    let project = v
        .pointer("/values/0/key")
        .and_then(Value::as_str)
        .with_context(|| format!("the simulated site has no project: {v}"))?
        .to_owned();
    let v: Value = http
        .post(format!("{}/rest/api/3/search/jql", sim.site_url))
        .basic_auth(&sim.email, Some(&sim.api_token))
        .json(&json!({"jql": format!("project = {project} ORDER BY key"), "fields": ["summary"], "maxResults": 50}))
        .send()
        .await?
        .error_for_status()?
        .json()
        .await?;
    let keys: Vec<String> = v
        .get("issues")
        .and_then(Value::as_array)
        .into_iter()
        .flatten()
        .filter_map(|i| i.get("key").and_then(Value::as_str).map(str::to_owned))
        .collect();
    if keys.is_empty() {
        bail!("project {project} has no issues: {v}");
    }
    Ok((project, keys))
}

async fn sim_requests(http: &reqwest::Client, sim: &procs::SimInfo) -> Option<u64> {
    let v: Value = http
        .get(format!("{}/__sim/stats", sim.base))
        .send()
        .await
        .ok()?
        .json()
        .await
        .ok()?;
    Some(
        v.get("requests")?
            .as_object()?
            .iter()
            .filter(|(route, _)| !route.contains("/__sim/"))
            .filter_map(|(_, n)| n.as_u64())
            .sum(),
    )
}

struct WorkerOut {
    samples: Samples,
    ok: u64,
    errors: u64,
    rate_limited: u64,
    first_error: Option<String>,
}

/// `n` calls (or until `deadline`) at `conc` in flight; each worker owns an MCP session if needed.
async fn drive(
    ctx: &Arc<Ctx>,
    kind: Kind,
    conc: usize,
    n: u64,
    limit: Option<Duration>,
    sessions: &[Option<Arc<McpSession>>],
) -> (Vec<WorkerOut>, Duration) {
    let next = Arc::new(AtomicU64::new(0));
    let start = Instant::now();
    let mut tasks = Vec::with_capacity(conc);
    for w in 0..conc {
        let ctx = ctx.clone();
        let next = next.clone();
        let session = sessions.get(w).cloned().flatten();
        tasks.push(tokio::spawn(async move {
            let mut out = WorkerOut {
                samples: Samples::with_capacity(usize::try_from(n).unwrap_or(0) / conc + 1),
                ok: 0,
                errors: 0,
                rate_limited: 0,
                first_error: None,
            };
            loop {
                let i = next.fetch_add(1, Ordering::Relaxed);
                if i >= n || limit.is_some_and(|l| start.elapsed() >= l) {
                    break;
                }
                let t0 = Instant::now();
                match ctx.call(kind, i, session.as_deref()).await {
                    Ok(()) => {
                        out.samples.push(t0.elapsed());
                        out.ok += 1;
                    }
                    Err(e) => {
                        out.errors += 1;
                        let text = match e {
                            CallError::RateLimited => {
                                out.rate_limited += 1;
                                ctx.rate_limited.fetch_add(1, Ordering::Relaxed);
                                "HTTP 429 (jiragate per-key rate limit)".to_owned()
                            }
                            CallError::Other(t) => t,
                        };
                        out.first_error.get_or_insert(text);
                    }
                }
            }
            out
        }));
    }
    let mut outs = Vec::with_capacity(conc);
    for t in tasks {
        if let Ok(o) = t.await {
            outs.push(o);
        }
    }
    (outs, start.elapsed())
}

/// What one round of one scenario measured; a scenario's rounds add up. A reading that failed
/// in any round (`None`) leaves the sum unknown.
struct Round {
    samples: Samples,
    ok: u64,
    errors: u64,
    rate_limited: u64,
    first_error: Option<String>,
    wall: Duration,
    serve_ticks: Option<u64>,
    sim_ticks: Option<u64>,
    upstream: Option<u64>,
}

impl Default for Round {
    fn default() -> Self {
        Round {
            samples: Samples::default(),
            ok: 0,
            errors: 0,
            rate_limited: 0,
            first_error: None,
            wall: Duration::ZERO,
            serve_ticks: Some(0),
            sim_ticks: Some(0),
            upstream: Some(0),
        }
    }
}

impl Round {
    fn add(&mut self, r: Round) {
        let sum = |a: Option<u64>, b: Option<u64>| Some(a? + b?);
        self.serve_ticks = sum(self.serve_ticks, r.serve_ticks);
        self.sim_ticks = sum(self.sim_ticks, r.sim_ticks);
        self.upstream = sum(self.upstream, r.upstream);
        self.samples.extend(r.samples);
        self.ok += r.ok;
        self.errors += r.errors;
        self.rate_limited += r.rate_limited;
        if self.first_error.is_none() {
            self.first_error = r.first_error;
        }
        self.wall += r.wall;
    }

    fn result(mut self, kind: Kind, concurrency: usize, clk_tck: u64) -> RunResult {
        let ok = self.ok;
        let per_call_ms = |ticks: Option<u64>| -> Option<f64> {
            ticks
                .filter(|_| ok > 0)
                .map(|t| t as f64 * 1000.0 / clk_tck as f64 / ok as f64)
        };
        let calls = self.ok + self.errors;
        RunResult {
            kind,
            concurrency,
            ok,
            errors: self.errors,
            rate_limited: self.rate_limited,
            first_error: self.first_error.take(),
            wall: self.wall,
            calls_per_s: ok as f64 / self.wall.as_secs_f64().max(1e-9),
            p50_ms: self.samples.percentile_ms(0.50),
            p99_ms: self.samples.percentile_ms(0.99),
            serve_cpu_ms_per_call: per_call_ms(self.serve_ticks),
            sim_cpu_ms_per_call: per_call_ms(self.sim_ticks),
            upstream_per_call: self
                .upstream
                .filter(|_| calls > 0)
                .map(|n| n as f64 / calls as f64),
        }
    }
}

/// One round of `kind` at `conc` in flight: its share of `--calls` and `--seconds`, after a
/// warm-up (the whole `--warmup` in the first round, a tenth of it later).
#[allow(clippy::too_many_arguments)]
async fn run_round(
    ctx: &Arc<Ctx>,
    args: &Args,
    kind: Kind,
    conc: usize,
    round: u32,
    serve_pid: u32,
    sim_pid: u32,
    sim: &procs::SimInfo,
) -> Result<Round> {
    let mut sessions = Vec::new();
    if kind == Kind::McpGet {
        for _ in 0..conc {
            sessions.push(Some(McpSession::open(ctx).await?));
        }
    }
    let warmup = if round == 0 {
        args.warmup
    } else {
        args.warmup / 10
    };
    if warmup > 0 {
        let (outs, _) = drive(ctx, kind, conc, warmup, None, &sessions).await;
        if let Some(e) = outs.iter().find_map(|o| o.first_error.clone()) {
            eprintln!("  warm-up of {} c={conc}: {e}", kind.name());
        }
    }
    let rounds = u64::from(args.rounds);
    let calls = args.calls.div_ceil(rounds);
    let up0 = sim_requests(&ctx.http, sim).await;
    let serve0 = stats::cpu_ticks(serve_pid);
    let sim0 = stats::cpu_ticks(sim_pid);
    let limit = Duration::from_secs_f64((args.seconds / rounds as f64).max(0.1));
    let (outs, wall) = drive(ctx, kind, conc, calls, Some(limit), &sessions).await;
    let serve1 = stats::cpu_ticks(serve_pid);
    let sim1 = stats::cpu_ticks(sim_pid);
    let up1 = sim_requests(&ctx.http, sim).await;
    for session in sessions.iter().flatten() {
        session.close(ctx).await?;
    }

    let mut r = Round {
        wall,
        serve_ticks: serve1.zip(serve0).and_then(|(b, a)| b.checked_sub(a)),
        sim_ticks: sim1.zip(sim0).and_then(|(b, a)| b.checked_sub(a)),
        upstream: up1.zip(up0).and_then(|(b, a)| b.checked_sub(a)),
        ..Round::default()
    };
    for o in outs {
        r.ok += o.ok;
        r.errors += o.errors;
        r.rate_limited += o.rate_limited;
        if r.first_error.is_none() {
            r.first_error = o.first_error;
        }
        r.samples.extend(o.samples);
    }
    debug_assert_eq!(r.samples.len() as u64, r.ok);
    Ok(r)
}
