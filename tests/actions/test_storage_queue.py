"""StorageQueueExecutor against a real Azurite queue service (§5.3, §7)."""

from __future__ import annotations

import asyncio
import base64
import logging
import re
import socket
import xml.etree.ElementTree as ET
from collections.abc import Iterator
from dataclasses import replace
from datetime import UTC, datetime
from itertools import count
from urllib.parse import parse_qs, quote

import pytest
from azure.storage.queue import QueueSasPermissions, generate_queue_sas

from jobclock.actions.storage_queue import StorageQueueExecutor, envelope
from jobclock.domain.actions import ActionType, HttpMethod, HttpRequest, StorageQueueMessage
from jobclock.domain.execution import AttemptResult, Invocation
from jobclock.domain.secret import Secret
from tests.actions.attempt_context import attempt_context
from tests.azurite import ACCOUNT, SAS_EXPIRY, Azurite, free_port, running

CONTEXT = attempt_context(collection="jc1")
# §5.3's sample, as .NET's XmlSerializer wrote it on Windows (CRLF line ends).
SAMPLE = "\r\n".join(
    [
        '<?xml version="1.0" encoding="utf-16"?>',
        '<StorageQueueMessage xmlns:xsd="http://www.w3.org/2001/XMLSchema" xmlns:xsi="http://www.w3.org/2001/XMLSchema-instance">',
        "  <ExecutionTag>c3b168c6a2f1f8d4f9b4a3e2c1d0e9f8</ExecutionTag>",
        "  <ClientRequestId>2fd3a5a7-31b5-4c2c-9b8e-3d1c6b6d3e7f</ClientRequestId>",
        "  <ExpectedExecutionTime>2015-09-10T00:00:00</ExpectedExecutionTime>",
        "  <SchedulerJobId>job1</SchedulerJobId>",
        "  <SchedulerJobCollectionId>jc1</SchedulerJobCollectionId>",
        "  <Region>West Europe</Region>",
        "  <Message>the configured message text</Message>",
        "</StorageQueueMessage>",
    ]
)
ELEMENTS = [
    "ExecutionTag",
    "ClientRequestId",
    "ExpectedExecutionTime",
    "SchedulerJobId",
    "SchedulerJobCollectionId",
    "Region",
    "Message",
]
_queue_numbers = count(1)


@pytest.fixture(scope="module")
def azurite(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Azurite]:
    with running(tmp_path_factory.mktemp("azurite")) as service:
        yield service


@pytest.fixture
def queue(azurite: Azurite) -> str:
    """A new, empty queue for one test."""
    name = f"jobs-{next(_queue_numbers)}"
    azurite.create_queue(name)
    return name


def payload(queue: str, sas: str | None, message: str | None = "hello") -> StorageQueueMessage:
    return StorageQueueMessage(
        storage_account=ACCOUNT,
        queue_name=queue,
        sas_token=None if sas is None else Secret(sas),
        message=message,
    )


def attempts(executor: StorageQueueExecutor, *messages: StorageQueueMessage) -> list[AttemptResult]:
    async def run() -> list[AttemptResult]:
        try:
            return [
                await executor.execute(Invocation(ActionType.STORAGE_QUEUE, message), CONTEXT)
                for message in messages
            ]
        finally:
            await executor.aclose()

    return asyncio.run(run())


def attempt(executor: StorageQueueExecutor, message: StorageQueueMessage) -> AttemptResult:
    return attempts(executor, message)[0]


def received(azurite: Azurite, queue: str) -> list[str]:
    """Every message in ``queue`` as stored (no decoding), oldest first."""
    with azurite.queue(queue) as client:
        return [message.content for message in client.receive_messages(max_messages=32)]


def fields(document: str) -> list[tuple[str, str]]:
    root = ET.fromstring(document)  # noqa: S314 - our own document
    assert root.tag == "StorageQueueMessage"
    return [(child.tag, child.text or "") for child in root]


def sent(queue: str) -> str:
    return (
        "StorageQueue Action - The message was successfully sent to the queue "
        f"'{queue}' in storage account '{ACCOUNT}'"
    )


