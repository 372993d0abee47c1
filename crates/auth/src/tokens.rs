//! The token manager: hands out a valid credential for a connection, refreshing OAuth tokens
//! so that exactly one refresh per connection happens at a time — across tasks of this
//! process (one shared future) and across instances (a store lease, then a re-read).
//!
//! Invariant: a rotated refresh token is sealed and committed to the store BEFORE the new
//! access token is handed to anyone. If the commit fails, the refresh fails, and the next
//! attempt presents the previous refresh token, which Atlassian still accepts inside its reuse
//! window.

use std::fmt;
use std::sync::atomic::{AtomicI64, AtomicU64, Ordering};
use std::sync::{Arc, Mutex, RwLock};
use std::time::{Duration, Instant};

use async_trait::async_trait;
use dashmap::DashMap;
use futures::FutureExt as _;
use futures::future::{BoxFuture, Shared};
use jiragate_jira::{JiraAuth, JiraError, Target, TokenSource};
use jiragate_store::{
    AuthKind, Connection, ConnectionId, ConnectionStatus, Credential, Lease, NewAuditEvent, OrgId,
    RefreshedCredential, Store,
};
use rand::Rng as _;
use secrecy::{ExposeSecret, SecretString};
use time::OffsetDateTime;

use crate::config::AuthConfig;
use crate::error::AuthError;
use crate::keyring::{Keyring, fields};
use crate::oauth::{OAuthHttp, TokenEndpointError};

/// How long an API-token credential is served from memory before it is re-read (so a
/// replacement made by another instance is picked up).
const API_TOKEN_CACHE_TTL: Duration = Duration::from_secs(300);

/// A credential ready for use, as kept in memory.
#[derive(Clone)]
pub(crate) struct CachedToken {
    pub target: Target,
    /// When the access token expires (None for API tokens).
    pub access_expires_at: Option<OffsetDateTime>,
    /// Serve from memory until then.
    pub cache_until: OffsetDateTime,
    pub generation: i64,
    /// How long before `cache_until` this token counts as due for a refresh: the configured
    /// skew, but at most a quarter of the token's lifetime, so a token that lives 30 s or
    /// less is not refreshed on every call.
    pub margin: Duration,
}

/// The refresh margin of a token that lives `lifetime`: `skew`, at most a quarter of it.
pub(crate) fn refresh_margin(lifetime: time::Duration, skew: Duration) -> Duration {
    let quarter = Duration::try_from(lifetime / 4).unwrap_or(Duration::ZERO);
    skew.min(quarter)
}

impl fmt::Debug for CachedToken {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("CachedToken")
            .field("target", &self.target)
            .field("access_expires_at", &self.access_expires_at)
            .field("generation", &self.generation)
            .finish()
    }
}

/// What a refresh flight must deliver.
#[derive(Clone)]
pub(crate) enum Need {
    /// A token not yet due for a refresh (valid beyond its own refresh margin).
    Fresh,
    /// A token that stays valid for at least this long.
    ValidFor(Duration),
    /// Any valid token other than this one (it was just refused with 401).
    NotToken(SecretString),
    /// A token whose refresh token was issued after this instant (keep-alive refresh).
    IssuedAfter(OffsetDateTime),
}

/// The error of a shared flight: cloneable, so every waiter gets it.
#[derive(Clone, Debug)]
enum FlightError {
    NeedsReauth(String),
    NotFound,
    /// An API token was refused and there is nothing to refresh.
    NoRefreshPossible,
    Busy,
    Failed(String),
}

