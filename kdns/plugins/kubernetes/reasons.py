"""Why a negative answer is negative: the rule of the DNS specification or the option behind it.

records.py names one of these on every NXDOMAIN and NODATA it makes (a constant: nothing is built
per query); `kdns explain` (explain.py) fills the placeholders from the name asked: {ns}, {svc},
{endpoint}, {port}, {proto}, {ip}, {type}.
"""

from __future__ import annotations

NO_NAMESPACE = "namespace `{ns}` does not exist"
NO_SERVICE = "no Service `{svc}` in namespace `{ns}`"
BELOW_EXTERNAL = "ExternalName service {ns}/{svc} has no names below it"
IP_EXTERNAL = "ExternalName service {ns}/{svc}: its externalName is an IP address, which is not resolved"
NOENDPOINTS = "filtered: `noendpoints`"
IGNORE_EMPTY = "filtered: `ignore empty_service` (service {ns}/{svc} has no ready endpoint)"
NO_ENDPOINT = "no ready endpoint named `{endpoint}` in service {ns}/{svc}"
HEADLESS_EMPTY = "headless service {ns}/{svc} has no ready endpoint"
NO_PORT = "service {ns}/{svc} has no port named `{port}` with protocol `{proto}`"
PODS_DISABLED = "filtered: `pods disabled` (the default)"
POD_NOT_RUNNING = "`pods verified`: no running Pod in namespace `{ns}` has address {ip}"
NO_ADDRESS = "no Service and no ready endpoint has address {ip}"
NOT_A_NAME = "not a name of the Kubernetes DNS schema"
NO_TYPE = "the name exists, without {type} records"
NO_SRV_PORTS = "service {ns}/{svc} has no named ports, so no SRV records"
ZONAL_NOT_HEADLESS = "`zonal`: zonal names exist only below headless services, and {ns}/{svc} is none"
ZONAL_UNKNOWN = "`zonal`: no endpoint has ever been in the topology zone this name asks for"
ZONAL_EMPTY = "`zonal`: headless service {ns}/{svc} has no ready endpoint in the topology zone this name asks for"
