"""Which LM Studio integrations a chat may ask for: none, installed plugins, or MCP servers named per call.

A per-call ("ephemeral") MCP server is a URL LM Studio connects to on the caller's word, with the headers the
caller gives: whoever can call `chat` could point it at a cloud metadata address or a service on the
loopback interface. So such servers are off unless the operator allows them, for any host or listed hosts.
"""

from __future__ import annotations

import re
from dataclasses import dataclass

HOST = re.compile(r"^[A-Za-z0-9]([A-Za-z0-9.-]*[A-Za-z0-9])?$|^\[[0-9A-Fa-f:.]+\]$")


@dataclass(frozen=True)
class IntegrationPolicy:
    plugins: bool = True
    # Hosts per-call MCP servers may be at: () none, None any.
    server_hosts: tuple[str, ...] | None = ()

    @classmethod
    def parse(cls, value: str) -> IntegrationPolicy:
        """off | plugins | any | host[,host...] (plugins and servers at those hosts)."""
        word = value.strip().lower()
        if word in ("off", "plugins", "any"):
            return cls(plugins=word != "off", server_hosts=None if word == "any" else ())
        hosts = tuple(h.strip().lower() for h in word.split(",") if h.strip())
        bad = [h for h in hosts if not HOST.match(h)]
        if not hosts or bad:
            raise ValueError(f"must be off, plugins, any, or comma-separated host names, got {value!r}")
        return cls(plugins=True, server_hosts=hosts)

    def without_servers(self) -> IntegrationPolicy:
        return IntegrationPolicy(plugins=self.plugins, server_hosts=())

    @property
    def reaches_out(self) -> bool:
        """Whether a chat can reach beyond this machine: plugins such as a browser, or remote servers."""
        return self.plugins or self.server_hosts != ()

    def allows_host(self, host: str) -> bool:
        return self.server_hosts is None or host.lower() in self.server_hosts
