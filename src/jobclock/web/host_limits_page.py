"""The portal's host limits of a collection (``properties.hostLimits``, issue 15, item 4):
a card on the collection's page lists jobclock's caps on the collection's own jobs per
target host (attempts at once, requests a second, across all nodes) and holds a form of
one row per rule that saves them all at once, a PATCH of ``hostLimits`` (arrays replace).

Without scripts, the form's empty rows add rules and each row's "Remove" box takes its rule
out; with ``host_limits.js``, "Add a rule" adds rows and "Remove" takes a row away. Empty
rows are left out; a form left with no rule removes the collection's host limits. The
server judges the rules: a refused one comes back beside the form with what was typed, its
row marked."""

from __future__ import annotations

import math
import re
from typing import Any

from starlette.requests import Request
from starlette.responses import Response

from jobclock.domain.errors import InvalidDefinition, SchedulerError
from jobclock.web import pages
from jobclock.web.portal import MAX_HOST_LIMIT_ROWS, Portal, collection_ref, collection_url

_CELLS = ("host", "concurrency", "rate", "remove")
_FIELD = re.compile(r"^(host|concurrency|rate|remove)_(\d{1,4})$")
# The rule a server error names: properties.hostLimits[i] (the i-th rule sent).
_RULE_NAMED = re.compile(r"hostLimits\[(\d+)\]", re.IGNORECASE)
_WHOLE = re.compile(r"^\d+$")
# A generous bound on the rows one form may send (the server keeps at most 50 rules).
_MAX_FORM_ROWS = 10 * MAX_HOST_LIMIT_ROWS


async def save_host_limits(portal: Portal, request: Request) -> Response:
    """Replace the collection's host limits with the form's rules."""
    ref = collection_ref(request)
    rows = typed_rows(await portal.form(request))
    sent: list[int] = []  # the row of each rule sent
    try:
        rules = _rules(rows, sent)
        view = await portal.service.patch_collection(ref, {"properties": {"hostLimits": rules}})
    except SchedulerError as error:
        named = _RULE_NAMED.search(getattr(error, "field", None) or error.message)
        if named is not None and int(named[1]) < len(sent):
            rows[sent[int(named[1])]]["invalid"] = "on"
        return await pages.collection_page(
            portal,
            request,
            host_limit_rows=rows,
            host_limits_error=error.message,
            status=error.status,
        )
    count = len(view.collection.host_limits)
    done = (
        f"Host limits of {view.ref.name} saved: {count} rule{'' if count == 1 else 's'}."
        if count
        else f"Host limits of {view.ref.name} removed."
    )
    return pages.back(collection_url(view.ref), done)


def typed_rows(form: dict[str, str]) -> list[dict[str, str]]:
    """The form's rows as typed, in their order (``host_0``, ``concurrency_0``, ...)."""
    by_index: dict[int, dict[str, str]] = {}
    for key, value in form.items():
        match = _FIELD.match(key)
        if match is None:
            continue
        index = int(match[2])
        if index not in by_index and len(by_index) >= _MAX_FORM_ROWS:
            raise InvalidDefinition(f"The form holds at most {_MAX_FORM_ROWS} rows.")
        by_index.setdefault(index, dict.fromkeys(_CELLS, ""))[match[1]] = value
    return [by_index[index] for index in sorted(by_index)]


def _rules(rows: list[dict[str, str]], sent: list[int]) -> list[dict[str, Any]]:
    """The ``hostLimits`` of the rows kept: not empty, not marked "Remove". The numbers are
    read here (a form holds text); what they may be is the server's to say."""
    rules: list[dict[str, Any]] = []
    for index, row in enumerate(rows):
        host, concurrency, rate = (row[cell].strip() for cell in ("host", "concurrency", "rate"))
        if row["remove"] or not (host or concurrency or rate):
            continue
        rule: dict[str, Any] = {"host": host}
        if concurrency:
            if not _WHOLE.match(concurrency):
                row["invalid"] = "on"
                raise InvalidDefinition(
                    f"Rule {len(rules) + 1} ({host or 'no host'}): 'Concurrency' must be a "
                    f"whole number, not {concurrency!r}."
                )
            rule["concurrency"] = int(concurrency)
        if rate:
            try:
                number = float(rate)
            except ValueError:
                number = math.nan
            if not math.isfinite(number):
                row["invalid"] = "on"
                raise InvalidDefinition(
                    f"Rule {len(rules) + 1} ({host or 'no host'}): 'Rate/s' must be a number, "
                    f"not {rate!r}."
                )
            rule["ratePerSecond"] = int(number) if _WHOLE.match(rate) else number
        rules.append(rule)
        sent.append(index)
    return rules
