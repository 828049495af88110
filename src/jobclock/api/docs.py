"""A self-contained API docs page: the operation list rendered from ``/openapi.json``.

FastAPI's own pages load Swagger UI or ReDoc from a CDN at run time, and no offline copy
of those assets is installed, so this page is plain HTML with one inline script. Its
Content-Security-Policy allows that script (by hash) and same-origin fetches only.
``/openapi.json`` needs the bearer token like every API call, or a portal session (the
portal's "API" link): without either, the page asks for the token once and keeps it in the
tab's ``sessionStorage``.
"""

from __future__ import annotations

import base64
import hashlib
import html

from fastapi.responses import HTMLResponse

_SCRIPT = """
const spec = document.body.dataset.openapi;
const form = document.getElementById("auth");
const status = document.getElementById("status");
const table = document.getElementById("ops");

function cell(row, text, cls) {
  const td = row.insertCell();
  td.textContent = text;
  if (cls) td.className = cls;
}

function render(doc) {
  document.getElementById("title").textContent = `${doc.info.title} ${doc.info.version}`;
  table.tBodies[0].replaceChildren();
  for (const [path, item] of Object.entries(doc.paths)) {
    for (const [method, op] of Object.entries(item)) {
      const row = table.tBodies[0].insertRow();
      cell(row, method.toUpperCase(), "method");
      cell(row, path, "path");
      cell(row, op.operationId || "");
      const params = (op.parameters || []).filter((p) => p.in === "query");
      cell(row, params.map((p) => p.name + (p.required ? "*" : "")).join(", "));
      cell(row, Object.keys(op.responses || {}).join(" "));
    }
  }
  status.textContent = "";
  table.hidden = false;
}

async function load() {
  const token = sessionStorage.getItem("jobclock-token");
  const headers = token ? { Authorization: `Bearer ${token}` } : {};
  const response = await fetch(spec, { headers });
  if (response.status === 401) {
    status.textContent = "The OpenAPI document needs the API token.";
    form.hidden = false;
    return;
  }
  if (!response.ok) {
    status.textContent = `Could not load ${spec}: HTTP ${response.status}`;
    return;
  }
  form.hidden = true;
  render(await response.json());
}

form.addEventListener("submit", (event) => {
  event.preventDefault();
  sessionStorage.setItem("jobclock-token", form.elements.token.value);
  load();
});
load();
"""

_STYLE = """
body { font: 14px/1.4 system-ui, sans-serif; margin: 2rem; }
table { border-collapse: collapse; }
td, th { border-bottom: 1px solid #ddd; padding: .3rem .6rem; text-align: left; }
.method { font-weight: bold; } .path { font-family: monospace; }
"""


def _sha256(text: str) -> str:
    return base64.b64encode(hashlib.sha256(text.encode()).digest()).decode()


def docs_response(openapi_url: str) -> HTMLResponse:
    """The page, reading the OpenAPI document from ``openapi_url``."""
    page = f"""<!doctype html>
<html lang="en">
<head><meta charset="utf-8"><title>jobclock API</title><style>{_STYLE}</style></head>
<body data-openapi="{html.escape(openapi_url, quote=True)}">
<h1 id="title">jobclock API</h1>
<p>Raw document: <a href="{html.escape(openapi_url, quote=True)}">OpenAPI JSON</a>.
Query parameters marked * are required.</p>
<p id="status">Loading…</p>
<form id="auth" hidden><label>Bearer token
<input name="token" type="password" autocomplete="off" required></label>
<button type="submit">Load</button></form>
<table id="ops" hidden><thead><tr><th>Method</th><th>Path</th><th>Operation</th>
<th>Query</th><th>Responses</th></tr></thead><tbody></tbody></table>
<script>{_SCRIPT}</script>
</body></html>
"""
    policy = (
        f"default-src 'none'; script-src 'sha256-{_sha256(_SCRIPT)}'; "
        f"style-src 'sha256-{_sha256(_STYLE)}'; connect-src 'self'; "
        "base-uri 'none'; form-action 'none'; frame-ancestors 'none'"
    )
    return HTMLResponse(page, headers={"content-security-policy": policy})
