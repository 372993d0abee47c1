//! `master-key rotate` while servers run: instances on the old key keep executing (their data
//! keys not cached), `check` never turns a key problem into `error`, and `retire` waits for
//! every instance on the old key. On SQLite and across instances on PostgreSQL.

use atlassian_sim::{SimConfig, SimHandle, Simulator};
use jiragate_engine::EngineConfig;
use jiragate_engine::admin::{retire_master_key, rotate_master_key};
use jiragate_server::App;
use reqwest::StatusCode;
use secrecy::{ExposeSecret, SecretString};
use serde_json::json;

use crate::common::{Client, PgDb, Server, base_config, fresh_master_key, sim_endpoints};

fn engine_cfg(
    sim: &SimHandle,
    dir: &std::path::Path,
    db: Option<&str>,
    key: Option<&SecretString>,
) -> EngineConfig {
    EngineConfig {
        data_dir: dir.to_path_buf(),
        database_url: db.map(str::to_owned),
        master_key: key.cloned(),
        public_url: "http://127.0.0.1:1".into(),
        endpoints: sim_endpoints(sim),
        allowed_upstream_hosts: Vec::new(),
        instance_id: None,
        migrate: true,
        background: false,
        bootstrap_admin_key: false,
        admission: Default::default(),
    }
}

async fn create_connector(client: &Client, server: &Server, sim: &SimHandle) -> String {
    let u = &sim.users[0];
    let r = client
        .post(
            &format!("{}/api/v1/integrations/connectors", server.url),
            Some(&server.admin_key),
            &json!({"workspace_name": "w", "connector_type": "Jira", "name": "jira",
                    "credentials": {"username": u.email, "password": u.api_token},
                    "replication_config": {"subdomain": sim.sites[0].subdomain}}),
        )
        .await;
    assert_eq!(r.status, StatusCode::CREATED, "{}", r.text);
    r.json()["id"].as_str().unwrap().to_owned()
}

