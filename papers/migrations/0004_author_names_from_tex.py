"""Author names ingested from arXiv before papers/sources/arxiv_xml.py converted their TeX
("Kra{\\ss}") get the letters they mean ("Kraß"). A converted name that already exists (the same
person from Hugging Face) takes over the old row's papers."""

from django.apps.registry import Apps
from django.db import migrations
from django.db.backends.base.schema import BaseDatabaseSchemaEditor

from papers.text import tex_to_text


def names_from_tex(apps: Apps, schema_editor: BaseDatabaseSchemaEditor | None) -> None:
    Author = apps.get_model("papers", "Author")
    PaperAuthor = apps.get_model("papers", "PaperAuthor")
    for author in Author.objects.filter(name__contains="\\"):
        name = tex_to_text(author.name)
        if name == author.name or not name:
            continue
        existing = Author.objects.filter(name=name).first()
        if existing:
            PaperAuthor.objects.filter(author=author).update(author=existing)
            author.delete()
        else:
            author.name = name
            author.save(update_fields=["name"])


class Migration(migrations.Migration):
    dependencies = [("papers", "0003_paper_embedding")]

    operations = [migrations.RunPython(names_from_tex, migrations.RunPython.noop)]
