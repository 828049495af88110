"""The ``StorageQueue`` action (§5.3): one XML envelope sent to an Azure Storage queue.

Sent with the async ``azure-storage-queue`` client and only the job's SAS token, to Azure or
to anything that speaks its queue API (Azurite). The envelope carries the scheduler's facts
(execution tag, request id, expected time, job, collection, region) before the message.
"""

from __future__ import annotations

import asyncio
import logging
import re
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from enum import Enum
from typing import Final, Literal, get_args
from urllib.parse import parse_qsl, quote, unquote

import aiohttp
from azure.core.exceptions import AzureError, HttpResponseError
from azure.core.pipeline.transport import AioHttpTransport
from azure.storage.queue import TextBase64EncodePolicy
from azure.storage.queue.aio import QueueClient

from jobclock.actions.attempts import finish
from jobclock.domain.actions import ActionType, StorageQueueMessage
from jobclock.domain.execution import AttemptContext, AttemptResult, Invocation
from jobclock.domain.instants import format_instant

QueueEncoding = Literal["base64", "text"]

DEFAULT_ENDPOINT_TEMPLATE: Final = "https://{account}.queue.core.windows.net"
DEFAULT_ENCODING: Final[QueueEncoding] = "base64"
DEFAULT_TIMEOUT_SECONDS: Final = 60.0
ENDPOINT_VARIABLE: Final = "JOBCLOCK_STORAGE_QUEUE_ENDPOINT"
ENCODING_VARIABLE: Final = "JOBCLOCK_STORAGE_QUEUE_ENCODING"

_PREFIX = "StorageQueue Action - "
# Letters and digits only (Azure wants 3–24 lowercase ones; the API's sample has
# "testStorage"): the name goes into the endpoint's host or path, so it must not be able to
# change where the SAS token is sent.
_ACCOUNT_NAME = re.compile(r"[A-Za-z0-9]{1,63}")
# What XML 1.0 cannot carry, even as a character reference (.NET's serializer refused them).
_NOT_XML = re.compile("[^\t\n\r\x20-\ud7ff\ue000-\ufffd\U00010000-\U0010ffff]")
_XML_ESCAPES = str.maketrans({"&": "&amp;", "<": "&lt;", ">": "&gt;", "\r": "&#xD;"})
# .NET's XmlSerializer on Windows wrote the envelope, indented, with CRLF line ends.
_NEWLINE = "\r\n"
_ROOT = (
    '<StorageQueueMessage xmlns:xsd="http://www.w3.org/2001/XMLSchema" '
    'xmlns:xsi="http://www.w3.org/2001/XMLSchema-instance">'
)
# A secret this short would turn ordinary words of a message into "***".
_MIN_REDACTED_LENGTH = 4

_log = logging.getLogger(__name__)


class _Unsendable(ValueError):
    """Why an attempt cannot be made at all; its text is the failure's reason."""


@dataclass(frozen=True, slots=True)
class _Target:
    account: str
    queue: str
    account_url: str
    sas_token: str


