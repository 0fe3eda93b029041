"""forward to DNS-over-TLS upstreams (RFC 7858): a real unbound on loopback, certificates made by
the openssl command. A relay in front of unbound counts the TCP connections kdns opens."""

from __future__ import annotations

import asyncio
import dataclasses
import logging
import socket

import pytest
from dnslib import RCODE
from prometheus_client import REGISTRY

from kdns.plugins.forward.config import Timeouts, parse
from kdns.plugins.forward.handler import Handler
from tests.tlscerts import SERVER_NAME, Certs, make_certs
from tests.upstreams import directive, eventually, request, unbound_tls

RECORDS = [
    "www.example.test. 60 IN A 192.0.2.53",
    "www.example.test. 60 IN AAAA 2001:db8::53",
]
FAST = Timeouts(read=1.0, total=2.0, connect=1.0, health=0.5)


async def not_reached(req):
    raise AssertionError("next plugin called")


def make(body: str, timeouts: Timeouts = FAST) -> Handler:
    config = parse(directive(". {\n" + body + "\n}\n", "forward"))
    return Handler(not_reached, dataclasses.replace(config, timeouts=timeouts))


def addresses(resp) -> list[str]:
    return [str(rr.rdata) for rr in resp.msg.rr]


def sample(name: str, labels: dict[str, str]) -> float:
    return REGISTRY.get_sample_value(name, labels) or 0.0


