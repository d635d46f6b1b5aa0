#include "sqltail/logreader/live_source.h"

#include <algorithm>
#include <chrono>
#include <cstdint>
#include <cstdio>
#include <exception>
#include <optional>

namespace sqltail::logreader {

const char* const kCatalogQuery =
    "SELECT s.name AS schema_name, o.name AS table_name, o.object_id, p.index_id, p.partition_id, p.hobt_id,\n"
    "       au.allocation_unit_id, p.data_compression_desc, pc.partition_column_id,\n"
    "       c.name AS column_name, c.column_id, t.name AS type_name, pc.max_length, pc.precision, pc.scale,\n"
    "       pc.collation_name, pc.is_nullable, pc.leaf_offset, pc.leaf_null_bit, pc.leaf_bit_position,\n"
    "       pc.is_dropped, pc.is_uniqueifier, pc.is_sparse,\n"
    "       CAST(ISNULL(ic.key_ordinal, 0) AS tinyint) AS key_ordinal,\n"
    "       pc.has_default, CONVERT(nvarchar(4000), pc.default_value) AS default_value,\n"
    "       c.is_identity, c.is_computed, CONVERT(nvarchar(4000), dc.definition) AS default_definition\n"
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
    "LEFT JOIN sys.default_constraints AS dc ON dc.object_id = c.default_object_id\n"
    "WHERE o.type = 'U' AND o.is_ms_shipped = 0\n"
    "ORDER BY au.allocation_unit_id, pc.partition_column_id";

// The system base tables whose rows describe tables, columns and indexes (log-internals.md section
// 6): a transaction that writes one may have changed a captured table. Those holding row counts,
// allocations and column statistics (sysrowsets, sysallocunits, sysrscols) are left out: ordinary
// DML writes them too. That system base tables appear in sys.objects (type S) and sys.partitions is
// [UNCONFIRMED] on a real server; without rows, only transaction names tell (docs/operator-guide.md).
const char* const kSystemAllocationUnitsQuery =
    "SELECT N'sys.' + o.name AS table_name, au.allocation_unit_id\n"
    "FROM sys.objects AS o\n"
    "JOIN sys.partitions AS p ON p.object_id = o.object_id\n"
    "JOIN sys.allocation_units AS au ON au.container_id = p.hobt_id AND au.type IN (1, 3)\n"
    "WHERE o.type = 'S' AND o.name IN (N'sysschobjs', N'syscolpars', N'sysidxstats', N'sysiscols')\n"
    "ORDER BY au.allocation_unit_id";

const char* const kLogStatsQuery = "SELECT log_min_lsn, log_end_lsn FROM sys.dm_db_log_stats(DB_ID())";

namespace {

// Only what the reader uses: the operation, context, transaction, allocation unit and page are
// parsed from [Log Record] itself, so asking for fn_dblog's text columns too would only have the
// server format them and FreeTDS convert them (about a fifth of the reader's time, docs/benchmarks.md).
const char* const kLogColumns = "[Current LSN], [Log Record Length], [Log Record]";

// N'...' with embedded quotes doubled: file names come from msdb and are not trusted.
void AppendNString(std::string& sql, std::string_view text) {
  sql += "N'";
  for (char c : text) {
    if (c == '\'') sql += '\'';
    sql += c;
  }
  sql += '\'';
}

std::string StartArgument(Lsn from) { return from.IsZero() ? std::string("NULL") : "N'" + from.ToHexArgument() + "'"; }

}  // namespace

std::string FnDblogQuery(Lsn from, size_t max_rows) {
  std::string sql = "SELECT TOP (" + std::to_string(max_rows) + ") ";
  sql += kLogColumns;
  sql += " FROM sys.fn_dblog(";
  sql += StartArgument(from);
  sql += ", NULL)";
  return sql;
}

std::string RepldoneBatch(Lsn begin, Lsn commit) {
  auto binary = [](Lsn lsn) {
    char text[24];
    std::snprintf(text, sizeof text, "0x%08X%08X%04X", lsn.vlf(), lsn.block(), static_cast<unsigned>(lsn.slot()));
    return std::string(text);
  };
  return "EXEC sp_repldone @xactid = " + binary(begin) + ", @xact_seqno = " + binary(commit) +
         ", @numtrans = 0, @time = 0, @reset = 0";
}

std::string FnDumpDblogQuery(Lsn from, size_t max_rows, const LogBackup& backup) {
  // 68 positional parameters: start, end, device type, backup set number, 64 file names
  // (log-internals.md section 1.1); unused file names are DEFAULT.
  std::string sql = "SELECT TOP (" + std::to_string(max_rows) + ") ";
  sql += kLogColumns;
  sql += " FROM sys.fn_dump_dblog(";
  sql += StartArgument(from);
  sql += ", NULL, N'DISK', " + std::to_string(backup.position);
  for (size_t i = 0; i < 64; ++i) {
    sql += ", ";
    if (i < backup.files.size()) {
      AppendNString(sql, backup.files[i]);
    } else {
      sql += "DEFAULT";
    }
  }
  sql += ")";
  return sql;
}

std::string LogBackupsQuery(const std::string& database, Lsn after) {
  std::string sql =
      "SELECT bs.backup_set_id, CAST(bs.first_lsn AS nvarchar(30)) AS first_lsn,\n"
      "       CAST(bs.last_lsn AS nvarchar(30)) AS last_lsn, bs.position, bmf.family_sequence_number,\n"
      "       bmf.physical_device_name\n"
      "FROM msdb.dbo.backupset AS bs\n"
      "JOIN msdb.dbo.backupmediafamily AS bmf ON bmf.media_set_id = bs.media_set_id\n"
      "WHERE bs.type = 'L' AND bs.database_name = ";
  AppendNString(sql, database);
  sql += " AND bs.last_lsn > " + after.ToNumeric() + "\n";
  sql += "ORDER BY bs.first_lsn, bs.backup_set_id, bmf.family_sequence_number";
  return sql;
}

namespace {

class LiveSource final : public LogSource {
 public:
  LiveSource(tds::Connection connection, LiveSourceOptions options, std::optional<LogBackup> only_backup)
      : connection_(std::move(connection)), options_(std::move(options)), only_backup_(std::move(only_backup)) {}

