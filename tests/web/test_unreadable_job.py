"""A stored job that cannot be read back (a row an older version wrote) fails alone: the API
answers 409 for it and lists the others, the portal shows it flagged among the others, says
why on its page and still deletes it."""

from __future__ import annotations

import sqlite3
from collections.abc import Iterator
from pathlib import Path
from urllib.parse import parse_qs, urlsplit

import pytest

from jobclock.services import JobRef
from tests.system import System
from tests.web.test_portal import COLLECTION, TOKEN, Browser, system

__all__ = ["system"]

API = (
    "/subscriptions/sub/resourceGroups/rg/providers/Microsoft.Scheduler/jobCollections/jc"
    "/jobs{}?api-version=2016-03-01"
)
# What format_instant wrote for year 999 before years were padded to four digits.
LEGACY = (
    '{"startTime":"999-01-01T00:00:00Z","action":{"request":{"uri":"http://127.0.0.1/",'
    '"method":"GET"},"type":"Http"},"state":"Enabled"}'
)


@pytest.fixture
def browser(system: System) -> Iterator[Browser]:
    opened = Browser(system)
    yield opened
    system.run(opened.client.aclose())


@pytest.fixture
def broken(system: System, tmp_path: Path) -> list[JobRef]:
    """Jobs a, b and c of collection jc; b's stored definition cannot be read."""
    system.collection()
    refs = [system.job(name, {"startTime": "2024-06-01T00:00:00Z"}) for name in "abc"]
    with sqlite3.connect(tmp_path / "jobclock.db") as db:
        db.execute("UPDATE jobs SET definition = ? WHERE name = 'b'", (LEGACY,))
    return refs


def _bearer() -> dict[str, str]:
    return {"Authorization": f"Bearer {TOKEN}"}


def test_the_api_answers_409_for_it_and_lists_the_others(
    browser: Browser, broken: list[JobRef]
) -> None:
    one = browser.get(API.format("/b"), headers=_bearer())
    assert one.status_code == 409
    error = one.json()["error"]
    assert error["code"] == "UnreadableJobDefinition"
    assert "'jc/b'" in error["message"]
    assert "999-01-01T00:00:00Z" in error["message"]
    listed = browser.get(API.format(""), headers=_bearer())
    assert listed.status_code == 200
    assert [item["name"] for item in listed.json()["value"]] == ["jc/a", "jc/c"]
    assert listed.json()["nextLink"] is None


def test_the_next_page_starts_after_it(browser: Browser, system: System, tmp_path: Path) -> None:
    """Server paging (100 a page) counts the unreadable rows: nothing is listed twice, also
    when the page's last row is one (its nextLink's $skiptoken is after it)."""
    system.collection()
    for index in range(101):
        system.job(f"j{index:03d}", {"startTime": "2024-06-01T00:00:00Z"})
    with sqlite3.connect(tmp_path / "jobclock.db") as db:
        db.execute("UPDATE jobs SET definition = '{' WHERE name IN ('j050', 'j099')")
    first = browser.get(API.format(""), headers=_bearer()).json()
    assert len(first["value"]) == 98
    query = parse_qs(urlsplit(first["nextLink"]).query)
    assert "$skip" not in query
    assert len(query["$skiptoken"]) == 1
    second = browser.get(first["nextLink"], headers=_bearer()).json()
    assert [item["name"] for item in second["value"]] == ["jc/j100"]
    assert browser.get(API.format("") + "&$skip=100", headers=_bearer()).json() == second


def test_the_portal_flags_it_among_the_others(browser: Browser, broken: list[JobRef]) -> None:
    browser.sign_in()
    page = browser.get(COLLECTION)
    assert page.status_code == 200
    assert ">a</a>" in page.text
    assert ">c</a>" in page.text
    assert "Unreadable" in page.text
    assert f'href="{COLLECTION}/jobs/b"' in page.text
    assert "999-01-01T00:00:00Z" in page.text


def test_its_portal_page_says_why_and_it_can_be_deleted(
    browser: Browser, broken: list[JobRef]
) -> None:
    browser.sign_in()
    page = browser.get(COLLECTION + "/jobs/b")
    assert page.status_code == 409
    assert "Job b cannot be read" in page.text
    assert "PUT the job to replace it, or DELETE it." in page.text
    assert f'href="{COLLECTION}/jobs/b/delete"' in page.text
    assert browser.get(COLLECTION + "/jobs/b/edit").status_code == 409
    question = browser.get(COLLECTION + "/jobs/b/delete")
    assert question.status_code == 200
    assert "Delete job b?" in question.text
    gone = browser.post(COLLECTION + "/jobs/b/delete", data={"csrf": browser.csrf(COLLECTION)})
    assert gone.status_code == 303
    assert browser.get(COLLECTION + "/jobs/b").status_code == 404
    assert "Unreadable" not in browser.get(COLLECTION).text
