# Multi-stage build: the server in release mode and the console as wasm, on Debian bookworm.
FROM rust:1.95-bookworm AS build
WORKDIR /src
RUN rustup target add wasm32-unknown-unknown
COPY . .
# wasm-bindgen-cli must match the wasm-bindgen version in Cargo.lock.
RUN WBG=$(awk '/^name = "wasm-bindgen"$/{getline; gsub(/[^0-9.]/,""); print}' Cargo.lock) \
 && cargo install wasm-bindgen-cli --version "$WBG"
RUN cargo build --release -p portcullis \
 && cargo build --release -p portcullis-console --target wasm32-unknown-unknown \
 && wasm-bindgen --target web --no-typescript --out-dir console/dist --out-name portcullis_console \
      target/wasm32-unknown-unknown/release/portcullis_console.wasm \
 && cp console/index.html console/bootstrap.js console/dist/ \
 && (cp console/*.css console/dist/ 2>/dev/null || true)

FROM debian:bookworm-slim
RUN apt-get update && apt-get install -y --no-install-recommends ca-certificates \
 && rm -rf /var/lib/apt/lists/* && useradd --system --home /var/lib/portcullis portcullis \
 && mkdir -p /var/lib/portcullis && chown portcullis /var/lib/portcullis
COPY --from=build /src/target/release/portcullis /usr/local/bin/portcullis
COPY --from=build /src/console/dist /usr/share/portcullis/console
USER portcullis
WORKDIR /var/lib/portcullis
ENV PORTCULLIS__HTTP__BIND=0.0.0.0:8080 \
    PORTCULLIS__CONSOLE__DIR=/usr/share/portcullis/console \
    PORTCULLIS__DATABASE__URL=sqlite:///var/lib/portcullis/portcullis.db?mode=rwc \
    PORTCULLIS__LOG__FORMAT=json
EXPOSE 8080
ENTRYPOINT ["portcullis"]
CMD ["serve"]
