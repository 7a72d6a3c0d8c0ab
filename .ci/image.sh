#!/usr/bin/env bash
# Builds the container image from the unchanged Dockerfile with a real engine (Podman/Buildah) and
# smoke-tests it. Runs as root on the CI machine (rootful Podman); fails loudly when no engine can run.
#
#   1. engine: installs podman/buildah from Debian when missing; a containers.conf and storage.conf of its
#      own (runtime runc, cgroupfs, ulimits within this machine's hard limits, storage under the cache);
#   2. base: the Dockerfile's NODE_IMAGE (pinned by digest) when it is present or can be pulled; otherwise
#      a local stand-in of the same Debian release and Node version (debootstrap --variant=minbase from the
#      machine's apt sources + the npm package node-linux-<arch> + npm, user node 1000), tagged with the
#      same name without the digest and passed with --build-arg NODE_IMAGE=…; cached between runs;
#   3. build: `podman build --pull=never --format docker` (HEALTHCHECK kept), then the image size and the
#      image's own layers (goal: at most IMAGE_OWN_MAX_MB, default 80 MB);
#   4. smoke test in a pod: `depctl sim` on the examples and `depctl run` on a git copy of them, both as an
#      arbitrary uid in group 0 with a read-only root file system; /healthz and /readyz 200; the first pass
#      applied (the simulator holds the profiles); the HEALTHCHECK passes; SIGTERM stops `run` with exit
#      status 0 within the grace period; the default user (1000) starts too.
# Cache: DEPCTL_CI_CACHE (default /var/cache/depctl-ci): the stand-in's root file system and the image store.
set -euo pipefail

repo=$(cd "$(dirname "$0")/.." && pwd)
cache=${DEPCTL_CI_CACHE:-/var/cache/depctl-ci}
own_max_mb=${IMAGE_OWN_MAX_MB:-80}
image=localhost/depctl:ci
t0=$(date +%s)
ts=$t0
step() { local now; now=$(date +%s); echo "== image [$((now - t0))s, +$((now - ts))s] $*"; ts=$now; }
fail() { echo "image: FAIL: $*" >&2; exit 1; }
ok() { echo "   ok: $*"; }
# podman 4.3 logs an error for every health-checked container when there is no systemd (no timers); the
# health checks are run by hand below.
prun() { podman run "$@" 2> >(grep -v 'unable to get systemd connection' >&2); }

# --- 1. Engine --------------------------------------------------------------------------------------------
step "engine"
if [ "$(id -u)" != 0 ]; then
  fail "run as root (rootful Podman, as CI does); no container engine check is possible otherwise"
fi
if ! command -v podman >/dev/null || ! command -v debootstrap >/dev/null; then
  command -v apt-get >/dev/null || fail "podman is not installed and there is no apt-get to install it: no container engine, no image check"
  echo "   installing podman, buildah and debootstrap from Debian"
  export DEBIAN_FRONTEND=noninteractive
  apt-get update -qq >/dev/null || fail "apt-get update failed"
  apt-get install -y -qq --no-install-recommends podman buildah runc uidmap slirp4netns fuse-overlayfs \
    containernetworking-plugins iptables catatonit debootstrap ca-certificates >/dev/null \
    || fail "apt-get install podman buildah failed: no container engine, no image check"
