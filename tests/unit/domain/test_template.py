"""The template language of action texts: rendering, date math, zones, errors and bounds."""

from __future__ import annotations

import time
from datetime import UTC, datetime, timedelta
from zoneinfo import ZoneInfo

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from jobclock.domain.errors import InvalidDefinition
from jobclock.domain.template import (
    MAX_FILTERS,
    MAX_PLACEHOLDERS,
    MAX_TEXT,
    Template,
    TemplateTooLong,
    TemplateValues,
    check_template,
    render_text,
)

FIELD = "properties.action.request.body"
VALUES = TemplateValues(
    scheduled_time=datetime(2026, 3, 1, 0, 30, tzinfo=UTC),
    actual_time=datetime(2026, 3, 1, 0, 30, 5, 120_000, tzinfo=UTC),
    execution_tag="tag-1",
    job="nightly report",
    collection="ops",
    attempt=2,
)


def at(instant: datetime) -> TemplateValues:
    return TemplateValues(instant, instant, "tag", "job", "collection", 0)


def render(text: str, values: TemplateValues = VALUES, limit: int = 65_536) -> str:
    return Template.parse(text, field=FIELD).render(values, limit=limit)


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        pytest.param(
            '{{ scheduledTime | add("-P1D") | format("%Y-%m-%d") }}',
            "2026-02-28",
            id="issue-example",
        ),
        pytest.param("plain text, no placeholders", "plain text, no placeholders", id="literal"),
        pytest.param("", "", id="empty"),
        pytest.param("at {{ scheduledTime }}.", "at 2026-03-01T00:30:00Z.", id="datetime-as-iso"),
        pytest.param("{{ actualTime }}", "2026-03-01T00:30:05.12Z", id="fraction-trimmed"),
        pytest.param("{{ attempt }}", "2", id="int-as-text"),
        pytest.param(
            "{{job}}/{{collection}}/{{executionTag}}", "nightly report/ops/tag-1", id="strings"
        ),
        pytest.param("{{ 42 }}", "42", id="integer-literal"),
        pytest.param('{{ "{{" }} job }}', "{{ job }}", id="literal-open-braces"),
        pytest.param('{{ "}}" }}', "}}", id="close-braces-in-string"),
        pytest.param("a }} b", "a }} b", id="lone-close-is-literal"),
        pytest.param("{{ 'it\\'s' }}", "it's", id="single-quote-escape"),
        pytest.param('{{ "say \\"hi\\" \\\\ bye" }}', 'say "hi" \\ bye', id="double-quote-escapes"),
        pytest.param("{{ 'a \"b\"' }}", 'a "b"', id="other-quote-unescaped"),
        pytest.param("{{\n  job\n  | upper\n}}", "NIGHTLY REPORT", id="newlines-inside"),
        pytest.param("{{ job | upper }}", "NIGHTLY REPORT", id="upper"),
        pytest.param('{{ "MiXeD" | lower }}', "mixed", id="lower"),
        pytest.param("{{ job | urlencode }}", "nightly%20report", id="urlencode-space"),
        pytest.param('{{ "a/b?c=d&e" | urlencode }}', "a%2Fb%3Fc%3Dd%26e", id="urlencode-no-safe"),
        pytest.param('{{ "é" | urlencode }}', "%C3%A9", id="urlencode-utf8"),
        pytest.param("{{ job | upper | urlencode }}", "NIGHTLY%20REPORT", id="chain"),
        pytest.param("{{ job | json }}", '"nightly report"', id="json-string"),
        pytest.param('{{ "a\\"b" | json }}', '"a\\"b"', id="json-escapes"),
        pytest.param("{{ attempt | json }}", "2", id="json-int"),
        pytest.param("{{ scheduledTime | json }}", '"2026-03-01T00:30:00Z"', id="json-datetime"),
        pytest.param("{{ scheduledTime | iso }}", "2026-03-01T00:30:00Z", id="iso"),
        pytest.param("{{ scheduledTime | iso() }}", "2026-03-01T00:30:00Z", id="iso-with-parens"),
        pytest.param("{{ scheduledTime | unix }}", "1772325000", id="unix"),
        pytest.param("{{ scheduledTime | unix | json }}", "1772325000", id="unix-json"),
        pytest.param('{{ "" | default("none") }}', "none", id="default-empty"),
        pytest.param('{{ job | default("none") }}', "nightly report", id="default-kept"),
        pytest.param(
            '{{ scheduledTime | tz("Europe/Paris") }}', "2026-03-01T01:30:00+01:00", id="tz"
        ),
        pytest.param(
            '{{ scheduledTime | add("PT90M") }}', "2026-03-01T02:00:00Z", id="add-minutes"
        ),
        pytest.param('{{ scheduledTime | add("P1W") }}', "2026-03-08T00:30:00Z", id="add-week"),
        pytest.param(
            '{{ scheduledTime | add("-PT30M1S") }}', "2026-02-28T23:59:59Z", id="add-negative"
        ),
        pytest.param(
            '{{ scheduledTime | add("PT0.5S") }}', "2026-03-01T00:30:00.5Z", id="add-fraction"
        ),
        pytest.param(
            '{{ scheduledTime | add("p1dt1h") }}', "2026-03-02T01:30:00Z", id="add-lowercase"
        ),
        pytest.param('{{ scheduledTime | add("P1Y") }}', "2027-03-01T00:30:00Z", id="add-year"),
        pytest.param(
            '{{ actualTime | format("%a %A %b %B %p %f %%") }}',
            "Sun Sunday Mar March AM 120000 %",
            id="format-names",
        ),
        pytest.param(
            '{{ scheduledTime | format("%y %j %G-W%V-%u %w %U %W %z %Z") }}',
            "26 060 2026-W09-7 0 09 08 +0000 UTC",
            id="format-numbers",
        ),
        pytest.param('{{ scheduledTime | format("") }}', "", id="format-empty"),
        pytest.param(
            '{{ scheduledTime | format("{{ %H:%M }}") }}', "{{ 00:30 }}", id="format-braces"
        ),
    ],
)
def test_templates_render(text: str, expected: str) -> None:
    assert render(text) == expected


