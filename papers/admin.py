from __future__ import annotations

import re
from typing import Any

from django import forms
from django.contrib import admin, messages
from django.db import models
from django.db.models import QuerySet
from django.forms.models import BaseInlineFormSet
from django.http import HttpRequest, HttpResponse, HttpResponseRedirect
from django.template.response import TemplateResponse
from django.urls import URLPattern, path, reverse
from django.utils import timezone
from django.utils.html import format_html, format_html_join

from common.text import plural
from papers import embeddings, tasks
from papers.models import Author, DailyEntry, IngestRun, Paper, PaperAuthor
from papers.text import canonical_arxiv_id

MAX_DUMP_BYTES = 5 * 1024 * 1024


class PaperAuthorInline(admin.TabularInline[PaperAuthor, Paper]):
    model = PaperAuthor
    extra = 0
    autocomplete_fields = ["author"]
    ordering = ["position"]


@admin.register(Author)
class AuthorAdmin(admin.ModelAdmin[Author]):
    search_fields = ["name"]
    list_display = ["name"]


class NeedsArxivIdFilter(admin.SimpleListFilter):
    title = "arXiv id"
    parameter_name = "arxiv"

    def lookups(self, request: HttpRequest, model_admin: admin.ModelAdmin[Paper]) -> list[tuple[str, str]]:
        return [("missing", "Needs arXiv id"), ("present", "Has arXiv id")]

    def queryset(self, request: HttpRequest, queryset: QuerySet[Paper]) -> QuerySet[Paper]:
        if self.value() == "missing":
            return queryset.filter(arxiv_id__isnull=True)
        if self.value() == "present":
            return queryset.filter(arxiv_id__isnull=False)
        return queryset


@admin.register(Paper)
class PaperAdmin(admin.ModelAdmin[Paper]):
    list_display = ["arxiv_id_or_flag", "title", "upvotes", "published", "primary_category", "overrides"]
    search_fields = ["arxiv_id", "title", "authors__name"]
    list_filter = [NeedsArxivIdFilter, "primary_category", "published"]
    readonly_fields = ["overridden_fields", "first_seen", "updated_at"]
    inlines = [PaperAuthorInline]
    actions = ["clear_overrides"]
    formfield_overrides = {models.URLField: {"assume_scheme": "https"}}

    @admin.display(description="arXiv id", ordering="arxiv_id")
    def arxiv_id_or_flag(self, paper: Paper) -> str:
        return paper.arxiv_id or "⚠ needs arXiv id"

    @admin.display(description="Overridden by an editor")
    def overrides(self, paper: Paper) -> str:
        return ", ".join(paper.overridden_fields) or "—"

    def save_model(self, request: HttpRequest, obj: Paper, form: forms.ModelForm[Paper], change: bool) -> None:
        if change:
            edited = [name for name in form.changed_data if name in Paper.EDITABLE_FIELDS]
            obj.overridden_fields = sorted({*obj.overridden_fields, *edited})
            if set(edited).intersection(embeddings.TEXT_FIELDS):
                obj.embedding = None  # computed from the old text: the task computes it again
                embeddings.queue_embeddings()
        super().save_model(request, obj, form, change)

    def save_formset(
        self,
        request: HttpRequest,
        form: forms.ModelForm[Paper],
        formset: BaseInlineFormSet[Any, Paper, Any],
        change: bool,
    ) -> None:
        super().save_formset(request, form, formset, change)
        if change and formset.model is PaperAuthor and formset.has_changed():
            paper = form.instance
            paper.overridden_fields = sorted({*paper.overridden_fields, "authors"})
            paper.save(update_fields=["overridden_fields"])

    @admin.action(description="Let ingest update the selected papers again (clear editor overrides)")
    def clear_overrides(self, request: HttpRequest, queryset: QuerySet[Paper]) -> None:
        count = queryset.update(overridden_fields=[])
        self.message_user(request, f"Cleared the overrides of {count} papers.")


class AddByArxivIdForm(forms.Form):
    ids = forms.CharField(
        label="arXiv ids or URLs",
        widget=forms.Textarea(attrs={"rows": 6, "cols": 60}),
        help_text="One or many: 2405.01234, arXiv:2405.01234v2, https://arxiv.org/abs/…, https://huggingface.co/papers/…",
    )
    day = forms.DateField(initial=timezone.localdate, help_text="The day to list them on.")

    def clean_ids(self) -> list[str]:
        """Every value pasted, once each: the ones that are not arXiv ids are reported on the run."""
        pasted = (value.strip("<>()[]\"'") for value in re.split(r"[\s,;]+", self.cleaned_data["ids"]))
        values = [value for value in dict.fromkeys(pasted) if value]
        if not any(canonical_arxiv_id(value) for value in values):
            raise forms.ValidationError("No arXiv id found. Paste ids like 2405.01234 or arXiv/HF paper URLs.")
        if len(values) > 200:
            raise forms.ValidationError(f"{len(values)} values: add at most 200 at a time.")
        return values


