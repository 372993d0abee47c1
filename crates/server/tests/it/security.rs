//! The upstream boundary, tried as an attacker would: traversal and host-injection forms through
//! the proxy (sent byte for byte, like `curl --path-as-is`), through catalog path parameters,
//! and through `subdomain`/`base_url`; a canary listener on loopback must receive nothing and
//! the simulator's request log must show nothing outside the connection's own site. Also the
//! platform-key rules, forwarded-header stripping, name rules and the implicit-client rule.

use std::net::SocketAddr;
use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::time::Duration;

use axum::Json;
use axum::extract::Request;
use reqwest::{Method, StatusCode};
use serde_json::{Value, json};
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::{TcpListener, TcpStream};

use crate::both_backends;
use crate::common::{Db, Env};
use crate::oauth::connect_with_subdomain;

/// A loopback listener that counts connections and never answers.
struct Canary {
    addr: SocketAddr,
    hits: Arc<AtomicUsize>,
}

impl Canary {
    async fn start() -> Canary {
        let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
        let addr = listener.local_addr().unwrap();
        let hits = Arc::new(AtomicUsize::new(0));
        let h = hits.clone();
        tokio::spawn(async move {
            while let Ok((_s, _)) = listener.accept().await {
                h.fetch_add(1, Ordering::SeqCst);
            }
        });
        Canary { addr, hits }
    }

    fn hits(&self) -> usize {
        self.hits.load(Ordering::SeqCst)
    }
}

/// One HTTP/1.1 request written byte for byte (no URL normalisation), as an attacker's client
/// would send it. Returns the status code and the raw response text.
async fn raw(server: &str, method: &str, target: &str, headers: &[(&str, &str)]) -> (u16, String) {
    let addr = server.trim_start_matches("http://");
    let mut s = TcpStream::connect(addr).await.unwrap();
    let mut req = format!("{method} {target} HTTP/1.1\r\nHost: {addr}\r\nConnection: close\r\n");
    for (k, v) in headers {
        req.push_str(&format!("{k}: {v}\r\n"));
    }
    req.push_str("\r\n");
    s.write_all(req.as_bytes()).await.unwrap();
    let mut buf = Vec::new();
    let _ = tokio::time::timeout(Duration::from_secs(30), s.read_to_end(&mut buf)).await;
    let text = String::from_utf8_lossy(&buf).into_owned();
    let status = text
        .split_whitespace()
        .nth(1)
        .and_then(|c| c.parse().ok())
        .unwrap_or(0);
    (status, text)
}

/// Proxy paths (after `/proxy/`) that try to leave the connection's site. `{C}` is the canary's
/// `host:port`, `{G}` the other site's cloud id, `{g}` its subdomain.
const PROXY_FORMS: &[&str] = &[
    "..\\{G}\\rest\\api\\3\\serverInfo",
    "..\\..\\..\\oauth\\token\\accessible-resources",
    "..\\..\\..\\__sim\\stats",
    "..\\{g}\\rest\\api\\3\\myself",
    "rest\\..\\..\\..\\__sim\\stats",
    "../{G}/rest/api/3/serverInfo",
    "../../../__sim/stats",
    "./../{g}/rest/api/3/myself",
    "%2e%2e/{G}/rest/api/3/serverInfo",
    "%2E%2E/%2E%2E/%2E%2E/__sim/stats",
    ".%2e/{g}/rest/api/3/myself",
    "%2e./{g}/rest/api/3/myself",
    "..%2f{G}%2frest%2fapi%2f3%2fserverInfo",
    "..%2F..%2F..%2F__sim%2Fstats",
    "..%5c{G}%5crest%5capi%5c3%5cserverInfo",
    "..%5C..%5C..%5C__sim%5Cstats",
    "%252e%252e/{G}/rest/api/3/serverInfo",
    "%252e%252e%252f%252e%252e%252f__sim%252fstats",
    "%c0%ae%c0%ae/{G}/rest/api/3/serverInfo",
    "%c0%ae%c0%ae%c0%af__sim",
    "%e0%80%ae%e0%80%ae/{g}/rest/api/3/myself",
    "..;/{G}/rest/api/3/serverInfo",
    "rest;x=1/../../../__sim/stats",
    "rest/api/3/issue/ENG-1;/../../../../../__sim/stats",
    "/{C}/x",
    "//{C}/x",
    "@{C}/x",
    "rest/api/3/@{C}",
    "%40{C}/x",
    "http://{C}/x",
    "http:%2f%2f{C}/x",
    "https:/{C}/x",
    "rest/%0d%0aHost:%20{C}",
    "rest%00/../../../__sim/stats",
    "rest/%e2%80%ae/x",
    "rest/%2e%2e%2f%2e%2e%2f%2e%2e%2f__sim%2fstats",
    "rest/api/3/issue/..%252f..%252f..%252f__sim",
    "rest//..//..//..//__sim/stats",
    "rest/api/3/..",
    "..",
    ".",
    "\\\\{C}\\x",
];

