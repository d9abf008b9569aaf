"""A stand-in LM Studio REST server (native v1 API) for tests and demos, faithful to its quirks.

Typical use: `with serve_in_thread(Simulator(SimulatorConfig(reply_tokens=5))) as url: ...`, then talk to `url`
over real HTTP, inspect `sim.requests`, and script failures with `sim.inject("http_500")`.
"""

from lms_mcp.simulator.catalog import Downloadable, LoadedInstance, ModelEntry, Reasoning
from lms_mcp.simulator.config import SimulatorConfig
from lms_mcp.simulator.faults import Fault, FaultKind
from lms_mcp.simulator.generation import reasoning_text, reply_text, user_text_of
from lms_mcp.simulator.recording import RequestRecord
from lms_mcp.simulator.serve import serve_in_thread
from lms_mcp.simulator.simulator import Simulator

__all__ = [
    "Downloadable",
    "Fault",
    "FaultKind",
    "LoadedInstance",
    "ModelEntry",
    "Reasoning",
    "RequestRecord",
    "Simulator",
    "SimulatorConfig",
    "reasoning_text",
    "reply_text",
    "serve_in_thread",
    "user_text_of",
]
