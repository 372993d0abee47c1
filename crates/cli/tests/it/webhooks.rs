//! `jiragate webhooks subscribe|list|delete|events|deliveries|replay`, on the local data dir
//! and against a running `serve` (`--server`), with the simulator raising and signing Jira's
//! events; and the loopback subscriber and simulator helpers the crash test shares.

use std::future::IntoFuture;
use std::process::{Command, Output};
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use serde_json::{Value, json};

use crate::remote::{Served, free_port, serve_with};
use crate::support::{Env, all_output, create_seed_connector_as, run, stdout};

/// One request the subscriber received.
#[derive(Debug, Clone)]
pub struct Receipt {
    /// `webhook-id`: `msg_<event id>`, the same on every attempt.
    pub msg_id: String,
    /// `x-jiragate-delivery-id`: the outbox row.
    pub delivery_id: i64,
    pub attempt: u32,
    pub timestamp: String,
    pub signature: String,
    pub body: String,
    pub issue: String,
    /// Position in the subscriber's log when the request arrived.
    pub arrived: u64,
    /// Position when the subscriber answered 2xx to a live jiragate (`None`: it was still
    /// sleeping when jiragate was killed, so the answer reached nobody).
    pub acked: Option<u64>,
    generation: u64,
}

#[derive(Default)]
pub struct Log {
    pub receipts: Vec<Receipt>,
    next: u64,
    last_ack: Option<Instant>,
}

impl Log {
    fn tick(&mut self) -> u64 {
        self.next += 1;
        self.next
    }

    pub fn acked(&self) -> usize {
        self.receipts.iter().filter(|r| r.acked.is_some()).count()
    }

    /// Requests of generation `generation` not answered yet.
    fn in_flight(&self, generation: u64) -> usize {
        self.receipts
            .iter()
            .filter(|r| r.acked.is_none() && r.generation == generation)
            .count()
    }
}

/// A loopback subscriber that logs every request when it arrives and answers 204 after
/// `delay` (so deliveries are in flight for a while). Killing jiragate through
/// [`Subscriber::kill`] starts a new generation: answers of requests that arrived before it
/// reach nobody and are not counted as acknowledged.
pub struct Subscriber {
    pub url: String,
    pub log: Arc<Mutex<Log>>,
    generation: Arc<AtomicU64>,
    _server: tokio::task::JoinHandle<std::io::Result<()>>,
}

/// What the subscriber's handler shares: the log, the generation, the delay.
type Shared = (Arc<Mutex<Log>>, Arc<AtomicU64>, Duration);

/// The subscriber's handler: log on arrival, sleep, then acknowledge (if jiragate was not
/// killed meanwhile) and answer 204.
async fn receive(
    axum::extract::State((log, generation, delay)): axum::extract::State<Shared>,
    headers: axum::http::HeaderMap,
    body: String,
) -> axum::http::StatusCode {
    let header = |name: &str| -> String {
        let value = headers.get(name).map(|v| v.to_str().unwrap_or_default());
        value.unwrap_or_default().to_owned()
    };
    let payload: Value = serde_json::from_str(&body).unwrap_or_default();
    let receipt = Receipt {
        msg_id: header("webhook-id"),
        delivery_id: header("x-jiragate-delivery-id").parse().unwrap_or(-1),
        attempt: header("webhook-attempt").parse().unwrap_or(0),
        timestamp: header("webhook-timestamp"),
        signature: header("webhook-signature"),
        issue: payload["issue"]["key"]
            .as_str()
            .unwrap_or_default()
            .to_owned(),
        body,
        arrived: 0,
        acked: None,
        generation: generation.load(Ordering::SeqCst),
    };
    let index = {
        let mut log = log.lock().unwrap();
        let arrived = log.tick();
        log.receipts.push(Receipt { arrived, ..receipt });
        log.receipts.len() - 1
    };
    tokio::time::sleep(delay).await;
    let mut log = log.lock().unwrap();
    if log.receipts[index].generation == generation.load(Ordering::SeqCst) {
        let at = log.tick();
        log.receipts[index].acked = Some(at);
        log.last_ack = Some(Instant::now());
    }
    axum::http::StatusCode::NO_CONTENT
}

