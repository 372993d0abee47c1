use std::collections::HashSet;

use reqwest::Method;
use serde_json::{Value, json};

use crate::common::*;

async fn page_all(sim: &atlassian_sim::SimHandle, jql: &str, max: usize) -> (Vec<String>, usize) {
    let mut keys = Vec::new();
    let mut token: Option<String> = None;
    let mut pages = 0;
    loop {
        let mut q = vec![
            ("jql", jql.to_owned()),
            ("maxResults", max.to_string()),
            ("fields", "summary".to_owned()),
        ];
        if let Some(t) = &token {
            q.push(("nextPageToken", t.clone()));
        }
        let resp = site_req(sim, Method::GET, "/rest/api/3/search/jql")
            .query(&q)
            .send()
            .await
            .unwrap();
        let (status, page) = json_of(resp).await;
        assert_eq!(status, 200, "{page}");
        assert!(page.get("total").is_none(), "search/jql has no total");
        pages += 1;
        for i in page["issues"].as_array().unwrap() {
            keys.push(s(&i["key"]));
            assert!(i["fields"]["summary"].is_string());
        }
        match page.get("nextPageToken").and_then(Value::as_str) {
            Some(t) => {
                assert_eq!(page["isLast"], false);
                token = Some(t.to_owned());
            }
            None => {
                assert_eq!(page["isLast"], true);
                break;
            }
        }
        assert!(pages < 1000);
    }
    (keys, pages)
}

#[tokio::test]
async fn paging_returns_exactly_the_seeded_set() {
    let n = 301;
    let sim = sim(n).await;
    let (_, projects) = get(&sim, "/rest/api/3/project/search?maxResults=100").await;
    let mut all = Vec::new();
    for p in projects["values"].as_array().unwrap() {
        let (keys, pages) = page_all(
            &sim,
            &format!("project = {} ORDER BY key", s(&p["key"])),
            20,
        )
        .await;
        assert!(pages > 1);
        let nums: Vec<u32> = keys
            .iter()
            .map(|k| k.rsplit('-').next().unwrap().parse().unwrap())
            .collect();
        assert!(nums.windows(2).all(|w| w[0] < w[1]), "ordered by key");
        all.extend(keys);
    }
    assert_eq!(all.len(), n);
    assert_eq!(all.iter().collect::<HashSet<_>>().len(), n);
    // A created issue shows up; the count follows.
    let (status, _) = send(&sim, Method::POST, "/rest/api/3/issue", json!({"fields": {"project": {"key": "MKT"}, "summary": "new", "issuetype": {"name": "Task"}}})).await;
    assert_eq!(status, 201);
    let (keys, _) = page_all(&sim, "project = MKT ORDER BY key DESC", 1000).await;
    assert_eq!(keys.len(), 76);
    let (_, count) = send(
        &sim,
        Method::POST,
        "/rest/api/3/search/approximate-count",
        json!({"jql": "project = MKT"}),
    )
    .await;
    assert_eq!(count["count"], 76);
}

#[tokio::test]
async fn post_search_fields_and_default_id_only() {
    let sim = sim(40).await;
    let (status, page) = send(&sim, Method::POST, "/rest/api/3/search/jql", json!({"jql": "project = ENG ORDER BY key", "maxResults": 3, "fields": ["summary", "status"], "expand": "names"})).await;
    assert_eq!(status, 200, "{page}");
    let first = &page["issues"][0];
    assert_eq!(first["key"], "ENG-1");
    assert!(first["fields"]["status"]["name"].is_string());
    assert!(first["fields"].get("priority").is_none());
    let (_, page) = get(
        &sim,
        "/rest/api/3/search/jql?jql=project%20%3D%20ENG&maxResults=2",
    )
    .await;
    assert!(
        page["issues"][0].get("fields").is_none(),
        "default fields is id only"
    );
    assert!(page["issues"][0]["id"].is_string());
    let (status, _) = get(
        &sim,
        "/rest/api/3/search/jql?jql=project%20%3D%20ENG&nextPageToken=bogus",
    )
    .await;
    assert_eq!(status, 400);
}

