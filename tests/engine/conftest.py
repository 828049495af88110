"""Fixtures: the `system` (service and engine on a fake clock), on the memory store and on
SQLite: the engine's behaviour is the store port's, whichever store holds it."""

from collections.abc import Iterator
from pathlib import Path

import pytest

from tests.system import MEMORY, System, open_system


@pytest.fixture(params=["memory", "sqlite"])
def system(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[System]:
    with open_system(tmp_path, MEMORY if request.param == "memory" else None) as opened:
        yield opened
