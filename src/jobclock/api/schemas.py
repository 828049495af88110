"""Wire models of the ARM surface, named after the 2016-03-01 swagger definitions.

They document the OpenAPI responses and let tests check what :mod:`jobclock.api.envelopes`
builds. ``properties`` stays a free-form object: its shape is the codec's (§3), which
already turns domain values into Azure's JSON.
"""

from __future__ import annotations

from typing import Any

from pydantic import BaseModel, ConfigDict


class _Wire(BaseModel):
    model_config = ConfigDict(extra="forbid")


class ErrorDetail(_Wire):
    code: str
    message: str


class ErrorResponse(_Wire):
    """Every error answer: ``{"error": {"code", "message"}}`` (§2.7)."""

    error: ErrorDetail


class JobCollectionDefinition(_Wire):
    """A job collection in its ARM envelope (§1.2); ``tags`` is left out when empty."""

    id: str
    type: str
    name: str
    location: str
    tags: dict[str, str] | None = None
    properties: dict[str, Any]


class JobDefinition(_Wire):
    """A job in its ARM envelope (§1.3); ``name`` is ``{collection}/{job}``."""

    id: str
    type: str
    name: str
    properties: dict[str, Any]


class JobHistoryDefinition(_Wire):
    """One history entry (§1.5); ``name`` is ``{collection}/{job}/{historyId}``."""

    id: str
    type: str
    name: str
    properties: dict[str, Any]


class JobCollectionListResult(_Wire):
    value: list[JobCollectionDefinition]
    nextLink: str | None = None


class JobListResult(_Wire):
    value: list[JobDefinition]
    nextLink: str | None = None


class JobHistoryListResult(_Wire):
    value: list[JobHistoryDefinition]
    nextLink: str | None = None
