"""The collection page's host limits (``properties.hostLimits``, issue 15, item 4): the
table of rules and the form that sets, edits and removes them, in Chromium against the real
server process, with its script and without it; what is stored is read through the API."""

from __future__ import annotations

import re
from collections.abc import Iterator
from typing import Any

import pytest

from tests.e2e.harness import Api, RunningServer
from tests.e2e.test_access import create_token
from tests.portal.test_browser import collection_url, new_collection, sign_in

CARD = "#host-limits"
FORM = "#host-limits-form"
ROWS = f"{FORM} [data-rule]"
ERROR = "#host-limits-error"
SAVE = f"{FORM} button[type=submit]"
ADD = f"{FORM} button[data-add-rule]"
SAVED = re.compile(r".*\?done=Host%20limits%20of%20c[0-9a-f]+%20saved%3A%20\d+%20rules?\.$")
REMOVED = re.compile(r".*\?done=Host%20limits%20of%20c[0-9a-f]+%20removed\.$")


def _cell(name: str, row: int) -> str:
    return f"{ROWS} >> nth={row} >> input[name^='{name}_']"


def _fill(page: Any, row: int, host: str, concurrency: str = "", rate: str = "") -> None:
    page.fill(_cell("host", row), host)
    page.fill(_cell("concurrency", row), concurrency)
    page.fill(_cell("rate", row), rate)


def _typed(page: Any) -> list[tuple[str, str, str]]:
    return [
        tuple(
            row.locator(f"input[name^='{cell}_']").input_value()
            for cell in ("host", "concurrency", "rate")
        )
        for row in page.locator(ROWS).all()
    ]


def _properties(api: Api, name: str) -> dict[str, Any]:
    response = api.get(api.collection_path(name))
    assert response.status_code == 200, response.text
    properties: dict[str, Any] = response.json()["properties"]
    return properties


def _shown(page: Any) -> list[str]:
    return [
        " ".join(text.split())
        for text in page.locator("#host-limits-table tbody tr").all_inner_texts()
    ]


@pytest.fixture
def page_without_scripts(chromium: Any) -> Iterator[Any]:
    context = chromium.new_context(
        viewport={"width": 1280, "height": 900}, java_script_enabled=False
    )
    context.set_default_timeout(15_000)
    try:
        yield context.new_page()
    finally:
        context.close()


def test_host_limits_set_shown_edited_and_removed_on_the_page(
    page: Any, server: RunningServer
) -> None:
    api, name = new_collection(server)
    before = _properties(api, name)
    sign_in(page, server)
    page.goto(collection_url(server, name))
    assert page.inner_text(f"{CARD} .empty").startswith("No host limits")
    assert page.locator(ROWS).count() == 2  # empty rows to add rules in
    assert page.is_visible(ADD)
    _fill(page, 0, "api.example.com", "5", "2.5")
    _fill(page, 1, "*.internal", "2")
    page.click(ADD)
    assert page.locator(ROWS).count() == 3
    assert page.evaluate("document.activeElement.name") == page.get_attribute(
        _cell("host", 2), "name"
    )
    assert page.get_attribute(_cell("host", 2), "aria-label") == "Host (rule 3)"
    _fill(page, 2, "slow.example.org", rate="0.5")
    page.click(SAVE)
    page.wait_for_url(SAVED)
    assert "saved: 3 rules." in page.inner_text(".flash")
    rules = [
        {"host": "api.example.com", "concurrency": 5, "ratePerSecond": 2.5},
        {"host": "*.internal", "concurrency": 2},
        {"host": "slow.example.org", "ratePerSecond": 0.5},
    ]
    assert _properties(api, name) == before | {"hostLimits": rules}
    assert page.locator("#host-limits-table thead th").all_inner_texts() == [
        "Host",
        "Concurrency",
        "Rate/s",
    ]
    assert _shown(page) == ["api.example.com 5 2.5", "*.internal 2 —", "slow.example.org — 0.5"]

    # The form holds the stored rules, then empty rows; one edited, one removed.
    assert _typed(page) == [
        ("api.example.com", "5", "2.5"),
        ("*.internal", "2", ""),
        ("slow.example.org", "", "0.5"),
        ("", "", ""),
        ("", "", ""),
    ]
    page.fill(_cell("concurrency", 0), "8")
    page.locator(ROWS).nth(1).locator("button[data-remove-rule]").click()
    assert page.locator(ROWS).count() == 4
    assert page.get_attribute(_cell("host", 1), "aria-label") == "Host (rule 2)"
    assert page.input_value(_cell("host", 1)) == "slow.example.org"
    page.click(SAVE)
    page.wait_for_url(SAVED)
    assert _properties(api, name)["hostLimits"] == [
        {"host": "api.example.com", "concurrency": 8, "ratePerSecond": 2.5},
        {"host": "slow.example.org", "ratePerSecond": 0.5},
    ]
    assert _shown(page) == ["api.example.com 8 2.5", "slow.example.org — 0.5"]

    # A PATCH through the API keeps them; every row removed, the collection has none.
    patched = api.patch(api.collection_path(name), {"properties": {"state": "Enabled"}})
    assert patched.status_code == 200, patched.text
    page.goto(collection_url(server, name))
    while page.locator(f"{ROWS} button[data-remove-rule]").count() > 1:
        page.locator(f"{ROWS} button[data-remove-rule]").first.click()
    page.locator(f"{ROWS} button[data-remove-rule]").first.click()  # leaves an empty row
    assert _typed(page) == [("", "", "")]
    page.click(SAVE)
    page.wait_for_url(REMOVED)
    assert _properties(api, name) == before
    assert page.inner_text(f"{CARD} .empty").startswith("No host limits")
    assert page.locator("#host-limits-table").count() == 0


