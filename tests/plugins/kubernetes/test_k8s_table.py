"""Table tests for the record rules of design.md section 4, CoreDNS handler-test style.

Expected records were written from the rules (Kubernetes DNS spec 1.1.0, CoreDNS where the spec is
silent) and the fixtures in fixtures/, not copied from the code's output.
"""

from __future__ import annotations

import pytest
from plugins.kubernetes.k8s_cases import (
    R6SOA,
    RSOA,
    SOA,
    Case,
    FakeInfo,
    ask,
    check,
    config,
    handler,
    nodata,
    nx,
    soa,
)

Z = "cluster.local."
W = f"web.demo.svc.{Z}"
WH = f"web-headless.demo.svc.{Z}"
DH = f"dual-headless.demo.svc.{Z}"


def svc(name: str) -> str:
    return f"{name}.svc.{Z}"


BASE = [
    # dns-version, apex
    Case(f"dns-version.{Z}", "TXT", answer=[f'dns-version.{Z} 5 IN TXT "1.1.0"']),
    nodata(f"dns-version.{Z}", "A"),
    Case(Z, "SOA", answer=[SOA]),
    Case(Z, "NS", answer=[f"{Z} 5 IN NS kube-dns.kube-system.svc.{Z}"],
         extra=[f"kube-dns.kube-system.svc.{Z} 5 IN A 10.96.0.2"]),
    nodata(Z, "A"),
    nodata(Z, "AAAA"),
    Case(f"ns.dns.{Z}", "A", answer=[f"ns.dns.{Z} 5 IN A 10.96.0.2"]),
    nodata(f"ns.dns.{Z}", "AAAA"),
    # ClusterIP service
    Case(W, "A", answer=[f"{W} 5 IN A 10.96.0.10"]),
    nodata(W, "AAAA"),
    nodata(W, "TXT"),
    nodata(W, "MX"),
    Case(W, "SRV", answer=[f"{W} 5 IN SRV 0 50 80 {W}", f"{W} 5 IN SRV 0 50 53 {W}"],
         extra=[f"{W} 5 IN A 10.96.0.10"]),
    Case(f"_http._tcp.{W}", "SRV", answer=[f"_http._tcp.{W} 5 IN SRV 0 100 80 {W}"],
         extra=[f"{W} 5 IN A 10.96.0.10"]),
    Case(f"_dns._udp.{W}", "SRV", answer=[f"_dns._udp.{W} 5 IN SRV 0 100 53 {W}"],
         extra=[f"{W} 5 IN A 10.96.0.10"]),
    nx(f"_dns._tcp.{W}", "SRV"),
    nx(f"_http._udp.{W}", "SRV"),
    nx(f"_nope._tcp.{W}", "SRV"),
    nodata(f"_http._tcp.{W}", "A"),
    nx(f"http.tcp.{W}", "SRV"),
    Case(svc("web.demo-b"), "A", answer=[f"{svc('web.demo-b')} 5 IN A 10.96.1.10"]),
    Case(f"_grpc._tcp.{svc('web.demo-b')}", "SRV",
         answer=[f"_grpc._tcp.{svc('web.demo-b')} 5 IN SRV 0 100 9000 {svc('web.demo-b')}"],
         extra=[f"{svc('web.demo-b')} 5 IN A 10.96.1.10"]),
    Case(f"_metrics._tcp.{svc('web.demo-b')}", "SRV",
         answer=[f"_metrics._tcp.{svc('web.demo-b')} 5 IN SRV 0 100 9090 {svc('web.demo-b')}"],
         extra=[f"{svc('web.demo-b')} 5 IN A 10.96.1.10"]),
    Case(svc("kube-dns.kube-system"), "A", answer=[f"{svc('kube-dns.kube-system')} 5 IN A 10.96.0.2"]),
    Case(svc("kubernetes.default"), "A", answer=[f"{svc('kubernetes.default')} 5 IN A 10.96.0.1"]),
    # names that do not exist, and names that exist without data
    nx(svc("nothing.demo")),
    nx(svc("nothing.demo"), "SRV"),
    nx(svc("web.nons")),
    nodata(svc("demo")),
    nodata(svc("demo"), "SRV"),
    nx(svc("nons")),
    nodata(svc("empty")),
    nodata(f"svc.{Z}"),
    nodata(f"pod.{Z}"),
    nx(f"a.b.c._http._tcp.web.demo.svc.{Z}"),
    nx(f"x._http._tcp.web.demo.svc.{Z}", "SRV"),
    nx(f"web.demo.foo.{Z}"),
    nx(f"foo.{Z}"),
    nx(f"demo.{Z}"),
    # headless: ready endpoints only (web-1 not ready, web-2 terminating)
    Case(WH, "A", answer=[f"{WH} 5 IN A 10.244.0.10", f"{WH} 5 IN A 10.244.0.13"]),
    nodata(WH, "AAAA"),
    nodata(WH, "TXT"),
    Case(WH, "SRV",
         answer=[f"{WH} 5 IN SRV 0 25 8080 web-0.{WH}", f"{WH} 5 IN SRV 0 25 5353 web-0.{WH}",
                 f"{WH} 5 IN SRV 0 25 8080 10-244-0-13.{WH}", f"{WH} 5 IN SRV 0 25 5353 10-244-0-13.{WH}"],
         extra=[f"web-0.{WH} 5 IN A 10.244.0.10", f"10-244-0-13.{WH} 5 IN A 10.244.0.13"]),
    Case(f"_http._tcp.{WH}", "SRV",
         answer=[f"_http._tcp.{WH} 5 IN SRV 0 50 8080 web-0.{WH}",
                 f"_http._tcp.{WH} 5 IN SRV 0 50 8080 10-244-0-13.{WH}"],
         extra=[f"web-0.{WH} 5 IN A 10.244.0.10", f"10-244-0-13.{WH} 5 IN A 10.244.0.13"]),
    Case(f"_dns._udp.{WH}", "SRV",
         answer=[f"_dns._udp.{WH} 5 IN SRV 0 50 5353 web-0.{WH}",
                 f"_dns._udp.{WH} 5 IN SRV 0 50 5353 10-244-0-13.{WH}"],
         extra=[f"web-0.{WH} 5 IN A 10.244.0.10", f"10-244-0-13.{WH} 5 IN A 10.244.0.13"]),
    nx(f"_dns._tcp.{WH}", "SRV"),
    nodata(f"_http._tcp.{WH}", "A"),
    Case(f"web-0.{WH}", "A", answer=[f"web-0.{WH} 5 IN A 10.244.0.10"]),
    nodata(f"web-0.{WH}", "AAAA"),
    Case(f"web-0.{WH}", "SRV",
         answer=[f"web-0.{WH} 5 IN SRV 0 50 8080 web-0.{WH}", f"web-0.{WH} 5 IN SRV 0 50 5353 web-0.{WH}"],
         extra=[f"web-0.{WH} 5 IN A 10.244.0.10"]),
    nx(f"web-1.{WH}"),
    nx(f"10-244-0-11.{WH}"),
    nx(f"10-244-0-12.{WH}"),
    nx(f"10-244-0-10.{WH}"),  # it has a hostname: named web-0, not by address
    Case(f"10-244-0-13.{WH}", "A", answer=[f"10-244-0-13.{WH} 5 IN A 10.244.0.13"]),
    nx(f"web-3.{WH}"),  # pod names only with endpoint_pod_names
    # publishNotReadyAddresses: the controller writes ready=true; terminating still is not ready
    Case(svc("web-nr.demo"), "A", answer=[f"{svc('web-nr.demo')} 5 IN A 10.244.0.10",
                                         f"{svc('web-nr.demo')} 5 IN A 10.244.0.11"]),
    Case(f"10-244-0-11.{svc('web-nr.demo')}", "A",
         answer=[f"10-244-0-11.{svc('web-nr.demo')} 5 IN A 10.244.0.11"]),
    nx(f"10-244-0-12.{svc('web-nr.demo')}"),
    # endpoint names under a ClusterIP service (CoreDNS answers them too)
    Case(f"10-244-0-10.{W}", "A", answer=[f"10-244-0-10.{W} 5 IN A 10.244.0.10"]),
    nx(f"10-244-0-11.{W}"),
    nx(f"web-0.{W}"),
    # ExternalName (outside our zones: chased through the block's chain)
    Case(svc("ext.demo"), "CNAME", answer=[f"{svc('ext.demo')} 5 IN CNAME example.com."]),
    Case(svc("ext.demo"), "A", answer=[f"{svc('ext.demo')} 5 IN CNAME example.com.",
                                      "example.com. 300 IN A 93.184.216.34"]),
    Case(svc("ext.demo"), "AAAA", answer=[f"{svc('ext.demo')} 5 IN CNAME example.com."]),
    Case(svc("ext.demo"), "TXT", answer=[f"{svc('ext.demo')} 5 IN CNAME example.com."]),
    nx(f"stale.{svc('ext.demo')}"),
    nx(f"10-244-0-99.{svc('ext.demo')}"),
    nx(f"_http._tcp.{svc('ext.demo')}", "SRV"),
    # ExternalName inside our zone: chased from the index
    Case(svc("inner.demo"), "A", answer=[f"{svc('inner.demo')} 5 IN CNAME {W}", f"{W} 5 IN A 10.96.0.10"]),
    # RFC 6604: the target has no AAAA, so NODATA with the CNAME and the SOA
    Case(svc("inner.demo"), "AAAA", answer=[f"{svc('inner.demo')} 5 IN CNAME {W}"], ns=[SOA]),
    # selector-less service with a hand-written and a mirrored slice: deduplicated
    Case(svc("manual.demo"), "A", answer=[f"{svc('manual.demo')} 5 IN A 10.96.0.20"]),
    Case(f"m0.{svc('manual.demo')}", "A", answer=[f"m0.{svc('manual.demo')} 5 IN A 192.0.2.50"]),
    Case(f"m0.{svc('manual.demo')}", "SRV",
         answer=[f"m0.{svc('manual.demo')} 5 IN SRV 0 50 8443 m0.{svc('manual.demo')}",
                 f"m0.{svc('manual.demo')} 5 IN SRV 0 50 53 m0.{svc('manual.demo')}"],
         extra=[f"m0.{svc('manual.demo')} 5 IN A 192.0.2.50"]),
    nx(f"192-0-2-51.{svc('manual.demo')}"),
    Case(f"_https._tcp.{svc('manual.demo')}", "SRV",
         answer=[f"_https._tcp.{svc('manual.demo')} 5 IN SRV 0 100 443 {svc('manual.demo')}"],
         extra=[f"{svc('manual.demo')} 5 IN A 10.96.0.20"]),
    # dual-stack ClusterIP
    Case(svc("dual.demo"), "A", answer=[f"{svc('dual.demo')} 5 IN A 10.96.0.30"]),
    Case(svc("dual.demo"), "AAAA", answer=[f"{svc('dual.demo')} 5 IN AAAA fd00:96::30"]),
    Case(f"_http._tcp.{svc('dual.demo')}", "SRV",
         answer=[f"_http._tcp.{svc('dual.demo')} 5 IN SRV 0 100 80 {svc('dual.demo')}"],
         extra=[f"{svc('dual.demo')} 5 IN A 10.96.0.30", f"{svc('dual.demo')} 5 IN AAAA fd00:96::30"]),
    # dual-stack headless: one slice per family, merged
    Case(DH, "A", answer=[f"{DH} 5 IN A 10.244.0.20", f"{DH} 5 IN A 10.244.0.21"]),
    Case(DH, "AAAA", answer=[f"{DH} 5 IN AAAA fd00:244::20", f"{DH} 5 IN AAAA fd00:244::21"]),
    Case(f"db-0.{DH}", "A", answer=[f"db-0.{DH} 5 IN A 10.244.0.20"]),
    Case(f"db-0.{DH}", "AAAA", answer=[f"db-0.{DH} 5 IN AAAA fd00:244::20"]),
    Case(f"fd00-244--21.{DH}", "AAAA", answer=[f"fd00-244--21.{DH} 5 IN AAAA fd00:244::21"]),
    nodata(f"fd00-244--21.{DH}", "A"),
    Case(f"10-244-0-21.{DH}", "A", answer=[f"10-244-0-21.{DH} 5 IN A 10.244.0.21"]),
    Case(f"_http._tcp.{DH}", "SRV",
         answer=[f"_http._tcp.{DH} 5 IN SRV 0 33 8080 db-0.{DH}",
                 f"_http._tcp.{DH} 5 IN SRV 0 33 8080 10-244-0-21.{DH}",
                 f"_http._tcp.{DH} 5 IN SRV 0 33 8080 fd00-244--21.{DH}"],
         extra=[f"db-0.{DH} 5 IN A 10.244.0.20", f"db-0.{DH} 5 IN AAAA fd00:244::20",
                f"10-244-0-21.{DH} 5 IN A 10.244.0.21", f"fd00-244--21.{DH} 5 IN AAAA fd00:244::21"]),
    # no endpoints: ClusterIP still answers, headless does not exist
    Case(svc("empty.demo"), "A", answer=[f"{svc('empty.demo')} 5 IN A 10.96.0.40"]),
    nx(svc("empty-headless.demo")),
    nx(svc("empty-headless.demo"), "AAAA"),
    nx(f"10-244-0-30.{svc('empty-headless.demo')}"),
    # a service without ports
    Case(svc("noports.demo"), "A", answer=[f"{svc('noports.demo')} 5 IN A 10.96.0.50"]),
    nodata(svc("noports.demo"), "SRV"),
    nx(f"_http._tcp.{svc('noports.demo')}", "SRV"),
    # multi-port LoadBalancer service, protocols told apart
    Case(f"_dns-tcp._tcp.{svc('multi.demo')}", "SRV",
         answer=[f"_dns-tcp._tcp.{svc('multi.demo')} 5 IN SRV 0 100 53 {svc('multi.demo')}"],
         extra=[f"{svc('multi.demo')} 5 IN A 10.96.0.60"]),
    Case(f"_dns._udp.{svc('multi.demo')}", "SRV",
         answer=[f"_dns._udp.{svc('multi.demo')} 5 IN SRV 0 100 53 {svc('multi.demo')}"],
         extra=[f"{svc('multi.demo')} 5 IN A 10.96.0.60"]),
    Case(f"_sctp._sctp.{svc('multi.demo')}", "SRV",
         answer=[f"_sctp._sctp.{svc('multi.demo')} 5 IN SRV 0 100 9999 {svc('multi.demo')}"],
         extra=[f"{svc('multi.demo')} 5 IN A 10.96.0.60"]),
    nx(f"_dns._sctp.{svc('multi.demo')}", "SRV"),
    Case(svc("multi.demo"), "SRV",
         answer=[f"{svc('multi.demo')} 5 IN SRV 0 25 {p} {svc('multi.demo')}" for p in (80, 443, 53, 9999)],
         extra=[f"{svc('multi.demo')} 5 IN A 10.96.0.60"]),
    # reverse: cluster IPs, then ready endpoint IPs
    Case("10.0.96.10.in-addr.arpa.", "PTR", answer=[f"10.0.96.10.in-addr.arpa. 5 IN PTR {W}"]),
    nodata("10.0.96.10.in-addr.arpa.", "A", ns=RSOA),
    Case("1.0.96.10.in-addr.arpa.", "PTR",
         answer=[f"1.0.96.10.in-addr.arpa. 5 IN PTR kubernetes.default.svc.{Z}"]),
    Case("0.3.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.6.9.0.0.0.0.d.f.ip6.arpa.", "PTR",
         answer=["0.3.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.6.9.0.0.0.0.d.f.ip6.arpa. 5 IN PTR "
                 f"dual.demo.svc.{Z}"]),
    Case("10.0.244.10.in-addr.arpa.", "PTR",
         answer=[f"10.0.244.10.in-addr.arpa. 5 IN PTR 10-244-0-10.{W}",
                 f"10.0.244.10.in-addr.arpa. 5 IN PTR web-0.{WH}",
                 f"10.0.244.10.in-addr.arpa. 5 IN PTR 10-244-0-10.web-nr.demo.svc.{Z}"]),
    Case("50.2.0.192.in-addr.arpa.", "PTR",
         answer=[f"50.2.0.192.in-addr.arpa. 5 IN PTR m0.manual.demo.svc.{Z}"]),
    nx("51.2.0.192.in-addr.arpa.", "PTR", ns=RSOA),
    nx("99.0.244.10.in-addr.arpa.", "PTR", ns=RSOA),
    nx("12.0.244.10.in-addr.arpa.", "PTR", ns=RSOA),
    Case("20.0.244.10.in-addr.arpa.", "PTR",
         answer=[f"20.0.244.10.in-addr.arpa. 5 IN PTR 10-244-0-20.dual.demo.svc.{Z}",
                 f"20.0.244.10.in-addr.arpa. 5 IN PTR db-0.{DH}"]),
    Case("1.2.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.4.4.2.0.0.0.d.f.ip6.arpa.", "PTR",
         answer=["1.2.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.4.4.2.0.0.0.d.f.ip6.arpa. 5 IN PTR "
                 f"fd00-244--21.{DH}"]),
    nx("9.9.9.9.in-addr.arpa.", "PTR", ns=RSOA),
    nx("1.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.ip6.arpa.", "PTR", ns=R6SOA),
    nx("10.in-addr.arpa.", "PTR", ns=RSOA),
    nx("256.0.0.10.in-addr.arpa.", "PTR", ns=RSOA),
    Case("in-addr.arpa.", "SOA", answer=[RSOA]),
    Case("ip6.arpa.", "SOA", answer=[R6SOA]),
    Case("in-addr.arpa.", "NS", answer=[f"in-addr.arpa. 5 IN NS kube-dns.kube-system.svc.{Z}"],
         extra=[f"kube-dns.kube-system.svc.{Z} 5 IN A 10.96.0.2"]),
]

