# syntax=docker/dockerfile:1
# depctl container image: the `depctl run` controller (health, metrics, status and webhook on :8080).
#
#   docker build -t depctl .
#   docker run --read-only --tmpfs /tmp -p 8080:8080 -e DEPCTL_GIT_TOKEN \
#     -v depctl-state:/var/lib/depctl -v "$PWD/secrets:/secrets:ro" \
#     depctl run --repo https://github.com/acme/dep-config.git
#
# No Docker engine runs on the project's CI machines: .ci/image-check.sh reproduces the build stage's
# RUN steps, the runtime stage's file list, the entrypoint and the HEALTHCHECK in a temporary directory.
# Keep the two in step (test/integration/deploy-manifests.test.ts checks the instructions below).

ARG NODE_IMAGE=node:22-bookworm-slim

# ---------------------------------------------------------------------------------------------------------
# build: dev dependencies, TypeScript and a C++ toolchain for the better-sqlite3 native addon.
FROM ${NODE_IMAGE} AS build
RUN apt-get update \
 && apt-get install -y --no-install-recommends python3 make g++ \
 && rm -rf /var/lib/apt/lists/*
WORKDIR /src
# Dependencies first, so that a source change does not reinstall them. --ignore-scripts because the root
# `prepare` script (the TypeScript build) needs the sources, which are copied later; the one dependency
# whose install script matters at runtime, better-sqlite3, is rebuilt explicitly (a prebuilt binary when
# the download works, node-gyp with the toolchain above otherwise).
COPY package.json package-lock.json ./
RUN --mount=type=cache,target=/root/.npm \
    npm ci --ignore-scripts --no-audit --no-fund \
 && npm rebuild better-sqlite3
COPY tsconfig.json tsconfig.build.json ./
COPY controller ./controller
COPY bin ./bin
COPY schemas ./schemas
RUN npm run build \
 && npm prune --omit=dev --no-audit --no-fund

# ---------------------------------------------------------------------------------------------------------
# runtime: no compiler, no npm cache, no sources; the application files are owned by root and read-only.
FROM ${NODE_IMAGE} AS runtime
# git: simple-git drives the git binary to clone and poll the config repository (`--repo URL`).
# openssh-client: ssh:// and git@ repository URLs (deploy keys). ca-certificates: HTTPS to Apple and git.
# safe.directory in /etc/gitconfig: a config repository mounted at /config belongs to another uid, which git
# refuses otherwise (CVE-2022-24765); only depctl runs here. (depctl passes no GIT_* variables to git, so
# this cannot be an ENV.)
# tini: PID 1 that forwards SIGTERM to node and reaps the git/ssh processes git leaves behind (so neither
# `docker run --init` nor Kubernetes shareProcessNamespace is needed).
RUN apt-get update \
 && apt-get install -y --no-install-recommends git openssh-client ca-certificates tini \
 && rm -rf /var/lib/apt/lists/* \
 && git config --system --add safe.directory '*' \
 && mkdir -p /var/lib/depctl /secrets \
 && chown 1000:1000 /var/lib/depctl \
 && chmod 0700 /var/lib/depctl
WORKDIR /app
COPY --from=build /src/package.json ./package.json
COPY --from=build /src/bin ./bin
COPY --from=build /src/dist ./dist
COPY --from=build /src/schemas ./schemas
COPY --from=build /src/node_modules ./node_modules

# Everything the process writes goes to the state volume or to /tmp (mount a tmpfs / emptyDir there when
# the root file system is read-only). HOME=/tmp keeps git and ssh from trying to write to /home/node.
ENV NODE_ENV=production \
    HOME=/tmp \
    TMPDIR=/tmp \
    DEPCTL_STATE=sqlite:/var/lib/depctl/state.db \
    DEPCTL_SECRETS_DIR=/secrets \
    DEPCTL_LISTEN=0.0.0.0:8080

# uid/gid 1000 is the `node` user of the base image; numeric so that Kubernetes' runAsNonRoot can verify it.
USER 1000:1000
# The process starts in the state volume, so that relative defaults (run's --work-dir .depctl/checkout)
# land on a writable volume even when CMD is replaced, never below the read-only /app.
WORKDIR /var/lib/depctl
# /secrets: DEP tokens (.p7m), private keys, webhook secret and API token; mount it read-only.
VOLUME ["/var/lib/depctl", "/secrets"]
EXPOSE 8080

# Liveness through node itself (slim images have no curl). It reads the port from DEPCTL_LISTEN, which
# `depctl run` also reads: change the port there rather than with --listen.
HEALTHCHECK --interval=30s --timeout=5s --start-period=30s --retries=3 \
  CMD ["node", "-e", "const a=process.env.DEPCTL_LISTEN||'0.0.0.0:8080';require('node:http').get({host:'127.0.0.1',port:Number(a.slice(a.lastIndexOf(':')+1)),path:'/healthz',timeout:4000},(r)=>process.exit(r.statusCode===200?0:1)).on('timeout',()=>process.exit(1)).on('error',()=>process.exit(1))"]

ENTRYPOINT ["/usr/bin/tini", "--", "node", "/app/bin/depctl.js"]
# The listen address comes from DEPCTL_LISTEN, the checkout goes below the working directory (the state
# volume). The config repository: override with `run --repo https://…` (token in DEPCTL_GIT_TOKEN) or
# `run --repo git@… --git-ssh-key /secrets/…`, or mount a repository at /config.
CMD ["run", "--repo", "/config"]
