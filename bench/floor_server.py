"""The SDK's floor: a bare `MCPServer` with one trivial async tool, served exactly like lms-mcp.

`python -m bench.floor_server` serves stdio; `python -m bench.floor_server --transport http --port P` serves
Streamable HTTP at /mcp through uvicorn on an IPPROTO_TCP socket, as `lms-mcp --transport http` does.
Everything lms-mcp adds on top of this server (its tools, LM Studio client, pydantic models) is the bridge's
own cost; what this server costs is the least any mcp 2.3 server can cost.
"""

from __future__ import annotations

import argparse
from collections.abc import Sequence
from typing import Any

from mcp.server.mcpserver import MCPServer
from pydantic import BaseModel


class Pong(BaseModel):
    ok: bool
    echo: str


class Fetched(BaseModel):
    status: int
    size: int


def build_server() -> MCPServer:
    # INFO is lms-mcp's default level too; the SDK logs nothing per call at INFO.
    server = MCPServer("bench-floor", log_level="INFO")

    @server.tool()
    async def ping(text: str = "") -> Pong:  # pyright: ignore[reportUnusedFunction]
        """Answer at once: the cost of a tool call with no work in it."""
        return Pong(ok=True, echo=text)

    clients: list[Any] = []

    @server.tool()
    async def fetch(url: str) -> Fetched:  # pyright: ignore[reportUnusedFunction]
        """GET `url` with one pooled httpx2 client, as lms-mcp does, and return only its size.

        The least any bridge must do per call: the MCP floor plus one upstream request, with no parsing.
        """
        import httpx2

        if not clients:
            clients.append(httpx2.AsyncClient(verify=False, trust_env=False))
        http: httpx2.AsyncClient = clients[0]
        response = await http.get(url)
        return Fetched(status=response.status_code, size=len(response.content))

    return server


def serve_http(server: MCPServer, host: str, port: int) -> None:
    # Imported here, as lms-mcp does, so a stdio floor does not pay for uvicorn.
    import socket

    import anyio
    import uvicorn
    from mcp.server.transport_security import TransportSecuritySettings

    security = TransportSecuritySettings(
        enable_dns_rebinding_protection=True,
        allowed_hosts=["127.0.0.1:*", "localhost:*"],
        allowed_origins=["http://127.0.0.1:*", "http://localhost:*"],
    )
    app = server.streamable_http_app(transport_security=security, host=host)
    sock = socket.socket(socket.AF_INET, socket.SOCK_STREAM, socket.IPPROTO_TCP)
    sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    sock.bind((host, port))
    sock.listen(128)
    config = uvicorn.Config(app, log_level="info", access_log=False, log_config=None)
    anyio.run(uvicorn.Server(config).serve, [sock])


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m bench.floor_server", description=__doc__)
    parser.add_argument("--transport", choices=["stdio", "http"], default="stdio")
    parser.add_argument("--host", default="127.0.0.1")
    parser.add_argument("--port", type=int, default=8766)
    args = parser.parse_args(argv)
    server = build_server()
    try:
        if args.transport == "stdio":
            server.run("stdio")
        else:
            serve_http(server, args.host, args.port)
    except KeyboardInterrupt:
        pass
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
