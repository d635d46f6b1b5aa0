#!/usr/bin/env bash
# Single-node Apache Kafka (KRaft, combined broker+controller) on 127.0.0.1 for sqltail's
# real-broker tests and local runs. The Kafka version is pinned in scripts/kafka/pom.xml.
#
# Usage: scripts/kafka/broker.sh fetch|start|stop|status|bootstrap|sasl-bootstrap|ssl-bootstrap|tls-dir
#   fetch      download the broker jars with mvn (skipped when they are already present)
#   start      fetch, write server.properties, format fresh storage, start in the background and
#              wait until the broker answers a metadata request; no-op if already running
#   stop       SIGTERM, wait up to 20 s, then SIGKILL
#   status     print state; exit 0 when running and answering, 3 otherwise
#   bootstrap  print the bootstrap address (e.g. for SQLTAIL_KAFKA_BOOTSTRAP)
#   sasl-bootstrap  print the SASL_PLAINTEXT listener's address (KAFKA_SASL_PORT)
#   ssl-bootstrap   print the SSL listener's address (KAFKA_SSL_PORT)
#   tls-dir    print the directory with the test CA and client certificate (KAFKA_SSL_PORT)
#
# Environment (all optional):
#   KAFKA_PORT=19092  KAFKA_CONTROLLER_PORT=19093
#   KAFKA_LIBS=<repo>/.deps/kafka-<version>/libs   where fetch puts the jars
#   KAFKA_RUN_DIR=<repo>/.run/kafka                config, data, pid and log file
#   KAFKA_KEEP_DATA=1        keep the existing data dir on start (default: format fresh)
#   KAFKA_START_TIMEOUT=90   seconds to wait for the broker to answer
#   KAFKA_HEAP_OPTS="-Xms256m -Xmx768m"
#   KAFKA_SASL_PORT=<port>   also listen there with SASL_PLAINTEXT (mechanisms PLAIN and SCRAM-SHA-256)
#   KAFKA_SASL_USER=sqltail KAFKA_SASL_PASSWORD=sqltail-secret   the one user of both mechanisms
#                            (PLAIN: in the listener's JAAS config; SCRAM: added when storage is formatted)
#   KAFKA_SSL_PORT=<port>    also listen there with SSL and client authentication required; a test CA,
#                            the broker's certificate and a client certificate whose key is encrypted
#                            with KAFKA_TLS_KEY_PASSWORD (default sqltail-key-secret) are made in
#                            $KAFKA_RUN_DIR/tls (ca.pem, client.pem, client.key, client.key.password)
set -euo pipefail

script_dir=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
repo_dir=$(cd "$script_dir/../.." && pwd)
pom="$script_dir/pom.xml"

kafka_version=$(sed -n 's:.*<kafka.version>\(.*\)</kafka.version>.*:\1:p' "$pom")
[[ -n "$kafka_version" ]] || { echo "broker.sh: cannot read kafka.version from $pom" >&2; exit 2; }

port=${KAFKA_PORT:-19092}
controller_port=${KAFKA_CONTROLLER_PORT:-19093}
libs_dir=${KAFKA_LIBS:-$repo_dir/.deps/kafka-$kafka_version/libs}
run_dir=${KAFKA_RUN_DIR:-$repo_dir/.run/kafka}
start_timeout=${KAFKA_START_TIMEOUT:-90}
heap_opts=${KAFKA_HEAP_OPTS:-"-Xms256m -Xmx768m"}

bootstrap="127.0.0.1:$port"
sasl_port=${KAFKA_SASL_PORT:-}
sasl_user=${KAFKA_SASL_USER:-sqltail}
sasl_password=${KAFKA_SASL_PASSWORD:-sqltail-secret}
ssl_port=${KAFKA_SSL_PORT:-}
tls_key_password=${KAFKA_TLS_KEY_PASSWORD:-sqltail-key-secret}
tls_dir="$run_dir/tls"
data_dir="$run_dir/data"
pid_file="$run_dir/broker.pid"
log_file="$run_dir/broker.log"
props_file="$run_dir/server.properties"
log4j_file="$run_dir/log4j.properties"
core_jar="$libs_dir/kafka_2.13-$kafka_version.jar"

