# nib in a container: `docker build -t nib .` then
#   docker run -p 8080:8080 -v nib-data:/data nib
# (the first start prints the default project's API key and the console's set-up link to the
# log). compose.yaml runs two of them on PostgreSQL, MinIO and Redis; see docs/deploy.md.
FROM python:3.11-slim-bookworm

# libmagic1: python-magic names the type of uploaded files. libvips comes inside the
# pyvips-binary wheel and libpq inside psycopg's binary wheel, so they need no Debian package.
# hadolint ignore=DL3008
RUN apt-get update \
    && apt-get install -y --no-install-recommends libmagic1 \
    && rm -rf /var/lib/apt/lists/*

RUN useradd --system --uid 10001 --user-group --home-dir /data --no-create-home nib \
    && install -d -o nib -g nib -m 0750 /data

COPY pyproject.toml README.md /tmp/nib/
COPY src /tmp/nib/src
RUN pip install --no-cache-dir /tmp/nib && rm -rf /tmp/nib

# Listen on every interface of the container; the proxy in front sets X-Forwarded-For, which
# nib trusts, so publish this port to the proxy only.
ENV NIB_HOST=0.0.0.0 \
    NIB_PORT=8080 \
    NIB_DATA_DIR=/data \
    PYTHONUNBUFFERED=1

# The numeric ID, so that runtimes checking "not root" (runAsNonRoot) need no passwd lookup.
USER 10001:10001
WORKDIR /data
VOLUME ["/data"]
EXPOSE 8080

# No curl in a slim image: Python asks /v1/health (200 while the database answers, else 503).
HEALTHCHECK --interval=15s --timeout=5s --start-period=30s --retries=3 \
    CMD ["python", "-c", "import os, urllib.request; urllib.request.urlopen('http://127.0.0.1:%s/v1/health' % os.environ.get('NIB_PORT', '8080'), timeout=4)"]

# SIGTERM (docker stop) drains requests in flight for NIB_SHUTDOWN_TIMEOUT seconds (30): give
# `docker stop` / compose's stop_grace_period more than that.
CMD ["nib", "serve"]
