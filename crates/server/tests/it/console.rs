//! The web console in a real browser (Debian's `chromium` driven through `chromedriver` over
//! WebDriver), against `serve` and the simulator; plus the console's security rules checked
//! with a plain HTTP client: CSRF, sessions after sign-out, cookie flags, CSP, page sizes.
//!
//! The browser test needs `/usr/bin/chromium` and `/usr/bin/chromedriver` (`.ci/run` installs
//! them). Without them it fails under `CI` and is skipped, saying so, elsewhere.

use std::process::{Child, Command, Stdio};
use std::time::Duration;

use atlassian_sim::SimConfig;
use fantoccini::actions::InputSource;
use fantoccini::{Client as Browser, ClientBuilder, Locator};
use reqwest::StatusCode;
use reqwest::header::{HeaderMap, LOCATION, SET_COOKIE};
use serde_json::json;

use crate::common::{Db, Env};

const CHROMIUM: &str = "/usr/bin/chromium";
const CHROMEDRIVER: &str = "/usr/bin/chromedriver";
const WAIT: Duration = Duration::from_secs(30);

/// A page larger than this fails the console's size budget (~100 KB).
const PAGE_BUDGET: usize = 100 * 1024;

/// `chromedriver` on a free loopback port, killed on drop.
pub(crate) struct Driver {
    child: Child,
    url: String,
    _profile: tempfile::TempDir,
}

