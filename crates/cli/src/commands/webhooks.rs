//! `jiragate webhooks …`: subscriptions, received events, deliveries and replays (local and
//! remote).

use jiragate_engine::model::{DeliveryStatus, WebhookDeliveryId, WebhookSubscriptionId};
use jiragate_engine::webhooks::{NewSubscription, WebhookConfig, Webhooks};
use jiragate_engine::{Actor, ConnRef, Engine};
use secrecy::ExposeSecret;
use serde_json::{Value, json};

use crate::cli::{Global, WebhooksCmd};
use crate::context;
use crate::error::CliError;
use crate::output::Printer;

const SUB_COLUMNS: &[&str] = &["id", "events", "jql_filter", "url", "jira_webhook_id"];
const EVENT_COLUMNS: &[&str] = &["received_at", "event", "issue_key", "webhook_identifier"];
const DELIVERY_COLUMNS: &[&str] = &[
    "id",
    "status",
    "attempts",
    "last_status",
    "last_error",
    "next_attempt_at",
];

fn local_hooks(g: &Global, engine: Engine) -> Webhooks {
    let public_url = g
        .public_url
        .clone()
        .unwrap_or_else(|| "http://127.0.0.1:8080".to_owned());
    let allow = std::env::var("JIRAGATE_WEBHOOKS_ALLOW_PRIVATE")
        .is_ok_and(|v| matches!(v.trim(), "1" | "true" | "yes"));
    Webhooks::new(
        engine,
        &public_url,
        WebhookConfig {
            allow_private_subscribers: allow,
            run_workers: false,
            ..Default::default()
        },
    )
}

fn status_of(s: Option<&str>) -> Result<Option<DeliveryStatus>, CliError> {
    match s {
        None => Ok(None),
        Some("pending") => Ok(Some(DeliveryStatus::Pending)),
        Some("delivered") => Ok(Some(DeliveryStatus::Delivered)),
        Some("dead") => Ok(Some(DeliveryStatus::Dead)),
        Some(other) => Err(CliError::usage(format!(
            "--status {other:?}: use pending, delivered or dead"
        ))),
    }
}

fn base(rc_id: &str) -> String {
    format!("/api/v1/integrations/connectors/{rc_id}/webhooks")
}

/// The path segment of a connection reference (`w/name` → `w%2Fname` is not routable, so
/// remote mode resolves it to an id first).
async fn remote_id(rc: &crate::remote::RemoteClient, conn: &str) -> Result<String, CliError> {
    match ConnRef::parse(conn) {
        ConnRef::Id(id) => Ok(id.to_string()),
        ConnRef::Name { workspace, name } => {
            rc.connector_id(None, Some(&workspace), Some(&name)).await
        }
    }
}

