"""kdns: a Kubernetes cluster DNS server, a drop-in replacement for CoreDNS."""

__version__ = "0.1.0"