  bool ReadCatalog(Catalog& out, std::string& error) override {
    if (!streaming_) return ReadCatalogOn(connection_, /*primary=*/true, out, error);
    // A schema change found while fn_dblog's rows stream in: the main connection is busy with
    // them, so the catalog is read on a second one (opened on first use, kept for the next).
    for (int attempt = 0; attempt < 2; ++attempt) {
      if (!side_) {
        try {
          side_.emplace(tds::Connection::Connect(connection_.options()));
        } catch (const std::exception& e) {
          error = std::string("catalog query: opening a second connection: ") + e.what();
          return false;
        }
      }
      if (ReadCatalogOn(*side_, /*primary=*/false, out, error)) return true;
      side_.reset();  // a fresh connection for the second attempt
    }
    return false;
  }

  bool ReadCatalogOn(tds::Connection& connection, bool primary, Catalog& out, std::string& error) {
    std::vector<CatalogQueryRow> rows;
    std::string row_error;
    std::optional<tds::TdsError> tds_error;
    auto run = [&]() {
      rows.clear();
      columns_.clear();
      row_error.clear();
      tds_error = connection.Execute(kCatalogQuery, [&](const tds::Row& row) {
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
        // NULL for the uniquifier and dropped columns (no sys.columns row): unknown.
        if (!row.IsNull(columns_[26])) c.is_identity = integer(26) != 0;
        if (!row.IsNull(columns_[27])) c.is_computed = integer(27) != 0;
        if (!row.IsNull(columns_[28])) c.default_definition = text(28);
        rows.push_back(std::move(r));
        return true;
      });
    };
    run();
    while (primary && tds_error && row_error.empty() && Reconnectable(*tds_error)) {
      if (!Reconnect(*tds_error, error)) return false;
      run();
    }
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
    // Not fatal: without them transaction names still mark DDL (capture warns).
    std::vector<SystemAllocationUnit> units;
    auto units_error = connection.Execute(kSystemAllocationUnitsQuery, [&](const tds::Row& row) {
      const int name = row.ColumnIndex("table_name"), unit = row.ColumnIndex("allocation_unit_id");
      if (name < 0 || unit < 0) return false;
      units.push_back({std::string(row.Text(name)), static_cast<uint64_t>(row.Int(unit).value_or(0))});
      return true;
    });
    if (units_error) {
      catalog->system_allocation_units_error = "system allocation units query: " + units_error->ToString();
    } else if (units.empty()) {
      catalog->system_allocation_units_error = "system allocation units query: no rows";
    }
    catalog->SetSystemAllocationUnits(std::move(units));
    out = std::move(*catalog);
    return true;
  }

