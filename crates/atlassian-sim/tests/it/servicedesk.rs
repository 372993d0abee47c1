use reqwest::Method;
use serde_json::json;

use crate::common::*;

#[tokio::test]
async fn desks_request_types_queues_customers_organizations() {
    let sim = sim(40).await;
    let (status, desks) = get(&sim, "/rest/servicedeskapi/servicedesk").await;
    assert_eq!(status, 200);
    assert_eq!(desks["isLastPage"], true);
    assert_eq!(desks["size"], 1);
    let desk = s(&desks["values"][0]["id"]);
    assert_eq!(
        get(&sim, &format!("/rest/servicedeskapi/servicedesk/{desk}"))
            .await
            .1["projectKey"],
        "HELP"
    );
    assert_eq!(
        get(&sim, "/rest/servicedeskapi/servicedesk/99").await.0,
        404
    );
    let (_, types) = get(
        &sim,
        &format!("/rest/servicedeskapi/servicedesk/{desk}/requesttype"),
    )
    .await;
    assert_eq!(types["values"].as_array().unwrap().len(), 3);
    let (_, fields) = get(
        &sim,
        &format!("/rest/servicedeskapi/servicedesk/{desk}/requesttype/2/field"),
    )
    .await;
    assert!(
        fields["requestTypeFields"]
            .as_array()
            .unwrap()
            .iter()
            .any(|f| f["fieldId"] == "summary" && f["required"] == true)
    );
    let (_, page) = get(
        &sim,
        &format!("/rest/servicedeskapi/servicedesk/{desk}/requesttype?start=1&limit=1"),
    )
    .await;
    assert_eq!(
        (
            page["start"].as_u64(),
            page["limit"].as_u64(),
            page["isLastPage"].as_bool()
        ),
        (Some(1), Some(1), Some(false))
    );
    let (_, queues) = get(
        &sim,
        &format!("/rest/servicedeskapi/servicedesk/{desk}/queue?includeCount=true"),
    )
    .await;
    let all_open = &queues["values"][0];
    let (_, issues) = get(
        &sim,
        &format!(
            "/rest/servicedeskapi/servicedesk/{desk}/queue/{}/issue?limit=50",
            s(&all_open["id"])
        ),
    )
    .await;
    assert_eq!(
        issues["values"].as_array().unwrap().len() as u64,
        all_open["issueCount"].as_u64().unwrap()
    );
    let (_, customers) = json_of(
        opt_in(site_req(
            &sim,
            Method::GET,
            &format!("/rest/servicedeskapi/servicedesk/{desk}/customer"),
        ))
        .send()
        .await
        .unwrap(),
    )
    .await;
    let before = customers["values"].as_array().unwrap().len();
    let bob = sim.users[1].account_id.clone();
    assert_eq!(
        send(
            &sim,
            Method::POST,
            &format!("/rest/servicedeskapi/servicedesk/{desk}/customer"),
            json!({"accountIds": [bob]})
        )
        .await
        .0,
        204
    );
    assert_eq!(
        json_of(
            opt_in(site_req(
                &sim,
                Method::GET,
                &format!("/rest/servicedeskapi/servicedesk/{desk}/customer"),
            ))
            .send()
            .await
            .unwrap()
        )
        .await
        .1["values"]
            .as_array()
            .unwrap()
            .len(),
        before + 1
    );
    let (_, orgs) = get(&sim, "/rest/servicedeskapi/organization").await;
    let org = s(&orgs["values"][0]["id"]);
    assert_eq!(
        get(&sim, &format!("/rest/servicedeskapi/organization/{org}"))
            .await
            .1["name"],
        orgs["values"][0]["name"]
    );
}

