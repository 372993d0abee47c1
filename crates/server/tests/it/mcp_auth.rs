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

pub(crate) struct Pkce {
    pub(crate) verifier: String,
    challenge: String,
}

pub(crate) fn pkce() -> Pkce {
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

pub(crate) fn query_of(location: &str) -> HashMap<String, String> {
    url::Url::parse(location)
        .unwrap()
        .query_pairs()
        .map(|(k, v)| (k.into_owned(), v.into_owned()))
        .collect()
}

pub(crate) async fn register(env: &Env, redirect_uris: &[&str]) -> String {
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
pub(crate) fn authorize_url(
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

/// Allows, on a console consent page (`html`), its request for `connection`.
async fn allow_on_consent_page(
    env: &Env,
    cookie: &str,
    html: &str,
    connection: &str,
) -> reqwest::Response {
    post_consent(
        env,
        cookie,
        &[
            ("csrf", &field(html, "csrf")),
            ("request", &field(html, "request")),
            ("connection", connection),
            ("decision", "approve"),
        ],
    )
    .await
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
    let r = allow_on_consent_page(env, cookie, &html, connection).await;
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

pub(crate) async fn exchange(
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
pub(crate) async fn serve_document(doc: impl Fn(&str) -> Value + Send + Sync + 'static) -> String {
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
    let env = Env::start(Db::Sqlite).await;
    let conn = env.seed_connector("rmcp").await;
    let redirect = "http://127.0.0.1:4712/callback";
    let (state, authorize) = rmcp_start_authorization(&env, redirect).await;
    // the browser: consent in a console session
    let (cookie, _) = sign_in(&env, env.key()).await;
    let r = start(&authorize).await;
    assert_eq!(r.status(), StatusCode::SEE_OTHER);
    let html = consent_page(&env, &location(&r), &cookie).await;
    assert!(html.contains("rmcp agent"), "{html}");
    let r = allow_on_consent_page(&env, &cookie, &html, &conn).await;
    let client = rmcp_authorized_client(&env, state, &location(&r), redirect).await;
    let listed = call(&client, "jira_list_connections", json!({})).await;
    assert!(text(&listed).contains(&conn), "{}", text(&listed));
    let _ = client.cancel().await;
}

/// rmcp's OAuth client (`auth` feature) starts: discovery from `/mcp`'s 401, dynamic
/// registration as "rmcp agent" with `redirect`, PKCE; returns its state and the
/// authorization URL it sends the browser to.
async fn rmcp_start_authorization(
    env: &Env,
    redirect: &str,
) -> (rmcp::transport::auth::OAuthState, String) {
    use rmcp::transport::auth::{AuthorizationRequest, OAuthState};
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
    (state, authorize)
}

/// The browser is back at rmcp's `redirect` (`back`, with the code): rmcp's OAuth state
/// exchanges the code (checking `state` and `iss`), then its streamable HTTP client, whose
/// requests carry the token that state holds, initializes.
async fn rmcp_authorized_client(
    env: &Env,
    mut state: rmcp::transport::auth::OAuthState,
    back: &str,
    redirect: &str,
) -> RunningService<RoleClient, ClientConfig> {
    use rmcp::transport::auth::AuthClient;
    assert!(back.starts_with(redirect), "{back}");
    state
        .handle_callback_url(back)
        .await
        .expect("code exchange");
    let manager = state.into_authorization_manager().expect("authorized");
    let transport = StreamableHttpClientTransport::with_client(
        AuthClient::new(reqwest::Client::default(), manager),
        StreamableHttpClientTransportConfig::with_uri(env.url("/mcp")),
    );
    tokio::time::timeout(
        Duration::from_secs(20),
        ClientConfig::default().serve(transport),
    )
    .await
    .expect("initialize in time")
    .expect("initialize")
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

/// One person's Atlassian sign-in, as the browser plays it.
#[derive(Clone, Copy)]
struct Person<'a> {
    /// The simulator user who signs in at Atlassian.
    email: &'a str,
    /// The organization typed on jiragate's sign-in page (`None`: there is only one).
    organization: Option<&'a str>,
    /// The site picked on the site choice page (`None`: the organization names its site).
    site: Option<&'a str>,
    /// The client's name as the consent page shows it (HTML-escaped).
    client_label: &'a str,
}

impl<'a> Person<'a> {
    fn new(email: &'a str) -> Self {
        Person {
            email,
            organization: None,
            site: None,
            client_label: "Test &lt;Agent&gt;",
        }
    }
}

/// The browser from the MCP authorization URL to jiragate's sign-in step, answering the
/// organization question (asked when there are several) with `organization`: the step's
/// answer.
/// Returns the pending request's token too.
async fn sign_in_step(
    env: &Env,
    authorize: &str,
    organization: Option<&str>,
) -> (String, reqwest::Response) {
    let r = start(authorize).await;
    assert_eq!(r.status(), StatusCode::SEE_OTHER);
    let next = location(&r);
    assert!(next.starts_with("/oauth/mcp/sign-in?request="), "{next}");
    let request = query_of(&env.url(&next))["request"].clone();
    let Some(org) = organization else {
        return (request, http().get(env.url(&next)).send().await.unwrap());
    };
    let r = http().get(env.url(&next)).send().await.unwrap();
    assert_eq!(r.status(), StatusCode::OK);
    let html = r.text().await.unwrap();
    assert!(html.contains(r#"name="organization""#), "{html}");
    let mut u = url::Url::parse(&env.url(&next)).unwrap();
    u.query_pairs_mut().append_pair("organization", org);
    (request, http().get(u.as_str()).send().await.unwrap())
}

/// The browser from the MCP authorization URL to Atlassian and back: authorize → sign-in
/// step (answering the organization question when there are several) → Atlassian sign-in
/// on the simulator as the person, through the organization's OAuth client. Returns jiragate's
/// OAuth callback URL, not yet visited.
async fn browser_to_callback(env: &Env, authorize: &str, who: &Person<'_>) -> String {
    let (_, r) = sign_in_step(env, authorize, who.organization).await;
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
    // The browser signs in at Atlassian as the person (the simulator's sign-in hint) and
    // consents.
    let mut at = url::Url::parse(&atlassian).unwrap();
    at.query_pairs_mut().append_pair("sim_user", who.email);
    let r = http().get(at.as_str()).send().await.unwrap();
    assert_eq!(r.status(), StatusCode::FOUND, "Atlassian consents");
    let back = url::Url::parse(&location(&r)).unwrap();
    env.url(&format!("{}?{}", back.path(), back.query().unwrap_or("")))
}

/// The browser from jiragate's OAuth callback on: (the site choice page, when the sign-in
/// covers several sites) → the consent page, which names the client and the person → Allow.
/// Returns where jiragate sends the browser back to the client; the consent is single use.
async fn browser_from_callback(env: &Env, callback: &str, who: &Person<'_>) -> String {
    let mut r = http().get(callback).send().await.unwrap();
    if let Some(site) = who.site {
        let status = r.status();
        let html = r.text().await.unwrap();
        assert_eq!(status, StatusCode::OK, "a site choice page: {html}");
        let info = env.sim.sites.iter().find(|s| s.subdomain == site).unwrap();
        for s in &env.sim.sites {
            let url = env.sim.site_url(&s.subdomain);
            assert!(html.contains(&url) && html.contains(&s.cloud_id), "{html}");
        }
        let ticket = field(&html, "ticket");
        let choice = [
            ("ticket", ticket.as_str()),
            ("cloud_id", info.cloud_id.as_str()),
        ];
        // a form sent from another site is refused, and leaves the choice open
        let forged = post_form(
            env,
            "/oauth/callback/site",
            &choice,
            Some("https://evil.example"),
        )
        .await;
        assert_eq!(forged.status(), StatusCode::FORBIDDEN);
        r = post_form(env, "/oauth/callback/site", &choice, None).await;
        // the choice is single use
        let again = post_form(env, "/oauth/callback/site", &choice, None).await;
        assert_eq!(again.status(), StatusCode::BAD_REQUEST);
    }
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
    let account = &sim_user(env, who.email).account_id;
    assert!(
        html.contains(account) && html.contains(who.client_label),
        "{html}"
    );
    let ticket = field(&html, "ticket");
    let approve = [("ticket", ticket.as_str()), ("decision", "approve")];
    let r = post_form(env, "/oauth/mcp/consent", &approve, None).await;
    assert_eq!(r.status(), StatusCode::SEE_OTHER);
    let back = location(&r);
    assert_eq!(query_of(&back)["iss"], env.server.url);
    // the consent is single use
    let r = post_form(env, "/oauth/mcp/consent", &approve, None).await;
    assert_eq!(r.status(), StatusCode::BAD_REQUEST);
    back
}

/// A browser's form POST to `path`, sent from `origin` when given.
async fn post_form(
    env: &Env,
    path: &str,
    form: &[(&str, &str)],
    origin: Option<&str>,
) -> reqwest::Response {
    let mut req = http().post(env.url(path)).form(form);
    if let Some(o) = origin {
        req = req.header("origin", o);
    }
    req.send().await.unwrap()
}

fn sim_user<'e>(env: &'e Env, email: &str) -> &'e atlassian_sim::UserInfo {
    env.sim.users.iter().find(|u| u.email == email).unwrap()
}

const SIGN_IN_REDIRECT: &str = "http://127.0.0.1:4711/callback";

/// An authorization request of `client_id` for `scope` (redirect [`SIGN_IN_REDIRECT`]).
fn sign_in_request(env: &Env, client_id: &str, scope: &str) -> (Pkce, String) {
    let p = pkce();
    let url = authorize_url(
        env,
        client_id,
        SIGN_IN_REDIRECT,
        &p,
        &[("scope", Some(scope))],
    );
    (p, url)
}

/// The code the client gets back, exchanged for tokens.
async fn redeem(env: &Env, client_id: &str, p: &Pkce, back: &str) -> Value {
    assert!(back.starts_with(SIGN_IN_REDIRECT), "{back}");
    let (status, tokens) = exchange(
        env,
        client_id,
        SIGN_IN_REDIRECT,
        &query_of(back)["code"],
        &p.verifier,
    )
    .await;
    assert_eq!(status, StatusCode::OK, "{tokens}");
    tokens
}

/// Atlassian sign-in mode: one person's whole browser part — authorize → (organization) →
/// Atlassian sign-in on the simulator → callback → (site) → consent → code — and the token
/// exchange. Returns the tokens.
async fn sign_in_with_atlassian(
    env: &Env,
    client_id: &str,
    who: &Person<'_>,
    scope: &str,
) -> Value {
    let (p, authorize) = sign_in_request(env, client_id, scope);
    let callback = browser_to_callback(env, &authorize, who).await;
    let back = browser_from_callback(env, &callback, who).await;
    redeem(env, client_id, &p, &back).await
}

/// `PUT /api/v1/mcp/settings` of the organization of `key`.
async fn put_settings(env: &Env, key: &str, body: Value) -> crate::common::Reply {
    env.client
        .send(
            reqwest::Method::PUT,
            &env.url("/api/v1/mcp/settings"),
            Some(key),
            Some(&body),
            &[],
        )
        .await
}

/// Puts the organization of `key` (an admin key) on Atlassian sign-in through the simulator's
/// OAuth app, registered there first; `subdomain: None` lets each person choose their site.
pub(crate) async fn use_atlassian_sign_in(env: &Env, key: &str, subdomain: Option<&str>) {
    let oauth_client =
        crate::oauth::register_client(&env.client, &env.server.url, key, &env.sim).await;
    let r = put_settings(
        env,
        key,
        json!({"sign_in": "atlassian", "oauth_client_id": oauth_client, "subdomain": subdomain}),
    )
    .await;
    assert_eq!(r.status, StatusCode::OK, "{}", r.text);
}

/// `jira_execute myself.get` through `/mcp` with `access`: what Jira answers.
pub(crate) async fn myself_through_mcp(env: &Env, access: &str) -> String {
    let client = mcp_client(&env.url("/mcp"), access).await;
    let (_, me) = myself_of(&client).await;
    let _ = client.cancel().await;
    me
}

/// The one connection an MCP client sees, and `jira_execute myself.get` on it: (connection
/// id, what Jira answers).
async fn myself_of(client: &RunningService<RoleClient, ClientConfig>) -> (String, String) {
    let listed = call(client, "jira_list_connections", json!({})).await;
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
        client,
        "jira_execute",
        json!({"connection": conn, "entity": "myself", "action": "get"}),
    )
    .await;
    assert_ne!(me.is_error, Some(true), "{}", text(&me));
    (conn, text(&me))
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
        let r = put_settings(&env, env.key(), json!({"sign_in": "by-magic"})).await;
        assert_eq!(r.status, StatusCode::UNPROCESSABLE_ENTITY, "{}", r.text);
        assert_eq!(r.json()["field"], "sign_in");
        let r = put_settings(
            &env,
            env.key(),
            json!({"sign_in": "atlassian", "oauth_client_id": oauth_client,
                "subdomain": env.sim.sites[0].subdomain}),
        )
        .await;
        assert_eq!(r.status, StatusCode::OK, "{}", r.text);
        assert_eq!(r.json()["sign_in"], "atlassian");

        let client_id = register(&env, &[LOOPBACK_REDIRECT]).await;
        let (a, b) = (&env.sim.users[0], &env.sim.users[1]);
        assert_ne!(a.account_id, b.account_id);

        let tokens_a =
            sign_in_with_atlassian(&env, &client_id, &Person::new(&a.email), "jira:read").await;
        let me = myself_through_mcp(&env, tokens_a["access_token"].as_str().unwrap()).await;
        assert!(
            me.contains(&a.account_id) && !me.contains(&b.account_id),
            "{me}"
        );
        let tokens_b =
            sign_in_with_atlassian(&env, &client_id, &Person::new(&b.email), "jira:read").await;
        let me = myself_through_mcp(&env, tokens_b["access_token"].as_str().unwrap()).await;
        assert!(
            me.contains(&b.account_id) && !me.contains(&a.account_id),
            "{me}"
        );
        // A signs in again: the same connection, with fresh tokens.
        let tokens_a2 =
            sign_in_with_atlassian(&env, &client_id, &Person::new(&a.email), "jira:read").await;
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

/// The grants of the organization of `key` (admin).
async fn grants_of(env: &Env, key: &str) -> Vec<Value> {
    let r = env
        .client
        .get(&env.url("/api/v1/mcp/grants"), Some(key))
        .await;
    assert_eq!(r.status, StatusCode::OK, "{}", r.text);
    r.json()["data"].as_array().unwrap().clone()
}

/// The connections of the `mcp-users` workspace in the organization of `key`.
pub(crate) async fn sign_in_connections(env: &Env, key: &str) -> Vec<Value> {
    let r = env
        .client
        .get(&env.url("/api/v1/integrations/connectors"), Some(key))
        .await;
    assert_eq!(r.status, StatusCode::OK, "{}", r.text);
    r.json()["data"]
        .as_array()
        .unwrap()
        .iter()
        .filter(|c| c["workspace_name"] == "mcp-users")
        .cloned()
        .collect()
}

/// rmcp's own OAuth client (`auth` feature) against an organization on Atlassian sign-in:
/// rmcp discovers from the 401, registers (DCR) and builds the authorization URL; the test
/// plays the browser through jiragate's sign-in step, the simulator's Atlassian sign-in and
/// the consent page; rmcp exchanges the code (checking `iss`) and its transport calls tools
/// as that person. Two people: each acts as themselves, on a connection of their own.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn rmcp_oauth_client_signs_in_with_atlassian() {
    let env = Env::start(Db::Sqlite).await;
    use_atlassian_sign_in(&env, env.key(), Some(&env.sim.sites[0].subdomain)).await;
    let redirect = "http://127.0.0.1:4713/callback";
    let mut connections = Vec::new();
    for user in &env.sim.users[..2] {
        let (state, authorize) = rmcp_start_authorization(&env, redirect).await;
        let who = Person {
            client_label: "rmcp agent",
            ..Person::new(&user.email)
        };
        let callback = browser_to_callback(&env, &authorize, &who).await;
        let back = browser_from_callback(&env, &callback, &who).await;
        let client = rmcp_authorized_client(&env, state, &back, redirect).await;
        let (conn, me) = myself_of(&client).await;
        assert!(me.contains(&user.account_id), "{me}");
        for other in env.sim.users.iter().filter(|u| u.email != user.email) {
            assert!(!me.contains(&other.account_id), "{me}");
        }
        let _ = client.cancel().await;
        connections.push(conn);
    }
    assert_ne!(connections[0], connections[1]);
    let grants = grants_of(&env, env.key()).await;
    assert_eq!(grants.len(), 2, "{grants:?}");
    assert!(grants.iter().all(|g| g["client_name"] == "rmcp agent"));
}

both_backends!(
    mcp_simultaneous_first_sign_ins_of_one_person_share_a_connection,
    |db: Db| async move {
        // Every Jira call takes 150 ms, so the two sign-ins' look-ups of the person's
        // connection both happen before either inserts it.
        let mut sim = atlassian_sim::SimConfig::default();
        sim.faults.latency = Duration::from_millis(150);
        let env = Env::start_with(db, sim, |_| {}).await;
        use_atlassian_sign_in(&env, env.key(), Some(&env.sim.sites[0].subdomain)).await;
        let client_id = register(&env, &[LOOPBACK_REDIRECT]).await;
        let user = &env.sim.users[0];
        let who = Person::new(&user.email);
        let (p1, authorize1) = sign_in_request(&env, &client_id, "jira:read");
        let (p2, authorize2) = sign_in_request(&env, &client_id, "jira:read");
        let callback1 = browser_to_callback(&env, &authorize1, &who).await;
        let callback2 = browser_to_callback(&env, &authorize2, &who).await;
        // Both browsers come back from Atlassian at the same moment.
        let (back1, back2) = tokio::join!(
            browser_from_callback(&env, &callback1, &who),
            browser_from_callback(&env, &callback2, &who)
        );
        let tokens1 = redeem(&env, &client_id, &p1, &back1).await;
        let tokens2 = redeem(&env, &client_id, &p2, &back2).await;
        let conns = sign_in_connections(&env, env.key()).await;
        assert_eq!(conns.len(), 1, "{conns:?}");
        assert_eq!(conns[0]["owner"], format!("user:{}", user.account_id));
        let grants = grants_of(&env, env.key()).await;
        assert_eq!(grants.len(), 2, "{grants:?}");
        assert!(grants.iter().all(|g| g["connection_id"] == conns[0]["id"]));
        for tokens in [&tokens1, &tokens2] {
            let me = myself_through_mcp(&env, tokens["access_token"].as_str().unwrap()).await;
            assert!(me.contains(&user.account_id), "{me}");
        }
    }
);

/// Several organizations: the sign-in step asks which one, and a grant lands only in the
/// organization the person chose, by that organization's way of signing in — Atlassian
/// sign-in in one, a console session of that same organization in the other.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn mcp_sign_in_grants_only_in_the_chosen_organization() {
    let env = Env::start(Db::Sqlite).await;
    let shared = env.seed_connector("shared").await;
    // A second organization, on Atlassian sign-in, with its own admin key.
    let (org_b, key_b) = env.organization_with_admin_key("tenant-b").await;
    use_atlassian_sign_in(&env, &key_b, Some(&env.sim.sites[0].subdomain)).await;
    let client_id = register(&env, &[LOOPBACK_REDIRECT]).await;
    let user = &env.sim.users[0];

    // tenant-b: the person signs in with Atlassian; the grant and the connection are there.
    let who = Person {
        organization: Some("tenant-b"),
        ..Person::new(&user.email)
    };
    let tokens = sign_in_with_atlassian(&env, &client_id, &who, "jira:read").await;
    let me = myself_through_mcp(&env, tokens["access_token"].as_str().unwrap()).await;
    assert!(me.contains(&user.account_id), "{me}");
    let grants_b = grants_of(&env, &key_b).await;
    assert_eq!(grants_b.len(), 1, "{grants_b:?}");
    assert_eq!(grants_b[0]["org_id"], org_b);
    assert_eq!(grants_b[0]["atlassian_account_id"], user.account_id);
    assert_eq!(sign_in_connections(&env, &key_b).await.len(), 1);
    assert!(sign_in_connections(&env, env.key()).await.is_empty());
    assert!(grants_of(&env, env.key()).await.is_empty());

    // An organization that does not exist.
    let (_, authorize) = sign_in_request(&env, &client_id, "jira:read");
    let (_, r) = sign_in_step(&env, &authorize, Some("no-such-org")).await;
    assert_eq!(r.status(), StatusCode::NOT_FOUND);

    let (cookie_default, _) = sign_in(&env, env.key()).await;
    let (cookie_b, _) = sign_in(&env, &key_b).await;
    // Approve in the console: (status, body) of the consent form's answer.
    let approve = |consent: String, cookie: String| {
        let env = &env;
        let shared = shared.clone();
        async move {
            let html = consent_page(env, &consent, &cookie).await;
            let r = allow_on_consent_page(env, &cookie, &html, &shared).await;
            let status = r.status();
            let loc = r
                .headers()
                .get("location")
                .map(|l| l.to_str().unwrap().to_owned());
            (status, loc.unwrap_or(r.text().await.unwrap()))
        }
    };
    let console_step = |organization: &'static str| {
        let env = &env;
        let client_id = client_id.clone();
        async move {
            let (_, authorize) = sign_in_request(env, &client_id, "jira:read");
            let (_, r) = sign_in_step(env, &authorize, Some(organization)).await;
            assert_eq!(r.status(), StatusCode::SEE_OTHER);
            location(&r)
        }
    };

    // Chose tenant-b (Atlassian sign-in), then approved in a console session of the default
    // organization: refused, nothing granted there.
    let (_, authorize) = sign_in_request(&env, &client_id, "jira:read");
    let (request, r) = sign_in_step(&env, &authorize, Some("tenant-b")).await;
    assert!(location(&r).starts_with(&env.sim.auth_url));
    let (status, body) = approve(
        format!("/console/mcp/consent?request={request}"),
        cookie_default.clone(),
    )
    .await;
    assert_eq!(status, StatusCode::BAD_REQUEST, "{body}");
    assert!(body.contains("organization"), "{body}");
    assert!(grants_of(&env, env.key()).await.is_empty());

    // Chose the default organization (console sign-in), approved with tenant-b's key:
    // refused.
    let consent = console_step("default").await;
    assert!(
        consent.starts_with("/console/mcp/consent?request="),
        "{consent}"
    );
    let (status, body) = approve(consent, cookie_b.clone()).await;
    assert_eq!(status, StatusCode::BAD_REQUEST, "{body}");

    // Chose the default organization and approved there: granted there, as that key.
    let consent = console_step("default").await;
    let (status, back) = approve(consent, cookie_default.clone()).await;
    assert_eq!(status, StatusCode::SEE_OTHER, "{back}");
    assert!(query_of(&back).contains_key("code"), "{back}");
    let grants = grants_of(&env, env.key()).await;
    assert_eq!(grants.len(), 1, "{grants:?}");
    assert_eq!(grants[0]["connection_id"], shared.as_str());
    assert!(grants[0]["api_key_id"].is_string());
    assert_eq!(grants_of(&env, &key_b).await.len(), 1);
}

both_backends!(
    mcp_atlassian_sign_in_offers_a_site_choice,
    |db: Db| async move {
        let env = Env::start(db).await;
        // No site configured: a person whose grant covers both sites picks one.
        use_atlassian_sign_in(&env, env.key(), None).await;
        let client_id = register(&env, &[LOOPBACK_REDIRECT]).await;
        let (a, b) = (&env.sim.users[0], &env.sim.users[1]);
        let (acme, globex) = (&env.sim.sites[0], &env.sim.sites[1]);
        for (user, site, other) in [(a, globex, acme), (b, acme, globex)] {
            let who = Person {
                site: Some(&site.subdomain),
                ..Person::new(&user.email)
            };
            let tokens = sign_in_with_atlassian(&env, &client_id, &who, "jira:read").await;
            let me = myself_through_mcp(&env, tokens["access_token"].as_str().unwrap()).await;
            assert!(me.contains(&user.account_id), "{me}");
            let conns = sign_in_connections(&env, env.key()).await;
            let mine = conns
                .iter()
                .find(|c| c["owner"] == format!("user:{}", user.account_id))
                .unwrap_or_else(|| panic!("{conns:?}"));
            assert_eq!(mine["cloud_id"], site.cloud_id.as_str(), "{mine}");
            assert_ne!(mine["cloud_id"], other.cloud_id.as_str(), "{mine}");
        }
        assert_eq!(sign_in_connections(&env, env.key()).await.len(), 2);
    }
);
