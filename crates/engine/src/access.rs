//! Who is calling: API-key authentication and the organization a request acts in.

use std::sync::Arc;

use jiragate_store::{ApiKeyRecord, OrgId};

use crate::{Engine, EngineError, keys};

/// The header (HTTP and MCP over HTTP) with which a platform key acts for another organization.
pub const ORG_HEADER: &str = "x-organization-id";

impl Engine {
    /// The key record for a presented bearer key, or `Unauthorized`.
    pub async fn authenticate(&self, presented: &str) -> Result<ApiKeyRecord, EngineError> {
        self.authenticate_shared(presented)
            .await
            .map(Arc::unwrap_or_clone)
    }

    /// [`Engine::authenticate`] without a copy of the record (every API request asks).
    pub async fn authenticate_shared(
        &self,
        presented: &str,
    ) -> Result<Arc<ApiKeyRecord>, EngineError> {
        let presented = presented.trim();
        if !presented.starts_with(keys::KEY_PREFIX) || presented.len() > 200 {
            return Err(EngineError::Unauthorized);
        }
        let h = keys::hash(presented);
        if let Some(rec) = self.hot.key(&h) {
            return Ok(rec);
        }
        let rec = self
            .store
            .find_api_key_by_hash(&h)
            .await?
            .ok_or(EngineError::Unauthorized)?;
        if rec.revoked_at.is_some() {
            return Err(EngineError::Unauthorized);
        }
        let rec = Arc::new(rec);
        self.hot.put_key(h, rec.clone());
        Ok(rec)
    }

    /// The organization a request by `key` acts in: its own, or — for a platform key only —
    /// the existing organization it names (`X-Organization-Id`, given as text).
    pub async fn acting_org(
        &self,
        key: &ApiKeyRecord,
        requested: Option<&str>,
    ) -> Result<OrgId, EngineError> {
        let Some(text) = requested else {
            return Ok(key.org_id.clone());
        };
        let wanted: OrgId = text
            .trim()
            .parse()
            .map_err(|_| EngineError::validation(ORG_HEADER, "not a valid organization id"))?;
        if wanted == key.org_id {
            return Ok(wanted);
        }
        if !key.platform {
            return Err(EngineError::NotAllowed {
                message: "this API key belongs to another organization; only platform keys may set X-Organization-Id".into(),
            });
        }
        match self.store.get_organization(&wanted).await? {
            Some(_) => Ok(wanted),
            None => Err(EngineError::NotFound {
                what: "organization",
                id: wanted.to_string(),
            }),
        }
    }

    /// Records that `key` was used now (`last_used_at`).
    pub async fn touch_api_key(&self, key: &ApiKeyRecord) -> Result<(), EngineError> {
        Ok(self.store.touch_api_key(&key.org_id, &key.id).await?)
    }
}

impl Engine {
    /// An MCP session exists to run catalog actions: it needs `execute` (or `admin`) from the
    /// start, so a key without it is refused at connect time rather than on every tool call.
    pub fn authorize_mcp(&self, actor: crate::Actor<'_>) -> Result<(), EngineError> {
        actor.require(crate::ApiScope::Execute)
    }
}
