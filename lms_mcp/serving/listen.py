"""The listening socket, made the same way on every platform, and a clear message when it cannot be made."""

from __future__ import annotations

import errno
import ipaddress
import logging
import socket
import sys

logger = logging.getLogger(__name__)

# (level, option, value), by name: the plan for one platform can be checked on any other.
SocketOption = tuple[str, str, int]

# Windows socket error codes (socket errors there carry these, not the C library's errno values).
WSAEACCES = 10013
WSAEADDRINUSE = 10048
WSAEADDRNOTAVAIL = 10049


class ListenError(Exception):
    """The server cannot listen where it was asked to; the message says what to pass instead."""


def socket_options(host: str, platform: str = sys.platform) -> list[SocketOption]:
    options: list[SocketOption] = []
    if platform == "win32":
        # There SO_REUSEADDR would let a second server bind a port already in use; exclusive use refuses.
        options.append(("SOL_SOCKET", "SO_EXCLUSIVEADDRUSE", 1))
    elif platform != "cygwin":
        # Elsewhere it only lets a restarted server take back a port its old connections still hold.
        options.append(("SOL_SOCKET", "SO_REUSEADDR", 1))
    if _is_unspecified_ipv6(host):
        # `::` takes IPv4 connections too; Windows and the BSDs default to IPv6 only.
        options.append(("IPPROTO_IPV6", "IPV6_V6ONLY", 0))
    return options


def _is_unspecified_ipv6(host: str) -> bool:
    try:
        address = ipaddress.ip_address(host)
    except ValueError:
        return False
    return address.version == 6 and address.is_unspecified


def listening_socket(host: str, port: int, backlog: int) -> socket.socket:
    """A TCP socket made with IPPROTO_TCP, so asyncio sets TCP_NODELAY on accepted connections."""
    family = socket.AF_INET6 if ":" in host else socket.AF_INET
    try:
        sock = socket.socket(family, socket.SOCK_STREAM, socket.IPPROTO_TCP)
    except OSError as exc:
        raise ListenError(f"cannot listen on {host}: {exc.strerror or exc}; pass --host 127.0.0.1") from None
    try:
        for level, name, value in socket_options(host):
            sock.setsockopt(getattr(socket, level), getattr(socket, name), value)
        sock.bind((host, port))
        sock.listen(backlog)
    except OSError as exc:
        sock.close()
        raise ListenError(_explain(exc, host, port)) from None
    return sock


def _explain(exc: OSError, host: str, port: int) -> str:
    if exc.errno in (errno.EADDRINUSE, WSAEADDRINUSE) or (sys.platform == "win32" and exc.errno == WSAEACCES):
        return (
            f"port {port} on {host} is already in use (or reserved); pass --port with a free port, "
            "or stop the server using it"
        )
    if exc.errno == errno.EACCES:
        why = " (ports below 1024 need privileges)" if port < 1024 else ""
        return f"not allowed to listen on {host} port {port}{why}; pass --port with another port"
    if exc.errno in (errno.EADDRNOTAVAIL, WSAEADDRNOTAVAIL):
        return f"{host} is not an address of this machine; pass --host with one of its addresses, such as 127.0.0.1"
    return f"cannot listen on {host} port {port}: {exc.strerror or exc}; check --host and --port"


def raise_open_file_limit(wanted: int) -> int | None:
    """Raise the soft open-file limit toward `wanted` (within the hard limit); the soft limit now, or None."""
    if sys.platform == "win32":
        return None  # sockets are not counted against a per-process limit there
    import resource

    soft, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
    target = wanted if hard == resource.RLIM_INFINITY else min(wanted, hard)
    if soft == resource.RLIM_INFINITY or soft >= target:
        return None if soft == resource.RLIM_INFINITY else soft
    try:
        resource.setrlimit(resource.RLIMIT_NOFILE, (target, hard))
    except (OSError, ValueError) as exc:
        logger.debug("could not raise the open-file limit from %d to %d: %s", soft, target, exc)
        return soft
    return target
