#!/usr/bin/env bash
# Reproduces the container image's build and start without a Docker engine, in a temporary directory:
#   1. build stage: copy what the Dockerfile's build stage copies, then its RUN steps (npm ci --ignore-scripts,
#      rebuild better-sqlite3, npm run build, npm prune --omit=dev);
#   2. runtime stage: copy only the files the runtime stage copies, make them read-only, check that dev
#      dependencies are gone and nothing else came along;
#   3. start: the Dockerfile's ENTRYPOINT + CMD with its ENV, as uid 1000 (USER), image paths mapped onto
#      temporary directories (/app, /var/lib/depctl, /secrets, /tmp, /config), then its HEALTHCHECK command.
# ENTRYPOINT, CMD, ENV, USER and HEALTHCHECK are read from the Dockerfile (.ci/dockerfile-plan.mjs), so this
# check follows the image. When `depctl run` exists (`run --help` prints its usage) it starts the controller and polls
# the HEALTHCHECK; until then it runs --version, validate and a state-store open through the same
# entrypoint, and runs the HEALTHCHECK against a stand-in /healthz. It prints which.
#
# Runs as root in a fresh clone (drops to uid 1000 with setpriv, as USER 1000:1000 does) or as any user.
# The slow step is compiling better-sqlite3: when the checkout's own node_modules holds an addon built from
# the same version (CI ran `npm ci` first), it is reused instead, as a prebuilt download would be;
# IMAGE_CHECK_REBUILD=1 forces the compile. Exit status: 0 all checks passed, 1 otherwise.
set -euo pipefail

repo=$(cd "$(dirname "$0")/.." && pwd)
t0=$(date +%s)
step() { echo "== image-check [$(($(date +%s) - t0))s] $*"; }
fail() { echo "image-check: FAIL: $*" >&2; exit 1; }

work=$(mktemp -d "${TMPDIR:-/tmp}/depctl-image.XXXXXX")
chmod 0755 "$work"
build="$work/build" app="$work/app" state="$work/var-lib-depctl" secrets="$work/secrets" tmpd="$work/tmp"
config="$work/config"
server_pid=""
cleanup() {
  if [ -n "$server_pid" ] && kill -0 "$server_pid" 2>/dev/null; then kill -KILL "$server_pid" 2>/dev/null || true; fi
  chmod -R u+w "$work" 2>/dev/null || true
  rm -rf "$work"
}
trap cleanup EXIT

# --- What the Dockerfile says -----------------------------------------------------------------------------
export IMAGE_CHECK_MAP="/app=$app;/var/lib/depctl=$state;/secrets=$secrets;/tmp=$tmpd;/config=$config"
plan_sh=$(node "$repo/.ci/dockerfile-plan.mjs" "$repo/Dockerfile") || fail "cannot read the Dockerfile"
eval "$plan_sh"
step "Dockerfile: build copies ${df_build_sources[*]}; runtime copies ${df_runtime_files[*]}; USER $df_user"

# --- Build stage ------------------------------------------------------------------------------------------
mkdir -p "$build"
for f in "${df_build_sources[@]}"; do cp -R "$repo/$f" "$build/$f"; done
cd "$build"
step "build: npm ci --ignore-scripts"
npm ci --ignore-scripts --prefer-offline --no-audit --no-fund --loglevel=error >/dev/null
addon=node_modules/better-sqlite3/build/Release/better_sqlite3.node
want=$(node -p "require('./node_modules/better-sqlite3/package.json').version")
have=$(node -p "try { require('$repo/node_modules/better-sqlite3/package.json').version } catch { '' }")
if [ "${IMAGE_CHECK_REBUILD:-0}" != 1 ] && [ "$have" = "$want" ] && [ -f "$repo/$addon" ]; then
  step "build: better-sqlite3 $want: reusing the checkout's compiled addon (IMAGE_CHECK_REBUILD=1 compiles)"
  mkdir -p "$(dirname "$addon")" && cp "$repo/$addon" "$addon"
