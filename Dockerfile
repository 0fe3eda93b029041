# kdns container image: `docker build -t ghcr.io/kdns/kdns:0.1.0 .`
# Runs as CoreDNS's does in kubeadm's Deployment: `kdns -conf /etc/coredns/Corefile`, as a
# non-root numeric user (the Deployment's runAsUser), on a read-only root filesystem.
FROM python:3.12-slim

ENV PYTHONDONTWRITEBYTECODE=1 \
    PYTHONUNBUFFERED=1 \
    PIP_DISABLE_PIP_VERSION_CHECK=1

# iproute2 is for deploy/overlays/nodelocal's init container, which adds the link-local
# interface the node-local cache listens on; kdns itself never calls it.
RUN apt-get update \
    && apt-get install -y --no-install-recommends iproute2 \
    && rm -rf /var/lib/apt/lists/*

# 65532 is the uid/gid of CoreDNS's own (distroless nonroot) image. Numeric, so that the kubelet
# can check runAsNonRoot without resolving a name.
RUN groupadd --system --gid 65532 kdns \
    && useradd --system --uid 65532 --gid 65532 --no-create-home --home-dir /nonexistent \
       --shell /usr/sbin/nologin kdns

# Dependencies and kdns itself from pyproject.toml; the sources are not kept in the image. gcc
# builds kdns's one C module (setup.py: the UDP datagram loop) and is removed again; the import
# fails the build if the module was not made, rather than leave the slower fallback in the image.
WORKDIR /src
COPY pyproject.toml setup.py README.md ./
COPY kdns/ kdns/
RUN apt-get update \
    && apt-get install -y --no-install-recommends gcc libc6-dev \
    && pip install --no-cache-dir . \
    && apt-get purge -y --auto-remove gcc libc6-dev \
    && rm -rf /var/lib/apt/lists/* /src \
    && cd / && python -c "import kdns.server._mmsg"

# The default Corefile, a caching forwarder for `docker run`; in a cluster the coredns
# ConfigMap is mounted over /etc/coredns.
COPY deploy/image/Corefile /etc/coredns/Corefile

WORKDIR /
USER 65532:65532

EXPOSE 53/udp 53/tcp 9153/tcp 8080/tcp 8181/tcp

ENTRYPOINT ["kdns"]
CMD ["-conf", "/etc/coredns/Corefile"]