def failed(queue: str, account: str = ACCOUNT) -> str:
    return (
        f"StorageQueue Action - Sending the message to the queue '{queue}' "
        f"in storage account '{account}' failed: "
    )


def assert_no_secret(text: str, sas: str) -> None:
    signature = parse_qs(sas.lstrip("?"))["sig"][0]
    for form in (sas, sas.lstrip("?"), signature, quote(signature, safe="")):
        assert form not in text


# The envelope, without a queue


def test_envelope_is_the_spec_sample() -> None:
    assert envelope("the configured message text", CONTEXT) == SAMPLE


def test_envelope_escapes_the_message_and_keeps_it_exact() -> None:
    text = "<b>Tom & \"Jerry\"</b> 'x' ]]> \r\n tab\t €"
    document = envelope(text, CONTEXT)
    assert "<b>" not in document
    assert fields(document)[-1] == ("Message", text)


@pytest.mark.parametrize("message", [None, ""], ids=["none", "empty"])
def test_envelope_with_no_message_has_an_empty_element(message: str | None) -> None:
    document = envelope(message, CONTEXT)
    assert "  <Message />\r\n" in document
    assert fields(document)[-1] == ("Message", "")


def test_expected_time_is_utc_without_z_and_keeps_a_fraction() -> None:
    context = replace(CONTEXT, expected_time=datetime(2024, 3, 1, 12, 30, 5, 250000, tzinfo=UTC))
    assert dict(fields(envelope("x", context)))["ExpectedExecutionTime"] == "2024-03-01T12:30:05.25"


# Configuration


def test_default_endpoint_is_azure() -> None:
    executor = StorageQueueExecutor()
    assert executor.endpoint("testStorage") == "https://testStorage.queue.core.windows.net"
    assert executor.encoding == "base64"


def test_from_environment_reads_endpoint_and_encoding() -> None:
    executor = StorageQueueExecutor.from_environment(
        {
            "JOBCLOCK_STORAGE_QUEUE_ENDPOINT": "http://127.0.0.1:10001/{account}/",
            "JOBCLOCK_STORAGE_QUEUE_ENCODING": "Text",
        }
    )
    assert executor.endpoint("devstoreaccount1") == "http://127.0.0.1:10001/devstoreaccount1"
    assert executor.encoding == "text"


def test_from_environment_with_nothing_set_is_the_default() -> None:
    executor = StorageQueueExecutor.from_environment({"JOBCLOCK_STORAGE_QUEUE_ENDPOINT": ""})
    assert executor.endpoint("acct") == "https://acct.queue.core.windows.net"
    assert executor.encoding == "base64"


@pytest.mark.parametrize(
    ("env", "named"),
    [
        ({"JOBCLOCK_STORAGE_QUEUE_ENCODING": "utf8"}, "JOBCLOCK_STORAGE_QUEUE_ENCODING"),
        ({"JOBCLOCK_STORAGE_QUEUE_ENDPOINT": "http://127.0.0.1:1/x"}, "{account}"),
        ({"JOBCLOCK_STORAGE_QUEUE_ENDPOINT": "http://{host}/{account}"}, "malformed"),
        ({"JOBCLOCK_STORAGE_QUEUE_ENDPOINT": "127.0.0.1/{account}"}, "http(s)"),
    ],
    ids=["encoding", "no-placeholder", "unknown-placeholder", "not-a-url"],
)
def test_from_environment_rejects_bad_settings(env: dict[str, str], named: str) -> None:
    with pytest.raises(ValueError, match=re.escape(named)):
        StorageQueueExecutor.from_environment(env)


def test_an_other_action_type_is_a_programming_error() -> None:
    request = HttpRequest(uri="http://127.0.0.1/", method=HttpMethod.GET)

    async def run() -> None:
        await StorageQueueExecutor().execute(Invocation(ActionType.HTTP, request), CONTEXT)

    with pytest.raises(TypeError, match="cannot run a Http action"):
        asyncio.run(run())


