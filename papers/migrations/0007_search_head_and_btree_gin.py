"""Search's GIN index covers the upvotes too (btree_gin) and ``pairs``, the lexemes side by side in
each vector (phrases); the btree index on the upvotes goes; and each row gets ``head``, the title,
authors and keywords part of its vector, which the ranking reads (papers/search.py says why)."""

import django.contrib.postgres.search
from django.apps.registry import Apps
from django.contrib.postgres.operations import BtreeGinExtension
from django.db import migrations
from django.db.backends.base.schema import BaseDatabaseSchemaEditor

OLD_INDEX = "papers_papersearch_vector_gin"
INDEX = "papersearch_vector_pairs_upvotes_gin"


def forwards(apps: Apps, schema_editor: BaseDatabaseSchemaEditor) -> None:
    if schema_editor.connection.vendor != "postgresql":
        return
    schema_editor.execute(f"DROP INDEX IF EXISTS {OLD_INDEX}")
    schema_editor.execute(f"CREATE INDEX {INDEX} ON papers_papersearch USING gin (vector, pairs, upvotes)")
    # MAIN: compressed in the row if need be, out of line only if the row would not fit in a page;
    # the vector (EXTENDED) goes out of line first (toast_tuple_target, 0006).
    schema_editor.execute("ALTER TABLE papers_papersearch ALTER COLUMN head SET STORAGE MAIN")
    from papers.search import index_all

    index_all()


def backwards(apps: Apps, schema_editor: BaseDatabaseSchemaEditor) -> None:
    if schema_editor.connection.vendor != "postgresql":
        return
    schema_editor.execute(f"DROP INDEX IF EXISTS {INDEX}")
    schema_editor.execute(f"CREATE INDEX {OLD_INDEX} ON papers_papersearch USING gin (vector)")


class Migration(migrations.Migration):
    dependencies = [
        ("papers", "0006_paper_search"),
    ]

    operations = [
        BtreeGinExtension(),  # PostgreSQL only (a no-op elsewhere); a trusted extension since PostgreSQL 13
        migrations.RemoveIndex(model_name="papersearch", name="papersearch_upvotes"),
        migrations.AddField(
            model_name="papersearch",
            name="head",
            field=django.contrib.postgres.search.SearchVectorField(null=True),
        ),
        migrations.AddField(
            model_name="papersearch",
            name="pairs",
            field=django.contrib.postgres.search.SearchVectorField(null=True),
        ),
        migrations.RunPython(forwards, backwards),
    ]
