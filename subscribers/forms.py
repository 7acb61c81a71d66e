from __future__ import annotations

import re
from dataclasses import dataclass
from typing import Any, cast

from django import forms
from django.forms.boundfield import BoundWidget

from papers import taxonomy
from subscribers.mailbox import InvalidAddress, mailbox_key
from subscribers.models import Subscriber, available_time_zones
from subscribers.muting import MAX_LENGTH, MAX_TOPICS, clean_muted_topics

MAX_FOLLOWED_AUTHORS = 50
HOURS = [(hour, f"{hour:02d}:00") for hour in range(24)]


def require_mailbox(value: str) -> str:
    """The address's mailbox key (subscribers/mailbox.py); a form error for an address that
    Django's validator lets through but that names no mailbox (``""@example.org``)."""
    try:
        return mailbox_key(value)
    except InvalidAddress:
        raise forms.ValidationError("Enter a valid email address.", code="invalid") from None


class SingleLineEmailField(forms.EmailField):
    """An address with a CR or LF anywhere (even trailing) is an attempt to inject mail headers;
    and an address must name a mailbox (have a mailbox key)."""

    def to_python(self, value: Any) -> str | None:
        if isinstance(value, str) and ("\r" in value or "\n" in value):
            raise forms.ValidationError("An email address cannot contain line breaks.", code="line_break")
        return super().to_python(value)

    def run_validators(self, value: Any) -> None:
        super().run_validators(value)
        if value not in self.empty_values:
            require_mailbox(value)


class SignupForm(forms.Form):
    email = SingleLineEmailField(
        max_length=254,
        widget=forms.EmailInput(attrs={"autocomplete": "email", "placeholder": "you@university.edu", "required": True}),
    )
    interests = forms.CharField(
        required=False,
        max_length=Subscriber.INTERESTS_MAX_LENGTH,
        widget=forms.TextInput(attrs={"placeholder": "diffusion, RLHF, protein folding"}),
        help_text="Optional: what you work on, comma-separated. You can change it any time.",
    )
    # Filled in by the browser (static/subscribers/signup.js); editable later in the preferences.
    time_zone = forms.CharField(required=False, widget=forms.HiddenInput, max_length=64)
    # A field people never see (hidden by CSS): whatever fills it in is a bot.
    website = forms.CharField(
        required=False,
        label="Leave this empty",
        widget=forms.TextInput(attrs={"autocomplete": "off", "tabindex": "-1"}),
    )

    def clean_interests(self) -> str:
        return " ".join(self.cleaned_data["interests"].split())

    def clean_time_zone(self) -> str:
        value = self.cleaned_data["time_zone"]
        return value if value in available_time_zones() else "UTC"

    @property
    def is_bot(self) -> bool:
        return bool(self.cleaned_data.get("website"))

    @property
    def mailbox(self) -> str:
        """The valid address's mailbox key: who this signup is about, whatever form was typed."""
        return mailbox_key(self.cleaned_data["email"])


class ListField(forms.CharField):
    """A list edited as text: one item per line, or also comma-separated with ``commas=True``."""

    def __init__(self, *, commas: bool = False, **kwargs: Any) -> None:
        super().__init__(**kwargs)
        self.commas = commas

    def prepare_value(self, value: Any) -> Any:
        return (", " if self.commas else "\n").join(value) if isinstance(value, list) else value

    # A CharField (stripping, the null character check) whose cleaned value is the list, not the text.
    def to_python(self, value: Any) -> list[str]:  # type: ignore[override]
        text = super().to_python(value) or ""
        items = [" ".join(item.split()) for item in re.split(r"[,\n]" if self.commas else r"\n", text)]
        return list(dict.fromkeys(item for item in items if item))


class MutedTopicsField(ListField):
    """Muted topics typed as text, comma-separated (or one per line); subscribers/muting.py's rules,
    with an error per phrase that breaks them. Repeats (in any case) are dropped quietly."""

    def __init__(self, **kwargs: Any) -> None:
        kwargs.setdefault("required", False)
        kwargs.setdefault("label", "Never show me papers about")
        kwargs.setdefault(
            "help_text",
            f"Words or phrases, comma-separated (up to {MAX_TOPICS}, {MAX_LENGTH} characters each): "
            "a paper that mentions one, as whole words in any case, never makes your digest.",
        )
        kwargs.setdefault("widget", forms.TextInput(attrs={"placeholder": "LLM agents, autonomous driving"}))
        super().__init__(commas=True, **kwargs)

    def clean(self, value: Any) -> list[str]:
        return clean_muted_topics(super().clean(value))


