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
#          compile-cache (target platform) Node's module compile cache, made by the runtime's own Node
#          image         (target platform) distroless Node.js 24 + the bundle + those node_modules + the cache
#          node          (the default, last) runs it with Node;  bun (`--target bun`) with Bun 1.4.5 from npm
# Multi-arch: `docker buildx build --platform linux/amd64,linux/arm64 .` — nothing here names an architecture.

ARG NODE_IMAGE=node:24-bookworm
ARG RUNTIME_IMAGE=gcr.io/distroless/nodejs24-debian12:nonroot
ARG BUN_VERSION=1.4.5

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
 && mkdir -p /out/app/dist /out/data /out/cache \
 && cp -R dist/. /out/app/dist/

# ---- compile-cache (target platform) Node's module compile cache, made by the runtime image's own Node ----------
# The cache is valid only for the same Node version, architecture, user id and files at the same paths, so it is
# made here, from the final image's base, as the service's user, with the final image's environment; the final
# stage copies only the cache directory. scripts/container/compile-cache.mjs starts the service, sends each
# kind of request once and stops it: Node writes the code of everything that ran as it exits.
FROM ${RUNTIME_IMAGE} AS compile-cache
WORKDIR /app
COPY --from=runtime-files /out/app /app
COPY --from=runtime-files --chown=65532:65532 /out/cache /app/.cache
COPY scripts/container/compile-cache.mjs /compile-cache.mjs
ENV NODE_OPTIONS="--max-old-space-size=32 --max-semi-space-size=2" \
    MALLOC_ARENA_MAX=2 \
    NODE_COMPILE_CACHE=/app/.cache/node \
    NODE_ENV=production
USER 65532:65532
RUN ["/nodejs/bin/node", "/compile-cache.mjs", "/app"]

# ---- bun-binary (`--target bun` only): Bun from the npm registry's @oven/bun-linux-<arch> --------------------
FROM ${NODE_IMAGE} AS bun-binary
ARG TARGETARCH
ARG BUN_VERSION
RUN --mount=type=cache,target=/root/.npm,sharing=locked \
    npm i --prefix /opt/bun --no-audit --no-fund "@oven/bun-linux-$([ "${TARGETARCH:-amd64}" = arm64 ] && echo aarch64 || echo x64)@${BUN_VERSION}" \
 && cp /opt/bun/node_modules/@oven/bun-linux-*/bin/bun /bun

# ---- image: everything but the runtime's command line; `node` (the default, last) and `bun` finish it -------
FROM ${RUNTIME_IMAGE} AS image
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
# Read-only like the code (COPY makes it root's; Node wrote its files 0600).
COPY --from=compile-cache --chown=0:0 --chmod=0555 /app/.cache /app/.cache

# Memory inside the 64 MiB container (compose and Kubernetes inherit these; the compile-cache stage above repeats
# them): V8's heap limits, and at most two malloc arenas (glibc's default of 8 per core kept ~15 MB of freed
# compiler memory of V8's background threads under load). The compile cache is read at start, never written.
# Every Node process in the container gets them, the healthcheck too.
ENV NODE_OPTIONS="--max-old-space-size=32 --max-semi-space-size=2" \
    MALLOC_ARENA_MAX=2 \
    NODE_COMPILE_CACHE=/app/.cache/node \
    NODE_ENV=production \
    HOST=0.0.0.0 \
    PORT=8080 \
    DATABASE_URL=sqlite:/app/data/todos.db

USER 65532:65532
EXPOSE 8080 9464
# `docker run IMAGE migrate` runs `node dist/main.cjs migrate`.
CMD []

# ---- bun (`docker build --target bun .`): the same bundle run by Bun ---------------------------------------
# better-sqlite3's Node-API addon loads under Bun. Not the default (docs/DECISIONS.md, "Runtime and framework"):
# Bun's memory under the seed's load test is ~56–60 MB anonymous against Node's ~45, too close to 64 MiB.
FROM image AS bun
COPY --from=bun-binary /bun /bun/bun
ENTRYPOINT ["/bun/bun", "dist/main.cjs"]
HEALTHCHECK --interval=15s --timeout=5s --start-period=20s --retries=3 \
    CMD ["/bun/bun", "dist/healthcheck.cjs"]

# ---- node: the default image --------------------------------------------------------------------------------
FROM image AS node
# Exec form: Node is PID 1 and gets SIGTERM itself (the service drains and exits 0).
ENTRYPOINT ["/nodejs/bin/node", "dist/main.cjs"]
# No curl in distroless: the service checks itself (GET /livez on MANAGEMENT_PORT, else PORT; exit 0 or 1).
HEALTHCHECK --interval=15s --timeout=5s --start-period=20s --retries=3 \
    CMD ["/nodejs/bin/node", "dist/healthcheck.cjs"]
