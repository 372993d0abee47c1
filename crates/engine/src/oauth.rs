//! OAuth 2.0 (3LO): registered clients, connect sessions, the callback from Atlassian and the
//! site choice that follows when a grant covers several sites.
//!
//! The callback and the browser's site choice carry no API key: the single-use OAuth `state`
//! authorizes the callback, and a single-use ticket issued here (kept in memory, 15 minutes)
//! authorizes exactly one site choice for one session.

use std::collections::HashMap;
use std::sync::Mutex;
use std::time::{Duration, Instant};

use jiragate_auth::{AuthError, CallbackOutcome, ConnectStart, SiteChoice, StartConnect};
use jiragate_store::{
    ConnectSession, ConnectSessionId, Connection, OAuthClientRecord, OAuthClientRecordId, OrgId,
    SessionStatus, StoreError,
};
use rand::RngCore;
use secrecy::{ExposeSecret, SecretString};
use serde_json::json;
use time::OffsetDateTime;

use crate::{Actor, ApiScope, Engine, EngineError};

/// What a connect session reports. The stored status, except that a session still waiting for
/// the callback (`pending`) after its `expires_at` reports `expired`: derived when the session
/// is read, nothing is written (the callback refuses such a session, and housekeeping deletes
/// it later). A session waiting for a site choice keeps `choose_site`: the choice can still be
/// made.
#[derive(Debug, Clone, Copy, PartialEq, Eq, serde::Serialize)]
#[serde(rename_all = "snake_case")]
pub enum SessionState {
    Pending,
    ChooseSite,
    Connected,
    Failed,
    Expired,
}

impl SessionState {
    /// The state of `s` at `now`.
    pub fn of(s: &ConnectSession, now: OffsetDateTime) -> SessionState {
        match s.status {
            SessionStatus::Pending if s.expires_at <= now => SessionState::Expired,
            SessionStatus::Pending => SessionState::Pending,
            SessionStatus::ChooseSite => SessionState::ChooseSite,
            SessionStatus::Connected => SessionState::Connected,
            SessionStatus::Failed => SessionState::Failed,
        }
    }

    /// The state of `s` now.
    pub fn now(s: &ConnectSession) -> SessionState {
        SessionState::of(s, OffsetDateTime::now_utc())
    }

    pub fn as_str(self) -> &'static str {
        match self {
            SessionState::Pending => "pending",
            SessionState::ChooseSite => "choose_site",
            SessionState::Connected => "connected",
            SessionState::Failed => "failed",
            SessionState::Expired => "expired",
        }
    }
}

/// Changes to a registered OAuth client (`None` keeps the stored value).
#[derive(Debug, Default)]
pub struct OAuthClientUpdate {
    /// A new client secret (rotated in the Atlassian developer console); sealed, never shown.
    pub client_secret: Option<SecretString>,
    /// New default scopes of connect sessions.
    pub scopes: Option<Vec<String>>,
}

fn normalize_scopes(scopes: &[String]) -> Vec<String> {
    let mut out: Vec<String> = Vec::new();
    for s in scopes.iter().flat_map(|s| s.split([' ', ','])) {
        let s = s.trim();
        if !s.is_empty() && !out.iter().any(|o| o == s) {
            out.push(s.to_owned());
        }
    }
    out
}

/// What the OAuth callback led to.
#[allow(clippy::large_enum_variant)] // one per consent flow
pub enum OAuthCallback {
    Connected(Connection),
    /// The grant covers several sites and none was asked for. `ticket` authorizes one
    /// [`Engine::choose_site_with_ticket`] (the browser's page); it is `None` when the session
    /// could no longer be found. An operator may use [`Engine::choose_site`] with `session_id`.
    ChooseSite {
        session_id: ConnectSessionId,
        sites: Vec<SiteChoice>,
        ticket: Option<String>,
    },
}

/// A failed callback.
#[derive(Debug)]
pub struct CallbackFailure {
    /// The flow itself failed (unknown, expired or replayed state, consent denied, the asked
    /// site is not in the grant): a bad request from the browser, not a server fault.
    pub flow_failed: bool,
    /// What to tell the person in the browser.
    pub message: String,
    pub error: EngineError,
}

