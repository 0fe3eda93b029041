"""forward against a real resolver (dnsmasq from Debian) over UDP and TCP."""

from __future__ import annotations

from dnslib import RCODE

from kdns.plugins.forward.config import parse
from kdns.plugins.forward.handler import Handler
from tests.upstreams import directive, dnsmasq, request


async def not_reached(req):
    raise AssertionError("next plugin called")


async def test_forward_to_dnsmasq_udp_and_tcp():
    async with dnsmasq({"www.example.test": "192.0.2.7", "v6.example.test": "2001:db8::7"}) as server:
        h = Handler(not_reached, parse(directive(f". {{\n forward . {server.address}\n}}\n", "forward")))
        try:
            for proto in ("udp", "tcp"):
                resp = await h(request("WWW.example.test.", proto=proto, id=999))
                assert resp.rcode == RCODE.NOERROR, proto
                assert [str(rr.rdata) for rr in resp.msg.rr] == ["192.0.2.7"]
                assert resp.msg.rr[0].ttl == 60
                assert resp.msg.header.id == 999
                resp = await h(request("v6.example.test.", "AAAA", proto=proto))
                assert [str(rr.rdata) for rr in resp.msg.rr] == ["2001:db8::7"]
                resp = await h(request("missing.example.test.", proto=proto))
                assert resp.rcode == RCODE.NXDOMAIN
            # dnsmasq answers the `. IN NS` probe (REFUSED: it has no upstream): that is healthy.
            assert await h.proxies[0].check()
        finally:
            await h.stop()