/// Catalog path-parameter values (`issues.get`'s `issue`) that try the same.
const PARAM_FORMS: &[&str] = &[
    "..",
    ".",
    "../../../__sim/stats",
    "..\\..\\..\\__sim\\stats",
    "ENG-1/../../../../__sim/stats",
    "%2e%2e",
    "%2e%2e%2f%2e%2e%2f__sim",
    "%252e%252e",
    "..%2f..%2f__sim",
    "..;",
    "@{C}",
    "//{C}",
    "http://{C}/",
    "ENG-1\r\nHost: {C}",
    "ENG-1\u{202e}",
    "ENG-1\0",
];

/// `replication_config.subdomain` values.
const SUBDOMAIN_FORMS: &[&str] = &[
    "{C}/x?",
    "{C}",
    "acme/../globex",
    "{g}/../../__sim/stats?",
    "acme.evil.example",
    "acme@{C}",
    "acme:443",
    "acme\\..\\globex",
    "acme%2f..%2fglobex",
    "acme#",
    "acme?x=",
    "-acme",
    "acme\u{202e}",
    "acme\r\nx",
];

/// `replication_config.base_url` values. `{S}` is the simulator's `host:port`.
const BASE_URL_FORMS: &[&str] = &[
    "http://{C}/internal-admin?",
    "http://{C}",
    "https://{C}",
    "http://{S}/site/acme/../globex",
    "http://{S}/site/acme/%2e%2e/globex",
    "http://{S}/__sim/stats?",
    "http://{S}/oauth/token/accessible-resources?",
    "http://{S}/site/acme@{C}",
    "http://user:pw@{S}/site/acme",
    "http://{S}/site/acme#frag",
    "http://{S}/site/acme\\@{C}",
    "https://acme.atlassian.net@{C}",
    "https://acme.atlassian.net.{C}",
    "file:///etc/passwd",
    "gopher://{C}/",
    "http://169.254.169.254/latest/meta-data",
];

fn fill(form: &str, env: &Env, canary: &Canary) -> String {
    let other = &env.sim.sites[1];
    form.replace("{C}", &canary.addr.to_string())
        .replace("{G}", &other.cloud_id)
        .replace("{g}", &other.subdomain)
        .replace("{S}", env.sim.addr.to_string().as_str())
}

