#include "sqltail/logreader/live_source.h"

namespace sqltail::logreader {

const char* const kCatalogQuery =
    "SELECT s.name AS schema_name, o.name AS table_name, o.object_id, p.index_id, p.partition_id, p.hobt_id,\n"
    "       au.allocation_unit_id, p.data_compression_desc, pc.partition_column_id,\n"
    "       c.name AS column_name, c.column_id, t.name AS type_name, pc.max_length, pc.precision, pc.scale,\n"
    "       pc.collation_name, pc.is_nullable, pc.leaf_offset, pc.leaf_null_bit, pc.leaf_bit_position,\n"
    "       pc.is_dropped, pc.is_uniqueifier, pc.is_sparse,\n"
    "       CAST(ISNULL(ic.key_ordinal, 0) AS tinyint) AS key_ordinal,\n"
    "       pc.has_default, CONVERT(nvarchar(4000), pc.default_value) AS default_value\n"
    "FROM sys.objects AS o\n"
    "JOIN sys.schemas AS s ON s.schema_id = o.schema_id\n"
    "JOIN sys.partitions AS p ON p.object_id = o.object_id AND p.index_id IN (0, 1)\n"
    "JOIN sys.allocation_units AS au ON au.container_id = p.hobt_id AND au.type = 1\n"
    "JOIN sys.system_internals_partition_columns AS pc ON pc.partition_id = p.partition_id\n"
    "JOIN sys.types AS t ON t.user_type_id = pc.system_type_id\n"
    "LEFT JOIN sys.columns AS c ON c.object_id = o.object_id AND c.column_id = pc.partition_column_id\n"
    "      AND pc.is_dropped = 0 AND pc.is_uniqueifier = 0\n"
    "LEFT JOIN sys.indexes AS pk ON pk.object_id = o.object_id AND pk.is_primary_key = 1\n"
    "LEFT JOIN sys.index_columns AS ic ON ic.object_id = pk.object_id AND ic.index_id = pk.index_id\n"
    "      AND ic.column_id = c.column_id AND ic.key_ordinal > 0\n"
    "WHERE o.type = 'U' AND o.is_ms_shipped = 0\n"
    "ORDER BY au.allocation_unit_id, pc.partition_column_id";

std::string FnDblogQuery(Lsn from, size_t max_rows) {
  std::string sql = "SELECT TOP (" + std::to_string(max_rows) +
                    ") [Current LSN], [Operation], [Context], [Transaction ID], [Log Record Length], "
                    "[AllocUnitId], [PartitionId], [Page ID], [Slot ID], [Log Record] FROM sys.fn_dblog(";
  sql += from.IsZero() ? std::string("NULL") : "N'" + from.ToHexArgument() + "'";
  sql += ", NULL)";
  return sql;
}

namespace {

class LiveSource final : public LogSource {
 public:
  explicit LiveSource(tds::Connection connection) : connection_(std::move(connection)) {}

