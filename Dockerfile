# syntax=docker/dockerfile:1
# Switchyard, CPU image.
#   docker build -t switchyard .
#   docker run --rm -p 8080:8080 -v /path/to/models:/models:ro switchyard
# Weights are read from /models (SWITCHYARD_MODELS_DIR); what is missing there is downloaded
# at start (sha256-pinned) into /var/cache/switchyard, so mount a volume there to keep it.
# The GPU variant is docker/Dockerfile.cuda; docs/deployment.md explains both.

ARG NODE_IMAGE=node:20-bookworm-slim

# ---- build: every dependency + tsc -------------------------------------------------------
FROM ${NODE_IMAGE} AS build
WORKDIR /app
# onnxruntime-node's install script would download CUDA binaries; the CPU ones ship in the
# package. .npmrc says so too (onnxruntime-node-install=skip); the variable keeps it working
# when npm stops reading unknown .npmrc keys.
ENV ONNXRUNTIME_NODE_INSTALL=skip
COPY package.json package-lock.json .npmrc ./
RUN --mount=type=cache,target=/root/.npm npm ci --no-audit --no-fund
COPY tsconfig.json tsconfig.build.json ./
COPY src ./src
RUN npm run build

# ---- deps: production node_modules only --------------------------------------------------
FROM ${NODE_IMAGE} AS deps
WORKDIR /app
ENV ONNXRUNTIME_NODE_INSTALL=skip
COPY package.json package-lock.json .npmrc ./
RUN --mount=type=cache,target=/root/.npm npm ci --omit=dev --no-audit --no-fund
# onnxruntime-node carries every platform's binaries (~280 MB): keep this image's only.
ARG TARGETARCH
RUN set -eu; \
    case "${TARGETARCH:-amd64}" in arm64) keep=arm64 ;; *) keep=x64 ;; esac; \
    find node_modules/onnxruntime-node/bin/napi-v6 -mindepth 2 -maxdepth 2 -type d ! -path "*/linux/$keep" -exec rm -rf {} +; \
    test -f "node_modules/onnxruntime-node/bin/napi-v6/linux/$keep/onnxruntime_binding.node"

# ---- runtime -----------------------------------------------------------------------------
FROM ${NODE_IMAGE} AS runtime
WORKDIR /app
# Code and dependencies belong to root and are read-only to the server, which runs as the
# image's unprivileged `node` user (uid 1000). Only the two data directories are its own.
COPY --from=deps /app/node_modules ./node_modules
COPY --from=build /app/dist ./dist
COPY package.json ./
COPY config ./config
COPY models ./models
RUN mkdir -p /models /var/cache/switchyard && chown 1000:1000 /models /var/cache/switchyard
ENV NODE_ENV=production \
    HOST=0.0.0.0 \
    PORT=8080 \
    SWITCHYARD_DEVICES=cpu \
    SWITCHYARD_MODELS_DIR=/models \
    SWITCHYARD_CACHE_DIR=/var/cache/switchyard \
    SWITCHYARD_SHUTDOWN_GRACE_MS=25000
VOLUME ["/models", "/var/cache/switchyard"]
USER 1000:1000
EXPOSE 8080
# /healthz answers once the models are loaded and calibrated (start-period covers a first
# download). Slim images have no curl: Node's own fetch does the probe.
HEALTHCHECK --interval=15s --timeout=5s --start-period=120s --retries=3 \
  CMD ["node", "-e", "fetch('http://127.0.0.1:'+(process.env.PORT||8080)+'/healthz').then(r=>process.exit(r.ok?0:1),()=>process.exit(1))"]
# Node is PID 1 and handles SIGTERM itself: readiness flips, in-flight requests finish,
# workers stop, exit 0 within SWITCHYARD_SHUTDOWN_GRACE_MS.
STOPSIGNAL SIGTERM
CMD ["node", "dist/main.js"]
