#!/usr/bin/env bash
# Idempotent test-environment setup for corral (Debian 12, run as root).
#
#  * Debian packages: zookeeper (reference server 3.8.0, zkCli.sh, jars),
#    systemd (systemd-analyze) and strace (the unit test of conf/corral.service),
#    zookeeper-bin (C tools cli_mt / load_gen), zktop (the 4lw monitor of
#    tests/py/test_zktop.py), python3 + venv.
#  * Python venv at <repo>/.venv with pinned test dependencies.
#  * cargo-afl (pinned), which builds AFL++ from the sources it bundles,
#    for scripts/fuzz.sh (needs gcc and make, on the machine already).
#  * aiozk's own shipped test suite (from its PyPI sdist) unpacked under
#    <repo>/.cache/aiozk-<ver>/ (third-party code: never committed).
#
# Safe to rerun: every step checks whether it is already done.
set -euo pipefail

REPO="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
cd "$REPO"

AIOZK_VERSION=0.32.0
AIOZK_SDIST_SHA256=a1eace00c5d3f035aaacdce6d90d328583435cd8651165c5370f4c0593789099
PY_PINS=(
  "kazoo==2.11.0"
  # kazoo's SASL (DIGEST-MD5) client
  "pure-sasl==0.6.2"
  "aiozk==${AIOZK_VERSION}"
  "pytest==8.4.1"
  "pytest-timeout==2.4.0"
  # needed by aiozk's own test suite (its pytest.ini: asyncio_mode=auto, --cov)
  "pytest-asyncio==1.1.0"
  "pytest-cov==6.2.1"
  "coverage==7.10.2"
  # transitive, pinned for reproducibility
  "iniconfig==2.3.1"
  "packaging==26.4"
  "pluggy==1.7.0"
  "Pygments==2.21.0"
  # tests/py/test_zktop.py reads zktop's curses screen through a terminal emulator
  "pyte==0.8.2"
  "wcwidth==0.9.4"
  # kazoo.testing (its harness, which tests/py/test_reconfig.py runs
  # kazoo's own TestReconfig through) imports OpenSSL
  "pyOpenSSL==26.4.0"
  "cryptography==50.0.2"
  "cffi==2.1.1"
  "pycparser==3.12"
  "pyjks==20.0.0"
  "pyasn1==0.6.5"
  "pyasn1_modules==0.4.2"
  "pycryptodomex==3.24.2"
  "twofish==0.3.0"
)
# only used to let pip read the aiozk sdist's metadata (build backend: hatchling)
SDIST_TOOL_PINS=(
  "hatchling==1.33.0" "packaging==26.4" "pathspec==1.1.1" "pluggy==1.7.0"
  "tomlkit==0.15.2" "trove-classifiers==2026.9.21.13"
)

log() { printf '[setup] %s\n' "$*"; }

# ---------------------------------------------------------------- apt
export DEBIAN_FRONTEND=noninteractive
# libservlet-api-java: the servlet API the reference's AdminServer (Jetty) needs.
# chromium: the headless browser of tests/py/test_console.py.
# systemd, strace: tests/ops.rs verifies conf/corral.service and its syscall filter.
# zktop: tests/py/test_zktop.py runs it against corral and ZooKeeper.
APT_PKGS=(zookeeper zookeeper-bin zktop libservlet-api-java libnetty-java openssl krb5-kdc krb5-admin-server libgssapi-krb5-2 chromium python3 python3-venv ca-certificates systemd strace)
missing=()
for p in "${APT_PKGS[@]}"; do
  if ! dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q "install ok installed"; then
    missing+=("$p")
  fi
