//! Throughput benchmark: vault seal/open and store reads/writes on SQLite and PostgreSQL.
//!
//!   cargo run --release -p jiragate-store --example bench
//!
//! PostgreSQL: JIRAGATE_TEST_POSTGRES_URL (default postgres://postgres@127.0.0.1:5432/test);
//! the run uses a fresh schema and drops it afterwards. BENCH_SECONDS sets each phase's length.

use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::{Duration, Instant};

use jiragate_store::*;
use jiragate_vault::{DataKey, SealContext, SecretString};
use rand::Rng;
use sqlx::{Connection as _, Executor as _};

const TASKS: usize = 8;

fn phase_len() -> Duration {
    let secs = std::env::var("BENCH_SECONDS")
        .ok()
        .and_then(|s| s.parse::<f64>().ok())
        .unwrap_or(2.0);
    Duration::from_secs_f64(secs.clamp(0.2, 60.0))
}

fn bench_vault() {
    let dk = DataKey::generate();
    let ctx = SealContext {
        org_id: "org",
        record_id: "conn",
        field: "access_token",
        key_version: 1,
    };
    let token = SecretString::from("x".repeat(1200)); // about the size of an Atlassian access token
    let len = phase_len();
    let start = Instant::now();
    let mut n = 0u64;
    let mut last = dk.seal(&ctx, &token);
    while start.elapsed() < len {
        last = dk.seal(&ctx, &token);
        n += 1;
    }
    let seal_rate = n as f64 / start.elapsed().as_secs_f64();
    let start = Instant::now();
    let mut n = 0u64;
    while start.elapsed() < len {
        let opened = dk.open(&ctx, &last).expect("open");
        drop(opened);
        n += 1;
    }
    let open_rate = n as f64 / start.elapsed().as_secs_f64();
    println!("vault  seal (1200 B, AES-256-GCM): {seal_rate:>10.0}/s");
    println!("vault  open (1200 B, AES-256-GCM): {open_rate:>10.0}/s");
}

async fn run_for<F, Fut>(store: &Store, tasks: usize, f: F) -> f64
where
    F: Fn(Store, u64) -> Fut + Send + Sync + 'static,
    Fut: Future<Output = ()> + Send,
{
    let f = Arc::new(f);
    let count = Arc::new(AtomicU64::new(0));
    let len = phase_len();
    let start = Instant::now();
    let mut handles = Vec::new();
    for t in 0..tasks {
        let (f, count, store) = (f.clone(), count.clone(), store.clone());
        handles.push(tokio::spawn(async move {
            let mut i = 0u64;
            while start.elapsed() < len {
                f(store.clone(), (t as u64) << 32 | i).await;
                i += 1;
                count.fetch_add(1, Ordering::Relaxed);
            }
        }));
    }
    for h in handles {
        h.await.expect("bench task");
    }
    count.load(Ordering::Relaxed) as f64 / start.elapsed().as_secs_f64()
}

