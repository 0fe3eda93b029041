"""The six plugins of issue 14 in one Corefile: listed by `kdns -plugins` in chain order, loaded,
answering, reloaded with a change, and each one's broken variant refused naming its line while the
running config keeps serving."""

from __future__ import annotations

import logging
import subprocess
import sys
from pathlib import Path

import dns.asyncquery
import dns.edns
import dns.flags
import dns.message
import dns.rcode
import dns.rdataclass
import pytest

from conftest import RunningServer, kdns_server
from kdns import plugins
from kdns.config import config_from_text
from kdns.errors import ConfigError

SIX = ("nsid", "bufsize", "debug", "pprof", "acl", "chaos")  # in CoreDNS's plugin.cfg order

COREFILE = """\
.:0 {
    nsid kdns-a
    bufsize 512
    debug
    pprof 127.0.0.1:0
    acl {
        block net 127.0.0.3
    }
    chaos v1 ops@example.org
    file db.example.org example.org
}
"""

ZONE = "\n".join(
    ["$ORIGIN example.org.", "@ 60 IN SOA ns1 hostmaster 1 7200 1800 1209600 300", "@ 60 IN NS ns1",
     "ns1 60 IN A 192.0.2.53"] + [f"many 60 IN A 192.0.2.{i}" for i in range(1, 61)]
) + "\n"

# The Corefile after the reload's change.
CHANGED = (
    COREFILE.replace("chaos v1", "chaos v2").replace("nsid kdns-a", "nsid kdns-b")
    .replace("block net 127.0.0.3", "block net 127.0.0.4")
)

# (a line of CHANGED, a broken replacement, the line of the replacement the error names, its words)
BROKEN = [
    ("    nsid kdns-b", "    nsid kdns-b {\n        extra\n    }", 1, "unknown property 'extra'"),
    ("    bufsize 512", "    bufsize 511", 0, "out of range"),
    ("    debug", "    debug on", 0, "wrong argument count"),
    ("    pprof 127.0.0.1:0", "    pprof 127.0.0.1", 0, "missing port"),
    ("        block net 127.0.0.4", "        block net 127.0.0.300", 0, "illegal CIDR notation"),
    ("    chaos v2 ops@example.org", "    chaos v2 {\n        authors\n    }", 1, "unknown property 'authors'"),
]


def test_plugins_flag_lists_the_six_in_chain_order() -> None:
    out = subprocess.run([sys.executable, "-m", "kdns", "-plugins"], capture_output=True, text=True, timeout=30)
    assert out.returncode == 0
    listed = [line.strip().removeprefix("dns.") for line in out.stdout.splitlines() if line.strip().startswith("dns.")]
    assert [name for name in listed if name in SIX] == list(SIX)
    assert [name for name in plugins.ORDER if name in SIX] == list(SIX)


def test_readme_plugin_table_has_the_six_in_chain_order() -> None:
    readme = (Path(plugins.__file__).parents[2] / "README.md").read_text()
    rows = [line.split("]")[0].lstrip("| [") for line in readme.splitlines() if line.startswith("| [")]
    assert [name for name in rows if name in SIX] == list(SIX)
    assert rows == [name for name in plugins.ORDER if name in rows]


async def behaviour(server: RunningServer) -> dict[str, object]:
    """What each plugin does to a query, as a client sees it."""
    host, port = server.host, server.port
    version = await dns.asyncquery.udp(
        dns.message.make_query("version.bind", "TXT", rdclass=dns.rdataclass.CH), host, port=port, timeout=3
    )
    asking = dns.message.make_query("ns1.example.org", "A", use_edns=0, options=[dns.edns.GenericOption(dns.edns.NSID, b"")])
    nsid = await dns.asyncquery.udp(asking, host, port=port, timeout=3)
    big = await dns.asyncquery.udp(dns.message.make_query("many.example.org", "A", use_edns=0, payload=4096), host, port=port, timeout=3)
    blocked = await dns.asyncquery.udp(dns.message.make_query("ns1.example.org", "A"), host, port=port, source="127.0.0.3", timeout=3)
    status, _ = await server.http("pprof", "/debug/pprof/")
    return {
        "chaos": [rd.strings for rd in version.answer[0]],
        "nsid": [opt.to_wire() for opt in nsid.options if opt.otype == dns.edns.NSID],
        "answer": [rd.address for rd in nsid.answer[0]],
        "bufsize": bool(big.flags & dns.flags.TC) and len(big.to_wire()) <= 512,
        "acl": dns.rcode.to_text(blocked.rcode()),
        "pprof": status,
    }


async def test_load_answer_reload_and_refuse_broken_variants(tmp_path: Path, caplog: pytest.LogCaptureFixture) -> None:
    before = logging.getLogger().level
    (tmp_path / "db.example.org").write_text(ZONE)
    # The zone file by its full path: a reload reads it from the server's own working directory.
    zonefile = str(tmp_path / "db.example.org")
    async with kdns_server(COREFILE.replace("db.example.org", zonefile), directory=tmp_path) as server:
        assert await behaviour(server) == {
            "chaos": [(b"v1",)], "nsid": [b"kdns-a"], "answer": ["192.0.2.53"], "bufsize": True,
            "acl": "REFUSED", "pprof": 200,
        }
        server.corefile.write_text(CHANGED.replace("db.example.org", zonefile))
        assert await server.app.reload()
        now = await behaviour(server)
        assert (now["chaos"], now["nsid"], now["acl"]) == ([(b"v2",)], [b"kdns-b"], "NOERROR")

        for line, broken, offset, words in BROKEN:
            text = CHANGED.replace(line, broken).replace("db.example.org", zonefile)
            where = CHANGED.splitlines().index(line) + 1 + offset
            with pytest.raises(ConfigError) as info:
                config_from_text(text, "Corefile", default_port=0)
            assert info.value.line == where and words in info.value.message
            server.corefile.write_text(text)
            caplog.clear()
            assert not await server.app.reload()
            assert f"{server.corefile}:{where}" in caplog.text and words in caplog.text
            # The running config keeps serving, unchanged.
            assert (await behaviour(server))["chaos"] == [(b"v2",)]
    assert logging.getLogger().level == before


# The shape OpenShift's dns-operator writes: bufsize in every block, and a chaos block.
OPENSHIFT = """\
corp.example:5353 {
    forward . 10.0.0.53 {
        policy random
    }
    errors
    log . {
        class error
    }
    bufsize 1232
    cache 900 {
        denial 9984 30
    }
}
.:5353 {
    bufsize 1232
    errors
    log . {
        class error
    }
    health {
        lameduck 20s
    }
    ready
    kubernetes cluster.local in-addr.arpa ip6.arpa {
        pods insecure
        fallthrough in-addr.arpa ip6.arpa
    }
    prometheus 127.0.0.1:9153
    forward . 10.0.0.10 {
        policy sequential
    }
    cache 900 {
        denial 9984 30
    }
    reload
}
hostname.bind:5353 {
    chaos
}
"""


def test_openshift_corefile_loads() -> None:
    blocks = config_from_text(OPENSHIFT, "Corefile").blocks
    assert [[use.name for use in b.plugins if use.name in SIX] for b in blocks] == [["bufsize"], ["bufsize"], ["chaos"]]