  bool ReadLog(Lsn from, size_t max_rows, const RowHandler& on_row, size_t& delivered, std::string& error) override {
    delivered = 0;
    std::optional<Lsn> last;  // the last LSN handed to on_row by this call
    Lsn position = from;
    while (delivered < max_rows) {
      Segment segment;
      if (!Locate(position, segment, error)) return false;
      const size_t wanted = max_rows - delivered;
      bool exhausted = false;
      bool stopped = false;
      if (!ReadSegment(segment, position, wanted, last, on_row, delivered, exhausted, stopped, error)) return false;
      if (stopped || segment.kind != Segment::kBackup) return true;
      // A backup that returned fewer rows than asked for is exhausted: continue after it (into the
      // next backup or the active log) in this same call, so the reader never sees a false idle.
      if (!exhausted) return true;
      if (segment.backup.last_lsn <= position) {
        error = "log backup " + segment.backup.files.front() + ": msdb says it ends at " +
                segment.backup.last_lsn.ToString() + ", not after " + position.ToString();
        return false;
      }
      position = segment.backup.last_lsn;
      Info("log backup " + segment.backup.files.front() + " read up to " + position.ToString());
    }
    return true;
  }

  SourceHealth Health() const override { return health_; }

  std::unique_ptr<LogHolder> OpenHolder(const LogHoldOptions& options, std::string& /*error*/) override {
    return OpenLiveHolder(connection_.options(), options, options_.log);
  }

  bool MarkCaptured(Lsn begin, Lsn commit, std::string& error) override {
    const std::string batch = RepldoneBatch(begin, commit);
    auto run = [&]() { return connection_.Execute(batch, [](const tds::Row&) { return true; }); };
    auto tds_error = run();
    while (tds_error && Reconnectable(*tds_error)) {
      if (!Reconnect(*tds_error, error)) return false;
      tds_error = run();
    }
    if (tds_error) {
      error = "sp_repldone up to the transaction committed at " + commit.ToString() + ": " + tds_error->ToString();
      return false;
    }
    return true;
  }

 private:
  // Where the rows from a position come from: the active log (fn_dblog), or a log backup.
  struct Segment {
    enum Kind { kActive, kBackup, kOnlyBackup } kind = kActive;
    LogBackup backup;
  };

  void Info(const std::string& message) const {
    if (options_.log) options_.log(message);
  }

  // A dropped connection or a timeout; not an error the server answered with.
  bool Reconnectable(const tds::TdsError& e) const {
    return connection_.IsDead() || e.dblib_code == tds::kDblibTimeout;
  }

  // Replaces the connection after `cause`; false with `error` when reconnecting is off or gives up.
  bool Reconnect(const tds::TdsError& cause, std::string& error) {
    if (!connection_.IsDead() && cause.dblib_code != tds::kDblibTimeout) {
      error = cause.ToString();
      return false;
    }
    if (options_.reconnect_max_s <= 0) {
      error = cause.ToString() + " (source.reconnect_max_s = 0: no reconnect)";
      return false;
    }
    Info("lost the connection to " + connection_.Where() + " (" + cause.ToString() + "): reconnecting for up to " +
         std::to_string(options_.reconnect_max_s) + " s");
    tds::RetryPolicy policy;
    policy.initial_backoff = std::chrono::milliseconds(std::max(1, options_.reconnect_initial_ms));
    policy.max_backoff =
        std::chrono::milliseconds(std::max(options_.reconnect_initial_ms, options_.reconnect_backoff_max_ms));
    policy.give_up_after = std::chrono::seconds(options_.reconnect_max_s);
    const auto started = std::chrono::steady_clock::now();
    try {
      const tds::ConnectOptions connect = connection_.options();
      connection_ = tds::ConnectWithRetry(
          connect, policy, options_.should_stop, [&](const tds::TdsError& e, std::chrono::milliseconds wait) {
            Info("reconnect failed (" + e.ToString() + "); next attempt in " + std::to_string(wait.count()) + " ms");
          });
    } catch (const tds::TdsException& e) {
      error = cause.ToString() + "; reconnecting gave up: " + e.what();
      return false;
    }
    ++health_.reconnects;
    stats_due_ = true;
    const auto took = std::chrono::duration_cast<std::chrono::milliseconds>(std::chrono::steady_clock::now() - started);
    Info("reconnected to " + connection_.Where() + " after " + std::to_string(took.count()) + " ms");
    return true;
  }