pub async fn run(g: &Global, cmd: WebhooksCmd) -> Result<(), CliError> {
    let out = Printer::new(g.output);
    if let Some(rc) = context::remote(g)? {
        let v = match cmd {
            WebhooksCmd::Subscribe {
                connection,
                events,
                jql,
                fields,
                url,
            } => {
                let id = remote_id(&rc, &connection).await?;
                let mut body = json!({"events": events, "jql_filter": jql, "url": url});
                if !fields.is_empty() {
                    body["field_ids"] = json!(fields);
                }
                rc.post(&format!("{}/subscriptions", base(&id)), &body)
                    .await?
            }
            WebhooksCmd::List { connection } => {
                let id = remote_id(&rc, &connection).await?;
                rc.get_list(&format!("{}/subscriptions", base(&id))).await?
            }
            WebhooksCmd::Delete {
                connection,
                subscription,
            } => {
                let id = remote_id(&rc, &connection).await?;
                rc.delete(&format!("{}/subscriptions/{subscription}", base(&id)))
                    .await?;
                out.note("deleted");
                return Ok(());
            }
            WebhooksCmd::Events { connection, limit } => {
                let id = remote_id(&rc, &connection).await?;
                rc.get_list(&format!("{}/events?limit={limit}", base(&id)))
                    .await?
            }
            WebhooksCmd::Deliveries {
                connection,
                status,
                limit,
            } => {
                status_of(status.as_deref())?;
                let id = remote_id(&rc, &connection).await?;
                let q = status.map(|s| format!("&status={s}")).unwrap_or_default();
                rc.get_list(&format!("{}/deliveries?limit={limit}{q}", base(&id)))
                    .await?
            }
            WebhooksCmd::Replay {
                connection,
                delivery,
            } => {
                let id = remote_id(&rc, &connection).await?;
                rc.post(
                    &format!("{}/deliveries/{delivery}/replay", base(&id)),
                    &json!({}),
                )
                .await?
            }
        };
        out.value(&v, columns_for(&v));
        return Ok(());
    }

    let engine = context::local(g).await?;
    let org = engine.default_org.clone();
    let hooks = local_hooks(g, engine);
    let a = Actor::Operator;
    let v: Value = match cmd {
        WebhooksCmd::Subscribe {
            connection,
            events,
            jql,
            fields,
            url,
        } => {
            let c = hooks
                .create_subscription(
                    a,
                    &org,
                    &ConnRef::parse(&connection),
                    NewSubscription {
                        events,
                        jql_filter: jql,
                        field_ids: (!fields.is_empty()).then_some(fields),
                        url,
                    },
                )
                .await?;
            let mut v = serde_json::to_value(&c.subscription).unwrap_or_default();
            v["signing_secret"] = json!(c.signing_secret.expose_secret());
            v["receiver_url"] = json!(c.receiver_url);
            if let Some(admin) = c.admin_webhook {
                v["admin_webhook"] = json!({
                    "url": admin.url,
                    "secret": admin.secret.as_ref().map(|s| s.expose_secret().to_owned()),
                    "registered": admin.registered,
                });
            }
            v
        }
        WebhooksCmd::List { connection } => serde_json::to_value(
            hooks
                .list_subscriptions(a, &org, &ConnRef::parse(&connection))
                .await?,
        )
        .unwrap_or_default(),
        WebhooksCmd::Delete {
            connection,
            subscription,
        } => {
            let id: WebhookSubscriptionId = subscription
                .parse()
                .map_err(|_| CliError::usage("SUBSCRIPTION is a subscription id (a UUID)"))?;
            hooks
                .delete_subscription(a, &org, &ConnRef::parse(&connection), &id)
                .await?;
            out.note("deleted");
            return Ok(());
        }
        WebhooksCmd::Events { connection, limit } => serde_json::to_value(
            hooks
                .list_events(a, &org, &ConnRef::parse(&connection), limit)
                .await?,
        )
        .unwrap_or_default(),
        WebhooksCmd::Deliveries {
            connection,
            status,
            limit,
        } => serde_json::to_value(
            hooks
                .list_deliveries(
                    a,
                    &org,
                    &ConnRef::parse(&connection),
                    status_of(status.as_deref())?,
                    limit,
                )
                .await?,
        )
        .unwrap_or_default(),
        WebhooksCmd::Replay {
            connection,
            delivery,
        } => serde_json::to_value(
            hooks
                .replay_delivery(
                    a,
                    &org,
                    &ConnRef::parse(&connection),
                    WebhookDeliveryId(delivery),
                )
                .await?,
        )
        .unwrap_or_default(),
    };
    out.value(&v, columns_for(&v));
    Ok(())
}

fn columns_for(v: &Value) -> &'static [&'static str] {
    let first = match v {
        Value::Array(a) => a.first(),
        other => Some(other),
    };
    match first {
        Some(r) if r.get("webhook_identifier").is_some() => EVENT_COLUMNS,
        Some(r) if r.get("attempts").is_some() => DELIVERY_COLUMNS,
        _ => SUB_COLUMNS,
    }
}