INSECURE = [
    Case(f"10-244-0-99.demo.pod.{Z}", "A", answer=[f"10-244-0-99.demo.pod.{Z} 5 IN A 10.244.0.99"]),
    nodata(f"10-244-0-99.demo.pod.{Z}", "AAAA"),
    Case(f"fd00-1--5.demo.pod.{Z}", "AAAA", answer=[f"fd00-1--5.demo.pod.{Z} 5 IN AAAA fd00:1::5"]),
    nodata(f"fd00-1--5.demo.pod.{Z}", "A"),
    Case(f"10-0-0-1.empty.pod.{Z}", "A", answer=[f"10-0-0-1.empty.pod.{Z} 5 IN A 10.0.0.1"]),
    nx(f"1-2-3-4.nons.pod.{Z}"),
    nx(f"not-an-ip.demo.pod.{Z}"),
    nx(f"1-2-3.demo.pod.{Z}"),
    nx(f"1-2-3-400.demo.pod.{Z}"),
    nx(f"x.10-244-0-1.demo.pod.{Z}"),
    nodata(f"demo.pod.{Z}"),
    nx(f"nons.pod.{Z}"),
]

DISABLED = [
    nx(f"10-244-0-10.demo.pod.{Z}"),
    nx(f"demo.pod.{Z}"),
    nodata(f"pod.{Z}"),
    Case(W, "A", answer=[f"{W} 5 IN A 10.96.0.10"]),
]

