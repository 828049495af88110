"""The keys each object of a job body may hold, by its place in the body.

A key not listed at its place is a 400 naming it (a typo would otherwise be dropped and the
job would run with the default). Each set holds every key Microsoft's 7.0.0 client
serializes for that object (its models' ``_attribute_map``; a test compares them), the keys
the 2016 wire and jobclock's own answers use, read-only keys a client echoes on a
GET-modify-PUT, and jobclock's extensions (``timeZone``, the ``Amqp`` action). Keys match
case-insensitively, as :class:`jobclock.codec.fields.Fields` reads them; the spelling here
is the one suggestions show.
"""

from __future__ import annotations

from collections.abc import Mapping

_ACTION = (
    "type",
    "request",
    "queueMessage",
    "serviceBusQueueMessage",
    "serviceBusTopicMessage",
    "amqpMessage",
    "retryPolicy",
)
_SERVICE_BUS = (
    "namespace",
    "transportType",
    "authentication",
    "message",
    "brokeredMessageProperties",
    "customMessageProperties",
    "template",  # jobclock's
)

KNOWN_KEYS: Mapping[str, frozenset[str]] = {
    # ``id``, ``type`` and ``name`` are read-only: the client sends them back on a PUT.
    "envelope": frozenset({"id", "type", "name", "properties"}),
    # ``status`` is read-only and ignored on PUT (§3.1); its content is not checked.
    "properties": frozenset(
        {"startTime", "action", "recurrence", "state", "status"}
        | {"overlapPolicy", "catchUp", "attemptTimeout", "expectRunWithin"}  # jobclock's
    ),
    "action": frozenset({*_ACTION, "errorAction"}),
    # ``errorAction`` is known here only to be refused with its own message (no nesting).
    "errorAction": frozenset({*_ACTION, "errorAction"}),
    "request": frozenset(
        {"uri", "method", "headers", "body", "authentication"} | {"signing", "template"}
    ),
    "signing": frozenset({"secret", "previousSecret"}),
    "basicAuthentication": frozenset({"type", "username", "password"}),
    # The certificate's facts are server-computed and ignored on input (§7); the client's
    # model does not mark them read-only, so it sends them back.
    "clientCertificateAuthentication": frozenset(
        {
            "type",
            "pfx",
            "password",
            "certificateThumbprint",
            "certificateExpiration",
            "certificateExpirationDate",
            "certificateSubjectName",
        }
    ),
    "oauthAuthentication": frozenset({"type", "tenant", "audience", "clientId", "secret"}),
    "noAuthentication": frozenset({"type"}),
    "queueMessage": frozenset(
        {"storageAccount", "queueName", "sasToken", "message"} | {"template"}
    ),
    "serviceBusQueueMessage": frozenset({*_SERVICE_BUS, "queueName"}),
    "serviceBusTopicMessage": frozenset({*_SERVICE_BUS, "topicPath"}),
    "serviceBusAuthentication": frozenset({"type", "sasKeyName", "sasKey"}),
    "brokeredMessageProperties": frozenset(
        {
            "contentType",
            "correlationId",
            "forcePersistence",
            "label",
            "messageId",
            "partitionKey",
            "replyTo",
            "replyToSessionId",
            "scheduledEnqueueTimeUtc",
            "sessionId",
            "timeToLive",
            "to",
            "viaPartitionKey",
        }
    ),
    "amqpMessage": frozenset(
        {
            "url",
            "password",
            "exchange",
            "routingKey",
            "message",
            "contentType",
            "headers",
            "persistent",
            "template",
        }
    ),
    "retryPolicy": frozenset(
        {"retryType", "retryInterval", "retryCount"} | {"maxInterval", "maxAge"}  # jobclock's
    ),
    "recurrence": frozenset(
        {"frequency", "interval", "count", "endTime", "schedule", "timeZone"}
        | {"cron", "rrule", "exdates", "dstPolicy", "jitter", "calendar"}  # jobclock's
    ),
    "dstPolicy": frozenset({"gap", "fold"}),
    "calendarRef": frozenset({"name", "onHoliday"}),
    "catchUp": frozenset({"policy", "window"}),
    "schedule": frozenset({"minutes", "hours", "weekDays", "monthDays", "monthlyOccurrences"}),
    # ``Occurrence`` is the client's key, ``occurrence`` the 2016 wire's: one key, any case.
    "monthlyOccurrence": frozenset({"day", "Occurrence"}),
}
