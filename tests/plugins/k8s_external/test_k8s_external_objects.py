"""What the slim Service keeps for k8s_external: externalIPs, then the load balancer ingress
(each its ip, else its hostname), as CoreDNS's object.Service.ExternalIPs."""

from __future__ import annotations

from typing import Any

import pytest

from kdns.plugins.kubernetes.objects import service_from


def service(spec: dict[str, Any], status: Any = None) -> dict[str, Any]:
    d: dict[str, Any] = {"metadata": {"name": "svc", "namespace": "ns"}, "spec": {"clusterIP": "10.0.0.1", **spec}}
    if status is not None:
        d["status"] = status
    return d


@pytest.mark.parametrize(
    "spec, status, external",
    [
        ({}, None, ()),
        ({}, {"loadBalancer": {}}, ()),
        ({"externalIPs": ["1.2.3.4", "2001:DB8::1"]}, None, ("1.2.3.4", "2001:db8::1")),
        ({"type": "LoadBalancer"}, {"loadBalancer": {"ingress": [{"ip": "5.6.7.8"}, {"hostname": "LB.Example.com."}]}},
         ("5.6.7.8", "lb.example.com")),
        # externalIPs first; an address given twice once.
        ({"type": "LoadBalancer", "externalIPs": ["5.6.7.8"]},
         {"loadBalancer": {"ingress": [{"ip": "9.9.9.9", "hostname": "ignored.example"}, {"ip": "5.6.7.8"}]}},
         ("5.6.7.8", "9.9.9.9")),
        # An ingress entry with neither (only ports) gives nothing.
        ({"type": "LoadBalancer"}, {"loadBalancer": {"ingress": [{"ports": [{"port": 80}]}]}}, ()),
    ],
)
def test_external_ips(spec: dict[str, Any], status: Any, external: tuple[str, ...]) -> None:
    assert service_from(service(spec, status)).external_ips == external


def test_an_external_name_service_has_none() -> None:
    d = service({"type": "ExternalName", "externalName": "example.com", "externalIPs": ["1.2.3.4"]})
    assert service_from(d).external_ips == ()


@pytest.mark.parametrize(
    "spec, status, message",
    [
        ({"externalIPs": ["not-an-ip"]}, None, "not an IP address"),
        ({"externalIPs": "1.2.3.4"}, None, "spec.externalIPs is not a list"),
        ({}, {"loadBalancer": {"ingress": [{"hostname": "bad_host!"}]}}, "is not a DNS name"),
        ({}, {"loadBalancer": {"ingress": {"ip": "1.2.3.4"}}}, "status.loadBalancer.ingress is not a list"),
        ({}, "running", "status is not an object"),
    ],
)
def test_malformed_is_value_error(spec: dict[str, Any], status: Any, message: str) -> None:
    with pytest.raises(ValueError, match=message):
        service_from(service(spec, status))
