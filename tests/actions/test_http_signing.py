"""Standard Webhooks signatures on HTTP attempts, checked by the ``standardwebhooks``
library (not by our own code) on what a real receiver on 127.0.0.1 got."""

from __future__ import annotations

import asyncio
import base64
import os
from datetime import UTC, datetime

import pytest
from standardwebhooks.webhooks import Webhook, WebhookVerificationError

from jobclock.actions.http import HttpExecutor
from jobclock.domain.actions import ActionType, HttpMethod, HttpRequest, Signing
from jobclock.domain.execution import Invocation
from jobclock.domain.secret import Secret
from jobclock.testing import FakeClock
from tests.actions.test_http import CONTEXT, Received, Target, server, target

__all__ = ["server", "target"]  # the real receiver's fixtures


def _key() -> str:
    return "whsec_" + base64.b64encode(os.urandom(32)).decode()


def _send(request: HttpRequest, clock: FakeClock | None = None) -> None:
    async def run() -> None:
        executor = HttpExecutor(clock=clock)
        try:
            result = await executor.execute(Invocation(ActionType.HTTP, request), CONTEXT)
            assert result.succeeded, result.message
        finally:
            await executor.aclose()

    asyncio.run(run())


def _headers(received: Received) -> dict[str, str]:
    return {name.lower(): value for name, value in received.headers}


@pytest.mark.parametrize("method", [HttpMethod.POST, HttpMethod.GET, HttpMethod.PUT])
@pytest.mark.parametrize(
    "body",
    ['{"name": "Zoë", "n": 1}', None, "plain text\r\nwith lines"],
    ids=["json", "none", "text"],
)
def test_a_signed_attempt_verifies_with_the_standard_webhooks_library(
    target: Target, method: HttpMethod, body: str | None
) -> None:
    key = _key()
    request = HttpRequest(target.url("/echo"), method, body=body, signing=Signing(Secret(key)))
    _send(request)
    received = target.last
    headers = _headers(received)
    assert headers["webhook-id"] == CONTEXT.execution_tag
    assert abs(int(headers["webhook-timestamp"]) - datetime.now(UTC).timestamp()) < 60
    Webhook(key).verify(received.body, headers, json_parse=False)  # raises if it does not verify
    with pytest.raises(WebhookVerificationError):
        Webhook(_key()).verify(received.body, headers, json_parse=False)
    with pytest.raises(WebhookVerificationError):
        Webhook(key).verify(received.body + b" ", headers, json_parse=False)


def test_both_keys_of_a_rotation_verify(target: Target) -> None:
    new, old = _key(), _key()
    request = HttpRequest(
        target.url("/echo"), HttpMethod.POST, body="x", signing=Signing(Secret(new), Secret(old))
    )
    _send(request)
    received = target.last
    headers = _headers(received)
    assert len(headers["webhook-signature"].split(" ")) == 2
    Webhook(new).verify(received.body, headers, json_parse=False)
    Webhook(old).verify(received.body, headers, json_parse=False)


def test_the_timestamp_is_the_clocks_and_a_stale_one_is_refused(target: Target) -> None:
    """The one clock gives the timestamp; the library refuses one far from its own now."""
    key = _key()
    clock = FakeClock(datetime(2020, 1, 1, tzinfo=UTC))
    request = HttpRequest(
        target.url("/echo"), HttpMethod.POST, body="x", signing=Signing(Secret(key))
    )
    _send(request, clock)
    headers = _headers(target.last)
    assert headers["webhook-timestamp"] == str(int(clock.now().timestamp()))
    with pytest.raises(WebhookVerificationError, match="too old"):
        Webhook(key).verify(target.last.body, headers, json_parse=False)


def test_an_unsigned_request_has_no_webhook_headers(target: Target) -> None:
    _send(HttpRequest(target.url("/echo"), HttpMethod.POST, body="x"))
    assert not {"webhook-id", "webhook-timestamp", "webhook-signature"} & set(_headers(target.last))
