# syntax=docker/dockerfile:1
# MATF: one image for every role. The command picks the role (docker-compose.prod.yml):
#   api       matf serve --host 0.0.0.0                      (port 3000, the default CMD)
#   a pool    celery -A tasks worker -Q executor -n executor@%h  (one per queue)
#   beat      celery -A tasks beat --schedule /app/data/celerybeat-schedule
#   flower    celery -A tasks flower --purge_offline_workers=60   (port 5555)
#   migrate   matf migrate                                   (once, before the others)
# Build: docker build -t matf:0.1.0 .
ARG PYTHON_IMAGE=python:3.11-slim-bookworm

# --- build: MATF and its dependencies into a virtual environment (wheels only) ---
FROM ${PYTHON_IMAGE} AS build
ENV PIP_DISABLE_PIP_VERSION_CHECK=1 \
    PYTHONDONTWRITEBYTECODE=1
WORKDIR /src
RUN python -m venv /opt/matf
COPY pyproject.toml README.md ./
COPY cli ./cli
COPY demo ./demo
COPY matf ./matf
COPY migrations ./migrations
COPY tasks ./tasks
COPY web ./web
# The postgres extra: one image serves both DATABASE_URL kinds.
RUN /opt/matf/bin/pip install --no-cache-dir ".[postgres]" \
    && /opt/matf/bin/python -m compileall -q /opt/matf/lib

# --- runtime: Python, Debian's Chromium and fonts, no compilers, no pip cache ---
FROM ${PYTHON_IMAGE} AS runtime
# Debian's chromium takes security updates under the same name, so versions are
# not pinned: an image rebuilt next month gets the patched browser.
# hadolint ignore=DL3008
RUN apt-get update \
    && apt-get install -y --no-install-recommends \
        ca-certificates \
        chromium \
        fonts-dejavu-core \
        fonts-liberation \
        fonts-noto-color-emoji \
        tini \
    && rm -rf /var/lib/apt/lists/*
RUN groupadd --system --gid 10001 matf \
    && useradd --system --uid 10001 --gid 10001 --home-dir /app --shell /usr/sbin/nologin matf \
    && mkdir -p /app/data/storage /app/data/backups \
    && chown -R 10001:10001 /app
COPY --from=build /opt/matf /opt/matf
ENV PATH=/opt/matf/bin:$PATH \
    PYTHONUNBUFFERED=1 \
    PYTHONDONTWRITEBYTECODE=1 \
    HOME=/app \
    MATF_ENV=production \
    MATF_CHROMIUM_PATH=/usr/bin/chromium \
    DATABASE_URL=sqlite:////app/data/framework.db \
    STORAGE_PATH=/app/data/storage \
    BACKUP_PATH=/app/data/backups \
    PORT=3000
WORKDIR /app
# A fixed UID, so volumes and Kubernetes' runAsUser/fsGroup can name it. Not root,
# so Chromium keeps its sandbox (matf/browser/launch.py adds --no-sandbox only as root).
USER 10001:10001
EXPOSE 3000 5555
# One probe for every role: it reads the container's command (see cli/commands/healthcheck.py).
HEALTHCHECK --interval=30s --timeout=40s --start-period=60s --retries=3 \
    CMD ["matf", "healthcheck"]
# tini reaps Chromium's orphans and passes SIGTERM on (Celery's warm shutdown).
ENTRYPOINT ["/usr/bin/tini", "--"]
CMD ["matf", "serve", "--host", "0.0.0.0"]
