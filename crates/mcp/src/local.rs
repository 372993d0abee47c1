//! The in-process backend: an [`Engine`] and one organization.

use std::str::FromStr;
use std::sync::Arc;

use async_trait::async_trait;
use http::request::Parts;
use jiragate_engine::model::{ApiKeyRecord, Connection, ConnectionId, OrgId};
use jiragate_engine::{ActionRequest, Actor, ConnRef, Engine, EngineError};
use serde_json::Value;

use crate::backend::{
    ActionCall, ActionOutput, Backend, ConnectionInfo, ToolError, hints, select_connection,
};
use crate::http_service::{BackendResolver, HttpRejection, bearer_token};

/// Who a [`LocalBackend`] acts as.
#[derive(Clone)]
enum Principal {
    /// The operator on the host (stdio on the data dir).
    Operator,
    Key(ApiKeyRecord),
    /// A person signed in with Atlassian (an MCP grant in Atlassian sign-in mode).
    AtlassianUser(String),
}

/// Runs tools on an [`Engine`] for one organization (stdio `jiragate mcp`, and `/mcp` on
/// `serve` through [`EngineKeyResolver`]), as the operator or as the holder of an API key: the
/// engine decides what each tool call may do.
#[derive(Clone)]
pub struct LocalBackend {
    engine: Engine,
    org: OrgId,
    /// Who the tools act as.
    principal: Principal,
    /// An MCP authorization grant: only this connection is visible and usable.
    only: Option<ConnectionId>,
    /// The grant is read-only: every action runs with `read_only` (writes are refused).
    force_read_only: bool,
}

impl LocalBackend {
    /// The operator's backend (`jiragate mcp` on the host that holds the data dir).
    pub fn new(engine: Engine, org: OrgId) -> Self {
        LocalBackend {
            engine,
            org,
            principal: Principal::Operator,
            only: None,
            force_read_only: false,
        }
    }

    /// A backend acting as the holder of `key`, in `org`.
    pub fn for_key(engine: Engine, key: ApiKeyRecord, org: OrgId) -> Self {
        LocalBackend {
            engine,
            org,
            principal: Principal::Key(key),
            only: None,
            force_read_only: false,
        }
    }

    /// A backend for an MCP authorization grant: acts as the key that approved it, on the
    /// granted connection only, read-only unless the grant allows writes.
    pub fn for_grant(
        engine: Engine,
        key: ApiKeyRecord,
        org: OrgId,
        connection: ConnectionId,
        read_only: bool,
    ) -> Self {
        LocalBackend {
            engine,
            org,
            principal: Principal::Key(key),
            only: Some(connection),
            force_read_only: read_only,
        }
    }

    /// A backend for an MCP grant in Atlassian sign-in mode: acts as the signed-in person
    /// (`account_id`), on their own connection only, read-only unless the grant allows writes.
    pub fn for_atlassian_user(
        engine: Engine,
        account_id: String,
        org: OrgId,
        connection: ConnectionId,
        read_only: bool,
    ) -> Self {
        LocalBackend {
            engine,
            org,
            principal: Principal::AtlassianUser(account_id),
            only: Some(connection),
            force_read_only: read_only,
        }
    }

    /// Refuses a connection outside the grant.
    fn admit(&self, info: &ConnectionInfo) -> Result<(), ToolError> {
        match &self.only {
            Some(id) if id.as_str() != info.id => Err(ToolError::new(
                "forbidden",
                "this authorization grants access to one connection only; call jira_list_connections",
            )),
            _ => Ok(()),
        }
    }

    fn actor(&self) -> Actor<'_> {
        match &self.principal {
            Principal::Key(k) => Actor::Key(k),
            Principal::Operator => Actor::Operator,
            Principal::AtlassianUser(account_id) => Actor::AtlassianUser { account_id },
        }
    }

    pub fn engine(&self) -> &Engine {
        &self.engine
    }

    pub fn org(&self) -> &OrgId {
        &self.org
    }

    /// The engine's reference to a listed connection (by id: names may be ambiguous).
    fn reference(info: &ConnectionInfo) -> Result<ConnRef, ToolError> {
        let id = ConnectionId::from_str(&info.id).map_err(|_| {
            ToolError::new(
                "validation",
                format!("'{}' is not a connection id", info.id),
            )
        })?;
        Ok(ConnRef::Id(id))
    }
}

/// A store record as the agent sees it, in the record's own serialisation: enum spellings are
/// the serde names (`as_str`, by the store's `text_enum!`) and the timestamp goes through the
/// same RFC 3339 serializer the record uses (test `connection_info_reads_like_the_record`).
/// Built field by field: this runs on every tool call.
pub(crate) fn connection_info(record: Connection) -> ConnectionInfo {
    ConnectionInfo {
        id: record.id.to_string(),
        workspace: record.workspace,
        name: record.name,
        api_type: record.api_type.as_str().to_owned(),
        auth_kind: record.auth_kind.as_str().to_owned(),
        site_url: record.site_url,
        status: record.status.as_str().to_owned(),
        status_reason: record.status_reason,
        last_checked_at: time::serde::rfc3339::option::serialize(
            &record.last_checked_at,
            serde_json::value::Serializer,
        )
        .ok()
        .filter(|v| !v.is_null()),
    }
}

