"""Fetching source documents (specs and the files they reference) under a :class:`FetchPolicy`.

Two things live here: :func:`check_url`, the SSRF guard any plugin calls before it touches a
URL a document (or a user) named, and :func:`fetch_document`, which reads a URL or a local
file with a size cap and a timeout and turns every failure into one :class:`FetchError`.

The guard resolves the host and refuses cloud metadata endpoints always, and link-local,
private, unspecified, multicast and reserved addresses unless ``policy.allow_private``.
Loopback is allowed: people run their own APIs on ``localhost``. Redirects are followed by
hand so that every hop passes the guard again.
"""

from __future__ import annotations

import contextlib
import functools
import ipaddress
import select
import socket
import ssl
import time
from collections.abc import Iterable, Iterator
from pathlib import Path
from typing import Any
from urllib.parse import SplitResult, unquote, urljoin, urlsplit

import anyio
import anyio.abc
import httpcore2
import httpx2
from httpcore2._backends.anyio import AnyIOStream

from executor.errors import FetchError
from executor.sources.base import FetchPolicy, Progress

IPAddress = ipaddress.IPv4Address | ipaddress.IPv6Address

#: Seconds a tool call may spend connecting to its API, whatever its own time limit.
CONNECT_TIMEOUT = 10.0

#: Host names that serve cloud instance metadata (and with it, credentials).
METADATA_HOSTS: frozenset[str] = frozenset(
    {
        "metadata.google.internal",
        "metadata.goog",
        "metadata",
        "instance-data",
        "instance-data.ec2.internal",
        "metadata.azure.com",
    }
)
#: Addresses of cloud metadata services: AWS/GCP/Azure/OpenStack, AWS IPv6, Alibaba, Oracle.
METADATA_ADDRESSES: frozenset[IPAddress] = frozenset(
    ipaddress.ip_address(text)
    for text in ("169.254.169.254", "fd00:ec2::254", "100.100.100.200", "192.0.0.192")
)
_LINK_LOCAL = (ipaddress.ip_network("169.254.0.0/16"), ipaddress.ip_network("fe80::/10"))
_SHARED = ipaddress.ip_network("100.64.0.0/10")
_MAX_REDIRECTS = 5


def address_refusal(address: IPAddress, *, allow_private: bool = False) -> str | None:
    """Why a connection to ``address`` is refused, or None when it is allowed.

    Metadata addresses are always refused; link-local, private, shared (CGNAT), unspecified,
    multicast and reserved ones unless ``allow_private``. Loopback is always allowed.
    """
    if isinstance(address, ipaddress.IPv6Address) and address.ipv4_mapped is not None:
        address = address.ipv4_mapped
    if address in METADATA_ADDRESSES:
        return "a cloud metadata address"
    if address.is_loopback:
        return None
    if allow_private:
        return None
    if any(address in network for network in _LINK_LOCAL):
        return "a link-local address"
    if address.is_unspecified:
        return "an unspecified address"
    if address.is_multicast:
        return "a multicast address"
    if address.is_private or address in _SHARED:
        return "a private address"
    if address.is_reserved:
        return "a reserved address"
    return None


async def check_url(url: str, *, policy: FetchPolicy) -> None:
    """Raise :class:`FetchError` unless ``url`` is an http(s) URL the policy lets us connect to.

    The host is resolved here and every address it resolves to must pass
    :func:`address_refusal`; this runs before any connection is opened.
    """
    parts = _split(url)
    if parts.scheme not in ("http", "https"):
        raise FetchError(
            f"Refused to fetch {_redact(url)}: only http and https URLs can be fetched.",
            hint="Give an http(s) URL or a local file path.",
        )
    host = (parts.hostname or "").rstrip(".").lower()
    if not host:
        raise FetchError(f"Refused to fetch {_redact(url)}: the URL has no host.")
    if host in METADATA_HOSTS:
        raise FetchError(
            f"Refused to fetch {_redact(url)}: {host} is a cloud metadata host.",
            hint="Documents may not point at instance metadata services.",
        )
    for address in await _resolve(host, parts.port or (443 if parts.scheme == "https" else 80)):
        reason = address_refusal(address, allow_private=policy.allow_private)
        if reason is not None:
            raise FetchError(
                f"Refused to fetch {_redact(url)}: {host} resolves to {reason} ({address}).",
                hint="Allow private addresses in the fetch policy if this host is trusted.",
                details={"host": host, "address": str(address)},
            )


