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
import ssl
import time
import unicodedata
from collections.abc import Iterable
from dataclasses import dataclass
from functools import cached_property
from urllib.parse import quote, unquote, urljoin, urlsplit

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
REDIRECT_HOPS = 10  # Chromium follows 20; past these the run's own guard still checks each one
REDIRECT_BUDGET_S = 2.0  # for the whole walk: a slow target is accepted as it was before
_REDIRECTS = frozenset({301, 302, 303, 307, 308})
_MAX_HEAD = 65_536
_SAFE = "".join(chr(c) for c in range(0x21, 0x7F))  # what a request line may hold unquoted


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


def refusal(ip: IPAddress, policy: NetworkPolicy, host: str | None = None) -> str | None:
    """Why a guarded run may not reach ``ip`` (``host`` names it), in words; None if it may."""
    if not policy.guarded:
        return None
    reason = forbidden_reason(ip)
    if reason is None or policy.allows_address(ip):
        return None
    shown = str(ip)
    if host is None or clean_host(host) == shown:
        return f"{shown} is {reason}"
    verb = "means" if parse_literal(host) is not None else "resolves to"
    return f"{host} {verb} {shown}, {reason}"


def check_address(ip: IPAddress, policy: NetworkPolicy, host: str | None = None) -> None:
    """Raise TargetForbidden when a guarded run may not reach ``ip`` (``host`` names it)."""
    why = refusal(ip, policy, host)
    if why is not None:
        raise TargetForbidden(f"refused: {why} ({_HINT})")


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


def check_url(url: str, policy: NetworkPolicy) -> list[str]:
    """Refuse a submitted URL whose host a guarded run may not reach; its vetted addresses."""
    host, port = _host_port(url)
    return check_host(host, port, policy)


def _host_port(url: str) -> tuple[str, int]:
    parts = urlsplit(url.strip())
    try:
        port = parts.port or (443 if parts.scheme == "https" else 80)
    except ValueError as exc:
        raise TargetForbidden(f"refused: invalid port in {url!r}") from exc
    if not parts.hostname:
        raise TargetForbidden(f"refused: no host in {url!r}")
    return unquote(parts.hostname), port


def check_redirects(
    url: str,
    policy: NetworkPolicy,
    hops: int = REDIRECT_HOPS,
    budget_s: float = REDIRECT_BUDGET_S,
) -> None:
    """Follow a submitted target's redirects, each hop checked as the target was.

    Each hop is fetched (GET, headers only) from the addresses just vetted and
    never followed automatically; a ``Location`` into a refused range raises
    TargetForbidden naming the hop. A guarded run checks every connection
    again anyway, so this walk only answers early: a hop that cannot be
    reached, does not answer within ``budget_s`` in all, or lies past ``hops``
    ends the walk and the target is accepted as before.
    """
    if not policy.guarded:
        return
    deadline = time.monotonic() + budget_s
    addresses = check_url(url, policy)
    for hop in range(1, hops + 1):
        left = deadline - time.monotonic()
        if left <= 0:
            return
        try:
            location = _redirect_of(url, addresses, left)
        except (OSError, ValueError, UnicodeError):
            return  # unreachable, TLS failed, not HTTP: the run will say so
        if location is None:
            return
        url = urljoin(url, location.strip())
        if urlsplit(url).scheme not in ("http", "https"):
            return  # the browser leaves the network here, or refuses
        addresses = _check_hop(url, hop, policy)
        if not addresses:
            return


def _check_hop(url: str, hop: int, policy: NetworkPolicy) -> list[str]:
    """The vetted addresses of a redirect's ``url``; TargetForbidden naming the hop."""
    try:
        host, port = _host_port(url)
        addresses = resolve(host, port)
    except (TargetForbidden, TargetUnreachable):
        return []  # no host, a bad port or no such name: the browser stops there too
    if not policy.allows_host(host):
        for ip in addresses:
            why = refusal(ip, policy, host)
            if why is not None:
                shown = url if url.isprintable() else ascii(url)
                shown = shown if len(shown) <= 200 else shown[:200] + "..."
                raise TargetForbidden(
                    f"target redirects to {shown} (hop {hop}): {why}: refused ({_HINT})"
                )
    return [str(ip) for ip in addresses]


def _redirect_of(url: str, addresses: list[str], timeout: float) -> str | None:
    """The ``Location`` a GET of ``url`` answers with, asked of ``addresses`` only.

    Written by hand rather than with ``http.client``, whose timeout is per read:
    a server that drips its headers byte by byte must not hold the submission
    past ``timeout`` in all.
    """
    deadline = time.monotonic() + timeout
    parts = urlsplit(url)
    host, port = _host_port(url)
    sock = _connect(addresses, port, timeout)
    try:
        if parts.scheme == "https":
            # Only where it points matters here, not who says so: the run checks certificates.
            context = ssl.create_default_context()
            context.check_hostname = False
            context.verify_mode = ssl.CERT_NONE
            name = None if parse_literal(host) is not None else clean_host(host)
            sock = context.wrap_socket(sock, server_hostname=name)
        target = quote((parts.path or "/") + (f"?{parts.query}" if parts.query else ""), _SAFE)
        netloc = parts.netloc.rpartition("@")[2].encode("idna").decode("ascii")
        sock.sendall(
            f"GET {target} HTTP/1.1\r\nHost: {netloc}\r\n"
            "User-Agent: MATF/0.1 (+redirect check)\r\nAccept: */*\r\n"
            "Connection: close\r\n\r\n".encode("ascii")
        )
        head = _read_head(sock, deadline)
    finally:
        sock.close()
    lines = head.decode("latin-1").split("\r\n")
    status = lines[0].split(" ", 2)
    if len(status) < 2 or not status[0].startswith("HTTP/") or int(status[1]) not in _REDIRECTS:
        return None
    for line in lines[1:]:
        name, _, value = line.partition(":")
        if name.strip().lower() == "location":
            return value.strip()
    return None


def _read_head(sock: socket.socket, deadline: float) -> bytes:
    """A response's status line and headers, read until ``deadline`` at the latest."""
    data = b""
    while b"\r\n\r\n" not in data:
        left = deadline - time.monotonic()
        if left <= 0 or len(data) > _MAX_HEAD:
            raise TimeoutError("no complete answer in time")
        sock.settimeout(left)
        chunk = sock.recv(4096)
        if not chunk:
            break
        data += chunk
    return data.partition(b"\r\n\r\n")[0]


def _connect(addresses: list[str], port: int, timeout: float) -> socket.socket:
    last: OSError | None = None
    for ip in addresses:
        try:
            return socket.create_connection((ip, port), timeout=timeout)
        except OSError as exc:
            last = exc
    raise last or OSError("no address")


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