/// Why a ticketed site choice was refused.
#[derive(Debug)]
pub enum SiteTicketError {
    /// Unknown, already used or expired.
    UnknownTicket,
    /// The site is not one of those offered with the ticket.
    NotOffered,
    Failed(EngineError),
}

impl Engine {
    /// Registers an OAuth 2.0 (3LO) app (admin).
    pub async fn create_oauth_client(
        &self,
        actor: Actor<'_>,
        org: &OrgId,
        client_id: &str,
        client_secret: SecretString,
        scopes: Vec<String>,
    ) -> Result<OAuthClientRecord, EngineError> {
        actor.require(ApiScope::Admin)?;
        let client_id = client_id.trim();
        if client_id.is_empty() {
            return Err(EngineError::validation("client_id", "must not be empty"));
        }
        if let Some(existing) = self
            .store
            .find_oauth_client_by_client_id(org, client_id)
            .await?
        {
            return Err(duplicate_client(client_id, &existing.id));
        }
        let rec = match self
            .auth
            .create_oauth_client(org, client_id, client_secret, scopes)
            .await
        {
            Ok(rec) => rec,
            // Registered concurrently, between the check above and the insert.
            Err(jiragate_auth::AuthError::Store(StoreError::AlreadyExists { .. })) => {
                let existing = self
                    .store
                    .find_oauth_client_by_client_id(org, client_id)
                    .await?
                    .ok_or_else(|| EngineError::Conflict {
                        message: format!(
                            "an OAuth client with client_id {} is already registered",
                            crate::quote(client_id)
                        ),
                    })?;
                return Err(duplicate_client(client_id, &existing.id));
            }
            Err(e) => return Err(e.into()),
        };
        self.append_audit(
            actor,
            org,
            "oauth_client.create",
            rec.id.as_ref(),
            json!({"client_id": rec.client_id}),
        )
        .await;
        Ok(rec)
    }

    /// The registered OAuth clients (`connectors:write`; secrets are write-only).
    pub async fn list_oauth_clients(
        &self,
        actor: Actor<'_>,
        org: &OrgId,
    ) -> Result<Vec<OAuthClientRecord>, EngineError> {
        actor.require(ApiScope::ConnectorsWrite)?;
        Ok(self.store.list_oauth_clients(org).await?)
    }

    /// One OAuth client (`connectors:write`).
    pub async fn get_oauth_client(
        &self,
        actor: Actor<'_>,
        org: &OrgId,
        id: &OAuthClientRecordId,
    ) -> Result<Option<OAuthClientRecord>, EngineError> {
        actor.require(ApiScope::ConnectorsWrite)?;
        Ok(self.store.get_oauth_client(org, id).await?)
    }

    /// Rotates the secret and/or changes the default scopes of an OAuth client (admin). The new
    /// secret is sealed like at registration and never returned; the audit event
    /// (`oauth_client.update`) says what changed, never the secret.
    pub async fn update_oauth_client(
        &self,
        actor: Actor<'_>,
        org: &OrgId,
        id: &OAuthClientRecordId,
        update: OAuthClientUpdate,
    ) -> Result<OAuthClientRecord, EngineError> {
        actor.require(ApiScope::Admin)?;
        if update.client_secret.is_none() && update.scopes.is_none() {
            return Err(EngineError::validation(
                "body",
                "nothing to change: give client_secret and/or scopes",
            ));
        }
        if self.store.get_oauth_client(org, id).await?.is_none() {
            return Err(EngineError::NotFound {
                what: "OAuth client",
                id: id.to_string(),
            });
        }
        let sealed = match &update.client_secret {
            Some(secret) if secret.expose_secret().trim().is_empty() => {
                return Err(EngineError::validation(
                    "client_secret",
                    "must not be empty",
                ));
            }
            Some(secret) => Some(
                self.auth
                    .keyring()
                    .seal_str(
                        org,
                        id.as_ref(),
                        jiragate_auth::fields::CLIENT_SECRET,
                        secret,
                    )
                    .await?,
            ),
            None => None,
        };
        let scopes = update.scopes.as_deref().map(normalize_scopes);
        let rec = self
            .store
            .update_oauth_client(org, id, sealed.as_deref(), scopes.as_deref())
            .await?;
        let mut detail = json!({
            "client_id": rec.client_id,
            "secret_rotated": sealed.is_some(),
        });
        if let Some(scopes) = &scopes {
            detail["scopes"] = json!(scopes);
        }
        self.append_audit(actor, org, "oauth_client.update", rec.id.as_ref(), detail)
            .await;
        Ok(rec)
    }

