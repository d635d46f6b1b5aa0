#!/usr/bin/env bash
# make test: starts the services the tests need (Kafka broker, PostgreSQL), runs every test through
# ctest (the normal build, then the ASan+UBSan build for the tests that need no services), and
# stops the services again.
set -uo pipefail
repo=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
export KAFKA_PORT=${KAFKA_PORT:-19192} KAFKA_CONTROLLER_PORT=${KAFKA_CONTROLLER_PORT:-19193}
# The shared broker also listens with SASL_PLAINTEXT (tests/eos/sasl_test.sh). Not exported: tests
# that start a private broker (broker_faults_test) must not claim the same port.
sasl_port=${KAFKA_SASL_PORT:-19194}
# ... and with SSL, client certificates required (tests/eos/tls_test.sh), the same way.
ssl_port=${KAFKA_SSL_PORT:-19195}
export KAFKA_RUN_DIR=${KAFKA_RUN_DIR:-$repo/.run/test-kafka}
export PG_PORT=${PG_PORT:-55432}

stop_services() {
  "$repo/scripts/kafka/broker.sh" stop > /dev/null 2>&1 || true
  "$repo/scripts/postgres.sh" stop > /dev/null 2>&1 || true
}
trap stop_services EXIT

KAFKA_SASL_PORT=$sasl_port KAFKA_SSL_PORT=$ssl_port "$repo/scripts/kafka/broker.sh" start || exit 1
"$repo/scripts/postgres.sh" start || exit 1
export SQLTAIL_KAFKA_BOOTSTRAP=$("$repo/scripts/kafka/broker.sh" bootstrap)
export SQLTAIL_KAFKA_SASL_BOOTSTRAP=$(KAFKA_SASL_PORT=$sasl_port "$repo/scripts/kafka/broker.sh" sasl-bootstrap)
export SQLTAIL_KAFKA_SSL_BOOTSTRAP=$(KAFKA_SSL_PORT=$ssl_port "$repo/scripts/kafka/broker.sh" ssl-bootstrap)
export SQLTAIL_KAFKA_TLS_DIR=$(KAFKA_SSL_PORT=$ssl_port "$repo/scripts/kafka/broker.sh" tls-dir)
export SQLTAIL_PG_DSN=$("$repo/scripts/postgres.sh" dsn)

status=0
echo "== ctest: build (all labels) =="
(cd "$repo/build" && ctest --output-on-failure --timeout 600 -j 2) || status=1
echo "== ctest: build-asan (ASan+UBSan; unit, decoder, txn, tds, kafka) =="
(cd "$repo/build-asan" && ctest --output-on-failure --timeout 900 -L 'unit|decoder|txn|tds|kafka') || status=1
exit $status
