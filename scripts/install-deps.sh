#!/usr/bin/env bash
# Installs what sqltail needs to build, test and run its demo on Debian 12 (bookworm), as root.
# Idempotent and quick when everything is already there.
set -euo pipefail

packages=(
  build-essential cmake ninja-build pkg-config git ca-certificates
  librdkafka-dev freetds-dev freetds-bin libboost-dev libboost-program-options-dev
  libsimdjson-dev libspdlog-dev libfmt-dev doctest-dev libsqlite3-dev sqlite3
  libpq-dev postgresql
  openjdk-17-jdk-headless maven kcat
  python3 python3-tds procps openssl libssl-dev
  systemd man-db curl dpkg-dev clang-format
)

missing=()
for p in "${packages[@]}"; do
  dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q "install ok installed" || missing+=("$p")
done
if ((${#missing[@]})); then
  echo "install-deps: installing ${missing[*]}"
  if [[ $(id -u) -ne 0 ]]; then
    echo "install-deps: missing packages and not root; run as root or install: ${missing[*]}" >&2
    exit 1
  fi
  export DEBIAN_FRONTEND=noninteractive
  apt-get update -qq
  apt-get install -y -qq --no-install-recommends "${missing[@]}" >/dev/null
fi

# The Kafka broker jars (pinned in scripts/kafka/pom.xml), from Maven Central.
"$(dirname "${BASH_SOURCE[0]}")/kafka/broker.sh" fetch
# Kafka Connect and Debezium's JDBC sink connector (pinned in scripts/connect/pom.xml), for the
# Connect compatibility test and the sink benchmark.
"$(dirname "${BASH_SOURCE[0]}")/connect/connect.sh" fetch
