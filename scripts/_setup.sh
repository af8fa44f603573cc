# shellcheck shell=bash
# scripts/_setup.sh: the setup shared by scripts/test, scripts/run and .ci/run.
# Sourced, never run: it only defines variables and functions; the caller decides what to call.
#
#   PORTAL_VENV   the virtualenv to create and use (default: .venv in the repository)

PORTAL_ROOT=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
PORTAL_VENV=${PORTAL_VENV:-$PORTAL_ROOT/.venv}
# Debian packages: CJK fonts and HarfBuzz's subsetter for WeasyPrint (without it a CJK render
# takes ~10 s), poppler-utils for PDF checks; LibreOffice without its GUI, only the parts that
# convert Office uploads to PDF (Writer: .docx .doc .odt; Impress: .pptx .ppt .odp; Calc: .xlsx),
# installed without recommends (no Java, no help, no extra fonts); chromium for the browser tests;
# openssl makes the test certificate of the outbound HTTPS test; nginx with its Lua module and
# Lua Redis client is the production topology the deploy tests run (deploy/nginx/portal.conf).
# shellcheck disable=SC2034  # used by the scripts that source this file
PORTAL_RUN_PACKAGES=(fonts-noto-cjk libharfbuzz-subset0 poppler-utils
  libreoffice-writer-nogui libreoffice-impress-nogui libreoffice-calc-nogui)
# shellcheck disable=SC2034
PORTAL_TEST_PACKAGES=("${PORTAL_RUN_PACKAGES[@]}" chromium openssl
  nginx libnginx-mod-http-lua lua-nginx-redis)

portal_log() { printf '==> %s\n' "$*"; }

# portal_timed LABEL COMMAND...: run COMMAND, then print how long it took; returns its status.
portal_timed() {
  local label=$1 start=$SECONDS rc=0
  shift
  "$@" || rc=$?
  portal_log "$label: $((SECONDS - start)) s$( ((rc)) && echo " (FAILED, exit $rc)")"
  return "$rc"
}

# portal_apt_install PACKAGE...: install the Debian packages that are missing (as root, with one
# apt-get update per run); not root: print the command to run instead and go on.
portal_apt_install() {
  local pkg missing=()
  if ! command -v dpkg-query >/dev/null; then
    portal_log "not a Debian system: make sure these are installed: $*"
    return 0
  fi
  for pkg in "$@"; do
    grep -qx installed <<<"$(dpkg-query -W -f='${db:Status-Status}\n' "$pkg" 2>/dev/null)" \
      || missing+=("$pkg")
  done
  ((${#missing[@]})) || return 0
  if [[ $(id -u) -ne 0 ]]; then
    portal_log "missing Debian packages: ${missing[*]}"
    portal_log "install them with: sudo apt-get install ${missing[*]}"
    return 0
  fi
  portal_log "installing Debian packages: ${missing[*]}"
  export DEBIAN_FRONTEND=noninteractive
  if [[ -z ${PORTAL_APT_UPDATED:-} ]]; then
    apt-get -o DPkg::Lock::Timeout=600 update -qq
    export PORTAL_APT_UPDATED=1  # scripts/test under .ci/run does not update again
  fi
  apt-get -o DPkg::Lock::Timeout=600 install -y -qq --no-install-recommends "${missing[@]}" \
    >/dev/null
}

# portal_venv: create the virtualenv when missing or broken, `pip install -e '.[dev]'` when
# pyproject.toml (or the Python) changed since the last install, and put the venv first on PATH.
portal_venv() {
  local stamp=$PORTAL_VENV/.portal-installed want
  if ! "$PORTAL_VENV/bin/python" -c '' 2>/dev/null; then
    command -v python3 >/dev/null || { echo "error: python3 is not installed" >&2; return 1; }
    portal_log "creating the virtualenv $PORTAL_VENV"
    python3 -m venv "$PORTAL_VENV"
  fi
  want=$({ "$PORTAL_VENV/bin/python" -VV; cat "$PORTAL_ROOT/pyproject.toml"; } | sha256sum)
  if [[ ! -f $stamp || $(<"$stamp") != "$want" ]]; then
    portal_log "installing Portal and its dev dependencies into $PORTAL_VENV"
    # uv installs the same requirements as pip from the same index, in ~9 s instead of ~48 s
    # here (a fresh clone's CI run pays it every time); pip is the fallback.
    if ! { "$PORTAL_VENV/bin/python" -m pip install --disable-pip-version-check -q uv \
      && "$PORTAL_VENV/bin/python" -m uv pip install --python "$PORTAL_VENV/bin/python" \
        -e "${PORTAL_ROOT}[dev]"; } >"$PORTAL_VENV/pip-install.log" 2>&1; then
      portal_log "uv could not install (log: $PORTAL_VENV/pip-install.log); trying pip"
      if ! "$PORTAL_VENV/bin/python" -m pip install --disable-pip-version-check \
        -e "${PORTAL_ROOT}[dev]" >>"$PORTAL_VENV/pip-install.log" 2>&1; then
        tail -n 40 "$PORTAL_VENV/pip-install.log" >&2
        echo "error: pip install failed (whole log: $PORTAL_VENV/pip-install.log)" >&2
        return 1
      fi
    fi
    printf '%s\n' "$want" >"$stamp"
  fi
  export VIRTUAL_ENV=$PORTAL_VENV
  export PATH=$PORTAL_VENV/bin:$PATH
}

# portal_start_s3 LOCK SCRIPT: run the S3 test server's start script holding LOCK (flock), which
# tests/s3_support.py takes too, so a test never starts a second server beside this one. `-o`:
# flock keeps the lock itself and the script does not inherit it, or the servers it leaves
# running would hold it for as long as they live (tests/test_s3_start_lock.py).
portal_start_s3() {
  flock -o "$1" bash "$2"
}
