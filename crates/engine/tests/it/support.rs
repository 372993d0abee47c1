use atlassian_sim::{SimConfig, SimHandle, Simulator};
use jiragate_auth::AtlassianEndpoints;
use jiragate_engine::{Engine, EngineConfig};

pub fn endpoints(sim: &SimHandle) -> AtlassianEndpoints {
    AtlassianEndpoints {
        auth_url: sim.auth_url.clone(),
        api_url: sim.api_url.clone(),
        site_url_template: sim.site_url.clone(),
    }
}

pub fn config(dir: &std::path::Path, sim: &SimHandle) -> EngineConfig {
    EngineConfig {
        data_dir: dir.to_path_buf(),
        database_url: None,
        master_key: None,
        public_url: "http://127.0.0.1:9".into(),
        endpoints: endpoints(sim),
        allowed_upstream_hosts: Vec::new(),
        instance_id: None,
        migrate: true,
        background: false,
        bootstrap_admin_key: true,
        admission: Default::default(),
    }
}

/// The config of one of several instances sharing the PostgreSQL database at `url` (they
/// share one master key, as a deployment must).
pub fn shared_pg_config(dir: &std::path::Path, sim: &SimHandle, url: &str) -> EngineConfig {
    let mut c = config(dir, sim);
    c.database_url = Some(url.to_owned());
    c.master_key = Some(secrecy::SecretString::from({
        use base64::Engine as _;
        base64::engine::general_purpose::STANDARD.encode([7u8; 32])
    }));
    c
}

/// An API-token connection `w/<name>` to the simulator's first site, as the first user.
pub async fn api_token_connection(
    e: &Engine,
    sim: &SimHandle,
    name: &str,
) -> jiragate_store::Connection {
    let u = &sim.users[0];
    e.create_connection(
        jiragate_engine::Actor::Operator,
        &e.default_org,
        jiragate_engine::NewConnection::ApiToken(jiragate_auth::NewApiTokenConnection {
            workspace: "w".into(),
            name: name.into(),
            site: jiragate_auth::SiteRef::Subdomain(sim.sites[0].subdomain.clone()),
            email: u.email.clone(),
            token: secrecy::SecretString::from(u.api_token.clone()),
            scoped: Some(false),
            api_type: jiragate_store::ApiType::Platform,
            owner: jiragate_store::Owner::Installation,
        }),
    )
    .await
    .unwrap()
}

pub async fn sim() -> SimHandle {
    Simulator::start(SimConfig {
        issues_per_site: 30,
        ..SimConfig::default()
    })
    .await
    .unwrap()
}

pub async fn engine(dir: &std::path::Path, sim: &SimHandle) -> Engine {
    Engine::open(config(dir, sim)).await.unwrap().0
}

/// A fresh PostgreSQL database for one test (dropped by the returned guard's owner at the end).
pub async fn pg_database() -> Option<(String, String)> {
    let base = std::env::var("JIRAGATE_TEST_POSTGRES_URL")
        .unwrap_or_else(|_| "postgres://postgres@127.0.0.1:5432/test".into());
    let name = format!("jg_engine_{}", uuid_like());
    let admin = sqlx_exec(&base, &format!("CREATE DATABASE {name}")).await;
    if !admin {
        return None;
    }
    let url = match base.rsplit_once('/') {
        Some((root, _)) => format!("{root}/{name}"),
        None => return None,
    };
    Some((url, name))
}

/// Two instances `a` and `b` sharing a fresh PostgreSQL database (`db`, dropped with
/// [`drop_pg_database`] at the end) and the simulator.
pub struct TwoInstances {
    pub sim: SimHandle,
    pub a: Engine,
    pub b: Engine,
    pub db: String,
    /// The instances' data dirs: keep them alive as long as the engines.
    pub dirs: (tempfile::TempDir, tempfile::TempDir),
}

pub async fn two_instances() -> TwoInstances {
    let Some((url, db)) = pg_database().await else {
        panic!("PostgreSQL unreachable: set JIRAGATE_TEST_POSTGRES_URL (see .ci/run)");
    };
    let sim = sim().await;
    let dirs = (tempfile::tempdir().unwrap(), tempfile::tempdir().unwrap());
    let mk = |d: &tempfile::TempDir| shared_pg_config(d.path(), &sim, &url);
    let (a, _) = Engine::open(mk(&dirs.0)).await.unwrap();
    let (b, _) = Engine::open(mk(&dirs.1)).await.unwrap();
    TwoInstances {
        sim,
        a,
        b,
        db,
        dirs,
    }
}

pub async fn drop_pg_database(name: &str) {
    let base = std::env::var("JIRAGATE_TEST_POSTGRES_URL")
        .unwrap_or_else(|_| "postgres://postgres@127.0.0.1:5432/test".into());
    sqlx_exec(
        &base,
        &format!("DROP DATABASE IF EXISTS {name} WITH (FORCE)"),
    )
    .await;
}

async fn sqlx_exec(url: &str, sql: &str) -> bool {
    use sqlx::Connection;
    match sqlx::PgConnection::connect(url).await {
        Ok(mut c) => sqlx::raw_sql(sqlx::AssertSqlSafe(sql.to_owned()))
            .execute(&mut c)
            .await
            .is_ok(),
        Err(_) => false,
    }
}

fn uuid_like() -> String {
    use rand::RngCore;
    let mut b = [0u8; 6];
    rand::rng().fill_bytes(&mut b);
    hex::encode(b)
}
