// Copies of a few real record cases from shared/vectors/cases, so CI always runs real bytes.
#pragma once

namespace sqltail::test {

struct EmbeddedRecordCase {
  const char* name;
  const char* layout_json;
  const char* hex;
  const char* expected_json;
};

inline constexpr EmbeddedRecordCase kEmbeddedRecordCases[] = {
    {"01-record-tEmployee-insert.json",
     R"json({"schema":"dbo","table":"tEmployee","compression":"none","columns":[{"name":"intRoll","column_id":1,"type":"int","max_length":4,"precision":10,"scale":0,"collation_name":null,"is_nullable":true,"leaf_offset":4,"leaf_null_bit":1,"leaf_bit_position":0,"is_dropped":false,"is_uniqueifier":false,"is_sparse":false,"key_ordinal":0,"has_default":false,"default_value":null},{"name":"strName","column_id":2,"type":"varchar","max_length":10,"precision":0,"scale":0,"collation_name":"SQL_Latin1_General_CP1_CI_AS","is_nullable":true,"leaf_offset":-1,"leaf_null_bit":2,"leaf_bit_position":0,"is_dropped":false,"is_uniqueifier":false,"is_sparse":false,"key_ordinal":0,"has_default":false,"default_value":null},{"name":"strDeptCode","column_id":3,"type":"char","max_length":6,"precision":0,"scale":0,"collation_name":"SQL_Latin1_General_CP1_CI_AS","is_nullable":true,"leaf_offset":8,"leaf_null_bit":3,"leaf_bit_position":0,"is_dropped":false,"is_uniqueifier":false,"is_sparse":false,"key_ordinal":0,"has_default":false,"default_value":null},{"name":"strCity","column_id":4,"type":"varchar","max_length":10,"precision":0,"scale":0,"collation_name":"SQL_Latin1_General_CP1_CI_AS","is_nullable":true,"leaf_offset":-2,"leaf_null_bit":4,"leaf_bit_position":0,"is_dropped":false,"is_uniqueifier":false,"is_sparse":false,"key_ordinal":0,"has_default":false,"default_value":null}]})json",
     "0x30000E003930000044455054303104000002001B002000414243444242424242",
     R"json({"record_type":"primary","columns":{"intRoll":12345,"strName":"ABCD","strDeptCode":"DEPT01","strCity":"BBBBB"}})json"},
    {"03-record-demotable-insert.json",
     R"json({"schema":"dbo","table":"demotable","compression":"none","columns":[{"name":"id","column_id":1,"type":"int","max_length":4,"precision":10,"scale":0,"collation_name":null,"is_nullable":false,"leaf_offset":4,"leaf_null_bit":1,"leaf_bit_position":0,"is_dropped":false,"is_uniqueifier":false,"is_sparse":false,"key_ordinal":1,"has_default":false,"default_value":null},{"name":"data","column_id":2,"type":"char","max_length":20,"precision":0,"scale":0,"collation_name":"SQL_Latin1_General_CP1_CI_AS","is_nullable":true,"leaf_offset":8,"leaf_null_bit":2,"leaf_bit_position":0,"is_dropped":false,"is_uniqueifier":false,"is_sparse":false,"key_ordinal":0,"has_default":false,"default_value":null},{"name":"created_at","column_id":3,"type":"datetime","max_length":8,"precision":23,"scale":3,"collation_name":null,"is_nullable":true,"leaf_offset":28,"leaf_null_bit":3,"leaf_bit_position":0,"is_dropped":false,"is_uniqueifier":false,"is_sparse":false,"key_ordinal":0,"has_default":false,"default_value":null}]})json",
     "0x10002400010000007374616E64616C6F6E6520786163742020202020912BA300B6A10000030000",
     R"json({"record_type":"primary","columns":{"id":1,"data":"standalone xact     ","created_at":"2013-05-06T09:54:05.070"}})json"},
    {"11-record-C-slot2-a-null.json",
     R"json({"schema":"dbo","table":"tmp","compression":"none","columns":[{"name":"t1","column_id":1,"type":"nvarchar","max_length":10,"precision":0,"scale":0,"collation_name":"SQL_Latin1_General_CP1_CI_AS","is_nullable":true,"leaf_offset":-1,"leaf_null_bit":1,"leaf_bit_position":0,"is_dropped":false,"is_uniqueifier":false,"is_sparse":false,"key_ordinal":0,"has_default":false,"default_value":null},{"name":"t2","column_id":2,"type":"nvarchar","max_length":10,"precision":0,"scale":0,"collation_name":"SQL_Latin1_General_CP1_CI_AS","is_nullable":true,"leaf_offset":-2,"leaf_null_bit":2,"leaf_bit_position":0,"is_dropped":false,"is_uniqueifier":false,"is_sparse":false,"key_ordinal":0,"has_default":false,"default_value":null}]})json",
     "0x300004000200FE01000D006100", R"json({"record_type":"primary","columns":{"t1":"a","t2":null}})json"},
    {"16-record-A-three-off-row-pointers.json",
     R"json({"schema":"dbo","table":"LobTest","compression":"none","columns":[{"name":"Column1","column_id":1,"type":"int","max_length":4,"precision":10,"scale":0,"collation_name":null,"is_nullable":true,"leaf_offset":4,"leaf_null_bit":1,"leaf_bit_position":0,"is_dropped":false,"is_uniqueifier":false,"is_sparse":false,"key_ordinal":0,"has_default":false,"default_value":null},{"name":"Column2","column_id":2,"type":"varchar","max_length":8000,"precision":0,"scale":0,"collation_name":"SQL_Latin1_General_CP1_CI_AS","is_nullable":true,"leaf_offset":-1,"leaf_null_bit":2,"leaf_bit_position":0,"is_dropped":false,"is_uniqueifier":false,"is_sparse":false,"key_ordinal":0,"has_default":false,"default_value":null},{"name":"Column3","column_id":3,"type":"varchar","max_length":8000,"precision":0,"scale":0,"collation_name":"SQL_Latin1_General_CP1_CI_AS","is_nullable":true,"leaf_offset":-2,"leaf_null_bit":3,"leaf_bit_position":0,"is_dropped":false,"is_uniqueifier":false,"is_sparse":false,"key_ordinal":0,"has_default":false,"default_value":null},{"name":"Column4","column_id":4,"type":"varchar","max_length":-1,"precision":0,"scale":0,"collation_name":"SQL_Latin1_General_CP1_CI_AS","is_nullable":true,"leaf_offset":-3,"leaf_null_bit":4,"leaf_bit_position":0,"is_dropped":false,"is_uniqueifier":false,"is_sparse":false,"key_ordinal":0,"has_default":false,"default_value":null}]})json",
     "0x300008000100000004000003002B8043805B80020000000100000084670000401F00004F030000010000000200000001000000E14A00004"
     "01F00006803000001000000040000000100000029000000401F00005803000001000000",
     R"json({"record_type":"primary","columns":{"Column1":1,"Column2":{"off_row":{"kind":"row_overflow"}},"Column3":{"off_row":{"kind":"row_overflow"}},"Column4":{"off_row":{"kind":"lob_root"}}}})json"},
};

}  // namespace sqltail::test
