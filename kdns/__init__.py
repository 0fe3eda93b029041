"""kdns: a Kubernetes cluster DNS server, a drop-in replacement for CoreDNS."""

import sys

__version__ = "0.1.0"
# What `-version` and coredns_build_info's goversion say (platform.python_version() without its
# import, a millisecond of start-up).
PYTHON_VERSION = "{}.{}.{}".format(*sys.version_info[:3])
