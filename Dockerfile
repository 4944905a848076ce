# Confab: multi-stage build. `docker build -t confab .` or `docker compose up --build`.

FROM rust:1-bookworm AS builder
RUN apt-get update \
    && apt-get install -y --no-install-recommends pkg-config libssl-dev \
    && rm -rf /var/lib/apt/lists/*
WORKDIR /src
COPY . .
RUN cargo build --release --locked -p confab-server \
    && strip target/release/confab

FROM debian:bookworm-slim
RUN apt-get update \
    && apt-get install -y --no-install-recommends ca-certificates libssl3 curl \
    && rm -rf /var/lib/apt/lists/* \
    && groupadd --system confab \
    && useradd --system --gid confab --home-dir /app --no-create-home --shell /usr/sbin/nologin confab
WORKDIR /app
COPY --from=builder /src/target/release/confab /usr/local/bin/confab
COPY config/ /app/config/
RUN mkdir -p /app/data && chown -R confab:confab /app/data
VOLUME ["/app/data"]
ENV CONFAB__SERVER__HOST=0.0.0.0
USER confab
EXPOSE 8080
HEALTHCHECK --interval=30s --timeout=5s --start-period=20s --retries=3 \
    CMD curl -fsS http://127.0.0.1:8080/healthz || exit 1
ENTRYPOINT ["confab"]
