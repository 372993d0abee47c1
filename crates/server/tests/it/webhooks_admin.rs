//! Admin webhooks of API-token connections, end to end over real sockets: jiragate registers
//! them at the simulator when the token's user is a Jira administrator (the simulator's first
//! user), the simulator signs each delivery with `X-Hub-Signature`, jiragate verifies and
//! delivers to loopback subscribers; a user who is not an administrator gets the URL and
//! secret to paste into Jira instead. A child of `webhooks` (its helpers are shared).

use std::time::Duration;

use atlassian_sim::SimConfig;
use hmac::{Hmac, KeyInit, Mac};
use reqwest::StatusCode;
use serde_json::{Value, json};
use sha2::Sha256;

use super::{Subscriber, deliveries, edit_issue, events, eventually, fast_webhooks, hex};
use super::{signature_valid, some_issue, subscribe};
use crate::common::{Db, Env};

/// `sha256=<hex HMAC-SHA256 of body>`, computed here with `hmac`.
fn hub_signature(secret: &[u8], body: &[u8]) -> String {
    let mut mac = <Hmac<Sha256> as KeyInit>::new_from_slice(secret).unwrap();
    mac.update(body);
    format!("sha256={}", hex(&mac.finalize().into_bytes()[..]))
}

/// No file under `dir` (the database, its WAL, the key files) holds `secret` in clear.
fn assert_not_on_disk(dir: &std::path::Path, secret: &str) {
    for entry in std::fs::read_dir(dir).unwrap() {
        let path = entry.unwrap().path();
        if path.is_dir() {
            assert_not_on_disk(&path, secret);
        } else if let Ok(bytes) = std::fs::read(&path) {
            assert!(
                !bytes.windows(secret.len()).any(|w| w == secret.as_bytes()),
                "{} holds the secret in clear",
                path.display()
            );
        }
    }
}

/// Posts raw bytes to the receiver as an admin-webhook delivery.
async fn post_hub(env: &Env, path_and_query: &str, id: &str, body: &[u8], sig: &str) -> StatusCode {
    env.client
        .http
        .post(env.url(path_and_query))
        .header("content-type", "application/json")
        .header("x-atlassian-webhook-identifier", id)
        .header("x-hub-signature", sig)
        .body(body.to_vec())
        .send()
        .await
        .unwrap()
        .status()
}

/// The admin webhooks of the first site, as the simulator's administrator sees them.
async fn admin_hooks(env: &Env) -> Vec<Value> {
    env.sim_get("/rest/webhooks/1.0/webhook")
        .await
        .as_array()
        .cloned()
        .expect("a list of admin webhooks")
}

