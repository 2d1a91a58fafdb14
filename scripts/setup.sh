#!/usr/bin/env bash
# Idempotent set-up for a fresh machine: Node dependencies, then the local control plane's
# binaries (built once from the Go module proxy into ~/.cache/tutti, reused afterwards).
# --tests adds what only the test suite uses: FerretDB, Chromium and Prometheus.
set -euo pipefail
cd "$(dirname "$0")/.."
tests=0
case "${1:-}" in
  --tests) tests=1 ;;
  "") ;;
  *) echo "setup: unknown argument '$1' (only --tests)" >&2; exit 2 ;;
esac

need() {
  command -v "$1" >/dev/null 2>&1 || { echo "setup: '$1' is required but not installed ($2)" >&2; exit 1; }
}
need node "Node.js 20 or newer"
need go "Go 1.26 or newer builds the control plane binaries"
need openssl "creates the local control plane's certificates"
node -e 'const [a,b]=process.versions.node.split(".").map(Number); if (a<20||(a===20&&b<19)) { console.error(`setup: Node ${process.versions.node} is too old; Tutti needs 20.19 or newer`); process.exit(1) }'

# Install only when the lock file changed since the last install. `npm install` rather than
# `npm ci`: this npm writes lock files without other platforms' optional packages and then
# refuses them in `npm ci`; `npm install` installs exactly the locked versions all the same.
if [ ! -f node_modules/.package-lock.json ] || [ package-lock.json -nt node_modules/.package-lock.json ]; then
  echo "setup: installing Node dependencies" >&2
  npm install --no-audit --no-fund --loglevel=error
fi

if [ -z "${KUBECONFIG:-}" ] || [ "${TUTTI_SETUP_BINARIES:-}" = 1 ]; then
  # --ferretdb: the MongoDB-wire server the planner's MongoDB trace store is tested against.
  if [ "$tests" = 1 ]; then node bin/tutti.js cluster build --ferretdb >/dev/null
  else node bin/tutti.js cluster build >/dev/null; fi
fi
[ "$tests" = 1 ] || exit 0

# sandbox: the ci-fixer web page is tested in headless Chromium (playwright-core drives Debian's
# chromium; no browser download).
if [ ! -x /usr/bin/chromium ] && command -v apt-get >/dev/null 2>&1; then
  echo "setup: installing chromium for the sandbox page tests" >&2
  SUDO=""; [ "$(id -u)" = 0 ] || SUDO="sudo"
  $SUDO apt-get update -qq
  DEBIAN_FRONTEND=noninteractive $SUDO apt-get install -y -qq --no-install-recommends chromium >/dev/null
fi

# planner: KPIs are observed from a real Prometheus (Debian's package) in the tests.
if ! command -v prometheus >/dev/null 2>&1 && command -v apt-get >/dev/null 2>&1; then
  echo "setup: installing prometheus for the planner tests" >&2
  SUDO=""; [ "$(id -u)" = 0 ] || SUDO="sudo"
  $SUDO apt-get update -qq
  DEBIAN_FRONTEND=noninteractive $SUDO apt-get install -y -qq --no-install-recommends prometheus >/dev/null
fi
