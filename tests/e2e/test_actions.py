"""Every queue and broker action end to end through the running server, against its real
local peer: Azurite for storage queues, the RabbitMQ on 127.0.0.1:5672 for AMQP. Service Bus
has no local peer: an unreachable namespace must give a Failed entry."""

from __future__ import annotations

import asyncio
import base64
import os
import socket
import xml.etree.ElementTree as ET
from collections.abc import Iterator
from typing import Any

import aio_pika
import pytest

from tests.azurite import Azurite
from tests.azurite import running as azurite_running
from tests.e2e.harness import (
    Api,
    Reply,
    RunningServer,
    Target,
    http_action,
    running_server,
    unique,
)

RABBIT = "amqp://guest:guest@127.0.0.1:5672/"


def _closed_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return int(probe.getsockname()[1])


@pytest.fixture(scope="module")
def azurite(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Azurite]:
    with azurite_running(tmp_path_factory.mktemp("azurite")) as service:
        yield service


@pytest.fixture(scope="module")
def service_bus_port() -> int:
    return _closed_port()


@pytest.fixture(scope="module")
def api(
    tmp_path_factory: pytest.TempPathFactory, azurite: Azurite, service_bus_port: int
) -> Iterator[Api]:
    env = {
        "JOBCLOCK_STORAGE_QUEUE_ENDPOINT": azurite.endpoint_template,
        "JOBCLOCK_SERVICEBUS_ENDPOINT": f"127.0.0.1:{service_bus_port}",
    }
    with running_server(tmp_path_factory.mktemp("jobclock"), env=env) as server:
        client = Api(server)
        client.create_collection("actions")
        yield client
        client.close()


def _queue_message(azurite: Azurite, queue: str) -> str:
    with azurite.queue(queue) as client:
        for _ in range(100):
            messages = list(client.receive_messages())
            if messages:
                return str(messages[0].content)
            asyncio.run(asyncio.sleep(0.1))
    raise AssertionError(f"no message arrived in queue {queue!r}")


def _envelope(text: str) -> dict[str, str]:
    xml = base64.b64decode(text).decode("utf-8")
    assert xml.startswith('<?xml version="1.0" encoding="utf-16"?>')
    root = ET.fromstring(xml.split("?>", 1)[1].strip())  # noqa: S314 - our own server's message
    assert root.tag == "StorageQueueMessage"
    return {child.tag: child.text or "" for child in root}


def test_storage_queue_job_puts_the_envelope_on_azurite(api: Api, azurite: Azurite) -> None:
    queue = unique("q").lower()
    azurite.create_queue(queue)
    sas = azurite.sas(queue, add=True)
    job = unique("sq")
    created = api.create_job(
        "actions",
        job,
        {
            "action": {
                "type": "StorageQueue",
                "queueMessage": {
                    "storageAccount": "devstoreaccount1",
                    "queueName": queue,
                    "sasToken": sas,
                    "message": "run-report",
                },
                "retryPolicy": {"retryType": "None"},
            }
        },
    )
    assert "sasToken" not in created["properties"]["action"]["queueMessage"]
    envelope = _envelope(_queue_message(azurite, queue))
    assert list(envelope) == [
        "ExecutionTag",
        "ClientRequestId",
        "ExpectedExecutionTime",
        "SchedulerJobId",
        "SchedulerJobCollectionId",
        "Region",
        "Message",
    ]
    assert envelope["SchedulerJobId"] == job
    assert envelope["SchedulerJobCollectionId"] == "actions"
    assert envelope["Message"] == "run-report"
    assert len(envelope["ExecutionTag"]) == 32
    [entry] = api.wait_for_history("actions", job, 1)
    assert entry["properties"]["status"] == "Completed"
    assert entry["properties"]["message"] == (
        f"StorageQueue Action - The message was successfully sent to the queue '{queue}' in "
        "storage account 'devstoreaccount1'"
    )
    assert sas.split("sig=")[1].split("&")[0] not in str(api.job("actions", job))


def test_http_main_action_with_a_storage_queue_error_action(
    api: Api, azurite: Azurite, target: Target
) -> None:
    queue = unique("alerts").lower()
    azurite.create_queue(queue)
    target.reply("/down", Reply(status=500))
    job = unique("fallback")
    api.create_job(
        "actions",
        job,
        {
            "action": {
                **http_action(target.url("/down"), "POST"),
                "retryPolicy": {"retryType": "None"},
                "errorAction": {
                    "type": "StorageQueue",
                    "queueMessage": {
                        "storageAccount": "devstoreaccount1",
                        "queueName": queue,
                        "sasToken": azurite.sas(queue, add=True),
                        "message": "main failed",
                    },
                    "retryPolicy": {"retryType": "None"},
                },
            }
        },
    )
    assert _envelope(_queue_message(azurite, queue))["Message"] == "main failed"
    entries = api.wait_for_history("actions", job, 2)
    outcomes = sorted((e["properties"]["actionName"], e["properties"]["status"]) for e in entries)
    assert outcomes == [("ErrorAction", "Completed"), ("MainAction", "Failed")]
    job_json = api.wait_for_state("actions", job, "Faulted")
    assert job_json["properties"]["status"]["faultedCount"] == 1


