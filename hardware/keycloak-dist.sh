#!/usr/bin/env bash
# Fetch the pinned Keycloak server distribution (hardware/keycloak.pin) once, check its sha256,
# unpack it into a cache outside the clone and build it for the tests; print the unpacked folder.
#
#   hardware/keycloak-dist.sh            -> ~/.cache/marsad/keycloak/26.7.3/keycloak-26.7.3
#   MARSAD_KEYCLOAK_CACHE=/some/dir ...  another cache root (CI caches this folder)
#
# Comes from Maven Central through the ordinary client (mvn dependency:copy). A second run on the
# same machine does nothing (the folder holds a stamp written only after a complete unpack and
# build); a fresh machine fetches again.
#
# JDK: Temurin 25 when installed (/usr/lib/jvm/temurin-25-*), else a Debian OpenJDK 21 (Debian 13's
# openjdk-21-jre-headless, installed here when nothing suitable is present). Keycloak 26.7
# supports Java 21 and 25; Debian 12's OpenJDK 17 still starts 26.7.3 but Keycloak deprecates it,
# so it is never picked. See docs/keycloak.md.
#
# The build (kc.sh build) is done once here, not at every test session: the tests start it with
# `kc.sh start --optimized` (dev-file database, health endpoints), which skips the Quarkus
# augmentation that costs start-dev a minute and more on a busy 2-core machine.
set -euo pipefail
cd "$(dirname "$0")/.."
# shellcheck source=keycloak.pin
source hardware/keycloak.pin
cache_root=${MARSAD_KEYCLOAK_CACHE:-${XDG_CACHE_HOME:-$HOME/.cache}/marsad/keycloak}
cache="$cache_root/$KEYCLOAK_VERSION"
home="$cache/keycloak-$KEYCLOAK_VERSION"
stamp="$cache/.ready-$KEYCLOAK_SHA256"
# Build-time options of the tests' server; kept in tests/keycloak_server.py's BUILD_OPTIONS too.
build_options=(--db=dev-file --health-enabled=true --metrics-enabled=false)

say() { echo "keycloak-dist: $*" >&2; }
fail() { say "$*"; exit 1; }

sudo=()
[ "$(id -u)" -eq 0 ] || sudo=(sudo)
apt_install() {
    command -v apt-get >/dev/null 2>&1 || fail "missing $*; apt-get not found: install it by hand"
    say "installing $* from Debian"
    "${sudo[@]}" apt-get update -qq >/dev/null
    "${sudo[@]}" env DEBIAN_FRONTEND=noninteractive apt-get install -y -qq -o Dpkg::Use-Pty=0 "$@" >/dev/null
}

java_home() {
    local candidate
    for candidate in /usr/lib/jvm/temurin-25-* /usr/lib/jvm/java-21-openjdk-*; do
        [ -x "$candidate/bin/java" ] && { echo "$candidate"; return 0; }
    done
    return 1
}

if [ -f "$stamp" ] && [ -x "$home/bin/kc.sh" ]; then
    echo "$home"
    exit 0
fi

JAVA_HOME=$(java_home) || { apt_install openjdk-21-jre-headless; JAVA_HOME=$(java_home); } \
    || fail "no Java 21 or 25 (Temurin 25 or Debian's openjdk-21-jre-headless) after installing"
export JAVA_HOME
command -v mvn >/dev/null 2>&1 || apt_install maven

work=$(mktemp -d)
trap 'rm -rf "$work"' EXIT
archive="$work/keycloak-quarkus-dist-$KEYCLOAK_VERSION.tar.gz"
say "fetching org.keycloak:keycloak-quarkus-dist:$KEYCLOAK_VERSION from Maven Central"
mvn -q -B dependency:copy -Dartifact="org.keycloak:keycloak-quarkus-dist:$KEYCLOAK_VERSION:tar.gz" \
    -DoutputDirectory="$work" >"$work/mvn.log" 2>&1 || { tail -n 20 "$work/mvn.log" >&2; fail "mvn could not fetch it"; }
echo "$KEYCLOAK_SHA256  $archive" | sha256sum --check --quiet --status \
    2>/dev/null || fail "sha256 of $archive is $(sha256sum "$archive" | cut -d' ' -f1), hardware/keycloak.pin says $KEYCLOAK_SHA256"

# Unpack beside, then move into place: an interrupted run never leaves a half folder behind the stamp.
mkdir -p "$cache"
rm -rf "$home" "$cache"/.ready-* "$cache/.unpack" "$cache/template-db"   # the tests' database template too
mkdir "$cache/.unpack"
tar -xzf "$archive" -C "$cache/.unpack"
mv "$cache/.unpack/keycloak-$KEYCLOAK_VERSION" "$home"
rmdir "$cache/.unpack"
say "building for the tests (${build_options[*]}) with $JAVA_HOME"
"$home/bin/kc.sh" build "${build_options[@]}" >"$work/build.log" 2>&1 \
    || { tail -n 30 "$work/build.log" >&2; fail "kc.sh build failed"; }
echo "$JAVA_HOME" >"$stamp"
say "ready in $home"
echo "$home"