done
if ((${#missing[@]})); then
  if [[ $(id -u) -ne 0 ]]; then
    echo "[setup] missing Debian packages (${missing[*]}) and not root" >&2
    exit 1
  fi
  log "installing Debian packages: ${missing[*]}"
  apt-get update -q
  apt-get install -y -q --no-install-recommends "${missing[@]}"
else
  log "Debian packages present"
fi

for f in /usr/share/zookeeper/bin/zkCli.sh /usr/share/java/zookeeper.jar /usr/share/java/servlet-api.jar \
         /usr/lib/zookeeper/bin/cli_mt /usr/lib/zookeeper/bin/load_gen /usr/bin/zktop; do
  [[ -e $f ]] || { echo "[setup] expected file missing after install: $f" >&2; exit 1; }
done
command -v java >/dev/null || { echo "[setup] java not found" >&2; exit 1; }

# ---------------------------------------------------------------- venv
PY=/usr/bin/python3
[[ -x $PY ]] || PY="$(command -v python3)"
if [[ ! -x .venv/bin/python ]] || ! .venv/bin/python -c 'import sys' 2>/dev/null; then
  log "creating venv .venv with $PY"
  rm -rf .venv
  "$PY" -m venv .venv
fi

pins_ok() {
  .venv/bin/python - "$@" <<'EOF'
import sys
from importlib.metadata import version, PackageNotFoundError
for spec in sys.argv[1:]:
    name, want = spec.split("==")
    try:
        if version(name) != want:
            sys.exit(1)
    except PackageNotFoundError:
        sys.exit(1)
EOF
}
if pins_ok "${PY_PINS[@]}"; then
  log "python packages already at pinned versions"
else
  log "installing python packages: ${PY_PINS[*]}"
  .venv/bin/python -m pip install -q --disable-pip-version-check "${PY_PINS[@]}"
fi

# ---------------------------------------------------------------- cargo-afl
# scripts/fuzz.sh: coverage-guided fuzzing on the stable toolchain. Keep the
# version equal to the `afl` crate's in fuzz/Cargo.toml.
CARGO_AFL_VERSION=0.18.2
if cargo afl --version 2>/dev/null | grep -q "cargo-afl ${CARGO_AFL_VERSION}\b"; then
  log "cargo-afl ${CARGO_AFL_VERSION} present"
else
  log "installing cargo-afl ${CARGO_AFL_VERSION}"
  cargo install --locked --force --version "${CARGO_AFL_VERSION}" cargo-afl
fi
# AFL++'s fuzzer and runtime, built for this rustc (cargo install builds
# them; a rustc update needs them built again).
AFL_DIR="${XDG_DATA_HOME:-$HOME/.local/share}/afl.rs/rustc-$(rustc -vV | sed -n 's/^release: //p')-$(rustc -vV | sed -n 's/^commit-hash: //p' | cut -c1-7)/afl.rs-${CARGO_AFL_VERSION}"
if [[ -x $AFL_DIR/afl/bin/afl-fuzz && -f $AFL_DIR/afl-llvm/afl-compiler-rt.o ]]; then
  log "AFL++ built for this rustc"
else
  log "building AFL++ for this rustc"
  cargo afl config --build --force
fi

# ---------------------------------------------------------------- aiozk suite
CACHE="$REPO/.cache"
AIOZK_DIR="$CACHE/aiozk-${AIOZK_VERSION}"
mkdir -p "$CACHE"
if [[ ! -f "$AIOZK_DIR/aiozk/test/conftest.py" ]]; then
  log "fetching aiozk ${AIOZK_VERSION} sdist (contains aiozk/test/)"
  dl="$CACHE/dl"
  rm -rf "$dl"; mkdir -p "$dl"
  # pip prepares sdist metadata even for `download`; doing that in an isolated
  # build env is very slow here, so use a small pinned hatchling venv instead.
  "$PY" -m venv "$dl/tools"
  "$dl/tools/bin/python" -m pip install -q --disable-pip-version-check "${SDIST_TOOL_PINS[@]}"
  "$dl/tools/bin/python" -m pip download -q --disable-pip-version-check \
      --no-binary :all: --no-deps --no-build-isolation -d "$dl" "aiozk==${AIOZK_VERSION}"
  tarball="$(ls "$dl"/aiozk-"${AIOZK_VERSION}".tar.gz)"
  echo "${AIOZK_SDIST_SHA256}  ${tarball}" | sha256sum -c --quiet - \
    || { echo "[setup] aiozk sdist checksum mismatch" >&2; exit 1; }
  rm -rf "$AIOZK_DIR" "$dl/x"
  mkdir -p "$dl/x"
  tar -xzf "$tarball" -C "$dl/x"
  mv "$dl/x/aiozk-${AIOZK_VERSION}" "$AIOZK_DIR"   # atomic: a half-extracted tree is never used
  rm -rf "$dl"
  [[ -f "$AIOZK_DIR/aiozk/test/conftest.py" ]] || { echo "[setup] aiozk sdist has no tests" >&2; exit 1; }
else
  log "aiozk test suite present at ${AIOZK_DIR#$REPO/}"
fi

log "done"
