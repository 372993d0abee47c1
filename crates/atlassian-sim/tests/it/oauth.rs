use std::collections::HashSet;

use atlassian_sim::SimConfig;
use reqwest::Method;
use serde_json::json;

use crate::common::*;

#[tokio::test]
async fn code_exchange_returns_tokens_and_codes_are_single_use() {
    let sim = sim(4).await;
    let (verifier, challenge) = pkce();
    let code = code_for(&sim, "read:jira-work offline_access", Some(&challenge)).await;
    let (status, t) = exchange(&sim, &code, Some(&verifier)).await;
    assert_eq!(status, 200);
    assert!(t["access_token"].is_string() && t["refresh_token"].is_string());
    assert_eq!(t["expires_in"], 3600);
    assert_eq!(t["token_type"], "Bearer");
    let (status, err) = exchange(&sim, &code, Some(&verifier)).await;
    assert_eq!(status, 403);
    assert_eq!(err["error"], "invalid_grant");
    let stats = sim.stats().await;
    assert_eq!(stats.token_requests.authorization_code, 2);
}

#[tokio::test]
async fn state_is_passed_back_and_codes_expire() {
    let sim = sim(4).await;
    let (status, loc) = authorize(&sim, "read:jira-work", &[("state", "opaque-42")]).await;
    assert_eq!(status, 302);
    assert!(loc.starts_with(CALLBACK));
    assert_eq!(query_param(&loc, "state").as_deref(), Some("opaque-42"));
    let code = query_param(&loc, "code").unwrap();
    sim.advance_clock(301);
    let (status, err) = exchange(&sim, &code, None).await;
    assert_eq!(status, 403);
    assert!(
        err["error_description"]
            .as_str()
            .unwrap()
            .contains("expired")
    );
}

#[tokio::test]
async fn pkce_mismatch_missing_verifier_and_plain_method() {
    let sim = sim(4).await;
    let (_, challenge) = pkce();
    let code = code_for(&sim, "read:jira-work", Some(&challenge)).await;
    let (status, err) = exchange(
        &sim,
        &code,
        Some("not-the-verifier-but-long-enough-0123456789"),
    )
    .await;
    assert_eq!(
        (status, err["error"].as_str()),
        (403, Some("invalid_grant"))
    );
    let code = code_for(&sim, "read:jira-work", Some(&challenge)).await;
    assert_eq!(exchange(&sim, &code, None).await.0, 403);
    let (status, loc) = authorize(
        &sim,
        "read:jira-work",
        &[
            ("code_challenge", "plain-secret-value"),
            ("code_challenge_method", "plain"),
        ],
    )
    .await;
    assert_eq!(status, 302);
    let code = query_param(&loc, "code").unwrap();
    assert_eq!(
        exchange(&sim, &code, Some("plain-secret-value")).await.0,
        200
    );
}

#[tokio::test]
async fn authorize_validates_client_redirect_scope_audience() {
    let sim = sim(4).await;
    let (status, loc) = authorize(
        &sim,
        "read:jira-work",
        &[("redirect_uri", "http://evil.example/cb")],
    )
    .await;
    assert_eq!(
        (status, loc.as_str()),
        (400, ""),
        "a wrong redirect_uri is never redirected to"
    );
    let (status, _) = authorize(&sim, "read:jira-work", &[("client_id", "nope")]).await;
    assert_eq!(status, 400);
    let (status, loc) = authorize(&sim, "read:jira-work bogus:scope", &[]).await;
    assert_eq!(status, 302);
    assert_eq!(query_param(&loc, "error").as_deref(), Some("invalid_scope"));
    assert_eq!(query_param(&loc, "state").as_deref(), Some("st-123"));
    let (_, loc) = authorize(&sim, "read:jira-work", &[("audience", "example.com")]).await;
    assert_eq!(
        query_param(&loc, "error").as_deref(),
        Some("invalid_request")
    );
    let (_, loc) = authorize(&sim, "read:jira-work", &[("response_type", "token")]).await;
    assert_eq!(
        query_param(&loc, "error").as_deref(),
        Some("unsupported_response_type")
    );
}

#[tokio::test]
async fn bad_client_credentials_are_401() {
    let sim = sim(4).await;
    let code = code_for(&sim, "read:jira-work", None).await;
    let c = &sim.oauth_clients[0];
    let (status, e) = token_request(&sim, json!({"grant_type": "authorization_code", "client_id": c.client_id, "client_secret": "wrong", "code": code, "redirect_uri": CALLBACK})).await;
    assert_eq!(status, 401);
    assert_eq!(e["error"], "unauthorized_client");
    let (status, e) = token_request(&sim, json!({"grant_type": "refresh_token", "client_id": "unknown", "client_secret": "x", "refresh_token": "y"})).await;
    assert_eq!((status, e["error"].as_str()), (401, Some("access_denied")));
}