VERIFIED = [
    Case(f"10-244-0-10.demo.pod.{Z}", "A", answer=[f"10-244-0-10.demo.pod.{Z} 5 IN A 10.244.0.10"]),
    Case(f"10-244-0-11.demo.pod.{Z}", "A", answer=[f"10-244-0-11.demo.pod.{Z} 5 IN A 10.244.0.11"]),
    nx(f"10-244-0-99.demo.pod.{Z}"),
    nx(f"10-244-0-12.demo.pod.{Z}"),  # being deleted
    nx(f"10-244-0-40.demo.pod.{Z}"),  # Pending
    nx(f"10-244-0-41.demo.pod.{Z}"),  # Succeeded
    nx(f"10-244-1-10.demo.pod.{Z}"),  # a pod with that IP lives in demo-b
    Case(f"10-244-1-10.demo-b.pod.{Z}", "A", answer=[f"10-244-1-10.demo-b.pod.{Z} 5 IN A 10.244.1.10"]),
    Case(f"fd00-10-244-1--a.demo-b.pod.{Z}", "AAAA",
         answer=[f"fd00-10-244-1--a.demo-b.pod.{Z} 5 IN AAAA fd00:10:244:1::a"]),
    nodata(f"10-244-1-10.demo-b.pod.{Z}", "AAAA"),
    nodata(f"demo.pod.{Z}"),
]

