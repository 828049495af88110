"""One name rule (issue 11): the portal's pattern is the domain's rule, and Chromium really
checks it (a pattern Chromium cannot compile is ignored, so the browser checked nothing)."""

from __future__ import annotations

import re

import pytest

from jobclock.domain.collection import (
    NAME_HTML_PATTERN,
    NAME_PATTERN,
    NAME_RULE,
    check_collection_name,
    check_job_name,
)
from jobclock.domain.errors import InvalidDefinition

NAMES = ["a", "job-1", "A_b-C", "x" * 100, "", "1job", "-a", "a b", "é", "x" * 101, "a.b", "a/b"]


@pytest.mark.parametrize("name", NAMES)
def test_the_html_pattern_is_the_domain_rule(name: str) -> None:
    assert bool(re.fullmatch(NAME_HTML_PATTERN, name)) == bool(NAME_PATTERN.match(name))


def test_api_and_domain_say_the_same() -> None:
    for check in (check_collection_name, check_job_name):
        with pytest.raises(InvalidDefinition) as caught:
            check("1bad")
        assert NAME_RULE in str(caught.value)


@pytest.mark.parametrize("name", NAMES)
def test_chromium_checks_the_pattern_the_portal_uses(page: object, name: str) -> None:
    from html import escape

    page.set_content(f'<input id="n" pattern="{escape(NAME_HTML_PATTERN)}">')  # type: ignore[attr-defined]
    page.fill("#n", name)  # type: ignore[attr-defined]
    mismatch = page.eval_on_selector("#n", "e => e.validity.patternMismatch")  # type: ignore[attr-defined]
    # An empty value never mismatches (that is `required`'s business).
    assert mismatch == (name != "" and not NAME_PATTERN.match(name))