#[tokio::test]
async fn customer_request_lifecycle_with_comments_transitions_and_approvals() {
    let sim = sim(200).await;
    let (status, req) = send(&sim, Method::POST, "/rest/servicedeskapi/request", json!({"serviceDeskId": "1", "requestTypeId": "2", "requestFieldValues": {"summary": "New laptop", "description": "Mine broke"}})).await;
    assert_eq!(status, 201, "{req}");
    let key = s(&req["issueKey"]);
    assert!(key.starts_with("HELP-"));
    assert_eq!(req["currentStatus"]["statusCategory"], "NEW");
    let (_, got) = get(&sim, &format!("/rest/servicedeskapi/request/{key}")).await;
    assert_eq!(got["summary"], "New laptop");
    assert_eq!(got["requestFieldValues"][1]["value"], "Mine broke");
    let (_, mine) = get(
        &sim,
        "/rest/servicedeskapi/request?requestOwnership=OWNED_REQUESTS",
    )
    .await;
    assert!(
        mine["values"]
            .as_array()
            .unwrap()
            .iter()
            .any(|r| r["issueKey"] == key.as_str())
    );
    assert_eq!(
        get(&sim, "/rest/servicedeskapi/request/ENG-1").await.0,
        404,
        "not a service request"
    );

    let (status, c) = send(
        &sim,
        Method::POST,
        &format!("/rest/servicedeskapi/request/{key}/comment"),
        json!({"body": "Looking into it", "public": false}),
    )
    .await;
    assert_eq!((status, c["public"].as_bool()), (201, Some(false)));
    send(
        &sim,
        Method::POST,
        &format!("/rest/servicedeskapi/request/{key}/comment"),
        json!({"body": "Hi!", "public": true}),
    )
    .await;
    let (_, comments) = get(&sim, &format!("/rest/servicedeskapi/request/{key}/comment")).await;
    assert_eq!(comments["values"].as_array().unwrap().len(), 2);
    let (_, public_only) = get(
        &sim,
        &format!("/rest/servicedeskapi/request/{key}/comment?internal=false"),
    )
    .await;
    assert_eq!(public_only["values"].as_array().unwrap().len(), 1);

    let (_, tr) = get(
        &sim,
        &format!("/rest/servicedeskapi/request/{key}/transition"),
    )
    .await;
    let resolve = tr["values"]
        .as_array()
        .unwrap()
        .iter()
        .find(|t| t["name"] == "Resolve this issue")
        .unwrap()
        .clone();
    // Hardware requests (seeded or new) wait for the first user's approval.
    let (_, open) = get(
        &sim,
        "/rest/servicedeskapi/request?requestTypeId=2&requestStatus=OPEN_REQUESTS&limit=100",
    )
    .await;
    assert!(
        open["values"].as_array().unwrap().len() > 1,
        "seeded hardware requests exist"
    );
    let skey = key.clone();
    let (_, approvals) = get(
        &sim,
        &format!("/rest/servicedeskapi/request/{skey}/approval"),
    )
    .await;
    let a = approvals["values"][0].clone();
    assert_eq!(
        (
            a["finalDecision"].as_str(),
            a["canAnswerApproval"].as_bool()
        ),
        (Some("pending"), Some(true))
    );
    let (status, answered) = send(
        &sim,
        Method::POST,
        &format!(
            "/rest/servicedeskapi/request/{skey}/approval/{}",
            s(&a["id"])
        ),
        json!({"decision": "approve"}),
    )
    .await;
    assert_eq!(
        (status, answered["finalDecision"].as_str()),
        (200, Some("approved"))
    );
    assert_eq!(
        send(
            &sim,
            Method::POST,
            &format!(
                "/rest/servicedeskapi/request/{skey}/approval/{}",
                s(&a["id"])
            ),
            json!({"decision": "decline"})
        )
        .await
        .0,
        400
    );

    let (status, _) = send(
        &sim,
        Method::POST,
        &format!("/rest/servicedeskapi/request/{key}/transition"),
        json!({"id": resolve["id"], "additionalComment": {"body": "Replaced"}}),
    )
    .await;
    assert_eq!(status, 204);
    let (_, done) = get(&sim, &format!("/rest/servicedeskapi/request/{key}")).await;
    assert_eq!(done["currentStatus"]["status"], "Resolved");
    assert_eq!(done["currentStatus"]["statusCategory"], "DONE");
    assert_eq!(
        send(
            &sim,
            Method::POST,
            &format!("/rest/servicedeskapi/request/{key}/transition"),
            json!({"id": "12345"})
        )
        .await
        .0,
        400
    );
}