impl Subscriber {
    pub async fn start(delay: Duration) -> Subscriber {
        let log: Arc<Mutex<Log>> = Arc::default();
        let generation = Arc::new(AtomicU64::new(0));
        let app = axum::Router::new()
            .route("/hook", axum::routing::post(receive))
            .with_state((log.clone(), generation.clone(), delay));
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
        Subscriber {
            url: format!("http://{}/hook", listener.local_addr().unwrap()),
            log,
            generation,
            _server: tokio::spawn(axum::serve(listener, app).into_future()),
        }
    }

    pub fn receipts(&self) -> Vec<Receipt> {
        self.log.lock().unwrap().receipts.clone()
    }

    /// Waits until at least `acked` deliveries were acknowledged and some are in flight, in
    /// the middle of the subscriber's delay (no answer in the last `quiet`, so no answer is
    /// on its way to jiragate), then SIGKILLs `served` while holding the log. Returns how
    /// many deliveries were in flight (their answers reach nobody).
    pub async fn kill(&self, served: &mut Served, acked: usize, quiet: Duration) -> usize {
        for _ in 0..6000 {
            {
                let log = self.log.lock().unwrap();
                let generation = self.generation.load(Ordering::SeqCst);
                let in_flight = log.in_flight(generation);
                if log.acked() >= acked
                    && in_flight > 0
                    && log.last_ack.is_some_and(|t| t.elapsed() >= quiet)
                {
                    self.generation.fetch_add(1, Ordering::SeqCst);
                    served.child.kill().expect("SIGKILL");
                    drop(log);
                    served.child.wait().expect("reaped");
                    return in_flight;
                }
            }
            tokio::time::sleep(Duration::from_millis(5)).await;
        }
        panic!("no moment with deliveries in flight after {acked} acknowledged");
    }
}

impl Receipt {
    /// Standard Webhooks verification with `secret` (`whsec_<base64>`), written against the
    /// spec rather than the engine's code.
    pub fn signed_with(&self, secret: &str) -> bool {
        use base64::Engine as _;
        use hmac::{KeyInit, Mac};
        let b64 = base64::engine::general_purpose::STANDARD;
        let key = b64
            .decode(secret.strip_prefix("whsec_").expect("whsec_ prefix"))
            .unwrap();
        let mut mac = <hmac::Hmac<sha2::Sha256> as KeyInit>::new_from_slice(&key).unwrap();
        mac.update(format!("{}.{}.{}", self.msg_id, self.timestamp, self.body).as_bytes());
        let expected = format!("v1,{}", b64.encode(mac.finalize().into_bytes()));
        self.signature.split(' ').any(|s| s == expected)
    }
}

