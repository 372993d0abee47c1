//! Against atlassian-sim over real sockets: auth kinds, pagination of seeded data, errors,
//! rate limits.

use std::collections::BTreeSet;
use std::sync::Arc;
use std::time::Duration;

use atlassian_sim::{SimConfig, SimHandle, Simulator};
use futures::TryStreamExt;
use jiragate_jira::{
    JiraAuth, JiraClient, JiraError, JiraRequest, PageStyle, StaticTokenSource, Target,
    TokenSource, urls,
};
use secrecy::SecretString;
use serde_json::{Value, json};

use crate::support::*;

async fn start(issues_per_site: usize) -> SimHandle {
    Simulator::start(SimConfig {
        issues_per_site,
        ..SimConfig::default()
    })
    .await
    .expect("simulator starts")
}

fn site_target(sim: &SimHandle) -> Target {
    let user = &sim.info.users[0];
    Target::new(
        urls::site_base(&sim.info.site_url, &sim.info.sites[0].subdomain),
        JiraAuth::Basic {
            email: user.email.clone(),
            token: SecretString::from(user.api_token.clone()),
        },
        "sim-basic",
    )
}

#[tokio::test]
async fn myself_with_basic_on_a_site() {
    let sim = start(10).await;
    let client = JiraClient::new(fast_config());
    let target = site_target(&sim);
    assert_eq!(target.base_url, sim.site_url(&sim.info.sites[0].subdomain));
    let me: Value = within(
        10,
        client.send(
            &StaticTokenSource(target),
            JiraRequest::get("/rest/api/3/myself"),
        ),
    )
    .await
    .unwrap()
    .json()
    .unwrap();
    assert_eq!(me["accountId"], json!(sim.info.users[0].account_id));
}

#[tokio::test]
async fn scoped_token_with_basic_through_the_gateway() {
    let sim = start(10).await;
    let site = &sim.info.sites[0];
    let user = &sim.info.users[0];
    let base = urls::ex_jira(&sim.info.api_url, &site.cloud_id);
    assert_eq!(Some(base.clone()), sim.ex_jira_url(&site.subdomain));
    let src = StaticTokenSource(Target::new(
        base,
        JiraAuth::Basic {
            email: user.email.clone(),
            token: SecretString::from(user.scoped_api_token.clone()),
        },
        "sim-scoped",
    ));
    let client = JiraClient::new(fast_config());
    let me: Value = client
        .send(&src, JiraRequest::get("/rest/api/3/myself"))
        .await
        .unwrap()
        .json()
        .unwrap();
    assert_eq!(me["accountId"], json!(user.account_id));
}

#[tokio::test]
async fn wrong_api_token_is_unauthorized() {
    let sim = start(5).await;
    let mut target = site_target(&sim);
    target.auth = JiraAuth::Basic {
        email: sim.info.users[0].email.clone(),
        token: SecretString::from("not-the-token"),
    };
    let client = JiraClient::new(fast_config());
    let err = client
        .send(
            &StaticTokenSource(target),
            JiraRequest::get("/rest/api/3/myself"),
        )
        .await
        .unwrap_err();
    assert_eq!(err.kind(), "unauthorized", "{err:?}");
    assert!(!format!("{err:?}").contains("not-the-token"));
}