impl Drop for Driver {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

pub(crate) fn browser_available() -> bool {
    let ok = std::path::Path::new(CHROMIUM).exists() && std::path::Path::new(CHROMEDRIVER).exists();
    if !ok {
        assert!(
            std::env::var_os("CI").is_none(),
            "CI must run the browser tests: install chromium and chromium-driver (.ci/run does)"
        );
        eprintln!(
            "SKIPPED: {CHROMIUM} or {CHROMEDRIVER} is missing (apt-get install chromium chromium-driver)"
        );
    }
    ok
}

pub(crate) async fn start_browser() -> (Driver, Browser) {
    let port = std::net::TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port();
    let child = Command::new(CHROMEDRIVER)
        .arg(format!("--port={port}"))
        .arg("--allowed-ips=127.0.0.1")
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .spawn()
        .expect("chromedriver starts");
    let profile = tempfile::tempdir().unwrap();
    let driver = Driver {
        child,
        url: format!("http://127.0.0.1:{port}"),
        _profile: profile,
    };
    let mut caps = serde_json::Map::new();
    caps.insert(
        "goog:chromeOptions".into(),
        json!({
            "binary": CHROMIUM,
            "args": [
                "--headless=new", "--no-sandbox", "--disable-gpu", "--disable-dev-shm-usage",
                "--disable-quic", "--no-first-run", "--disable-background-networking",
                "--disable-component-update", "--disable-sync", "--window-size=1280,800",
                format!("--user-data-dir={}", driver._profile.path().display()),
            ]
        }),
    );
    let mut last_err = String::new();
    for _ in 0..100 {
        let builder = ClientBuilder::rustls().expect("rustls connector");
        match builder
            .clone()
            .capabilities(caps.clone())
            .connect(&driver.url)
            .await
        {
            Ok(b) => return (driver, b),
            Err(e) => {
                last_err = e.to_string();
                tokio::time::sleep(Duration::from_millis(100)).await;
            }
        }
    }
    panic!("no WebDriver session: {last_err}");
}

pub(crate) async fn wait_css(b: &Browser, css: &str) -> fantoccini::elements::Element {
    match b.wait().at_most(WAIT).for_element(Locator::Css(css)).await {
        Ok(el) => el,
        Err(e) => {
            // Say where the browser is, so a failure can be read without a rerun.
            let url = b
                .current_url()
                .await
                .map(|u| u.to_string())
                .unwrap_or_default();
            let src = b.source().await.unwrap_or_default();
            let main = src.find("<main").map_or(&src[..], |i| &src[i..]);
            let main: String = main.chars().take(1500).collect();
            panic!("no element {css}: {e}\nat {url}\n{main}")
        }
    }
}

/// The text of `css`, read again if the page was replaced under us (a stale element).
async fn text_of(b: &Browser, css: &str) -> String {
    let deadline = tokio::time::Instant::now() + WAIT;
    loop {
        match wait_css(b, css).await.text().await {
            Ok(t) => return t,
            Err(e) if tokio::time::Instant::now() < deadline => {
                let _ = e;
                tokio::time::sleep(Duration::from_millis(50)).await;
            }
            Err(e) => panic!("text of {css}: {e}"),
        }
    }
}

/// Waits until `css` shows text containing `needle` (the page after a navigation, not the one
/// before it, which may have had the same element).
pub(crate) async fn wait_text(b: &Browser, css: &str, needle: &str) -> String {
    let deadline = tokio::time::Instant::now() + WAIT;
    let mut last = String::new();
    loop {
        if let Ok(el) = b.find(Locator::Css(css)).await
            && let Ok(t) = el.text().await
        {
            if t.contains(needle) {
                return t;
            }
            last = t;
        }
        assert!(
            tokio::time::Instant::now() < deadline,
            "{css} never showed {needle:?}; last: {last:?}"
        );
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
}

pub(crate) async fn fill(b: &Browser, css: &str, value: &str) {
    let el = wait_css(b, css).await;
    el.clear().await.unwrap();
    el.send_keys(value).await.unwrap();
}

pub(crate) async fn click(b: &Browser, css: &str) {
    wait_css(b, css).await.click().await.unwrap();
}

async fn path_of(b: &Browser) -> String {
    b.current_url().await.unwrap().path().to_owned()
}

/// Waits until the browser is on a page whose path starts with `prefix`.
async fn wait_path(b: &Browser, prefix: &str) -> String {
    let deadline = tokio::time::Instant::now() + WAIT;
    loop {
        let p = path_of(b).await;
        if p.starts_with(prefix) {
            return p;
        }
        assert!(
            tokio::time::Instant::now() < deadline,
            "still on {p}, expected {prefix}…; page: {}",
            b.source().await.unwrap_or_default()
        );
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
}

/// Saves a screenshot when `JIRAGATE_SCREENSHOTS` names a directory (for the README).
async fn screenshot(b: &Browser, name: &str) {
    if let Some(dir) = std::env::var_os("JIRAGATE_SCREENSHOTS") {
        // The part of the page worth showing: `#result` when there is one, else the top.
        let png = match b.find(Locator::Css("#result")).await {
            Ok(el) => el.screenshot().await.unwrap(),
            Err(_) => {
                b.execute("window.scrollTo(0, 0); return null;", vec![])
                    .await
                    .unwrap();
                b.screenshot().await.unwrap()
            }
        };
        std::fs::create_dir_all(&dir).unwrap();
        std::fs::write(std::path::Path::new(&dir).join(format!("{name}.png")), png).unwrap();
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn console_flows_in_a_real_browser() {
    if !browser_available() {
        return;
    }
    let sim_cfg = SimConfig {
        consent_page: true,
        ..SimConfig::default()
    };
    let env = Env::start_with(Db::Sqlite, sim_cfg, |_| {}).await;
    let (_driver, b) = start_browser().await;
    let user = env.sim.users[0].clone();
    let site = env.sim.sites[0].clone();
    let result = async {
        // ---- sign in: the console sends a stranger to the sign-in page first
        b.goto(&env.url("/console")).await.unwrap();
        wait_path(&b, "/console/sign-in").await;
        screenshot(&b, "sign-in").await;
        fill(&b, "#api_key", "jg_not-a-real-key").await;
        click(&b, "#sign-in button[type=submit]").await;
        assert!(text_of(&b, "#sign-in-error").await.contains("not valid"));
        fill(&b, "#api_key", env.key()).await;
        click(&b, "#sign-in button[type=submit]").await;
        wait_css(&b, "#new-connection-link").await;
        assert_eq!(path_of(&b).await, "/console");

        // ---- create an API-token connection, then test it
        click(&b, "#new-connection-link").await;
        fill(&b, "#name", "jira").await;
        fill(&b, "#site", &site.subdomain).await;
        wait_css(&b, "#auth_type").await.select_by_value("api_token").await.unwrap();
        fill(&b, "#email", &user.email).await;
        fill(&b, "#token", &user.api_token).await;
        screenshot(&b, "new-connection").await;
        click(&b, "#save").await;
        // The connection's page (not the form's own `/console/connections/new`).
        wait_text(&b, "#notice", "Saved").await;
        let conn_path = path_of(&b).await;
        assert_ne!(conn_path, "/console/connections/new");
        assert_eq!(text_of(&b, "#status").await, "healthy");
        click(&b, "#test-now").await;
        wait_text(&b, "#notice", "Checked").await;
        wait_text(&b, "#health", "healthy").await;
        // the token is never rendered anywhere
        assert!(!b.source().await.unwrap().contains(&user.api_token));
        // replacing it: write-only, verified again (a wrong token is refused, nothing changes)
        click(&b, "#replace-token summary").await;
        assert_eq!(wait_css(&b, "#rt-token").await.prop("value").await.unwrap().as_deref(), Some(""));
        fill(&b, "#rt-token", "not-the-token").await;
        click(&b, "#replace-token-button").await;
        assert!(text_of(&b, "#message").await.contains("401") || text_of(&b, "#message").await.to_lowercase().contains("token"));
        b.goto(&env.url(&conn_path)).await.unwrap();
        click(&b, "#replace-token summary").await;
        fill(&b, "#rt-token", &user.api_token).await;
        click(&b, "#replace-token-button").await;
        wait_text(&b, "#notice", "Token replaced").await;

        // ---- playground: an array result as a table, an object result as key/value rows
        b.goto(&env.url(&format!("{conn_path}?action=issues.search"))).await.unwrap();
        click(&b, "#run-form details summary").await;
        fill(&b, "#params_json", r#"{"jql": "project = ENG ORDER BY key", "limit": 5}"#).await;
        click(&b, "#run").await;
        let table = wait_css(&b, "#result-table").await;
        let rows = table.find_all(Locator::Css("tbody tr")).await.unwrap();
        assert_eq!(rows.len(), 5, "{}", table.html(false).await.unwrap());
        assert!(text_of(&b, "#snippet-curl").await.contains("/execute"));
        assert!(text_of(&b, "#snippet-cli").await.contains("--entity issues --action search"));
        assert!(text_of(&b, "#snippet-mcp").await.contains("jira_execute"));
        screenshot(&b, "playground").await;
        // choosing an action with the select (script-enhanced) loads its generated form
        wait_css(&b, "#pg-action").await.select_by_value("myself.get").await.unwrap();
        wait_path(&b, &conn_path).await;
        let deadline = tokio::time::Instant::now() + WAIT;
        while !b.current_url().await.unwrap().as_str().contains("action=myself.get") {
            assert!(tokio::time::Instant::now() < deadline, "action select did not load the form");
            tokio::time::sleep(Duration::from_millis(50)).await;
        }
        click(&b, "#run").await;
        wait_text(&b, "#result-table", &user.account_id).await;

        // ---- register an OAuth client, picking scopes with the two-list picker
        click(&b, "nav a[href='/console/oauth-clients']").await;
        let oc = env.sim.oauth_clients[0].clone();
        fill(&b, "#client_id", &oc.client_id).await;
        fill(&b, "#client_secret", &oc.client_secret).await;
        for scope in ["read:jira-work", "write:jira-work", "read:jira-user"] {
            fill(&b, "#scopes-filter", scope).await;
            let option = wait_css(&b, &format!("#scopes-available option[value='{scope}']")).await;
            option.click().await.unwrap();
            click(&b, "#scopes-add").await;
            wait_css(&b, &format!("#scopes-selected option[value='{scope}']")).await;
        }
        screenshot(&b, "oauth-client").await;
        click(&b, "#register-client").await;
        wait_path(&b, "/console/oauth-clients/").await;
        wait_text(&b, "#notice", "Registered").await;
        assert!(text_of(&b, "#callback-url").await.ends_with("/oauth/callback"));
        assert!(!b.source().await.unwrap().contains(&oc.client_secret));

        // ---- connect with Atlassian: consent at the simulator, then the site choice
        b.goto(&env.url("/console/connections/new")).await.unwrap();
        fill(&b, "#name", "jira-oauth").await;
        wait_css(&b, "#auth_type").await.select_by_value("oauth").await.unwrap();
        assert_eq!(text_of(&b, "#save").await, "Connect with Atlassian");
        click(&b, "#save").await;
        click(&b, "button[value=approve]").await; // the simulator's consent page
        let second = &env.sim.sites[1];
        click(&b, &format!("input[name=cloud_id][value='{}']", second.cloud_id)).await;
        click(&b, "button[type=submit]").await;
        click(&b, "#open-in-console").await;
        wait_path(&b, "/console/connections/").await;
        let facts = text_of(&b, "dl.facts").await;
        assert!(facts.contains("OAuth 2.0"), "{facts}");
        assert!(facts.contains(&second.subdomain), "{facts}");

        // ---- Reconnect: Atlassian revokes the grant; the connection is re-authorized in place
        let oauth_path = path_of(&b).await;
        let oauth_id = oauth_path.rsplit('/').next().unwrap().to_owned();
        let reader = env.key_with(&["credentials:read"]).await;
        let token = env
            .client
            .post(&env.url("/api/v1/credentials/token"), Some(&reader), &json!({"connector_id": oauth_id}))
            .await
            .json();
        let access = token["access_token"].as_str().expect("access token").to_owned();
        let revoked = env
            .client
            .http
            .post(format!("{}/__sim/revoke", env.sim.auth_url))
            .json(&json!({"access_token": access}))
            .send()
            .await
            .unwrap();
        assert!(revoked.status().is_success());
        env.sim.advance_clock(7200);
        click(&b, "#test-now").await;
        wait_text(&b, "#status", "needs_reauth").await;
        assert!(text_of(&b, "#reauth").await.contains("Reconnect"));
        click(&b, "#reconnect").await;
        click(&b, "button[value=approve]").await; // consent again; the site is the connection's
        click(&b, "#open-in-console").await;
        wait_path(&b, &oauth_path).await;
        wait_text(&b, "#status", "healthy").await;
        click(&b, "#test-now").await;
        wait_text(&b, "#notice", "Checked").await;
        assert_eq!(text_of(&b, "#status").await, "healthy");
        assert!(text_of(&b, "dl.facts").await.contains(&second.subdomain));

        // ---- API keys: shown once, then revoked
        click(&b, "nav a[href='/console/keys']").await;
        fill(&b, "#key-name", "from-the-console").await;
        click(&b, "#create-key-button").await;
        let new_key = text_of(&b, "#new-key").await;
        assert!(new_key.starts_with("jg_"), "{new_key}");
        screenshot(&b, "keys").await;
        let r = env.client.get(&env.url("/api/v1/integrations/connectors"), Some(&new_key)).await;
        assert_eq!(r.status, StatusCode::OK, "the new key works: {}", r.text);
        b.goto(&env.url("/console/keys")).await.unwrap();
        wait_css(&b, "#keys").await;
        assert!(!b.source().await.unwrap().contains(&new_key), "a key is shown once only");
        click(&b, "button[aria-label='Revoke key from-the-console']").await;
        wait_text(&b, "#notice", "revoked").await;
        let r = env.client.get(&env.url("/api/v1/integrations/connectors"), Some(&new_key)).await;
        assert_eq!(r.status, StatusCode::UNAUTHORIZED, "{}", r.text);

        // ---- audit log, filtered
        b.goto(&env.url("/console/audit?kind=api_key")).await.unwrap();
        let audit = text_of(&b, "#audit").await;
        assert!(audit.contains("api_key.revoke") && audit.contains("api_key.create"), "{audit}");
        assert!(!audit.contains("connector.create"), "the filter applies: {audit}");
        b.goto(&env.url("/console")).await.unwrap();
        wait_css(&b, "table.connections").await;
        screenshot(&b, "connections").await;

        // ---- phone width: nothing wider than the screen but scrollable tables
        b.set_window_size(390, 844).await.unwrap();
        for path in ["/console", &conn_path, "/console/connections/new", "/console/keys"] {
            b.goto(&env.url(path)).await.unwrap();
            wait_css(&b, "main").await;
            let overflow = b
                .execute(
                    "return document.documentElement.scrollWidth - document.documentElement.clientWidth;",
                    vec![],
                )
                .await
                .unwrap();
            if overflow.as_i64().unwrap_or(0) > 0 {
                // Name the widest culprits, so a failure says what to fix.
                let culprits = b
                    .execute(
                        "const w = document.documentElement.clientWidth; return Array.from(document.querySelectorAll('body *')).filter(e => e.getBoundingClientRect().right > w + 1).slice(0, 8).map(e => e.tagName + '#' + e.id + '.' + e.className + ' ' + Math.round(e.getBoundingClientRect().width));",
                        vec![],
                    )
                    .await
                    .unwrap();
                panic!("{path} overflows at phone width by {overflow}px: {culprits}");
            }
        }
        b.set_window_size(1280, 800).await.unwrap();

        // ---- keyboard: Tab from the top reaches the skip link, then the navigation
        b.goto(&env.url("/console")).await.unwrap();
        wait_css(&b, "main").await;
        let actions = fantoccini::actions::KeyActions::new("keys".into())
            .then(fantoccini::actions::KeyAction::Down { value: '\u{E004}' })
            .then(fantoccini::actions::KeyAction::Up { value: '\u{E004}' });
        b.perform_actions(actions).await.unwrap();
        let active = b.active_element().await.unwrap();
        assert_eq!(active.attr("class").await.unwrap().as_deref(), Some("skip"));

        // ---- sign out: the old session is gone
        click(&b, "#sign-out").await;
        wait_path(&b, "/console/sign-in").await;
        b.goto(&env.url("/console/keys")).await.unwrap();
        wait_path(&b, "/console/sign-in").await;
    }
    .await;
    let _ = b.close().await;
    result
}

// ---- the rules, with a plain HTTP client ------------------------------------------------------

/// A browser-like client that keeps no cookies by itself: the tests set them explicitly.
pub(crate) fn http() -> reqwest::Client {
    reqwest::Client::builder()
        .redirect(reqwest::redirect::Policy::none())
        .build()
        .unwrap()
}

pub(crate) fn cookie_pairs(headers: &HeaderMap) -> Vec<(String, String, String)> {
    headers
        .get_all(SET_COOKIE)
        .iter()
        .map(|v| {
            let full = v.to_str().unwrap().to_owned();
            let pair = full.split(';').next().unwrap().to_owned();
            let (name, value) = pair.split_once('=').unwrap();
            (name.to_owned(), value.to_owned(), full)
        })
        .collect()
}

pub(crate) fn field(html: &str, name: &str) -> String {
    let needle = format!("name=\"{name}\" value=\"");
    let start = html
        .find(&needle)
        .unwrap_or_else(|| panic!("no field {name}"))
        + needle.len();
    html[start..].split('"').next().unwrap().to_owned()
}

/// Signs in as `key`; returns (session cookie header value, CSRF token of the session).
pub(crate) async fn sign_in(env: &Env, key: &str) -> (String, String) {
    let cookie = session_cookie(env, key).await;
    let page = http()
        .get(env.url("/console/keys"))
        .header("cookie", &cookie)
        .send()
        .await
        .unwrap();
    assert_eq!(page.status(), StatusCode::OK);
    let csrf = field(&page.text().await.unwrap(), "csrf");
    (cookie, csrf)
}

/// Signs in as `key` (any scopes) through the sign-in form; returns the session cookie header
/// value, after checking its flags.
pub(crate) async fn session_cookie(env: &Env, key: &str) -> String {
    let c = http();
    let page = c.get(env.url("/console/sign-in")).send().await.unwrap();
    let pre = cookie_pairs(page.headers());
    let (name, nonce, _) = pre.into_iter().next().expect("sign-in cookie");
    let html = page.text().await.unwrap();
    assert_eq!(field(&html, "csrf"), nonce);
    let r = c
        .post(env.url("/console/sign-in"))
        .header("cookie", format!("{name}={nonce}"))
        .form(&[
            ("csrf", nonce.as_str()),
            ("api_key", key),
            ("next", "/console"),
        ])
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), StatusCode::SEE_OTHER);
    let (sname, token, flags) = cookie_pairs(r.headers())
        .into_iter()
        .find(|(n, v, _)| n == "jiragate_session" && !v.is_empty())
        .expect("session cookie");
    assert!(flags.contains("HttpOnly"), "{flags}");
    assert!(flags.contains("SameSite=Strict"), "{flags}");
    assert!(
        !flags.contains("Secure"),
        "plain http: no Secure flag ({flags})"
    );
    format!("{sname}={token}")
}

async fn key_count(env: &Env) -> usize {
    env.client
        .get(&env.url("/api/v1/keys"), Some(env.key()))
        .await
        .json()["data"]
        .as_array()
        .unwrap()
        .len()
}

#[tokio::test]
async fn console_state_changes_need_the_session_csrf_token_and_a_live_session() {
    let env = Env::start(Db::Sqlite).await;
    let (cookie, csrf) = sign_in(&env, env.key()).await;
    let c = http();
    let before = key_count(&env).await;
    let post = |body: Vec<(&'static str, String)>, origin: Option<&'static str>| {
        let mut r = c
            .post(env.url("/console/keys"))
            .header("cookie", &cookie)
            .form(&body);
        if let Some(o) = origin {
            r = r.header("origin", o);
        }
        r.send()
    };
    // no token, a wrong token, a token with a foreign Origin: refused, nothing created
    for (body, origin) in [
        (
            vec![("name", "x".to_owned()), ("scopes", "execute".to_owned())],
            None,
        ),
        (
            vec![
                ("csrf", "0".repeat(64)),
                ("name", "x".into()),
                ("scopes", "execute".into()),
            ],
            None,
        ),
        (
            vec![
                ("csrf", csrf.clone()),
                ("name", "x".into()),
                ("scopes", "execute".into()),
            ],
            Some("https://evil.example"),
        ),
    ] {
        let r = post(body, origin).await.unwrap();
        assert_eq!(r.status(), StatusCode::FORBIDDEN);
        assert!(r.text().await.unwrap().contains("Nothing was changed"));
    }
    assert_eq!(key_count(&env).await, before);
    // the right token works
    let r = post(
        vec![
            ("csrf", csrf.clone()),
            ("name", "ok".into()),
            ("scopes", "execute".into()),
        ],
        None,
    )
    .await
    .unwrap();
    assert_eq!(r.status(), StatusCode::CREATED);
    assert_eq!(key_count(&env).await, before + 1);
    // the sign-in form has its own token: a cross-site sign-in (login CSRF) is refused
    let r = c
        .post(env.url("/console/sign-in"))
        .form(&[("api_key", env.key())])
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), StatusCode::FORBIDDEN);

    // sign out; the old cookie (and its CSRF token) is refused afterwards
    let r = c
        .post(env.url("/console/sign-out"))
        .header("cookie", &cookie)
        .form(&[("csrf", csrf.as_str())])
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), StatusCode::SEE_OTHER);
    assert!(
        cookie_pairs(r.headers())
            .iter()
            .any(|(n, v, f)| n == "jiragate_session" && v.is_empty() && f.contains("Max-Age=0"))
    );
    let r = c
        .get(env.url("/console/keys"))
        .header("cookie", &cookie)
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), StatusCode::SEE_OTHER);
    assert!(
        r.headers()[LOCATION]
            .to_str()
            .unwrap()
            .starts_with("/console/sign-in")
    );
    let r = post(
        vec![
            ("csrf", csrf.clone()),
            ("name", "late".into()),
            ("scopes", "execute".into()),
        ],
        None,
    )
    .await
    .unwrap();
    assert_eq!(
        r.status(),
        StatusCode::SEE_OTHER,
        "a dead session changes nothing"
    );
    assert_eq!(key_count(&env).await, before + 1);
}

