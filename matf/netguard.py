"""Which network addresses a run may reach: the server-side request forgery guard.

In server mode MATF visits URLs that strangers submit, so a guarded run refuses
every host that resolves to a loopback, private, link-local (the cloud metadata
service at 169.254.169.254 included), multicast, reserved or otherwise
non-public address, unless ``MATF_ALLOWED_TARGETS`` names it. The CLI runs
unguarded: a developer testing their own localhost app is the first use.

Checking a URL's text is not enough: ``2130706433``, ``0177.0.0.1``, ``0x7f.1``
and ``127.1`` all mean 127.0.0.1 to the C resolver and to Chromium, names can
resolve to private addresses, and IPv6 can wrap an IPv4 address. So a host is
read the way the connection will read it (``inet_aton`` for IPv4 literals, the
resolver for names), every address is judged, and the caller connects to
exactly the addresses that were judged: a DNS answer that changes between the
check and the connection (rebinding) cannot slip through.
"""

from __future__ import annotations

import ipaddress
import re
import socket
import unicodedata
from collections.abc import Iterable
from dataclasses import dataclass
from functools import cached_property
from urllib.parse import unquote, urlsplit

from matf.errors import ConfigError, TargetForbidden, TargetUnreachable

IPAddress = ipaddress.IPv4Address | ipaddress.IPv6Address
IPNetwork = ipaddress.IPv4Network | ipaddress.IPv6Network

_HOST = re.compile(r"^(\*?\.)?([a-z0-9_]([a-z0-9_-]{0,61}[a-z0-9_])?\.)*[a-z0-9_-]{1,63}$")
_METADATA = ipaddress.IPv4Address("169.254.169.254")
_UNSPECIFIED_V4 = ipaddress.IPv4Network("0.0.0.0/8")
_SHARED_V4 = ipaddress.IPv4Network("100.64.0.0/10")  # carrier-grade NAT, RFC 6598
_RFC1918 = tuple(
    ipaddress.IPv4Network(n) for n in ("10.0.0.0/8", "172.16.0.0/12", "192.168.0.0/16")
)
_UNIQUE_LOCAL_V6 = ipaddress.IPv6Network("fc00::/7")
_NAT64 = ipaddress.IPv6Network("64:ff9b::/96")
_HINT = "allow it with MATF_ALLOWED_TARGETS"


@dataclass(frozen=True)
class NetworkPolicy:
    """Whether a run's connections are guarded, and what it may reach anyway.

    It travels in a run's options as ``matf.options.NetworkOptions``; a run
    without one is unguarded. ``allowed`` holds normalised entries: host
    names (``.example.com`` also covers its subdomains) and networks in CIDR
    form (a bare address is stored as a /32 or /128).
    """

    guarded: bool = False
    allowed: tuple[str, ...] = ()

    @classmethod
    def guard(cls, allowed: str | Iterable[str] = ()) -> NetworkPolicy:
        """A guarded policy; ``allowed`` as in ``MATF_ALLOWED_TARGETS`` (comma separated)."""
        return cls(guarded=True, allowed=cls.parse_allowed(allowed))

    @staticmethod
    def parse_allowed(items: str | Iterable[str]) -> tuple[str, ...]:
        """Normalise allow-list entries; raise ConfigError on one that is neither host nor CIDR."""
        raw = items.split(",") if isinstance(items, str) else list(items)
        entries: list[str] = []
        for item in raw:
            text = str(item).strip().lower()
            if not text:
                continue
            entry = _parse_entry(text)
            if entry is None:
                raise ConfigError(
                    f"invalid MATF_ALLOWED_TARGETS: {item!r} is neither a host name, "
                    "an IP address nor a CIDR network"
                )
            if entry not in entries:
                entries.append(entry)
        return tuple(entries)

    @cached_property
    def _networks(self) -> tuple[IPNetwork, ...]:
        return tuple(ipaddress.ip_network(e) for e in self.allowed if "/" in e)

    @cached_property
    def _hosts(self) -> tuple[str, ...]:
        return tuple(e for e in self.allowed if "/" not in e)

    def allows_host(self, host: str) -> bool:
        """True when the allow-list names this host (or a domain above it, for ``.x`` entries)."""
        name = clean_host(host)
        return any(
            name == entry or (entry.startswith(".") and (name.endswith(entry) or name == entry[1:]))
            for entry in self._hosts
        )

    def allows_address(self, ip: IPAddress) -> bool:
        """True when an allowed network holds the address (or the IPv4 address it wraps)."""
        candidates = [ip, *([inner] if (inner := embedded_ipv4(ip)) is not None else [])]
        return any(
            c in net for c in candidates for net in self._networks if c.version == net.version
        )


def _parse_entry(text: str) -> str | None:
    if "/" in text:
        try:
            return str(ipaddress.ip_network(text.strip("[]"), strict=False))
        except ValueError:
            return None
    literal = parse_literal(text)
    if literal is not None:
        return str(ipaddress.ip_network(literal.compressed.split("%")[0]))
    name = text.rstrip(".")
    if _HOST.match(name):
        return "." + name.split(".", 1)[1] if name.startswith("*.") else name
    return None


