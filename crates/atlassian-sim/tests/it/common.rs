use std::time::Duration;

use atlassian_sim::{SimConfig, SimHandle, Simulator};
use base64::Engine;
use reqwest::{Client, Method, RequestBuilder, Response};
use serde_json::Value;
use sha2::{Digest, Sha256};

pub const CALLBACK: &str = "http://127.0.0.1:9/cb";

pub async fn sim_with(cfg: SimConfig) -> SimHandle {
    let cfg = SimConfig {
        redirect_uris: vec![CALLBACK.to_owned()],
        ..cfg
    };
    tokio::time::timeout(Duration::from_secs(20), Simulator::start(cfg))
        .await
        .expect("start in time")
        .expect("start")
}

pub async fn sim(issues: usize) -> SimHandle {
    sim_with(SimConfig {
        issues_per_site: issues,
        ..SimConfig::default()
    })
    .await
}

pub fn client() -> Client {
    Client::builder()
        .redirect(reqwest::redirect::Policy::none())
        .timeout(Duration::from_secs(20))
        .build()
        .expect("client")
}

/// Basic credentials of the first user with the classic API token.
pub fn basic(sim: &SimHandle) -> String {
    let u = &sim.users[0];
    format!(
        "Basic {}",
        base64::engine::general_purpose::STANDARD.encode(format!("{}:{}", u.email, u.api_token))
    )
}

pub fn basic_of(email: &str, token: &str) -> String {
    format!(
        "Basic {}",
        base64::engine::general_purpose::STANDARD.encode(format!("{email}:{token}"))
    )
}

/// A request on the first site with the first user's classic token.
pub fn site_req(sim: &SimHandle, method: Method, path: &str) -> RequestBuilder {
    client()
        .request(
            method,
            format!("{}{path}", sim.site_url(&sim.sites[0].subdomain)),
        )
        .header("Authorization", basic(sim))
}

pub async fn json_of(resp: Response) -> (u16, Value) {
    let status = resp.status().as_u16();
    let bytes = resp.bytes().await.expect("body");
    (
        status,
        serde_json::from_slice(&bytes).unwrap_or(Value::Null),
    )
}

pub async fn get(sim: &SimHandle, path: &str) -> (u16, Value) {
    json_of(site_req(sim, Method::GET, path).send().await.expect("send")).await
}

pub async fn send(sim: &SimHandle, method: Method, path: &str, body: Value) -> (u16, Value) {
    json_of(
        site_req(sim, method, path)
            .json(&body)
            .send()
            .await
            .expect("send"),
    )
    .await
}

pub fn pkce() -> (String, String) {
    let verifier = format!("v{}", "x7Kq".repeat(12));
    let challenge = base64::engine::general_purpose::URL_SAFE_NO_PAD
        .encode(Sha256::digest(verifier.as_bytes()));
    (verifier, challenge)
}

/// Runs `/authorize` and returns (status, location header).
pub async fn authorize(sim: &SimHandle, scope: &str, extra: &[(&str, &str)]) -> (u16, String) {
    let c = &sim.oauth_clients[0];
    let mut q: Vec<(&str, &str)> = vec![
        ("audience", "api.atlassian.com"),
        ("client_id", &c.client_id),
        ("scope", scope),
        ("redirect_uri", CALLBACK),
        ("state", "st-123"),
        ("response_type", "code"),
        ("prompt", "consent"),
    ];
    for (k, v) in extra {
        q.retain(|(x, _)| x != k);
        q.push((k, v));
    }
    let resp = client()
        .get(format!("{}/authorize", sim.auth_url))
        .query(&q)
        .send()
        .await
        .expect("authorize");
    let loc = resp
        .headers()
        .get("location")
        .and_then(|v| v.to_str().ok())
        .unwrap_or("")
        .to_owned();
    (resp.status().as_u16(), loc)
}

pub fn query_param(location: &str, name: &str) -> Option<String> {
    let url = url::Url::parse(location).ok()?;
    url.query_pairs()
        .find(|(k, _)| k == name)
        .map(|(_, v)| v.into_owned())
}

pub async fn code_for(sim: &SimHandle, scope: &str, challenge: Option<&str>) -> String {
    let extra: Vec<(&str, &str)> = match challenge {
        Some(c) => vec![("code_challenge", c), ("code_challenge_method", "S256")],
        None => vec![],
    };
    let (status, loc) = authorize(sim, scope, &extra).await;
    assert_eq!(status, 302, "authorize redirects: {loc}");
    query_param(&loc, "code").expect("code in redirect")
}

pub async fn token_request(sim: &SimHandle, body: Value) -> (u16, Value) {
    json_of(
        client()
            .post(format!("{}/oauth/token", sim.auth_url))
            .json(&body)
            .send()
            .await
            .expect("token"),
    )
    .await
}

pub async fn exchange(sim: &SimHandle, code: &str, verifier: Option<&str>) -> (u16, Value) {
    let c = &sim.oauth_clients[0];
    let mut body = serde_json::json!({"grant_type": "authorization_code", "client_id": c.client_id, "client_secret": c.client_secret,
                                      "code": code, "redirect_uri": CALLBACK});
    if let Some(v) = verifier {
        body["code_verifier"] = Value::String(v.to_owned());
    }
    token_request(sim, body).await
}

pub async fn refresh(sim: &SimHandle, refresh_token: &str) -> (u16, Value) {
    let c = &sim.oauth_clients[0];
    token_request(
        sim,
        serde_json::json!({"grant_type": "refresh_token", "client_id": c.client_id, "client_secret": c.client_secret, "refresh_token": refresh_token}),
    )
    .await
}

/// Full OAuth dance; returns the token response.
pub async fn oauth_tokens(sim: &SimHandle, scope: &str) -> Value {
    let (verifier, challenge) = pkce();
    let code = code_for(sim, scope, Some(&challenge)).await;
    let (status, body) = exchange(sim, &code, Some(&verifier)).await;
    assert_eq!(status, 200, "{body}");
    body
}

/// A request through the gateway with a bearer token.
pub fn gateway_req(
    sim: &SimHandle,
    site: usize,
    method: Method,
    path: &str,
    bearer: &str,
) -> RequestBuilder {
    client()
        .request(
            method,
            format!("{}/ex/jira/{}{path}", sim.api_url, sim.sites[site].cloud_id),
        )
        .header("Authorization", format!("Bearer {bearer}"))
}

pub fn s(v: &Value) -> String {
    v.as_str()
        .map(str::to_owned)
        .unwrap_or_else(|| v.to_string())
}

/// Adds `X-ExperimentalApi: opt-in`, which experimental Service Management operations need.
pub fn opt_in(req: RequestBuilder) -> RequestBuilder {
    req.header("X-ExperimentalApi", "opt-in")
}
