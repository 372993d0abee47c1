//! The two child processes: `atlassian-sim` and `jiragate serve`, on loopback, killed on exit.

use std::collections::VecDeque;
use std::path::{Path, PathBuf};
use std::process::Stdio;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use anyhow::{Context, Result, bail};
use serde_json::Value;
use tokio::io::{AsyncBufReadExt, AsyncRead, BufReader};
use tokio::process::{Child, Command};

/// Environment variables of `serve` passed through from the bench's own environment.
pub const PASSED_THROUGH: &[&str] = &[
    "JIRAGATE_RATE_LIMIT_PER_KEY",
    "JIRAGATE_HTTP_IDLE_TIMEOUT",
    "JIRAGATE_WORKER_THREADS",
    "JIRAGATE_LOG",
    "RUST_LOG",
];

/// The last lines a child wrote, for error messages.
#[derive(Clone, Default)]
pub struct Tail(Arc<Mutex<VecDeque<String>>>);

impl Tail {
    fn push(&self, line: String) {
        let mut q = self.0.lock().unwrap_or_else(|p| p.into_inner());
        if q.len() == 40 {
            q.pop_front();
        }
        q.push_back(line);
    }

    pub fn text(&self) -> String {
        let q = self.0.lock().unwrap_or_else(|p| p.into_inner());
        q.iter().cloned().collect::<Vec<_>>().join("\n")
    }
}

fn drain(reader: impl AsyncRead + Unpin + Send + 'static, tail: Tail) {
    tokio::spawn(async move {
        let mut lines = BufReader::new(reader).lines();
        while let Ok(Some(line)) = lines.next_line().await {
            tail.push(line);
        }
    });
}

/// One child process; killed when dropped (`kill_on_drop`) or by [`Proc::stop`].
pub struct Proc {
    pub name: &'static str,
    pub pid: u32,
    pub tail: Tail,
    child: Child,
}

impl Proc {
    fn spawn(
        name: &'static str,
        mut cmd: Command,
    ) -> Result<(Proc, Option<tokio::process::ChildStdout>)> {
        cmd.kill_on_drop(true)
            .stdin(Stdio::null())
            .stdout(Stdio::piped())
            .stderr(Stdio::piped());
        let mut child = cmd
            .spawn()
            .with_context(|| format!("starting {name} ({cmd:?})"))?;
        let pid = child.id().context("child has no pid")?;
        let tail = Tail::default();
        if let Some(err) = child.stderr.take() {
            drain(err, tail.clone());
        }
        let out = child.stdout.take();
        Ok((
            Proc {
                name,
                pid,
                tail,
                child,
            },
            out,
        ))
    }

    /// Fails when the process has already exited.
    pub fn check_alive(&mut self) -> Result<()> {
        if let Some(status) = self.child.try_wait()? {
            bail!(
                "{} exited ({status}); its last output:\n{}",
                self.name,
                self.tail.text()
            );
        }
        Ok(())
    }

    pub async fn stop(&mut self) {
        let _ = self.child.start_kill();
        let _ = tokio::time::timeout(Duration::from_secs(5), self.child.wait()).await;
    }
}

/// Every child started so far, stopped together.
#[derive(Default)]
pub struct Procs {
    pub sim: Option<Proc>,
    pub serve: Option<Proc>,
    pub relay: Option<Proc>,
}

impl Procs {
    pub async fn stop_all(&mut self) {
        if let Some(p) = self.relay.as_mut() {
            p.stop().await;
        }
        if let Some(p) = self.serve.as_mut() {
            p.stop().await;
        }
        if let Some(p) = self.sim.as_mut() {
            p.stop().await;
        }
    }
}

/// What the simulator printed on start.
#[derive(Debug, Clone)]
pub struct SimInfo {
    pub auth_url: String,
    pub api_url: String,
    pub site_url_template: String,
    /// Base URL of the first site (`…/site/<subdomain>`).
    pub site_url: String,
    pub subdomain: String,
    pub email: String,
    pub api_token: String,
    /// The second user, who is not a Jira administrator: `(email, API token)`.
    pub non_admin: (String, String),
    /// Base URL of the listener (for `/__sim/stats`).
    pub base: String,
}

pub async fn start_sim(bin: &Path, issues: u32) -> Result<(Proc, SimInfo)> {
    start_sim_with(bin, issues, &[]).await
}

