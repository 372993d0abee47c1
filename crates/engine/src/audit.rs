//! The audit trail: engine operations append an event for every state change they make.

use jiragate_store::{AuditEvent, NewAuditEvent, OrgId};
use serde_json::Value;

use crate::{Actor, ApiScope, Engine, EngineError};

impl Engine {
    /// Appends an audit event. A failure is logged, not returned: the change it records has
    /// already happened and must not be reported as failed.
    pub async fn append_audit(
        &self,
        actor: Actor<'_>,
        org: &OrgId,
        action: &str,
        target: &str,
        detail: Value,
    ) {
        let event = NewAuditEvent {
            actor: actor.audit_name(),
            action: action.to_owned(),
            target: target.to_owned(),
            detail,
        };
        if let Err(e) = self.store.append_audit(org, event).await {
            tracing::warn!(error = %e, action, "could not append an audit event");
        }
    }

    /// The newest `limit` audit events of `org` (admin).
    pub async fn list_audit(
        &self,
        actor: Actor<'_>,
        org: &OrgId,
        limit: i64,
    ) -> Result<Vec<AuditEvent>, EngineError> {
        actor.require(ApiScope::Admin)?;
        Ok(self.store.list_audit(org, limit).await?)
    }
}
