# landx — multi-stage image.
#
#   docker build -t landx .
#   docker run --rm -p 8080:8080 -e LANDX_AUTH__JWT_SECRET=... landx
#
# Nothing is downloaded at build time beyond crates from crates.io:
# Swagger UI is vendored in static/, SQLite and libpq are built from the
# bundled sources (libpq links the system OpenSSL, hence libssl-dev and
# pkg-config, both already present in rust:1-bookworm).

############################
# Builder
############################
FROM rust:1-bookworm AS builder
WORKDIR /app

# 1) Dependency layer: build every dependency against stub sources so that
#    editing src/ does not recompile the whole dependency graph.
COPY Cargo.toml Cargo.lock ./
# (the manifest names the benchmark targets, so they need stub files too; they are
# not built by `cargo build`).
RUN mkdir -p src benches \
    && echo 'fn main() {}' > src/main.rs \
    && : > src/lib.rs \
    && echo 'fn main() {}' > benches/search.rs \
    && echo 'fn main() {}' > benches/bids.rs \
    && cargo build --release --locked \
    && rm -rf src

# 2) The real crate. include_bytes!/embed_migrations! read static/ and
#    migrations/ at compile time, so they must be present here.
COPY src ./src
COPY migrations ./migrations
COPY static ./static
# COPY keeps the build context's mtimes, which can be older than the stub
# artifacts above; touch the crate roots so cargo always rebuilds landx.
RUN touch src/main.rs src/lib.rs \
    && cargo build --release --locked

############################
# Runtime
############################
FROM debian:bookworm-slim AS runtime

RUN apt-get update \
    && apt-get install -y --no-install-recommends ca-certificates libssl3 \
    && rm -rf /var/lib/apt/lists/* \
    && groupadd --system --gid 10001 landx \
    && useradd --system --uid 10001 --gid 10001 --home-dir /app --no-create-home --shell /usr/sbin/nologin landx

WORKDIR /app
RUN mkdir -p /app/data && chown landx:landx /app/data

COPY --from=builder /app/target/release/landx /usr/local/bin/landx
COPY config/ /app/config/

ENV LANDX_ENV=production \
    LANDX_SERVER__HOST=0.0.0.0
EXPOSE 8080

USER landx
# No HEALTHCHECK: the slim image has no curl/wget.
ENTRYPOINT ["landx"]
CMD ["serve"]
