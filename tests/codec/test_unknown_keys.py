"""Issue 11: a key the job body does not define is a 400 naming it, not silently dropped;
every key Microsoft's 7.0.0 client (or the 2016 wire) sends stays accepted."""

from __future__ import annotations

import copy
import shutil
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest
from azure.mgmt.scheduler import models

from jobclock.codec.job import job_definition_from_json
from jobclock.codec.keys import KNOWN_KEYS
from jobclock.domain.errors import InvalidDefinition


def http_job() -> dict[str, Any]:
    return {
        "properties": {
            "startTime": "2024-01-01T00:00:00Z",
            "action": {
                "type": "Http",
                "request": {"uri": "http://127.0.0.1/", "method": "GET"},
                "retryPolicy": {"retryType": "Fixed", "retryInterval": "PT1M", "retryCount": 2},
                "errorAction": {
                    "type": "StorageQueue",
                    "queueMessage": {"storageAccount": "a", "queueName": "q", "message": "m"},
                },
            },
            "recurrence": {
                "frequency": "Month",
                "interval": 1,
                "schedule": {"monthlyOccurrences": [{"day": "Friday", "Occurrence": -1}]},
            },
            "state": "Enabled",
        }
    }


def with_key(body: dict[str, Any], path: str, key: str, value: object = 1) -> dict[str, Any]:
    """``body`` with ``key`` added to the object at dotted ``path`` ("" is the top level;
    a ``[0]`` step indexes a list)."""
    body = copy.deepcopy(body)
    target: Any = body
    for step in filter(None, path.split(".")):
        if step.endswith("]"):
            name, index = step[:-1].split("[")
            target = target[name][int(index)]
        else:
            target = target.setdefault(step, {})
    target[key] = value
    return body


def action(action_body: dict[str, Any]) -> dict[str, Any]:
    body = http_job()
    body["properties"]["action"] = action_body
    return body


SB_QUEUE = {
    "type": "ServiceBusQueue",
    "serviceBusQueueMessage": {
        "namespace": "ns",
        "queueName": "q",
        "authentication": {"type": "SharedAccessKey", "sasKeyName": "k", "sasKey": "s"},
        "brokeredMessageProperties": {"label": "l"},
    },
}
SB_TOPIC = {
    "type": "ServiceBusTopic",
    "serviceBusTopicMessage": {"namespace": "ns", "topicPath": "t"},
}
AMQP = {"type": "Amqp", "amqpMessage": {"url": "amqp://broker/", "routingKey": "r"}}
BASIC = {
    "type": "Http",
    "request": {
        "uri": "https://127.0.0.1/",
        "authentication": {"type": "Basic", "username": "u", "password": "p"},
    },
}

