"""deploy/: the kustomize base and overlays, checked offline.

Every rendered object is validated strictly against the Kubernetes OpenAPI schemas that the
kubernetes-validate package ships; the rest checks what a schema cannot: that the objects replace
kubeadm's CoreDNS in place, that RBAC is read-only, that probes, ports, selectors and the Corefiles
agree with each other.
"""

from __future__ import annotations

import copy
import json
import shutil
import subprocess
import tomllib
from pathlib import Path
from typing import Any

import kubernetes_validate
import pytest
import yaml
from deploy_render import (
    DEPLOY,
    KUSTOMIZATIONS,
    REPO,
    Obj,
    RenderError,
    apply_json6902,
    build,
    find,
    identity,
    load_kustomization,
)

from kdns import plugins
from kdns.corefile.parser import parse
from kdns.corefile.tree import Directive, ServerBlock

# Oldest schema the package ships (EndpointSlice and PDB v1 are GA since 1.21, the
# ip_unprivileged_port_start sysctl is "safe" since 1.22), a current one, and the newest.
SCHEMA_VERSIONS = ("1.25.0", "1.30.0", kubernetes_validate.latest_version())

# kubeadm's CoreDNS objects (kubernetes/kubernetes cmd/kubeadm/app/phases/addons/dns/manifests.go):
# kdns keeps every name so that `kubectl apply -k deploy/` replaces them in place.
KUBEADM_OBJECTS = {
    ("ServiceAccount", "kube-system", "coredns"),
    ("ClusterRole", "", "system:coredns"),
    ("ClusterRoleBinding", "", "system:coredns"),
    ("ConfigMap", "kube-system", "coredns"),
    ("Deployment", "kube-system", "coredns"),
    ("Service", "kube-system", "kube-dns"),
}
# kubeadm's CoreDNSConfigMap template with DNSDomain = cluster.local.
KUBEADM_COREFILE = """\
.:53 {
    errors
    health {
       lameduck 5s
    }
    ready
    kubernetes cluster.local in-addr.arpa ip6.arpa {
       pods insecure
       fallthrough in-addr.arpa ip6.arpa
       ttl 30
    }
    prometheus :9153
    forward . /etc/resolv.conf {
       max_concurrent 1000
    }
    cache 30 {
       disable success cluster.local
       disable denial cluster.local
    }
    loop
    reload
    loadbalance
}
"""
# CoreDNS's defaults for `health` and `ready` without an address (plugin READMEs).
HEALTH_DEFAULT_PORT = 8080
READY_DEFAULT_PORT = 8181
NODELOCAL_ADDRESS = "169.254.20.10"


@pytest.fixture(scope="module")
def rendered() -> dict[str, list[Obj]]:
    return {name: build(path) for name, path in KUSTOMIZATIONS.items()}


@pytest.fixture(scope="module")
def base(rendered: dict[str, list[Obj]]) -> list[Obj]:
    return rendered["base"]


def pod_spec(obj: Obj) -> Obj:
    spec: Obj = obj["spec"]["template"]["spec"]
    return spec


def container(obj: Obj, name: str) -> Obj:
    (hit,) = [c for c in pod_spec(obj)["containers"] if c["name"] == name]
    return hit


def corefile_blocks(configmap: Obj) -> list[ServerBlock]:
    # Every directive must be a plugin name kdns knows (its ORDER), whether or not that plugin's
    # package is written yet: a typo or a CoreDNS-only plugin fails here.
    return parse(configmap["data"]["Corefile"], configmap["metadata"]["name"], known=lambda n: n in plugins.ORDER)


def directive(block: ServerBlock, name: str) -> Directive:
    (hit,) = [d for d in block.directives if d.name.text == name]
    return hit


def shape(directives: list[Directive] | None) -> list[Any]:
    """A parse tree without file/line, to compare two Corefiles whatever their layout."""
    return [(d.name.text, d.values, shape(d.block) if d.block is not None else None) for d in directives or []]