# Attempts that cannot be made: failed without touching the network


@pytest.mark.parametrize(
    ("message", "reason"),
    [
        (payload("jobs", None), "the action has no SAS token"),
        (payload("jobs", "?"), "the action has no SAS token"),
        (payload("", "?sv=1&sig=abcd"), "the action has no queue name"),
        (
            StorageQueueMessage("evil.example/x?", "jobs", Secret("?sig=abcd"), "m"),
            "the storage account name may hold only letters and digits",
        ),
        (
            payload("jobs", "?sig=abcd", "bell \x07"),
            "the Message holds the character U+0007, which XML cannot carry",
        ),
    ],
    ids=["no-sas", "empty-sas", "no-queue", "account-not-a-name", "control-character"],
)
def test_unsendable_actions_fail_with_the_reason(message: StorageQueueMessage, reason: str) -> None:
    # A closed port: reaching the network would fail differently.
    executor = StorageQueueExecutor(f"http://127.0.0.1:{free_port()}/{{account}}")
    result = attempt(executor, message)
    assert not result.succeeded
    assert result.message == failed(message.queue_name, message.storage_account) + reason
    assert "abcd" not in result.message


# Against Azurite


def test_message_arrives_base64_encoded_as_the_envelope(azurite: Azurite, queue: str) -> None:
    executor = StorageQueueExecutor(azurite.endpoint_template)
    result = attempt(executor, payload(queue, azurite.sas(queue), "the configured message text"))
    assert result == AttemptResult(succeeded=True, message=sent(queue))
    [stored] = received(azurite, queue)
    document = base64.b64decode(stored, validate=True).decode("utf-8")
    assert document == SAMPLE
    assert [name for name, _ in fields(document)] == ELEMENTS
    assert dict(fields(document)) == {
        "ExecutionTag": CONTEXT.execution_tag,
        "ClientRequestId": CONTEXT.request_id,
        "ExpectedExecutionTime": "2015-09-10T00:00:00",
        "SchedulerJobId": "job1",
        "SchedulerJobCollectionId": "jc1",
        "Region": "West Europe",
        "Message": "the configured message text",
    }


def test_text_mode_sends_the_envelope_as_is(azurite: Azurite, queue: str) -> None:
    text = '<order id="7">fish & chips</order>\r\nnext line ünïcødé'
    executor = StorageQueueExecutor(azurite.endpoint_template, "text")
    result = attempt(executor, payload(queue, azurite.sas(queue), text))
    assert result.succeeded, result.message
    [stored] = received(azurite, queue)
    assert stored == envelope(text, CONTEXT)
    assert fields(stored)[-1] == ("Message", text)


def test_a_sas_token_without_the_leading_question_mark_works(azurite: Azurite, queue: str) -> None:
    executor = StorageQueueExecutor(azurite.endpoint_template)
    result = attempt(executor, payload(queue, azurite.sas(queue).lstrip("?")))
    assert result.succeeded, result.message
    assert len(received(azurite, queue)) == 1


def test_attempts_share_the_pool_and_survive_aclose(azurite: Azurite, queue: str) -> None:
    executor = StorageQueueExecutor(azurite.endpoint_template)
    message = payload(queue, azurite.sas(queue))
    assert all(result.succeeded for result in attempts(executor, message, message, message))
    # aclose() ran: the next attempt opens a new pool.
    assert attempt(executor, message).succeeded
    assert len(received(azurite, queue)) == 4


def test_a_sas_token_signed_with_another_key_fails_without_showing_it(
    azurite: Azurite, queue: str
) -> None:
    forged = "?" + generate_queue_sas(
        ACCOUNT,
        queue,
        base64.b64encode(b"not the account key").decode(),
        permission=QueueSasPermissions(add=True),
        expiry=SAS_EXPIRY,
    )
    result = attempt(StorageQueueExecutor(azurite.endpoint_template), payload(queue, forged))
    assert not result.succeeded
    assert result.message.startswith(failed(queue) + "403 ")
    assert result.message.endswith("error code AuthenticationFailed")
    assert_no_secret(result.message, forged)
    assert received(azurite, queue) == []


