"""ClientCertificate authentication at PUT: the PFX opens or the job is refused (§7, §2.6)."""

from __future__ import annotations

import base64
import ipaddress
import json
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest
from cryptography import x509
from cryptography.fernet import Fernet
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.hazmat.primitives.serialization import pkcs12
from cryptography.x509.oid import ExtendedKeyUsageOID, NameOID

from jobclock.codec.action import action_from_json, action_to_json
from jobclock.codec.certificates import PfxError, certificate_facts, open_pfx
from jobclock.codec.job import definition_to_json, job_definition_from_json
from jobclock.codec.stored import StoredDefinitions
from jobclock.domain.actions import ClientCertificateAuthentication, HttpRequest
from jobclock.domain.errors import InvalidDefinition
from jobclock.secret_box import FernetSecretBox

PFX_PASSWORD = "pfx-Pa55word-7"  # noqa: S105 - a test credential
NOT_AFTER = datetime(2031, 1, 2, 3, 4, 5, tzinfo=UTC)


# -- a small PKI, shared with tests/actions/test_http_auth.py ---------------------------------


@dataclass(frozen=True)
class Issued:
    key: ec.EllipticCurvePrivateKey
    certificate: x509.Certificate

    def key_pem(self) -> bytes:
        return self.key.private_bytes(
            serialization.Encoding.PEM,
            serialization.PrivateFormat.PKCS8,
            serialization.NoEncryption(),
        )

    def certificate_pem(self) -> bytes:
        return self.certificate.public_bytes(serialization.Encoding.PEM)

    def pfx(self, password: str | None = PFX_PASSWORD, *, chain: tuple[Issued, ...] = ()) -> str:
        """The certificate and key as base64 PKCS#12, as a client PUTs it."""
        encryption: serialization.KeySerializationEncryption = (
            serialization.NoEncryption()
            if password is None
            else serialization.BestAvailableEncryption(password.encode())
        )
        data = pkcs12.serialize_key_and_certificates(
            b"client", self.key, self.certificate, [c.certificate for c in chain], encryption
        )
        return base64.b64encode(data).decode("ascii")


def issue(
    common_name: str,
    *,
    issuer: Issued | None = None,
    ca: bool = False,
    server: bool = False,
    not_after: datetime = NOT_AFTER,
) -> Issued:
    """An EC P-256 certificate for ``common_name``, self-signed unless ``issuer`` is given."""
    key = ec.generate_private_key(ec.SECP256R1())
    subject = x509.Name(
        [
            x509.NameAttribute(NameOID.ORGANIZATION_NAME, "Contoso"),
            x509.NameAttribute(NameOID.COMMON_NAME, common_name),
        ]
    )
    signer_key = key if issuer is None else issuer.key
    builder = (
        x509.CertificateBuilder()
        .subject_name(subject)
        .issuer_name(subject if issuer is None else issuer.certificate.subject)
        .public_key(key.public_key())
        .serial_number(x509.random_serial_number())
        .not_valid_before(datetime.now(UTC) - timedelta(days=1))
        .not_valid_after(not_after)
        .add_extension(x509.BasicConstraints(ca=ca, path_length=None), critical=True)
    )
    if ca:
        builder = builder.add_extension(
            x509.KeyUsage(
                digital_signature=True,
                content_commitment=False,
                key_encipherment=False,
                data_encipherment=False,
                key_agreement=False,
                key_cert_sign=True,
                crl_sign=True,
                encipher_only=False,
                decipher_only=False,
            ),
            critical=True,
        ).add_extension(x509.SubjectKeyIdentifier.from_public_key(key.public_key()), False)
    else:
        usage = ExtendedKeyUsageOID.SERVER_AUTH if server else ExtendedKeyUsageOID.CLIENT_AUTH
        builder = builder.add_extension(x509.ExtendedKeyUsage([usage]), critical=False)
    if issuer is not None:
        builder = builder.add_extension(
            x509.AuthorityKeyIdentifier.from_issuer_public_key(issuer.key.public_key()), False
        )
    if server:
        builder = builder.add_extension(
            x509.SubjectAlternativeName([x509.IPAddress(ipaddress.ip_address("127.0.0.1"))]),
            critical=False,
        )
    return Issued(key, builder.sign(signer_key, hashes.SHA256()))