@pytest.mark.parametrize(
    ("start", "duration", "expected"),
    [
        pytest.param(datetime(2026, 1, 31), "P1M", "2026-02-28", id="jan31-to-feb28"),
        pytest.param(datetime(2024, 1, 31), "P1M", "2024-02-29", id="leap-year-feb29"),
        pytest.param(datetime(2026, 3, 31), "-P1M", "2026-02-28", id="back-to-feb28"),
        pytest.param(datetime(2026, 1, 31), "P2M", "2026-03-31", id="two-months-no-clamp"),
        pytest.param(datetime(2026, 5, 31), "P1M", "2026-06-30", id="to-30-day-month"),
        pytest.param(datetime(2024, 2, 29), "P1Y", "2025-02-28", id="leap-day-plus-year"),
        pytest.param(datetime(2024, 2, 29), "P4Y", "2028-02-29", id="leap-day-plus-4-years"),
        pytest.param(datetime(2026, 12, 15), "P1M", "2027-01-15", id="over-year-end"),
        pytest.param(datetime(2026, 1, 15), "-P1M", "2025-12-15", id="back-over-year-end"),
        pytest.param(datetime(2026, 1, 31), "P1M1D", "2026-03-01", id="month-then-day"),
        pytest.param(datetime(2026, 1, 31), "P1Y1M", "2027-02-28", id="year-and-month"),
        pytest.param(datetime(2026, 3, 31), "P11M", "2027-02-28", id="eleven-months"),
    ],
)
def test_months_are_calendar_months_clamped_to_the_month_end(
    start: datetime, duration: str, expected: str
) -> None:
    text = f'{{{{ scheduledTime | add("{duration}") | format("%Y-%m-%d") }}}}'
    assert render(text, at(start.replace(hour=9, tzinfo=UTC))) == expected


