//! The client's upstream boundary with its cache of admitted bases: an admitted base is used
//! again without a new check, a refused one is refused (and named) on every call, and admitting
//! one base never admits another.

use axum::Router;
use axum::routing::get;
use jiragate_jira::upstream::UpstreamPolicy;
use jiragate_jira::{ClientConfig, JiraClient, JiraError, JiraRequest, StaticTokenSource};

use crate::support::*;

fn policy_client(allowed: &str) -> JiraClient {
    let policy = UpstreamPolicy::new(
        "http://localhost:1/{subdomain}",
        "http://localhost:1",
        &[allowed.to_owned()],
    )
    .expect("a loopback test policy");
    JiraClient::new(ClientConfig {
        upstream_policy: Some(policy),
        ..fast_config()
    })
}

#[tokio::test]
async fn admitted_bases_are_reused_and_refused_ones_never_reach_the_network() {
    let (base, log) =
        serve(Router::new().route("/rest/api/3/myself", get(|| async { "{}" }))).await;
    let host = base.trim_start_matches("http://").to_owned();
    let client = policy_client(&host);
    let admitted = StaticTokenSource(basic_target(&base));
    // The admitted host with a path: a different base, which the policy refuses.
    let other_base = StaticTokenSource(basic_target(&format!("{base}/jira")));
    let elsewhere = StaticTokenSource(basic_target("http://127.0.0.2:9"));
    for round in 0..3 {
        let ok = within(
            10,
            client.send(&admitted, JiraRequest::get("/rest/api/3/myself")),
        )
        .await;
        assert!(ok.is_ok(), "round {round}: {ok:?}");
        for (name, src) in [
            ("unlisted host", &elsewhere),
            ("path under the host", &other_base),
        ] {
            let err = within(10, client.send(src, JiraRequest::get("/rest/api/3/myself")))
                .await
                .expect_err(name);
            match &err {
                JiraError::InvalidRequest { field, message } => {
                    assert_eq!(field, "base_url", "{name}: {err:?}");
                    assert!(
                        message.contains("conn-test"),
                        "{name}: names the connection: {message}"
                    );
                }
                other => panic!("{name}, round {round}: expected a refusal, got {other:?}"),
            }
        }
    }
    assert_eq!(log.count(), 3, "only the admitted base's calls were sent");
}
