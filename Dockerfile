# The operator image: build with the full toolchain, run with production dependencies only.
#   docker build -t serverimage-operator:0.1.0 .
# Node 24 is the active LTS line, the version package.json's engines asks for; the tag
# matches the `node` devDependency that tests run on.
#
# BASE: any image with Node 24 and npm on PATH (the test bed builds one from Debian's
# packages, since it reaches no registry). Behind a proxy that re-signs TLS, give npm the
# proxy's CA as a build secret; it is mounted only while npm runs and stays out of every layer:
#   docker build --secret id=npm-ca,src=/etc/ssl/certs/ca-certificates.crt .
ARG BASE=node:24.21.0-alpine

FROM ${BASE} AS build
WORKDIR /src
COPY package.json package-lock.json ./
# No install scripts: the `node` devDependency would fetch a second Node binary (the
# image has one), and nothing else needs them.
RUN --mount=type=secret,id=npm-ca \
    if [ -f /run/secrets/npm-ca ]; then export npm_config_cafile=/run/secrets/npm-ca; fi; \
    npm ci --ignore-scripts --no-audit --no-fund
COPY tsconfig.json tsconfig.build.json ./
COPY src ./src
# `npm run build` with the image's node: npm would put the `node` package's (not
# installed) binary first on PATH.
RUN node node_modules/typescript/bin/tsc -p tsconfig.build.json && chmod +x dist/cli/main.js

FROM ${BASE} AS deps
WORKDIR /src
COPY package.json package-lock.json ./
RUN --mount=type=secret,id=npm-ca \
    if [ -f /run/secrets/npm-ca ]; then export npm_config_cafile=/run/secrets/npm-ca; fi; \
    npm ci --omit=dev --ignore-scripts --no-audit --no-fund

FROM ${BASE}
ENV NODE_ENV=production
# Where Node runs on glibc (an image built on a Debian base; the benches), buffers above
# 128 KiB are mapped and given back when freed, as musl does here on its own: glibc would
# keep a finished transfer's buffers; and two malloc arenas, not one per thread that ever
# ran (the compression threads come and go). docs/benchmarks.md, "The operator's memory". musl
# ignores both.
ENV MALLOC_MMAP_THRESHOLD_=131072
ENV MALLOC_ARENA_MAX=2
WORKDIR /app
COPY --from=deps /src/node_modules ./node_modules
COPY --from=build /src/dist ./dist
# package.json for "type": "module".
COPY package.json ./
# The CLI on PATH: `kubectl exec deploy/serverimage-operator -- serverimage list -A`.
RUN ln -s /app/dist/cli/main.js /usr/local/bin/serverimage
# 65532 is the conventional "nonroot" uid of distroless images; numeric so that
# runAsNonRoot can verify it without reading /etc/passwd.
USER 65532:65532
# A 1 MiB young generation keeps the heap, and so RSS, flat (measured by npm run bench,
# which runs with the same flags); the transfer Pods run dist/transfer/main.js with it too.
ENTRYPOINT ["node", "--max-semi-space-size=1", "dist/main.js"]