  // sys.dm_db_log_stats: the active log's bounds. A failure or an answer that does not parse makes
  // them unknown (the retention check is then unavailable), never an error of the read.
  bool RefreshLogStats(std::string& error) {
    std::optional<Lsn> min_lsn, end_lsn;
    std::string problem;
    auto run = [&]() {
      min_lsn.reset();
      end_lsn.reset();
      problem.clear();
      return connection_.Execute(kLogStatsQuery, [&](const tds::Row& row) {
        const int min_col = row.ColumnIndex("log_min_lsn");
        const int end_col = row.ColumnIndex("log_end_lsn");
        if (min_col < 0 || end_col < 0) {
          problem = "the answer has no log_min_lsn or log_end_lsn column";
          return false;
        }
        min_lsn = Lsn::Parse(row.Text(min_col));
        end_lsn = Lsn::Parse(row.Text(end_col));
        if (!min_lsn || !end_lsn) {
          problem = "log_min_lsn '" + std::string(row.Text(min_col)) + "' or log_end_lsn '" +
                    std::string(row.Text(end_col)) + "' is not an LSN";
        }
        return false;  // one row
      });
    };
    auto tds_error = run();
    while (tds_error && Reconnectable(*tds_error)) {
      if (!Reconnect(*tds_error, error)) return false;
      tds_error = run();
    }
    stats_due_ = false;
    last_stats_ = std::chrono::steady_clock::now();
    if (tds_error) problem = tds_error->ToString();
    if (problem.empty() && !min_lsn) problem = "no row";
    if (!problem.empty()) {
      if (health_.log_bounds_known || !stats_reported_) {
        Info("sys.dm_db_log_stats is unavailable (" + problem +
             "): no lag in LSNs and no check that the position is still in the active log");
        stats_reported_ = true;
      }
      health_.log_bounds_known = false;
      return true;
    }
    health_.log_bounds_known = true;
    health_.log_min_lsn = *min_lsn;
    health_.log_end_lsn = *end_lsn;
    return true;
  }

  // Finds where `position` is: the active log, or the log backup holding it.
  bool Locate(Lsn position, Segment& segment, std::string& error) {
    if (only_backup_) {
      segment.kind = Segment::kOnlyBackup;
      segment.backup = *only_backup_;
      return true;
    }
    const auto now = std::chrono::steady_clock::now();
    if (stats_due_ || now - last_stats_ >= std::chrono::milliseconds(options_.log_stats_interval_ms)) {
      if (!RefreshLogStats(error)) return false;
    }
    segment.kind = Segment::kActive;
    health_.position_lost = false;
    if (position.IsZero() || !health_.log_bounds_known || position >= health_.log_min_lsn) {
      if (in_backups_) Info("continuing in the active log at " + position.ToString());
      in_backups_ = false;
      return true;
    }
    const std::string why = "LSN " + position.ToString() + " is no longer in the active log, which begins at " +
                            health_.log_min_lsn.ToString() + " (sys.dm_db_log_stats.log_min_lsn)";
    if (!options_.read_log_backups) {
      error = why + ", and source.read_log_backups is off";
      health_.position_lost = true;
      return false;
    }
    const LogBackup* found = FindBackup(position);
    if (found == nullptr) {
      if (!LoadBackups(position, error)) return false;
      found = FindBackup(position);
    }
    if (found == nullptr) {
      Lsn next = health_.log_min_lsn;
      for (const auto& b : backups_) {
        if (b.first_lsn > position && b.first_lsn < next) next = b.first_lsn;
      }
      error = "the log from LSN " + position.ToString() + " up to " + next.ToString() +
              " is missing: it is no longer in the active log (which begins at " + health_.log_min_lsn.ToString() +
              ") and no log backup in msdb.dbo.backupset holds it";
      health_.position_lost = true;
      return false;
    }
    if (!in_backups_ || current_backup_file_ != found->files.front()) {
      Info(why + ": reading log backup " + found->files.front() + " (" + found->first_lsn.ToString() + " to " +
           found->last_lsn.ToString() + ")");
    }
    in_backups_ = true;
    current_backup_file_ = found->files.front();
    segment.kind = Segment::kBackup;
    segment.backup = *found;
    return true;
  }

