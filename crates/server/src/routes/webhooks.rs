//! Webhooks: the public receiver of Jira's deliveries and the subscription, event and
//! delivery routes of a connector. The engine verifies, stores and delivers
//! (`jiragate_engine::webhooks`); these handlers parse and render.

use axum::Json;
use axum::body::Bytes;
use axum::extract::State;
use axum::http::{HeaderMap, StatusCode, Uri};
use axum::response::{IntoResponse, Response};
use jiragate_engine::model::{
    DeliveryStatus, WebhookDelivery, WebhookDeliveryId, WebhookEvent, WebhookSubscription,
    WebhookSubscriptionId,
};
use jiragate_engine::webhooks::{
    CreatedSubscription, DeliveryHeaders, NewSubscription, ReceiveError, Received,
};
use secrecy::ExposeSecret;
use serde::{Deserialize, Serialize};
use utoipa::{IntoParams, ToSchema};

use crate::caller::Caller;
use crate::extract::{ApiJson, ApiPath, ApiQuery};
use crate::problem::{ApiResult, Problem, ProblemBody, ProblemKind};
use crate::routes::connectors::conn_ref;
use crate::state::AppState;
use crate::views::{ListResponse, ts};

/// `POST …/webhooks/subscriptions`.
#[derive(Debug, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct CreateSubscriptionRequest {
    /// Jira events, e.g. `jira:issue_updated`, `comment_created`.
    pub events: Vec<String>,
    /// JQL selecting the issues (Jira's dynamic-webhook subset: `project`, `issueKey`,
    /// `issuetype`, `status`, `assignee`, `reporter` with `=`, `!=`, `IN`, `NOT IN`).
    pub jql_filter: String,
    /// Only changes of these fields raise `jira:issue_updated`.
    #[serde(default)]
    pub field_ids: Option<Vec<String>>,
    /// The subscriber: an https URL on a public address.
    pub url: String,
}

#[derive(Debug, Serialize, ToSchema)]
pub struct SubscriptionView {
    pub id: String,
    pub connector_id: String,
    pub events: Vec<String>,
    pub jql_filter: String,
    pub field_ids: Option<Vec<String>>,
    pub url: String,
    /// The webhook jiragate registered at Jira: a dynamic webhook (OAuth connectors) or an
    /// admin webhook (API-token connectors whose user is a Jira administrator).
    pub jira_webhook_id: Option<i64>,
    pub registration_expires_at: Option<String>,
    pub created_at: String,
}

impl From<&WebhookSubscription> for SubscriptionView {
    fn from(s: &WebhookSubscription) -> Self {
        SubscriptionView {
            id: s.id.to_string(),
            connector_id: s.connection_id.to_string(),
            events: s.events.clone(),
            jql_filter: s.jql_filter.clone(),
            field_ids: s.field_ids.clone(),
            url: s.url.clone(),
            jira_webhook_id: s.jira_webhook_id,
            registration_expires_at: s.registration_expires_at.map(ts),
            created_at: ts(s.created_at),
        }
    }
}

/// The admin webhook of an API-token connector: registered by jiragate when the token's user
/// is a Jira administrator, otherwise what to create in Jira's admin UI.
#[derive(Debug, Serialize, ToSchema)]
pub struct AdminWebhookView {
    /// `true`: jiragate registered the admin webhook at Jira (its id is `jira_webhook_id`)
    /// and nothing is to be pasted. `false`: Jira refused (not an administrator); create it
    /// in Jira (System → WebHooks) with `url` and `secret`.
    pub registered: bool,
    /// The URL to enter in Jira.
    pub url: String,
    /// The secret to enter in Jira; shown once, when it was generated (never when registered).
    pub secret: Option<String>,
}

#[derive(Debug, Serialize, ToSchema)]
pub struct CreatedSubscriptionView {
    #[serde(flatten)]
    pub subscription: SubscriptionView,
    /// Verifies the `webhook-signature` of deliveries (Standard Webhooks); shown only now.
    pub signing_secret: String,
    /// Where Jira sends this connector's events.
    pub receiver_url: String,
    pub admin_webhook: Option<AdminWebhookView>,
}

