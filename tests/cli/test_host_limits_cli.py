"""``jobclock collections create|update --host-limit HOST=N/R`` and ``--no-host-limits``,
and ``collections get`` showing a collection's ``properties.hostLimits``, against the real
server process (the fixtures of ``test_rest_cli``)."""

from __future__ import annotations

import httpx

from tests.cli.test_rest_cli import Cli, api, cli, server

__all__ = ["api", "cli", "server"]  # the real server's fixtures


def _details(text: str) -> list[str]:
    return [" ".join(line.split()) for line in text.splitlines()]


def test_host_limits_are_set_shown_replaced_kept_and_removed(cli: Cli, api: httpx.Client) -> None:
    created = cli(
        "collections", "create", "caps-jc", "--location", "westus",
        "--host-limit", "api.example.com=5/2.5",
        "--host-limit", "*.internal=2,slow.example.org=/0.5",
        "-o", "json",
    ).json()  # fmt: skip
    rules = [
        {"host": "api.example.com", "concurrency": 5, "ratePerSecond": 2.5},
        {"host": "*.internal", "concurrency": 2},
        {"host": "slow.example.org", "ratePerSecond": 0.5},
    ]
    assert created["properties"]["hostLimits"] == rules
    assert api.get("/caps-jc").json()["properties"]["hostLimits"] == rules

    table, as_json = cli.many(
        [["collections", "get", "caps-jc"], ["collections", "get", "caps-jc", "-o", "json"]]
    )
    assert table.code == 0, table.stderr
    lines = _details(table.stdout)
    assert "Host limits api.example.com: 5 at once, 2.5 a second" in lines
    assert "*.internal: 2 at once" in lines
    assert "slow.example.org: 0.5 a second" in lines
    assert as_json.json()["properties"]["hostLimits"] == rules

    # A PATCH of something else keeps them; --host-limit replaces them all.
    quota = cli("collections", "update", "caps-jc", "--max-job-count", "9", "-o", "json").json()
    assert quota["properties"]["hostLimits"] == rules
    assert quota["properties"]["quota"] == {"maxJobCount": 9}
    replaced = cli(
        "collections", "update", "caps-jc", "--host-limit", "API.example.com=3", "-o", "json"
    ).json()
    assert replaced["properties"]["hostLimits"] == [{"host": "api.example.com", "concurrency": 3}]
    assert replaced["properties"]["quota"] == {"maxJobCount": 9}

    removed = cli("collections", "update", "caps-jc", "--no-host-limits", "-o", "json").json()
    assert "hostLimits" not in removed["properties"]
    assert removed["properties"]["quota"] == {"maxJobCount": 9}
    assert "hostLimits" not in api.get("/caps-jc").json()["properties"]
    shown = cli("collections", "get", "caps-jc")
    assert shown.code == 0, shown.stderr
    assert "Host limits —" in _details(shown.stdout)


def test_a_bad_rule_is_refused_with_its_message_and_nothing_is_stored(
    cli: Cli, api: httpx.Client
) -> None:
    made = cli(
        "collections", "create", "caps-bad", "--location", "westus",
        "--host-limit", "api.example.com=4", "-o", "json",
    ).json()  # fmt: skip
    kept = [{"host": "api.example.com", "concurrency": 4}]
    assert made["properties"]["hostLimits"] == kept
    too_many = [arg for n in range(51) for arg in ("--host-limit", f"h{n}.example=1")]
    zero, host, many, shape, both = cli.many(
        [
            ["collections", "create", "caps-new", "--location", "westus",
             "--host-limit", "ok.example=1", "--host-limit", "api.example.com=0"],
            ["collections", "update", "caps-bad",
             "--host-limit", "ok.example=1", "--host-limit", "bad_host=2"],
            ["collections", "update", "caps-bad", *too_many],
            ["collections", "update", "caps-bad", "--host-limit", "api.example.com"],
            ["collections", "update", "caps-bad", "--host-limit", "a.example=1",
             "--no-host-limits"],
        ]
    )  # fmt: skip
    # Checked before the PUT with the server's own rules: the same message, nothing made.
    assert zero.code == 2
    assert zero.one_error_line() == (
        "jobclock: properties.hostLimits[1]: 'api.example.com=0': N must be 1 to 100000 and "
        "R above 0."
    )
    assert api.get("/caps-new").status_code == 404
    # The server's 400 (a PATCH is checked there).
    assert host.code == 2
    assert host.one_error_line().startswith("jobclock: properties.hostLimits[1]: 'bad_host=2'")
    assert host.one_error_line().endswith("(BadRequest)")
    assert many.code == 2
    assert many.one_error_line() == (
        "jobclock: 'properties.hostLimits' holds at most 50 rules. (BadRequest)"
    )
    # Not a rule at all, or two options that contradict: usage errors, nothing sent.
    assert shape.code == 2
    assert "'api.example.com' is not HOST=N, HOST=N/R or HOST=/R" in shape.one_error_line()
    assert both.code == 2
    assert "exclude each other" in both.one_error_line()
    for result in (zero, host, many, shape, both):
        assert result.stdout == ""
    assert api.get("/caps-bad").json()["properties"]["hostLimits"] == kept