class TextDumpForm(forms.Form):
    file = forms.FileField(required=False, help_text="A .txt file with the copied page text.")
    text = forms.CharField(required=False, widget=forms.Textarea(attrs={"rows": 10, "cols": 80}), label="…or paste")
    day = forms.DateField(initial=timezone.localdate, help_text="The day these papers were listed.")

    def clean(self) -> dict[str, Any]:
        super().clean()
        cleaned = self.cleaned_data
        upload = cleaned.get("file")
        if upload:
            if upload.size > MAX_DUMP_BYTES:
                raise forms.ValidationError("The file is larger than 5 MB; is it really a copied papers page?")
            try:
                cleaned["content"] = upload.read().decode("utf-8")
            except UnicodeDecodeError as exc:
                raise forms.ValidationError("The file is not UTF-8 text.") from exc
        else:
            cleaned["content"] = cleaned.get("text", "")
        if not cleaned["content"].strip():
            raise forms.ValidationError("Upload a file or paste the text.")
        return cleaned


class DailyEntryListForm(forms.ModelForm[DailyEntry]):
    """One row of the daily-entries list: status, pin and note edited in place, small enough that
    the list fits 1,400 px without scrolling sideways."""

    class Meta:
        model = DailyEntry
        fields = ["status", "pinned", "note"]
        widgets = {"note": forms.Textarea(attrs={"rows": 2, "cols": 22, "class": "entry-note"})}

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        # The list's column headers are no labels: each field is named after its paper for screen readers.
        if self.instance.pk is not None:
            title = self.instance.paper.title[:80]
            for name, what in [("status", "Status"), ("pinned", "Pinned"), ("note", "Editor's note")]:
                self.fields[name].widget.attrs["aria-label"] = f"{what}: {title}"


TITLE_CHARACTERS = 90  # in the list; the whole title is the cell's tooltip and on the change page


