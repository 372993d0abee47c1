//! One end-to-end test per route over a real socket against atlassian-sim, on SQLite and on
//! PostgreSQL.

use reqwest::{Method, StatusCode};
use serde_json::json;

use crate::both_backends;
use crate::common::{Db, Env};

// The two seed calls, exactly as a hosted-connector client sends them (host swapped).
both_backends!(seed_calls_run_as_written, |db: Db| async move {
    let env = Env::start(db).await;
    let id = env.seed_connector("jira").await;
    let project = env
        .project_keys()
        .await
        .into_iter()
        .next()
        .expect("a seeded project");
    let r = env
        .client
        .post(
            &env.url(&format!("/api/v1/integrations/connectors/{id}/execute")),
            Some(env.key()),
            &json!({"entity": "issues", "action": "search", "params": {"jql": format!("project = {project}")}}),
        )
        .await;
    assert_eq!(r.status, StatusCode::OK, "{}", r.text);
    let v = r.json();
    assert!(!v["data"].is_null(), "{}", r.text);
    assert!(v["data"].to_string().contains(&project));
    env.client.assert_never_seen(
        &env.sim_secrets()
            .iter()
            .map(String::as_str)
            .collect::<Vec<_>>(),
    );
});

both_backends!(connectors_crud, |db: Db| async move {
    let env = Env::start(db).await;
    let key = env.key();
    let id = env.seed_connector("crud").await;
    // a second one in another workspace, for the filter
    let mut other = env.seed_body("other");
    other["workspace_name"] = json!("elsewhere");
    assert_eq!(
        env.client
            .post(
                &env.url("/api/v1/integrations/connectors"),
                Some(key),
                &other
            )
            .await
            .status,
        StatusCode::CREATED
    );
    // the same name twice in a workspace is a conflict
    let dup = env
        .client
        .post(
            &env.url("/api/v1/integrations/connectors"),
            Some(key),
            &env.seed_body("crud"),
        )
        .await;
    dup.assert_problem(409, "conflict");

    let all = env
        .client
        .get(&env.url("/api/v1/integrations/connectors"), Some(key))
        .await;
    assert_eq!(
        all.json()["data"].as_array().unwrap().len(),
        2,
        "{}",
        all.text
    );
    let w = env
        .client
        .get(
            &env.url("/api/v1/integrations/connectors?workspace_name=w"),
            Some(key),
        )
        .await;
    let w = w.json();
    assert_eq!(w["data"].as_array().unwrap().len(), 1);
    assert_eq!(w["data"][0]["id"], id.as_str());

    let one = env
        .client
        .get(
            &env.url(&format!("/api/v1/integrations/connectors/{id}")),
            Some(key),
        )
        .await;
    assert_eq!(one.status, StatusCode::OK);
    let one = one.json();
    assert_eq!(one["name"], "crud");
    assert_eq!(one["auth_kind"], "api_token");
    assert_eq!(one["status"], "healthy");
    assert_eq!(one["workspace_name"], "w");

    // PATCH: a wrong token is verified and refused, the stored one stays
    let u = &env.sim.users[0];
    let bad = env
        .client
        .send(
            Method::PATCH,
            &env.url(&format!("/api/v1/integrations/connectors/{id}")),
            Some(key),
            Some(&json!({"credentials": {"username": u.email, "password": "not-the-token"}})),
            &[],
        )
        .await;
    assert!(bad.status.is_client_error(), "{} {}", bad.status, bad.text);
    assert!(bad.content_type().starts_with("application/problem+json"));
    // PATCH without the secret: credentials must be re-entered
    let partial = env
        .client
        .send(
            Method::PATCH,
            &env.url(&format!("/api/v1/integrations/connectors/{id}")),
            Some(key),
            Some(&json!({"credentials": {"username": u.email}})),
            &[],
        )
        .await;
    partial.assert_problem(422, "validation");
    let good = env
        .client
        .send(
            Method::PATCH,
            &env.url(&format!("/api/v1/integrations/connectors/{id}")),
            Some(key),
            Some(&json!({"credentials": {"username": u.email, "password": u.api_token}})),
            &[],
        )
        .await;
    assert_eq!(good.status, StatusCode::OK, "{}", good.text);
    assert!(good.json()["version"].as_i64().unwrap() >= one["version"].as_i64().unwrap());

    let del = env
        .client
        .send(
            Method::DELETE,
            &env.url(&format!("/api/v1/integrations/connectors/{id}")),
            Some(key),
            None,
            &[],
        )
        .await;
    assert_eq!(del.status, StatusCode::NO_CONTENT, "{}", del.text);
    env.client
        .get(
            &env.url(&format!("/api/v1/integrations/connectors/{id}")),
            Some(key),
        )
        .await
        .assert_problem(404, "not_found");
    env.client.assert_never_seen(
        &env.sim_secrets()
            .iter()
            .map(String::as_str)
            .collect::<Vec<_>>(),
    );
});

