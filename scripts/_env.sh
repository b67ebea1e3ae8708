# Shared by scripts/demo and scripts/test: create .venv once and install jbtrio with its dev tools.
# Idempotent and quiet when nothing changed; needs only Python >= 3.11 and the package index.
set -euo pipefail
root="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
cd "$root"
py="${PYTHON:-}"
if [ -z "$py" ]; then
  for cand in python3.13 python3.12 python3.11 python3; do
    if command -v "$cand" >/dev/null 2>&1 && "$cand" -c 'import sys; sys.exit(sys.version_info < (3, 11))' 2>/dev/null; then
      py="$cand"; break
    fi
  done
fi
if [ -z "$py" ]; then
  echo "jbtrio needs Python >= 3.11 (set PYTHON=/path/to/python3.11)" >&2
  exit 1
fi
stamp=.venv/.jbtrio-installed
if [ ! -x .venv/bin/python ]; then
  "$py" -m venv .venv
fi
if [ ! -f "$stamp" ] || [ pyproject.toml -nt "$stamp" ]; then
  .venv/bin/python -m pip install --quiet --disable-pip-version-check --upgrade pip
  .venv/bin/python -m pip install --quiet --disable-pip-version-check -e '.[dev]'
  # atheris (coverage-guided fuzzing) is optional: without a wheel, its targets are skipped.
  .venv/bin/python -m pip install --quiet --disable-pip-version-check -e '.[fuzz]' \
    || echo "atheris is not installable here: the coverage-guided fuzz targets will be skipped" >&2
  touch "$stamp"
fi
export PATH="$root/.venv/bin:$PATH"
