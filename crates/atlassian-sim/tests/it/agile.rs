use reqwest::Method;
use serde_json::json;

use crate::common::*;

#[tokio::test]
async fn boards_configuration_and_epics() {
    let sim = sim(80).await;
    let (status, boards) = get(&sim, "/rest/agile/1.0/board").await;
    assert_eq!(status, 200);
    let values = boards["values"].as_array().unwrap();
    assert_eq!(values.len(), 2);
    assert_eq!(boards["isLast"], true);
    let scrum = values.iter().find(|b| b["type"] == "scrum").unwrap();
    assert_eq!(scrum["location"]["projectKey"], "ENG");
    let id = scrum["id"].as_u64().unwrap();
    let (_, kanban_only) = get(&sim, "/rest/agile/1.0/board?type=kanban").await;
    assert_eq!(kanban_only["values"].as_array().unwrap().len(), 1);
    let (_, b) = get(&sim, &format!("/rest/agile/1.0/board/{id}")).await;
    assert_eq!(b["name"], scrum["name"]);
    let (_, cfg) = get(&sim, &format!("/rest/agile/1.0/board/{id}/configuration")).await;
    assert_eq!(cfg["columnConfig"]["columns"].as_array().unwrap().len(), 4);
    assert_eq!(cfg["estimation"]["field"]["fieldId"], "customfield_10016");
    assert_eq!(get(&sim, "/rest/agile/1.0/board/999").await.0, 404);
    let (_, epics) = get(&sim, &format!("/rest/agile/1.0/board/{id}/epic")).await;
    assert_eq!(epics["values"].as_array().unwrap().len(), 2);
    let epic_key = epics["values"][0]["key"].as_str().unwrap().to_owned();
    let (status, epic) = get(&sim, &format!("/rest/agile/1.0/epic/{epic_key}")).await;
    assert_eq!(status, 200);
    assert!(epic["name"].is_string());
    let (_, children) = get(&sim, &format!("/rest/agile/1.0/epic/{epic_key}/issue")).await;
    for i in children["issues"].as_array().unwrap() {
        assert_eq!(i["fields"]["parent"]["key"], epic_key.as_str());
    }
    assert_eq!(
        get(&sim, "/rest/agile/1.0/epic/ENG-2").await.0,
        404,
        "not an epic"
    );
    let (_, all) = get(
        &sim,
        &format!("/rest/agile/1.0/board/{id}/issue?maxResults=5"),
    )
    .await;
    assert_eq!(all["total"], 20);
    assert_eq!(all["issues"].as_array().unwrap().len(), 5);
    let (_, filtered) = get(
        &sim,
        &format!("/rest/agile/1.0/board/{id}/issue?jql=issuetype%3DEpic"),
    )
    .await;
    assert_eq!(filtered["total"], 2);
}

#[tokio::test]
async fn sprint_lifecycle_and_moving_issues() {
    let sim = sim(80).await;
    let (_, boards) = get(&sim, "/rest/agile/1.0/board?type=scrum").await;
    let board = boards["values"][0]["id"].as_u64().unwrap();
    let (_, sprints) = get(&sim, &format!("/rest/agile/1.0/board/{board}/sprint")).await;
    let states: Vec<&str> = sprints["values"]
        .as_array()
        .unwrap()
        .iter()
        .map(|s| s["state"].as_str().unwrap())
        .collect();
    assert_eq!(states, vec!["closed", "active", "future"]);
    let (_, active) = get(
        &sim,
        &format!("/rest/agile/1.0/board/{board}/sprint?state=active"),
    )
    .await;
    assert_eq!(active["values"].as_array().unwrap().len(), 1);
    let kanban = get(&sim, "/rest/agile/1.0/board?type=kanban").await.1["values"][0]["id"]
        .as_u64()
        .unwrap();
    assert_eq!(
        get(&sim, &format!("/rest/agile/1.0/board/{kanban}/sprint"))
            .await
            .0,
        400
    );

    let (status, sprint) = send(
        &sim,
        Method::POST,
        "/rest/agile/1.0/sprint",
        json!({"name": "Sprint X", "originBoardId": board, "goal": "ship"}),
    )
    .await;
    assert_eq!(status, 201, "{sprint}");
    assert_eq!(sprint["state"], "future");
    let sid = sprint["id"].as_u64().unwrap();
    let (_, backlog) = get(
        &sim,
        &format!("/rest/agile/1.0/board/{board}/backlog?maxResults=100"),
    )
    .await;
    let backlog_keys: Vec<String> = backlog["issues"]
        .as_array()
        .unwrap()
        .iter()
        .map(|i| s(&i["key"]))
        .collect();
    assert!(!backlog_keys.is_empty());
    let moving: Vec<String> = backlog_keys.iter().take(2).cloned().collect();
    assert_eq!(
        send(
            &sim,
            Method::POST,
            &format!("/rest/agile/1.0/sprint/{sid}/issue"),
            json!({"issues": moving})
        )
        .await
        .0,
        204
    );
    let (_, in_sprint) = get(&sim, &format!("/rest/agile/1.0/sprint/{sid}/issue")).await;
    assert_eq!(in_sprint["total"], 2);
    let (_, backlog2) = get(
        &sim,
        &format!("/rest/agile/1.0/board/{board}/backlog?maxResults=100"),
    )
    .await;
    assert_eq!(
        backlog2["total"].as_u64().unwrap() + 2,
        backlog["total"].as_u64().unwrap()
    );

    // Start needs dates; then close.
    assert_eq!(
        send(
            &sim,
            Method::POST,
            &format!("/rest/agile/1.0/sprint/{sid}"),
            json!({"state": "active"})
        )
        .await
        .0,
        400
    );
    let (status, started) = send(&sim, Method::POST, &format!("/rest/agile/1.0/sprint/{sid}"), json!({"state": "active", "startDate": "2030-01-01T09:00:00.000Z", "endDate": "2030-01-15T09:00:00.000Z"})).await;
    assert_eq!((status, started["state"].as_str()), (200, Some("active")));
    let (status, closed) = send(
        &sim,
        Method::PUT,
        &format!("/rest/agile/1.0/sprint/{sid}"),
        json!({"name": "Sprint X", "state": "closed"}),
    )
    .await;
    assert_eq!((status, closed["state"].as_str()), (200, Some("closed")));
    assert!(closed["completeDate"].is_string());
    assert_eq!(
        send(
            &sim,
            Method::POST,
            &format!("/rest/agile/1.0/sprint/{sid}"),
            json!({"state": "active"})
        )
        .await
        .0,
        400
    );
    assert_eq!(
        send(
            &sim,
            Method::POST,
            &format!("/rest/agile/1.0/sprint/{sid}/issue"),
            json!({"issues": [moving[0]]})
        )
        .await
        .0,
        400
    );
    assert_eq!(
        get(&sim, &format!("/rest/agile/1.0/sprint/{sid}")).await.1["name"],
        "Sprint X"
    );

    assert_eq!(
        send(
            &sim,
            Method::POST,
            "/rest/agile/1.0/backlog/issue",
            json!({"issues": [moving[0]]})
        )
        .await
        .0,
        204
    );
    let (_, issue) = get(
        &sim,
        &format!("/rest/api/3/issue/{}?fields=customfield_10020", moving[0]),
    )
    .await;
    assert!(issue["fields"]["customfield_10020"].is_null());
}