  const LogBackup* FindBackup(Lsn position) const {
    for (const auto& b : backups_) {
      if (b.first_lsn <= position && position < b.last_lsn) return &b;
    }
    return nullptr;
  }

  // msdb's log backups of this database that end after `position`.
  bool LoadBackups(Lsn position, std::string& error) {
    const std::string database = connection_.options().database;
    std::vector<LogBackup> backups;
    std::string row_error;
    int64_t current_set = -1;
    int last_family = 0;
    auto run = [&]() {
      backups.clear();
      row_error.clear();
      current_set = -1;
      return connection_.Execute(LogBackupsQuery(database, position), [&](const tds::Row& row) {
        static const char* const kNames[] = {"backup_set_id",          "first_lsn",           "last_lsn", "position",
                                             "family_sequence_number", "physical_device_name"};
        int col[6];
        for (int i = 0; i < 6; ++i) {
          col[i] = row.ColumnIndex(kNames[i]);
          if (col[i] < 0) {
            row_error = std::string("msdb log backups: the answer has no column '") + kNames[i] + "'";
            return false;
          }
        }
        auto set_id = row.Int(col[0]);
        auto first = Lsn::Parse(row.Text(col[1]));
        auto last = Lsn::Parse(row.Text(col[2]));
        auto set_position = row.Int(col[3]);
        auto family = row.Int(col[4]);
        std::string file(row.Text(col[5]));
        if (!set_id || !first || !last || !set_position || !family || file.empty() || *first >= *last ||
            *set_position < 1 || *set_position > INT32_MAX) {
          row_error = "msdb log backups: a row of backup set " + (set_id ? std::to_string(*set_id) : "?") +
                      " is incomplete or out of range (first_lsn '" + std::string(row.Text(col[1])) + "', last_lsn '" +
                      std::string(row.Text(col[2])) + "', file '" + file + "')";
          return false;
        }
        if (*set_id != current_set) {
          current_set = *set_id;
          last_family = 0;
          backups.push_back({*first, *last, static_cast<int>(*set_position), {}});
        }
        // Families come in order, one file each; a repeated family is a mirrored media set.
        if (*family != last_family + 1 || backups.back().files.size() >= 64) {
          row_error = "msdb log backups: backup set " + std::to_string(*set_id) + " has media family " +
                      std::to_string(*family) + " after " + std::to_string(last_family) +
                      " (mirrored or incomplete media sets are not supported)";
          return false;
        }
        last_family = static_cast<int>(*family);
        backups.back().files.push_back(std::move(file));
        return true;
      });
    };
    auto tds_error = run();
    while (tds_error && row_error.empty() && Reconnectable(*tds_error)) {
      if (!Reconnect(*tds_error, error)) return false;
      tds_error = run();
    }
    if (!row_error.empty()) {
      error = row_error;
      return false;
    }
    if (tds_error) {
      error = "reading the log backups from msdb: " + tds_error->ToString();
      return false;
    }
    backups_ = std::move(backups);
    return true;
  }

