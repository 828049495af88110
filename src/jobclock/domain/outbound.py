"""Which addresses a job's HTTP action may reach (issue 11, server-side request forgery).

A job could otherwise read a cloud's metadata service (credentials) or call this
scheduler's own API with a token and keep the answer in its history. Refused by default:
link-local addresses (the metadata services live there), the known metadata addresses of
other clouds, the unspecified address (it reaches this host), and this server's own port on
loopback or on its listening address. Loopback and private ranges stay allowed: a
self-hosted scheduler's targets live there. ``JOBCLOCK_OUTBOUND_DENY`` adds ranges,
``JOBCLOCK_OUTBOUND_ALLOW`` carves exceptions and wins over every other rule.

Pure: the caller resolves names (at connect time) and passes each address found.
"""

from __future__ import annotations

from dataclasses import dataclass
from ipaddress import IPv4Address, IPv4Network, IPv6Address, IPv6Network, ip_address, ip_network
from urllib.parse import urlsplit

from jobclock.domain.actions import HttpRequest
from jobclock.domain.errors import InvalidDefinition
from jobclock.domain.job import JobDefinition

Address = IPv4Address | IPv6Address
Network = IPv4Network | IPv6Network

DENY_VARIABLE = "JOBCLOCK_OUTBOUND_DENY"
ALLOW_VARIABLE = "JOBCLOCK_OUTBOUND_ALLOW"
_METADATA = frozenset(
    {IPv4Address("169.254.169.254"), IPv6Address("fd00:ec2::254"), IPv4Address("100.100.100.200")}
)
_DEFAULT_PORTS = {"http": 80, "https": 443}
_NUMERIC = frozenset("0123456789abcdefx")


@dataclass(frozen=True, slots=True)
class OutboundPolicy:
    """``deny``/``allow``: the variables' ranges. ``own_port``: the port this server listens
    on (None: unknown); with it, loopback, unspecified and ``own_addresses`` are its own."""

    deny: tuple[Network, ...] = ()
    allow: tuple[Network, ...] = ()
    own_port: int | None = None
    own_addresses: frozenset[Address] = frozenset()


def refusal(address: Address, port: int, policy: OutboundPolicy) -> str | None:
    """Why a connection to ``address:port`` is refused, as a sentence; None if allowed."""
    address = _unmapped(address)
    if any(address in network for network in policy.allow):
        return None
    why = _why(address, port, policy)
    if why is None:
        return None
    return (
        f"the address {address} {why}; outbound requests to it are refused "
        f"({ALLOW_VARIABLE} changes this)"
    )


def _why(address: Address, port: int, policy: OutboundPolicy) -> str | None:
    if policy.own_port is not None and port == policy.own_port:
        own = {_unmapped(a) for a in policy.own_addresses}
        if address.is_loopback or address.is_unspecified or address in own:
            return f"port {port} is this scheduler's own API"
    if address in _METADATA:
        return "is link-local (cloud metadata)" if address.is_link_local else "is cloud metadata"
    if address.is_link_local:
        return "is link-local"
    if address.is_unspecified or address in IPv4Network("0.0.0.0/8"):
        return "is unspecified (it reaches this host)"
    for network in policy.deny:
        if address in network:
            return f"is in {DENY_VARIABLE} ({network})"
    return None


def _unmapped(address: Address) -> Address:
    if isinstance(address, IPv6Address) and address.ipv4_mapped is not None:
        return address.ipv4_mapped
    return address


def parse_networks(text: str, variable: str = DENY_VARIABLE) -> tuple[Network, ...]:
    """A comma-separated CIDR list; a bare address is a /32 (or /128). ValueError names
    ``variable``."""
    networks: list[Network] = []
    for part in text.split(","):
        if not part.strip():
            continue
        try:
            networks.append(ip_network(part.strip()))
        except ValueError as error:
            raise ValueError(
                f"{variable}: {part.strip()!r} is not a CIDR range ({error})"
            ) from None
    return tuple(networks)


def literal_address(host: str) -> Address | None:
    """The address a host names without DNS, as the resolver reads it (IPv6 in brackets,
    inet_aton's legacy IPv4 forms ``0``, ``0x7f000001``, ``2130706433``, ``0177.1``),
    ``localhost`` included (RFC 6761); None for a name."""
    host = host.strip("[]")
    lowered = host.lower()
    if lowered == "localhost" or lowered.endswith(".localhost"):
        return IPv4Address("127.0.0.1")
    try:
        return ip_address(host)
    except ValueError:
        return _inet_aton(lowered)


def _inet_aton(host: str) -> IPv4Address | None:
    parts = host.split(".")
    if not 1 <= len(parts) <= 4:
        return None
    values: list[int] = []
    for part in parts:
        value = _number(part)
        if value is None:
            return None
        values.append(value)
    # a.b.c.d; a.b.c (c is 16 bits); a.b (b is 24 bits); a (32 bits)
    last_bits = 8 * (5 - len(values))
    *leading, last = values
    if any(value > 0xFF for value in leading) or last >= 1 << last_bits:
        return None
    number = last
    for index, value in enumerate(leading):
        number |= value << (24 - 8 * index)
    return IPv4Address(number)


def _number(part: str) -> int | None:
    if not part or not set(part) <= _NUMERIC:
        return None  # int() would also take "_", "+", " " and other scripts' digits
    try:
        if part.startswith("0x"):
            return int(part[2:], 16) if part[2:] else None
        if len(part) > 1 and part.startswith("0"):
            return int(part[1:], 8)
        return int(part, 10) if part.isdigit() else None
    except ValueError:
        return None


def check_uri(uri: str, policy: OutboundPolicy, field: str) -> None:
    """Refuse (``InvalidDefinition``) a URI whose host is a literal address the policy
    refuses; a name is left to the connect-time check after DNS."""
    try:
        parts = urlsplit(uri)
        host, port = parts.hostname, parts.port
    except ValueError:
        return  # the URI checks report it
    if host is None:
        return
    address = literal_address(host)
    if address is None:
        return
    if port is None:
        port = _DEFAULT_PORTS.get(parts.scheme.lower(), 80)
    reason = refusal(address, port, policy)
    if reason is not None:
        raise InvalidDefinition(f"'{field}' is refused: {reason}.", field=field)


def check_definition(definition: JobDefinition, policy: OutboundPolicy) -> None:
    """:func:`check_uri` on the job's action and its error action."""
    action = definition.action
    if isinstance(action.payload, HttpRequest):
        check_uri(action.payload.uri, policy, "properties.action.request.uri")
    error_action = action.error_action
    if error_action is not None and isinstance(error_action.payload, HttpRequest):
        check_uri(error_action.payload.uri, policy, "properties.action.errorAction.request.uri")
