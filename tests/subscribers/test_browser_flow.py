"""A reader's whole journey in headless Chromium: signup, the email in the outbox, confirm,
preferences, unsubscribe. A screenshot of every page lands in test-output/browser/."""

from __future__ import annotations

import email
import re
from email import policy

import pytest
from django.core.cache import cache
from django.urls import reverse

from subscribers.models import Subscriber
from tests.conftest import ROOT, contrast

pytestmark = [pytest.mark.browser, pytest.mark.django_db(transaction=True)]
SCREENSHOTS = ROOT / "test-output" / "browser"


@pytest.fixture
def reader_page(browser):
    context = browser.new_context(timezone_id="Asia/Tokyo", viewport={"width": 1100, "height": 900})
    page = context.new_page()
    yield page
    context.close()


def outbox_messages(outbox) -> list[email.message.EmailMessage]:
    return [email.message_from_bytes(path.read_bytes(), policy=policy.default) for path in sorted(outbox.glob("*.eml"))]


def test_signup_confirm_preferences_unsubscribe(reader_page, live_server, settings, tmp_path):
    page = reader_page
    settings.EMAIL_BACKEND = "common.outbox.OutboxEmailBackend"
    settings.OUTBOX_DIR = tmp_path / "outbox"
    settings.SITE_URL = live_server.url
    cache.clear()
    SCREENSHOTS.mkdir(parents=True, exist_ok=True)
    shot = iter(range(1, 100))

    def screenshot(name: str) -> None:
        page.screenshot(path=SCREENSHOTS / f"{next(shot):02d}-{name}.png", full_page=True)

    problems: list[str] = []
    page.on("console", lambda message: problems.append(message.text) if message.type == "error" else None)

    # 1. Sign up on the home page.
    page.goto(live_server.url + "/")
    page.fill("#id_email", "ada@example.org")
    page.fill("#id_interests", "graph neural networks, protein folding")
    screenshot("home-signup")
    page.click("form.signup-form button[type=submit]")
    page.wait_for_url("**/subscribe/check-your-inbox/")
    assert page.locator("h1").inner_text() == "Check your inbox"
    screenshot("check-inbox")

    subscriber = Subscriber.objects.get()
    assert (subscriber.status, subscriber.time_zone) == ("pending", "Asia/Tokyo"), "zone guessed by the browser"

    # 2. The confirmation email, as written to the outbox.
    (confirmation,) = outbox_messages(tmp_path / "outbox")
    assert confirmation["To"] == "ada@example.org"
    html = confirmation.get_body(("html",)).get_content()
    confirm_link = re.search(r'href="([^"]+/confirm/[^"]+)"', html).group(1)
    assert confirm_link.startswith(live_server.url)

    # 3. Open the link, confirm.
    page.goto(confirm_link)
    screenshot("confirm")
    page.get_by_role("button", name="Confirm my subscription").click()
    page.wait_for_selector("text=You're subscribed")
    screenshot("confirmed")
    subscriber.refresh_from_db()
    assert subscriber.status == "active"
    welcome = outbox_messages(tmp_path / "outbox")[-1]
    assert welcome["Subject"] == "Welcome to Paperboy"

    # 4. Preferences: weekly on Friday at 07:00, 20 papers, a category.
    page.get_by_role("link", name="Set my preferences").click()
    page.wait_for_selector("h1:text('Your preferences')")
    assert page.input_value("#id_time_zone") == "Asia/Tokyo"
    page.check("input[name=frequency][value=weekly]")
    page.select_option("#id_weekly_day", "4")
    page.select_option("#id_send_hour", "7")
    page.fill("#id_papers_per_digest", "20")
    page.locator("summary", has_text="Computer Science").click()
    page.get_by_label("cs.LG — Machine Learning").check()
    page.locator("summary", has_text="Quantitative Biology").click()
    page.get_by_label("q-bio.BM — Biomolecules").check()
    page.get_by_role("button", name="Save preferences").click()
    page.wait_for_selector("text=Saved.")
    assert page.locator(".category-picker .picked").inner_text() == "Chosen: cs.LG, q-bio.BM"
    screenshot("preferences-saved")
    subscriber.refresh_from_db()
    assert (subscriber.frequency, subscriber.weekly_day, subscriber.send_hour) == ("weekly", 4, 7)
    assert (subscriber.papers_per_digest, subscriber.categories) == (20, ["cs.LG", "q-bio.BM"])

    # 5. Unsubscribe from the preference center.
    page.get_by_role("link", name="Unsubscribe").click()
    page.wait_for_selector("h1:text('Unsubscribe')")
    screenshot("unsubscribe")
    page.get_by_role("button", name="Unsubscribe").click()
    page.wait_for_selector("text=You're unsubscribed")
    screenshot("unsubscribed")
    subscriber.refresh_from_db()
    assert subscriber.status == "unsubscribed"

    assert problems == []
    assert len(list(SCREENSHOTS.glob("*.png"))) >= 7


def test_the_category_picker_on_a_phone_in_dark_mode_without_javascript(browser, live_server):
    """390 px wide, dark, no JavaScript: the groups open and close as <details>, the checkboxes
    save, nothing is wider than the screen, and the text is readable."""
    from subscribers.tokens import Purpose, make_token
    from tests.factories import SubscriberFactory

    subscriber = SubscriberFactory(categories=["cs.CL"])
    context = browser.new_context(
        viewport={"width": 390, "height": 844}, color_scheme="dark", java_script_enabled=False, device_scale_factor=1
    )
    page = context.new_page()
    try:
        token = make_token(subscriber, Purpose.PREFERENCES)
        page.goto(live_server.url + reverse("subscribers:preferences", args=[token]))
        picker = page.locator(".category-picker")
        assert "Papers whose category we don't know yet (some Hugging Face picks) are still included." in (
            picker.inner_text()
        )
        assert page.locator("details.category-group[open] summary").all_inner_texts() == [
            "Computer Science (1 chosen)"
        ], "the group with a chosen category is open, the others closed"
        page.locator("summary", has_text="Physics: Astrophysics").click()
        page.get_by_label("astro-ph.GA — Astrophysics of Galaxies").check()
        page.screenshot(path=SCREENSHOTS / "phone-dark-category-picker.png", full_page=True)
        widths = page.evaluate("[document.documentElement.scrollWidth, document.documentElement.clientWidth]")
        assert widths[0] <= widths[1] == 390, f"the page scrolls sideways: {widths}"
        for selector in (".category-group summary", ".category-group li label", ".category-picker .help"):
            assert contrast(page, selector) >= 4.5, selector
        page.get_by_role("button", name="Save preferences").click()
        page.wait_for_selector("text=Saved.")
        subscriber.refresh_from_db()
        assert subscriber.categories == ["cs.CL", "astro-ph.GA"]
    finally:
        context.close()
