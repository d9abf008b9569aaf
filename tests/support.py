"""Small helpers shared by the tests."""

from collections.abc import Callable

import anyio
from mcp.types import CallToolResult, TextContent


async def wait_for(condition: Callable[[], bool], seconds: float = 5.0, step: float = 0.01) -> None:
    """Poll until `condition()` holds (for state another process or thread changes); fail after `seconds`."""
    with anyio.fail_after(seconds):
        for _ in range(int(seconds / step) + 1):
            if condition():
                return
            await anyio.sleep(step)


def text_of(result: CallToolResult) -> str:
    block = result.content[0]
    assert isinstance(block, TextContent)
    return block.text
