"""Keyset server paging of the jobs and history lists over the real service (issue 13).

The server's own ``nextLink`` carries an opaque ``$skiptoken`` (the last job's name, the
last entry's place) instead of an advanced ``$skip``, and keeps ``api-version``, ``$filter``
and the rest of the query, since clients GET it verbatim (§2.5). A user's ``$skip`` is
still plain offset paging, counted after the token when both are given. A token that is
not one the server gives is Azure's 400; a token is only a position, never a way into
another collection's or job's data.
"""

from __future__ import annotations

import base64
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any
from urllib.parse import parse_qs, urlsplit

import httpx
import pytest

from jobclock.api import create_app
from jobclock.api.schemas import ErrorResponse, JobHistoryListResult, JobListResult
from jobclock.domain.history import ActionName, HistoryStatus
from jobclock.domain.records import CollectionPlace, EngineWrites, StoredEntry
from tests.system import MEMORY, System, open_system

TOKEN = "test-token-1234"  # noqa: S105 - a test credential
P = "/subscriptions/sub/resourceGroups/rg/providers/Microsoft.Scheduler/jobCollections"
V = "api-version=2016-03-01"
JOB: dict[str, Any] = {
    "properties": {
        "startTime": "2024-06-01T00:00:00Z",
        "action": {"type": "Http", "request": {"uri": "http://example.com/", "method": "GET"}},
    }
}
T0 = datetime(2024, 1, 1, tzinfo=UTC)


class Api:
    """A synchronous client of the app over ``system``'s service, on the system's loop."""

    def __init__(self, system: System) -> None:
        self.system = system
        self.app = create_app(system.service, TOKEN)

    def request(self, method: str, url: str) -> httpx.Response:
        async def send() -> httpx.Response:
            transport = httpx.ASGITransport(app=self.app, raise_app_exceptions=False)
            async with httpx.AsyncClient(
                transport=transport,
                base_url="http://testserver",
                headers={"Authorization": f"Bearer {TOKEN}"},
            ) as client:
                return await client.request(method, url)

        response: httpx.Response = self.system.run(send())
        return response

    def get(self, url: str) -> httpx.Response:
        return self.request("GET", url)

    def follow(self, url: str) -> list[dict[str, Any]]:
        """GET ``url`` and every ``nextLink`` verbatim, as the SDK pagers do."""
        pages: list[dict[str, Any]] = []
        next_url: str | None = url
        while next_url:
            response = self.get(next_url)
            assert response.status_code == 200, response.text
            pages.append(response.json())
            next_url = pages[-1]["nextLink"]
            assert len(pages) < 20
        return pages


