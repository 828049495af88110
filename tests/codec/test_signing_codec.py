"""``request.signing``: write-only keys, sealed when stored, checked on the way in; and the
retry and template extensions read back as given."""

from __future__ import annotations

import base64
import json
from typing import Any

import pytest
from cryptography.fernet import Fernet

from jobclock.codec.job import definition_to_json, job_definition_from_json
from jobclock.codec.stored import StoredDefinitions
from jobclock.domain.errors import InvalidDefinition
from jobclock.secret_box import FernetSecretBox

KEY = "whsec_" + base64.b64encode(b"k" * 32).decode()
OLD = "whsec_" + base64.b64encode(b"o" * 24).decode()


def _body(request: dict[str, Any]) -> dict[str, Any]:
    return {
        "properties": {
            "action": {
                "type": "Http",
                "request": {"uri": "http://127.0.0.1/", "method": "POST", **request},
            }
        }
    }


def test_signing_keys_are_never_shown_and_are_sealed_when_stored() -> None:
    definition = job_definition_from_json(
        _body({"signing": {"secret": KEY, "previousSecret": OLD}, "template": True})
    )
    shown = definition_to_json(definition)
    assert shown["action"]["request"]["signing"] == {}
    assert shown["action"]["request"]["template"] is True
    assert KEY not in json.dumps(shown)
    stored = StoredDefinitions(FernetSecretBox(Fernet.generate_key()))
    text = stored.dump(definition)
    assert KEY not in text
    assert OLD not in text
    assert stored.load(text) == definition


@pytest.mark.parametrize(
    "signing",
    [
        pytest.param({"secret": "hunter2-plain"}, id="no-prefix"),
        pytest.param({"secret": "whsec_" + base64.b64encode(b"short").decode()}, id="too-short"),
        pytest.param({"secret": "whsec_!!!!notbase64!!!!notbase64!!!!"}, id="not-base64"),
        pytest.param({}, id="no-secret"),
        pytest.param({"secret": KEY, "previousSecret": "old"}, id="bad-previous"),
        pytest.param({"secret": KEY, "algorithm": "md5"}, id="unknown-key"),
        pytest.param("whsec_x", id="not-an-object"),
    ],
)
def test_a_bad_signing_key_is_refused_without_echoing_it(signing: object) -> None:
    with pytest.raises(InvalidDefinition) as raised:
        job_definition_from_json(_body({"signing": signing}))
    message = str(raised.value)
    assert "signing" in message
    assert "hunter2" not in message
    assert "notbase64" not in message


def test_an_unsigned_untemplated_request_reads_back_as_before() -> None:
    shown = definition_to_json(job_definition_from_json(_body({})))
    assert set(shown["action"]["request"]) == {"uri", "method"}