#[tokio::test]
async fn console_sessions_are_stored_hashed_and_end_with_their_key() {
    let env = Env::start(Db::Sqlite).await;
    let key = env.key_with(&["admin"]).await;
    let (cookie, _) = sign_in(&env, &key).await;
    let token = cookie.split_once('=').unwrap().1.to_owned();
    // the database holds the hash only
    let mut found = false;
    for entry in std::fs::read_dir(env._dir.path()).unwrap() {
        let p = entry.unwrap().path();
        if p.extension()
            .is_some_and(|e| e == "db" || e == "db-wal" || e == "sqlite")
            || p.to_string_lossy().contains(".db")
        {
            let bytes = std::fs::read(&p).unwrap();
            found = true;
            assert!(
                !bytes.windows(token.len()).any(|w| w == token.as_bytes()),
                "{} holds a session token in clear",
                p.display()
            );
        }
    }
    assert!(found, "no database file found under the data dir");
    // revoking the key ends its console session
    let keys = env
        .client
        .get(&env.url("/api/v1/keys"), Some(env.key()))
        .await
        .json();
    let id = keys["data"]
        .as_array()
        .unwrap()
        .iter()
        .find(|k| key.starts_with(k["prefix"].as_str().unwrap()) && k["revoked_at"].is_null())
        .unwrap()["id"]
        .as_str()
        .unwrap()
        .to_owned();
    let r = env
        .client
        .send(
            reqwest::Method::DELETE,
            &env.url(&format!("/api/v1/keys/{id}")),
            Some(env.key()),
            None,
            &[],
        )
        .await;
    assert!(r.status.is_success(), "{}", r.text);
    let r = http()
        .get(env.url("/console"))
        .header("cookie", &cookie)
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), StatusCode::SEE_OTHER);
}

