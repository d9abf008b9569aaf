"""The `lms-mcp` command: serve MCP (stdio by default), or `lms-mcp simulate` to run the LM Studio simulator."""

from __future__ import annotations

import argparse
import gc
import logging
import os
import sys
from collections.abc import Sequence

from . import __version__
from .settings import OPTIONS, Settings, SettingsError, load_settings

logger = logging.getLogger("lms_mcp")

USAGE_EPILOG = """\
subcommands:
  lms-mcp doctor [flags]           check LM Studio, the token and the models; print host configs
  lms-mcp demo                     a tour of every tool against the built-in simulator
  lms-mcp simulate [--port PORT]   run the built-in LM Studio simulator (try lms-mcp without LM Studio)

environment variables (a flag wins over its variable):
{env_table}
"""


def _env_table() -> str:
    return "\n".join(f"  {option.env:<36} {option.help}" for option in OPTIONS)


def build_parser(prog: str = "lms-mcp") -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog=prog,
        description="MCP server for LM Studio: lets MCP hosts hand work to local models and manage them.",
        epilog=USAGE_EPILOG.format(env_table=_env_table()),
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    parser.add_argument("--version", action="version", version=f"lms-mcp {__version__}")
    for option in OPTIONS:
        if option.flag is None:
            continue
        help_text = f"{option.help} [env {option.env}]"
        if option.switch:
            parser.add_argument(option.flag, dest=option.field, action="store_const", const=True, help=help_text)
            continue
        parser.add_argument(
            option.flag,
            dest=option.field,
            metavar=option.metavar,
            choices=option.choices,
            action="append" if option.repeatable else "store",
            help=help_text,
        )
    return parser


def configure_logging(level: str) -> None:
    handler = logging.StreamHandler(sys.stderr)
    handler.setFormatter(logging.Formatter("%(asctime)s %(levelname)s %(name)s: %(message)s"))
    root = logging.getLogger()
    root.handlers[:] = [handler]
    root.setLevel(level)
    logging.getLogger("uvicorn.access").setLevel(logging.WARNING)


def serve(settings: Settings) -> None:
    from .server import build_server

    server = build_server(settings)
    # Everything built so far lives as long as the process: keep it out of every garbage collection
    # (a 1,000-model list_models otherwise pays for rescanning it).
    gc.collect()
    gc.freeze()
    logger.info("lms-mcp %s serving over %s; LM Studio at %s", __version__, settings.transport, settings.base_url)
    if settings.transport == "stdio":
        server.run("stdio")
        return
    from .serving import serve_http

    serve_http(server, settings)


def main(argv: Sequence[str] | None = None) -> int:
    args = list(sys.argv[1:] if argv is None else argv)
    if args[:1] == ["simulate"]:
        from .simulator.cli import main as simulate

        return simulate(args[1:])
    if args[:1] == ["demo"]:
        from .demo import run as demo

        configure_logging("WARNING")
        return demo()
    command = args[:1] if args[:1] == ["doctor"] else []
    parser = build_parser(" ".join(["lms-mcp", *command]))
    namespace = parser.parse_args(args[len(command) :])
    try:
        settings = load_settings(vars(namespace), os.environ)
    except SettingsError as exc:
        parser.error(str(exc))
    if command:
        from .doctor import run as doctor

        configure_logging("WARNING")
        return doctor(settings)
    configure_logging(settings.log_level)
    try:
        serve(settings)
    except KeyboardInterrupt:
        pass
    return 0
