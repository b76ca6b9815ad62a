#!/usr/bin/env bash
# Installs the Debian packages the agent and its tests need, when they are missing.
# As root it runs apt-get; otherwise it prints the exact command and fails.
# RabbitMQ (the scale-out broker) is optional: its test runs when it is installed; set
# LOCKER_SKIP_OPTIONAL_DEPS=1 to not install it.
set -euo pipefail

missing=()
optional=()
have_lib() { ldconfig -p 2>/dev/null | grep -q "$1"; }
command -v mosquitto >/dev/null 2>&1 || [ -x /usr/sbin/mosquitto ] || missing+=(mosquitto)
have_lib libzbar.so.0 || missing+=(libzbar0)
command -v chromium >/dev/null 2>&1 || missing+=(chromium)
have_lib libGL.so.1 || missing+=(libgl1)
have_lib libglib-2.0.so.0 || missing+=(libglib2.0-0)
command -v python3 >/dev/null 2>&1 || missing+=(python3)
python3 -c 'import venv, ensurepip' >/dev/null 2>&1 || missing+=(python3-venv)
# the fleet hub's engines (tests/fleet): a NATS cluster the tests start, and PostgreSQL
command -v nats-server >/dev/null 2>&1 || [ -x /usr/sbin/nats-server ] || missing+=(nats-server)
command -v pg_ctlcluster >/dev/null 2>&1 || missing+=(postgresql)
if [ "${LOCKER_SKIP_OPTIONAL_DEPS:-}" != "1" ]; then
  [ -x /usr/sbin/rabbitmq-server ] || command -v rabbitmq-server >/dev/null 2>&1 \
    || optional+=(rabbitmq-server)
fi

[ ${#missing[@]} -eq 0 ] && [ ${#optional[@]} -eq 0 ] && exit 0
if [ "$(id -u)" -ne 0 ]; then
  if [ ${#missing[@]} -gt 0 ]; then
    echo "missing system packages: ${missing[*]}" >&2
    echo "run: sudo apt-get update && sudo apt-get install -y ${missing[*]}" >&2
    exit 1
  fi
  exit 0
fi
export DEBIAN_FRONTEND=noninteractive
apt-get update -qq
if [ ${#missing[@]} -gt 0 ]; then
  echo "installing system packages: ${missing[*]}"
  apt-get install -y -qq --no-install-recommends "${missing[@]}" >/dev/null
fi
if [ ${#optional[@]} -gt 0 ]; then
  echo "installing optional system packages: ${optional[*]}"
  apt-get install -y -qq --no-install-recommends "${optional[@]}" >/dev/null \
    || echo "optional packages not installed (${optional[*]}): their tests are skipped" >&2
fi