fi
mkdir -p "$cache/containers"
# Default ulimits within this machine's hard limits: Podman's own defaults exceed them here, and runc
# fails with "error setting rlimit type 6/7: operation not permitted". nproc is also kept at or below
# kernel.pid_max (runc could not set the hard limit 96367 above pid_max 32768 on the CI machine).
nofile=$(ulimit -Hn); [ "$nofile" = unlimited ] && nofile=1048576
nproc=$(ulimit -Hu); [ "$nproc" = unlimited ] && nproc=1048576
pid_max=$(cat /proc/sys/kernel/pid_max 2>/dev/null || echo 32768)
[ "$nproc" -gt "$pid_max" ] && nproc=$pid_max
export CONTAINERS_CONF="$cache/containers/containers.conf"
export CONTAINERS_STORAGE_CONF="$cache/containers/storage.conf"
cat >"$CONTAINERS_CONF" <<EOF
# Written by .ci/image.sh: the engine settings this machine needs.
[containers]
default_ulimits = ["nofile=$nofile:$nofile", "nproc=$nproc:$nproc"]
[engine]
runtime = "runc"
cgroup_manager = "cgroupfs"
events_logger = "file"
EOF
write_storage() {
  cat >"$CONTAINERS_STORAGE_CONF" <<EOF
# Written by .ci/image.sh: image store under the CI cache, so that base and build layers survive runs.
[storage]
driver = "$1"
runroot = "/run/depctl-ci/storage-$1"
graphroot = "$cache/storage-$1"
EOF
}
driver=${IMAGE_STORAGE_DRIVER:-overlay}
write_storage "$driver"
if ! podman info >/dev/null 2>"$cache/containers/info.err"; then
  if [ "$driver" = overlay ]; then
    echo "   overlay storage does not work here ($(tail -1 "$cache/containers/info.err")); using vfs"
    driver=vfs; write_storage vfs
  fi
  podman info >/dev/null || fail "podman cannot run on this machine (podman info failed): no container engine, no image check"
fi
podman run --help >/dev/null
echo "   $(podman --version), buildah $(buildah --version | awk '{print $3}'), runtime runc, storage $driver, nofile $nofile"

# --- 2. Base image ----------------------------------------------------------------------------------------
step "base image"
base=$(sed -n 's/^ARG NODE_IMAGE=//p' "$repo/Dockerfile")
[ -n "$base" ] || fail "the Dockerfile has no 'ARG NODE_IMAGE=' default"
base_tag=${base%@*}
[[ $base_tag =~ node:([0-9]+\.[0-9]+\.[0-9]+)-([a-z]+)-slim$ ]] || fail "NODE_IMAGE $base is not node:X.Y.Z-RELEASE-slim[@digest]"
node_version=${BASH_REMATCH[1]} release=${BASH_REMATCH[2]}
build_args=()
if podman image exists "$base" 2>/dev/null; then
  echo "   $base is in the image store"
elif timeout 120 podman pull -q "$base" >/dev/null 2>"$cache/containers/pull.err"; then
  echo "   pulled $base"