#[tokio::test]
async fn console_pages_carry_the_csp_stay_small_and_never_frame() {
    let env = Env::start(Db::Sqlite).await;
    let conn = env.seed_connector("jira").await;
    let (cookie, _) = sign_in(&env, env.key()).await;
    let c = http();
    let r = c.get(env.url("/console/sign-in")).send().await.unwrap();
    assert!(
        r.headers()["content-security-policy"]
            .to_str()
            .unwrap()
            .contains("frame-ancestors 'none'")
    );
    let r = c
        .get(env.url("/console/sign-in"))
        .header("cookie", &cookie)
        .send()
        .await
        .unwrap();
    assert_eq!(
        r.status(),
        StatusCode::SEE_OTHER,
        "signed in: the sign-in page leads on"
    );
    for path in [
        "/console".to_owned(),
        "/console/connections/new".to_owned(),
        format!("/console/connections/{conn}"),
        format!("/console/connections/{conn}?action=issues.search"),
        "/console/oauth-clients".to_owned(),
        "/console/keys".to_owned(),
        "/console/audit".to_owned(),
        "/console/orgs".to_owned(),
    ] {
        let r = c
            .get(env.url(&path))
            .header("cookie", &cookie)
            .send()
            .await
            .unwrap();
        assert_eq!(r.status(), StatusCode::OK, "{path}");
        let csp = r.headers()["content-security-policy"]
            .to_str()
            .unwrap()
            .to_owned();
        for directive in [
            "script-src 'self'",
            "frame-ancestors 'none'",
            "default-src 'none'",
        ] {
            assert!(csp.contains(directive), "{path}: {csp}");
        }
        assert!(!csp.contains("unsafe-inline"), "{path}: {csp}");
        assert_eq!(r.headers()["x-frame-options"], "DENY");
        assert_eq!(r.headers()["cache-control"], "no-store");
        let body = r.text().await.unwrap();
        assert!(body.len() < PAGE_BUDGET, "{path} is {} bytes", body.len());
        assert!(!body.contains(env.key()), "{path} renders the API key");
    }
    // `/` leads to the console
    let r = c.get(env.url("/")).send().await.unwrap();
    assert_eq!(r.headers()[LOCATION], "/console");
}

