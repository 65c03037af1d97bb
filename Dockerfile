# syntax=docker/dockerfile:1
# One image recipe for every RRPC service:
#   docker build --build-arg SERVICE=api .              (api | response-ingest | worker)
# Stages: build (all dev dependencies, tsc -b) → deps (production dependencies only) → runtime (non-root).
ARG NODE_IMAGE=node:20.20-bookworm-slim

FROM ${NODE_IMAGE} AS build
WORKDIR /app
COPY package.json package-lock.json tsconfig.json tsconfig.base.json ./
COPY packages ./packages
COPY services ./services
RUN npm ci --no-audit --no-fund \
 && npx tsc -b services/api services/response-ingest services/worker \
 # Keep only what runs: compiled output, package manifests and data files (the store's Lua scripts).
 && find packages services -mindepth 2 -maxdepth 2 \( -name src -o -name test -o -name node_modules -o -name '*.tsbuildinfo' -o -name 'tsconfig.json' \) -exec rm -rf {} + \
 && find packages services -path '*/dist/*' \( -name '*.test.*' -o -name '*.tsbuildinfo' \) -delete \
 && mkdir -p /manifests \
 && cp package.json package-lock.json /manifests/ \
 && find packages services -mindepth 2 -maxdepth 2 -name package.json -exec cp --parents {} /manifests/ \;

FROM ${NODE_IMAGE} AS deps
WORKDIR /app
COPY --from=build /manifests/ ./
# Production dependencies of the whole workspace; workspace packages become symlinks into packages/ and services/.
RUN npm ci --omit=dev --ignore-scripts --no-audit --no-fund && npm cache clean --force

FROM ${NODE_IMAGE} AS runtime
ARG SERVICE
ENV NODE_ENV=production \
    RRPC_SERVICE=${SERVICE}
WORKDIR /app
COPY --from=deps --chown=root:root /app/ ./
COPY --from=build --chown=root:root /app/packages/ ./packages/
COPY --from=build --chown=root:root /app/services/ ./services/
# Exec-form CMD cannot expand ARG/ENV, so the service's entry path is baked into a one-line module here.
RUN test -n "${SERVICE}" || { echo "build with --build-arg SERVICE=api|response-ingest|worker" >&2; exit 1; } \
 && test -f "services/${SERVICE}/dist/main.js" || { echo "no services/${SERVICE}/dist/main.js" >&2; exit 1; } \
 && printf 'import "./services/%s/dist/main.js";\n' "${SERVICE}" > /app/main.mjs
# The image's own user (uid 1000), never root; the application files stay root-owned and read-only to it.
USER node
STOPSIGNAL SIGTERM
CMD ["node", "/app/main.mjs"]