def test_storage_queue_with_a_bad_sas_token_fails_clearly(api: Api, azurite: Azurite) -> None:
    queue = unique("q").lower()
    azurite.create_queue(queue)
    bad = azurite.sas(queue, read=True)  # no add permission
    job = unique("badsas")
    api.create_job(
        "actions",
        job,
        {
            "action": {
                "type": "StorageQueue",
                "queueMessage": {
                    "storageAccount": "devstoreaccount1",
                    "queueName": queue,
                    "sasToken": bad,
                    "message": "x",
                },
                "retryPolicy": {"retryType": "None"},
            }
        },
    )
    [entry] = api.wait_for_history("actions", job, 1)
    message = entry["properties"]["message"]
    assert entry["properties"]["status"] == "Failed"
    assert "403" in message
    assert bad.split("sig=")[1].split("&")[0] not in message


async def _consume(queue: str, polls: int = 100) -> aio_pika.abc.AbstractIncomingMessage:
    connection = await aio_pika.connect(RABBIT)
    async with connection:
        channel = await connection.channel()
        declared = await channel.declare_queue(queue, auto_delete=False)
        for _ in range(polls):
            message = await declared.get(no_ack=True, fail=False)
            if message is not None:
                await declared.delete(if_unused=False, if_empty=False)
                return message
            await asyncio.sleep(0.1)
    raise AssertionError(f"no message arrived in RabbitMQ queue {queue!r}")


async def _declare(queue: str) -> None:
    connection = await aio_pika.connect(RABBIT)
    async with connection:
        channel = await connection.channel()
        await channel.declare_queue(queue, auto_delete=False)


def _rabbit_or_skip() -> None:
    try:
        socket.create_connection(("127.0.0.1", 5672), timeout=2).close()
    except OSError:
        if os.environ.get("JOBCLOCK_REQUIRE_SERVICES") == "1":
            pytest.fail("RabbitMQ is not reachable on 127.0.0.1:5672 (JOBCLOCK_REQUIRE_SERVICES=1)")
        pytest.skip("RabbitMQ is not reachable on 127.0.0.1:5672")


def test_amqp_job_publishes_to_rabbitmq(api: Api) -> None:
    _rabbit_or_skip()
    queue = unique("jobclock-e2e")
    asyncio.run(_declare(queue))
    job = unique("amqp")
    created = api.create_job(
        "actions",
        job,
        {
            "action": {
                "type": "Amqp",
                "amqpMessage": {
                    "url": RABBIT,
                    "exchange": "",
                    "routingKey": queue,
                    "message": "tick",
                    "contentType": "text/plain",
                    "headers": {"source": "e2e"},
                },
                "retryPolicy": {"retryType": "None"},
            }
        },
    )
    assert "guest:guest" not in str(created)
    message = asyncio.run(_consume(queue))
    assert message.body == b"tick"
    assert message.content_type == "text/plain"
    headers: dict[str, Any] = dict(message.headers)
    assert headers["source"] == "e2e"
    assert headers["x-ms-scheduler-jobid"] == job
    assert headers["x-ms-scheduler-jobcollectionid"] == "actions"
    assert len(str(headers["x-ms-execution-tag"])) == 32
    [entry] = api.wait_for_history("actions", job, 1)
    assert entry["properties"]["status"] == "Completed"


def test_amqp_broker_down_gives_a_failed_entry(api: Api) -> None:
    job = unique("amqpdown")
    api.create_job(
        "actions",
        job,
        {
            "action": {
                "type": "Amqp",
                "amqpMessage": {
                    "url": f"amqp://guest:s3cret-pw@127.0.0.1:{_closed_port()}/",
                    "routingKey": "q",
                    "message": "x",
                },
                "retryPolicy": {"retryType": "None"},
            }
        },
    )
    [entry] = api.wait_for_history("actions", job, 1)
    assert entry["properties"]["status"] == "Failed"
    assert entry["properties"]["message"].startswith(
        "Amqp Action - Publishing to host '127.0.0.1' failed"
    )
    assert "s3cret-pw" not in entry["properties"]["message"]


def test_service_bus_unreachable_namespace_gives_a_failed_entry(api: Api) -> None:
    job = unique("sb")
    api.create_job(
        "actions",
        job,
        {
            "action": {
                "type": "ServiceBusQueue",
                "serviceBusQueueMessage": {
                    "namespace": "ns1",
                    "queueName": "orders",
                    "transportType": "NetMessaging",
                    "authentication": {
                        "type": "SharedAccessKey",
                        "sasKeyName": "Root",
                        "sasKey": "c2VjcmV0LWtleQ==",
                    },
                    "message": "tick",
                },
                "retryPolicy": {"retryType": "None"},
            }
        },
    )
    [entry] = api.wait_for_history("actions", job, 1, timeout=60)
    assert entry["properties"]["status"] == "Failed"
    assert "ServiceBusQueue Action" in entry["properties"]["message"]
    assert "c2VjcmV0LWtleQ==" not in entry["properties"]["message"]


def test_server_log_never_shows_the_secrets(api: Api) -> None:
    server: RunningServer = api.server
    log = server.log()
    for secret in ("s3cret-pw", "c2VjcmV0LWtleQ==", "guest:guest@"):
        assert secret not in log
