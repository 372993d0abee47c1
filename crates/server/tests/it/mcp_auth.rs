//! MCP authorization end to end on a real `serve` (App on 127.0.0.1:0) with the simulator:
//! discovery, DCR and client ID metadata documents (served by the test on loopback),
//! authorization with PKCE and consent in a console session (played with plain HTTP), tokens,
//! `/mcp` through rmcp's streamable HTTP client, and every refusal the RFCs name.

use std::collections::HashMap;
use std::time::Duration;

use base64::Engine as _;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use reqwest::StatusCode;
use rmcp::ServiceExt;
use rmcp::model::{CallToolRequestParams, CallToolResult, ClientConfig};
use rmcp::service::{RoleClient, RunningService};
use rmcp::transport::StreamableHttpClientTransport;
use rmcp::transport::streamable_http_client::StreamableHttpClientTransportConfig;
use serde_json::{Value, json};
use sha2::{Digest, Sha256};

use crate::both_backends;
use crate::common::{Db, Env};
use crate::console::{field, http, sign_in};

const LOOPBACK_REDIRECT: &str = "http://127.0.0.1/callback";

struct Pkce {
    verifier: String,
    challenge: String,
}

fn pkce() -> Pkce {
    let verifier = format!(
        "{}-{}",
        uuid::Uuid::new_v4().simple(),
        uuid::Uuid::new_v4().simple()
    );
    let challenge = URL_SAFE_NO_PAD.encode(Sha256::digest(verifier.as_bytes()));
    Pkce {
        verifier,
        challenge,
    }
}

fn query_of(location: &str) -> HashMap<String, String> {
    url::Url::parse(location)
        .unwrap()
        .query_pairs()
        .map(|(k, v)| (k.into_owned(), v.into_owned()))
        .collect()
}

async fn register(env: &Env, redirect_uris: &[&str]) -> String {
    let r = http()
        .post(env.url("/oauth/mcp/register"))
        .json(
            &json!({"client_name": "Test <Agent>", "redirect_uris": redirect_uris,
                      "grant_types": ["authorization_code", "refresh_token"],
                      "token_endpoint_auth_method": "none"}),
        )
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), StatusCode::CREATED);
    let v: Value = r.json().await.unwrap();
    assert_eq!(v["token_endpoint_auth_method"], "none");
    v["client_id"].as_str().unwrap().to_owned()
}

/// The authorization request's query, with `overrides` replacing (or, with `None`, removing)
/// parameters.
fn authorize_url(
    env: &Env,
    client_id: &str,
    redirect_uri: &str,
    p: &Pkce,
    overrides: &[(&str, Option<&str>)],
) -> String {
    let resource = env.url("/mcp");
    let mut params: Vec<(String, String)> = [
        ("response_type", "code"),
        ("client_id", client_id),
        ("redirect_uri", redirect_uri),
        ("code_challenge", p.challenge.as_str()),
        ("code_challenge_method", "S256"),
        ("state", "st-42"),
        ("resource", resource.as_str()),
        ("scope", "jira:read"),
    ]
    .iter()
    .map(|(k, v)| (k.to_string(), v.to_string()))
    .collect();
    for (k, v) in overrides {
        params.retain(|(pk, _)| pk != k);
        if let Some(v) = v {
            params.push((k.to_string(), v.to_string()));
        }
    }
    let mut u = url::Url::parse(&env.url("/oauth/mcp/authorize")).unwrap();
    u.query_pairs_mut().extend_pairs(params);
    u.to_string()
}

/// GET the authorization endpoint without following redirects.
async fn start(url: &str) -> reqwest::Response {
    http().get(url).send().await.unwrap()
}

fn location(r: &reqwest::Response) -> String {
    r.headers()
        .get("location")
        .unwrap_or_else(|| panic!("no Location on {}", r.status()))
        .to_str()
        .unwrap()
        .to_owned()
}

/// Consent page fields for a pending request, signed in as `cookie`.
async fn consent_page(env: &Env, consent_path: &str, cookie: &str) -> String {
    let r = http()
        .get(env.url(consent_path))
        .header("cookie", cookie)
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), StatusCode::OK);
    let csp = r.headers()["content-security-policy"]
        .to_str()
        .unwrap()
        .to_owned();
    assert!(
        csp.contains("default-src 'none'") && !csp.contains("script-src"),
        "{csp}"
    );
    r.text().await.unwrap()
}

async fn post_consent(env: &Env, cookie: &str, form: &[(&str, &str)]) -> reqwest::Response {
    http()
        .post(env.url("/console/mcp/consent"))
        .header("cookie", cookie)
        .form(form)
        .send()
        .await
        .unwrap()
}

/// The whole browser part: authorize → (sign-in) → consent → code. Returns the redirect's
/// query (code, state, iss).
async fn authorize_and_approve(
    env: &Env,
    client_id: &str,
    redirect_uri: &str,
    p: &Pkce,
    scope: &str,
    connection: &str,
    cookie: &str,
) -> HashMap<String, String> {
    let r = start(&authorize_url(
        env,
        client_id,
        redirect_uri,
        p,
        &[("scope", Some(scope))],
    ))
    .await;
    assert_eq!(r.status(), StatusCode::SEE_OTHER);
    let consent = location(&r);
    assert!(
        consent.starts_with("/console/mcp/consent?request="),
        "{consent}"
    );
    let html = consent_page(env, &consent, cookie).await;
    let csrf = field(&html, "csrf");
    let request = field(&html, "request");
    let r = post_consent(
        env,
        cookie,
        &[
            ("csrf", &csrf),
            ("request", &request),
            ("connection", connection),
            ("decision", "approve"),
        ],
    )
    .await;
    assert_eq!(r.status(), StatusCode::SEE_OTHER);
    let back = location(&r);
    assert!(back.starts_with(redirect_uri), "{back}");
    query_of(&back)
}

async fn token(env: &Env, form: &[(&str, &str)]) -> (StatusCode, Value) {
    let r = http()
        .post(env.url("/oauth/mcp/token"))
        .form(form)
        .send()
        .await
        .unwrap();
    let status = r.status();
    assert_eq!(r.headers()["cache-control"], "no-store");
    (status, r.json().await.unwrap())
}