both_backends!(create_validation, |db: Db| async move {
    let env = Env::start(db).await;
    let key = env.key();
    let url = env.url("/api/v1/integrations/connectors");
    let r = env.client.post(&url, Some(key), &json!({"name": 5})).await;
    let p = r.assert_problem(422, "validation");
    assert!(r.text.contains("name"), "{p}");
    let mut b = env.seed_body("x");
    b["connector_type"] = json!("Slack");
    env.client
        .post(&url, Some(key), &b)
        .await
        .assert_problem(422, "validation");
    let mut b = env.seed_body("x");
    b["replication_config"] = json!({"subdomain": "acme", "api_type": "nope"});
    let r = env.client.post(&url, Some(key), &b).await;
    assert!(
        r.assert_problem(422, "validation")["field"]
            .as_str()
            .unwrap()
            .contains("api_type")
    );
    let mut b = env.seed_body("x");
    b["credentials"] = json!({"username": "a@b.c", "password": "wrong"});
    let r = env.client.post(&url, Some(key), &b).await;
    assert!(r.status.is_client_error(), "{}", r.text);
    // a site the credential cannot reach
    let mut b = env.seed_body("x");
    b["replication_config"] = json!({"subdomain": "no-such-site"});
    assert!(
        env.client
            .post(&url, Some(key), &b)
            .await
            .status
            .is_client_error()
    );
    // not JSON at all
    let r = env
        .client
        .send(
            Method::POST,
            &url,
            Some(key),
            None,
            &[("content-type", "application/json")],
        )
        .await;
    r.assert_problem(400, "validation");
});

