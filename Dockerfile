# syntax=docker/dockerfile:1
# Build: the dependencies from the hashed lock, then the package (its build compiles the
# translations). Run: a slim image as a non-root user. The base image is pinned by tag and
# digest; change both together (and re-run `make lock`) to upgrade Python.
ARG PYTHON_IMAGE=python:3.11.14-slim-bookworm@sha256:65a93d69fa75478d554f4ad27c85c1e69fa184956261b4301ebaf6dbb0a3543d

FROM ${PYTHON_IMAGE} AS build
WORKDIR /src
ENV PIP_NO_CACHE_DIR=1 PIP_DISABLE_PIP_VERSION_CHECK=1
COPY requirements.lock ./
RUN python -m venv /opt/venv \
    && /opt/venv/bin/pip install --require-hashes --no-deps -r requirements.lock
COPY pyproject.toml setup.py README.md LICENSE ./
COPY bot ./bot
COPY conversations ./conversations
COPY storage ./storage
COPY app ./app
COPY audit ./audit
COPY inputfiles ./inputfiles
COPY locales ./locales
RUN /opt/venv/bin/pip install --no-deps --no-build-isolation .

FROM ${PYTHON_IMAGE}
# The default SQLite database lives in XDG_DATA_HOME (/app/data/auditbot/); compose.yaml uses
# PostgreSQL instead. /metrics is served on METRICS_PORT when it is set (see compose.yaml).
ENV PATH=/opt/venv/bin:$PATH PYTHONUNBUFFERED=1 PYTHONDONTWRITEBYTECODE=1 \
    HOME=/app XDG_DATA_HOME=/app/data
RUN groupadd --system --gid 10001 auditbot \
    && useradd --system --uid 10001 --gid 10001 --home-dir /app auditbot \
    && mkdir -p /app/data && chown -R 10001:10001 /app
COPY --from=build /opt/venv /opt/venv
WORKDIR /app
USER 10001
EXPOSE 8080
HEALTHCHECK --interval=30s --timeout=5s --start-period=30s --retries=3 \
    CMD ["python", "-c", "import sys, urllib.request; sys.exit(urllib.request.urlopen('http://127.0.0.1:8080/healthz', timeout=4).status != 200)"]
CMD ["auditbot", "serve", "--host", "0.0.0.0", "--port", "8080"]
