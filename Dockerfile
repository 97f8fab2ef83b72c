# The operator image: build with the full toolchain, run with production dependencies only.
#   docker build -t serverimage-operator:0.1.0 .
# Node 24 is the active LTS line, the version package.json's engines asks for; the tag
# matches the `node` devDependency that tests run on.

FROM node:24.21.0-alpine AS build
WORKDIR /src
COPY package.json package-lock.json ./
# No install scripts: the `node` devDependency would fetch a second Node binary (the
# image has one), and nothing else needs them.
RUN npm ci --ignore-scripts --no-audit --no-fund
COPY tsconfig.json tsconfig.build.json ./
COPY src ./src
# `npm run build` with the image's node: npm would put the `node` package's (not
# installed) binary first on PATH.
RUN node node_modules/typescript/bin/tsc -p tsconfig.build.json

FROM node:24.21.0-alpine AS deps
WORKDIR /src
COPY package.json package-lock.json ./
RUN npm ci --omit=dev --ignore-scripts --no-audit --no-fund

FROM node:24.21.0-alpine
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
# 65532 is the conventional "nonroot" uid of distroless images; numeric so that
# runAsNonRoot can verify it without reading /etc/passwd.
USER 65532:65532
# A 1 MiB young generation keeps the heap, and so RSS, flat over hours-long pushes
# (measured by npm run bench, which runs with the same flags); --expose-gc for the one full
# collection once the transfers are over (src/idle-collection.ts).
ENTRYPOINT ["node", "--max-semi-space-size=1", "--expose-gc", "dist/main.js"]
