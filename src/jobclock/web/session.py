"""The portal's session cookie. Sessions themselves live in the database (see
:mod:`jobclock.access`): the cookie holds only a random id."""

from __future__ import annotations

COOKIE = "jobclock_session"