/// The token's user is a Jira administrator: subscribing registers an admin webhook (with
/// the subscription's events and JQL and a secret, never shown); an issue update in the
/// simulator is delivered with `X-Hub-Signature`, verified, and reaches the subscriber of that
/// project once, correctly signed, and not the subscriber of another project; a forged HMAC
/// gets 401 and stores nothing; unsubscribing deletes the admin webhook at Jira.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_admin_token_registers_admin_webhooks_and_hmac_deliveries_arrive_once() {
    tokio::time::timeout(Duration::from_secs(120), async {
        let env = Env::start_with(Db::Sqlite, SimConfig::default(), fast_webhooks).await;
        assert!(
            env.sim.users[0].site_admin,
            "the seed connector is the site admin's"
        );
        let conn = env.seed_connector("hooks").await;
        let projects = env.project_keys().await;
        let (project, other) = (projects[0].clone(), projects[1].clone());
        let (sub_a, sub_b) = (Subscriber::start().await, Subscriber::start().await);
        let created = subscribe(&env, &conn, &project, &sub_a.url).await;
        let created_b = subscribe(&env, &conn, &other, &sub_b.url).await;
        let admin = &created["admin_webhook"];
        assert_eq!(admin["registered"], true, "{created}");
        assert!(admin["secret"].is_null(), "nothing to paste: {created}");
        let jira_id = created["jira_webhook_id"]
            .as_i64()
            .expect("the admin webhook id");

        let hooks = admin_hooks(&env).await;
        assert_eq!(hooks.len(), 2, "{hooks:?}");
        let hook = hooks
            .iter()
            .find(|h| {
                h["self"]
                    .as_str()
                    .unwrap()
                    .ends_with(&format!("/{jira_id}"))
            })
            .expect("the registered admin webhook");
        let sub_id = created["id"].as_str().unwrap();
        assert_eq!(
            hook["url"],
            env.url(&format!("/hooks/jira/{conn}?subscription={sub_id}"))
                .as_str()
        );
        assert_eq!(hook["events"], json!(["jira:issue_updated"]));
        assert_eq!(
            hook["filters"]["issue-related-events-section"],
            format!("project = {project}").as_str()
        );

        // One generated secret per connection, given to Jira, never shown, never in clear on disk.
        let secrets = env.sim.admin_webhook_secrets();
        assert_eq!(secrets.len(), 2);
        assert_eq!(secrets[0], secrets[1]);
        assert!(secrets[0].len() >= 40, "a generated secret");
        assert_not_on_disk(env._dir.path(), &secrets[0]);

        let issue = some_issue(&env, &project).await;
        edit_issue(&env, &issue, "changed under an admin webhook").await;
        eventually(30, "the delivery", || async { !sub_a.got().is_empty() }).await;
        // Let a wrongly made second copy, or one to the other project's subscriber, arrive.
        tokio::time::sleep(Duration::from_millis(800)).await;
        let got = sub_a.got();
        assert_eq!(got.len(), 1, "once: {got:?}");
        let secret = created["signing_secret"].as_str().unwrap();
        assert!(signature_valid(secret, &got[0]), "{got:?}");
        let body: Value = serde_json::from_str(&got[0].body).unwrap();
        assert_eq!(body["webhookEvent"], "jira:issue_updated");
        assert_eq!(body["issue"]["key"], issue.as_str());
        assert!(sub_b.got().is_empty(), "another project's subscriber");
        let sim_log = env.sim.webhook_deliveries();
        assert!(
            sim_log
                .iter()
                .any(|d| d.kind == "admin" && d.status == Some(200)),
            "jiragate accepted the simulator's HMAC-signed delivery: {sim_log:?}"
        );

        // A forged HMAC (wrong key, and a tampered body) is refused and stores nothing.
        let stored = events(&env, &conn).await.len();
        assert_eq!(stored, 1);
        let path = format!("/hooks/jira/{conn}?subscription={sub_id}");
        let forged =
            json!({"webhookEvent": "jira:issue_updated", "issue": {"id": "1", "key": issue}})
                .to_string();
        let bad = hub_signature(b"not the secret", forged.as_bytes());
        assert_eq!(
            post_hub(&env, &path, "forged-1", forged.as_bytes(), &bad).await,
            StatusCode::UNAUTHORIZED
        );
        let other_body = format!("{forged} ");
        assert_eq!(
            post_hub(&env, &path, "forged-2", other_body.as_bytes(), &bad).await,
            StatusCode::UNAUTHORIZED
        );
        assert_eq!(events(&env, &conn).await.len(), stored, "nothing stored");
        assert_eq!(deliveries(&env, &conn).await.len(), 1);
        env.client.assert_never_seen(&[&secrets[0]]);
        assert_not_on_disk(env._dir.path(), &secrets[0]);

        // Unsubscribing removes the admin webhook at Jira.
        let r = env
            .client
            .send(
                reqwest::Method::DELETE,
                &env.url(&format!(
                    "/api/v1/integrations/connectors/{conn}/webhooks/subscriptions/{sub_id}"
                )),
                Some(env.key()),
                None,
                &[],
            )
            .await;
        assert_eq!(r.status, StatusCode::NO_CONTENT, "{}", r.text);
        let left = admin_hooks(&env).await;
        assert_eq!(left.len(), 1, "{left:?}");
        assert_eq!(
            left[0]["url"],
            env.url(&format!(
                "/hooks/jira/{conn}?subscription={}",
                created_b["id"].as_str().unwrap()
            ))
            .as_str()
        );
    })
    .await
    .expect("finished in time");
}

/// The token's user is not a Jira administrator: Jira refuses the admin webhook (403), nothing
/// is registered, and the answer names the URL and (the first time only) the secret to paste
/// into Jira; a delivery signed with that secret is accepted, one signed otherwise is not.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_token_without_admin_rights_gets_paste_instructions() {
    tokio::time::timeout(Duration::from_secs(120), async {
        let env = Env::start_with(Db::Sqlite, SimConfig::default(), fast_webhooks).await;
        let user = env
            .sim
            .users
            .iter()
            .find(|u| !u.site_admin)
            .expect("a user who is not an administrator");
        let mut body = env.seed_body("not-admin");
        body["credentials"] = json!({"username": user.email, "password": user.api_token});
        let conn = env.create_connector(&body).await;
        let project = env.project_keys().await[0].clone();
        let sub = Subscriber::start().await;
        let created = subscribe(&env, &conn, &project, &sub.url).await;
        let admin = &created["admin_webhook"];
        assert_eq!(admin["registered"], false, "{created}");
        assert!(created["jira_webhook_id"].is_null(), "{created}");
        assert_eq!(admin["url"], env.url(&format!("/hooks/jira/{conn}")).as_str());
        let secret = admin["secret"].as_str().expect("the secret to paste").to_owned();
        assert!(admin_hooks(&env).await.is_empty(), "nothing registered at Jira");
        let again = subscribe(&env, &conn, &project, &sub.url).await;
        assert_eq!(again["admin_webhook"]["registered"], false);
        assert!(again["admin_webhook"]["secret"].is_null(), "shown once: {again}");

        // What the admin would paste works: Jira's signature with that secret is accepted.
        let path = format!("/hooks/jira/{conn}");
        let event = json!({"webhookEvent": "jira:issue_updated", "issue": {"id": "1", "key": format!("{project}-1")}})
            .to_string();
        let wrong = hub_signature(b"a guess", event.as_bytes());
        assert_eq!(
            post_hub(&env, &path, "pasted-0", event.as_bytes(), &wrong).await,
            StatusCode::UNAUTHORIZED
        );
        let right = hub_signature(secret.as_bytes(), event.as_bytes());
        assert_eq!(
            post_hub(&env, &path, "pasted-1", event.as_bytes(), &right).await,
            StatusCode::OK
        );
        assert_eq!(events(&env, &conn).await.len(), 1);
        assert_not_on_disk(env._dir.path(), &secret);
        eventually(30, "both subscriptions served", || async {
            sub.got().len() == 2
        })
        .await;
    })
    .await
    .expect("finished in time");
}

