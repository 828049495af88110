"""The portal says "Every hour"; the CLI keeps the cmdlets' "Every 1 Hours" (spec §9.1)."""

from __future__ import annotations

import pytest

from jobclock.describe import describe_recurrence


@pytest.mark.parametrize(
    ("recurrence", "portal", "cmdlet"),
    [
        ({"frequency": "Hour", "interval": 1}, "Every hour", "Every 1 Hours"),
        ({"frequency": "Minute"}, "Every minute", "Every 1 Minutes"),
        ({"frequency": "Hour", "interval": 3}, "Every 3 Hours", "Every 3 Hours"),
        (
            {"frequency": "Week", "interval": 1, "schedule": {"weekDays": ["Monday"]}},
            "Every week on Monday",
            "Every 1 Weeks on Monday",
        ),
        (None, "Run once", "Run once"),
    ],
)
def test_every_one_reads_as_a_person_says_it_in_the_portal(
    recurrence: object, portal: str, cmdlet: str
) -> None:
    assert describe_recurrence(recurrence, cmdlet=False) == portal
    assert describe_recurrence(recurrence) == cmdlet
