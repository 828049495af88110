"""Take the portal screenshots under docs/screenshots/ (linked from the README).

Starts a real ``jobclock serve`` on a temporary SQLite database and a local HTTP target that
fails one request in five, creates a few collections and jobs over the REST API, lets them
run for a while, and photographs the main pages in Debian's Chromium (Playwright), at
laptop size and one at phone size.

Run: ``.venv/bin/python docs/screenshots.py`` (about 40 s).
"""

from __future__ import annotations

import http.server
import os
import socket
import subprocess
import sys
import tempfile
import threading
import time
from pathlib import Path

import httpx
from playwright.sync_api import sync_playwright

HERE = Path(__file__).parent
OUT = HERE / "screenshots"
TOKEN = "screenshot-token"  # noqa: S105 - a throwaway server's token
API = "api-version=2016-03-01"
SUB, GROUP = "contoso", "operations"
FLAGS = [
    "--headless",
    "--no-sandbox",
    "--disable-gpu",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
    "--no-first-run",
]


class _Target(http.server.BaseHTTPRequestHandler):
    count = 0

    def do_GET(self) -> None:
        type(self).count += 1
        failing = type(self).count % 5 == 0
        body = b"upstream unavailable" if failing else b'{"status": "ok"}'
        self.send_response(503 if failing else 200)
        self.send_header("Content-Type", "application/json")
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)

    do_POST = do_GET

    def log_message(self, *args: object) -> None:
        return None


def _port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return int(probe.getsockname()[1])


def main() -> None:
    OUT.mkdir(exist_ok=True)
    target = http.server.ThreadingHTTPServer(("127.0.0.1", 0), _Target)
    threading.Thread(target=target.serve_forever, daemon=True).start()
    hook = f"http://127.0.0.1:{target.server_address[1]}"
    port = _port()
    base = f"http://127.0.0.1:{port}"
    with tempfile.TemporaryDirectory() as directory:
        executable = Path(sys.executable).with_name("jobclock")
        server = subprocess.Popen(  # noqa: S603 - our own console script
            [str(executable), "serve", "--port", str(port), "--token", TOKEN,
             "--db", f"sqlite:///{directory}/jobclock.db"],
            cwd=directory, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL,
            env=os.environ | {"JOBCLOCK_NODE": "laptop"},
        )  # fmt: skip
        try:
            _populate(base, hook)
            time.sleep(25)  # let the jobs run and fail now and then
            _photograph(base)
        finally:
            server.terminate()
            server.wait(timeout=70)
            target.shutdown()
    print(f"screenshots written to {OUT}")


def _populate(base: str, hook: str) -> None:
    client = httpx.Client(base_url=base, headers={"Authorization": f"Bearer {TOKEN}"})
    for _ in range(100):
        try:
            if client.get("/healthz").status_code == 200:
                break
        except httpx.TransportError:
            time.sleep(0.1)
    root = f"/subscriptions/{SUB}/resourceGroups/{GROUP}/providers/Microsoft.Scheduler"
    for name, plan in (("billing", "Unlimited"), ("reports", "Standard"), ("sandbox", "Free")):
        client.put(
            f"{root}/jobCollections/{name}?{API}",
            json={"location": "West Europe", "properties": {"sku": {"name": plan}}},
        ).raise_for_status()
    jobs = {
        "invoice-sweep": {
            "action": {"type": "Http", "request": {"uri": f"{hook}/sweep", "method": "POST",
                       "body": '{"batch": 50}'},
                       "retryPolicy": {"retryType": "Fixed", "retryInterval": "PT15S",
                                       "retryCount": 2}},
            "recurrence": {"frequency": "Second", "interval": 2},
        },
        "ledger-sync": {
            "action": {"type": "Http", "request": {"uri": f"{hook}/ledger", "method": "GET"}},
            "recurrence": {"frequency": "Second", "interval": 5},
        },
        "month-end-close": {
            "action": {"type": "Https", "request": {"uri": "https://erp.contoso.example/close",
                       "method": "POST", "authentication": {"type": "Basic", "username": "erp",
                                                            "password": "not-shown"}}},
            "recurrence": {"frequency": "Month", "timeZone": "Europe/Amsterdam",
                           "schedule": {"monthlyOccurrences": [{"day": "Friday", "occurrence": -1}],
                                        "hours": [18], "minutes": [0]}},
            "startTime": "2026-12-01T00:00:00Z",
        },
        "weekly-digest": {
            "action": {"type": "StorageQueue", "queueMessage": {"storageAccount": "contoso",
                       "queueName": "digests", "sasToken": "sv=x&sig=y", "message": "weekly"}},
            "recurrence": {"frequency": "Week", "schedule": {"weekDays": ["Monday"],
                                                             "hours": [7], "minutes": [30]}},
            "state": "Disabled",
        },
    }  # fmt: skip
    for name, properties in jobs.items():
        answer = client.put(
            f"{root}/jobCollections/billing/jobs/{name}?{API}", json={"properties": properties}
        )
        if answer.is_error:
            raise SystemExit(f"{name}: {answer.text}")


def _photograph(base: str) -> None:
    billing = f"{base}/c/{SUB}/{GROUP}/billing"
    with sync_playwright() as playwright:
        browser = playwright.chromium.launch(executable_path="/usr/bin/chromium", args=FLAGS)
        page = browser.new_page(viewport={"width": 1280, "height": 860})
        page.goto(base + "/signin")
        page.screenshot(path=OUT / "signin.png")
        page.fill("#token", TOKEN)
        page.press("#token", "Enter")
        page.wait_for_url(base + "/")
        page.screenshot(path=OUT / "collections.png", full_page=True)
        page.goto(billing)
        page.screenshot(path=OUT / "collection.png", full_page=True)
        page.goto(billing + "/jobs/invoice-sweep")
        page.screenshot(path=OUT / "job.png", full_page=True)
        page.click("#history tbody tr:has-text('Failed') a")
        page.wait_for_url("**/history/**")
        page.screenshot(path=OUT / "history-entry.png", full_page=True)
        page.goto(billing + "/jobs/month-end-close/edit")
        page.wait_for_selector("#preview-list li")
        page.wait_for_timeout(500)
        page.screenshot(path=OUT / "job-editor.png", full_page=True)
        phone = browser.new_page(viewport={"width": 390, "height": 844}, is_mobile=True)
        phone.goto(base + "/signin")
        phone.fill("#token", TOKEN)
        phone.press("#token", "Enter")
        phone.wait_for_url(base + "/")
        phone.goto(billing + "/jobs/invoice-sweep")
        phone.screenshot(path=OUT / "job-phone.png")
        browser.close()


if __name__ == "__main__":
    main()