def selects(selector: Obj, labels: dict[str, str]) -> bool:
    if any(labels.get(k) != v for k, v in selector.get("matchLabels", {}).items()):
        return False
    for expr in selector.get("matchExpressions", []):
        assert expr["operator"] == "In", expr
        if labels.get(expr["key"]) not in expr["values"]:
            return False
    return True


def container_port(obj: Obj, container_name: str, port: int | str, protocol: str = "TCP") -> Obj:
    """The container port a probe or Service port refers to, by name or by number."""
    (hit,) = [
        p for p in container(obj, container_name)["ports"]
        if p.get("name") == port or (p["containerPort"] == port and p.get("protocol", "TCP") == protocol)
    ]
    return hit


# ---- rendering and schemas ------------------------------------------------------------------


@pytest.mark.parametrize("version", SCHEMA_VERSIONS)
@pytest.mark.parametrize("kustomization", sorted(KUSTOMIZATIONS))
def test_objects_validate_strictly(rendered: dict[str, list[Obj]], kustomization: str, version: str) -> None:
    failures = []
    for obj in rendered[kustomization]:
        try:
            kubernetes_validate.validate(obj, version, strict=True)
        except kubernetes_validate.ValidationError as e:
            failures.append(f"{identity(obj)}: {e}")
    assert not failures, "\n".join(failures)


def test_strict_validation_rejects_an_unknown_field(base: list[Obj]) -> None:
    # The schema check above is only worth something if a misspelt field fails it.
    deployment = copy.deepcopy(find(base, "Deployment", "coredns"))
    container(deployment, "coredns")["readinesProbe"] = {}
    with pytest.raises(kubernetes_validate.ValidationError):
        kubernetes_validate.validate(deployment, SCHEMA_VERSIONS[1], strict=True)


@pytest.mark.skipif(shutil.which("kubectl") is None, reason="kubectl (with its built-in kustomize) not installed")
@pytest.mark.parametrize("kustomization", sorted(KUSTOMIZATIONS))
def test_renderer_agrees_with_kubectl_kustomize(rendered: dict[str, list[Obj]], kustomization: str) -> None:
    out = subprocess.run(
        ["kubectl", "kustomize", str(KUSTOMIZATIONS[kustomization])],
        capture_output=True, text=True, timeout=60, check=True,
    ).stdout
    theirs = {identity(o): o for o in yaml.safe_load_all(out) if o}
    ours = {identity(o): o for o in rendered[kustomization]}
    assert ours == theirs


def test_renderer_refuses_what_it_does_not_implement(tmp_path: Path) -> None:
    (tmp_path / "kustomization.yaml").write_text(
        "apiVersion: kustomize.config.k8s.io/v1beta1\nkind: Kustomization\ncommonLabels: {a: b}\n"
    )
    with pytest.raises(RenderError, match="commonLabels"):
        load_kustomization(tmp_path)
    with pytest.raises(RenderError, match="does not exist"):
        apply_json6902({"spec": {}}, [{"op": "remove", "path": "/spec/replicas"}])


def test_every_manifest_file_is_used() -> None:
    """No YAML file in deploy/ that no kustomization applies (it would silently never deploy)."""
    used = set()
    for directory in [p.parent for p in DEPLOY.rglob("kustomization.yaml")]:
        used.add(directory / "kustomization.yaml")
        k = load_kustomization(directory)
        used.update((directory / r).resolve() for r in k.get("resources", []))
        used.update((directory / p["path"]).resolve() for p in k.get("patches", []))
    files = {p.resolve() for p in DEPLOY.rglob("*.yaml")}
    assert files - {u.resolve() for u in used} == set()


