"""Hypothesis at the service layer: whatever body a PUT (or a PATCH) brings, it either fails
with a 4xx ``SchedulerError`` and the store holds exactly what it held, or it succeeds and
stores what a GET returns, which PUT again gives the same result.

Bodies mix valid shapes with hostile values in every string field (lone surrogates, control
characters), instants across years 1 to 9999 with any offset, and numbers from negative to
far beyond 64 bits.
"""

from __future__ import annotations

import json
import sqlite3
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from hypothesis import HealthCheck, currently_in_test_context, event, given, settings
from hypothesis import strategies as st

from jobclock.api.envelopes import job_resource
from jobclock.codec.job import definition_to_json
from jobclock.domain.errors import InvalidDefinition, SchedulerError
from jobclock.services import CollectionRef, JobRef, JobView
from tests.system import System, open_system

SETTINGS = settings(
    max_examples=300,
    deadline=None,
    suppress_health_check=[HealthCheck.too_slow, HealthCheck.function_scoped_fixture],
)


# -- leaves: ordinary values and the edges of each kind ------------------------------------
def maybe(strategy: st.SearchStrategy[Any]) -> st.SearchStrategy[Any]:
    return st.one_of(st.none(), strategy)


def mostly(usual: st.SearchStrategy[Any], rare: st.SearchStrategy[Any]) -> st.SearchStrategy[Any]:
    """``usual`` about three times in four: enough bodies pass every check to be stored."""
    # one_of would not do: it draws its branches (identical ones merged) evenly.
    return st.sampled_from([usual, usual, usual, rare]).flatmap(lambda chosen: chosen)


words = st.one_of(
    st.sampled_from(["a", "x-y", "Content-Type", "queue", "ns", "k", "UTC"]),
    st.text(
        st.characters(codec="utf-8", exclude_categories=["Cc", "Cs", "Zs"]),
        min_size=1,
        max_size=8,
    ),
)


@st.composite
def instants(draw: st.DrawFn) -> str:
    """Years 0 to 9999 (mostly around now), impossible days and seconds, 0 to 9 fraction
    digits, offsets from -30:99 to +30:99 or none."""
    year = draw(mostly(st.integers(2023, 2025), st.integers(0, 9999)))
    month = draw(st.integers(1, 12))
    day = draw(mostly(st.integers(1, 28), st.integers(29, 31)))
    clock = draw(st.tuples(st.integers(0, 23), st.integers(0, 59), st.integers(0, 60)))
    fraction = draw(st.one_of(st.just(""), st.text("0123456789", min_size=1, max_size=9)))
    offset = draw(
        mostly(
            st.sampled_from(["Z", "z", "+00:00", "-05:00", "+14:00", "-12:00", "+0530"]),
            st.one_of(
                st.tuples(st.sampled_from("+-"), st.integers(0, 30), st.integers(0, 99)).map(
                    lambda parts: f"{parts[0]}{parts[1]:02d}:{parts[2]:02d}"
                ),
                st.just(""),
            ),
        )
    )
    text = f"{year:04d}-{month:02d}-{day:02d}T{clock[0]:02d}:{clock[1]:02d}:{clock[2]:02d}"
    return text + ("." + fraction if fraction else "") + offset


numbers = mostly(
    st.integers(1, 20),
    st.one_of(
        st.integers(-(2**70), 2**70),
        st.sampled_from([-1, 0, 20, 21, 1000, 1001, 2**31 - 1, 2**31, 2**63, 2**64]),
        st.floats(allow_nan=False, allow_infinity=False),
        st.sampled_from(["5", "NaN", "Infinity", True, 1.0, 1e308]),
    ),
)
durations = mostly(
    st.sampled_from(["PT30S", "PT1M", "pt2m", "00:00:30", "1.00:00:00", "P1D", "PT1,5M"]),
    st.one_of(
        st.sampled_from(["PT15S", "P99999999999999Y", "P549D", "999999999.00:00:00", "-00:01:00"]),
        st.integers(0, 10**12).map(lambda seconds: f"PT{seconds}S"),
    ),
)
# What the mutation step puts in place of a leaf: text that is not Unicode (lone
# surrogates) or full of controls, and values of the wrong kind.
_strange_char = st.one_of(
    st.integers(0xD800, 0xDFFF).map(chr),
    st.sampled_from("\x00\x01\t\n\r\x1b\x7f\u2028\ufeff\U0001f600"),
)
hostile_text = st.text(st.one_of(st.characters(codec="utf-8"), _strange_char), max_size=12)
hostile = st.one_of(hostile_text, hostile_text, numbers, instants(), st.none(), st.just([]))


