# codex-relay: one image for the web app and the workers.
FROM python:3.11-slim-bookworm

# bubblewrap: the worker's turn sandbox (the Codex package ships one too; Debian's is
# the common case, and the one CI tests).
RUN apt-get update \
 && apt-get install -y --no-install-recommends nodejs npm bubblewrap \
 && rm -rf /var/lib/apt/lists/*

WORKDIR /app
COPY pyproject.toml README.md ./
COPY relay relay
COPY bootstrap bootstrap
COPY blueprints blueprints
COPY mcp_tools mcp_tools
COPY cli cli
COPY devmodel devmodel
COPY static static
# The pinned Codex CLI (npm ships the native binary for this platform);
# install-codex prints "Codex CLI <version> at <path>".
RUN pip install --no-cache-dir . \
 && codex-relay install-codex --prefix /opt/codex-cli > /tmp/codex.txt \
 && ln -s "$(awk '{print $NF}' /tmp/codex.txt)" /usr/local/bin/codex \
 && codex --version

ENV CODEX_RELAY_CODEX_BIN=/usr/local/bin/codex \
    CODEX_RELAY_WORK_DIR=/var/lib/codex-relay \
    PYTHONUNBUFFERED=1

RUN useradd --create-home --uid 10001 relay \
 && mkdir -p /var/lib/codex-relay /runs && chown relay /var/lib/codex-relay /runs
USER relay
EXPOSE 8000
# The web server: gunicorn's gevent worker, one process per core; each holds up to
# CODEX_RELAY_WEB_CONNECTIONS open connections. Name your host app in CODEX_RELAY_WEB_APP
# (the command refuses to start without one); workers run `codex-relay worker` instead.
ENV CODEX_RELAY_WEB_WORKERS=2 \
    CODEX_RELAY_WEB_WORKER_CLASS=gevent \
    CODEX_RELAY_WEB_CONNECTIONS=10000
CMD ["codex-relay", "web", "--bind", "0.0.0.0:8000"]