async fn exchange(
    env: &Env,
    client_id: &str,
    redirect_uri: &str,
    code: &str,
    verifier: &str,
) -> (StatusCode, Value) {
    token(
        env,
        &[
            ("grant_type", "authorization_code"),
            ("client_id", client_id),
            ("redirect_uri", redirect_uri),
            ("code", code),
            ("code_verifier", verifier),
            ("resource", &env.url("/mcp")),
        ],
    )
    .await
}

async fn refresh(env: &Env, client_id: &str, refresh_token: &str) -> (StatusCode, Value) {
    token(
        env,
        &[
            ("grant_type", "refresh_token"),
            ("client_id", client_id),
            ("refresh_token", refresh_token),
        ],
    )
    .await
}

pub(crate) async fn mcp_client(url: &str, token: &str) -> RunningService<RoleClient, ClientConfig> {
    mcp_client_with(url, token, ClientConfig::default()).await
}

/// An rmcp client over streamable HTTP with `handler` receiving what the server sends.
pub(crate) async fn mcp_client_with<H: rmcp::ClientHandler>(
    url: &str,
    token: &str,
    handler: H,
) -> RunningService<RoleClient, H> {
    let transport = StreamableHttpClientTransport::from_config(
        StreamableHttpClientTransportConfig::with_uri(url.to_owned()).auth_header(token.to_owned()),
    );
    tokio::time::timeout(Duration::from_secs(20), handler.serve(transport))
        .await
        .expect("initialize within 20 s")
        .expect("initialize over HTTP")
}

async fn call(
    client: &RunningService<RoleClient, ClientConfig>,
    name: &str,
    args: Value,
) -> CallToolResult {
    let request = CallToolRequestParams::new(name.to_owned())
        .with_arguments(args.as_object().cloned().unwrap_or_default());
    tokio::time::timeout(Duration::from_secs(30), client.call_tool(request))
        .await
        .expect("call in time")
        .expect("a tool result")
}

fn text(r: &CallToolResult) -> String {
    r.content
        .iter()
        .filter_map(|c| c.as_text())
        .map(|t| t.text.as_str())
        .collect::<Vec<_>>()
        .join("\n")
}

/// `POST /mcp` initialize with a bearer token: status and `WWW-Authenticate`.
pub(crate) async fn mcp_status(env: &Env, bearer: Option<&str>) -> (StatusCode, String) {
    let mut req = http()
        .post(env.url("/mcp"))
        .header("accept", "application/json, text/event-stream")
        .json(&json!({"jsonrpc": "2.0", "id": 1, "method": "initialize",
            "params": {"protocolVersion": "2025-06-18", "capabilities": {}, "clientInfo": {"name": "t", "version": "0"}}}));
    if let Some(b) = bearer {
        req = req.bearer_auth(b);
    }
    let r = req.send().await.unwrap();
    let www = r
        .headers()
        .get("www-authenticate")
        .map(|v| v.to_str().unwrap().to_owned())
        .unwrap_or_default();
    (r.status(), www)
}

/// `POST /mcp` with one JSON-RPC `tools/call` and a bearer token: status and
/// `WWW-Authenticate`.
async fn mcp_tool_call_status(
    env: &Env,
    bearer: &str,
    name: &str,
    arguments: Value,
) -> (StatusCode, String) {
    let r = http()
        .post(env.url("/mcp"))
        .header("accept", "application/json, text/event-stream")
        .bearer_auth(bearer)
        .json(&json!({"jsonrpc": "2.0", "id": 7, "method": "tools/call",
            "params": {"name": name, "arguments": arguments}}))
        .send()
        .await
        .unwrap();
    let www = r
        .headers()
        .get("www-authenticate")
        .map(|v| v.to_str().unwrap().to_owned())
        .unwrap_or_default();
    (r.status(), www)
}

/// Signs in, approves, exchanges: (client_id, tokens).
pub(crate) async fn full_grant(env: &Env, connection: &str, scope: &str) -> (String, Value) {
    let client_id = register(env, &[LOOPBACK_REDIRECT]).await;
    let (cookie, _) = sign_in(env, env.key()).await;
    let p = pkce();
    let back = authorize_and_approve(
        env,
        &client_id,
        "http://127.0.0.1:4711/callback",
        &p,
        scope,
        connection,
        &cookie,
    )
    .await;
    let (status, tokens) = exchange(
        env,
        &client_id,
        "http://127.0.0.1:4711/callback",
        &back["code"],
        &p.verifier,
    )
    .await;
    assert_eq!(status, StatusCode::OK, "{tokens}");
    (client_id, tokens)
}

both_backends!(mcp_discovery_and_challenge, |db: Db| async move {
    let env = Env::start(db).await;
    let (status, www) = mcp_status(&env, None).await;
    assert_eq!(status, StatusCode::UNAUTHORIZED);
    let meta_url = env.url("/.well-known/oauth-protected-resource/mcp");
    assert!(
        www.starts_with("Bearer ") && www.contains(&format!("resource_metadata=\"{meta_url}\"")),
        "{www}"
    );
    // a key that is not one: invalid_token, with the pointer too
    let (status, www) = mcp_status(&env, Some("jg_not-a-key")).await;
    assert_eq!(status, StatusCode::UNAUTHORIZED);
    assert!(
        www.contains("error=\"invalid_token\"") && www.contains("resource_metadata="),
        "{www}"
    );
    // API keys keep working
    assert_eq!(mcp_status(&env, Some(env.key())).await.0, StatusCode::OK);

    for path in [
        "/.well-known/oauth-protected-resource/mcp",
        "/.well-known/oauth-protected-resource",
    ] {
        let prm: Value = http()
            .get(env.url(path))
            .send()
            .await
            .unwrap()
            .json()
            .await
            .unwrap();
        assert_eq!(prm["resource"], env.url("/mcp"));
        assert_eq!(prm["authorization_servers"], json!([env.server.url]));
    }
    let asm: Value = http()
        .get(env.url("/.well-known/oauth-authorization-server"))
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    assert_eq!(asm["issuer"], env.server.url);
    assert_eq!(asm["code_challenge_methods_supported"], json!(["S256"]));
    assert_eq!(asm["authorization_response_iss_parameter_supported"], true);
    assert_eq!(asm["client_id_metadata_document_supported"], true);
    for ep in [
        "authorization_endpoint",
        "token_endpoint",
        "registration_endpoint",
        "revocation_endpoint",
    ] {
        assert!(
            asm[ep].as_str().unwrap().starts_with(&env.server.url),
            "{ep}"
        );
    }
});

