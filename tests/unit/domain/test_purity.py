"""The domain stays pure: no I/O, no frameworks, no clock reads (house style §1)."""

from __future__ import annotations

import ast
from pathlib import Path

import pytest

DOMAIN = Path(__file__).resolve().parents[3] / "src" / "jobclock" / "domain"
FORBIDDEN_MODULES = {
    "aiohttp", "aiosqlite", "alembic", "asyncio", "asyncpg", "aio_pika", "azure", "click",
    "fastapi", "httpx", "jinja2", "os", "pathlib", "pydantic", "requests", "rich", "shutil",
    "socket", "sqlalchemy", "sqlite3", "ssl", "starlette", "subprocess", "threading", "time",
    "urllib.request", "uvicorn", "jobclock.api", "jobclock.cli", "jobclock.storage",
    "jobclock.actions", "jobclock.engine", "jobclock.clock", "jobclock.web",
}  # fmt: skip
FORBIDDEN_CALLS = {"now", "utcnow", "today", "time", "sleep", "open", "print", "input"}


def domain_files() -> list[Path]:
    files = sorted(DOMAIN.glob("*.py"))
    assert files, f"no domain modules found under {DOMAIN}"
    return files


def imported_modules(tree: ast.AST) -> set[str]:
    names: set[str] = set()
    for node in ast.walk(tree):
        if isinstance(node, ast.Import):
            names.update(alias.name for alias in node.names)
        elif isinstance(node, ast.ImportFrom) and node.module:
            names.add(node.module)
    return names


@pytest.mark.parametrize("path", domain_files(), ids=lambda path: path.name)
def test_domain_module_imports_no_io_or_framework(path: Path) -> None:
    modules = imported_modules(ast.parse(path.read_text()))
    bad = {
        name
        for name in modules
        if any(name == banned or name.startswith(banned + ".") for banned in FORBIDDEN_MODULES)
    }
    assert not bad, f"{path.name} imports {sorted(bad)}"


@pytest.mark.parametrize("path", domain_files(), ids=lambda path: path.name)
def test_domain_module_never_reads_the_clock_or_does_io(path: Path) -> None:
    calls = set()
    for node in ast.walk(ast.parse(path.read_text())):
        if isinstance(node, ast.Call):
            func = node.func
            name = func.attr if isinstance(func, ast.Attribute) else getattr(func, "id", "")
            if name in FORBIDDEN_CALLS:
                calls.add(name)
    assert not calls, f"{path.name} calls {sorted(calls)}"


def test_the_check_catches_a_forbidden_import() -> None:
    tree = ast.parse("import sqlalchemy\nfrom jobclock.storage import x\n")
    assert {"sqlalchemy", "jobclock.storage"} <= imported_modules(tree)
