"""The environment is read in one place: ``jobclock.settings`` (issue 12).

Every other module gets its values from :class:`Settings`, handed down by the composition
root; the CLI's own options that click fills from variables (``envvar=``) are read by
click, not by jobclock's code.
"""

from __future__ import annotations

import ast
from pathlib import Path

import pytest

from jobclock.actions.registry import ActionSettings
from jobclock.settings import Settings, SettingsError

SRC = Path(__file__).resolve().parents[2] / "src"
READER = Path("jobclock/settings.py")
ENVIRONMENT_NAMES = frozenset({"environ", "environb", "getenv", "getenvb"})


def environment_reads(source: str) -> list[str]:
    """Where ``source`` reads the process environment, as ``line: what``."""
    tree = ast.parse(source)
    aliases = {
        alias.asname or alias.name
        for node in ast.walk(tree)
        if isinstance(node, ast.Import)
        for alias in node.names
        if alias.name == "os"
    }
    found: list[str] = []
    for node in ast.walk(tree):
        if isinstance(node, ast.ImportFrom) and node.module == "os":
            found.extend(
                f"{node.lineno}: from os import {alias.name}"
                for alias in node.names
                if alias.name in ENVIRONMENT_NAMES or alias.name == "*"
            )
        elif (
            isinstance(node, ast.Attribute)
            and node.attr in ENVIRONMENT_NAMES
            and isinstance(node.value, ast.Name)
            and node.value.id in aliases
        ):
            found.append(f"{node.lineno}: {node.value.id}.{node.attr}")
    return found


def test_only_the_settings_read_the_environment() -> None:
    files = sorted((SRC / "jobclock").rglob("*.py"))
    assert len(files) > 50, f"too few modules under {SRC}"
    found = {
        str(path.relative_to(SRC)): reads
        for path in files
        if path.relative_to(SRC) != READER and (reads := environment_reads(path.read_text()))
    }
    assert not found, f"the environment is read outside settings.py: {found}"
    assert environment_reads((SRC / READER).read_text()), "settings.py reads it no more?"


def test_the_check_sees_every_spelling() -> None:
    source = (
        "import os\nimport os as system\nfrom os import getenv, path\n"
        "a = os.environ['X']\nb = system.getenv('Y')\nc = getenv('Z')\nd = path.join('e')\n"
    )
    assert environment_reads(source) == [
        "3: from os import getenv",
        "4: os.environ",
        "5: system.getenv",
    ]
    assert environment_reads("env = {}\nenv.get('JOBCLOCK_PORT')\n") == []


def test_the_settings_read_every_variable_the_service_documents(tmp_path: Path) -> None:
    settings = Settings.load(
        {},
        {
            "JOBCLOCK_DATA_DIR": str(tmp_path),
            "JOBCLOCK_DB": "postgresql://u@db/jobclock",
            "JOBCLOCK_TLS_CA_FILE": "/etc/ca.pem",
            "JOBCLOCK_OAUTH_AUTHORITY": " https://sso.local ",
            "JOBCLOCK_HTTP_LEAN_CLIENT": "0",
            "JOBCLOCK_STORAGE_QUEUE_ENDPOINT": "http://127.0.0.1:10001/{account}",
            "JOBCLOCK_STORAGE_QUEUE_ENCODING": "TEXT",
            "JOBCLOCK_SERVICEBUS_ENDPOINT": "amqp://localhost:5672",
            "JOBCLOCK_OUTBOUND_DENY": "10.0.0.0/8, 192.168.1.1",
            "JOBCLOCK_OUTBOUND_ALLOW": "10.1.0.0/16",
        },
    )
    assert settings.data_dir == tmp_path.resolve()
    assert settings.actions == ActionSettings(
        tls_ca_file="/etc/ca.pem",
        oauth_authority="https://sso.local",
        http_lean_client=False,
        storage_queue_endpoint="http://127.0.0.1:10001/{account}",
        storage_queue_encoding="text",
        servicebus_endpoint="amqp://localhost:5672",
    )
    assert [str(network) for network in settings.outbound_deny] == [
        "10.0.0.0/8",
        "192.168.1.1/32",
    ]
    assert [str(network) for network in settings.outbound_allow] == ["10.1.0.0/16"]


def test_unset_or_empty_variables_are_the_defaults() -> None:
    empty = Settings.load({}, {"JOBCLOCK_TLS_CA_FILE": "", "JOBCLOCK_HTTP_LEAN_CLIENT": ""})
    assert empty.actions == ActionSettings() == Settings().actions
    assert empty.data_dir == Path().resolve()
    assert (empty.outbound_deny, empty.outbound_allow) == ((), ())


@pytest.mark.parametrize(
    ("variable", "value", "message"),
    [
        (
            "JOBCLOCK_HTTP_LEAN_CLIENT",
            "yes",
            "JOBCLOCK_HTTP_LEAN_CLIENT must be '0' or '1', got 'yes'",
        ),
        (
            "JOBCLOCK_STORAGE_QUEUE_ENCODING",
            "utf8",
            "JOBCLOCK_STORAGE_QUEUE_ENCODING must be 'base64' or 'text', got 'utf8'",
        ),
        (
            "JOBCLOCK_STORAGE_QUEUE_ENDPOINT",
            "http://queues.local",
            "JOBCLOCK_STORAGE_QUEUE_ENDPOINT: the endpoint template 'http://queues.local' "
            "has no {account} placeholder",
        ),
        ("JOBCLOCK_SERVICEBUS_ENDPOINT", "http://{namespace}", "JOBCLOCK_SERVICEBUS_ENDPOINT: "),
        ("JOBCLOCK_OUTBOUND_ALLOW", "10.0.0.0/33", "JOBCLOCK_OUTBOUND_ALLOW: '10.0.0.0/33'"),
    ],
    ids=["lean-client", "encoding", "queue-endpoint", "servicebus-endpoint", "outbound"],
)
def test_a_bad_variable_is_one_line_naming_it(variable: str, value: str, message: str) -> None:
    with pytest.raises(SettingsError) as refused:
        Settings.load({}, {variable: value})
    text = str(refused.value)
    assert text.startswith(message), text
    assert "\n" not in text