def test_overlays_leave_the_base_alone_except_what_they_patch(rendered: dict[str, list[Obj]]) -> None:
    base_objects = {identity(o): o for o in rendered["base"]}
    patched = {"legacy-endpoints": {"ClusterRole", "ConfigMap"}, "autoscale": {"Deployment"}, "nodelocal": set()}
    for overlay, kinds in patched.items():
        objects = {identity(o): o for o in rendered[overlay]}
        assert set(base_objects) <= set(objects)
        changed = {key[1] for key, obj in base_objects.items() if objects[key] != obj}
        assert changed == kinds, overlay


# ---- in-place replacement of kubeadm's CoreDNS ----------------------------------------------


def test_base_keeps_kubeadms_object_names(base: list[Obj]) -> None:
    names = {(o["kind"], o["metadata"].get("namespace", ""), o["metadata"]["name"]) for o in base}
    assert names == KUBEADM_OBJECTS | {("PodDisruptionBudget", "kube-system", "coredns")}


def test_deployment_selector_is_kubeadms(base: list[Obj]) -> None:
    # spec.selector is immutable: any other value and `kubectl apply` over kubeadm's Deployment fails.
    deployment = find(base, "Deployment", "coredns")
    assert deployment["spec"]["selector"] == {"matchLabels": {"k8s-app": "kube-dns"}}
    labels = deployment["spec"]["template"]["metadata"]["labels"]
    assert selects(deployment["spec"]["selector"], labels)
    assert selects({"matchLabels": find(base, "Service", "kube-dns")["spec"]["selector"]}, labels)
    assert selects(find(base, "PodDisruptionBudget", "coredns")["spec"]["selector"], labels)


def test_container_volume_and_port_names_are_kubeadms(base: list[Obj]) -> None:
    # Client-side apply merges these lists by name; a new name would leave kubeadm's entry beside ours.
    spec = pod_spec(find(base, "Deployment", "coredns"))
    assert [c["name"] for c in spec["containers"]] == ["coredns"]
    assert [v["name"] for v in spec["volumes"]] == ["config-volume", "tmp"]
    ports = {(p["name"], p["containerPort"], p["protocol"]) for p in spec["containers"][0]["ports"]}
    assert ports == {
        ("dns", 53, "UDP"), ("dns-tcp", 53, "TCP"), ("metrics", 9153, "TCP"),
        ("liveness-probe", 8080, "TCP"), ("readiness-probe", 8181, "TCP"),
    }


def test_configmap_corefile_is_kubeadms(base: list[Obj]) -> None:
    configmap = find(base, "ConfigMap", "coredns")
    assert list(configmap["data"]) == ["Corefile"]
    ours = corefile_blocks(configmap)
    theirs = parse(KUBEADM_COREFILE, "kubeadm", known=lambda n: n in plugins.ORDER)
    assert [[(k.zone, k.port) for k in b.keys] for b in ours] == [[(".", 53)]]
    assert [shape(b.directives) for b in ours] == [shape(b.directives) for b in theirs]


# ---- RBAC -----------------------------------------------------------------------------------


def rule_grants(role: Obj) -> set[tuple[str, str, str]]:
    grants = set()
    for rule in role["rules"]:
        assert set(rule) == {"apiGroups", "resources", "verbs"}, rule  # no resourceNames/nonResourceURLs
        for group in rule["apiGroups"]:
            for resource in rule["resources"]:
                for verb in rule["verbs"]:
                    grants.add((group, resource, verb))
    return grants


READ = ("list", "watch")
BASE_GRANTS = {
    (group, resource, verb)
    for group, resource in [("", "services"), ("", "namespaces"), ("", "pods"), ("discovery.k8s.io", "endpointslices")]
    for verb in READ
}


def test_clusterrole_only_lists_and_watches_what_dns_needs(base: list[Obj]) -> None:
    assert rule_grants(find(base, "ClusterRole", "system:coredns")) == BASE_GRANTS


def test_legacy_endpoints_overlay_adds_only_endpoints(rendered: dict[str, list[Obj]]) -> None:
    role = find(rendered["legacy-endpoints"], "ClusterRole", "system:coredns")
    assert rule_grants(role) == BASE_GRANTS | {("", "endpoints", verb) for verb in READ}


