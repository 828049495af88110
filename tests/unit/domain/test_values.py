"""Durations, instants, secrets and history ids."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest

from jobclock.domain.durations import DurationForm, iso8601, parse_duration, timespan
from jobclock.domain.errors import InvalidDefinition
from jobclock.domain.history import history_id
from jobclock.domain.instants import format_instant, parse_instant
from jobclock.domain.secret import Secret


@pytest.mark.parametrize(
    ("text", "seconds", "form"),
    [
        pytest.param("PT30S", 30, DurationForm.ISO8601, id="iso-30s"),
        pytest.param("PT1M30S", 90, DurationForm.ISO8601, id="iso-1m30s"),
        pytest.param("PT1.5S", 1.5, DurationForm.ISO8601, id="iso-fraction"),
        pytest.param("P2D", 172800, DurationForm.ISO8601, id="iso-days-only"),
        pytest.param("P1DT12H", 129600, DurationForm.ISO8601, id="iso-day-and-hours"),
        pytest.param("P0D", 0, DurationForm.ISO8601, id="iso-zero"),
        pytest.param("P1W", 604800, DurationForm.ISO8601, id="iso-week"),
        pytest.param("pt1h", 3600, DurationForm.ISO8601, id="iso-lowercase"),
        pytest.param("00:00:30", 30, DurationForm.TIMESPAN, id="timespan-30s"),
        pytest.param("00:01:00", 60, DurationForm.TIMESPAN, id="timespan-1m"),
        pytest.param("1.00:00:00", 86400, DurationForm.TIMESPAN, id="timespan-1d"),
        pytest.param("60.00:00:00", 60 * 86400, DurationForm.TIMESPAN, id="timespan-60d"),
        pytest.param("00:00:01.5000000", 1.5, DurationForm.TIMESPAN, id="timespan-ticks"),
    ],
)
def test_durations_parse_in_both_forms(text: str, seconds: float, form: DurationForm) -> None:
    parsed = parse_duration(text, field="retryInterval")
    assert parsed.value == timedelta(seconds=seconds)
    assert parsed.form is form


@pytest.mark.parametrize("text", ["PT30S", "00:00:30", "1.00:00:00", "P1DT12H"])
def test_durations_echo_in_the_form_given(text: str) -> None:
    assert parse_duration(text, field="retryInterval").text == text


@pytest.mark.parametrize(
    "text", ["", "30", "P", "PT", "T30S", "25:00:00", "00:61:00", "-00:00:30", "abc"]
)
def test_bad_durations_are_rejected_naming_the_field(text: str) -> None:
    with pytest.raises(InvalidDefinition, match="retryInterval"):
        parse_duration(text, field="retryInterval")


def test_duration_writers() -> None:
    assert iso8601(timedelta(seconds=30)) == "PT30S"
    assert iso8601(timedelta(days=1, hours=12)) == "P1DT12H"
    assert iso8601(timedelta(0)) == "P0D"
    assert iso8601(timedelta(seconds=1.5)) == "PT1.5S"
    assert timespan(timedelta(hours=1)) == "01:00:00"
    assert timespan(timedelta(days=2)) == "2.00:00:00"


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("2016-03-30T20:36:51.323981Z", datetime(2016, 3, 30, 20, 36, 51, 323981, tzinfo=UTC)),
        ("2016-03-30T20:39:53.8021951Z", datetime(2016, 3, 30, 20, 39, 53, 802195, tzinfo=UTC)),
        ("2013-01-30T12:08:00-08:00", datetime(2013, 1, 30, 20, 8, tzinfo=UTC)),
        ("2024-01-01T14:34:57.000Z", datetime(2024, 1, 1, 14, 34, 57, tzinfo=UTC)),
        ("2024-01-01T00:00+0530", datetime(2023, 12, 31, 18, 30, tzinfo=UTC)),
    ],
)
def test_instants_parse_to_utc(text: str, expected: datetime) -> None:
    parsed = parse_instant(text, field="startTime")
    assert parsed == expected
    assert parsed.tzinfo is UTC


@pytest.mark.parametrize("text", ["2024-01-01T00:00:00", "2024-13-01T00:00:00Z", "yesterday", ""])
def test_bad_or_naive_instants_are_rejected(text: str) -> None:
    with pytest.raises(InvalidDefinition, match="startTime"):
        parse_instant(text, field="startTime")


def test_instants_format_as_azure_did() -> None:
    assert format_instant(datetime(2016, 3, 30, 20, 36, 51, 323981, tzinfo=UTC)) == (
        "2016-03-30T20:36:51.323981Z"
    )
    assert format_instant(datetime(2016, 3, 30, 20, 36, 51, 500000, tzinfo=UTC)) == (
        "2016-03-30T20:36:51.5Z"
    )
    assert format_instant(datetime(2016, 3, 30, 20, 36, tzinfo=UTC)) == "2016-03-30T20:36:00Z"


def test_secret_never_shows_itself() -> None:
    secret = Secret("hunter2")
    assert "hunter2" not in repr(secret)
    assert "hunter2" not in str(secret)
    assert "hunter2" not in repr([secret])
    assert secret.reveal() == "hunter2"


def test_history_id_has_azures_shape_and_sorts_newest_first() -> None:
    # Recorded: startTime 2016-03-30T20:39:53.8021951Z ↔ A = 02519429304061978048. Python keeps
    # microseconds, so the last tick (100 ns) is dropped and A grows by one.
    start = datetime(2016, 3, 30, 20, 39, 53, 802195, tzinfo=UTC)
    assert history_id(start, 194994) == "02519429304061978049:09223372036854580813"
    later = history_id(start + timedelta(seconds=1), 194995)
    assert later < history_id(start, 194994)