def _drop_none(**values: Any) -> dict[str, Any]:
    return {key: value for key, value in values.items() if value is not None}


retry_policies = st.builds(
    _drop_none,
    retryType=st.sampled_from(["None", "Fixed", "fixed"]),
    retryInterval=maybe(durations),
    retryCount=maybe(numbers),
)
string_maps = st.dictionaries(words, words, max_size=3)
http_requests = st.builds(
    _drop_none,
    uri=st.one_of(
        st.just("http://127.0.0.1/"),
        words.map(lambda path: f"http://127.0.0.1/{path}"),
        words.map(lambda host: f"https://{host}/"),
    ),
    method=maybe(st.sampled_from(["GET", "post", "PUT", "DELETE", "TRACE"])),
    headers=maybe(string_maps),
    body=maybe(words),
    authentication=maybe(
        st.one_of(
            st.builds(_drop_none, type=st.just("Basic"), username=words, password=words),
            st.builds(
                _drop_none,
                type=st.just("ActiveDirectoryOAuth"),
                tenant=words,
                audience=words,
                clientId=words,
                secret=words,
            ),
            st.builds(
                _drop_none,
                type=st.sampled_from(["Basic", "NotSpecified", "ActiveDirectoryOAuth", "x"]),
                username=maybe(words),
                password=maybe(words),
                secret=maybe(words),
            ),
        )
    ),
)
queue_messages = st.builds(
    _drop_none,
    storageAccount=words,
    queueName=words,
    sasToken=maybe(words),
    message=maybe(words),
)
service_bus_messages = st.builds(
    _drop_none,
    namespace=words,
    queueName=words,
    message=maybe(words),
    transportType=maybe(st.sampled_from(["NetMessaging", "AMQP", "x"])),
    authentication=maybe(
        st.builds(_drop_none, type=st.just("SharedAccessKey"), sasKeyName=words, sasKey=words)
    ),
    brokeredMessageProperties=maybe(
        st.builds(
            _drop_none,
            label=maybe(words),
            scheduledEnqueueTimeUtc=maybe(instants()),
            timeToLive=maybe(durations),
            forcePersistence=maybe(st.booleans()),
        )
    ),
    customMessageProperties=maybe(string_maps),
)
amqp_messages = st.builds(
    _drop_none,
    url=st.one_of(
        st.sampled_from(
            [
                "amqp://u:p@rabbit:5672/v",
                "amqp://u@[::1]:5672/",
                "amqps://RABBIT/",
                "amqp:///",
                "amqp://h/?heartbeat=5",
            ]
        ),
        words.map(lambda host: f"amqp://{host}/"),
    ),
    password=maybe(words),
    routingKey=maybe(words),
    exchange=maybe(words),
    message=maybe(words),
    contentType=maybe(words),
    headers=maybe(string_maps),
    persistent=maybe(st.booleans()),
)
_PAYLOAD_KEYS = {
    "Http": "request",
    "Https": "request",
    "StorageQueue": "queueMessage",
    "ServiceBusQueue": "serviceBusQueueMessage",
    "ServiceBusTopic": "serviceBusTopicMessage",
    "Amqp": "amqpMessage",
}


def _as_topic_message(message: dict[str, Any]) -> dict[str, Any]:
    topic = dict(message)
    topic["topicPath"] = topic.pop("queueName")
    return topic


def _action(kind: str, payload: dict[str, Any], policy: dict[str, Any] | None) -> dict[str, Any]:
    return _drop_none(type=kind, **{_PAYLOAD_KEYS[kind]: payload}, retryPolicy=policy)


