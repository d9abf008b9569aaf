"""`POST /v1/chat/completions`, the OpenAI-compatible chat route, as LM Studio serves it.

The bridge uses it for what the native API lacks: answers constrained to a JSON Schema (`response_format`).
A turn runs through the same `ChatRun` as `/api/v1/chat`, so JIT loading, pacing and the output budget behave
alike; only the request and response shapes are OpenAI's. Plain answers are the native route's reply words;
structured answers are a document generated from the schema, spoiled on purpose if `config.json_mode` says so.
Models with reasoning settings think first (in `reasoning_content`, or `reasoning` for gpt-oss) unless
`reasoning_effort` is "none" or a schema constrains the answer; the profile decides the build-specific quirks.
"""

from __future__ import annotations

import json
import secrets
import string
import time
from collections.abc import AsyncGenerator
from contextlib import aclosing
from dataclasses import dataclass
from typing import Any

import anyio
from starlette.requests import Request
from starlette.responses import Response

from lms_mcp.simulator.agent_script import PlannedCall, next_calls
from lms_mcp.simulator.api_models import openai_ids
from lms_mcp.simulator.catalog import ModelEntry
from lms_mcp.simulator.chat_run import ChatPlan, ChatRun, claim_instance
from lms_mcp.simulator.config import JsonMode
from lms_mcp.simulator.errors import ApiError, openai_error, openai_model_not_found
from lms_mcp.simulator.faults import FaultInjector
from lms_mcp.simulator.generation import text_tokens
from lms_mcp.simulator.openai_request import CompletionRequest, parse_completion_request
from lms_mcp.simulator.responses import LMStudioJSONResponse, data_frame, stream_response
from lms_mcp.simulator.schemas import parse_json
from lms_mcp.simulator.state import LoadOptions, State
from lms_mcp.simulator.structured import SchemaError, generate, violate

_ID_ALPHABET = string.ascii_lowercase + string.digits
_ID_LENGTH = 21


@dataclass(frozen=True)
class _Completion:
    """What every chunk or response of one completion repeats, and where its text goes."""

    id: str
    created: int
    model: str
    # The message field thinking text goes in: `reasoning` for gpt-oss (LM Studio 0.3.23 changelog), else
    # `reasoning_content` (the developer setting that separates it, as in every 0.4.x report).
    reasoning_field: str
    # The builds that put a reasoning model's json_schema answer in `reasoning_content`, leaving `content` "".
    answer_in_reasoning: bool
    # The function calls this turn makes (wire form), instead of an answer.
    tool_calls: tuple[dict[str, Any], ...] = ()

    def envelope(self, kind: str) -> dict[str, Any]:
        return {"id": self.id, "object": kind, "created": self.created, "model": self.model}