def test_legacy_endpoints_overlay_tells_kdns_to_read_endpoints(rendered: dict[str, list[Obj]]) -> None:
    """Its Corefile is the base's plus exactly one option, `endpoints_legacy` (a kdns extension of
    the kubernetes plugin), so the extra permission is used and nothing else drifts."""
    (legacy,) = corefile_blocks(find(rendered["legacy-endpoints"], "ConfigMap", "coredns"))
    (base_block,) = corefile_blocks(find(rendered["base"], "ConfigMap", "coredns"))
    options = [o.name.text for o in directive(legacy, "kubernetes").options()]
    assert options == [o.name.text for o in directive(base_block, "kubernetes").options()] + ["endpoints_legacy"]
    without = shape(legacy.directives)
    kubernetes_at = [d[0] for d in without].index("kubernetes")
    name, values, block = without[kubernetes_at]
    without[kubernetes_at] = (name, values, [o for o in block if o[0] != "endpoints_legacy"])
    assert without == shape(base_block.directives)


def test_binding_gives_the_role_to_the_pods_service_account(base: list[Obj]) -> None:
    binding = find(base, "ClusterRoleBinding", "system:coredns")
    assert binding["roleRef"] == {"apiGroup": "rbac.authorization.k8s.io", "kind": "ClusterRole", "name": "system:coredns"}
    deployment = find(base, "Deployment", "coredns")
    assert binding["subjects"] == [
        {"kind": "ServiceAccount", "name": pod_spec(deployment)["serviceAccountName"], "namespace": "kube-system"}
    ]
    assert find(base, "ServiceAccount", pod_spec(deployment)["serviceAccountName"])


# ---- the Deployment ---------------------------------------------------------------------------


def test_deployment_scheduling(base: list[Obj]) -> None:
    deployment = find(base, "Deployment", "coredns")
    spec = pod_spec(deployment)
    assert deployment["spec"]["replicas"] == 2
    assert spec["priorityClassName"] == "system-cluster-critical"
    assert spec["dnsPolicy"] == "Default"
    (term,) = spec["affinity"]["podAntiAffinity"]["preferredDuringSchedulingIgnoredDuringExecution"]
    assert term["podAffinityTerm"]["topologyKey"] == "kubernetes.io/hostname"
    # The anti-affinity must select the DNS pods themselves, or it spreads nothing.
    assert selects(term["podAffinityTerm"]["labelSelector"], deployment["spec"]["template"]["metadata"]["labels"])
    assert {"key": "CriticalAddonsOnly", "operator": "Exists"} in spec["tolerations"]
    assert {"key": "node-role.kubernetes.io/control-plane", "effect": "NoSchedule"} in spec["tolerations"]


def test_deployment_probes_match_the_corefile(base: list[Obj]) -> None:
    deployment = find(base, "Deployment", "coredns")
    coredns = container(deployment, "coredns")
    (block,) = corefile_blocks(find(base, "ConfigMap", "coredns"))
    health = directive(block, "health").values
    ready = directive(block, "ready").values
    health_port = int(health[0].rpartition(":")[2]) if health else HEALTH_DEFAULT_PORT
    ready_port = int(ready[0].rpartition(":")[2]) if ready else READY_DEFAULT_PORT

    live = coredns["livenessProbe"]["httpGet"]
    assert live["path"] == "/health"
    assert container_port(deployment, "coredns", live["port"])["containerPort"] == health_port == 8080
    ready_get = coredns["readinessProbe"]["httpGet"]
    assert ready_get["path"] == "/ready"
    assert container_port(deployment, "coredns", ready_get["port"])["containerPort"] == ready_port == 8181
    prometheus_port = int(directive(block, "prometheus").values[0].rpartition(":")[2])
    assert container_port(deployment, "coredns", "metrics")["containerPort"] == prometheus_port
    assert {k.port for k in block.keys} == {container_port(deployment, "coredns", "dns")["containerPort"]}