def test_without_scripts_empty_rows_add_rules_and_remove_boxes_take_them_out(
    page_without_scripts: Any, server: RunningServer
) -> None:
    page = page_without_scripts
    api, name = new_collection(server)
    sign_in(page, server)
    page.goto(collection_url(server, name))
    assert not page.is_visible(ADD)
    assert page.locator(f"{ROWS} button[data-remove-rule]:visible").count() == 0
    _fill(page, 0, "api.example.com", "3")
    _fill(page, 1, "*.internal", "", "10")
    page.click(SAVE)
    page.wait_for_url(SAVED)
    assert _properties(api, name)["hostLimits"] == [
        {"host": "api.example.com", "concurrency": 3},
        {"host": "*.internal", "ratePerSecond": 10},
    ]
    assert _shown(page) == ["api.example.com 3 —", "*.internal — 10"]
    # The stored rules and two empty rows: one rule removed by its box, one added.
    assert page.locator(ROWS).count() == 4
    page.check(_cell("remove", 0))
    _fill(page, 3, "batch.example.net", "1", "0.25")
    page.click(SAVE)
    page.wait_for_url(SAVED)
    assert _properties(api, name)["hostLimits"] == [
        {"host": "*.internal", "ratePerSecond": 10},
        {"host": "batch.example.net", "concurrency": 1, "ratePerSecond": 0.25},
    ]
    # A refused rule without the script: the server's message, the rows as typed.
    page.check(_cell("remove", 0))
    _fill(page, 2, "only.example")
    page.click(SAVE)
    assert page.inner_text(ERROR).startswith("properties.hostLimits[1]: 'only.example=' is not")
    assert page.is_checked(_cell("remove", 0))
    assert _typed(page)[2] == ("only.example", "", "")
    assert len(_properties(api, name)["hostLimits"]) == 2
    # The page's other forms still post without scripts.
    page.goto(collection_url(server, name))
    page.fill("#calendars input[name=name]", "off")
    page.fill("#calendars textarea[name=dates]", "2027-12-25")
    page.click("#calendars button[type=submit]")
    page.wait_for_url(re.compile(r".*\?done=Calendar%20off%20created\.$"))
    assert len(_properties(api, name)["hostLimits"]) == 2


