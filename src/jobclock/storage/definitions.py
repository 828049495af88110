"""Job definitions as stored, and the record-to-domain conversions the services and the
engine share: Azure JSON with every secret sealed by the SecretBox."""

from __future__ import annotations

import json
from typing import Any

from jobclock.codec.job import definition_to_json, job_definition_from_json
from jobclock.domain.job import JobDefinition, JobStatus
from jobclock.domain.occurrences import from_us
from jobclock.domain.secret import Secret
from jobclock.ports import SecretBox
from jobclock.storage.sql_store import JobRecord


class StoredDefinitions:
    """Job definitions as stored: Azure JSON with every secret sealed by the SecretBox."""

    def __init__(self, box: SecretBox) -> None:
        self._box = box

    def dump(self, definition: JobDefinition) -> str:
        def seal(secret: Secret) -> dict[str, str]:
            return {_SEALED: self._box.seal(secret.reveal())}

        return json.dumps(definition_to_json(definition, seal), separators=(",", ":"))

    def load(self, text: str) -> JobDefinition:
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


def status_of(record: JobRecord) -> JobStatus:
    return JobStatus(
        execution_count=record.execution_count,
        failure_count=record.failure_count,
        faulted_count=record.faulted_count,
        last_execution_time=None
        if record.last_execution_time is None
        else from_us(record.last_execution_time),
        next_execution_time=None
        if record.next_execution_time is None
        else from_us(record.next_execution_time),
    )
