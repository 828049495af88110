"""Job collection JSON ↔ :class:`JobCollection` (§1.2, §2.6)."""

from __future__ import annotations

import re
from typing import Any

from jobclock.codec.fields import Fields
from jobclock.domain.collection import (
    CollectionState,
    JobCollection,
    MaxRecurrence,
    Quota,
    Sku,
    check_collection_name,
)
from jobclock.domain.errors import InvalidDefinition
from jobclock.domain.host_limits import HostLimit, parse_host_limits
from jobclock.domain.limits import check_quota
from jobclock.domain.recurrence import Frequency

# ARM normalised region names to their display names: "westus" → "West US" (§1.2).
_REGIONS = {
    name.replace(" ", "").lower(): name
    for name in (
        "East US", "East US 2", "West US", "West US 2", "Central US", "North Central US",
        "South Central US", "West Central US", "North Europe", "West Europe", "East Asia",
        "Southeast Asia", "Japan East", "Japan West", "Brazil South", "Australia East",
        "Australia Southeast", "Central India", "South India", "West India", "Canada Central",
        "Canada East", "UK South", "UK West", "Korea Central", "Korea South",
    )
}  # fmt: skip


# Region names are short ("Australia Southeast"); the store holds 200 characters.
MAX_LOCATION_LENGTH = 100
_CONTROL = re.compile(r"[\x00-\x1f\x7f]")


def display_location(location: str) -> str:
    """``"westus"`` and ``"West US"`` → ``"West US"``; unknown names are kept as given."""
    return _REGIONS.get(location.replace(" ", "").lower(), location)


def collection_from_json(name: str, body: object) -> JobCollection:
    """Read a PUT body for collection ``name``; checks the name and the quota against the plan."""
    check_collection_name(name)
    envelope = Fields(body, "")
    location = envelope.text("location")
    if not location or not location.strip():
        raise InvalidDefinition("'location' is required.", field="location")
    if len(location.strip()) > MAX_LOCATION_LENGTH or _CONTROL.search(location):
        # A NUL or a longer name was a 500 on PostgreSQL (issue 11).
        raise InvalidDefinition(
            f"'location' must be a region name of at most {MAX_LOCATION_LENGTH} characters, "
            f"none of them a control character; got {location[: MAX_LOCATION_LENGTH + 10]!r}.",
            field="location",
        )
    properties = envelope.obj("properties")
    sku_fields = None if properties is None else properties.obj("sku")
    sku = (sku_fields.enum("name", Sku) if sku_fields is not None else None) or Sku.STANDARD
    state = (properties.enum("state", CollectionState) if properties else None) or (
        CollectionState.ENABLED
    )
    if state is CollectionState.DELETED:
        raise InvalidDefinition(
            "'properties.state' cannot be set to 'Deleted'.", field="properties.state"
        )
    quota = _quota(properties.obj("quota")) if properties is not None else None
    check_quota(sku, quota)
    tags = envelope.string_map("tags") or {}
    return JobCollection(
        name=name,
        location=display_location(location.strip()),
        sku=sku,
        state=state,
        quota=quota,
        tags=tuple(tags.items()),
        host_limits=host_limits_from_json(properties),
    )


_MAX_HOST_LIMITS = 50


def host_limits_from_json(properties: Fields | None) -> tuple[HostLimit, ...]:
    """``properties.hostLimits``: ``[{"host": "api.example.com" or "*.internal",
    "concurrency": 5, "ratePerSecond": 10}]`` (jobclock's; each needs one cap or both)."""
    values = None if properties is None else properties.array("hostLimits")
    if not values:
        return ()
    name = "properties.hostLimits"
    if len(values) > _MAX_HOST_LIMITS:
        raise InvalidDefinition(f"'{name}' holds at most {_MAX_HOST_LIMITS} rules.", field=name)
    found: list[HostLimit] = []
    for index, value in enumerate(values):
        where = f"{name}[{index}]"
        fields = Fields(value, where, ("host", "concurrency", "ratePerSecond"))
        host = (fields.text("host", required=True) or "").strip().lower()
        concurrency = fields.integer("concurrency")
        rate = fields.raw("ratePerSecond")
        rule = f"{host}={'' if concurrency is None else concurrency}"
        if rate is not None:
            if isinstance(rate, bool) or not isinstance(rate, int | float):
                raise InvalidDefinition(f"'{where}.ratePerSecond' must be a number.", field=where)
            rule += f"/{rate:g}"
        found.extend(parse_host_limits(rule, field=where))
    return tuple(found)


def host_limits_to_json(limits: tuple[HostLimit, ...]) -> list[dict[str, Any]]:
    body = []
    for limit in limits:
        item: dict[str, Any] = {"host": limit.pattern}
        if limit.concurrency is not None:
            item["concurrency"] = limit.concurrency
        if limit.rate is not None:
            item["ratePerSecond"] = limit.rate
        body.append(item)
    return body


def _quota(fields: Fields | None) -> Quota | None:
    if fields is None:
        return None
    recurrence = fields.obj("maxRecurrence")
    max_recurrence = None
    if recurrence is not None:
        frequency = recurrence.enum("frequency", Frequency, required=True)
        assert frequency is not None  # noqa: S101 - required=True
        max_recurrence = MaxRecurrence(frequency, recurrence.integer("interval") or 1)
    return Quota(
        max_job_count=fields.integer("maxJobCount"),
        max_job_occurrence=fields.integer("maxJobOccurrence"),
        max_recurrence=max_recurrence,
    )


def collection_properties_to_json(collection: JobCollection) -> dict[str, Any]:
    body: dict[str, Any] = {"sku": {"name": collection.sku.value}, "state": collection.state.value}
    quota = collection.quota
    if quota is not None:
        quota_json: dict[str, Any] = {}
        if quota.max_job_count is not None:
            quota_json["maxJobCount"] = quota.max_job_count
        if quota.max_job_occurrence is not None:
            quota_json["maxJobOccurrence"] = quota.max_job_occurrence
        if quota.max_recurrence is not None:
            quota_json["maxRecurrence"] = {
                "frequency": quota.max_recurrence.frequency.value,
                "interval": quota.max_recurrence.interval,
            }
        body["quota"] = quota_json
    if collection.host_limits:
        body["hostLimits"] = host_limits_to_json(collection.host_limits)
    return body