def test_a_refused_rule_is_shown_beside_the_form_with_what_was_typed(
    page: Any, server: RunningServer
) -> None:
    api, name = new_collection(server)
    kept = [{"host": "api.example.com", "concurrency": 4}]
    made = api.patch(api.collection_path(name), {"properties": {"hostLimits": kept}})
    assert made.status_code == 200, made.text
    sign_in(page, server)
    page.goto(collection_url(server, name))
    assert _typed(page) == [("api.example.com", "4", ""), ("", "", ""), ("", "", "")]
    # Row 2 empty (left out), row 3 bad: the server names the second rule sent.
    _fill(page, 2, "bad host", "2")
    with page.expect_response(lambda response: response.request.method == "POST") as answer:
        page.click(SAVE)
    assert answer.value.status == 400
    assert page.inner_text(ERROR) == (
        "properties.hostLimits[1]: 'bad host=2' is not host=N, host=N/R or host=/R (N attempts "
        "at once, R requests a second), e.g. 'api.example.com=5/10,*.internal=2'."
    )
    assert _typed(page) == [("api.example.com", "4", ""), ("", "", ""), ("bad host", "2", "")]
    assert page.get_attribute(_cell("host", 2), "aria-invalid") == "true"
    assert page.get_attribute(_cell("rate", 2), "aria-describedby") == "host-limits-error"
    assert page.get_attribute(_cell("host", 0), "aria-invalid") is None
    assert _properties(api, name)["hostLimits"] == kept
    assert _shown(page) == ["api.example.com 4 —"]

    # No rate above 0; then the typed rows fixed, saved.
    _fill(page, 2, "zero.example", rate="0")
    page.click(SAVE)
    assert "'zero.example=/0': N must be 1 to 100000 and R above 0." in page.inner_text(ERROR)
    assert _typed(page)[2] == ("zero.example", "", "0")
    assert _properties(api, name)["hostLimits"] == kept
    page.fill(_cell("rate", 2), "1.5")
    page.click(SAVE)
    page.wait_for_url(SAVED)
    assert _properties(api, name)["hostLimits"] == [
        *kept,
        {"host": "zero.example", "ratePerSecond": 1.5},
    ]

    # At most 50 rules, and numbers the browser would not send: refused by the server.
    csrf = page.get_attribute(f"{FORM} input[name=csrf]", "value") or ""
    many = {"csrf": csrf} | {f"host_{n}": f"h{n}.example" for n in range(51)}
    many |= {f"concurrency_{n}": "1" for n in range(51)}
    refused = page.request.post(collection_url(server, name) + "/host-limits", form=many)
    assert refused.status == 400
    assert "&#39;properties.hostLimits&#39; holds at most 50 rules." in refused.text()
    fraction = {"csrf": csrf, "host_0": "x.example", "concurrency_0": "2.5"}
    refused = page.request.post(collection_url(server, name) + "/host-limits", form=fraction)
    assert refused.status == 400
    assert "&#39;Concurrency&#39; must be a whole number, not &#39;2.5&#39;." in refused.text()
    assert len(_properties(api, name)["hostLimits"]) == 2


def test_a_reader_sees_the_host_limits_but_changes_nothing(
    page: Any, server: RunningServer
) -> None:
    api, name = new_collection(server)
    kept = [{"host": "*.internal", "concurrency": 2, "ratePerSecond": 4}]
    made = api.patch(api.collection_path(name), {"properties": {"hostLimits": kept}})
    assert made.status_code == 200, made.text
    page.goto(server.base_url + "/")
    page.fill("#token", create_token(server, "reader-" + name, "reader"))
    page.press("#token", "Enter")
    page.wait_for_url(server.base_url + "/")
    page.goto(collection_url(server, name))
    assert _shown(page) == ["*.internal 2 4"]
    assert page.locator(FORM).count() == 0
    csrf = page.get_attribute("form.signout input[name=csrf]", "value") or ""
    refused = page.request.post(
        collection_url(server, name) + "/host-limits", form={"csrf": csrf, "host_0": ""}
    )
    assert refused.status == 403
    assert _properties(api, name)["hostLimits"] == [
        {"host": "*.internal", "concurrency": 2, "ratePerSecond": 4.0}
    ]