  // Reads up to `wanted` new rows of one segment from `position`. Rows at or before `last` (already
  // delivered) are skipped, so a reconnect re-reads from the last LSN handed out without handing it
  // out twice. `exhausted`: the final query returned fewer rows than it asked for.
  bool ReadSegment(const Segment& segment, Lsn position, size_t wanted, std::optional<Lsn>& last,
                   const RowHandler& on_row, size_t& delivered, bool& exhausted, bool& stopped, std::string& error) {
    bool retried_after_server_error = false;
    while (true) {
      std::string row_error;
      int lsn_col = -1, record_col = -1, length_col = -1;
      // The start bound is inclusive: from the last row handed out (asking one more to make up for
      // it), unless that row lies before this segment (the previous one was a backup).
      const bool overlap = last && *last >= position;
      const Lsn start = overlap ? *last : position;
      const size_t ask = wanted + (overlap ? 1 : 0);
      size_t returned = 0;
      const size_t delivered_before = delivered;
      const bool backup = segment.kind != Segment::kActive;
      const char* function = backup ? "fn_dump_dblog" : "fn_dblog";
      streaming_ = true;  // ReadCatalog from inside on_row uses the second connection
      auto tds_error = connection_.Execute(
          backup ? FnDumpDblogQuery(start, ask, segment.backup) : FnDblogQuery(start, ask), [&](const tds::Row& row) {
            if (lsn_col < 0) {
              lsn_col = row.ColumnIndex("Current LSN");
              record_col = row.ColumnIndex("Log Record");
              length_col = row.ColumnIndex("Log Record Length");
              if (lsn_col < 0 || record_col < 0) {
                row_error = std::string(function) + ": the result has no [Current LSN] or [Log Record] column";
                return false;
              }
            }
            ++returned;
            auto lsn = Lsn::Parse(row.Text(lsn_col));
            if (!lsn) {
              row_error =
                  std::string(function) + ": [Current LSN] '" + std::string(row.Text(lsn_col)) + "' is not an LSN";
              return false;
            }
            if (*lsn < position || (last && *lsn <= *last)) return true;  // before the range, or handed out
            if (delivered - delivered_before >= wanted) return true;
            // [Log Record] is varbinary(8000): a longer record arrives cut to exactly 8,000 bytes, so
            // only then is [Log Record Length] needed to tell (decoding it is a cost on every row).
            const auto record = row.Bytes(record_col);
            int length = -1;
            if (length_col >= 0 && record.size() >= kMaxLogRecordColumnBytes) {
              // NULL, or a negative smallint (a length past 32,767?), cannot tell a cut record from a
              // whole one: say so rather than parse what may be a part.
              const std::optional<int64_t> value = row.Int(length_col);
              if (!value || *value < 0) {
                row_error = std::string(function) + ": log record " + lsn->ToString() + ": [Log Record] has " +
                            std::to_string(record.size()) + " bytes and [Log Record Length] is " +
                            (value ? std::to_string(*value) : std::string("NULL")) +
                            ": whether the record was cut is not known";
                return false;
              }
              length = static_cast<int>(*value);
            }
            LogRow log_row{*lsn, record, length};
            last = *lsn;
            ++delivered;
            if (backup && *lsn > newest_delivered_) ++health_.backup_rows;  // not the re-read first row
            newest_delivered_ = std::max(newest_delivered_, *lsn);
            if (!on_row(log_row, row_error)) {
              stopped = true;
              return false;
            }
            return true;
          });
      streaming_ = false;
      if (!row_error.empty()) {
        error = row_error;
        return false;
      }
      exhausted = returned < ask;
      if (stopped || !tds_error) return true;
      wanted -= std::min(wanted, delivered - delivered_before);
      if (Reconnectable(*tds_error)) {
        if (!Reconnect(*tds_error, error)) {
          error = std::string(function) + ": " + error;
          return false;
        }
        if (wanted == 0) return true;
        continue;
      }
      // A server error in the active log: the log may have been truncated since the last check of
      // its bounds. Check once more; the next Locate then moves to the backups.
      if (segment.kind == Segment::kActive && !retried_after_server_error && !position.IsZero()) {
        retried_after_server_error = true;
        std::string stats_error;
        if (RefreshLogStats(stats_error) && health_.log_bounds_known && position < health_.log_min_lsn) {
          error.clear();
          exhausted = false;  // the caller's next call locates again
          return true;
        }
      }
      error = std::string(function) + ": " + tds_error->ToString();
      return false;
    }
  }

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
                                         "default_value",
                                         "is_identity",
                                         "is_computed",
                                         "default_definition"};
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
  std::optional<tds::Connection> side_;  // catalog reads while connection_ streams fn_dblog's rows
  bool streaming_ = false;
  LiveSourceOptions options_;
  std::optional<LogBackup> only_backup_;  // logreader-dump --backup: this file, nothing else
  std::vector<int> columns_;
  SourceHealth health_;
  bool stats_due_ = true;
  bool stats_reported_ = false;
  std::chrono::steady_clock::time_point last_stats_{};
  Lsn newest_delivered_;            // the greatest LSN handed out so far
  std::vector<LogBackup> backups_;  // msdb's answer, cached until a position is in none of them
  bool in_backups_ = false;
  std::string current_backup_file_;
};

}  // namespace

std::unique_ptr<LogSource> OpenLiveSource(const tds::ConnectOptions& options, LiveSourceOptions live) {
  return std::make_unique<LiveSource>(tds::Connection::Connect(options), std::move(live), std::nullopt);
}

std::unique_ptr<LogSource> OpenBackupFileSource(const tds::ConnectOptions& options, LogBackup backup,
                                                LiveSourceOptions live) {
  return std::make_unique<LiveSource>(tds::Connection::Connect(options), std::move(live), std::move(backup));
}

}  // namespace sqltail::logreader