POD_NAMES = [
    Case(f"web-0.{W}", "A", answer=[f"web-0.{W} 5 IN A 10.244.0.10"]),
    nx(f"10-244-0-10.{W}"),
    Case(f"web-0.{WH}", "A", answer=[f"web-0.{WH} 5 IN A 10.244.0.10"]),  # hostname wins
    Case(f"web-3.{WH}", "A", answer=[f"web-3.{WH} 5 IN A 10.244.0.13"]),
    nx(f"10-244-0-13.{WH}"),
    Case(f"m0.{svc('manual.demo')}", "A", answer=[f"m0.{svc('manual.demo')} 5 IN A 192.0.2.50"]),
    Case(f"_http._tcp.{WH}", "SRV",
         answer=[f"_http._tcp.{WH} 5 IN SRV 0 50 8080 web-0.{WH}", f"_http._tcp.{WH} 5 IN SRV 0 50 8080 web-3.{WH}"],
         extra=[f"web-0.{WH} 5 IN A 10.244.0.10", f"web-3.{WH} 5 IN A 10.244.0.13"]),
    Case("13.0.244.10.in-addr.arpa.", "PTR", answer=[f"13.0.244.10.in-addr.arpa. 5 IN PTR web-3.{WH}"]),
    Case(f"db-1.{DH}", "AAAA", answer=[f"db-1.{DH} 5 IN AAAA fd00:244::21"]),
    Case(f"api-0.{svc('web.demo-b')}", "A", answer=[f"api-0.{svc('web.demo-b')} 5 IN A 10.244.1.10"]),
]