both_backends!(describe_execute_check, |db: Db| async move {
    let env = Env::start(db).await;
    let key = env.key();
    let id = env.seed_connector("dx").await;
    let d = env
        .client
        .get(
            &env.url(&format!("/api/v1/integrations/connectors/{id}/describe")),
            Some(key),
        )
        .await;
    assert_eq!(d.status, StatusCode::OK);
    assert!(
        d.text.contains("\"search\"") && d.text.contains("issues"),
        "{}",
        &d.text[..d.text.len().min(300)]
    );
    let f = env
        .client
        .get(
            &env.url(&format!(
                "/api/v1/integrations/connectors/{id}/describe?filter=sprint"
            )),
            Some(key),
        )
        .await;
    assert_eq!(f.status, StatusCode::OK);
    assert!(f.text.len() < d.text.len());

    let exec = env.url(&format!("/api/v1/integrations/connectors/{id}/execute"));
    let r = env
        .client
        .post(
            &exec,
            Some(key),
            &json!({"entity": "issues", "action": "search", "params": {"jql": 42}}),
        )
        .await;
    assert!(
        r.status.is_client_error() && r.text.contains("jql"),
        "{}",
        r.text
    );
    let r = env
        .client
        .post(
            &exec,
            Some(key),
            &json!({"entity": "nope", "action": "search"}),
        )
        .await;
    assert!(r.status.is_client_error(), "{}", r.text);
    // Jira's own error carries its status and messages
    let r = env
        .client
        .post(
            &exec,
            Some(key),
            &json!({"entity": "issues", "action": "get", "params": {"issue": "NOPE-999999"}}),
        )
        .await;
    // A missing issue is the caller's mistake, not an outage: 404 not_found with Jira's words.
    let p = r.assert_problem(404, "not_found");
    assert_eq!(p["upstream_status"], 404, "{p}");
    assert!(
        p["messages"].as_array().is_some_and(|m| !m.is_empty()),
        "{p}"
    );
    // Invalid JQL and a bad page token: Jira's 400 comes back as a 400 `upstream_rejected`.
    for params in [
        json!({"jql": "project = = ENG"}),
        json!({"jql": "project = ENG", "page_token": "not-a-token-jira-knows"}),
    ] {
        let r = env
            .client
            .post(
                &exec,
                Some(key),
                &json!({"entity": "issues", "action": "search", "params": params}),
            )
            .await;
        if r.status == StatusCode::UNPROCESSABLE_ENTITY {
            // jiragate itself may refuse a malformed page token before calling Jira.
            r.assert_problem(422, "validation");
            continue;
        }
        let p = r.assert_problem(400, "upstream_rejected");
        assert_eq!(p["upstream_status"], 400, "{p}");
        assert!(
            p["messages"].as_array().is_some_and(|m| !m.is_empty()),
            "{p}"
        );
    }

    let c = env
        .client
        .post(
            &env.url(&format!("/api/v1/integrations/connectors/{id}/check")),
            Some(key),
            &json!({}),
        )
        .await;
    assert_eq!(c.status, StatusCode::OK, "{}", c.text);
    assert_eq!(c.json()["status"], "healthy");
});

both_backends!(proxy_streams_both_ways, |db: Db| async move {
    let env = Env::start(db).await;
    let key = env.key();
    let id = env.seed_connector("px").await;
    let base = env.url(&format!("/api/v1/integrations/connectors/{id}/proxy"));
    let me = env
        .client
        .get(&format!("{base}/rest/api/3/myself"), Some(key))
        .await;
    assert_eq!(me.status, StatusCode::OK, "{}", me.text);
    assert_eq!(me.json()["emailAddress"], env.sim.users[0].email.as_str());
    // query string passes through
    let p = env
        .client
        .get(
            &format!("{base}/rest/api/3/project/search?maxResults=1"),
            Some(key),
        )
        .await;
    assert_eq!(p.status, StatusCode::OK, "{}", p.text);
    assert_eq!(
        p.json()["values"].as_array().map(Vec::len),
        Some(1),
        "{}",
        p.text
    );
    // a body goes upstream: create an issue
    let project = env.project_keys().await.into_iter().next().unwrap();
    let created = env
        .client
        .post(&format!("{base}/rest/api/3/issue"), Some(key),
              &json!({"fields": {"project": {"key": project}, "summary": "through the proxy", "issuetype": {"name": "Task"}}}))
        .await;
    assert_eq!(created.status, StatusCode::CREATED, "{}", created.text);
    let issue_key = created.json()["key"].as_str().unwrap().to_owned();
    let got = env
        .client
        .get(&format!("{base}/rest/api/3/issue/{issue_key}"), Some(key))
        .await;
    assert!(got.text.contains("through the proxy"));
    // Jira's errors pass through untouched (not turned into problems)
    let missing = env
        .client
        .get(&format!("{base}/rest/api/3/issue/NOPE-424242"), Some(key))
        .await;
    assert_eq!(missing.status, StatusCode::NOT_FOUND);
    assert!(missing.text.contains("errorMessages"), "{}", missing.text);
    // hop-by-hop headers are not echoed back
    assert!(got.headers.get("keep-alive").is_none() && got.headers.get("set-cookie").is_none());
    // without the proxy scope: 403
    let exec_only = env.key_with(&["execute"]).await;
    env.client
        .get(&format!("{base}/rest/api/3/myself"), Some(&exec_only))
        .await
        .assert_problem(403, "forbidden");
    // Jira's rate-limit headers come back to the caller
    env.sim.set_rate_limit(Some(1000));
    let r = env
        .client
        .get(&format!("{base}/rest/api/3/myself"), Some(key))
        .await;
    env.sim.set_rate_limit(None);
    assert_eq!(r.status, StatusCode::OK);
    assert!(
        r.headers.get("x-ratelimit-remaining").is_some(),
        "{:?}",
        r.headers
    );
    assert!(
        r.headers
            .get("x-ratelimit-limit")
            .is_some_and(|v| v == "1000"),
        "{:?}",
        r.headers
    );
});

