//! `jiragate mcp-grants list|revoke`, locally and with `--server`, on a grant made through the
//! real authorization flow of `serve` (registration, console sign-in, consent, PKCE).

use std::process::Command;

use base64::Engine as _;
use serde_json::Value;
use sha2::{Digest, Sha256};

use crate::remote::serve;
use crate::support::*;

fn http() -> reqwest::Client {
    reqwest::Client::builder()
        .redirect(reqwest::redirect::Policy::none())
        .build()
        .unwrap()
}

fn field(html: &str, name: &str) -> String {
    let needle = format!("name=\"{name}\" value=\"");
    let start = html.find(&needle).unwrap_or_else(|| panic!("no {name}")) + needle.len();
    html[start..].split('"').next().unwrap().to_owned()
}

fn cookies(r: &reqwest::Response) -> String {
    r.headers()
        .get_all("set-cookie")
        .iter()
        .filter_map(|v| v.to_str().ok()?.split(';').next().map(str::to_owned))
        .collect::<Vec<_>>()
        .join("; ")
}

fn location(r: &reqwest::Response) -> String {
    r.headers()["location"].to_str().unwrap().to_owned()
}

/// Registers a client and runs the whole flow; returns the access token.
async fn grant(base: &str, key: &str, connection: &str) -> String {
    let c = http();
    let redirect = "http://127.0.0.1:4713/cb";
    let reg: Value = c
        .post(format!("{base}/oauth/mcp/register"))
        .json(&serde_json::json!({"client_name": "cli test", "redirect_uris": [redirect]}))
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    let client_id = reg["client_id"].as_str().unwrap().to_owned();
    let verifier = "v".repeat(43) + "cli-grants";
    let challenge = base64::engine::general_purpose::URL_SAFE_NO_PAD
        .encode(Sha256::digest(verifier.as_bytes()));
    let mut authorize = url::Url::parse(&format!("{base}/oauth/mcp/authorize")).unwrap();
    authorize.query_pairs_mut().extend_pairs([
        ("response_type", "code"),
        ("client_id", client_id.as_str()),
        ("redirect_uri", redirect),
        ("code_challenge", challenge.as_str()),
        ("code_challenge_method", "S256"),
        ("resource", &format!("{base}/mcp")),
        ("scope", "jira:read"),
    ]);
    let r = c.get(authorize).send().await.unwrap();
    let consent = location(&r);
    // sign in to the console
    let page = c
        .get(format!("{base}/console/sign-in"))
        .send()
        .await
        .unwrap();
    let pre = cookies(&page);
    let html = page.text().await.unwrap();
    let r = c
        .post(format!("{base}/console/sign-in"))
        .header("cookie", &pre)
        .form(&[
            ("csrf", field(&html, "csrf").as_str()),
            ("api_key", key),
            ("next", consent.as_str()),
        ])
        .send()
        .await
        .unwrap();
    let session = cookies(&r)
        .split("; ")
        .find(|c| c.starts_with("jiragate_session=") && c.len() > "jiragate_session=".len())
        .expect("session cookie")
        .to_owned();
    let html = c
        .get(format!("{base}{consent}"))
        .header("cookie", &session)
        .send()
        .await
        .unwrap()
        .text()
        .await
        .unwrap();
    let r = c
        .post(format!("{base}/console/mcp/consent"))
        .header("cookie", &session)
        .form(&[
            ("csrf", field(&html, "csrf")),
            ("request", field(&html, "request")),
            ("connection", connection.to_owned()),
            ("decision", "approve".to_owned()),
        ])
        .send()
        .await
        .unwrap();
    let back = url::Url::parse(&location(&r)).unwrap();
    let code = back
        .query_pairs()
        .find(|(k, _)| k == "code")
        .unwrap()
        .1
        .into_owned();
    let tokens: Value = c
        .post(format!("{base}/oauth/mcp/token"))
        .form(&[
            ("grant_type", "authorization_code"),
            ("client_id", client_id.as_str()),
            ("redirect_uri", redirect),
            ("code", code.as_str()),
            ("code_verifier", verifier.as_str()),
        ])
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    tokens["access_token"]
        .as_str()
        .expect("access token")
        .to_owned()
}

async fn mcp_status(base: &str, token: &str) -> u16 {
    http()
        .post(format!("{base}/mcp"))
        .bearer_auth(token)
        .header("accept", "application/json, text/event-stream")
        .json(&serde_json::json!({"jsonrpc": "2.0", "id": 1, "method": "initialize",
            "params": {"protocolVersion": "2025-06-18", "capabilities": {}, "clientInfo": {"name": "t", "version": "0"}}}))
        .send()
        .await
        .unwrap()
        .status()
        .as_u16()
}

