"""Job definitions in their stored form: Azure JSON with every secret sealed by the
SecretBox. The store keeps this text as it is given and never reads it."""

from __future__ import annotations

import json
from functools import lru_cache
from typing import Any

from jobclock.codec.job import definition_to_json, job_definition_from_json
from jobclock.domain.job import JobDefinition
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

        return json.dumps(definition_to_json(definition, seal), separators=(",", ":"))

    def load(self, text: str) -> JobDefinition:
        return self._load(text)

    def _decode(self, text: str) -> JobDefinition:
        properties = _unseal(json.loads(text), self._box)
        return job_definition_from_json({"properties": properties}, check_size=False)

    @staticmethod
    def plain_json(definition: JobDefinition) -> dict[str, Any]:
        """The definition with its secrets in clear, for a PATCH merge (never returned)."""
        return definition_to_json(definition, lambda secret: secret.reveal())


_SEALED = "$sealed"


def _unseal(value: Any, box: SecretBox) -> Any:
    if isinstance(value, dict):
        if len(value) == 1 and _SEALED in value:
            return box.open(value[_SEALED])
        return {key: _unseal(item, box) for key, item in value.items()}
    if isinstance(value, list):
        return [_unseal(item, box) for item in value]
    return value
