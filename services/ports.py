"""The ports chequered listens on: bound here, once, with a clear error when they cannot be.

A server (the gateway, the ops endpoints) serves on a socket bound by :func:`listen` rather than binding the
port itself, so a port in use is one line naming the port and what to do, before anything has started; and
a supervisor can bind a port once and hand the same socket to each child it starts (restarts included), so no
other program can take the port in between.
"""

from __future__ import annotations

import errno
import socket


class ListenError(RuntimeError):
    """A port chequered was asked to listen on cannot be used; the message says which and what to do."""

    @classmethod
    def in_use(cls, what: str, host: str, port: int, option: str) -> ListenError:
        return cls(
            f"the {what} port {host}:{port} is already in use (another chequered serve, or another program): "
            f"stop what holds it, or choose another port with {option} (0 picks a free one)"
        )


class GatewayStartFailed(RuntimeError):
    """The gateway's server stopped while it was starting on its socket (the log says why)."""


def listen(host: str, port: int, what: str, option: str) -> socket.socket:
    """A listening TCP socket on ``host:port`` (port 0: any free one); ``what`` and ``option`` name the port and
    the command-line option that sets it in the error."""
    family = socket.AF_INET6 if ":" in host else socket.AF_INET
    sock = socket.socket(family, socket.SOCK_STREAM)
    sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)  # as servers do: a port in TIME_WAIT is free
    try:
        sock.bind((host, port))
        sock.listen(2048)
    except OSError as error:
        sock.close()
        if error.errno == errno.EADDRINUSE:
            raise ListenError.in_use(what, host, port, option) from None
        raise ListenError(f"cannot listen on {host}:{port} for the {what} ({error.strerror}): check {option}") from None
    return sock


def inherited(fd: int) -> socket.socket:
    """A listening socket handed down by the process that started this one (its file descriptor)."""
    return socket.socket(fileno=fd)


def address(sock: socket.socket) -> tuple[str, int]:
    host, port = sock.getsockname()[:2]
    return str(host), int(port)