TTL30 = [
    Case(W, "A", answer=[f"{W} 30 IN A 10.96.0.10"]),
    Case(svc("nothing.demo"), "A", "NXDOMAIN", ns=[soa(ttl=30)]),
    Case(f"_http._tcp.{W}", "SRV", answer=[f"_http._tcp.{W} 30 IN SRV 0 100 80 {W}"],
         extra=[f"{W} 30 IN A 10.96.0.10"]),
    Case(Z, "SOA", answer=[soa(ttl=30)]),
    Case("10.0.96.10.in-addr.arpa.", "PTR", answer=[f"10.0.96.10.in-addr.arpa. 30 IN PTR {W}"]),
]

TTL3600 = [
    Case(W, "A", answer=[f"{W} 3600 IN A 10.96.0.10"]),
    # RFC 2308 / CoreDNS: the SOA record's own TTL is capped at 300, MINIMUM is the ttl.
    Case(svc("nothing.demo"), "A", "NXDOMAIN", ns=[soa(ttl=300, minimum=3600)]),
    nodata(W, "AAAA", ns=soa(ttl=300, minimum=3600)),
]

TTL0 = [
    Case(W, "A", answer=[f"{W} 0 IN A 10.96.0.10"]),
    Case(svc("nothing.demo"), "A", "NXDOMAIN", ns=[soa(ttl=0)]),
]

