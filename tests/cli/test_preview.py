"""``jobclock preview`` as a user runs it: the installed console script, in a subprocess."""

from __future__ import annotations

import json
import re
import shutil
import subprocess
import sys
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest

LINE = re.compile(r"^\d{4}-\d{2}-\d{2}T\d{2}:\d{2}:\d{2}Z$")


def jobclock() -> list[str]:
    script = Path(sys.executable).with_name("jobclock")
    if script.exists():
        return [str(script)]
    found = shutil.which("jobclock")
    assert found, "the jobclock console script is not installed"
    return [found]


def preview(*args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [*jobclock(), "preview", *args], capture_output=True, text=True, timeout=30, check=False
    )


def test_prints_the_next_occurrences_one_per_line() -> None:
    result = preview(
        "--recurrence",
        json.dumps(
            {
                "frequency": "Month",
                "schedule": {
                    "hours": [17],
                    "minutes": [30],
                    "monthlyOccurrences": [{"day": "Friday", "occurrence": -1}],
                },
            }
        ),
        "--start",
        "2024-01-01T00:00:00Z",
        "--now",
        "2024-01-01T00:00:00Z",
        "--count",
        "3",
    )
    assert result.returncode == 0, result.stderr
    assert result.stdout.splitlines() == [
        "2024-01-26T17:30:00Z",
        "2024-02-23T17:30:00Z",
        "2024-03-29T17:30:00Z",
    ]
    assert result.stderr == ""


def test_count_defaults_to_ten_and_start_defaults_to_now() -> None:
    result = preview(
        "--recurrence", '{"frequency": "Minute", "interval": 5}', "--now", "2024-01-01T10:00:07Z"
    )
    assert result.returncode == 0, result.stderr
    lines = result.stdout.splitlines()
    assert len(lines) == 10
    assert lines[0] == "2024-01-01T10:00:07Z"
    assert lines[1] == "2024-01-01T10:05:07Z"


def test_now_defaults_to_the_current_time() -> None:
    before = datetime.now(UTC).replace(microsecond=0)
    result = preview("--recurrence", '{"frequency": "Hour"}', "--count", "2")
    assert result.returncode == 0, result.stderr
    lines = result.stdout.splitlines()
    assert all(LINE.match(line) for line in lines)
    first = datetime.strptime(lines[0], "%Y-%m-%dT%H:%M:%SZ").replace(tzinfo=UTC)
    assert before <= first <= before + timedelta(seconds=30)


def test_fewer_lines_when_count_or_end_time_end_the_series() -> None:
    by_count = preview(
        "--recurrence", '{"frequency": "Day", "count": 2}', "--now", "2024-01-01T00:00:00Z"
    )
    assert by_count.stdout.splitlines() == ["2024-01-01T00:00:00Z", "2024-01-02T00:00:00Z"]
    by_end = preview(
        "--recurrence",
        '{"frequency": "Day", "endTime": "2024-01-03T00:00:00Z"}',
        "--now",
        "2024-01-01T00:00:00Z",
    )
    assert len(by_end.stdout.splitlines()) == 3


def test_time_zone_extension_and_second_frequency() -> None:
    zoned = preview(
        "--recurrence",
        '{"frequency": "Day", "schedule": {"hours": [2], "minutes": [30]}, "timeZone": "Europe/Amsterdam"}',
        "--now",
        "2024-03-30T12:00:00Z",
        "--count",
        "2",
    )
    assert zoned.stdout.splitlines() == ["2024-03-31T01:30:00Z", "2024-04-01T00:30:00Z"]
    seconds = preview(
        "--recurrence",
        '{"frequency": "Second", "interval": 10}',
        "--now",
        "2024-01-01T00:00:00Z",
        "--count",
        "2",
    )
    assert seconds.stdout.splitlines() == ["2024-01-01T00:00:00Z", "2024-01-01T00:00:10Z"]


@pytest.mark.parametrize(
    ("args", "reason"),
    [
        pytest.param(["--recurrence", "{not json"], "not valid JSON", id="bad-json"),
        pytest.param(["--recurrence", '{"frequency": "Year"}'], "frequency", id="unknown-frequency"),
        pytest.param(["--recurrence", '{"interval": 2}'], "frequency' is required", id="missing-frequency"),
        pytest.param(["--recurrence", '{"frequency": "Week", "schedule": {"monthDays": [1]}}'], "Cannot set days of month", id="schedule-mismatch"),
        pytest.param(["--recurrence", '{"frequency": "Day", "timeZone": "Nowhere/Land"}'], "time zone", id="unknown-zone"),
        pytest.param(["--recurrence", '{"frequency": "Day"}', "--start", "tomorrow"], "--start", id="bad-start"),
        pytest.param(["--recurrence", '{"frequency": "Day"}', "--now", "2024-01-01T00:00:00"], "offset", id="naive-now"),
        pytest.param(["--count", "many"], "--count", id="bad-count"),
        pytest.param(["--count", "-1"], "--count", id="negative-count"),
        pytest.param(["--frobnicate"], "No such option", id="unknown-option"),
        pytest.param(["--recurrence", "[1]"], "must be a JSON object", id="not-an-object"),
    ],
)  # fmt: skip
def test_invalid_input_exits_2_with_one_line_and_no_traceback(args: list[str], reason: str) -> None:
    result = preview(*args)
    assert result.returncode == 2
    assert result.stdout == ""
    lines = result.stderr.strip().splitlines()
    assert len(lines) == 1, result.stderr
    assert reason in lines[0]
    assert "Traceback" not in result.stderr


def test_a_cron_expression_in_a_zone_with_a_gap() -> None:
    result = preview(
        "--cron", "30 2 * * *", "--time-zone", "Europe/Amsterdam",
        "--now", "2026-03-28T00:00:00Z", "--count", "3",
    )  # fmt: skip
    assert result.returncode == 0, result.stderr
    # 29 March 02:30 does not exist in Amsterdam: it runs at 03:30 CEST (01:30Z).
    assert result.stdout.splitlines() == [
        "2026-03-28T01:30:00Z",
        "2026-03-29T01:30:00Z",
        "2026-03-30T00:30:00Z",
    ]


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (["--cron", "61 * * * *"], "'recurrence.cron' has 61 in its minute field"),
        (["--cron", "@daily", "--recurrence", "{}"], "exclude each other"),
        (["--time-zone", "Europe/Amsterdam"], "--time-zone needs --cron, --rrule or --recurrence"),
        (["--cron", "0 0 * * *", "--time-zone", "Mars/Olympus"], "not a known IANA time zone"),
    ],
    ids=["bad-field", "both", "zone-alone", "bad-zone"],
)
def test_bad_cron_input_is_one_line_and_exit_2(args: list[str], message: str) -> None:
    result = preview(*args)
    assert result.returncode == 2
    assert result.stdout == ""
    [line] = result.stderr.splitlines()
    assert message in line


def test_dst_policy_flags() -> None:
    common = ["--cron", "30 2 * * *", "--time-zone", "Europe/Amsterdam", "--count", "2"]
    skipped = preview(*common, "--dst-gap", "skip", "--now", "2026-03-29T00:00:00Z")
    assert skipped.stdout.splitlines() == ["2026-03-30T00:30:00Z", "2026-03-31T00:30:00Z"]
    both = preview(*common, "--dst-fold", "both", "--now", "2026-10-25T00:00:00Z")
    assert both.stdout.splitlines() == ["2026-10-25T00:30:00Z", "2026-10-25T01:30:00Z"]
    wrong = preview(*common, "--dst-gap", "later")
    assert wrong.returncode == 2
