"""The delegation loop: the model calls tools, lms-mcp runs them, until it answers or a bound stops it.

Each turn goes to LM Studio's `/v1/chat/completions` with the three function tools; each call the model
makes is one step, run by `Workspace` inside the task's paths, its result sent back as a `tool` message.
The loop ends when the model answers without calling a tool ("finished"), or at a bound: the step limit,
the reading budget, or the time for exploring (the first two thirds of --max-call-seconds). After a bound,
and for an answer held to a JSON Schema, the model is asked once more, without tools, to answer.
"""

from __future__ import annotations

import json
import time
from dataclasses import dataclass, field
from typing import Any

import anyio

from ..app_state import AppState
from ..lmstudio.models import (
    CalledFunction,
    ChatCompletion,
    CompletionChoice,
    CompletionChoiceMessage,
    CompletionMessage,
    CompletionRequest,
    CompletionToolCall,
    JsonSchemaFormat,
    RequestToolCall,
    ResponseFormat,
)
from .budget import Budget, StopReason
from .progress import DelegateProgress
from .prompts import final_request, system_prompt
from .text import wire_safe
from .tool_specs import FUNCTION_TOOLS, Arguments, BadCall, read_arguments
from .turns import ask
from .workspace_tools import ToolResult, Workspace

# The share of --max-call-seconds the model may spend exploring; the rest is kept for its answer.
EXPLORING_SHARE = 2 / 3
NOT_RUN = "Not run: {why}. Answer with what you have."


@dataclass(frozen=True)
class Assignment:
    task: str
    model: str
    max_steps: int
    max_bytes: int
    max_output_tokens: int | None = None
    # As /v1/chat/completions names it ("none" for no thinking).
    reasoning_effort: str | None = None
    json_schema: dict[str, Any] | None = None


@dataclass(frozen=True)
class Step:
    tool: str
    # As the model wrote them: an object, or the text when it was not JSON.
    arguments: dict[str, Any] | str
    result_bytes: int
    summary: str
    ok: bool


@dataclass
class Outcome:
    final: CompletionChoice
    stopped: StopReason
    model_instance: str
    steps: list[Step] = field(default_factory=lambda: list[Step]())
    # Bytes of each file's text the model read, by path as shown to it, in the order first read.
    files_read: dict[str, int] = field(default_factory=lambda: dict[str, int]())
    bytes_read: int = 0
    turns: int = 0
    input_tokens: int = 0
    output_tokens: int = 0


class DelegationTimedOut(Exception):
    """Even the final answer did not come within --max-call-seconds."""

    def __init__(self, seconds: float, steps: int) -> None:
        super().__init__(f"no answer within {seconds:g} s after {steps} steps")
        self.seconds = seconds
        self.steps = steps