impl FlightError {
    fn into_auth(self, connection: &ConnectionId) -> AuthError {
        match self {
            FlightError::NeedsReauth(reason) => AuthError::NeedsReauth {
                connection: connection.to_string(),
                reason,
            },
            FlightError::NotFound => AuthError::NotFound {
                what: "connection",
                id: connection.to_string(),
            },
            FlightError::NoRefreshPossible => AuthError::Refresh {
                connection: connection.to_string(),
                message:
                    "the API token was refused and cannot be refreshed; replace the credentials"
                        .to_owned(),
            },
            FlightError::Busy => AuthError::RefreshBusy {
                connection: connection.to_string(),
            },
            FlightError::Failed(message) => AuthError::Refresh {
                connection: connection.to_string(),
                message,
            },
        }
    }

    fn from_auth(e: AuthError) -> Self {
        match e {
            AuthError::NeedsReauth { reason, .. } => FlightError::NeedsReauth(reason),
            AuthError::NotFound { .. } => FlightError::NotFound,
            AuthError::RefreshBusy { .. } => FlightError::Busy,
            AuthError::Refresh { message, .. } => FlightError::Failed(message),
            other => FlightError::Failed(other.to_string()),
        }
    }
}

enum FlightStep {
    Token(CachedToken),
    NoRefreshPossible,
}

type Flight = Shared<BoxFuture<'static, Result<CachedToken, FlightError>>>;

/// Per-connection in-memory state.
struct Slot {
    org: OrgId,
    cached: RwLock<Option<CachedToken>>,
    flight: Mutex<Option<Flight>>,
    /// Unix seconds of the last `get_valid_token` (for proactive refresh of busy connections).
    last_used: AtomicI64,
}

impl Slot {
    fn fresh(&self, now: OffsetDateTime) -> Option<CachedToken> {
        let guard = self.cached.read().unwrap_or_else(|p| p.into_inner());
        guard
            .as_ref()
            .filter(|c| c.cache_until > now + c.margin)
            .cloned()
    }

    fn cached(&self) -> Option<CachedToken> {
        self.cached
            .read()
            .unwrap_or_else(|p| p.into_inner())
            .clone()
    }

    fn set(&self, token: Option<CachedToken>) {
        *self.cached.write().unwrap_or_else(|p| p.into_inner()) = token;
    }
}

/// Counters for the benchmark, metrics and tests.
#[derive(Default)]
struct Counters {
    cache_hits: AtomicU64,
    refreshes: AtomicU64,
    flights: AtomicU64,
}

/// A snapshot of [`TokenManager`] counters.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct TokenStats {
    pub cache_hits: u64,
    /// Calls to Atlassian's token endpoint made by this instance.
    pub refreshes: u64,
    /// Slow-path flights started (cache misses that went to the store).
    pub flights: u64,
}

struct Inner {
    store: Store,
    keyring: Keyring,
    oauth: OAuthHttp,
    cfg: AuthConfig,
    slots: DashMap<ConnectionId, Arc<Slot>>,
    counters: Counters,
}

/// See the module documentation. Cheap to clone.
#[derive(Clone)]
pub struct TokenManager {
    inner: Arc<Inner>,
}

impl fmt::Debug for TokenManager {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("TokenManager")
            .field("instance_id", &self.inner.cfg.instance_id)
            .field("cached_connections", &self.inner.slots.len())
            .finish()
    }
}

impl TokenManager {
    pub fn new(store: Store, keyring: Keyring, http: reqwest::Client, cfg: AuthConfig) -> Self {
        let oauth = OAuthHttp {
            http,
            token_url: cfg.endpoints.token_url(),
            resources_url: cfg.endpoints.accessible_resources_url(),
            timeout: cfg.token_call_timeout,
        };
        TokenManager {
            inner: Arc::new(Inner {
                store,
                keyring,
                oauth,
                cfg,
                slots: DashMap::new(),
                counters: Counters::default(),
            }),
        }
    }

    pub(crate) fn oauth(&self) -> &OAuthHttp {
        &self.inner.oauth
    }

    pub fn stats(&self) -> TokenStats {
        let c = &self.inner.counters;
        TokenStats {
            cache_hits: c.cache_hits.load(Ordering::Relaxed),
            refreshes: c.refreshes.load(Ordering::Relaxed),
            flights: c.flights.load(Ordering::Relaxed),
        }
    }