class CategoriesField(forms.MultipleChoiceField):
    """arXiv categories, picked from the taxonomy (``papers.taxonomy``), grouped. A submitted value
    may also name several, separated by commas, semicolons or spaces (a typed list, or a JSON list in
    admin), and a category's case is forgiven (cs.lg is cs.LG); one that is not an arXiv category
    (cs.FOO) is refused, by name."""

    def __init__(self, **kwargs: Any) -> None:
        kwargs.setdefault("widget", forms.CheckboxSelectMultiple)
        kwargs.setdefault("required", False)
        super().__init__(choices=taxonomy.choices(), **kwargs)

    def to_python(self, value: Any) -> list[str]:
        if not value:
            return []
        if isinstance(value, str):
            value = [value]
        if not isinstance(value, list | tuple):
            raise forms.ValidationError(self.error_messages["invalid_list"], code="invalid_list")
        items = [part for item in value for part in re.split(r"[\s,;\[\]\"']+", str(item)) if part]
        return list(dict.fromkeys(taxonomy.normalized(item) for item in items))

    def validate(self, value: Any) -> None:
        if self.required and not value:
            raise forms.ValidationError(self.error_messages["required"], code="required")
        wrong = taxonomy.unknown(value)
        if wrong:
            raise forms.ValidationError(taxonomy.unknown_message(wrong), code="unknown_category")


@dataclass
class PickerSection:
    """One <details> of the category picker: its checkboxes and the categories ticked among them."""

    name: str
    options: list[BoundWidget]
    chosen: list[str]


@dataclass
class CategoryPicker:
    sections: list[PickerSection]
    chosen: list[str]  # every ticked category, in the taxonomy's order


class PreferencesForm(forms.ModelForm[Subscriber]):
    time_zone = forms.ChoiceField(choices=())
    send_hour = forms.TypedChoiceField(choices=HOURS, coerce=int, label="Delivery hour")
    categories = CategoriesField(
        label="arXiv categories",
        help_text=(
            "Only papers in the categories you tick; tick none to get papers from all of them. "
            "Papers whose category we don't know yet (some Hugging Face picks) are still included."
        ),
    )
    followed_authors = ListField(
        required=False,
        widget=forms.Textarea(attrs={"rows": 3}),
        help_text="Papers by these people always make your digest. One name per line.",
    )
    muted_topics = MutedTopicsField()

    class Meta:
        model = Subscriber
        fields = Subscriber.PREFERENCE_FIELDS
        widgets = {
            "interests": forms.Textarea(attrs={"rows": 3, "placeholder": "diffusion, RLHF, protein folding"}),
            "frequency": forms.RadioSelect,
            "email_format": forms.RadioSelect,
        }
        help_texts = {
            "interests": "Keywords and phrases, comma-separated. Papers about them rank first.",
            "papers_per_digest": "From 1 to 50.",
        }

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        time_zone = cast(forms.ChoiceField, self.fields["time_zone"])  # declared above
        time_zone.choices = [(name, name.replace("_", " ")) for name in sorted(available_time_zones())]

    def clean_interests(self) -> str:
        return " ".join(self.cleaned_data["interests"].split())

    def category_picker(self) -> CategoryPicker:
        """The picker's sections (``taxonomy.SECTIONS``) with their checkboxes, in the field's order."""
        options = iter(self["categories"].subwidgets)
        sections = []
        for section in taxonomy.SECTIONS:
            boxes = [next(options) for _ in section.categories]
            chosen = [box.data["value"] for box in boxes if box.data["selected"]]
            sections.append(PickerSection(section.name, boxes, chosen))
        return CategoryPicker(sections, [value for section in sections for value in section.chosen])

    def clean_followed_authors(self) -> list[str]:
        authors = [name[:200] for name in self.cleaned_data["followed_authors"]]
        if len(authors) > MAX_FOLLOWED_AUTHORS:
            raise forms.ValidationError(f"At most {MAX_FOLLOWED_AUTHORS} authors.")
        return authors