else
  step "build: npm rebuild better-sqlite3 ($want; prebuilt download or node-gyp)"
  npm rebuild better-sqlite3 --loglevel=error >/dev/null
fi
step "build: npm run build"
npm run build --silent >/dev/null
step "build: npm prune --omit=dev"
npm prune --omit=dev --no-audit --no-fund --loglevel=error >/dev/null

# --- Runtime stage ----------------------------------------------------------------------------------------
mkdir -p "$app" "$state" "$secrets" "$tmpd" "$config"
for f in "${df_runtime_files[@]}"; do cp -R "$build/$f" "$app/$f"; done
step "runtime: checking the pruned tree"
node --input-type=module - "$app" "$repo/package.json" "${df_runtime_files[@]}" <<'EOF' || fail "runtime tree"
import { existsSync, readdirSync, readFileSync } from 'node:fs';
import { join } from 'node:path';
const [app, pkgPath, ...expected] = process.argv.slice(2);
const pkg = JSON.parse(readFileSync(pkgPath, 'utf8'));
const problems = [];
const top = readdirSync(app).sort();
if (top.join() !== [...expected].sort().join()) problems.push(`runtime tree holds ${top.join(', ')}; the Dockerfile copies ${expected.join(', ')}`);
for (const name of Object.keys(pkg.devDependencies ?? {})) {
  if (existsSync(join(app, 'node_modules', name))) problems.push(`dev dependency ${name} is still in node_modules`);
}
for (const bin of ['tsc', 'tsx', 'vitest', 'eslint']) {
  if (existsSync(join(app, 'node_modules', '.bin', bin))) problems.push(`node_modules/.bin/${bin} is still there`);
}
for (const name of Object.keys(pkg.dependencies ?? {})) {
  if (!existsSync(join(app, 'node_modules', name, 'package.json'))) problems.push(`dependency ${name} is missing`);
}
if (!existsSync(join(app, 'dist', 'main.js'))) problems.push('dist/main.js was not built');
const lock = JSON.parse(readFileSync(join(app, 'node_modules', '.package-lock.json'), 'utf8'));
const devInTree = Object.entries(lock.packages ?? {}).filter(([, p]) => p.dev === true).map(([k]) => k);
if (devInTree.length > 0) problems.push(`${devInTree.length} dev-only packages remain, e.g. ${devInTree[0]}`);
for (const p of problems) console.error(`  ${p}`);
console.log(`  ${Object.keys(lock.packages ?? {}).length} production packages, no dev dependencies`);
process.exit(problems.length > 0 ? 1 : 0);
EOF
echo "  runtime tree: $(du -sh "$app" | cut -f1) ($(du -sh "$app/node_modules" | cut -f1) node_modules)"

# Read-only root file system: the application files belong to root and nobody may write them; the state
# volume belongs to uid 1000; /secrets is read-only; /tmp is the only other writable place.
chmod -R a-w "$app"
chmod 0700 "$state"
printf 'placeholder, not a real token\n' >"$secrets/README"
chmod 0444 "$secrets/README" && chmod 0555 "$secrets"
chmod 1777 "$tmpd"
cp -R "$repo/examples/." "$config/"
git -C "$config" init -q && git -C "$config" add -A \
  && git -C "$config" -c user.name=image-check -c user.email=ci@invalid commit -qm config
config_rev=$(git -C "$config" rev-parse --short HEAD)
chmod -R a-w "$config"
touch "$work/.marker"