@pytest.mark.parametrize(
    ("instant", "text", "expected"),
    [
        pytest.param(
            datetime(2026, 3, 29, 0, 30, tzinfo=UTC),
            '{{ scheduledTime | tz("Europe/Paris") }}',
            "2026-03-29T01:30:00+01:00",
            id="paris-before-spring-forward",
        ),
        pytest.param(
            datetime(2026, 3, 29, 1, 30, tzinfo=UTC),
            '{{ scheduledTime | tz("Europe/Paris") }}',
            "2026-03-29T03:30:00+02:00",
            id="paris-after-spring-forward",
        ),
        pytest.param(
            datetime(2026, 3, 29, 0, 30, tzinfo=UTC),
            '{{ scheduledTime | tz("Europe/Paris") | add("PT1H") }}',
            "2026-03-29T03:30:00+02:00",
            id="exact-hour-over-the-gap",
        ),
        pytest.param(
            datetime(2026, 3, 28, 12, tzinfo=UTC),
            '{{ scheduledTime | tz("Europe/Paris") | add("P1D") }}',
            "2026-03-29T14:00:00+02:00",
            id="a-day-is-24-hours",
        ),
        pytest.param(
            datetime(2026, 3, 15, 12, tzinfo=UTC),
            '{{ scheduledTime | tz("Europe/Paris") | add("P1M") }}',
            "2026-04-15T13:00:00+02:00",
            id="a-month-keeps-wall-time",
        ),
        pytest.param(
            datetime(2026, 1, 29, 1, 30, tzinfo=UTC),
            '{{ scheduledTime | tz("Europe/Paris") | add("P2M") }}',
            "2026-03-29T03:30:00+02:00",
            id="month-into-the-gap",
        ),
        pytest.param(
            datetime(2026, 3, 29, 0, 30, tzinfo=UTC),
            '{{ scheduledTime | tz("Europe/Paris") | format("%H:%M %Z %z") }}'
            ' {{ scheduledTime | add("PT1H") | tz("Europe/Paris") | format("%H:%M %Z %z") }}',
            "01:30 CET +0100 03:30 CEST +0200",
            id="format-names-the-zone",
        ),
        pytest.param(
            datetime(2026, 11, 1, 5, 30, tzinfo=UTC),
            '{{ scheduledTime | tz("America/New_York") }}'
            ' {{ scheduledTime | add("PT1H") | tz("America/New_York") }}',
            "2026-11-01T01:30:00-04:00 2026-11-01T01:30:00-05:00",
            id="new-york-fall-back-repeats-the-hour",
        ),
        pytest.param(
            datetime(2026, 3, 29, 1, 30, tzinfo=UTC),
            '{{ scheduledTime | tz("Europe/Paris") | unix }} {{ scheduledTime | unix }}',
            "1774747800 1774747800",
            id="unix-ignores-the-zone",
        ),
        pytest.param(
            datetime(2026, 7, 1, 12, tzinfo=UTC),
            '{{ scheduledTime | tz("Europe/London") | iso }}',
            "2026-07-01T13:00:00+01:00",
            id="london-summer",
        ),
        pytest.param(
            datetime(2026, 1, 1, 12, tzinfo=UTC),
            '{{ scheduledTime | tz("Europe/London") | json }}',
            '"2026-01-01T12:00:00Z"',
            id="zero-offset-is-z",
        ),
    ],
)
def test_time_zones_across_dst(instant: datetime, text: str, expected: str) -> None:
    assert render(text, at(instant)) == expected