actions = st.one_of(
    st.builds(_action, st.sampled_from(["Http", "Https"]), http_requests, maybe(retry_policies)),
    st.builds(_action, st.just("StorageQueue"), queue_messages, maybe(retry_policies)),
    st.builds(_action, st.just("ServiceBusQueue"), service_bus_messages, maybe(retry_policies)),
    st.builds(
        _action,
        st.just("ServiceBusTopic"),
        service_bus_messages.map(_as_topic_message),
        maybe(retry_policies),
    ),
    st.builds(_action, st.just("Amqp"), amqp_messages, maybe(retry_policies)),
)
schedules = st.builds(
    _drop_none,
    minutes=maybe(st.lists(numbers, max_size=3)),
    hours=maybe(st.lists(numbers, max_size=3)),
    weekDays=maybe(st.lists(st.sampled_from(["Monday", "friday", "Funday"]), max_size=2)),
    monthDays=maybe(st.lists(numbers, max_size=3)),
    monthlyOccurrences=maybe(
        st.lists(
            st.builds(
                _drop_none, day=st.sampled_from(["Monday", "Sunday"]), occurrence=maybe(numbers)
            ),
            max_size=2,
        )
    ),
)
recurrences = st.builds(
    _drop_none,
    frequency=st.sampled_from(["Minute", "Hour", "Day", "Week", "Month", "Second"]),
    interval=maybe(numbers),
    count=maybe(numbers),
    endTime=maybe(instants()),
    schedule=maybe(schedules),
    timeZone=maybe(
        st.sampled_from(["UTC", "Europe/Paris", "America/New_York", "Pacific/Kiritimati", "Nope"])
    ),
)


@st.composite
def clean_bodies(draw: st.DrawFn) -> dict[str, Any]:
    """Bodies whose strings are all Unicode text without controls; their numbers, instants
    and durations still reach past every limit."""
    action = draw(actions)
    if draw(st.booleans()):
        action["errorAction"] = draw(actions)
    return {
        "properties": _drop_none(
            startTime=draw(maybe(instants())),
            action=action,
            recurrence=draw(maybe(recurrences)),
            state=draw(maybe(mostly(st.sampled_from(["Enabled", "disabled"]), st.just("Faulted")))),
        )
    }


def _leaves(value: Any, path: tuple[Any, ...] = ()) -> list[tuple[Any, ...]]:
    """The paths of every scalar in a JSON value (and of every object, to add a key)."""
    if isinstance(value, dict):
        found = [path]
        for key, item in value.items():
            found += _leaves(item, (*path, key))
        return found
    if isinstance(value, list):
        return [leaf for index, item in enumerate(value) for leaf in _leaves(item, (*path, index))]
    return [path]


@st.composite
def job_bodies(draw: st.DrawFn) -> dict[str, Any]:
    """A clean body with up to three of its values (or new keys, or the top-level
    ``name``) replaced by hostile ones."""
    body = draw(clean_bodies())
    for _ in range(draw(mostly(st.just(0), st.integers(1, 3)))):
        path = draw(st.sampled_from(_leaves(body)))
        target: Any = body
        for step in path[:-1]:
            target = target[step]
        if not path or isinstance(_at(body, path), dict):
            _at(body, path)[draw(st.one_of(words, hostile_text))] = draw(hostile)
        else:
            target[path[-1]] = draw(hostile)
    if draw(st.integers(0, 9)) == 0:
        body["name"] = draw(hostile_text)
    return body


def _at(value: Any, path: tuple[Any, ...]) -> Any:
    for step in path:
        value = value[step]
    return value


collections = mostly(st.just("unlimited"), st.just("free"))
job_names = mostly(mostly(st.sampled_from(["job", "Job", "other"]), words), hostile_text)


# -- the properties ------------------------------------------------------------------------
@pytest.fixture
def shared(tmp_path: Path) -> Iterator[tuple[System, Path]]:
    """One system for every example of a test (the store accumulates; each example
    compares the store with itself just before)."""
    with open_system(tmp_path) as system:
        system.collection("unlimited")
        system.run(
            system.service.put_collection(
                CollectionRef("sub", "rg", "free"),
                {"location": "West US", "properties": {"sku": {"name": "Free"}}},
            )
        )
        yield system, tmp_path / "jobclock.db"


def _rows(db: Path) -> dict[str, list[tuple[Any, ...]]]:
    with sqlite3.connect(db) as connection:
        return {
            table: connection.execute(f"SELECT * FROM {table} ORDER BY id").fetchall()  # noqa: S608
            for table in ("collections", "jobs", "occurrences", "history")
        }


def _shown(view: JobView) -> dict[str, Any]:
    """What a GET answers, encoded as the API encodes it (strict UTF-8 JSON)."""
    resource = job_resource(view)
    text = json.dumps(resource, ensure_ascii=False, allow_nan=False).encode("utf-8")
    shown: dict[str, Any] = json.loads(text)["properties"]
    shown.pop("status")
    return shown


def _note(outcome: str) -> None:
    """Count the outcome in Hypothesis's statistics (``--hypothesis-show-statistics``)."""
    if currently_in_test_context():
        event(outcome)


