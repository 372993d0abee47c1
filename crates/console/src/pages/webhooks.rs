//! A connection's webhooks: its subscriptions and the recent deliveries of its Jira events to
//! them, with their status; a dead-lettered delivery can be replayed (the same engine
//! operation as `POST …/webhooks/deliveries/{id}/replay` and `jiragate webhooks replay`).

use axum::extract::{Path, Query, State};
use axum::response::Response;
use jiragate_engine::model::{DeliveryStatus, WebhookDeliveryId};
use jiragate_engine::webhooks::Webhooks;
use jiragate_engine::{ConnRef, EngineError};
use minijinja::context;
use serde::Deserialize;

use super::connections::{connection_view, fmt_time};
use super::see_other;
use crate::Console;
use crate::render::{error_page, page};
use crate::session::SignedIn;

/// How many deliveries the page lists (newest first).
const RECENT: u32 = 50;

#[derive(Deserialize)]
pub(crate) struct WebhooksQuery {
    replayed: Option<String>,
}

/// The server's webhook service.
fn service(st: &Console) -> Result<&Webhooks, EngineError> {
    st.webhooks
        .as_ref()
        .ok_or_else(|| EngineError::Unavailable("this server does not run webhooks".into()))
}

pub(crate) async fn list(
    State(st): State<Console>,
    user: SignedIn,
    Path(id): Path<String>,
    Query(q): Query<WebhooksQuery>,
) -> Response {
    let hooks = match service(&st) {
        Ok(h) => h,
        Err(e) => return error_page(&st, Some(&user), &e),
    };
    let r = ConnRef::parse(&id);
    let conn = match st.engine.get_connection(user.actor(), user.org(), &r).await {
        Ok(c) => c,
        Err(e) => return error_page(&st, Some(&user), &e),
    };
    let by_id = ConnRef::Id(conn.id.clone());
    let subs = hooks
        .list_subscriptions(user.actor(), user.org(), &by_id)
        .await;
    let deliveries = hooks
        .list_deliveries(user.actor(), user.org(), &by_id, None, RECENT)
        .await;
    let (subs, deliveries) = match (subs, deliveries) {
        (Ok(s), Ok(d)) => (s, d),
        (Err(e), _) | (_, Err(e)) => return error_page(&st, Some(&user), &e),
    };
    let subs: Vec<_> = subs
        .iter()
        .map(|s| {
            context! {
                id => s.id.to_string(),
                events => s.events.join(", "),
                jql => s.jql_filter.clone(),
                url => s.url.clone(),
                jira_webhook_id => s.jira_webhook_id,
                created_at => fmt_time(s.created_at),
            }
        })
        .collect();
    let rows: Vec<_> = deliveries
        .iter()
        .map(|d| {
            context! {
                id => d.id.0,
                subscription_id => d.subscription_id.to_string(),
                event_id => d.event_id.to_string(),
                status => d.status.as_str(),
                failing => d.status == DeliveryStatus::Pending && d.last_error.is_some(),
                replayable => d.status == DeliveryStatus::Dead,
                attempts => d.attempts,
                last_status => d.last_status,
                last_error => d.last_error.clone(),
                next_attempt_at => fmt_time(d.next_attempt_at),
                created_at => fmt_time(d.created_at),
                delivered_at => d.delivered_at.map(fmt_time),
            }
        })
        .collect();
    page(
        &st,
        &user,
        "connections",
        "webhooks.html",
        context! {
            conn => connection_view(&conn),
            subscriptions => subs,
            deliveries => rows,
            receiver_url => hooks.receiver_url(&conn.id),
            notice => q.replayed.map(|d| format!("Delivery {d} queued again: it is sent now, with a fresh retry window.")),
        },
    )
}

pub(crate) async fn replay(
    State(st): State<Console>,
    user: SignedIn,
    Path((id, delivery)): Path<(String, String)>,
) -> Response {
    let hooks = match service(&st) {
        Ok(h) => h,
        Err(e) => return error_page(&st, Some(&user), &e),
    };
    let Ok(n) = delivery.parse::<i64>() else {
        let e = EngineError::NotFound {
            what: "webhook delivery",
            id: delivery,
        };
        return error_page(&st, Some(&user), &e);
    };
    let r = ConnRef::parse(&id);
    match hooks
        .replay_delivery(user.actor(), user.org(), &r, WebhookDeliveryId(n))
        .await
    {
        Ok(d) => see_other(&format!(
            "/console/connections/{}/webhooks?replayed={}",
            d.connection_id, d.id
        )),
        Err(e) => error_page(&st, Some(&user), &e),
    }
}
