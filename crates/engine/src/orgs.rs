//! Organizations (tenants; platform keys only) and their workspaces.

use jiragate_store::{OrgId, Organization, Workspace};
use serde_json::json;

use crate::{Actor, ApiScope, Engine, EngineError, check_name};

impl Engine {
    /// Creates an organization (platform admin). `org` is the organization the actor acts in;
    /// the audit event is written there.
    pub async fn create_organization(
        &self,
        actor: Actor<'_>,
        org: &OrgId,
        name: &str,
    ) -> Result<Organization, EngineError> {
        actor.require_platform("manage organizations")?;
        actor.require(ApiScope::Admin)?;
        let name = check_name("name", name)?;
        if self.store.get_organization_by_name(&name).await?.is_some() {
            return Err(EngineError::Conflict {
                message: format!("an organization named {name} already exists"),
            });
        }
        let created = self.store.create_organization(&name).await?;
        self.append_audit(
            actor,
            org,
            "organization.create",
            created.id.as_ref(),
            json!({"name": created.name}),
        )
        .await;
        Ok(created)
    }

    /// Every organization (platform keys).
    pub async fn list_organizations(
        &self,
        actor: Actor<'_>,
    ) -> Result<Vec<Organization>, EngineError> {
        actor.require_platform("manage organizations")?;
        Ok(self.store.list_organizations().await?)
    }

    /// The workspaces of `org` (any key of the organization).
    pub async fn list_workspaces(
        &self,
        _actor: Actor<'_>,
        org: &OrgId,
    ) -> Result<Vec<Workspace>, EngineError> {
        Ok(self.store.list_workspaces(org).await?)
    }

    /// Creates (or returns the existing) workspace (`connectors:write`).
    pub async fn create_workspace(
        &self,
        actor: Actor<'_>,
        org: &OrgId,
        name: &str,
    ) -> Result<Workspace, EngineError> {
        actor.require(ApiScope::ConnectorsWrite)?;
        let name = check_name("name", name)?;
        Ok(self.store.ensure_workspace(org, &name).await?)
    }
}
