#!/usr/bin/env bash
# Schemathesis against a demo node: every operation of the generated OpenAPI document,
# with valid and invalid inputs, all checks (no 5xx, documented statuses, content types,
# response schemas, negative data rejected, positive data accepted, auth enforced, 405s).
# Bounded: a few examples per operation and a hard wall-clock limit.
#
#   bash .ci/schemathesis.sh            # builds the release binary if needed
#   ST_MAX_EXAMPLES=50 bash .ci/schemathesis.sh
#   BASEPLATE_BIN=/path/to/baseplate ST_VENV=/tmp/st-venv bash .ci/schemathesis.sh
#
# Exits non-zero on any failure. Needs python3 with venv, and network access to PyPI.
set -euo pipefail
cd "$(dirname "$0")/.."

PORT="${ST_PORT:-18080}"
MAX_EXAMPLES="${ST_MAX_EXAMPLES:-15}"
TIME_LIMIT="${ST_TIME_LIMIT:-300}"
VERSION="${ST_VERSION:-4.32.5}"
WORK="$(mktemp -d)"
VENV="${ST_VENV:-target/schemathesis-venv}"

if [ ! -x "$VENV/bin/schemathesis" ]; then
  python3 -m venv "$VENV"
  "$VENV/bin/pip" install --quiet "schemathesis==$VERSION"
fi

# BASEPLATE_BIN: an already built `baseplate` (else the release build makes one).
BIN="${BASEPLATE_BIN:-}"
if [ -z "$BIN" ]; then
  cargo build --release -p baseplate-server
  BIN="$(pwd)/${CARGO_TARGET_DIR:-target}/release/baseplate"
  case "${CARGO_TARGET_DIR:-}" in /*) BIN="$CARGO_TARGET_DIR/release/baseplate" ;; esac
fi

# The demo node in a scratch directory (its own SQLite file and plugin cache).
(cd "$WORK" && RUST_LOG=warn exec "$BIN" demo --listen "127.0.0.1:$PORT" >"$WORK/out.log" 2>&1) &
NODE=$!
trap 'kill "$NODE" 2>/dev/null || true; wait "$NODE" 2>/dev/null || true; rm -rf "$WORK"' EXIT
for _ in $(seq 1 120); do
  grep -q "listening on" "$WORK/out.log" 2>/dev/null && break
  kill -0 "$NODE" 2>/dev/null || { cat "$WORK/out.log"; echo "the demo node exited"; exit 1; }
  sleep 1
done
OWNER="$(grep -o 'owner key : [^ ]*' "$WORK/out.log" | awk '{print $4}')"
[ -n "$OWNER" ] || { cat "$WORK/out.log"; echo "no owner key printed"; exit 1; }

# As the shop owner: the key reaches every staff and owner route; member-only routes
# answer their documented 403.
set +e
timeout "$TIME_LIMIT" "$VENV/bin/schemathesis" --no-color --config-file .ci/schemathesis.toml run "http://127.0.0.1:$PORT/api/openapi.json" \
  --url "http://127.0.0.1:$PORT" \
  --header "Authorization: Bearer $OWNER" \
  --checks all \
  --mode all \
  --max-examples "$MAX_EXAMPLES" \
  --seed 42 \
  --request-timeout 10 \
  --report junit --report-dir "$WORK/report"
RC=$?
set -e
if [ "$RC" -eq 124 ]; then
  echo "schemathesis: stopped at the ${TIME_LIMIT}s limit"
fi
if grep -qi "panicked\|internal error" "$WORK/out.log"; then
  echo "the node logged errors:"; grep -i "panicked\|internal error" "$WORK/out.log" | head -20
fi
exit "$RC"
