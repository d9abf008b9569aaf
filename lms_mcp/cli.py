"""The `lms-mcp` command: serve MCP (stdio by default), or run one of the subcommands doctor, demo, simulate.

Keep this module light: `lms-mcp --help` and a bad setting must answer without importing the SDK or the
HTTP stack (each subcommand imports what it needs when it runs).
"""

from __future__ import annotations

import argparse
import errno
import gc
import logging
import os
import signal
import sys
from collections.abc import Callable, Sequence
from types import FrameType
from typing import Any

from . import __version__
from .settings import OPTIONS, Settings, SettingsError, load_settings
from .urls import display_url, redact_urls

logger = logging.getLogger("lms_mcp")

USAGE = "%(prog)s [options]   (serve MCP; stdio unless --transport)\n       %(prog)s {doctor,demo,simulate} ..."
DESCRIPTION = "MCP server for LM Studio: lets MCP hosts hand work to local models and manage them."
ENV_EPILOG = "environment variables (a flag wins over its variable):\n{env_table}\n"

# Shown when a person starts the server by hand: otherwise it would just sit there in silence.
TERMINAL_NOTE = """\
lms-mcp is an MCP server: an MCP host (Claude Desktop, Claude Code, Cursor, VS Code, Codex...) starts it
and talks to it over stdin and stdout, so here it only waits. To try it yourself:
  lms-mcp doctor   check LM Studio and print the config that adds lms-mcp to your MCP host
  lms-mcp demo     a tour of every tool against the built-in simulator (no LM Studio needed)
  lms-mcp --help   every setting
Press Ctrl-C to quit.
"""


def _env_table() -> str:
    return "\n".join(f"  {option.env:<36} {option.help}" for option in OPTIONS)


def _add_setting_flags(parser: argparse.ArgumentParser, default: Any) -> None:
    for option in OPTIONS:
        if option.flag is None:
            continue
        help_text = f"{option.help} [env {option.env}]"
        if option.switch:
            parser.add_argument(
                option.flag, dest=option.field, action="store_const", const=True, default=default, help=help_text
            )
            continue
        parser.add_argument(
            option.flag,
            dest=option.field,
            metavar=option.metavar,
            choices=option.choices,
            action="append" if option.repeatable else "store",
            default=default,
            help=help_text,
        )


def _add_commands(parser: argparse.ArgumentParser, with_simulator: bool) -> None:
    commands = parser.add_subparsers(
        dest="command", metavar="COMMAND", title="commands (default: serve MCP)", prog=parser.prog
    )
    doctor = commands.add_parser(
        "doctor",
        help="check LM Studio, the token and the models; print the config for each MCP host",
        description="Check the setup against LM Studio, then print ready-to-paste MCP host configs. It reads "
        "the same settings as the server (flags and environment variables; see lms-mcp --help).",
    )
    # SUPPRESS: a flag given before the subcommand (`lms-mcp --base-url URL doctor`) keeps its value.
    _add_setting_flags(doctor, argparse.SUPPRESS)
    commands.add_parser(
        "demo",
        help="a tour of every tool against the built-in LM Studio simulator (no LM Studio needed)",
        description="Start the built-in LM Studio simulator and call every lms-mcp tool against it.",
    )
    simulate = commands.add_parser(
        "simulate",
        help="run the built-in LM Studio simulator (try lms-mcp without LM Studio)",
        description="Serve a simulated LM Studio REST API, by default at http://127.0.0.1:1234.",
    )
    if with_simulator:
        # Only when simulating: the simulator's modules are not light.
        from .simulator.cli import add_arguments
        from .simulator.profiles import profiles_help

        add_arguments(simulate)
        simulate.epilog = f"profiles (--profile): real LM Studio builds, as reported\n{profiles_help()}"
        simulate.formatter_class = argparse.RawDescriptionHelpFormatter


def build_parser(prog: str = "lms-mcp", *, with_simulator: bool = False) -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog=prog,
        usage=USAGE,
        description=DESCRIPTION,
        epilog=ENV_EPILOG.format(env_table=_env_table()),
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    parser.add_argument("--version", action="version", version=f"lms-mcp {__version__}")
    _add_setting_flags(parser, None)
    _add_commands(parser, with_simulator)
    return parser


class RedactingFormatter(logging.Formatter):
    """Log lines with URL credentials replaced, whichever library wrote them (httpx2 logs request URLs)."""

    def format(self, record: logging.LogRecord) -> str:
        return redact_urls(super().format(record))


def configure_logging(level: str, fmt: str = "%(asctime)s %(levelname)s %(name)s: %(message)s") -> None:
    handler = logging.StreamHandler(sys.stderr)
    handler.setFormatter(RedactingFormatter(fmt))
    root = logging.getLogger()
    root.handlers[:] = [handler]
    root.setLevel(level)
    logging.getLogger("uvicorn.access").setLevel(logging.WARNING)


def _quit(_signum: int, _frame: FrameType | None) -> None:
    # At once, whatever is running: the SDK's stdio reader blocks in a thread that Ctrl-C cannot wake.
    os._exit(130)


def serve(settings: Settings) -> None:
    signal.signal(signal.SIGINT, _quit)
    if settings.transport == "stdio" and sys.stdin is not None and sys.stdin.isatty():
        sys.stderr.write(TERMINAL_NOTE)
        sys.stderr.flush()
    from .server import build_server

    server = build_server(settings)
    # Everything built so far lives as long as the process: keep it out of every garbage collection
    # (a 1,000-model list_models otherwise pays for rescanning it).
    gc.collect()
    gc.freeze()
    url = display_url(settings.base_url)
    logger.info("lms-mcp %s serving over %s; LM Studio at %s", __version__, settings.transport, url)
    if settings.transport == "stdio":
        server.run("stdio")
        return
    from .serving import serve_http

    serve_http(server, settings)


def _while_stdout_is_read(run: Callable[[], int]) -> int:
    """`run()`, ending quietly when the reader of stdout goes away (`lms-mcp doctor | head`)."""
    try:
        code = run()
        sys.stdout.flush()
    except OSError as exc:
        # Windows reports a pipe closed by its reader as EINVAL rather than EPIPE.
        if exc.errno not in (errno.EPIPE, errno.EINVAL):
            raise
        # Point stdout at nothing, or the interpreter's last flush fails again on the way out.
        os.dup2(os.open(os.devnull, os.O_WRONLY), sys.stdout.fileno())
        return 1
    return code


def _run(parser: argparse.ArgumentParser, namespace: argparse.Namespace) -> int:
    if namespace.command == "simulate":
        from .simulator.cli import run as simulate

        configure_logging("INFO", "%(message)s")
        return simulate(namespace)
    if namespace.command == "demo":
        from .demo import run as demo

        configure_logging("WARNING")
        return _while_stdout_is_read(demo)
    try:
        settings = load_settings(vars(namespace), os.environ)
    except SettingsError as exc:
        # The reason alone: the whole usage block would bury it.
        print(f"{parser.prog}: error: {exc}", file=sys.stderr)
        return 2
    if namespace.command == "doctor":
        from .doctor import run as doctor

        configure_logging("WARNING")
        return _while_stdout_is_read(lambda: doctor(settings))
    configure_logging(settings.log_level)
    serve(settings)
    return 0


def main(argv: Sequence[str] | None = None) -> int:
    args = list(sys.argv[1:] if argv is None else argv)
    parser = build_parser(with_simulator="simulate" in args)
    namespace = parser.parse_args(args)
    try:
        return _run(parser, namespace)
    except KeyboardInterrupt:
        return 130
