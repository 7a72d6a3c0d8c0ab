#!/usr/bin/env bash
# Runs the test suite on Node 22 as well (the CI machine's own Node is 20): Node from the npm package
# node-linux-<arch>@22 (the registry CI reaches), unpacked once into the CI cache; the tree copied into a
# scratch directory (tracked and untracked files, not node_modules/dist/.git), so that the checkout's own
# node_modules (its better-sqlite3 built for the machine's Node) stays as it is; dependencies installed
# there with Node 22, better-sqlite3 compiled against Node 22's headers from the same package
# (npm_config_nodedir: no header or prebuilt download).
#
#   bash .ci/node22.sh                      # npm test (build, typecheck, lint, vitest)
#   bash .ci/node22.sh test/store/...       # npm run build, then only these test files
# NODE22_VERSION: a 22.x version or "22" (default: the newest 22.x on the registry).
# Cache: DEPCTL_CI_CACHE (default /var/cache/depctl-ci), node/node-linux-<arch>-<version>.
set -euo pipefail

repo=$(cd "$(dirname "$0")/.." && pwd)
cache=${DEPCTL_CI_CACHE:-/var/cache/depctl-ci}
t0=$(date +%s)
ts=$t0
step() { local now; now=$(date +%s); echo "== node22 [$((now - t0))s, +$((now - ts))s] $*"; ts=$now; }
fail() { echo "node22: FAIL: $*" >&2; exit 1; }

case "$(uname -m)" in x86_64) narch=x64 ;; aarch64) narch=arm64 ;; *) fail "no node-linux package for $(uname -m)" ;; esac
want=${NODE22_VERSION:-22}
if [[ $want =~ ^22\.[0-9]+\.[0-9]+$ ]]; then version=$want
else version=$(npm view "node-linux-$narch@$want" version --json | node -e 'const v=JSON.parse(require("fs").readFileSync(0,"utf8"));console.log([].concat(v).at(-1))') \
  || fail "cannot resolve node-linux-$narch@$want on the npm registry"
fi
[[ $version =~ ^22\. ]] || fail "node-linux-$narch@$want resolved to $version, not a 22.x"

step "Node $version (node-linux-$narch)"
node_dir="$cache/node/node-linux-$narch-$version"
if [ ! -x "$node_dir/bin/node" ]; then
  mkdir -p "$cache/node"
  tmp=$(mktemp -d "$cache/node/.unpack.XXXXXX")
  (cd "$tmp" && npm pack -q "node-linux-$narch@$version" >/dev/null) || { rm -rf "$tmp"; fail "npm pack node-linux-$narch@$version failed"; }
  tar -xzf "$tmp/node-linux-$narch-$version.tgz" -C "$tmp"
  rm -rf "$node_dir" && mv "$tmp/package" "$node_dir" && rm -rf "$tmp"
fi
[ "$("$node_dir/bin/node" --version)" = "v$version" ] || fail "$node_dir/bin/node is not $version"
[ -f "$node_dir/include/node/node_api.h" ] || fail "no Node headers in $node_dir/include/node"

step "copy of the tree"
work=$(mktemp -d "${TMPDIR:-/tmp}/depctl-node22.XXXXXX")
chmod 0755 "$work"   # readable by other uids, like a checkout (a store test opens it as uid 65534 when run as root)
trap 'rm -rf "$work"' EXIT
git -C "$repo" ls-files -z --cached --others --exclude-standard | while IFS= read -r -d '' f; do
  case "$f" in node_modules/* | dist/*) continue ;; esac
  if [ -e "$repo/$f" ]; then printf '%s\0' "$f"; fi   # deleted but not yet committed: skip
done | tar -C "$repo" --null -T - -cf - | tar -xf - -C "$work"
# A repository of its own with the same files: tests ask git what is tracked or ignored (deploy/, secrets).
git -C "$work" init -q -b main
git -C "$work" add -A
git -C "$work" -c user.email=ci@depctl.invalid -c user.name=depctl-ci commit -q -m "node22 copy of the tree"

cd "$work"
export PATH="$node_dir/bin:$PATH"
export npm_config_nodedir="$node_dir"
[ "$(node --version)" = "v$version" ] || fail "node on PATH is $(node --version)"

step "npm ci (node $(node --version), npm $(npm --version))"
# --ignore-scripts, then only better-sqlite3's build: its install script would try a prebuilt download first.
npm ci --ignore-scripts --no-audit --no-fund --loglevel=error >/dev/null
# The compiled addon is cached per better-sqlite3 and Node version (the compile takes minutes on CI).
bs3=$(node -p "require('./node_modules/better-sqlite3/package.json').version")
addon_cache="$cache/node/better-sqlite3-$bs3-node-$version-$narch.node"
addon=node_modules/better-sqlite3/build/Release/better_sqlite3.node
if [ -s "$addon_cache" ]; then
  step "better-sqlite3 $bs3: the addon compiled earlier for Node $version ($addon_cache)"
  mkdir -p "$(dirname "$addon")" && cp "$addon_cache" "$addon"
else
  step "better-sqlite3 $bs3: compiling against $node_dir/include/node"
  npm_config_build_from_source=true npm rebuild better-sqlite3 --loglevel=error >/dev/null
  cp "$addon" "$addon_cache.tmp" && mv "$addon_cache.tmp" "$addon_cache"
fi
node -e "const db = require('better-sqlite3')(':memory:'); if (db.prepare('select 1 as x').get().x !== 1) process.exit(1)" \
  || fail "better-sqlite3 does not load on Node $version"

if [ $# -eq 0 ]; then
  step "npm test on Node $version"
  npm test
else
  step "npm run build + vitest $* on Node $version"
  npm run build --silent
  npx vitest run "$@"
fi
step "done: ${*:-the suite} passed on Node $version"
