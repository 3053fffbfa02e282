#!/usr/bin/env bash
# Make sure the real servers the test suite talks to are up: PostgreSQL on 127.0.0.1:5432.
# A fresh machine may lack them: start what is installed, install what is missing (as root,
# from Debian's packages), and say so when neither is possible; the suite then reports the
# PostgreSQL tests as skipped with the reason instead of failing to start.
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
exit 0
