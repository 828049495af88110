"""Schemathesis against a running ``jobclock serve``: per-operation generation and
stateful runs along the document's links, counting every request and every failed check.

Used by ``tests/fuzz/test_schemathesis.py`` (a CI-sized run) and ``bench/fuzz.py`` (a long
one). The OpenAPI document is the server's own ``/openapi.json``, changed by
:func:`local_document` in the request bodies only:

* for safety, every address a generated job could reach (its HTTP URI, its AMQP URL) is a
  closed port on 127.0.0.1, so that the jobs the engine fires stay on this machine; the
  Storage queue, Service Bus and OAuth endpoints go there too (:func:`server_env`);
* for reach, half of the instants are near now and time zones are real ones, so that more
  generated jobs pass the 18-month and zone rules; the stateful runs leave the DELETE links
  out (a scenario that deletes what it made early ends in 404s; DELETEs are fuzzed per
  operation).

Three cases in four are aimed at seeded collections (:data:`SEEDS`) for the same reason.
"""

from __future__ import annotations

import contextlib
import copy
import random
import socket
import time
from collections import Counter
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import hypothesis
import hypothesis.errors
import requests
import schemathesis
from hypothesis import HealthCheck, Phase, given
from hypothesis import strategies as st
from schemathesis import GenerationMode
from schemathesis.checks import not_a_server_error
from schemathesis.core.failures import FailureGroup
from schemathesis.specs.openapi.checks import (
    content_type_conformance,
    response_schema_conformance,
    status_code_conformance,
)

from tests.e2e.harness import (
    RunningServer,
    running_server,
)
from tests.ha.cluster import create_database

SUBSCRIPTION = "fuzz-subscription"
GROUP = "fuzz-group"
# Collections that exist while generated requests run: most cases are aimed at one of
# them, so that they exercise the job operations rather than the 404 of a random name.
SEEDS = (("fuzzUnlimited", "Unlimited"), ("fuzzStandard", "Standard"), ("fuzzP20", "P20Premium"))
SEED_JOB = "seedJob"
SEED_JOB_BODY = {
    "properties": {
        "action": {"type": "Http", "request": {"uri": "http://127.0.0.1:9/", "method": "GET"}},
        "recurrence": {"frequency": "Day", "interval": 1},
        "startTime": "2027-12-01T00:00:00Z",
    }
}

NEAR_INSTANT = {
    "type": "string",
    "pattern": r"^202[5-7]-(0[1-9]|1[0-2])-(0[1-9]|1[0-9]|2[0-8])T([01][0-9]|2[0-3]):[0-5][0-9]"
    r":[0-5][0-9](\.[0-9]{1,6})?(Z|[+-](0[0-9]|1[0-3]):(00|30))\Z",
}
TIME_ZONES = ("UTC", "Europe/Paris", "America/New_York", "Asia/Kolkata", "Australia/Lord_Howe")


# How a traceback starts in the server's log (a bare "Traceback" may be a generated name).
TRACEBACK = "Traceback (most recent call last)"

CHECKS = [
    not_a_server_error,
    status_code_conformance,
    content_type_conformance,
    response_schema_conformance,
]


def closed_port() -> int:
    """A port on 127.0.0.1 that nothing listens on (bound, then released)."""
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as probe:
        probe.bind(("127.0.0.1", 0))
        return int(probe.getsockname()[1])


def server_env(port: int) -> dict[str, str]:
    """Every endpoint the actions derive from a name, on 127.0.0.1:``port``."""
    local = f"127.0.0.1:{port}"
    return {
        "JOBCLOCK_STORAGE_QUEUE_ENDPOINT": f"http://{local}/{{account}}",
        "JOBCLOCK_SERVICEBUS_ENDPOINT": f"amqp://{local}",
        "JOBCLOCK_OAUTH_AUTHORITY": f"http://{local}",
        # Nothing but loopback, whatever a hostname resolves to.
        "JOBCLOCK_OUTBOUND_DENY": "0.0.0.0/0,::/0",
        "JOBCLOCK_OUTBOUND_ALLOW": "127.0.0.0/8",
    }