#[tokio::test]
async fn console_cookies_are_secure_behind_an_https_public_url() {
    let env = Env::start_with(Db::Sqlite, SimConfig::default(), |cfg| {
        cfg.public_url = Some("https://jiragate.example".into());
    })
    .await;
    let page = http()
        .get(env.url("/console/sign-in"))
        .send()
        .await
        .unwrap();
    let (name, _, flags) = cookie_pairs(page.headers()).into_iter().next().unwrap();
    assert_eq!(name, "__Host-jiragate_signin");
    assert!(
        flags.contains("Secure") && flags.contains("HttpOnly") && flags.contains("SameSite=Strict"),
        "{flags}"
    );
}

// ---- the embeddable connect flow ----------------------------------------------------------------

/// A third-party app on another origin (another port): a page that loads `/connect.js` from
/// jiragate and shows what `jiragate.connect` resolved to, and a return page.
async fn start_app(jiragate: String) -> (String, tokio::task::JoinHandle<()>) {
    use axum::extract::Query;
    use axum::response::Html;
    use axum::routing::get;
    use std::collections::HashMap;
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let base = format!("http://{}", listener.local_addr().unwrap());
    let app = axum::Router::new()
        .route(
            "/app.html",
            get(move |Query(q): Query<HashMap<String, String>>| {
                let jg = jiragate.clone();
                async move {
                    let token = q.get("token").cloned().unwrap_or_default();
                    Html(format!(
                        "<!doctype html><html><head><title>Acme app</title>\
                         <script src=\"{jg}/connect.js\"></script><script src=\"/app.js\" defer></script></head>\
                         <body><h1>Acme app</h1><div id=\"cfg\" data-token=\"{token}\"></div>\
                         <button id=\"popup\">Connect Jira</button> <button id=\"redirect\">Connect Jira (redirect)</button>\
                         <output id=\"result\"></output></body></html>"
                    ))
                }
            }),
        )
        .route(
            "/app.js",
            get(|| async {
                (
                    [("content-type", "text/javascript")],
                    "const t = document.getElementById('cfg').dataset.token;\n\
                     const out = document.getElementById('result');\n\
                     document.getElementById('popup').addEventListener('click', () => {\n\
                       jiragate.connect({ sessionToken: t }).then(\n\
                         r => { out.textContent = 'connected:' + r.connectionId; },\n\
                         e => { out.textContent = 'error:' + e.message; });\n\
                     });\n\
                     document.getElementById('redirect').addEventListener('click', () => {\n\
                       jiragate.connect({ sessionToken: t, mode: 'redirect' });\n\
                     });\n",
                )
            }),
        )
        .route(
            "/back",
            get(|Query(q): Query<HashMap<String, String>>| async move {
                Html(format!(
                    "<!doctype html><title>Back at Acme</title><output id=\"result\">{}:{}</output>",
                    q.get("status").cloned().unwrap_or_default(),
                    q.get("connection_id").cloned().unwrap_or_default()
                ))
            }),
        );
    let task = tokio::spawn(async move {
        axum::serve(listener, app).await.unwrap();
    });
    (base, task)
}

