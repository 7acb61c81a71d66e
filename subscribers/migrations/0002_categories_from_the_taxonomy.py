"""Readers' categories are checked against the arXiv taxonomy (papers.taxonomy) from now on.

What was stored before, when anything shaped like "cs.FOO" was accepted, is repaired once
(``papers.taxonomy.repaired``): the case fixed (cs.lg -> cs.LG), an archive name as all its
categories (astro-ph -> astro-ph.CO ... astro-ph.SR), a folded archive as its category
(solv-int -> nlin.SI), and a value that names no arXiv category (cs.FOO) dropped. Such a value could
never match a paper, so dropping it changes no digest, except that a reader whose only values were
such ones had a filter that matched nothing and now has none. Reversing keeps the repaired values.
"""

from django.apps.registry import Apps
from django.db import migrations, models
from django.db.backends.base.schema import BaseDatabaseSchemaEditor

import papers.taxonomy


def repair_stored_categories(apps: Apps, schema_editor: BaseDatabaseSchemaEditor) -> None:
    Subscriber = apps.get_model("subscribers", "Subscriber")
    changed = []
    for subscriber in Subscriber.objects.exclude(categories=[]).only("pk", "categories").iterator(chunk_size=2000):
        stored = subscriber.categories
        repaired = papers.taxonomy.repaired(stored) if isinstance(stored, list) else []
        if repaired != stored:
            subscriber.categories = repaired
            changed.append(subscriber)
    Subscriber.objects.bulk_update(changed, ["categories"], batch_size=1000)


class Migration(migrations.Migration):
    dependencies = [
        ("subscribers", "0001_initial"),
    ]

    operations = [
        migrations.AlterField(
            model_name="subscriber",
            name="categories",
            field=models.JSONField(
                blank=True,
                default=list,
                validators=[papers.taxonomy.validate_categories],
                verbose_name="arXiv categories",
            ),
        ),
        migrations.RunPython(repair_stored_categories, migrations.RunPython.noop),
    ]
