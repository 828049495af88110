"""The outbound address policy (issue 11): which addresses a job may reach, as a table."""

from __future__ import annotations

import socket
from ipaddress import IPv4Address, IPv6Address, ip_address, ip_network

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from jobclock.domain.errors import InvalidDefinition
from jobclock.domain.outbound import (
    OutboundPolicy,
    check_uri,
    literal_address,
    parse_networks,
    refusal,
)

DEFAULT = OutboundPolicy()
SERVER = OutboundPolicy(own_port=8080, own_addresses=frozenset({ip_address("127.0.0.1")}))
PRIVATE_DENIED = OutboundPolicy(deny=parse_networks("127.0.0.0/8, 10.0.0.0/8"))
METADATA_ALLOWED = OutboundPolicy(allow=parse_networks("169.254.169.254/32"))
SERVER_ALLOWED = OutboundPolicy(
    own_port=8080, own_addresses=frozenset(), allow=parse_networks("127.0.0.1/32")
)


@pytest.mark.parametrize(
    ("policy", "address", "port", "why"),
    [
        pytest.param(DEFAULT, "169.254.169.254", 80, "link-local (cloud metadata)", id="metadata"),
        pytest.param(DEFAULT, "169.254.1.2", 80, "is link-local", id="link-local-v4"),
        pytest.param(DEFAULT, "fe80::1", 80, "is link-local", id="link-local-v6"),
        pytest.param(DEFAULT, "fd00:ec2::254", 80, "cloud metadata", id="aws-v6-metadata"),
        pytest.param(DEFAULT, "100.100.100.200", 80, "cloud metadata", id="alibaba-metadata"),
        pytest.param(DEFAULT, "0.0.0.0", 80, "unspecified", id="unspecified-v4"),  # noqa: S104
        pytest.param(DEFAULT, "::", 80, "unspecified", id="unspecified-v6"),
        pytest.param(DEFAULT, "::ffff:169.254.169.254", 80, "cloud metadata", id="mapped-v6"),
        pytest.param(DEFAULT, "127.0.0.1", 8080, None, id="loopback-allowed"),
        pytest.param(DEFAULT, "10.1.2.3", 80, None, id="private-allowed"),
        pytest.param(DEFAULT, "192.168.1.1", 80, None, id="private-192-allowed"),
        pytest.param(DEFAULT, "93.184.216.34", 443, None, id="public"),
        pytest.param(SERVER, "127.0.0.1", 8080, "this scheduler's own", id="self"),
        pytest.param(SERVER, "127.0.0.2", 8080, "this scheduler's own", id="self-other-loopback"),
        pytest.param(SERVER, "::1", 8080, "this scheduler's own", id="self-v6-loopback"),
        pytest.param(SERVER, "::ffff:127.0.0.1", 8080, "this scheduler's own", id="self-mapped"),
        pytest.param(SERVER, "127.0.0.1", 8081, None, id="loopback-other-port"),
        pytest.param(PRIVATE_DENIED, "127.0.0.1", 80, "JOBCLOCK_OUTBOUND_DENY", id="deny-lo"),
        pytest.param(PRIVATE_DENIED, "10.9.9.9", 80, "JOBCLOCK_OUTBOUND_DENY", id="deny-10"),
        pytest.param(PRIVATE_DENIED, "192.168.1.1", 80, None, id="deny-leaves-others"),
        pytest.param(METADATA_ALLOWED, "169.254.169.254", 80, None, id="allow-wins"),
        pytest.param(METADATA_ALLOWED, "169.254.1.1", 80, "link-local", id="allow-is-narrow"),
        pytest.param(SERVER_ALLOWED, "127.0.0.1", 8080, None, id="allow-wins-over-self"),
    ],
)
def test_refusal(policy: OutboundPolicy, address: str, port: int, why: str | None) -> None:
    reason = refusal(ip_address(address), port, policy)
    if why is None:
        assert reason is None
    else:
        assert reason is not None
        assert why in reason
        assert "outbound requests to it are refused" in reason
        assert "JOBCLOCK_OUTBOUND_ALLOW" in reason


