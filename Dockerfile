# syntax=docker/dockerfile:1
#
# The mcp-warden sidecar image.
#
#   DOCKER_BUILDKIT=1 docker build -t mcp-warden:0.1.0 .
#   docker run --rm -p 8080:8080 -p 9090:9090 \
#     -v "$PWD/warden.toml:/etc/mcp-warden/warden.toml:ro" mcp-warden:0.1.0
#
# Two stages:
#
# 1. builder — the official Rust image on Debian 12 (bookworm). It already has what the
#    build needs: cargo and a C compiler (gcc). aws-lc-sys, the crypto library under
#    aws-lc-rs, is compiled from C with the `cc` crate and ships pre-generated bindings for
#    x86_64 and aarch64 Linux, so no cmake, clang/bindgen, Go, NASM or OpenSSL headers are
#    installed (the build log says "Building with: CC"). Nothing links OpenSSL: TLS is
#    rustls on aws-lc-rs.
# 2. runtime — distroless `cc-debian12`, user `nonroot` (65532). The binary is a dynamic
#    glibc executable (libc, libm, libgcc_s; aws-lc is linked in statically), which is
#    exactly what `cc-debian12` provides, along with the CA certificates that
#    `/etc/ssl/certs` must hold for JWKS, discovery and introspection over https. No shell,
#    no package manager: nothing for an intruder to use. Builder and runtime must share a
#    glibc: a bookworm builder with a debian12 runtime (if you move the builder to trixie,
#    move the runtime to `cc-debian13`).
#
# There is no HEALTHCHECK: distroless has no shell or curl to run one, and Kubernetes does
# not use it anyway. Probes go to the admin port: GET /healthz (liveness) and GET /readyz
# (readiness) on 9090 — see docs/deployment.md.

ARG RUST_IMAGE=rust:1-bookworm
ARG RUNTIME_IMAGE=gcr.io/distroless/cc-debian12:nonroot

FROM ${RUST_IMAGE} AS builder
WORKDIR /build

# Only what `cargo build` reads. The benches and examples are declared in Cargo.toml, so
# cargo refuses to load the manifest without their files even when building only the
# binary. Tests, docs and test vectors stay out (see .dockerignore).
COPY Cargo.toml Cargo.lock ./
COPY src ./src
COPY benches ./benches
COPY examples ./examples

# BuildKit cache mounts keep the crates.io download and the compiled dependencies between
# builds. The target directory is a cache, not part of the image, so the binary is copied
# out within the same step. `--locked`: build exactly the versions in Cargo.lock.
RUN --mount=type=cache,target=/usr/local/cargo/registry,sharing=locked \
    --mount=type=cache,target=/usr/local/cargo/git,sharing=locked \
    --mount=type=cache,target=/build/target,sharing=locked \
    cargo build --release --locked --bin mcp-warden \
 && install -D -m 0755 target/release/mcp-warden /out/mcp-warden

FROM ${RUNTIME_IMAGE}

ARG RUNTIME_IMAGE
ARG VERSION=0.1.0
ARG REVISION=unknown
ARG CREATED=unknown
LABEL org.opencontainers.image.title="mcp-warden" \
      org.opencontainers.image.description="DPoP (RFC 9449) / OAuth guard sidecar for MCP servers: checks DPoP-bound access tokens, serves RFC 9728 metadata, forwards verified requests." \
      org.opencontainers.image.licenses="Apache-2.0" \
      org.opencontainers.image.version="${VERSION}" \
      org.opencontainers.image.revision="${REVISION}" \
      org.opencontainers.image.created="${CREATED}" \
      org.opencontainers.image.base.name="${RUNTIME_IMAGE}"

COPY --from=builder /out/mcp-warden /usr/local/bin/mcp-warden

# Fails the build if a shared library the binary needs is missing from the runtime image.
# Exec form: distroless has no shell.
RUN ["/usr/local/bin/mcp-warden", "--version"]

# Numeric, so that Kubernetes `runAsNonRoot: true` can verify it without a passwd lookup.
USER 65532:65532

# 8080: the guarded MCP traffic (listen.address). 9090: /metrics, /healthz, /readyz
# (admin.address) — keep it off the public network.
EXPOSE 8080 9090

# No configuration is baked in: mount one at /etc/mcp-warden/warden.toml (a ConfigMap), or
# run `guard` alone and configure everything with MCP_WARDEN_* environment variables.
ENTRYPOINT ["/usr/local/bin/mcp-warden"]
CMD ["guard", "--config", "/etc/mcp-warden/warden.toml"]
