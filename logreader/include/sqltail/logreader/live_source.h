// The live log source: the catalog query and fn_dblog over a TDS connection (FreeTDS db-lib).
#pragma once

#include <memory>
#include <string>

#include "sqltail/logreader/log_source.h"
#include "sqltail/tds/connection.h"

namespace sqltail::logreader {

// The catalog query (docs/fixture-format.md "The catalog query").
extern const char* const kCatalogQuery;

// Builds the fn_dblog batch: TOP (max_rows) of the reader's columns from `from` (NULL when zero).
std::string FnDblogQuery(Lsn from, size_t max_rows);

// Connects (throws tds::TdsException with a one-line message on failure).
std::unique_ptr<LogSource> OpenLiveSource(const tds::ConnectOptions& options);

}  // namespace sqltail::logreader
