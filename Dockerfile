# syntax=docker/dockerfile:1
# The Todo service image: Node.js 24 on distroless (glibc, no shell, no package manager), running as uid 65532.
#
#   docker build -t todo-service \
#     --build-arg BUILD_VERSION=1.2.3 --build-arg BUILD_COMMIT=$(git rev-parse HEAD) \
#     --build-arg BUILD_COMMIT_TIME=$(git log -1 --format=%cI) .
#   docker run --rm -p 8080:8080 --read-only -v todo-data:/app/data todo-service
#
# Stages:  build         (build platform)  npm ci with dev dependencies → dist/main.cjs (one esbuild bundle)
#          prod-deps     (target platform) npm ci --omit=dev from the lockfile; better-sqlite3 13 carries its
#                                          Node-API addon for each platform inside the package (no download)
#          runtime-files (build platform)  keeps only the node_modules the bundle still require()s
#          final         (target platform) distroless Node.js 24 + the bundle + those node_modules
# Multi-arch: `docker buildx build --platform linux/amd64,linux/arm64 .` — nothing here names an architecture.

ARG NODE_IMAGE=node:24-bookworm
ARG RUNTIME_IMAGE=gcr.io/distroless/nodejs24-debian12:nonroot

# ---- build: the bundle (pure JavaScript, so it is built once on the build machine's own platform) ----------
FROM --platform=$BUILDPLATFORM ${NODE_IMAGE} AS build
WORKDIR /src
COPY package.json package-lock.json ./
# --ignore-scripts: nothing here needs an install script (esbuild's binary comes as an optional dependency);
# the native addon is compiled in prod-deps, for the target platform.
RUN --mount=type=cache,target=/root/.npm,sharing=locked \
    npm ci --ignore-scripts --no-audit --no-fund
COPY tsconfig.json ./
COPY scripts/ scripts/
COPY src/ src/
# No .git in the build context: scripts/build-info.mjs takes the build info from these instead.
ARG BUILD_VERSION=""
ARG BUILD_COMMIT=""
ARG BUILD_COMMIT_TIME=""
ARG BUILD_DIRTY=""
RUN npm run build

# ---- prod-deps: production dependencies, exactly as package-lock.json names them ---------------------------
FROM ${NODE_IMAGE} AS prod-deps
WORKDIR /src
COPY package.json package-lock.json ./
# --ignore-scripts: nothing needs building; npm would otherwise run node-gyp for better-sqlite3's binding.gyp and
# download Node's headers, which a machine without nodejs.org cannot.
RUN --mount=type=cache,target=/root/.npm,sharing=locked \
    npm ci --omit=dev --ignore-scripts --no-audit --no-fund

# ---- runtime-files: /out/app is exactly what the final image gets under /app -------------------------------
FROM build AS runtime-files
ARG TARGETPLATFORM
COPY --from=prod-deps /src/node_modules /prod/node_modules
RUN cp /src/package.json /prod/package.json \
 && node scripts/container/runtime-deps.mjs ${TARGETPLATFORM:+--platform "$TARGETPLATFORM"} \
      /prod/node_modules /out/app/node_modules dist/*.cjs \
 && mkdir -p /out/app/dist /out/data \
 && cp -R dist/. /out/app/dist/

# ---- final -------------------------------------------------------------------------------------------------
FROM ${RUNTIME_IMAGE}
ARG BUILD_VERSION=""
ARG BUILD_COMMIT=""
ARG BUILD_DATE=""
ARG SOURCE_URL=""
LABEL org.opencontainers.image.title="todo-service" \
      org.opencontainers.image.description="Todo REST API (Fastify 5, TypeScript) — the Go/Gin Todo service's contract" \
      org.opencontainers.image.version="${BUILD_VERSION}" \
      org.opencontainers.image.revision="${BUILD_COMMIT}" \
      org.opencontainers.image.created="${BUILD_DATE}" \
      org.opencontainers.image.source="${SOURCE_URL}" \
      org.opencontainers.image.base.name="gcr.io/distroless/nodejs24-debian12:nonroot"

WORKDIR /app
# Code belongs to root and is read-only for the service's user; only /app/data (SQLite) is the user's.
COPY --from=runtime-files /out/app /app
COPY --from=runtime-files --chown=65532:65532 /out/data /app/data

# The heap limits that keep Node's own memory (~40 MB) well inside the 128 MiB container: this line is the one place to
# tune them (compose and Kubernetes inherit it). Every Node process in the container gets them, the
# healthcheck subcommand too.
ENV NODE_OPTIONS="--max-old-space-size=40 --max-semi-space-size=2" \
    NODE_ENV=production \
    HOST=0.0.0.0 \
    PORT=8080 \
    DATABASE_URL=sqlite:/app/data/todos.db

USER 65532:65532
EXPOSE 8080 9464
# Exec form: Node is PID 1 and gets SIGTERM itself (the service drains and exits 0).
ENTRYPOINT ["/nodejs/bin/node", "dist/main.cjs"]
# `docker run IMAGE migrate` runs `node dist/main.cjs migrate`.
CMD []
# No curl in distroless: the service checks itself (GET /livez on MANAGEMENT_PORT, else PORT; exit 0 or 1).
HEALTHCHECK --interval=15s --timeout=5s --start-period=20s --retries=3 \
    CMD ["/nodejs/bin/node", "dist/healthcheck.cjs"]
