"""`python -m lms_mcp.simulator --port 1234`."""

from lms_mcp.simulator.cli import main

raise SystemExit(main())
