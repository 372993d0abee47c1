//! Catalog benchmark, one run:
//! 1. `issues.get` throughput through `Catalog::execute` vs. the raw `JiraClient` vs. plain
//!    reqwest straight to the simulator, with ratios;
//! 2. a 100k-issue export with `issues.search` `all: true` through `execute_stream`: rows/s
//!    and peak RSS (VmHWM) of the process.
//!
//! `cargo run --release -p jiragate-catalog --example bench [-- ISSUES REQUESTS CONCURRENCY]`
//! (defaults 100000, 4000, 8). Everything runs on 127.0.0.1 in this one process.

use std::sync::Arc;
use std::time::Instant;

use atlassian_sim::{SimConfig, Simulator};
use base64::Engine as _;
use futures::{StreamExt, stream};
use jiragate_catalog::{Catalog, ExecContext};
use jiragate_jira::{
    ClientConfig, JiraAuth, JiraClient, JiraRequest, StaticTokenSource, Target, TokenSource,
};
use secrecy::SecretString;
use serde_json::{Value, json};

fn vm_hwm_kib() -> u64 {
    std::fs::read_to_string("/proc/self/status")
        .ok()
        .and_then(|s| {
            s.lines()
                .find(|l| l.starts_with("VmHWM:"))
                .and_then(|l| l.split_whitespace().nth(1))
                .and_then(|n| n.parse().ok())
        })
        .unwrap_or(0)
}

fn arg(i: usize, default: usize) -> usize {
    std::env::args()
        .nth(i)
        .and_then(|a| a.parse().ok())
        .unwrap_or(default)
}