#[tokio::test]
async fn experimental_operations_answer_412_without_the_opt_in_header() {
    let sim = sim(10).await;
    let opt_in_ops: Vec<_> = atlassian_sim::routes::operations()
        .iter()
        .filter(|o| o.opt_in_header)
        .collect();
    assert!(opt_in_ops.len() >= 3);
    for op in &opt_in_ops {
        // Path parameters do not matter: the header is checked before the handler runs.
        let path: String = op
            .template
            .split('/')
            .map(|seg| if seg.starts_with('{') { "1" } else { seg })
            .collect::<Vec<_>>()
            .join("/");
        let method = Method::from_bytes(op.method.as_bytes()).unwrap();
        let mut req = site_req(&sim, method.clone(), &path);
        if op.method != "GET" {
            req = req.json(&json!({"accountIds": [sim.users[1].account_id]}));
        }
        let (status, body) = json_of(req.send().await.unwrap()).await;
        assert_eq!(
            status, 412,
            "{} without the header: {body}",
            op.operation_id
        );
        // The error entity the Service Management document describes.
        assert!(
            body["errorMessage"]
                .as_str()
                .is_some_and(|m| m.contains("X-ExperimentalApi: opt-in")),
            "{body}"
        );
        assert!(body["i18nErrorMessage"]["i18nKey"].is_string(), "{body}");
        assert!(body["i18nErrorMessage"]["parameters"].is_array(), "{body}");
        // A wrong value is no opt-in.
        let (status, _) = json_of(
            site_req(&sim, method.clone(), &path)
                .header("X-ExperimentalApi", "yes")
                .send()
                .await
                .unwrap(),
        )
        .await;
        assert_eq!(status, 412, "{}", op.operation_id);
    }
    // With the header the call goes through (any letter case of the value).
    let (status, body) = json_of(
        site_req(
            &sim,
            Method::GET,
            "/rest/servicedeskapi/servicedesk/1/customer",
        )
        .header("x-experimentalapi", "Opt-In")
        .send()
        .await
        .unwrap(),
    )
    .await;
    assert_eq!(status, 200, "{body}");
    let (status, body) = json_of(
        opt_in(site_req(
            &sim,
            Method::GET,
            "/rest/servicedeskapi/requesttype",
        ))
        .send()
        .await
        .unwrap(),
    )
    .await;
    assert_eq!(status, 200, "{body}");
    assert!(body["values"].is_array());
    // Through the API gateway with OAuth as well.
    let tokens = oauth_tokens(&sim, "read:servicedesk-request manage:servicedesk-customer").await;
    let bearer = tokens["access_token"].as_str().unwrap();
    let path = "/rest/servicedeskapi/servicedesk/1/customer";
    let resp = gateway_req(&sim, 0, Method::GET, path, bearer)
        .send()
        .await
        .unwrap();
    assert_eq!(resp.status().as_u16(), 412);
    let resp = opt_in(gateway_req(&sim, 0, Method::GET, path, bearer))
        .send()
        .await
        .unwrap();
    assert_eq!(resp.status().as_u16(), 200);
    // Operations that are not experimental need no header, nor do experimental platform
    // operations (the platform document requires no opt-in).
    assert_eq!(get(&sim, "/rest/servicedeskapi/servicedesk").await.0, 200);
    let (_, project) = get(&sim, "/rest/api/3/project/search").await;
    let project_id = s(&project["values"][0]["id"]);
    let (status, body) = get(
        &sim,
        &format!("/rest/api/3/issuetype/project?projectId={project_id}"),
    )
    .await;
    assert_eq!(status, 200, "{body}");
}