die() { echo "broker.sh: $*" >&2; exit 1; }

broker_pid() {
  [[ -f "$pid_file" ]] || return 1
  local pid
  pid=$(cat "$pid_file")
  [[ -n "$pid" ]] && kill -0 "$pid" 2>/dev/null || return 1
  echo "$pid"
}

# A metadata request that lists our broker means clients can connect and the controller
# has registered the broker (KRaft only opens the listener after that).
answers_metadata() {
  kcat -L -b "$bootstrap" -m 2 -X log_level=0 2>/dev/null | grep -q "broker 1 at"
}

cmd_fetch() {
  if [[ -f "$core_jar" ]]; then
    return 0
  fi
  command -v mvn >/dev/null || die "mvn not found (apt-get install maven)"
  echo "broker.sh: fetching Kafka $kafka_version jars into $libs_dir" >&2
  local staging="$libs_dir.partial"
  rm -rf "$staging"
  mkdir -p "$staging"
  # Copy to a staging dir and rename, so an interrupted download is never mistaken for a complete one.
  mvn -q -B -Dstyle.color=never -f "$pom" dependency:copy-dependencies \
      -DincludeScope=runtime -DoutputDirectory="$staging" \
    || die "mvn dependency:copy-dependencies failed (needs Maven Central through mvn)"
  [[ -f "$staging/kafka_2.13-$kafka_version.jar" ]] || die "kafka_2.13-$kafka_version.jar missing after fetch"
  rm -rf "$libs_dir"
  mv "$staging" "$libs_dir"
  rm -rf "$script_dir/target"
}

write_config() {
  mkdir -p "$run_dir"
  local listeners="PLAINTEXT://127.0.0.1:$port" advertised="PLAINTEXT://127.0.0.1:$port"
  local protocol_map="CONTROLLER:PLAINTEXT,PLAINTEXT:PLAINTEXT"
  if [[ -n "$sasl_port" ]]; then
    listeners+=",SASL_PLAINTEXT://127.0.0.1:$sasl_port"
    advertised+=",SASL_PLAINTEXT://127.0.0.1:$sasl_port"
    protocol_map+=",SASL_PLAINTEXT:SASL_PLAINTEXT"
  fi
  if [[ -n "$ssl_port" ]]; then
    listeners+=",SSL://127.0.0.1:$ssl_port"
    advertised+=",SSL://127.0.0.1:$ssl_port"
    protocol_map+=",SSL:SSL"
  fi
  cat >"$props_file" <<EOF
# Generated by scripts/kafka/broker.sh; regenerated on every start.
process.roles=broker,controller
node.id=1
# Static single-voter quorum: storage is formatted without --standalone.
controller.quorum.voters=1@127.0.0.1:$controller_port
listeners=$listeners,CONTROLLER://127.0.0.1:$controller_port
advertised.listeners=$advertised
controller.listener.names=CONTROLLER
inter.broker.listener.name=PLAINTEXT
listener.security.protocol.map=$protocol_map
log.dirs=$data_dir
num.partitions=1
default.replication.factor=1
min.insync.replicas=1
# Tests create their topics explicitly.
auto.create.topics.enable=false
offsets.topic.replication.factor=1
offsets.topic.num.partitions=3
transaction.state.log.replication.factor=1
transaction.state.log.min.isr=1
transaction.state.log.num.partitions=3
group.initial.rebalance.delay.ms=0
# Lets consumer-group tests see a killed member gone within seconds (the default floor is 6 s).
group.min.session.timeout.ms=1000
# Small segments keep compaction observable in tests; the cleaner is on by default.
log.segment.bytes=16777216
num.network.threads=2
num.io.threads=4
EOF
  if [[ -n "$sasl_port" ]]; then
    cat >>"$props_file" <<EOF
sasl.enabled.mechanisms=PLAIN,SCRAM-SHA-256
listener.name.sasl_plaintext.plain.sasl.jaas.config=org.apache.kafka.common.security.plain.PlainLoginModule required user_$sasl_user="$sasl_password";
listener.name.sasl_plaintext.scram-sha-256.sasl.jaas.config=org.apache.kafka.common.security.scram.ScramLoginModule required;
EOF
    chmod 600 "$props_file"
  fi
  if [[ -n "$ssl_port" ]]; then
    make_tls_files
    cat >>"$props_file" <<EOF
listener.name.ssl.ssl.keystore.type=PKCS12
listener.name.ssl.ssl.keystore.location=$tls_dir/broker.p12
listener.name.ssl.ssl.keystore.password=$tls_key_password
listener.name.ssl.ssl.key.password=$tls_key_password
listener.name.ssl.ssl.truststore.type=PEM
listener.name.ssl.ssl.truststore.location=$tls_dir/ca.pem
listener.name.ssl.ssl.client.auth=required
EOF
    chmod 600 "$props_file"
  fi
  cat >"$log4j_file" <<'EOF'
# Broker log: INFO for the broker, WARN for the very chatty request/state-change loggers.
log4j.rootLogger=INFO, stdout
log4j.appender.stdout=org.apache.log4j.ConsoleAppender
log4j.appender.stdout.layout=org.apache.log4j.PatternLayout
log4j.appender.stdout.layout.ConversionPattern=[%d] %p %m (%c)%n
log4j.logger.kafka.request.logger=WARN
log4j.logger.state.change.logger=WARN
log4j.logger.kafka.log.LogCleaner=WARN
log4j.logger.org.apache.kafka.storage.internals.log=WARN
log4j.logger.kafka.server.metadata=WARN
log4j.logger.org.apache.kafka.clients=WARN
EOF
}

