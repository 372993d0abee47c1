use reqwest::Method;
use serde_json::json;

use crate::common::*;

#[tokio::test]
async fn site_basic_auth_and_refusals() {
    let sim = sim(4).await;
    let (status, me) = get(&sim, "/rest/api/3/myself").await;
    assert_eq!(status, 200);
    assert_eq!(me["accountId"], sim.users[0].account_id.as_str());
    assert_eq!(me["emailAddress"], sim.users[0].email.as_str());
    let site = sim.site_url("acme");
    let wrong = client()
        .get(format!("{site}/rest/api/3/myself"))
        .header("Authorization", basic_of(&sim.users[0].email, "wrong"))
        .send()
        .await
        .unwrap();
    assert_eq!(wrong.status(), 401);
    assert!(wrong.headers().get("x-arequestid").is_some());
    let scoped = client()
        .get(format!("{site}/rest/api/3/myself"))
        .header(
            "Authorization",
            basic_of(&sim.users[0].email, &sim.users[0].scoped_api_token),
        )
        .send()
        .await
        .unwrap();
    assert_eq!(
        scoped.status(),
        401,
        "scoped tokens only work through api.atlassian.com"
    );
    let t = oauth_tokens(&sim, "read:jira-user").await;
    let bearer = client()
        .get(format!("{site}/rest/api/3/myself"))
        .bearer_auth(s(&t["access_token"]))
        .send()
        .await
        .unwrap();
    assert_eq!(
        bearer.status(),
        401,
        "3LO tokens are refused on the site URL"
    );
    let none = client()
        .get(format!("{site}/rest/api/3/myself"))
        .send()
        .await
        .unwrap();
    assert_eq!(none.status(), 401);
    let unknown = client()
        .get(format!("{}/rest/api/3/myself", sim.site_url("nosuch")))
        .header("Authorization", basic(&sim))
        .send()
        .await
        .unwrap();
    assert_eq!(unknown.status(), 404);
}

#[tokio::test]
async fn gateway_bearer_scopes_and_scoped_api_tokens() {
    let sim = sim(8).await;
    let t = oauth_tokens(&sim, "read:jira-work read:jira-user").await;
    let at = s(&t["access_token"]);
    for site in 0..2 {
        let (status, _) = json_of(
            gateway_req(&sim, site, Method::GET, "/rest/api/3/issue/ENG-1", &at)
                .send()
                .await
                .unwrap(),
        )
        .await;
        assert_eq!(status, 200);
    }
    let (status, body) = json_of(
        gateway_req(&sim, 0, Method::POST, "/rest/api/3/issue", &at)
            .json(&json!({"fields": {"project": {"key": "ENG"}, "summary": "x", "issuetype": {"name": "Task"}}}))
            .send()
            .await
            .unwrap(),
    )
    .await;
    assert_eq!(status, 403);
    assert!(
        body["message"]
            .as_str()
            .unwrap()
            .contains("scope does not match")
    );
    // Granular scopes are accepted instead of the classic ones.
    let g = oauth_tokens(
        &sim,
        "read:user:jira read:application-role:jira read:group:jira read:avatar:jira",
    )
    .await;
    let (status, _) = json_of(
        gateway_req(
            &sim,
            0,
            Method::GET,
            "/rest/api/3/myself",
            &s(&g["access_token"]),
        )
        .send()
        .await
        .unwrap(),
    )
    .await;
    assert_eq!(status, 200);
    let (status, _) = json_of(
        gateway_req(
            &sim,
            0,
            Method::GET,
            "/rest/api/3/issue/ENG-1",
            &s(&g["access_token"]),
        )
        .send()
        .await
        .unwrap(),
    )
    .await;
    assert_eq!(status, 403);

    let u = &sim.users[0];
    let url = format!(
        "{}/ex/jira/{}/rest/api/3/myself",
        sim.api_url, sim.sites[0].cloud_id
    );
    let ok = client()
        .get(&url)
        .header("Authorization", basic_of(&u.email, &u.scoped_api_token))
        .send()
        .await
        .unwrap();
    assert_eq!(ok.status(), 200);
    let classic = client()
        .get(&url)
        .header("Authorization", basic_of(&u.email, &u.api_token))
        .send()
        .await
        .unwrap();
    assert_eq!(classic.status(), 401);
    let unknown_cloud = client()
        .get(format!(
            "{}/ex/jira/00000000-0000-0000-0000-000000000000/rest/api/3/myself",
            sim.api_url
        ))
        .bearer_auth(&at)
        .send()
        .await
        .unwrap();
    assert_eq!(unknown_cloud.status(), 404);
}

