"""The admin pages editors live in, in headless Chromium at 1,400 px (light and dark): the daily
entries fit without sideways scrolling and are curated in the list (status, pin, note, saved); the
subscriber form's category filter, one-per-line lists and time zone suggestions work and save; an
edition's page shows its numbers.
Screenshots land in test-output/browser/admin-*.png; axe-core checks each page."""

from __future__ import annotations

import datetime as dt

import pytest
from django.contrib.auth import get_user_model
from django.urls import reverse
from django.utils import timezone

from newsletter.models import Click, Delivery
from papers.models import DailyEntry
from subscribers.models import Subscriber
from tests.conftest import ROOT, axe_violations
from tests.factories import DailyEntryFactory, DeliveryFactory, EditionFactory, PaperFactory

pytestmark = [pytest.mark.browser, pytest.mark.django_db(transaction=True)]
SCREENSHOTS = ROOT / "test-output" / "browser"
WIDTH = 1400
DAY = dt.date(2026, 6, 10)


@pytest.fixture
def editor_page(browser, live_server, settings):
    """A staff member logged in through the admin's own login form (its throttle, which counts in
    the shared Redis across runs, out of the way: tests/test_admin_login.py tests it)."""
    settings.ADMIN_LOGIN_RATE_PER_USERNAME = settings.ADMIN_LOGIN_RATE_PER_IP = "10000/m"
    SCREENSHOTS.mkdir(parents=True, exist_ok=True)
    get_user_model().objects.create_superuser("editor", "editor@example.org", "a-long-test-password")
    context = browser.new_context(base_url=live_server.url, viewport={"width": WIDTH, "height": 900})
    page = context.new_page()
    errors: list[str] = []
    # The admin names no icon, so Chromium asks for /favicon.ico (a 404): not an error of the page.
    page.on(
        "response",
        lambda response: (
            errors.append(response.url)
            if response.status >= 400 and not response.url.endswith("/favicon.ico")
            else None
        ),
    )
    page.on("pageerror", lambda error: errors.append(str(error)))
    page.on(
        "console",
        lambda message: (
            errors.append(f"{page.url}: {message.text}")
            # Failed loads are seen above; a script with no URL is axe-core, evaluated by the test.
            if message.type == "error"
            and not message.text.startswith("Failed to load resource")
            and message.location.get("url")
            else None
        ),
    )
    page.goto("/admin/login/?next=/admin/")
    page.get_by_label("Username").fill("editor")
    page.get_by_label("Password").fill("a-long-test-password")
    page.get_by_role("button", name="Log in").click()
    page.wait_for_url("**/admin/")
    yield page
    context.close()
    assert errors == [], errors  # no missing file, no script error


def check_admin_page(page, name: str) -> None:
    """Light and dark at 1,400 px: a screenshot, nothing wider than the window (the page, and the
    results table inside its own scrolling box), and no serious axe-core violation."""
    for scheme in ("light", "dark"):
        page.emulate_media(color_scheme=scheme)
        page.screenshot(path=SCREENSHOTS / f"{name}-{WIDTH}-{scheme}.png", full_page=True)
        widths = page.evaluate("[document.documentElement.scrollWidth, document.documentElement.clientWidth]")
        assert widths[0] <= widths[1] == WIDTH, f"{name} scrolls sideways at {WIDTH} px {scheme}: {widths}"
        boxes = page.evaluate(
            "[...document.querySelectorAll('.results')].map((box) => [box.scrollWidth, box.clientWidth])"
        )
        assert all(inner <= outer for inner, outer in boxes), f"{name}: the list scrolls inside its box: {boxes}"
        problems = axe_violations(page)
        assert not problems, f"{name} {scheme}: axe-core finds\n" + "\n".join(problems)