/// Engine failures as tool errors: the engine's message already says what to do; add the
/// concrete next step where the agent can relay one.
pub(crate) fn engine_error(err: EngineError) -> ToolError {
    let kind = err.kind();
    let message = match &err {
        EngineError::NeedsReauth { .. } => format!("{err}. {}", hints::REAUTH),
        EngineError::MissingScope { scope, .. } => {
            format!("{err}. {}", hints::missing_scope(scope))
        }
        EngineError::RateLimited { retry_after_secs } => hints::rate_limited(*retry_after_secs),
        // The engine refuses a URL path it will not send (too long, `..`, control characters):
        // one of the values that go into it (issue key, id) is what to fix.
        EngineError::Validation { field, .. } if field == "path" => {
            format!("{err}. {}", hints::PATH)
        }
        EngineError::Validation { .. } => format!("{err}. {}", hints::DESCRIBE),
        _ => err.to_string(),
    };
    ToolError::new(kind, message)
}

#[async_trait]
impl Backend for LocalBackend {
    async fn list_connections(&self) -> Result<Vec<ConnectionInfo>, ToolError> {
        let records = self
            .engine
            .list_connections(self.actor(), &self.org, None)
            .await
            .map_err(engine_error)?;
        Ok(records
            .into_iter()
            .filter(|r| self.only.as_ref().is_none_or(|id| *id == r.id))
            .map(connection_info)
            .collect())
    }

    async fn resolve(&self, selector: &str) -> Result<ConnectionInfo, ToolError> {
        let selector = selector.trim();
        // Ids and `workspace/name` are direct lookups; a bare name tries workspace `default`.
        let reference = ConnRef::parse(selector);
        match self
            .engine
            .get_connection(self.actor(), &self.org, &reference)
            .await
        {
            Ok(record) => {
                let info = connection_info(record);
                self.admit(&info)?;
                Ok(info)
            }
            // A bare name outside workspace `default` may still name exactly one connection;
            // otherwise the listing says which connections exist.
            Err(EngineError::NotFound { .. }) => {
                select_connection(self.list_connections().await?, selector)
            }
            Err(err) => Err(engine_error(err)),
        }
    }

    async fn check(&self, connection: &ConnectionInfo) -> Result<Value, ToolError> {
        self.admit(connection)?;
        let reference = Self::reference(connection)?;
        let (_, health) = self
            .engine
            .check(self.actor(), &self.org, &reference)
            .await
            .map_err(engine_error)?;
        Ok(serde_json::to_value(&health).unwrap_or(Value::Null))
    }

    async fn describe(&self, connection: &ConnectionInfo) -> Result<Value, ToolError> {
        self.admit(connection)?;
        let reference = Self::reference(connection)?;
        self.engine
            .describe(self.actor(), &self.org, &reference, None)
            .await
            .map_err(engine_error)
    }

    async fn execute(
        &self,
        connection: &ConnectionInfo,
        call: ActionCall,
    ) -> Result<ActionOutput, ToolError> {
        self.admit(connection)?;
        let reference = Self::reference(connection)?;
        let request = ActionRequest {
            entity: call.entity,
            action: call.action,
            params: call.params,
            read_only: call.read_only || self.force_read_only,
        };
        let output = self
            .engine
            .execute(self.actor(), &self.org, &reference, request)
            .await
            .map_err(engine_error)?;
        Ok(ActionOutput {
            data: output.data,
            next_page_token: output.next_page_token,
        })
    }

    async fn recent_events(
        &self,
        connection: &ConnectionInfo,
        limit: u32,
    ) -> Result<Vec<Value>, ToolError> {
        self.admit(connection)?;
        let reference = Self::reference(connection)?;
        let events = self
            .engine
            .recent_webhook_events(self.actor(), &self.org, &reference, limit)
            .await
            .map_err(engine_error)?;
        Ok(events
            .into_iter()
            .map(|e| {
                // The record's own serialisation (it leaves the body out), plus the payload.
                let mut v = serde_json::to_value(&e).unwrap_or(Value::Null);
                if let Value::Object(map) = &mut v {
                    map.remove("connection_id");
                    map.insert(
                        "payload".to_owned(),
                        serde_json::from_str(&e.body).unwrap_or(Value::Null),
                    );
                }
                v
            })
            .collect())
    }

    fn event_notices(&self) -> Option<crate::backend::EventNotices> {
        Some(self.engine.webhook_event_notices())
    }
}

/// The resolver for `/mcp` on `jiragate serve`: `Authorization: Bearer <api key>` →
/// [`Engine::authenticate`] → a [`LocalBackend`] for the key's organization. The key needs the
/// `execute` (or `admin`) scope; a platform key may name another organization with
/// `X-Organization-Id`.
#[derive(Clone)]
pub struct EngineKeyResolver {
    engine: Engine,
}

