"""`python -m lms_mcp.simulator`: run the simulator as a real server (later also `lms-mcp simulate`).

The CLI defaults are slower than the test defaults on purpose, so a person watching a client sees
load progress, a first-token delay and tokens arriving at a believable pace.
"""

from __future__ import annotations

import argparse
import json
import logging
import sys
from collections.abc import Sequence
from typing import get_args

from lms_mcp.simulator.agent_script import AgentScript
from lms_mcp.simulator.config import JsonMode, SimulatorConfig
from lms_mcp.simulator.profiles import DEFAULT_PROFILE, PROFILE_NAMES, profiles_help
from lms_mcp.simulator.serve import bind_socket, serve_forever
from lms_mcp.simulator.simulator import Simulator

logger = logging.getLogger("lms_mcp.simulator")


def add_arguments(parser: argparse.ArgumentParser) -> None:
    """The simulator's options, for this CLI and for a `simulate` subcommand elsewhere."""
    parser.add_argument(
        "--profile",
        choices=PROFILE_NAMES,
        default=DEFAULT_PROFILE,
        metavar="NAME",
        help="the LM Studio build to play, listed below (default: %(default)s)",
    )
    parser.add_argument("--host", default="127.0.0.1", help="address to bind (default: %(default)s)")
    parser.add_argument("--port", type=int, default=1234, help="port to listen on; 0 picks a free one (default: 1234)")
    parser.add_argument("--load-time", type=float, default=1.0, help="seconds a model load takes (default: 1.0)")
    parser.add_argument("--tokens-per-second", type=float, default=60.0, help="generation speed (default: 60)")
    parser.add_argument(
        "--time-to-first-token", type=float, default=0.2, help="prompt processing seconds (default: 0.2)"
    )
    parser.add_argument("--download-duration", type=float, default=10.0, help="seconds per download (default: 10)")
    parser.add_argument("--synthetic-models", type=int, default=0, help="extra generated models to list")
    parser.add_argument("--reply-tokens", type=int, default=12, help="words per reply (default: 12)")
    parser.add_argument(
        "--json-mode",
        choices=get_args(JsonMode),
        default="valid",
        help="structured answers of /v1/chat/completions: valid, cut-off JSON, or JSON breaking the schema",
    )
    parser.add_argument(
        "--agent-script",
        type=_agent_script,
        metavar="FILE",
        help="JSON file of the tool calls /v1/chat/completions makes when offered tools: "
        '{"turns": [[{"name": "list_files", "arguments": {"path": "."}}], ...], "forever": false, '
        '"answer": "...", "obey_files": false, "turn_seconds": 0}',
    )
    parser.add_argument(
        "--api-token",
        action="append",
        default=[],
        metavar="TOKEN",
        help="require this API token (sk-lm-xxxxxxxx:yyyyyyyyyyyyyyyyyyyy); repeatable",
    )


def config_from(args: argparse.Namespace) -> SimulatorConfig:
    return SimulatorConfig(
        profile=args.profile,
        load_time=args.load_time,
        tokens_per_second=args.tokens_per_second or None,
        time_to_first_token=args.time_to_first_token,
        download_duration=args.download_duration,
        synthetic_models=args.synthetic_models,
        reply_tokens=args.reply_tokens,
        api_tokens=list(args.api_token),
        json_mode=args.json_mode,
        agent=args.agent_script,
    )


def _agent_script(path: str) -> AgentScript:
    try:
        with open(path, encoding="utf-8") as file:
            return AgentScript.from_json(json.load(file))
    except (OSError, ValueError, KeyError, TypeError) as exc:
        raise argparse.ArgumentTypeError(f"cannot read an agent script from {path}: {exc}") from None


def run(args: argparse.Namespace) -> int:
    simulator = Simulator(config_from(args))
    try:
        sock = bind_socket(args.host, args.port)
    except OSError as exc:
        logger.error("cannot listen on %s:%s: %s", args.host, args.port, exc)
        return 1
    host, port = sock.getsockname()[:2]
    logger.info("LM Studio simulator (profile %s) listening on http://%s:%s", args.profile, host, port)
    serve_forever(simulator.app, sock)
    return 0


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(
        prog="python -m lms_mcp.simulator",
        description="Simulated LM Studio server.",
        epilog=f"profiles (--profile): real LM Studio builds, as reported\n{profiles_help()}",
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    add_arguments(parser)
    args = parser.parse_args(argv)
    logging.basicConfig(stream=sys.stderr, level=logging.INFO, format="%(message)s")
    return run(args)
