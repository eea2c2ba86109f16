"""What every console response carries and how its pages are built: security headers (CSP, frame
and cache protection), no inline script or style, one h1 and a label for every control, the tabs
as an ARIA tablist, and unknown parameters shown harmlessly."""

from __future__ import annotations

from typing import Any

import pytest

from tests.support.api import Api, manual_subscription
from tests.support.console import (
    JSON,
    MORE,
    PAGE,
    act_signed,
    get,
    signed_in,
)
from tests.support.dom import dom


def _pages(api: Api, engine: Any) -> list[tuple[str, Any]]:
    """Every kind of console response, for checks that apply to all of them."""
    anonymous = [("sign-in", get(api, "/console/sign-in")), ("401", get(api))]
    manual_subscription(engine, "acme", "pro", started_days_ago=3)
    signed_in(api)
    signed = [(f"tab {tab}", get(api, f"{PAGE}?tab={tab}")) for tab in ("plans", "credits", "usage")]
    signed += [
        ("confirm", get(api, f"{PAGE}?confirm=cancel")),
        ("error", get(api, "/console/organizations/beta/subscription")),
        ("refusal", act_signed(api, "checkout", plan="pro", interval="month", provider="stripe")),
    ]
    return anonymous + signed


def test_console_responses_carry_a_strict_csp_and_frame_and_cache_protection(api, engine):
    responses = _pages(api, engine)
    responses.append(("json", get(api, f"{MORE}?cursor=dDE6MTA", headers=JSON)))
    responses.append(("redirect", act_signed(api, "cancel")))
    static = get(api, "/console/static/console.js")

    for name, response in [*responses, ("static", static)]:
        csp = response.headers.get("Content-Security-Policy", "")
        assert "'unsafe-inline'" not in csp and "unsafe-eval" not in csp, name
        assert "script-src 'self'" in csp and "frame-ancestors 'none'" in csp, name
        assert response.headers["X-Frame-Options"] == "DENY", name
        assert response.headers["X-Content-Type-Options"] == "nosniff", name
    for name, response in responses:
        assert response.headers["Cache-Control"] == "no-store", name
    assert static.status_code == 200 and "no-store" not in static.headers.get("Cache-Control", "")
    static.close()


def test_console_pages_have_no_inline_script_or_style_that_the_csp_would_block(api, engine):
    for name, response in _pages(api, engine):
        page = dom(response)
        scripts = page.find_all("script")
        assert scripts and all(s.get("src", "").startswith("/console/static/") for s in scripts), name
        assert all(not s.text for s in scripts), name
        assert page.find_all("style") == [], name
        for node in page.walk():
            assert "style" not in node.attrs, (name, node.tag)
            assert not [a for a in node.attrs if a.startswith("on")], (name, node.tag)


def test_every_page_has_one_h1_and_every_control_has_a_label(api, engine):
    for name, response in _pages(api, engine):
        page = dom(response)
        assert response.mimetype == "text/html", name
        assert len(page.find_all("h1")) == 1, name
        assert page.find("html")["lang"] == "en"
        labelled = {label["for"] for label in page.find_all("label") if "for" in label.attrs}
        for control in page.walk():
            if control.tag not in ("input", "select", "textarea") or control.get("type") == "hidden":
                continue
            assert control.get("id") in labelled or control.get("aria-label"), (name, control.attrs)
        for button in page.find_all("button"):
            assert button.text or button.get("aria-label"), (name, button.attrs)
        ids = [n["id"] for n in page.walk() if "id" in n.attrs]
        assert len(ids) == len(set(ids)), (name, sorted(i for i in ids if ids.count(i) > 1))


@pytest.mark.parametrize("tab", ["plans", "credits", "usage"])
def test_the_tabs_are_an_aria_tablist_with_the_chosen_tab_selected(api, tab):
    signed_in(api)

    page = dom(get(api, f"{PAGE}?tab={tab}"))

    tabs = page.find("div", role="tablist").find_all(role="tab")
    assert [t["id"] for t in tabs] == ["tab-plans", "tab-credits", "tab-usage"]
    for t in tabs:
        panel = page.by_id(t["aria-controls"])
        chosen = t["id"] == f"tab-{tab}"
        assert panel["role"] == "tabpanel" and panel["aria-labelledby"] == t["id"]
        assert t["aria-selected"] == ("true" if chosen else "false")
        assert t["tabindex"] == ("0" if chosen else "-1")
        assert panel.hidden is not chosen


def test_an_unknown_notice_shows_nothing(api):
    signed_in(api)

    page = dom(get(api, f"{PAGE}?notice=<b>pwned</b>"))

    assert page.find(id="notice") is None
    assert page.find_all("b") == []


def test_an_unknown_tab_falls_back_to_plans(api):
    signed_in(api)

    page = dom(get(api, f"{PAGE}?tab=<script>"))

    assert page.by_id("tab-plans")["aria-selected"] == "true"
    assert not page.by_id("panel-plans").hidden