async def _resolve(host: str, port: int) -> list[IPAddress]:
    try:
        return [ipaddress.ip_address(host.strip("[]"))]
    except ValueError:
        pass
    try:
        infos = await anyio.getaddrinfo(host, port, type=socket.SOCK_STREAM)
    except (OSError, UnicodeError) as exc:
        raise FetchError(
            f"Cannot resolve host {host!r}.", hint="Check the URL and your network connection."
        ) from exc
    # Strip any IPv6 zone id ("fe80::1%eth0") before parsing.
    return [ipaddress.ip_address(str(info[4][0]).split("%", 1)[0]) for info in infos]


class GuardedNetworkBackend(httpcore2.AnyIOBackend):
    """A network backend that dials only addresses :func:`address_refusal` allows.

    It resolves the host itself and connects to the address it checked, so a DNS answer that
    changes between a check and the connection (DNS rebinding) cannot reach a refused address.
    TLS still verifies the original host name: httpcore passes it as SNI after connecting.
    """

    def __init__(self, *, allow_private: bool) -> None:
        self.allow_private = allow_private
        self.probe = IdleProbe()

    async def connect_tcp(
        self,
        host: str,
        port: int,
        timeout: float | None = None,
        local_address: str | None = None,
        socket_options: Iterable[httpcore2.SOCKET_OPTION] | None = None,
    ) -> httpcore2.AsyncNetworkStream:
        name = host.rstrip(".").lower()
        if name in METADATA_HOSTS:
            raise httpcore2.ConnectError(f"refused: {name} is a cloud metadata host")
        try:
            addresses = await _resolve(name, port)
        except FetchError as exc:
            raise httpcore2.ConnectError(exc.message) from None
        for address in addresses:
            reason = address_refusal(address, allow_private=self.allow_private)
            if reason is not None:
                raise httpcore2.ConnectError(f"refused: {name} resolves to {reason} ({address})")
        stream = await super().connect_tcp(
            str(addresses[0]), port, timeout, local_address, socket_options
        )
        assert isinstance(stream, AnyIOStream)
        return PooledStream(stream._stream, self.probe)


class IdleProbe:
    """Answers the connection pool's "is this idle socket readable?" for a whole pool at once.

    The pool asks that of every idle connection whenever a request starts or ends (readable
    while idle means the server hung up: the pool then drops the connection instead of sending
    on it). httpcore answers each question with a new ``poll`` object and a ``poll(2)`` call;
    with 20 clients calling one API that was ~13 system calls per request and 5-8 % of the
    server's CPU. Here every socket of the pool stays registered on one ``poll`` object, and
    one ``poll(0)`` answers all the questions asked within ``window`` seconds: the pool asks
    them one after the other in a single pass that never yields to the event loop, so an answer
    is at most ``window`` old — far less than the time a request takes to reach the server,
    which any answer is already that old by.
    """

    def __init__(self, window: float = 200e-6) -> None:
        self.window = window
        self._poll = select.poll()
        self._owners: dict[int, PooledStream] = {}
        self._readable: set[int] = set()
        self._asked_at = -1.0

    def register(self, fd: int, stream: PooledStream) -> None:
        """Watch ``fd`` for ``stream`` (a TLS stream takes over its socket's registration)."""
        self._poll.register(fd, select.POLLIN)
        self._owners[fd] = stream

    def unregister(self, fd: int, stream: PooledStream) -> None:
        """Stop watching ``fd``, unless another stream has taken the number over since."""
        if self._owners.get(fd) is stream:
            del self._owners[fd]
            self._poll.unregister(fd)

    def readable(self, fd: int) -> bool:
        """Whether ``fd`` has data or a hang-up waiting: "no" as of at most ``window`` ago,
        "yes" as of now."""
        now = time.perf_counter()
        if now - self._asked_at > self.window:
            # POLLHUP, POLLERR and POLLNVAL come back too: a dead socket counts as readable.
            self._readable = {ready for ready, _ in self._poll.poll(0)}
            self._asked_at = now
        if fd not in self._readable:
            return False
        # Readable then, maybe only because it was in use with its answer waiting, read since:
        # a "yes" makes the pool drop the connection, so it is asked of this socket anew.
        single = select.poll()
        single.register(fd, select.POLLIN)
        return bool(single.poll(0))


