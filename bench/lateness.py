"""Figures from what ``bench/_target.py`` recorded: lateness, missed and doubled slots.

The target records only raw values while a window is open (arrival ``time.time()``, the
``x-ms-scheduler-expected-execution-time`` and ``x-ms-scheduler-jobid`` header values as
sent); everything here runs afterwards, in the parent process or in the target once the
window is closed, so the target stays cheap while it is measured.

* ``spread``: N jobs firing every second, job ``i`` at phase ``i * 1_000_000 // N`` us past
  each whole second (``bench/dispatch.py``'s schedule). The slots measured are those *due*
  in the window ``[started, marked)``; a request counts for them whenever it arrived until
  the recording ended (the tail after the window), so late slots due near the end of the
  window are not cut off and late warm-up slots are not counted. ``missed`` = slots due in
  the window that never arrived (by the end of the tail); ``doubled`` = (job, expected
  time) pairs received more than once. ``fires`` is arrivals in the window / its length.
* ``burst``: N one-shot jobs due at one instant; times are arrival minus that instant.

Percentiles are nearest-rank on the sorted samples (``samples[round(q * (len - 1))]``).
"""

from __future__ import annotations

import json
import time
from calendar import timegm
from collections import Counter
from collections.abc import Sequence
from dataclasses import dataclass
from functools import lru_cache
from pathlib import Path
from typing import Any

US = 1_000_000


@dataclass(frozen=True)
class Recording:
    """One window of the target: parallel lists, one entry per request received."""

    started: float  # epoch seconds: the window opened (``begin``)
    marked: float  # the window closed (``mark``); recording went on until ``ended``
    ended: float
    connections: int  # opened while recording
    arrived: Sequence[float]
    expected: Sequence[str]  # header values as sent, "" when absent
    job: Sequence[str]

    @classmethod
    def load(cls, path: Path) -> Recording:
        data = json.loads(path.read_text())
        return cls(
            started=data["started"],
            marked=data["marked"],
            ended=data["ended"],
            connections=data["connections"],
            arrived=data["arrived"],
            expected=data["expected"],
            job=data["job"],
        )


@lru_cache(maxsize=4096)
def _epoch(whole: str) -> int | None:
    try:
        return timegm(time.strptime(whole, "%Y-%m-%dT%H:%M:%S"))
    except ValueError:
        return None


def expected_us(value: str) -> int | None:
    """Epoch microseconds of ``2024-01-01T00:00:01[.123456]Z`` (UTC); None when unparsable."""
    text = value.strip().upper()
    if text.endswith("Z"):
        text = text[:-1]
    whole, dot, fraction = text.partition(".")
    base = _epoch(whole) if len(whole) == 19 else None
    if base is None:
        return None
    if not dot:
        return base * US
    if not (fraction.isdigit() and len(fraction) <= 6):
        return None
    return base * US + int(fraction.ljust(6, "0"))


def job_index(name: str, n: int) -> int | None:
    """``job-000123`` -> 123 when below ``n``; None for any other name."""
    head, _, digits = name.partition("-")
    if head.lower() != "job" or not digits.isdigit() or int(digits) >= n:
        return None
    return int(digits)


def percentiles_ms(samples_s: list[float]) -> dict[str, float] | None:
    if not samples_s:
        return None
    ordered = sorted(samples_s)
    last = len(ordered) - 1
    return {
        "min": ordered[0] * 1000,
        "p50": ordered[round(0.50 * last)] * 1000,
        "p99": ordered[round(0.99 * last)] * 1000,
        "max": ordered[last] * 1000,
        "mean": sum(ordered) / len(ordered) * 1000,
    }