ERRORS = [
    pytest.param("{{ foo }}", "unknown variable 'foo' at character 4; the variables are", id="unknown-variable"),
    pytest.param("{{ Job }}", "unknown variable 'Job'", id="variables-are-case-sensitive"),
    pytest.param("a {{ job", "unclosed '{{' at character 3", id="unclosed"),
    pytest.param("{{", "unclosed '{{' at character 1", id="only-open"),
    pytest.param("{{{{ job }}", "unexpected '{' at character 3", id="quadruple-brace-not-special"),
    pytest.param('{{ "abc }}', "unclosed string at character 4", id="unclosed-string"),
    pytest.param("{{ job.name }}", "unexpected '.' at character 7", id="attribute-access"),
    pytest.param("{{ job[0] }}", "unexpected '[' at character 7", id="indexing"),
    pytest.param("{{ job() }}", "expected '|' or '}}' but found '(' at character 7", id="call"),
    pytest.param("{{ job job }}", "expected '|' or '}}' but found 'job'", id="two-primaries"),
    pytest.param("{{ job } }}", "unexpected '}' at character 8", id="lone-brace"),
    pytest.param("{{ }}", "empty placeholder at character 4", id="empty-placeholder"),
    pytest.param("{{ | upper }}", "unexpected '|' at character 4", id="no-primary"),
    pytest.param("{{ -1 }}", "unexpected '-' at character 4", id="negative-literal"),
    pytest.param("{{ 1234567890123456789 }}", "integer too long", id="huge-integer"),
    pytest.param("{{ job | }}", "expected a filter name but found '}}'", id="missing-filter"),
    pytest.param("{{ job | nope }}", "unknown filter 'nope' at character 10; the filters are add", id="unknown-filter"),
    pytest.param("{{ scheduledTime | upper }}", "filter 'upper' at character 20; it works on a string but is given a date-time", id="upper-on-datetime"),
    pytest.param("{{ attempt | lower }}", "it works on a string but is given an integer", id="lower-on-int"),
    pytest.param("{{ job | urlencode | iso }}", "filter 'iso' at character 22; it works on a date-time but is given a string", id="iso-on-string"),
    pytest.param('{{ job | add("P1D") }}', "filter 'add' at character 10; it works on a date-time", id="add-on-string"),
    pytest.param('{{ attempt | format("%Y") }}', "it works on a date-time but is given an integer", id="format-on-int"),
    pytest.param('{{ attempt | tz("UTC") }}', "filter 'tz'", id="tz-on-int"),
    pytest.param("{{ job | unix }}", "filter 'unix'", id="unix-on-string"),
    pytest.param("{{ scheduledTime | unix | upper }}", "is given an integer", id="upper-after-unix"),
    pytest.param('{{ scheduledTime | default("x") }}', "filter 'default'", id="default-on-datetime"),
    pytest.param('{{ scheduledTime | format("%Y") | add("P1D") }}', "filter 'add'", id="add-after-format"),
    pytest.param("{{ scheduledTime | add }}", 'it needs an argument, as in add("P1D")', id="add-without-argument"),
    pytest.param("{{ scheduledTime | format() }}", "filter 'format' at character 20; it needs an argument", id="format-empty-parens"),
    pytest.param("{{ scheduledTime | tz }}", "filter 'tz'", id="tz-without-argument"),
    pytest.param("{{ job | default }}", "filter 'default'", id="default-without-argument"),
    pytest.param('{{ job | upper("x") }}', "filter 'upper' at character 10; it takes no argument", id="upper-with-argument"),
    pytest.param('{{ scheduledTime | iso("x") }}', "it takes no argument", id="iso-with-argument"),
    pytest.param("{{ job | default(1) }}", "expected a quoted string or ')' but found '1'", id="integer-argument"),
    pytest.param("{{ scheduledTime | add(job) }}", "expected a quoted string or ')' but found 'job'", id="variable-argument"),
    pytest.param('{{ job | default("a", "b") }}', "unexpected ',' at character 21", id="two-arguments"),
    pytest.param('{{ job | default("x" }}', "expected ')' but found '}}'", id="unclosed-paren"),
    pytest.param('{{ "a\\nb" }}', "unknown escape '\\n' at character 6", id="bad-escape"),
    pytest.param("{{ 'a\\\"b' }}", "unknown escape '\\\"'", id="escaped-other-quote"),
    pytest.param('{{ scheduledTime | format("%s") }}', "the pattern uses '%s'; the directives allowed are %Y", id="format-epoch-directive"),
    pytest.param('{{ scheduledTime | format("%c") }}', "uses '%c'", id="format-locale-directive"),
    pytest.param('{{ scheduledTime | format("%-d") }}', "uses '%-'", id="format-glibc-flag"),
    pytest.param('{{ scheduledTime | format("%Y%") }}', "uses a lone '%' at its end", id="format-lone-percent"),
    pytest.param('{{ scheduledTime | add("P1X") }}', "filter 'add' at character 20; 'P1X' is not an ISO 8601 duration", id="bad-duration"),
    pytest.param('{{ scheduledTime | add("") }}', "is not an ISO 8601 duration", id="empty-duration"),
    pytest.param('{{ scheduledTime | add("P") }}', "is not an ISO 8601 duration", id="bare-p"),
    pytest.param('{{ scheduledTime | add("PT") }}', "is not an ISO 8601 duration", id="bare-pt"),
    pytest.param('{{ scheduledTime | add("1D") }}', "is not an ISO 8601 duration", id="no-p"),
    pytest.param('{{ scheduledTime | add("P1.5D") }}', "is not an ISO 8601 duration", id="fractional-days"),
    pytest.param('{{ scheduledTime | add("--P1D") }}', "is not an ISO 8601 duration", id="double-minus"),
    pytest.param('{{ scheduledTime | add("00:00:30") }}', "is not an ISO 8601 duration", id="timespan"),
    pytest.param('{{ scheduledTime | add("P999999999W") }}', "'P999999999W' is too long", id="huge-duration"),
    pytest.param('{{ scheduledTime | tz("Mars/Base") }}', "filter 'tz' at character 20; 'Mars/Base' is not a known IANA time zone", id="unknown-zone"),
    pytest.param('{{ scheduledTime | tz("Europe") }}', "'Europe' is not a known IANA time zone", id="zone-folder"),
    pytest.param('{{ scheduledTime | tz("../../etc/passwd") }}', "is not a known IANA time zone", id="zone-path"),
    pytest.param('{{ scheduledTime | tz("") }}', "is not a known IANA time zone", id="zone-empty"),
    pytest.param('{{ scheduledTime | tz("europe/paris") }}', "is not a known IANA time zone", id="zone-case"),
    pytest.param("{{ job }}" * (MAX_PLACEHOLDERS + 1), f"one placeholder too many at character {9 * MAX_PLACEHOLDERS + 1}; a template holds at most 100", id="too-many-placeholders"),
    pytest.param("{{ job" + " | upper" * (MAX_FILTERS + 1) + " }}", f"one filter too many at character {8 * MAX_FILTERS + 8}; a placeholder holds at most 20", id="too-many-filters"),
    pytest.param("x" * (MAX_TEXT + 1), "the template is too long", id="text-too-long"),
]  # fmt: skip


