//! The hot path without database round trips: an authenticated API key and a resolved
//! connection are kept for [`HOT_CACHE_TTL`], so a busy caller costs one hash and two map
//! look-ups instead of two database queries per request.
//!
//! Verified MCP access tokens (`jgma_…`, by hash) are kept the same way, never past the token's
//! own expiry, so an `/mcp` call with one costs no database query either.
//!
//! Bounds: a change made through this engine (key revoked, connection deleted, credentials
//! replaced, health re-checked, MCP grant or token revoked) drops the affected entries at once; a change made by another
//! instance on the same PostgreSQL database is seen within [`HOT_CACHE_TTL`]. Nothing secret
//! is kept: key records hold no key or hash, connection records no credential.

use std::collections::HashMap;
use std::sync::Mutex;
use std::time::{Duration, Instant};

use jiragate_store::{ApiKeyId, ApiKeyRecord, Connection, ConnectionId, OrgId};
use time::OffsetDateTime;

use crate::mcp_auth::{McpAccess, McpPrincipal};

/// How long another instance's change may go unseen here.
pub const HOT_CACHE_TTL: Duration = Duration::from_secs(2);
/// Entries per map; past it the map is emptied (simple, and bounded memory).
const MAX_ENTRIES: usize = 10_000;

/// A verified MCP access and when its token expires.
type McpEntry = (McpAccess, OffsetDateTime);

#[derive(Default)]
pub(crate) struct HotCache {
    /// By key hash.
    keys: Mutex<HashMap<String, (ApiKeyRecord, Instant)>>,
    /// By (organization, reference as given: id or `workspace/name`).
    connections: Mutex<HashMap<(OrgId, String), (Connection, Instant)>>,
    /// By MCP access token hash: the verified access and the token's expiry.
    mcp: Mutex<HashMap<String, (McpEntry, Instant)>>,
}

fn fresh<T: Clone>(entry: Option<&(T, Instant)>) -> Option<T> {
    entry
        .filter(|(_, at)| at.elapsed() < HOT_CACHE_TTL)
        .map(|(v, _)| v.clone())
}

fn put<K: std::hash::Hash + Eq, T>(map: &Mutex<HashMap<K, (T, Instant)>>, k: K, v: T) {
    let mut m = map.lock().unwrap_or_else(|p| p.into_inner());
    if m.len() >= MAX_ENTRIES {
        m.clear();
    }
    m.insert(k, (v, Instant::now()));
}

impl HotCache {
    pub(crate) fn key(&self, hash: &str) -> Option<ApiKeyRecord> {
        fresh(
            self.keys
                .lock()
                .unwrap_or_else(|p| p.into_inner())
                .get(hash),
        )
    }

    pub(crate) fn put_key(&self, hash: String, rec: ApiKeyRecord) {
        put(&self.keys, hash, rec);
    }

    pub(crate) fn forget_key(&self, id: &ApiKeyId) {
        self.keys
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .retain(|_, (rec, _)| rec.id != *id);
        // MCP grants approved by the key end with it.
        self.forget_mcp_where(|a| matches!(&a.principal, McpPrincipal::Key(k) if k.id == *id));
    }

    /// A verified MCP access token, if seen within the TTL and not expired since.
    pub(crate) fn mcp_access(&self, hash: &str) -> Option<McpAccess> {
        fresh(self.mcp.lock().unwrap_or_else(|p| p.into_inner()).get(hash))
            .filter(|(_, expires_at)| *expires_at > OffsetDateTime::now_utc())
            .map(|(access, _)| access)
    }

    pub(crate) fn put_mcp_access(
        &self,
        hash: String,
        access: McpAccess,
        expires_at: OffsetDateTime,
    ) {
        put(&self.mcp, hash, (access, expires_at));
    }

    /// Drops one access token (revoked by its client).
    pub(crate) fn forget_mcp_token(&self, hash: &str) {
        self.mcp
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .remove(hash);
    }

    /// Drops every access token of one grant (revoked).
    pub(crate) fn forget_mcp_grant(&self, grant_id: &str) {
        self.forget_mcp_where(|a| a.grant_id == grant_id);
    }

    fn forget_mcp_where(&self, gone: impl Fn(&McpAccess) -> bool) {
        self.mcp
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .retain(|_, ((a, _), _)| !gone(a));
    }

    pub(crate) fn connection(&self, org: &OrgId, reference: &str) -> Option<Connection> {
        fresh(
            self.connections
                .lock()
                .unwrap_or_else(|p| p.into_inner())
                .get(&(org.clone(), reference.to_owned())),
        )
    }

    pub(crate) fn put_connection(&self, org: &OrgId, reference: String, conn: Connection) {
        put(&self.connections, (org.clone(), reference), conn);
    }

    /// Drops every entry of one connection (whatever reference found it).
    pub(crate) fn forget_connection(&self, id: &ConnectionId) {
        self.connections
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .retain(|_, (c, _)| c.id != *id);
        // A grant on a removed (or re-owned) connection is checked again.
        self.forget_mcp_where(|a| a.connection == *id);
    }
}