impl From<CreatedSubscription> for CreatedSubscriptionView {
    fn from(c: CreatedSubscription) -> Self {
        CreatedSubscriptionView {
            subscription: SubscriptionView::from(&c.subscription),
            signing_secret: c.signing_secret.expose_secret().to_owned(),
            receiver_url: c.receiver_url,
            admin_webhook: c.admin_webhook.map(|a| AdminWebhookView {
                registered: a.registered,
                url: a.url,
                secret: a.secret.map(|s| s.expose_secret().to_owned()),
            }),
        }
    }
}

#[derive(Debug, Serialize, ToSchema)]
pub struct EventView {
    pub id: String,
    pub webhook_identifier: String,
    pub event: String,
    pub issue_key: Option<String>,
    pub received_at: String,
    /// The event as Jira sent it.
    #[schema(value_type = Object)]
    pub payload: serde_json::Value,
}

impl From<&WebhookEvent> for EventView {
    fn from(e: &WebhookEvent) -> Self {
        EventView {
            id: e.id.to_string(),
            webhook_identifier: e.webhook_identifier.clone(),
            event: e.event.clone(),
            issue_key: e.issue_key.clone(),
            received_at: ts(e.received_at),
            payload: serde_json::from_str(&e.body).unwrap_or(serde_json::Value::Null),
        }
    }
}

#[derive(Debug, Serialize, ToSchema)]
pub struct DeliveryView {
    pub id: i64,
    pub subscription_id: String,
    pub event_id: String,
    /// `pending`, `delivered` or `dead`.
    pub status: String,
    pub attempts: i32,
    pub next_attempt_at: String,
    pub last_status: Option<i32>,
    pub last_error: Option<String>,
    pub created_at: String,
    pub delivered_at: Option<String>,
}

impl From<&WebhookDelivery> for DeliveryView {
    fn from(d: &WebhookDelivery) -> Self {
        DeliveryView {
            id: d.id.0,
            subscription_id: d.subscription_id.to_string(),
            event_id: d.event_id.to_string(),
            status: d.status.as_str().to_owned(),
            attempts: d.attempts,
            next_attempt_at: ts(d.next_attempt_at),
            last_status: d.last_status,
            last_error: d.last_error.clone(),
            created_at: ts(d.created_at),
            delivered_at: d.delivered_at.map(ts),
        }
    }
}

#[derive(Debug, Deserialize, IntoParams)]
#[into_params(parameter_in = Query)]
pub struct LimitQuery {
    /// At most this many, newest first (1–500, default 50).
    pub limit: Option<u32>,
}

#[derive(Debug, Deserialize, IntoParams)]
#[into_params(parameter_in = Query)]
pub struct DeliveriesQuery {
    /// `pending`, `delivered` or `dead`.
    pub status: Option<String>,
    /// At most this many, newest first (1–500, default 50).
    pub limit: Option<u32>,
}

/// What the receiver answers Jira.
#[derive(Debug, Serialize, ToSchema)]
pub struct ReceivedView {
    /// `stored` or `duplicate`.
    pub status: &'static str,
}

fn header(headers: &HeaderMap, name: &str) -> Option<String> {
    headers
        .get(name)
        .and_then(|v| v.to_str().ok())
        .map(str::to_owned)
}

/// Receive one delivery from Jira (public: authenticated by Jira's signature, not an API key).
#[utoipa::path(post, path = "/hooks/jira/{id}", tag = "webhooks",
    params(("id" = String, Path, description = "connector id")),
    request_body(content = Object, description = "The event as Jira sends it"),
    responses((status = 200, description = "Verified and stored (or a duplicate, dropped)", body = ReceivedView),
              (status = 400, description = "No webhook identifier or not a Jira event", body = ProblemBody, content_type = "application/problem+json"),
              (status = 401, description = "Unsigned, forged, stale or for an unknown connector; nothing was stored", body = ProblemBody, content_type = "application/problem+json"),
              (status = 413, description = "The body is larger than the receiver accepts", body = ProblemBody, content_type = "application/problem+json"),
              (status = 429, description = "Too many deliveries for this connector", body = ProblemBody, content_type = "application/problem+json")))]
