#!/usr/bin/env bash
# Peer side of the ordersync benchmark: loads one YMCart shop's orders with
# dlt (rest_api source -> SQLite) and prints dlt_ymcart.py's JSON line.
#
# Usage: benches/peer/run.sh --base-url URL --token TOKEN --db PATH [--page-size 100]
#
# dlt lives in a throwaway venv, kept between runs so only the first one
# installs: $PEER_VENV, else ${TMPDIR:-/tmp}/ordersync-peer-venv.
set -euo pipefail

here=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
venv=${PEER_VENV:-${TMPDIR:-/tmp}/ordersync-peer-venv}
py=$venv/bin/python

[[ -x $py ]] || python3 -m venv "$venv"
# sqlalchemy too: a venv with bare dlt would fail only at load time.
if ! "$py" -c 'import dlt, sqlalchemy' 2>/dev/null; then
    "$py" -m pip install --quiet --disable-pip-version-check "dlt[sqlalchemy]" >&2
fi
"$py" -c 'import importlib.metadata as m; print("dlt", m.version("dlt"))' >&2

exec "$py" "$here/dlt_ymcart.py" "$@"
