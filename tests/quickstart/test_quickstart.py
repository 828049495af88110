"""The README's quick start: its first command, on a fresh clone, really serves."""

from __future__ import annotations

import os
import re
import signal
import socket
import subprocess
import time
from pathlib import Path

import httpx
import pytest

ROOT = Path(__file__).resolve().parents[2]


def quick_start_commands() -> list[str]:
    text = (ROOT / "README.md").read_text()
    section = text.split("## Quick start", 1)[1].split("\n## ", 1)[0]
    block = re.search(r"```sh\n(.*?)```", section, re.S)
    assert block, "the Quick start has no sh code block"
    return [line.split("#", 1)[0].strip() for line in block.group(1).splitlines() if line.strip()]


def test_quick_start_has_exactly_two_commands() -> None:
    assert quick_start_commands() == ["make serve", "make test"]
    assert "make test" in (ROOT / ".ci" / "run").read_text()


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def test_make_serve_on_a_fresh_clone_serves(tmp_path: Path) -> None:
    if not (ROOT / ".git").exists():
        pytest.skip("not a git checkout: nothing to clone")
    clone = tmp_path / "clone"
    subprocess.run(["git", "clone", "-q", str(ROOT), str(clone)], check=True, timeout=120)
    port = free_port()
    env = {k: v for k, v in os.environ.items() if not k.startswith(("JOBCLOCK_", "VIRTUAL_ENV"))}
    env["JOBCLOCK_PORT"] = str(port)
    log = (tmp_path / "serve.log").open("w")
    process = subprocess.Popen(
        ["make", "serve"], cwd=clone, env=env, stdout=log, stderr=subprocess.STDOUT,
        start_new_session=True,
    )  # fmt: skip
    try:
        deadline = time.monotonic() + 300
        while True:
            assert process.poll() is None, (tmp_path / "serve.log").read_text()
            try:
                if httpx.get(f"http://127.0.0.1:{port}/healthz", timeout=1).status_code == 200:
                    break
            except httpx.HTTPError:
                pass
            assert time.monotonic() < deadline, (tmp_path / "serve.log").read_text()
            time.sleep(0.5)
        token = (clone / "jobclock.token").read_text().strip()
        assert token in (tmp_path / "serve.log").read_text()  # printed once, at first start
        listed = httpx.get(
            f"http://127.0.0.1:{port}/subscriptions/s/providers/Microsoft.Scheduler/jobCollections",
            params={"api-version": "2016-03-01"},
            headers={"Authorization": f"Bearer {token}"},
        )
        assert listed.status_code == 200
        assert listed.json()["value"] == []
        # The portal the README points at: sign in with the printed token.
        with httpx.Client(base_url=f"http://127.0.0.1:{port}") as browser:
            assert browser.get("/").headers["location"] == "/signin?next=/"
            signed = browser.post("/signin", data={"token": token, "next": "/"})
            assert signed.status_code == 303
            assert "Job collections" in browser.get("/").text
        assert (clone / "jobclock.db").exists()
    finally:
        os.killpg(process.pid, signal.SIGTERM)
        try:
            process.wait(timeout=30)
        except subprocess.TimeoutExpired:
            os.killpg(process.pid, signal.SIGKILL)
        log.close()
    assert "jobclock stopped" in (tmp_path / "serve.log").read_text()