pub async fn receive(
    State(state): State<AppState>,
    ApiPath(id): ApiPath<String>,
    uri: Uri,
    headers: HeaderMap,
    body: Bytes,
) -> ApiResult<Response> {
    if let Some(limiter) = &state.inner.hook_limiter
        && let Err(wait) = limiter.check(&format!("hook:{id}"))
    {
        return Err(Problem::rate_limited(
            wait,
            "too many webhook deliveries for this connector",
        ));
    }
    let hooks = state.webhooks();
    if body.len() > hooks.config().max_body_bytes {
        return Err(Problem::new(
            ProblemKind::PayloadTooLarge,
            "the delivery is larger than the receiver accepts",
        ));
    }
    let h = DeliveryHeaders {
        authorization: header(&headers, "authorization"),
        hub_signature: header(&headers, "x-hub-signature"),
        identifier: header(&headers, "x-atlassian-webhook-identifier"),
    };
    match hooks.receive(&id, uri.query(), &h, body).await {
        Ok(Received::Stored { .. }) => Ok(Json(ReceivedView { status: "stored" }).into_response()),
        Ok(Received::Duplicate) => Ok(Json(ReceivedView {
            status: "duplicate",
        })
        .into_response()),
        Err(ReceiveError::Unauthorized(_)) => Err(Problem::unauthorized(
            "the delivery is unsigned, its signature does not verify, or it is stale",
        )),
        Err(ReceiveError::BadRequest(m)) => Err(Problem::validation("body", m)),
        Err(ReceiveError::Engine(e)) => Err(e.into()),
    }
}

/// Subscribe a URL to some of a connector's Jira events. The signing secret is shown once.
#[utoipa::path(post, path = "/api/v1/integrations/connectors/{id}/webhooks/subscriptions", tag = "webhooks",
    params(("id" = String, Path, description = "connector id")),
    request_body = CreateSubscriptionRequest,
    responses((status = 201, description = "Subscribed (the webhook is registered at Jira for OAuth connectors, and for API-token connectors whose user is a Jira administrator)", body = CreatedSubscriptionView),
              (status = 400, description = "Invalid events, JQL or URL, or Jira refused the webhook", body = ProblemBody, content_type = "application/problem+json"),
              (status = 404, description = "No such connector in this organization", body = ProblemBody, content_type = "application/problem+json"),
              (status = 502, description = "Jira answered with an error", body = ProblemBody, content_type = "application/problem+json"),
              (status = 503, description = "Jira could not be reached", body = ProblemBody, content_type = "application/problem+json")),
    security(("api_key" = ["connectors:write"])))]
pub async fn create_subscription(
    State(state): State<AppState>,
    caller: Caller,
    ApiPath(id): ApiPath<String>,
    ApiJson(body): ApiJson<CreateSubscriptionRequest>,
) -> ApiResult<Response> {
    let created = state
        .webhooks()
        .create_subscription(
            caller.actor(),
            &caller.org,
            &conn_ref(&id)?,
            NewSubscription {
                events: body.events,
                jql_filter: body.jql_filter,
                field_ids: body.field_ids,
                url: body.url,
            },
        )
        .await?;
    Ok((
        StatusCode::CREATED,
        Json(CreatedSubscriptionView::from(created)),
    )
        .into_response())
}

/// A connector's webhook subscriptions (never their secrets).
#[utoipa::path(get, path = "/api/v1/integrations/connectors/{id}/webhooks/subscriptions", tag = "webhooks",
    params(("id" = String, Path, description = "connector id")),
    responses((status = 200, description = "The subscriptions", body = ListResponse<SubscriptionView>),
              (status = 404, description = "No such connector in this organization", body = ProblemBody, content_type = "application/problem+json")),
    security(("api_key" = [])))]
pub async fn list_subscriptions(
    State(state): State<AppState>,
    caller: Caller,
    ApiPath(id): ApiPath<String>,
) -> ApiResult<Json<ListResponse<SubscriptionView>>> {
    let subs = state
        .webhooks()
        .list_subscriptions(caller.actor(), &caller.org, &conn_ref(&id)?)
        .await?;
    Ok(Json(ListResponse {
        data: subs.iter().map(SubscriptionView::from).collect(),
    }))
}

/// Delete a subscription (and its webhook at Jira).
#[utoipa::path(delete, path = "/api/v1/integrations/connectors/{id}/webhooks/subscriptions/{sub}", tag = "webhooks",
    params(("id" = String, Path, description = "connector id"), ("sub" = String, Path, description = "subscription id")),
    responses((status = 204, description = "Deleted"),
              (status = 404, description = "No such connector or subscription", body = ProblemBody, content_type = "application/problem+json")),
    security(("api_key" = ["connectors:write"])))]