@pytest.mark.parametrize(("text", "fragment"), ERRORS)
def test_errors_name_the_field_and_what_is_wrong(text: str, fragment: str) -> None:
    with pytest.raises(InvalidDefinition) as caught:
        Template.parse(text, field=FIELD)
    assert caught.value.field == FIELD
    assert str(caught.value).startswith(f"'{FIELD}': ")
    assert fragment in str(caught.value)
    assert not isinstance(caught.value, TemplateTooLong)


@pytest.mark.parametrize(("text", "fragment"), ERRORS)
def test_check_template_and_render_text_raise_the_same_errors(text: str, fragment: str) -> None:
    with pytest.raises(InvalidDefinition, match=r"^'other\.field': ") as checked:
        check_template(text, field="other.field")
    assert fragment in str(checked.value)
    with pytest.raises(InvalidDefinition, match=r"^'other\.field': "):
        render_text(text, VALUES, field="other.field")


def test_the_message_reads_as_the_issue_asks() -> None:
    with pytest.raises(InvalidDefinition) as caught:
        Template.parse('{"a": "{{ foo }}"}', field=FIELD)
    assert str(caught.value) == (
        f"'{FIELD}': unknown variable 'foo' at character 11; the variables are scheduledTime, "
        "actualTime, executionTag, job, collection, attempt."
    )


@pytest.mark.parametrize(
    "text",
    [
        pytest.param("{{ job }}" * MAX_PLACEHOLDERS, id="max-placeholders"),
        pytest.param("{{ job" + " | upper" * MAX_FILTERS + " }}", id="max-filters"),
        pytest.param("x" * MAX_TEXT, id="max-text"),
    ],
)
def test_the_parse_limits_are_inclusive(text: str) -> None:
    check_template(text, field=FIELD)


def test_the_cache_keeps_fields_apart() -> None:
    for field in ("a.first", "a.second"):
        with pytest.raises(InvalidDefinition, match=f"^'{field}'"):
            check_template("{{ nope }}", field=field)
        assert render_text("{{ job }}", VALUES, field=field) == "nightly report"


