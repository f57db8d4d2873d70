# syntax=docker/dockerfile:1
# One image for the three binaries (hubpulse-api, hubpulse-sim, hubpulse-cron);
# docker-compose.yml picks the binary per service with `command`.

FROM rust:1.95-bookworm AS builder
WORKDIR /src
COPY . .
# Always the whole workspace, as `make build` does: one feature set for every
# shared dependency. The caches keep crates and build artefacts between builds;
# the binaries are copied out because a cache mount is not part of the layer.
RUN --mount=type=cache,target=/usr/local/cargo/registry \
    --mount=type=cache,target=/usr/local/cargo/git \
    --mount=type=cache,target=/src/target \
    cargo build --release --workspace --locked \
    && mkdir -p /out \
    && cp target/release/hubpulse-api target/release/hubpulse-sim target/release/hubpulse-cron /out/

FROM debian:bookworm-slim AS runtime
# ca-certificates for api.github.com over TLS; curl for the health checks.
RUN apt-get update \
    && apt-get install -y --no-install-recommends ca-certificates curl \
    && rm -rf /var/lib/apt/lists/* \
    && useradd --system --uid 10001 --user-group --home-dir /app --shell /usr/sbin/nologin hubpulse
WORKDIR /app
COPY --from=builder /out/ /usr/local/bin/
# cron's default schedule_file is relative: cron/schedule.toml under /app.
COPY cron/schedule.toml /app/cron/schedule.toml
USER hubpulse:hubpulse
# The API's allocator is jemalloc, its options compiled in (.cargo/config.toml).
ENV HUBPULSE__SERVER__HOST=0.0.0.0 \
    HUBPULSE__LOG__FORMAT=json
EXPOSE 3000
STOPSIGNAL SIGTERM
CMD ["hubpulse-api"]
