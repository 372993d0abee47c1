//! The console's webhooks page in a real browser: recent deliveries with their status, and
//! Replay for a dead-lettered one (a POST with the session's CSRF token, like every console
//! form). A child of `webhooks` (its subscriber and helpers), driving the browser with the
//! console tests' helpers.

use std::sync::atomic::Ordering;
use std::time::Duration;

use atlassian_sim::SimConfig;

use super::{
    Subscriber, deliveries, edit_issue, eventually, fast_webhooks, signature_valid, some_issue,
    subscribe,
};
use crate::common::{Db, Env};
use crate::console::{
    browser_available, click, fill, http, sign_in, start_browser, wait_css, wait_text,
};

/// The status of delivery `id` as the API lists it.
async fn status_of(env: &Env, conn: &str, id: i64) -> String {
    deliveries(env, conn)
        .await
        .iter()
        .find(|d| d["id"] == id)
        .and_then(|d| d["status"].as_str().map(str::to_owned))
        .unwrap_or_default()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn console_lists_deliveries_and_replays_a_dead_one_in_a_real_browser() {
    if !browser_available() {
        return;
    }
    tokio::time::timeout(Duration::from_secs(120), async {
        let env = Env::start_with(Db::Sqlite, SimConfig::default(), |c| {
            fast_webhooks(c);
            // Dead-lettered after a second of failures.
            c.webhooks.retry_window = Duration::from_secs(1);
        })
        .await;
        let sub = Subscriber::start().await;
        let conn = env.seed_connector("hooks").await;
        let project = env.project_keys().await[0].clone();
        let created = subscribe(&env, &conn, &project, &sub.url).await;
        let secret = created["signing_secret"].as_str().unwrap().to_owned();
        sub.down.store(true, Ordering::SeqCst);
        let issue = some_issue(&env, &project).await;
        edit_issue(&env, &issue, "nobody listens").await;
        eventually(30, "the delivery dead-lettered", || async {
            deliveries(&env, &conn)
                .await
                .iter()
                .any(|d| d["status"] == "dead")
        })
        .await;
        let id = deliveries(&env, &conn).await[0]["id"].as_i64().unwrap();
        sub.down.store(false, Ordering::SeqCst);
        let replay = env.url(&format!(
            "/console/connections/{conn}/webhooks/deliveries/{id}/replay"
        ));

        // Without the session's CSRF token the Replay form is refused and nothing changes.
        let (cookie, _csrf) = sign_in(&env, env.key()).await;
        let r = http()
            .post(&replay)
            .header("cookie", &cookie)
            .form(&[("csrf", "0".repeat(64))])
            .send()
            .await
            .unwrap();
        assert_eq!(r.status(), reqwest::StatusCode::FORBIDDEN);
        assert_eq!(status_of(&env, &conn, id).await, "dead");

        let (_driver, b) = start_browser().await;
        async {
            b.goto(&env.url("/console")).await.unwrap();
            fill(&b, "#api_key", env.key()).await;
            click(&b, "#sign-in button[type=submit]").await;
            wait_css(&b, "#new-connection-link").await;
            b.goto(&env.url(&format!("/console/connections/{conn}")))
                .await
                .unwrap();
            click(&b, "#webhooks-link").await;
            wait_text(&b, &format!("#delivery-{id}-status"), "dead").await;
            assert!(
                wait_css(&b, "#subscriptions")
                    .await
                    .text()
                    .await
                    .unwrap()
                    .contains("jira:issue_updated")
            );
            click(&b, &format!("#replay-{id}")).await;
            wait_text(&b, "#notice", "queued again").await;
            eventually(30, "the replayed delivery", || async {
                !sub.got().is_empty()
            })
            .await;
            b.refresh().await.unwrap();
            wait_text(&b, &format!("#delivery-{id}-status"), "delivered").await;
            assert!(
                b.find(fantoccini::Locator::Css(&format!("#replay-{id}")))
                    .await
                    .is_err(),
                "no Replay for a delivered one"
            );
        }
        .await;
        let _ = b.close().await;
        let got = sub.got();
        assert_eq!(got.len(), 1, "{got:?}");
        assert!(signature_valid(&secret, &got[0]));
        assert_eq!(status_of(&env, &conn, id).await, "delivered");
    })
    .await
    .expect("finished in time");
}
