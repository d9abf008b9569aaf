"""`delegate`'s agent: a local model explores files with read-only tools that lms-mcp runs, then answers.

- scope.py: the paths a task may explore, checked by spelling and again by real path;
- walk.py, workspace_tools.py, matcher.py: list_files, read_file and search_files (regular expressions run
  in a child process that is killed when it runs too long);
- tool_specs.py: the function tools as the model sees them, and how their arguments are read;
- loop.py, turns.py: the loop over LM Studio's /v1/chat/completions, one prediction slot per model turn;
- budget.py, progress.py, prompts.py: the bounds, what the host is told, what the model is told.

This package knows nothing of MCP: the tool in lms_mcp/tools/delegate.py turns its outcome into a result.
Only the light parts load with the package; the loop and the file tools (`loop`, `workspace_tools`) are
imported where a delegation runs, so a server start does not pay for them.
"""

from .budget import StopReason
from .progress import DelegateProgress
from .scope import Scope

__all__ = ["DelegateProgress", "Scope", "StopReason"]
