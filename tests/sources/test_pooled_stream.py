"""Pooled upstream connections: an idle connection the server closed is noticed and replaced.

The pool asks every idle connection "is your socket readable?" before reusing it (readable
while idle means the server hung up). ``fetch.IdleProbe`` answers for all of a pool's sockets
with one ``poll(0)``; these tests prove the answer is still right, on plain TCP and under TLS,
with asyncio's loop and with uvloop (what the server runs), and that one poll serves a pass.
"""

from __future__ import annotations

import asyncio
import contextlib
import datetime
import socket
import ssl
import struct
from collections.abc import AsyncIterator, Awaitable, Callable
from contextlib import asynccontextmanager
from pathlib import Path
from typing import Any

import httpx2
import pytest
from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.x509.oid import NameOID

from executor.sources import fetch

Handler = Callable[[asyncio.StreamReader, asyncio.StreamWriter], Awaitable[None]]


@pytest.fixture(
    params=[("asyncio", {}), ("asyncio", {"use_uvloop": True})], ids=["asyncio", "uvloop"]
)
def anyio_backend(request: pytest.FixtureRequest) -> tuple[str, dict[str, bool]]:
    return request.param


@asynccontextmanager
async def tcp_server(handler: Handler, tls: ssl.SSLContext | None = None) -> AsyncIterator[int]:
    server = await asyncio.start_server(handler, "127.0.0.1", 0, ssl=tls)
    async with server:
        yield server.sockets[0].getsockname()[1]


async def test_an_idle_connection_closed_by_the_server_is_replaced_not_reused() -> None:
    """The server answers each connection once (keep-alive announced) and then hangs up, as a
    server whose keep-alive timeout ran out: the next request must open a new connection."""
    hung_up = asyncio.Event()
    connections = 0

    async def once_then_hang_up(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        nonlocal connections
        connections += 1
        await reader.readuntil(b"\r\n\r\n")
        body = b'{"n": %d}' % connections
        writer.write(
            b"HTTP/1.1 200 OK\r\nContent-Type: application/json\r\nConnection: keep-alive\r\n"
            b"Content-Length: %d\r\n\r\n%s" % (len(body), body)
        )
        await writer.drain()
        writer.close()
        await writer.wait_closed()
        hung_up.set()

    async with (
        tcp_server(once_then_hang_up) as port,
        fetch.guarded_client(allow_private=True) as client,
    ):
        first = await client.get(f"http://127.0.0.1:{port}/")
        await hung_up.wait()
        second = await client.get(f"http://127.0.0.1:{port}/")
    assert (first.json(), second.json()) == ({"n": 1}, {"n": 2})


async def test_a_live_idle_connection_is_reused() -> None:
    connections = 0

    async def keep_alive(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        nonlocal connections
        connections += 1
        with contextlib.suppress(asyncio.IncompleteReadError):  # the client hung up
            while await reader.readuntil(b"\r\n\r\n"):
                writer.write(b"HTTP/1.1 200 OK\r\nContent-Length: 2\r\n\r\nok")
                await writer.drain()

    async with (
        tcp_server(keep_alive) as port,
        fetch.guarded_client(allow_private=True) as client,
    ):
        for _ in range(3):
            assert (await client.get(f"http://127.0.0.1:{port}/")).text == "ok"
    assert connections == 1


def _self_signed(directory: Path) -> tuple[ssl.SSLContext, ssl.SSLContext]:
    """A server context with a fresh self-signed certificate for 127.0.0.1, and a client
    context that trusts exactly that certificate."""
    key = ec.generate_private_key(ec.SECP256R1())
    name = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, "127.0.0.1")])
    now = datetime.datetime.now(datetime.UTC)
    certificate = (
        x509.CertificateBuilder()
        .subject_name(name)
        .issuer_name(name)
        .public_key(key.public_key())
        .serial_number(x509.random_serial_number())
        .not_valid_before(now - datetime.timedelta(minutes=1))
        .not_valid_after(now + datetime.timedelta(hours=1))
        .add_extension(
            x509.SubjectAlternativeName([x509.IPAddress(fetch.ipaddress.ip_address("127.0.0.1"))]),
            critical=False,
        )
        .add_extension(x509.BasicConstraints(ca=True, path_length=None), critical=True)
        .sign(key, hashes.SHA256())
    )
    cert_file, key_file = directory / "cert.pem", directory / "key.pem"
    cert_file.write_bytes(certificate.public_bytes(serialization.Encoding.PEM))
    key_file.write_bytes(
        key.private_bytes(
            serialization.Encoding.PEM,
            serialization.PrivateFormat.PKCS8,
            serialization.NoEncryption(),
        )
    )
    server = ssl.create_default_context(ssl.Purpose.CLIENT_AUTH)
    server.load_cert_chain(cert_file, key_file)
    client = ssl.create_default_context(cafile=str(cert_file))
    return server, client


