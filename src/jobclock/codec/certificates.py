"""PFX (PKCS#12) files of ``ClientCertificate`` authentication (§7, §2.6).

A PFX arrives base64-encoded in ``request.authentication.pfx``. It must decode and open with
its password and hold a certificate with the matching private key; its public facts
(thumbprint, subject, expiration) are what responses show instead of the file.

Messages never contain the PFX or its password.
"""

from __future__ import annotations

import base64
import binascii
import hashlib
from collections import OrderedDict
from dataclasses import dataclass
from datetime import datetime
from threading import Lock

from cryptography import x509
from cryptography.exceptions import UnsupportedAlgorithm
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric.types import PrivateKeyTypes
from cryptography.hazmat.primitives.serialization import pkcs12

# Opening a PFX costs a few key derivations; stored definitions are re-read on every GET.
_FACTS_CACHE_SIZE = 1024


class PfxError(ValueError):
    """The PFX cannot be used; the message names the problem, never the secret."""


@dataclass(frozen=True, slots=True)
class CertificateFacts:
    """What a response shows of a client certificate (§2.6)."""

    thumbprint: str  # SHA-1 of the DER certificate, upper-case hex
    subject_name: str  # RFC 4514, e.g. "CN=scheduler,O=Contoso"
    expiration: datetime  # notAfter, aware UTC


@dataclass(frozen=True, slots=True)
class OpenedPfx:
    key: PrivateKeyTypes
    certificate: x509.Certificate
    chain: tuple[x509.Certificate, ...]  # the other certificates of the file, in order

    @property
    def facts(self) -> CertificateFacts:
        certificate = self.certificate
        return CertificateFacts(
            thumbprint=certificate.fingerprint(hashes.SHA1()).hex().upper(),  # noqa: S303 - a name
            subject_name=certificate.subject.rfc4514_string(),
            expiration=certificate.not_valid_after_utc,
        )

    def pem(self, passphrase: bytes) -> bytes:
        """Certificate, chain and the key (encrypted with ``passphrase``) as one PEM text,
        the form ``ssl.SSLContext.load_cert_chain`` reads."""
        encoding = serialization.Encoding.PEM
        key = self.key.private_bytes(
            encoding,
            serialization.PrivateFormat.PKCS8,
            serialization.BestAvailableEncryption(passphrase),
        )
        certificates = (self.certificate, *self.chain)
        return key + b"".join(certificate.public_bytes(encoding) for certificate in certificates)


def open_pfx(pfx: str, password: str | None) -> OpenedPfx:
    """Decode the base64 text and open the PKCS#12 file; raises :class:`PfxError`."""
    try:
        data = base64.b64decode("".join(pfx.split()), validate=True)
    except (binascii.Error, ValueError) as exc:
        raise PfxError("it is not valid base64") from exc
    if not data:
        raise PfxError("it is empty")
    try:
        key, certificate, chain = pkcs12.load_key_and_certificates(
            data, None if password is None else password.encode()
        )
    except (ValueError, TypeError, UnsupportedAlgorithm) as exc:
        raise PfxError(
            "it could not be opened: it is not a PKCS#12 file, it is damaged, or the password "
            "is wrong"
        ) from exc
    if key is None:
        raise PfxError("it holds no private key")
    if certificate is None:
        raise PfxError("it holds no certificate for its private key")
    if not _key_matches(key, certificate):
        raise PfxError("its private key does not belong to its certificate")
    return OpenedPfx(key, certificate, tuple(chain))


def _key_matches(key: PrivateKeyTypes, certificate: x509.Certificate) -> bool:
    spki = (serialization.Encoding.DER, serialization.PublicFormat.SubjectPublicKeyInfo)
    try:
        mine = key.public_key().public_bytes(*spki)
    except (AttributeError, ValueError, UnsupportedAlgorithm):
        return False
    return bool(mine == certificate.public_key().public_bytes(*spki))


class _FactsCache:
    """Facts by a digest of (PFX, password): no secret is kept, only what responses show."""

    def __init__(self, size: int) -> None:
        self._size = size
        self._items: OrderedDict[bytes, CertificateFacts] = OrderedDict()
        self._lock = Lock()

    def get(self, pfx: str, password: str | None) -> CertificateFacts:
        key = secret_digest(pfx, password)
        with self._lock:
            found = self._items.get(key)
            if found is not None:
                self._items.move_to_end(key)
                return found
        facts = open_pfx(pfx, password).facts
        with self._lock:
            self._items[key] = facts
            while len(self._items) > self._size:
                self._items.popitem(last=False)
        return facts


def secret_digest(*parts: str | None) -> bytes:
    """A cache key for secrets: SHA-256 over the parts, None distinct from ``""``."""
    digest = hashlib.sha256()
    for part in parts:
        if part is None:
            digest.update(b"\x00")
        else:
            encoded = part.encode()
            digest.update(b"\x01" + len(encoded).to_bytes(8, "big") + encoded)
    return digest.digest()


_facts = _FactsCache(_FACTS_CACHE_SIZE)


def certificate_facts(pfx: str, password: str | None) -> CertificateFacts:
    """The public facts of a PFX (cached); raises :class:`PfxError` when it is unusable."""
    return _facts.get(pfx, password)
