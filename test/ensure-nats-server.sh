#!/usr/bin/env bash
# Run before the tests (npm's pretest): the realm tests start a real nats-server (Debian package
# nats-server, 2.9: JetStream, KV, MQTT). Install it where apt can; otherwise say how, in one line.
command -v nats-server >/dev/null 2>&1 && exit 0
if command -v apt-get >/dev/null 2>&1; then
  SUDO=""
  [ "$(id -u)" = 0 ] || SUDO="sudo -n"
  $SUDO apt-get install -y nats-server >/dev/null 2>&1 || { $SUDO apt-get update >/dev/null 2>&1 && $SUDO apt-get install -y nats-server >/dev/null 2>&1; }
  command -v nats-server >/dev/null 2>&1 && exit 0
fi
echo "kumo's tests need nats-server: install it (Debian/Ubuntu: sudo apt-get install -y nats-server; else https://docs.nats.io/running-a-nats-service/introduction/installation) and run npm test again" >&2
exit 1
