from __future__ import annotations

from typing import Any

from django import forms

from papers.search import QUERY_MAX_CHARS, full_text


class SearchForm(forms.Form):
    q = forms.CharField(
        label="Search papers",
        max_length=QUERY_MAX_CHARS,
        required=False,
        help_text=(
            "Searches titles, abstracts, authors and keywords. "
            '"Quotes" for a phrase, -word to leave out, or for either.'
        ),
        widget=forms.TextInput(attrs={"placeholder": "e.g. diffusion transformer"}),
    )
    since = forms.DateField(
        label="Listed from", required=False, widget=forms.DateInput(attrs={"type": "date"}, format="%Y-%m-%d")
    )
    until = forms.DateField(
        label="to", required=False, widget=forms.DateInput(attrs={"type": "date"}, format="%Y-%m-%d")
    )

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        if not full_text():  # SQLite's substring search knows no "or" (papers/search.py)
            self.fields[
                "q"
            ].help_text = 'Searches titles, abstracts, authors and keywords. "Quotes" for a phrase, -word to leave out.'

    def clean(self) -> dict[str, Any]:
        cleaned = super().clean() or {}
        since, until = cleaned.get("since"), cleaned.get("until")
        if since and until and since > until:
            self.add_error("until", "The end of the range must not be before its start.")
        return cleaned
