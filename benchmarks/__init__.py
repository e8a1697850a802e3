"""Benchmarks of codex-relay (issue 2), against baselines measured in the same run.

- :mod:`benchmarks.publish_throughput`: parse + normalise + publish throughput of
  recorded Codex output into a real Redis, vs a naive relay (stdlib ``json``, one
  ``XADD`` + one ``PUBLISH`` per event);
- :mod:`benchmarks.turn_overhead`: what a turn through the RQ worker and the event
  log adds to running the same ``codex exec`` directly.

``python -m benchmarks`` runs them all; ``python -m benchmarks.<name>`` runs one.
They print figures, ratios and the issue's targets; they never fail on a figure.
"""
