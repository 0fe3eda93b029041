"""The manifests source (kdns extension): files and directories, reload on change, broken files."""

from __future__ import annotations

import asyncio
import json
import os

import yaml
from plugins.kubernetes.k8s_cases import ask, config, handler

from kdns.plugins.kubernetes import manifests
from kdns.plugins.kubernetes.index import ClusterIndex
from kdns.plugins.kubernetes.manifests import ManifestSource, load

Z = "cluster.local."

SERVICE = """
apiVersion: v1
kind: Service
metadata: {{name: web}}
spec: {{clusterIP: {ip}}}
"""


def test_load_shapes(tmp_path) -> None:  # type: ignore[no-untyped-def]
    (tmp_path / "sub").mkdir()
    (tmp_path / "a.yaml").write_text(SERVICE.format(ip="10.0.0.1") + "---\n---\nkind: ConfigMap\nmetadata: {name: x}\n")
    (tmp_path / "sub" / "b.json").write_text(json.dumps({
        "kind": "EndpointSliceList", "items": [
            {"metadata": {"name": "s", "namespace": "other", "labels": {"kubernetes.io/service-name": "db"}},
             "endpoints": [{"addresses": ["10.1.0.1"]}]}]}))
    (tmp_path / "notes.txt").write_text("not a manifest")
    (tmp_path / ".hidden.yaml").write_text(": broken")
    objs = load([str(tmp_path)])
    assert [s["metadata"]["namespace"] for s in objs["Service"]] == ["default"]
    assert objs["EndpointSlice"][0]["kind"] == "EndpointSlice"
    # namespaces used by objects exist without being listed
    assert sorted(n["metadata"]["name"] for n in objs["Namespace"]) == ["default", "other"]


async def test_reload_on_change_and_broken_file_keeps_state(tmp_path, caplog) -> None:  # type: ignore[no-untyped-def]
    path = tmp_path / "cluster.yaml"
    path.write_text(SERVICE.format(ip="10.0.0.1"))
    h = handler(config(manifests=(str(path),)), load=False)
    h.source = None
    source = ManifestSource([str(path)], h.index, interval=0.02)
    await source.start()
    try:
        name = f"web.default.svc.{Z}"
        assert [str(r.rdata) for r in (await ask(h, name, "A")).msg.rr] == ["10.0.0.1"]
        serial = h.index.serial
        path.write_text(SERVICE.format(ip="10.0.0.2"))
        os.utime(path, ns=(1, 1))  # a different mtime even on coarse clocks
        for _ in range(100):
            await asyncio.sleep(0.02)
            if (await ask(h, name, "A")).msg.rr[0].rdata.__str__() == "10.0.0.2":
                break
        assert [str(r.rdata) for r in (await ask(h, name, "A")).msg.rr] == ["10.0.0.2"]
        assert h.index.serial > serial
        path.write_text("kind: Service\nmetadata: {name: [\n")
        await asyncio.sleep(0.2)
        assert "keeping the previous state" in caplog.text
        assert [str(r.rdata) for r in (await ask(h, name, "A")).msg.rr] == ["10.0.0.2"]
        path.unlink()
        await asyncio.sleep(0.2)
        assert [str(r.rdata) for r in (await ask(h, name, "A")).msg.rr] == ["10.0.0.2"]
        # a new file in place: the state is exactly its contents
        path.write_text("kind: Namespace\nmetadata: {name: default}\n")
        await asyncio.sleep(0.2)
        assert (await ask(h, name, "A")).msg.header.rcode == 3
        assert (await ask(h, f"default.svc.{Z}", "A")).msg.header.rcode == 0
    finally:
        await source.stop()


def test_missing_path_is_not_synced(tmp_path) -> None:  # type: ignore[no-untyped-def]
    index = ClusterIndex()
    assert not ManifestSource([str(tmp_path / "nope")], index).reload()
    assert not index.synced


