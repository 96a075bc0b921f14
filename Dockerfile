# Multi-stage build: compile in the Rust image, ship only the binary and its config on Debian slim,
# running as an unprivileged user. Migrations are embedded in the binary.
FROM rust:1.95-bookworm AS build
WORKDIR /src
# Dependencies first, so code changes do not rebuild them.
COPY Cargo.toml Cargo.lock ./
# The patched actix-http (Cargo.toml's [patch.crates-io]) is a dependency like any other.
COPY vendor vendor
RUN mkdir src && echo 'fn main() {}' > src/main.rs && touch src/lib.rs \
    && cargo build --release --locked --bin plauder \
    && rm -rf src
COPY src src
COPY migrations migrations
# The browser client is compiled into the binary (include_bytes! in src/web/assets.rs).
COPY web web
# The commit goes into plauder_build_info: `docker build --build-arg PLAUDER_GIT_COMMIT=$(git rev-parse --short HEAD)`.
ARG PLAUDER_GIT_COMMIT=""
RUN touch src/main.rs src/lib.rs && PLAUDER_GIT_COMMIT="$PLAUDER_GIT_COMMIT" cargo build --release --locked --bin plauder

FROM debian:bookworm-slim
# The data directory, /var/lib/plauder, belongs to the runtime user (uid and gid 10001, as
# deploy/k8s/deployment.yaml runs it): config/production.toml keeps attachments there
# (attachments.directory: uploads in progress under tmp/, the local store's blobs/) and, with them,
# the VAPID key. The root file system may be read-only (Kubernetes); this directory must not be.
RUN apt-get update \
    && apt-get install -y --no-install-recommends ca-certificates \
    && rm -rf /var/lib/apt/lists/* \
    && groupadd --system --gid 10001 plauder \
    && useradd --system --uid 10001 --gid 10001 --no-create-home --shell /usr/sbin/nologin plauder \
    && install -d -o plauder -g plauder -m 0750 /var/lib/plauder
COPY --from=build /src/target/release/plauder /usr/local/bin/plauder
COPY config /etc/plauder
ENV PLAUDER_CONFIG_DIR=/etc/plauder \
    PLAUDER_ENV=production
# A relative path in a setting resolves here, not in / (which the runtime user cannot write).
WORKDIR /var/lib/plauder
# Mount a volume here to keep files across containers, and the same one on every instance of a
# host (docker-compose.yml); instances on several machines use S3 instead (docs/operations.md).
# An empty named volume takes the directory's owner from the image.
VOLUME /var/lib/plauder
USER plauder
EXPOSE 8080
# The image has no curl: the binary asks its own readiness route (plauder healthcheck, exit 0 on
# 200). Readiness includes PostgreSQL and Redis, so an outage of either marks every container
# unhealthy (docs/operations.md, "When Redis is down"); Docker only reports it, it restarts nothing.
HEALTHCHECK --interval=10s --timeout=5s --start-period=20s --retries=3 \
    CMD ["/usr/local/bin/plauder", "healthcheck", "--url", "http://127.0.0.1:8080/health/ready"]
ENTRYPOINT ["/usr/local/bin/plauder"]
CMD ["serve"]