UNKNOWN = [
    pytest.param(
        with_key(http_job(), "properties.recurrence", "intervall", 3),
        "unknown field 'properties.recurrence.intervall' (did you mean 'interval'?)",
        id="recurrence-typo",
    ),
    pytest.param(with_key(http_job(), "", "bogus"), "unknown field 'bogus'", id="top-level"),
    pytest.param(
        with_key(http_job(), "", "Propertie"),
        "unknown field 'Propertie' (did you mean 'properties'?)",
        id="top-level-typo-keeps-its-spelling",
    ),
    pytest.param(
        with_key(http_job(), "properties", "startTme", "2024-01-01T00:00:00Z"),
        "unknown field 'properties.startTme' (did you mean 'startTime'?)",
        id="properties",
    ),
    pytest.param(
        with_key(http_job(), "properties.recurrence.schedule", "weekDay", "Monday"),
        "unknown field 'properties.recurrence.schedule.weekDay' (did you mean 'weekDays'?)",
        id="schedule",
    ),
    pytest.param(
        with_key(
            http_job(), "properties.recurrence.schedule.monthlyOccurrences[0]", "occurence", 2
        ),
        "unknown field 'properties.recurrence.schedule.monthlyOccurrences[0].occurence' "
        "(did you mean 'Occurrence'?)",
        id="monthly-occurrence",
    ),
    pytest.param(
        with_key(http_job(), "properties.action.retryPolicy", "retryCont", 3),
        "unknown field 'properties.action.retryPolicy.retryCont' (did you mean 'retryCount'?)",
        id="retry-policy",
    ),
    pytest.param(
        with_key(http_job(), "properties.action", "retrypolicy2", {}),
        "unknown field 'properties.action.retrypolicy2' (did you mean 'retryPolicy'?)",
        id="action",
    ),
    pytest.param(
        with_key(http_job(), "properties.action.request", "header", {}),
        "unknown field 'properties.action.request.header' (did you mean 'headers'?)",
        id="request",
    ),
    pytest.param(
        with_key(http_job(), "properties.action.errorAction", "zzz"),
        "unknown field 'properties.action.errorAction.zzz'",
        id="error-action-no-suggestion",
    ),
    pytest.param(
        with_key(http_job(), "properties.action.errorAction.queueMessage", "queue", "q"),
        "unknown field 'properties.action.errorAction.queueMessage.queue' "
        "(did you mean 'queueName'?)",
        id="queue-message",
    ),
    pytest.param(
        with_key(action(BASIC), "properties.action.request.authentication", "user", "u"),
        "unknown field 'properties.action.request.authentication.user' (did you mean 'username'?)",
        id="basic-authentication",
    ),
    pytest.param(
        with_key(action(BASIC), "properties.action.request.authentication", "pfx", "x"),
        "unknown field 'properties.action.request.authentication.pfx'",
        id="key-of-another-authentication-type",
    ),
    pytest.param(
        with_key(action(SB_QUEUE), "properties.action.serviceBusQueueMessage", "nameSpace2"),
        "unknown field 'properties.action.serviceBusQueueMessage.nameSpace2' "
        "(did you mean 'namespace'?)",
        id="service-bus-queue-message",
    ),
    pytest.param(
        with_key(action(SB_QUEUE), "properties.action.serviceBusQueueMessage", "topicPath", "t"),
        "unknown field 'properties.action.serviceBusQueueMessage.topicPath'",
        id="topic-path-in-a-queue-message",
    ),
    pytest.param(
        with_key(
            action(SB_QUEUE), "properties.action.serviceBusQueueMessage.authentication", "sasKy"
        ),
        "unknown field 'properties.action.serviceBusQueueMessage.authentication.sasKy' "
        "(did you mean 'sasKey'?)",
        id="service-bus-authentication",
    ),
    pytest.param(
        with_key(
            action(SB_QUEUE),
            "properties.action.serviceBusQueueMessage.brokeredMessageProperties",
            "timeToLife",
            "PT1H",
        ),
        "unknown field "
        "'properties.action.serviceBusQueueMessage.brokeredMessageProperties.timeToLife' "
        "(did you mean 'timeToLive'?)",
        id="brokered-message-properties",
    ),
    pytest.param(
        with_key(action(SB_TOPIC), "properties.action.serviceBusTopicMessage", "topic", "t"),
        "unknown field 'properties.action.serviceBusTopicMessage.topic' "
        "(did you mean 'topicPath'?)",
        id="service-bus-topic-message",
    ),
    pytest.param(
        with_key(action(AMQP), "properties.action.amqpMessage", "routingkeys", "r"),
        "unknown field 'properties.action.amqpMessage.routingkeys' (did you mean 'routingKey'?)",
        id="amqp-message",
    ),
]


@pytest.mark.parametrize(("body", "message"), UNKNOWN)
def test_an_unknown_key_is_a_400_naming_it_and_the_nearest_known_key(
    body: dict[str, Any], message: str
) -> None:
    with pytest.raises(InvalidDefinition) as caught:
        job_definition_from_json(body)
    assert caught.value.message == message
    assert caught.value.status == 400
    assert caught.value.field == message.split("'")[1]


def test_the_unknown_key_is_named_before_a_required_key_it_misspells() -> None:
    body = http_job()
    body["properties"]["recurrence"] = {"frequncy": "Hour"}
    with pytest.raises(InvalidDefinition, match=r"did you mean 'frequency'\?"):
        job_definition_from_json(body)


ACCEPTED = [
    pytest.param(http_job(), id="plain"),
    pytest.param(
        with_key(
            with_key(with_key(http_job(), "", "id", "/subscriptions/s/x"), "", "name", "jc/j"),
            "",
            "type",
            "Microsoft.Scheduler/jobCollections/jobs",
        ),
        id="read-only-envelope-keys",
    ),
    pytest.param(
        with_key(http_job(), "properties", "status", {"executionCount": 3, "whatever": 1}),
        id="read-only-status-ignored",
    ),
    pytest.param(
        {
            "PROPERTIES": {
                "Action": {"TYPE": "http", "Request": {"URI": "http://127.0.0.1/"}},
                "RECURRENCE": {
                    "Frequency": "month",
                    "schedule": {"monthlyOccurrences": [{"DAY": "friday", "occurrence": 1}]},
                    "timezone": "Europe/Paris",
                },
            }
        },
        id="any-case-and-the-wire-occurrence-key",
    ),
    pytest.param(action(SB_QUEUE), id="service-bus-queue"),
    pytest.param(action(SB_TOPIC), id="service-bus-topic"),
    pytest.param(action(AMQP), id="amqp-extension"),
    pytest.param(
        action(
            {
                "type": "Http",
                "request": {
                    "uri": "https://127.0.0.1/",
                    "authentication": {"type": "NotSpecified"},
                },
                "errorAction": None,
                "queueMessage": None,
            }
        ),
        id="nulls-and-not-specified",
    ),
]


