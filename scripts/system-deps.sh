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
# docs/provisioning.md runs as written (tests/provisioning/test_provisioning_doc.py)
command -v mosquitto_sub >/dev/null 2>&1 || missing+=(mosquitto-clients)
command -v jq >/dev/null 2>&1 || missing+=(jq)
command -v curl >/dev/null 2>&1 || missing+=(curl)
command -v openssl >/dev/null 2>&1 || missing+=(openssl)
command -v systemd-analyze >/dev/null 2>&1 || missing+=(systemd)  # verifies deploy/*.service
have_lib libzbar.so.0 || missing+=(libzbar0)
command -v chromium >/dev/null 2>&1 || missing+=(chromium)
have_lib libGL.so.1 || missing+=(libgl1)
have_lib libglib-2.0.so.0 || missing+=(libglib2.0-0)
command -v python3 >/dev/null 2>&1 || missing+=(python3)
command -v iptables >/dev/null 2>&1 || missing+=(iptables)  # packet loss in tests/reliability
python3 -c 'import venv, ensurepip' >/dev/null 2>&1 || missing+=(python3-venv)
# OCR-B glyphs for the MRZ reader's templates, rendered by tesseract's text2image
command -v text2image >/dev/null 2>&1 || missing+=(tesseract-ocr)
[ -f /usr/share/fonts/opentype/ocr-b/OCRB.otf ] || missing+=(fonts-ocr-b)
# the kiosk speaks through Chromium's speech-dispatcher with espeak-ng voices (docs/deployment.md)
command -v speech-dispatcher >/dev/null 2>&1 || missing+=(speech-dispatcher)
[ -e /usr/lib/speech-dispatcher-modules/sd_espeak-ng ] || missing+=(speech-dispatcher-espeak-ng)
command -v espeak-ng >/dev/null 2>&1 || missing+=(espeak-ng)
# the fleet hub's engines (tests/fleet): a NATS cluster the tests start, and PostgreSQL
command -v nats-server >/dev/null 2>&1 || [ -x /usr/sbin/nats-server ] || missing+=(nats-server)
command -v pg_ctlcluster >/dev/null 2>&1 || missing+=(postgresql)
if [ "${LOCKER_SKIP_OPTIONAL_DEPS:-}" != "1" ]; then
  [ -x /usr/sbin/rabbitmq-server ] || command -v rabbitmq-server >/dev/null 2>&1 \
    || optional+=(rabbitmq-server)
fi

# PostgreSQL for tests/fleet: running, user postgres reachable on 127.0.0.1 (password "postgres";
# a machine with trust auth accepts it too). Only as root, only when it is not so already.
pg_ready() { PGPASSWORD=postgres psql -h 127.0.0.1 -U postgres -Atqc 'select 1' >/dev/null 2>&1; }
pg_setup() {
  command -v psql >/dev/null 2>&1 && ! pg_ready || return 0
  pg_isready -q -h 127.0.0.1 || service postgresql start >/dev/null 2>&1 || true
  for _ in 1 2 3 4 5 6 7 8 9 10; do pg_isready -q -h 127.0.0.1 && break; sleep 1; done
  pg_ready || su postgres -c "psql -qc \"ALTER USER postgres PASSWORD 'postgres'\"" \
    >/dev/null 2>&1 || echo "PostgreSQL: user postgres not reachable on 127.0.0.1" >&2
}
if [ "$(id -u)" -eq 0 ] && [ ${#missing[@]} -eq 0 ]; then pg_setup; fi

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
pg_setup
