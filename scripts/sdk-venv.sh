#!/usr/bin/env bash
# The Python environment of the tests that drive tenure with Python: target/sdk-venv with the
# Bittensor SDK (bittensor==11.3.0) from the package registry and tenure's own client
# (clients/python, editable: its changes apply at once), made once and reused while both are
# installed. Prints the interpreter's path on stdout.
set -euo pipefail
cd "$(dirname "$0")/.."
venv="target/sdk-venv"
want="bittensor==11.3.0"
if ! "$venv/bin/python" -c 'import importlib.metadata as m, sys; sys.exit(m.version("bittensor") != "11.3.0")' 2>/dev/null; then
  echo "sdk-venv: installing $want into $venv (once)" >&2
  rm -rf "$venv"
  python3 -m venv "$venv"
  "$venv/bin/pip" install --quiet --disable-pip-version-check "$want" >&2
fi
if ! "$venv/bin/python" -c 'import tenure_client' 2>/dev/null; then
  echo "sdk-venv: installing clients/python (tenure-client) into $venv" >&2
  "$venv/bin/pip" install --quiet --disable-pip-version-check -e clients/python >&2
fi
echo "$PWD/$venv/bin/python"
