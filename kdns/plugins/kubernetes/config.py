"""The `kubernetes` directive: CoreDNS's syntax (plugin/kubernetes/setup.go) plus two kdns extensions.

    kubernetes [ZONES...] {
        endpoint URL
        tls CERT KEY CACERT
        kubeconfig KUBECONFIG [CONTEXT]
        namespaces NAMESPACE...
        namespace_labels EXPRESSION
        labels EXPRESSION
        pods disabled|insecure|verified
        endpoint_pod_names
        ttl TTL
        noendpoints
        fallthrough [ZONES...]
        ignore empty_service
        multicluster [ZONES...]
        zonal
        startup_timeout DURATION
        manifests PATH...          # kdns: serve objects from YAML/JSON files instead of the API
        endpoints_legacy           # kdns: read core/v1 Endpoints instead of EndpointSlices
        explain [ADDRESS]          # kdns: the `kdns explain` debug endpoint (127.0.0.1:9155)
        snapshot FILE [MAX_AGE]    # kdns: keep the index in FILE; serve it if the API is down at start
        upstream [ADDRESS...]      # legacy (CoreDNS before 1.7): accepted, ignored, warned about
    }
"""

from __future__ import annotations

import os
import re
from collections.abc import Mapping
from dataclasses import dataclass

from kdns.corefile.tree import Directive
from kdns.zones import in_zones

POD_MODES = ("disabled", "insecure", "verified")
# The explain endpoint exposes names and addresses: loopback unless an address is given.
EXPLAIN_ADDRESS = ("127.0.0.1", 9155)
SNAPSHOT_MAX_AGE = 3600.0
MAX_TTL = 3600


@dataclass(frozen=True, slots=True)
class Requirement:
    key: str
    op: str  # "=", "!=", "in", "notin", "exists", "!"
    values: frozenset[str] = frozenset()

    def matches(self, labels: Mapping[str, str]) -> bool:
        has = self.key in labels
        value = labels.get(self.key)
        if self.op in ("=", "in"):
            return has and value in self.values
        if self.op in ("!=", "notin"):
            return not has or value not in self.values
        if self.op == "exists":
            return has
        return not has


@dataclass(frozen=True, slots=True)
class Selector:
    """A Kubernetes label selector (apimachinery labels.Parse): every requirement must hold."""

    text: str
    requirements: tuple[Requirement, ...]

    def matches(self, labels: Mapping[str, str] | tuple[tuple[str, str], ...]) -> bool:
        mapping = dict(labels) if isinstance(labels, tuple) else labels
        return all(r.matches(mapping) for r in self.requirements)


_KEY = r"[A-Za-z0-9]([-A-Za-z0-9_./]*[A-Za-z0-9])?"
_VALUE = r"([A-Za-z0-9]([-A-Za-z0-9_.]*[A-Za-z0-9])?)?"
_SET = re.compile(rf"^\s*({_KEY})\s+(in|notin)\s*\((.*)\)\s*$")
_EQ = re.compile(rf"^\s*({_KEY})\s*(==|=|!=)\s*({_VALUE})\s*$")
_EXISTS = re.compile(rf"^\s*(!?)\s*({_KEY})\s*$")
_VALUE_RE = re.compile(rf"^{_VALUE}$")


def parse_selector(text: str) -> Selector:
    """ValueError when text is not a label selector."""
    parts: list[str] = []
    depth = 0
    current = ""
    for ch in text:
        if ch == "(":
            depth += 1
        elif ch == ")":
            depth -= 1
        if ch == "," and depth == 0:
            parts.append(current)
            current = ""
        else:
            current += ch
    parts.append(current)
    requirements = []
    for part in parts:
        if m := _SET.match(part):
            values = [v.strip() for v in m.group(4).split(",")]
            if not all(_VALUE_RE.match(v) for v in values):
                raise ValueError(f"invalid label selector {text!r}")
            requirements.append(Requirement(m.group(1), m.group(3), frozenset(values)))
        elif m := _EQ.match(part):
            op = "=" if m.group(3) == "==" else m.group(3)
            requirements.append(Requirement(m.group(1), op, frozenset([m.group(4)])))
        elif m := _EXISTS.match(part):
            requirements.append(Requirement(m.group(2), "!" if m.group(1) else "exists"))
        else:
            raise ValueError(f"invalid label selector {text!r}")
    return Selector(text, tuple(requirements))


@dataclass(frozen=True)
class Config:
    # Empty: the server block's zones (known only at attach time).
    zones: tuple[str, ...] = ()
    endpoint: str = ""
    tls: tuple[str, str, str] | None = None
    kubeconfig: str = ""
    kubeconfig_context: str = ""
    namespaces: frozenset[str] = frozenset()
    namespace_labels: Selector | None = None
    labels: Selector | None = None
    pods: str = "disabled"
    endpoint_pod_names: bool = False
    ttl: int = 5
    noendpoints: bool = False
    # None: no fallthrough; (): every zone of the plugin; else these zones only.
    fallthrough: tuple[str, ...] | None = None
    ignore_empty_service: bool = False
    startup_timeout: float = 5.0
    manifests: tuple[str, ...] = ()
    endpoints_legacy: bool = False
    explain: tuple[str, int] | None = None  # the debug endpoint's address; None: off
    snapshot: str = ""  # the warm-restart file (snapshot.py); "": none
    snapshot_max_age: float = SNAPSHOT_MAX_AGE
    # Multi-Cluster Services zones, answered from ServiceImports. None: off; (): every zone of the
    # plugin; else these (each one of the plugin's zones).
    multicluster: tuple[str, ...] | None = None
    zonal: bool = False

    def multicluster_zones(self, zones: tuple[str, ...]) -> tuple[str, ...]:
        """The multicluster zones given the plugin's zones (its own, or the server block's)."""
        if self.multicluster is None:
            return ()
        return self.multicluster or zones

    def falls_through(self, qname: str) -> bool:
        """Whether an NXDOMAIN for qname (lowercase, fully qualified) goes to the next plugin."""
        if self.fallthrough is None:
            return False
        if not self.fallthrough:
            return True
        return in_zones(qname, self.fallthrough)


