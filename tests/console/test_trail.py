"""The audit trail page against the API's own answers for the same filter."""

from __future__ import annotations

import csv
import io
import json
from datetime import timedelta
from zoneinfo import ZoneInfo

import pytest
from playwright.async_api import Page

from audit.v1 import query_pb2 as q
from services.console.filters import TrailFilter
from tests.audit.query_fixtures import NOW, record, store, viewer_of
from tests.audit.test_query_api import all_pages, dataset, oracle
from tests.console.browser import Console, screenshot, shown_event_ids, sign_in

pytestmark = pytest.mark.integration

# URL queries as a person would write or share them, each with the API filter it means.
URL_FILTERS = {
    "range=90d&principal=bob&action=DELETE": "a bob delete",
    "range=90d&scope_only=a/o&action=CREATE,LOGIN": "an organization alone",
    "range=30d&scope=a/o/p,a/o/q&resource_type=PIPELINE": "two projects, one type",
    "range=90d&principal=SERVICE_ACCOUNT:ci&module=authz&no_login=1": "typed principal",
    "range=90d&network=10.0.0.0/24&text=r1": "network and text",
    "range=90d&no_system=1&resource_id=r3,r8,r13": "ids",
    "range=24h": "the last day",
}


async def all_rows(page: Page) -> list[str]:
    """Every id of the trail, following its 'Older events' links."""
    ids = await shown_event_ids(page)
    while await page.get_by_role("link", name="Older events »").count():
        await page.get_by_role("link", name="Older events »").click()
        await page.wait_for_load_state()
        ids += await shown_event_ids(page)
    return ids


async def test_filters_in_the_url_show_what_the_api_answers(console: Console, page: Page) -> None:
    records = dataset()
    await store(console.api.database_url, records)
    await sign_in(page, console, console.api.authz.token)
    for query, name in URL_FILTERS.items():
        filt = TrailFilter.from_query(
            {k: [v] for k, v in (p.split("=") for p in query.split("&"))}
        ).with_default_scope("a")
        expected = await all_pages(console.api, filt.to_proto())
        assert expected == oracle(records, filt.to_proto()), name
        await page.goto(console.at(f"/events?{query}"))
        assert await all_rows(page) == expected, name
    await page.goto(console.at("/events?principal=nobody"))
    assert await shown_event_ids(page) == []
    await page.get_by_text("No events match this filter").wait_for()
    await screenshot(page, "trail-empty")


async def test_the_filter_form_writes_the_url_and_the_back_button_returns(
    console: Console, page: Page
) -> None:
    records = dataset()
    await store(console.api.database_url, records)
    await sign_in(page, console, console.api.authz.token)
    await page.goto(console.at("/events?range=90d"))
    first = await shown_event_ids(page)
    assert len(first) == 20
    assert await page.get_by_role("link", name="Older events »").count()
    await screenshot(page, "trail")
    await page.get_by_label("Principals").fill("bob")
    await page.get_by_label("delete", exact=True).check()
    await page.get_by_role("button", name="Apply").click()
    await page.wait_for_url("**/events?*principal=bob*")
    assert "action=DELETE" in page.url
    assert "range=90d" in page.url
    filtered = await shown_event_ids(page)
    api_filter = TrailFilter(scope=["a"], principal=["bob"], action=["DELETE"], range="90d")
    assert filtered == await all_pages(console.api, api_filter.to_proto())
    await screenshot(page, "trail-filtered")
    await page.go_back()
    await page.wait_for_load_state()
    assert await shown_event_ids(page) == first
    assert await page.get_by_label("Principals").input_value() == ""
    await page.go_forward()
    await page.wait_for_load_state()
    assert await page.get_by_label("Principals").input_value() == "bob"


async def test_pages_follow_the_api_keyset_without_gaps_or_repeats(
    console: Console, page: Page
) -> None:
    records = dataset()
    await store(console.api.database_url, records)
    await sign_in(page, console, console.api.authz.token)
    await page.goto(console.at("/events?range=90d"))
    ids = await all_rows(page)
    assert ids == oracle(records, TrailFilter(scope=["a"], range="90d").to_proto())
    assert len(ids) > 3 * console.settings.page_size
    await page.get_by_role("link", name="« Newest").click()
    await page.wait_for_load_state()
    assert (await shown_event_ids(page)) == ids[: console.settings.page_size]


async def test_a_custom_range_is_read_in_the_browsers_time_zone(
    console: Console, page: Page
) -> None:
    records = [record(i, occurred_at=NOW - timedelta(hours=i)) for i in range(48)]
    await store(console.api.database_url, records)
    await sign_in(page, console, console.api.authz.token)
    zone = ZoneInfo("America/New_York")
    start, end = (
        (NOW - timedelta(hours=30)).astimezone(zone),
        (NOW - timedelta(hours=10)).astimezone(zone),
    )
    await page.goto(console.at("/events"))
    await page.get_by_label("Custom range").check()
    await page.get_by_label("From (your time)").fill(start.strftime("%Y-%m-%dT%H:%M"))
    await page.get_by_label("To (your time)").fill(end.strftime("%Y-%m-%dT%H:%M"))
    # The browser's zone goes along in a hidden field (the script fills it in).
    await page.evaluate("document.getElementById('tz').value = 'America/New_York'")
    await page.get_by_role("button", name="Apply").click()
    await page.wait_for_url("**range=custom**")
    assert "tz=America%2FNew_York" in page.url
    expected = [
        str(r.event_id)
        for r in sorted(records, key=lambda r: r.occurred_at, reverse=True)
        if start.replace(second=0) <= r.occurred_at < end.replace(second=0)
    ]
    assert len(expected) == 20
    assert await all_rows(page) == expected


