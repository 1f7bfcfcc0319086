# HELASEID as a container image: one `deno compile`d binary on distroless, no shell, non-root.
#
#   docker build -t ghcr.io/helaseid/helaseid:0.1.0 .
#   docker run --rm -e IPS="10.188.2.3 10.188.2.4" -e PORT=9092 \
#     -e SERVICE_NAME=datastream-redpanda-api-dev -e NAMESPACE=datastream \
#     ghcr.io/helaseid/helaseid:0.1.0 run --dry-run
#
# Build on each platform natively (docker buildx build --platform linux/amd64,linux/arm64):
# both base images are multi-arch and `deno compile` targets the machine it runs on.

# ---- build: the official Deno image, the version deno.json and CI use -----------------------
FROM denoland/deno:2.9.6 AS build
ENV DENO_NO_UPDATE_CHECK=1
WORKDIR /src
# Dependencies first (npm packages pinned by deno.lock), so that code changes reuse the layer.
COPY deno.json deno.lock ./
RUN deno install --frozen
COPY main.ts ./
COPY src/ ./src/
# Exactly the permissions and V8 flags of `deno task compile` (tests/ship_test.ts keeps them
# equal). A 1 MiB young generation keeps RSS at 5,000 targets near 140 MiB instead of ~205.
RUN deno compile --frozen --allow-net --allow-read --allow-env --allow-run \
      --v8-flags=--max-semi-space-size=1 \
      --output /out/helaseid main.ts \
 && /out/helaseid version

# ---- runtime: glibc and libgcc only (what a Deno binary links), no shell, no package manager -
FROM gcr.io/distroless/cc-debian12:nonroot
LABEL org.opencontainers.image.title="helaseid" \
      org.opencontainers.image.description="Keeps a selector-less Kubernetes Service's EndpointSlices and Endpoints pointing only at the live instances behind it" \
      org.opencontainers.image.version="0.1.0" \
      org.opencontainers.image.source="https://github.com/helaseid/helaseid" \
      org.opencontainers.image.documentation="https://github.com/helaseid/helaseid#readme" \
      org.opencontainers.image.base.name="gcr.io/distroless/cc-debian12:nonroot"
COPY --from=build /out/helaseid /helaseid
# 65532 is distroless' "nonroot"; numeric, so that runAsNonRoot can verify it.
USER 65532:65532
# /metrics, /healthz, /readyz, /status (--listen, default :8080).
EXPOSE 8080
ENTRYPOINT ["/helaseid"]
CMD ["run", "--config", "/etc/helaseid/config.env"]
