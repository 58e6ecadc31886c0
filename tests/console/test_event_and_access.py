"""The event detail page (diff, masking, escaping, tenancy) and the access explorer on the
examples of DESIGN.md section 2, in headless Chromium."""

from __future__ import annotations

import pytest
from playwright.async_api import Dialog, Page

from authz.v1 import authz_pb2 as pb
from tests.audit.query_fixtures import record, store, viewer_of
from tests.authz.clients import bind, create_user, group, user
from tests.authz.test_design_examples import deploy_only_setup
from tests.console.browser import Console, screenshot, shown_event_ids, sign_in

pytestmark = pytest.mark.integration

HOSTILE = '<script>window.__xss = 1</script><img src=x onerror="window.__xss = 2">'


async def test_an_update_shows_its_states_side_by_side_with_changes_and_masks(
    console: Console, page: Page
) -> None:
    old = {"identifier": "deployer", "permissions": ["core_pipeline_view"], "api_token": "***"}
    new = {
        "identifier": "deployer",
        "permissions": ["core_pipeline_view", "core_pipeline_execute"],
        "api_token": "***",
    }
    event = record(
        0,
        action="UPDATE",
        resource_type="ROLE",
        resource_id="deployer",
        old_state=old,
        new_state=new,
        resource_labels={"reason": "quarterly review"},
    )
    await store(console.api.database_url, [event])
    await sign_in(page, console, console.api.authz.token)
    await page.goto(console.at(f"/events/{event.event_id}"))
    await page.get_by_role("heading", name="update ROLE deployer").wait_for()
    for field in ("Client IP", "User agent", "Request id", "Policy revision", "Schema version"):
        await page.locator("dt", has_text=field).wait_for()
    assert await page.locator("td", has_text="quarterly review").count() == 1
    added = page.locator("table.diff tr.diff-added td.right")
    assert await added.all_inner_texts() == ["- core_pipeline_execute"]
    unchanged = await page.locator("table.diff tr.diff-same td.left").all_inner_texts()
    assert "identifier: deployer" in unchanged
    assert "- core_pipeline_view" in unchanged
    masked = page.locator("table.diff tr.masked")
    assert await masked.count() == 1
    assert "masked" in await masked.inner_text()
    assert "***" in await masked.inner_text()
    # Highlighted: a changed row has another background than an unchanged one.
    colour = "el => getComputedStyle(el).backgroundColor"
    assert await added.first.evaluate(colour) != await page.locator(
        "table.diff tr.diff-same td.right"
    ).first.evaluate(colour)
    await screenshot(page, "event-diff")


async def test_event_fields_are_shown_as_text_never_run(console: Console, page: Page) -> None:
    dialogs: list[Dialog] = []
    page.on("dialog", lambda dialog: dialogs.append(dialog))
    event = record(
        0,
        resource_id=HOSTILE,
        principal_email=f"{HOSTILE}@x",
        user_agent=HOSTILE,
        resource_labels={HOSTILE: HOSTILE},
        new_state={HOSTILE: HOSTILE},
    )
    await store(console.api.database_url, [event])
    await sign_in(page, console, console.api.authz.token)
    await page.goto(console.at("/events?text=script"))
    assert await shown_event_ids(page) == [str(event.event_id)]
    assert HOSTILE in await page.locator("table.events").inner_text()
    await page.goto(console.at(f"/events/{event.event_id}"))
    assert HOSTILE in await page.locator("dl.fields").inner_text()
    assert await page.evaluate("window.__xss") is None
    assert await page.locator("main script, main img").count() == 0
    assert dialogs == []
    await screenshot(page, "event-hostile")


async def test_another_tenants_event_is_not_found(console: Console, page: Page) -> None:
    theirs = record(0, account="b", resource_id="theirs")
    lookalike = record(1, account="a_x", resource_id="lookalike")
    await store(console.api.database_url, [theirs, lookalike])
    await sign_in(page, console, console.api.authz.token)
    for event in (theirs, lookalike, record(2)):  # the last one was never stored
        response = await page.goto(console.at(f"/events/{event.event_id}"))
        assert response is not None
        assert response.status == 404
        await page.get_by_role("alert").get_by_text("Not found").wait_for()
        assert event.resource_id not in await page.content()
    await screenshot(page, "event-not-found")


