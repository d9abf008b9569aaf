"""A stand-in LM Studio REST server for tests and demos, faithful to its quirks.

Routes: the native v1 API (`/api/v1/chat`, `/api/v1/models`, load, unload, download, download status), strict
like LM Studio's; and the lenient OpenAI-compatible `GET /v1/models`, `POST /v1/embeddings` and
`POST /v1/chat/completions`. The last one is there for structured output: with a `json_schema`
`response_format` it answers a deterministic JSON document that validates against the schema, or, with
`SimulatorConfig.json_mode` set to "invalid_json" or "schema_violation", one that does not. With `tools`, it
plays a model in a tool loop: `SimulatorConfig.agent` (an `AgentScript`) says which calls it makes, turn by turn.

Typical use: `with serve_in_thread(Simulator(SimulatorConfig(reply_tokens=5))) as url: ...`, then talk to `url`
over real HTTP, inspect `sim.requests`, and script failures with `sim.inject("http_500")`.

Real LM Studio builds differ from the docs and from each other; `Simulator(profile="0.4.10")` (or
`SimulatorConfig(profile=...)`, or `sim.config.profile = ...` while it runs) plays one of PROFILE_NAMES. The
default is "latest". See profiles.py for what each build does differently and where that is reported.
"""

from lms_mcp.simulator.agent_script import AgentScript, ScriptedCall
from lms_mcp.simulator.catalog import Downloadable, LoadedInstance, ModelEntry, Reasoning
from lms_mcp.simulator.config import JsonMode, SimulatorConfig
from lms_mcp.simulator.faults import Fault, FaultKind
from lms_mcp.simulator.generation import reasoning_text, reply_text, user_text_of
from lms_mcp.simulator.profiles import DEFAULT_PROFILE, PROFILE_NAMES, PROFILES, Profile
from lms_mcp.simulator.recording import RequestRecord
from lms_mcp.simulator.serve import serve_in_thread
from lms_mcp.simulator.simulator import Simulator

__all__ = [
    "DEFAULT_PROFILE",
    "PROFILES",
    "PROFILE_NAMES",
    "AgentScript",
    "Downloadable",
    "Fault",
    "FaultKind",
    "JsonMode",
    "LoadedInstance",
    "ModelEntry",
    "Profile",
    "Reasoning",
    "RequestRecord",
    "ScriptedCall",
    "Simulator",
    "SimulatorConfig",
    "reasoning_text",
    "reply_text",
    "serve_in_thread",
    "user_text_of",
]
