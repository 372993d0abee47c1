//! `cargo run --release -p jiragate-auth --example bench`
//!
//! Measures `TokenManager::get_valid_token` on a cache hit (p50/p99 in ns) and how many
//! refreshes per second the full refresh path sustains against atlassian-sim (lease, re-read,
//! token endpoint, seal, commit to SQLite).

use std::time::{Duration, Instant};

use atlassian_sim::{SimConfig, Simulator};
use jiragate_auth::{
    AtlassianEndpoints, AuthConfig, AuthService, CallbackOutcome, Keyring, StartConnect,
};
use jiragate_jira::{ClientConfig, JiraClient};
use jiragate_store::{ApiType, Owner, Store};
use jiragate_vault::MasterKey;
use secrecy::SecretString;

type BoxError = Box<dyn std::error::Error + Send + Sync>;

const PUBLIC_URL: &str = "http://127.0.0.1:9";

#[tokio::main]
async fn main() -> Result<(), BoxError> {
    let redirect = format!("{PUBLIC_URL}/oauth/callback");
    let sim = Simulator::start(SimConfig {
        issues_per_site: 1,
        redirect_uris: vec![redirect.clone()],
        ..SimConfig::default()
    })
    .await?;
    let dir = tempfile::tempdir()?;
    let store = Store::connect(&format!(
        "sqlite://{}",
        dir.path().join("bench.db").display()
    ))
    .await?;
    store.migrate().await?;
    let org = store.create_organization("bench").await?.id;
    let keyring = Keyring::open_or_init(store.clone(), MasterKey::generate()).await?;
    let cfg = AuthConfig::new(
        AtlassianEndpoints {
            auth_url: sim.auth_url.clone(),
            api_url: sim.api_url.clone(),
            site_url_template: sim.site_url.clone(),
        },
        PUBLIC_URL,
    );
    let svc = AuthService::new(
        store,
        keyring,
        JiraClient::new(ClientConfig::default()),
        cfg,
    );
    let c = &sim.oauth_clients[0];
    let client = svc
        .create_oauth_client(
            &org,
            &c.client_id,
            SecretString::from(c.client_secret.clone()),
            vec!["read:jira-work".into(), "read:jira-user".into()],
        )
        .await?;

    let mut conns = Vec::new();
    for i in 0..4 {
        let start = svc
            .start_connect(
                &org,
                StartConnect {
                    oauth_client_id: client.id.clone(),
                    workspace: "bench".into(),
                    name: format!("c{i}"),
                    scopes: None,
                    subdomain: Some("acme".into()),
                    owner: Owner::Installation,
                    api_type: ApiType::Platform,
                },
            )
            .await?;
        let (code, state) = consent(&start.authorize_url).await?;
        match svc.handle_callback(&state, Some(&code), None).await? {
            CallbackOutcome::Connected(conn) => conns.push(conn),
            other => return Err(format!("unexpected outcome {other:?}").into()),
        }
    }
    let tm = svc.tokens().clone();
    let first = conns[0].id.clone();

    // Cache hits.
    tm.get_valid_token(&org, &first).await?;
    for _ in 0..10_000 {
        tm.get_valid_token(&org, &first).await?;
    }
    let n = 200_000;
    let mut samples = Vec::with_capacity(n);
    let all = Instant::now();
    for _ in 0..n {
        let t = Instant::now();
        let target = tm.get_valid_token(&org, &first).await?;
        samples.push(t.elapsed().as_nanos() as u64);
        std::hint::black_box(target);
    }
    let total = all.elapsed();
    samples.sort_unstable();
    let pct = |p: f64| samples[((samples.len() as f64 - 1.0) * p) as usize];
    println!(
        "get_valid_token cache hit: p50 {} ns, p99 {} ns, max {} ns, {:.1} M calls/s single task ({n} calls)",
        pct(0.50),
        pct(0.99),
        samples[samples.len() - 1],
        n as f64 / total.as_secs_f64() / 1e6
    );

    // Refreshes: sequential on one connection, then one loop per connection in parallel.
    let window = Duration::from_secs(3);
    let started = Instant::now();
    let mut count = 0u64;
    while started.elapsed() < window {
        tm.refresh_now(&org, &first).await?;
        count += 1;
    }
    println!(
        "refreshes (one connection, sequential): {:.0}/s ({count} in {:.1}s)",
        count as f64 / started.elapsed().as_secs_f64(),
        started.elapsed().as_secs_f64()
    );
    let started = Instant::now();
    let mut tasks = Vec::new();
    for conn in &conns {
        let (tm, org, id) = (tm.clone(), org.clone(), conn.id.clone());
        tasks.push(tokio::spawn(async move {
            let mut n = 0u64;
            while started.elapsed() < window {
                tm.refresh_now(&org, &id).await?;
                n += 1;
            }
            Ok::<u64, jiragate_auth::AuthError>(n)
        }));
    }
    let mut total = 0;
    for t in tasks {
        total += t.await??;
    }
    println!(
        "refreshes ({} connections in parallel): {:.0}/s total",
        conns.len(),
        total as f64 / started.elapsed().as_secs_f64()
    );
    let stats = sim.stats().await;
    println!(
        "simulator: {} refresh requests, {} refresh-token reuses",
        stats.token_requests.refresh_token, stats.refresh_token_reuse
    );
    Ok(())
}

async fn consent(url: &str) -> Result<(String, String), BoxError> {
    let http = reqwest::Client::builder()
        .redirect(reqwest::redirect::Policy::none())
        .build()?;
    let resp = http.get(url).send().await?;
    let location = resp
        .headers()
        .get("location")
        .and_then(|v| v.to_str().ok())
        .ok_or("authorize did not redirect")?
        .to_owned();
    let url = url::Url::parse(&location)?;
    let get = |k: &str| {
        url.query_pairs()
            .find(|(n, _)| n == k)
            .map(|(_, v)| v.into_owned())
    };
    Ok((
        get("code").ok_or("no code")?,
        get("state").ok_or("no state")?,
    ))
}