both_backends!(
    mcp_dcr_consent_tools_refresh_rotation,
    |db: Db| async move {
        let env = Env::start(db).await;
        let conn = env.seed_connector("granted").await;
        let _other = env.seed_connector("not-granted").await;
        let client_id = register(&env, &[LOOPBACK_REDIRECT]).await;
        let p = pkce();
        // Not signed in: the consent page sends the browser to sign in, and back.
        let r = start(&authorize_url(
            &env,
            &client_id,
            "http://127.0.0.1:4711/callback",
            &p,
            &[],
        ))
        .await;
        let consent = location(&r);
        let r = http().get(env.url(&consent)).send().await.unwrap();
        assert_eq!(r.status(), StatusCode::SEE_OTHER);
        let to_sign_in = location(&r);
        assert!(
            to_sign_in.starts_with("/console/sign-in?next="),
            "{to_sign_in}"
        );
        assert_eq!(query_of(&env.url(&to_sign_in))["next"], consent);
        let (cookie, _) = sign_in(&env, env.key()).await;
        let html = consent_page(&env, &consent, &cookie).await;
        assert!(
            html.contains("Test &lt;Agent&gt;") && html.contains("127.0.0.1"),
            "{html}"
        );
        assert!(html.contains("jira:read") && !html.contains("jira:write"));
        let (csrf, request) = (field(&html, "csrf"), field(&html, "request"));
        // wrong CSRF token: refused, request still pending
        let r = post_consent(
            &env,
            &cookie,
            &[
                ("csrf", "nope"),
                ("request", &request),
                ("connection", &conn),
                ("decision", "approve"),
            ],
        )
        .await;
        assert_eq!(r.status(), StatusCode::FORBIDDEN);
        let form = [
            ("csrf", csrf.as_str()),
            ("request", request.as_str()),
            ("connection", conn.as_str()),
            ("decision", "approve"),
        ];
        let r = post_consent(&env, &cookie, &form).await;
        assert_eq!(r.status(), StatusCode::SEE_OTHER);
        let back = query_of(&location(&r));
        assert_eq!(back["state"], "st-42");
        assert_eq!(back["iss"], env.server.url);
        // consent replayed: refused, no second code
        let r = post_consent(&env, &cookie, &form).await;
        assert_eq!(r.status(), StatusCode::BAD_REQUEST);
        assert!(r.headers().get("location").is_none());

        let (status, tokens) = exchange(
            &env,
            &client_id,
            "http://127.0.0.1:4711/callback",
            &back["code"],
            &p.verifier,
        )
        .await;
        assert_eq!(status, StatusCode::OK, "{tokens}");
        assert_eq!(tokens["token_type"], "Bearer");
        assert_eq!(tokens["scope"], "jira:read");
        let access = tokens["access_token"].as_str().unwrap().to_owned();
        let refresh_token = tokens["refresh_token"].as_str().unwrap().to_owned();
        // the code is single-use; using it twice revokes what it produced
        let (status, err) = exchange(
            &env,
            &client_id,
            "http://127.0.0.1:4711/callback",
            &back["code"],
            &p.verifier,
        )
        .await;
        assert_eq!(
            (status, err["error"].as_str()),
            (StatusCode::BAD_REQUEST, Some("invalid_grant"))
        );
        assert_eq!(
            mcp_status(&env, Some(&access)).await.0,
            StatusCode::UNAUTHORIZED
        );

        // a fresh grant for the tool calls
        let (client_id, tokens) = full_grant(&env, &conn, "jira:read").await;
        let access = tokens["access_token"].as_str().unwrap().to_owned();
        let refresh_token_2 = tokens["refresh_token"].as_str().unwrap().to_owned();
        assert_ne!(refresh_token, refresh_token_2);
        let client = mcp_client(&env.url("/mcp"), &access).await;
        let tools = client.list_all_tools().await.unwrap();
        assert!(tools.iter().any(|t| t.name == "jira_search_issues"));
        let listed = call(&client, "jira_list_connections", json!({})).await;
        let listed = text(&listed);
        assert!(
            listed.contains("granted") && !listed.contains("not-granted"),
            "{listed}"
        );
        let project = env.project_keys().await.into_iter().next().unwrap();
        let found = call(
            &client,
            "jira_search_issues",
            json!({"connection": conn, "jql": format!("project = {project}"), "limit": 2}),
        )
        .await;
        assert_ne!(found.is_error, Some(true), "{}", text(&found));
        // A write on the read-only grant: 403 with an insufficient_scope challenge for
        // jira:write (MCP authorization 2026-07-28, runtime insufficient scope), before the
        // call runs — by a first-class write tool and through jira_execute alike.
        for (name, args) in [
            (
                "jira_create_issue",
                json!({"connection": conn, "project": project, "summary": "x", "issue_type": "Task"}),
            ),
            (
                "jira_execute",
                json!({"connection": conn, "entity": "issues", "action": "create",
                        "params": {"fields": {"project": {"key": project}, "summary": "x"}}}),
            ),
        ] {
            let (status, www) = mcp_tool_call_status(&env, &access, name, args).await;
            assert_eq!(status, StatusCode::FORBIDDEN, "{name}");
            assert!(
                www.starts_with("Bearer error=\"insufficient_scope\"")
                    && www.contains("scope=\"jira:write\"")
                    && www.contains(&format!(
                        "resource_metadata=\"{}\"",
                        env.url("/.well-known/oauth-protected-resource/mcp")
                    )),
                "{www}"
            );
        }
        // reads through jira_execute are not challenged
        let (status, _) = mcp_tool_call_status(
            &env,
            &access,
            "jira_execute",
            json!({"connection": conn, "entity": "myself", "action": "get"}),
        )
        .await;
        assert_ne!(status, StatusCode::FORBIDDEN);
        let other = call(
            &client,
            "jira_search_issues",
            json!({"connection": "w/not-granted", "jql": "order by key"}),
        )
        .await;
        assert_eq!(other.is_error, Some(true), "{}", text(&other));
        let _ = client.cancel().await;

        // rotation: the new pair works, the old refresh token is now a reuse that revokes the grant
        let (status, rotated) = refresh(&env, &client_id, &refresh_token_2).await;
        assert_eq!(status, StatusCode::OK, "{rotated}");
        let access_2 = rotated["access_token"].as_str().unwrap().to_owned();
        assert_eq!(mcp_status(&env, Some(&access_2)).await.0, StatusCode::OK);
        let (status, err) = refresh(&env, &client_id, &refresh_token_2).await;
        assert_eq!(
            (status, err["error"].as_str()),
            (StatusCode::BAD_REQUEST, Some("invalid_grant")),
            "{err}"
        );
        let (status, www) = mcp_status(&env, Some(&access_2)).await;
        assert_eq!(status, StatusCode::UNAUTHORIZED);
        assert!(www.contains("invalid_token"), "{www}");
        let (status, _) =
            refresh(&env, &client_id, rotated["refresh_token"].as_str().unwrap()).await;
        assert_eq!(status, StatusCode::BAD_REQUEST);
        // the grants API shows it revoked
        let grants = env
            .client
            .get(
                &env.url(&format!("/api/v1/mcp/grants?connection={conn}")),
                Some(env.key()),
            )
            .await
            .json();
        let g = grants["data"]
            .as_array()
            .unwrap()
            .iter()
            .find(|g| g["client_id"] == client_id.as_str())
            .unwrap()
            .clone();
        assert!(g["revoked_at"].is_string(), "{g}");
        assert_eq!(g["connection_id"], conn.as_str());
    }
);

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn mcp_authorization_refusals() {
    let env = Env::start(Db::Sqlite).await;
    let conn = env.seed_connector("c").await;
    let client_id = register(&env, &[LOOPBACK_REDIRECT, "https://app.example/cb"]).await;
    let p = pkce();
    let cb = "http://127.0.0.1:9/callback";
    // PKCE missing / plain; resource missing / foreign; unknown scope: error redirects with state and iss
    for (over, error) in [
        (vec![("code_challenge", None)], "invalid_request"),
        (
            vec![("code_challenge_method", Some("plain"))],
            "invalid_request",
        ),
        (vec![("resource", None)], "invalid_target"),
        (
            vec![("resource", Some("https://elsewhere.example/mcp"))],
            "invalid_target",
        ),
        (vec![("scope", Some("admin"))], "invalid_scope"),
    ] {
        let r = start(&authorize_url(&env, &client_id, cb, &p, &over)).await;
        assert_eq!(r.status(), StatusCode::SEE_OTHER, "{over:?}");
        let back = location(&r);
        assert!(back.starts_with(cb), "{back}");
        let q = query_of(&back);
        assert_eq!(q["error"], error, "{over:?}");
        assert_eq!(q["state"], "st-42");
        assert_eq!(q["iss"], env.server.url);
    }
    // redirect URI mismatch: an error page, never a redirect to it
    for bad in [
        "https://app.example/cb/other",
        "https://evil.example/cb",
        "http://127.0.0.1:9/elsewhere",
    ] {
        let r = start(&authorize_url(&env, &client_id, bad, &p, &[])).await;
        assert_eq!(r.status(), StatusCode::BAD_REQUEST, "{bad}");
        assert!(r.headers().get("location").is_none());
        assert!(r.text().await.unwrap().contains("redirect_uri"));
    }
    // unknown client: an error page
    let r = start(&authorize_url(&env, "jgmc_unknown", cb, &p, &[])).await;
    assert_eq!(r.status(), StatusCode::BAD_REQUEST);

    let (cookie, _) = sign_in(&env, env.key()).await;
    // wrong verifier, missing verifier, redirect mismatch at the token endpoint, another client
    let cases: [(&str, &str, Option<&str>, &str); 4] = [
        (
            "wrong verifier",
            cb,
            Some("x".repeat(50).leak()),
            "invalid_grant",
        ),
        ("no verifier", cb, None, "invalid_request"),
        (
            "redirect differs",
            "http://127.0.0.1:9/other",
            Some(p.verifier.as_str()),
            "invalid_grant",
        ),
        (
            "other client",
            cb,
            Some(p.verifier.as_str()),
            "invalid_grant",
        ),
    ];
    for (what, redirect, verifier, error) in cases {
        let back =
            authorize_and_approve(&env, &client_id, cb, &p, "jira:read", &conn, &cookie).await;
        let client = if what == "other client" {
            "jgmc_someone-else"
        } else {
            client_id.as_str()
        };
        let mut form = vec![
            ("grant_type", "authorization_code"),
            ("client_id", client),
            ("redirect_uri", redirect),
            ("code", back["code"].as_str()),
        ];
        if let Some(v) = verifier {
            form.push(("code_verifier", v));
        }
        let (status, err) = token(&env, &form).await;
        assert_eq!(status, StatusCode::BAD_REQUEST, "{what}: {err}");
        assert_eq!(err["error"], error, "{what}: {err}");
        assert!(err["error_description"].is_string());
    }
    // a token request for another resource
    let back = authorize_and_approve(&env, &client_id, cb, &p, "jira:read", &conn, &cookie).await;
    let (status, err) = token(
        &env,
        &[
            ("grant_type", "authorization_code"),
            ("client_id", &client_id),
            ("redirect_uri", cb),
            ("code", &back["code"]),
            ("code_verifier", &p.verifier),
            ("resource", "https://elsewhere.example/mcp"),
        ],
    )
    .await;
    assert_eq!(
        (status, err["error"].as_str()),
        (StatusCode::BAD_REQUEST, Some("invalid_target"))
    );
    let (status, err) = token(
        &env,
        &[("grant_type", "password"), ("client_id", &client_id)],
    )
    .await;
    assert_eq!(
        (status, err["error"].as_str()),
        (StatusCode::BAD_REQUEST, Some("unsupported_grant_type"))
    );

    // a revoked grant (through the API): access and refresh refused
    let (client_a, tokens) = full_grant(&env, &conn, "jira:read jira:write").await;
    let access = tokens["access_token"].as_str().unwrap();
    assert_eq!(tokens["scope"], "jira:read jira:write");
    assert_eq!(mcp_status(&env, Some(access)).await.0, StatusCode::OK);
    let grants = env
        .client
        .get(&env.url("/api/v1/mcp/grants"), Some(env.key()))
        .await
        .json();
    let id = grants["data"]
        .as_array()
        .unwrap()
        .iter()
        .find(|g| g["client_id"] == client_a.as_str())
        .unwrap()["id"]
        .as_str()
        .unwrap()
        .to_owned();
    let execute_only = env.key_with(&["execute"]).await;
    let r = env
        .client
        .send(
            reqwest::Method::DELETE,
            &env.url(&format!("/api/v1/mcp/grants/{id}")),
            Some(&execute_only),
            None,
            &[],
        )
        .await;
    assert_eq!(r.status, StatusCode::FORBIDDEN, "{}", r.text);
    let r = env
        .client
        .send(
            reqwest::Method::DELETE,
            &env.url(&format!("/api/v1/mcp/grants/{id}")),
            Some(env.key()),
            None,
            &[],
        )
        .await;
    assert_eq!(r.status, StatusCode::NO_CONTENT, "{}", r.text);
    let (status, www) = mcp_status(&env, Some(access)).await;
    assert_eq!(status, StatusCode::UNAUTHORIZED);
    assert!(www.contains("invalid_token"), "{www}");
    let (status, err) = refresh(&env, &client_a, tokens["refresh_token"].as_str().unwrap()).await;
    assert_eq!(
        (status, err["error"].as_str()),
        (StatusCode::BAD_REQUEST, Some("invalid_grant"))
    );

    // RFC 7009: revoking the refresh token ends the grant
    let (client_b, tokens) = full_grant(&env, &conn, "jira:read").await;
    let r = http()
        .post(env.url("/oauth/mcp/revoke"))
        .form(&[
            ("token", tokens["refresh_token"].as_str().unwrap()),
            ("client_id", &client_b),
        ])
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), StatusCode::OK);
    assert_eq!(
        mcp_status(&env, Some(tokens["access_token"].as_str().unwrap()))
            .await
            .0,
        StatusCode::UNAUTHORIZED
    );
    // an unknown token is not an error (RFC 7009 §2.2)
    let r = http()
        .post(env.url("/oauth/mcp/revoke"))
        .form(&[("token", "jgma_unknown")])
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), StatusCode::OK);

    // a grant ends with the API key that approved it
    let cookie_exec = crate::console::session_cookie(&env, &execute_only).await;
    let client_c = register(&env, &[LOOPBACK_REDIRECT]).await;
    let pc = pkce();
    let back =
        authorize_and_approve(&env, &client_c, cb, &pc, "jira:read", &conn, &cookie_exec).await;
    let (status, tokens) = exchange(&env, &client_c, cb, &back["code"], &pc.verifier).await;
    assert_eq!(status, StatusCode::OK, "{tokens}");
    let access_c = tokens["access_token"].as_str().unwrap();
    assert_eq!(mcp_status(&env, Some(access_c)).await.0, StatusCode::OK);
    let keys = env
        .client
        .get(&env.url("/api/v1/keys"), Some(env.key()))
        .await
        .json();
    let key_id = keys["data"]
        .as_array()
        .unwrap()
        .iter()
        .find(|k| k["name"] == "k-execute")
        .unwrap()["id"]
        .as_str()
        .unwrap()
        .to_owned();
    let r = env
        .client
        .send(
            reqwest::Method::DELETE,
            &env.url(&format!("/api/v1/keys/{key_id}")),
            Some(env.key()),
            None,
            &[],
        )
        .await;
    assert!(r.status.is_success(), "{}", r.text);
    assert_eq!(
        mcp_status(&env, Some(access_c)).await.0,
        StatusCode::UNAUTHORIZED
    );
    let (status, err) = refresh(&env, &client_c, tokens["refresh_token"].as_str().unwrap()).await;
    assert_eq!(
        (status, err["error"].as_str()),
        (StatusCode::BAD_REQUEST, Some("invalid_grant")),
        "{err}"
    );

    // the person declines: access_denied with state and iss
    let r = start(&authorize_url(&env, &client_id, cb, &p, &[])).await;
    let html = consent_page(&env, &location(&r), &cookie).await;
    let r = post_consent(
        &env,
        &cookie,
        &[
            ("csrf", &field(&html, "csrf")),
            ("request", &field(&html, "request")),
            ("decision", "deny"),
        ],
    )
    .await;
    let q = query_of(&location(&r));
    assert_eq!(
        (q["error"].as_str(), q["state"].as_str()),
        ("access_denied", "st-42")
    );
    assert!(!q.contains_key("code"));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn mcp_tokens_expire_and_are_bound_to_one_resource() {
    // PostgreSQL: two instances share the database (SQLite allows one `serve`).
    let env = Env::start_with(Db::Postgres, Default::default(), |cfg| {
        cfg.mcp_auth.access_ttl = time::Duration::seconds(2);
    })
    .await;
    let pg_url = env._pg.as_ref().expect("postgres").url.clone();
    let conn = env.seed_connector("c").await;
    let (client_id, tokens) = full_grant(&env, &conn, "jira:read").await;
    let access = tokens["access_token"].as_str().unwrap().to_owned();
    assert_eq!(tokens["expires_in"], 2);
    // the database holds hashes only
    let pool = sqlx::PgPool::connect(&pg_url).await.unwrap();
    let stored: String =
        sqlx::query_scalar("SELECT coalesce(string_agg(t::text, ' '), '') FROM mcp_tokens t")
            .fetch_one(&pool)
            .await
            .unwrap();
    assert!(
        stored.len() > 64,
        "the token table holds the grant's hashes: {stored}"
    );
    pool.close().await;
    for secret in [access.as_str(), tokens["refresh_token"].as_str().unwrap()] {
        assert!(
            !stored.contains(secret),
            "a token is in the database in clear"
        );
        let body = secret.split_once('_').unwrap().1;
        assert!(!stored.contains(body));
    }
    assert_eq!(mcp_status(&env, Some(&access)).await.0, StatusCode::OK);

    // A second instance on the same database has another public URL, so another resource:
    // the token was not issued for it.
    let mut cfg = crate::common::base_config(&env.sim, env._dir.path());
    cfg.database_url = pg_url.clone();
    cfg.mcp_auth.access_ttl = time::Duration::seconds(2);
    let other = jiragate_server::App::build(cfg).await.unwrap();
    let other = crate::common::Server::spawn(other).await;
    let r = http()
        .post(format!("{}/mcp", other.url))
        .header("accept", "application/json, text/event-stream")
        .bearer_auth(&access)
        .json(&json!({"jsonrpc": "2.0", "id": 1, "method": "initialize", "params": {"protocolVersion": "2025-06-18", "capabilities": {}, "clientInfo": {"name": "t", "version": "0"}}}))
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), StatusCode::UNAUTHORIZED);
    let www = r.headers()["www-authenticate"].to_str().unwrap().to_owned();
    assert!(
        www.contains("invalid_token") && www.contains("another resource"),
        "{www}"
    );
    // and it refuses the refresh token for its own resource
    let r = http()
        .post(format!("{}/oauth/mcp/token", other.url))
        .form(&[
            ("grant_type", "refresh_token"),
            ("client_id", client_id.as_str()),
            ("refresh_token", tokens["refresh_token"].as_str().unwrap()),
            ("resource", &format!("{}/mcp", other.url)),
        ])
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), StatusCode::BAD_REQUEST);
    let err: Value = r.json().await.unwrap();
    assert_eq!(err["error"], "invalid_target", "{err}");

    tokio::time::sleep(Duration::from_millis(2500)).await;
    let (status, www) = mcp_status(&env, Some(&access)).await;
    assert_eq!(status, StatusCode::UNAUTHORIZED);
    assert!(www.contains("expired"), "{www}");
    // the refresh token still works and gives a fresh access token
    let (status, rotated) =
        refresh(&env, &client_id, tokens["refresh_token"].as_str().unwrap()).await;
    assert_eq!(status, StatusCode::OK, "{rotated}");
    assert_eq!(
        mcp_status(&env, Some(rotated["access_token"].as_str().unwrap()))
            .await
            .0,
        StatusCode::OK
    );
}