/// Executes and checks through `server` with `key`; both must work and the connection stays
/// healthy.
async fn works(client: &Client, server: &Server, key: &str, conn: &str) {
    let r = client
        .post(
            &format!(
                "{}/api/v1/integrations/connectors/{conn}/execute",
                server.url
            ),
            Some(key),
            &json!({"entity": "projects", "action": "list"}),
        )
        .await;
    assert_eq!(r.status, StatusCode::OK, "execute: {}", r.text);
    let r = client
        .post(
            &format!("{}/api/v1/integrations/connectors/{conn}/check", server.url),
            Some(key),
            &json!({}),
        )
        .await;
    assert_eq!(r.status, StatusCode::OK, "check: {}", r.text);
    let c = client
        .get(
            &format!("{}/api/v1/integrations/connectors/{conn}", server.url),
            Some(key),
        )
        .await
        .json();
    assert_eq!(c["status"], "healthy", "{c}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn rotation_keeps_a_running_sqlite_server_working() {
    let sim = Simulator::start(SimConfig::default()).await.unwrap();
    let dir = tempfile::tempdir().unwrap();
    let client = Client::default();
    let first = Server::spawn(App::build(base_config(&sim, dir.path())).await.unwrap()).await;
    let key = first.admin_key.clone();
    let conn = create_connector(&client, &first, &sim).await;
    first.stop().await.unwrap();

    // A fresh server process: nothing cached. Another process rotates underneath it.
    let server = Server::spawn(App::build(base_config(&sim, dir.path())).await.unwrap()).await;
    let old_key = std::fs::read_to_string(dir.path().join("master.key")).unwrap();
    let new_key = jiragate_vault::MasterKey::generate().to_base64();
    let cfg = engine_cfg(&sim, dir.path(), None, None);
    rotate_master_key(&cfg, new_key.expose_secret(), false)
        .await
        .unwrap();
    assert_ne!(
        std::fs::read_to_string(dir.path().join("master.key")).unwrap(),
        old_key
    );
    works(&client, &server, &key, &conn).await;

    // The old key is still in use by the running server: retire refuses and names it.
    let err = match retire_master_key(&cfg).await {
        Ok(r) => panic!("retired while a server still uses the old key: {r:?}"),
        Err(e) => e.to_string(),
    };
    assert!(err.contains("instance"), "{err}");
    server.stop().await.unwrap();
    let report = retire_master_key(&cfg).await.unwrap();
    assert!(report.retired_master_key_id.is_some(), "{report:?}");

    // The next start reads the new master.key and works without the old key.
    std::fs::remove_file(dir.path().join("master.key.previous")).unwrap();
    let next = Server::spawn(App::build(base_config(&sim, dir.path())).await.unwrap()).await;
    works(&client, &next, &key, &conn).await;
    next.stop().await.unwrap();
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn rotation_keeps_two_postgres_instances_working() {
    let sim = Simulator::start(SimConfig::default()).await.unwrap();
    let pg = PgDb::create().await;
    let client = Client::default();
    let k1 = fresh_master_key();
    let k2 = fresh_master_key();
    let (dir_a, dir_b, dir_c) = (
        tempfile::tempdir().unwrap(),
        tempfile::tempdir().unwrap(),
        tempfile::tempdir().unwrap(),
    );
    let instance = |dir: &std::path::Path, key: &SecretString| {
        let mut c = base_config(&sim, dir);
        c.database_url = pg.url.clone();
        c.master_key = Some(key.clone());
        c
    };
    let a = Server::spawn(App::build(instance(dir_a.path(), &k1)).await.unwrap()).await;
    let key = a.admin_key.clone();
    let conn = create_connector(&client, &a, &sim).await;
    // B never touched the organization's data key before the rotation.
    let b = Server::spawn(App::build(instance(dir_b.path(), &k1)).await.unwrap()).await;

    let cfg = engine_cfg(&sim, dir_a.path(), Some(&pg.url), Some(&k1));
    rotate_master_key(&cfg, k2.expose_secret(), false)
        .await
        .unwrap();
    works(&client, &b, &key, &conn).await;
    works(&client, &a, &key, &conn).await;
    // A new instance on the new key works alongside.
    let c = Server::spawn(App::build(instance(dir_c.path(), &k2)).await.unwrap()).await;
    works(&client, &c, &key, &conn).await;

    // An instance that cannot unwrap (its key's wrapping removed behind its back) answers
    // credential_unavailable and never records the connection as `error`.
    let dir_d = tempfile::tempdir().unwrap();
    let d = Server::spawn(App::build(instance(dir_d.path(), &k1)).await.unwrap()).await;
    {
        use sqlx::Connection;
        let mut db = sqlx::PgConnection::connect(&pg.url).await.unwrap();
        sqlx::query("UPDATE data_keys SET prev_master_key_id = NULL, prev_wrapped = NULL")
            .execute(&mut db)
            .await
            .unwrap();
        let _ = db.close().await;
    }
    let r = client
        .post(
            &format!("{}/api/v1/integrations/connectors/{conn}/check", d.url),
            Some(&key),
            &json!({}),
        )
        .await;
    r.assert_problem(500, "credential_unavailable");
    let status = client
        .get(
            &format!("{}/api/v1/integrations/connectors/{conn}", c.url),
            Some(&key),
        )
        .await
        .json();
    assert_eq!(status["status"], "healthy", "{status}");
    d.stop().await.unwrap();

    let cfg2 = engine_cfg(&sim, dir_c.path(), Some(&pg.url), Some(&k2));
    let err = match retire_master_key(&cfg2).await {
        Ok(r) => panic!("retired while instances still use the old key: {r:?}"),
        Err(e) => e.to_string(),
    };
    assert!(err.contains("instance"), "{err}");
    a.stop().await.unwrap();
    b.stop().await.unwrap();
    retire_master_key(&cfg2).await.unwrap();
    works(&client, &c, &key, &conn).await;
    // After retire the old key opens nothing.
    assert!(App::build(instance(dir_a.path(), &k1)).await.is_err());
    c.stop().await.unwrap();
}