class OpenAIChatApi:
    def __init__(self, state: State, faults: FaultInjector) -> None:
        self.state = state
        self.faults = faults

    async def chat_completions(self, request: Request) -> Response:
        self.state.refresh()
        config = self.state.config
        body = parse_completion_request(parse_json(await request.body()), refuse_webp=config.build.refuses_webp)
        script = config.agent
        calls = next_calls(script, body.messages, bool(body.tools), body.tool_choice) if script else []
        if calls and script and script.turn_seconds > 0:
            await anyio.sleep(script.turn_seconds)
        plan = self._plan(body, calls)
        run = ChatRun(plan, self.state, self.state.config)
        completion = _Completion(
            id="chatcmpl-" + "".join(secrets.choice(_ID_ALPHABET) for _ in range(_ID_LENGTH)),
            created=int(time.time()),
            model=plan.entry.key,
            reasoning_field="reasoning" if plan.entry.architecture == "gpt-oss" else "reasoning_content",
            answer_in_reasoning=body.json_schema is not None
            and not calls
            and config.build.structured_in_reasoning
            and _thinks(plan.entry, body.reasoning_effort, none_disables=False),
            tool_calls=tuple(call.wire() for call in calls),
        )
        if body.stream:
            frames = _chunks(run, completion, include_usage=body.include_usage)
            return stream_response(frames, on_close=run.close, faults=self.faults, path=request.url.path)
        return await _complete(run, completion)

    def _plan(self, body: CompletionRequest, calls: list[PlannedCall]) -> ChatPlan:
        """Everything that can fail on the request's account, checked before a JIT load is claimed."""
        state = self.state
        found = state.find_instance(body.model)
        entry = found[0] if found else state.find_model(body.model)
        if entry is None:
            raise openai_model_not_found(body.model, openai_ids(state))
        if entry.type != "llm":
            raise openai_error(
                400, f"Model '{body.model}' is an embedding model and cannot be used for chat.", param="model"
            )
        if not entry.vision and any(message.images for message in body.messages):
            raise openai_error(400, f"Model '{entry.key}' does not support image input.", param="messages")
        last_user = max(index for index, message in enumerate(body.messages) if message.role == "user")
        user = body.messages[last_user]
        system_prompt = next((message.content for message in body.messages if message.role == "system"), None)
        turn = sum(message.role == "user" for message in body.messages)
        seed = json.dumps([entry.key, system_prompt, user.content, turn])
        reply = self._reply(body, calls, seed)
        claim = claim_instance(state, body.model, entry, found is not None)
        if claim is None:  # not loaded, JIT off: LM Studio then only knows the loaded models
            raise openai_model_not_found(body.model, openai_ids(state))
        instance_id, load, pending = claim
        return ChatPlan(
            entry=entry,
            instance_id=instance_id,
            load=load,
            load_options=LoadOptions(),
            history=[*body.messages[:last_user], *body.messages[last_user + 1 :]],
            user=user,
            system_prompt=system_prompt,
            turn=turn,
            # A json_schema constrains the whole output, so nothing is left to think in (API.md §8; a schema on the
            # wire reports 0 reasoning tokens).
            reasoning=(reply is None or bool(calls)) and _thinks(entry, body.reasoning_effort),
            max_output_tokens=body.max_tokens,
            tool=None,
            store=False,
            pending=pending,
            reply=reply,
        )

    def _reply(self, body: CompletionRequest, calls: list[PlannedCall], seed: str) -> list[str] | None:
        """The turn's output when something decides it: tool calls (their arguments, paced as tokens), a
        structured answer, or the agent script's answer; None for the usual reply words."""
        script = self.state.config.agent
        if calls:
            return text_tokens(" ".join(call.arguments for call in calls))
        if body.json_schema is not None:
            return text_tokens(_structured_answer(body.json_schema, seed, self.state.config.json_mode))
        if script is not None and script.answer is not None:
            return text_tokens(script.answer)
        return None


def _thinks(entry: ModelEntry, effort: str | None, *, none_disables: bool = True) -> bool:
    """Whether a model reasons on this route for a `reasoning_effort`.

    "none" turns thinking off (lmstudio-bug-tracker#2057); "off" is accepted and ignored (#2413); a level the model
    lacks is no error, LM Studio falls back to the model's "on" (#2284).
    """
    capability = entry.reasoning
    if capability is None or (effort == "none" and none_disables):
        return False
    if effort in (None, "none", "off"):
        return capability.default != "off"
    return True


