//! API-key operations: create (platform keys only by platform actors), list, revoke (never the
//! last platform key). Keys are shown once and stored only as a hash.

use jiragate_store::{ApiKeyId, ApiKeyRecord, NewApiKey, OrgId};
use secrecy::SecretString;
use serde_json::json;

use crate::{Actor, ApiScope, Engine, EngineError, check_name, keys};

impl Engine {
    /// Creates an API key for `actor` (admin): only a platform key or the operator on the host
    /// may mint a platform key. The key is returned once and stored only as a hash.
    pub async fn create_api_key_as(
        &self,
        actor: Actor<'_>,
        org: &OrgId,
        name: &str,
        scopes: &[ApiScope],
        platform: bool,
    ) -> Result<(ApiKeyRecord, SecretString), EngineError> {
        actor.require(ApiScope::Admin)?;
        if platform && !actor.is_platform() {
            return Err(EngineError::Forbidden {
                needed: "platform (only a platform key, or `jiragate keys create --platform` on the host, may create a platform key)".into(),
            });
        }
        let (record, key) = self.create_api_key(org, name, scopes, platform).await?;
        self.append_audit(
            actor,
            org,
            "api_key.create",
            record.id.as_ref(),
            json!({"name": record.name, "scopes": record.scopes}),
        )
        .await;
        Ok((record, key))
    }

    /// Lists the API keys of `org` (admin); never the keys themselves.
    pub async fn list_api_keys(
        &self,
        actor: Actor<'_>,
        org: &OrgId,
    ) -> Result<Vec<ApiKeyRecord>, EngineError> {
        actor.require(ApiScope::Admin)?;
        Ok(self.store.list_api_keys(org).await?)
    }

    /// Revokes an API key for `actor` (admin). A platform key can be revoked only by a
    /// platform key or the operator, and the last active platform key cannot be revoked at all
    /// (organization management would be lost for good).
    pub async fn revoke_api_key(
        &self,
        actor: Actor<'_>,
        org: &OrgId,
        id: &ApiKeyId,
    ) -> Result<ApiKeyRecord, EngineError> {
        actor.require(ApiScope::Admin)?;
        let target =
            self.store
                .get_api_key(org, id)
                .await?
                .ok_or_else(|| EngineError::NotFound {
                    what: "API key",
                    id: id.to_string(),
                })?;
        if target.platform && !actor.is_platform() {
            return Err(EngineError::Forbidden {
                needed: "platform (only a platform key may revoke a platform key)".into(),
            });
        }
        let revoked = self
            .store
            .revoke_api_key_keeping_platform(org, id)
            .await?
            .ok_or_else(|| EngineError::Conflict {
                message: format!(
                    "API key {id} is the last active platform key and cannot be revoked; create another first with `jiragate keys create --platform` on the host that holds the data dir"
                ),
            })?;
        // Refused at once on this instance; other instances see it within HOT_CACHE_TTL.
        self.hot.forget_key(id);
        // Console sessions opened with the key end with it (they are refused anyway once the
        // key is revoked; this removes them).
        if let Err(e) = self.store.delete_console_sessions_of_key(org, id).await {
            tracing::warn!(error = %e, "could not remove the console sessions of a revoked key");
        }
        self.append_audit(actor, org, "api_key.revoke", id.as_ref(), json!({}))
            .await;
        Ok(revoked)
    }

    /// Creates an API key without an actor: the bootstrap admin key on first start, and test
    /// fixtures. Front ends use [`Engine::create_api_key_as`].
    pub async fn create_api_key(
        &self,
        org: &OrgId,
        name: &str,
        scopes: &[ApiScope],
        platform: bool,
    ) -> Result<(ApiKeyRecord, SecretString), EngineError> {
        let name = check_name("name", name)?;
        let (key, key_hash, prefix) = keys::generate();
        let rec = self
            .store
            .create_api_key(
                org,
                NewApiKey {
                    name,
                    prefix,
                    key_hash,
                    scopes: scopes.iter().map(|s| s.as_str().to_string()).collect(),
                    platform,
                },
            )
            .await?;
        Ok((rec, key))
    }
}
