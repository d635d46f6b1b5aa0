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
# record --page-ci: a page-compressed record against a CI made of vector 18's real header and anchor
# record (as quoted in ../shared) and the dictionary compressed_record_test.cpp builds: 90 entries,
# 0..63 = 02 (10+i) (prefix 2 of column 1's anchor + one byte), 64..89 = 80 i 2A; a 2-byte count,
# 2-byte end offsets relative to the dictionary start, the entries; CI size (bytes 5-6) = the total.
# The record is the same hand-built one as there (symbols 0 and 73, anchor prefixes).
page_ci=$(python3 -c '
import struct
entries = [bytes([2, 0x10 + i]) if i < 64 else bytes([0x80, i, 0x2A]) for i in range(90)]
ci = bytearray.fromhex("060f0023001b020109040428001883030081188b80a31e000000005380a31e00000000")
ends, end = [], 2 + 2 * len(entries)
for e in entries:
    end += len(e); ends.append(end)
ci += struct.pack("<%dH" % (1 + len(ends)), len(entries), *ends) + b"".join(entries)
ci[5:7] = struct.pack("<H", len(ci))
print(ci.hex())')
[[ ${#page_ci} == 846 ]] || { echo "FAIL: built CI is $(( ${#page_ci} / 2 )) bytes, not 423"; exit 1; }
cat > "$run/page.json" <<'JSON'
{"schema":"dbo","table":"paged","compression":"page","columns":[
 {"name":"c1","column_id":1,"type":"int","max_length":4,"leaf_offset":4,"leaf_null_bit":1},
 {"name":"c2","column_id":2,"type":"int","max_length":4,"leaf_offset":8,"leaf_null_bit":2},
 {"name":"c3","column_id":3,"type":"int","max_length":4,"leaf_offset":12,"leaf_null_bit":3},
 {"name":"c4","column_id":4,"type":"int","max_length":4,"leaf_offset":16,"leaf_null_bit":4},
 {"name":"c5","column_id":5,"type":"bigint","max_length":8,"leaf_offset":20,"leaf_null_bit":5},
 {"name":"c6","column_id":6,"type":"binary","max_length":1,"leaf_offset":28,"leaf_null_bit":6},
 {"name":"c7","column_id":7,"type":"int","max_length":4,"leaf_offset":29,"leaf_null_bit":7},
 {"name":"c8","column_id":8,"type":"int","max_length":4,"leaf_offset":33,"leaf_null_bit":8},
 {"name":"c9","column_id":9,"type":"varbinary","max_length":20,"leaf_offset":-1,"leaf_null_bit":9}]}
JSON
page_record=0x0109CC033200130049029907004103FF
check '{"record_type":"primary","columns":{"c1":197392,"c2":18730,"c3":71833,"c4":null,"c5":179349244346368,"c6":"0x41","c7":null,"c8":null,"c9":"0x80A31EFF"}}' \
  "$("$BIN/logreader-dump" record --json --layout "$run/page.json" --hex $page_record --page-ci "$page_ci")" \
  "record --page-ci (vector 18 header and anchor, test dictionary)"
if "$BIN/logreader-dump" record --json --layout "$run/page.json" --hex $page_record 2> "$run/err"; then
  echo "FAIL: a page-compressed record decoded without its CI"; exit 1
fi
grep -q "compression information" "$run/err" || { echo "FAIL: $(cat "$run/err")"; exit 1; }
echo "ok   page-compressed record without --page-ci: $(cat "$run/err")"