class Delegation:
    def __init__(
        self, state: AppState, assignment: Assignment, workspace: Workspace, progress: DelegateProgress
    ) -> None:
        self.state = state
        self.assignment = assignment
        self.workspace = workspace
        self.progress = progress
        self.budget = Budget(assignment.max_steps, assignment.max_bytes)
        scope = workspace.scope
        self.messages = [
            CompletionMessage(
                role="system", content=wire_safe(system_prompt(scope.describe(), scope.base, assignment.max_steps))
            ),
            CompletionMessage(role="user", content=wire_safe(assignment.task)),
        ]
        self.outcome = Outcome(final=_empty_choice(), stopped="finished", model_instance=assignment.model)
        # Calls already run, by tool and arguments: the step that ran them.
        self.seen: dict[tuple[str, str], int] = {}

    async def run(self) -> Outcome:
        limit = self.state.settings.max_call_seconds
        started = time.monotonic()
        answered: CompletionChoice | None = None
        stopped: StopReason = "time"
        with anyio.move_on_after(limit * EXPLORING_SHARE):
            stopped, answered = await self._explore(started + limit * EXPLORING_SHARE)
        if stopped == "time":
            self._close_open_calls()
        if answered is not None and self.assignment.json_schema is None:
            return self._finish(answered, stopped)
        await self.progress.answering(stopped)
        if answered is not None:
            self.messages.append(CompletionMessage(role="assistant", content=wire_safe(answered.message.content or "")))
        request = final_request(
            stopped,
            max_steps=self.assignment.max_steps,
            max_bytes=self.assignment.max_bytes,
            as_json=self.assignment.json_schema is not None,
        )
        self.messages.append(CompletionMessage(role="user", content=request))
        try:
            with anyio.fail_after(max(started + limit - time.monotonic(), 0.0)):
                final = await self._turn(tools=False, deadline=started + limit)
        except TimeoutError:
            raise DelegationTimedOut(limit, self.budget.steps) from None
        return self._finish(final, stopped)

    async def _explore(self, deadline: float) -> tuple[StopReason, CompletionChoice | None]:
        while True:
            choice = await self._turn(tools=True, deadline=deadline)
            calls = choice.message.tool_calls or []
            if not calls:
                return "finished", choice
            ids = [wire_safe(call.id) or f"call_{self.outcome.turns}_{n}" for n, call in enumerate(calls)]
            self._remember_calls(choice.message, calls, ids)
            for call_id, call in zip(ids, calls, strict=True):
                await self._call(call_id, call, deadline)
            stopped = self.budget.exhausted()
            if stopped is not None:
                return stopped, None

    async def _turn(self, *, tools: bool, deadline: float) -> CompletionChoice:
        assignment = self.assignment
        schema = assignment.json_schema
        request = CompletionRequest(
            model=assignment.model,
            messages=list(self.messages),
            max_tokens=assignment.max_output_tokens,
            reasoning_effort=assignment.reasoning_effort,
            tools=FUNCTION_TOOLS if tools else None,
            response_format=None if tools or schema is None else _answer_format(schema),
        )
        completion = await ask(self.state, request, self.progress, deadline)
        self._count(completion)
        return completion.choices[0] if completion.choices else _empty_choice()

    async def _call(self, call_id: str, call: CompletionToolCall, deadline: float) -> None:
        name, raw = call.function.name, call.function.arguments
        stopped = self.budget.exhausted()
        if stopped is not None:
            why = "the step limit is reached" if stopped == "max_steps" else "the reading budget is used up"
            self._answer_call(call_id, NOT_RUN.format(why=why))
            return
        self.budget.steps += 1
        given: dict[str, Any] | str = wire_safe(raw)
        try:
            arguments, parsed = read_arguments(name, raw)
        except BadCall as exc:
            result = ToolResult(str(exc), "bad call", ok=False)
        else:
            given = parsed
            result = await self._run_once(name, arguments, parsed, deadline)
        text = self.budget.take(wire_safe(result.text))
        size = len(text.encode("utf-8"))
        if result.file is not None:
            shown = wire_safe(result.file)
            self.outcome.files_read[shown] = self.outcome.files_read.get(shown, 0) + size
        self.outcome.steps.append(Step(wire_safe(name), given, size, result.summary, result.ok))
        self._answer_call(call_id, text)
        await self.progress.step(wire_safe(name), wire_safe(result.target), size, result.ok)

    async def _run_once(self, name: str, arguments: Arguments, given: dict[str, Any], deadline: float) -> ToolResult:
        """Run a call, unless the same call ran before: then say so (the model already has its result)."""
        key = (name, json.dumps(given, sort_keys=True))
        earlier = self.seen.get(key)
        if earlier is not None:
            return ToolResult(
                f"You already made this call (step {earlier}); its result is above. Use it, do something else, "
                "or answer.",
                f"repeat of step {earlier}",
                ok=False,
            )
        self.seen[key] = self.budget.steps
        return await self.workspace.run(arguments, self.budget.bytes_left, deadline - time.monotonic())

    def _remember_calls(
        self, message: CompletionChoiceMessage, calls: list[CompletionToolCall], ids: list[str]
    ) -> None:
        echoed = [
            RequestToolCall(
                id=call_id,
                function=CalledFunction(
                    name=wire_safe(call.function.name), arguments=wire_safe(call.function.arguments)
                ),
            )
            for call_id, call in zip(ids, calls, strict=True)
        ]
        self.messages.append(
            CompletionMessage(role="assistant", content=wire_safe(message.content or ""), tool_calls=echoed)
        )

    def _answer_call(self, call_id: str, text: str) -> None:
        self.messages.append(CompletionMessage(role="tool", content=text, tool_call_id=call_id))

    def _close_open_calls(self) -> None:
        """Time ran out between a turn's calls: the calls not run still get an answer, as the API requires."""
        for index in range(len(self.messages) - 1, -1, -1):
            message = self.messages[index]
            if message.role == "assistant" and message.tool_calls:
                answered = {m.tool_call_id for m in self.messages[index + 1 :]}
                for call in message.tool_calls:
                    if call.id not in answered:
                        self._answer_call(call.id, NOT_RUN.format(why="the time for exploring is up"))
                return

    def _count(self, completion: ChatCompletion) -> None:
        outcome = self.outcome
        outcome.turns += 1
        if completion.usage is not None:
            outcome.input_tokens += completion.usage.prompt_tokens
            outcome.output_tokens += completion.usage.completion_tokens
        if completion.model:
            outcome.model_instance = completion.model

    def _finish(self, final: CompletionChoice, stopped: StopReason) -> Outcome:
        self.outcome.final = final
        self.outcome.stopped = stopped
        self.outcome.bytes_read = self.budget.bytes_read
        return self.outcome


def _answer_format(schema: dict[str, Any]) -> ResponseFormat:
    return ResponseFormat(type="json_schema", json_schema=JsonSchemaFormat(name="answer", schema=schema, strict=True))


def _empty_choice() -> CompletionChoice:
    return CompletionChoice(message=CompletionChoiceMessage())
