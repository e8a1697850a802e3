# codex-relay: one image for the web app and the workers.
FROM python:3.11-slim-bookworm

RUN apt-get update \
 && apt-get install -y --no-install-recommends nodejs npm \
 && rm -rf /var/lib/apt/lists/*

WORKDIR /app
COPY pyproject.toml README.md ./
COPY relay relay
COPY bootstrap bootstrap
COPY blueprints blueprints
COPY mcp_tools mcp_tools
COPY static static
RUN pip install --no-cache-dir . \
 && codex-relay install-codex --prefix /opt/codex-cli

# The pinned Codex CLI installed above (npm ships the native binary).
ENV CODEX_RELAY_CODEX_BIN=/opt/codex-cli/node_modules/@openai/codex-linux-x64/vendor/x86_64-unknown-linux-musl/bin/codex \
    CODEX_RELAY_WORK_DIR=/var/lib/codex-relay \
    PYTHONUNBUFFERED=1

RUN useradd --create-home --uid 10001 relay \
 && mkdir -p /var/lib/codex-relay /runs && chown relay /var/lib/codex-relay
USER relay
EXPOSE 8000
CMD ["gunicorn", "-c", "python:blueprints.gunicorn_conf", "--workers", "2", \
     "--bind", "0.0.0.0:8000", "blueprints.demo_app:create_app()"]