class PooledStream(AnyIOStream):
    """httpcore's anyio stream, whose idle-readability answer comes from the pool's
    :class:`IdleProbe` instead of a ``poll`` of its own."""

    def __init__(self, stream: anyio.abc.ByteStream, probe: IdleProbe) -> None:
        super().__init__(stream)
        # A TLS stream forwards the attributes of the socket stream under it.
        self._socket: socket.socket = stream.extra(anyio.abc.SocketAttribute.raw_socket)
        self._fd = self._socket.fileno()
        self._probe = probe
        probe.register(self._fd, self)

    async def read(self, max_bytes: int, timeout: float | None = None) -> bytes:
        if timeout is not None:
            return await super().read(max_bytes, timeout)
        # No deadline of its own (the caller holds one for the whole call): no cancel scope
        # per read, which was a few % of a call's CPU.
        try:
            return await self._stream.receive(max_bytes=max_bytes)
        except anyio.EndOfStream:
            return b""
        except (anyio.BrokenResourceError, anyio.ClosedResourceError) as exc:
            raise httpcore2.ReadError(exc) from exc

    async def write(self, buffer: bytes, timeout: float | None = None) -> None:
        if timeout is not None or not buffer:
            return await super().write(buffer, timeout)
        try:
            await self._stream.send(item=buffer)
        except (anyio.BrokenResourceError, anyio.ClosedResourceError, anyio.EndOfStream) as exc:
            raise httpcore2.WriteError(exc) from exc

    def get_extra_info(self, info: str) -> Any:
        if info == "is_readable":
            # A closed socket counts as readable, as in httpcore: the pool then drops it.
            return self._socket.fileno() == -1 or self._probe.readable(self._fd)
        return super().get_extra_info(info)

    async def aclose(self) -> None:
        self._probe.unregister(self._fd, self)
        await super().aclose()

    async def start_tls(
        self,
        ssl_context: ssl.SSLContext,
        server_hostname: str | None = None,
        timeout: float | None = None,
    ) -> httpcore2.AsyncNetworkStream:
        stream = await super().start_tls(ssl_context, server_hostname, timeout)
        assert isinstance(stream, AnyIOStream)
        return PooledStream(stream._stream, self._probe)


@functools.cache
def _ssl_context() -> ssl.SSLContext:
    # Loading the CA bundle takes ~30 ms: do it once per process, not once per connection.
    return httpx2.create_ssl_context(trust_env=False)


def warm_up_tls() -> None:
    """Build the process's TLS context ahead of the first connection (call it in a thread)."""
    _ssl_context()


def guarded_client(*, allow_private: bool, **options: Any) -> httpx2.AsyncClient:
    """An ``httpx2.AsyncClient`` whose connections go through :class:`GuardedNetworkBackend`.

    ``options`` are passed to the client (``timeout``, ``limits``, ``follow_redirects``…);
    environment proxies are ignored, since a proxy would dial on our behalf unchecked.
    """
    limits = options.pop("limits", httpx2.Limits(max_connections=100, max_keepalive_connections=20))
    transport = httpx2.AsyncHTTPTransport(verify=_ssl_context(), trust_env=False, limits=limits)
    # httpx2 (pinned) builds its connection pool itself and has no backend option; the pool
    # reads this attribute for every new connection. tests/sources/test_guard.py proves it.
    transport._pool._network_backend = GuardedNetworkBackend(allow_private=allow_private)
    return httpx2.AsyncClient(transport=transport, trust_env=False, **options)


