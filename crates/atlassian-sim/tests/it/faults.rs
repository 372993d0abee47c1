use std::time::{Duration, Instant};

use atlassian_sim::{Faults, SimConfig};
use reqwest::Method;
use serde_json::json;

use crate::common::*;

#[tokio::test]
async fn rate_limit_429_headers_and_retry_after_violations() {
    let sim = sim_with(SimConfig {
        issues_per_site: 4,
        rate_limit: Some(3),
        ..SimConfig::default()
    })
    .await;
    sim.start_rate_window();
    for i in 0..3 {
        let resp = site_req(&sim, Method::GET, "/rest/api/3/myself")
            .send()
            .await
            .unwrap();
        assert_eq!(resp.status(), 200);
        assert_eq!(resp.headers()["x-ratelimit-limit"], "3");
        assert_eq!(
            resp.headers()["x-ratelimit-remaining"].to_str().unwrap(),
            (2 - i).to_string()
        );
    }
    let resp = site_req(&sim, Method::GET, "/rest/api/3/myself")
        .send()
        .await
        .unwrap();
    assert_eq!(resp.status(), 429);
    let retry: i64 = resp.headers()["retry-after"]
        .to_str()
        .unwrap()
        .parse()
        .unwrap();
    assert!((1..=60).contains(&retry));
    assert_eq!(resp.headers()["x-ratelimit-remaining"], "0");
    assert!(
        resp.headers()["x-ratelimit-reset"]
            .to_str()
            .unwrap()
            .ends_with('Z')
    );
    assert!(resp.headers().get("ratelimit-reason").is_some());
    let (_, body) = json_of(resp).await;
    assert!(body["errorMessages"].is_array());
    // Calling again before Retry-After elapsed is a violation, unless the request was already
    // on the wire when the 429 left (within the in-flight grace).
    tokio::time::sleep(std::time::Duration::from_millis(
        atlassian_sim::IN_FLIGHT_GRACE_MS as u64 + 20,
    ))
    .await;
    assert_eq!(
        site_req(&sim, Method::GET, "/rest/api/3/myself")
            .send()
            .await
            .unwrap()
            .status(),
        429
    );
    let st = sim.stats().await;
    assert_eq!((st.rate_limited, st.retry_after_violations), (2, 1));
    // Waiting (on the simulated clock) restores the budget and is not a violation.
    sim.advance_clock(retry as u64);
    assert_eq!(
        site_req(&sim, Method::GET, "/rest/api/3/myself")
            .send()
            .await
            .unwrap()
            .status(),
        200
    );
    assert_eq!(sim.stats().await.retry_after_violations, 1);
    // Another credential has its own budget.
    let u = &sim.users[1];
    let other = client()
        .get(format!("{}/rest/api/3/myself", sim.site_url("acme")))
        .header("Authorization", basic_of(&u.email, &u.api_token))
        .send()
        .await
        .unwrap();
    assert_eq!(other.status(), 200);
}

#[tokio::test]
async fn rate_limit_control_changes_budgets() {
    let sim = sim(4).await;
    sim.start_rate_window();
    let set = |body: serde_json::Value| {
        let url = format!("{}/__sim/rate-limit", sim.auth_url);
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
    assert_eq!(
        set(json!({"limit": 1, "credential": sim.users[0].api_token})).await,
        200
    );
    assert_eq!(
        site_req(&sim, Method::GET, "/rest/api/3/myself")
            .send()
            .await
            .unwrap()
            .status(),
        200
    );
    assert_eq!(
        site_req(&sim, Method::GET, "/rest/api/3/myself")
            .send()
            .await
            .unwrap()
            .status(),
        429
    );
    assert_eq!(
        set(json!({"limit": null, "credential": sim.users[0].api_token})).await,
        200
    );
    assert_eq!(set(json!({"limit": 0, "site": "globex"})).await, 200);
    let globex = client()
        .get(format!("{}/rest/api/3/myself", sim.site_url("globex")))
        .header("Authorization", basic(&sim))
        .send()
        .await
        .unwrap();
    assert_eq!(globex.status(), 429);
    assert_eq!(set(json!({"limit": 1, "site": "nowhere"})).await, 404);
}

#[tokio::test]
async fn injected_server_errors_and_429s() {
    let faults = Faults {
        error_rate: 1.0,
        ..Faults::default()
    };
    let sim = sim_with(SimConfig {
        issues_per_site: 2,
        faults,
        ..SimConfig::default()
    })
    .await;
    let (status, body) = get(&sim, "/rest/api/3/myself").await;
    assert_eq!(status, 503);
    assert!(body["errorMessages"].is_array());

    let faults = Faults {
        rate_limit_rate: 1.0,
        ..Faults::default()
    };
    let sim = sim_with(SimConfig {
        issues_per_site: 2,
        faults,
        ..SimConfig::default()
    })
    .await;
    let resp = site_req(&sim, Method::GET, "/rest/api/3/myself")
        .send()
        .await
        .unwrap();
    assert_eq!(resp.status(), 429);
    assert_eq!(resp.headers()["retry-after"], "1");
    // At once: still on the wire as far as the simulator can tell.
    site_req(&sim, Method::GET, "/rest/api/3/myself")
        .send()
        .await
        .unwrap();
    let st = sim.stats().await;
    assert_eq!(
        (
            st.rate_limited,
            st.retry_after_violations,
            st.retry_after_in_flight
        ),
        (2, 0, 1)
    );
    // After the grace, inside the window: a violation.
    tokio::time::sleep(std::time::Duration::from_millis(
        atlassian_sim::IN_FLIGHT_GRACE_MS as u64 + 20,
    ))
    .await;
    site_req(&sim, Method::GET, "/rest/api/3/myself")
        .send()
        .await
        .unwrap();
    let st = sim.stats().await;
    assert_eq!(st.retry_after_violations, 1, "{st:?}");
}

#[tokio::test]
async fn injected_drops_and_latency() {
    let faults = Faults {
        drop_rate: 1.0,
        ..Faults::default()
    };
    let sim = sim_with(SimConfig {
        issues_per_site: 2,
        faults,
        ..SimConfig::default()
    })
    .await;
    let outcome = tokio::time::timeout(
        Duration::from_secs(10),
        site_req(&sim, Method::GET, "/rest/api/3/myself").send(),
    )
    .await
    .expect("no hang");
    assert!(
        outcome.is_err(),
        "the connection is closed without an answer"
    );
    // Control endpoints are not subject to faults.
    assert_eq!(
        client()
            .get(format!("{}/__sim/stats", sim.auth_url))
            .send()
            .await
            .unwrap()
            .status(),
        200
    );

    let faults = Faults {
        latency: Duration::from_millis(150),
        ..Faults::default()
    };
    let sim = sim_with(SimConfig {
        issues_per_site: 2,
        faults,
        ..SimConfig::default()
    })
    .await;
    let t = Instant::now();
    assert_eq!(get(&sim, "/rest/api/3/myself").await.0, 200);
    assert!(t.elapsed() >= Duration::from_millis(150));
}
