"""A scripted model for tool loops on `/v1/chat/completions`: which function calls it makes, turn by turn.

Real models decide from the conversation; this one follows `SimulatorConfig.agent`. Each request offering
`tools` gets the next turn of the script, found from the conversation alone (the simulator keeps no state
between requests): the ids of the calls it made are `call_<turn>_<n>`, and the client sends them back.

- `turns`: the calls of each turn, in order (several in one turn are parallel calls);
- `forever`: after the last turn, repeat it for ever (a model that never stops calling tools);
- `obey_files`: a gullible model that, when a tool result says "read <path>", reads that path next, before
  going on with its script (a file that injects instructions);
- `answer`: the final answer once the script is done (else the usual deterministic reply words);
- `turn_seconds`: thinking time before each turn that calls tools.

A request without `tools`, or with `tool_choice: "none"`, always gets an answer.
"""

from __future__ import annotations

import json
import re
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any, cast

if TYPE_CHECKING:  # the config imports this module, and the state imports the config
    from lms_mcp.simulator.openai_tools import ToolChoice
    from lms_mcp.simulator.state import Message, ToolCall

# What the gullible model takes for an instruction: "read", then a path with a slash in it.
_INSTRUCTION = re.compile(r"(?i)\bread\s+(?:the\s+file\s+)?([\w.~/-]*/[^\s'\"`,;()]*)")
_OBEY_PREFIX = "call_obey_"


@dataclass(frozen=True)
class ScriptedCall:
    name: str
    # An object is sent as JSON; a string is sent as it is (e.g. broken JSON, for a model that garbles it).
    arguments: dict[str, Any] | str = field(default_factory=lambda: dict[str, Any]())

    def arguments_json(self) -> str:
        return self.arguments if isinstance(self.arguments, str) else json.dumps(self.arguments)


@dataclass
class AgentScript:
    turns: list[list[ScriptedCall]] = field(default_factory=lambda: list[list[ScriptedCall]]())
    forever: bool = False
    answer: str | None = None
    obey_files: bool = False
    turn_seconds: float = 0.0

    @classmethod
    def one_by_one(cls, *calls: ScriptedCall, **options: Any) -> AgentScript:
        """A script of one call per turn."""
        return cls(turns=[[call] for call in calls], **options)

    @classmethod
    def from_json(cls, data: dict[str, Any]) -> AgentScript:
        """From a JSON document: {"turns": [[{"name", "arguments"}, ...], ...], "forever", "answer", ...}."""
        turns = [[ScriptedCall(call["name"], call.get("arguments", {})) for call in turn] for turn in data["turns"]]
        options = {key: data[key] for key in ("forever", "answer", "obey_files", "turn_seconds") if key in data}
        return cls(turns=turns, **options)


@dataclass(frozen=True)
class PlannedCall:
    """A function call this turn makes, with the id the client must answer."""

    id: str
    name: str
    arguments: str

    def wire(self) -> dict[str, Any]:
        return {"id": self.id, "type": "function", "function": {"name": self.name, "arguments": self.arguments}}


def next_calls(script: AgentScript, messages: list[Message], offered: bool, choice: ToolChoice) -> list[PlannedCall]:
    """The calls of this turn; none means the model answers now."""
    if not offered or choice.mode == "none":
        return []
    made = [call for message in messages if message.role == "assistant" for call in message.tool_calls]
    if script.obey_files:
        obeyed = _instruction_to_obey(messages, made)
        if obeyed is not None:
            count = sum(call.id.startswith(_OBEY_PREFIX) for call in made)
            return [PlannedCall(f"{_OBEY_PREFIX}{count}", "read_file", json.dumps({"path": obeyed}))]
    turn = sum(
        1
        for message in messages
        if message.role == "assistant"
        and message.tool_calls
        and not all(call.id.startswith(_OBEY_PREFIX) for call in message.tool_calls)
    )
    calls = _scripted(script, turn, choice)
    if choice.forced is not None:
        calls = [c if c.name == choice.forced else ScriptedCall(choice.forced) for c in calls[:1]] or [
            ScriptedCall(choice.forced)
        ]
    return [PlannedCall(f"call_{turn}_{n}", call.name, call.arguments_json()) for n, call in enumerate(calls)]


def _scripted(script: AgentScript, turn: int, choice: ToolChoice) -> list[ScriptedCall]:
    if turn < len(script.turns):
        return script.turns[turn]
    if script.turns and (script.forever or choice.mode == "required"):
        return script.turns[-1]
    return []


def _instruction_to_obey(messages: list[Message], made: list[ToolCall]) -> str | None:
    """The first path a tool result told the model to read that it has not asked for yet."""
    asked = {_path_argument(call.arguments) for call in made if call.name == "read_file"}
    for message in messages:
        if message.role != "tool":
            continue
        for found in _INSTRUCTION.finditer(message.content):
            path = found.group(1).rstrip(".,;:!?)'\"`")
            if path not in asked:
                return path
    return None


def _path_argument(arguments: str) -> object:
    try:
        parsed: object = json.loads(arguments)
    except ValueError:
        return None
    return cast(dict[str, object], parsed).get("path") if isinstance(parsed, dict) else None