/// Requests the simulator saw since `from` that are not inside `allowed` prefixes.
fn escapes(env: &Env, from: usize, allowed: &[String]) -> Vec<String> {
    env.sim
        .request_log()
        .into_iter()
        .skip(from)
        .filter(|r| {
            let path = r.split_once(' ').map(|(_, p)| p).unwrap_or(r);
            !allowed.iter().any(|a| path.starts_with(a.as_str()))
        })
        .collect()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn traversal_and_host_injection_never_leave_the_site() {
    let env = Env::start(Db::Sqlite).await;
    let canary = Canary::start().await;
    let site = &env.sim.sites[0];
    let token_conn = env.seed_connector("tok").await;
    let oauth_conn = connect_with_subdomain(&env, "oa", None).await;
    let conns = [
        (token_conn.clone(), format!("/site/{}/", site.subdomain)),
        (oauth_conn.clone(), format!("/ex/jira/{}/", site.cloud_id)),
    ];
    assert!(
        PROXY_FORMS.len() + PARAM_FORMS.len() + SUBDOMAIN_FORMS.len() + BASE_URL_FORMS.len() >= 40
    );

    // Through the proxy, byte for byte.
    for (id, allowed) in &conns {
        for form in PROXY_FORMS {
            let form = fill(form, &env, &canary);
            let before = env.sim.request_log().len();
            let target = format!("/api/v1/integrations/connectors/{id}/proxy/{form}");
            let auth = format!("Bearer {}", env.key());
            let (status, text) =
                raw(&env.server.url, "GET", &target, &[("Authorization", &auth)]).await;
            assert!(
                (400..500).contains(&status) || status == 0,
                "proxy form {form:?} answered {status}: {text}"
            );
            let out = escapes(&env, before, std::slice::from_ref(allowed));
            assert!(out.is_empty(), "proxy form {form:?} reached {out:?}");
        }
    }

    // Through catalog path parameters.
    for (id, allowed) in &conns {
        for form in PARAM_FORMS {
            let value = fill(form, &env, &canary);
            let before = env.sim.request_log().len();
            let r = env
                .client
                .post(
                    &env.url(&format!("/api/v1/integrations/connectors/{id}/execute")),
                    Some(env.key()),
                    &json!({"entity": "issues", "action": "get", "params": {"issue": value}}),
                )
                .await;
            assert!(
                r.status.is_client_error(),
                "param {value:?} answered {}: {}",
                r.status,
                r.text
            );
            let out = escapes(&env, before, std::slice::from_ref(allowed));
            assert!(out.is_empty(), "param {value:?} reached {out:?}");
        }
    }

    // Through subdomain and base_url on create: refused before any request is made.
    let u = &env.sim.users[0];
    for (field, forms) in [("subdomain", SUBDOMAIN_FORMS), ("base_url", BASE_URL_FORMS)] {
        for form in forms {
            let value = fill(form, &env, &canary);
            let before = env.sim.request_log().len();
            let r = env
                .client
                .post(
                    &env.url("/api/v1/integrations/connectors"),
                    Some(env.key()),
                    &json!({"workspace_name": "w", "name": format!("evil-{}", before),
                            "credentials": {"username": u.email, "password": u.api_token},
                            "replication_config": {field: value}}),
                )
                .await;
            let p = r.assert_problem(422, "validation");
            assert!(
                !r.text.contains(":pw@"),
                "a password in a URL was echoed: {}",
                r.text
            );
            assert!(
                p["field"]
                    .as_str()
                    .is_some_and(|f| f.contains("subdomain") || f.contains("base_url")),
                "{field} {value:?}: {p}"
            );
            let seen: Vec<String> = env.sim.request_log().into_iter().skip(before).collect();
            assert!(
                seen.is_empty(),
                "{field} {value:?} was refused only after {seen:?}"
            );
        }
    }
    // ... and with bring-your-own OAuth tokens.
    for form in SUBDOMAIN_FORMS {
        let value = fill(form, &env, &canary);
        let before = env.sim.request_log().len();
        let c = &env.sim.oauth_clients[0];
        let r = env
            .client
            .post(
                &env.url("/api/v1/integrations/connectors"),
                Some(env.key()),
                &json!({"workspace_name": "w", "name": "byo-evil",
                        "credentials": {"refresh_token": "rt", "client_id": c.client_id, "client_secret": c.client_secret},
                        "replication_config": {"subdomain": value}}),
            )
            .await;
        r.assert_problem(422, "validation");
        let seen: Vec<String> = env.sim.request_log().into_iter().skip(before).collect();
        assert!(
            seen.is_empty(),
            "BYO subdomain {value:?} spent a request: {seen:?}"
        );
    }
    // On update (replacing credentials), the stored site is reused, never input.
    let r = env
        .client
        .send(
            Method::PATCH,
            &env.url(&format!("/api/v1/integrations/connectors/{token_conn}")),
            Some(env.key()),
            Some(
                &json!({"credentials": {"username": u.email, "password": u.api_token},
                         "replication_config": {"base_url": format!("http://{}", canary.addr)}}),
            ),
            &[],
        )
        .await;
    assert!(!r.status.is_server_error(), "{}", r.text);
    let after = env
        .client
        .get(
            &env.url(&format!("/api/v1/integrations/connectors/{token_conn}")),
            Some(env.key()),
        )
        .await;
    assert_eq!(
        after.json()["site_url"],
        env.sim.site_url(&site.subdomain),
        "an update moved the connection to another host"
    );

    assert_eq!(canary.hits(), 0, "the canary listener was contacted");
    // The connection still works: the guard refuses input, not the site.
    let ok = env
        .client
        .get(
            &env.url(&format!(
                "/api/v1/integrations/connectors/{oauth_conn}/proxy/rest/api/3/myself"
            )),
            Some(env.key()),
        )
        .await;
    assert_eq!(ok.status, StatusCode::OK, "{}", ok.text);
}

/// A fake "internal service" and a fake custom-domain Jira on loopback. The first answers 200
/// with `{}` to everything; the second answers `/myself` like Jira and echoes request headers
/// on every other path.
async fn fake_upstreams() -> (SocketAddr, SocketAddr) {
    async fn internal(_req: Request) -> Json<Value> {
        Json(json!({"secret": "internal-admin-data"}))
    }
    async fn custom(req: Request) -> Json<Value> {
        if req.uri().path().ends_with("/rest/api/3/myself") {
            return Json(json!({"accountId": "5b10a2844c20165700ede21g", "displayName": "Custom"}));
        }
        let headers: serde_json::Map<String, Value> = req
            .headers()
            .iter()
            .map(|(k, v)| (k.as_str().to_owned(), json!(v.to_str().unwrap_or(""))))
            .collect();
        Json(Value::Object(headers))
    }
    let a = TcpListener::bind("127.0.0.1:0").await.unwrap();
    let b = TcpListener::bind("127.0.0.1:0").await.unwrap();
    let (aa, ba) = (a.local_addr().unwrap(), b.local_addr().unwrap());
    tokio::spawn(async move { axum::serve(a, axum::Router::new().fallback(internal)).await });
    tokio::spawn(async move { axum::serve(b, axum::Router::new().fallback(custom)).await });
    (aa, ba)
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn verification_needs_jira_and_forwarded_headers_are_dropped() {
    let (internal, custom) = fake_upstreams().await;
    let env = Env::start_with(Db::Sqlite, Default::default(), |cfg| {
        cfg.allowed_upstream_hosts = vec![internal.to_string(), custom.to_string()];
    })
    .await;
    let create = |base: String| {
        json!({"workspace_name": "w", "name": format!("n{}", base.len()),
               "credentials": {"username": "a@b.example", "password": "tok"},
               "replication_config": {"base_url": base}})
    };
    // An allowed host that is not Jira: a 2xx without an accountId is refused.
    let r = env
        .client
        .post(
            &env.url("/api/v1/integrations/connectors"),
            Some(env.key()),
            &create(format!("http://{internal}")),
        )
        .await;
    let p = r.assert_problem(422, "validation");
    assert!(p["detail"].as_str().unwrap().contains("accountId"), "{p}");
    assert!(!r.text.contains("internal-admin-data"));
    // A custom domain the operator allowed works, and the proxy forwards none of the caller's
    // forwarding headers.
    let r = env
        .client
        .post(
            &env.url("/api/v1/integrations/connectors"),
            Some(env.key()),
            &create(format!("http://{custom}")),
        )
        .await;
    assert_eq!(r.status, StatusCode::CREATED, "{}", r.text);
    let id = r.json()["id"].as_str().unwrap().to_owned();
    let forwarded = [
        ("Forwarded", "for=10.0.0.1;host=evil.example"),
        ("X-Forwarded-For", "10.0.0.1"),
        ("X-Forwarded-Host", "evil.example"),
        ("X-Forwarded-Proto", "http"),
        ("X-Forwarded-Port", "80"),
        ("X-Forwarded-Prefix", "/admin"),
        ("X-Original-URL", "/admin"),
        ("X-Rewrite-URL", "/admin"),
        ("X-Real-IP", "10.0.0.1"),
        ("Cookie", "JSESSIONID=stolen"),
        ("X-Custom", "kept"),
    ];
    let r = env
        .client
        .send(
            Method::GET,
            &env.url(&format!(
                "/api/v1/integrations/connectors/{id}/proxy/rest/api/3/echo"
            )),
            Some(env.key()),
            None,
            &forwarded,
        )
        .await;
    assert_eq!(r.status, StatusCode::OK, "{}", r.text);
    let seen = r.json();
    for (name, _) in &forwarded[..10] {
        assert!(
            seen.get(name.to_ascii_lowercase()).is_none(),
            "{name} was forwarded: {seen}"
        );
    }
    assert_eq!(seen["x-custom"], "kept", "{seen}");
    assert!(
        seen["authorization"]
            .as_str()
            .unwrap()
            .starts_with("Basic ")
    );
}

both_backends!(platform_key_cannot_be_lost, |db: Db| async move {
    let env = Env::start(db).await;
    let platform = env.key().to_owned();
    let keys = env
        .client
        .get(&env.url("/api/v1/keys"), Some(&platform))
        .await
        .json();
    let bootstrap_id = keys["data"][0]["id"].as_str().unwrap().to_owned();
    assert_eq!(keys["data"][0]["platform"], true);
    // An ordinary organization admin cannot revoke (or mint) a platform key.
    let org_admin = env.key_with(&["admin"]).await;
    let r = env
        .client
        .send(
            Method::DELETE,
            &env.url(&format!("/api/v1/keys/{bootstrap_id}")),
            Some(&org_admin),
            None,
            &[],
        )
        .await;
    r.assert_problem(403, "forbidden");
    let r = env
        .client
        .post(
            &env.url("/api/v1/keys"),
            Some(&org_admin),
            &json!({"name": "p2", "scopes": ["admin"], "platform": true}),
        )
        .await;
    r.assert_problem(403, "forbidden");
    // The last platform key cannot be revoked, not even by itself.
    let r = env
        .client
        .send(
            Method::DELETE,
            &env.url(&format!("/api/v1/keys/{bootstrap_id}")),
            Some(&platform),
            None,
            &[],
        )
        .await;
    let p = r.assert_problem(409, "conflict");
    assert!(
        p["detail"]
            .as_str()
            .unwrap()
            .contains("keys create --platform"),
        "{p}"
    );
    // With a second one, the first can go; then the second is the last.
    let r = env
        .client
        .post(
            &env.url("/api/v1/keys"),
            Some(&platform),
            &json!({"name": "p2", "scopes": ["admin"], "platform": true}),
        )
        .await;
    assert_eq!(r.status, StatusCode::CREATED, "{}", r.text);
    let p2 = r.json()["key"].as_str().unwrap().to_owned();
    let p2_id = r.json()["id"].as_str().unwrap().to_owned();
    let r = env
        .client
        .send(
            Method::DELETE,
            &env.url(&format!("/api/v1/keys/{bootstrap_id}")),
            Some(&p2),
            None,
            &[],
        )
        .await;
    assert_eq!(r.status, StatusCode::NO_CONTENT, "{}", r.text);
    let r = env
        .client
        .send(
            Method::DELETE,
            &env.url(&format!("/api/v1/keys/{p2_id}")),
            Some(&p2),
            None,
            &[],
        )
        .await;
    r.assert_problem(409, "conflict");
    // Organization management still works.
    let r = env
        .client
        .get(&env.url("/api/v1/organizations"), Some(&p2))
        .await;
    assert_eq!(r.status, StatusCode::OK, "{}", r.text);
});

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn names_refuse_control_and_bidi_characters() {
    let env = Env::start(Db::Sqlite).await;
    let u = &env.sim.users[0];
    let bad = [
        "nul\u{0}x",
        "esc\u{1b}[31mred",
        "c1\u{85}",
        "rtl\u{202e}gpj.exe",
        "zw\u{200b}x",
        "nl\nx",
    ];
    for b in bad {
        for (field, body) in [
            (
                "name",
                json!({"workspace_name": "w", "name": b, "credentials": {"username": u.email, "password": u.api_token}, "replication_config": {"subdomain": env.sim.sites[0].subdomain}}),
            ),
            (
                "workspace_name",
                json!({"workspace_name": b, "name": "ok", "credentials": {"username": u.email, "password": u.api_token}, "replication_config": {"subdomain": env.sim.sites[0].subdomain}}),
            ),
        ] {
            let r = env
                .client
                .post(
                    &env.url("/api/v1/integrations/connectors"),
                    Some(env.key()),
                    &body,
                )
                .await;
            let p = r.assert_problem(422, "validation");
            assert_eq!(p["field"], field, "{b:?}: {p}");
        }
        for path in [
            "/api/v1/workspaces",
            "/api/v1/keys",
            "/api/v1/organizations",
        ] {
            let r = env
                .client
                .post(
                    &env.url(path),
                    Some(env.key()),
                    &json!({"name": b, "scopes": ["execute"]}),
                )
                .await;
            let p = r.assert_problem(422, "validation");
            assert_eq!(p["field"], "name", "{path} {b:?}: {p}");
        }
    }
    // Error texts quote at most ~200 characters of any input.
    let huge = "x".repeat(1_000_000);
    for body in [
        json!({"workspace_name": "w", "name": huge, "credentials": {"username": u.email, "password": u.api_token}, "replication_config": {"subdomain": "acme"}}),
        json!({"workspace_name": "w", "name": "n", "credentials": {"username": u.email, "password": u.api_token}, "replication_config": {"subdomain": huge}}),
        json!({"workspace_name": "w", "name": "n", "credentials": {"username": u.email, "password": u.api_token}, "replication_config": {"base_url": format!("https://{huge}.atlassian.net")}}),
    ] {
        let r = env
            .client
            .post(
                &env.url("/api/v1/integrations/connectors"),
                Some(env.key()),
                &body,
            )
            .await;
        assert!(r.status.is_client_error(), "{}", r.status);
        assert!(r.text.len() < 2_000, "error echoed {} bytes", r.text.len());
    }
    let id = env.seed_connector("n").await;
    let r = env
        .client
        .post(
            &env.url(&format!("/api/v1/integrations/connectors/{id}/execute")),
            Some(env.key()),
            &json!({"entity": "issues", "action": "get", "params": {"issue": "K".repeat(100_000)}}),
        )
        .await;
    assert!(
        r.status.is_client_error(),
        "{} {}",
        r.status,
        &r.text[..r.text.len().min(300)]
    );
    assert!(r.text.len() < 2_000, "error echoed {} bytes", r.text.len());
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn bring_your_own_tokens_register_no_client_implicitly() {
    let env = Env::start(Db::Sqlite).await;
    let c = &env.sim.oauth_clients[0];
    let writer = env.key_with(&["connectors:write"]).await;
    let body = |sub: &str| {
        json!({"workspace_name": "w", "name": "byo",
               "credentials": {"refresh_token": "not-a-real-token", "client_id": c.client_id, "client_secret": c.client_secret},
               "replication_config": {"subdomain": sub}})
    };
    let clients = || async {
        env.client
            .get(&env.url("/api/v1/oauth/clients"), Some(env.key()))
            .await
            .json()["data"]
            .as_array()
            .map(Vec::len)
            .unwrap_or(usize::MAX)
    };
    // connectors:write alone may not register an OAuth client on the way.
    let r = env
        .client
        .post(
            &env.url("/api/v1/integrations/connectors"),
            Some(&writer),
            &body(&env.sim.sites[0].subdomain),
        )
        .await;
    let p = r.assert_problem(422, "validation");
    assert!(p["detail"].as_str().unwrap().contains("admin"), "{p}");
    assert_eq!(clients().await, 0);
    // An admin's refused request (the refresh token is refused) leaves nothing behind.
    let r = env
        .client
        .post(
            &env.url("/api/v1/integrations/connectors"),
            Some(env.key()),
            &body(&env.sim.sites[0].subdomain),
        )
        .await;
    assert!(r.status.is_client_error(), "{}", r.text);
    assert_eq!(
        clients().await,
        0,
        "a refused request left an OAuth client registered"
    );
}

both_backends!(platform_key_revocations_race_safely, |db: Db| async move {
    // Two platform keys revoking each other at once: one revocation must be refused.
    let env = Env::start(db).await;
    let platform = env.key().to_owned();
    let r = env
        .client
        .post(
            &env.url("/api/v1/keys"),
            Some(&platform),
            &json!({"name": "p2", "scopes": ["admin"], "platform": true}),
        )
        .await;
    let p2 = r.json()["key"].as_str().unwrap().to_owned();
    let p2_id = r.json()["id"].as_str().unwrap().to_owned();
    let keys = env
        .client
        .get(&env.url("/api/v1/keys"), Some(&platform))
        .await
        .json();
    let p1_id = keys["data"][0]["id"].as_str().unwrap().to_owned();
    let (u1, u2) = (
        env.url(&format!("/api/v1/keys/{p2_id}")),
        env.url(&format!("/api/v1/keys/{p1_id}")),
    );
    let (a, b) = tokio::join!(
        env.client
            .send(Method::DELETE, &u1, Some(&platform), None, &[]),
        env.client.send(Method::DELETE, &u2, Some(&p2), None, &[]),
    );
    let ok = [a.status, b.status]
        .iter()
        .filter(|s| **s == StatusCode::NO_CONTENT)
        .count();
    assert_eq!(ok, 1, "{} {} / {} {}", a.status, a.text, b.status, b.text);
});

/// The `{path}` of the proxy as a client generated from `/openapi.json` sends it: one segment,
/// percent-encoded, slashes included. It is decoded exactly once and then checked like a nested
/// path, so a generated client reaches Jira while traversal, a second layer of encoding, encoded
/// `?`/`#` and host tricks are refused before anything is sent.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn one_encoded_path_segment_is_decoded_once_and_checked() {
    let env = Env::start(Db::Sqlite).await;
    let canary = Canary::start().await;
    let site = &env.sim.sites[0];
    let token_conn = env.seed_connector("enc").await;
    let oauth_conn = connect_with_subdomain(&env, "enc-oa", None).await;
    let auth = format!("Bearer {}", env.key());
    for (id, base) in [
        (&token_conn, format!("/site/{}", site.subdomain)),
        (&oauth_conn, format!("/ex/jira/{}", site.cloud_id)),
    ] {
        for (form, upstream) in [
            ("rest%2Fapi%2F3%2Fmyself", "/rest/api/3/myself"),
            ("rest%2fapi%2f3%2fissue%2FENG-1", "/rest/api/3/issue/ENG-1"),
            (
                "rest%2Fapi%2F3%2Fsearch%2Fjql?jql=project%20%3D%20ENG&maxResults=1",
                "/rest/api/3/search/jql?jql=project%20%3D%20ENG&maxResults=1",
            ),
        ] {
            let before = env.sim.request_log().len();
            let target = format!("/api/v1/integrations/connectors/{id}/proxy/{form}");
            let (status, text) =
                raw(&env.server.url, "GET", &target, &[("Authorization", &auth)]).await;
            assert_eq!(status, 200, "{form}: {text}");
            let seen: Vec<String> = env.sim.request_log().into_iter().skip(before).collect();
            let expected = format!("GET {base}{upstream}");
            assert!(
                seen.iter().any(|r| r == &expected),
                "{form}: expected {expected}, the simulator saw {seen:?}"
            );
        }
        for form in [
            "..%2F..%2F..%2F__sim%2Fstats",
            "%2e%2e%2F__sim%2Fstats",
            "rest%2F%2e%2e%2F%2e%2e%2F__sim%2Fstats",
            "rest%2F%252e%252e%2F__sim",
            "rest%2Fapi%2F3%2Fissue%2FA%25252F1",
            "rest%2Fapi%2F3%2F..%5c..%5c__sim",
            "rest%2Fapi%2F3%2Fmyself%3Fx%3D1",
            "rest%2Fapi%2F3%2Fmyself%23x",
            "rest%2Fapi%2F3%2F%40{C}",
            "%2F%2F{C}%2Fx",
            "http:%2F%2F{C}%2Fx",
            "rest%2Fapi%2F3%2Fx%00",
            "rest%2Fapi%2F3%2F%c0%ae%c0%ae",
            "rest%2Fapi%2F3%2F%e2%80%ae",
        ] {
            let form = fill(form, &env, &canary);
            let before = env.sim.request_log().len();
            let target = format!("/api/v1/integrations/connectors/{id}/proxy/{form}");
            let (status, text) =
                raw(&env.server.url, "GET", &target, &[("Authorization", &auth)]).await;
            // 422 from the path checks; 400 where the router cannot even decode the
            // segment as UTF-8 (overlong forms).
            assert!(matches!(status, 400 | 422), "{form}: {text}");
            let seen: Vec<String> = env.sim.request_log().into_iter().skip(before).collect();
            assert!(seen.is_empty(), "{form} was refused only after {seen:?}");
        }
    }
    assert_eq!(canary.hits(), 0);
}

/// Heads that break hyper's own limits (answered before any service runs) still get a
/// problem+json body with a stable type, over raw TCP.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn oversized_heads_get_problem_bodies() {
    let env = Env::start(Db::Sqlite).await;
    let problem_of = |status: u16, text: &str, slug: &str| {
        let (head, body) = text.split_once("\r\n\r\n").expect("a head and a body");
        assert!(
            head.to_ascii_lowercase()
                .contains("content-type: application/problem+json"),
            "{head}"
        );
        let v: Value = serde_json::from_str(body).unwrap_or_else(|e| panic!("{e}: {text}"));
        assert_eq!(
            v["type"],
            format!("https://jiragate.dev/problems/{slug}"),
            "{v}"
        );
        assert_eq!(v["status"], status, "{v}");
        assert!(v["detail"].as_str().is_some_and(|d| !d.is_empty()), "{v}");
    };
    // A 100 KB issue key in the path: 414.
    let key = "A".repeat(100 * 1024);
    let target = format!("/api/v1/integrations/connectors/x/proxy/rest/api/3/issue/{key}");
    let (status, text) = raw(&env.server.url, "GET", &target, &[]).await;
    assert_eq!(status, 414, "{}", &text[..text.len().min(300)]);
    problem_of(414, &text, "uri_too_long");
    // 200 headers: 431.
    let names: Vec<String> = (0..200).map(|i| format!("x-h{i}")).collect();
    let headers: Vec<(&str, &str)> = names.iter().map(|n| (n.as_str(), "v")).collect();
    let (status, text) = raw(&env.server.url, "GET", "/healthz", &headers).await;
    assert_eq!(status, 431, "{text}");
    problem_of(431, &text, "request_header_fields_too_large");
    // The server still answers normally afterwards.
    let (status, _) = raw(&env.server.url, "GET", "/healthz", &[]).await;
    assert_eq!(status, 200);
}
