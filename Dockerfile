# syntax=docker/dockerfile:1
# Multi-stage build: a full Rust toolchain builds tenure; the runtime image is slim, runs as a
# non-root user and can run with a read-only root file system. Configuration and the hotkey are
# mounted at run time, never baked in:
#   docker run --read-only -v ./tenure.toml:/etc/tenure/tenure.toml:ro \
#     -e TENURE__DATABASE__URL=postgres://... tenure
FROM rust:1-bookworm AS build
WORKDIR /src
COPY Cargo.toml Cargo.lock build.rs ./
COPY src ./src
COPY migrations ./migrations
RUN cargo build --release --locked --bin tenure

FROM debian:bookworm-slim
RUN apt-get update \
 && apt-get install -y --no-install-recommends ca-certificates \
 && rm -rf /var/lib/apt/lists/* \
 && useradd --system --uid 10000 --user-group --home-dir /nonexistent --shell /usr/sbin/nologin tenure
COPY --from=build /src/target/release/tenure /usr/local/bin/tenure
COPY config/tenure.example.toml /etc/tenure/tenure.example.toml
RUN ["/usr/local/bin/tenure", "--version"]
USER 10000:10000
EXPOSE 9477
ENTRYPOINT ["/usr/local/bin/tenure", "--config", "/etc/tenure/tenure.toml"]
CMD ["run"]