def _attempt(system: System, db: Path, write: Any) -> JobView | None:
    """Run ``write``: a 4xx SchedulerError leaves the store as it was; any other exception
    fails the test."""
    before = _rows(db)
    refused: SchedulerError | None = None
    try:
        result = system.run(write)
    except SchedulerError as error:
        refused = error
    if refused is not None:
        _note(f"refused: {refused.code}")
        assert 400 <= refused.status < 500, f"{refused.status} {refused.code}: {refused}"
        assert _rows(db) == before, f"{refused.code}: {refused} changed the store"
        return None
    _note("stored")
    view = result[0] if isinstance(result, tuple) else result  # PUT: (view, created)
    assert isinstance(view, JobView)
    return view


def _round_trip(system: System, db: Path, ref: JobRef, view: JobView) -> None:
    """GET returns what the write answered; PUT of it (secrets in clear, as the portal
    keeps them) answers the same, and leaves the same definition."""
    fetched = system.run(system.service.get_job(ref))
    assert fetched.job.definition == view.job.definition
    shown = _shown(fetched)
    plain = {"properties": system.service.codec.plain_json(fetched.job.definition)}
    if plain["properties"]["state"] in ("Completed", "Faulted"):
        # Runtime states, like ``status``: a user may set Enabled or Disabled only (§1.3);
        # PUT as Enabled, such a job reaches the same state again at once.
        plain["properties"]["state"] = "Enabled"
    again = _attempt(system, db, system.service.put_job(ref, plain))
    assert again is not None, "the stored definition, PUT again, was refused"
    assert _shown(again) == shown
    assert system.service.codec.plain_json(again.job.definition) == {
        **plain["properties"],
        "state": fetched.job.state.value,
    }
    assert definition_to_json(again.job.definition) == definition_to_json(fetched.job.definition)


@SETTINGS
@given(collection=collections, name=job_names, body=job_bodies())
def test_a_put_stores_nothing_or_what_reads_back(
    shared: tuple[System, Path], collection: str, name: str, body: dict[str, Any]
) -> None:
    system, db = shared
    ref = JobRef(CollectionRef("sub", "rg", collection), name)
    view = _attempt(system, db, system.service.put_job(ref, body))
    if view is not None:
        _round_trip(system, db, ref, view)


@SETTINGS
@given(collection=collections, body=job_bodies(), patch=job_bodies())
def test_a_patch_stores_nothing_or_what_reads_back(
    shared: tuple[System, Path], collection: str, body: dict[str, Any], patch: dict[str, Any]
) -> None:
    system, db = shared
    ref = JobRef(CollectionRef("sub", "rg", collection), "patched")
    if _attempt(system, db, system.service.put_job(ref, body)) is None:
        return
    view = _attempt(system, db, system.service.patch_job(ref, patch))
    if view is not None:
        _round_trip(system, db, ref, view)


# -- the guard itself: a codec that would not read back what it wrote ----------------------
GOOD = {
    "properties": {
        "startTime": "2024-03-01T00:00:00Z",
        "action": {"type": "Http", "request": {"uri": "http://127.0.0.1/"}},
    }
}


@pytest.mark.parametrize(
    ("written", "refusal"),
    [
        # What strftime's %Y made of year 999: text the parser refuses.
        pytest.param(lambda value: "999-01-01T00:00:00Z", "read back, ", id="unreadable"),
        # Readable, but another instant: the job would run at another time than sent.
        pytest.param(lambda value: "2024-03-01T00:00:01Z", "would differ", id="different"),
    ],
)
def test_a_definition_that_would_not_read_back_is_refused_before_the_write(
    shared: tuple[System, Path],
    monkeypatch: pytest.MonkeyPatch,
    written: Any,
    refusal: str,
) -> None:
    system, db = shared
    ref = JobRef(CollectionRef("sub", "rg", "unlimited"), "guarded")
    created = _attempt(system, db, system.service.put_job(ref, GOOD))
    assert created is not None
    before = _rows(db)
    monkeypatch.setattr("jobclock.codec.job.format_instant", written)
    for name in ("guarded", "fresh"):  # a replacement and a creation
        with pytest.raises(InvalidDefinition, match=refusal):
            system.run(system.service.put_job(JobRef(ref.collection, name), GOOD))
        assert _rows(db) == before
    monkeypatch.undo()
    assert system.run(system.service.get_job(ref)).job.definition == created.job.definition
