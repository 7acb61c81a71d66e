"""The throwaway database every benchmark runs on, and the benchmarks' progress lines."""

from __future__ import annotations

import os
import sys
import tempfile
from pathlib import Path
from typing import Any

# PAPERBOY_BENCH_DB names another database, so two benchmark runs can share one server.
BENCH_DB_NAME = os.environ.get("PAPERBOY_BENCH_DB", "paperboy_bench")

_database: str | None = None


def log(message: str) -> None:
    print(f"  {message}", file=sys.stderr, flush=True)


def bench_database() -> str:
    """Set up Django on a fresh throwaway database, migrated; once per process. Returns a label.

    With DATABASE_URL set (PostgreSQL), its server is used but the database is always
    PAPERBOY_BENCH_DB (default ``paperboy_bench``), dropped and created again; without it, a
    temporary SQLite file."""
    global _database
    if _database is not None:
        return _database
    os.environ.setdefault("DJANGO_SETTINGS_MODULE", "config.settings")
    import django
    from django.conf import settings

    django.setup()
    from django.core.management import call_command
    from django.db import connections

    db = settings.DATABASES["default"]
    connections["default"].close()
    if "postgresql" in db["ENGINE"]:
        import psycopg

        params: dict[str, Any] = {
            "dbname": "postgres",
            "user": db.get("USER") or None,
            "password": db.get("PASSWORD") or None,
        }
        params |= {"host": db.get("HOST") or None, "port": db.get("PORT") or None}
        with psycopg.connect(**{k: v for k, v in params.items() if v is not None}, autocommit=True) as conn:
            conn.execute(f'DROP DATABASE IF EXISTS "{BENCH_DB_NAME}" WITH (FORCE)')
            conn.execute(f'CREATE DATABASE "{BENCH_DB_NAME}"')
        name = BENCH_DB_NAME
        label = f"PostgreSQL {BENCH_DB_NAME}"
    elif "sqlite" in db["ENGINE"]:
        name = str(Path(tempfile.mkdtemp(prefix="paperboy-bench-")) / "bench.sqlite3")
        label = "SQLite (temp file)"
    else:
        raise RuntimeError(f"bench: unsupported database engine {db['ENGINE']}")
    settings.DEBUG = False  # as in production: Django keeps no log of every query in memory
    db["NAME"] = name
    db["CONN_MAX_AGE"] = None  # one connection for the whole run
    connections["default"].settings_dict["NAME"] = name
    connections["default"].settings_dict["CONN_MAX_AGE"] = None
    log(f"database: {label}; migrating")
    call_command("migrate", verbosity=0)
    _database = label
    return label