def test_daily_entries_fit_1400_px_and_are_curated_in_the_list(editor_page):
    page = editor_page
    titles = [
        "Scaling sparse mixture-of-experts language models to a trillion parameters with "
        "expert-choice routing, load balancing and very long context windows",
        "Diffusion models for protein backbone generation",
        "Agents that browse: " + "a benchmark of realistic web tasks, " * 4,
    ]
    for n in range(12):
        DailyEntryFactory.create(
            day=DAY,
            status="pending" if n % 3 else "approved",
            note="Lead story: worth a line in the intro." if n == 1 else "",
            paper=PaperFactory.create(title=f"{titles[n % 3].strip()} ({n})", upvotes=100 - n),
        )
    page.goto(reverse("admin:papers_dailyentry_changelist") + "?o=1.-4.-7")  # sorted by three columns
    assert page.locator("#result_list thead .sortpriority").count() == 3
    check_admin_page(page, "admin-daily-entries-sorted")
    page.goto(reverse("admin:papers_dailyentry_changelist"))
    check_admin_page(page, "admin-daily-entries")

    first = page.locator("#result_list tbody tr").first
    entry_id = int(first.locator("input[name=_selected_action]").input_value())
    title = first.locator(".entry-title")
    assert title.get_attribute("title") == DailyEntry.objects.get(pk=entry_id).paper.title
    first.locator("select[name$='-status']").select_option("hidden")
    first.locator("input[name$='-pinned']").check()
    first.locator("textarea[name$='-note']").fill("Pinned: the day's big one.")
    page.get_by_role("button", name="Save", exact=True).click()
    page.wait_for_selector(".messagelist .success")
    entry = DailyEntry.objects.get(pk=entry_id)
    assert (entry.status, entry.pinned, entry.note) == ("hidden", True, "Pinned: the day's big one.")

    page.locator("#result_list .entry-title").first.click()
    page.wait_for_url("**/change/*")
    abstract = page.locator(".field-paper_abstract .entry-abstract")
    abstract.wait_for()
    assert abstract.inner_text() == "We study things and find that they are interesting."
    check_admin_page(page, "admin-daily-entry")


def test_subscriber_form_widgets_pick_categories_lists_and_time_zone(editor_page):
    page = editor_page
    reader = Subscriber.objects.create(
        email="reader@example.org",
        status="active",
        time_zone="Asia/Tokyo",
        categories=["cs.CL", "stat.ML"],
        followed_authors=["Yann LeCun", "Fei-Fei Li"],
        muted_topics=["LLM agents"],
    )
    page.goto(reverse("admin:subscribers_subscriber_change", args=[reader.pk]))
    check_admin_page(page, "admin-subscriber")

    page.locator("#id_categories_input").fill("cs.LG")  # admin's filter box narrows the list
    page.locator("#id_categories_from").select_option("cs.LG")
    page.locator("#id_categories_add").click()
    page.locator("#id_categories_to").select_option("stat.ML")
    page.locator("#id_categories_remove").click()
    page.get_by_label("Followed authors").fill("Yann LeCun\nGeoffrey Hinton")
    page.get_by_label("Muted topics").fill("LLM agents\nautonomous driving")
    zone = page.get_by_label("Time zone")
    zone.fill("berl")
    assert zone.get_attribute("list") == "id_time_zone-zones"
    assert page.locator("#id_time_zone-zones option[value='Europe/Berlin']").count() == 1
    zone.fill("Europe/Berlin")
    page.get_by_role("button", name="Save", exact=True).click()
    page.wait_for_selector(".messagelist .success")

    reader.refresh_from_db()
    assert reader.categories == ["cs.CL", "cs.LG"]
    assert reader.followed_authors == ["Yann LeCun", "Geoffrey Hinton"]
    assert reader.muted_topics == ["LLM agents", "autonomous driving"]
    assert reader.time_zone == "Europe/Berlin"

    page.goto(reverse("admin:subscribers_subscriber_change", args=[reader.pk]))
    page.get_by_label("Time zone").fill("Mars/Olympus")
    page.get_by_role("button", name="Save", exact=True).click()
    assert "“Mars/Olympus” is not a time zone name" in page.locator(".errorlist").inner_text()
    check_admin_page(page, "admin-subscriber-error")


def test_edition_page_shows_its_numbers(editor_page):
    page = editor_page
    edition = EditionFactory.create(status="sending", paper_ids=[])
    sent = DeliveryFactory.create_batch(4, edition=edition, status="sent")
    Delivery.objects.filter(pk=sent[0].pk).update(opened_at=timezone.now())
    Click.objects.create(delivery=sent[0], paper=PaperFactory.create(), link=Click.Link.PAGE)
    DeliveryFactory.create(edition=edition, status="failed")
    page.goto(reverse("admin:newsletter_edition_change", args=[edition.pk]))
    numbers = page.locator("#edition-numbers")
    assert "Clicked 1 25.0%" in " ".join(numbers.inner_text().split())
    assert numbers.get_by_role("link", name="Dashboard").get_attribute("href") == "/admin/dashboard/"
    check_admin_page(page, "admin-edition")