/// An embeddable session for `app` (its origin allowed first); returns (id, token, connect_url).
async fn embed_session(
    env: &Env,
    app: &str,
    body_extra: serde_json::Value,
) -> (String, String, String) {
    let r = env
        .client
        .send(
            reqwest::Method::PUT,
            &env.url("/api/v1/connect/settings"),
            Some(env.key()),
            Some(&json!({"return_origins": [app], "app_name": "Acme app"})),
            &[],
        )
        .await;
    assert_eq!(r.status, StatusCode::OK, "{}", r.text);
    let mut body = json!({"workspace_name": "customers", "return_url": format!("{app}/back"), "owner": "end-user-1"});
    for (k, v) in body_extra.as_object().unwrap() {
        body[k] = v.clone();
    }
    let r = env
        .client
        .post(&env.url("/api/v1/connect/sessions"), Some(env.key()), &body)
        .await;
    assert_eq!(r.status, StatusCode::CREATED, "{}", r.text);
    let v = r.json();
    assert!(v.get("authorize_url").is_none(), "{v}");
    (
        v["id"].as_str().unwrap().to_owned(),
        v["connect_token"].as_str().unwrap().to_owned(),
        v["connect_url"].as_str().unwrap().to_owned(),
    )
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn embeddable_connect_flow_popup_and_redirect_in_a_real_browser() {
    if !browser_available() {
        return;
    }
    let sim_cfg = SimConfig {
        consent_page: true,
        ..SimConfig::default()
    };
    let env = Env::start_with(Db::Sqlite, sim_cfg, |_| {}).await;
    crate::oauth::register_client(&env.client, &env.server.url, env.key(), &env.sim).await;
    let (app, _app_task) = start_app(env.server.url.clone()).await;
    let (_driver, b) = start_browser().await;
    let user = env.sim.users[0].clone();
    let result = async {
        // ---- popup: the app's page opens jiragate's connect page; the end user pastes a token
        let (_, token, _) = embed_session(&env, &app, json!({"name": "acme-user-1"})).await;
        b.goto(&format!("{app}/app.html?token={token}"))
            .await
            .unwrap();
        let main = b.window().await.unwrap();
        click(&b, "#popup").await;
        let deadline = tokio::time::Instant::now() + WAIT;
        let popup = loop {
            let handles = b.windows().await.unwrap();
            if let Some(h) = handles.into_iter().find(|h| *h != main) {
                break h;
            }
            assert!(tokio::time::Instant::now() < deadline, "no popup opened");
            tokio::time::sleep(Duration::from_millis(50)).await;
        };
        b.switch_to_window(popup).await.unwrap();
        assert_eq!(text_of(&b, "#app-name").await, "Acme app");
        assert!(
            !b.source().await.unwrap().contains(env.key()),
            "no jiragate key on the page"
        );
        screenshot(&b, "connect-popup").await;
        fill(&b, "#site", &env.sim.sites[0].subdomain).await;
        fill(&b, "#email", &user.email).await;
        fill(&b, "#token", &user.api_token).await;
        click(&b, "#connect-api-token").await;
        b.switch_to_window(main).await.unwrap();
        let deadline = tokio::time::Instant::now() + WAIT;
        let out = loop {
            let t = text_of(&b, "#result").await;
            if !t.is_empty() {
                break t;
            }
            assert!(
                tokio::time::Instant::now() < deadline,
                "the app heard nothing"
            );
            tokio::time::sleep(Duration::from_millis(50)).await;
        };
        let conn_id = out
            .strip_prefix("connected:")
            .unwrap_or_else(|| panic!("{out}"))
            .to_owned();
        let c = env
            .client
            .get(
                &env.url(&format!("/api/v1/integrations/connectors/{conn_id}")),
                Some(env.key()),
            )
            .await;
        assert_eq!(c.status, StatusCode::OK, "{}", c.text);
        let c = c.json();
        assert_eq!(c["name"], "acme-user-1", "{c}");
        assert_eq!(c["workspace_name"], "customers", "{c}");

        // ---- redirect: Connect with Atlassian, consent and site choice, back at return_url
        let (_, token, _) = embed_session(&env, &app, json!({"name": "acme-user-2"})).await;
        b.goto(&format!("{app}/app.html?token={token}"))
            .await
            .unwrap();
        click(&b, "#redirect").await;
        click(&b, "#connect-with-atlassian").await;
        click(&b, "button[value=approve]").await;
        let second = &env.sim.sites[1];
        click(
            &b,
            &format!("input[name=cloud_id][value='{}']", second.cloud_id),
        )
        .await;
        click(&b, "button[type=submit]").await;
        wait_path(&b, "/back").await;
        let back = text_of(&b, "#result").await;
        let conn_id = back
            .strip_prefix("connected:")
            .unwrap_or_else(|| panic!("{back}"))
            .to_owned();
        let c = env
            .client
            .get(
                &env.url(&format!("/api/v1/integrations/connectors/{conn_id}")),
                Some(env.key()),
            )
            .await
            .json();
        assert_eq!(c["name"], "acme-user-2", "{c}");
        assert!(
            c["site_url"].as_str().unwrap().contains(&second.subdomain),
            "{c}"
        );
    }
    .await;
    let _ = b.close().await;
    result
}

#[tokio::test]
async fn embeddable_connect_links_are_single_use_and_return_only_to_allowed_origins() {
    let env = Env::start(Db::Sqlite).await;
    let app = "http://127.0.0.1:9"; // never contacted: only its origin matters
    let (id, token, url) = embed_session(&env, app, json!({"name": "one"})).await;
    assert_eq!(url, env.url(&format!("/connect/{token}")));
    let c = http();
    // first open: a page secret cookie, and the token leaves the URL
    let r = c.get(&url).send().await.unwrap();
    assert_eq!(r.status(), StatusCode::SEE_OTHER);
    assert_eq!(r.headers()[LOCATION], format!("/connect/s/{id}"));
    let (name, value, flags) = cookie_pairs(r.headers()).into_iter().next().unwrap();
    assert_eq!(name, "jiragate_connect");
    assert!(
        flags.contains("HttpOnly") && flags.contains("Path=/connect"),
        "{flags}"
    );
    // second open: refused
    let again = c.get(&url).send().await.unwrap();
    assert_eq!(again.status(), StatusCode::GONE);
    assert!(again.text().await.unwrap().contains("already used"));
    // the page needs the cookie; with it, it shows the app and carries the CSP
    let no_cookie = c
        .get(env.url(&format!("/connect/s/{id}")))
        .send()
        .await
        .unwrap();
    assert_eq!(no_cookie.status(), StatusCode::FORBIDDEN);
    let page = c
        .get(env.url(&format!("/connect/s/{id}")))
        .header("cookie", format!("{name}={value}"))
        .send()
        .await
        .unwrap();
    assert_eq!(page.status(), StatusCode::OK);
    let csp = page.headers()["content-security-policy"]
        .to_str()
        .unwrap()
        .to_owned();
    assert!(
        csp.contains("frame-ancestors 'none'") && csp.contains("script-src 'self'"),
        "{csp}"
    );
    let html = page.text().await.unwrap();
    assert!(html.contains("Acme app"));
    assert!(!html.contains(env.key()));
    // a post without the page's CSRF token changes nothing
    let r = c
        .post(env.url(&format!("/connect/s/{id}/api-token")))
        .header("cookie", format!("{name}={value}"))
        .form(&[("site", "acme"), ("email", "a@b.c"), ("token", "t")])
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), StatusCode::FORBIDDEN);
    // a return_url off the allow-list is refused when the session is made
    let r = env
        .client
        .post(
            &env.url("/api/v1/connect/sessions"),
            Some(env.key()),
            &json!({"name": "two", "return_url": "https://evil.example/steal"}),
        )
        .await;
    let p = r.assert_problem(422, "validation");
    assert!(p["detail"].as_str().unwrap().contains("allow-list"), "{p}");
    // a plain-http origin off loopback cannot even be allowed
    let r = env
        .client
        .send(
            reqwest::Method::PUT,
            &env.url("/api/v1/connect/settings"),
            Some(env.key()),
            Some(&json!({"return_origins": ["http://app.example.com"]})),
            &[],
        )
        .await;
    r.assert_problem(422, "validation");
    // an unknown token
    let r = c.get(env.url("/connect/jgc_unknown")).send().await.unwrap();
    assert_eq!(r.status(), StatusCode::NOT_FOUND);
    // /connect.js is served for other origins' pages
    let js = c.get(env.url("/connect.js")).send().await.unwrap();
    assert_eq!(js.status(), StatusCode::OK);
    assert!(
        js.headers()["content-type"]
            .to_str()
            .unwrap()
            .starts_with("text/javascript")
    );
    assert!(js.text().await.unwrap().contains("jiragate.connect"));
}

