"""Secrets at rest: Fernet (AES-128-CBC + HMAC-SHA256) with a key from configuration or a
key file generated beside the database."""

from __future__ import annotations

import os
from pathlib import Path

from cryptography.fernet import Fernet, InvalidToken


class FernetSecretBox:
    """A :class:`jobclock.ports.SecretBox` over Fernet."""

    def __init__(self, key: str | bytes) -> None:
        self._fernet = Fernet(key)

    def seal(self, plaintext: str) -> str:
        return self._fernet.encrypt(plaintext.encode()).decode("ascii")

    def open(self, sealed: str) -> str:
        try:
            return self._fernet.decrypt(sealed.encode("ascii")).decode()
        except (InvalidToken, ValueError) as exc:
            raise ValueError("a sealed secret could not be opened with this key") from exc


def load_or_create_key(path: Path) -> bytes:
    """Read the key file, or create it (mode 0600) with a fresh key."""
    if path.exists():
        return path.read_bytes().strip()
    key = Fernet.generate_key()
    path.parent.mkdir(parents=True, exist_ok=True)
    fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
    with os.fdopen(fd, "wb") as handle:
        handle.write(key + b"\n")
    return key