/// Serves `doc` at `/client.json` on loopback; returns its URL.
async fn serve_document(doc: impl Fn(&str) -> Value + Send + Sync + 'static) -> String {
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let url = format!("http://{}/client.json", listener.local_addr().unwrap());
    let body = doc(&url).to_string();
    let app = axum::Router::new().route(
        "/client.json",
        axum::routing::get(move || {
            let body = body.clone();
            async move { ([("content-type", "application/json")], body) }
        }),
    );
    tokio::spawn(async move {
        let _ = axum::serve(listener, app).await;
    });
    url
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn mcp_client_id_metadata_documents() {
    let doc = |url: &str| json!({"client_id": url, "client_name": "CIMD Agent", "redirect_uris": [LOOPBACK_REDIRECT], "token_endpoint_auth_method": "none"});
    let good = serve_document(doc).await;
    let p = pkce();
    let cb = "http://127.0.0.1:5000/callback";

    // Without the operator's allowance: neither http nor a loopback address is fetched.
    let env = Env::start(Db::Sqlite).await;
    let r = start(&authorize_url(&env, &good, cb, &p, &[])).await;
    assert_eq!(r.status(), StatusCode::BAD_REQUEST);
    assert!(r.text().await.unwrap().contains("https"));
    let https_private = good.replace("http://", "https://");
    let r = start(&authorize_url(&env, &https_private, cb, &p, &[])).await;
    assert_eq!(r.status(), StatusCode::BAD_REQUEST);
    let page = r.text().await.unwrap();
    assert!(page.contains("private, loopback or link-local"), "{page}");
    drop(env);

    // With it: the document is fetched, and its client_id must equal its URL.
    let env = Env::start_with(Db::Sqlite, Default::default(), |cfg| {
        cfg.mcp_auth.cimd_allow_private = true;
    })
    .await;
    let conn = env.seed_connector("c").await;
    let liar = serve_document(|_| json!({"client_id": "https://trusted.example/client.json", "client_name": "Liar", "redirect_uris": [LOOPBACK_REDIRECT]})).await;
    let r = start(&authorize_url(&env, &liar, cb, &p, &[])).await;
    assert_eq!(r.status(), StatusCode::BAD_REQUEST);
    assert!(r.text().await.unwrap().contains("differs from its URL"));

    let (cookie, _) = sign_in(&env, env.key()).await;
    let r = start(&authorize_url(&env, &good, cb, &p, &[])).await;
    let html = consent_page(&env, &location(&r), &cookie).await;
    assert!(html.contains("CIMD Agent"), "{html}");
    let back = authorize_and_approve(&env, &good, cb, &p, "jira:read", &conn, &cookie).await;
    let (status, tokens) = exchange(&env, &good, cb, &back["code"], &p.verifier).await;
    assert_eq!(status, StatusCode::OK, "{tokens}");
    let client = mcp_client(&env.url("/mcp"), tokens["access_token"].as_str().unwrap()).await;
    let listed = call(&client, "jira_list_connections", json!({})).await;
    assert!(text(&listed).contains(&conn), "{}", text(&listed));
    let _ = client.cancel().await;

    // The operator can turn either registration style off.
    let env = Env::start_with(Db::Sqlite, Default::default(), |cfg| {
        cfg.mcp_auth.dcr = false;
        cfg.mcp_auth.cimd = false;
    })
    .await;
    let asm: Value = http()
        .get(env.url("/.well-known/oauth-authorization-server"))
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    assert!(asm.get("registration_endpoint").is_none());
    assert_eq!(asm["client_id_metadata_document_supported"], false);
    let r = http()
        .post(env.url("/oauth/mcp/register"))
        .json(&json!({"redirect_uris": [LOOPBACK_REDIRECT]}))
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), StatusCode::FORBIDDEN);
    let r = start(&authorize_url(&env, &good, cb, &p, &[])).await;
    assert_eq!(r.status(), StatusCode::BAD_REQUEST);
}

