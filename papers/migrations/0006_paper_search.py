"""Search moves to a narrow table of its own (papers/search.py says why), ``Paper.search_vector`` goes."""

import django.contrib.postgres.search
import django.db.models.deletion
from django.apps.registry import Apps
from django.db import migrations, models
from django.db.backends.base.schema import BaseDatabaseSchemaEditor

# PostgreSQL's own, so made here rather than declared on the model (as 0005 did): SQLite, where search
# matches substrings instead, has no such index.
INDEX = "papers_papersearch_vector_gin"


def forwards(apps: Apps, schema_editor: BaseDatabaseSchemaEditor) -> None:
    if schema_editor.connection.vendor != "postgresql":
        return
    schema_editor.execute(f"CREATE INDEX {INDEX} ON papers_papersearch USING gin (vector)")
    # A row past ~2 KB (most: the vectors are ~2.2 KB) keeps its vector out of line (TOAST) rather
    # than compressed in the row: matching, filtering and counting read the rows, not the vectors.
    schema_editor.execute("ALTER TABLE papers_papersearch SET (toast_tuple_target = 128)")
    # The rows are computed by 0007, which changed their definition (``papers.search.index_all`` writes
    # the newest one, whose columns this table does not have yet).


def backwards(apps: Apps, schema_editor: BaseDatabaseSchemaEditor) -> None:
    pass  # the table goes, with its index


class Migration(migrations.Migration):
    dependencies = [
        ("papers", "0005_paper_search_vector"),
    ]

    operations = [
        migrations.CreateModel(
            name="PaperSearch",
            fields=[
                (
                    "paper",
                    models.OneToOneField(
                        on_delete=django.db.models.deletion.CASCADE,
                        primary_key=True,
                        related_name="search",
                        serialize=False,
                        to="papers.paper",
                    ),
                ),
                ("vector", django.contrib.postgres.search.SearchVectorField(null=True)),
                ("upvotes", models.PositiveIntegerField(default=0)),
                ("listed_first", models.DateField(null=True)),
                ("listed_last", models.DateField(null=True)),
            ],
            options={
                "indexes": [
                    models.Index(fields=["upvotes"], name="papersearch_upvotes"),
                    models.Index(fields=["listed_first"], name="papersearch_listed_first"),
                    models.Index(fields=["listed_last"], name="papersearch_listed_last"),
                ],
            },
        ),
        migrations.RunPython(forwards, backwards),
        migrations.RemoveField(
            model_name="paper",
            name="search_vector",
        ),
    ]