def _split(location: str) -> SplitResult:
    """``urlsplit`` with its ValueError (``http://[::1``) turned into a one-line FetchError."""
    try:
        return urlsplit(location)
    except ValueError as exc:
        raise FetchError(
            f"{location[:200]!r} is not a valid URL: {exc}.",
            hint="Check the URL, or give a file path or the document's text.",
        ) from None


def is_url(location: str) -> bool:
    """Whether ``location`` names a document by URL (http, https or file) rather than a path."""
    return urlsplit(location).scheme.lower() in ("http", "https", "file")


def resolve_location(location: str, base: str | None) -> str:
    """``location`` made absolute against ``base`` (a URL or a local path), without I/O."""
    if base is None or is_url(location):
        return location
    if urlsplit(base).scheme.lower() in ("http", "https", "file"):
        return urljoin(base, location)
    if Path(location).is_absolute():
        return location
    return str(Path(base).parent / location)


async def fetch_document(
    location: str,
    *,
    policy: FetchPolicy,
    base: str | None = None,
    client: httpx2.AsyncClient | None = None,
    progress: Progress | None = None,
) -> tuple[bytes, str]:
    """Read the document at ``location`` (resolved against ``base``) and return its bytes and
    its absolute location.

    ``progress`` is told ``("download", bytes received, Content-Length or None)`` as a URL's
    body arrives (a local file is read in one go).

    ``base`` is the location of the document that refers to this one; None means the user
    named it. Local files are read when the user named them, when a local document refers to
    them, or when ``policy.allow_files`` is set; a remote document may not reach local files
    otherwise. URLs pass :func:`check_url` (every redirect too), the body is capped at
    ``policy.max_bytes`` and the whole fetch at ``policy.timeout`` seconds. Raises
    :class:`FetchError` with one line saying what failed.
    """
    _split(location)
    resolved = resolve_location(location, base)
    scheme = _split(resolved).scheme.lower()
    if scheme in ("http", "https"):
        return await _fetch_url(resolved, policy=policy, client=client, progress=progress), resolved
    is_remote_referrer = base is not None and urlsplit(base).scheme.lower() in ("http", "https")
    if is_remote_referrer and not policy.allow_files:
        raise FetchError(
            f"Refused to read local file {_redact(resolved)} referenced by remote document "
            f"{_redact(base or '')}.",
            hint="Allow files in the fetch policy only if you trust the document.",
        )
    path = Path(unquote(urlsplit(resolved).path)) if scheme == "file" else Path(resolved)
    path = path.absolute()
    return await anyio.to_thread.run_sync(_read_file, path, policy.max_bytes), str(path)


def _read_file(path: Path, max_bytes: int) -> bytes:
    try:
        with path.open("rb") as handle:
            data = handle.read(max_bytes + 1)
    except FileNotFoundError as exc:
        raise FetchError(f"File not found: {path}.", hint="Check the path.") from exc
    except IsADirectoryError as exc:
        raise FetchError(f"{path} is a directory, not a document.") from exc
    except OSError as exc:
        raise FetchError(f"Cannot read {path}: {exc.strerror or exc}.") from exc
    if len(data) > max_bytes:
        raise FetchError(
            f"{path} is larger than the {max_bytes:,}-byte limit.",
            hint="Raise max_bytes in the fetch policy if the document is genuine.",
        )
    return data