else
  echo "   cannot pull $base ($(tail -1 "$cache/containers/pull.err" | cut -c1-160))"
  arch=$(dpkg --print-architecture)
  case "$arch" in amd64) narch=x64 ;; arm64) narch=arm64 ;; *) fail "no Node build for $arch" ;; esac
  key="debian-$release-node-$node_version-$arch"
  echo "   using a local stand-in: $base_tag = $key (Debian $release minbase + node-linux-$narch@$node_version)"
  if [ "$(podman image inspect --format '{{index .Labels "depctl.ci.standin"}}' "$base_tag" 2>/dev/null)" != "$key" ]; then
    rootfs_tar="$cache/base/$key.tar"
    if [ ! -s "$rootfs_tar" ]; then
      command -v debootstrap >/dev/null || fail "debootstrap is missing (apt-get install debootstrap)"
      mkdir -p "$cache/base"
      sb=$(mktemp -d "${TMPDIR:-/tmp}/depctl-standin.XXXXXX")
      trap 'rm -rf "$sb"' EXIT
      # The machine's own Debian mirror (deb822 or one-line sources).
      mirror=$(sed -n 's/^URIs: *//p' /etc/apt/sources.list.d/*.sources 2>/dev/null | head -1)
      [ -n "$mirror" ] || mirror=$(awk '$1=="deb"{print $2; exit}' /etc/apt/sources.list 2>/dev/null)
      [ -n "$mirror" ] || fail "no Debian mirror in the apt sources"
      echo "   debootstrap --variant=minbase $release from $mirror"
      debootstrap --variant=minbase "$release" "$sb/root" "$mirror" >"$sb/debootstrap.log" 2>&1 \
        || { tail -20 "$sb/debootstrap.log"; fail "debootstrap failed"; }
      root="$sb/root"
      # As debian:*-slim: no documentation, man pages or locales in later packages.
      mkdir -p "$root/etc/dpkg/dpkg.cfg.d"
      printf '%s\n' 'path-exclude /usr/share/doc/*' 'path-include /usr/share/doc/*/copyright' \
        'path-exclude /usr/share/man/*' 'path-exclude /usr/share/info/*' 'path-exclude /usr/share/locale/*' \
        >"$root/etc/dpkg/dpkg.cfg.d/docker"
      rm -f "$root/etc/apt/sources.list"
      mkdir -p "$root/etc/apt/sources.list.d"
      if ls /etc/apt/sources.list.d/*.sources >/dev/null 2>&1; then cp /etc/apt/sources.list.d/*.sources "$root/etc/apt/sources.list.d/"
      else cp /etc/apt/sources.list "$root/etc/apt/sources.list"; fi
      # Node of the same version, and the npm it ships with (named in its changelog), from the npm registry.
      (cd "$sb" && npm pack -q "node-linux-$narch@$node_version" >/dev/null) || fail "npm pack node-linux-$narch@$node_version failed"
      tar -xzf "$sb/node-linux-$narch-$node_version.tgz" -C "$sb"
      npm_version=$(grep -o -m1 'upgrade npm to [0-9.]*[0-9]' "$sb/package/CHANGELOG.md" | awk '{print $4}' || true)
      (cd "$sb" && npm pack -q "npm@${npm_version:-11}" >/dev/null) || fail "npm pack npm@${npm_version:-11} failed"
      install -D -m 0755 "$sb/package/bin/node" "$root/usr/local/bin/node"
      mkdir -p "$root/usr/local/include" "$root/usr/local/lib/node_modules/npm"
      cp -R "$sb/package/include/node" "$root/usr/local/include/node"
      tar -xzf "$sb"/npm-*.tgz -C "$root/usr/local/lib/node_modules/npm" --strip-components=1
      ln -s ../lib/node_modules/npm/bin/npm-cli.js "$root/usr/local/bin/npm"
      ln -s ../lib/node_modules/npm/bin/npx-cli.js "$root/usr/local/bin/npx"
      chroot "$root" groupadd --gid 1000 node
      chroot "$root" useradd --uid 1000 --gid node --shell /bin/bash --create-home node
      chroot "$root" /usr/local/bin/node -e 'if (process.version !== "v" + process.argv[1]) process.exit(1)' "$node_version" \
        || fail "the stand-in's node is not $node_version"
      rm -rf "$root"/var/lib/apt/lists/* "$root"/var/cache/apt/*.bin "$root"/var/cache/apt/archives/*.deb \
        "$root"/var/log/* "$root"/tmp/* "$root"/dev/* "$root"/proc/* "$root"/sys/*
      tar --numeric-owner -C "$root" -cf "$rootfs_tar.tmp" . && mv "$rootfs_tar.tmp" "$rootfs_tar"
      echo "   stand-in: Debian $(cat "$root/etc/debian_version"), node $node_version, npm ${npm_version:-11}; cached in $rootfs_tar"
      rm -rf "$sb"; trap - EXIT
    fi
    podman import -q \
      --change 'ENV PATH=/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin' \
      --change "ENV NODE_VERSION=$node_version" \
      --change "LABEL depctl.ci.standin=$key" \
      --change 'CMD ["node"]' \
      "$rootfs_tar" "$base_tag" >/dev/null || fail "podman import of the stand-in failed"
  fi
  build_args=(--build-arg "NODE_IMAGE=$base_tag")
  base=$base_tag
fi

# --- 3. Build ---------------------------------------------------------------------------------------------
# The CI machine reaches the npm registry through a TLS-intercepting proxy whose CA the host trusts
# (NODE_EXTRA_CA_CERTS): hand it to the npm step as a build secret (never in a layer). IMAGE_EXTRA_CA names
# another file; IMAGE_EXTRA_CA=none passes none.
extra_ca=${IMAGE_EXTRA_CA:-${NODE_EXTRA_CA_CERTS:-}}
if [ -n "$extra_ca" ] && [ "$extra_ca" != none ] && [ -s "$extra_ca" ]; then
  build_args+=(--secret "id=extra-ca,src=$extra_ca")
fi
step "build: podman build --pull=never --format docker ${build_args[*]} -t $image ."
build_start=$(date +%s)
podman build --pull=never --format docker "${build_args[@]}" -t "$image" "$repo" >"$cache/containers/build.log" 2>&1 \
  || { tail -40 "$cache/containers/build.log"; fail "podman build failed (full log: $cache/containers/build.log)"; }
build_s=$(( $(date +%s) - build_start ))
{ grep -E '^(\[[0-9]+/[0-9]+\] )?(STEP|COMMIT)' "$cache/containers/build.log" || true; } | sed 's/^/   /' | cut -c1-160
# Offline: the addon step's output (not in the log when the step came from the layer cache) must show that
# prebuild-install skipped its download and that node-gyp fetched no headers.
if grep -q 'prebuild-install' "$cache/containers/build.log"; then
  if ! grep -q 'build-from-source specified, not attempting download' "$cache/containers/build.log" \
    || grep -Eiq 'prebuild-install (http|info looking for|info downloading)|gyp http GET|gyp info.*download' "$cache/containers/build.log"; then
    grep -Ei 'prebuild-install|gyp http|gyp info.*download' "$cache/containers/build.log" | head -5
    fail "the build tried to download a prebuilt addon or Node headers"
  fi
  echo "   addon: $(grep -o 'build-from-source specified, not attempting download' "$cache/containers/build.log" | head -1); compiled against /usr/local/include/node"
fi
ok "built in ${build_s}s"

step "size"
podman history --format json "$image" >"$cache/containers/history.json"
podman history --format json "$base" >"$cache/containers/base-history.json"
own=$(node - "$cache/containers/history.json" "$cache/containers/base-history.json" "$(podman image inspect --format '{{.Size}}' "$image")" "$own_max_mb" <<'EOF'
const fs = require('node:fs');
const [img, base, total, max] = process.argv.slice(2);
const h = JSON.parse(fs.readFileSync(img, 'utf8'));
const own = h.slice(0, h.length - JSON.parse(fs.readFileSync(base, 'utf8')).length);
const mb = (n) => (n / 1e6).toFixed(1) + ' MB';
console.error(`   image size ${mb(Number(total))}; depctl's own layers (above the base):`);
for (const l of own.reverse()) if (l.size > 0) console.error(`   ${mb(l.size).padStart(9)}  ${String(l.CreatedBy ?? l.createdBy ?? '').replace(/\s+/g, ' ').slice(0, 110)}`);
const sum = own.reduce((s, l) => s + l.size, 0);
console.error(`   own layers: ${mb(sum)} (goal: at most ${max} MB)`);
console.log(Math.ceil(sum / 1e6));
EOF
)
[ "$own" -le "$own_max_mb" ] || fail "depctl's own layers are $own MB, more than $own_max_mb MB"

step "contents"
prun --rm --read-only --health-interval disable --entrypoint /bin/sh "$image" -c '
  set -e
  for t in npm npx corepack gcc g++ make python3 cc; do if command -v $t >/dev/null; then echo "$t is in the runtime image"; exit 1; fi; done
  test ! -e /usr/local/include/node || { echo "node headers in the runtime image"; exit 1; }
  ls /app/node_modules/better-sqlite3/build/Release | grep -qx better_sqlite3.node
  test "$(ls /app/node_modules/better-sqlite3/build/Release | wc -l)" = 1 || { echo "build leftovers: $(ls /app/node_modules/better-sqlite3/build/Release)"; exit 1; }
  test ! -e /app/node_modules/better-sqlite3/deps || { echo "SQLite sources in the runtime image"; exit 1; }
  test -d /app/examples/company
  git --version >/dev/null; ssh -V 2>/dev/null; test -x /usr/lib/git-core/git-remote-https
  echo "   node $(node --version), $(git --version), du /app: $(du -sh /app | cut -f1), node_modules: $(du -sh /app/node_modules | cut -f1)"
' || fail "the runtime image holds build tools or leftovers"
ok "no npm, compilers, headers or addon build leftovers; examples present"

# --- 4. Smoke test ----------------------------------------------------------------------------------------
step "smoke test: pod with depctl sim + depctl run (uid 123456:0, read-only root)"
work=$(mktemp -d "${TMPDIR:-/tmp}/depctl-smoke.XXXXXX")
pod="depctl-smoke-$$"
vol="depctl-smoke-state-$$"
cleanup() {
  podman pod rm -f -t 0 "$pod" >/dev/null 2>&1 || true
  podman volume rm -f "$vol" >/dev/null 2>&1 || true
  rm -rf "$work"
}
trap cleanup EXIT
uid=123456
mkdir -p "$work/secrets" "$work/config"
chmod 0777 "$work/secrets"  # the simulator (uid 123456) writes each server's token and key here
cp -R "$repo/examples/company/." "$work/config/"
git -C "$work/config" init -q -b main
git -C "$work/config" -c user.name=ci -c user.email=ci@localhost add -A
git -C "$work/config" -c user.name=ci -c user.email=ci@localhost commit -q -m "examples/company"
chmod -R a+rX "$work/config"
podman volume create "$vol" >/dev/null
# The pod shares one network namespace: run reaches the simulator on 127.0.0.1:8089.
podman pod create --name "$pod" --network none >/dev/null
prun -d --pod "$pod" --name "$pod-sim" --health-interval disable --passwd=false --user "$uid:0" --read-only \
  -v "$work/secrets:/secrets" "$image" sim --listen 127.0.0.1:8089 --config /app/examples/company --out /secrets >/dev/null
http() { # http CONTAINER URL -> "STATUS BODY" (node inside the image: no curl there)
  podman exec "$1" node -e 'fetch(process.argv[1]).then(async (r) => console.log(r.status, await r.text())).catch((e) => { console.log(0, e.message); })' "$2"
}
wait_for() { # wait_for SECONDS DESCRIPTION COMMAND...: polls COMMAND once a second
  local n=$1 what=$2; shift 2
  for _ in $(seq "$n"); do "$@" && return 0; sleep 1; done
  return 1
}
sim_ready() { [ -s "$work/secrets/northwind/token.p7m" ] && http "$pod-sim" http://127.0.0.1:8089/healthz | grep -q '^200 '; }
wait_for 30 "simulator" sim_ready || { podman logs "$pod-sim"; fail "the simulator did not start"; }
ok "simulator up, token and key written as uid $uid"

prun -d --pod "$pod" --name "$pod-run" --health-interval disable --passwd=false --user "$uid:0" --read-only \
  -e DEPCTL_DEP_URL=http://127.0.0.1:8089 -v "$vol:/var/lib/depctl" \
  -v "$work/secrets:/secrets:ro" -v "$work/config:/config:ro" "$image" >/dev/null
run_ready() { http "$pod-run" http://127.0.0.1:8080/readyz | grep -q '^200 '; }
wait_for 60 "controller" run_ready || { podman logs "$pod-run"; http "$pod-run" http://127.0.0.1:8080/readyz || true; fail "depctl run did not become ready"; }
health=$(http "$pod-run" http://127.0.0.1:8080/healthz)
[[ $health == "200 "* ]] || fail "/healthz: $health"
ok "/healthz 200, /readyz 200 (first pass applied)"
[ "$(podman exec "$pod-run" id -u)" = $uid ] || fail "not running as uid $uid"
podman exec "$pod-run" sh -c 'touch /app/x 2>/dev/null && exit 1; test -s /var/lib/depctl/state.db' \
  || fail "root file system writable, or no state in /var/lib/depctl"
ok "uid $uid gid 0 writes /var/lib/depctl/state.db; root file system read-only"
state=$(http "$pod-sim" http://127.0.0.1:8089/_sim/state)
node -e '
  const [status, ...rest] = process.argv[1].split(" ");
  const s = JSON.parse(rest.join(" "));
  const req = s.requests ?? {};
  const count = (p) => Object.entries(req).filter(([k]) => k.startsWith(p)).reduce((n, [, v]) => n + Number(v), 0);
  console.log(`   simulator: ${s.devices} devices, ${s.profiles} profiles; requests: ${Object.entries(req).map(([k, v]) => `${k} ${v}`).join(", ")}`);
  // The pass defined the profiles (POST /profile, devices included).
  if (status !== "200" || !(s.profiles >= 1) || count("POST /profile") < 1) process.exit(1);
' "$state" || fail "the pass did not reach the simulator (no profile defined): $state"
# A serial the example assigns (its CSV) now has a profile on the simulator.
serial=$(awk -F, 'NR == 2 { print $1; exit }' "$(ls "$repo"/examples/company/assignments/*.csv | head -1)")
device=$(http "$pod-sim" "http://127.0.0.1:8089/_sim/devices/$serial")
node -e '
  const [status, ...rest] = process.argv[1].split(" ");
  const d = JSON.parse(rest.join(" "));
  console.log(`   ${d.serial_number}: profile ${d.profile_uuid} (${d.profile_status})`);
  if (status !== "200" || !d.profile_uuid) process.exit(1);
' "$device" || fail "$serial has no profile on the simulator: $device"
ok "the simulator holds the profiles the pass defined and assigned"
podman healthcheck run "$pod-run" >/dev/null || fail "the image's HEALTHCHECK fails on depctl run"
ok "HEALTHCHECK passes (kept by --format docker)"

grace=10
stop_start=$(date +%s%N)
podman stop -t "$grace" "$pod-run" >/dev/null 2> >(grep -v 'unable to get systemd connection' >&2)
stop_ms=$(( ($(date +%s%N) - stop_start) / 1000000 ))
code=$(podman inspect --format '{{.State.ExitCode}}' "$pod-run")
[ "$code" = 0 ] || { podman logs --tail 20 "$pod-run"; fail "depctl run exited $code on SIGTERM"; }
[ "$stop_ms" -lt $((grace * 1000)) ] || fail "depctl run took ${stop_ms} ms to stop (grace ${grace} s)"
ok "SIGTERM: exit 0 in ${stop_ms} ms (grace ${grace} s)"

# The default user (1000:0) and the sim's HEALTHCHECK on its own port.
prun -d --pod "$pod" --name "$pod-sim2" --health-interval disable --read-only -e DEPCTL_LISTEN=127.0.0.1:8090 "$image" sim >/dev/null
wait_for 30 "sim2" podman healthcheck run "$pod-sim2" >/dev/null 2>&1 || { podman logs "$pod-sim2"; fail "HEALTHCHECK fails on depctl sim"; }
[ "$(podman exec "$pod-sim2" id -u):$(podman exec "$pod-sim2" id -g)" = 1000:0 ] || fail "default user is not 1000:0"
ok "default user 1000:0; sim on DEPCTL_LISTEN passes the HEALTHCHECK"

# The quickstart on the image's examples: listens on DEPCTL_LISTEN (0.0.0.0:8080, reachable through a
# published port), one pass against its own simulator, exit status 0 when Ready.
step "smoke test: quickstart /app/examples --once (uid $uid:0, read-only root)"
qs=$(prun --rm --health-interval disable --read-only --passwd=false --user "$uid:0" --network none "$image" \
  quickstart /app/examples --once --devices 20 2>&1) || { echo "$qs" | tail -20; fail "quickstart --once failed in the image"; }
grep -q 'status page http://0.0.0.0:8080/' <<<"$qs" || { echo "$qs" | tail -20; fail "quickstart does not listen on DEPCTL_LISTEN"; }
grep -q '^Ready: True' <<<"$qs" || { echo "$qs" | tail -20; fail "quickstart's pass did not end Ready"; }
grep -E '^  [a-z]+: [0-9]+ devices' <<<"$qs" | sed 's/^/   /'
ok "quickstart: listens on 0.0.0.0:8080, first pass Ready, exit 0"

step "done: image $image, own layers $own MB, built in ${build_s}s"