def test_pods_only_when_needed(tmp_path) -> None:  # type: ignore[no-untyped-def]
    (tmp_path / "p.yaml").write_text(
        "kind: Pod\nmetadata: {name: p, namespace: n}\nstatus: {phase: Running, podIP: 10.2.0.1}\n")
    index = ClusterIndex(config(pods="verified"))
    assert ManifestSource([str(tmp_path)], index).reload()
    assert [p.name for p in index.pods_by_ip("10.2.0.1")] == ["p"]
    assert index.namespace_exposed("n")
    plain = ClusterIndex(config())
    assert ManifestSource([str(tmp_path)], plain).reload()
    assert plain.pods_by_ip("10.2.0.1") == ()


def assert_refused(tmp_path, caplog, cases: dict[str, tuple[str, str]]) -> None:  # type: ignore[no-untyped-def]
    """Each file (name: (text, why)) is refused on its own, with an error naming it and saying why."""
    for name, (text, why) in cases.items():
        path = tmp_path / name
        path.write_text(text)
        caplog.clear()
        assert not ManifestSource([str(path)], ClusterIndex()).reload()
        assert f"{path}: {why}" in caplog.text


def test_broken_shapes_are_clear_errors_naming_the_file(tmp_path, caplog) -> None:  # type: ignore[no-untyped-def]
    cases = {
        "items.yaml": ("kind: List\nitems: 5\n", "the items of a List are not a list"),
        "deep.json": ("[" * 100_000 + "]" * 100_000, "nested too deeply"),
        # libyaml's own composer would overflow the C stack here (SIGSEGV, no error at all)
        "deep.yaml": ("[" * 100_000 + "]" * 100_000, "nested too deeply"),
        "deep-block.yaml": ("- " * 100_000 + "x\n", "nested too deeply"),
    }
    assert_refused(tmp_path, caplog, cases)


def test_yaml_that_libyaml_refuses_is_read_by_pyyamls_own_parser(tmp_path, caplog, monkeypatch) -> None:  # type: ignore[no-untyped-def]
    # PyYAML 6.0.4's libyaml refuses flow collections nested past 1,000 levels with a YAMLError
    # of its own, where 6.0.3 got as far as the composer's RecursionError; kdns gives the same
    # answer for both. A loader that refuses every document stands for libyaml on any version.
    class Refusing(yaml.SafeLoader):
        def __init__(self, stream: str) -> None:
            raise yaml.YAMLError("refused")

    monkeypatch.setattr(manifests, "_yaml_loader", lambda: Refusing)
    (tmp_path / "good.yaml").write_text(SERVICE.format(ip="10.0.0.1"))
    assert [s["spec"]["clusterIP"] for s in load([str(tmp_path / "good.yaml")])["Service"]] == ["10.0.0.1"]
    cases = {
        "deep.yaml": ("[" * 100_000 + "]" * 100_000, "nested too deeply to be a manifest"),
        "broken.yaml": ("kind: Service\nmetadata: {name: [\n", ""),
    }
    assert_refused(tmp_path, caplog, cases)


def test_a_list_met_twice_through_yaml_aliases_is_an_error_not_a_hang(tmp_path, caplog) -> None:  # type: ignore[no-untyped-def]
    service = "{kind: Service, metadata: {name: s, namespace: n}, spec: {clusterIP: 10.96.0.1}}"
    laughs = f"a: &a {{kind: List, items: [{service}]}}\n" + "".join(
        f"{b}: &{b} {{kind: List, items: [{', '.join([f'*{a}'] * 10)}]}}\n" for a, b in zip("abcdefgh", "bcdefghi")
    ) + "kind: List\nitems: [*i]\n"
    cases = {
        "itself.yaml": "&top {kind: List, items: [*top]}\n",
        "laughs.yaml": laughs,  # 10^8 Services if expanded
    }
    for name, text in cases.items():
        path = tmp_path / name
        path.write_text(text)
        caplog.clear()
        assert not ManifestSource([str(path)], ClusterIndex()).reload()
        assert f"{path}: a List appears more than once (a YAML alias)" in caplog.text