#[tokio::test]
async fn revocation_controls() {
    let sim = sim(4).await;
    let t = oauth_tokens(&sim, "read:jira-user offline_access").await;
    let at = s(&t["access_token"]);
    let revoke = |body: serde_json::Value| {
        let url = format!("{}/__sim/revoke", sim.auth_url);
        async move {
            client()
                .post(url)
                .json(&body)
                .send()
                .await
                .unwrap()
                .status()
                .as_u16()
        }
    };
    // A user's access to one site.
    assert_eq!(
        revoke(json!({"email": sim.users[0].email, "site": "globex"})).await,
        200
    );
    assert_eq!(
        gateway_req(&sim, 1, Method::GET, "/rest/api/3/myself", &at)
            .send()
            .await
            .unwrap()
            .status(),
        401
    );
    assert_eq!(
        gateway_req(&sim, 0, Method::GET, "/rest/api/3/myself", &at)
            .send()
            .await
            .unwrap()
            .status(),
        200
    );
    // The grant.
    assert_eq!(
        revoke(json!({"refresh_token": t["refresh_token"]})).await,
        200
    );
    assert_eq!(
        gateway_req(&sim, 0, Method::GET, "/rest/api/3/myself", &at)
            .send()
            .await
            .unwrap()
            .status(),
        401
    );
    assert_eq!(refresh(&sim, &s(&t["refresh_token"])).await.0, 403);
    // An API token.
    assert_eq!(get(&sim, "/rest/api/3/myself").await.0, 200);
    assert_eq!(
        revoke(json!({"api_token": sim.users[0].api_token})).await,
        200
    );
    assert_eq!(get(&sim, "/rest/api/3/myself").await.0, 401);
    assert_eq!(revoke(json!({"api_token": "unknown"})).await, 404);
}

#[tokio::test]
async fn tenant_info_and_request_ids() {
    let sim = sim(4).await;
    for site in &sim.sites {
        let (status, body) = json_of(
            client()
                .get(format!("{}/_edge/tenant_info", site.url))
                .send()
                .await
                .unwrap(),
        )
        .await;
        assert_eq!(status, 200);
        assert_eq!(body["cloudId"], site.cloud_id.as_str());
    }
    let mut ids = std::collections::HashSet::new();
    for path in [
        "/rest/api/3/myself",
        "/rest/api/3/nothing-here",
        "/rest/api/3/issue/NOPE-1",
    ] {
        let resp = site_req(&sim, Method::GET, path).send().await.unwrap();
        ids.insert(resp.headers()["x-arequestid"].to_str().unwrap().to_owned());
    }
    assert_eq!(ids.len(), 3);
    let (status, body) = get(&sim, "/rest/api/3/issue/NOPE-1").await;
    assert_eq!(status, 404);
    assert!(body["errorMessages"].is_array() && body["errors"].is_object());
}

#[tokio::test]
async fn stats_count_requests_by_route_template() {
    let sim = sim(4).await;
    get(&sim, "/rest/api/3/issue/ENG-1").await;
    get(&sim, "/rest/api/3/issue/OPS-1").await;
    let (status, st) = json_of(
        client()
            .get(format!("{}/__sim/stats", sim.auth_url))
            .send()
            .await
            .unwrap(),
    )
    .await;
    assert_eq!(status, 200);
    assert_eq!(st["requests"]["GET /rest/api/3/issue/{issueIdOrKey}"], 2);
    assert_eq!(
        sim.stats()
            .await
            .requests_for("GET /rest/api/3/issue/{issueIdOrKey}"),
        2
    );
    for k in [
        "token_requests",
        "refresh_token_reuse",
        "refresh_token_reuse_late",
        "rate_limited",
        "retry_after_violations",
    ] {
        assert!(st.get(k).is_some(), "{k}");
    }
}