#[tokio::test]
async fn console_lists_and_revokes_mcp_grants() {
    let env = Env::start(Db::Sqlite).await;
    let conn = env.seed_connector("jira").await;
    let (_client, tokens) = crate::mcp_auth::full_grant(&env, &conn, "jira:read").await;
    let access = tokens["access_token"].as_str().unwrap().to_owned();
    assert_eq!(
        crate::mcp_auth::mcp_status(&env, Some(&access)).await.0,
        StatusCode::OK
    );
    let (cookie, csrf) = sign_in(&env, env.key()).await;
    let c = http();
    let page = c
        .get(env.url(&format!("/console/mcp-grants?connection={conn}")))
        .header("cookie", &cookie)
        .send()
        .await
        .unwrap();
    assert_eq!(page.status(), StatusCode::OK);
    let html = page.text().await.unwrap();
    assert!(
        html.contains("w&#x2f;jira"),
        "the connection is named: {html}"
    ); // minijinja escapes "/"
    assert!(html.contains("jira:read"));
    assert!(!html.contains(&access), "no token on the page");
    let start =
        html.find("/console/mcp-grants/").expect("a revoke form") + "/console/mcp-grants/".len();
    let id = html[start..].split('/').next().unwrap().to_owned();
    let r = c
        .post(env.url(&format!("/console/mcp-grants/{id}/revoke")))
        .header("cookie", &cookie)
        .form(&[("csrf", csrf.as_str())])
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), StatusCode::SEE_OTHER);
    assert_eq!(
        crate::mcp_auth::mcp_status(&env, Some(&access)).await.0,
        StatusCode::UNAUTHORIZED,
        "the revoked grant's token no longer works"
    );
    let html = c
        .get(env.url("/console/mcp-grants"))
        .header("cookie", &cookie)
        .send()
        .await
        .unwrap()
        .text()
        .await
        .unwrap();
    assert!(html.contains("badge-revoked"));
}

async fn is_selected(b: &Browser, css: &str) -> bool {
    wait_css(b, css).await.is_selected().await.unwrap()
}

/// `GET /api/v1/mcp/settings` with the admin key.
async fn mcp_settings(env: &Env) -> serde_json::Value {
    let r = env
        .client
        .get(&env.url("/api/v1/mcp/settings"), Some(env.key()))
        .await;
    assert_eq!(r.status, StatusCode::OK, "{}", r.text);
    r.json()
}