both_backends!(api_keys_scopes_and_orgs, |db: Db| async move {
    let env = Env::start(db).await;
    let admin = env.key();
    let url = env.url("/api/v1/integrations/connectors");
    // 401: none, unknown, malformed
    let r = env.client.get(&url, None).await;
    r.assert_problem(401, "unauthorized");
    assert!(r.headers.get("www-authenticate").is_some());
    env.client
        .get(&url, Some("jg_definitely_not_a_key"))
        .await
        .assert_problem(401, "unauthorized");
    let r = env
        .client
        .send(
            Method::GET,
            &url,
            None,
            None,
            &[("authorization", "Basic Zm9vOmJhcg==")],
        )
        .await;
    r.assert_problem(401, "unauthorized");

    // keys: create (shown once), list (never shown), scope checks, revoke
    let created = env
        .client
        .post(
            &env.url("/api/v1/keys"),
            Some(admin),
            &json!({"name": "ci", "scopes": ["execute"]}),
        )
        .await;
    assert_eq!(created.status, StatusCode::CREATED, "{}", created.text);
    let created = created.json();
    let ci_key = created["key"].as_str().unwrap().to_owned();
    let ci_id = created["id"].as_str().unwrap().to_owned();
    let list = env.client.get(&env.url("/api/v1/keys"), Some(admin)).await;
    assert_eq!(list.status, StatusCode::OK);
    assert!(list.text.contains(&ci_id) && !list.text.contains(&ci_key));
    // use is recorded (asynchronously)
    let _ = env.client.get(&url, Some(&ci_key)).await;
    let mut used = false;
    for _ in 0..50 {
        let l = env
            .client
            .get(&env.url("/api/v1/keys"), Some(admin))
            .await
            .json();
        let rec = l["data"]
            .as_array()
            .unwrap()
            .iter()
            .find(|k| k["id"] == ci_id.as_str())
            .cloned()
            .unwrap();
        if rec["last_used_at"].is_string() {
            used = true;
            break;
        }
        tokio::time::sleep(std::time::Duration::from_millis(20)).await;
    }
    assert!(used, "last_used_at recorded");
    // an execute-only key may not create connectors or keys
    env.client
        .post(&url, Some(&ci_key), &env.seed_body("nope"))
        .await
        .assert_problem(403, "forbidden");
    env.client
        .get(&env.url("/api/v1/keys"), Some(&ci_key))
        .await
        .assert_problem(403, "forbidden");
    env.client
        .post(
            &env.url("/api/v1/keys"),
            Some(admin),
            &json!({"name": "bad", "scopes": ["root"]}),
        )
        .await
        .assert_problem(422, "validation");
    // revoke → 401 afterwards
    let rv = env
        .client
        .send(
            Method::DELETE,
            &env.url(&format!("/api/v1/keys/{ci_id}")),
            Some(admin),
            None,
            &[],
        )
        .await;
    assert_eq!(rv.status, StatusCode::NO_CONTENT, "{}", rv.text);
    env.client
        .get(&url, Some(&ci_key))
        .await
        .assert_problem(401, "unauthorized");

    // workspaces
    let ws = env
        .client
        .post(
            &env.url("/api/v1/workspaces"),
            Some(admin),
            &json!({"name": "team-a"}),
        )
        .await;
    assert_eq!(ws.status, StatusCode::CREATED, "{}", ws.text);
    let wl = env
        .client
        .get(&env.url("/api/v1/workspaces"), Some(admin))
        .await;
    assert!(
        wl.json()["data"]
            .as_array()
            .unwrap()
            .iter()
            .any(|w| w["name"] == "team-a"),
        "{}",
        wl.text
    );

    // organizations: the bootstrap admin key is a platform key
    let org = env
        .client
        .post(
            &env.url("/api/v1/organizations"),
            Some(admin),
            &json!({"name": "tenant-1"}),
        )
        .await;
    assert_eq!(org.status, StatusCode::CREATED, "{}", org.text);
    let org_id = org.json()["id"].as_str().unwrap().to_owned();
    env.client
        .post(
            &env.url("/api/v1/organizations"),
            Some(admin),
            &json!({"name": "tenant-1"}),
        )
        .await
        .assert_problem(409, "conflict");
    let orgs = env
        .client
        .get(&env.url("/api/v1/organizations"), Some(admin))
        .await;
    assert!(orgs.text.contains(&org_id));
    // act in the tenant: a connector there is invisible in the default org
    let in_tenant = env
        .client
        .send(
            Method::POST,
            &url,
            Some(admin),
            Some(&env.seed_body("tenant-conn")),
            &[("x-organization-id", &org_id)],
        )
        .await;
    assert_eq!(in_tenant.status, StatusCode::CREATED, "{}", in_tenant.text);
    let tenant_conn = in_tenant.json()["id"].as_str().unwrap().to_owned();
    env.client
        .get(
            &env.url(&format!("/api/v1/integrations/connectors/{tenant_conn}")),
            Some(admin),
        )
        .await
        .assert_problem(404, "not_found");
    // a tenant key (not platform) cannot reach other orgs nor manage organizations
    let tk = env
        .client
        .send(
            Method::POST,
            &env.url("/api/v1/keys"),
            Some(admin),
            Some(&json!({"name": "t", "scopes": ["admin"]})),
            &[("x-organization-id", &org_id)],
        )
        .await;
    assert_eq!(tk.status, StatusCode::CREATED, "{}", tk.text);
    let tenant_key = tk.json()["key"].as_str().unwrap().to_owned();
    let own = env
        .client
        .get(
            &env.url(&format!("/api/v1/integrations/connectors/{tenant_conn}")),
            Some(&tenant_key),
        )
        .await;
    assert_eq!(own.status, StatusCode::OK, "{}", own.text);
    let default_org = created["organization_id"].as_str().unwrap().to_owned();
    env.client
        .send(
            Method::GET,
            &url,
            Some(&tenant_key),
            None,
            &[("x-organization-id", &default_org)],
        )
        .await
        .assert_problem(403, "forbidden");
    env.client
        .get(&env.url("/api/v1/organizations"), Some(&tenant_key))
        .await
        .assert_problem(403, "forbidden");
    // a platform key naming an organization that does not exist
    env.client
        .send(
            Method::GET,
            &url,
            Some(admin),
            None,
            &[("x-organization-id", "0190aaaa-0000-7000-8000-000000000000")],
        )
        .await
        .assert_problem(404, "not_found");
});

