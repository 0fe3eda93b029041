"""proxy FROM TO... { options }: CoreDNS's forwarder before 1.5 (plugin/proxy), read as forward.

CoreDNS 1.5 removed proxy, and later versions refuse a Corefile that has it, so clusters still
carrying it must rewrite their ConfigMap before any CoreDNS upgrade. kdns reads it into forward's
Config, each option mapped to forward's, and logs at load time, once, the forward line that means
the same (Directive.warn), so that nothing silently changes meaning.
"""

from __future__ import annotations

from typing import Any

from kdns.corefile.tree import Directive
from kdns.plugins.forward.config import Config, from_and_to

# CoreDNS plugin/pkg/healthcheck policies -> forward's. least_conn has no equivalent.
POLICIES = {
    "random": "random", "round_robin": "round_robin",
    "first": "sequential", "always_first": "sequential", "sequential": "sequential",
}
# proxy's health_check PATH:PORT [DURATION]: an HTTP check every 4s by default.
HEALTH_CHECK_INTERVAL = 4.0


def parse(d: Directive) -> Config:
    from_zone, upstreams = from_and_to(d)
    if any(u.tls for u in upstreams):
        raise d.error("proxy has no DNS-over-TLS upstreams; write forward with tls:// instead")
    opts: dict[str, Any] = {}
    lines: dict[str, str] = {}  # forward's option lines, for the warning
    spray = False
    fail_timeout: float | None = None
    interval: float | None = None
    for opt in d.options():
        name = opt.name.text
        opt.no_block()
        if name == "policy":
            value = opt.expect_args(1, 1)[0]
            policy = POLICIES.get(value)
            if policy is None:
                why = "forward has no least_conn" if value == "least_conn" else "unknown policy"
                raise opt.error(f"policy '{value}': {why} (random, round_robin or always_first)", opt.args[0])
            opts["policy"] = policy
            lines["policy"] = f"policy {policy}"
        elif name == "fail_timeout":
            opt.expect_args(1, 1)
            fail_timeout = _positive(opt)
        elif name == "max_fails":
            opt.expect_args(1, 1)
            opts["max_fails"] = opt.integer(0, minimum=0)
            lines["max_fails"] = f"max_fails {opts['max_fails']}"
        elif name == "health_check":
            # proxy asks an HTTP endpoint (PATH:PORT); forward asks the upstream itself a DNS
            # question, which is what matters to the queries. Only the interval carries over.
            values = opt.expect_args(1, 2)
            if ":" not in values[0]:
                raise opt.error(f"health_check: '{values[0]}' is not PATH:PORT", opt.args[0])
            interval = _positive(opt, 1) if len(values) == 2 else HEALTH_CHECK_INTERVAL
        elif name == "except":
            opt.expect_args(1)
            opts["except_zones"] = opt.zones()
            lines["except"] = "except " + " ".join(z.rstrip(".") or "." for z in opts["except_zones"])
        elif name == "spray":
            opt.expect_args(0, 0)
            spray = True
        elif name == "protocol":
            _protocol(opt, opts, lines)
        elif name == "report_health":
            raise opt.error("report_health has no equivalent in forward")
        else:
            raise opt.unknown_option()
    # proxy sprays to a random upstream when all are down only with `spray`; forward always does,
    # unless failfast_all_unhealthy_upstreams.
    if not spray:
        opts["failfast_all_unhealthy"] = True
        lines["failfast"] = "failfast_all_unhealthy_upstreams"
    # forward probes a failed upstream every health_check interval until it answers; proxy kept
    # it out for fail_timeout, or checked it every health_check interval.
    if interval is not None or fail_timeout is not None:
        opts["health_check"] = interval if interval is not None else fail_timeout
        lines["health_check"] = f"health_check {_seconds(opts['health_check'])}"
    config = Config(from_zone=from_zone, upstreams=tuple(upstreams), **opts)
    d.warn(
        "proxy is CoreDNS's forwarder before 1.5 and CoreDNS 1.5 and later refuse it; "
        f"kdns runs it as: {_spelling(d, list(lines.values()))}"
    )
    return config


def _protocol(opt: Directive, opts: dict[str, Any], lines: dict[str, str]) -> None:
    values = opt.expect_args(1)
    if values[0] == "dns":
        if values[1:] == ["force_tcp"]:
            opts["force_tcp"] = True
            lines["force_tcp"] = "force_tcp"
        elif values[1:]:
            raise opt.error("only force_tcp allowed as parameter to dns", opt.args[1])
    elif values[0] == "https_google":
        raise opt.error(
            "protocol https_google sends every query to dns.google.com, outside the cluster: "
            "not supported by kdns; forward to resolvers you choose, e.g. forward . tls://8.8.8.8",
            opt.args[0],
        )
    elif values[0] == "grpc":
        raise opt.error("protocol grpc has no equivalent in forward", opt.args[0])
    else:
        raise opt.error(f"invalid protocol: {values[0]}", opt.args[0])


def _positive(opt: Directive, index: int = 0) -> float:
    value = opt.duration(index)
    if value <= 0:
        raise opt.error(f"{opt.name.text} must be positive: {opt.values[index]}", opt.args[index])
    return value


def _seconds(value: float) -> str:
    return f"{value:g}s" if value >= 1 or value == 0 else f"{value * 1000:g}ms"


def _spelling(d: Directive, lines: list[str]) -> str:
    head = " ".join(["forward", *d.values])
    if not lines:
        return head
    if len(lines) == 1:
        return f"{head} {{ {lines[0]} }}"
    return f"{head} {{ {'; '.join(lines)} }} (one option a line)"
