"""The public home page: served with our own CSS, a strict CSP, and usable on a phone."""

from __future__ import annotations

import pytest

pytestmark = pytest.mark.django_db


def test_home_page_has_the_three_regions(client):
    response = client.get("/")
    assert response.status_code == 200
    html = response.content.decode()
    assert "<h1>Trending research papers, in your inbox</h1>" in html
    assert 'id="today"' in html
    assert 'id="subscribe"' in html
    assert "/static/paperboy/site.css" in html


def test_security_headers(client):
    response = client.get("/")
    policy = response["Content-Security-Policy"]
    assert "default-src 'self'" in policy
    assert "script-src 'self'" in policy
    assert "frame-ancestors 'none'" in policy
    assert response["X-Frame-Options"] == "DENY"
    assert response["X-Content-Type-Options"] == "nosniff"


@pytest.mark.browser
@pytest.mark.parametrize(("width", "height"), [(1280, 800), (375, 740)])
def test_home_page_in_a_real_browser(page, live_server, width, height):
    problems: list[str] = []
    page.on("console", lambda message: problems.append(message.text) if message.type == "error" else None)
    page.on("pageerror", lambda error: problems.append(str(error)))
    page.set_viewport_size({"width": width, "height": height})

    response = page.goto(f"{live_server.url}/")
    assert response.status == 200
    assert page.locator("h1").inner_text() == "Trending research papers, in your inbox"
    assert page.locator("#subscribe").is_visible()
    assert page.locator("#today").is_visible()
    # Our stylesheet loaded and applied (the CSP allows 'self' styles only).
    assert page.evaluate("getComputedStyle(document.querySelector('.signup')).borderRadius") == "10px"
    # Nothing overflows sideways, phone included.
    overflow = page.evaluate("document.documentElement.scrollWidth - document.documentElement.clientWidth")
    assert overflow <= 0
    assert problems == []
