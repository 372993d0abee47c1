//! `atlassian-sim`: prints one JSON line describing the simulator, then serves until killed.

use std::io::Write;
use std::net::SocketAddr;
use std::time::Duration;

use atlassian_sim::{Faults, SimConfig, Simulator};
use clap::Parser;

/// A stateful, in-memory simulator of Atlassian Cloud (OAuth 2.0 3LO, Jira REST v3,
/// Jira Software agile 1.0, Jira Service Management).
#[derive(Parser, Debug)]
#[command(name = "atlassian-sim", version, about)]
struct Args {
    /// Address to listen on (port 0 picks a free port).
    #[arg(long, default_value = "127.0.0.1:0")]
    listen: SocketAddr,
    /// Seed of the generated data.
    #[arg(long, default_value_t = 42)]
    seed: u64,
    /// Seeded issues per site.
    #[arg(long, default_value_t = 50)]
    issues: usize,
    /// Comma-separated site subdomains.
    #[arg(long, default_value = "acme,globex", value_delimiter = ',')]
    sites: Vec<String>,
    /// Access token lifetime in seconds.
    #[arg(long, default_value_t = 3600)]
    access_token_ttl: u64,
    /// How long a rotated refresh token may still be used, in seconds.
    #[arg(long, default_value_t = 600)]
    refresh_reuse_grace: u64,
    /// Adds an allowed redirect URI to the seeded OAuth client (repeatable).
    #[arg(long = "redirect-uri")]
    redirect_uris: Vec<String>,
    /// Show an HTML consent page instead of auto-consenting as the first user.
    #[arg(long)]
    consent_page: bool,
    /// Injected fault, repeatable: latency=50ms, 5xx=0.1, 429=0.05, drop=0.01.
    #[arg(long = "fault")]
    faults: Vec<String>,
    /// Requests per 60 simulated seconds per credential (unlimited when absent).
    #[arg(long)]
    rate_limit: Option<u32>,
    /// Webhook delivery retries after the first attempt before a delivery counts as failed.
    #[arg(long, default_value_t = 5)]
    webhook_max_retries: u32,
    /// Delay before the first webhook retry in milliseconds; doubles per retry (max 5 s).
    #[arg(long, default_value_t = 250)]
    webhook_retry_backoff_ms: u64,
    /// Time limit of one webhook delivery attempt in milliseconds.
    #[arg(long, default_value_t = 10_000)]
    webhook_timeout_ms: u64,
    /// Webhook deliveries that may wait to be sent; more are dropped.
    #[arg(long, default_value_t = 1000)]
    webhook_queue: usize,
    /// Share of webhook deliveries sent twice with the same identifier (0.0-1.0).
    #[arg(long, default_value_t = 0.0)]
    webhook_duplicate_rate: f64,
}

#[tokio::main]
async fn main() -> anyhow::Result<()> {
    let args = Args::parse();
    let mut faults = Faults::default();
    for spec in &args.faults {
        faults.apply_spec(spec)?;
    }
    let sites: Vec<String> = args
        .sites
        .iter()
        .map(|s| s.trim().to_owned())
        .filter(|s| !s.is_empty())
        .collect();
    if !(0.0..=1.0).contains(&args.webhook_duplicate_rate) {
        anyhow::bail!("--webhook-duplicate-rate must be between 0 and 1");
    }
    if sites.is_empty() {
        anyhow::bail!("--sites needs at least one subdomain");
    }
    let cfg = SimConfig {
        listen: args.listen,
        seed: args.seed,
        issues_per_site: args.issues,
        sites,
        access_token_ttl: Duration::from_secs(args.access_token_ttl),
        refresh_reuse_grace: Duration::from_secs(args.refresh_reuse_grace),
        redirect_uris: args.redirect_uris,
        consent_page: args.consent_page,
        faults,
        rate_limit: args.rate_limit,
        webhook_max_retries: args.webhook_max_retries,
        webhook_retry_backoff: Duration::from_millis(args.webhook_retry_backoff_ms),
        webhook_timeout: Duration::from_millis(args.webhook_timeout_ms),
        webhook_queue: args.webhook_queue,
        webhook_duplicate_rate: args.webhook_duplicate_rate,
    };
    let handle = Simulator::start(cfg).await?;
    let line = serde_json::to_string(&handle.info)?;
    let mut out = std::io::stdout().lock();
    writeln!(out, "{line}")?;
    out.flush()?;
    drop(out);
    tokio::signal::ctrl_c().await?;
    handle.shutdown().await;
    Ok(())
}