@contextlib.contextmanager
def fuzzed_server(directory: Path, backend: str, target_port: int) -> Iterator[RunningServer]:
    """``jobclock serve`` on ``backend`` (``sqlite``, or ``postgresql``: a database of its
    own, dropped afterwards) with :func:`server_env`."""
    if backend == "sqlite":
        with running_server(directory, env=server_env(target_port)) as server:
            yield server
        return
    with contextlib.contextmanager(create_database)() as database:
        env = server_env(target_port) | {"JOBCLOCK_DATA_DIR": str(directory)}
        with running_server(directory, env=env, db_url=database.url) as server:
            yield server


def _walk(value: Any) -> Iterator[dict[str, Any]]:
    if isinstance(value, dict):
        yield value
        for item in value.values():
            yield from _walk(item)
    elif isinstance(value, list):
        for item in value:
            yield from _walk(item)


def local_document(document: dict[str, Any], port: int) -> dict[str, Any]:
    """``document`` with every job target narrowed to 127.0.0.1:``port`` (see the module)."""
    local = copy.deepcopy(document)
    # Scenarios that delete what they created early end in 404s: the stateful runs keep
    # to the other links (the DELETEs are fuzzed per operation).
    for node in _walk(local["paths"]):
        links = node.get("links")
        if isinstance(links, dict):
            node["links"] = {
                name: link for name, link in links.items() if not name.endswith("_Delete")
            }
    bodies = [
        operation["requestBody"]
        for item in local["paths"].values()
        for operation in item.values()
        if "requestBody" in operation
    ]
    for node in _walk(bodies):
        properties = node.get("properties")
        if not isinstance(properties, dict):
            continue
        uri = properties.get("uri")
        if isinstance(uri, dict) and uri.get("format") == "uri":
            properties["uri"] = {
                "type": "string",
                "pattern": rf"^https?://127\.0\.0\.1:{port}/[a-z0-9/]{{0,16}}\Z",
            }
        for key in ("startTime", "endTime", "scheduledEnqueueTimeUtc"):
            if properties.get(key, {}).get("format") == "date-time":
                # Half of them near now, where the 18-month rules let most through.
                properties[key] = {"anyOf": [NEAR_INSTANT, properties[key]]}
        if "timeZone" in properties:
            properties["timeZone"] = {"enum": list(TIME_ZONES)}
        url = properties.get("url")
        if isinstance(url, dict) and "routingKey" in properties:
            properties["url"] = {
                "type": "string",
                "pattern": rf"^amqps?://127\.0\.0\.1:{port}/[a-z]{{0,8}}\Z",
            }
    return local


@dataclass
class Tally:
    """What a run sent and what it found."""

    statuses: Counter[int] = field(default_factory=Counter)
    operations: Counter[str] = field(default_factory=Counter)
    server_errors: list[str] = field(default_factory=list)
    violations: list[str] = field(default_factory=list)
    refusals: Counter[str] = field(default_factory=Counter)
    phases: Counter[str] = field(default_factory=Counter)
    phase: str = "per-operation"

    @property
    def total(self) -> int:
        return sum(self.statuses.values())

    @property
    def share_400(self) -> float:
        return self.statuses[400] / self.total if self.total else 0.0

    def record(self, case: schemathesis.Case, response: schemathesis.Response) -> None:
        self.statuses[response.status_code] += 1
        self.phases[self.phase] += 1
        self.operations[f"{case.operation.label} {response.status_code}"] += 1
        if response.status_code == 400:
            try:
                message = str(response.json()["error"]["message"])
            except (ValueError, KeyError, TypeError):
                message = response.text
            self.refusals[f"{case.method} {message[:90]}"] += 1
        checks = CHECKS
        if case.meta is not None and case.meta.generation.mode is GenerationMode.NEGATIVE:
            # A request that breaks the document may get any 4xx; never a 5xx.
            checks = [not_a_server_error, content_type_conformance]
        try:
            case.validate_response(response, checks=checks)
        except FailureGroup as group:
            report = f"{case.operation.label} → {response.status_code}\n{case.as_curl_command()}"
            for failure in group.exceptions:
                line = f"{failure.title}: {failure.message}"[:2000]
                if response.status_code >= 500:
                    self.server_errors.append(f"{report}\n{line}")
                else:
                    self.violations.append(f"{report}\n{line}")

    def summary(self) -> str:
        codes = ", ".join(f"{code}: {n}" for code, n in sorted(self.statuses.items()))
        phases = ", ".join(f"{phase}: {n}" for phase, n in sorted(self.phases.items()))
        return (
            f"requests: {self.total} ({phases})\nby status: {codes}\n"
            f"400 share: {self.share_400:.1%}\n5xx: {sum(n for c, n in self.statuses.items() if c >= 500)}\n"
            f"schema violations: {len(self.violations)}"
        )


