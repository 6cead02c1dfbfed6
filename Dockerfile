# syntax=docker/dockerfile:1
# Build: wheels and compiled catalogs. Run: a slim image as a non-root user.

FROM python:3.11-slim AS build
WORKDIR /src
ENV PIP_NO_CACHE_DIR=1 PIP_DISABLE_PIP_VERSION_CHECK=1
COPY pyproject.toml README.md babel.cfg ./
COPY bot ./bot
COPY conversations ./conversations
COPY storage ./storage
COPY audit ./audit
COPY inputfiles ./inputfiles
COPY locales ./locales
RUN python -m venv /opt/venv \
    && /opt/venv/bin/pip install "babel>=2.14" \
    && /opt/venv/bin/pybabel compile -d locales -D messages \
    && /opt/venv/bin/pip install .

FROM python:3.11-slim
ENV PATH=/opt/venv/bin:$PATH PYTHONUNBUFFERED=1 PYTHONDONTWRITEBYTECODE=1
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
