"""RFC 5545 rules (``recurrence.rrule``, issue 14): ``dateutil.rrule`` as an independent
oracle over rules of every FREQ with BYSETPOS, BYWEEKNO, BYYEARDAY, numbered BYDAY and
WKST, from two starts and from a later lower bound, tables of the rules people write, exdates, COUNT and UNTIL, and the errors."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from itertools import islice

import pytest
from dateutil.rrule import rrulestr

from jobclock.codec.recurrence import recurrence_from_json, recurrence_to_json
from jobclock.domain.errors import InvalidDefinition
from jobclock.domain.occurrences import next_occurrence, occurrences, preview
from jobclock.domain.recurrence import Recurrence
from jobclock.domain.rrule import parse_rrule

DAYS = ["MO", "TU", "WE", "TH", "FR", "SA", "SU"]


def _utc(value: datetime) -> datetime:
    return value.replace(tzinfo=UTC)


ORACLE_RULES = [
    "FREQ=MONTHLY;BYDAY=-1FR",
    "FREQ=YEARLY;BYWEEKNO=1,52,53;BYDAY=MO",
    "FREQ=YEARLY;BYWEEKNO=-1;WKST=SU",
    "FREQ=YEARLY;BYYEARDAY=1,-1,100",
    "FREQ=MONTHLY;BYDAY=MO,TU,WE,TH,FR;BYSETPOS=-1",
    "FREQ=MONTHLY;BYDAY=MO,TU,WE,TH,FR;BYSETPOS=1,2,-2",
    "FREQ=WEEKLY;INTERVAL=2;BYDAY=TU,TH",
    "FREQ=DAILY;BYHOUR=9,17;BYMINUTE=0,30",
    "FREQ=DAILY;INTERVAL=3;BYMONTH=2,3;BYMONTHDAY=-1,1",
    "FREQ=HOURLY;INTERVAL=5;BYMONTH=2",
    "FREQ=HOURLY;INTERVAL=3;BYMINUTE=10,50;BYSETPOS=-1",
    "FREQ=MINUTELY;INTERVAL=17;BYHOUR=3",
    "FREQ=SECONDLY;INTERVAL=7;BYMINUTE=5",
    "FREQ=YEARLY;BYMONTH=2;BYMONTHDAY=29",
    "FREQ=YEARLY",
    "FREQ=YEARLY;INTERVAL=4;BYMONTH=11;BYDAY=1TU",
    "FREQ=MONTHLY;BYMONTHDAY=31",
    "FREQ=MONTHLY;INTERVAL=5;BYMONTHDAY=-3;BYHOUR=23;BYMINUTE=59;BYSECOND=59",
    "FREQ=YEARLY;BYDAY=20MO",
    "FREQ=YEARLY;BYDAY=-1SU;BYSETPOS=1",
    "FREQ=YEARLY;BYMONTH=3;BYDAY=-1SU",
    "FREQ=WEEKLY;WKST=SU;INTERVAL=2;BYDAY=SU,TU",
    "FREQ=WEEKLY;BYDAY=MO,FR;BYHOUR=6,18;BYSETPOS=2,3",
    "FREQ=MONTHLY;BYMONTHDAY=1,-1;BYDAY=MO",
    "FREQ=MONTHLY;BYMONTHDAY=13;BYDAY=FR",
    "FREQ=YEARLY;BYYEARDAY=-1;BYDAY=SA,SU",
]
ORACLE_STARTS = [datetime(2023, 12, 30, 10, 15, 20), datetime(2024, 2, 29, 0, 0, 0)]


@pytest.mark.parametrize("start", ORACLE_STARTS, ids=str)
@pytest.mark.parametrize("rule", ORACLE_RULES)
def test_rrule_agrees_with_dateutil_in_utc(rule: str, start: datetime) -> None:
    """The first 12 wall times from DTSTART, and the next 6 from a lower bound 40 days on
    (a job that has been running: dateutil walks from DTSTART, the rule jumps), in UTC."""
    oracle = rrulestr(rule, dtstart=start)
    recurrence = Recurrence.from_rrule(parse_rrule(rule))
    for lower, count in ((start, 12), (start + timedelta(days=40, seconds=1234), 6)):
        theirs = list(islice(oracle.xafter(lower, inc=True), count))
        ours = []
        found = next_occurrence(recurrence, _utc(start), _utc(lower))
        while found is not None and len(ours) < count:
            ours.append(found.replace(tzinfo=None))
            found = next_occurrence(recurrence, _utc(start), found, last=found)
        assert ours == theirs, (rule, lower)


TABLE = {
    "last-weekday-of-the-month": ("FREQ=MONTHLY;BYDAY=MO,TU,WE,TH,FR;BYSETPOS=-1", [
        "2026-03-31T09:00:00Z", "2026-04-30T09:00:00Z", "2026-05-29T09:00:00Z"]),
    "second-tuesday-every-other-month": ("FREQ=MONTHLY;INTERVAL=2;BYDAY=2TU", [
        "2026-03-10T09:00:00Z", "2026-05-12T09:00:00Z", "2026-07-14T09:00:00Z"]),
    "first-monday-of-iso-week-1": ("FREQ=YEARLY;BYWEEKNO=1;BYDAY=MO", [
        "2027-01-04T09:00:00Z", "2028-01-03T09:00:00Z", "2029-01-01T09:00:00Z"]),
    "100th-day-of-the-year": ("RRULE:FREQ=YEARLY;BYYEARDAY=100", [
        "2026-04-10T09:00:00Z", "2027-04-10T09:00:00Z", "2028-04-09T09:00:00Z"]),
    # RFC 5545: a plain and a numbered weekday in one BYDAY are either (dateutil: both).
    "first-monday-and-every-friday": ("FREQ=MONTHLY;BYDAY=1MO,FR;COUNT=3", [
        "2026-03-02T09:00:00Z", "2026-03-06T09:00:00Z", "2026-03-13T09:00:00Z"]),
    "us-thanksgiving": ("FREQ=YEARLY;BYMONTH=11;BYDAY=4TH", [
        "2026-11-26T09:00:00Z", "2027-11-25T09:00:00Z", "2028-11-23T09:00:00Z"]),
    "count-ends-the-series": ("FREQ=DAILY;COUNT=2", [
        "2026-03-01T09:00:00Z", "2026-03-02T09:00:00Z"]),
    "until-ends-the-series": ("FREQ=WEEKLY;UNTIL=20260315T090000Z", [
        "2026-03-01T09:00:00Z", "2026-03-08T09:00:00Z", "2026-03-15T09:00:00Z"]),
}  # fmt: skip


@pytest.mark.parametrize(("rule", "expected"), TABLE.values(), ids=TABLE.keys())
def test_rrule_table(rule: str, expected: list[str]) -> None:
    start = datetime(2026, 3, 1, 9, tzinfo=UTC)
    recurrence = Recurrence.from_rrule(parse_rrule(rule))
    found = [
        value.strftime("%Y-%m-%dT%H:%M:%SZ") for value in preview(recurrence, start, start, 10)
    ]
    assert found[: len(expected)] == expected
    if "COUNT" in rule or "UNTIL" in rule:
        assert found == expected


def test_a_rule_is_read_in_the_jobs_zone_and_its_dst_policy() -> None:
    raw = {
        "rrule": "FREQ=DAILY;BYHOUR=2;BYMINUTE=30",
        "timeZone": "Europe/Amsterdam",
        "dstPolicy": {"gap": "skip"},
    }
    recurrence = recurrence_from_json(raw)
    start = datetime(2026, 3, 27, tzinfo=UTC)
    runs = [value.strftime("%m-%dT%H:%MZ") for value in preview(recurrence, start, start, 4)]
    assert runs == ["03-27T01:30Z", "03-28T01:30Z", "03-30T00:30Z", "03-31T00:30Z"]
    assert recurrence_to_json(recurrence) == raw | {"dstPolicy": {"gap": "skip", "fold": "first"}}


def test_exdates_leave_instants_out_of_any_recurrence() -> None:
    start = datetime(2026, 3, 1, 9, tzinfo=UTC)
    for kind in ({"rrule": "FREQ=DAILY"}, {"cron": "0 9 * * *"}, {"frequency": "Day"}):
        raw = kind | {"exdates": ["2026-03-02T09:00:00Z", "2026-03-04T10:00:00+01:00"]}
        recurrence = recurrence_from_json(raw)
        days = [value.day for value in preview(recurrence, start, start, 4)]
        assert days == [1, 3, 5, 6], kind
        assert recurrence_to_json(recurrence)["exdates"] == [
            "2026-03-02T09:00:00Z",
            "2026-03-04T09:00:00Z",
        ]


def test_count_of_the_rule_and_of_the_recurrence() -> None:
    start = datetime(2026, 3, 1, 9, tzinfo=UTC)
    counted = Recurrence.from_rrule(parse_rrule("FREQ=HOURLY;COUNT=3"))
    assert len(list(occurrences(counted, start, start))) == 3
    assert next_occurrence(counted, start, start, done=3) is None
    with pytest.raises(InvalidDefinition, match="has a COUNT"):
        recurrence_from_json({"rrule": "FREQ=HOURLY;COUNT=3", "count": 2})


INVALID = {
    "no-freq": "BYDAY=MO",
    "bad-freq": "FREQ=FORTNIGHTLY",
    "unknown-part": "FREQ=DAILY;BYEASTER=1",
    "twice": "FREQ=DAILY;FREQ=WEEKLY",
    "count-and-until": "FREQ=DAILY;COUNT=2;UNTIL=20270101",
    "byweekno-monthly": "FREQ=MONTHLY;BYWEEKNO=1",
    "numbered-byday-weekly": "FREQ=WEEKLY;BYDAY=1MO",
    "bymonthday-zero": "FREQ=MONTHLY;BYMONTHDAY=0",
    "byhour-24": "FREQ=DAILY;BYHOUR=24",
    "bad-until": "FREQ=DAILY;UNTIL=tomorrow",
    "interval-list": "FREQ=DAILY;INTERVAL=2,3",
    "never": "FREQ=YEARLY;BYMONTH=2;BYMONTHDAY=30",
    "empty": " ",
}


@pytest.mark.parametrize("rule", INVALID.values(), ids=INVALID.keys())
def test_invalid_rules_are_400s_naming_the_field(rule: str) -> None:
    with pytest.raises(InvalidDefinition) as raised:
        recurrence_from_json({"rrule": rule})
    assert "rrule" in str(raised.value)


def test_a_rule_excludes_azures_fields_and_cron() -> None:
    with pytest.raises(InvalidDefinition, match="replaces 'frequency'"):
        recurrence_from_json({"rrule": "FREQ=DAILY", "frequency": "Day"})
    with pytest.raises(InvalidDefinition, match="exclude each other"):
        recurrence_from_json({"rrule": "FREQ=DAILY", "cron": "* * * * *"})