    fn slot(&self, org: &OrgId, conn: &ConnectionId) -> Arc<Slot> {
        if let Some(s) = self.inner.slots.get(conn) {
            return s.clone();
        }
        self.inner
            .slots
            .entry(conn.clone())
            .or_insert_with(|| {
                Arc::new(Slot {
                    org: org.clone(),
                    cached: RwLock::new(None),
                    flight: Mutex::new(None),
                    last_used: AtomicI64::new(0),
                })
            })
            .clone()
    }

    /// A valid credential for the connection. A cache hit touches neither the database nor
    /// the network; a miss runs (or joins) the connection's single refresh flight.
    pub async fn get_valid_token(
        &self,
        org: &OrgId,
        conn: &ConnectionId,
    ) -> Result<Target, AuthError> {
        let now = self.inner.cfg.clock.now();
        if let Some(slot) = self.inner.slots.get(conn)
            && slot.org == *org
        {
            slot.last_used
                .store(now.unix_timestamp(), Ordering::Relaxed);
            if let Some(t) = slot.fresh(now) {
                self.inner
                    .counters
                    .cache_hits
                    .fetch_add(1, Ordering::Relaxed);
                return Ok(t.target);
            }
        }
        self.token_with_expiry(org, conn, Need::Fresh)
            .await
            .map(|t| t.target)
    }

    /// The credential together with its expiry (for the "give me an access token" API).
    pub(crate) async fn token_with_expiry(
        &self,
        org: &OrgId,
        conn: &ConnectionId,
        need: Need,
    ) -> Result<CachedToken, AuthError> {
        let slot = self.slot(org, conn);
        if slot.org != *org {
            // Connection ids are global; an id from another organization is simply unknown here.
            return Err(AuthError::NotFound {
                what: "connection",
                id: conn.to_string(),
            });
        }
        slot.last_used.store(
            self.inner.cfg.clock.now().unix_timestamp(),
            Ordering::Relaxed,
        );
        let flight = self.flight_for(&slot, conn, need, true);
        match flight {
            Ok(t) => Ok(t),
            Err(f) => f.await.map_err(|e| e.into_auth(conn)),
        }
    }

    /// Joins the running flight or starts one. `Ok` = satisfied from memory without a flight.
    fn flight_for(
        &self,
        slot: &Arc<Slot>,
        conn: &ConnectionId,
        need: Need,
        may_use_cache: bool,
    ) -> Result<CachedToken, Flight> {
        let mut guard = slot.flight.lock().unwrap_or_else(|p| p.into_inner());
        if let Some(running) = guard.as_ref() {
            return Err(running.clone());
        }
        // Re-check under the flight lock: a flight may have finished just now.
        if may_use_cache
            && let Some(t) = slot.cached()
            && satisfies_cached(&t, &need, self.inner.cfg.clock.now())
        {
            return Ok(t);
        }
        self.inner.counters.flights.fetch_add(1, Ordering::Relaxed);
        let manager = self.clone();
        let slot_for_task = slot.clone();
        let conn_for_task = conn.clone();
        // Spawned, so a refresh that reached Atlassian always runs to its commit even when
        // every caller gave up waiting.
        let task = tokio::spawn(async move {
            let org = slot_for_task.org.clone();
            let result = match manager.run_flight(&org, &conn_for_task, &need).await {
                Ok(FlightStep::Token(t)) => Ok(t),
                Ok(FlightStep::NoRefreshPossible) => Err(FlightError::NoRefreshPossible),
                Err(e) => Err(FlightError::from_auth(e)),
            };
            match &result {
                Ok(t) => slot_for_task.set(Some(t.clone())),
                Err(FlightError::NeedsReauth(_)) => slot_for_task.set(None),
                Err(FlightError::NotFound) => {
                    // Unknown in this organization (deleted, or an id from another one): drop
                    // the slot so it cannot shadow the connection's real organization.
                    slot_for_task.set(None);
                    manager
                        .inner
                        .slots
                        .remove_if(&conn_for_task, |_, s| Arc::ptr_eq(s, &slot_for_task));
                }
                Err(_) => {}
            }
            *slot_for_task
                .flight
                .lock()
                .unwrap_or_else(|p| p.into_inner()) = None;
            result
        });
        let shared: Flight = async move {
            match task.await {
                Ok(r) => r,
                Err(e) => Err(FlightError::Failed(format!("refresh task failed: {e}"))),
            }
        }
        .boxed()
        .shared();
        *guard = Some(shared.clone());
        Err(shared)
    }

