"""A secret value that never shows itself in a repr, a log line or a traceback."""

from __future__ import annotations

from dataclasses import dataclass, field


@dataclass(frozen=True, slots=True)
class Secret:
    """Write-only text: passwords, PFX files, OAuth secrets, SAS tokens and keys (§7).

    ``reveal()`` is the one way to read it, used only where it is sent or encrypted.
    """

    _value: str = field(repr=False)

    def reveal(self) -> str:
        return self._value

    def __repr__(self) -> str:
        return "Secret('***')"

    def __str__(self) -> str:
        return "***"
