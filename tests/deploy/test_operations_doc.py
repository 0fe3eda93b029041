"""docs/operations.md cannot rot: its Corefiles load in kdns, its kube-dns conversion example is
right, and the paths and objects it names exist in deploy/."""

from __future__ import annotations

import json
import os
import re
import subprocess
import sys
from pathlib import Path

import pytest
import yaml
from deploy_render import KUSTOMIZATIONS, REPO, build, find

from kdns import plugins
from kdns.corefile.parser import parse

DOC = (REPO / "docs" / "operations.md").read_text()


def fenced(language: str) -> list[str]:
    return re.findall(rf"^```{language}\n(.*?)^```", DOC, flags=re.S | re.M)


def test_doc_has_corefile_examples() -> None:
    assert len(fenced("corefile")) >= 2


@pytest.mark.parametrize("index", range(len(fenced("corefile"))))
def test_corefile_examples_load(index: int) -> None:
    text = fenced("corefile")[index]
    parse(text, f"operations.md#{index}", known=lambda n: n in plugins.ORDER)
    config = pytest.importorskip("kdns.config", reason="kdns.config (config_from_text) not written yet")
    assert config.config_from_text(text, f"operations.md#{index}", 53).blocks


def test_kube_dns_configmap_conversion_is_faithful() -> None:
    (configmap,) = [d for d in map(yaml.safe_load, fenced("yaml")) if d.get("kind") == "ConfigMap"]
    stub_domains = json.loads(configmap["data"]["stubDomains"])
    upstreams = json.loads(configmap["data"]["upstreamNameservers"])
    (corefile,) = [c for c in fenced("corefile") if "acme.local" in c]
    blocks = {key.zone: block for block in parse(corefile, "doc", known=lambda n: n in plugins.ORDER) for key in block.keys}
    assert set(blocks) == {"."} | {d + "." for d in stub_domains}

    def forward_targets(zone: str) -> list[str]:
        (forward,) = [d for d in blocks[zone].directives if d.name.text == "forward"]
        assert forward.values[0] == "."
        return forward.values[1:]

    assert forward_targets(".") == upstreams
    for domain, servers in stub_domains.items():
        assert forward_targets(domain + ".") == servers
    # Apart from the upstreams, the main block is the one deploy/ ships.
    (shipped,) = parse(
        find(build(KUSTOMIZATIONS["base"]), "ConfigMap", "coredns")["data"]["Corefile"], "cm",
        known=lambda n: n in plugins.ORDER,
    )
    ours = [(d.name.text, d.values if d.name.text != "forward" else d.values[:1]) for d in blocks["."].directives]
    assert ours == [(d.name.text, d.values if d.name.text != "forward" else d.values[:1]) for d in shipped.directives]


def test_paths_named_in_the_doc_exist() -> None:
    paths = set(re.findall(r"`((?:deploy|kdns|docs)/[\w./<>-]*)`", DOC))
    assert paths
    for path in paths:
        if "<" in path:
            continue
        assert (REPO / path).exists(), path


def test_doc_names_the_objects_deploy_creates() -> None:
    base = build(KUSTOMIZATIONS["base"])
    for kind, name in [("Deployment", "coredns"), ("ConfigMap", "coredns"), ("Service", "kube-dns"),
                       ("ClusterRole", "system:coredns"), ("PodDisruptionBudget", "coredns")]:
        assert find(base, kind, name)
        assert f"`{name}`" in DOC, name
    assert find(base, "Service", "kube-dns")["spec"]["clusterIP"] in DOC
    nodelocal = find(build(KUSTOMIZATIONS["nodelocal"]), "ConfigMap", "node-local-dns")["data"]["Corefile"]
    assert "bind 169.254.20.10" in nodelocal and "169.254.20.10" in DOC


def test_validate_prints_what_the_doc_shows(tmp_path: Path) -> None:
    # The Corefile of "Corefiles from older clusters" through the real `kdns -validate`.
    section = DOC.split("## Corefiles from older clusters", 1)[1].split("\n## ", 1)[0]
    (corefile,) = re.findall(r"^```corefile\n(.*?)^```", section, flags=re.S | re.M)
    console_block = r"^```console\n\$ (kdns -validate -conf Corefile)\n(.*?)^```"
    (console,) = re.findall(console_block, section, flags=re.S | re.M)
    (tmp_path / "Corefile").write_text(corefile)
    out = subprocess.run(
        [sys.executable, "-m", "kdns", *console[0].split()[1:]], capture_output=True, text=True, timeout=60,
        cwd=tmp_path, env={**os.environ, "PYTHONPATH": str(REPO)},
    )
    assert (out.returncode, out.stderr) == (0, "")
    assert out.stdout == console[1]
    assert "kubectl get cm coredns -n kube-system -o jsonpath='{.data.Corefile}' > Corefile && " \
        "kdns -validate -conf Corefile" in section