    /// After Jira answered 401 to `failed`: a new credential, refreshing at most once for all
    /// concurrent callers that saw the same token fail. `None` = nothing better exists.
    pub async fn on_unauthorized(
        &self,
        org: &OrgId,
        conn: &ConnectionId,
        failed: &Target,
    ) -> Result<Option<Target>, AuthError> {
        let failed_token = match &failed.auth {
            JiraAuth::Bearer(t) => t.clone(),
            JiraAuth::Basic { token, .. } => token.clone(),
        };
        let slot = self.slot(org, conn);
        if slot.org != *org {
            return Ok(None);
        }
        for _ in 0..2 {
            let need = Need::NotToken(failed_token.clone());
            let token = match self.flight_for(&slot, conn, need, true) {
                Ok(t) => t,
                Err(f) => match f.await {
                    Ok(t) => t,
                    Err(FlightError::NoRefreshPossible) => return Ok(None),
                    Err(e) => return Err(e.into_auth(conn)),
                },
            };
            if !token.target.same_credential(failed) {
                return Ok(Some(token.target));
            }
            // We joined a flight that only checked expiry and kept the refused token: go
            // round once more to start a flight that refreshes.
        }
        Ok(None)
    }

    /// Refreshes now unless the stored token is newer than `issued_after` (keep-alive), or
    /// proactively when it expires within `margin`.
    pub(crate) async fn ensure(
        &self,
        org: &OrgId,
        conn: &ConnectionId,
        need: Need,
    ) -> Result<CachedToken, AuthError> {
        let slot = self.slot(org, conn);
        match self.flight_for(&slot, conn, need, true) {
            Ok(t) => Ok(t),
            Err(f) => f.await.map_err(|e| e.into_auth(conn)),
        }
    }

    /// Forces one refresh (unless another one is in flight or just landed): used by tests,
    /// benchmarks and operators.
    pub async fn refresh_now(
        &self,
        org: &OrgId,
        conn: &ConnectionId,
    ) -> Result<OffsetDateTime, AuthError> {
        let t = self
            .ensure(org, conn, Need::IssuedAfter(self.inner.cfg.clock.now()))
            .await?;
        Ok(t.access_expires_at.unwrap_or(t.cache_until))
    }

    /// Drops what memory holds for a connection (credentials replaced or deleted).
    pub fn invalidate(&self, conn: &ConnectionId) {
        if let Some(slot) = self.inner.slots.get(conn) {
            slot.set(None);
        }
    }

    pub(crate) fn forget(&self, conn: &ConnectionId) {
        self.inner.slots.remove(conn);
    }

    /// Connections whose token was asked for since `since`, with the cached token's expiry.
    pub(crate) fn recently_used(
        &self,
        since: OffsetDateTime,
    ) -> Vec<(OrgId, ConnectionId, Option<OffsetDateTime>)> {
        let since = since.unix_timestamp();
        self.inner
            .slots
            .iter()
            .filter(|e| e.value().last_used.load(Ordering::Relaxed) >= since)
            .map(|e| {
                let expires = e.value().cached().and_then(|c| c.access_expires_at);
                (e.value().org.clone(), e.key().clone(), expires)
            })
            .collect()
    }

