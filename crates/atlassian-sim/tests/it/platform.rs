use atlassian_sim::SimConfig;
use reqwest::Method;
use serde_json::{Value, json};

use crate::common::*;

fn adf(text: &str) -> Value {
    json!({"type": "doc", "version": 1, "content": [{"type": "paragraph", "content": [{"type": "text", "text": text}]}]})
}

#[tokio::test]
async fn seeded_data_is_deterministic_per_seed() {
    let a = sim_with(SimConfig {
        seed: 7,
        issues_per_site: 40,
        ..SimConfig::default()
    })
    .await;
    let b = sim_with(SimConfig {
        seed: 7,
        issues_per_site: 40,
        ..SimConfig::default()
    })
    .await;
    let c = sim_with(SimConfig {
        seed: 8,
        issues_per_site: 40,
        ..SimConfig::default()
    })
    .await;
    assert_eq!(a.users[0].api_token, b.users[0].api_token);
    assert_eq!(a.sites[0].cloud_id, b.sites[0].cloud_id);
    assert_ne!(a.users[0].api_token, c.users[0].api_token);
    let mut same = 0;
    for n in 1..=10 {
        let path = format!(
            "/rest/api/3/issue/ENG-{n}?fields=summary,status,priority,labels,created,assignee"
        );
        // URLs carry the port; compare the data.
        let data = |v: Value| {
            json!([
                v["fields"]["summary"],
                v["fields"]["status"]["name"],
                v["fields"]["priority"]["name"],
                v["fields"]["labels"],
                v["fields"]["created"],
                v["fields"]["assignee"]["accountId"]
            ])
        };
        let (ja, jb, jc) = (
            data(get(&a, &path).await.1),
            data(get(&b, &path).await.1),
            data(get(&c, &path).await.1),
        );
        assert_eq!(ja, jb);
        if ja == jc {
            same += 1;
        }
    }
    assert!(same < 10, "another seed gives other data");
}

#[tokio::test]
async fn reference_data_endpoints() {
    let sim = sim(20).await;
    let (status, page) = get(&sim, "/rest/api/3/project/search?maxResults=2").await;
    assert_eq!(status, 200);
    assert_eq!(
        (page["total"].as_u64(), page["isLast"].as_bool()),
        (Some(4), Some(false))
    );
    let (_, page2) = get(&sim, "/rest/api/3/project/search?maxResults=2&startAt=2").await;
    assert_eq!(page2["isLast"], true);
    let (_, p) = get(&sim, "/rest/api/3/project/ENG").await;
    assert_eq!(p["key"], "ENG");
    assert!(
        p["issueTypes"]
            .as_array()
            .unwrap()
            .iter()
            .any(|t| t["name"] == "Epic")
    );
    let (_, fields) = get(&sim, "/rest/api/3/field").await;
    let custom: Vec<&Value> = fields
        .as_array()
        .unwrap()
        .iter()
        .filter(|f| f["custom"] == true)
        .collect();
    assert!(
        custom
            .iter()
            .any(|f| f["name"] == "Sprint" && f["id"] == "customfield_10020")
    );
    assert!(
        custom
            .iter()
            .any(|f| f["id"] == "customfield_10016" && f["schema"]["type"] == "number")
    );
    assert_eq!(
        get(&sim, "/rest/api/3/priority")
            .await
            .1
            .as_array()
            .unwrap()
            .len(),
        5
    );
    assert!(
        get(&sim, "/rest/api/3/status")
            .await
            .1
            .as_array()
            .unwrap()
            .len()
            >= 4
    );
    assert!(
        get(&sim, "/rest/api/3/issuetype")
            .await
            .1
            .as_array()
            .unwrap()
            .len()
            >= 5
    );
    let (_, users) = get(&sim, "/rest/api/3/user/search?query=bob").await;
    assert_eq!(users.as_array().unwrap().len(), 1);
    let (_, assignable) = get(&sim, "/rest/api/3/user/assignable/search?project=ENG").await;
    let (_, everyone) = get(&sim, "/rest/api/3/users/search").await;
    assert!(assignable.as_array().unwrap().len() < everyone.as_array().unwrap().len());
    let acct = sim.users[2].account_id.clone();
    let (status, u) = get(&sim, &format!("/rest/api/3/user?accountId={acct}")).await;
    assert_eq!(
        (status, u["accountId"].as_str()),
        (200, Some(acct.as_str()))
    );
    assert_eq!(get(&sim, "/rest/api/3/user?accountId=nope").await.0, 404);
    let (_, labels) = get(&sim, "/rest/api/3/label").await;
    assert!(!labels["values"].as_array().unwrap().is_empty());
    let (_, lt) = get(&sim, "/rest/api/3/issueLinkType").await;
    assert!(
        lt["issueLinkTypes"]
            .as_array()
            .unwrap()
            .iter()
            .any(|t| t["name"] == "Blocks")
    );
    let (_, meta) = get(&sim, "/rest/api/3/issue/createmeta/ENG/issuetypes").await;
    let task = meta["issueTypes"]
        .as_array()
        .unwrap()
        .iter()
        .find(|t| t["name"] == "Task")
        .unwrap()
        .clone();
    let (_, fmeta) = get(
        &sim,
        &format!(
            "/rest/api/3/issue/createmeta/ENG/issuetypes/{}",
            s(&task["id"])
        ),
    )
    .await;
    assert!(
        fmeta["fields"]
            .as_array()
            .unwrap()
            .iter()
            .any(|f| f["fieldId"] == "summary" && f["required"] == true)
    );
    let (status, v) = send(
        &sim,
        Method::POST,
        "/rest/api/3/version",
        json!({"projectId": 10000, "name": "2.0"}),
    )
    .await;
    assert_eq!(status, 201);
    let (_, versions) = get(&sim, "/rest/api/3/project/ENG/versions").await;
    assert!(
        versions
            .as_array()
            .unwrap()
            .iter()
            .any(|x| x["id"] == v["id"])
    );
    let (status, _) = send(
        &sim,
        Method::PUT,
        &format!("/rest/api/3/version/{}", s(&v["id"])),
        json!({"released": true}),
    )
    .await;
    assert_eq!(status, 200);
    assert_eq!(
        get(&sim, &format!("/rest/api/3/version/{}", s(&v["id"])))
            .await
            .1["released"],
        true
    );
    let (status, comp) = send(
        &sim,
        Method::POST,
        "/rest/api/3/component",
        json!({"project": "ENG", "name": "Billing"}),
    )
    .await;
    assert_eq!(status, 201);
    assert_eq!(
        get(&sim, &format!("/rest/api/3/component/{}", s(&comp["id"])))
            .await
            .1["name"],
        "Billing"
    );
    assert!(
        get(&sim, "/rest/api/3/project/ENG/components")
            .await
            .1
            .as_array()
            .unwrap()
            .iter()
            .any(|c| c["name"] == "Billing")
    );
}