both_backends!(oauth_clients_crud, |db: Db| async move {
    let env = Env::start(db).await;
    let admin = env.key();
    let c = &env.sim.oauth_clients[0];
    let r = env
        .client
        .post(&env.url("/api/v1/oauth/clients"), Some(admin),
              &json!({"client_id": c.client_id, "client_secret": c.client_secret, "scopes": ["read:jira-work"]}))
        .await;
    assert_eq!(r.status, StatusCode::CREATED, "{}", r.text);
    let id = r.json()["id"].as_str().unwrap().to_owned();
    assert!(
        r.json()["redirect_uri"]
            .as_str()
            .unwrap()
            .ends_with("/oauth/callback")
    );
    let l = env
        .client
        .get(&env.url("/api/v1/oauth/clients"), Some(admin))
        .await;
    assert!(l.text.contains(&id));
    let g = env
        .client
        .get(
            &env.url(&format!("/api/v1/oauth/clients/{id}")),
            Some(admin),
        )
        .await;
    assert_eq!(g.json()["client_id"], c.client_id.as_str());
    let d = env
        .client
        .send(
            Method::DELETE,
            &env.url(&format!("/api/v1/oauth/clients/{id}")),
            Some(admin),
            None,
            &[],
        )
        .await;
    assert_eq!(d.status, StatusCode::NO_CONTENT, "{}", d.text);
    env.client
        .get(
            &env.url(&format!("/api/v1/oauth/clients/{id}")),
            Some(admin),
        )
        .await
        .assert_problem(404, "not_found");
    env.client
        .post(
            &env.url("/api/v1/oauth/clients"),
            Some(admin),
            &json!({"client_id": "x"}),
        )
        .await
        .assert_problem(422, "validation");
    env.client.assert_never_seen(&[c.client_secret.as_str()]);
});

