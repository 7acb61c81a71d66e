"""Bulk inserts and id lists that skip Django's and psycopg's per-value work on PostgreSQL."""

from __future__ import annotations

import json
from typing import Any

from django.db import connection, models, transaction
from django.db.models.expressions import RawSQL
from django.utils import timezone


def _timestamp(field: models.Field[Any, Any]) -> bool:
    """Set to the current time when a row is added (auto_now/auto_now_add, or default=timezone.now)."""
    return bool(getattr(field, "auto_now", False) or getattr(field, "auto_now_add", False)) or (
        field.has_default() and field.default is timezone.now
    )


def _per_row_default(field: models.Field[Any, Any]) -> bool:
    return (
        field.has_default() and callable(field.default) and field.default not in (list, dict) and not _timestamp(field)
    )


def column(field: object) -> str:
    """The column of a field from ``_meta`` (a reverse relation or a non-concrete field has none)."""
    if not isinstance(field, models.Field) or field.column is None:
        raise TypeError(f"{field} has no column of its own")
    return field.column


def insert_rows(
    model: type[models.Model],
    names: tuple[str, ...],
    rows: list[tuple[Any, ...]],
    *,
    skip_conflicts: bool = False,
    returning: tuple[str, ...] = (),
) -> list[tuple[Any, ...]] | None:
    """Insert ``rows``, each the values of the fields ``names`` (attnames: ``paper_id``); the other
    fields take their defaults.
    ``skip_conflicts``: a row that would break a unique constraint is left out, silently.
    ``returning``: columns whose values, one tuple per row inserted, are returned through COPY;
    None when bulk_create inserted them (it does not say which rows it skipped).

    On PostgreSQL through COPY (into a temporary table first when conflicts are skipped or values
    returned, then one INSERT ... [ON CONFLICT DO NOTHING] [RETURNING]): bulk_create spends
    ~0.1-0.2 ms per row preparing each value and building a statement around it. Elsewhere, or
    when a field left out has a default that must be computed row by row, bulk_create. A field
    left out that computes its value from another (``computed_from``, with ``compute(value)``) is
    computed from that field's value."""
    if not rows:
        return [] if returning and connection.vendor == "postgresql" else None
    opts = model._meta
    rest = [field for field in opts.concrete_fields if not field.primary_key and field.attname not in names]
    # A field whose value its pre_save computes from another one (``computed_from``, e.g. the
    # subscriber's mailbox key from its email) is computed here from that column's value.
    computed = [field for field in rest if getattr(field, "computed_from", None) in names]
    rest = [field for field in rest if field not in computed]
    # A default computed per row (uuid4, a random key) cannot be one constant; list/dict/now can;
    # nor can a computed field whose source is not given.
    per_row = [field for field in rest if _per_row_default(field) or getattr(field, "computed_from", None)]
    if connection.vendor != "postgresql" or per_row:
        model._default_manager.bulk_create(
            [model(**dict(zip(names, row, strict=True))) for row in rows],
            ignore_conflicts=skip_conflicts,
            batch_size=2000,
        )
        return None
    now = timezone.now()
    constants = tuple(
        field.get_db_prep_save(now if _timestamp(field) else field.get_default(), connection) for field in rest
    )
    # Values go in as they are (ints, text, dates), but for JSON, which goes in as its text
    # (COPY's text format hands it to jsonb's input; Django's adaptation would wrap each value
    # in an adapter first), or through the field when it has an encoder of its own.
    given = [opts.get_field(name) for name in names]
    adapt = [(i, field) for i, field in enumerate(given) if isinstance(field, models.JSONField)]
    as_text = [(i, field) for i, field in adapt if field.encoder is None]
    adapt = [(i, field) for i, field in adapt if field.encoder is not None]
    sources = [(names.index(field.computed_from), field) for field in computed]  # type: ignore[attr-defined]
    quote = connection.ops.quote_name
    columns = ", ".join(quote(column(field)) for field in [*given, *computed, *rest])
    table = quote(opts.db_table)
    staged = skip_conflicts or bool(returning)
    with transaction.atomic(), connection.cursor() as cursor, connection.wrap_database_errors:
        target = table
        if staged:
            # Inside an outer transaction the table from an earlier call may still exist: reuse it.
            target = quote(f"_new_{opts.db_table}")
            create = f"CREATE TEMPORARY TABLE IF NOT EXISTS {target} ON COMMIT DROP AS SELECT {columns} FROM {table}"  # noqa: S608
            cursor.execute(f"{create} WITH NO DATA")
        with cursor.cursor.copy(f"COPY {target} ({columns}) FROM STDIN") as copy:
            for row in rows:
                values: tuple[Any, ...] | list[Any] = row
                if adapt or as_text:
                    values = list(row)
                    for i, _ in as_text:
                        values[i] = None if values[i] is None else json.dumps(values[i])
                    for i, field in adapt:
                        values[i] = field.get_db_prep_save(values[i], connection)
                derived = [field.compute(row[i]) for i, field in sources]  # type: ignore[attr-defined]
                copy.write_row((*values, *derived, *constants))
        if not staged:
            return None
        insert = f"INSERT INTO {table} ({columns}) SELECT {columns} FROM {target}"  # noqa: S608
        if skip_conflicts:
            insert += " ON CONFLICT DO NOTHING"
        if returning:
            insert += " RETURNING " + ", ".join(quote(column(opts.get_field(name))) for name in returning)
        cursor.execute(insert)
        inserted = cursor.fetchall() if returning else None
        cursor.execute(f"TRUNCATE {target}")
        return inserted


def id_list(ids: list[int]) -> RawSQL | list[int]:
    """``ids`` for an ``__in`` lookup. On PostgreSQL one array parameter instead of thousands of
    placeholders, which psycopg would otherwise parse and quote one by one (~0.1 ms each)."""
    if connection.vendor == "postgresql":
        return RawSQL("SELECT unnest(%s::bigint[])", [list(ids)])
    return ids