#[tokio::test(flavor = "multi_thread")]
async fn mcp_grants_are_listed_and_revoked_locally_and_remotely() {
    let env = Env::new().await;
    let o = create_seed_connector(&env).await;
    assert!(o.status.success(), "{}", all_output(&o));
    let served = serve(&env).await;
    let o = env.jg(&["connectors", "list", "--output", "json"]).await;
    let conns: Value = serde_json::from_str(&stdout(&o)).unwrap();
    let conn = conns[0]["id"].as_str().unwrap().to_owned();
    let first = grant(&served.base, &served.key, &conn).await;
    let second = grant(&served.base, &served.key, &conn).await;
    assert_eq!(mcp_status(&served.base, &first).await, 200);

    // local mode, on the data dir
    let o = env
        .jg(&[
            "mcp-grants",
            "list",
            "--connection",
            "w/jira",
            "--output",
            "json",
        ])
        .await;
    assert!(o.status.success(), "{}", all_output(&o));
    let listed: Value = serde_json::from_str(&stdout(&o)).unwrap();
    assert_eq!(listed.as_array().unwrap().len(), 2, "{listed}");
    assert!(
        listed
            .as_array()
            .unwrap()
            .iter()
            .all(|g| g["client_name"] == "cli test" && g["scope"] == "jira:read")
    );
    let newest = listed[0]["id"].as_str().unwrap().to_owned();
    let o = env.jg(&["mcp-grants", "revoke", &newest]).await;
    assert!(o.status.success(), "{}", all_output(&o));
    assert_eq!(mcp_status(&served.base, &second).await, 401);
    assert_eq!(mcp_status(&served.base, &first).await, 200);

    // remote mode
    let remote = |c: &mut Command| {
        c.env("JIRAGATE_SERVER", &served.base)
            .env("JIRAGATE_API_KEY", &served.key);
    };
    let mut c = env.cmd();
    remote(&mut c);
    c.args(["mcp-grants", "list", "--output", "json"]);
    let o = run(c).await;
    assert!(o.status.success(), "{}", all_output(&o));
    let listed: Value = serde_json::from_str(&stdout(&o)).unwrap();
    let live = listed
        .as_array()
        .unwrap()
        .iter()
        .find(|g| g["revoked_at"].is_null())
        .unwrap()["id"]
        .as_str()
        .unwrap()
        .to_owned();
    let mut c = env.cmd();
    remote(&mut c);
    c.args(["mcp-grants", "revoke", &live]);
    let o = run(c).await;
    assert!(o.status.success(), "{}", all_output(&o));
    assert_eq!(mcp_status(&served.base, &first).await, 401);
    // an unknown grant: not found (exit 3)
    let o = env.jg(&["mcp-grants", "revoke", "no-such-grant"]).await;
    assert_eq!(o.status.code(), Some(3), "{}", all_output(&o));
}

#[tokio::test(flavor = "multi_thread")]
async fn mcp_settings_are_shown_and_set_locally_and_remotely() {
    let env = Env::new().await;
    let o = env.jg(&["mcp-settings", "show", "--output", "json"]).await;
    assert!(o.status.success(), "{}", all_output(&o));
    let shown: Value = serde_json::from_str(&stdout(&o)).unwrap();
    assert_eq!(shown["sign_in"], "console", "{shown}");
    // Atlassian sign-in needs the organization's OAuth client: refused while there is none.
    let o = env
        .jg(&["mcp-settings", "set", "--sign-in", "atlassian"])
        .await;
    assert!(!o.status.success(), "{}", all_output(&o));
    assert!(
        all_output(&o).contains("OAuth client"),
        "{}",
        all_output(&o)
    );
    let o = env
        .jg(&["mcp-settings", "set", "--sign-in", "by-magic"])
        .await;
    assert!(!o.status.success(), "{}", all_output(&o));
    let o = env
        .jg(&[
            "mcp-settings",
            "set",
            "--sign-in",
            "console",
            "--subdomain",
            "acme",
            "--output",
            "json",
        ])
        .await;
    assert!(o.status.success(), "{}", all_output(&o));
    let set: Value = serde_json::from_str(&stdout(&o)).unwrap();
    assert_eq!(set["subdomain"], "acme", "{set}");

    // remote mode sees and changes the same settings
    let served = serve(&env).await;
    let remote = |args: &[&str]| {
        let mut c = env.cmd();
        c.env("JIRAGATE_SERVER", &served.base)
            .env("JIRAGATE_API_KEY", &served.key)
            .args(args);
        c
    };
    let o = run(remote(&["mcp-settings", "show", "--output", "json"])).await;
    assert!(o.status.success(), "{}", all_output(&o));
    let shown: Value = serde_json::from_str(&stdout(&o)).unwrap();
    assert_eq!(
        (shown["sign_in"].as_str(), shown["subdomain"].as_str()),
        (Some("console"), Some("acme")),
        "{shown}"
    );
    let o = run(remote(&["mcp-settings", "set", "--sign-in", "atlassian"])).await;
    assert!(!o.status.success(), "{}", all_output(&o));
    assert!(
        all_output(&o).contains("OAuth client"),
        "{}",
        all_output(&o)
    );
}