  bool ReadCatalog(Catalog& out, std::string& error) override {
    std::vector<CatalogQueryRow> rows;
    std::string row_error;
    auto tds_error = connection_.Execute(kCatalogQuery, [&](const tds::Row& row) {
      if (columns_.empty() && !ResolveCatalogColumns(row, row_error)) return false;
      CatalogQueryRow r;
      auto text = [&](int i) { return std::string(row.Text(columns_[i])); };
      auto integer = [&](int i) { return row.Int(columns_[i]).value_or(0); };
      r.schema_name = text(0);
      r.table_name = text(1);
      r.object_id = integer(2);
      r.index_id = static_cast<int>(integer(3));
      r.partition_id = static_cast<uint64_t>(integer(4));
      r.hobt_id = static_cast<uint64_t>(integer(5));
      r.allocation_unit_id = static_cast<uint64_t>(integer(6));
      r.data_compression_desc = text(7);
      r.partition_column_id = static_cast<int>(integer(8));
      ColumnLayout& c = r.column;
      if (!row.IsNull(columns_[9])) c.name = text(9);
      c.column_id = static_cast<int>(integer(10));
      c.type_name = text(11);
      c.max_length = static_cast<int>(integer(12));
      c.precision = static_cast<int>(integer(13));
      c.scale = static_cast<int>(integer(14));
      if (!row.IsNull(columns_[15])) c.collation_name = text(15);
      c.is_nullable = integer(16) != 0;
      c.leaf_offset = static_cast<int>(integer(17));
      c.leaf_null_bit = static_cast<int>(integer(18));
      c.leaf_bit_position = static_cast<int>(integer(19));
      c.is_dropped = integer(20) != 0;
      c.is_uniqueifier = integer(21) != 0;
      c.is_sparse = integer(22) != 0;
      c.key_ordinal = static_cast<int>(integer(23));
      c.has_default = integer(24) != 0;
      if (!row.IsNull(columns_[25])) c.default_value = text(25);
      rows.push_back(std::move(r));
      return true;
    });
    if (tds_error) {
      error = "catalog query: " + tds_error->ToString();
      return false;
    }
    if (!row_error.empty()) {
      error = row_error;
      return false;
    }
    auto catalog = Catalog::FromQueryRows(std::move(rows), error);
    if (!catalog) return false;
    catalog->database = connection_.options().database;
    out = std::move(*catalog);
    return true;
  }

  bool ReadLog(Lsn from, size_t max_rows, const RowHandler& on_row, size_t& delivered, std::string& error) override {
    delivered = 0;
    std::string row_error;
    int lsn_col = -1, record_col = -1, length_col = -1;
    auto tds_error = connection_.Execute(FnDblogQuery(from, max_rows), [&](const tds::Row& row) {
      if (lsn_col < 0) {
        lsn_col = row.ColumnIndex("Current LSN");
        record_col = row.ColumnIndex("Log Record");
        length_col = row.ColumnIndex("Log Record Length");
        if (lsn_col < 0 || record_col < 0) {
          row_error = "fn_dblog: the result has no [Current LSN] or [Log Record] column";
          return false;
        }
      }
      auto lsn = Lsn::Parse(row.Text(lsn_col));
      if (!lsn) {
        row_error = "fn_dblog: [Current LSN] '" + std::string(row.Text(lsn_col)) + "' is not an LSN";
        return false;
      }
      LogRow log_row{*lsn, row.Bytes(record_col),
                     length_col >= 0 ? static_cast<int>(row.Int(length_col).value_or(-1)) : -1};
      ++delivered;
      return on_row(log_row, row_error);
    });
    if (tds_error) {
      error = "fn_dblog: " + tds_error->ToString();
      return false;
    }
    if (!row_error.empty()) {
      error = row_error;
      return false;
    }
    return true;
  }

 private:
  bool ResolveCatalogColumns(const tds::Row& row, std::string& error) {
    static const char* const kNames[] = {"schema_name",
                                         "table_name",
                                         "object_id",
                                         "index_id",
                                         "partition_id",
                                         "hobt_id",
                                         "allocation_unit_id",
                                         "data_compression_desc",
                                         "partition_column_id",
                                         "column_name",
                                         "column_id",
                                         "type_name",
                                         "max_length",
                                         "precision",
                                         "scale",
                                         "collation_name",
                                         "is_nullable",
                                         "leaf_offset",
                                         "leaf_null_bit",
                                         "leaf_bit_position",
                                         "is_dropped",
                                         "is_uniqueifier",
                                         "is_sparse",
                                         "key_ordinal",
                                         "has_default",
                                         "default_value"};
    for (const char* name : kNames) {
      int index = row.ColumnIndex(name);
      if (index < 0) {
        error = std::string("catalog query: the result has no column '") + name + "'";
        columns_.clear();
        return false;
      }
      columns_.push_back(index);
    }
    return true;
  }

  tds::Connection connection_;
  std::vector<int> columns_;
};

}  // namespace

std::unique_ptr<LogSource> OpenLiveSource(const tds::ConnectOptions& options) {
  return std::make_unique<LiveSource>(tds::Connection::Connect(options));
}

}  // namespace sqltail::logreader