    /// The slow path: load from the store, and refresh under the cross-instance lease when
    /// the stored token does not satisfy `need`.
    async fn run_flight(
        &self,
        org: &OrgId,
        conn_id: &ConnectionId,
        need: &Need,
    ) -> Result<FlightStep, AuthError> {
        let store = &self.inner.store;
        let conn =
            store
                .get_connection(org, conn_id)
                .await?
                .ok_or_else(|| AuthError::NotFound {
                    what: "connection",
                    id: conn_id.to_string(),
                })?;
        // Only a refused grant blocks: a `revoked` API token or site access may come back, and
        // the next call (or health check) finds out.
        if conn.status == ConnectionStatus::NeedsReauth {
            // No upstream call: a dead grant stays dead until a person re-authorizes.
            return Err(AuthError::NeedsReauth {
                connection: conn_id.to_string(),
                reason: conn
                    .status_reason
                    .clone()
                    .unwrap_or_else(|| "the grant was refused by Atlassian".to_owned()),
            });
        }
        let cred = self.load_credential(org, conn_id).await?;
        match conn.auth_kind {
            AuthKind::ApiToken | AuthKind::ScopedApiToken => {
                let token = self.api_token_target(&conn, &cred).await?;
                if let Need::NotToken(failed) = need
                    && token_eq(&token.target, failed)
                {
                    // The stored API token is the one Jira refused: nothing to refresh.
                    return Ok(FlightStep::NoRefreshPossible);
                }
                Ok(FlightStep::Token(token))
            }
            AuthKind::OAuth2 => self
                .oauth_flight(&conn, cred, need)
                .await
                .map(FlightStep::Token),
        }
    }

    async fn load_credential(
        &self,
        org: &OrgId,
        conn_id: &ConnectionId,
    ) -> Result<Credential, AuthError> {
        self.inner
            .store
            .get_credential(org, conn_id)
            .await?
            .ok_or_else(|| AuthError::NotFound {
                what: "credential of connection",
                id: conn_id.to_string(),
            })
    }

    async fn api_token_target(
        &self,
        conn: &Connection,
        cred: &Credential,
    ) -> Result<CachedToken, AuthError> {
        let sealed = cred.sealed_api_token.as_deref().ok_or_else(|| {
            AuthError::invalid("credential", "the connection has no API token stored")
        })?;
        let token = self
            .inner
            .keyring
            .open_str(&conn.org_id, conn.id.as_ref(), fields::API_TOKEN, sealed)
            .await?;
        let email = conn.email.clone().unwrap_or_default();
        let base = connection_base_url(conn, &self.inner.cfg.endpoints.api_url);
        Ok(CachedToken {
            target: Target::new(base, JiraAuth::Basic { email, token }, conn.id.to_string()),
            access_expires_at: None,
            cache_until: self.inner.cfg.clock.now() + API_TOKEN_CACHE_TTL,
            generation: cred.generation,
            margin: self.inner.cfg.expiry_skew,
        })
    }

    async fn oauth_cached(
        &self,
        conn: &Connection,
        cred: &Credential,
    ) -> Result<Option<CachedToken>, AuthError> {
        let (Some(sealed), Some(expires)) =
            (cred.sealed_access_token.as_deref(), cred.access_expires_at)
        else {
            return Ok(None);
        };
        let token = self
            .inner
            .keyring
            .open_str(&conn.org_id, conn.id.as_ref(), fields::ACCESS_TOKEN, sealed)
            .await?;
        let base = connection_base_url(conn, &self.inner.cfg.endpoints.api_url);
        Ok(Some(CachedToken {
            target: Target::new(base, JiraAuth::Bearer(token), conn.id.to_string()),
            access_expires_at: Some(expires),
            cache_until: expires,
            generation: cred.generation,
            // Issued when the refresh token was (both come from one token answer).
            margin: match cred.refresh_issued_at {
                Some(issued) => refresh_margin(expires - issued, self.inner.cfg.expiry_skew),
                None => self.inner.cfg.expiry_skew,
            },
        }))
    }

