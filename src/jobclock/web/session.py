"""Portal sign-in: the API token (or a configured one) buys a signed session cookie.

The cookie is stateless (``<expiry>.<nonce>.<mac>``), so it works on every node behind a
load balancer; its key is derived from the API token, so changing the token signs everyone
out. Forms carry a CSRF token derived from the session."""

from __future__ import annotations

import hashlib
import hmac
import secrets
from datetime import timedelta

from jobclock.ports import Clock

COOKIE = "jobclock_session"
LIFETIME = timedelta(hours=12)


class Sessions:
    """Issues and checks session cookies and their CSRF tokens."""

    def __init__(self, token: str, clock: Clock, lifetime: timedelta = LIFETIME) -> None:
        if not token:
            raise ValueError("the portal needs the API token")
        self._token = token.encode()
        self._key = hmac.new(self._token, b"jobclock portal session", hashlib.sha256).digest()
        self._clock = clock
        self.lifetime = lifetime

    def token_matches(self, candidate: str) -> bool:
        """Constant-time comparison with the API token."""
        return hmac.compare_digest(candidate.strip().encode(), self._token)

    def issue(self) -> str:
        expiry = int((self._clock.now() + self.lifetime).timestamp())
        payload = f"{expiry}.{secrets.token_hex(8)}"
        return f"{payload}.{self._mac(payload)}"

    def valid(self, cookie: str | None) -> bool:
        # Headers arrive as Latin-1: a non-ASCII cookie is nobody's (and compare_digest
        # refuses non-ASCII text).
        if not cookie or not cookie.isascii() or cookie.count(".") != 2:
            return False
        payload, mac = cookie.rsplit(".", 1)
        if not hmac.compare_digest(mac, self._mac(payload)):
            return False
        expiry = payload.split(".", 1)[0]
        return expiry.isdigit() and int(expiry) > self._clock.now().timestamp()

    def csrf(self, cookie: str) -> str:
        return self._mac("csrf:" + cookie)[:32]

    def csrf_matches(self, cookie: str, candidate: str | None) -> bool:
        return (
            candidate is not None
            and candidate.isascii()
            and hmac.compare_digest(candidate, self.csrf(cookie))
        )

    def _mac(self, text: str) -> str:
        return hmac.new(self._key, text.encode(), hashlib.sha256).hexdigest()