#[tokio::test]
async fn form_bodies_are_accepted() {
    let sim = sim(4).await;
    let code = code_for(&sim, "read:jira-work offline_access", None).await;
    let c = &sim.oauth_clients[0];
    let form = [
        ("grant_type", "authorization_code"),
        ("client_id", c.client_id.as_str()),
        ("client_secret", c.client_secret.as_str()),
        ("code", code.as_str()),
        ("redirect_uri", CALLBACK),
    ];
    let (status, t) = json_of(
        client()
            .post(format!("{}/oauth/token", sim.auth_url))
            .form(&form)
            .send()
            .await
            .unwrap(),
    )
    .await;
    assert_eq!(status, 200, "{t}");
    assert!(t["refresh_token"].is_string());
}

#[tokio::test]
async fn refresh_token_only_with_offline_access() {
    let sim = sim(4).await;
    let t = oauth_tokens(&sim, "read:jira-work").await;
    assert!(t["access_token"].is_string());
    assert!(t.get("refresh_token").is_none());
}

#[tokio::test]
async fn rotation_reuse_grace_and_family_revocation() {
    let sim = sim(4).await;
    let t1 = oauth_tokens(&sim, "read:jira-work read:jira-user offline_access").await;
    let r1 = s(&t1["refresh_token"]);
    let (status, t2) = refresh(&sim, &r1).await;
    assert_eq!(status, 200);
    let r2 = s(&t2["refresh_token"]);
    assert_ne!(r1, r2, "refresh tokens rotate");
    // Inside the reuse window the old token still works and yields the same successor.
    sim.advance_clock(300);
    let (status, t2b) = refresh(&sim, &r1).await;
    assert_eq!(status, 200);
    assert_eq!(s(&t2b["refresh_token"]), r2);
    // After the window: invalid_grant and the whole chain dies.
    sim.advance_clock(400);
    let (status, e) = refresh(&sim, &r1).await;
    assert_eq!((status, e["error"].as_str()), (403, Some("invalid_grant")));
    assert_eq!(refresh(&sim, &r2).await.0, 403, "family revoked");
    let (status, _) = json_of(
        gateway_req(
            &sim,
            0,
            Method::GET,
            "/rest/api/3/myself",
            &s(&t2["access_token"]),
        )
        .send()
        .await
        .unwrap(),
    )
    .await;
    assert_eq!(status, 401, "access tokens of a revoked family die too");
    let stats = sim.stats().await;
    assert_eq!(stats.token_requests.refresh_token, 4);
    assert_eq!(stats.refresh_token_reuse, 2);
    assert_eq!(
        stats.refresh_token_reuse_late, 1,
        "one reuse inside the window, one after it"
    );
}

#[tokio::test]
async fn refresh_tokens_expire_after_inactivity_and_absolute_lifetime() {
    let sim = sim(4).await;
    let t = oauth_tokens(&sim, "read:jira-work offline_access").await;
    sim.advance_clock(91 * 86_400);
    assert_eq!(refresh(&sim, &s(&t["refresh_token"])).await.0, 403);

    let t = oauth_tokens(&sim, "read:jira-work offline_access").await;
    let mut r = s(&t["refresh_token"]);
    for _ in 0..5 {
        sim.advance_clock(80 * 86_400);
        let (status, body) = refresh(&sim, &r).await;
        if status != 200 {
            assert_eq!(body["error"], "invalid_grant");
            return;
        }
        r = s(&body["refresh_token"]);
    }
    panic!("a refresh token family must not outlive 365 days");
}

#[tokio::test]
async fn access_token_expires_with_the_simulated_clock() {
    let sim = sim_with(SimConfig {
        issues_per_site: 4,
        access_token_ttl: std::time::Duration::from_secs(120),
        ..SimConfig::default()
    })
    .await;
    let t = oauth_tokens(&sim, "read:jira-user").await;
    assert_eq!(t["expires_in"], 120);
    let at = s(&t["access_token"]);
    assert_eq!(
        gateway_req(&sim, 0, Method::GET, "/rest/api/3/myself", &at)
            .send()
            .await
            .unwrap()
            .status(),
        200
    );
    let resp = client()
        .post(format!("{}/__sim/clock/advance", sim.auth_url))
        .json(&json!({"seconds": 121}))
        .send()
        .await
        .unwrap();
    assert_eq!(resp.status(), 200);
    assert_eq!(
        gateway_req(&sim, 0, Method::GET, "/rest/api/3/myself", &at)
            .send()
            .await
            .unwrap()
            .status(),
        401
    );
}