both_backends!(operational_endpoints, |db: Db| async move {
    let env = Env::start(db).await;
    let h = env.client.get(&env.url("/healthz"), None).await;
    assert_eq!(
        (h.status, h.json()["status"].clone()),
        (StatusCode::OK, json!("ok"))
    );
    let r = env.client.get(&env.url("/readyz"), None).await;
    assert_eq!(r.status, StatusCode::OK, "{}", r.text);
    let _ = env.seed_connector("m").await;
    let m = env.client.get(&env.url("/metrics"), None).await;
    assert_eq!(m.status, StatusCode::OK);
    assert!(m.text.contains("# TYPE"));
    assert!(
        m.text.contains("jiragate_http_requests_total"),
        "{}",
        m.text
    );
    assert!(
        m.text.contains("route=\"/api/v1/integrations/connectors\""),
        "{}",
        m.text
    );
    assert!(m.text.contains("jiragate_connections"), "{}", m.text);
    assert!(
        m.text.contains("jiragate_token_cache_hits_total"),
        "{}",
        m.text
    );
    assert!(
        m.text.contains("jiragate_upstream_requests_total"),
        "{}",
        m.text
    );
    let o = env.client.get(&env.url("/openapi.json"), None).await;
    let doc = o.json();
    assert!(doc["openapi"].as_str().unwrap().starts_with("3.1"));
    assert!(doc["paths"]["/api/v1/integrations/connectors"].is_object());
    let d = env.client.get(&env.url("/docs"), None).await;
    assert!(d.text.contains("<html") && d.text.contains("/openapi.json"));
    assert!(d.content_type().starts_with("text/html"));
    // unknown route and wrong method: problems too
    env.client
        .get(&env.url("/nope"), None)
        .await
        .assert_problem(404, "not_found");
    env.client
        .send(Method::PUT, &env.url("/healthz"), None, None, &[])
        .await
        .assert_problem(405, "method_not_allowed");
    // A caller's extension method is counted, but never becomes a label value of its own.
    let odd = Method::from_bytes(b"JGPROBEMETHOD").unwrap();
    let r = env
        .client
        .send(odd, &env.url("/healthz"), None, None, &[])
        .await;
    assert_eq!(r.status, StatusCode::METHOD_NOT_ALLOWED, "{}", r.text);
    let m = env.client.get(&env.url("/metrics"), None).await.text;
    assert!(!m.contains("JGPROBEMETHOD"), "{m}");
    assert!(
        m.lines()
            .any(|l| l.starts_with("jiragate_http_requests_total")
                && l.contains("route=\"/healthz\"")
                && l.contains("method=\"other\"")
                && l.contains("status=\"405\"")),
        "{m}"
    );
    // every response carries a request id
    assert!(h.headers.get("x-request-id").is_some());
});

