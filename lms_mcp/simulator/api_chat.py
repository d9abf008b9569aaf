"""`POST /api/v1/chat`: validate the request like LM Studio does, plan the turn, then run it (streamed or not)."""

from __future__ import annotations

import ipaddress
import json
import re
from typing import Any
from urllib.parse import urlsplit

from starlette.requests import Request
from starlette.responses import Response

from lms_mcp.simulator.catalog import ModelEntry
from lms_mcp.simulator.chat_run import ChatPlan, ChatRun, ToolScript, claim_instance
from lms_mcp.simulator.errors import ApiError, invalid_request, model_not_found
from lms_mcp.simulator.faults import FaultInjector
from lms_mcp.simulator.generation import tool_output_text, user_text_of
from lms_mcp.simulator.responses import LMStudioJSONResponse, sse_frames, stream_response
from lms_mcp.simulator.schemas import (
    ChatRequest,
    EphemeralMcpIntegration,
    ImageItem,
    Integration,
    PluginIntegration,
    TextItem,
    parse_json,
    validate,
)
from lms_mcp.simulator.state import LoadOptions, Message, State

# Plugin ids are normalised to lower-case-with-hyphens by LM Studio; anything else fails to connect (API.md §4.1).
_PLUGIN_ID = re.compile(r"^[a-z0-9][a-z0-9-]*/[a-z0-9][a-z0-9._-]*$")
DEFAULT_TOOL = "search"
# HTTP status for errors found after the chat started, when the client did not ask for a stream.
_LATE_ERROR_STATUS = {"mcp_connection_error": 400, "plugin_connection_error": 400}
CONTINUED_SYSTEM_PROMPT_ERROR = "Only user, assistant and tool roles are supported, got system"


class ChatApi:
    def __init__(self, state: State, faults: FaultInjector) -> None:
        self.state = state
        self.faults = faults

    async def chat(self, request: Request) -> Response:
        self.state.refresh()
        body = validate(ChatRequest, parse_json(await request.body()))
        plan = self._plan(body)
        path = request.url.path
        error_fault = self.faults.take(path, {"error_event"}) if body.stream else None
        run = ChatRun(
            plan,
            self.state,
            self.state.config,
            error_after_tokens=error_fault.after_tokens if error_fault else None,
            error_message=error_fault.message if error_fault else "",
        )
        if body.stream:
            return stream_response(sse_frames(run.events()), on_close=run.close, faults=self.faults, path=path)
        return await _complete(run)

    def _plan(self, body: ChatRequest) -> ChatPlan:
        state, config = self.state, self.state.config
        found = state.find_instance(body.model)
        entry = found[0] if found else state.find_model(body.model)
        if entry is None:
            raise model_not_found(body.model)
        if entry.type != "llm":
            raise invalid_request(
                f"Model '{body.model}' is an embedding model and cannot be used for chat.", param="model"
            )
        reasoning = _reasoning_enabled(entry, body.reasoning)
        texts = (
            [item.content for item in body.input if isinstance(item, TextItem)] if isinstance(body.input, list) else []
        )
        images = sum(isinstance(item, ImageItem) for item in body.input) if isinstance(body.input, list) else 0
        if images and not entry.vision:
            raise invalid_request(f"Model '{entry.key}' does not support image input.", param="input")
        user = Message("user", body.input if isinstance(body.input, str) else user_text_of(texts), images)
        history = self._history(body)
        system_prompt = history[0].content if history and history[0].role == "system" else None
        tool, early_error = _integrations(
            body.integrations,
            user.content,
            config.allow_ephemeral_mcp,
            config.allow_mcp_json and bool(config.api_tokens),
        )
        if body.context_length is not None and body.context_length > entry.max_context_length:
            raise invalid_request(
                f"context_length {body.context_length} exceeds the maximum context length of model "
                f"'{entry.key}' ({entry.max_context_length}).",
                param="context_length",
            )
        claim = claim_instance(state, body.model, entry, found is not None)
        if claim is None:
            raise invalid_request(
                f"Model '{body.model}' is not loaded, and Just-in-Time model loading is disabled. "
                "Load it first with POST /api/v1/models/load.",
                param="model",
            )
        instance_id, load, pending = claim
        return ChatPlan(
            entry=entry,
            instance_id=instance_id,
            load=load,
            load_options=LoadOptions(context_length=body.context_length),
            history=history,
            user=user,
            system_prompt=system_prompt,
            turn=1 + sum(message.role == "user" for message in history),
            reasoning=reasoning,
            max_output_tokens=body.max_output_tokens,
            tool=tool,
            store=body.store,
            early_error=early_error,
            pending=pending,
        )

    def _history(self, body: ChatRequest) -> list[Message]:
        if body.previous_response_id is None:
            return [Message("system", body.system_prompt)] if body.system_prompt is not None else []
        history = self.state.threads.get(body.previous_response_id)
        if history is None:
            raise invalid_request(
                f"Response with id '{body.previous_response_id}' not found.",
                param="previous_response_id",
                status=404,
            )
        if body.system_prompt is None:
            return list(history)
        if self.state.config.build.system_prompt_on_continuation_fails:
            # LM Studio 0.4.20 (lmstudio-bug-tracker#2219, lmstudio-ai/lms#611): the stored history plus a new system
            # message reaches a check that allows no system role, and the request fails inside the server. The
            # body's shape is not in the reports beyond its message, which is all this sends.
            raise ApiError(500, {"error": {"message": CONTINUED_SYSTEM_PROMPT_ERROR}})
        # Builds without that failure take the new system prompt in place of the stored one.
        return [Message("system", body.system_prompt), *(m for m in history if m.role != "system")]


