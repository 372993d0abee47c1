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

/// A JSON answer that breaks off before its declared length is not passed on as a short 200:
/// it is the transport failure it would have been before the headers (503
/// `upstream_unavailable`, naming the connection, with `Retry-After`), and the credential sent
/// upstream appears nowhere in it.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_answer_that_breaks_off_is_a_transport_failure() {
    async fn upstream(req: axum::extract::Request) -> axum::response::Response {
        use axum::response::IntoResponse;
        if req.uri().path().ends_with("/rest/api/3/myself") {
            return axum::Json(serde_json::json!({"accountId": "5b10a2844c20165700ede21g"}))
                .into_response();
        }
        // The head and the first bytes go out (and are read) before the connection is cut:
        // the break comes after the headers, while the body is being read.
        use futures::StreamExt;
        let first = futures::stream::once(async {
            Ok::<_, std::io::Error>(bytes::Bytes::from_static(br#"{"key":"ENG-1","self":"#))
        });
        let cut = futures::stream::once(async {
            tokio::time::sleep(std::time::Duration::from_millis(200)).await;
            Err(std::io::Error::other("cut"))
        });
        axum::response::Response::builder()
            .header("content-type", "application/json")
            .header("content-length", "1000")
            .body(axum::body::Body::from_stream(first.chain(cut)))
            .unwrap()
    }
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = listener.local_addr().unwrap();
    tokio::spawn(
        async move { axum::serve(listener, axum::Router::new().fallback(upstream)).await },
    );
    let env = Env::start_with(Db::Sqlite, Default::default(), |cfg| {
        cfg.allowed_upstream_hosts = vec![addr.to_string()];
    })
    .await;
    let token = "cut-off-token-7f3a";
    let r = env
        .client
        .post(
            &env.url("/api/v1/integrations/connectors"),
            Some(env.key()),
            &serde_json::json!({"workspace_name": "w", "name": "cut",
                "credentials": {"username": "a@b.example", "password": token},
                "replication_config": {"base_url": format!("http://{addr}")}}),
        )
        .await;
    assert_eq!(r.status, StatusCode::CREATED, "{}", r.text);
    let id = r.json()["id"].as_str().unwrap().to_owned();
    let r = env
        .client
        .get(
            &env.url(&format!(
                "/api/v1/integrations/connectors/{id}/proxy/rest/api/3/issue/ENG-1"
            )),
            Some(env.key()),
        )
        .await;
    let p = r.assert_problem(503, "upstream_unavailable");
    assert!(
        p["detail"].as_str().unwrap().contains(&id) && r.headers.contains_key("retry-after"),
        "{p} {:?}",
        r.headers
    );
    assert!(
        !r.text.contains(token) && !r.text.contains("ENG-1\",\"self"),
        "{}",
        r.text
    );
}