def _structured_answer(schema: object, seed: str, mode: JsonMode) -> str:
    try:
        document = generate(schema, seed)
        if mode == "schema_violation":
            document = violate(schema, document)
    except SchemaError as exc:
        raise openai_error(400, f"Invalid JSON schema in 'response_format': {exc}", param="response_format") from None
    text = json.dumps(document, ensure_ascii=False)
    if mode != "invalid_json":
        return text
    # A model that stopped mid-document; if half of it happens to parse (e.g. "12" of "1234"), spoil it further.
    half = text[: len(text) // 2]
    try:
        json.loads(half)
    except ValueError:
        return half
    return half + ","


def _finish_reason(run: ChatRun) -> str:
    return "length" if run.cut_short else "stop"


def _usage(run: ChatRun, prompt: int) -> dict[str, Any]:
    # LM Studio counts thinking in completion_tokens and reports it apart, like OpenAI.
    completion = run.reasoning_count + run.message_count
    return {
        "prompt_tokens": prompt,
        "completion_tokens": completion,
        "total_tokens": prompt + completion,
        "completion_tokens_details": {"reasoning_tokens": run.reasoning_count},
    }


def _joined(result: dict[str, Any], kind: str) -> str:
    return "".join(str(item["content"]) for item in result["output"] if item["type"] == kind)


def _server_error(error: dict[str, Any]) -> dict[str, Any]:
    return {"error": {"message": str(error.get("message", "")), "type": "server_error", "param": None, "code": None}}


async def _complete(run: ChatRun, completion: _Completion) -> Response:
    outcome, error = await run.outcome()
    if error is not None:
        raise ApiError(500, _server_error(error))
    result = outcome or {}
    content, reasoning = _joined(result, "message"), _joined(result, "reasoning")
    if completion.answer_in_reasoning:
        content, reasoning = "", content
    calling = bool(completion.tool_calls) and not run.cut_short
    # A turn that calls tools has no `content` at all (as in LM Studio's own example); one cut off by max_tokens
    # keeps the half-written call as text.
    message: dict[str, Any] = (
        {"role": "assistant", "tool_calls": list(completion.tool_calls)}
        if calling
        else {"role": "assistant", "content": content}
    )
    if reasoning:
        message[completion.reasoning_field] = reasoning
    finish = "tool_calls" if calling else _finish_reason(run)
    choice = {"index": 0, "logprobs": None, "finish_reason": finish, "message": message}
    body = completion.envelope("chat.completion") | {
        "choices": [choice],
        "usage": _usage(run, int(result["stats"]["input_tokens"])),
        "system_fingerprint": completion.model,
    }
    return LMStudioJSONResponse(body)


async def _chunks(run: ChatRun, completion: _Completion, *, include_usage: bool) -> AsyncGenerator[bytes]:
    """Standard OpenAI streaming: a role chunk, thinking and content chunks, a finish chunk, maybe usage, [DONE]."""

    def chunk(delta: dict[str, Any], finish_reason: str | None) -> bytes:
        choice = {"index": 0, "delta": delta, "logprobs": None, "finish_reason": finish_reason}
        return data_frame(
            completion.envelope("chat.completion.chunk") | {"system_fingerprint": completion.model, "choices": [choice]}
        )

    answer_field = "reasoning_content" if completion.answer_in_reasoning else "content"
    result: dict[str, Any] = {}
    started = False
    async with aclosing(run.events()) as events:
        async for event in events:
            match event["type"]:
                case "reasoning.start" | "message.start" if not started:
                    started = True
                    yield chunk({"role": "assistant", "content": ""}, None)
                case "reasoning.delta":
                    yield chunk({completion.reasoning_field: event["content"]}, None)
                case "message.delta" if not completion.tool_calls:
                    yield chunk({answer_field: event["content"]}, None)
                case "error":
                    yield data_frame(_server_error(event["error"]))
                    return
                case "chat.end":
                    result = event["result"]
                case _:
                    pass  # load and prompt-processing progress have no OpenAI counterpart
    finish = _finish_reason(run)
    if completion.tool_calls:
        delta, finish = _streamed_calls(run, completion, result)
        yield chunk(delta, None)
    yield chunk({}, finish)
    if include_usage:
        usage = _usage(run, int(result["stats"]["input_tokens"]))
        yield data_frame(
            completion.envelope("chat.completion.chunk")
            | {"system_fingerprint": completion.model, "choices": [], "usage": usage}
        )
    yield data_frame("[DONE]")


def _streamed_calls(run: ChatRun, completion: _Completion, result: dict[str, Any]) -> tuple[dict[str, Any], str]:
    """A tool-calling turn's one delta (every call whole, by index) and its finish reason; cut off, the text."""
    if run.cut_short:
        return {"content": _joined(result, "message")}, _finish_reason(run)
    calls = [{"index": index, **call} for index, call in enumerate(completion.tool_calls)]
    return {"tool_calls": calls}, "tool_calls"
