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
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use jiragate_store::{ApiKeyId, ApiKeyRecord, AuthKind, Connection, ConnectionId, OrgId};
use time::OffsetDateTime;

use crate::links::LinkRewriter;
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
    keys: Mutex<HashMap<String, (Arc<ApiKeyRecord>, Instant)>>,
    /// By organization, then reference as given (id or `workspace/name`): looked up without
    /// building a key. Shared, so a hit copies nothing.
    connections: Mutex<ConnectionMap>,
    /// By MCP access token hash: the verified access and the token's expiry.
    mcp: Mutex<HashMap<String, (McpEntry, Instant)>>,
    /// The proxy's link rewriter of each connection, with what it was made from. Not a copy
    /// of stored state (it is checked against the connection in hand), so it has no TTL.
    links: Mutex<HashMap<ConnectionId, (LinksMadeFrom, LinkRewriter)>>,
}

/// Resolved connections by organization, then reference, with their total count (the bound is
/// on entries, not organizations).
#[derive(Default)]
struct ConnectionMap {
    by_org: HashMap<OrgId, HashMap<String, (Arc<Connection>, Instant)>>,
    entries: usize,
}

impl ConnectionMap {
    fn forget_where(&mut self, gone: impl Fn(&Connection) -> bool) {
        for refs in self.by_org.values_mut() {
            refs.retain(|_, (c, _)| !gone(c));
        }
        self.by_org.retain(|_, refs| !refs.is_empty());
        self.entries = self.by_org.values().map(HashMap::len).sum();
    }
}

/// The fields of a connection its proxy links are made from (with the fixed public and API
/// URLs): a kept rewriter is used only while they are unchanged.
#[derive(PartialEq, Eq)]
struct LinksMadeFrom {
    site_url: String,
    cloud_id: Option<String>,
    auth_kind: AuthKind,
}

impl LinksMadeFrom {
    fn of(c: &Connection) -> Self {
        LinksMadeFrom {
            site_url: c.site_url.clone(),
            cloud_id: c.cloud_id.clone(),
            auth_kind: c.auth_kind,
        }
    }

    fn matches(&self, c: &Connection) -> bool {
        self.site_url == c.site_url && self.cloud_id == c.cloud_id && self.auth_kind == c.auth_kind
    }
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
    pub(crate) fn key(&self, hash: &str) -> Option<Arc<ApiKeyRecord>> {
        fresh(
            self.keys
                .lock()
                .unwrap_or_else(|p| p.into_inner())
                .get(hash),
        )
    }

    pub(crate) fn put_key(&self, hash: String, rec: Arc<ApiKeyRecord>) {
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

    pub(crate) fn links(&self, c: &Connection) -> Option<LinkRewriter> {
        let links = self.links.lock().unwrap_or_else(|p| p.into_inner());
        links
            .get(&c.id)
            .filter(|(from, _)| from.matches(c))
            .map(|(_, rw)| rw.clone())
    }

    pub(crate) fn put_links(&self, c: &Connection, rw: LinkRewriter) {
        let mut links = self.links.lock().unwrap_or_else(|p| p.into_inner());
        if links.len() >= MAX_ENTRIES {
            links.clear();
        }
        links.insert(c.id.clone(), (LinksMadeFrom::of(c), rw));
    }

    pub(crate) fn connection(&self, org: &OrgId, reference: &str) -> Option<Arc<Connection>> {
        let connections = self.connections.lock().unwrap_or_else(|p| p.into_inner());
        fresh(
            connections
                .by_org
                .get(org)
                .and_then(|refs| refs.get(reference)),
        )
    }

    pub(crate) fn put_connection(&self, org: &OrgId, reference: String, conn: Arc<Connection>) {
        let mut connections = self.connections.lock().unwrap_or_else(|p| p.into_inner());
        if connections.entries >= MAX_ENTRIES {
            *connections = ConnectionMap::default();
        }
        let added = connections
            .by_org
            .entry(org.clone())
            .or_default()
            .insert(reference, (conn, Instant::now()))
            .is_none();
        connections.entries += usize::from(added);
    }

    /// Drops every entry of one connection (whatever reference found it).
    pub(crate) fn forget_connection(&self, id: &ConnectionId) {
        self.connections
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .forget_where(|c| c.id == *id);
        self.links
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .remove(id);
        // A grant on a removed (or re-owned) connection is checked again.
        self.forget_mcp_where(|a| a.connection == *id);
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use jiragate_store::{ApiType, ConnectionStatus, Owner};

    fn connection(org: &OrgId, site: &str) -> Connection {
        let at = OffsetDateTime::now_utc();
        Connection {
            id: ConnectionId::new(),
            org_id: org.clone(),
            workspace: "w".into(),
            name: "jira".into(),
            api_type: ApiType::Platform,
            auth_kind: AuthKind::ApiToken,
            site_url: site.into(),
            subdomain: None,
            cloud_id: None,
            account_id: None,
            account_name: None,
            email: None,
            oauth_client_id: None,
            scopes: vec![],
            owner: Owner::Installation,
            status: ConnectionStatus::Healthy,
            status_reason: None,
            last_checked_at: None,
            version: 1,
            created_at: at,
            updated_at: at,
        }
    }

    /// The bound is on entries whatever the spread over organizations, and a forgotten
    /// connection is gone under every reference that found it.
    #[test]
    fn connections_are_bounded_in_entries_and_forgotten_everywhere() {
        let cache = HotCache::default();
        let orgs: Vec<OrgId> = (0..7).map(|_| OrgId::new()).collect();
        for i in 0..(MAX_ENTRIES + 5) {
            let org = &orgs[i % orgs.len()];
            let c = Arc::new(connection(org, "https://a.atlassian.net"));
            cache.put_connection(org, c.id.to_string(), c);
            let held = cache.connections.lock().unwrap();
            let counted: usize = held.by_org.values().map(HashMap::len).sum();
            assert_eq!(held.entries, counted);
            assert!(held.entries <= MAX_ENTRIES, "{} entries", held.entries);
        }
        let org = &orgs[0];
        let c = Arc::new(connection(org, "https://a.atlassian.net"));
        cache.put_connection(org, c.id.to_string(), c.clone());
        cache.put_connection(org, "w/jira".into(), c.clone());
        assert!(cache.connection(org, "w/jira").is_some());
        assert!(
            cache.connection(&orgs[1], "w/jira").is_none(),
            "another org"
        );
        cache.forget_connection(&c.id);
        assert!(cache.connection(org, "w/jira").is_none());
        assert!(cache.connection(org, c.id.as_ref()).is_none());
    }

    /// A kept link rewriter serves only the connection fields it was made from.
    #[test]
    fn link_rewriters_follow_the_connection_they_were_made_from() {
        let cache = HotCache::default();
        let org = OrgId::new();
        let mut c = connection(&org, "https://a.atlassian.net");
        let rw = LinkRewriter::new(vec![("https://a.atlassian.net/rest/".into(), "P/".into())]);
        cache.put_links(&c, rw);
        assert!(cache.links(&c).is_some());
        c.site_url = "https://b.atlassian.net".into();
        assert!(cache.links(&c).is_none(), "the site changed");
        c.site_url = "https://a.atlassian.net".into();
        c.cloud_id = Some("cloud".into());
        assert!(cache.links(&c).is_none(), "the cloud id changed");
        c.cloud_id = None;
        cache.forget_connection(&c.id);
        assert!(cache.links(&c).is_none(), "forgotten with the connection");
    }
}