/// The MCP sign-in setting in a real browser: an admin finds it from the MCP grants page,
/// switches to Atlassian sign-in through the registered OAuth client on one site (a bad site
/// name is refused on the page and changes nothing), and back; the API agrees at each step.
/// With plain HTTP: a key without `admin` can neither see nor change it, and a form without
/// the session's CSRF token changes nothing.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn console_changes_the_mcp_sign_in_setting_in_a_real_browser() {
    if !browser_available() {
        return;
    }
    let env = Env::start(Db::Sqlite).await;
    let oauth_client =
        crate::oauth::register_client(&env.client, &env.server.url, env.key(), &env.sim).await;
    let site = env.sim.sites[0].subdomain.clone();
    let (_driver, b) = start_browser().await;
    let result = async {
        b.goto(&env.url("/console/sign-in")).await.unwrap();
        fill(&b, "#api_key", env.key()).await;
        click(&b, "#sign-in button[type=submit]").await;
        wait_css(&b, "#new-connection-link").await;
        b.goto(&env.url("/console/mcp-grants")).await.unwrap();
        click(&b, "#mcp-settings-link").await;
        wait_path(&b, "/console/mcp-settings").await;
        assert!(is_selected(&b, "#sign_in_console").await);
        screenshot(&b, "mcp-settings").await;

        // Atlassian sign-in with a site name that cannot be one: refused, nothing changed.
        click(&b, "#sign_in_atlassian").await;
        wait_css(&b, "#oauth_client_id")
            .await
            .select_by_value(&oauth_client)
            .await
            .unwrap();
        fill(&b, "#subdomain", "not a site!").await;
        click(&b, "#save-mcp-settings").await;
        wait_text(&b, "#form-error", "subdomain").await;
        assert!(is_selected(&b, "#sign_in_atlassian").await);
        assert_eq!(mcp_settings(&env).await["sign_in"], "console");

        fill(&b, "#subdomain", &site).await;
        click(&b, "#save-mcp-settings").await;
        wait_text(&b, "#notice", "Saved").await;
        assert!(is_selected(&b, "#sign_in_atlassian").await);
        assert_eq!(
            wait_css(&b, "#subdomain")
                .await
                .prop("value")
                .await
                .unwrap()
                .as_deref(),
            Some(site.as_str())
        );
        let s = mcp_settings(&env).await;
        assert_eq!(s["sign_in"], "atlassian", "{s}");
        assert_eq!(s["oauth_client_id"], oauth_client.as_str(), "{s}");
        assert_eq!(s["subdomain"], site.as_str(), "{s}");

        // and back to console sessions. The page still shows the last "Saved" until the new
        // answer loads, so wait for the setting itself (bounded).
        click(&b, "#sign_in_console").await;
        click(&b, "#save-mcp-settings").await;
        let mut sign_in = serde_json::Value::Null;
        for _ in 0..100 {
            sign_in = mcp_settings(&env).await["sign_in"].clone();
            if sign_in == "console" {
                break;
            }
            tokio::time::sleep(std::time::Duration::from_millis(100)).await;
        }
        assert_eq!(sign_in, "console");
        wait_text(&b, "#notice", "Saved").await;
    }
    .await;
    let _ = b.close().await;

    // Not an admin: refused, to read as to change.
    let execute_key = env.key_with(&["execute"]).await;
    let cookie = session_cookie(&env, &execute_key).await;
    let c = http();
    let r = c
        .get(env.url("/console/mcp-settings"))
        .header("cookie", &cookie)
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), StatusCode::FORBIDDEN);
    let csrf = field(&r.text().await.unwrap(), "csrf");
    let r = c
        .post(env.url("/console/mcp-settings"))
        .header("cookie", &cookie)
        .form(&[("csrf", csrf.as_str()), ("sign_in", "atlassian")])
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), StatusCode::FORBIDDEN);
    // The admin's session without its CSRF token: refused.
    let (cookie, _) = sign_in(&env, env.key()).await;
    let r = c
        .post(env.url("/console/mcp-settings"))
        .header("cookie", &cookie)
        .form(&[
            ("sign_in", "atlassian"),
            ("oauth_client_id", oauth_client.as_str()),
        ])
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), StatusCode::FORBIDDEN);
    assert_eq!(mcp_settings(&env).await["sign_in"], "console");
    result
}

/// An MCP client's Atlassian sign-in in a real browser, from the authorization URL to the
/// client's redirect: the simulator signs its first user in, then jiragate's site choice page
/// (two sites, none configured) and its consent page, each form posted by Chromium itself —
/// with the `Origin` its referrer policy lets it send, which both forms check.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn mcp_atlassian_sign_in_with_a_site_choice_in_a_real_browser() {
    use crate::mcp_auth::{
        authorize_url, exchange, myself_through_mcp, pkce, query_of, register, serve_document,
        sign_in_connections, use_atlassian_sign_in,
    };
    if !browser_available() {
        return;
    }
    let env = Env::start(Db::Sqlite).await;
    use_atlassian_sign_in(&env, env.key(), None).await;
    // The MCP client's redirect page, on loopback.
    let landing = serve_document(|_| json!({"back": "at the client"})).await;
    let client_id = register(&env, &[&landing]).await;
    let p = pkce();
    let authorize = authorize_url(&env, &client_id, &landing, &p, &[]);
    let globex = env.sim.sites[1].clone();
    let (_driver, b) = start_browser().await;
    let back = async {
        b.goto(&authorize).await.unwrap();
        wait_path(&b, "/oauth/callback").await;
        screenshot(&b, "mcp-site-choice").await;
        click(&b, &format!("input[value=\"{}\"]", globex.cloud_id)).await;
        click(&b, "button[type=submit]").await;
        wait_path(&b, "/oauth/mcp/consent").await;
        wait_text(&b, "h1", "act as you").await;
        click(&b, "button[value=approve]").await;
        wait_path(&b, "/client.json").await;
        b.current_url().await.unwrap().to_string()
    }
    .await;
    let _ = b.close().await;
    let (status, tokens) = exchange(
        &env,
        &client_id,
        &landing,
        &query_of(&back)["code"],
        &p.verifier,
    )
    .await;
    assert_eq!(status, StatusCode::OK, "{tokens}");
    let me = myself_through_mcp(&env, tokens["access_token"].as_str().unwrap()).await;
    assert!(me.contains(&env.sim.users[0].account_id), "{me}");
    let conns = sign_in_connections(&env, env.key()).await;
    assert_eq!(conns.len(), 1, "{conns:?}");
    assert_eq!(conns[0]["cloud_id"], globex.cloud_id.as_str());
}