@pytest.mark.parametrize(
    ("instant", "text"),
    [
        pytest.param(datetime(9999, 12, 31, 12, tzinfo=UTC), '{{ scheduledTime | add("P1D") }}', id="past-9999"),
        pytest.param(datetime(9999, 12, 15, tzinfo=UTC), '{{ scheduledTime | add("P1M") }}', id="month-past-9999"),
        pytest.param(datetime(1, 1, 1, tzinfo=UTC), '{{ scheduledTime | add("-PT1S") }}', id="before-year-1"),
        pytest.param(datetime(9999, 12, 31, 23, tzinfo=UTC), '{{ scheduledTime | tz("Asia/Tokyo") }}', id="tz-past-9999"),
        pytest.param(datetime(2026, 1, 1, tzinfo=UTC), '{{ scheduledTime | add("P999999999Y") }}', id="huge-years"),
    ],
)  # fmt: skip
def test_date_math_out_of_range_fails_at_render_naming_the_field(
    instant: datetime, text: str
) -> None:
    template = Template.parse(text, field=FIELD)
    with pytest.raises(InvalidDefinition, match="outside the years 1 to 9999") as caught:
        template.render(at(instant))
    assert caught.value.field == FIELD


def test_output_is_bounded_by_the_limit() -> None:
    text = "x" * 60_000 + "{{ job | json }}"
    values = TemplateValues(VALUES.scheduled_time, VALUES.actual_time, "t", "j" * 10_000, "c", 0)
    template = Template.parse(text, field=FIELD)
    with pytest.raises(TemplateTooLong, match=f"^'{FIELD}' renders to more than 65,536") as caught:
        template.render(values)
    assert isinstance(caught.value, InvalidDefinition)
    assert caught.value.field == FIELD
    with pytest.raises(TemplateTooLong, match="more than 100 characters"):
        template.render(VALUES, limit=100)
    assert len(template.render(values, limit=70_002)) == 70_002
    with pytest.raises(TemplateTooLong):
        template.render(values, limit=70_001)


def test_a_static_text_past_the_limit_is_refused() -> None:
    with pytest.raises(TemplateTooLong):
        render_text("x" * 11, VALUES, field=FIELD, limit=10)
    assert render_text("x" * 10, VALUES, field=FIELD, limit=10) == "x" * 10


def test_a_chain_of_growing_filters_stops_at_the_limit() -> None:
    # Each json doubles a run of backslashes: twenty would make a billion of these thousand.
    text = '{{ "' + "\\\\" * 1000 + '"' + " | json" * MAX_FILTERS + " }}"
    template = Template.parse(text, field=FIELD)
    started = time.perf_counter()
    with pytest.raises(TemplateTooLong):
        template.render(VALUES)
    assert time.perf_counter() - started < 1


def test_static_templates_and_equality() -> None:
    assert Template.parse("no placeholders", field=FIELD).static
    assert Template.parse("", field=FIELD).static
    assert not Template.parse("{{ job }}", field=FIELD).static
    assert not Template.parse('{{ "{{" }}', field=FIELD).static
    assert Template.parse("{{ job }}", field=FIELD) == Template.parse("{{ job }}", field=FIELD)
    assert Template.parse("{{ job }}", field=FIELD) != Template.parse("{{ job }}", field="x")


def test_values_must_be_aware_and_are_kept_in_utc() -> None:
    with pytest.raises(ValueError, match="scheduled_time"):
        TemplateValues(datetime(2026, 1, 1), VALUES.actual_time, "t", "j", "c", 0)
    paris = datetime(2026, 1, 1, 12, tzinfo=ZoneInfo("Europe/Paris"))
    values = TemplateValues(paris, paris, "t", "j", "c", 0)
    assert render_text("{{ scheduledTime }}", values, field=FIELD) == "2026-01-01T11:00:00Z"


# Pieces of the language, so random texts reach deep into the parser, not just its first
# character; plus arbitrary text.
PIECES = st.sampled_from(
    ["{{", "}}", "{", "}", "|", "(", ")", '"', "'", "\\", " ", "\n", ".", "%", "-", "0", "99",
     "job", "attempt", "scheduledTime", "actualTime", "add", "format", "tz", "iso", "unix",
     "upper", "lower", "urlencode", "json", "default", '"P1M"', '"-PT1H"', '"%Y-%m-%d %Z"',
     '"Europe/Paris"', '"Europe"', '"%s"', '"x"', '""']
)  # fmt: skip
RANDOM_TEXT = st.one_of(st.text(), st.lists(st.one_of(PIECES, st.text(max_size=3))).map("".join))
INSTANTS = st.datetimes(
    min_value=datetime(1, 1, 1),
    max_value=datetime(9999, 12, 31, 23, 59, 59),
    timezones=st.just(UTC),
)