def test_a_sas_token_without_add_permission_fails(azurite: Azurite, queue: str) -> None:
    read_only = azurite.sas(queue, read=True)
    result = attempt(StorageQueueExecutor(azurite.endpoint_template), payload(queue, read_only))
    assert not result.succeeded
    assert result.message.startswith(failed(queue) + "403 ")
    assert result.message.endswith("error code AuthorizationPermissionMismatch")
    assert_no_secret(result.message, read_only)


def test_a_missing_queue_fails(azurite: Azurite) -> None:
    sas = azurite.sas("missing")
    result = attempt(StorageQueueExecutor(azurite.endpoint_template), payload("missing", sas))
    assert result == AttemptResult(
        succeeded=False,
        message=failed("missing")
        + "404 'The specified queue does not exist.', error code QueueNotFound",
    )


def test_an_unreachable_endpoint_fails(azurite: Azurite) -> None:
    port = free_port()  # nothing listens there
    sas = azurite.sas("jobs")
    executor = StorageQueueExecutor(f"http://127.0.0.1:{port}/{{account}}")
    result = attempt(executor, payload("jobs", sas))
    assert not result.succeeded
    assert result.message.startswith(failed("jobs") + f"Cannot connect to host 127.0.0.1:{port}")
    assert_no_secret(result.message, sas)


def test_a_silent_endpoint_times_out(azurite: Azurite) -> None:
    sas = azurite.sas("jobs")
    # The kernel completes the handshake into the backlog; nobody ever answers.
    with socket.socket() as silent:
        silent.bind(("127.0.0.1", 0))
        silent.listen(8)
        port = silent.getsockname()[1]
        executor = StorageQueueExecutor(f"http://127.0.0.1:{port}/{{account}}", timeout=0.3)
        result = attempt(executor, payload("jobs", sas))
    assert result == AttemptResult(
        succeeded=False, message=failed("jobs") + "the request timed out after 0.3 seconds"
    )


def test_no_log_record_holds_the_sas_token(
    azurite: Azurite, queue: str, caplog: pytest.LogCaptureFixture
) -> None:
    good, forged = azurite.sas(queue), azurite.sas(queue, read=True)
    caplog.set_level(logging.DEBUG)
    executor = StorageQueueExecutor(azurite.endpoint_template)
    results = attempts(executor, payload(queue, good), payload(queue, forged))
    assert [result.succeeded for result in results] == [True, False]
    assert any(r.getMessage() == "storage_queue_action.attempt" for r in caplog.records)
    logged = "\n".join(f"{r.getMessage()} {r.__dict__}" for r in caplog.records)
    assert_no_secret(logged, good)
    assert_no_secret(logged, forged)


def test_a_target_that_echoes_the_request_does_not_leak_the_sas_token(azurite: Azurite) -> None:
    sas = azurite.sas("jobs")

    async def echo(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        # A careless peer that puts the request line, query string and all, in its reason.
        request_line = (await reader.readline()).decode().strip()
        writer.write(f"HTTP/1.1 400 {request_line}\r\nContent-Length: 0\r\n\r\n".encode())
        await writer.drain()
        writer.close()

    async def run() -> AttemptResult:
        server = await asyncio.start_server(echo, "127.0.0.1", 0)
        port = server.sockets[0].getsockname()[1]
        executor = StorageQueueExecutor(f"http://127.0.0.1:{port}/{{account}}")
        try:
            return await executor.execute(
                Invocation(ActionType.STORAGE_QUEUE, payload("jobs", sas)), CONTEXT
            )
        finally:
            await executor.aclose()
            server.close()
            await server.wait_closed()

    result = asyncio.run(run())
    assert not result.succeeded
    assert result.message.startswith(failed("jobs") + "400 'POST /devstoreaccount1/jobs/messages?")
    assert "***" in result.message
    assert_no_secret(result.message, sas)
