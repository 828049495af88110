"""``GET /jobclock/nodes`` and ``jobclock nodes`` on the real server."""

from __future__ import annotations

import json
import os
import subprocess

from tests.e2e.harness import Api, RunningServer, jobclock_executable, wait_for


def test_the_server_lists_itself_as_an_alive_node(server: RunningServer) -> None:
    api = Api(server)
    try:
        unauthenticated = api.http.get("/jobclock/nodes", headers={"Authorization": ""})
        assert unauthenticated.status_code == 401

        def listed() -> list[dict[str, object]] | None:
            nodes = api.http.get("/jobclock/nodes").json()["value"]
            return nodes or None

        [node] = wait_for(listed, "the node's first heartbeat")
        assert node["alive"] is True
        assert str(node["name"]).endswith(f":{server.base_url.rsplit(':', 1)[1]}")
        assert str(node["heartbeatAt"]).endswith("Z")
    finally:
        api.close()
    env = os.environ | {"JOBCLOCK_URL": server.base_url, "JOBCLOCK_TOKEN": server.token}
    result = subprocess.run(
        [str(jobclock_executable()), "nodes", "--output", "json"],
        capture_output=True, text=True, env=env, timeout=30, check=False,
    )  # fmt: skip
    assert result.returncode == 0, result.stderr
    assert json.loads(result.stdout)["value"][0]["alive"] is True
