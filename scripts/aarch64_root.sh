#!/usr/bin/env bash
# Build an aarch64 Python 3.11 root in which segaug runs under qemu-user, so a test can compare the
# bytes it writes on aarch64 with those written on x86:
#   scripts/aarch64_root.sh ROOT
#   PYTHONPATH=ROOT/site:. qemu-aarch64 -L ROOT ROOT/usr/bin/python3.11 -s -m segaug_cli expand ...
# Needs: apt-get, dpkg, qemu-aarch64 (Debian's qemu-user), and a Python 3.11 with pip (PYTHON, default
# .venv/bin/python), because pip evaluates the markers in constraints.txt against the Python running it.
set -euo pipefail

ROOT=${1:?usage: $0 ROOT}
REPO=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
WHEELS=(click opencv-python-headless numpy tqdm pyyaml pillow tifffile deflate fpng)
# A root is reused only while it was built by this script from these pins: a new pin or package rebuilds it.
STAMP=$(cat "$REPO/constraints.txt" "${BASH_SOURCE[0]}" | sha256sum | cut -d' ' -f1)
[[ -e $ROOT/.complete && $(cat "$ROOT/.complete") == "$STAMP" ]] && exit 0

PY=${PYTHON:-$REPO/.venv/bin/python}
"$PY" -c 'import sys; sys.exit(sys.version_info[:2] != (3, 11))' || { echo "$PY is not Python 3.11" >&2; exit 1; }

# Build beside ROOT (same filesystem, so the final mv is atomic) and never leave a half root behind.
mkdir -p "$(dirname "$ROOT")"
BUILD=$(mktemp -d "$ROOT.tmp.XXXXXX")
APT=$(mktemp -d)
trap 'rm -rf "$BUILD" "$APT"' EXIT
# Without these a TERM kills bash at once and the cleanup above races a still-running pip or dpkg, which
# recreates the temp dir; with them bash lets the current step finish, then exits and cleans up.
trap 'exit 130' INT
trap 'exit 143' TERM

# A private apt state that sees only arm64, from the machine's own sources: no `dpkg --add-architecture`,
# and the host's apt lists stay untouched (its apt.conf.d, e.g. a proxy, still applies).
mkdir -p "$APT"/{lists/partial,archives/partial,debs}
touch "$APT/status"
APT_OPTS=(-q -o APT::Architecture=arm64 -o APT::Architectures=arm64
  -o Dir::State="$APT" -o Dir::State::status="$APT/status" -o Dir::Cache="$APT"
  -o Dir::Etc::Preferences=/dev/null -o Dir::Etc::PreferencesParts=/dev/null
  -o APT::Sandbox::User=root) # _apt cannot write into a root-owned mktemp dir
apt-get "${APT_OPTS[@]}" update >/dev/null

# The interpreter plus every library that it, its lib-dynload modules and the manylinux wheels link
# (found with readelf -d). Left out on purpose: libdb5.3 (_dbm), libnsl2/libtirpc3 (nis, which would
# drag in Kerberos); segaug imports neither. The wheels bundle their own zstd, png, jpeg, openblas.
PKGS=(libc6 libgcc-s1 libstdc++6 python3.11-minimal libpython3.11-minimal libpython3.11-stdlib python3.11
  zlib1g libexpat1 libssl3 libffi8 libbz2-1.0 liblzma5 libsqlite3-0 libncursesw6 libtinfo6 libreadline8
  libuuid1 libcrypt1)
(cd "$APT/debs" && apt-get "${APT_OPTS[@]}" download "${PKGS[@]/%/:arm64}" >/dev/null)
for deb in "$APT"/debs/*.deb; do dpkg -x "$deb" "$BUILD"; done

# Wheels only: nothing may be compiled on x86 for this root. The listed tags cover every aarch64 wheel
# of the pinned releases.
"$PY" -m pip install -q --disable-pip-version-check --no-compile --only-binary=:all: \
  --platform manylinux2014_aarch64 --platform manylinux_2_17_aarch64 --platform manylinux_2_28_aarch64 \
  --python-version 3.11 --implementation cp --target "$BUILD/site" -c "$REPO/constraints.txt" \
  "${WHEELS[@]}"
# Debian's packages leave .pyc files to postinst, and with PYTHONDONTWRITEBYTECODE (set here) every run
# would compile the stdlib and numpy anew: ~4 s more per start under qemu. Any 3.11 writes the same .pyc.
"$PY" -m compileall -q -j0 "$BUILD/usr/lib/python3.11" "$BUILD/site" >/dev/null

# The root must import everything, and the releases whose output bytes matter must match the x86 side.
CHECK='import importlib.metadata as m, numpy, cv2, PIL, tifffile, click, yaml, tqdm, deflate, fpng
print(cv2.__version__, numpy.__version__, *(m.version(d) for d in ("pillow", "tifffile", "deflate", "fpng")))'
arm=$(cd "$REPO" && PYTHONPATH="$BUILD/site:$REPO" qemu-aarch64 -L "$BUILD" "$BUILD/usr/bin/python3.11" -s -c "$CHECK")
x86=$(cd "$REPO" && "$PY" -s -c "$CHECK")
echo "aarch64: $arm"
[[ $arm == "$x86" ]] || { echo "versions differ from $PY: $x86" >&2; exit 1; }

echo "$STAMP" >"$BUILD/.complete"
rm -rf "$ROOT" # an earlier build that never completed
mv "$BUILD" "$ROOT"
