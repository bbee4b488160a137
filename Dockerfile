# The operator's image: a Rust build stage, then distroless/cc (glibc, libgcc, CA certificates, no
# shell, no package manager) running as its nonroot user 65532, which the chart's and deploy/'s
# securityContext require (runAsNonRoot, runAsUser 65532, read-only root filesystem).
#
#   docker build -t smart-chaos:0.1.0 .
#
# Without a Docker daemon or a registry, scripts/build-image.sh builds the same image with buildah
# from scratch (the binary, the libraries it links, CA certificates, passwd for 65532).

FROM docker.io/library/rust:1.89-bookworm AS builder
WORKDIR /src
# Dependencies first, so that a source change does not rebuild them.
COPY Cargo.toml Cargo.lock ./
RUN mkdir -p src benches \
    && echo 'fn main() {}' > src/main.rs \
    && touch src/lib.rs \
    && for b in servicemap operator_memory; do echo 'fn main() {}' > benches/$b.rs; done \
    && cargo build --release --locked --bin smart-chaos \
    && rm -rf src benches
COPY . .
# cargo decides freshness by mtime; the stub build must not count as up to date.
RUN touch src/main.rs src/lib.rs && cargo build --release --locked --bin smart-chaos

# cc, not static: the binary links glibc (ring, rustls and tokio need nothing else).
FROM gcr.io/distroless/cc-debian12:nonroot
COPY --from=builder /src/target/release/smart-chaos /smart-chaos
USER 65532:65532
EXPOSE 8080
ENTRYPOINT ["/smart-chaos"]
CMD ["operator"]
