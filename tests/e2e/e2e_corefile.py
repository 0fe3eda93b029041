"""The Corefile of deploy/base's ConfigMap, read from the YAML, and a checked text edit of it.

The e2e tests run that Corefile, not a copy: a change to the ConfigMap is what they test. Each
edit must match exactly once, so a ConfigMap that changes shape fails loudly instead of being
half-edited.
"""

from __future__ import annotations

from pathlib import Path

import yaml

DEPLOY = Path(__file__).resolve().parents[2] / "deploy" / "base"


def configmap_corefile() -> str:
    for doc in yaml.safe_load_all((DEPLOY / "configmap.yaml").read_text()):
        if doc and doc.get("kind") == "ConfigMap":
            return str(doc["data"]["Corefile"])
    raise AssertionError("deploy/base/configmap.yaml has no ConfigMap")


def sub_once(text: str, old: str, new: str) -> str:
    assert text.count(old) == 1, f"the ConfigMap's Corefile no longer has {old!r} exactly once"
    return text.replace(old, new)
