#!/usr/bin/env bash
# Run before the tests (npm's pretest): the realm tests start a real nats-server (Debian package
# nats-server, 2.9: JetStream, KV, MQTT), and the MQTT tests speak MQTT with Eclipse Mosquitto's
# clients (Debian package mosquitto-clients: mosquitto_pub, mosquitto_sub), and the console's browser
# tests drive Debian's Chromium (package chromium, /usr/bin/chromium) with playwright-core, which
# downloads no browser; the realm's TLS tests make their certificates with openssl. Install them
# where apt can; otherwise say how, in one line.
missing=()
command -v nats-server >/dev/null 2>&1 || missing+=(nats-server)
command -v mosquitto_pub >/dev/null 2>&1 || missing+=(mosquitto-clients)
[ -x "${KUMO_CHROMIUM:-/usr/bin/chromium}" ] || missing+=(chromium)
command -v openssl >/dev/null 2>&1 || missing+=(openssl)
[ ${#missing[@]} -eq 0 ] && exit 0
if command -v apt-get >/dev/null 2>&1; then
  SUDO=""
  [ "$(id -u)" = 0 ] || SUDO="sudo -n"
  $SUDO apt-get install -y "${missing[@]}" >/dev/null 2>&1 || { $SUDO apt-get update >/dev/null 2>&1 && $SUDO apt-get install -y "${missing[@]}" >/dev/null 2>&1; }
  command -v nats-server >/dev/null 2>&1 && command -v mosquitto_pub >/dev/null 2>&1 && [ -x "${KUMO_CHROMIUM:-/usr/bin/chromium}" ] && command -v openssl >/dev/null 2>&1 && exit 0
fi
echo "kumo's tests need ${missing[*]}: install them (Debian/Ubuntu: sudo apt-get install -y ${missing[*]}; else https://docs.nats.io, https://mosquitto.org and your system's Chromium with KUMO_CHROMIUM=/path) and run npm test again" >&2
exit 1
