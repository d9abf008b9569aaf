"""One lms-mcp for several people: named clients, and what each tool call owes to the others.

`tokens` (the `name:token` pairs), `identity` (who is calling, for the length of one tool call),
`fairness` (waiting work served round-robin across clients), `rate` (calls per minute per client),
`access_log` (one JSON line per call, without content), `calls` (all of it around each tool call).
The HTTP side, where a token becomes a client name, is `lms_mcp.serving.guards`.
"""