#[tokio::test]
async fn issue_lifecycle() {
    let sim = sim(20).await;
    let (status, created) = send(
        &sim,
        Method::POST,
        "/rest/api/3/issue",
        json!({"fields": {"project": {"key": "ENG"}, "summary": "Write the sim", "issuetype": {"name": "Story"},
                          "description": adf("Seeded from a test"), "labels": ["sim"], "priority": {"name": "High"},
                          "customfield_10016": 5}}),
    )
    .await;
    assert_eq!(status, 201, "{created}");
    let key = s(&created["key"]);
    assert!(key.starts_with("ENG-"));
    let (_, issue) = get(&sim, &format!("/rest/api/3/issue/{key}")).await;
    assert_eq!(issue["fields"]["summary"], "Write the sim");
    assert_eq!(issue["fields"]["description"]["type"], "doc");
    assert_eq!(issue["fields"]["priority"]["name"], "High");
    assert_eq!(issue["fields"]["customfield_10016"], 5);
    assert_eq!(
        issue["fields"]["reporter"]["accountId"],
        sim.users[0].account_id.as_str()
    );
    // Plain-text descriptions are refused in v3.
    let (status, err) = send(&sim, Method::POST, "/rest/api/3/issue", json!({"fields": {"project": {"key": "ENG"}, "summary": "x", "issuetype": {"name": "Task"}, "description": "plain"}})).await;
    assert_eq!(status, 400);
    assert!(err["errors"]["description"].is_string());
    let (status, err) = send(
        &sim,
        Method::POST,
        "/rest/api/3/issue",
        json!({"fields": {"project": {"key": "ENG"}, "issuetype": {"name": "Task"}}}),
    )
    .await;
    assert_eq!((status, err["errors"]["summary"].is_string()), (400, true));

    let (status, _) = send(&sim, Method::PUT, &format!("/rest/api/3/issue/{key}"), json!({"fields": {"summary": "Renamed"}, "update": {"labels": [{"add": "extra"}, {"remove": "sim"}]}})).await;
    assert_eq!(status, 204);
    let (_, issue) = get(
        &sim,
        &format!(
            "/rest/api/3/issue/{key}?fields=summary,labels&expand=changelog,renderedFields,names"
        ),
    )
    .await;
    assert_eq!(issue["fields"]["summary"], "Renamed");
    assert_eq!(issue["fields"]["labels"], json!(["extra"]));
    assert!(
        issue["fields"].get("description").is_none(),
        "field selection honoured"
    );
    assert!(
        issue["changelog"]["histories"]
            .as_array()
            .unwrap()
            .iter()
            .any(|h| h["items"][0]["field"] == "summary")
    );
    assert!(
        issue["renderedFields"]["description"]
            .as_str()
            .unwrap()
            .contains("Seeded from a test")
    );
    assert_eq!(issue["names"]["summary"], "Summary");

    let bob = sim.users[1].account_id.clone();
    assert_eq!(
        send(
            &sim,
            Method::PUT,
            &format!("/rest/api/3/issue/{key}/assignee"),
            json!({"accountId": bob})
        )
        .await
        .0,
        204
    );
    assert_eq!(
        get(&sim, &format!("/rest/api/3/issue/{key}?fields=assignee"))
            .await
            .1["fields"]["assignee"]["accountId"],
        bob.as_str()
    );

    let (_, tr) = get(&sim, &format!("/rest/api/3/issue/{key}/transitions")).await;
    let done = tr["transitions"]
        .as_array()
        .unwrap()
        .iter()
        .find(|t| t["to"]["statusCategory"]["key"] == "done")
        .unwrap()
        .clone();
    assert_eq!(
        send(
            &sim,
            Method::POST,
            &format!("/rest/api/3/issue/{key}/transitions"),
            json!({"transition": {"id": done["id"]}})
        )
        .await
        .0,
        204
    );
    let (_, issue) = get(
        &sim,
        &format!("/rest/api/3/issue/{key}?fields=status,resolution"),
    )
    .await;
    assert_eq!(issue["fields"]["status"]["statusCategory"]["key"], "done");
    assert_eq!(issue["fields"]["resolution"]["name"], "Done");
    assert_eq!(
        send(
            &sim,
            Method::POST,
            &format!("/rest/api/3/issue/{key}/transitions"),
            json!({"transition": {"id": "999"}})
        )
        .await
        .0,
        400
    );
    let (_, log) = get(&sim, &format!("/rest/api/3/issue/{key}/changelog")).await;
    assert!(
        log["values"]
            .as_array()
            .unwrap()
            .iter()
            .any(|h| h["items"][0]["field"] == "status")
    );

    assert_eq!(
        site_req(&sim, Method::DELETE, &format!("/rest/api/3/issue/{key}"))
            .send()
            .await
            .unwrap()
            .status(),
        204
    );
    assert_eq!(get(&sim, &format!("/rest/api/3/issue/{key}")).await.0, 404);
}