uid=${df_user%%:*} gid=${df_user#*:}
[ "$gid" = "$df_user" ] && gid=$uid
as_user=()
if [ "$(id -u)" -eq 0 ]; then
  [ "$uid" != root ] && [ "$uid" != 0 ] || fail "the Dockerfile's USER is root"
  command -v setpriv >/dev/null || fail "running as root needs setpriv (util-linux) to drop to uid $uid"
  chown "$uid:$gid" "$state"
  # The image trusts a foreign-owned /config through safe.directory in its /etc/gitconfig; this machine's
  # /etc/gitconfig is not ours to change, so the stand-in /config belongs to the image's user instead.
  chown -R "$uid:$gid" "$config"
  as_user=(setpriv --reuid="$uid" --regid="$gid" --clear-groups --)
  step "start: as uid $uid:$gid (USER $df_user) via setpriv"
else
  chown "$(id -u)" "$state" 2>/dev/null || true
  step "start: as $(id -un) (not root, so USER $df_user cannot be taken; the tree is still read-only)"
fi

entry=("${df_entrypoint[@]}")
if [[ "${entry[0]}" == */tini ]] && [ ! -x "${entry[0]}" ]; then
  echo "  ${entry[0]} is not installed here: starting without it (tini only forwards signals and reaps)"
  entry=("${entry[@]:1}")
  [ "${entry[0]}" = "--" ] && entry=("${entry[@]:1}")
fi
port=$(node -e "const s=require('node:net').createServer().listen(0,'127.0.0.1',()=>{console.log(s.address().port);s.close()})")
# The image's environment only (env -i), with the listen address moved to a free loopback port.
image_env=(env -i "PATH=$PATH" "${df_env[@]}" "DEPCTL_LISTEN=127.0.0.1:$port")
in_image() { (cd "$df_workdir" && "${as_user[@]}" "${image_env[@]}" "$@"); }
health() { in_image "${df_healthcheck[@]}"; }

# `depctl run --help` exits 0 even without a run command (commander then prints the program's help), so the
# exit code alone cannot tell: the command exists when its own usage line comes back.
run_help=$(in_image "${entry[@]}" run --help 2>&1) || run_help=""
# IMAGE_CHECK_SKIP_RUN=1 takes the second branch even when run exists (to exercise it).
if [ "${IMAGE_CHECK_SKIP_RUN:-0}" != 1 ] && grep -q '^Usage: depctl run' <<<"$run_help"; then
  # ---- depctl run exists: the real entrypoint + CMD, then the HEALTHCHECK --------------------------------
  cmd=("${df_cmd[@]}")
  for i in "${!cmd[@]}"; do
    if [ "${cmd[$i]}" = "--listen" ]; then cmd[i+1]="127.0.0.1:$port"; fi
  done
  step "start: depctl run exists: ${entry[*]} ${cmd[*]}"
  (cd "$df_workdir" && exec "${as_user[@]}" "${image_env[@]}" "${entry[@]}" "${cmd[@]}") >"$work/run.log" 2>&1 &
  server_pid=$!
  healthy=0
  for _ in $(seq 1 120); do
    kill -0 "$server_pid" 2>/dev/null || { cat "$work/run.log" >&2; fail "depctl run exited before it was healthy"; }
    if health; then healthy=1; break; fi
    sleep 0.5
  done
  [ "$healthy" = 1 ] || { cat "$work/run.log" >&2; fail "HEALTHCHECK did not pass within 60 s"; }
  step "HEALTHCHECK passed (GET /healthz = 200 on 127.0.0.1:$port)"
  # Ready means a revision was checked out (into the state volume, /app being read-only) and attempted.
  # The pass itself fails here (the examples' DEP tokens are not in /secrets), which still counts.
  get() { node -e "fetch('http://127.0.0.1:$port$1').then(r=>console.log(r.status),()=>console.log('error'))"; }
  ready=""
  for _ in $(seq 1 120); do
    ready=$(get /readyz)
    [ "$ready" = 200 ] && break
    sleep 0.5
  done
  [ "$ready" = 200 ] || { cat "$work/run.log" >&2; fail "/readyz answered $ready, not 200, within 60 s"; }
  checkout=$(find "$state" -mindepth 1 -maxdepth 4 -name .git -print -quit)
  [ -n "$checkout" ] || fail "no git checkout below the state volume"
  echo "  GET /readyz: 200 (revision $config_rev checked out at ${checkout#"$state"/}, state volume)"
  for path in /metrics /api/status; do
    code=$(get "$path")
    [ "$code" = 200 ] || fail "GET $path answered $code"
    echo "  GET $path: 200"
  done
  echo "  last lines of its log:"; tail -n 4 "$work/run.log" | cut -c1-300 | sed 's/^/    /'
  kill -TERM "$server_pid"
  stopped=0
  for _ in $(seq 1 40); do
    kill -0 "$server_pid" 2>/dev/null || { stopped=1; break; }
    sleep 0.25
  done
  [ "$stopped" = 1 ] || fail "depctl run did not stop within 10 s of SIGTERM"
  rc=0; wait "$server_pid" || rc=$?
  server_pid=""
  step "stop: SIGTERM, depctl run exited with status $rc"
  [ "$rc" = 0 ] || { cat "$work/run.log" >&2; fail "depctl run exited with status $rc after SIGTERM"; }
  if health; then fail "HEALTHCHECK still passes after the server stopped"; fi
  echo "  HEALTHCHECK fails once the server is gone, as it should"
  mode="depctl run + HEALTHCHECK"
else
  # ---- depctl run does not exist yet: the same entrypoint with other commands ----------------------------
  why="depctl run is not available yet"
  [ "${IMAGE_CHECK_SKIP_RUN:-0}" = 1 ] && why="IMAGE_CHECK_SKIP_RUN=1"
  step "start: $why; checking the entrypoint with --version, validate and the store"
  version=$(in_image "${entry[@]}" --version) || fail "depctl --version failed"
  [ "$version" = "$(node -p "require('$repo/package.json').version")" ] || fail "depctl --version printed '$version'"
  echo "  depctl --version: $version"
  in_image "${entry[@]}" validate "$config" >"$work/validate.log" 2>&1 \
    || { cat "$work/validate.log" >&2; fail "depctl validate of the examples failed"; }
  echo "  depctl validate (examples): exit 0"
  # The state store the image defaults to (DEPCTL_STATE), opened from the pruned tree: loads the native
  # better-sqlite3 addon and runs the migrations in the state volume.
  in_image node --input-type=module -e "
    const { openStore } = await import('$app/dist/store/index.js');
    const store = await openStore(process.env.DEPCTL_STATE);
    await store.close();" || fail "opening the SQLite state store from the pruned tree failed"
  [ -s "$state/state.db" ] || fail "no state database in the state volume"
  echo "  state store: $(sed 's/^DEPCTL_STATE=//;t;d' <<<"$(printf '%s\n' "${df_env[@]}")") created by uid $(stat -c %u "$state/state.db")"
  # The HEALTHCHECK command itself, against a stand-in /healthz that answers 200, then 503, then nothing.
  stand_in() {
    node -e "require('node:http').createServer((q,r)=>{r.statusCode=q.url==='/healthz'?$1:404;r.end()}).listen($port,'127.0.0.1')" &
    server_pid=$!
    for _ in $(seq 1 40); do node -e "require('node:net').connect($port,'127.0.0.1').on('connect',()=>process.exit(0)).on('error',()=>process.exit(1))" && return 0; sleep 0.25; done
    fail "the stand-in server did not start"
  }
  stop_stand_in() { kill "$server_pid"; wait "$server_pid" 2>/dev/null || true; server_pid=""; }
  stand_in 200; health || fail "HEALTHCHECK failed against a 200 /healthz"; stop_stand_in
  stand_in 503; if health; then fail "HEALTHCHECK passed against a 503 /healthz"; fi; stop_stand_in
  if health; then fail "HEALTHCHECK passed with nothing listening"; fi
  step "HEALTHCHECK against a stand-in /healthz: 200 passes, 503 and no server fail"
  mode="entrypoint (--version, validate, store) + HEALTHCHECK against a stand-in ($why)"
fi

# Nothing may have been written outside the volumes and /tmp.
written=$(find "$app" "$config" "$secrets" -newer "$work/.marker" | head -n 5)
[ -z "$written" ] || fail "files written outside the volumes: $written"
echo "  nothing written below /app, /config or /secrets"
step "OK: $mode"