def clean_host(host: str) -> str:
    """The host as the resolver sees it: no brackets, no trailing dot, lower case.

    NFKC folds full-width digits and dots, as the URL standard's host parsing does.
    """
    return unicodedata.normalize("NFKC", host).strip().strip("[]").rstrip(".").lower()


def parse_literal(host: str) -> IPAddress | None:
    """The address an IP literal means, in any form the C library and Chromium accept.

    IPv4 goes through ``inet_aton``, so decimal (``2130706433``), octal
    (``0177.0.0.1``), hex (``0x7f.1``) and short (``127.1``) forms are read as
    the connection would read them; ``ipaddress`` alone rejects them.
    """
    name = clean_host(host)
    if ":" in name:
        try:
            return ipaddress.IPv6Address(name)
        except ValueError:
            return None
    if not name or not all(c.isascii() and (c.isalnum() or c == ".") for c in name):
        return None
    try:
        return ipaddress.IPv4Address(socket.inet_aton(name))
    except OSError:
        return None


def embedded_ipv4(ip: IPAddress) -> ipaddress.IPv4Address | None:
    """The IPv4 address an IPv6 address carries: IPv4-mapped, NAT64 or 6to4."""
    if isinstance(ip, ipaddress.IPv4Address):
        return None
    if ip.ipv4_mapped is not None:
        return ip.ipv4_mapped
    if ip in _NAT64:
        return ipaddress.IPv4Address(int(ip) & 0xFFFFFFFF)
    return ip.sixtofour


def forbidden_reason(ip: IPAddress) -> str | None:
    """Why a guarded run may not reach this address ("a loopback address"), or None."""
    inner = embedded_ipv4(ip)
    if inner is not None:
        return forbidden_reason(inner)
    if ip.is_unspecified or (isinstance(ip, ipaddress.IPv4Address) and ip in _UNSPECIFIED_V4):
        return "an unspecified address"
    if ip.is_loopback:
        return "a loopback address"
    if ip == _METADATA:
        return "the cloud metadata address"
    if ip.is_link_local:
        return "a link-local address"
    if ip.is_multicast:
        return "a multicast address"
    if isinstance(ip, ipaddress.IPv4Address) and ip in _SHARED_V4:
        return "a shared (carrier-grade NAT) address"
    if any(ip in net for net in _RFC1918) or ip in _UNIQUE_LOCAL_V6:
        return "a private address"
    if isinstance(ip, ipaddress.IPv6Address) and ip.is_site_local:
        return "a site-local address"
    if ip.is_reserved:
        return "a reserved address"
    if ip.is_private or not ip.is_global:
        return "a non-public address"
    return None


def check_address(ip: IPAddress, policy: NetworkPolicy, host: str | None = None) -> None:
    """Raise TargetForbidden when a guarded run may not reach ``ip`` (``host`` names it)."""
    if not policy.guarded:
        return
    reason = forbidden_reason(ip)
    if reason is None or policy.allows_address(ip):
        return
    shown = str(ip)
    if host is None or clean_host(host) == shown:
        raise TargetForbidden(f"refused: {shown} is {reason} ({_HINT})")
    verb = "means" if parse_literal(host) is not None else "resolves to"
    raise TargetForbidden(f"refused: {host} {verb} {shown}, {reason} ({_HINT})")


def resolve(host: str, port: int) -> list[IPAddress]:
    """Every address ``host`` means, literals read as ``inet_aton`` reads them."""
    literal = parse_literal(host)
    if literal is not None:
        return [literal]
    try:
        infos = socket.getaddrinfo(clean_host(host), port, type=socket.SOCK_STREAM)
    except (socket.gaierror, UnicodeError) as exc:
        raise TargetUnreachable(f"target unreachable: {host} (host name not found)") from exc
    found: list[IPAddress] = []
    for info in infos:
        ip = ipaddress.ip_address(str(info[4][0]).split("%")[0])
        if ip not in found:
            found.append(ip)
    return found


def check_host(host: str, port: int, policy: NetworkPolicy) -> list[str]:
    """Resolve ``host`` once and vet every address; return them for the connection.

    One forbidden address refuses the host, since the connection could use any
    of them. A host named in the allow-list passes whatever it resolves to.
    """
    addresses = resolve(host, port)
    if policy.guarded and not policy.allows_host(host):
        for ip in addresses:
            check_address(ip, policy, host)
    return [str(ip) for ip in addresses]


def check_url(url: str, policy: NetworkPolicy) -> None:
    """Refuse a submitted URL whose host a guarded run may not reach."""
    parts = urlsplit(url.strip())
    try:
        port = parts.port or (443 if parts.scheme == "https" else 80)
    except ValueError as exc:
        raise TargetForbidden(f"refused: invalid port in {url!r}") from exc
    if not parts.hostname:
        raise TargetForbidden(f"refused: no host in {url!r}")
    check_host(unquote(parts.hostname), port, policy)


def open_connection(
    host: str, port: int, policy: NetworkPolicy, timeout: float | None = None
) -> socket.socket:
    """A TCP connection to ``host`` made only to addresses ``check_host`` vetted."""
    last: OSError | None = None
    for ip in check_host(host, port, policy):
        try:
            return socket.create_connection((ip, port), timeout=timeout)
        except OSError as exc:
            last = exc
    raise last or OSError(f"no address for {host}")
