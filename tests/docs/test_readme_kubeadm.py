"""The README's kubeadm Corefile ("works as it is") is the one the tests load and serve:
tests/fixtures/kubeadm.Corefile (tests/corefile/test_parser.py, tests/plugins/kubernetes/
test_k8s_live_startup.py)."""

from __future__ import annotations

from conftest import KUBEADM_COREFILE, REPO


def test_the_readmes_kubeadm_corefile_is_the_one_tested() -> None:
    readme = (REPO / "README.md").read_text()
    section = readme.split("The kubeadm Corefile works as it is:", 1)[1]
    block = section.split("```", 2)[1]
    assert block.lstrip("\n") == KUBEADM_COREFILE
