"""Response and request shapes of the jiragate HTTP API (pydantic v2 models).

Unknown members are kept (``extra="allow"``) so that a newer server never breaks an older client.
"""

from __future__ import annotations

from collections.abc import Iterator
from datetime import datetime
from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, Field


class _Model(BaseModel):
    model_config = ConfigDict(extra="allow", frozen=True)


CredentialFor = Literal["installation", "user"]
ToolFormat = Literal["openai", "anthropic", "mcp"]


class ConnectorInfo(_Model):
    """A connector as the server returns it; never contains a secret."""

    id: str
    connector_type: str = "Jira"
    workspace_name: str
    name: str
    api_type: str
    auth_kind: str
    site_url: str
    subdomain: str | None = None
    cloud_id: str | None = None
    account_id: str | None = None
    account_name: str | None = None
    email: str | None = None
    scopes: list[str] = Field(default_factory=list)
    owner: str
    user_id: str | None = None
    status: str
    status_reason: str | None = None
    last_checked_at: datetime | None = None
    version: int = 0
    created_at: datetime
    updated_at: datetime


class CheckResult(_Model):
    connector_id: str
    status: str
    reason: str | None = None
    latency_ms: int
    checked_at: datetime


class ActionScopes(_Model):
    classic: list[str] = Field(default_factory=list)
    granular: list[str] = Field(default_factory=list)


class ActionDescription(_Model):
    """One catalog action with the JSON Schema of its params."""

    action: str
    description: str = ""
    read_only: bool = False
    params_schema: dict[str, Any] = Field(default_factory=dict)
    example: Any = None
    result: str = ""
    pagination: str = "none"
    operations: list[dict[str, Any]] = Field(default_factory=list)
    scopes: ActionScopes = Field(default_factory=ActionScopes)


class EntityDescription(_Model):
    entity: str
    api_type: str = "platform"
    actions: list[ActionDescription] = Field(default_factory=list)


class Description(_Model):
    """What ``describe`` answers: entities, their actions and params schemas."""

    connector_id: str | None = None
    name: str | None = None
    api_type: str | None = None
    action_count: int = 0
    entities: list[EntityDescription] = Field(default_factory=list)

    def actions(self) -> Iterator[tuple[str, ActionDescription]]:
        """Every ``(entity, action)`` pair, in catalog order."""
        for e in self.entities:
            for a in e.actions:
                yield e.entity, a

    def action(self, entity: str, action: str) -> ActionDescription:
        """The description of ``entity.action``; ``KeyError`` when the catalog lacks it."""
        for e in self.entities:
            if e.entity == entity:
                for a in e.actions:
                    if a.action == action:
                        return a
        raise KeyError(f"{entity}.{action}")


class ExecuteResult(_Model):
    """The answer of ``execute``: ``data`` (object or array), paging token and ``meta``."""

    data: Any = None
    next_page_token: str | None = None
    meta: dict[str, Any] = Field(default_factory=dict)


class Credential(_Model):
    """A fresh Jira access token from ``/api/v1/credentials/token``."""

    connector_id: str
    token_type: str = "Bearer"
    access_token: str = Field(repr=False)
    expires_at: datetime
    base_url: str

    @property
    def authorization(self) -> str:
        """The value of the ``Authorization`` header to call Jira with."""
        return f"{self.token_type} {self.access_token}"

    def headers(self) -> dict[str, str]:
        return {"Authorization": self.authorization}


class OAuthClientInfo(_Model):
    id: str
    client_id: str
    redirect_uri: str
    scopes: list[str] = Field(default_factory=list)
    created_at: datetime


class ConnectSession(_Model):
    """An OAuth connect session: send the user to ``authorize_url``, then poll ``status``."""

    id: str
    status: str = "pending"
    authorize_url: str | None = None
    workspace_name: str | None = None
    name: str | None = None
    sites: list[dict[str, Any]] | None = None
    connector_id: str | None = None
    error: str | None = None
    expires_at: datetime


class OrganizationInfo(_Model):
    id: str
    name: str
    created_at: datetime


class ApiKeyInfo(_Model):
    id: str
    name: str
    prefix: str
    scopes: list[str] = Field(default_factory=list)
    platform: bool = False
    organization_id: str
    created_at: datetime
    revoked_at: datetime | None = None
    last_used_at: datetime | None = None


class CreatedApiKey(ApiKeyInfo):
    """A new API key; ``key`` is shown this once."""

    key: str = Field(repr=False)


__all__ = [
    "ActionDescription",
    "ActionScopes",
    "ApiKeyInfo",
    "CheckResult",
    "ConnectSession",
    "ConnectorInfo",
    "CreatedApiKey",
    "Credential",
    "CredentialFor",
    "Description",
    "EntityDescription",
    "ExecuteResult",
    "OAuthClientInfo",
    "OrganizationInfo",
    "ToolFormat",
]