def _reasoning_enabled(entry: ModelEntry, requested: str | None) -> bool:
    capability = entry.reasoning
    if requested is not None:
        allowed = capability.allowed_options if capability else []
        if requested not in allowed:
            # Verbatim wording of LM Studio 0.4.21 (a live HTTP 400 for gpt-oss with "off"); for a model without
            # reasoning settings the list is empty, which is inferred.
            listed = ", ".join(f"'{option}'" for option in allowed) or "none"
            raise invalid_request(
                f"Reasoning setting '{requested}' is not supported by model '{entry.key}'. Supported settings: "
                f"{listed}.",
                code="invalid_value",
                param="reasoning",
            )
    if capability is None:
        return False
    return (requested or capability.default) != "off"


def _integrations(
    integrations: list[Integration] | None, user_text: str, allow_ephemeral: bool, allow_plugins: bool
) -> tuple[ToolScript | None, dict[str, Any] | None]:
    """Check the integrations against the server settings; script one tool call on the first of them."""
    if not integrations:
        return None, None
    early_error: dict[str, Any] | None = None
    for integration in integrations:
        if isinstance(integration, EphemeralMcpIntegration):
            if not allow_ephemeral:
                raise invalid_request(
                    'Per-request MCP servers are not allowed. Turn on "Allow per-request MCPs" in the server '
                    "settings to use integrations of type 'ephemeral_mcp'.",
                    param="integrations",
                )
            if early_error is None and _is_non_public(integration.server_url):
                early_error = {
                    "type": "mcp_connection_error",
                    "message": f"Unable to connect to remote MCP server '{integration.server_label}' at url "
                    f"'{integration.server_url}'. URL resolves to a non-public address. We only allow public "
                    "addresses for dynamic remote MCP connections.",
                }
            continue
        if not allow_plugins:
            raise invalid_request(
                'Calling MCP servers from mcp.json is not allowed. Turn on "Allow calling servers from mcp.json" '
                '(which requires "Require Authentication") in the server settings.',
                param="integrations",
            )
        plugin_id = integration if isinstance(integration, str) else integration.id
        if early_error is None and not _PLUGIN_ID.match(plugin_id):
            early_error = {
                "type": "plugin_connection_error",
                "message": f"Failed to connect to plugin '{plugin_id}': plugin identifier must be in owner/name format",
            }
    return _tool_script(integrations[0], user_text), early_error


def _tool_script(integration: Integration, user_text: str) -> ToolScript | None:
    if isinstance(integration, str):
        integration = PluginIntegration(type="plugin", id=integration)
    tools = integration.allowed_tools
    if tools == []:
        return None
    tool = tools[0] if tools else DEFAULT_TOOL
    arguments: dict[str, Any] = {"query": user_text}
    text = tool_output_text(tool, json.dumps(arguments, sort_keys=True))
    output = json.dumps([{"type": "text", "text": text}], separators=(",", ":"))
    provider: dict[str, str]
    if isinstance(integration, EphemeralMcpIntegration):
        provider = {"type": "ephemeral_mcp", "server_label": integration.server_label}
    else:
        provider = {"type": "plugin", "plugin_id": integration.id}
    return ToolScript(tool=tool, arguments=arguments, output=output, provider_info=provider)


def _is_non_public(url: str) -> bool:
    host = (urlsplit(url).hostname or "").lower()
    if host == "localhost" or host.endswith(".localhost"):
        return True
    try:
        address = ipaddress.ip_address(host)
    except ValueError:
        return False  # a DNS name; the simulator never resolves names
    return not address.is_global


async def _complete(run: ChatRun) -> Response:
    result, error = await run.outcome()
    if error is not None and run.failed:
        raise ApiError(_LATE_ERROR_STATUS.get(str(error["type"]), 500), {"error": error})
    return LMStudioJSONResponse(result)
