//! Who asks for an operation, and what they may do. Every engine operation that reads or
//! changes tenant data takes an [`Actor`] and decides here — not in a front end — whether the
//! actor's scopes allow it.

use jiragate_store::ApiKeyRecord;

use crate::EngineError;
use crate::keys::{self, ApiScope};

/// The holder of an API key, or the operator on the host that holds the data dir and the
/// master key (the local CLI, `jiragate mcp` on stdio), who may do anything an installation
/// allows.
#[derive(Debug, Clone, Copy)]
pub enum Actor<'a> {
    Key(&'a ApiKeyRecord),
    Operator,
    /// A person signed in with Atlassian through an MCP authorization grant (Atlassian
    /// sign-in mode): may run actions (`execute`) and nothing else; the grant limits it to
    /// that person's own connection, where Jira's own permissions apply.
    AtlassianUser {
        account_id: &'a str,
    },
}

impl Actor<'_> {
    /// Platform keys (and the operator) manage organizations and other platform keys.
    pub fn is_platform(&self) -> bool {
        match self {
            Actor::Key(k) => k.platform,
            Actor::Operator => true,
            Actor::AtlassianUser { .. } => false,
        }
    }

    /// Whether the actor may do what `scope` allows (see [`keys::allows`]).
    pub fn may(&self, scope: ApiScope) -> bool {
        match self {
            Actor::Key(k) => keys::allows(&k.scopes, scope),
            Actor::Operator => true,
            Actor::AtlassianUser { .. } => scope == ApiScope::Execute,
        }
    }

    /// `Forbidden` unless the actor may do what `scope` allows.
    pub fn require(&self, scope: ApiScope) -> Result<(), EngineError> {
        if self.may(scope) {
            Ok(())
        } else {
            Err(EngineError::KeyScope {
                scope: scope.as_str(),
            })
        }
    }

    /// `Forbidden` unless this is a platform key or the operator; `what` says what needs it.
    pub fn require_platform(&self, what: &str) -> Result<(), EngineError> {
        if self.is_platform() {
            Ok(())
        } else {
            Err(EngineError::NotAllowed {
                message: format!("only a platform API key may {what}"),
            })
        }
    }

    /// How audit events name the actor: the key's id, never its secret.
    pub fn audit_name(&self) -> String {
        match self {
            Actor::Key(k) => format!("api_key:{}", k.id),
            Actor::Operator => "operator".to_string(),
            Actor::AtlassianUser { account_id } => format!("atlassian_user:{account_id}"),
        }
    }
}
