# depctl container image: `depctl run` (health, metrics, status page and webhook on :8080) by default;
# `sim` and `quickstart` serve on DEPCTL_LISTEN too. Build and run commands: README, "Container image".
#
#   docker build -t depctl .                       # Docker (BuildKit)
#   podman build --format docker -t depctl .       # Podman/Buildah: keep HEALTHCHECK (the OCI format drops it)
#   docker run --read-only --tmpfs /tmp -p 8080:8080 -e DEPCTL_GIT_TOKEN \
#     -v depctl-state:/var/lib/depctl -v "$PWD/secrets:/secrets:ro" \
#     depctl run --repo https://github.com/acme/dep-config.git
#
# Offline: besides the base image, the build downloads only packages from the Debian and npm registries
# (no remote BuildKit frontend, hence no `# syntax=` line; no prebuilt-binary or header downloads: the
# native addon compiles against the headers the Node image carries in /usr/local/include/node).
# Multi-arch: nothing below names an architecture; `--platform linux/arm64` builds for Graviton and
# Apple-silicon hosts from the same file.
# CI (.ci/image.sh) builds this file unchanged with Podman and smoke-tests the image.

# The base image, pinned by digest: the multi-arch index of node:24.18.0-bookworm-slim (Node 24, the
# current LTS, on Debian 12). To update: pick the new tag and resolve its index digest, e.g.
#   skopeo inspect --raw docker://docker.io/library/node:24-bookworm-slim | sha256sum
#   docker buildx imagetools inspect node:24-bookworm-slim      (the "Digest:" line)
# then change the line below (tag and digest together; CI's stand-in base follows the tag's version).
# A mirror or a locally built base: `--build-arg NODE_IMAGE=registry.example/node:24.18.0-bookworm-slim`.
ARG NODE_IMAGE=docker.io/library/node:24.18.0-bookworm-slim@sha256:6f7b03f7c2c8e2e784dcf9295400527b9b1270fd37b7e9a7285cf83b6951452d

