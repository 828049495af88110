"""``GET /readyz`` when the database goes away under a real node on PostgreSQL, the way an
operator meets it (the database refuses new connections and the node's are cut), and
comes back; ``/healthz`` (liveness) stays 200 throughout."""

from __future__ import annotations

import httpx

from tests.e2e.harness import wait_for
from tests.ha.cluster import POSTGRES_URL, Cluster, Database, Postgres


def _ready(url: str) -> httpx.Response:
    return httpx.get(f"{url}/readyz", timeout=15)


def test_readyz_fails_while_the_database_is_gone_and_recovers(
    cluster: Cluster, database: Database
) -> None:
    node = cluster.start("a")
    url = node.server.base_url

    def ready() -> httpx.Response | None:
        response = _ready(url)
        return response if response.status_code == 200 else None

    wait_for(ready, "/readyz answers 200 once the engine has stepped", timeout=30)
    admin = Postgres(POSTGRES_URL)  # a database cannot refuse its own connection
    admin.execute(f'ALTER DATABASE "{database.name}" ALLOW_CONNECTIONS false')
    try:
        database.terminate_connections()

        def refused() -> httpx.Response | None:
            response = _ready(url)
            return response if response.status_code == 503 else None

        response = wait_for(refused, "/readyz answers 503", timeout=30)
        body = response.json()
        assert body["status"] == "not ready"
        assert any("database" in problem for problem in body["problems"]), body
        health = httpx.get(f"{url}/healthz", timeout=15)
        assert health.status_code == 200  # alive: restarting it would not help
    finally:
        admin.execute(f'ALTER DATABASE "{database.name}" ALLOW_CONNECTIONS true')
        admin.close()

    assert wait_for(ready, "/readyz answers 200 again", timeout=60).json() == {"status": "ready"}
    assert node.alive()