#[tokio::main]
async fn main() -> Result<(), Box<dyn std::error::Error>> {
    let issues = arg(1, 100_000);
    let requests = arg(2, 4_000);
    let concurrency = arg(3, 8);

    let started = Instant::now();
    let sim = Simulator::start(SimConfig {
        issues_per_site: issues,
        sites: vec!["acme".into()],
        ..Default::default()
    })
    .await?;
    println!(
        "simulator: {issues} issues, started in {:.2}s, VmHWM {} MiB",
        started.elapsed().as_secs_f64(),
        vm_hwm_kib() / 1024
    );

    let user = &sim.info.users[0];
    let base = sim.info.site_url.replace("{subdomain}", "acme");
    let target = Target::new(
        base.clone(),
        JiraAuth::Basic {
            email: user.email.clone(),
            token: SecretString::from(user.api_token.clone()),
        },
        "bench",
    );
    let src: Arc<dyn TokenSource> = Arc::new(StaticTokenSource(target));
    let client = JiraClient::new(ClientConfig::default());
    let catalog = Catalog::new();
    let ctx = ExecContext {
        granted_scopes: None,
        api_type: "platform".into(),
        read_only: false,
    };

    let projects = catalog
        .execute(
            &client,
            src.clone(),
            &ctx,
            "projects",
            "list",
            json!({"all": true}),
        )
        .await?;
    let project_keys: Vec<String> = projects
        .data
        .as_array()
        .map(|a| {
            a.iter()
                .filter_map(|p| p["key"].as_str().map(str::to_owned))
                .collect()
        })
        .unwrap_or_default();
    let first = catalog
        .execute(&client, src.clone(), &ctx, "issues", "search", json!({"jql": format!("project = {}", project_keys[0]), "limit": 50, "fields": ["summary"]}))
        .await?;
    let keys: Arc<Vec<String>> = Arc::new(
        first
            .data
            .as_array()
            .map(|a| {
                a.iter()
                    .filter_map(|i| i["key"].as_str().map(str::to_owned))
                    .collect()
            })
            .unwrap_or_default(),
    );

    // 1. issues.get three ways.
    let catalog_rps = {
        let t = Instant::now();
        stream::iter(0..requests)
            .map(|i| {
                let (client, src, ctx, keys) =
                    (client.clone(), src.clone(), ctx.clone(), keys.clone());
                async move {
                    catalog
                        .execute(
                            &client,
                            src,
                            &ctx,
                            "issues",
                            "get",
                            json!({"issue": keys[i % keys.len()]}),
                        )
                        .await
                        .map(|_| ())
                }
            })
            .buffer_unordered(concurrency)
            .for_each(|r| async move { r.expect("catalog issues.get") })
            .await;
        requests as f64 / t.elapsed().as_secs_f64()
    };
    let raw_rps = {
        let t = Instant::now();
        stream::iter(0..requests)
            .map(|i| {
                let (client, src, keys) = (client.clone(), src.clone(), keys.clone());
                async move {
                    let resp = client
                        .send(
                            src.as_ref(),
                            JiraRequest::get(format!("/rest/api/3/issue/{}", keys[i % keys.len()])),
                        )
                        .await?;
                    resp.value().map(|_: Value| ())
                }
            })
            .buffer_unordered(concurrency)
            .for_each(|r| async move { r.expect("raw client get") })
            .await;
        requests as f64 / t.elapsed().as_secs_f64()
    };
    let plain_rps = {
        let http = jiragate_jira::reqwest::Client::new();
        let auth = format!(
            "Basic {}",
            base64::engine::general_purpose::STANDARD
                .encode(format!("{}:{}", user.email, user.api_token))
        );
        let t = Instant::now();
        stream::iter(0..requests)
            .map(|i| {
                let (http, auth, keys, base) =
                    (http.clone(), auth.clone(), keys.clone(), base.clone());
                async move {
                    let resp = http
                        .get(format!("{base}/rest/api/3/issue/{}", keys[i % keys.len()]))
                        .header("Authorization", auth)
                        .send()
                        .await?;
                    let v: Value = resp.error_for_status()?.json().await?;
                    Ok::<_, jiragate_jira::reqwest::Error>(v)
                }
            })
            .buffer_unordered(concurrency)
            .for_each(|r| async move {
                r.expect("plain reqwest get");
            })
            .await;
        requests as f64 / t.elapsed().as_secs_f64()
    };
    println!("\nissues.get x{requests}, concurrency {concurrency}:");
    println!("  plain reqwest   {plain_rps:>9.0} req/s  (1.00)");
    println!(
        "  jira client     {raw_rps:>9.0} req/s  ({:.2} of plain)",
        raw_rps / plain_rps
    );
    println!(
        "  catalog execute {catalog_rps:>9.0} req/s  ({:.2} of plain, {:.2} of jira client)",
        catalog_rps / plain_rps,
        catalog_rps / raw_rps
    );

    // 2. Export every issue, streamed.
    let before = vm_hwm_kib();
    let t = Instant::now();
    let mut rows = 0u64;
    let mut bytes = 0u64;
    for key in &project_keys {
        let mut s = Box::pin(catalog.execute_stream(
            &client,
            src.clone(),
            &ctx,
            "issues",
            "search",
            json!({"jql": format!("project = {key}"), "all": true, "fields": ["summary", "status", "assignee", "created", "updated"]}),
        )?);
        while let Some(item) = s.next().await {
            let item = item?;
            bytes += serde_json::to_vec(&item)?.len() as u64 + 1;
            rows += 1;
        }
    }
    let secs = t.elapsed().as_secs_f64();
    let after = vm_hwm_kib();
    println!(
        "\nexport: issues.search all=true via execute_stream over {} projects",
        project_keys.len()
    );
    println!(
        "  rows {rows} (expected {issues}), {:.1} MiB of ndjson",
        bytes as f64 / 1048576.0
    );
    println!("  {:.0} rows/s, {secs:.2}s", rows as f64 / secs);
    println!(
        "  peak RSS (VmHWM, whole process incl. simulator): {} MiB before export, {} MiB after (+{} MiB)",
        before / 1024,
        after / 1024,
        after.saturating_sub(before) / 1024
    );
    if rows != issues as u64 {
        return Err(format!("exported {rows} rows, expected {issues}").into());
    }
    sim.shutdown().await;
    Ok(())
}
