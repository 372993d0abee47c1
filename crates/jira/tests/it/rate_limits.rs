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

/// A server that answers after 30 ms and records, for each request, how many were in flight
/// when it arrived; request number `fail_at` gets a 429 with `Retry-After: 0`.
#[derive(Clone, Default)]
struct Concurrency {
    in_flight: Arc<std::sync::atomic::AtomicUsize>,
    arrivals: Arc<std::sync::Mutex<Vec<(usize, bool)>>>,
}

async fn concurrency_server(fail_at: usize) -> (String, Concurrency) {
    use std::sync::atomic::Ordering;
    let seen = Concurrency::default();
    let state = seen.clone();
    let router = axum::Router::new().route(
        "/rest/api/3/myself",
        axum::routing::get(move || {
            let state = state.clone();
            async move {
                let now = state.in_flight.fetch_add(1, Ordering::SeqCst) + 1;
                let number = {
                    let mut a = state.arrivals.lock().unwrap();
                    a.push((now, false));
                    a.len()
                };
                tokio::time::sleep(Duration::from_millis(30)).await;
                state.in_flight.fetch_sub(1, Ordering::SeqCst);
                if number == fail_at {
                    state.arrivals.lock().unwrap()[number - 1].1 = true;
                    return (
                        http::StatusCode::TOO_MANY_REQUESTS,
                        [("retry-after", "0")],
                        "{}",
                    );
                }
                (http::StatusCode::OK, [("x-answer", "ok")], "{}")
            }
        }),
    );
    let (base, _log) = serve(router).await;
    (base, seen)
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_429_halves_the_connections_concurrency_and_answers_reopen_it() {
    let (base, seen) = concurrency_server(40).await;
    let client = JiraClient::new(fast_config());
    let src = Arc::new(StaticTokenSource(basic_target(&base)));
    let mut tasks = Vec::new();
    for _ in 0..24 {
        let (client, src) = (client.clone(), src.clone());
        tasks.push(tokio::spawn(async move {
            for _ in 0..6 {
                client
                    .send(src.as_ref(), JiraRequest::get("/rest/api/3/myself"))
                    .await
                    .expect("every call succeeds, the 429 one after its retry");
            }
        }));
    }
    for t in tasks {
        within(60, t).await.unwrap();
    }
    let arrivals = seen.arrivals.lock().unwrap().clone();
    let limited = arrivals
        .iter()
        .position(|(_, l)| *l)
        .expect("the 429 was sent");
    let before = arrivals[..limited].iter().map(|(n, _)| *n).max().unwrap();
    assert_eq!(
        before, 8,
        "before the 429 all 8 slots were used: {arrivals:?}"
    );
    // Requests that arrived while the 429'd one was being answered were already admitted;
    // count from the first arrival after it was answered (the 8 then in flight have gone).
    let after: Vec<usize> = arrivals[limited + 8..limited + 12]
        .iter()
        .map(|(n, _)| *n)
        .collect();
    assert!(
        after.iter().all(|n| *n <= 6),
        "after the 429 at most half the slots, plus those reopened by answers since, are used: {after:?}"
    );
    assert_eq!(
        client.concurrency_window("conn-test"),
        8,
        "enough answers without a 429 reopen the whole window"
    );
}
