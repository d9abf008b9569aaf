import sys

# Absolute, so this file also runs as a script (an MCP bundle's entry point).
from lms_mcp.cli import main

sys.exit(main())