def test_deployment_resources(base: list[Obj]) -> None:
    resources = container(find(base, "Deployment", "coredns"), "coredns")["resources"]
    assert resources == {"requests": {"cpu": "100m", "memory": "70Mi"}, "limits": {"memory": "170Mi"}}


def test_deployment_runs_unprivileged(base: list[Obj]) -> None:
    spec = pod_spec(find(base, "Deployment", "coredns"))
    pod = spec["securityContext"]
    assert pod["runAsNonRoot"] is True
    assert isinstance(pod["runAsUser"], int) and pod["runAsUser"] > 0
    # A non-root process gets no effective NET_BIND_SERVICE from capabilities.add; this sysctl is
    # what lets it bind port 53.
    assert {"name": "net.ipv4.ip_unprivileged_port_start", "value": "0"} in pod["sysctls"]
    sc = container(find(base, "Deployment", "coredns"), "coredns")["securityContext"]
    assert sc == {
        "allowPrivilegeEscalation": False,
        "readOnlyRootFilesystem": True,
        "capabilities": {"drop": ["ALL"], "add": ["NET_BIND_SERVICE"]},
    }


def test_deployment_mounts_the_configmap_where_args_point(base: list[Obj]) -> None:
    deployment = find(base, "Deployment", "coredns")
    coredns = container(deployment, "coredns")
    assert coredns["args"] == ["-conf", "/etc/coredns/Corefile"]
    (mount,) = [m for m in coredns["volumeMounts"] if m["name"] == "config-volume"]
    (volume,) = [v for v in pod_spec(deployment)["volumes"] if v["name"] == "config-volume"]
    path = f"{mount['mountPath']}/{volume['configMap']['items'][0]['path']}"
    assert path == coredns["args"][1]
    assert volume["configMap"]["name"] == "coredns"
    assert volume["configMap"]["items"][0]["key"] == "Corefile"


def test_image_tag_is_the_package_version(rendered: dict[str, list[Obj]]) -> None:
    version = tomllib.loads((REPO / "pyproject.toml").read_text())["project"]["version"]
    images = set()
    for objects in rendered.values():
        for obj in objects:
            if obj["kind"] in ("Deployment", "DaemonSet") and obj["metadata"]["name"] != "kube-dns-autoscaler":
                spec = pod_spec(obj)
                images |= {c["image"] for c in spec["containers"] + spec.get("initContainers", [])}
    assert images == {f"ghcr.io/kdns/kdns:{version}"}


# ---- the Service and the PDB ----------------------------------------------------------------


def test_service_is_kubeadms_kube_dns(base: list[Obj]) -> None:
    service = find(base, "Service", "kube-dns")
    assert service["spec"]["clusterIP"] == "10.96.0.10"
    assert service["metadata"]["labels"] == {
        "k8s-app": "kube-dns", "kubernetes.io/cluster-service": "true", "kubernetes.io/name": "CoreDNS",
    }
    assert service["metadata"]["annotations"] == {"prometheus.io/port": "9153", "prometheus.io/scrape": "true"}
    ports = {(p["name"], p["port"], p["protocol"]) for p in service["spec"]["ports"]}
    assert ports == {("dns", 53, "UDP"), ("dns-tcp", 53, "TCP"), ("metrics", 9153, "TCP")}
    deployment = find(base, "Deployment", "coredns")
    for port in service["spec"]["ports"]:
        target = container_port(deployment, "coredns", port["targetPort"], port["protocol"])
        assert target["protocol"] == port["protocol"]
    assert service["metadata"]["annotations"]["prometheus.io/port"] == str(
        container_port(deployment, "coredns", "metrics")["containerPort"]
    )


