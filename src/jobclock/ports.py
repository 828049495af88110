"""Every seam of jobclock, as Protocols. Each docstring is the contract.

The domain depends on none of these; the engine, the services and the edges depend on
these and never on a concrete adapter.
"""

from __future__ import annotations

from datetime import datetime
from typing import Protocol


class Clock(Protocol):
    """The one source of "now". Nothing else reads the wall clock.

    ``now()`` always returns an aware UTC datetime and never goes backwards for one clock
    instance. ``sleep_until(instant)`` returns once ``now() >= instant`` (a fake clock returns
    when a test advances it there) or earlier when ``wake()`` is called, so a newly created
    job can shorten the engine's wait.
    """

    def now(self) -> datetime: ...

    async def sleep_until(self, instant: datetime) -> None: ...

    def wake(self) -> None: ...