NOENDPOINTS = [
    Case(W, "A", answer=[f"{W} 5 IN A 10.96.0.10"]),
    Case(f"_http._tcp.{W}", "SRV", answer=[f"_http._tcp.{W} 5 IN SRV 0 100 80 {W}"],
         extra=[f"{W} 5 IN A 10.96.0.10"]),
    nx(WH),
    nx(f"web-0.{WH}"),
    nx(f"_http._tcp.{WH}", "SRV"),
    nx(f"10-244-0-10.{W}"),
    nx("10.0.244.10.in-addr.arpa.", "PTR", ns=RSOA),
    Case("10.0.96.10.in-addr.arpa.", "PTR", answer=[f"10.0.96.10.in-addr.arpa. 5 IN PTR {W}"]),
]

IGNORE_EMPTY = [
    nx(svc("empty.demo")),
    nx(f"_http._tcp.{svc('empty.demo')}", "SRV"),
    nx(svc("noports.demo")),
    Case(W, "A", answer=[f"{W} 5 IN A 10.96.0.10"]),
    Case(WH, "A", answer=[f"{WH} 5 IN A 10.244.0.10", f"{WH} 5 IN A 10.244.0.13"]),
    Case(svc("ext.demo"), "CNAME", answer=[f"{svc('ext.demo')} 5 IN CNAME example.com."]),
    nx(svc("empty-headless.demo")),
]

