"""Benchmarks of lms-mcp against the LM Studio simulator: run `python -m bench` (see bench/README.md).

Kept empty on purpose: `python -m bench.floor_server` imports this package first, and the floor server's
cold start must not pay for anything but the MCP SDK.
"""
