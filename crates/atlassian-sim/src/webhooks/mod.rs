//! Webhooks: dynamic webhooks of OAuth 2.0 (3LO) apps (`/rest/api/3/webhook…`, in the
//! platform spec), admin webhooks (`/rest/webhooks/1.0/webhook`, documented only in
//! Atlassian's webhooks guide), the events issue changes raise, and their delivery.
//!
//! Sources (see the crate README): the platform OpenAPI document for the dynamic webhook
//! operations and their schemas; <https://developer.atlassian.com/cloud/jira/platform/webhooks/>
//! for admin webhooks, events and payloads; the retry policy announcement
//! <https://community.developer.atlassian.com/t/new-jira-cloud-webhook-retry-policy/30554>
//! (retried statuses, `X-Atlassian-Webhook-Retry`).

pub mod admin;
pub mod deliver;
pub mod dynamic;
pub mod events;

use std::collections::VecDeque;

use rand::SeedableRng;
use rand::rngs::StdRng;
use serde::{Deserialize, Serialize};

/// Dynamic webhooks expire 30 days after registration or the last refresh (platform spec,
/// `refreshWebhooks`: "Webhooks registered through the REST API expire after 30 days").
pub const DYNAMIC_TTL_MS: i64 = 30 * 86_400 * 1000;

/// `getFailedWebhooks`: "After 72 hours the failure may no longer be returned".
pub const FAILED_RETENTION_MS: i64 = 72 * 3600 * 1000;

/// Most dynamic webhooks one app may hold on one site. Not documented in the spec; a
/// plausible bound so the store stays small.
pub const MAX_DYNAMIC_PER_APP: usize = 100;

/// Most admin webhooks per site (a plausible bound, not documented).
pub const MAX_ADMIN_PER_SITE: usize = 100;

/// Entries kept in the delivery log and the failed list.
pub const DELIVERY_LOG_CAP: usize = 10_000;
pub const FAILED_CAP: usize = 10_000;

/// The `events` enum of `WebhookDetails` in the platform spec.
pub const DYNAMIC_EVENTS: &[&str] = &[
    "jira:issue_created",
    "jira:issue_updated",
    "jira:issue_deleted",
    "comment_created",
    "comment_updated",
    "comment_deleted",
    "issue_property_set",
    "issue_property_deleted",
    "sprint_created",
    "sprint_updated",
    "sprint_closed",
    "sprint_deleted",
    "sprint_started",
    "jira:version_released",
    "jira:version_unreleased",
    "jira:version_created",
    "jira:version_moved",
    "jira:version_updated",
    "jira:version_merged",
    "jira:version_deleted",
];

/// A webhook registered by an OAuth 2.0 app on one site.
#[derive(Clone, Debug)]
pub struct DynamicHook {
    pub id: i64,
    pub client_id: String,
    pub site: usize,
    /// The user whose grant registered it (`currentUser()` in its JQL, `sub` of the JWT).
    pub user: usize,
    pub url: String,
    pub events: Vec<String>,
    pub jql: String,
    pub field_ids: Option<Vec<String>>,
    pub property_keys: Option<Vec<String>>,
    pub expires_ms: i64,
}

/// A webhook registered with `/rest/webhooks/1.0/webhook` (or the admin UI).
#[derive(Clone, Debug)]
pub struct AdminHook {
    pub id: i64,
    pub site: usize,
    pub user: usize,
    pub name: String,
    pub url: String,
    pub events: Vec<String>,
    /// `filters["issue-related-events-section"]`: full JQL, empty = every issue.
    pub jql: String,
    pub exclude_body: bool,
    pub secret: Option<String>,
    pub enabled: bool,
    pub updated_ms: i64,
}

/// A dynamic-webhook delivery given up after the last retry (`getFailedWebhooks`).
#[derive(Clone, Debug)]
pub struct FailedDelivery {
    pub client_id: String,
    pub site: usize,
    /// The `X-Atlassian-Webhook-Identifier` of the delivery.
    pub id: String,
    pub body: String,
    pub url: String,
    pub failure_ms: i64,
}

/// One delivery attempt, as listed by `GET /__sim/webhooks/deliveries`.
#[derive(Clone, Debug, Serialize, Deserialize, PartialEq)]
pub struct WebhookDelivery {
    /// `X-Atlassian-Webhook-Identifier`: the same for every attempt (and duplicate) of one delivery.
    pub id: String,
    /// `"dynamic"` or `"admin"`.
    pub kind: String,
    pub webhook_ids: Vec<i64>,
    pub site: String,
    pub event: String,
    pub url: String,
    /// 0 for the first attempt, then the retry number (`X-Atlassian-Webhook-Retry`).
    pub attempt: u32,
    /// The receiver's status, if it answered.
    pub status: Option<u16>,
    /// Connection error or timeout, if it did not.
    pub error: Option<String>,
    /// A deliberate second copy of a delivery (duplicate knob).
    pub duplicate: bool,
    /// Simulated time of the attempt, ms since the epoch.
    pub at_ms: i64,
}

pub struct Hooks {
    pub dynamic: Vec<DynamicHook>,
    pub admin: Vec<AdminHook>,
    pub failed: VecDeque<FailedDelivery>,
    pub log: VecDeque<WebhookDelivery>,
    pub next_id: i64,
    pub duplicate_rate: f64,
    pub rng: StdRng,
    /// Deliveries dropped because the queue was full.
    pub dropped: u64,
}

impl Hooks {
    pub fn new(seed: u64, duplicate_rate: f64) -> Hooks {
        Hooks {
            dynamic: Vec::new(),
            admin: Vec::new(),
            failed: VecDeque::new(),
            log: VecDeque::new(),
            next_id: 10_000,
            duplicate_rate: duplicate_rate.clamp(0.0, 1.0),
            rng: StdRng::seed_from_u64(seed ^ 0x00be_e400),
            dropped: 0,
        }
    }

    pub fn alloc_id(&mut self) -> i64 {
        self.next_id += 1;
        self.next_id
    }

    /// Drops dynamic webhooks past their expiry: an expired registration is gone (not
    /// listed, not refreshable, never delivered). Atlassian documents only that they expire;
    /// removing them is the simulator's reading.
    pub fn prune(&mut self, now_ms: i64) {
        self.dynamic.retain(|h| h.expires_ms > now_ms);
        while self
            .failed
            .front()
            .is_some_and(|f| f.failure_ms + FAILED_RETENTION_MS < now_ms)
        {
            self.failed.pop_front();
        }
    }

    pub fn any_for_site(&self, site: usize) -> bool {
        self.dynamic.iter().any(|h| h.site == site) || self.admin.iter().any(|h| h.site == site)
    }

    pub fn record(&mut self, d: WebhookDelivery) {
        if self.log.len() >= DELIVERY_LOG_CAP {
            self.log.pop_front();
        }
        self.log.push_back(d);
    }

    pub fn record_failed(&mut self, f: FailedDelivery) {
        if self.failed.len() >= FAILED_CAP {
            self.failed.pop_front();
        }
        self.failed.push_back(f);
    }
}
