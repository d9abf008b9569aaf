"""chat's `integrations`, held to the operator's policy before anything is sent."""

from __future__ import annotations

from urllib.parse import urlsplit

from ..integration_policy import IntegrationPolicy
from ..lmstudio.models import EphemeralMcpIntegration, Integration
from ..settings import Settings
from .errors import BridgeError, ErrorCode

SETTING = "--integrations / LMS_MCP_INTEGRATIONS"


def effective_policy(settings: Settings) -> IntegrationPolicy:
    """The policy in force: --read-only also rules out MCP servers named per call."""
    return settings.integrations.without_servers() if settings.read_only else settings.integrations


def _refuse(message: str) -> BridgeError:
    return BridgeError(ErrorCode.INVALID_ARGUMENT, message)


def check_server(server: EphemeralMcpIntegration, policy: IntegrationPolicy) -> None:
    if policy.server_hosts == ():
        raise _refuse(
            f"This server does not let chat name MCP servers per call ({server.server_label!r}). Use a plugin "
            f"installed in LM Studio (e.g. 'mcp/playwright'), or have the operator allow servers with {SETTING}."
        )
    parts = urlsplit(server.server_url)
    if parts.scheme not in ("http", "https") or not parts.hostname:
        raise _refuse(f"An MCP server's server_url must be an http:// or https:// URL, got {server.server_url!r}.")
    if not policy.allows_host(parts.hostname):
        allowed = ", ".join(policy.server_hosts or ())
        raise _refuse(f"MCP servers may only be at {allowed} on this server, not {parts.hostname!r} ({SETTING}).")


def check_integrations(integrations: list[Integration] | None, settings: Settings) -> None:
    if not integrations:
        return
    policy = effective_policy(settings)
    if not policy.plugins:
        raise _refuse(f"Integrations are turned off on this server ({SETTING}); call chat without them.")
    for integration in integrations:
        if isinstance(integration, EphemeralMcpIntegration):
            check_server(integration, policy)
