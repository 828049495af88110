"""Standard Webhooks 1.0 signatures of HTTP attempts (``request.signing``).

Each signed attempt carries ``webhook-id`` (the attempt's execution tag, unique per
attempt), ``webhook-timestamp`` (Unix seconds when it is sent) and ``webhook-signature``:
``v1,`` and the base64 HMAC-SHA256 of ``id.timestamp.body`` under each active key,
space-separated, so a receiver that knows either key of a rotation accepts it.
"""

from __future__ import annotations

import base64
import hashlib
import hmac

from jobclock.domain.actions import Signing

PREFIX = "whsec_"


def signature_headers(
    signing: Signing, message_id: str, timestamp: int, body: bytes
) -> tuple[tuple[str, str], ...]:
    """The three headers of a signed request whose body is ``body``."""
    signed = f"{message_id}.{timestamp}.".encode() + body
    signatures = " ".join("v1," + _sign(secret.reveal(), signed) for secret in signing.secrets)
    return (
        ("webhook-id", message_id),
        ("webhook-timestamp", str(timestamp)),
        ("webhook-signature", signatures),
    )


def _sign(key: str, signed: bytes) -> str:
    raw = base64.b64decode(key.removeprefix(PREFIX))
    return base64.b64encode(hmac.new(raw, signed, hashlib.sha256).digest()).decode("ascii")
