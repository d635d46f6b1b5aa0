#!/usr/bin/env bash
# logreader-dump's JSON is a contract other tools compare against: record, logrecord and splice on
# real vector bytes (03, 02, 08) print exactly these lines.
set -euo pipefail
run=$(mktemp -d)
trap 'rm -rf "$run"' EXIT
check() {  # expected actual what
  if [[ "$1" != "$2" ]]; then
    echo "FAIL $3"; echo "expected: $1"; echo "actual:   $2"; exit 1
  fi
  echo "ok   $3"
}
cat > "$run/demotable.json" <<'JSON'
{"schema":"dbo","table":"demotable","compression":"none","columns":[
 {"name":"id","column_id":1,"type":"int","max_length":4,"leaf_offset":4,"leaf_null_bit":1,"is_nullable":false,"key_ordinal":1},
 {"name":"data","column_id":2,"type":"char","max_length":20,"collation_name":"SQL_Latin1_General_CP1_CI_AS","leaf_offset":8,"leaf_null_bit":2},
 {"name":"created_at","column_id":3,"type":"datetime","max_length":8,"precision":23,"scale":3,"leaf_offset":28,"leaf_null_bit":3}]}
JSON
check '{"record_type":"primary","columns":{"id":1,"data":"standalone xact     ","created_at":"2013-05-06T09:54:05.070"}}' \
  "$("$BIN/logreader-dump" record --json --layout "$run/demotable.json" \
     --hex 0x10002400010000007374616E64616C6F6E6520786163742020202020912BA300B6A10000030000)" "record (vector 03)"
check '{"operation":"LOP_INSERT_ROWS","context":"LCX_HEAP","transaction_id":"0000:0000026d","previous_lsn":"0000001a:0000003b:0001","flag_bits":"0x0002","page":"0001:00000091","slot":0,"allocation_unit_id":72057594039697408,"partition_id":72057594038779904,"offset_in_row":0,"modify_size":0,"num_elements":3}' \
  "$("$BIN/logreader-dump" logrecord --json --hex 0x00003E001A0000003B000000010002006D0200000000020191000000010000001B0000001A0000003B0000000F00000100000D00000000010000000041000300200000001400000030000E003930000044455054303104000002001B0020004142434442424242420101000C0000E7A4787D00000102000402030004)" \
  "logrecord (vector 02)"
cat > "$run/xyz1.json" <<'JSON'
{"schema":"dbo","table":"xyz1","columns":[{"name":"a","column_id":1,"type":"int","max_length":4,"leaf_offset":4,"leaf_null_bit":1}]}
JSON
check '{"record_type":"primary","columns":{"a":6}}' \
  "$("$BIN/logreader-dump" splice --json --layout "$run/xyz1.json" --before-hex 0x1000080001000000010000 --offset 4 \
     --before 0x01 --after 0x06)" "splice (vector 08)"
if "$BIN/logreader-dump" record --json --layout "$run/demotable.json" --hex 0x100024 2> "$run/err"; then
  echo "FAIL: a truncated record decoded"; exit 1
fi
grep -q "byte" "$run/err" || { echo "FAIL: the error does not name the byte: $(cat "$run/err")"; exit 1; }
echo "ok   truncated record: $(cat "$run/err")"
