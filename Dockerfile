# Production image of the `salesguard` binary (API; the worker subcommand
# joins it with the risk-analytics work).
FROM rust:1-bookworm AS build
WORKDIR /src
COPY . .
RUN cargo build --release --bin salesguard

FROM debian:bookworm-slim
RUN apt-get update && apt-get install -y --no-install-recommends ca-certificates curl \
    && rm -rf /var/lib/apt/lists/* && useradd --system --uid 10001 salesguard \
    && mkdir -p /var/lib/salesguard/salesguard-worker-copy \
    && chown -R salesguard /var/lib/salesguard
COPY --from=build /src/target/release/salesguard /usr/local/bin/salesguard
USER salesguard
# The worker's copy of the data goes to ./salesguard-worker-copy (a volume
# in docker-compose.yml).
WORKDIR /var/lib/salesguard
ENV SALESGUARD_BIND=0.0.0.0:8080 \
    SALESGUARD_MODE=production \
    SALESGUARD_LOG_FORMAT=json
EXPOSE 8080
ENTRYPOINT ["salesguard"]
CMD ["serve"]
