"""The pure qname grammar of the Kubernetes DNS spec 1.1.0 (CoreDNS plugin/kubernetes/parse.go).

No index here: a name is classified from its labels alone, relative to the zone it fell in.

    <zone>                                   apex (SOA, NS)
    dns-version.<zone>                       TXT "1.1.0"
    ns.dns.<zone>                            the name server named in SOA/NS
    svc.<zone> / pod.<zone>                  exist, no data
    <ns>.svc.<zone> / <ns>.pod.<zone>        a namespace
    <svc>.<ns>.svc.<zone>                    a service
    <label>.<svc>.<ns>.svc.<zone>            one endpoint of a service
    _<port>._<proto>.<svc>.<ns>.svc.<zone>   SRV of a named port
    <a-b-c-d>.<ns>.pod.<zone>                a pod by its dashed address (IPv6: ':' -> '-')
    <label>.<cluster>.<svc>.<ns>.svc.<zone>  an endpoint, in a `multicluster` zone (KEP-1645)
    <topology-zone>._zone.<svc>.<ns>.svc.<zone>   a headless service's endpoints in one topology
                                             zone, with `zonal` (outside multicluster zones)
    d.c.b.a.in-addr.arpa. / 32 nibbles.ip6.arpa.   a reverse name (RFC 1035 3.5, RFC 3596 2.5)

Anything else (another type label, too many labels) is INVALID: the name does not exist.
"""

from __future__ import annotations

import enum
import ipaddress
from collections.abc import Sequence
from typing import NamedTuple


class Kind(enum.Enum):
    APEX = "apex"
    DNS_VERSION = "dns-version"
    NS_DNS = "ns.dns"
    SVC_ROOT = "svc"
    POD_ROOT = "pod"
    NAMESPACE = "namespace"
    POD_NAMESPACE = "pod-namespace"
    SERVICE = "service"
    ENDPOINT = "endpoint"
    PORT = "port"
    POD = "pod-ip"
    REVERSE = "reverse"
    ZONAL = "zonal"
    INVALID = "invalid"


class Name(NamedTuple):
    """A classified name. Immutable as a frozen dataclass, at half the cost to make (one per query)."""

    kind: Kind
    namespace: str = ""
    service: str = ""
    endpoint: str = ""
    port: str = ""
    protocol: str = ""
    ip: str = ""  # POD and REVERSE: the address, normalised
    topology: str = ""  # ZONAL: the topology zone asked for


INVALID = Name(Kind.INVALID)
APEX = Name(Kind.APEX)


def parse(labels: Sequence[str], zone_len: int, multicluster: bool = False, zonal: bool = False) -> Name:
    """Classify a name given as lowercase labels (no root label) under a zone of zone_len labels.

    In a multicluster zone an endpoint is named by its label and its cluster's id (endpoint
    "label.cluster"); with zonal, `<topology-zone>._zone.<svc>.<ns>.svc` names a headless
    service's endpoints in that zone (CoreDNS: only outside multicluster zones).
    """
    if len(labels) >= 2 and labels[-1] == "arpa" and labels[-2] in ("in-addr", "ip6"):
        if len(labels) == zone_len:
            return APEX
        ip = reverse_ip(labels)
        return Name(Kind.REVERSE, ip=ip) if ip else INVALID
    rel = labels[: len(labels) - zone_len]
    n = len(rel)
    if n == 0:
        return APEX
    last = rel[-1]
    if last == "svc":
        if n == 1:
            return Name(Kind.SVC_ROOT)
        if n == 2:
            return Name(Kind.NAMESPACE, namespace=rel[0])
        if n == 3:
            return Name(Kind.SERVICE, namespace=rel[1], service=rel[0])
        if n == 4:
            return Name(Kind.ENDPOINT, namespace=rel[2], service=rel[1], endpoint=rel[0])
        if n == 5:
            port, proto = rel[0], rel[1]
            if len(port) > 1 and len(proto) > 1 and port[0] == "_" and proto[0] == "_":
                return Name(
                    Kind.PORT, namespace=rel[3], service=rel[2], port=port[1:], protocol=proto[1:]
                )
            if multicluster and port[:1] != "_" and proto[:1] != "_":
                return Name(Kind.ENDPOINT, namespace=rel[3], service=rel[2], endpoint=f"{port}.{proto}")
            if zonal and proto == "_zone" and port[:1] != "_":
                return Name(Kind.ZONAL, namespace=rel[3], service=rel[2], topology=port)
        return INVALID
    if last == "pod":
        if n == 1:
            return Name(Kind.POD_ROOT)
        if n == 2:
            return Name(Kind.POD_NAMESPACE, namespace=rel[0])
        if n == 3:
            ip = dashed_ip(rel[0])
            return Name(Kind.POD, namespace=rel[1], ip=ip) if ip else INVALID
        return INVALID
    if n == 1 and last == "dns-version":
        return Name(Kind.DNS_VERSION)
    if n == 2 and tuple(rel) == ("ns", "dns"):
        return Name(Kind.NS_DNS)
    return INVALID


def dashed_ip(label: str) -> str:
    """The address a pod label spells (1-2-3-4, fd00-1--5), normalised; "" when it spells none.

    As CoreDNS: three dashes and no "--" is IPv4, anything else is read as IPv6.
    """
    if label.count("-") == 3 and "--" not in label:
        text = label.replace("-", ".")
    else:
        text = label.replace("-", ":")
    try:
        return str(ipaddress.ip_address(text))
    except ValueError:
        return ""


def ip_label(ip: str) -> str:
    """The dashed form of an address used as an endpoint label (CoreDNS endpointHostname)."""
    label = ip.replace(".", "-") if "." in ip else ip.replace(":", "-")
    # "::1" would give a label starting or ending with "-", which is not a hostname.
    if label.endswith("-"):
        label += "0"
    if label.startswith("-"):
        label = "0" + label
    return label


def reverse_ip(labels: Sequence[str]) -> str:
    """The address a full reverse name stands for, or "" when it is not a complete one."""
    if labels[-2] == "in-addr":
        octets = labels[:-2]
        # isascii first: "²" (byte 0xB2) and other digits beyond ASCII pass isdigit(), not int().
        if len(octets) != 4 or not all(
            o.isascii() and o.isdigit() and str(int(o)) == o and int(o) < 256 for o in octets
        ):
            return ""
        return ".".join(reversed(octets))
    nibbles = labels[:-2]
    if len(nibbles) != 32 or not all(len(x) == 1 and x in "0123456789abcdef" for x in nibbles):
        return ""
    text = "".join(reversed(nibbles))
    return str(ipaddress.IPv6Address(int(text, 16)))


def reverse_name(ip: str) -> str:
    """The reverse name of an address, lowercase, with the trailing dot."""
    return ipaddress.ip_address(ip).reverse_pointer + "."