async def test_a_tls_connection_reports_the_servers_hang_up(tmp_path: Path) -> None:
    server_tls, client_tls = _self_signed(tmp_path)
    hang_up = asyncio.Event()
    hung_up = asyncio.Event()

    async def hang_up_when_told(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        await hang_up.wait()
        writer.transport.abort()  # no TLS goodbye to wait on: the socket closes at once
        await writer.wait_closed()
        hung_up.set()

    async with tcp_server(hang_up_when_told, server_tls) as port:
        backend = fetch.GuardedNetworkBackend(allow_private=True)
        backend.probe.window = 0.0  # every question polls: no answer from before the hang-up
        plain = await backend.connect_tcp("127.0.0.1", port, timeout=10)
        stream = await plain.start_tls(client_tls, server_hostname="127.0.0.1", timeout=10)
        try:
            assert isinstance(stream, fetch.PooledStream)
            assert stream.get_extra_info("ssl_object") is not None
            assert stream.get_extra_info("is_readable") is False
            hang_up.set()
            await hung_up.wait()
            # Over loopback the FIN is in our socket's queue once the server's close returned.
            assert stream.get_extra_info("is_readable") is True
        finally:
            await stream.aclose()


class CountingPoll:
    """A ``select.poll`` object that counts its ``poll`` calls."""

    def __init__(self, poll: Any) -> None:
        self.inner, self.polls = poll, 0

    def register(self, fd: int, events: int) -> None:
        self.inner.register(fd, events)

    def unregister(self, fd: int) -> None:
        self.inner.unregister(fd)

    def poll(self, timeout: float) -> list[tuple[int, int]]:
        self.polls += 1
        return self.inner.poll(timeout)


async def test_one_poll_answers_for_every_idle_connection_of_the_pool() -> None:
    both_in = asyncio.Event()
    arrived = 0

    async def keep_alive(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        nonlocal arrived
        with contextlib.suppress(asyncio.IncompleteReadError):  # the client hung up
            while await reader.readuntil(b"\r\n\r\n"):
                arrived += 1
                if arrived == 8:
                    both_in.set()
                await both_in.wait()  # the first 8 requests are in flight together
                writer.write(b"HTTP/1.1 200 OK\r\nContent-Length: 2\r\n\r\nok")
                await writer.drain()

    async with (
        tcp_server(keep_alive) as port,
        fetch.guarded_client(allow_private=True) as client,
    ):
        url = f"http://127.0.0.1:{port}/"
        await asyncio.gather(*(client.get(url) for _ in range(8)))  # 8 pooled connections
        pool = client._transport._pool  # type: ignore[attr-defined]
        probe = pool._network_backend.probe
        counting = probe._poll = CountingPoll(probe._poll)
        assert (await client.get(url)).text == "ok"
        assert len(pool.connections) == 8
    # The pool asked about the idle connections as the request started and again as it ended:
    # one poll each time, not one per connection.
    assert counting.polls <= 2


async def test_a_connection_reset_mid_answer_is_a_read_error() -> None:
    async def reset_mid_body(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        await reader.readuntil(b"\r\n\r\n")
        writer.write(b"HTTP/1.1 200 OK\r\nContent-Length: 100\r\n\r\npartial")
        await writer.drain()
        sock = writer.get_extra_info("socket")
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, struct.pack("ii", 1, 0))
        writer.transport.abort()  # with a zero linger: a reset, not a clean close

    async with (
        tcp_server(reset_mid_body) as port,
        fetch.guarded_client(allow_private=True) as client,
    ):
        with pytest.raises(httpx2.ReadError):
            await client.get(f"http://127.0.0.1:{port}/", timeout=httpx2.Timeout(None))


def test_a_socket_readable_earlier_in_the_window_is_asked_again_before_saying_yes() -> None:
    """A connection in use when the pool's poll ran had its answer waiting (readable); read and
    idle moments later, it must not be called hung up from that earlier answer."""
    probe = fetch.IdleProbe(window=3600.0)  # every answer below comes from one poll
    busy, peer = socket.socketpair()
    idle, idle_peer = socket.socketpair()
    try:
        owner: Any = object()
        probe.register(busy.fileno(), owner)
        probe.register(idle.fileno(), owner)
        peer.send(b"an answer")
        assert probe.readable(busy.fileno()) is True
        assert probe.readable(idle.fileno()) is False
        assert busy.recv(100) == b"an answer"  # read: idle now, nothing waiting
        assert probe.readable(busy.fileno()) is False
        idle_peer.close()  # a hang-up after the poll: within the window, not seen yet
        assert probe.readable(idle.fileno()) is False
    finally:
        for end in (busy, peer, idle, idle_peer):
            end.close()
