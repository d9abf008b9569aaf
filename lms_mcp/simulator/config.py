"""The simulator's knobs. Tests may change any field while the simulator runs; handlers read them per request."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Literal

from lms_mcp.simulator.agent_script import AgentScript
from lms_mcp.simulator.catalog import Downloadable, ModelEntry, default_catalog, default_downloadable
from lms_mcp.simulator.profiles import DEFAULT_PROFILE, Profile, profile_named

# How /v1/chat/completions answers a json_schema response_format: a document that validates (what LM Studio's
# grammar-constrained sampling guarantees), JSON cut off halfway, or JSON that parses but breaks the schema.
JsonMode = Literal["valid", "invalid_json", "schema_violation"]


@dataclass
class SimulatorConfig:
    # Which LM Studio build to play (profiles.PROFILE_NAMES); may be switched while the simulator runs.
    profile: str = DEFAULT_PROFILE
    catalog: list[ModelEntry] = field(default_factory=default_catalog)
    downloadable: list[Downloadable] = field(default_factory=default_downloadable)
    # Extra generated LLM entries appended to the catalog, for tests of many models.
    synthetic_models: int = 0
    reply_tokens: int = 12
    reasoning_tokens: int = 8
    time_to_first_token: float = 0.0
    # None means "as fast as possible"; a number paces every token in real time.
    tokens_per_second: float | None = None
    load_time: float = 0.05
    download_duration: float = 1.0
    download_fails: bool = False
    prompt_progress_steps: int = 2
    load_progress_steps: int = 2
    jit: bool = True
    # LM Studio's "Only Keep Last JIT Loaded Model" (on by default) and the JIT idle TTL (60 min by default).
    auto_evict: bool = True
    jit_ttl: float | None = 3600.0
    # Non-empty means "Require Authentication" is on and these are the valid tokens.
    api_tokens: list[str] = field(default_factory=lambda: list[str]())
    allow_ephemeral_mcp: bool = False
    allow_mcp_json: bool = False
    json_mode: JsonMode = "valid"
    # The function calls /v1/chat/completions makes when a request offers tools (agent_script.py); None: it
    # answers at once, like a model that never uses its tools.
    agent: AgentScript | None = None

    def __post_init__(self) -> None:
        profile_named(self.profile)

    @property
    def build(self) -> Profile:
        """The behaviour of the profile being played."""
        return profile_named(self.profile)