    /// Deletes an OAuth client (admin).
    pub async fn delete_oauth_client(
        &self,
        actor: Actor<'_>,
        org: &OrgId,
        id: &OAuthClientRecordId,
    ) -> Result<(), EngineError> {
        actor.require(ApiScope::Admin)?;
        self.store.delete_oauth_client(org, id).await?;
        self.append_audit(actor, org, "oauth_client.delete", id.as_ref(), json!({}))
            .await;
        Ok(())
    }

    /// Starts an OAuth connection (`connectors:write`): the URL to send the browser to.
    pub async fn start_connect(
        &self,
        actor: Actor<'_>,
        org: &OrgId,
        req: StartConnect,
    ) -> Result<ConnectStart, EngineError> {
        actor.require(ApiScope::ConnectorsWrite)?;
        Ok(self.auth.start_connect(org, req).await?)
    }

    /// Re-authorizes an OAuth connection in place (`connectors:write`): the URL to send the
    /// person's browser to; the callback replaces the connection's tokens on the same site.
    pub async fn reconnect_oauth(
        &self,
        actor: Actor<'_>,
        org: &OrgId,
        r: &crate::ConnRef,
    ) -> Result<ConnectStart, EngineError> {
        actor.require(ApiScope::ConnectorsWrite)?;
        let conn = self.resolve(org, r).await?;
        let started = self.auth.start_reconnect(org, &conn.id).await?;
        self.hot.forget_connection(&conn.id);
        self.append_audit(
            actor,
            org,
            "connector.reconnect.start",
            conn.id.as_ref(),
            json!({"session": started.session_id}),
        )
        .await;
        Ok(started)
    }

    /// A connect session (`connectors:write`).
    pub async fn get_connect_session(
        &self,
        actor: Actor<'_>,
        org: &OrgId,
        id: &ConnectSessionId,
    ) -> Result<Option<ConnectSession>, EngineError> {
        actor.require(ApiScope::ConnectorsWrite)?;
        Ok(self.store.get_connect_session(org, id).await?)
    }

    /// Chooses the site of a session waiting for one (`connectors:write`); returns the new
    /// connection and the session as it is now.
    pub async fn choose_site(
        &self,
        actor: Actor<'_>,
        org: &OrgId,
        session_id: &ConnectSessionId,
        cloud_id: &str,
    ) -> Result<(Connection, Option<ConnectSession>), EngineError> {
        actor.require(ApiScope::ConnectorsWrite)?;
        let conn = self
            .auth
            .choose_site(org, session_id, cloud_id.trim())
            .await?;
        self.append_audit(
            actor,
            org,
            "connector.create",
            conn.id.as_ref(),
            json!({"name": conn.name, "via": "oauth"}),
        )
        .await;
        let session = self.store.get_connect_session(org, session_id).await?;
        Ok((conn, session))
    }

    /// Handles Atlassian's redirect back (`state`, and `code` or `error`).
    pub async fn handle_oauth_callback(
        &self,
        state: &str,
        code: Option<&str>,
        error: Option<&str>,
    ) -> Result<OAuthCallback, CallbackFailure> {
        match self.auth.handle_callback(state, code, error).await {
            Ok(CallbackOutcome::Connected(conn)) => Ok(OAuthCallback::Connected(conn)),
            Ok(CallbackOutcome::ChooseSite { session_id, sites }) => {
                let ticket = self.session_org(state).await.map(|org| {
                    self.site_choices.issue(
                        org,
                        session_id.clone(),
                        sites.iter().map(|s| s.cloud_id.clone()).collect(),
                    )
                });
                Ok(OAuthCallback::ChooseSite {
                    session_id,
                    sites,
                    ticket,
                })
            }
            Err(err) => {
                let flow_failed = matches!(
                    err,
                    AuthError::State { .. }
                        | AuthError::OAuth { .. }
                        | AuthError::SiteNotFound { .. }
                );
                let message = err.to_string();
                Err(CallbackFailure {
                    flow_failed,
                    message,
                    error: err.into(),
                })
            }
        }
    }

