//! One `serve` per SQLite data dir; PostgreSQL instances share a data dir freely.

use atlassian_sim::{SimConfig, Simulator};
use jiragate_server::App;

use crate::common::{PgDb, Server, base_config, fresh_master_key};

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_second_serve_on_one_sqlite_data_dir_is_refused() {
    let sim = Simulator::start(SimConfig::default()).await.unwrap();
    let dir = tempfile::tempdir().unwrap();
    let first = App::build(base_config(&sim, dir.path())).await.unwrap();
    let first_addr = first.addr;
    let server = Server::spawn(first).await;
    let err = match App::build(base_config(&sim, dir.path())).await {
        Ok(_) => panic!("a second serve started on the same SQLite data dir"),
        Err(e) => format!("{e:#}"),
    };
    assert!(err.contains("another `jiragate serve`"), "{err}");
    assert!(
        err.contains(&format!("pid {}", std::process::id())),
        "names the holder: {err}"
    );
    assert!(err.contains(&first_addr.to_string()), "{err}");
    assert!(err.contains("started "), "{err}");
    // Once the first stops, the data dir is free again.
    server.stop().await.unwrap();
    let again = App::build(base_config(&sim, dir.path())).await;
    assert!(again.is_ok(), "{:?}", again.err());
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn postgres_instances_take_no_lock() {
    let sim = Simulator::start(SimConfig::default()).await.unwrap();
    let dir = tempfile::tempdir().unwrap();
    let pg = PgDb::create().await;
    let key = fresh_master_key();
    let cfg = || {
        let mut c = base_config(&sim, dir.path());
        c.database_url = pg.url.clone();
        c.master_key = Some(key.clone());
        c
    };
    let a = App::build(cfg()).await.unwrap();
    let b = App::build(cfg()).await;
    assert!(b.is_ok(), "{:?}", b.err());
    drop(a);
}