def test_nested_lists_keep_their_order(tmp_path) -> None:  # type: ignore[no-untyped-def]
    items = [{"kind": "ServiceList", "items": [{"metadata": {"name": f"s{i}{j}"}} for j in range(2)]} for i in range(2)]
    (tmp_path / "l.json").write_text(json.dumps({"kind": "List", "items": items}))
    assert [s["metadata"]["name"] for s in load([str(tmp_path)])["Service"]] == ["s00", "s01", "s10", "s11"]


async def test_a_failing_reload_does_not_end_the_polling(tmp_path, caplog) -> None:  # type: ignore[no-untyped-def]
    path = tmp_path / "cluster.yaml"
    path.write_text(SERVICE.format(ip="10.0.0.1"))
    h = handler(config(manifests=(str(path),)), load=False)
    source = ManifestSource([str(path)], h.index, interval=0.02)
    await source.start()
    try:
        real, calls = source.reload, []

        def reload_once_broken() -> bool:
            calls.append(1)
            if len(calls) == 1:
                raise RuntimeError("a bug")
            return real()

        source.reload = reload_once_broken  # type: ignore[method-assign]
        path.write_text(SERVICE.format(ip="10.0.0.2"))
        os.utime(path, ns=(1, 1))
        name = f"web.default.svc.{Z}"
        for _ in range(100):
            await asyncio.sleep(0.02)
            if [str(r.rdata) for r in (await ask(h, name, "A")).msg.rr] == ["10.0.0.2"]:
                break
        assert [str(r.rdata) for r in (await ask(h, name, "A")).msg.rr] == ["10.0.0.2"]
        assert "RuntimeError: a bug" in caplog.text
    finally:
        await source.stop()


def test_names_are_kubernetes_names(tmp_path, caplog) -> None:  # type: ignore[no-untyped-def]
    """A Service `Web` would be stored as written and never answer (queries are lowercased), nor
    join its slices: like the API, kdns takes no such name. The file is named in the warning."""
    path = tmp_path / "c.yaml"
    path.write_text(
        "kind: Service\nmetadata: {name: Web, namespace: n}\nspec: {clusterIP: 10.0.0.1}\n---\n"
        "kind: Service\nmetadata: {name: db, namespace: n}\nspec: {clusterIP: 10.0.0.2, ports: [{port: 99999}]}\n---\n"
        "kind: Service\nmetadata: {name: odd, namespace: [n]}\nspec: {clusterIP: 10.0.0.3}\n"
    )
    index = ClusterIndex(config())
    assert ManifestSource([str(path)], index).reload()
    assert index.service("n", "Web") is None and index.service("n", "web") is None
    assert index.services_by_ip("10.0.0.2") == ()
    assert f"{path}: skipping malformed Service: metadata.name 'Web'" in caplog.text
    assert f"{path}: skipping malformed Service n/db: spec.ports.port 99999" in caplog.text
    # a namespace that is no string does not become a Namespace either
    assert f"{path}: skipping Service odd: metadata.namespace is not a string" in caplog.text
    assert index.namespaces() == ["n"]


def test_an_object_in_an_invalid_namespace_implies_no_namespace(tmp_path, caplog) -> None:  # type: ignore[no-untyped-def]
    path = tmp_path / "c.yaml"
    path.write_text(
        "kind: Service\nmetadata: {name: web, namespace: Shop}\nspec: {clusterIP: 10.0.0.1}\n---\n"
        "kind: Service\nmetadata: {name: db, namespace: n}\nspec: {clusterIP: 10.0.0.2}\n"
    )
    index = ClusterIndex(config())
    assert ManifestSource([str(path)], index).reload()
    assert f"{path}: skipping Service web: metadata.namespace 'Shop' is not a valid name" in caplog.text
    # One warning, naming the file: no second one about a Namespace nobody wrote.
    assert "Namespace" not in caplog.text
    assert index.namespaces() == ["n"]
