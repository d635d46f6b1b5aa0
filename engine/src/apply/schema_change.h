// The applier's reading of a Debezium schema change event (docs/events.md "Schema changes"): the
// table changes it holds, each column typed as the capture's change events type it.
#pragma once

#include <simdjson.h>

#include <string>
#include <string_view>
#include <vector>

#include "sqltail/engine/debezium_encoder.h"

namespace sqltail::engine {

struct SchemaChangeColumn {
  std::string name;
  std::string type_name;  // as the event gives it ("int identity")
  ConnectColumnType connect;
  bool key = false;  // named in primaryKeyColumnNames
};

// One entry of a schema change event's tableChanges (docs/events.md "Schema changes"); the capture
// side's logreader::TableChange is what the log says changed.
struct EventTableChange {
  std::string type;  // "CREATE", "ALTER" or "DROP" (anything else is refused)
  std::string id;    // "db"."schema"."table"
  std::string db, schema, table;
  std::vector<SchemaChangeColumn> columns;  // CREATE and ALTER: the table's whole structure afterwards
  // Non-empty: what is wrong with the table's columns (an unknown type name, ...). Kept apart so that a
  // change of a table the applier does not apply is no error.
  std::string column_error;
};

// The value of a schema change event, enveloped ({"schema", "payload"}) or not. `modes`: the capture's
// type mapping. False with a one-line `error` when it is not a schema change event this reads.
bool ParseSchemaChangeEvent(simdjson::dom::parser& parser, std::string_view value, const EncoderOptions& modes,
                            std::vector<EventTableChange>& out, std::string& error);

// "db"."schema"."table" (Debezium's TableId.toDoubleQuotedString: inner quotes doubled; a bare part
// is taken as it is) -> its parts. False when a quote is not closed or a part is followed by no dot.
bool SplitTableId(std::string_view id, std::vector<std::string>& parts);

}  // namespace sqltail::engine
