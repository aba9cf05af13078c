#!/usr/bin/env bash
# One-shot `migrate` job of docker-compose.yml: extensions, schema, demo data. Idempotent.
set -euo pipefail
cd "$(dirname "${BASH_SOURCE[0]}")/.."
: "${DATABASE_URL:?DATABASE_URL must be set}"

echo "==> Extensions postgis, pg_trgm, btree_gist"
python - <<'PY'
import os

import psycopg

# psycopg wants a libpq URL: drop SQLAlchemy's "+driver" part of the scheme.
url = "postgresql://" + os.environ["DATABASE_URL"].split("://", 1)[1]
with psycopg.connect(url, autocommit=True) as conn:
    for ext in ("postgis", "pg_trgm", "btree_gist"):
        conn.execute(f"CREATE EXTENSION IF NOT EXISTS {ext}")
PY

echo "==> alembic upgrade head"
alembic upgrade head

echo "==> wangge demo load --if-empty"
wangge demo load --if-empty