async def _fetch_url(
    url: str,
    *,
    policy: FetchPolicy,
    client: httpx2.AsyncClient | None,
    progress: Progress | None = None,
) -> bytes:
    if client is None:
        guarded = guarded_client(
            allow_private=policy.allow_private, timeout=policy.timeout, follow_redirects=False
        )
        async with guarded as own:
            return await _fetch_url(url, policy=policy, client=own, progress=progress)
    try:
        # One deadline for the whole fetch, redirects included: a server that trickles bytes
        # would otherwise never trip the per-read timeout.
        with anyio.fail_after(policy.timeout):
            return await _fetch_following_redirects(client, url, policy, progress)
    except TimeoutError as exc:
        raise FetchError(
            f"Timed out after {policy.timeout:g} s fetching {_redact(url)}.",
            hint="Check that the server is up, or raise the timeout.",
        ) from exc


async def _fetch_following_redirects(
    client: httpx2.AsyncClient, url: str, policy: FetchPolicy, progress: Progress | None
) -> bytes:
    for _ in range(_MAX_REDIRECTS + 1):
        await check_url(url, policy=policy)
        with _map_http_errors(url):
            async with client.stream(
                "GET", url, headers={"Accept": "application/json, application/yaml, */*"}
            ) as response:
                if response.is_redirect and "location" in response.headers:
                    url = urljoin(url, response.headers["location"])
                    continue
                if response.status_code >= 400:
                    raise FetchError(
                        f"Fetching {_redact(url)} failed with HTTP {response.status_code}.",
                        hint="Check the URL and that the document is public or reachable.",
                        status=response.status_code,
                    )
                return await _read_capped(response, url, policy.max_bytes, progress)
    raise FetchError(f"Too many redirects fetching {_redact(url)}.")


async def _read_capped(
    response: httpx2.Response, url: str, max_bytes: int, progress: Progress | None
) -> bytes:
    declared = response.headers.get("content-length", "")
    total = int(declared) if declared.isdigit() else None
    if total is not None and total > max_bytes:
        raise _too_large(url, max_bytes)
    chunks: list[bytes] = []
    size = 0
    if progress is not None:
        progress("download", 0, total)
    async for chunk in response.aiter_bytes():
        size += len(chunk)
        if size > max_bytes:
            raise _too_large(url, max_bytes)
        chunks.append(chunk)
        if progress is not None:
            # Bytes on the wire, as Content-Length counts them (a gzipped body inflates).
            progress("download", response.num_bytes_downloaded, total)
    return b"".join(chunks)


def _too_large(url: str, max_bytes: int) -> FetchError:
    return FetchError(
        f"{_redact(url)} is larger than the {max_bytes:,}-byte limit.",
        hint="Raise max_bytes in the fetch policy if the document is genuine.",
    )


@contextlib.contextmanager
def _map_http_errors(url: str) -> Iterator[None]:
    """Translate httpx2 transport failures into one-line :class:`FetchError`s."""
    try:
        yield
    except httpx2.TimeoutException as exc:
        raise FetchError(
            f"Timed out fetching {_redact(url)}.", hint="Check that the server is up."
        ) from exc
    except httpx2.TransportError as exc:
        raise FetchError(
            f"Cannot reach {_redact(url)}: {str(exc).strip() or type(exc).__name__}.",
            hint="Check the URL and that the server is running.",
        ) from exc


def _redact(url: str) -> str:
    """The URL without user info or query string, which may carry credentials."""
    parts = urlsplit(url)
    if not parts.scheme:
        return url
    netloc = parts.hostname or ""
    if parts.port:
        netloc += f":{parts.port}"
    if ":" in (parts.hostname or ""):
        netloc = f"[{parts.hostname}]" + (f":{parts.port}" if parts.port else "")
    query = "?…" if parts.query else ""
    return f"{parts.scheme}://{netloc}{parts.path}{query}"


__all__ = [
    "METADATA_ADDRESSES",
    "METADATA_HOSTS",
    "GuardedNetworkBackend",
    "address_refusal",
    "check_url",
    "fetch_document",
    "guarded_client",
    "is_url",
    "resolve_location",
    "warm_up_tls",
]
