"""What a browser posts from a rendered form: the form's own fields as the page has them (text,
textareas, the selected options, ticked boxes), so a test that posts them back round-trips what
the editor saw rather than values the test typed."""

from __future__ import annotations

from bs4 import BeautifulSoup, Tag


def form_data(html: str, selector: str = "form") -> dict[str, list[str]]:
    form = BeautifulSoup(html, "html.parser").select_one(selector)
    assert isinstance(form, Tag), f"no {selector} on the page"
    data: dict[str, list[str]] = {}

    def add(name: object, value: object) -> None:
        if isinstance(name, str) and name:
            data.setdefault(name, []).append(str(value))

    for field in form.find_all(["input", "textarea", "select"]):
        if field.has_attr("disabled"):
            continue
        name = field.get("name")
        if field.name == "textarea":
            # A browser drops the one line break that follows <textarea>, as the HTML parser does.
            add(name, field.text.removeprefix("\n").replace("\r\n", "\n"))
        elif field.name == "select":
            for option in field.find_all("option"):
                if option.has_attr("selected"):
                    add(name, option.get("value", option.text))
        elif field.get("type") in ("checkbox", "radio"):
            if field.has_attr("checked"):
                add(name, field.get("value", "on"))
        elif field.get("type") not in ("submit", "button", "image", "reset", "file"):
            add(name, field.get("value", ""))
    return data