/// Waits until `f` holds, checking every 100 ms; panics naming `what` after `secs`.
pub async fn eventually<F, Fut>(secs: u64, what: &str, mut f: F)
where
    F: FnMut() -> Fut,
    Fut: std::future::Future<Output = bool>,
{
    let deadline = Instant::now() + Duration::from_secs(secs);
    while !f().await {
        assert!(Instant::now() < deadline, "timed out waiting for: {what}");
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
}

/// A connection `w/jira` (API token) subscribed locally to `jira:issue_updated` of its first
/// project (as a user who is not a Jira administrator), for a subscriber answering after
/// `delay`, with the receiver on a port picked for `serve`; the admin webhook is registered at
/// the simulator by [`Hooked::register`], as a Jira administrator would paste it.
pub struct Hooked {
    pub env: Env,
    pub project: String,
    pub port: u16,
    pub base: String,
    pub sub: Subscriber,
    /// What `webhooks subscribe` printed.
    pub created: Value,
}

impl Hooked {
    pub async fn new(env: Env, delay: Duration) -> Hooked {
        // A token without Jira admin rights: jiragate cannot register the admin webhook
        // itself and prints the URL and secret to paste, which `register` then does.
        let o = create_seed_connector_as(&env, 1).await;
        assert!(o.status.success(), "{}", all_output(&o));
        let project = env.project_key().await;
        let port = free_port();
        let base = format!("http://127.0.0.1:{port}");
        let sub = Subscriber::start(delay).await;
        let created = subscribe(&env, &[("JIRAGATE_PUBLIC_URL", &base)], &project, &sub.url).await;
        Hooked {
            env,
            project,
            port,
            base,
            sub,
            created,
        }
    }

    pub fn signing_secret(&self) -> String {
        self.created["signing_secret"].as_str().unwrap().to_owned()
    }

    pub fn admin_secret(&self) -> String {
        self.created["admin_webhook"]["secret"]
            .as_str()
            .unwrap()
            .to_owned()
    }

    /// What a Jira admin does with the printed URL and secret.
    pub async fn register(&self) {
        let url = self.created["receiver_url"].as_str().unwrap();
        register_admin_hook(&self.env, url, &self.admin_secret(), &self.project).await;
    }

    /// `serve` on the picked port, private subscribers allowed, with `extra` environment.
    pub async fn serve(&self, extra: &[(&str, &str)]) -> Served {
        let mut envs = vec![("JIRAGATE_WEBHOOKS_ALLOW_PRIVATE", "true")];
        envs.extend_from_slice(extra);
        serve_with(&self.env, self.port, &envs).await
    }
}

/// Sends `req` and reads its JSON answer.
pub async fn json_answer(req: reqwest::RequestBuilder) -> Value {
    let r = req.send().await.expect("request sent");
    r.json().await.expect("a JSON answer")
}

/// The simulator's first site, as the first user (Basic auth).
fn site(env: &Env, method: reqwest::Method, path: &str) -> reqwest::RequestBuilder {
    let u = &env.sim.users[0];
    reqwest::Client::new()
        .request(
            method,
            format!("{}{path}", env.sim.site_url(&env.sim.sites[0].subdomain)),
        )
        .basic_auth(&u.email, Some(&u.api_token))
}

/// Keys of up to `n` issues of `project`.
pub async fn issue_keys(env: &Env, project: &str, n: usize) -> Vec<String> {
    let v = json_answer(
        site(env, reqwest::Method::POST, "/rest/api/3/search/jql")
            .json(&json!({"jql": format!("project = {project} ORDER BY key"), "fields": ["summary"], "maxResults": n})),
    )
    .await;
    v["issues"]
        .as_array()
        .expect("issues")
        .iter()
        .map(|i| i["key"].as_str().unwrap().to_owned())
        .collect()
}

/// Changes an issue's summary in the simulator, which raises `jira:issue_updated`.
pub async fn edit_issue(env: &Env, key: &str, summary: &str) {
    let r = site(
        env,
        reqwest::Method::PUT,
        &format!("/rest/api/3/issue/{key}"),
    )
    .json(&json!({"fields": {"summary": summary}}))
    .send()
    .await
    .unwrap();
    assert!(r.status().is_success(), "edit {key}: {}", r.status());
}

/// The admin webhook a Jira admin would create from what `subscribe` printed (unless the
/// site already has one for this URL).
pub async fn register_admin_hook(env: &Env, url: &str, secret: &str, project: &str) {
    let path = "/rest/webhooks/1.0/webhook";
    let existing = json_answer(site(env, reqwest::Method::GET, path)).await;
    let listed = existing.as_array().cloned().unwrap_or_default();
    if listed.iter().any(|h| h["url"] == url) {
        return;
    }
    let r = site(env, reqwest::Method::POST, path)
        .json(
            &json!({"name": "jiragate", "url": url, "events": ["jira:issue_updated"],
                      "filters": {"issue-related-events-section": format!("project = {project}")},
                      "excludeBody": false, "secret": secret}),
        )
        .send()
        .await
        .unwrap();
    assert!(r.status().is_success(), "admin webhook: {}", r.status());
}

/// `jiragate webhooks subscribe w/jira …` for `jira:issue_updated` of `project`, with the
/// environment `envs` (local: the public URL; remote: server and key).
pub async fn subscribe(env: &Env, envs: &[(&str, &str)], project: &str, url: &str) -> Value {
    let o = webhooks(
        env,
        envs,
        &[
            "subscribe",
            "w/jira",
            "--event",
            "jira:issue_updated",
            "--jql",
            &format!("project = {project}"),
            "--url",
            url,
        ],
    )
    .await;
    assert!(o.status.success(), "{}", all_output(&o));
    serde_json::from_str(&stdout(&o)).expect("subscribe prints JSON")
}

/// `jiragate webhooks <args> -o json`, private subscriber addresses allowed.
pub async fn webhooks(env: &Env, envs: &[(&str, &str)], args: &[&str]) -> Output {
    let mut c: Command = env.cmd();
    c.env("JIRAGATE_WEBHOOKS_ALLOW_PRIVATE", "true")
        .envs(envs.iter().copied())
        .arg("webhooks")
        .args(args)
        .args(["-o", "json"]);
    run(c).await
}

fn json_of(o: &Output) -> Value {
    assert!(o.status.success(), "{}", all_output(o));
    serde_json::from_str(&stdout(o)).unwrap_or_else(|e| panic!("{e}: {}", stdout(o)))
}

/// Every webhooks command, first on the local data dir, then with `--server` against a
/// running `serve` on the same data: subscribe prints the secrets once, the simulator's
/// signed event is stored and delivered, events and deliveries list it, replay sends it
/// again, delete removes the subscription; bad input gets usage errors.
#[tokio::test(flavor = "multi_thread")]
async fn every_webhooks_command_works_locally_and_remotely() {
    tokio::time::timeout(Duration::from_secs(180), async {
        // Local: subscribe; the signing secret and the admin-webhook setup are printed once.
        let hooked = Hooked::new(Env::new().await, Duration::ZERO).await;
        let Hooked {
            env,
            project,
            base,
            sub,
            created,
            ..
        } = &hooked;
        let local = [("JIRAGATE_PUBLIC_URL", base.as_str())];
        let signing = hooked.signing_secret();
        assert!(signing.starts_with("whsec_"), "{created}");
        let receiver = created["receiver_url"].as_str().unwrap();
        assert!(
            receiver.starts_with(&format!("{base}/hooks/jira/")),
            "{created}"
        );
        let admin_secret = hooked.admin_secret();
        assert_eq!(
            created["admin_webhook"]["registered"], false,
            "not a Jira administrator: the webhook is for pasting: {created}"
        );
        let sub_id = created["id"].as_str().unwrap().to_owned();
        let listed = json_of(&webhooks(env, &local, &["list", "w/jira"]).await);
        assert_eq!(listed.as_array().unwrap().len(), 1, "{listed}");
        assert_eq!(listed[0]["id"], sub_id.as_str());
        assert!(
            !listed.to_string().contains(&signing),
            "the secret is shown once"
        );
        assert!(!listed.to_string().contains(&admin_secret));
        // A second subscription names no admin secret: it was generated the first time.
        let second = subscribe(env, &local, project, &sub.url).await;
        assert!(second["admin_webhook"]["secret"].is_null(), "{second}");
        let second_id = second["id"].as_str().unwrap().to_owned();

        // Jira (the simulator) posts to the receiver of a running serve.
        hooked.register().await;
        let served = hooked.serve(&[]).await;
        let remote = [
            ("JIRAGATE_SERVER", served.base.as_str()),
            ("JIRAGATE_API_KEY", served.key.as_str()),
        ];
        let issue = issue_keys(env, project, 1).await.remove(0);
        edit_issue(env, &issue, "seen by the CLI").await;
        eventually(30, "both subscriptions delivered", || async {
            sub.receipts().len() >= 2
        })
        .await;

        for envs in [&local[..], &remote[..]] {
            let events = json_of(&webhooks(env, envs, &["events", "w/jira"]).await);
            let events = events.as_array().unwrap();
            assert_eq!(events.len(), 1, "{events:?}");
            assert_eq!(events[0]["issue_key"], issue.as_str());
            assert_eq!(events[0]["event"], "jira:issue_updated");
            let ds = json_of(&webhooks(env, envs, &["deliveries", "w/jira"]).await);
            assert_eq!(ds.as_array().unwrap().len(), 2, "{ds}");
            assert!(
                ds.as_array()
                    .unwrap()
                    .iter()
                    .all(|d| d["status"] == "delivered")
            );
            let pending = json_of(
                &webhooks(env, envs, &["deliveries", "w/jira", "--status", "pending"]).await,
            );
            assert_eq!(pending, json!([]));
        }

        // Replay, remotely and locally: the subscriber gets the same event again.
        let ds = json_of(&webhooks(env, &remote, &["deliveries", "w/jira"]).await);
        let first = ds[0]["id"].as_i64().unwrap().to_string();
        let replayed = json_of(&webhooks(env, &remote, &["replay", "w/jira", &first]).await);
        assert_eq!(replayed["status"], "pending", "{replayed}");
        eventually(30, "the remote replay delivered", || async {
            sub.receipts().len() >= 3
        })
        .await;
        let replayed = json_of(&webhooks(env, &local, &["replay", "w/jira", &first]).await);
        assert_eq!(replayed["attempts"], 0, "{replayed}");
        eventually(
            30,
            "the local replay delivered (by the server's worker)",
            || async { sub.receipts().len() >= 4 },
        )
        .await;
        let receipts = sub.receipts();
        let replays: Vec<&Receipt> = receipts
            .iter()
            .filter(|r| r.delivery_id.to_string() == first)
            .collect();
        assert_eq!(replays.len(), 3, "sent, replayed twice: {receipts:?}");
        assert!(replays.iter().all(|r| r.msg_id == replays[0].msg_id));
        assert!(
            replays.iter().all(|r| r.attempt == 1),
            "a replay starts over"
        );

        // Bad input: usage errors (exit 2), unknown ids: not found (exit 3).
        for (envs, args, code) in [
            (
                &local[..],
                vec!["deliveries", "w/jira", "--status", "lost"],
                2,
            ),
            (
                &remote[..],
                vec!["deliveries", "w/jira", "--status", "lost"],
                2,
            ),
            (&local[..], vec!["delete", "w/jira", "not-a-uuid"], 2),
            (&local[..], vec!["replay", "w/jira", "999999"], 3),
            (&remote[..], vec!["replay", "w/jira", "999999"], 3),
            (&local[..], vec!["list", "w/nope"], 3),
            (&remote[..], vec!["list", "w/nope"], 3),
            (
                &local[..],
                vec![
                    "subscribe",
                    "w/jira",
                    "--event",
                    "jira:issue_exploded",
                    "--jql",
                    "project = A",
                    "--url",
                    &sub.url,
                ],
                2,
            ),
            (
                &remote[..],
                vec![
                    "subscribe",
                    "w/jira",
                    "--event",
                    "jira:issue_updated",
                    "--jql",
                    "project = A",
                    "--url",
                    "ftp://example.com/x",
                ],
                2,
            ),
        ] {
            let o = webhooks(env, envs, &args).await;
            assert_eq!(o.status.code(), Some(code), "{args:?}: {}", all_output(&o));
        }

        // Remote subscribe, then delete one remotely and one locally.
        let third = subscribe(env, &remote, project, &sub.url).await;
        assert!(
            third["signing_secret"]
                .as_str()
                .unwrap()
                .starts_with("whsec_")
        );
        let third_id = third["id"].as_str().unwrap().to_owned();
        for (envs, id) in [(&remote[..], &third_id), (&local[..], &second_id)] {
            let o = webhooks(env, envs, &["delete", "w/jira", id]).await;
            assert!(o.status.success(), "{}", all_output(&o));
        }
        let o = webhooks(env, &remote, &["delete", "w/jira", &third_id]).await;
        assert_eq!(o.status.code(), Some(3), "gone: {}", all_output(&o));
        let listed = json_of(&webhooks(env, &remote, &["list", "w/jira"]).await);
        let ids: Vec<&str> = listed
            .as_array()
            .unwrap()
            .iter()
            .map(|s| s["id"].as_str().unwrap())
            .collect();
        assert_eq!(ids, vec![sub_id.as_str()]);
        drop(served);
    })
    .await
    .expect("finished in time");
}

/// With `JIRAGATE_WEBHOOKS_RETENTION=2s`, the server's upkeep prunes a delivered event and its
/// delivery within seconds; malformed retention and rate-limit settings are usage errors.
#[tokio::test(flavor = "multi_thread")]
async fn the_server_prunes_what_is_older_than_the_retention() {
    tokio::time::timeout(Duration::from_secs(120), async {
        let hooked = Hooked::new(Env::new().await, Duration::ZERO).await;
        let env = &hooked.env;
        for (flag, value) in [
            ("--webhooks-retention", "7w"),
            ("--webhooks-retention", "0s"),
            ("--webhooks-rate-limit", "fast"),
        ] {
            env.assert_serve_refuses(flag, value).await;
        }
        hooked.register().await;
        let served = hooked.serve(&[("JIRAGATE_WEBHOOKS_RETENTION", "2s")]).await;
        let remote = [
            ("JIRAGATE_SERVER", served.base.as_str()),
            ("JIRAGATE_API_KEY", served.key.as_str()),
        ];
        let issue = issue_keys(env, &hooked.project, 1).await.remove(0);
        edit_issue(env, &issue, "short-lived").await;
        eventually(30, "delivered", || async {
            !hooked.sub.receipts().is_empty()
        })
        .await;
        let listed = |what: &'static str| {
            let remote = &remote;
            async move { json_of(&webhooks(env, remote, &[what, "w/jira"]).await) }
        };
        assert_eq!(listed("events").await.as_array().map(Vec::len), Some(1));
        eventually(30, "the event and its delivery pruned", || async {
            listed("events").await == json!([]) && listed("deliveries").await == json!([])
        })
        .await;
        drop(served);
    })
    .await
    .expect("finished in time");
}