@pytest.mark.parametrize("body", ACCEPTED)
def test_known_keys_are_accepted(body: dict[str, Any]) -> None:
    job_definition_from_json(body)


# Where each object of the job body sits, and the 7.0.0 client models that serialize it.
CLIENT_MODELS = {
    "envelope": [models.JobDefinition],
    "properties": [models.JobProperties],
    "action": [models.JobAction],
    "errorAction": [models.JobErrorAction],
    "request": [models.HttpRequest],
    "basicAuthentication": [models.BasicAuthentication],
    "clientCertificateAuthentication": [models.ClientCertAuthentication],
    "oauthAuthentication": [models.OAuthAuthentication],
    "noAuthentication": [models.HttpAuthentication],
    "queueMessage": [models.StorageQueueMessage],
    "serviceBusQueueMessage": [models.ServiceBusQueueMessage],
    "serviceBusTopicMessage": [models.ServiceBusTopicMessage],
    "serviceBusAuthentication": [models.ServiceBusAuthentication],
    "brokeredMessageProperties": [models.ServiceBusBrokeredMessageProperties],
    "retryPolicy": [models.RetryPolicy],
    "recurrence": [models.JobRecurrence],
    "schedule": [models.JobRecurrenceSchedule],
    "monthlyOccurrence": [models.JobRecurrenceScheduleMonthlyOccurrence],
}


@pytest.mark.parametrize("place", sorted(CLIENT_MODELS))
def test_every_key_the_client_serializes_is_known_at_its_place(place: str) -> None:
    known = {key.lower() for key in KNOWN_KEYS[place]}
    for model in CLIENT_MODELS[place]:
        sent = {entry["key"].lower() for entry in model._attribute_map.values()}
        assert sent <= known, (model.__name__, sorted(sent - known))


def test_a_client_serialized_job_reads_back() -> None:
    """A job built with the client's models and serialized as it sends it is accepted."""
    from msrest import Serializer

    client_models = {name: getattr(models, name) for name in dir(models) if name[0].isupper()}
    job = models.JobDefinition(
        properties=models.JobProperties(
            action=models.JobAction(
                type="Https",
                request=models.HttpRequest(
                    uri="https://127.0.0.1/",
                    method="POST",
                    headers={"Content-Type": "text/plain"},
                    body="hi",
                    authentication=models.BasicAuthentication(username="u", password="p"),  # noqa: S106
                ),
                retry_policy=models.RetryPolicy(retry_type="Fixed", retry_count=2),
                error_action=models.JobErrorAction(
                    type="ServiceBusTopic",
                    service_bus_topic_message=models.ServiceBusTopicMessage(
                        namespace="ns",
                        topic_path="t",
                        transport_type="NetMessaging",
                        authentication=models.ServiceBusAuthentication(
                            sas_key="k", sas_key_name="n", type="SharedAccessKey"
                        ),
                        brokered_message_properties=models.ServiceBusBrokeredMessageProperties(
                            label="l", force_persistence=True, to="x"
                        ),
                        custom_message_properties={"a": "b"},
                        message="m",
                    ),
                ),
            ),
            recurrence=models.JobRecurrence(
                frequency="Month",
                interval=1,
                count=3,
                schedule=models.JobRecurrenceSchedule(
                    hours=[6],
                    minutes=[0],
                    monthly_occurrences=[
                        models.JobRecurrenceScheduleMonthlyOccurrence(day="Friday", occurrence=-1)
                    ],
                ),
            ),
            state="Enabled",
        )
    )
    body = Serializer(client_models).body(job, "JobDefinition")
    assert "Occurrence" in str(body)
    job_definition_from_json(body)


def jobclock() -> list[str]:
    script = Path(sys.executable).with_name("jobclock")
    if script.exists():
        return [str(script)]
    found = shutil.which("jobclock")
    assert found, "the jobclock console script is not installed"
    return [found]


def test_preview_names_an_unknown_recurrence_key() -> None:
    result = subprocess.run(
        [*jobclock(), "preview", "--recurrence", '{"frequency": "Hour", "intervall": 3}'],
        capture_output=True,
        text=True,
        timeout=30,
        check=False,
    )
    assert result.returncode == 2, result.stdout
    assert "unknown field 'recurrence.intervall' (did you mean 'interval'?)" in result.stderr
    assert "Traceback" not in result.stderr