    async fn satisfied(
        &self,
        conn: &Connection,
        cred: &Credential,
        need: &Need,
    ) -> Result<Option<CachedToken>, AuthError> {
        let Some(t) = self.oauth_cached(conn, cred).await? else {
            return Ok(None);
        };
        let now = self.inner.cfg.clock.now();
        let ok = match need {
            Need::IssuedAfter(after) => {
                cred.refresh_issued_at.is_some_and(|at| at > *after)
                    && satisfies_cached(&t, &Need::Fresh, now)
            }
            other => satisfies_cached(&t, other, now),
        };
        Ok(ok.then_some(t))
    }

    async fn oauth_flight(
        &self,
        conn: &Connection,
        cred: Credential,
        need: &Need,
    ) -> Result<CachedToken, AuthError> {
        if let Some(t) = self.satisfied(conn, &cred, need).await? {
            return Ok(t);
        }
        let store = &self.inner.store;
        let cfg = &self.inner.cfg;
        let lease_name = format!("refresh:{}", conn.id);
        let deadline = Instant::now() + cfg.lease_wait;
        let lease = loop {
            if let Some(lease) = store
                .acquire_lease_taking_over(
                    &lease_name,
                    &cfg.instance_id,
                    &cfg.boot_id,
                    cfg.lease_ttl,
                )
                .await?
            {
                break lease;
            }
            // Another instance is refreshing: wait a little and see whether it is done.
            let pause = rand::rng().random_range(20..60);
            tokio::time::sleep(Duration::from_millis(pause)).await;
            let cred = self.load_credential(&conn.org_id, &conn.id).await?;
            if let Some(t) = self.satisfied(conn, &cred, need).await? {
                return Ok(t);
            }
            if Instant::now() > deadline {
                return Err(AuthError::RefreshBusy {
                    connection: conn.id.to_string(),
                });
            }
        };
        let result = {
            let refresh = self.refresh_under_lease(conn, need);
            tokio::pin!(refresh);
            let heartbeat = heartbeat(store, &lease, cfg.lease_ttl, &conn.id);
            tokio::pin!(heartbeat);
            tokio::select! {
                r = &mut refresh => r,
                // The heartbeat only ends when the lease is lost; the refresh still finishes
                // (it cannot be taken back halfway), and the commit's generation check keeps a
                // concurrent one from being overwritten.
                () = &mut heartbeat => refresh.await,
            }
        };
        if let Err(e) = store.release_lease(&lease).await {
            // The lease expires by itself; a failed release only delays the next refresh.
            tracing::warn!(connection = %conn.id, error = %e, "could not release refresh lease");
        }
        result
    }