/// The sealed webhook secrets in the SQLite database of `env`, as stored.
async fn sealed_webhook_secrets(env: &Env) -> Vec<String> {
    use sqlx::Connection as _;
    let url = format!("sqlite://{}", env.data_dir().join("jiragate.db").display());
    let mut db = sqlx::SqliteConnection::connect(&url).await.unwrap();
    let rows: Vec<String> = sqlx::query_scalar(
        "SELECT sealed_secret FROM webhook_subscriptions \
         UNION ALL SELECT sealed_secret FROM webhook_receivers",
    )
    .fetch_all(&mut db)
    .await
    .unwrap();
    let _ = db.close().await;
    rows
}

/// `master-key rotate --reencrypt` reseals the subscriber's signing secret and the admin
/// webhook secret under the new data key version (read from the database), and both still
/// work: the simulator's HMAC-signed event is accepted by `serve`, and the subscriber's copy
/// verifies with the signing secret shown before the rotation.
#[tokio::test(flavor = "multi_thread")]
async fn reencrypt_moves_webhook_secrets_to_the_new_data_key() {
    tokio::time::timeout(Duration::from_secs(180), async {
        let hooked = Hooked::new(Env::new().await, Duration::ZERO).await;
        let (env, project, sub) = (&hooked.env, &hooked.project, &hooked.sub);
        let (signing, admin_secret) = (hooked.signing_secret(), hooked.admin_secret());

        let before = sealed_webhook_secrets(env).await;
        assert_eq!(before.len(), 2, "{before:?}");
        assert!(
            before.iter().all(|s| s.starts_with("jgv1.1.")),
            "{before:?}"
        );

        let o = crate::rotation::rotate_master_key(env, &["--reencrypt"]).await;
        assert!(o.status.success(), "{}", all_output(&o));
        let after = sealed_webhook_secrets(env).await;
        assert_eq!(after.len(), 2);
        assert!(after.iter().all(|s| s.starts_with("jgv1.2.")), "{after:?}");
        assert!(after.iter().all(|s| !before.contains(s)));
        for plain in [&signing, &admin_secret] {
            assert!(crate::support::files_containing(&env.data_dir(), plain).is_empty());
        }

        // Both still open: Jira's HMAC verifies against the resealed admin secret (or nothing
        // would be stored), and the delivery is signed with the resealed signing secret.
        hooked.register().await;
        let served = hooked.serve(&[]).await;
        let issue = issue_keys(env, project, 1).await.remove(0);
        edit_issue(env, &issue, "after the rotation").await;
        eventually(30, "the event delivered", || async {
            !sub.receipts().is_empty()
        })
        .await;
        let got = sub.receipts();
        assert_eq!(got[0].issue, issue);
        assert!(got[0].signed_with(&signing), "{:?}", got[0]);
        drop(served);
    })
    .await
    .expect("finished in time");
}