def test_pdb_allows_one_pod_down(base: list[Obj]) -> None:
    pdb = find(base, "PodDisruptionBudget", "coredns")
    assert pdb["spec"]["maxUnavailable"] == 1
    assert "minAvailable" not in pdb["spec"]


# ---- every pod template, every overlay --------------------------------------------------------


def workloads(objects: list[Obj]) -> list[Obj]:
    return [o for o in objects if o["kind"] in ("Deployment", "DaemonSet")]


@pytest.mark.parametrize("kustomization", sorted(KUSTOMIZATIONS))
def test_every_container_is_locked_down(rendered: dict[str, list[Obj]], kustomization: str) -> None:
    for workload in workloads(rendered[kustomization]):
        spec = pod_spec(workload)
        assert spec["securityContext"]["seccompProfile"] == {"type": "RuntimeDefault"}
        for c in spec["containers"] + spec.get("initContainers", []):
            where = f"{kustomization} {workload['metadata']['name']}/{c['name']}"
            sc = c["securityContext"]
            assert sc["allowPrivilegeEscalation"] is False, where
            assert sc["readOnlyRootFilesystem"] is True, where
            assert sc["capabilities"]["drop"] == ["ALL"], where
            assert len(sc["capabilities"].get("add", [])) <= 1, where
            assert "memory" in c["resources"]["limits"], where
            if sc.get("runAsUser") == 0:
                # Root only where the host network makes it necessary, holding one capability.
                assert spec.get("hostNetwork") is True, where


# ---- node-local cache overlay -----------------------------------------------------------------


def test_nodelocal_listens_on_the_link_local_address(rendered: dict[str, list[Obj]]) -> None:
    objects = rendered["nodelocal"]
    daemonset = find(objects, "DaemonSet", "node-local-dns")
    spec = pod_spec(daemonset)
    assert spec["hostNetwork"] is True
    assert spec["dnsPolicy"] == "Default"
    assert spec["automountServiceAccountToken"] is False
    blocks = corefile_blocks(find(objects, "ConfigMap", spec["volumes"][0]["configMap"]["name"]))
    for block in blocks:
        assert directive(block, "bind").values == [NODELOCAL_ADDRESS]
        assert {k.port for k in block.keys} == {53}
    (setup,) = spec["initContainers"]
    assert f"ip addr replace {NODELOCAL_ADDRESS}/32 dev nodelocaldns" in " ".join(setup["command"])
    node_cache = container(daemonset, "node-cache")
    live = node_cache["livenessProbe"]["httpGet"]
    (health,) = [directive(b, "health") for b in blocks if any(d.name.text == "health" for d in b.directives)]
    assert health.values == [f"{live['host']}:{live['port']}"]
    assert live["host"] == NODELOCAL_ADDRESS
    for block in blocks:
        prometheus_port = int(directive(block, "prometheus").values[0].rpartition(":")[2])
        assert prometheus_port == container_port(daemonset, "node-cache", "metrics")["containerPort"]
        assert str(prometheus_port) == daemonset["spec"]["template"]["metadata"]["annotations"]["prometheus.io/port"]


def test_nodelocal_forwards_cluster_names_to_kube_dns_over_tcp(rendered: dict[str, list[Obj]]) -> None:
    objects = rendered["nodelocal"]
    blocks = corefile_blocks(find(objects, "ConfigMap", "node-local-dns"))
    (kubernetes,) = corefile_blocks(find(objects, "ConfigMap", "coredns"))
    cluster_zones = {z if z.endswith(".") else z + "." for z in directive(kubernetes, "kubernetes").values}
    cluster_ip = find(objects, "Service", "kube-dns")["spec"]["clusterIP"]
    by_zone = {k.zone: b for b in blocks for k in b.keys}
    assert cluster_zones <= set(by_zone)
    for zone in cluster_zones:
        forward = directive(by_zone[zone], "forward")
        assert forward.values == [".", cluster_ip]
        assert [o.name.text for o in forward.options()] == ["force_tcp"]
        assert directive(by_zone[zone], "cache")
    assert directive(by_zone["."], "forward").values == [".", "/etc/resolv.conf"]