both_backends!(credentials_token, |db: Db| async move {
    let env = Env::start(db).await;
    let admin = env.key();
    // an API-token connector has no access token to hand out
    let api_conn = env.seed_connector("api").await;
    let reader = env.key_with(&["credentials:read"]).await;
    let url = env.url("/api/v1/credentials/token");
    // admin alone does not imply credentials:read
    env.client
        .post(&url, Some(admin), &json!({"connector_id": api_conn}))
        .await
        .assert_problem(403, "forbidden");
    env.client
        .post(&url, Some(&reader), &json!({"connector_id": api_conn}))
        .await
        .assert_problem(422, "validation");
    env.client
        .post(&url, Some(&reader), &json!({}))
        .await
        .assert_problem(422, "validation");

    // OAuth connector for a user, through the connect flow
    let conn = crate::oauth::connect_with_subdomain(&env, "u-conn", Some("user-7")).await;
    let t = env
        .client
        .post(&url, Some(&reader), &json!({"connector_id": conn}))
        .await;
    assert_eq!(t.status, StatusCode::OK, "{}", t.text);
    let tv = t.json();
    let token = tv["access_token"].as_str().unwrap().to_owned();
    let base = tv["base_url"].as_str().unwrap().to_owned();
    // the token works against Jira directly
    let me = env
        .client
        .http
        .get(format!("{base}/rest/api/3/myself"))
        .bearer_auth(&token)
        .send()
        .await
        .unwrap();
    assert_eq!(me.status(), StatusCode::OK);
    // by workspace + user
    let t2 = env
        .client
        .post(
            &url,
            Some(&reader),
            &json!({"workspace_name": "w", "user_id": "user-7", "credential_for": "user"}),
        )
        .await;
    assert_eq!(t2.status, StatusCode::OK, "{}", t2.text);
    assert_eq!(t2.json()["connector_id"], conn.as_str());
    env.client
        .post(
            &url,
            Some(&reader),
            &json!({"workspace_name": "w", "user_id": "someone-else", "credential_for": "user"}),
        )
        .await
        .assert_problem(404, "not_found");
});

both_backends!(mcp_endpoint, |db: Db| async move {
    let env = Env::start(db).await;
    let init = json!({"jsonrpc": "2.0", "id": 1, "method": "initialize",
                      "params": {"protocolVersion": "2025-06-18", "capabilities": {}, "clientInfo": {"name": "it", "version": "0"}}});
    let accept = [("accept", "application/json, text/event-stream")];
    let r = env
        .client
        .send(Method::POST, &env.url("/mcp"), None, Some(&init), &accept)
        .await;
    r.assert_problem(401, "unauthorized");
    let proxy_only = env.key_with(&["proxy"]).await;
    env.client
        .send(
            Method::POST,
            &env.url("/mcp"),
            Some(&proxy_only),
            Some(&init),
            &accept,
        )
        .await
        .assert_problem(403, "forbidden");
    let r = env
        .client
        .send(
            Method::POST,
            &env.url("/mcp"),
            Some(env.key()),
            Some(&init),
            &accept,
        )
        .await;
    assert_eq!(r.status, StatusCode::OK, "{}", r.text);
    assert!(
        r.text.contains("protocolVersion") && r.text.contains("serverInfo"),
        "{}",
        r.text
    );
});

both_backends!(proxy_streams_unsized_bodies, |db: Db| async move {
    let env = Env::start(db).await;
    let id = env.seed_connector("stream").await;
    let project = env.project_keys().await.into_iter().next().unwrap();
    let body = json!({"fields": {"project": {"key": project}, "summary": "streamed body", "issuetype": {"name": "Task"}}}).to_string();
    // chunked: no Content-Length, the body arrives in pieces and is streamed upstream as-is
    let chunks: Vec<Result<Vec<u8>, std::io::Error>> =
        body.as_bytes().chunks(7).map(|c| Ok(c.to_vec())).collect();
    let r = env
        .client
        .http
        .post(env.url(&format!(
            "/api/v1/integrations/connectors/{id}/proxy/rest/api/3/issue"
        )))
        .bearer_auth(env.key())
        .header("content-type", "application/json")
        .body(reqwest::Body::wrap_stream(futures::stream::iter(chunks)))
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), StatusCode::CREATED);
    let v: serde_json::Value = r.json().await.unwrap();
    assert!(v["key"].as_str().unwrap().starts_with(&project));
});
