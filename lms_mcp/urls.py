"""LM Studio addresses: normalising, loopback checks and display. Standard library only, so settings and
`lms-mcp --help` load without the HTTP stack."""

from __future__ import annotations

import ipaddress
import re
from urllib.parse import urlsplit, urlunsplit

DEFAULT_BASE_URL = "http://127.0.0.1:1234"
_API_SUFFIXES = ("/api/v1", "/api/v0", "/v1")
# A refused connection to a closed loopback port takes about 2 s on Windows (it retries the SYN), so a
# shorter connect timeout would report a missing LM Studio as a timeout rather than as not running.
LOOPBACK_CONNECT_FLOOR = 3.0
# Everything between "://" and the last "@" before the path: a password may hold a raw "@".
_USERINFO = re.compile(r"(?<=://)[^/\s]*@")


def normalize_base_url(url: str) -> str:
    """`http://host:1234`, whether the user wrote it with a trailing `/`, `/v1` or `/api/v1` or not."""
    url = url.strip().rstrip("/")
    for suffix in _API_SUFFIXES:
        if url.endswith(suffix):
            url = url[: -len(suffix)]
            break
    return url.rstrip("/")


def is_loopback_host(host: str) -> bool:
    """`localhost` or a loopback address (brackets around IPv6 allowed)."""
    if host == "localhost":
        return True
    try:
        return ipaddress.ip_address(host.strip("[]")).is_loopback
    except ValueError:
        return False


def is_loopback_url(url: str) -> bool:
    return is_loopback_host(urlsplit(url).hostname or "")


def display_url(url: str, mask: str = "***") -> str:
    """The URL as it may be shown (logs, error texts, doctor): a user name and password become `mask`."""
    parts = urlsplit(url)
    if "@" not in parts.netloc:
        return url
    host = parts.netloc.rsplit("@", 1)[1]
    return urlunsplit(parts._replace(netloc=f"{mask}@{host}"))


def redact_urls(text: str) -> str:
    """`text` with the credentials of every URL in it replaced by `***` (for log lines of other libraries)."""
    return _USERINFO.sub("***@", text)


def connect_timeout_for(url: str, seconds: float) -> float:
    """The connect timeout to use for `url`: at least LOOPBACK_CONNECT_FLOOR on a loopback address."""
    return max(seconds, LOOPBACK_CONNECT_FLOOR) if is_loopback_url(url) else seconds
