# syntax=docker/dockerfile:1
# Multi-stage build: a full Rust toolchain builds tenure; the runtime image is slim, runs as a
# non-root user (uid 10000) and runs with a read-only root file system. Configuration and the
# hotkey are mounted at run time, never baked in:
#   docker build -t tenure .
#   docker run --read-only -v ./tenure.toml:/etc/tenure/tenure.toml:ro \
#     -v ./secrets:/run/secrets:ro -e TENURE__DATABASE__URL=postgres://... tenure
# With PostgreSQL alongside: deploy/docker-compose.yml. Checked without a Docker engine by
# tests/deploy.rs (copied paths exist, the binary is the crate's, the entrypoint parses).
#
# The default (last) stage is the product image: `tenure` alone. The simulated chain has an
# image of its own for the compose file's devnet profile: docker build --target devnet .
FROM rust:1-bookworm AS build
WORKDIR /src
COPY Cargo.toml Cargo.lock build.rs ./
COPY src ./src
COPY migrations ./migrations
COPY devnet ./devnet
RUN cargo build --release --locked --bin tenure
RUN cargo build --release --locked -p tenure-devnet --bin tenure-devnet

FROM debian:bookworm-slim AS runtime
RUN apt-get update \
 && apt-get install -y --no-install-recommends ca-certificates \
 && rm -rf /var/lib/apt/lists/* \
 && useradd --system --uid 10000 --user-group --home-dir /nonexistent --shell /usr/sbin/nologin tenure \
 && install -d -o 10000 -g 10000 -m 0750 /devnet-wallets

# The devnet image: the simulated chain, and tenure for its health check (`chain check`).
FROM runtime AS devnet
COPY --from=build /src/target/release/tenure-devnet /usr/local/bin/tenure-devnet
COPY --from=build /src/target/release/tenure /usr/local/bin/tenure
RUN ["/usr/local/bin/tenure-devnet", "--version"]
USER 10000:10000
EXPOSE 9944
ENTRYPOINT ["/usr/local/bin/tenure-devnet"]

FROM runtime AS tenure
COPY --from=build /src/target/release/tenure /usr/local/bin/tenure
COPY config/tenure.example.toml /etc/tenure/tenure.example.toml
# Smoke test at build time: the binary runs in this image.
RUN ["/usr/local/bin/tenure", "--version"]
USER 10000:10000
EXPOSE 9477
ENTRYPOINT ["/usr/local/bin/tenure", "--config", "/etc/tenure/tenure.toml"]
CMD ["run"]
