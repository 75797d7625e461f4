# syntax=docker/dockerfile:1
# The engram server image: a release build of the `engram` binary on distroless (glibc, no
# shell, non-root uid 65532).
#   docker build -t ghcr.io/engram-dev/engram:0.1.0 --build-arg VERSION=0.1.0 .
#   docker run -p 9100:9100 -v engram-data:/data ghcr.io/engram-dev/engram:0.1.0
# Kubernetes manifests: deploy/ (see deploy/README.md).

# Bookworm on purpose: the binary links glibc dynamically and must not need a newer glibc than
# the runtime's Debian 12 (a trixie builder would produce a binary that fails to start there).
FROM rust:1.95-slim-bookworm AS build
WORKDIR /src
COPY . .
# protoc comes from the protoc-bin-vendored crate and the C parts (SQLite, zstd, ring)
# need only gcc, which the rust image has. The cache mounts keep the crate downloads and the
# build directory between builds; the binary is copied out of the cached target/.
RUN --mount=type=cache,target=/usr/local/cargo/registry \
    --mount=type=cache,target=/usr/local/cargo/git/db \
    --mount=type=cache,target=/src/target \
    cargo build --release --locked -p engram-server --bin engram \
    && install -D -m 0755 target/release/engram /out/usr/local/bin/engram \
    && mkdir -p /out/data

FROM gcr.io/distroless/cc-debian12:nonroot
ARG VERSION=0.1.0
ARG REVISION=unknown
LABEL org.opencontainers.image.title="engram" \
      org.opencontainers.image.description="Engram: a memory service for AI agents (gRPC and REST on one port)" \
      org.opencontainers.image.version="${VERSION}" \
      org.opencontainers.image.revision="${REVISION}" \
      org.opencontainers.image.licenses="Apache-2.0" \
      org.opencontainers.image.source="https://github.com/engram-dev/engram"
COPY --from=build /out/usr/local/bin/engram /usr/local/bin/engram
# An empty /data owned by the runtime user, so the embedded store also works without a volume
# and a fresh named volume mounted there inherits the ownership.
COPY --from=build --chown=65532:65532 /out/data /data
USER 65532:65532
ENV ENGRAM_LISTEN=0.0.0.0:9100 \
    ENGRAM_DATA_DIR=/data
EXPOSE 9100
ENTRYPOINT ["/usr/local/bin/engram"]
CMD ["serve"]