class StorageQueueExecutor:
    """Runs ``StorageQueue`` actions; follows the ``ActionExecutor`` contract.

    ``endpoint_template`` is the queue service's URL with an ``{account}`` placeholder
    (default: Azure's ``https://{account}.queue.core.windows.net``; Azurite's is
    ``http://127.0.0.1:10001/{account}``). ``encoding`` is how the envelope travels:
    ``"base64"`` of its UTF-8 bytes, as Azure's .NET client wrote it, or ``"text"`` as is.
    ``timeout`` bounds the whole attempt, 60 s like the HTTP action.

    The attempts share one pool of connections, opened on first use inside the running event
    loop and released by ``aclose()``; one executor serves one event loop. The storage
    client's own retries are off: retrying is the engine's business.
    """

    def __init__(
        self,
        endpoint_template: str | None = None,
        encoding: QueueEncoding = DEFAULT_ENCODING,
        *,
        timeout: float = DEFAULT_TIMEOUT_SECONDS,
    ) -> None:
        if encoding not in get_args(QueueEncoding):
            raise ValueError(f"encoding must be 'base64' or 'text', got {encoding!r}")
        if timeout <= 0:
            raise ValueError(f"timeout must be positive, got {timeout}")
        self._endpoint_template = _checked_template(endpoint_template or DEFAULT_ENDPOINT_TEMPLATE)
        self._encoding: QueueEncoding = encoding
        self._timeout = timeout
        self._session: aiohttp.ClientSession | None = None

    @classmethod
    def from_environment(cls, env: Mapping[str, str]) -> StorageQueueExecutor:
        """Configured by ``JOBCLOCK_STORAGE_QUEUE_ENDPOINT`` and ``JOBCLOCK_STORAGE_QUEUE_ENCODING``
        in ``env`` (see :func:`queue_settings_from_environment`)."""
        return cls(*queue_settings_from_environment(env))

    @property
    def encoding(self) -> QueueEncoding:
        return self._encoding

    def endpoint(self, account: str) -> str:
        """The queue service URL of ``account``; ``ValueError`` for a name unfit for a URL."""
        if not _ACCOUNT_NAME.fullmatch(account):
            raise ValueError("the storage account name may hold only letters and digits")
        return self._endpoint_template.format(account=account).rstrip("/")

    async def execute(self, invocation: Invocation, context: AttemptContext) -> AttemptResult:
        payload = invocation.payload
        if invocation.type is not ActionType.STORAGE_QUEUE or not isinstance(
            payload, StorageQueueMessage
        ):
            raise TypeError(f"StorageQueueExecutor cannot run a {invocation.type.value} action")
        secrets = _secret_forms(payload.sas_token.reveal() if payload.sas_token else "")
        try:
            target = self._target(payload)
            await self._send(
                target, envelope(payload.message, context), context.seconds(self._timeout)
            )
        except _Unsendable as error:
            return self._finish(context, payload, _failed(payload, str(error)), "invalid")
        except TimeoutError:
            reason = f"the request timed out after {context.seconds(self._timeout):g} seconds"
            return self._finish(context, payload, _failed(payload, reason), "timeout")
        except (AzureError, aiohttp.ClientError, OSError, ValueError) as error:
            # ValueError: a queue name or SAS token the client refuses to put in a URL.
            reason = _scrub(_describe(error), secrets)
            return self._finish(context, payload, _failed(payload, reason), error)
        return self._finish(context, payload, _sent(payload), None)

    async def aclose(self) -> None:
        """Close the pooled connections; a later ``execute`` opens a new pool."""
        session, self._session = self._session, None
        if session is not None:
            await session.close()

    def _target(self, payload: StorageQueueMessage) -> _Target:
        # The SDK wants the query string alone; Azure's portal shows it with a leading "?".
        sas_token = payload.sas_token.reveal().strip().lstrip("?") if payload.sas_token else ""
        if not sas_token:
            raise _Unsendable("the action has no SAS token")
        if not payload.queue_name:
            raise _Unsendable("the action has no queue name")
        try:
            account_url = self.endpoint(payload.storage_account)
        except ValueError as error:
            raise _Unsendable(str(error)) from None
        return _Target(payload.storage_account, payload.queue_name, account_url, sas_token)

    async def _send(self, target: _Target, text: str, seconds: float) -> None:
        transport = AioHttpTransport(session=self._client_session(), session_owner=False)
        client = QueueClient(
            account_url=target.account_url,
            queue_name=target.queue,
            credential=target.sas_token,
            message_encode_policy=TextBase64EncodePolicy() if self._encoding == "base64" else None,
            transport=transport,
            retry_total=0,
        )
        async with asyncio.timeout(seconds), client:
            await client.send_message(text)

    def _client_session(self) -> aiohttp.ClientSession:
        if self._session is None or self._session.closed:
            self._session = aiohttp.ClientSession(
                # The pool is shared by every job: cookies must not travel between them.
                cookie_jar=aiohttp.DummyCookieJar(),
                # azure-core decompresses bodies itself.
                auto_decompress=False,
                trust_env=False,
            )
        return self._session

    @staticmethod
    def _finish(
        context: AttemptContext,
        payload: StorageQueueMessage,
        message: str,
        error: BaseException | str | None,
    ) -> AttemptResult:
        return finish(
            _log, "storage_queue_action.attempt", context, error is None, message, error,
            storage_account=payload.storage_account, queue=payload.queue_name,
        )  # fmt: skip