# A test CA that signs the broker's certificate (CN and SAN 127.0.0.1, so clients can verify the host)
# and a client certificate; made once per run directory, valid for 10 years.
make_tls_files() {
  [[ -f "$tls_dir/broker.p12" && -f "$tls_dir/client.key" ]] && return 0
  command -v openssl >/dev/null || die "openssl not found (apt-get install openssl)"
  rm -rf "$tls_dir" && mkdir -p "$tls_dir" && chmod 700 "$tls_dir"
  (
    cd "$tls_dir"
    openssl req -x509 -newkey rsa:2048 -nodes -days 3650 -subj "/CN=sqltail test CA" \
      -keyout ca.key -out ca.pem
    openssl req -newkey rsa:2048 -nodes -subj "/CN=127.0.0.1" -keyout broker.key -out broker.csr
    printf 'subjectAltName=IP:127.0.0.1,DNS:localhost\n' > broker.ext
    openssl x509 -req -in broker.csr -CA ca.pem -CAkey ca.key -CAcreateserial -days 3650 \
      -extfile broker.ext -out broker.pem
    openssl pkcs12 -export -in broker.pem -inkey broker.key -certfile ca.pem -name broker \
      -passout "pass:$tls_key_password" -out broker.p12
    openssl req -newkey rsa:2048 -subj "/CN=sqltail-client" -passout "pass:$tls_key_password" \
      -keyout client.key -out client.csr
    openssl x509 -req -in client.csr -CA ca.pem -CAkey ca.key -CAcreateserial -days 3650 -out client.pem
    printf '%s\n' "$tls_key_password" > client.key.password
    chmod 600 ./*.key client.key.password broker.p12
  ) >>"$log_file" 2>&1 || die "making the test TLS files in $tls_dir failed; see $log_file"
}

# shellcheck disable=SC2206 # heap_opts holds several options on purpose
java_opts=($heap_opts -XX:+UseG1GC -XX:MaxGCPauseMillis=20 -Djava.awt.headless=true
  -Djava.io.tmpdir="$run_dir/tmp"
  -Dlog4j.configuration="file:$log4j_file" -Dkafka.logs.dir="$run_dir"
  -cp "$libs_dir/*")

java_cmd() { java "${java_opts[@]}" "$@"; }

format_storage() {
  if [[ "${KAFKA_KEEP_DATA:-0}" == 1 && -f "$data_dir/meta.properties" ]]; then
    return 0
  fi
  rm -rf "$data_dir"
  mkdir -p "$data_dir" "$run_dir/tmp"
  local cluster_id
  cluster_id=$(java_cmd kafka.tools.StorageTool random-uuid 2>>"$log_file" | tail -n1)
  [[ -n "$cluster_id" ]] || die "StorageTool random-uuid failed; see $log_file"
  local scram=()
  [[ -z "$sasl_port" ]] || scram=(--add-scram "SCRAM-SHA-256=[name=$sasl_user,password=$sasl_password]")
  java_cmd kafka.tools.StorageTool format -t "$cluster_id" -c "$props_file" "${scram[@]}" >>"$log_file" 2>&1 \
    || { tail -n 30 "$log_file" >&2; die "StorageTool format failed"; }
}

cmd_start() {
  command -v java >/dev/null || die "java not found (apt-get install openjdk-17-jre-headless)"
  command -v kcat >/dev/null || die "kcat not found (apt-get install kcat)"
  if pid=$(broker_pid); then
    if answers_metadata; then
      echo "broker.sh: already running (pid $pid) at $bootstrap"
      return 0
    fi
    die "process $pid from $pid_file is alive but $bootstrap does not answer; run stop first"
  fi
  cmd_fetch
  local started_at=$SECONDS
  write_config
  mkdir -p "$run_dir/tmp"
  : >"$log_file"
  format_storage
  # setsid: the broker must not die with the shell or process group that started it.
  # The child re-enters this script (__run), which execs java, so $! is the JVM's pid.
  setsid "${BASH_SOURCE[0]}" __run >>"$log_file" 2>&1 < /dev/null &
  echo $! >"$pid_file"
  local pid
  pid=$(cat "$pid_file")
  while ! answers_metadata; do
    if ! kill -0 "$pid" 2>/dev/null; then
      tail -n 40 "$log_file" >&2
      rm -f "$pid_file"
      die "broker exited during start-up; log: $log_file"
    fi
    if (( SECONDS - started_at >= start_timeout )); then
      tail -n 40 "$log_file" >&2
      kill -KILL "$pid" 2>/dev/null || true
      rm -f "$pid_file"
      die "broker did not answer metadata at $bootstrap within ${start_timeout}s; log: $log_file"
    fi
    sleep 0.5
  done
  echo "broker.sh: Kafka $kafka_version running (pid $pid) at $bootstrap, ready $(( SECONDS - started_at ))s after start (format included)"
}

cmd_stop() {
  local pid
  if ! pid=$(broker_pid); then
    rm -f "$pid_file"
    echo "broker.sh: not running"
    return 0
  fi
  kill -TERM "$pid" 2>/dev/null || true
  local waited=0
  while kill -0 "$pid" 2>/dev/null && (( waited < 40 )); do
    sleep 0.5
    waited=$(( waited + 1 ))
  done
  if kill -0 "$pid" 2>/dev/null; then
    echo "broker.sh: pid $pid ignored SIGTERM for 20 s, sending SIGKILL" >&2
    kill -KILL "$pid" 2>/dev/null || true
  fi
  rm -f "$pid_file"
  echo "broker.sh: stopped (pid $pid)"
}

cmd_status() {
  local pid
  if pid=$(broker_pid); then
    if answers_metadata; then
      echo "running pid=$pid bootstrap=$bootstrap version=$kafka_version"
      return 0
    fi
    echo "starting-or-unhealthy pid=$pid bootstrap=$bootstrap (log: $log_file)"
    return 3
  fi
  echo "not running"
  return 3
}

case "${1:-}" in
  fetch) cmd_fetch; echo "broker.sh: jars in $libs_dir" ;;
  start) cmd_start ;;
  stop) cmd_stop ;;
  status) cmd_status ;;
  bootstrap) echo "$bootstrap" ;;
  sasl-bootstrap) [[ -n "$sasl_port" ]] || die "KAFKA_SASL_PORT is not set"; echo "127.0.0.1:$sasl_port" ;;
  ssl-bootstrap) [[ -n "$ssl_port" ]] || die "KAFKA_SSL_PORT is not set"; echo "127.0.0.1:$ssl_port" ;;
  tls-dir) [[ -n "$ssl_port" ]] || die "KAFKA_SSL_PORT is not set"; echo "$tls_dir" ;;
  __run) exec java "${java_opts[@]}" kafka.Kafka "$props_file" ;;
  *) sed -n '2,30p' "${BASH_SOURCE[0]}" | sed 's/^# \{0,1\}//' >&2; exit 2 ;;
esac
