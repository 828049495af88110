"""``recurrence.dstPolicy`` (issue 14, item 3): what a wall time in a spring gap or an
autumn fold does, for Azure's schedules and for cron, in Europe/Amsterdam,
America/New_York and Australia/Lord_Howe (whose shift is 30 minutes)."""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any

import pytest

from jobclock.codec.recurrence import recurrence_from_json, recurrence_to_json
from jobclock.domain.errors import InvalidDefinition
from jobclock.domain.occurrences import preview

# 2026: Amsterdam 29 Mar 02:00 -> 03:00 and 25 Oct 03:00 -> 02:00; New York 8 Mar
# 02:00 -> 03:00 and 1 Nov 02:00 -> 01:00; Lord Howe 4 Oct 02:00 -> 02:30 and 5 Apr
# 02:00 -> 01:30.
ZONES = {
    "amsterdam": ("Europe/Amsterdam", "02:30", "2026-03-28", "2026-10-24"),
    "new-york-gap": ("America/New_York", "02:30", "2026-03-07", None),
    "new-york-fold": ("America/New_York", "01:30", None, "2026-10-31"),
    "lord-howe": ("Australia/Lord_Howe", "02:15", "2026-10-03", None),
    "lord-howe-fold": ("Australia/Lord_Howe", "01:45", None, "2026-04-04"),
}

# For each: the three runs from the day before the transition (local dates and times).
GAP = {
    ("amsterdam", "shift"): ["03-28 02:30", "03-29 03:30", "03-30 02:30"],
    ("amsterdam", "gapEnd"): ["03-28 02:30", "03-29 03:00", "03-30 02:30"],
    ("amsterdam", "skip"): ["03-28 02:30", "03-30 02:30", "03-31 02:30"],
    ("new-york-gap", "shift"): ["03-07 02:30", "03-08 03:30", "03-09 02:30"],
    ("new-york-gap", "gapEnd"): ["03-07 02:30", "03-08 03:00", "03-09 02:30"],
    ("new-york-gap", "skip"): ["03-07 02:30", "03-09 02:30", "03-10 02:30"],
    ("lord-howe", "shift"): ["10-03 02:15", "10-04 02:45", "10-05 02:15"],
    ("lord-howe", "gapEnd"): ["10-03 02:15", "10-04 02:30", "10-05 02:15"],
    ("lord-howe", "skip"): ["10-03 02:15", "10-05 02:15", "10-06 02:15"],
}
# Local time and UTC offset in minutes, since a fold repeats the local time.
FOLD = {
    ("amsterdam", "first"): [("10-24 02:30", 120), ("10-25 02:30", 120), ("10-26 02:30", 60)],
    ("amsterdam", "second"): [("10-24 02:30", 120), ("10-25 02:30", 60), ("10-26 02:30", 60)],
    ("amsterdam", "both"): [("10-24 02:30", 120), ("10-25 02:30", 120), ("10-25 02:30", 60)],
    ("new-york-fold", "first"): [("10-31 01:30", -240), ("11-01 01:30", -240),
                                 ("11-02 01:30", -300)],
    ("new-york-fold", "second"): [("10-31 01:30", -240), ("11-01 01:30", -300),
                                  ("11-02 01:30", -300)],
    ("new-york-fold", "both"): [("10-31 01:30", -240), ("11-01 01:30", -240),
                                ("11-01 01:30", -300)],
    ("lord-howe-fold", "first"): [("04-04 01:45", 660), ("04-05 01:45", 660),
                                  ("04-06 01:45", 630)],
    ("lord-howe-fold", "second"): [("04-04 01:45", 660), ("04-05 01:45", 630),
                                   ("04-06 01:45", 630)],
    ("lord-howe-fold", "both"): [("04-04 01:45", 660), ("04-05 01:45", 660),
                                 ("04-05 01:45", 630)],
}  # fmt: skip


def _recurrences(zone: str, wall: str, policy: dict[str, str]) -> dict[str, dict[str, Any]]:
    hour, minute = (int(part) for part in wall.split(":"))
    common = {"timeZone": zone, "dstPolicy": policy}
    return {
        "azure-schedule": {
            "frequency": "Day",
            "schedule": {"hours": [hour], "minutes": [minute]},
            **common,
        },
        "cron": {"cron": f"{minute} {hour} * * *", **common},
    }


def _runs(raw: dict[str, Any], day: str, count: int = 3) -> list[datetime]:
    recurrence = recurrence_from_json(raw)
    start = datetime.fromisoformat(f"{day}T00:00:00").replace(tzinfo=recurrence.zone)
    return preview(recurrence, start.astimezone(UTC), start.astimezone(UTC), count)


@pytest.mark.parametrize("kind", ["azure-schedule", "cron"])
@pytest.mark.parametrize(("place", "gap"), GAP, ids=[f"{z}-{g}" for z, g in GAP])
def test_gap_policy(kind: str, place: str, gap: str) -> None:
    zone, wall, day, _ = ZONES[place]
    assert day is not None
    raw = _recurrences(zone, wall, {"gap": gap})[kind]
    runs = _runs(raw, day)
    local = [value.astimezone(recurrence_from_json(raw).zone) for value in runs]
    assert [value.strftime("%m-%d %H:%M") for value in local] == GAP[(place, gap)]


@pytest.mark.parametrize("kind", ["azure-schedule", "cron"])
@pytest.mark.parametrize(("place", "fold"), FOLD, ids=[f"{z}-{f}" for z, f in FOLD])
def test_fold_policy(kind: str, place: str, fold: str) -> None:
    zone, wall, _, day = ZONES[place]
    assert day is not None
    raw = _recurrences(zone, wall, {"fold": fold})[kind]
    runs = _runs(raw, day)
    local = [value.astimezone(recurrence_from_json(raw).zone) for value in runs]
    shown = [
        (value.strftime("%m-%d %H:%M"), int(value.utcoffset().total_seconds()) // 60)  # type: ignore[union-attr]
        for value in local
    ]
    assert shown == FOLD[(place, fold)]


def test_without_a_policy_the_rule_is_todays() -> None:
    for kind, raw in _recurrences("Europe/Amsterdam", "02:30", {}).items():
        raw.pop("dstPolicy")
        defaults = _runs(raw, "2026-03-28") + _runs(raw, "2026-10-24")
        explicit = dict(raw, dstPolicy={"gap": "shift", "fold": "first"})
        assert defaults == _runs(explicit, "2026-03-28") + _runs(explicit, "2026-10-24"), kind


def test_the_policy_is_echoed_whole_and_absent_when_not_given() -> None:
    raw = {"frequency": "Day", "timeZone": "Europe/Amsterdam", "dstPolicy": {"gap": "skip"}}
    assert recurrence_to_json(recurrence_from_json(raw))["dstPolicy"] == {
        "gap": "skip",
        "fold": "first",
    }
    assert "dstPolicy" not in recurrence_to_json(recurrence_from_json({"frequency": "Day"}))


@pytest.mark.parametrize(
    "policy", [{"gap": "later"}, {"fold": "third"}, {"gaps": "skip"}, "skip"], ids=str
)
def test_a_bad_policy_is_refused(policy: object) -> None:
    with pytest.raises(InvalidDefinition):
        recurrence_from_json({"frequency": "Day", "dstPolicy": policy})