#[tokio::test]
async fn accessible_resources_lists_every_site_in_shuffled_order() {
    let sim = sim_with(SimConfig {
        issues_per_site: 2,
        sites: vec!["a1".into(), "b2".into(), "c3".into(), "d4".into()],
        ..SimConfig::default()
    })
    .await;
    let t = oauth_tokens(&sim, "read:jira-work").await;
    let mut orders = HashSet::new();
    for _ in 0..30 {
        let resp = client()
            .get(format!("{}/oauth/token/accessible-resources", sim.api_url))
            .bearer_auth(s(&t["access_token"]))
            .send()
            .await
            .unwrap();
        let (status, list) = json_of(resp).await;
        assert_eq!(status, 200);
        let ids: Vec<String> = list
            .as_array()
            .unwrap()
            .iter()
            .map(|r| s(&r["id"]))
            .collect();
        assert_eq!(ids.len(), 4);
        for r in list.as_array().unwrap() {
            assert!(r["url"].as_str().unwrap().contains("/site/"));
            assert_eq!(r["scopes"], json!(["read:jira-work"]));
            assert!(r["avatarUrl"].is_string() && r["name"].is_string());
        }
        orders.insert(ids);
    }
    assert!(orders.len() > 1, "order must vary");
    let unauth = client()
        .get(format!("{}/oauth/token/accessible-resources", sim.api_url))
        .bearer_auth("nope")
        .send()
        .await
        .unwrap();
    assert_eq!(unauth.status(), 401);
}

#[tokio::test]
async fn consent_page_lets_the_user_pick_sites_or_deny() {
    let sim = sim_with(SimConfig {
        issues_per_site: 2,
        consent_page: true,
        ..SimConfig::default()
    })
    .await;
    let c = &sim.oauth_clients[0];
    let resp = client()
        .get(format!("{}/authorize", sim.auth_url))
        .query(&[
            ("audience", "api.atlassian.com"),
            ("client_id", c.client_id.as_str()),
            ("scope", "read:jira-work"),
            ("redirect_uri", CALLBACK),
            ("state", "s1"),
            ("response_type", "code"),
            ("prompt", "consent"),
        ])
        .send()
        .await
        .unwrap();
    assert_eq!(resp.status(), 200);
    let html = resp.text().await.unwrap();
    assert!(html.contains("type=\"checkbox\"") && html.contains(&sim.sites[1].cloud_id));
    let base = [
        ("audience", "api.atlassian.com"),
        ("client_id", c.client_id.as_str()),
        ("scope", "read:jira-work"),
        ("redirect_uri", CALLBACK),
        ("state", "s1"),
        ("response_type", "code"),
    ];
    let mut form: Vec<(&str, &str)> = base.to_vec();
    form.push(("site", &sim.sites[1].cloud_id));
    form.push(("decision", "approve"));
    let resp = client()
        .post(format!("{}/authorize", sim.auth_url))
        .form(&form)
        .send()
        .await
        .unwrap();
    assert_eq!(resp.status(), 302);
    let loc = resp.headers()["location"].to_str().unwrap().to_owned();
    let (_, t) = exchange(&sim, &query_param(&loc, "code").unwrap(), None).await;
    let at = s(&t["access_token"]);
    let (_, list) = json_of(
        client()
            .get(format!("{}/oauth/token/accessible-resources", sim.api_url))
            .bearer_auth(&at)
            .send()
            .await
            .unwrap(),
    )
    .await;
    assert_eq!(list.as_array().unwrap().len(), 1);
    assert_eq!(list[0]["id"], sim.sites[1].cloud_id.as_str());
    // The site left out of the consent is not reachable with this grant.
    assert_eq!(
        gateway_req(&sim, 0, Method::GET, "/rest/api/3/serverInfo", &at)
            .send()
            .await
            .unwrap()
            .status(),
        404
    );
    let mut deny: Vec<(&str, &str)> = base.to_vec();
    deny.push(("decision", "deny"));
    let resp = client()
        .post(format!("{}/authorize", sim.auth_url))
        .form(&deny)
        .send()
        .await
        .unwrap();
    let loc = resp.headers()["location"].to_str().unwrap().to_owned();
    assert_eq!(query_param(&loc, "error").as_deref(), Some("access_denied"));
}