/// rmcp's own OAuth client (`auth` feature): discovery from the 401's metadata, dynamic
/// registration, PKCE, the code exchange with `iss` checked; then the transport carries the
/// token it manages.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn rmcp_oauth_client_authorizes_and_calls_tools() {
    use rmcp::transport::auth::{AuthClient, AuthorizationRequest, OAuthState};

    let env = Env::start(Db::Sqlite).await;
    let conn = env.seed_connector("rmcp").await;
    let redirect = "http://127.0.0.1:4712/callback";
    let mut state = OAuthState::new(env.url("/mcp"), None)
        .await
        .expect("OAuth state");
    state
        .start_authorization(
            AuthorizationRequest::new(redirect)
                .with_scopes(["jira:read"])
                .with_client_name("rmcp agent"),
        )
        .await
        .expect("discovery and registration");
    let authorize = state.get_authorization_url().await.unwrap();
    assert!(
        authorize.starts_with(&env.url("/oauth/mcp/authorize")),
        "{authorize}"
    );
    // the browser: consent in a console session
    let (cookie, _) = sign_in(&env, env.key()).await;
    let r = start(&authorize).await;
    assert_eq!(r.status(), StatusCode::SEE_OTHER);
    let html = consent_page(&env, &location(&r), &cookie).await;
    assert!(html.contains("rmcp agent"), "{html}");
    let r = post_consent(
        &env,
        &cookie,
        &[
            ("csrf", &field(&html, "csrf")),
            ("request", &field(&html, "request")),
            ("connection", &conn),
            ("decision", "approve"),
        ],
    )
    .await;
    let back = location(&r);
    assert!(back.starts_with(redirect), "{back}");
    state
        .handle_callback_url(&back)
        .await
        .expect("code exchange");
    let manager = state.into_authorization_manager().expect("authorized");
    let transport = StreamableHttpClientTransport::with_client(
        AuthClient::new(reqwest::Client::default(), manager),
        StreamableHttpClientTransportConfig::with_uri(env.url("/mcp")),
    );
    let client = tokio::time::timeout(
        Duration::from_secs(20),
        ClientConfig::default().serve(transport),
    )
    .await
    .expect("initialize in time")
    .expect("initialize");
    let listed = call(&client, "jira_list_connections", json!({})).await;
    assert!(text(&listed).contains(&conn), "{}", text(&listed));
    let _ = client.cancel().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn mcp_tokens_spend_the_approving_keys_rate_limit() {
    let env = Env::start_with(Db::Sqlite, Default::default(), |cfg| {
        cfg.rate_limit_per_key = Some(jiragate_server::RateLimitConfig {
            per_second: 0.01,
            burst: 40,
        });
    })
    .await;
    let conn = env.seed_connector("c").await;
    let (_, tokens) = full_grant(&env, &conn, "jira:read").await;
    let access = tokens["access_token"].as_str().unwrap();
    let mut statuses = Vec::new();
    for _ in 0..45 {
        statuses.push(mcp_status(&env, Some(access)).await.0);
    }
    assert!(statuses.contains(&StatusCode::OK), "{statuses:?}");
    assert_eq!(
        statuses.last(),
        Some(&StatusCode::TOO_MANY_REQUESTS),
        "{statuses:?}"
    );
}

