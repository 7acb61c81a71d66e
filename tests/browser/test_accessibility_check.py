"""check_layout's axe-core audit fails a page with a serious accessibility problem, with a message
that names the rule and the element, whether the page runs JavaScript or not."""

from __future__ import annotations

import pytest

from tests.conftest import check_layout

pytestmark = pytest.mark.browser
URL = "http://paperboy.test/"
# An input without a label and grey-on-white text: axe-core's "label" (critical) and
# "color-contrast" (serious) rules.
BAD_PAGE = """<!doctype html><html lang="en"><head><title>Bad</title></head><body><main>
<h1>A page with problems</h1><p id="faint" style="color:#bbb;background:#fff">Faint text</p>
<form><input id="nameless" type="text"></form></main></body></html>"""


@pytest.mark.parametrize("javascript", [True, False], ids=["javascript", "no-javascript"])
def test_a_serious_violation_fails_the_layout_check(browser, javascript):
    context = browser.new_context(java_script_enabled=javascript)
    page = context.new_page()
    page.route(URL, lambda route: route.fulfill(body=BAD_PAGE, content_type="text/html"))
    page.goto(URL)
    try:
        with pytest.raises(AssertionError) as failure:
            check_layout(page, f"a11y-check-{'js' if javascript else 'nojs'}", [])
    finally:
        context.close()
    message = str(failure.value)
    assert "axe-core finds" in message
    assert "label (critical): Form elements must have labels — #nameless" in message
    assert "color-contrast (serious)" in message and "#faint" in message