# -- helpers -----------------------------------------------------------------------------------


@pytest.fixture(scope="module")
def client() -> Issued:
    return issue("scheduler-client")


def http_action(authentication: dict[str, Any]) -> dict[str, Any]:
    return {
        "type": "Https",
        "request": {
            "uri": "https://example.com/hook",
            "method": "POST",
            "authentication": authentication,
        },
    }


def certificate_json(pfx: str, password: str | None = PFX_PASSWORD, **extra: Any) -> dict[str, Any]:
    body: dict[str, Any] = {"type": "ClientCertificate", "pfx": pfx, **extra}
    if password is not None:
        body["password"] = password
    return body


def read(authentication: dict[str, Any]) -> ClientCertificateAuthentication:
    action = action_from_json(http_action(authentication))
    assert isinstance(action.payload, HttpRequest)
    auth = action.payload.authentication
    assert isinstance(auth, ClientCertificateAuthentication)
    return auth


def refused(authentication: dict[str, Any]) -> InvalidDefinition:
    with pytest.raises(InvalidDefinition) as caught:
        action_from_json(http_action(authentication))
    assert caught.value.status == 400
    assert caught.value.code == "BadRequest"
    return caught.value


# -- tests -------------------------------------------------------------------------------------


def test_a_valid_pfx_yields_thumbprint_subject_and_expiration(client: Issued) -> None:
    pfx = client.pfx()

    auth = read(certificate_json(pfx))

    expected = client.certificate.fingerprint(hashes.SHA1()).hex().upper()  # noqa: S303
    assert auth.thumbprint == expected
    assert len(auth.thumbprint) == 40
    assert auth.subject_name == "CN=scheduler-client,O=Contoso"
    assert auth.expiration == NOT_AFTER
    assert auth.pfx.reveal() == pfx
    assert auth.password is not None
    assert auth.password.reveal() == PFX_PASSWORD


def test_the_response_shows_the_facts_under_both_expiration_keys_and_no_secret(
    client: Issued,
) -> None:
    pfx = client.pfx()
    action = action_from_json(http_action(certificate_json(pfx)))

    shown = action_to_json(action)["request"]["authentication"]

    assert shown == {
        "type": "ClientCertificate",
        "certificateThumbprint": client.certificate.fingerprint(hashes.SHA1()).hex().upper(),  # noqa: S303
        "certificateExpiration": "2031-01-02T03:04:05Z",
        "certificateExpirationDate": "2031-01-02T03:04:05Z",
        "certificateSubjectName": "CN=scheduler-client,O=Contoso",
    }
    text = json.dumps(action_to_json(action))
    assert pfx not in text
    assert PFX_PASSWORD not in text


def test_server_computed_keys_sent_back_are_ignored(client: Issued) -> None:
    auth = read(
        certificate_json(
            client.pfx(),
            certificateThumbprint="00" * 20,
            certificateSubjectName="CN=forged",
            certificateExpiration="2099-01-01T00:00:00Z",
            certificateExpirationDate="2099-01-01T00:00:00Z",
        )
    )

    assert auth.thumbprint == client.certificate.fingerprint(hashes.SHA1()).hex().upper()  # noqa: S303
    assert auth.subject_name == "CN=scheduler-client,O=Contoso"
    assert auth.expiration == NOT_AFTER


def test_a_get_modify_put_without_the_pfx_is_refused(client: Issued) -> None:
    shown = action_to_json(action_from_json(http_action(certificate_json(client.pfx()))))

    error = refused(shown["request"]["authentication"])

    assert "'Pfx' and 'Password' are required" in error.message


