# syntax=docker/dockerfile:1
# Gatehouse image: built with scripts/build-site, run on a slim Debian as a non-root user.
# Not buildable on the development machines (no Docker engine there): kept correct by review.

FROM rust:1.95-bookworm AS build
RUN rustup target add wasm32-unknown-unknown \
 && apt-get update \
 && apt-get install -y --no-install-recommends nodejs npm \
 && rm -rf /var/lib/apt/lists/*
# The version must equal the wasm-bindgen of Cargo.lock.
RUN cargo install wasm-bindgen-cli --version 0.2.130
WORKDIR /src
# binaryen's wasm-opt and esbuild from npm (Debian's older wasm-opt breaks hydration).
COPY end2end/package.json end2end/package-lock.json end2end/
RUN cd end2end && npm ci --no-audit --no-fund
COPY . .
# The optimised WebAssembly, its brotli and gzip copies, then the server.
RUN scripts/build-site --release

FROM debian:bookworm-slim AS runtime
RUN apt-get update \
 && apt-get install -y --no-install-recommends ca-certificates curl \
 && rm -rf /var/lib/apt/lists/* \
 && useradd --system --uid 10001 --home-dir /app --shell /usr/sbin/nologin gatehouse \
 && mkdir -p /data \
 && chown gatehouse:gatehouse /data
WORKDIR /app
COPY --from=build /src/target/release/gatehouse /app/gatehouse
COPY --from=build /src/target/site /app/site
ENV LEPTOS_SITE_ROOT=/app/site \
    GATEHOUSE_BIND=0.0.0.0:3000 \
    DATABASE_URL=sqlite:///data/gatehouse.db \
    GATEHOUSE_LOG_FORMAT=json
USER gatehouse
VOLUME ["/data"]
EXPOSE 3000
HEALTHCHECK --interval=30s --timeout=3s --start-period=10s --retries=3 \
  CMD curl -fsS http://127.0.0.1:3000/readyz || exit 1
ENTRYPOINT ["/app/gatehouse"]
CMD ["serve"]