@admin.register(DailyEntry)
class DailyEntryAdmin(admin.ModelAdmin[DailyEntry]):
    change_list_template = "admin/papers/dailyentry/change_list.html"
    date_hierarchy = "day"
    list_display = ["listed_on", "paper_title", "arxiv_id", "upvotes", "source", "status", "pinned", "note"]
    list_display_links = ["paper_title"]
    list_editable = ["status", "pinned", "note"]
    list_filter = ["status", "pinned", "source", "day"]
    list_select_related = ["paper"]
    search_fields = ["paper__title", "paper__arxiv_id", "paper__authors__name"]
    autocomplete_fields = ["paper"]
    fields = ["day", "paper", "rank", "upvotes", "source", "status", "pinned", "note", "paper_abstract"]
    readonly_fields = ["paper_abstract"]
    actions = ["approve", "hide", "pin", "unpin"]
    ordering = ["-day", "-pinned", "-upvotes"]

    class Media:
        css = {"all": ["paperboy/admin.css"]}

    def get_changelist_form(self, request: HttpRequest, **kwargs: Any) -> type[forms.ModelForm[DailyEntry]]:
        return super().get_changelist_form(request, form=DailyEntryListForm, **kwargs)

    @admin.display(description="Day", ordering="day")
    def listed_on(self, entry: DailyEntry) -> str:
        return entry.day.isoformat()  # narrower than "June 10, 2026": the list must fit 1,400 px

    @admin.display(description="Title", ordering="paper__title")
    def paper_title(self, entry: DailyEntry) -> str:
        title = entry.paper.title
        shown = title if len(title) <= TITLE_CHARACTERS else title[: TITLE_CHARACTERS - 1].rstrip() + "…"
        return format_html('<span class="entry-title" title="{}">{}</span>', title, shown)

    @admin.display(description="arXiv id", ordering="paper__arxiv_id")
    def arxiv_id(self, entry: DailyEntry) -> str:  # not paper_id: that names the foreign key
        if not entry.paper.arxiv_id:
            return "⚠ needs arXiv id"
        return format_html(
            '<a href="{}" target="_blank" rel="noopener">{}</a>', entry.paper.abs_url, entry.paper.arxiv_id
        )

    @admin.display(description="Abstract")
    def paper_abstract(self, entry: DailyEntry) -> str:
        if entry.pk is None:
            return "The paper's abstract shows here once the entry is saved."
        return format_html('<div class="entry-abstract">{}</div>', entry.paper.abstract or "No abstract.")

    def _bulk(self, request: HttpRequest, queryset: QuerySet[DailyEntry], verb: str, **values: object) -> None:
        count = queryset.update(updated_at=timezone.now(), **values)
        self.message_user(request, f"{verb} {plural(count, 'entry', 'entries')}.", messages.SUCCESS)

    @admin.action(description="Approve selected entries")
    def approve(self, request: HttpRequest, queryset: QuerySet[DailyEntry]) -> None:
        self._bulk(request, queryset, "Approved", status=DailyEntry.Status.APPROVED)

    @admin.action(description="Hide selected entries")
    def hide(self, request: HttpRequest, queryset: QuerySet[DailyEntry]) -> None:
        self._bulk(request, queryset, "Hid", status=DailyEntry.Status.HIDDEN)

    @admin.action(description="Pin selected entries")
    def pin(self, request: HttpRequest, queryset: QuerySet[DailyEntry]) -> None:
        self._bulk(request, queryset, "Pinned", pinned=True)

    @admin.action(description="Unpin selected entries")
    def unpin(self, request: HttpRequest, queryset: QuerySet[DailyEntry]) -> None:
        self._bulk(request, queryset, "Unpinned", pinned=False)

    def get_urls(self) -> list[URLPattern]:
        own = [
            path("add-by-id/", self.admin_site.admin_view(self.add_by_id_view), name="papers_dailyentry_add_by_id"),
            path(
                "import-text/", self.admin_site.admin_view(self.import_text_view), name="papers_dailyentry_import_text"
            ),
        ]
        return own + super().get_urls()

    def _form_page(self, request: HttpRequest, form: forms.Form, title: str, intro: str) -> HttpResponse:
        context = {
            **self.admin_site.each_context(request),
            "opts": self.model._meta,
            "form": form,
            "title": title,
            "intro": intro,
        }
        return TemplateResponse(request, "admin/_form_page.html", context)

    def _start(self, request: HttpRequest, run: IngestRun, what: str) -> HttpResponseRedirect:
        """The run goes on in a worker; its page shows progress and, at the end, every item it dropped."""
        tasks.start_in_background(run)
        self.message_user(request, f"{what}: started. This page follows it until it is done.", messages.INFO)
        return HttpResponseRedirect(reverse("admin:papers_ingestrun_change", args=[run.pk]))

    def add_by_id_view(self, request: HttpRequest) -> HttpResponse:
        if not self.has_add_permission(request):
            return HttpResponse(status=403)
        form = AddByArxivIdForm(request.POST or None)
        if request.method == "POST" and form.is_valid():
            values, day = form.cleaned_data["ids"], form.cleaned_data["day"]
            run = IngestRun.objects.create(source="editor", parameters={"ids": values, "day": str(day)})
            return self._start(request, run, f"Adding {plural(len(values), 'paper')} from arXiv")
        return self._form_page(
            request,
            form,
            "Add papers by arXiv id",
            "Paperboy fetches each paper's metadata from the arXiv API and lists it, approved, on the chosen day.",
        )

    def import_text_view(self, request: HttpRequest) -> HttpResponse:
        if not self.has_add_permission(request):
            return HttpResponse(status=403)
        form = TextDumpForm(request.POST or None, request.FILES or None)
        if request.method == "POST" and form.is_valid():
            day = form.cleaned_data["day"]
            run = IngestRun.objects.create(
                source="text", parameters={"day": str(day), "upload": True}, input_text=form.cleaned_data["content"]
            )
            return self._start(request, run, "Importing the text dump")
        return self._form_page(
            request,
            form,
            "Import a text dump",
            "The visible text of a papers page copied from a browser: each paper's title on one line, a blank "
            "line, its abstract as one paragraph. Titles are matched to known papers; new ones are marked "
            "“needs arXiv id”.",
        )


@admin.register(IngestRun)
class IngestRunAdmin(admin.ModelAdmin[IngestRun]):
    change_form_template = "admin/papers/ingestrun/change_form.html"  # refreshes while the run goes on
    list_display = ["started_at", "source", "status", "created", "updated", "unchanged", "skipped", "failed"]
    list_filter = ["source", "status"]
    date_hierarchy = "started_at"
    fields = readonly_fields = (
        *("source", "status", "progress", "started_at", "finished_at", "parameters"),
        *("created", "updated", "unchanged", "skipped", "failed", "reported"),
    )

    @admin.display(description="Progress")
    def progress(self, run: IngestRun) -> str:
        if run.status != IngestRun.Status.RUNNING:
            return run.summary
        if not run.progress_total:
            return "Fetching and reading the source…"
        return format_html(
            '<progress max="{}" value="{}"></progress> stored {} of {} records',
            run.progress_total,
            run.progress_done,
            run.progress_done,
            run.progress_total,
        )

    @admin.display(description="Skipped or failed items, each with its reason")
    def reported(self, run: IngestRun) -> str:
        lines = run.errors.splitlines()
        if not lines:
            return "None." if run.status != IngestRun.Status.RUNNING else "None so far."
        items = format_html_join("", "<li>{}</li>", ((line,) for line in lines))
        return format_html('<ul class="run-errors">{}</ul>', items)

    def has_add_permission(self, request: HttpRequest) -> bool:
        return False

    def has_change_permission(self, request: HttpRequest, obj: IngestRun | None = None) -> bool:
        return False