#[tokio::test]
async fn bulk_create_reports_per_element_errors() {
    let sim = sim(8).await;
    let (status, out) = send(
        &sim,
        Method::POST,
        "/rest/api/3/issue/bulk",
        json!({"issueUpdates": [
            {"fields": {"project": {"key": "OPS"}, "summary": "one", "issuetype": {"name": "Task"}}},
            {"fields": {"project": {"key": "OPS"}, "issuetype": {"name": "Task"}}},
            {"fields": {"project": {"key": "MKT"}, "summary": "three", "issuetype": {"name": "Task"}}}
        ]}),
    )
    .await;
    assert_eq!(status, 201);
    assert_eq!(out["issues"].as_array().unwrap().len(), 2);
    assert_eq!(out["errors"][0]["failedElementNumber"], 1);
}

#[tokio::test]
async fn comments_worklogs_watchers_and_links() {
    let sim = sim(12).await;
    let base = "/rest/api/3/issue/ENG-2";
    let (status, c) = send(
        &sim,
        Method::POST,
        &format!("{base}/comment"),
        json!({"body": adf("first!")}),
    )
    .await;
    assert_eq!(status, 201);
    let cid = s(&c["id"]);
    let (_, list) = get(&sim, &format!("{base}/comment")).await;
    assert!(
        list["comments"]
            .as_array()
            .unwrap()
            .iter()
            .any(|x| x["id"] == cid.as_str())
    );
    assert_eq!(
        send(
            &sim,
            Method::PUT,
            &format!("{base}/comment/{cid}"),
            json!({"body": adf("edited")})
        )
        .await
        .0,
        200
    );
    assert_eq!(
        get(&sim, &format!("{base}/comment/{cid}")).await.1["body"]["content"][0]["content"][0]["text"],
        "edited"
    );
    assert_eq!(
        send(
            &sim,
            Method::POST,
            &format!("{base}/comment"),
            json!({"body": "plain"})
        )
        .await
        .0,
        400
    );
    assert_eq!(
        site_req(&sim, Method::DELETE, &format!("{base}/comment/{cid}"))
            .send()
            .await
            .unwrap()
            .status(),
        204
    );
    assert_eq!(get(&sim, &format!("{base}/comment/{cid}")).await.0, 404);

    let (status, w) = send(
        &sim,
        Method::POST,
        &format!("{base}/worklog"),
        json!({"timeSpent": "1h 30m", "comment": adf("pairing")}),
    )
    .await;
    assert_eq!(status, 201);
    assert_eq!(w["timeSpentSeconds"], 5400);
    let wid = s(&w["id"]);
    assert_eq!(
        send(
            &sim,
            Method::PUT,
            &format!("{base}/worklog/{wid}"),
            json!({"timeSpentSeconds": 600})
        )
        .await
        .1["timeSpent"],
        "10m"
    );
    assert_eq!(get(&sim, &format!("{base}/worklog")).await.1["total"], 1);
    assert_eq!(
        site_req(&sim, Method::DELETE, &format!("{base}/worklog/{wid}"))
            .send()
            .await
            .unwrap()
            .status(),
        204
    );
    assert_eq!(get(&sim, &format!("{base}/worklog")).await.1["total"], 0);

    let grace = sim.users[6].account_id.clone();
    assert_eq!(
        send(
            &sim,
            Method::POST,
            &format!("{base}/watchers"),
            json!(grace)
        )
        .await
        .0,
        204
    );
    let (_, watchers) = get(&sim, &format!("{base}/watchers")).await;
    assert!(
        watchers["watchers"]
            .as_array()
            .unwrap()
            .iter()
            .any(|u| u["accountId"] == grace.as_str())
    );
    assert_eq!(
        site_req(
            &sim,
            Method::DELETE,
            &format!("{base}/watchers?accountId={grace}")
        )
        .send()
        .await
        .unwrap()
        .status(),
        204
    );
    assert!(
        !get(&sim, &format!("{base}/watchers")).await.1["watchers"]
            .as_array()
            .unwrap()
            .iter()
            .any(|u| u["accountId"] == grace.as_str())
    );

    let (status, _) = send(&sim, Method::POST, "/rest/api/3/issueLink", json!({"type": {"name": "Blocks"}, "inwardIssue": {"key": "ENG-2"}, "outwardIssue": {"key": "ENG-3"}})).await;
    assert_eq!(status, 201);
    let (_, issue) = get(&sim, "/rest/api/3/issue/ENG-2?fields=issuelinks").await;
    let link = issue["fields"]["issuelinks"][0].clone();
    assert_eq!(link["outwardIssue"]["key"], "ENG-3");
    let lid = s(&link["id"]);
    assert_eq!(
        get(&sim, &format!("/rest/api/3/issueLink/{lid}")).await.1["inwardIssue"]["key"],
        "ENG-2"
    );
    assert_eq!(
        site_req(
            &sim,
            Method::DELETE,
            &format!("/rest/api/3/issueLink/{lid}")
        )
        .send()
        .await
        .unwrap()
        .status(),
        204
    );
    assert_eq!(
        get(&sim, &format!("/rest/api/3/issueLink/{lid}")).await.0,
        404
    );
}