def envelope(message: str | None, context: AttemptContext) -> str:
    """The XML document Azure enqueued (§5.3), elements in Azure's order.

    It declares ``utf-16`` because .NET serialized it into a string; the bytes that travel
    are UTF-8, as .NET's queue client sent them. Raises ``ValueError`` for text XML cannot
    carry (a control character, a lone surrogate).
    """
    elements = [
        ("ExecutionTag", context.execution_tag),
        ("ClientRequestId", context.request_id),
        # Azure's sample shows the UTC instant without its "Z".
        ("ExpectedExecutionTime", format_instant(context.expected_time).removesuffix("Z")),
        ("SchedulerJobId", context.job),
        ("SchedulerJobCollectionId", context.collection),
        ("Region", context.region),
        ("Message", message or ""),
    ]
    lines = ['<?xml version="1.0" encoding="utf-16"?>', _ROOT]
    lines += [f"  {_element(name, text)}" for name, text in elements]
    lines.append("</StorageQueueMessage>")
    return _NEWLINE.join(lines)


def _element(name: str, text: str) -> str:
    bad = _NOT_XML.search(text)
    if bad is not None:
        code = f"U+{ord(bad.group()):04X}"
        raise _Unsendable(f"the {name} holds the character {code}, which XML cannot carry")
    if not text:
        return f"<{name} />"
    return f"<{name}>{text.translate(_XML_ESCAPES)}</{name}>"


def queue_settings_from_environment(env: Mapping[str, str]) -> tuple[str | None, QueueEncoding]:
    """The endpoint template (None: Azure's) and encoding that ``JOBCLOCK_STORAGE_QUEUE_ENDPOINT``
    and ``JOBCLOCK_STORAGE_QUEUE_ENCODING`` (``base64`` or ``text``) in ``env`` name; unset or
    empty means the default. Raises ``ValueError`` for a template without ``{account}`` or an
    unknown encoding, naming the variable."""
    template = env.get(ENDPOINT_VARIABLE) or None
    encoding = (env.get(ENCODING_VARIABLE) or DEFAULT_ENCODING).strip().lower()
    if encoding == "base64":
        chosen: QueueEncoding = "base64"
    elif encoding == "text":
        chosen = "text"
    else:
        raise ValueError(f"{ENCODING_VARIABLE} must be 'base64' or 'text', got {encoding!r}")
    if template is not None:
        try:
            _checked_template(template)
        except ValueError as error:
            raise ValueError(f"{ENDPOINT_VARIABLE}: {error}") from None
    return template, chosen


def _checked_template(template: str) -> str:
    try:
        template.format(account="account")
    except (KeyError, IndexError, ValueError) as error:
        raise ValueError(f"the endpoint template {template!r} is malformed: {error}") from None
    if "{account}" not in template:
        raise ValueError(f"the endpoint template {template!r} has no {{account}} placeholder")
    if not template.startswith(("http://", "https://")):
        raise ValueError(f"the endpoint template {template!r} is not an http(s) URL")
    return template


def _secret_forms(sas_token: str) -> list[str]:
    """The token and its signature as they may show in an error: raw, decoded or quoted."""
    token = sas_token.strip().lstrip("?")
    forms = [sas_token, token]
    for name, value in parse_qsl(token, keep_blank_values=True):
        if name.lower() == "sig":
            forms += [value, quote(value, safe=""), unquote(value)]
    forms = [form for form in forms if len(form) >= _MIN_REDACTED_LENGTH]
    return sorted(set(forms), key=len, reverse=True)


def _scrub(text: str, secrets: Iterable[str]) -> str:
    for secret in secrets:
        text = text.replace(secret, "***")
    return text


def _describe(error: BaseException) -> str:
    if isinstance(error, HttpResponseError) and error.status_code is not None:
        return _describe_response(error)
    text = str(error).strip().splitlines()
    return text[0] if text else type(error).__name__


def _describe_response(error: HttpResponseError) -> str:
    described = f"{error.status_code}"
    if error.reason:
        described += f" '{error.reason}'"
    code = getattr(error, "error_code", None)
    if isinstance(code, Enum):
        code = code.value
    if code:
        described += f", error code {code}"
    return described


def _sent(payload: StorageQueueMessage) -> str:
    return (
        f"{_PREFIX}The message was successfully sent to the queue '{payload.queue_name}' "
        f"in storage account '{payload.storage_account}'"
    )


def _failed(payload: StorageQueueMessage, reason: str) -> str:
    return (
        f"{_PREFIX}Sending the message to the queue '{payload.queue_name}' "
        f"in storage account '{payload.storage_account}' failed: {reason}"
    )