/// Atlassian sign-in mode: the organization's setting, then one person's whole browser part —
/// authorize → (organization) → Atlassian sign-in on the simulator as `email` → callback →
/// consent → code — and the token exchange. Returns the tokens.
async fn sign_in_with_atlassian(env: &Env, client_id: &str, email: &str, scope: &str) -> Value {
    let redirect = "http://127.0.0.1:4711/callback";
    let p = pkce();
    let r = start(&authorize_url(
        env,
        client_id,
        redirect,
        &p,
        &[("scope", Some(scope))],
    ))
    .await;
    assert_eq!(r.status(), StatusCode::SEE_OTHER);
    let next = location(&r);
    assert!(next.starts_with("/oauth/mcp/sign-in?request="), "{next}");
    // One organization: straight on to Atlassian, through the organization's OAuth client.
    let r = http().get(env.url(&next)).send().await.unwrap();
    assert_eq!(
        r.status(),
        StatusCode::SEE_OTHER,
        "{}",
        r.text().await.unwrap()
    );
    let atlassian = location(&r);
    assert!(atlassian.starts_with(&env.sim.auth_url), "{atlassian}");
    assert_eq!(
        query_of(&atlassian)["client_id"],
        env.sim.oauth_clients[0].client_id
    );
    // The browser signs in at Atlassian as `email` (the simulator's sign-in hint) and consents.
    let mut at = url::Url::parse(&atlassian).unwrap();
    at.query_pairs_mut().append_pair("sim_user", email);
    let r = http().get(at.as_str()).send().await.unwrap();
    assert_eq!(r.status(), StatusCode::FOUND, "Atlassian consents");
    let back = url::Url::parse(&location(&r)).unwrap();
    let callback = env.url(&format!("{}?{}", back.path(), back.query().unwrap_or("")));
    let r = http().get(&callback).send().await.unwrap();
    assert_eq!(
        r.status(),
        StatusCode::SEE_OTHER,
        "{}",
        r.text().await.unwrap()
    );
    let consent = location(&r);
    assert!(
        consent.starts_with("/oauth/mcp/consent?ticket="),
        "{consent}"
    );
    let r = http().get(env.url(&consent)).send().await.unwrap();
    assert_eq!(r.status(), StatusCode::OK);
    let html = r.text().await.unwrap();
    let account = env
        .sim
        .users
        .iter()
        .find(|u| u.email == email)
        .unwrap()
        .account_id
        .clone();
    assert!(
        html.contains(&account) && html.contains("Test &lt;Agent&gt;"),
        "{html}"
    );
    let ticket = field(&html, "ticket");
    let approve = [("ticket", ticket.as_str()), ("decision", "approve")];
    let r = http()
        .post(env.url("/oauth/mcp/consent"))
        .form(&approve)
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), StatusCode::SEE_OTHER);
    let back = location(&r);
    assert!(back.starts_with(redirect), "{back}");
    let q = query_of(&back);
    assert_eq!(q["iss"], env.server.url);
    // the consent is single use
    let r = http()
        .post(env.url("/oauth/mcp/consent"))
        .form(&approve)
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), StatusCode::BAD_REQUEST);
    let (status, tokens) = exchange(env, client_id, redirect, &q["code"], &p.verifier).await;
    assert_eq!(status, StatusCode::OK, "{tokens}");
    tokens
}