#[tokio::test]
async fn unknown_routes_and_methods() {
    let sim = sim(4).await;
    assert_eq!(get(&sim, "/rest/api/3/nonexistent").await.0, 404);
    let resp = site_req(&sim, Method::PATCH, "/rest/api/3/issue/ENG-1")
        .send()
        .await
        .unwrap();
    assert_eq!(resp.status(), 405);
}

#[tokio::test]
async fn subtasks_show_on_the_parent_and_guard_deletion() {
    let sim = sim(8).await;
    let (status, sub) = send(&sim, Method::POST, "/rest/api/3/issue", json!({"fields": {"project": {"key": "ENG"}, "summary": "child", "issuetype": {"name": "Subtask"}, "parent": {"key": "ENG-2"}}})).await;
    assert_eq!(status, 201, "{sub}");
    let (_, parent) = get(&sim, "/rest/api/3/issue/ENG-2?fields=subtasks").await;
    assert_eq!(parent["fields"]["subtasks"][0]["key"], sub["key"]);
    assert_eq!(
        site_req(&sim, Method::DELETE, "/rest/api/3/issue/ENG-2")
            .send()
            .await
            .unwrap()
            .status(),
        400
    );
    assert_eq!(
        site_req(
            &sim,
            Method::DELETE,
            "/rest/api/3/issue/ENG-2?deleteSubtasks=true"
        )
        .send()
        .await
        .unwrap()
        .status(),
        204
    );
    assert_eq!(
        get(&sim, &format!("/rest/api/3/issue/{}", s(&sub["key"])))
            .await
            .0,
        404
    );
}
