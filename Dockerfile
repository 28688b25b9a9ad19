# syntax=docker/dockerfile:1
#
# Images of both pgvip binaries, for linux/amd64 and linux/arm64. Build from the repository
# root and pick the image with --target:
#
#   docker buildx build --platform linux/amd64,linux/arm64 --target controller \
#     -t <registry>/pgvip-controller:<tag> --push .
#   docker buildx build --platform linux/amd64,linux/arm64 --target node-agent \
#     -t <registry>/pgvip-node-agent:<tag> --push .
#
# The build stage runs on the build machine's own platform (no emulation) and cross-compiles
# static musl binaries for TARGETARCH with .ci/cross-build, the same script and commands CI runs
# for both targets (it also checks with `file` that each binary is a static executable of the
# right architecture). TLS is rustls with ring (no OpenSSL), so the final images need no libc:
# distroless "static", no shell, no package manager.

# The toolchain the workspace is tested with; the minimum (rust-version) is 1.89.
ARG RUST_VERSION=1.95

FROM --platform=$BUILDPLATFORM rust:${RUST_VERSION}-bookworm AS build
ARG TARGETARCH
WORKDIR /src
# The C compiler of `ring` for the target (musl-gcc, or Debian's cross gcc) and `file`.
COPY .ci/cross-build .ci/cross-build
RUN apt-get update \
 && apt-get install -y --no-install-recommends $(.ci/cross-build apt-packages "${TARGETARCH}") \
 && rm -rf /var/lib/apt/lists/*
# The whole workspace: cargo loads every member's manifest even when building two packages.
COPY . .
RUN --mount=type=cache,target=/usr/local/cargo/registry \
    --mount=type=cache,target=/src/target,id=pgvip-target,sharing=locked \
    .ci/cross-build build "${TARGETARCH}" /out

# The controller: non-root (distroless "nonroot", uid/gid 65532), which the chart's pod
# securityContext also enforces (runAsNonRoot, read-only root filesystem, no capabilities).
FROM gcr.io/distroless/static-debian12:nonroot AS controller
LABEL org.opencontainers.image.title="pgvip-controller" \
      org.opencontainers.image.description="Keeps PostgreSQL VIPs on the confirmed Patroni leader (OCI private IP moves)" \
      org.opencontainers.image.licenses="Apache-2.0"
COPY --from=build /out/pgvip-controller /usr/local/bin/pgvip-controller
# Numeric so that runAsNonRoot can verify it.
USER 65532:65532
# /metrics, /healthz, /readyz (--metrics-addr, default 0.0.0.0:8080).
EXPOSE 8080
ENTRYPOINT ["/usr/local/bin/pgvip-controller"]

# The node-agent needs CAP_NET_ADMIN (netlink address add/delete) and CAP_NET_RAW (AF_PACKET
# sockets for gratuitous ARP / unsolicited NA) and nothing else. It runs as uid 0 with exactly
# those two capabilities (the chart drops ALL and adds these two, no privilege escalation,
# read-only root filesystem, RuntimeDefault seccomp). A non-root user would get them only through
# file capabilities on the binary plus allowPrivilegeEscalation, which this image deliberately
# does not rely on; uid 0 owns no writable path because the root filesystem is read-only.
FROM gcr.io/distroless/static-debian12 AS node-agent
LABEL org.opencontainers.image.title="pgvip-node-agent" \
      org.opencontainers.image.description="Configures and announces PostgreSQL VIPs on the node that should hold them" \
      org.opencontainers.image.licenses="Apache-2.0"
COPY --from=build /out/pgvip-node-agent /usr/local/bin/pgvip-node-agent
USER 0:0
# /metrics, /healthz, /readyz on the host network (--metrics-addr, default 0.0.0.0:9101).
EXPOSE 9101
ENTRYPOINT ["/usr/local/bin/pgvip-node-agent"]