@settings(max_examples=500)
@given(text=RANDOM_TEXT, instant=INSTANTS, limit=st.integers(0, 200))
def test_random_text_fails_only_with_invalid_definition(
    text: str, instant: datetime, limit: int
) -> None:
    try:
        rendered = Template.parse(text, field=FIELD).render(at(instant), limit=limit)
    except InvalidDefinition as error:  # anything else fails the test
        failure = error
    else:
        assert len(rendered) <= limit
        return
    assert failure.field == FIELD


@given(text=st.text().filter(lambda text: "{{" not in text))
def test_text_without_placeholders_renders_to_itself(text: str) -> None:
    template = Template.parse(text, field=FIELD)
    assert template.static
    assert template.render(VALUES) == text


TIME_FILTERS = st.sampled_from(
    ['add("P1M")', 'add("-P1Y2M3DT4H5M6.5S")', 'add("PT1H")', 'tz("Europe/Paris")',
     'tz("Asia/Kolkata")', 'tz("America/St_Johns")']
)  # fmt: skip
TO_TEXT = st.sampled_from(["iso", "json", 'format("%Y-%m-%dT%H:%M:%S%z %A")'])
TEXT_FILTERS = st.sampled_from(["upper", "lower()", "urlencode", "json", 'default("-")'])


@st.composite
def well_typed(draw: st.DrawFn) -> str:
    """A placeholder that type-checks: date math, maybe a conversion to text (or to an
    integer with unix), then string filters."""
    filters = draw(st.lists(TIME_FILTERS, max_size=4))
    ending = draw(st.sampled_from(["none", "unix", "text"]))
    if ending == "unix":
        filters += ["unix", *draw(st.lists(st.just("json"), max_size=1))]
    elif ending == "text":
        filters += [draw(TO_TEXT), *draw(st.lists(TEXT_FILTERS, max_size=3))]
    variable = draw(st.sampled_from(["scheduledTime", "actualTime"]))
    return "{{ " + " | ".join([variable, *filters]) + " }}"


@given(
    placeholders=st.lists(well_typed(), min_size=1, max_size=5),
    instant=st.datetimes(min_value=datetime(1000, 1, 1), max_value=datetime(9000, 12, 31), timezones=st.just(UTC)),
)  # fmt: skip
def test_well_typed_templates_always_render(placeholders: list[str], instant: datetime) -> None:
    text = " / ".join(placeholders)
    assert render(text, at(instant))


@given(
    instant=st.datetimes(
        min_value=datetime(1000, 1, 1), max_value=datetime(9999, 12, 31),
        timezones=st.sampled_from([UTC, ZoneInfo("Europe/Paris"), ZoneInfo("Asia/Kolkata")]),
        allow_imaginary=False,  # a wall time in a spring gap does not survive UTC
    ),
)  # fmt: skip
def test_format_agrees_with_strftime_for_every_allowed_directive(instant: datetime) -> None:
    # The C locale's names; years from 1000, where every libc pads %Y to four digits alike.
    directives = "%Y %m %d %H %M %S %y %j %a %A %b %B %p %f %z %Z %G %V %u %w %U %W %%"
    zone = instant.tzinfo
    name = zone.key if isinstance(zone, ZoneInfo) else "UTC"
    text = f'{{{{ scheduledTime | tz("{name}") | format("{directives}") }}}}'
    assert render(text, at(instant.astimezone(UTC))) == instant.strftime(directives)


@given(instant=INSTANTS, months=st.integers(-1200, 1200))
def test_month_math_clamps_and_round_trips_whole_years(instant: datetime, months: int) -> None:
    sign = "-" if months < 0 else ""
    text = (
        f'{{{{ scheduledTime | add("{sign}P{abs(months)}M") | format("%Y %m %d %H %M %S %f") }}}}'
    )
    try:
        fields = [int(number) for number in render(text, at(instant)).split()]
    except InvalidDefinition:
        assert not 1 <= instant.year + (instant.month - 1 + months) // 12 <= 9999
        return
    shifted = datetime(*fields, tzinfo=UTC)
    assert (shifted.year * 12 + shifted.month) - (instant.year * 12 + instant.month) == months
    # The same day of the month, or the month's last when it is shorter.
    assert shifted.day == instant.day or (
        shifted.day < instant.day and (shifted + timedelta(days=1)).day == 1
    )
    assert shifted.time() == instant.time()
