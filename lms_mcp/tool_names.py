"""The tool names, kept apart from the tools so settings can validate them without importing the SDK."""

CORE_TOOLS = ("chat", "list_models", "load_model", "unload_model", "download_model", "download_status")
TOOL_NAMES = (*CORE_TOOLS, "embed", "list_sessions", "reset_session", "delegate")
# What --read-only turns off: everything that changes which models LM Studio has or holds.
MODEL_CHANGING_TOOLS = ("load_model", "unload_model", "download_model")