class Relay:
    """Plain TCP relay to a port; counts the connections accepted (each one a TLS handshake)."""

    def __init__(self, port: int) -> None:
        self.port = port
        self.accepted = 0
        self._tasks: set[asyncio.Task[None]] = set()

    async def __aenter__(self) -> Relay:
        self._server = await asyncio.start_server(self._serve, "127.0.0.1", 0)
        self.address = f"127.0.0.1:{self._server.sockets[0].getsockname()[1]}"
        return self

    async def __aexit__(self, *exc: object) -> None:
        self._server.close()
        for task in list(self._tasks):
            task.cancel()
        await asyncio.gather(*self._tasks, return_exceptions=True)

    async def _serve(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        self.accepted += 1
        up_reader, up_writer = await asyncio.open_connection("127.0.0.1", self.port)

        async def pipe(src: asyncio.StreamReader, dst: asyncio.StreamWriter) -> None:
            try:
                while data := await src.read(65536):
                    dst.write(data)
                    await dst.drain()
            except ConnectionError:
                pass
            finally:
                dst.close()

        for task in (pipe(reader, up_writer), pipe(up_reader, writer)):
            t = asyncio.get_running_loop().create_task(task)
            self._tasks.add(t)
            t.add_done_callback(self._tasks.discard)


@pytest.fixture(scope="module")
def certs(tmp_path_factory) -> Certs:
    return make_certs(tmp_path_factory.mktemp("certs"))


async def test_answers_over_tls_with_client_id_and_case(certs):
    async with unbound_tls(str(certs.server), str(certs.server_key), RECORDS) as ub:
        h = make(f"forward . tls://{ub.address} {{\n tls {certs.ca}\n tls_servername {SERVER_NAME}\n}}")
        try:
            for proto in ("udp", "tcp"):
                resp = await h(request("WWW.Example.TEST.", proto=proto, id=777))
                assert resp.rcode == RCODE.NOERROR and addresses(resp) == ["192.0.2.53"]
                assert resp.msg.header.id == 777 and str(resp.msg.q.qname) == "WWW.Example.TEST."
            resp = await h(request("www.example.test.", "AAAA"))
            assert addresses(resp) == ["2001:db8::53"]
            resp = await h(request("missing.example.test."))
            assert resp.rcode == RCODE.NXDOMAIN
            # The health probe goes over TLS too, on a connection of its own.
            assert await h.proxies[0].check()
        finally:
            await h.stop()


async def test_the_ip_address_is_the_name_checked_without_tls_servername(certs):
    async with unbound_tls(str(certs.server), str(certs.server_key), RECORDS) as ub:
        h = make(f"forward . tls://{ub.address} {{\n tls {certs.ca}\n}}")  # 127.0.0.1 is in the SAN
        try:
            assert addresses(await h(request("www.example.test."))) == ["192.0.2.53"]
        finally:
            await h.stop()


async def test_one_handshake_for_many_pipelined_queries(certs):
    async with unbound_tls(str(certs.server), str(certs.server_key), RECORDS) as ub:
        async with Relay(ub.port) as relay:
            h = make(f"forward . tls://{relay.address} {{\n tls {certs.ca}\n}}")
            to = {"proxy_name": "forward", "to": relay.address, "proto": "tcp-tls"}
            try:
                # 40 at once: they share the one dial, then are all in flight on one connection.
                names = [f"{'www' if i % 2 else 'nope'}.example.test." for i in range(40)]
                resps = await asyncio.gather(*(h(request(n, id=i)) for i, n in enumerate(names)))
                for i, resp in enumerate(resps):
                    assert resp.msg.header.id == i
                    assert resp.rcode == (RCODE.NOERROR if i % 2 else RCODE.NXDOMAIN)
                for _ in range(20):
                    assert addresses(await h(request("www.example.test."))) == ["192.0.2.53"]
                assert relay.accepted == 1
                assert sample("coredns_proxy_conn_cache_misses_total", to) == 1
                assert sample("coredns_proxy_conn_cache_hits_total", to) == 59
                assert sample("coredns_forward_requests_total", {"to": relay.address}) == 60
                assert sample("coredns_forward_responses_total", {"to": relay.address, "rcode": "NXDOMAIN"}) == 20
            finally:
                await h.stop()


@pytest.mark.skipif(not hasattr(socket, "TCP_QUICKACK"), reason="TCP_QUICKACK is Linux's")
async def test_answers_are_acknowledged_at_once_after_pipelined_ones(certs):
    """unbound writes without TCP_NODELAY: once two answers came together (queries pipelined), Nagle
    held each later answer until our ACK, which delayed ACKs sent only with the next query; the
    bench's readiness probe, asking every 12 ms, never saw an answer. The connection must stay in
    quick-ACK mode after every answer."""
    async with unbound_tls(str(certs.server), str(certs.server_key), RECORDS) as ub:
        h = make(f"forward . tls://{ub.address} {{\n tls {certs.ca}\n tls_servername {SERVER_NAME}\n}}")
        try:
            names = ["www.example.test."] * 5
            await asyncio.gather(*(h(request(n, id=i)) for i, n in enumerate(names)))
            for _ in range(10):
                assert addresses(await h(request("www.example.test."))) == ["192.0.2.53"]
                conn = h.proxies[0]._conn
                assert conn is not None
                sock = conn.writer.get_extra_info("socket")
                assert sock.getsockopt(socket.IPPROTO_TCP, socket.TCP_QUICKACK) == 1
        finally:
            await h.stop()


@pytest.mark.parametrize(
    "served, options, problem",
    [
        ("server", "tls_servername wrong.test", "wrong server name"),
        ("other_name", "", "certificate for another name (the IP is not in it)"),
        ("expired", f"tls_servername {SERVER_NAME}", "expired certificate"),
        ("unknown", f"tls_servername {SERVER_NAME}", "certificate from an unknown CA"),
    ],
)
async def test_an_unverifiable_upstream_is_never_trusted_and_goes_down(certs, served, options, problem, caplog):
    async with unbound_tls(str(getattr(certs, served)), str(certs.server_key), RECORDS) as ub:
        h = make(f"forward . tls://{ub.address} {{\n tls {certs.ca}\n {options}\n max_fails 2\n health_check 50ms\n}}")
        proxy = h.proxies[0]
        try:
            resp = await h(request("www.example.test."))
            assert resp.rcode == RCODE.SERVFAIL and resp.msg.rr == [], problem
            assert resp.error.startswith(f"upstream {ub.address}: tls:"), resp.error
            assert not await proxy.check()
            with caplog.at_level(logging.WARNING, logger="kdns.plugins.forward"):
                assert await eventually(proxy.down), problem
            assert f"upstream {ub.address} is down" in caplog.text
        finally:
            await h.stop()


async def test_client_certificate_and_system_cas_load(certs):
    # unbound does not ask for client certificates: this shows the client side loads and sends
    # one without breaking the exchange.
    async with unbound_tls(str(certs.server), str(certs.server_key), RECORDS) as ub:
        h = make(f"forward . tls://{ub.address} {{\n tls {certs.client} {certs.client_key} {certs.ca}\n}}")
        try:
            assert addresses(await h(request("www.example.test."))) == ["192.0.2.53"]
        finally:
            await h.stop()
        # The system CAs (no CA given) do not know the test CA: refused.
        h = make(f"forward . tls://{ub.address} {{\n tls\n tls_servername {SERVER_NAME}\n}}")
        try:
            assert (await h(request("www.example.test."))).rcode == RCODE.SERVFAIL
        finally:
            await h.stop()


async def test_upstream_going_away_and_coming_back(certs):
    tls = f"tls {certs.ca}\n tls_servername {SERVER_NAME}\n max_fails 2\n health_check 50ms"
    async with unbound_tls(str(certs.server), str(certs.server_key), RECORDS) as ub:
        port = ub.port
        h = make(f"forward . tls://{ub.address} {{\n {tls}\n}}")
        proxy = h.proxies[0]
        assert addresses(await h(request("www.example.test."))) == ["192.0.2.53"]
    try:
        # Gone: the kept connection is dead and no new one can be made.
        resp = await h(request("www.example.test."))
        assert resp.rcode == RCODE.SERVFAIL
        assert await eventually(proxy.down)
        async with unbound_tls(str(certs.server), str(certs.server_key), RECORDS, port=port):
            assert await eventually(lambda: not proxy.down())
            assert addresses(await h(request("www.example.test."))) == ["192.0.2.53"]
    finally:
        await h.stop()


async def test_dig_through_kdns_forwarding_over_tls_with_cache(certs):
    from tests.conftest import kdns_server

    async with unbound_tls(str(certs.server), str(certs.server_key), RECORDS) as ub:
        corefile = f"""
        . {{
            forward . tls://{ub.address} {{
                tls {certs.ca}
                tls_servername {SERVER_NAME}
            }}
            cache 30
        }}
        """
        async with kdns_server(corefile) as server:
            assert (await server.dig("+short", "www.example.test")).split() == ["192.0.2.53"]
            assert (await server.dig("+tcp", "+short", "www.example.test", "AAAA")).split() == ["2001:db8::53"]
            assert "status: NXDOMAIN" in await server.dig("nope.example.test")


async def test_kdns_process_on_uvloop_pipelines_over_tls(certs, tmp_path):
    import signal
    import sys

    import dns.asyncquery
    import dns.message

    from tests.upstreams import free_port

    async with unbound_tls(str(certs.server), str(certs.server_key), RECORDS) as ub:
        async with Relay(ub.port) as relay:
            port = free_port()
            corefile = tmp_path / "Corefile"
            corefile.write_text(
                f".:{port} {{\n bind 127.0.0.1\n forward . tls://{relay.address} {{\n"
                f"  tls {certs.ca}\n  tls_servername {SERVER_NAME}\n }}\n}}\n"
            )
            proc = await asyncio.create_subprocess_exec(
                sys.executable, "-m", "kdns", "-conf", str(corefile),
                stdout=asyncio.subprocess.PIPE, stderr=asyncio.subprocess.STDOUT,
            )
            try:
                async def ask(name: str) -> dns.message.Message:
                    q = dns.message.make_query(name, "A")
                    return await dns.asyncquery.udp(q, "127.0.0.1", port=port, timeout=2)

                for _ in range(100):
                    try:
                        first = await ask("www.example.test.")
                        break
                    except dns.exception.Timeout:
                        assert proc.returncode is None
                else:
                    raise AssertionError("kdns did not answer")
                assert [rr.to_text() for rrset in first.answer for rr in rrset] == ["192.0.2.53"]
                msgs = await asyncio.gather(*(ask(f"n{i}.example.test.") for i in range(30)))
                assert all(m.rcode() == dns.rcode.NXDOMAIN for m in msgs)
                assert relay.accepted == 1
            finally:
                proc.send_signal(signal.SIGTERM)
                out, _ = await proc.communicate()
            assert proc.returncode == 0, out.decode()


class MutePeer:
    """A TCP server that reads the ClientHello and never answers: a handshake that never ends.
    dialled counts the connections made to it."""

    async def __aenter__(self) -> MutePeer:
        self.dialled = 0
        self._server = await asyncio.start_server(self._serve, "127.0.0.1", 0)
        self.address = f"127.0.0.1:{self._server.sockets[0].getsockname()[1]}"
        return self

    async def __aexit__(self, *exc: object) -> None:
        self._server.close()

    async def _serve(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        self.dialled += 1
        await reader.read()
        writer.close()


async def test_a_server_that_never_finishes_the_handshake_is_down(certs):
    fast = Timeouts(read=0.3, total=1.0, connect=0.3, health=0.2)
    async with MutePeer() as peer:
        h = make(f"forward . tls://{peer.address} {{\n tls {certs.ca}\n max_fails 2\n health_check 50ms\n}}", fast)
        try:
            resp = await h(request("www.example.test."))
            assert resp.rcode == RCODE.SERVFAIL and "tls: connect timeout" in resp.error
            assert await eventually(h.proxies[0].down)
        finally:
            await h.stop()


async def test_a_query_waiting_on_the_handshake_when_forward_stops_gets_servfail(certs):
    # A reload retires the old chain while its queries may still wait for a TLS handshake: stopping
    # the plugin must fail them as any upstream failure (SERVFAIL), not cancel them unanswered.
    slow = Timeouts(read=30.0, total=60.0, connect=30.0, health=30.0)
    async with MutePeer() as peer:
        h = make(f"forward . tls://{peer.address} {{\n tls {certs.ca}\n}}", slow)
        try:
            query = asyncio.get_running_loop().create_task(h(request("www.example.test.")))
            await eventually(lambda: peer.dialled > 0)
            await h.stop()
            resp = await asyncio.wait_for(query, 10)
            assert resp.rcode == RCODE.SERVFAIL
        finally:
            await h.stop()