def parse(d: Directive) -> Config:
    opts: dict[str, object] = {"zones": tuple(dict.fromkeys(d.zones()))}
    seen: set[str] = set()
    for o in d.options():
        name = o.name.text
        o.plugin = d.plugin or d.name.text
        if name in seen and name != "fallthrough":
            raise o.error(f"'{name}' given twice")
        seen.add(name)
        o.no_block()
        if name == "endpoint":
            opts["endpoint"] = o.expect_args(1, 1)[0]
        elif name == "tls":
            cert, key, ca = o.expect_args(3, 3)
            opts["tls"] = (cert, key, ca)
        elif name == "kubeconfig":
            args = o.expect_args(1, 2)
            opts["kubeconfig"] = args[0]
            opts["kubeconfig_context"] = args[1] if len(args) > 1 else ""
        elif name == "namespaces":
            opts["namespaces"] = frozenset(a.lower() for a in o.expect_args(1))
        elif name in ("namespace_labels", "labels"):
            text = " ".join(o.expect_args(1))
            try:
                opts[name] = parse_selector(text)
            except ValueError as e:
                raise o.error(str(e)) from None
        elif name == "pods":
            mode = o.expect_args(1, 1)[0]
            if mode not in POD_MODES:
                raise o.error(f"invalid pods mode '{mode}', want one of {', '.join(POD_MODES)}")
            opts["pods"] = mode
        elif name == "endpoint_pod_names":
            o.expect_args(0, 0)
            opts["endpoint_pod_names"] = True
        elif name == "ttl":
            o.expect_args(1, 1)
            opts["ttl"] = o.integer(0, 0, MAX_TTL)
        elif name == "noendpoints":
            o.expect_args(0, 0)
            opts["noendpoints"] = True
        elif name == "fallthrough":
            opts["fallthrough"] = o.zones()
        elif name == "ignore":
            what = o.expect_args(1, 1)[0]
            if what != "empty_service":
                raise o.error(f"unable to parse ignore value: '{what}'")
            opts["ignore_empty_service"] = True
        elif name == "multicluster":
            zones = o.zones()
            mine = opts["zones"]
            for zone in zones:
                if mine and zone not in mine:  # type: ignore[operator]
                    raise o.error(f"multicluster zone '{zone}' is not one of the plugin's zones")
            opts["multicluster"] = zones
        elif name == "zonal":
            o.expect_args(0, 0)
            opts["zonal"] = True
        elif name == "startup_timeout":
            text = o.expect_args(1, 1)[0]
            seconds = o.duration(0)
            if seconds < 0:
                raise o.error(f"startup_timeout must not be negative, got '{text}'")
            opts["startup_timeout"] = seconds
        elif name == "manifests":
            base = os.path.dirname(os.path.abspath(o.file)) if o.file and os.path.exists(o.file) else ""
            opts["manifests"] = tuple(
                p if os.path.isabs(p) or not base else os.path.join(base, p) for p in o.expect_args(1)
            )
        elif name == "endpoints_legacy":
            o.expect_args(0, 0)
            opts["endpoints_legacy"] = True
        elif name == "explain":
            from kdns.server.http import address_arg

            opts["explain"] = address_arg(o, EXPLAIN_ADDRESS)
        elif name == "snapshot":
            args = o.expect_args(1, 2)
            base = os.path.dirname(os.path.abspath(o.file)) if o.file and os.path.exists(o.file) else ""
            opts["snapshot"] = args[0] if os.path.isabs(args[0]) or not base else os.path.join(base, args[0])
            if len(args) > 1:
                seconds = o.duration(1)
                if seconds <= 0:
                    raise o.error(f"snapshot MAX_AGE must be positive, got '{args[1]}'")
                opts["snapshot_max_age"] = seconds
        elif name == "upstream":
            # CoreDNS ignored it from 1.5 on (an ExternalName target is resolved through the
            # server's own chain, as kdns always does) and refuses it since 1.7 (coredns#3737): a
            # cluster whose ConfigMap still has it keeps its answers and is told what to change.
            o.warn(
                "'upstream' is obsolete and ignored: ExternalName targets outside the cluster are "
                "resolved through this server block's own plugins (forward), as CoreDNS does since "
                "1.5; delete this line (CoreDNS 1.7 and later refuse it)"
            )
        else:
            raise o.unknown_option()
    if opts.get("manifests") and ("endpoint" in opts or "kubeconfig" in opts):
        raise d.error("'manifests' cannot be combined with 'endpoint' or 'kubeconfig'")
    if opts.get("manifests") and "snapshot" in opts:
        raise d.error("'snapshot' keeps what the API served: it cannot be combined with 'manifests'")
    return Config(**opts)  # type: ignore[arg-type]