/// As [`start_sim`], with extra simulator flags (e.g. `--fault latency=50ms`).
pub async fn start_sim_with(bin: &Path, issues: u32, extra: &[&str]) -> Result<(Proc, SimInfo)> {
    let mut cmd = Command::new(bin);
    cmd.args([
        "--listen",
        "127.0.0.1:0",
        "--issues",
        &issues.to_string(),
        "--sites",
        "acme",
    ]);
    cmd.args(extra);
    let (mut proc, out) = Proc::spawn("atlassian-sim", cmd)?;
    let out = out.context("simulator stdout")?;
    let mut lines = BufReader::new(out).lines();
    let first = tokio::time::timeout(Duration::from_secs(30), lines.next_line())
        .await
        .context("the simulator did not print its URLs within 30 s")??;
    let Some(first) = first else {
        proc.check_alive()?;
        bail!("the simulator closed stdout without printing its URLs");
    };
    let tail = proc.tail.clone();
    tokio::spawn(async move {
        while let Ok(Some(line)) = lines.next_line().await {
            tail.push(line);
        }
    });
    let v: Value = serde_json::from_str(&first)
        .with_context(|| format!("simulator start line is not JSON: {first}"))?;
    let s = |p: &str| -> Result<String> {
        v.pointer(p)
            .and_then(Value::as_str)
            .map(str::to_owned)
            .with_context(|| format!("simulator start line lacks {p}: {first}"))
    };
    let site_url = s("/sites/0/url")?;
    let base = s("/api_url")?;
    let info = SimInfo {
        auth_url: s("/auth_url")?,
        api_url: base.clone(),
        site_url_template: s("/site_url")?,
        site_url,
        subdomain: s("/sites/0/subdomain")?,
        email: s("/users/0/email")?,
        api_token: s("/users/0/api_token")?,
        non_admin: (s("/users/1/email")?, s("/users/1/api_token")?),
        base,
    };
    Ok((proc, info))
}

/// Starts this bench binary as the zero-work TCP relay (`--relay-to`) in front of the host
/// and port of `site_url`; returns it and `site_url` through the relay.
pub async fn start_relay(site_url: &str) -> Result<(Proc, String)> {
    let mut url = reqwest::Url::parse(site_url).context("the site URL")?;
    let target = url
        .socket_addrs(|| None)
        .context("the site URL's address")?
        .into_iter()
        .next()
        .context("the site URL names no address")?;
    let mut cmd = Command::new(std::env::current_exe().context("this executable")?);
    cmd.args(["--relay-to", &target.to_string()]);
    let (mut proc, out) = Proc::spawn("TCP relay", cmd)?;
    let mut lines = BufReader::new(out.context("relay stdout")?).lines();
    let first = tokio::time::timeout(Duration::from_secs(10), lines.next_line())
        .await
        .context("the relay did not start within 10 s")??;
    let Some(addr) = first
        .as_deref()
        .and_then(|l| l.strip_prefix("relay listening on "))
        .and_then(|a| a.parse::<std::net::SocketAddr>().ok())
    else {
        proc.check_alive()?;
        bail!("the relay printed {first:?} instead of its address");
    };
    url.set_port(Some(addr.port()))
        .map_err(|()| anyhow::anyhow!("cannot set the relay's port on {site_url}"))?;
    Ok((proc, url.as_str().trim_end_matches('/').to_owned()))
}

/// How `serve` was started.
pub struct Serve {
    pub proc: Proc,
    pub base_url: String,
    pub admin_key: String,
    /// The environment given to `serve` beyond the endpoints and data dir (for the report).
    pub env_note: Vec<(String, String)>,
}

fn free_port() -> Result<u16> {
    let l = std::net::TcpListener::bind("127.0.0.1:0").context("binding a free port")?;
    Ok(l.local_addr()?.port())
}