#[tokio::test]
async fn jql_subset_semantics() {
    let sim = sim(200).await;
    let count = |jql: &'static str| {
        let sim = &sim;
        async move {
            let (status, c) = send(
                sim,
                Method::POST,
                "/rest/api/3/search/approximate-count",
                json!({"jql": jql}),
            )
            .await;
            assert_eq!(status, 200, "{jql}: {c}");
            c["count"].as_u64().unwrap()
        }
    };
    assert_eq!(count("project = ENG").await, 50);
    assert_eq!(count("project in (ENG, OPS)").await, 100);
    assert_eq!(count("project not in (ENG, OPS)").await, 100);
    let done = count("statusCategory = Done").await;
    let not_done = count("statusCategory != Done").await;
    assert_eq!(done + not_done, 200);
    assert_eq!(count("resolution = Unresolved").await, not_done);
    let mine = count("assignee = currentUser()").await;
    let empty = count("assignee is EMPTY").await;
    let other = count("assignee != currentUser() AND assignee is not EMPTY").await;
    assert_eq!(mine + empty + other, 200);
    assert!(mine > 0 && empty > 0);
    assert_eq!(count("created >= -365d").await, 200);
    assert_eq!(count("created > now()").await, 0);
    let week = count("updated >= -7d").await;
    assert!(week < 200);
    assert_eq!(
        count("(project = ENG OR project = OPS) AND issuetype = Epic").await,
        10
    );
    assert_eq!(count("project = ENG AND NOT issuetype = Epic").await, 45);
    assert_eq!(count("summary ~ \"overhaul\"").await, 10, "epic summaries");
    assert_eq!(count("key = ENG-3").await, 1);
    assert_eq!(count("project = ENG AND key >= ENG-41").await, 10);
    let labelled =
        count("labels in (backend, frontend, customer, urgent, tech-debt, security)").await;
    assert_eq!(labelled + count("labels is EMPTY").await, 200);
    assert!(count("sprint in openSprints()").await > 0);
    assert_eq!(
        count("priority >= Medium").await + count("priority < Medium").await,
        200
    );
    for bad in [
        "project = NOPE",
        "bogus = 1",
        "project = ENG AND",
        "summary = \"x",
        "project = ENG ORDER BY nonsense",
    ] {
        let (status, body) = send(
            &sim,
            Method::POST,
            "/rest/api/3/search/jql",
            json!({"jql": bad}),
        )
        .await;
        assert_eq!(status, 400, "{bad}");
        assert!(!body["errorMessages"].as_array().unwrap().is_empty());
    }
    let (status, body) = send(
        &sim,
        Method::POST,
        "/rest/api/3/search/jql",
        json!({"jql": "order by key desc"}),
    )
    .await;
    assert_eq!(status, 400);
    assert!(s(&body["errorMessages"][0]).contains("Unbounded"));
}

#[tokio::test]
async fn removed_search_answers_410() {
    let sim = sim(4).await;
    let (status, body) = get(&sim, "/rest/api/3/search?jql=project%20%3D%20ENG").await;
    assert_eq!(status, 410);
    assert!(s(&body["errorMessages"][0]).contains("/rest/api/3/search/jql"));
    assert_eq!(
        send(
            &sim,
            Method::POST,
            "/rest/api/3/search",
            json!({"jql": "project = ENG"})
        )
        .await
        .0,
        410
    );
}

#[tokio::test]
async fn jql_parse_and_autocomplete() {
    let sim = sim(4).await;
    let (status, out) = send(&sim, Method::POST, "/rest/api/3/jql/parse", json!({"queries": ["project = ENG AND status in (Done, \"In Progress\") ORDER BY key DESC", "project = ", "bogus = 1"]})).await;
    assert_eq!(status, 200);
    let q = &out["queries"];
    assert_eq!(q[0]["structure"]["where"]["operator"], "and");
    assert_eq!(
        q[0]["structure"]["orderBy"]["fields"][0]["direction"],
        "desc"
    );
    assert!(q[0].get("errors").is_none());
    assert!(q[1]["errors"].is_array());
    assert!(q[2]["errors"].is_array());
    let (_, ac) = get(&sim, "/rest/api/3/jql/autocompletedata").await;
    assert!(
        ac["visibleFieldNames"]
            .as_array()
            .unwrap()
            .iter()
            .any(|f| f["value"] == "project")
    );
    assert!(
        ac["visibleFunctionNames"]
            .as_array()
            .unwrap()
            .iter()
            .any(|f| f["value"] == "currentUser()")
    );
}
