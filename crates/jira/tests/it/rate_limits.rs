//! One rate-limit state per connection: when Jira says wait, every request of the connection
//! waits. Measured by the simulator's own Retry-After violation counter over real sockets.

use std::sync::Arc;
use std::time::Duration;

use atlassian_sim::{Faults, SimConfig, SimHandle, Simulator};
use jiragate_jira::{
    ClientConfig, JiraAuth, JiraClient, JiraError, JiraRequest, StaticTokenSource, Target, urls,
};
use secrecy::SecretString;

use crate::support::*;

fn target(sim: &SimHandle) -> Target {
    let user = &sim.info.users[0];
    Target::new(
        urls::site_base(&sim.info.site_url, &sim.info.sites[0].subdomain),
        JiraAuth::Basic {
            email: user.email.clone(),
            token: SecretString::from(user.api_token.clone()),
        },
        "one-connection",
    )
}

/// `callers` concurrent tasks, `calls` sequential GETs each, on one connection. Returns
/// (successes, clear rate-limit refusals); any other error fails the test.
async fn hammer(
    client: &JiraClient,
    sim: &SimHandle,
    callers: usize,
    calls: usize,
) -> (usize, usize) {
    let src = Arc::new(StaticTokenSource(target(sim)));
    let mut tasks = Vec::new();
    for _ in 0..callers {
        let (client, src) = (client.clone(), src.clone());
        tasks.push(tokio::spawn(async move {
            let (mut ok, mut limited) = (0, 0);
            for _ in 0..calls {
                match client
                    .send(src.as_ref(), JiraRequest::get("/rest/api/3/myself"))
                    .await
                {
                    Ok(_) => ok += 1,
                    Err(JiraError::RateLimited { retry_after, .. }) => {
                        assert!(retry_after > Duration::ZERO);
                        limited += 1
                    }
                    Err(e) => panic!("call failed with something other than a clear 429: {e}"),
                }
            }
            (ok, limited)
        }));
    }
    let mut total = (0, 0);
    for t in tasks {
        let (ok, limited) = t.await.expect("caller task");
        total.0 += ok;
        total.1 += limited;
    }
    total
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn injected_429s_hold_back_the_whole_connection() {
    let sim = Simulator::start(SimConfig {
        issues_per_site: 20,
        seed: 7,
        faults: Faults {
            rate_limit_rate: 0.05,
            ..Faults::default()
        },
        ..SimConfig::default()
    })
    .await
    .unwrap();
    let client = JiraClient::new(ClientConfig {
        deadline: Duration::from_secs(60),
        max_retries: 8,
        ..fast_config()
    });
    let (ok, limited) = within(120, hammer(&client, &sim, 32, 8)).await;
    let stats = sim.stats().await;
    assert!(
        stats.rate_limited > 0,
        "the fault injector sent no 429: {stats:?}"
    );
    assert_eq!(
        stats.retry_after_violations, 0,
        "requests reached Jira inside a Retry-After window ({} in flight when the 429 left); {stats:?}",
        stats.retry_after_in_flight
    );
    assert_eq!(ok + limited, 32 * 8);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_spent_budget_stops_every_caller_until_reset() {
    let sim = Simulator::start(SimConfig {
        issues_per_site: 20,
        rate_limit: Some(40),
        ..SimConfig::default()
    })
    .await
    .unwrap();
    // The window resets after up to 60 s: longer than this client's wait budget, so callers
    // get a clear RateLimited at once instead of hammering Jira or waiting out their deadline.
    let client = JiraClient::new(ClientConfig {
        max_retry_wait: Duration::from_secs(2),
        ..fast_config()
    });
    let (ok, limited) = within(60, hammer(&client, &sim, 32, 3)).await;
    let stats = sim.stats().await;
    // The window is aligned to the clock's minutes: a slow run may straddle one reset.
    assert!(
        (40..=80).contains(&ok),
        "the budget (per window) succeeds: {ok}; {stats:?}"
    );
    assert_eq!(ok + limited, 32 * 3);
    assert_eq!(stats.retry_after_violations, 0, "{stats:?}");
    // Once the budget is spent, only requests already in flight (at most the per-connection
    // concurrency of 8, per window) reach Jira and get its 429; the rest wait or are refused
    // locally.
    assert!(
        stats.rate_limited <= 16,
        "after the budget was spent, callers kept calling Jira: {stats:?}"
    );
}