def test_a_wrong_password_is_a_400_without_the_secret(client: Issued) -> None:
    pfx = client.pfx()

    error = refused(certificate_json(pfx, "not-the-password"))

    assert error.field == "properties.action.request.authentication.pfx"
    assert "could not be opened" in error.message
    assert "password is wrong" in error.message
    assert "not-the-password" not in error.message
    assert pfx not in error.message


def test_a_missing_password_for_an_encrypted_pfx_is_a_400(client: Issued) -> None:
    error = refused(certificate_json(client.pfx(), None))

    assert "could not be opened" in error.message


@pytest.mark.parametrize(
    ("pfx", "problem"),
    [
        ("%%% not base64 %%%", "not valid base64"),
        ("QUJ", "not valid base64"),
        (base64.b64encode(b"hello, I am not a PKCS#12 file").decode(), "could not be opened"),
    ],
    ids=["garbage", "bad-padding", "not-pkcs12"],
)
def test_a_pfx_that_is_not_one_is_a_400(pfx: str, problem: str) -> None:
    error = refused(certificate_json(pfx))

    assert error.message.startswith(
        "The PFX in 'properties.action.request.authentication.pfx' cannot be used for "
        "'ClientCertificate' authentication: "
    )
    assert problem in error.message


def test_a_pfx_without_a_private_key_is_a_400(client: Issued) -> None:
    data = pkcs12.serialize_key_and_certificates(
        b"cert-only",
        None,
        client.certificate,
        None,
        serialization.BestAvailableEncryption(PFX_PASSWORD.encode()),
    )

    error = refused(certificate_json(base64.b64encode(data).decode()))

    assert "no private key" in error.message


def test_a_pfx_whose_key_has_no_certificate_is_a_400(client: Issued) -> None:
    stranger = issue("stranger")
    data = pkcs12.serialize_key_and_certificates(
        b"mixed",
        stranger.key,
        None,
        [client.certificate],
        serialization.BestAvailableEncryption(PFX_PASSWORD.encode()),
    )

    error = refused(certificate_json(base64.b64encode(data).decode()))

    assert "no certificate for its private key" in error.message


def test_a_pfx_without_a_password_and_with_line_breaks_is_accepted(client: Issued) -> None:
    pfx = client.pfx(None)
    wrapped = "\r\n".join(pfx[i : i + 64] for i in range(0, len(pfx), 64))

    auth = read(certificate_json(wrapped, None))

    assert auth.password is None
    assert auth.subject_name == "CN=scheduler-client,O=Contoso"


def test_the_chain_does_not_change_which_certificate_is_described() -> None:
    ca = issue("Contoso Root", ca=True)
    leaf = issue("leaf-client", issuer=ca)

    auth = read(certificate_json(leaf.pfx(chain=(ca,))))

    assert auth.subject_name == "CN=leaf-client,O=Contoso"
    opened = open_pfx(leaf.pfx(chain=(ca,)), PFX_PASSWORD)
    assert [c.subject for c in opened.chain] == [ca.certificate.subject]


def test_facts_are_cached_but_a_wrong_password_is_still_refused(client: Issued) -> None:
    pfx = client.pfx()

    first = certificate_facts(pfx, PFX_PASSWORD)
    second = certificate_facts(pfx, PFX_PASSWORD)

    assert first is second
    with pytest.raises(PfxError):
        certificate_facts(pfx, "wrong-password")


def test_stored_definitions_seal_the_pfx_and_recompute_the_facts(client: Issued) -> None:
    pfx = client.pfx()
    body = {"properties": {"action": http_action(certificate_json(pfx))}}
    definition = job_definition_from_json(body)
    store = StoredDefinitions(FernetSecretBox(Fernet.generate_key()))

    stored = store.dump(definition)
    loaded = store.load(stored)

    assert pfx not in stored
    assert PFX_PASSWORD not in stored
    assert loaded == definition
    assert definition_to_json(loaded) == definition_to_json(definition)