# ---------------------------------------------------------------------------------------------------------
# build: dev dependencies, TypeScript and a C++ toolchain for the better-sqlite3 native addon.
FROM ${NODE_IMAGE} AS build
RUN apt-get update \
 && apt-get install -y --no-install-recommends python3 make g++ \
 && rm -rf /var/lib/apt/lists/*
WORKDIR /src
# Dependencies first, so that a source change does not reinstall them. --ignore-scripts because the root
# `prepare` script (the TypeScript build) needs the sources, which are copied later; the one dependency
# whose install script matters at runtime, better-sqlite3, is rebuilt explicitly, from source
# (npm_config_build_from_source: prebuild-install skips its GitHub download) against the base image's Node
# headers (npm_config_nodedir: node-gyp downloads none); the environment, not npm flags, so that it reaches
# the install script whatever npm version; its output is in the build log (.ci/image.sh checks it).
# Behind a TLS-intercepting proxy or a registry mirror with a private CA, pass its certificate as a build
# secret: `--secret id=extra-ca,src=/path/ca.pem` (Docker BuildKit and Podman); it reaches only this step,
# never a layer. Without it the step uses Node's own CA list.
COPY package.json package-lock.json ./
RUN --mount=type=secret,id=extra-ca,required=false \
    if [ -s /run/secrets/extra-ca ]; then export NODE_EXTRA_CA_CERTS=/run/secrets/extra-ca; fi \
 && npm ci --ignore-scripts --no-audit --no-fund \
 && npm_config_build_from_source=true npm_config_nodedir=/usr/local \
    npm rebuild better-sqlite3 --foreground-scripts --loglevel=info \
 && rm -rf /root/.npm
COPY tsconfig.json tsconfig.build.json ./
COPY controller ./controller
COPY bin ./bin
COPY schemas ./schemas
COPY examples ./examples
# Prune to production dependencies, then keep only what runs: the addon's .node file (not its objects,
# static library, test extension or the SQLite sources, about 25 MB) and no install-time helpers.
RUN npm run build && npm prune --omit=dev --no-audit --no-fund \
 && cd node_modules/better-sqlite3 \
 && mv build/Release/better_sqlite3.node /tmp/ \
 && rm -rf build deps src binding.gyp \
 && mkdir -p build/Release && mv /tmp/better_sqlite3.node build/Release/ \
 && cd /src \
 && find node_modules \( -name '*.md' -o -name '*.map' -o -name '*.d.ts' -o -name '*.d.mts' -o -name '*.d.cts' \) -type f -delete \
 && node -e "require('better-sqlite3')(':memory:').prepare('select 1').get()"

# ---------------------------------------------------------------------------------------------------------
# runtime: no compiler, no npm, no headers, no caches, no sources; the application files are owned by
# root and read-only.
FROM ${NODE_IMAGE} AS runtime
# git: simple-git drives the git binary to clone and poll the config repository (`--repo URL`).
# openssh-client: ssh:// and git@ repository URLs (`run --git-ssh-key`); OpenSSH needs the uid in
# /etc/passwd (uid 1000 is; an arbitrary uid is not: use an HTTPS token there). ca-certificates: HTTPS
# to Apple and git. safe.directory in /etc/gitconfig: a config repository mounted at /config belongs to
# another uid, which git refuses otherwise (CVE-2022-24765); only depctl runs here.
# tini: PID 1 that forwards SIGTERM to node and reaps the git/ssh processes git leaves behind.
# Slimming (about 60 MB): Debian's git depends on perl only for commands depctl never runs (send-email, svn,
# cvs, the old `add -i` script), so perl's packages are purged again (dpkg --force-depends: an image built
# FROM this one that needs perl runs `apt-get -f install` first); git's server and mail helpers (daemon,
# http-backend, http-push, imap-send, shell, scalar, gitweb) go too; clone and fetch over a path, https and
# ssh stay. npm, npx, corepack and the C headers of the base image are removed: nothing installs packages here.
# /var/lib/depctl: owned by 1000 and group 0, group-writable, so that an arbitrary uid in group 0
# (OpenShift's restricted SCC) can write its state there too.
RUN apt-get update \
 && apt-get install -y --no-install-recommends git openssh-client ca-certificates tini \
 && dpkg --purge --force-depends perl liberror-perl $(dpkg-query -W -f '${Package}\n' 'perl-modules-*' 'libperl5*') \
 && cd /usr/lib/git-core \
 && rm -rf git-daemon git-http-backend git-http-fetch git-http-push git-imap-send git-shell scalar mergetools \
           /usr/bin/git-shell /usr/bin/scalar /usr/share/gitweb /usr/share/perl5/Git /usr/share/perl5/Git.pm \
 && cd / \
 && rm -rf /var/lib/apt/lists/* /var/cache/apt/* /var/log/apt /var/log/dpkg.log /var/cache/debconf/*-old \
 && rm -rf /usr/local/lib/node_modules /usr/local/bin/npm /usr/local/bin/npx /usr/local/bin/corepack \
           /usr/local/include/node /opt/yarn* /usr/local/bin/yarn /usr/local/bin/yarnpkg \
 && git config --system --add safe.directory '*' \
 && mkdir -p /var/lib/depctl /secrets \
 && chown 1000:0 /var/lib/depctl \
 && chmod 0770 /var/lib/depctl
WORKDIR /app
COPY --from=build /src/package.json ./package.json
COPY --from=build /src/bin ./bin
COPY --from=build /src/dist ./dist
COPY --from=build /src/schemas ./schemas
COPY --from=build /src/node_modules ./node_modules
COPY --from=build /src/examples ./examples

# Everything the process writes goes to the state volume or to /tmp (mount a tmpfs / emptyDir there when
# the root file system is read-only). HOME=/tmp keeps git and ssh from trying to write to /home/node.
ENV NODE_ENV=production \
    HOME=/tmp \
    TMPDIR=/tmp \
    DEPCTL_STATE=sqlite:/var/lib/depctl/state.db \
    DEPCTL_SECRETS_DIR=/secrets \
    DEPCTL_LISTEN=0.0.0.0:8080

# uid 1000 is the `node` user of the base image; numeric so that Kubernetes' runAsNonRoot can verify it.
# Group 0 (root's group, no privileges by itself): the state directory is group-writable, so any uid
# started with gid 0 (`--user 123456:0`, OpenShift) works as well.
USER 1000:0
# The process starts in the state volume, so that relative defaults (run's --work-dir .depctl/checkout,
# quickstart's .depctl/quickstart) land on a writable volume even when CMD is replaced, never below /app.
WORKDIR /var/lib/depctl
# /secrets: DEP tokens (.p7m), private keys, webhook secret and API token; mount it read-only.
VOLUME ["/var/lib/depctl", "/secrets"]
EXPOSE 8080

# Liveness through node itself (slim images have no curl): GET /healthz on the port of DEPCTL_LISTEN, which
# every serving subcommand (run, quickstart, sim) reads when --listen is not given; change the port there
# rather than with --listen. Docker keeps this; Podman/Buildah keep it only with `--format docker` (the OCI
# image format has no health check); Kubernetes ignores it: use the probes of deploy/kubernetes.
HEALTHCHECK --interval=30s --timeout=5s --start-period=30s --retries=3 \
  CMD ["node", "-e", "const a=process.env.DEPCTL_LISTEN||'0.0.0.0:8080';require('node:http').get({host:'127.0.0.1',port:Number(a.slice(a.lastIndexOf(':')+1)),path:'/healthz',timeout:4000},(r)=>process.exit(r.statusCode===200?0:1)).on('timeout',()=>process.exit(1)).on('error',()=>process.exit(1))"]

# --max-semi-space-size=32 doubles V8's young generation (16 → 32 MiB per half): a full fetch, a sync and a
# plan make millions of short-lived objects, and with the default most of them were copied once more by a
# scavenge. Settle of a million devices 32.6-39.4 s of CPU against 41.6-42.0 s (alternated), peak RSS +20-90 MiB
# (README, Performance). --no-allocation-site-pretenuring: when most objects an object literal made since the last
# young-generation collection are alive at one (depctl makes them a thousand devices at a time), V8 allocates that
# literal's objects in the old generation from then on, where they stay as garbage until a full collection.
# Million devices on Node 24, alternated: settle 18.3-20.2 s of CPU against 24.8-25.3 s and peak RSS 282-284 MiB
# against 398-418; profile edit 354-363 MiB against 491-498 on SQLite, 424 against 537 on PostgreSQL (README,
# Performance). --heap-growing-percent=100: after a full collection V8 lets the old generation grow to twice what
# was live, instead of up to four times on a machine with memory to spare (it chooses less by itself when the
# container's memory limit sizes the heap). A million-device apply on PostgreSQL peaked at 527-559 MiB with up to
# 4.5 times (the old generation filling to 320-347 MiB from 71-78 MiB live) and at 390-391 MiB with this; CPU
# within the noise on SQLite, the PostgreSQL settle 15.8-16.8 s against 12.0-12.9 s (README, Performance).
# The benches run depctl with the flags of this line (bench/children.ts).
ENTRYPOINT ["/usr/bin/tini", "--", "node", "--max-semi-space-size=32", "--no-allocation-site-pretenuring", "--heap-growing-percent=100", "/app/bin/depctl.js"]
# The listen address comes from DEPCTL_LISTEN, the checkout goes below the working directory (the state
# volume). The config repository: override with `run --repo https://…` (token in DEPCTL_GIT_TOKEN) or
# `run --repo git@… --git-ssh-key /secrets/…`, or mount a repository at /config. The examples are in
# /app/examples: `quickstart /app/examples` tries depctl against the built-in simulator.
CMD ["run", "--repo", "/config"]
