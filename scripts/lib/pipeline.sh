# Shared by the demo and the end-to-end tests: start tds-replay on a fixture, write capture/apply
# configurations, run sqltail. Source it; it expects BIN (build/bin) and RUN (a scratch dir).

# Waits until tds-replay prints its "serving" line (or fails).
start_replay() {  # fixture_dir port log_file
  local fixture=$1 port=$2 log=$3
  # shellcheck disable=SC2086  # REPLAY_ARGS: extra tds-replay flags, word-split on purpose
  "$BIN/tds-replay" --fixture "$fixture" --port "$port" ${REPLAY_ARGS:-} > "$log" 2>&1 &
  REPLAY_PID=$!
  for _ in $(seq 1 600); do
    grep -q "serving" "$log" 2>/dev/null && return 0
    kill -0 "$REPLAY_PID" 2>/dev/null || { echo "tds-replay exited:"; cat "$log"; return 1; }
    sleep 0.1
  done
  echo "tds-replay did not start in 60 s"; cat "$log"; return 1
}

# Other settings are given to sqltail as --set section.key=value.
write_capture_config() {  # file replay_port bootstrap prefix
  local file=$1 port=$2 bootstrap=$3 prefix=$4
  cat > "$file" <<CONF
[source]
host = 127.0.0.1
port = $port
user = sqltail
password = replay
database = source_db

[capture]
topic_prefix = $prefix
table_include = dbo.*
# Tests compare the stream with the fixture's log; SQLTAIL_SNAPSHOT_MODE=initial runs the snapshot.
snapshot_mode = ${SQLTAIL_SNAPSHOT_MODE:-never}

[kafka]
bootstrap_servers = $bootstrap
CONF
}

write_apply_config() {  # file bootstrap topics sqlite_path
  local file=$1 bootstrap=$2 topics=$3 sqlite=$4
  cat > "$file" <<CONF
[apply]
topics = $topics

[target]
kind = sqlite
path = $sqlite

[kafka]
bootstrap_servers = $bootstrap
CONF
}

# Rows in a SQLite table (0 while it does not exist yet).
sqlite_count() {  # db table
  sqlite3 -cmd ".timeout 5000" "$1" "SELECT count(*) FROM \"$2\"" 2>/dev/null || echo 0
}