async def test_the_browser_time_zone_is_what_the_form_sends(
    console: Console, browser: object
) -> None:
    from playwright.async_api import Browser

    assert isinstance(browser, Browser)
    context = await browser.new_context(timezone_id="Asia/Tokyo")
    try:
        page = await context.new_page()
        await sign_in(page, console, console.api.authz.token)
        assert await page.locator("#tz").input_value() == "Asia/Tokyo"
    finally:
        await context.close()


async def test_a_viewer_of_one_project_sees_the_apis_denial_in_words(
    console: Console, page: Page
) -> None:
    await store(console.api.database_url, dataset())
    token = await viewer_of(console.api, "vera", "a/o/p")
    await sign_in(page, console, token)
    alert = page.get_by_role("alert")
    await alert.wait_for()
    assert "You are not allowed to do this" in await alert.inner_text()
    await screenshot(page, "trail-denied")
    await page.goto(console.at("/events?scope=a/o/p&range=90d"))
    shown = await shown_event_ids(page)
    expected = oracle(dataset(), TrailFilter(scope=["a/o/p"], range="90d").to_proto())
    assert shown == expected[: console.settings.page_size]
    assert shown


async def test_export_downloads_what_the_api_exports(console: Console, page: Page) -> None:
    await store(console.api.database_url, dataset())
    await sign_in(page, console, console.api.authz.token)
    query = "range=90d&principal=alice"
    await page.goto(console.at(f"/events?{query}"))
    api_filter = TrailFilter(scope=["a"], principal=["alice"], range="90d").to_proto()
    for link, fmt in (("CSV", q.EXPORT_FORMAT_CSV), ("JSON Lines", q.EXPORT_FORMAT_JSON_LINES)):
        async with page.expect_download() as info:
            await page.get_by_role("link", name=link, exact=True).click()
        download = await info.value
        got = (await download.path()).read_bytes()
        chunks = console.api.stub.ExportEvents(
            q.ExportEventsRequest(filter=api_filter, format=fmt), metadata=console.api.admin
        )
        expected = b"".join([c.data async for c in chunks])
        assert got == expected
        assert got
        if fmt == q.EXPORT_FORMAT_CSV:
            assert download.suggested_filename == "audit-events.csv"
            rows = list(csv.DictReader(io.StringIO(got.decode())))
        else:
            rows = [json.loads(line) for line in got.decode().splitlines()]
        assert len(rows) == len(await all_pages(console.api, api_filter))


async def test_saved_filters_round_trip_and_visibility_between_two_users(
    console: Console, page: Page, browser: object
) -> None:
    from playwright.async_api import Browser

    assert isinstance(browser, Browser)
    await store(console.api.database_url, dataset())
    await sign_in(page, console, console.api.authz.token)
    await page.goto(console.at("/events?range=90d&principal=bob"))
    for name, visibility in (
        ("bob mine", "Only me"),
        ("bob shared", "Everyone who may view the scope"),
    ):
        await page.get_by_label("Save the current filter as").fill(name)
        await page.get_by_label("Visible to").select_option(label=visibility)
        await page.get_by_role("button", name="Save filter").click()
        await page.get_by_text(f"Saved the filter “{name}”.").wait_for()
    await screenshot(page, "trail-saved-filters")

    other = await browser.new_context()
    try:
        viewer = await other.new_page()
        await sign_in(viewer, console, await viewer_of(console.api, "otto", "a"))
        await viewer.goto(console.at("/events"))
        names = await viewer.locator(".saved-list a.apply").all_inner_texts()
        assert names == ["bob shared"]  # "only me" stays the owner's
        assert await viewer.locator(".saved-list form").count() == 0  # only the owner changes it
        await viewer.get_by_role("link", name="bob shared").click()
        await viewer.wait_for_url("**principal=bob**")
    finally:
        await other.close()

    await page.goto(console.at("/events"))
    await page.get_by_role("link", name="bob mine").click()
    await page.wait_for_url("**principal=bob**")
    assert "range=90d" in page.url
    assert await page.get_by_label("Principals").input_value() == "bob"
    await page.locator("summary", has_text="bob mine").click()
    await page.get_by_label("New name").first.fill("bob renamed")
    await page.get_by_role("button", name="Rename").first.click()
    await page.get_by_text("Renamed the filter to “bob renamed”.").wait_for()
    names = sorted(await page.locator(".saved-list a.apply").all_inner_texts())
    assert names == ["bob renamed", "bob shared"]
    await page.locator("summary", has_text="bob shared").click()
    await page.locator("li", has_text="bob shared").get_by_role("button", name="Delete").click()
    await page.get_by_text("Deleted the filter.").wait_for()
    listed = await console.api.stub.ListSavedFilters(
        q.ListSavedFiltersRequest(scope="a"), metadata=console.api.admin
    )
    assert [s.name for s in listed.saved_filters] == ["bob renamed"]