async def test_the_explorer_answers_design_example_1(console: Console, page: Page) -> None:
    authz = console.api.authz
    await create_user(authz, "a", "alice")
    await bind(
        authz, "a/o/p", "b1", user("alice"), "_project_viewer", "_all_project_level_resources"
    )
    await sign_in(page, console, authz.token)
    await page.get_by_role("link", name="Access explorer").click()
    await page.get_by_text("Pick a principal").wait_for()
    await page.get_by_label("Principal", exact=True).fill("alice")
    await page.get_by_label("Scope", exact=True).fill("a/o/p")
    await page.get_by_label("Permission", exact=True).fill("core_pipeline_view")
    await page.get_by_label("Resource type").fill("PIPELINE")
    await page.get_by_label("Resource identifier").fill("x")
    await page.get_by_role("button", name="Ask").click()
    verdict = page.locator(".verdict")
    await verdict.wait_for()
    assert (await verdict.inner_text()).startswith("Allowed")
    grants = await page.locator("table.grants tbody tr").all_inner_texts()
    assert len(grants) == 1
    assert "a/o/p/b1" in grants[0]
    assert "_project_viewer" in grants[0]
    permissions = await page.locator("ul.perms li").all_inner_texts()
    assert "core_pipeline_view" in permissions
    assert "core_pipeline_execute" not in permissions
    await screenshot(page, "access-allowed")

    await page.get_by_label("Permission", exact=True).fill("core_pipeline_execute")
    await page.get_by_role("button", name="Ask").click()
    await page.wait_for_url("**permission=core_pipeline_execute**")
    assert (await page.locator(".verdict").inner_text()).startswith("Denied")
    assert await page.locator("table.grants").count() == 0
    await screenshot(page, "access-denied")

    await page.goto(
        console.at(
            "/access?pid=alice&scope=a/o/q&permission=core_pipeline_view&rtype=PIPELINE&rid=x"
        )
    )
    assert (await page.locator(".verdict").inner_text()).startswith("Denied")
    await page.get_by_text("None: nothing is granted").wait_for()


async def test_the_explorer_names_the_group_and_the_principal_page_lists_it(
    console: Console, page: Page
) -> None:
    authz = console.api.authz
    await create_user(authz, "a", "alice")
    await authz.groups.CreateUserGroup(
        pb.CreateUserGroupRequest(
            user_group=pb.UserGroup(scope="a", identifier="devs", members=["alice"])
        )
    )
    await bind(
        authz,
        "a/o/p",
        "b2",
        group("devs", "a"),
        "_pipeline_executor",
        "_all_project_level_resources",
    )
    await sign_in(page, console, authz.token)
    await page.goto(
        console.at(
            "/access?pid=alice&scope=a/o/p&permission=core_pipeline_execute&rtype=PIPELINE&rid=x"
        )
    )
    row = await page.locator("table.grants tbody tr").inner_text()
    assert "a/o/p/b2" in row
    assert "a/devs" in row
    await page.get_by_role("link", name="Groups and bindings of alice").click()
    await page.get_by_role("heading", name="Groups").wait_for()
    assert "devs" in await page.locator("main ul").first.inner_text()
    bindings = await page.locator("table.grants tbody tr").all_inner_texts()
    assert len(bindings) == 1
    assert "b2" in bindings[0]
    assert "_pipeline_executor" in bindings[0]
    await screenshot(page, "principal")
    await page.goto(console.at("/access?pid=alice&scope=a&permission=core_pipeline_execute"))
    assert (await page.locator(".verdict").inner_text()).startswith("Denied")


async def test_the_explorer_on_example_3_with_a_resource(console: Console, page: Page) -> None:
    await deploy_only_setup(console.api.authz, include_child_scopes=True)
    await sign_in(page, console, console.api.authz.token)
    ask = "/access?pid=alice&scope=a/o/p&permission=core_pipeline_execute&rtype=PIPELINE&rid="
    await page.goto(console.at(ask + "deploy"))
    assert (await page.locator(".verdict").inner_text()).startswith("Allowed")
    await page.goto(console.at(ask + "build"))
    assert (await page.locator(".verdict").inner_text()).startswith("Denied")


async def test_asking_about_others_without_core_access_check_is_refused_in_words(
    console: Console, page: Page
) -> None:
    token = await viewer_of(console.api, "vic", "a/o/p")
    await sign_in(page, console, token)
    await page.goto(console.at("/access?pid=admin&scope=a&permission=core_audit_view"))
    alerts = await page.get_by_role("alert").all_inner_texts()
    assert alerts
    assert all(text.startswith("You are not allowed to do this") for text in alerts)
    await screenshot(page, "access-refused")
    # About itself it needs only its token.
    await page.goto(console.at("/access?pid=vic&scope=a/o/p&permission=core_pipeline_view"))
    assert (await page.locator(".verdict").inner_text()).startswith("Allowed")


async def test_the_chain_of_the_account_verifies(console: Console, page: Page) -> None:
    await store(console.api.database_url, [record(i) for i in range(5)])
    await sign_in(page, console, console.api.authz.token)
    await page.get_by_role("link", name="Verify chain of a").click()
    status = page.get_by_role("status")
    await status.wait_for()
    assert "Intact: 5 events checked" in await status.inner_text()
    await screenshot(page, "chain")
    await page.goto(console.at("/chain?account=b"))
    assert (await page.get_by_role("alert").inner_text()).startswith("You are not allowed")
