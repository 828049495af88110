"""Fixtures: the `system` (service and engine on a fake clock)."""

from tests.system import system

__all__ = ["system"]
