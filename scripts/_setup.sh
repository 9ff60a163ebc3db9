# Shared install steps for scripts/dev and scripts/test (sourced, not run).
# Installs only what is missing, so a second run costs seconds.

set -euo pipefail
REPO_ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
VENV="${MANABI_VENV:-$REPO_ROOT/.venv}"
PYTHON="${PYTHON:-python3}"

as_root() {
  if [ "$(id -u)" -eq 0 ]; then "$@"; else sudo "$@"; fi
}

apt_install() {
  # Debian packages, installed only when something is missing.
  [ "$#" -gt 0 ] || return 0
  echo "==> installing Debian packages: $*"
  as_root apt-get update -qq
  DEBIAN_FRONTEND=noninteractive as_root apt-get install -y -qq --no-install-recommends "$@" >/dev/null
}

ensure_python_venv() {
  local missing=()
  command -v "$PYTHON" >/dev/null || missing+=(python3)
  "$PYTHON" -c 'import ensurepip, venv' 2>/dev/null || missing+=(python3-venv)
  apt_install "${missing[@]}"
  if [ ! -x "$VENV/bin/python" ]; then
    echo "==> creating $VENV"
    "$PYTHON" -m venv "$VENV"
  fi
  "$VENV/bin/python" -m pip install -q --upgrade pip
}

pip_install() {
  # $1: extras, e.g. "local" or "dev"
  echo "==> installing Python packages (.[${1}])"
  "$VENV/bin/python" -m pip install -q -e "$REPO_ROOT[$1]"
}
