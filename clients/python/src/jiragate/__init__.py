"""Python client for jiragate, the self-hosted Jira Cloud connector and credential broker.

    from jiragate import Jiragate

    jg = Jiragate()  # JIRAGATE_URL, JIRAGATE_API_KEY
    jira = jg.connect("jira", workspace_name="w", name="jira")
    for issue in jira.stream("issues", "search", {"jql": "project = ENG"}):
        print(issue["key"])
"""

from ._core import __version__
from .aio import AsyncConnector, AsyncJiragate
from .client import Connector, Jiragate
from .errors import (
    APIError,
    AuthenticationError,
    ConfigurationError,
    ConflictError,
    GatewayTimeoutError,
    InternalServerError,
    InvalidRequestError,
    JiragateError,
    MethodNotAllowedError,
    MissingScopeError,
    NeedsReauthError,
    NotFoundError,
    PayloadTooLargeError,
    PermissionDeniedError,
    RateLimitedError,
    TransportError,
    UnavailableError,
    UnsupportedMediaTypeError,
    UpstreamError,
)
from .models import (
    ActionDescription,
    CheckResult,
    ConnectorInfo,
    Credential,
    Description,
    ExecuteResult,
)
from .tools import Tool, Toolset

__all__ = [
    "APIError",
    "ActionDescription",
    "AsyncConnector",
    "AsyncJiragate",
    "AuthenticationError",
    "CheckResult",
    "ConfigurationError",
    "ConflictError",
    "Connector",
    "ConnectorInfo",
    "Credential",
    "Description",
    "ExecuteResult",
    "GatewayTimeoutError",
    "InternalServerError",
    "InvalidRequestError",
    "Jiragate",
    "JiragateError",
    "MethodNotAllowedError",
    "MissingScopeError",
    "NeedsReauthError",
    "NotFoundError",
    "PayloadTooLargeError",
    "PermissionDeniedError",
    "RateLimitedError",
    "Tool",
    "Toolset",
    "TransportError",
    "UnavailableError",
    "UnsupportedMediaTypeError",
    "UpstreamError",
    "__version__",
]
