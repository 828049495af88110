"""What saving an edited job does to its schedule (issue 11), as pure functions.

A job's *timing* is what decides when it runs: its startTime, its recurrence and the state
the user set. Its *effective start* is the anchor the service stores: the startTime, or
without one the time the job was saved (§4.1); a *chained* job (no startTime, no schedule,
§4.2) moves its anchor to each actual start, so each run follows the last one by a period.

The API's PUT is a full replacement that always reschedules: an absent startTime means the
update time (§2.4, §4.2). The portal's editor sends a whole form, most of it unchanged: a
save whose timing is the stored one's keeps the job's cursor (anchor, last slot, count,
next execution time), so *Save* with nothing changed changes nothing, and the editor
previews the runs the job really has. A change of the timing is a real change: it
reschedules as the API's PUT does.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from itertools import islice

from jobclock.domain.job import JobDefinition, JobState
from jobclock.domain.occurrences import next_occurrence, occurrences, preview
from jobclock.domain.planning import Cursor
from jobclock.domain.planning import chained as is_chained
from jobclock.domain.recurrence import Recurrence


@dataclass(frozen=True, slots=True)
class Timing:
    """The part of a definition that decides when the job runs."""

    start_time: datetime | None
    recurrence: Recurrence | None
    state: JobState = JobState.ENABLED

    @property
    def chained(self) -> bool:
        """No startTime and no schedule: each run is one period after the last actual
        start (§4.2), so the anchor moves with every run."""
        return is_chained(self.start_time, self.recurrence)


def timing_of(definition: JobDefinition) -> Timing:
    return Timing(definition.start_time, definition.recurrence, definition.state)


def chained(definition: JobDefinition) -> bool:
    """The engine's rule (:func:`jobclock.domain.planning.chained`)."""
    return timing_of(definition).chained


@dataclass(frozen=True, slots=True)
class Scheduled:
    """Where a stored job stands: its timing as the user set it, its cursor, and its next
    execution time (None: nothing is due, e.g. Disabled, Completed or Faulted)."""

    timing: Timing
    cursor: Cursor
    next_time: datetime | None


def keeps_schedule(stored: Timing, edited: Timing) -> bool:
    """A save from the editor keeps the job's cursor: its timing is unchanged. (Timings
    compare as values: the codec normalises schedules, so a reordered list is no change.)"""
    return stored == edited


def upcoming(job: Scheduled, count: int) -> list[datetime]:
    """The stored job's next ``count`` runs, as the engine will claim them if each runs on
    time: its next execution time, then each following slot from its cursor (a chained
    job's from the run before, which re-anchors it)."""
    if job.next_time is None or count <= 0:
        return []
    recurrence = job.timing.recurrence
    runs = [job.next_time]
    done = job.cursor.done
    while len(runs) < count and recurrence is not None:
        slot = runs[-1]
        done += 1
        anchor = slot if job.timing.chained else job.cursor.anchor
        following = next_occurrence(recurrence, anchor, slot, slot, done)
        if following is None:
            break
        runs.append(following)
    return runs


def upcoming_from(job: Scheduled, after: datetime, count: int) -> list[datetime]:
    """The stored job's first ``count`` runs at or after ``after`` (``GET .../preview
    ?from=``), as the engine claims them when each runs on time: :func:`upcoming` for a
    chained job (its runs are a grid from its next one), else the schedule's slots from its
    cursor, whatever lies between now and ``after``."""
    if job.next_time is None or count <= 0:
        return []
    recurrence = job.timing.recurrence
    if after <= job.next_time or recurrence is None:
        first = upcoming(job, count) if after <= job.next_time else []
        return [run for run in first if run >= after][:count]
    anchor = job.next_time if job.timing.chained else job.cursor.anchor
    # The grid of a chained job starts at its next run: nothing of it has run yet.
    last = None if job.timing.chained else job.cursor.last
    if recurrence.count is None:
        return list(islice(occurrences(recurrence, anchor, after, last, job.cursor.done), count))
    # A counted series: the runs before ``after`` use up its count, so walk them (bounded).
    runs: list[datetime] = []
    walked = occurrences(recurrence, anchor, job.next_time, last, job.cursor.done)
    for step, slot in enumerate(walked):
        if slot >= after:
            runs.append(slot)
            if len(runs) >= count:
                break
        elif step >= _WALK_LIMIT:
            break
    return runs


# How many slots a counted series' preview walks before ``from`` at most.
_WALK_LIMIT = 1_000_000


def runs_after_save(
    stored: Scheduled | None, edited: Timing, now: datetime, count: int
) -> list[datetime]:
    """The first ``count`` runs the job has once the editor saves ``edited`` at ``now``:
    the stored job's own when the save keeps its schedule, else those of a job scheduled
    now (an absent startTime is "when saved"), whatever the state: the editor shows what
    the schedule means. A kept job that is not scheduled (Disabled, Completed, Faulted)
    shows what its schedule gives from now on, counted from its cursor."""
    if stored is None or not keeps_schedule(stored.timing, edited):
        return preview(edited.recurrence, edited.start_time or now, now, count)
    if stored.next_time is not None:
        return upcoming(stored, count)
    cursor = stored.cursor
    found = occurrences(edited.recurrence, cursor.anchor, now, cursor.last, cursor.done)
    return list(islice(found, count))
