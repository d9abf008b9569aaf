"""Named HTTP clients: `name:token` pairs, parsed without ever repeating a token or a name in an error."""

from __future__ import annotations

import re
from dataclasses import dataclass, field

# What a client name may be made of: it shows in the access log, so nothing that needs quoting.
CLIENT_NAME = re.compile(r"[A-Za-z0-9._-]+")
# The client that the single `--http-token` stands for.
DEFAULT_CLIENT = "default"


@dataclass(frozen=True)
class ClientToken:
    name: str
    token: str = field(repr=False)


def parse_client_tokens(value: str) -> tuple[ClientToken, ...]:
    """`alice:token1,bob:token2`; a token is everything after the first ':'. A name may have several tokens."""
    entries = [part.strip() for part in value.split(",") if part.strip()]
    if not entries:
        raise ValueError("must be comma-separated name:token pairs, got none")
    clients = tuple(_entry(number, entry) for number, entry in enumerate(entries, 1))
    seen: dict[str, int] = {}
    for number, client in enumerate(clients, 1):
        if client.token in seen:
            raise ValueError(f"entries {seen[client.token]} and {number} have the same token; give each its own")
        seen[client.token] = number
    return clients


def _entry(number: int, entry: str) -> ClientToken:
    name, colon, token = entry.partition(":")
    name, token = name.strip(), token.strip()
    if not colon or not token:
        raise ValueError(f"entry {number} is not name:token (the token is everything after the first ':')")
    if not CLIENT_NAME.fullmatch(name):
        raise ValueError(f"entry {number}: a client name is made of letters, digits, '.', '_' and '-' only")
    return ClientToken(name, token)


def all_clients(named: tuple[ClientToken, ...], single_token: str | None) -> tuple[ClientToken, ...]:
    """The named clients, and the single token as the client `default` (unless it is one of theirs)."""
    if single_token is None or any(client.token == single_token for client in named):
        return named
    return (*named, ClientToken(DEFAULT_CLIENT, single_token))
