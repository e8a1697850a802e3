"""Noticing that an event-stream client went away, without writing to it.

A WSGI server learns that a client closed its connection only when a write
fails, and an idle event stream writes only a heartbeat every 15 s. The
per-user stream cap needs the slot back sooner, so the event fan-out asks a
probe about once a second: a non-blocking ``recv(MSG_PEEK)`` on the client's
socket. A client of an event stream sends nothing after its request, so
end-of-file (or a reset) means it has gone; no data means it is still there.

The socket comes from the server's WSGI environ (gunicorn:
``gunicorn.socket``; Werkzeug's development server: ``werkzeug.socket``).
The probe wraps its file descriptor in a plain ``_socket.socket`` each time
(never gevent's socket, which would wait instead of answering, and never
changing the descriptor's blocking mode, which the server relies on), and
detaches it again so the server's socket stays the only owner.
"""

from __future__ import annotations

import _socket
import socket
from collections.abc import Callable, Mapping
from typing import Any

__all__ = ["disconnect_probe"]

_ENVIRON_KEYS = ("gunicorn.socket", "werkzeug.socket")
_PEEK = socket.MSG_PEEK | socket.MSG_DONTWAIT


def disconnect_probe(environ: Mapping[str, Any]) -> Callable[[], bool] | None:
    """A ``connected()`` probe for the request's client socket (``None``: no socket known)."""
    for key in _ENVIRON_KEYS:
        sock = environ.get(key)
        if sock is not None and hasattr(sock, "fileno"):
            try:
                fd = sock.fileno()
            except OSError:
                continue
            if fd >= 0:
                return lambda: _still_connected(sock)
    return None


def _still_connected(sock: Any) -> bool:
    try:
        fd = sock.fileno()
    except OSError:
        return False
    if fd < 0:
        return False
    if _socket.getdefaulttimeout() is not None:
        # Wrapping the descriptor would make it non-blocking under the server's feet.
        return True
    peek = _socket.socket(fileno=fd)
    try:
        return bool(peek.recv(1, _PEEK))
    except BlockingIOError:
        return True  # nothing to read: the client is waiting for events
    except OSError:
        return False  # reset, or the server closed the socket
    finally:
        peek.detach()