pub async fn start_serve(
    bin: &Path,
    data_dir: &Path,
    sim: &SimInfo,
    http: &reqwest::Client,
    rate_limit_env: Option<String>,
    extra_env: &[(&str, &str)],
) -> Result<Serve> {
    let port = free_port()?;
    let mut cmd = Command::new(bin);
    cmd.arg("serve")
        .args(["--listen", &format!("127.0.0.1:{port}")])
        .env_clear()
        .env("PATH", std::env::var("PATH").unwrap_or_default())
        .env("NO_COLOR", "1")
        .env("JIRAGATE_DATA_DIR", data_dir)
        .env("JIRAGATE_ATLASSIAN_AUTH_URL", &sim.auth_url)
        .env("JIRAGATE_ATLASSIAN_API_URL", &sim.api_url)
        .env("JIRAGATE_JIRA_SITE_URL", &sim.site_url_template);
    let mut env_note = Vec::new();
    for name in PASSED_THROUGH {
        if let Ok(v) = std::env::var(name) {
            cmd.env(name, &v);
            env_note.push(((*name).to_owned(), v));
        }
    }
    if let Some(v) = rate_limit_env
        && std::env::var_os("JIRAGATE_RATE_LIMIT_PER_KEY").is_none()
    {
        cmd.env("JIRAGATE_RATE_LIMIT_PER_KEY", &v);
        env_note.push(("JIRAGATE_RATE_LIMIT_PER_KEY".to_owned(), v));
    }
    for (name, v) in extra_env {
        cmd.env(name, v);
        env_note.push(((*name).to_owned(), (*v).to_owned()));
    }
    let (mut proc, out) = Proc::spawn("jiragate serve", cmd)?;
    if let Some(out) = out {
        drain(out, proc.tail.clone());
    }
    let base_url = format!("http://127.0.0.1:{port}");
    let deadline = Instant::now() + Duration::from_secs(60);
    loop {
        proc.check_alive()?;
        if let Ok(r) = http.get(format!("{base_url}/healthz")).send().await
            && r.status().is_success()
        {
            break;
        }
        if Instant::now() > deadline {
            bail!(
                "jiragate serve did not answer /healthz within 60 s; its last output:\n{}",
                proc.tail.text()
            );
        }
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    let key_path = data_dir.join("admin.key");
    let admin_key = std::fs::read_to_string(&key_path)
        .with_context(|| format!("reading {}", key_path.display()))?
        .trim()
        .to_owned();
    Ok(Serve {
        proc,
        base_url,
        admin_key,
        env_note,
    })
}

/// Whether this `jiragate` knows `JIRAGATE_RATE_LIMIT_PER_KEY` (its `serve --help` names it).
pub async fn serve_knows_rate_limit_env(bin: &Path) -> bool {
    let out = Command::new(bin)
        .args(["serve", "--help"])
        .env_clear()
        .env("PATH", std::env::var("PATH").unwrap_or_default())
        .stdin(Stdio::null())
        .kill_on_drop(true)
        .output();
    match tokio::time::timeout(Duration::from_secs(20), out).await {
        Ok(Ok(o)) => String::from_utf8_lossy(&o.stdout).contains("JIRAGATE_RATE_LIMIT_PER_KEY"),
        _ => false,
    }
}

/// The `jiragate` and `atlassian-sim` binaries: `--jiragate-bin` / `--sim-bin`, or next to
/// this executable.
pub fn binaries(jiragate: &Option<PathBuf>, sim: &Option<PathBuf>) -> (PathBuf, PathBuf) {
    (
        jiragate
            .clone()
            .unwrap_or_else(|| sibling_binary("jiragate")),
        sim.clone()
            .unwrap_or_else(|| sibling_binary("atlassian-sim")),
    )
}

/// `--jiragate-bin` / `--sim-bin` default: next to this executable.
pub fn sibling_binary(name: &str) -> PathBuf {
    std::env::current_exe()
        .ok()
        .and_then(|p| p.parent().map(|d| d.join(name)))
        .unwrap_or_else(|| PathBuf::from("target/release").join(name))
}

/// The simulator and `serve` (rate limit off, plus `serve_env`) on a temporary data dir, with
/// an API-token connection: what the `--overload` and `--webhooks` modes start from.
pub struct Started {
    pub http: reqwest::Client,
    pub sim: SimInfo,
    pub serve_pid: u32,
    pub base_url: String,
    pub admin_key: String,
    pub connector_id: String,
    /// Removed when dropped: keep it for the whole run.
    pub _data: tempfile::TempDir,
}

pub async fn start_with_connection(
    procs: &mut Procs,
    (jiragate_bin, sim_bin): (&Path, &Path),
    sim_args: &[&str],
    serve_env: &[(&str, &str)],
    prefix: &str,
) -> Result<Started> {
    let http = crate::http_client()?;
    let (sim_proc, sim) = start_sim_with(sim_bin, 50, sim_args).await?;
    procs.sim = Some(sim_proc);
    let data = tempfile::Builder::new().prefix(prefix).tempdir()?;
    let serve = start_serve(
        jiragate_bin,
        &data.path().join("data"),
        &sim,
        &http,
        Some("off".into()),
        serve_env,
    )
    .await?;
    let serve_pid = serve.proc.pid;
    let (base_url, admin_key) = (serve.base_url.clone(), serve.admin_key.clone());
    procs.serve = Some(serve.proc);
    let connector_id = crate::create_connection(&http, &base_url, &admin_key, &sim).await?;
    Ok(Started {
        http,
        sim,
        serve_pid,
        base_url,
        admin_key,
        connector_id,
        _data: data,
    })
}