# ---- autoscale overlay ------------------------------------------------------------------------


def test_autoscaler_owns_the_replica_count(rendered: dict[str, list[Obj]]) -> None:
    objects = rendered["autoscale"]
    assert "replicas" not in find(objects, "Deployment", "coredns")["spec"]
    autoscaler = find(objects, "Deployment", "kube-dns-autoscaler")
    flags = dict(a.removeprefix("--").split("=", 1) for a in container(autoscaler, "autoscaler")["command"][1:])
    assert flags["target"] == "deployment/coredns"
    assert flags["namespace"] == "kube-system"
    params = json.loads(find(objects, "ConfigMap", flags["configmap"])["data"]["linear"])
    # The keys cluster-proportional-autoscaler's linear controller reads; anything else is ignored.
    assert set(params) <= {"coresPerReplica", "nodesPerReplica", "min", "max",
                           "preventSinglePointFailure", "includeUnschedulableNodes"}
    assert params["min"] >= 2 and params["preventSinglePointFailure"] is True


def test_autoscaler_rbac_is_scoped_to_its_targets(rendered: dict[str, list[Obj]]) -> None:
    objects = rendered["autoscale"]
    assert rule_grants(find(objects, "ClusterRole", "system:kube-dns-autoscaler")) == {
        ("", "nodes", "list"), ("", "nodes", "watch"),
    }
    role = find(objects, "Role", "kube-dns-autoscaler")
    grants = {
        (group, resource, name, verb)
        for rule in role["rules"]
        for group in rule["apiGroups"] for resource in rule["resources"]
        for name in rule["resourceNames"] for verb in rule["verbs"]
    }
    assert grants == {
        ("apps", "deployments/scale", "coredns", "get"),
        ("apps", "deployments/scale", "coredns", "update"),
        ("", "configmaps", "kube-dns-autoscaler", "get"),
    }
    sa = pod_spec(find(objects, "Deployment", "kube-dns-autoscaler"))["serviceAccountName"]
    subject = [{"kind": "ServiceAccount", "name": sa, "namespace": "kube-system"}]
    assert find(objects, "ClusterRoleBinding", "system:kube-dns-autoscaler")["subjects"] == subject
    assert find(objects, "RoleBinding", "kube-dns-autoscaler")["subjects"] == subject
    assert find(objects, "RoleBinding", "kube-dns-autoscaler")["roleRef"]["name"] == role["metadata"]["name"]


# ---- the Corefiles load in kdns ---------------------------------------------------------------


def shipped_corefile(name: str) -> str:
    if name == "image":
        return (DEPLOY / "image" / "Corefile").read_text()
    kustomization, configmap = {
        "coredns": ("base", "coredns"),
        "coredns-legacy-endpoints": ("legacy-endpoints", "coredns"),
        "node-local-dns": ("nodelocal", "node-local-dns"),
    }[name]
    text: str = find(build(KUSTOMIZATIONS[kustomization]), "ConfigMap", configmap)["data"]["Corefile"]
    return text


@pytest.mark.parametrize("name", ["coredns", "coredns-legacy-endpoints", "node-local-dns", "image"])
def test_corefile_loads_in_kdns(name: str) -> None:
    """Each Corefile deploy/ ships goes through kdns's own config loading (every plugin's option
    parser), as `kdns -conf` does at start."""
    config = pytest.importorskip("kdns.config", reason="kdns.config (config_from_text) not written yet")
    text = shipped_corefile(name)
    loaded = config.config_from_text(text, name, 53)
    written = [sorted(d.name.text for d in b.directives) for b in parse(text, name, known=lambda n: n in plugins.ORDER)]
    assert [sorted(use.name for use in b.plugins) for b in loaded.blocks] == written
