#!/usr/bin/env bash
# Headless Chromium for the dashboard's browser test (tests/test_ui_e2e.py).
#
#   eval "$(scripts/chromium.sh)"   # install if needed; export SAFEHEAL_CHROMIUM, SAFEHEAL_CHROMEDRIVER
#
# Uses Debian's `chromium` and `chromium-driver` packages, installing them with apt-get when either
# is missing (needs root). Idempotent: when both are there it only prints the export lines, which
# are all it writes on stdout (everything else goes to stderr). When they are missing and cannot
# be installed it fails under CI (CI=true), where the browser test must run; elsewhere it warns and
# exports nothing, and the browser test is skipped with the reason.
set -euo pipefail

say() { echo "chromium.sh: $*" >&2; }

in_ci() { [[ "${CI:-}" == "true" ]]; }

give_up() {
    if in_ci; then
        say "$* (CI=true: the dashboard's browser test needs it)"
        exit 1
    fi
    say "$*; the dashboard's browser test will be skipped"
    exit 0
}

find_chromium() {
    local c
    for c in "${SAFEHEAL_CHROMIUM:-}" "$(command -v chromium 2>/dev/null || true)" /usr/bin/chromium; do
        if [[ -n "$c" && -x "$c" ]]; then echo "$c"; return 0; fi
    done
    return 1
}

find_driver() {
    local c
    for c in "${SAFEHEAL_CHROMEDRIVER:-}" "$(command -v chromedriver 2>/dev/null || true)" /usr/bin/chromedriver; do
        if [[ -n "$c" && -x "$c" ]]; then echo "$c"; return 0; fi
    done
    return 1
}

if ! find_chromium >/dev/null || ! find_driver >/dev/null; then
    if [[ "$(id -u)" != 0 ]]; then
        give_up "Chromium is not installed and installing it needs root: run" \
            "'sudo apt-get install chromium chromium-driver' (Debian/Ubuntu), or set" \
            "SAFEHEAL_CHROMIUM and SAFEHEAL_CHROMEDRIVER to a Chromium and its chromedriver"
    fi
    command -v apt-get >/dev/null 2>&1 \
        || give_up "Chromium is not installed and this is not a Debian-like system (no apt-get)"
    say "installing chromium and chromium-driver from Debian's packages (a minute or two)..."
    export DEBIAN_FRONTEND=noninteractive
    apt-get update -qq >&2
    apt-get install -y -qq chromium chromium-driver >&2
fi

chromium="$(find_chromium)" || give_up "chromium installed but not found"
driver="$(find_driver)" || give_up "chromium-driver installed but chromedriver not found"
say "$("$chromium" --version 2>/dev/null || echo chromium) with $("$driver" --version 2>/dev/null | cut -d' ' -f1-2)"
printf "export SAFEHEAL_CHROMIUM='%s'\n" "${chromium//\'/\'\\\'\'}"
printf "export SAFEHEAL_CHROMEDRIVER='%s'\n" "${driver//\'/\'\\\'\'}"