#[tokio::test]
async fn offset_and_token_pagination_cover_the_seeded_data() {
    const SEEDED: usize = 130;
    let sim = start(SEEDED).await;
    let client = JiraClient::new(fast_config());
    let src: Arc<dyn TokenSource> = Arc::new(StaticTokenSource(site_target(&sim)));

    // Offset pages of two projects each over project/search.
    let projects: Vec<Value> = within(
        10,
        client
            .paginate(
                src.clone(),
                JiraRequest::get("/rest/api/3/project/search").query("maxResults", "2"),
                PageStyle::Offset { items: "values" },
            )
            .try_collect(),
    )
    .await
    .unwrap();
    let keys: Vec<String> = projects
        .iter()
        .map(|p| p["key"].as_str().unwrap().to_owned())
        .collect();
    assert!(keys.len() > 2, "several pages of projects: {keys:?}");
    let all_at_once: Value = client
        .send(
            &*src,
            JiraRequest::get("/rest/api/3/project/search").query("maxResults", "100"),
        )
        .await
        .unwrap()
        .json()
        .unwrap();
    assert_eq!(json!(keys.len()), all_at_once["total"]);

    // Every seeded issue is in one of those projects; page through them 25 at a time.
    let jql = format!("project in ({}) ORDER BY key", keys.join(", "));
    for req in [
        JiraRequest::get("/rest/api/3/search/jql")
            .query("jql", jql.clone())
            .query("maxResults", "25")
            .query("fields", "summary"),
        JiraRequest::post(
            "/rest/api/3/search/jql",
            json!({"jql": jql, "maxResults": 25, "fields": ["summary"]}),
        ),
    ] {
        let issues: Vec<Value> = within(
            20,
            client
                .paginate(
                    src.clone(),
                    req,
                    PageStyle::NextPageToken { items: "issues" },
                )
                .try_collect(),
        )
        .await
        .unwrap();
        assert_eq!(issues.len(), SEEDED);
        let unique: BTreeSet<&str> = issues.iter().map(|i| i["key"].as_str().unwrap()).collect();
        assert_eq!(unique.len(), SEEDED, "no issue repeated across pages");
    }
    let stats = sim.stats().await;
    assert_eq!(
        stats.requests_for("GET /rest/api/3/search/jql"),
        6,
        "130 issues / 25 per page"
    );
    assert_eq!(stats.requests_for("POST /rest/api/3/search/jql"), 6);
}

#[tokio::test]
async fn maps_not_found_and_removed_search() {
    let sim = start(5).await;
    let client = JiraClient::new(fast_config());
    let src = StaticTokenSource(site_target(&sim));
    let err = client
        .send(&src, JiraRequest::get("/rest/api/3/issue/NOPE-99999"))
        .await
        .unwrap_err();
    match &err {
        JiraError::Upstream {
            status,
            messages,
            request_id,
            hint,
            ..
        } => {
            assert_eq!(*status, 404);
            assert!(!messages.is_empty());
            assert!(request_id.is_some(), "X-AREQUESTID is captured");
            assert!(
                hint.as_deref()
                    .unwrap()
                    .contains("issue key wrong or no permission")
            );
        }
        other => panic!("{other:?}"),
    }
    let err = client
        .send(
            &src,
            JiraRequest::get("/rest/api/3/search").query("jql", "project = ENG"),
        )
        .await
        .unwrap_err();
    assert_eq!(err.status(), Some(410));
    assert!(
        err.to_string().contains("use /rest/api/3/search/jql"),
        "{err}"
    );
}

#[tokio::test]
async fn sim_rate_limit_is_respected() {
    let sim = start(5).await;
    // No window reset may fall between the calls.
    sim.start_rate_window();
    sim.set_rate_limit(Some(3));
    let client = JiraClient::new(jiragate_jira::ClientConfig {
        deadline: Duration::from_secs(2),
        ..fast_config()
    });
    let src = StaticTokenSource(site_target(&sim));
    let mut limited = None;
    for _ in 0..5 {
        match client
            .send(&src, JiraRequest::get("/rest/api/3/myself"))
            .await
        {
            Ok(_) => {}
            Err(e) => {
                limited = Some(e);
                break;
            }
        }
    }
    let err = limited.expect("the fourth request within the window is limited");
    match err {
        JiraError::RateLimited { retry_after, .. } => assert!(retry_after > Duration::ZERO),
        other => panic!("{other:?}"),
    }
    let stats = sim.stats().await;
    // The third answer says the budget is spent (`X-RateLimit-Remaining: 0`), so the client
    // paces: the fourth call is refused locally and Jira never has to send a 429.
    assert_eq!(stats.requests_for("GET /rest/api/3/myself"), 3, "{stats:?}");
    assert_eq!(stats.rate_limited, 0);
    assert_eq!(stats.retry_after_violations, 0);
}