class Fuzzer:
    """Drives schemathesis over HTTP against ``base_url`` with ``token``."""

    def __init__(self, base_url: str, token: str, target_port: int, *, seed: int = 0) -> None:
        self.base_url = base_url
        self.headers = {"Authorization": f"Bearer {token}"}
        self.session = requests.Session()
        self.session.headers.update(self.headers)
        document = self.session.get(f"{base_url}/openapi.json", timeout=30).json()
        self.schema = schemathesis.openapi.from_dict(local_document(document, target_port))
        self.schema.config.update(base_url=base_url, headers=self.headers)
        self.schema.config.generation.update(
            modes=[GenerationMode.POSITIVE], allow_x00=True, codec="utf-8"
        )
        self.seed = seed
        self.random = random.Random(seed)  # noqa: S311 - picks test cases, not secrets
        self.tally = Tally()

    def _send(self, case: schemathesis.Case) -> schemathesis.Response:
        response = case.call(base_url=self.base_url, session=self.session, timeout=30)
        self.tally.record(case, response)
        return response

    def operations(self) -> list[schemathesis.APIOperation]:
        found = []
        for result in self.schema.get_all_operations():
            operation = result.ok()
            if operation.path.startswith("/subscriptions/") or operation.path == "/jobclock/nodes":
                found.append(operation)
        return found

    # -- resources that exist, so that generated requests reach past the 404s -------------

    def _arm(self, collection: str, job: str | None = None) -> str:
        path = f"/subscriptions/{SUBSCRIPTION}/resourceGroups/{GROUP}/providers/"
        path += f"Microsoft.Scheduler/jobCollections/{collection}"
        if job is not None:
            path += f"/jobs/{job}"
        return f"{self.base_url}{path}?api-version=2016-03-01"

    def seed_resources(self) -> None:
        """(Re)create the collections of :data:`SEEDS` and their job ``seedJob``."""
        for name, sku in SEEDS:
            body = {"location": "West US", "properties": {"sku": {"name": sku}}}
            answer = self.session.put(self._arm(name), json=body, timeout=30)
            assert answer.status_code in (200, 201), answer.text
            answer = self.session.put(self._arm(name, SEED_JOB), json=SEED_JOB_BODY, timeout=30)
            assert answer.status_code in (200, 201), answer.text

    def _aim(self, case: schemathesis.Case, pick: int) -> None:
        """Point three cases in four at a seeded collection (and job), keeping the
        generated job name for half of the PUTs so that new jobs are created."""
        if pick == 0 or not case.path_parameters or "jobCollectionName" not in case.path_parameters:
            return
        name, _ = SEEDS[pick % len(SEEDS)]
        case.path_parameters.update(
            subscriptionId=SUBSCRIPTION, resourceGroupName=GROUP, jobCollectionName=name
        )
        if "jobName" in case.path_parameters and not (case.method == "PUT" and pick % 2):
            case.path_parameters["jobName"] = SEED_JOB

    def per_operation(
        self, examples: int, until: float, mode: GenerationMode = GenerationMode.POSITIVE
    ) -> None:
        """``examples`` generated requests for every operation (or until ``until``);
        ``mode`` NEGATIVE generates requests that break the document on purpose."""
        self.seed_resources()
        self.tally.phase = "per-operation" if mode is GenerationMode.POSITIVE else "negative"
        for operation in self.operations():
            if time.monotonic() >= until:
                return
            # Unsatisfiable: nothing of this operation can break the document (no parameters).
            with contextlib.suppress(hypothesis.errors.Unsatisfiable):
                self._given(operation.as_strategy(generation_mode=mode), examples, until)()

    def _given(
        self, strategy: st.SearchStrategy[schemathesis.Case], examples: int, until: float
    ) -> Callable[[], None]:
        @hypothesis.settings(
            max_examples=examples,
            deadline=None,
            database=None,
            derandomize=False,
            phases=[Phase.generate],
            suppress_health_check=list(HealthCheck),
            verbosity=hypothesis.Verbosity.quiet,
        )
        @hypothesis.seed(self.seed)
        @given(case=strategy)
        def run(case: schemathesis.Case) -> None:
            if time.monotonic() >= until:
                return
            # Not a Hypothesis draw: it would start from 0 and stay near it.
            pick = self.random.randrange(4)
            self._aim(case, pick)
            response = self._send(case)
            if case.method == "DELETE" and response.status_code == 200 and pick:
                self.seed_resources()

        return run

    def campaign(
        self,
        requests: int,
        until: float,
        *,
        examples: int = 100,
        scenarios: int = 100,
        steps: int = 20,
        report: Callable[[int, Tally], None] | None = None,
    ) -> None:
        """Rounds of :meth:`per_operation` and :meth:`stateful`, each with the next seed,
        until ``requests`` have been sent or ``until`` has come."""
        first = self.seed
        rounds = 0
        while self.tally.total < requests and time.monotonic() < until:
            self.seed = first + rounds
            self.per_operation(examples, until)
            self.stateful(scenarios, steps, until)
            rounds += 1
            if report is not None:
                report(rounds, self.tally)

    def stateful(self, scenarios: int, steps: int, until: float) -> None:
        """Scenarios along the links: PUT collection → PUT job → GET/PATCH/run/history/
        DELETE, ``steps`` at most each, in runs of ten until ``scenarios`` or ``until``.

        The server's state decides which links a step can follow, so Hypothesis may find
        a run's generation inconsistent between examples (``Flaky``); that ends the run,
        not the fuzzing: the next one starts afresh.
        """
        fuzzer = self
        self.tally.phase = "stateful"
        base = self.schema.as_state_machine()

        class Machine(base):  # type: ignore[valid-type, misc]
            def get_call_kwargs(self, case: schemathesis.Case) -> dict[str, Any]:
                return {"base_url": fuzzer.base_url, "session": fuzzer.session, "timeout": 30}

            def call(self, case: schemathesis.Case, **kwargs: Any) -> schemathesis.Response:
                if time.monotonic() >= until:
                    raise _OutOfTime
                response = case.call(**kwargs)
                fuzzer.tally.record(case, response)
                return response

            def validate_response(
                self, response: schemathesis.Response, case: schemathesis.Case, **kwargs: Any
            ) -> None:
                pass  # Tally.record checked it already

        settings = hypothesis.settings(
            max_examples=min(10, scenarios),
            stateful_step_count=steps,
            deadline=None,
            database=None,
            phases=[Phase.generate],
            suppress_health_check=list(HealthCheck),
            verbosity=hypothesis.Verbosity.quiet,
        )
        for _ in range(max(1, scenarios // 10)):
            if time.monotonic() >= until:
                return
            try:
                Machine.run(settings=settings)
            except _OutOfTime:
                return
            except (hypothesis.errors.Flaky, hypothesis.errors.FlakyStrategyDefinition):
                continue


class _OutOfTime(Exception):
    """Raised inside a stateful step when the time budget is spent."""