async fn bench_store(label: &str, store: Store) {
    store.migrate().await.expect("migrate");
    let org = store.create_organization("bench").await.expect("org").id;
    let dk = DataKey::generate();
    let mut ids = Vec::new();
    for i in 0..50 {
        let id = ConnectionId::new();
        let ctx = SealContext {
            org_id: org.as_str(),
            record_id: id.as_str(),
            field: "api_token",
            key_version: 1,
        };
        let sealed = dk
            .seal(&ctx, &SecretString::from(format!("token-{i}")))
            .into_string();
        let new = NewConnection {
            id,
            workspace: "default".into(),
            name: format!("conn-{i}"),
            api_type: ApiType::Platform,
            auth_kind: AuthKind::ApiToken,
            site_url: "https://acme.atlassian.net".into(),
            subdomain: Some("acme".into()),
            cloud_id: None,
            account_id: None,
            account_name: None,
            email: Some("bench@example.com".into()),
            oauth_client_id: None,
            scopes: vec![],
            owner: Owner::Installation,
            status: ConnectionStatus::Healthy,
            status_reason: None,
            last_checked_at: None,
        };
        let c = store
            .create_connection(
                &org,
                new,
                NewCredential {
                    sealed_api_token: Some(sealed),
                    ..Default::default()
                },
            )
            .await
            .expect("create");
        ids.push(c.id);
    }
    let ids = Arc::new(ids);

    let (o, i) = (org.clone(), ids.clone());
    let reads = run_for(&store, TASKS, move |s, n| {
        let (o, id) = (o.clone(), i[(n as usize) % i.len()].clone());
        async move {
            s.get_connection(&o, &id)
                .await
                .expect("read")
                .expect("exists");
            s.get_credential(&o, &id)
                .await
                .expect("read")
                .expect("exists");
        }
    })
    .await;

    let (o, i) = (org.clone(), ids.clone());
    let writes = run_for(&store, TASKS, move |s, n| {
        let (o, id) = (o.clone(), i[(n as usize) % i.len()].clone());
        async move {
            s.replace_credential(
                &o,
                &id,
                NewCredential {
                    sealed_access_token: Some(format!("jgv1.1.{n}")),
                    ..Default::default()
                },
            )
            .await
            .expect("write");
        }
    })
    .await;

    let o = org.clone();
    let audits = run_for(&store, TASKS, move |s, n| {
        let o = o.clone();
        async move {
            s.append_audit(
                &o,
                NewAuditEvent {
                    actor: "bench".into(),
                    action: "x".into(),
                    target: n.to_string(),
                    detail: serde_json::json!({}),
                },
            )
            .await
            .expect("audit");
        }
    })
    .await;

    let leases = run_for(&store, TASKS, move |s, n| async move {
        let name = format!("lease-{}", n >> 32);
        if let Some(l) = s
            .acquire_lease(&name, &n.to_string(), Duration::from_secs(30))
            .await
            .expect("lease")
        {
            s.release_lease(&l).await.expect("release");
        }
    })
    .await;

    println!("{label:<8} reads  (connection + credential, {TASKS} tasks): {reads:>8.0}/s");
    println!("{label:<8} writes (replace_credential, {TASKS} tasks):      {writes:>8.0}/s");
    println!("{label:<8} writes (append_audit, {TASKS} tasks):            {audits:>8.0}/s");
    println!("{label:<8} lease acquire+release ({TASKS} tasks):           {leases:>8.0}/s");
    store.close().await;
}

#[tokio::main]
async fn main() {
    println!(
        "phase length {:?}; {} CPU(s)",
        phase_len(),
        std::thread::available_parallelism().map_or(1, |n| n.get())
    );
    bench_vault();

    let dir = tempfile::tempdir().expect("tempdir");
    let url = format!("sqlite://{}", dir.path().join("bench.db").display());
    bench_store("sqlite", Store::connect(&url).await.expect("sqlite")).await;

    let admin = std::env::var("JIRAGATE_TEST_POSTGRES_URL")
        .unwrap_or_else(|_| "postgres://postgres@127.0.0.1:5432/test".into());
    let schema = format!("jg_bench_{:016x}", rand::rng().random::<u64>());
    match sqlx::PgConnection::connect(&admin).await {
        Ok(mut admin_conn) => {
            admin_conn
                .execute(sqlx::AssertSqlSafe(format!("CREATE SCHEMA {schema}")))
                .await
                .expect("create schema");
            let sep = if admin.contains('?') { '&' } else { '?' };
            let url = format!("{admin}{sep}options=-c%20search_path%3D{schema}");
            let opts = StoreOptions {
                max_connections: TASKS as u32,
                ..StoreOptions::default()
            };
            bench_store(
                "postgres",
                Store::connect_with(&url, opts).await.expect("postgres"),
            )
            .await;
            admin_conn
                .execute(sqlx::AssertSqlSafe(format!("DROP SCHEMA {schema} CASCADE")))
                .await
                .expect("drop schema");
        }
        Err(e) => println!("postgres skipped: cannot connect ({e})"),
    }
}
