"""Fault test with real processes: the node delivering a notification is killed (kill -9)
at a random moment of the delivery; the other node delivers it again after the lease,
with the same event id, and the endpoint's history says delivered. Nothing lost."""

from __future__ import annotations

import json
import random
import time
from datetime import UTC, datetime, timedelta

from tests.e2e.harness import Api, Reply, Target, http_action, wait_for
from tests.ha.cluster import Cluster, Database

COLLECTION = "notify-ha"


def _soon(seconds: float) -> str:
    return (datetime.now(UTC) + timedelta(seconds=seconds)).strftime("%Y-%m-%dT%H:%M:%S.%fZ")


def test_a_notice_survives_the_death_of_the_node_delivering_it(
    cluster: Cluster, database: Database, target: Target
) -> None:
    nodes = {name: cluster.start(name) for name in ("a", "b")}
    api = Api(nodes["a"].server)
    try:
        api.create_collection(COLLECTION)
        endpoint = f"{api.collection_path(COLLECTION)}/notifications/ops"
        body = {"properties": {"uri": target.url("/events"), "events": ["job.failed"]}}
        assert api.put(endpoint, body).status_code == 201
        target.reply("/broken", Reply(500))
        target.reply("/events", Reply(delay=1.5))  # a slow receiver: time to die meanwhile
        api.create_job(
            COLLECTION,
            "once",
            {"startTime": _soon(2), "action": http_action(target.url("/broken"))},
        )
        [first] = target.wait_for(1, "/events", timeout=60)
        [row] = database.sql.fetch("SELECT lease_owner FROM notices WHERE status = 'pending'")
        sender = row["lease_owner"]
        assert sender in nodes, sender
        time.sleep(random.uniform(0.0, 1.2))  # noqa: S311 - a random moment, not a boundary
        cluster.kill(sender)
        survivor = next(name for name in nodes if name != sender)
        again = target.wait_for(2, "/events", timeout=60)[1]
        # The same event: the same id in the CloudEvent and in x-ms-execution-tag.
        assert again.body == first.body
        tag = "x-ms-execution-tag"
        assert again.headers[tag] == first.headers[tag] == json.loads(first.body)["id"]
        reader = Api(nodes[survivor].server)
        try:

            def delivered() -> dict[str, object] | None:
                response = reader.get(f"{endpoint}/history")
                items = response.json()["value"] if response.status_code == 200 else []
                done = [item for item in items if item["status"] == "delivered"]
                return done[0] if done else None

            record = wait_for(delivered, "the notice recorded as delivered", timeout=60)
        finally:
            reader.close()
        assert record["attempts"] in (1, 2)  # the dead node's try was never settled
        assert len(target.received("/events")) == 2
    finally:
        api.close()