/// `jira_execute myself.get` through `/mcp` with `access`: the account id Jira answers.
async fn myself_through_mcp(env: &Env, access: &str) -> String {
    let client = mcp_client(&env.url("/mcp"), access).await;
    let listed = call(&client, "jira_list_connections", json!({})).await;
    let listed: Value = serde_json::from_str(&text(&listed)).unwrap_or(Value::Null);
    let conns = listed
        .get("connections")
        .or(Some(&listed))
        .and_then(Value::as_array)
        .cloned()
        .unwrap_or_default();
    assert_eq!(
        conns.len(),
        1,
        "exactly the person's own connection: {listed}"
    );
    let conn = conns[0]["id"].as_str().unwrap().to_owned();
    let me = call(
        &client,
        "jira_execute",
        json!({"connection": conn, "entity": "myself", "action": "get"}),
    )
    .await;
    assert_ne!(me.is_error, Some(true), "{}", text(&me));
    let _ = client.cancel().await;
    text(&me)
}

both_backends!(
    mcp_atlassian_sign_in_each_person_acts_as_themselves,
    |db: Db| async move {
        let env = Env::start(db).await;
        let _shared = env.seed_connector("shared").await;
        let oauth_client =
            crate::oauth::register_client(&env.client, &env.server.url, env.key(), &env.sim).await;
        // The setting: admin only, validated, console by default.
        let r = env
            .client
            .get(&env.url("/api/v1/mcp/settings"), Some(env.key()))
            .await;
        assert_eq!(r.json()["sign_in"], "console", "{}", r.text);
        let r = env
            .client
            .send(
                reqwest::Method::PUT,
                &env.url("/api/v1/mcp/settings"),
                Some(env.key()),
                Some(&json!({"sign_in": "by-magic"})),
                &[],
            )
            .await;
        assert_eq!(r.status, StatusCode::UNPROCESSABLE_ENTITY, "{}", r.text);
        assert_eq!(r.json()["field"], "sign_in");
        let r = env
            .client
            .send(
                reqwest::Method::PUT,
                &env.url("/api/v1/mcp/settings"),
                Some(env.key()),
                Some(
                    &json!({"sign_in": "atlassian", "oauth_client_id": oauth_client,
                        "subdomain": env.sim.sites[0].subdomain}),
                ),
                &[],
            )
            .await;
        assert_eq!(r.status, StatusCode::OK, "{}", r.text);
        assert_eq!(r.json()["sign_in"], "atlassian");

        let client_id = register(&env, &[LOOPBACK_REDIRECT]).await;
        let (a, b) = (&env.sim.users[0], &env.sim.users[1]);
        assert_ne!(a.account_id, b.account_id);

        let tokens_a = sign_in_with_atlassian(&env, &client_id, &a.email, "jira:read").await;
        let me = myself_through_mcp(&env, tokens_a["access_token"].as_str().unwrap()).await;
        assert!(
            me.contains(&a.account_id) && !me.contains(&b.account_id),
            "{me}"
        );
        let tokens_b = sign_in_with_atlassian(&env, &client_id, &b.email, "jira:read").await;
        let me = myself_through_mcp(&env, tokens_b["access_token"].as_str().unwrap()).await;
        assert!(
            me.contains(&b.account_id) && !me.contains(&a.account_id),
            "{me}"
        );
        // A signs in again: the same connection, with fresh tokens.
        let tokens_a2 = sign_in_with_atlassian(&env, &client_id, &a.email, "jira:read").await;
        let me = myself_through_mcp(&env, tokens_a2["access_token"].as_str().unwrap()).await;
        assert!(me.contains(&a.account_id), "{me}");

        let grants = env
            .client
            .get(&env.url("/api/v1/mcp/grants"), Some(env.key()))
            .await
            .json();
        let grants = grants["data"].as_array().unwrap().clone();
        let of = |account: &str| -> Vec<Value> {
            grants
                .iter()
                .filter(|g| g["atlassian_account_id"] == account)
                .cloned()
                .collect()
        };
        let (ga, gb) = (of(&a.account_id), of(&b.account_id));
        assert_eq!((ga.len(), gb.len()), (2, 1), "{grants:?}");
        assert!(ga.iter().chain(&gb).all(|g| g["api_key_id"].is_null()));
        assert_eq!(ga[0]["connection_id"], ga[1]["connection_id"]);
        assert_ne!(ga[0]["connection_id"], gb[0]["connection_id"]);
        // Each person's connection is theirs (owner = user:<account id>), one per person.
        let conns = env
            .client
            .get(&env.url("/api/v1/integrations/connectors"), Some(env.key()))
            .await
            .json();
        let users: Vec<&Value> = conns["data"]
            .as_array()
            .unwrap()
            .iter()
            .filter(|c| c["workspace_name"] == "mcp-users")
            .collect();
        assert_eq!(users.len(), 2, "{conns}");
        for c in users {
            let owner = c["owner"].as_str().unwrap();
            assert!(
                owner == format!("user:{}", a.account_id)
                    || owner == format!("user:{}", b.account_id),
                "{c}"
            );
        }
        // Revoking B's grant ends B's token, not A's.
        let id = gb[0]["id"].as_str().unwrap();
        let r = env
            .client
            .send(
                reqwest::Method::DELETE,
                &env.url(&format!("/api/v1/mcp/grants/{id}")),
                Some(env.key()),
                None,
                &[],
            )
            .await;
        assert_eq!(r.status, StatusCode::NO_CONTENT);
        let (status, www) = mcp_status(&env, tokens_b["access_token"].as_str()).await;
        assert_eq!(status, StatusCode::UNAUTHORIZED);
        assert!(www.contains("invalid_token"), "{www}");
        assert_eq!(
            mcp_status(&env, tokens_a2["access_token"].as_str()).await.0,
            StatusCode::OK
        );
    }
);
