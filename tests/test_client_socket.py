"""Noticing that an event-stream client went away, without writing to it."""

from __future__ import annotations

import socket

from blueprints.client_socket import disconnect_probe


def test_the_probe_tells_a_waiting_client_from_a_closed_one():
    a, b = socket.socketpair()
    probe = disconnect_probe({"gunicorn.socket": a})
    assert probe is not None
    assert probe() is True
    assert probe() is True  # asking does not consume anything
    b.close()
    assert probe() is False
    a.close()
    assert probe() is False
    assert disconnect_probe({}) is None
