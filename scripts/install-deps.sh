#!/usr/bin/env bash
# Installs what building and testing Isengard needs, and only what is missing:
#   apt: libclang-dev clang (RocksDB's bindgen), dcmtk (storescu, findscu...),
#        orthanc (the reference server the tests compare against), python3-pip,
#        dicom3tools and libgdcm-tools (Orthanc's integration suite uses them);
#   pip: pydicom, pynetdicom at pinned versions (test fixtures and DICOM clients);
#   cargo: s3s-fs at a pinned version (the S3 server of node/tests/it/blob_store.rs).
# Idempotent: a second run installs nothing and runs no `apt-get update`.
# Runs as root, or through sudo when not root and sudo exists.
set -euo pipefail

log() { echo "install-deps: $*"; }

SUDO=()
if [ "$(id -u)" -ne 0 ]; then
  if command -v sudo >/dev/null 2>&1; then
    SUDO=(sudo)
  else
    log "not root and no sudo: cannot install system packages" >&2
    exit 1
  fi
fi

if ! command -v cargo >/dev/null 2>&1; then
  log "cargo not found: install a Rust toolchain (1.85 or newer) first" >&2
  exit 1
fi

apt_installed() {
  dpkg-query -W -f='${Status}' "$1" 2>/dev/null | grep -q "install ok installed"
}

missing=()
for pkg in libclang-dev clang dcmtk orthanc dicom3tools libgdcm-tools; do
  apt_installed "$pkg" || missing+=("$pkg")
done
if ! command -v python3 >/dev/null 2>&1; then
  missing+=(python3 python3-pip)
elif ! python3 -m pip --version >/dev/null 2>&1; then
  missing+=(python3-pip)
fi

if [ "${#missing[@]}" -gt 0 ]; then
  log "apt: installing ${missing[*]}"
  # The orthanc package would start a system Orthanc on ports 8042 and 4242, the
  # ports of `make run`; the tests only need the binary. Keep services from
  # starting during the install unless the machine already has a policy.
  if [ ! -e /usr/sbin/policy-rc.d ]; then
    printf '#!/bin/sh\nexit 101\n' | "${SUDO[@]}" tee /usr/sbin/policy-rc.d >/dev/null
    "${SUDO[@]}" chmod +x /usr/sbin/policy-rc.d
    trap '"${SUDO[@]}" rm -f /usr/sbin/policy-rc.d' EXIT
  fi
  "${SUDO[@]}" apt-get update -qq
  "${SUDO[@]}" env DEBIAN_FRONTEND=noninteractive \
    apt-get install -y -qq --no-install-recommends "${missing[@]}"
fi

# Pinned: node/tests/fixtures/orthanc/ was recorded from pydicom 3.0.2's test files.
pip_missing=()
for spec in pydicom==3.0.2 pynetdicom==3.0.4; do
  module=${spec%%==*}
  version=${spec##*==}
  python3 -c "import $module, sys; sys.exit($module.__version__ != '$version')" >/dev/null 2>&1 ||
    pip_missing+=("$spec")
done
if [ "${#pip_missing[@]}" -gt 0 ]; then
  log "pip: installing ${pip_missing[*]}"
  # Debian's own python refuses system-wide pip installs (PEP 668) unless told.
  python3 -m pip install --quiet "${pip_missing[@]}" ||
    python3 -m pip install --quiet --break-system-packages "${pip_missing[@]}"
fi

# Pinned: s3s-fs serves a folder over the S3 protocol; the blob-store suite
# runs its S3 backend against it. 0.14.1 is the newest that builds with rustc
# 1.92 to 1.95 (0.15 and later need 1.96). Built in its own target folder so it
# holds no lock on the project's. A cold install takes about 2 minutes.
S3S_FS_VERSION=0.14.1
s3s_fs_version() {
  local bin
  for bin in "$(command -v s3s-fs 2>/dev/null)" "${CARGO_HOME:-$HOME/.cargo}/bin/s3s-fs"; do
    [ -n "$bin" ] && [ -x "$bin" ] && "$bin" --version 2>/dev/null && return 0
  done
  return 1
}
if [ "$(s3s_fs_version | head -n1)" != "s3s-fs $S3S_FS_VERSION" ]; then
  log "cargo: installing s3s-fs $S3S_FS_VERSION"
  cargo install --quiet --locked "s3s-fs@$S3S_FS_VERSION" --features binary \
    --target-dir "$HOME/.cache/isengard/tools-target"
fi

log "all dependencies present"