NAMESPACES = [
    Case(svc("web.demo-b"), "A", answer=[f"{svc('web.demo-b')} 5 IN A 10.96.1.10"]),
    nx(W),
    nx(svc("demo")),
    nodata(svc("demo-b")),
    nx("10.0.96.10.in-addr.arpa.", "PTR", ns=RSOA),
    Case("10.1.96.10.in-addr.arpa.", "PTR", answer=[f"10.1.96.10.in-addr.arpa. 5 IN PTR {svc('web.demo-b')}"]),
    # kube-system is not exposed: the NS falls back to ns.dns.<zone>, without glue
    Case(Z, "NS", answer=[f"{Z} 5 IN NS ns.dns.{Z}"]),
]

NAMESPACE_LABELS = [
    Case(W, "A", answer=[f"{W} 5 IN A 10.96.0.10"]),
    nx(svc("web.demo-b")),
    nodata(svc("empty")),
    nx(svc("kube-system")),
    nx("10.1.96.10.in-addr.arpa.", "PTR", ns=RSOA),
    nx("10.1.244.10.in-addr.arpa.", "PTR", ns=RSOA),
]

LABELS = [
    Case(W, "A", answer=[f"{W} 5 IN A 10.96.0.10"]),
    nx(svc("manual.demo")),
    nx(svc("web.demo-b")),
    nx("20.0.96.10.in-addr.arpa.", "PTR", ns=RSOA),
    nx(f"m0.{svc('manual.demo')}"),
]

FALLTHROUGH_ALL = [
    Case(svc("nothing.demo"), "A", passed=True),
    Case("9.9.9.9.in-addr.arpa.", "PTR", passed=True),
    Case(f"foo.{Z}", "A", passed=True),
    Case(W, "A", answer=[f"{W} 5 IN A 10.96.0.10"]),
    nodata(svc("demo")),
    Case("example.org.", "A", passed=True),  # outside the zones
]

