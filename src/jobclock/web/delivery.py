"""What a job page shows of an action's delivery beside ``describe_retry``'s sentence: an
exponential policy's cap and ``maxAge`` as given, the attempt timeout, and whether the
payload is templated or the requests signed. Read from the job's JSON as GET shows it: the
signing keys are never in it (``"signing": {}``), so nothing here can show one."""

from __future__ import annotations

from typing import Any

from jobclock.codec.action import PAYLOAD_KEYS

# Azure's attempt timeout, and Exponential's cap without maxInterval (domain.retry_policy).
DEFAULT_ATTEMPT_TIMEOUT = "PT60S (default)"
DEFAULT_MAX_INTERVAL = "PT1H, or the interval when longer (default)"
SIGNED = "Signed (Standard Webhooks)"
TEMPLATED = "Templated"


def _obj(value: object) -> dict[str, Any]:
    return value if isinstance(value, dict) else {}


def retry_policy(action: object) -> dict[str, Any]:
    """The action's ``retryPolicy`` as given (empty: Azure's default)."""
    return _obj(_obj(action).get("retryPolicy"))


def max_interval(action: object) -> str | None:
    """An exponential policy's longest wait; None for other policies (it has none)."""
    policy = retry_policy(action)
    if policy.get("retryType") != "Exponential":
        return None
    return str(policy.get("maxInterval") or DEFAULT_MAX_INTERVAL)


def max_age(action: object) -> str | None:
    value = retry_policy(action).get("maxAge")
    return None if value is None else str(value)


def attempt_timeout(properties: object) -> str:
    value = _obj(properties).get("attemptTimeout")
    return DEFAULT_ATTEMPT_TIMEOUT if value is None else str(value)


def delivery_notes(action: object) -> list[str]:
    """``Templated`` and ``Signed (Standard Webhooks)``, as they apply to the action."""
    act = _obj(action)
    notes: list[str] = []
    for key in dict.fromkeys(PAYLOAD_KEYS.values()):
        payload = _obj(act.get(key))
        if payload.get("template") is True:
            notes.append(TEMPLATED)
        if key == "request" and "signing" in payload:
            notes.append(SIGNED)
    return notes