pub async fn delete_subscription(
    State(state): State<AppState>,
    caller: Caller,
    ApiPath((id, sub)): ApiPath<(String, String)>,
) -> ApiResult<StatusCode> {
    let sub_id: WebhookSubscriptionId = sub
        .parse()
        .map_err(|_| Problem::not_found("webhook subscription", &sub))?;
    state
        .webhooks()
        .delete_subscription(caller.actor(), &caller.org, &conn_ref(&id)?, &sub_id)
        .await?;
    Ok(StatusCode::NO_CONTENT)
}

/// The events received for a connector, newest first.
#[utoipa::path(get, path = "/api/v1/integrations/connectors/{id}/webhooks/events", tag = "webhooks",
    params(("id" = String, Path, description = "connector id"), LimitQuery),
    responses((status = 200, description = "Received events", body = ListResponse<EventView>),
              (status = 404, description = "No such connector in this organization", body = ProblemBody, content_type = "application/problem+json")),
    security(("api_key" = [])))]
pub async fn list_events(
    State(state): State<AppState>,
    caller: Caller,
    ApiPath(id): ApiPath<String>,
    ApiQuery(q): ApiQuery<LimitQuery>,
) -> ApiResult<Json<ListResponse<EventView>>> {
    let events = state
        .webhooks()
        .list_events(
            caller.actor(),
            &caller.org,
            &conn_ref(&id)?,
            q.limit.unwrap_or(50),
        )
        .await?;
    Ok(Json(ListResponse {
        data: events.iter().map(EventView::from).collect(),
    }))
}

/// The deliveries of a connector's events to its subscribers, newest first.
#[utoipa::path(get, path = "/api/v1/integrations/connectors/{id}/webhooks/deliveries", tag = "webhooks",
    params(("id" = String, Path, description = "connector id"), DeliveriesQuery),
    responses((status = 200, description = "Deliveries", body = ListResponse<DeliveryView>),
              (status = 400, description = "Unknown status", body = ProblemBody, content_type = "application/problem+json"),
              (status = 404, description = "No such connector in this organization", body = ProblemBody, content_type = "application/problem+json")),
    security(("api_key" = [])))]
pub async fn list_deliveries(
    State(state): State<AppState>,
    caller: Caller,
    ApiPath(id): ApiPath<String>,
    ApiQuery(q): ApiQuery<DeliveriesQuery>,
) -> ApiResult<Json<ListResponse<DeliveryView>>> {
    let status = match q.status.as_deref() {
        None | Some("") => None,
        Some("pending") => Some(DeliveryStatus::Pending),
        Some("delivered") => Some(DeliveryStatus::Delivered),
        Some("dead") => Some(DeliveryStatus::Dead),
        Some(_) => {
            return Err(Problem::validation(
                "status",
                "use pending, delivered or dead",
            ));
        }
    };
    let list = state
        .webhooks()
        .list_deliveries(
            caller.actor(),
            &caller.org,
            &conn_ref(&id)?,
            status,
            q.limit.unwrap_or(50),
        )
        .await?;
    Ok(Json(ListResponse {
        data: list.iter().map(DeliveryView::from).collect(),
    }))
}

/// Send a delivery again (a dead-lettered one, or one already delivered).
#[utoipa::path(post, path = "/api/v1/integrations/connectors/{id}/webhooks/deliveries/{delivery}/replay", tag = "webhooks",
    params(("id" = String, Path, description = "connector id"), ("delivery" = i64, Path, description = "delivery id")),
    responses((status = 202, description = "Queued for delivery", body = DeliveryView),
              (status = 404, description = "No such connector or delivery", body = ProblemBody, content_type = "application/problem+json")),
    security(("api_key" = ["connectors:write"])))]
pub async fn replay_delivery(
    State(state): State<AppState>,
    caller: Caller,
    ApiPath((id, delivery)): ApiPath<(String, String)>,
) -> ApiResult<Response> {
    let n: i64 = delivery
        .parse()
        .map_err(|_| Problem::not_found("webhook delivery", &delivery))?;
    let d = state
        .webhooks()
        .replay_delivery(
            caller.actor(),
            &caller.org,
            &conn_ref(&id)?,
            WebhookDeliveryId(n),
        )
        .await?;
    Ok((StatusCode::ACCEPTED, Json(DeliveryView::from(&d))).into_response())
}