FALLTHROUGH_REVERSE = [
    Case("9.9.9.9.in-addr.arpa.", "PTR", passed=True),
    Case("1.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.ip6.arpa.", "PTR", passed=True),
    Case("10.0.96.10.in-addr.arpa.", "PTR", answer=[f"10.0.96.10.in-addr.arpa. 5 IN PTR {W}"]),
    nx(svc("nothing.demo")),
]

LEGACY = [
    Case(svc("manual.demo"), "A", answer=[f"{svc('manual.demo')} 5 IN A 10.96.0.20"]),
    Case(f"m0.{svc('manual.demo')}", "A", answer=[f"m0.{svc('manual.demo')} 5 IN A 192.0.2.50"]),
    nx(f"192-0-2-51.{svc('manual.demo')}"),
    Case(WH, "A", answer=[f"{WH} 5 IN A 10.244.0.10"]),
    Case(f"_http._tcp.{WH}", "SRV", answer=[f"_http._tcp.{WH} 5 IN SRV 0 100 8080 web-0.{WH}"],
         extra=[f"web-0.{WH} 5 IN A 10.244.0.10"]),
    nx(f"web-1.{WH}"),
    nx(f"db-0.{DH}"),  # only EndpointSlices name it: not read in legacy mode
]

CIDR = [
    Case("10.0.96.10.in-addr.arpa.", "PTR", answer=[f"10.0.96.10.in-addr.arpa. 5 IN PTR {W}"]),
    Case("96.10.in-addr.arpa.", "SOA", answer=[soa("96.10.in-addr.arpa.")]),
    nx("9.9.96.10.in-addr.arpa.", "PTR", ns=soa("96.10.in-addr.arpa.")),
    Case("10.0.244.10.in-addr.arpa.", "PTR", passed=True),  # outside 10.96.0.0/16
]

TABLES = {
    "base": ({"pods": "insecure"}, BASE + INSECURE),
    "disabled": ({}, DISABLED),
    "verified": ({"pods": "verified"}, VERIFIED),
    "endpoint_pod_names": ({"endpoint_pod_names": True}, POD_NAMES),
    "ttl30": ({"ttl": 30}, TTL30),
    "ttl3600": ({"ttl": 3600}, TTL3600),
    "ttl0": ({"ttl": 0}, TTL0),
    "noendpoints": ({"noendpoints": True}, NOENDPOINTS),
    "ignore_empty_service": ({"ignore_empty_service": True}, IGNORE_EMPTY),
    "namespaces": ({"namespaces": frozenset({"demo-b"})}, NAMESPACES),
    "namespace_labels": ({"namespace_labels": "team=a"}, NAMESPACE_LABELS),
    "labels": ({"labels": "app in (web, api),app"}, LABELS),
    "fallthrough": ({"fallthrough": ()}, FALLTHROUGH_ALL),
    "fallthrough_reverse": ({"fallthrough": ("in-addr.arpa.", "ip6.arpa.")}, FALLTHROUGH_REVERSE),
    "endpoints_legacy": ({"endpoints_legacy": True}, LEGACY),
    "cidr": ({"zones": ("cluster.local.", "96.10.in-addr.arpa.")}, CIDR),
}

PARAMS = [
    pytest.param(name, opts, case, id=f"{name}:{case}")
    for name, (opts, cases) in TABLES.items()
    for case in cases
]


def _config(opts: dict[str, object]):  # type: ignore[no-untyped-def]
    from kdns.plugins.kubernetes.config import parse_selector

    opts = dict(opts)
    for key in ("labels", "namespace_labels"):
        if isinstance(opts.get(key), str):
            opts[key] = parse_selector(str(opts[key]))
    return config(**opts)


@pytest.mark.parametrize("name,opts,case", PARAMS)
async def test_table(name: str, opts: dict[str, object], case: Case) -> None:
    h = handler(_config(opts), info=FakeInfo())
    resp = await ask(h, case.qname, case.qtype)
    check(case, resp)


def test_enough_cases() -> None:
    assert len(PARAMS) >= 120
