# Sourced by scripts/demo.sh and scripts/test.sh (from the checkout's root): kdns lives in a
# virtualenv inside the checkout, .venv, because a distribution's Python refuses `pip install`
# outside one (PEP 668) and nothing should be installed into the system's Python anyway.
#
#   kdns_apt_install PKG...   installs the Debian packages that are missing (as root or through sudo)
#   kdns_venv [EXTRAS]        makes or reuses .venv, installs kdns into it (editable, with EXTRAS
#                             such as "[test]") and puts .venv/bin first on PATH
#
# PYTHON chooses the interpreter (default python3; 3.11 or newer). A second run reuses .venv and
# skips pip when nothing the install depends on changed (see kdns_install_stamp).

KDNS_VENV=.venv
KDNS_PYTHON="${PYTHON:-python3}"

kdns_fail() {
  echo "$(basename "$0"): $*" >&2
  exit 1
}

kdns_apt_install() {
  command -v apt-get >/dev/null 2>&1 || return 0
  local missing="" pkg sudo=""
  for pkg in "$@"; do
    # Not `dpkg -s`: it succeeds for a package removed with its configuration files left ("rc").
    [ "$(dpkg-query -W -f='${Status}' "$pkg" 2>/dev/null)" = "install ok installed" ] || missing="$missing $pkg"
  done
  [ -n "$missing" ] || return 0
  if [ "$(id -u)" != 0 ]; then
    command -v sudo >/dev/null 2>&1 || kdns_fail "needs the Debian packages$missing: run as root, or apt-get install -y$missing"
    sudo="sudo"
  fi
  echo "installing Debian packages:$missing" >&2
  $sudo apt-get update -qq
  # shellcheck disable=SC2086  # one word per package
  DEBIAN_FRONTEND=noninteractive $sudo apt-get install -y -qq $missing >/dev/null
}

# The Python version as "3.11", or a clear error when the interpreter is missing or too old.
kdns_python_version() {
  command -v "$KDNS_PYTHON" >/dev/null 2>&1 || kdns_fail "$KDNS_PYTHON not found: kdns needs Python 3.11 or newer (set PYTHON=/path/to/python3)"
  "$KDNS_PYTHON" -c 'import sys; sys.exit(sys.version_info < (3, 11))' \
    || kdns_fail "kdns needs Python 3.11 or newer; $KDNS_PYTHON is $("$KDNS_PYTHON" -V 2>&1) (set PYTHON=/path/to/python3.11)"
  "$KDNS_PYTHON" -c 'import sys; print("%d.%d" % sys.version_info[:2])'
}

# Debian and Ubuntu ship venv's ensurepip (and with it pip inside a virtualenv) apart from
# Python, in python3.X-venv, which a stock install lacks: `python3 -m venv` then fails.
kdns_ensure_venv_module() {
  "$KDNS_PYTHON" -c 'import ensurepip, venv' 2>/dev/null && return 0
  local pkg="python$1-venv"
  command -v apt-get >/dev/null 2>&1 \
    || kdns_fail "$KDNS_PYTHON cannot make a virtualenv (no ensurepip): install its venv module (Debian/Ubuntu: $pkg)"
  kdns_apt_install "$pkg"
  "$KDNS_PYTHON" -c 'import ensurepip, venv' 2>/dev/null \
    || kdns_fail "$KDNS_PYTHON still cannot make a virtualenv after installing $pkg (no ensurepip)"
}

# What the installed state depends on: the packaging files, the C module's source (pip builds it
# into kdns/server/, so a changed C file must go through pip again), the extras and the interpreter.
kdns_install_stamp() {
  {
    cat pyproject.toml setup.py kdns/server/_mmsg.c
    echo "$1"
    "$KDNS_VENV/bin/python" -VV
  } | sha256sum | cut -d' ' -f1
}

# The Debian packages that build kdns's C module (setup.py), when missing: a compiler, and the
# headers of the distribution's Python (an interpreter of one's own, pyenv's say, has its own).
kdns_build_packages() {
  command -v gcc >/dev/null 2>&1 || echo gcc
  "$KDNS_PYTHON" -c 'import os, sys, sysconfig; sys.exit(not os.path.exists(os.path.join(sysconfig.get_paths()["include"], "Python.h")))' \
    || ! dpkg -S "$(readlink -f "$(command -v "$KDNS_PYTHON")")" >/dev/null 2>&1 \
    || echo "python$(kdns_python_version)-dev"
}

kdns_make_venv() {
  local version
  version="$(kdns_python_version)" || exit 1
  kdns_ensure_venv_module "$version"
  rm -rf "$KDNS_VENV"
  echo "making $KDNS_VENV with $("$KDNS_PYTHON" -V 2>&1) ($(command -v "$KDNS_PYTHON"))" >&2
  "$KDNS_PYTHON" -m venv "$KDNS_VENV" || { rm -rf "$KDNS_VENV"; kdns_fail "$KDNS_PYTHON -m venv $KDNS_VENV failed"; }
}

kdns_venv() {
  local extras="${1:-}" stamp_file="$KDNS_VENV/.kdns-install"
  # None yet, or one whose interpreter is gone or too old: make it anew.
  "$KDNS_VENV/bin/python" -c 'import sys; sys.exit(sys.version_info < (3, 11))' 2>/dev/null || kdns_make_venv
  # An install with the test extra also serves a run that needs none (the demo after the tests).
  if ! grep -qsx -e "$(kdns_install_stamp "$extras")" -e "$(kdns_install_stamp "[test]")" "$stamp_file"; then
    # A virtualenv left half-made (without pip) by `python3 -m venv` lacking ensurepip: anew.
    "$KDNS_VENV/bin/python" -c 'import pip' 2>/dev/null || kdns_make_venv
    echo "installing kdns$extras into $KDNS_VENV" >&2
    rm -f "$stamp_file"
    "$KDNS_VENV/bin/python" -m pip install -q --disable-pip-version-check -e ".$extras"
    kdns_install_stamp "$extras" >"$stamp_file"
  fi
  export VIRTUAL_ENV="$PWD/$KDNS_VENV"
  export PATH="$VIRTUAL_ENV/bin:$PATH"
}