    async fn refresh_under_lease(
        &self,
        conn: &Connection,
        need: &Need,
    ) -> Result<CachedToken, AuthError> {
        // Re-read under the lease: another instance may have refreshed since we looked.
        let cred = self.load_credential(&conn.org_id, &conn.id).await?;
        if let Some(t) = self.satisfied(conn, &cred, need).await? {
            return Ok(t);
        }
        let keyring = &self.inner.keyring;
        let sealed_rt =
            cred.sealed_refresh_token
                .as_deref()
                .ok_or_else(|| AuthError::NeedsReauth {
                    connection: conn.id.to_string(),
                    reason: "no refresh token is stored (was offline_access granted?)".to_owned(),
                })?;
        let refresh_token = keyring
            .open_str(
                &conn.org_id,
                conn.id.as_ref(),
                fields::REFRESH_TOKEN,
                sealed_rt,
            )
            .await?;
        let (client_id, client_secret) = self.client_credentials(conn).await?;
        self.inner
            .counters
            .refreshes
            .fetch_add(1, Ordering::Relaxed);
        metrics::counter!("jiragate_token_refreshes_total").increment(1);
        let tokens = match self
            .inner
            .oauth
            .refresh(&client_id, client_secret.as_ref(), &refresh_token)
            .await
        {
            Ok(t) => t,
            Err(TokenEndpointError::InvalidGrant { description }) => {
                let reason = format!(
                    "Atlassian answered invalid_grant to the refresh ({description}); a person must authorize the connection again"
                );
                self.mark_needs_reauth(conn, &reason).await;
                return Err(AuthError::NeedsReauth {
                    connection: conn.id.to_string(),
                    reason,
                });
            }
            Err(e) => {
                metrics::counter!("jiragate_token_refresh_failures_total").increment(1);
                return Err(AuthError::Refresh {
                    connection: conn.id.to_string(),
                    message: e.to_string(),
                });
            }
        };
        let now = self.inner.cfg.clock.now();
        let expires_at = now + Duration::from_secs(tokens.expires_in);
        // Atlassian always rotates; if a refresh token is ever missing, keep the one we have.
        let new_refresh = tokens.refresh_token.clone().unwrap_or(refresh_token);
        let sealed_access = keyring
            .seal_str(
                &conn.org_id,
                conn.id.as_ref(),
                fields::ACCESS_TOKEN,
                &tokens.access_token,
            )
            .await?;
        let sealed_refresh = keyring
            .seal_str(
                &conn.org_id,
                conn.id.as_ref(),
                fields::REFRESH_TOKEN,
                &new_refresh,
            )
            .await?;
        let committed = self
            .inner
            .store
            .commit_refreshed_credential(
                &conn.org_id,
                &conn.id,
                cred.generation,
                RefreshedCredential {
                    sealed_access_token: sealed_access,
                    sealed_refresh_token: Some(sealed_refresh),
                    access_expires_at: Some(expires_at),
                    refresh_issued_at: Some(now),
                },
            )
            .await;
        let generation = match committed {
            Ok(c) => c.generation,
            Err(e) => {
                // The new tokens are dropped unreturned: the previous refresh token is still
                // stored and stays usable within Atlassian's reuse window.
                return Err(AuthError::Refresh {
                    connection: conn.id.to_string(),
                    message: format!("could not save the rotated refresh token ({e}); try again"),
                });
            }
        };
        let base = connection_base_url(conn, &self.inner.cfg.endpoints.api_url);
        Ok(CachedToken {
            target: Target::new(
                base,
                JiraAuth::Bearer(tokens.access_token),
                conn.id.to_string(),
            ),
            access_expires_at: Some(expires_at),
            cache_until: expires_at,
            generation,
            margin: refresh_margin(expires_at - now, self.inner.cfg.expiry_skew),
        })
    }

    async fn client_credentials(
        &self,
        conn: &Connection,
    ) -> Result<(String, Option<SecretString>), AuthError> {
        let id = conn.oauth_client_id.as_ref().ok_or_else(|| {
            AuthError::invalid(
                "connection",
                "the OAuth connection has no OAuth client recorded",
            )
        })?;
        let client = self
            .inner
            .store
            .get_oauth_client(&conn.org_id, id)
            .await?
            .ok_or_else(|| AuthError::NotFound {
                what: "oauth client",
                id: id.to_string(),
            })?;
        let secret = if client.sealed_client_secret.is_empty() {
            None
        } else {
            Some(
                self.inner
                    .keyring
                    .open_str(
                        &conn.org_id,
                        client.id.as_ref(),
                        fields::CLIENT_SECRET,
                        &client.sealed_client_secret,
                    )
                    .await?,
            )
        };
        Ok((client.client_id, secret))
    }