def summary(recording: Recording) -> dict[str, Any]:
    """The figures ``_target.py`` answers to ``end`` (``bench/ha.py`` reads them): over the
    requests that arrived in ``[started, marked]``, lateness against their own header."""
    count = missing = 0
    late: list[float] = []
    for arrived, value in zip(recording.arrived, recording.expected, strict=True):
        if arrived > recording.marked:
            continue
        count += 1
        expected = expected_us(value)
        if expected is None:
            missing += 1
        else:
            late.append(arrived - expected / US)
    return {
        "count": count,
        "seconds": recording.marked - recording.started,
        "missing": missing,
        "connections": recording.connections,
        "late_ms": percentiles_ms(late),
        "late_s_over_1": sum(1 for sample in late if sample > 1.0),
    }


@dataclass(frozen=True)
class SpreadFigures:
    seconds: float  # window length
    fires: float  # requests that arrived in the window, per second
    late_ms: dict[str, float] | None  # requests for slots due in the window
    slots: int  # slots due in the window (the schedule's, N per second)
    received: int  # requests for slots due in the window, arrived by the end of the tail
    missed: int
    doubled: int
    off_schedule: int  # due in the window but not one of the N jobs' slots
    unreadable: int  # requests without a readable expected-time header
    over_1s: int  # samples later than one second
    tail: float  # seconds recorded after the window


def _slots_due(n: int, start_us: int, end_us: int) -> int:
    """How many of the N jobs' slots (job i at ``i*US//n`` past each second) lie in
    ``[start_us, end_us)``."""
    total = 0
    for index in range(n):
        phase = index * US // n
        # ceil((x - phase) / US) is the first whole k with k*US + phase >= x.
        total += -((phase - end_us) // US) - -((phase - start_us) // US)
    return total


def spread(recording: Recording, n: int) -> SpreadFigures:
    start_us, end_us = round(recording.started * US), round(recording.marked * US)
    in_window = unreadable = off_schedule = received = 0
    late: list[float] = []
    seen: Counter[tuple[int, int]] = Counter()
    for arrived, value, job in zip(
        recording.arrived, recording.expected, recording.job, strict=True
    ):
        if arrived <= recording.marked:
            in_window += 1
        expected = expected_us(value)
        if expected is None:
            unreadable += arrived <= recording.marked
            continue
        if not start_us <= expected < end_us:
            continue  # a warm-up slot arriving late, or a slot due in the tail
        received += 1
        late.append(arrived - expected / US)
        index = job_index(job, n)
        if index is None or (expected - index * US // n) % US:
            off_schedule += 1
        else:
            seen[index, expected] += 1
    slots = _slots_due(n, start_us, end_us)
    seconds = recording.marked - recording.started
    return SpreadFigures(
        seconds=seconds,
        fires=in_window / seconds if seconds > 0 else 0.0,
        late_ms=percentiles_ms(late),
        slots=slots,
        received=received,
        missed=slots - len(seen),
        doubled=sum(1 for times in seen.values() if times > 1),
        off_schedule=off_schedule,
        unreadable=unreadable,
        over_1s=sum(1 for sample in late if sample > 1.0),
        tail=recording.ended - recording.marked,
    )


@dataclass(frozen=True)
class BurstFigures:
    after_ms: dict[str, float] | None  # arrival - the instant, per request of the N jobs
    received: int  # requests of the N jobs
    missed: int  # jobs of the N never received
    doubled: int  # jobs received more than once
    other_expected: int  # requests of the N jobs whose expected time is not the instant
    strays: int  # requests from any other job (or without a job header)


def burst(recording: Recording, n: int, instant_us: int) -> BurstFigures:
    after: list[float] = []
    seen: Counter[int] = Counter()
    other_expected = strays = 0
    for arrived, value, job in zip(
        recording.arrived, recording.expected, recording.job, strict=True
    ):
        index = job_index(job, n)
        if index is None:
            strays += 1
            continue
        seen[index] += 1
        after.append(arrived - instant_us / US)
        other_expected += expected_us(value) != instant_us
    return BurstFigures(
        after_ms=percentiles_ms(after),
        received=len(after),
        missed=n - len(seen),
        doubled=sum(1 for times in seen.values() if times > 1),
        other_expected=other_expected,
        strays=strays,
    )
