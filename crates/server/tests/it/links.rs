//! Links in Jira's answers lead back to the proxy: a client that follows `self`/`content`
//! links never goes to the upstream with a jiragate key, and binary bodies pass untouched.

use reqwest::{Method, StatusCode};
use serde_json::Value;

use crate::common::{Db, Env};
use crate::oauth::connect_with_subdomain;

/// Every absolute URL inside a JSON value.
fn urls(v: &Value, out: &mut Vec<String>) {
    match v {
        Value::String(s) if s.starts_with("http://") || s.starts_with("https://") => {
            out.push(s.clone())
        }
        Value::Array(a) => a.iter().for_each(|x| urls(x, out)),
        Value::Object(o) => o.values().for_each(|x| urls(x, out)),
        _ => {}
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn followed_links_stay_on_the_proxy() {
    let env = Env::start(Db::Sqlite).await;
    let token_conn = env.seed_connector("tok").await;
    let oauth_conn = connect_with_subdomain(&env, "oa", None).await;
    let keys = env.project_keys().await;
    let project = &keys[0];
    for id in [&token_conn, &oauth_conn] {
        let proxy = env.url(&format!("/api/v1/integrations/connectors/{id}/proxy"));
        let r = env
            .client
            .get(
                &format!("{proxy}/rest/api/3/search/jql?jql=project%20%3D%20{project}&maxResults=3&fields=summary"),
                Some(env.key()),
            )
            .await;
        assert_eq!(r.status, StatusCode::OK, "{}", r.text);
        assert!(
            !r.text.contains(&env.sim.api_url),
            "gateway links leaked: {}",
            r.text
        );
        assert!(
            !r.text.contains(&format!(
                "{}/rest/",
                env.sim.site_url(&env.sim.sites[0].subdomain)
            )),
            "site links leaked: {}",
            r.text
        );
        // A JSON answer of known size is rewritten whole and sent with its own length, not
        // re-chunked (one write, and the client knows the size).
        assert_eq!(
            r.headers
                .get("content-length")
                .and_then(|v| v.to_str().ok())
                .and_then(|v| v.parse::<usize>().ok()),
            Some(r.text.len()),
            "{:?}",
            r.headers
        );
        assert!(
            r.headers.get("transfer-encoding").is_none(),
            "{:?}",
            r.headers
        );
        let mut found = Vec::new();
        urls(&r.json(), &mut found);
        let selfs: Vec<&String> = found
            .iter()
            .filter(|u| u.contains("/rest/api/3/issue/"))
            .collect();
        assert!(!selfs.is_empty(), "no issue self links in {}", r.text);
        for link in &found {
            assert!(
                link.starts_with(&proxy),
                "{link} does not lead to the proxy"
            );
        }
        // Following a link works, with the same key, on the proxy.
        let issue = env.client.get(selfs[0], Some(env.key())).await;
        assert_eq!(
            issue.status,
            StatusCode::OK,
            "{} -> {}",
            selfs[0],
            issue.text
        );
        assert!(
            issue.json()["key"]
                .as_str()
                .is_some_and(|k| k.starts_with(project.as_str()))
        );
    }

    // An attachment whose bytes contain the upstream base comes back byte for byte, and its
    // `content` link leads to the proxy.
    let proxy = env.url(&format!(
        "/api/v1/integrations/connectors/{oauth_conn}/proxy"
    ));
    let payload = format!("binary {}/rest/api/3/x \u{0}\u{1}", env.sim.api_url).into_bytes();
    let form = reqwest::multipart::Form::new().part(
        "file",
        reqwest::multipart::Part::bytes(payload.clone())
            .file_name("blob.bin")
            .mime_str("application/octet-stream")
            .unwrap(),
    );
    let up = env
        .client
        .http
        .post(format!("{proxy}/rest/api/3/issue/{project}-1/attachments"))
        .bearer_auth(env.key())
        .header("X-Atlassian-Token", "no-check")
        .multipart(form)
        .send()
        .await
        .unwrap();
    assert_eq!(up.status(), StatusCode::OK);
    let created: Value = up.json().await.unwrap();
    let content = created[0]["content"]
        .as_str()
        .expect("content link")
        .to_owned();
    assert!(content.starts_with(&proxy), "{content}");
    let down = env
        .client
        .send(Method::GET, &content, Some(env.key()), None, &[])
        .await;
    assert_eq!(down.status, StatusCode::OK, "{}", down.text);
    assert_eq!(
        down.text.as_bytes(),
        payload.as_slice(),
        "binary body was changed"
    );
    // Passed through as Jira sent it, its length included.
    assert_eq!(
        down.headers
            .get("content-length")
            .and_then(|v| v.to_str().ok()),
        Some(payload.len().to_string().as_str()),
        "{:?}",
        down.headers
    );

    // HEAD is forwarded as HEAD: Jira's status comes back, with no body and no made-up length.
    let issue = format!("{proxy}/rest/api/3/issue/{project}-1");
    let head = env
        .client
        .send(Method::HEAD, &issue, Some(env.key()), None, &[])
        .await;
    let direct = reqwest::Client::new()
        .head(format!(
            "{}/rest/api/3/issue/{project}-1",
            env.sim.site_url(&env.sim.sites[0].subdomain)
        ))
        .send()
        .await
        .unwrap();
    assert_eq!(head.status, direct.status(), "{:?}", head.headers);
    assert!(head.text.is_empty(), "{}", head.text);
    assert_ne!(
        head.headers
            .get("content-length")
            .and_then(|v| v.to_str().ok()),
        Some("0"),
        "an empty length announced for a body Jira described: {:?}",
        head.headers
    );
}