@pytest.mark.parametrize(
    ("host", "expected"),
    [
        ("127.0.0.1", IPv4Address("127.0.0.1")),
        ("0", IPv4Address("0.0.0.0")),  # noqa: S104
        ("0x7f000001", IPv4Address("127.0.0.1")),
        ("0X7F000001", IPv4Address("127.0.0.1")),
        ("2130706433", IPv4Address("127.0.0.1")),
        ("017700000001", IPv4Address("127.0.0.1")),
        ("0177.0.0.1", IPv4Address("127.0.0.1")),
        ("127.1", IPv4Address("127.0.0.1")),
        ("127.0.1", IPv4Address("127.0.0.1")),
        ("0xa9.0xfe.0xa9.0xfe", IPv4Address("169.254.169.254")),
        ("2852039166", IPv4Address("169.254.169.254")),
        ("[::ffff:127.0.0.1]", IPv6Address("::ffff:127.0.0.1")),
        ("[::ffff:169.254.169.254]", IPv6Address("::ffff:169.254.169.254")),
        ("::1", IPv6Address("::1")),
        ("localhost", IPv4Address("127.0.0.1")),
        ("LocalHost", IPv4Address("127.0.0.1")),
        ("api.localhost", IPv4Address("127.0.0.1")),
        ("example.com", None),
        ("256.0.0.1", None),
        ("08.0.0.1", None),
        ("4294967296", None),
        ("1.2.3.4.5", None),
        ("1.2.3.256", None),
        ("", None),
    ],
)
def test_literal_address(host: str, expected: IPv4Address | IPv6Address | None) -> None:
    assert literal_address(host) == expected


@pytest.mark.parametrize(
    ("uri", "policy", "refused"),
    [
        ("http://169.254.169.254/latest/meta-data/", DEFAULT, "169.254.169.254"),
        ("http://[::ffff:169.254.169.254]/", DEFAULT, "169.254.169.254"),
        ("http://0/", DEFAULT, "0.0.0.0"),  # noqa: S104
        ("http://0x7f000001:8080/", SERVER, "127.0.0.1"),
        ("http://2130706433:8080/", SERVER, "127.0.0.1"),
        ("http://017700000001:8080/", SERVER, "127.0.0.1"),
        ("http://localhost:8080/", SERVER, "127.0.0.1"),
        ("https://[::1]:8080/", SERVER, "::1"),
        ("http://127.0.0.1:8081/", SERVER, None),
        ("http://example.com:8080/", SERVER, None),  # names are checked at connect time
        ("http://127.0.0.1/", OutboundPolicy(own_port=80), "127.0.0.1"),
        ("https://127.0.0.1/", OutboundPolicy(own_port=443), "127.0.0.1"),
    ],
)
def test_check_uri(uri: str, policy: OutboundPolicy, refused: str | None) -> None:
    if refused is None:
        check_uri(uri, policy, "properties.action.request.uri")
        return
    with pytest.raises(InvalidDefinition) as caught:
        check_uri(uri, policy, "properties.action.request.uri")
    assert f"the address {refused} " in caught.value.message
    assert caught.value.field == "properties.action.request.uri"


def test_parse_networks() -> None:
    assert parse_networks("") == ()
    assert parse_networks(" 10.0.0.0/8 , fd00::/8,") == (
        ip_network("10.0.0.0/8"),
        ip_network("fd00::/8"),
    )
    assert parse_networks("10.1.2.3") == (ip_network("10.1.2.3/32"),)
    with pytest.raises(ValueError, match="JOBCLOCK_OUTBOUND_DENY"):
        parse_networks("10.0.0.1/8", "JOBCLOCK_OUTBOUND_DENY")
    with pytest.raises(ValueError, match="JOBCLOCK_OUTBOUND_ALLOW"):
        parse_networks("nonsense", "JOBCLOCK_OUTBOUND_ALLOW")


@settings(max_examples=3000, deadline=None)
@given(st.text(alphabet="0123456789abcdefxX._+-\u0663", min_size=1, max_size=20))
def test_literal_address_reads_ipv4_as_the_c_library_does(host: str) -> None:
    # inet_aton is what getaddrinfo applies to a numeric host (glibc, musl, BSD alike).
    try:
        expected: IPv4Address | None = IPv4Address(socket.inet_aton(host))
    except OSError:
        expected = None
    assert literal_address(host) == expected
