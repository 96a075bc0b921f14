# Multi-stage build: compile in the Rust image, ship only the binary and its config on Debian slim,
# running as an unprivileged user. Migrations are embedded in the binary.
FROM rust:1.95-bookworm AS build
WORKDIR /src
# Dependencies first, so code changes do not rebuild them.
COPY Cargo.toml Cargo.lock ./
RUN mkdir src && echo 'fn main() {}' > src/main.rs && touch src/lib.rs \
    && cargo build --release --locked --bin plauder \
    && rm -rf src
COPY src src
COPY migrations migrations
# The browser client is compiled into the binary (include_bytes! in src/web/assets.rs).
COPY web web
RUN touch src/main.rs src/lib.rs && cargo build --release --locked --bin plauder

FROM debian:bookworm-slim
RUN apt-get update \
    && apt-get install -y --no-install-recommends ca-certificates \
    && rm -rf /var/lib/apt/lists/* \
    && useradd --system --uid 10001 --no-create-home --shell /usr/sbin/nologin plauder
COPY --from=build /src/target/release/plauder /usr/local/bin/plauder
COPY config /etc/plauder
ENV PLAUDER_CONFIG_DIR=/etc/plauder \
    PLAUDER_ENV=production
USER plauder
EXPOSE 8080
ENTRYPOINT ["/usr/local/bin/plauder"]
CMD ["serve"]