    /// The organization of the session a callback's state belongs to (the state is already
    /// consumed; the session stays findable by its hash).
    async fn session_org(&self, raw_state: &str) -> Option<OrgId> {
        let hash = jiragate_auth::oauth::hash_state(raw_state);
        match self.store.find_session_by_state_hash(&hash).await {
            Ok(Some(session)) => Some(session.org_id),
            Ok(None) => None,
            Err(e) => {
                tracing::warn!(error = %e, "could not look up the connect session of a callback");
                None
            }
        }
    }

    /// Completes a site choice made on the callback page, authorized by its single-use ticket
    /// (redeemed even when the choice is refused).
    pub async fn choose_site_with_ticket(
        &self,
        ticket: &str,
        cloud_id: &str,
    ) -> Result<(Connection, ConnectSessionId), SiteTicketError> {
        let ticket = self
            .site_choices
            .redeem(ticket)
            .ok_or(SiteTicketError::UnknownTicket)?;
        if !ticket.allowed_cloud_ids.iter().any(|c| c == cloud_id) {
            return Err(SiteTicketError::NotOffered);
        }
        let conn = self
            .auth
            .choose_site(&ticket.org, &ticket.session_id, cloud_id)
            .await
            .map_err(|e| SiteTicketError::Failed(e.into()))?;
        Ok((conn, ticket.session_id))
    }
}

fn duplicate_client(client_id: &str, existing: &OAuthClientRecordId) -> EngineError {
    EngineError::Conflict {
        message: format!(
            "an OAuth client with client_id {} is already registered in this organization as {existing}; \
             change its secret or scopes with PATCH /api/v1/oauth/clients/{existing} \
             (`jiragate oauth-clients update {existing}`), or delete it first",
            crate::quote(client_id)
        ),
    }
}

/// A pending site choice made in the browser after the OAuth callback.
#[derive(Debug, Clone)]
struct SiteChoiceTicket {
    org: OrgId,
    session_id: ConnectSessionId,
    allowed_cloud_ids: Vec<String>,
    expires_at: Instant,
}

/// Single-use tokens embedded in the site-choice page. Kept in memory: the form must post back
/// to the instance that rendered it; [`Engine::choose_site`] works from any instance.
#[derive(Default)]
pub(crate) struct SiteChoiceTickets {
    tickets: Mutex<HashMap<String, SiteChoiceTicket>>,
}

const TICKET_TTL: Duration = Duration::from_secs(15 * 60);
const MAX_TICKETS: usize = 10_000;

impl SiteChoiceTickets {
    fn issue(
        &self,
        org: OrgId,
        session_id: ConnectSessionId,
        allowed_cloud_ids: Vec<String>,
    ) -> String {
        let now = Instant::now();
        let mut raw = [0u8; 32];
        rand::rng().fill_bytes(&mut raw);
        let token = hex::encode(raw);
        let mut tickets = self.tickets.lock().unwrap_or_else(|p| p.into_inner());
        if tickets.len() >= MAX_TICKETS {
            tickets.retain(|_, t| t.expires_at > now);
        }
        tickets.insert(
            token.clone(),
            SiteChoiceTicket {
                org,
                session_id,
                allowed_cloud_ids,
                expires_at: now + TICKET_TTL,
            },
        );
        token
    }

    /// Removes and returns the ticket if it exists and has not expired (single use).
    fn redeem(&self, token: &str) -> Option<SiteChoiceTicket> {
        let ticket = self
            .tickets
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .remove(token)?;
        (ticket.expires_at > Instant::now()).then_some(ticket)
    }
}
