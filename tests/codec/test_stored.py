"""StoredDefinitions: a definition survives its stored form (secrets sealed), and the decoded
texts it keeps never stand in for another text or hide an error."""

from __future__ import annotations

import json

import pytest
from cryptography.fernet import Fernet

from jobclock.codec.job import job_definition_from_json
from jobclock.codec.stored import StoredDefinitions
from jobclock.domain.actions import HttpRequest
from jobclock.domain.job import JobDefinition
from jobclock.secret_box import FernetSecretBox


def definition(uri: str) -> JobDefinition:
    return job_definition_from_json(
        {
            "properties": {
                "action": {
                    "type": "Http",
                    "request": {
                        "uri": uri,
                        "method": "GET",
                        "authentication": {
                            "type": "Basic",
                            "username": "u",
                            "password": "pw-Secret-1",
                        },
                    },
                },
            }
        }
    )


def test_a_definition_survives_its_stored_form_with_its_secret_sealed() -> None:
    stored = StoredDefinitions(FernetSecretBox(Fernet.generate_key()))
    original = definition("http://127.0.0.1/a")
    text = stored.dump(original)
    assert "pw-Secret-1" not in text
    assert stored.load(text) == original
    assert stored.load(text) == original  # kept decoded: the same answer


def test_each_text_decodes_to_its_own_definition() -> None:
    stored = StoredDefinitions(FernetSecretBox(Fernet.generate_key()), cached=1)
    texts = [stored.dump(definition(f"http://127.0.0.1/{n}")) for n in range(3)]
    for _ in range(2):
        for n, text in enumerate(texts):
            payload = stored.load(text).action.payload
            assert isinstance(payload, HttpRequest)
            assert payload.uri == f"http://127.0.0.1/{n}"


def test_a_text_that_cannot_be_read_raises_every_time() -> None:
    stored = StoredDefinitions(FernetSecretBox(Fernet.generate_key()))
    other = StoredDefinitions(FernetSecretBox(Fernet.generate_key()))
    text = other.dump(definition("http://127.0.0.1/x"))
    for _ in range(2):
        with pytest.raises(Exception):  # noqa: B017, PT011 - the secret box's own error
            stored.load(text)
    broken = json.dumps({"action": {"type": "Nope"}})
    for _ in range(2):
        with pytest.raises(Exception):  # noqa: B017, PT011
            stored.load(broken)
