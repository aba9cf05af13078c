# syntax=docker/dockerfile:1
# Wangge image: the API, the map pages with their vendored front-end assets, alembic and the CLI.
# Used by docker-compose.yml for both the one-shot `migrate` job and the `app` service.

# --- 1. node: the front-end packages, exactly as map_ui/package-lock.json pins them -----------
FROM node:20-bookworm-slim AS node
WORKDIR /app/map_ui
COPY map_ui/package.json map_ui/package-lock.json ./
RUN npm ci --no-audit --no-fund

# --- 2. assets: node_modules → map_ui/static/vendor, by map_ui.assets (stdlib only) ----------
# The same copy `python -m map_ui.assets install` makes after its own `npm ci`; `check` fails the
# build if a file the pages reference is missing.
FROM python:3.11-slim-bookworm AS assets
WORKDIR /app
COPY map_ui/ map_ui/
COPY --from=node /app/map_ui/node_modules map_ui/node_modules
RUN python -c "from map_ui.assets import copy_vendor; copy_vendor()" \
    && python -m map_ui.assets check

# --- 3. runtime: the project in /opt/venv, no node, an unprivileged user --------------------
FROM python:3.11-slim-bookworm AS runtime
ENV PATH=/opt/venv/bin:$PATH \
    PIP_NO_CACHE_DIR=1 PIP_DISABLE_PIP_VERSION_CHECK=1 \
    PYTHONDONTWRITEBYTECODE=1 PYTHONUNBUFFERED=1
RUN python -m venv /opt/venv \
    && groupadd --system --gid 10001 wangge \
    && useradd --system --uid 10001 --gid 10001 --home-dir /app --shell /usr/sbin/nologin wangge
WORKDIR /app
# Dependencies first, from pyproject.toml and constraints.txt alone, so a code change does not
# reinstall them; the constraints pin the versions the test suite passed with.
COPY pyproject.toml constraints.txt ./
RUN python -c "import tomllib; print('\n'.join(tomllib.load(open('pyproject.toml', 'rb'))['project']['dependencies']))" \
        > /tmp/requirements.txt \
    && pip install -c constraints.txt -r /tmp/requirements.txt
COPY . .
COPY --from=assets /app/map_ui/static/vendor map_ui/static/vendor
RUN pip install --no-deps -e . \
    && python -m map_ui.assets check \
    && mkdir -p data/demo/generated \
    && chown 10001:10001 data/demo/generated
# The code is root's and read-only to the app; only data/demo/generated (git-ignored) is writable.
USER 10001:10001
EXPOSE 8000
CMD ["uvicorn", "gis_api.main:create_app", "--factory", "--host", "0.0.0.0", "--port", "8000"]
