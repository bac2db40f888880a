#!/usr/bin/env bash
# Installs the third-party MQTT clients the interop tests (conformance/test/interop) run against the broker:
# the Eclipse Paho Python client for Debian's /usr/bin/python3 (python3-paho-mqtt) and mosquitto_pub /
# mosquitto_sub (mosquitto-clients); and the mosquitto broker (mosquitto), the peer the benchmark and its
# soak scenario compare against; and openssl, with which the TLS tests of @mqtt-stack/broker make their
# certificates; and chromium, the browser that the WebSocket browser test of @mqtt-stack/broker drives with
# puppeteer-core; and redis-server (with redis-cli), which the tests of @mqtt-stack/redis-backend start on
# free loopback ports themselves (Debian's package starts no service where there is no init system, and the
# tests need none). MQTT.js and puppeteer-core come with `pnpm install`. Debian or Ubuntu, as root (CI runs as
# root); what is already installed is skipped, so with everything present it needs no root and does
# nothing. Prints nothing on success.
set -euo pipefail

missing_packages() {
  local missing=()
  if ! /usr/bin/python3 -c 'import paho.mqtt.client' >/dev/null 2>&1; then missing+=(python3-paho-mqtt); fi
  if ! command -v mosquitto_pub >/dev/null 2>&1 || ! command -v mosquitto_sub >/dev/null 2>&1; then
    missing+=(mosquitto-clients)
  fi
  if ! command -v mosquitto >/dev/null 2>&1; then missing+=(mosquitto); fi
  if ! command -v openssl >/dev/null 2>&1; then missing+=(openssl); fi
  if ! command -v chromium >/dev/null 2>&1; then missing+=(chromium); fi
  if ! command -v redis-server >/dev/null 2>&1 || ! command -v redis-cli >/dev/null 2>&1; then
    missing+=(redis-server)
  fi
  echo "${missing[*]}"
}

read -r -a missing <<<"$(missing_packages)"
if [ "${#missing[@]}" -eq 0 ]; then exit 0; fi

fail() {
  echo "install-test-deps: $*" >&2
  exit 1
}
if [ "$(id -u)" -ne 0 ]; then
  fail "missing ${missing[*]}; run this script as root, or: sudo apt-get install -y --no-install-recommends ${missing[*]}"
fi
command -v apt-get >/dev/null 2>&1 || fail "missing ${missing[*]} and no apt-get here: install them by other means"

log=$(mktemp)
trap 'rm -f "$log"' EXIT
export DEBIAN_FRONTEND=noninteractive
if ! { apt-get update && apt-get install -y --no-install-recommends "${missing[@]}"; } >"$log" 2>&1; then
  cat "$log" >&2
  fail "apt-get could not install ${missing[*]} (output above)"
fi

read -r -a still <<<"$(missing_packages)"
if [ "${#still[@]}" -ne 0 ]; then
  cat "$log" >&2
  fail "still missing after apt-get: ${still[*]}"
fi