impl EngineKeyResolver {
    pub fn new(engine: Engine) -> Self {
        EngineKeyResolver { engine }
    }
}

#[async_trait]
impl BackendResolver for EngineKeyResolver {
    async fn resolve(&self, parts: &Parts) -> Result<Arc<dyn Backend>, HttpRejection> {
        let Some(token) = bearer_token(parts) else {
            return Err(HttpRejection::unauthorized(
                "missing API key; send `Authorization: Bearer <api key>`",
            ));
        };
        let key = match self.engine.authenticate(token).await {
            Ok(key) => key,
            Err(EngineError::Unauthorized) => {
                return Err(HttpRejection::unauthorized("unknown or revoked API key"));
            }
            Err(err) => return Err(HttpRejection::internal(err.to_string())),
        };
        let engine = &self.engine;
        engine.authorize_mcp(Actor::Key(&key)).map_err(rejection)?;
        let requested = parts
            .headers
            .get(jiragate_engine::ORG_HEADER)
            .and_then(|v| v.to_str().ok())
            .map(str::trim)
            .filter(|v| !v.is_empty());
        let org = engine
            .acting_org(&key, requested)
            .await
            .map_err(rejection)?;
        Ok(Arc::new(LocalBackend::for_key(engine.clone(), key, org)))
    }
}

/// An engine refusal as an HTTP rejection with the same status and kind as the HTTP API's.
fn rejection(err: EngineError) -> HttpRejection {
    HttpRejection {
        status: http::StatusCode::from_u16(err.http_status())
            .unwrap_or(http::StatusCode::INTERNAL_SERVER_ERROR),
        kind: err.kind().to_owned(),
        detail: err.to_string(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// What `connection_info` said when it read the record through `serde_json::to_value`.
    fn info_through_serde(record: &Connection) -> ConnectionInfo {
        let value = serde_json::to_value(record).unwrap();
        let text = |key: &str| value[key].as_str().unwrap_or_default().to_owned();
        ConnectionInfo {
            id: text("id"),
            workspace: text("workspace"),
            name: text("name"),
            api_type: text("api_type"),
            auth_kind: text("auth_kind"),
            site_url: text("site_url"),
            status: text("status"),
            status_reason: value["status_reason"].as_str().map(str::to_owned),
            last_checked_at: value
                .get("last_checked_at")
                .filter(|v| !v.is_null())
                .cloned(),
        }
    }

    #[test]
    fn connection_info_reads_like_the_record() {
        use jiragate_engine::model::{ApiType, AuthKind, ConnectionStatus, Owner};
        let at = time::macros::datetime!(2026-12-07 08:30:05.123 UTC);
        let mut record = Connection {
            id: ConnectionId::new(),
            org_id: OrgId::new(),
            workspace: "w".into(),
            name: "jira".into(),
            api_type: ApiType::ServiceManagement,
            auth_kind: AuthKind::ScopedApiToken,
            site_url: "https://acme.atlassian.net".into(),
            subdomain: Some("acme".into()),
            cloud_id: Some("c1".into()),
            account_id: None,
            account_name: None,
            email: None,
            oauth_client_id: None,
            scopes: vec!["read:jira-work".into()],
            owner: Owner::Installation,
            status: ConnectionStatus::NeedsReauth,
            status_reason: Some("invalid_grant".into()),
            last_checked_at: Some(at),
            version: 3,
            created_at: at,
            updated_at: at,
        };
        let check = |record: &Connection| {
            let direct = serde_json::to_value(connection_info(record.clone())).unwrap();
            let through = serde_json::to_value(info_through_serde(record)).unwrap();
            assert_eq!(direct, through);
        };
        check(&record);
        record.status_reason = None;
        record.last_checked_at = None;
        record.status = ConnectionStatus::Healthy;
        check(&record);
    }

    #[test]
    fn engine_failures_carry_the_fix() {
        let reauth = engine_error(EngineError::NeedsReauth {
            connection: "w/jira".into(),
            reason: "invalid_grant".into(),
        });
        assert_eq!(reauth.kind, "needs_reauth");
        assert!(
            reauth.message.contains("jiragate connect") && reauth.message.contains("invalid_grant")
        );
        let scope = engine_error(EngineError::MissingScope {
            scope: "write:jira-work".into(),
            action: "issues.create".into(),
        });
        assert_eq!(scope.kind, "missing_scope");
        assert!(
            scope.message.contains("`write:jira-work`") && scope.message.contains("issues.create")
        );
        let limited = engine_error(EngineError::RateLimited {
            retry_after_secs: 42,
        });
        assert_eq!(limited.kind, "rate_limited");
        assert!(limited.message.contains("42 s"));
        let invalid = engine_error(EngineError::validation("jql", "expected a string"));
        assert!(invalid.message.contains("jql") && invalid.message.contains("jira_describe"));
    }
}