/// An administrator deletes jiragate's admin webhook in Jira: the refresh job notices it is
/// gone, registers it again (new id, same subscription URL) and deliveries resume.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_admin_webhook_deleted_in_jira_is_registered_again() {
    tokio::time::timeout(Duration::from_secs(120), async {
        let env = Env::start_with(Db::Sqlite, SimConfig::default(), |c| {
            fast_webhooks(c);
            c.webhooks.refresh_interval = Duration::from_millis(300);
        })
        .await;
        let conn = env.seed_connector("hooks").await;
        let project = env.project_keys().await[0].clone();
        let sub = Subscriber::start().await;
        let created = subscribe(&env, &conn, &project, &sub.url).await;
        let old_id = created["jira_webhook_id"].as_i64().expect("registered");
        let admin = &env.sim.users[0];
        let r = env
            .client
            .http
            .delete(format!(
                "{}/rest/webhooks/1.0/webhook/{old_id}",
                env.sim.site_url(&env.sim.sites[0].subdomain)
            ))
            .basic_auth(&admin.email, Some(&admin.api_token))
            .send()
            .await
            .unwrap();
        assert_eq!(r.status(), StatusCode::NO_CONTENT);
        let subs_url = env.url(&format!(
            "/api/v1/integrations/connectors/{conn}/webhooks/subscriptions"
        ));
        eventually(30, "registered again with a new id", || async {
            let subs = env.client.get(&subs_url, Some(env.key())).await.json();
            let now = subs["data"][0]["jira_webhook_id"].as_i64();
            now.is_some_and(|id| id != old_id)
                && admin_hooks(&env).await.iter().any(|h| {
                    h["self"]
                        .as_str()
                        .is_some_and(|s| s.ends_with(&format!("/{}", now.unwrap_or(0))))
                })
        })
        .await;
        let hooks = admin_hooks(&env).await;
        assert_eq!(hooks.len(), 1, "{hooks:?}");
        assert_eq!(
            hooks[0]["url"],
            env.url(&format!(
                "/hooks/jira/{conn}?subscription={}",
                created["id"].as_str().unwrap()
            ))
            .as_str()
        );
        let issue = some_issue(&env, &project).await;
        edit_issue(&env, &issue, "after the re-registration").await;
        eventually(30, "the delivery", || async { sub.got().len() == 1 }).await;
    })
    .await
    .expect("finished in time");
}

/// The connection's first subscription was registered by jiragate (the secret never shown);
/// its token is then replaced by one of a user who is not an administrator: the next
/// subscription gets paste instructions, with the secret this time (the one Jira already
/// signs with), and only once.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_token_that_lost_admin_rights_is_shown_the_secret_when_it_must_be_pasted() {
    tokio::time::timeout(Duration::from_secs(120), async {
        let env = Env::start_with(Db::Sqlite, SimConfig::default(), fast_webhooks).await;
        let conn = env.seed_connector("hooks").await;
        let project = env.project_keys().await[0].clone();
        let sub = Subscriber::start().await;
        let first = subscribe(&env, &conn, &project, &sub.url).await;
        assert_eq!(first["admin_webhook"]["registered"], true, "{first}");
        assert!(first["admin_webhook"]["secret"].is_null());
        let user = env.sim.users.iter().find(|u| !u.site_admin).unwrap();
        let r = env
            .client
            .send(
                reqwest::Method::PATCH,
                &env.url(&format!("/api/v1/integrations/connectors/{conn}")),
                Some(env.key()),
                Some(&json!({"credentials": {"username": user.email, "password": user.api_token}})),
                &[],
            )
            .await;
        assert_eq!(r.status, StatusCode::OK, "{}", r.text);
        let second = subscribe(&env, &conn, &project, &sub.url).await;
        assert_eq!(second["admin_webhook"]["registered"], false, "{second}");
        let secret = second["admin_webhook"]["secret"]
            .as_str()
            .expect("shown: it was never shown before");
        assert_eq!(env.sim.admin_webhook_secrets(), vec![secret.to_owned()]);
        let third = subscribe(&env, &conn, &project, &sub.url).await;
        assert!(third["admin_webhook"]["secret"].is_null(), "once: {third}");
    })
    .await
    .expect("finished in time");
}
