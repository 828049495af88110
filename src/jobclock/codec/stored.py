"""Job definitions in their stored form: Azure JSON with every secret sealed by the
SecretBox. The store keeps this text as it is given and never reads it."""

from __future__ import annotations

import json
from dataclasses import replace
from functools import lru_cache
from typing import Any

from jobclock.codec.calendar import calendar_properties_to_json, holidays_from_stored
from jobclock.codec.job import definition_to_json, job_definition_from_json
from jobclock.codec.notification import endpoint_from_json, endpoint_to_json
from jobclock.domain.job import JobDefinition
from jobclock.domain.notification import Endpoint
from jobclock.domain.secret import Secret
from jobclock.ports import SecretBox


class StoredDefinitions:
    """Job definitions as stored: Azure JSON with every secret sealed by the SecretBox."""

    def __init__(self, box: SecretBox, cached: int = 4096) -> None:
        self._box = box
        # The API and the portal read a job's definition on every GET and list row, the
        # engine on every fire: the last ``cached`` texts read are kept decoded. A stored
        # text is never changed in place (a write stores a new one), and a text that cannot
        # be read raises again each time (errors are not kept).
        self._load = lru_cache(maxsize=cached)(self._decode)

    def dump(self, definition: JobDefinition) -> str:
        def seal(secret: Secret) -> dict[str, str]:
            return {_SEALED: self._box.seal(secret.reveal())}

        properties = definition_to_json(definition, seal)
        recurrence = definition.recurrence
        if recurrence is not None and recurrence.holidays is not None:
            # The calendar's holidays as of this save: the engine reads a job from its row
            # alone. A calendar's PUT rewrites the jobs that follow it.
            properties[_HOLIDAYS] = calendar_properties_to_json(recurrence.holidays)
        return json.dumps(properties, separators=(",", ":"))

    def load(self, text: str) -> JobDefinition:
        return self._load(text)

    def _decode(self, text: str) -> JobDefinition:
        properties = _unseal(json.loads(text), self._box)
        holidays = properties.pop(_HOLIDAYS, None) if isinstance(properties, dict) else None
        definition = job_definition_from_json({"properties": properties}, check_size=False)
        if holidays is None or definition.recurrence is None:
            return definition
        recurrence = definition.recurrence.on_calendar(holidays_from_stored(holidays))
        return replace(definition, recurrence=recurrence)

    def dump_endpoint(self, endpoint: Endpoint) -> str:
        """A notification endpoint as stored: its keys sealed."""

        def seal(secret: Secret) -> dict[str, str]:
            return {_SEALED: self._box.seal(secret.reveal())}

        return json.dumps(endpoint_to_json(endpoint, seal), separators=(",", ":"))

    def load_endpoint(self, text: str) -> Endpoint:
        return endpoint_from_json({"properties": _unseal(json.loads(text), self._box)})

    @staticmethod
    def plain_json(definition: JobDefinition) -> dict[str, Any]:
        """The definition with its secrets in clear, for a PATCH merge (never returned)."""
        return definition_to_json(definition, lambda secret: secret.reveal())


_SEALED = "$sealed"
_HOLIDAYS = "$holidays"


def _unseal(value: Any, box: SecretBox) -> Any:
    if isinstance(value, dict):
        if len(value) == 1 and _SEALED in value:
            return box.open(value[_SEALED])
        return {key: _unseal(item, box) for key, item in value.items()}
    if isinstance(value, list):
        return [_unseal(item, box) for item in value]
    return value
