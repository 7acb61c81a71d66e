"""Forms of the edition admin."""

from __future__ import annotations

from django import forms
from django.utils import timezone

from newsletter.models import Edition
from subscribers.forms import SingleLineEmailField


def no_line_breaks(value: str, what: str) -> None:
    if "\r" in value or "\n" in value:
        raise forms.ValidationError(f"{what} cannot contain line breaks.")


class SendTestForm(forms.Form):
    address = SingleLineEmailField(label="Send a test to", max_length=254)


class PreviewForm(forms.Form):
    subscriber = forms.CharField(
        label="Preview for subscriber",
        max_length=254,
        help_text="Their email address (or subscriber id).",
        widget=forms.TextInput(attrs={"placeholder": "reader@example.org"}),
    )
    format = forms.ChoiceField(choices=[("html", "HTML"), ("text", "Plain text")], initial="html")


class DraftForm(forms.Form):
    kind = forms.ChoiceField(choices=Edition.Kind.choices, initial=Edition.Kind.DAILY)
    day = forms.DateField(
        initial=timezone.localdate,
        help_text="Any day of the period: a daily edition covers that day, a weekly one its Monday–Sunday week.",
    )


class EditionForm(forms.ModelForm[Edition]):
    class Meta:
        model = Edition
        fields = ["subject", "intro"]

    def clean_subject(self) -> str:
        subject: str = self.cleaned_data["subject"]
        no_line_breaks(subject, "The subject")
        return subject
