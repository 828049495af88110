"""Fresh execution tags: 32 lowercase hex characters, unique per attempt (§5.2)."""

from __future__ import annotations

import secrets


def new_execution_tag() -> str:
    return secrets.token_hex(16)
