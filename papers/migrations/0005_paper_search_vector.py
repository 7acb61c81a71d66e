import django.contrib.postgres.search
from django.apps.registry import Apps
from django.db import migrations
from django.db.backends.base.schema import BaseDatabaseSchemaEditor

# The GIN index is PostgreSQL's own, so it is made here rather than declared on the model: SQLite,
# where search matches substrings instead (papers/search.py), has no such index.
INDEX = "papers_paper_search_vector_gin"


def forwards(apps: Apps, schema_editor: BaseDatabaseSchemaEditor) -> None:
    if schema_editor.connection.vendor != "postgresql":
        return
    schema_editor.execute(f"CREATE INDEX {INDEX} ON papers_paper USING gin (search_vector)")
    # The vectors were computed here by papers.search.index_all; they moved to their own table in 0006,
    # which computes them (today's index_all writes that table, which does not exist yet here).


def backwards(apps: Apps, schema_editor: BaseDatabaseSchemaEditor) -> None:
    if schema_editor.connection.vendor == "postgresql":
        schema_editor.execute(f"DROP INDEX IF EXISTS {INDEX}")


class Migration(migrations.Migration):
    dependencies = [
        ("papers", "0004_author_names_from_tex"),
    ]

    operations = [
        migrations.AddField(
            model_name="paper",
            name="search_vector",
            field=django.contrib.postgres.search.SearchVectorField(editable=False, null=True),
        ),
        migrations.RunPython(forwards, backwards),
    ]