    pub(crate) async fn mark_needs_reauth(&self, conn: &Connection, reason: &str) {
        let store = &self.inner.store;
        let now = self.inner.cfg.clock.now();
        if let Err(e) = store
            .set_connection_status(
                &conn.org_id,
                &conn.id,
                ConnectionStatus::NeedsReauth,
                Some(reason),
                now,
            )
            .await
        {
            tracing::error!(connection = %conn.id, error = %e, "could not record needs_reauth");
        }
        let event = NewAuditEvent {
            actor: format!("instance:{}", self.inner.cfg.instance_id),
            action: "connection.needs_reauth".to_owned(),
            target: conn.id.to_string(),
            detail: serde_json::json!({ "reason": reason }),
        };
        if let Err(e) = store.append_audit(&conn.org_id, event).await {
            tracing::error!(connection = %conn.id, error = %e, "could not audit needs_reauth");
        }
        metrics::counter!("jiragate_connections_needs_reauth_total").increment(1);
        tracing::warn!(connection = %conn.id, "connection needs re-authorization: {reason}");
    }
}

fn token_eq(target: &Target, token: &SecretString) -> bool {
    match &target.auth {
        JiraAuth::Bearer(t) => t.expose_secret() == token.expose_secret(),
        JiraAuth::Basic { token: t, .. } => t.expose_secret() == token.expose_secret(),
    }
}

fn satisfies_cached(t: &CachedToken, need: &Need, now: OffsetDateTime) -> bool {
    match need {
        Need::Fresh => t.cache_until > now + t.margin,
        Need::ValidFor(d) => t.cache_until > now + *d,
        Need::NotToken(failed) => t.cache_until > now + t.margin && !token_eq(&t.target, failed),
        // Memory does not know when the refresh token was issued: go to the store.
        Need::IssuedAfter(_) => false,
    }
}

/// Renews `lease` every third of its TTL while a refresh runs, so a live holder keeps it and a
/// dead one loses it within one TTL. Returns only when the lease is lost.
async fn heartbeat(store: &Store, lease: &Lease, ttl: Duration, connection: &ConnectionId) {
    let every = (ttl / 3).max(Duration::from_millis(10));
    loop {
        tokio::time::sleep(every).await;
        match store.renew_lease(lease, ttl).await {
            Ok(Some(_)) => {}
            Ok(None) => {
                tracing::warn!(connection = %connection, "refresh lease lost while refreshing");
                return;
            }
            Err(e) => {
                // A database hiccup: keep trying until the lease would have expired anyway.
                tracing::warn!(connection = %connection, error = %e, "could not renew the refresh lease");
            }
        }
    }
}

/// Where calls for this connection go: the site for classic API tokens, the gateway
/// (`<api>/ex/jira/{cloudId}`) for OAuth and scoped API tokens.
pub fn connection_base_url(conn: &Connection, api_url: &str) -> String {
    match (conn.auth_kind, conn.cloud_id.as_deref()) {
        (AuthKind::OAuth2 | AuthKind::ScopedApiToken, Some(cloud)) => {
            jiragate_jira::urls::ex_jira(api_url, cloud)
        }
        _ => conn.site_url.trim_end_matches('/').to_owned(),
    }
}

/// A [`TokenSource`] for one connection backed by the [`TokenManager`].
pub struct ConnectionTokenSource {
    pub(crate) tokens: TokenManager,
    pub(crate) org: OrgId,
    pub(crate) connection: ConnectionId,
}

#[async_trait]
impl TokenSource for ConnectionTokenSource {
    async fn target(&self) -> Result<Target, JiraError> {
        self.tokens
            .get_valid_token(&self.org, &self.connection)
            .await
            .map_err(|e| e.into_jira(self.connection.as_ref()))
    }

    async fn on_unauthorized(&self, failed: &Target) -> Result<Option<Target>, JiraError> {
        self.tokens
            .on_unauthorized(&self.org, &self.connection, failed)
            .await
            .map_err(|e| e.into_jira(self.connection.as_ref()))
    }
}