@pytest.fixture(params=[MEMORY, "sqlite"])
def api(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[Api]:
    url = None if request.param == "sqlite" else request.param
    with open_system(tmp_path, url) as system:
        yield Api(system)


# Code-point order of the lower-cased names: "-" < digits < "_" < letters.
NAMES = [f"{prefix}{index:03d}" for index in range(50) for prefix in ("A-", "a_", "Ab", "b", "Z")]
ORDER = sorted(NAMES, key=str.lower)


def seed_jobs(api: Api, collection: str, names: list[str], disabled_every: int = 0) -> None:
    api.system.collection(collection)
    for index, name in enumerate(names):
        state = "Disabled" if disabled_every and index % disabled_every == 0 else "Enabled"
        api.system.job(name, {**JOB["properties"], "state": state}, collection)


def query(link: str) -> dict[str, list[str]]:
    return parse_qs(urlsplit(link).query)


def listed(pages: list[dict[str, Any]]) -> list[str]:
    return [item["name"].split("/")[-1] for page in pages for item in page["value"]]


def assert_bad_request(response: httpx.Response, field: str) -> None:
    assert response.status_code == 400, response.text
    body = response.json()
    ErrorResponse.model_validate(body)
    assert body["error"]["code"] == "BadRequest"
    assert field in body["error"]["message"]


def token(text: str) -> str:
    return base64.urlsafe_b64encode(text.encode()).decode().rstrip("=")


# -- jobs ----------------------------------------------------------------------------------
def test_next_links_carry_the_last_name_as_a_skiptoken(api: Api) -> None:
    seed_jobs(api, "jc", NAMES)
    pages = api.follow(f"{P}/jc/jobs?{V}")
    assert [len(page["value"]) for page in pages] == [100, 100, 50]
    assert listed(pages) == ORDER
    for page in pages[:-1]:
        link = page["nextLink"]
        assert link.startswith(f"http://testserver{P}/jc/jobs?")
        params = query(link)
        assert params["api-version"] == ["2016-03-01"]
        assert "$skip" not in params
        assert len(params["$skiptoken"]) == 1
        JobListResult.model_validate(page)
    assert ORDER[99].lower() not in pages[0]["nextLink"].lower()  # opaque, not the name


def test_next_links_keep_the_filter(api: Api) -> None:
    seed_jobs(api, "jc", NAMES, disabled_every=2)
    url = f"{P}/jc/jobs?$filter=state%20eq%20'Enabled'&{V}"
    pages = api.follow(url)
    enabled = sorted(NAMES[1::2], key=str.lower)
    assert [len(page["value"]) for page in pages] == [100, 25]
    assert listed(pages) == enabled
    assert query(pages[0]["nextLink"])["$filter"] == ["state eq 'Enabled'"]
    assert "$filter=state%20eq%20'Enabled'" in pages[0]["nextLink"]


def test_a_skip_alone_is_still_offset_paging(api: Api) -> None:
    seed_jobs(api, "jc", NAMES)
    first = api.get(f"{P}/jc/jobs?{V}&$skip=30").json()
    assert listed([first]) == ORDER[30:130]
    assert "$skip" not in query(first["nextLink"])
    rest = api.follow(first["nextLink"])
    assert listed([first, *rest]) == ORDER[30:]
    window = api.get(f"{P}/jc/jobs?{V}&$top=3&$skip=240").json()
    assert (listed([window]), window["nextLink"]) == (ORDER[240:243], None)


def test_a_skip_with_a_skiptoken_skips_after_the_position(api: Api) -> None:
    seed_jobs(api, "jc", NAMES)
    first = api.get(f"{P}/jc/jobs?{V}").json()
    skiptoken = query(first["nextLink"])["$skiptoken"][0]
    page = api.get(f"{P}/jc/jobs?{V}&$skiptoken={skiptoken}&$skip=20").json()
    assert listed([page]) == ORDER[120:220]
    assert listed(api.follow(page["nextLink"])) == ORDER[220:]
    top = api.get(f"{P}/jc/jobs?{V}&$skiptoken={skiptoken}&$top=5&$skip=1").json()
    assert (listed([top]), top["nextLink"]) == (ORDER[101:106], None)


def test_jobs_deleted_and_added_between_pages_are_neither_lost_nor_repeated(api: Api) -> None:
    seed_jobs(api, "jc", NAMES)
    first = api.get(f"{P}/jc/jobs?{V}").json()
    assert api.request("DELETE", f"{P}/jc/jobs/{ORDER[99]}?{V}").status_code == 200  # the key
    assert api.request("DELETE", f"{P}/jc/jobs/{ORDER[150]}?{V}").status_code == 200
    api.system.job("A-000a", JOB["properties"], "jc")  # behind the position
    api.system.job("zz", JOB["properties"], "jc")  # ahead of it
    rest = api.follow(first["nextLink"])
    assert listed(rest) == [name for name in ORDER[100:] if name != ORDER[150]] + ["zz"]


def test_a_token_is_only_a_position_in_the_collection_of_the_path(api: Api) -> None:
    seed_jobs(api, "jc", NAMES)
    seed_jobs(api, "other", ["a_900", "b900", "mine"])
    first = api.get(f"{P}/jc/jobs?{V}").json()
    skiptoken = query(first["nextLink"])["$skiptoken"][0]  # after ORDER[99], "a_049"
    elsewhere = api.get(f"{P}/other/jobs?{V}&$skiptoken={skiptoken}").json()
    assert listed([elsewhere]) == ["a_900", "b900", "mine"]
    assert api.get(f"{P}/other/jobs?{V}&$skiptoken={token('j1:b900')}").json()["value"] != []


@pytest.mark.parametrize(
    "skiptoken",
    [
        "",
        "not a token",
        "%00",
        "!!!!",
        token("j1:"),
        token("j1:a\x00b"),
        token("j1:" + "a" * 101),
        token("j2:abc"),
        token("h1:0.1"),  # a history position is not a job's
        token("abc"),
        base64.urlsafe_b64encode(b"j1:\xff\xfe").decode(),
        token("j1:abc") + "!",
    ],
)
def test_a_skiptoken_the_server_did_not_give_is_400_on_jobs(api: Api, skiptoken: str) -> None:
    seed_jobs(api, "jc", ["a", "b"])
    response = api.get(f"{P}/jc/jobs?{V}&$skiptoken={skiptoken}")
    assert_bad_request(response, "$skiptoken")


# -- history -------------------------------------------------------------------------------
def seed_history(
    api: Api, collection: str, job: str, count: int, since: datetime = T0
) -> list[str]:
    """``count`` entries of ``job`` from ``since`` on, five to a start time, in batches out
    of start order; returns their ids newest first (start time, then write order)."""
    system = api.system

    async def job_id() -> int:
        async with system.store.reading() as reads:
            found = await reads.find_collection(CollectionPlace("sub", "rg", collection))
            assert found is not None
            record = await reads.find_job(found.id, job)
            assert record is not None
            return int(record.id)

    owner = system.run(job_id())
    written: list[tuple[datetime, int, str]] = []
    for batch in range(3):
        entries = []
        for index in range(batch, count, 3):
            start = since + timedelta(minutes=index // 5)
            status = HistoryStatus.FAILED if index % 4 == 0 else HistoryStatus.COMPLETED
            history_id = f"{index:020d}:{index:020d}"
            entries.append(
                StoredEntry(
                    owner,
                    history_id,
                    start,
                    start,
                    start,
                    ActionName.MAIN_ACTION,
                    status,
                    "ok",
                    0,
                    index,
                )
            )
            written.append((start, len(written), history_id))

        async def plan(*_: object, entries: list[StoredEntry] = entries) -> EngineWrites:
            return EngineWrites(entries=entries)

        system.run(system.store.record("node", [], plan))
    return [history_id for _, _, history_id in sorted(written, reverse=True)]


def history_ids(pages: list[dict[str, Any]]) -> list[str]:
    return [item["name"].split("/")[-1] for page in pages for item in page["value"]]


def test_history_next_links_carry_the_last_place_as_a_skiptoken(api: Api) -> None:
    seed_jobs(api, "jc", ["job", "other"])
    expected = seed_history(api, "jc", "job", 230)
    seed_history(api, "jc", "other", 20)
    pages = api.follow(f"{P}/jc/jobs/job/history?{V}")
    assert [len(page["value"]) for page in pages] == [100, 100, 30]
    assert history_ids(pages) == expected
    for page in pages[:-1]:
        params = query(page["nextLink"])
        assert params["api-version"] == ["2016-03-01"]
        assert "$skip" not in params
        assert len(params["$skiptoken"]) == 1
        JobHistoryListResult.model_validate(page)


def test_history_next_links_keep_the_filter_and_skip_counts_after_the_token(api: Api) -> None:
    seed_jobs(api, "jc", ["job"])
    expected = seed_history(api, "jc", "job", 230)
    completed = [h for h in expected if int(h.split(":")[0]) % 4 != 0]
    pages = api.follow(f"{P}/jc/jobs/job/history?{V}&$filter=status%20eq%20Completed")
    assert [len(page["value"]) for page in pages] == [100, 72]
    assert history_ids(pages) == completed
    assert query(pages[0]["nextLink"])["$filter"] == ["status eq Completed"]
    skiptoken = query(pages[0]["nextLink"])["$skiptoken"][0]
    skipped = api.get(f"{P}/jc/jobs/job/history?{V}&$skiptoken={skiptoken}&$skip=50&$top=5")
    after = expected.index(completed[99]) + 1  # this request has no filter
    assert history_ids([skipped.json()]) == expected[after + 50 : after + 55]
    offset = api.get(f"{P}/jc/jobs/job/history?{V}&$skip=150").json()
    assert history_ids([offset]) == expected[150:230]
    assert offset["nextLink"] is None


def test_history_written_between_pages_is_not_listed_twice(api: Api) -> None:
    seed_jobs(api, "jc", ["job"])
    expected = seed_history(api, "jc", "job", 150)
    first = api.get(f"{P}/jc/jobs/job/history?{V}").json()
    seed_history(api, "jc", "job", 150, T0 + timedelta(days=1))  # as the engine writes
    rest = api.follow(first["nextLink"])
    assert history_ids([first, *rest]) == expected


def test_a_history_token_is_only_a_position_in_the_job_of_the_path(api: Api) -> None:
    seed_jobs(api, "jc", ["job", "other"])
    seed_history(api, "jc", "job", 150)
    others = seed_history(api, "jc", "other", 30)
    first = api.get(f"{P}/jc/jobs/job/history?{V}").json()
    skiptoken = query(first["nextLink"])["$skiptoken"][0]
    elsewhere = api.get(f"{P}/jc/jobs/other/history?{V}&$skiptoken={skiptoken}").json()
    assert set(history_ids([elsewhere])) <= set(others)
    assert api.get(f"{P}/jc/jobs/other/history?{V}&$skiptoken={token('h1:0.0')}").json() == {
        "value": [],
        "nextLink": None,
    }


@pytest.mark.parametrize(
    "skiptoken",
    [
        "",
        "x",
        token("h1:"),
        token("h1:1"),
        token("h1:1.2.3"),
        token("h1:a.b"),
        token("h1:1.-2"),
        token("h1:99999999999999999999.1"),  # past any instant
        token("h1:1.99999999999999999999"),  # past a 64-bit id
        token("h1:-99999999999999999.1"),
        token("j1:job"),  # a job's position is not an entry's
    ],
)
def test_a_skiptoken_the_server_did_not_give_is_400_on_history(api: Api, skiptoken: str) -> None:
    seed_jobs(api, "jc", ["job"])
    response = api.get(f"{P}/jc/jobs/job/history?{V}&$skiptoken={skiptoken}")
    assert_bad_request(response, "$skiptoken")
