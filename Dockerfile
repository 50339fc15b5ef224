# syntax=docker/dockerfile:1
# Multi-stage: compile in the Rust image (dependencies in their own cached layer),
# run from Debian slim as an unprivileged user with nothing else installed.
FROM rust:1-bookworm AS build
WORKDIR /src
COPY Cargo.toml Cargo.lock ./
# The workspace's other member, the benchmark tool, must be there for cargo to load the
# workspace: its manifest and a stub suffice, since `-p crm` compiles none of it.
COPY crates/crm-bench/Cargo.toml crates/crm-bench/
# Build the dependencies alone first: source edits then reuse this layer.
RUN mkdir -p src crates/crm-bench/src \
    && echo 'fn main() {}' > src/main.rs \
    && touch src/lib.rs \
    && echo 'fn main() {}' > crates/crm-bench/src/main.rs \
    && cargo build --release --locked -p crm \
    && rm -rf src
COPY src src
COPY migrations migrations
COPY sql sql
RUN touch src/main.rs src/lib.rs \
    && cargo build --release --locked -p crm \
    && strip target/release/crm

FROM debian:bookworm-slim
RUN useradd --system --uid 10001 --user-group --no-create-home --shell /usr/sbin/nologin crm
COPY --from=build /src/target/release/crm /usr/local/bin/crm
USER 10001:10001
ENV CRM_BIND=0.0.0.0:8000
EXPOSE 8000
STOPSIGNAL SIGTERM
# `crm healthcheck` asks /health over loopback: no curl or shell needed in the image.
HEALTHCHECK --interval=10s --timeout=3s --start-period=20s --retries=3 \
    CMD ["/usr/local/bin/crm", "healthcheck"]
ENTRYPOINT ["/usr/local/bin/crm"]
CMD ["serve"]
