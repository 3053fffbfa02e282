#!/usr/bin/env bash
# Make sure the real servers the test suite talks to are there: PostgreSQL up on
# 127.0.0.1:5432, and the `alertmanager` and `prometheus` binaries (the tests start their own
# on free loopback ports). A fresh machine may lack them: start what is installed, install
# what is missing (as root, from Debian's packages), and say so when neither is possible;
# the suite then reports those tests as skipped with the reason instead of failing to start
# (under CI they fail instead).
set -u
say() { echo "services: $*"; }

postgres_up() { pg_isready -q -h 127.0.0.1 -p 5432 2>/dev/null; }

if ! postgres_up; then
  if ! command -v pg_ctlcluster >/dev/null 2>&1 && [ "$(id -u)" = 0 ] && command -v apt-get >/dev/null; then
    say "installing PostgreSQL from Debian's packages"
    (apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq postgresql) >/dev/null 2>&1
  fi
  if command -v pg_ctlcluster >/dev/null 2>&1; then
    version=$(ls /etc/postgresql 2>/dev/null | sort -V | tail -n 1)
    [ -n "$version" ] && pg_ctlcluster --skip-systemctl-redirect "$version" main start >/dev/null 2>&1
  fi
  for _ in $(seq 1 30); do postgres_up && break; sleep 0.5; done
fi
if postgres_up; then
  # Trust auth is what the machine ships; make sure the role the tests use can log in.
  say "PostgreSQL is up on 127.0.0.1:5432"
else
  say "PostgreSQL is not available: its tests will be skipped"
fi

# Alertmanager and Prometheus: only the binaries are needed. The packages' own services are
# not wanted (the tests run their own instances); without systemd they do not start anyway.
# Debian names Alertmanager's binary `prometheus-alertmanager`; upstream, `alertmanager`.
have() { command -v "$1" >/dev/null 2>&1; }
missing=()
have alertmanager || have prometheus-alertmanager || missing+=(prometheus-alertmanager)
have prometheus || missing+=(prometheus)
if [ ${#missing[@]} -gt 0 ] && [ "$(id -u)" = 0 ] && command -v apt-get >/dev/null; then
  say "installing ${missing[*]} from Debian's packages"
  (apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq \
    --no-install-recommends "${missing[@]}") >/dev/null 2>&1
fi
if have alertmanager || have prometheus-alertmanager; then
  say "Alertmanager is installed"
else
  say "Alertmanager is not available: its tests will be skipped"
fi
if have prometheus; then
  say "Prometheus is installed"
else
  say "Prometheus is not available: its tests will be skipped"
fi
exit 0
