#include "sqltail/engine/prepare.h"

#include <algorithm>

#include "sqltail/logreader/catalog.h"
#include "sqltail/logreader/live_source.h"
#include "sqltail/tds/connection.h"

namespace sqltail::engine {

const char* const kSourceFactsQuery =
    "SELECT CAST(d.recovery_model_desc AS nvarchar(60)) AS recovery_model,"
    " CAST(SERVERPROPERTY('EngineEdition') AS int) AS engine_edition,"
    " CAST(IS_SRVROLEMEMBER('sysadmin') AS int) AS is_sysadmin,"
    " CAST(IS_MEMBER('db_owner') AS int) AS is_db_owner,"
    " CAST(HAS_PERMS_BY_NAME('sys.fn_dblog', 'OBJECT', 'SELECT') AS int) AS can_select_fn_dblog,"
    " CAST(HAS_PERMS_BY_NAME(NULL, NULL, 'VIEW SERVER STATE') AS int) AS has_view_server_state,"
    " CAST(d.is_published AS int) AS is_published,"
    " CAST(d.is_cdc_enabled AS int) AS is_cdc_enabled,"
    " CAST(d.log_reuse_wait_desc AS nvarchar(60)) AS log_reuse_wait"
    " FROM sys.databases AS d WHERE d.name = DB_NAME()";

// Separate queries: msdb and sys.servers may be closed to a least-privilege login, and one denied
// SELECT must not hide the other facts.
const char* const kFullBackupsQuery =
    "SELECT COUNT(*) AS sqltail_full_backups FROM msdb.dbo.backupset WHERE database_name = DB_NAME() AND type = 'D'";
const char* const kDistributorQuery =
    "SELECT COUNT(*) AS sqltail_distributors FROM sys.servers WHERE is_distributor = 1";

const char* const kPrepareTablesQuery =
    "SELECT s.name AS schema_name, t.name AS table_name,"
    " CAST(CASE WHEN EXISTS (SELECT 1 FROM sys.indexes AS i WHERE i.object_id = t.object_id AND i.is_primary_key = 1)"
    " THEN 1 ELSE 0 END AS int) AS has_primary_key,"
    " CAST(t.is_replicated AS int) AS is_replicated,"
    " CAST(t.is_tracked_by_cdc AS int) AS is_tracked_by_cdc"
    " FROM sys.tables AS t JOIN sys.schemas AS s ON s.schema_id = t.schema_id"
    " WHERE t.is_ms_shipped = 0 AND s.name <> N'cdc'"
    " ORDER BY s.name, t.name";

namespace {

std::optional<bool> Flag(const tds::Row& row, const char* column) {
  int i = row.ColumnIndex(column);
  if (i < 0) return std::nullopt;
  auto value = row.Int(i);
  if (!value) return std::nullopt;  // NULL: HAS_PERMS_BY_NAME and IS_MEMBER say "unknown" this way
  return *value != 0;
}

std::optional<std::string> Text(const tds::Row& row, const char* column) {
  int i = row.ColumnIndex(column);
  if (i < 0 || row.IsNull(i)) return std::nullopt;
  return std::string(row.Text(i));
}

std::optional<int64_t> Count(tds::Connection& source, const char* sql, const char* column,
                             std::vector<std::string>& unreadable, const char* what) {
  std::optional<int64_t> count;
  auto error = source.Execute(sql, [&](const tds::Row& row) {
    int i = row.ColumnIndex(column);
    if (i >= 0) count = row.Int(i);
    return true;
  });
  if (error) {
    unreadable.push_back(std::string(what) + ": " + error->ToString());
    return std::nullopt;
  }
  if (!count) unreadable.push_back(std::string(what) + ": the query returned no count");
  return count;
}

void Add(PreparePlan& plan, FindingStatus status, std::string what, std::string detail) {
  // The capture refuses to start with log_safeguard = open_transaction on an ADR database.
  const bool essential = what == "recovery model" || what == "full backup" || what == "permissions" ||
                         what == "log safeguard: accelerated database recovery";
  plan.findings.push_back(Finding{status, std::move(what), std::move(detail), essential});
}

std::string TableName(const SourceFacts::Table& t) { return t.schema + "." + t.name; }

}  // namespace

std::string SqlUnicodeLiteral(const std::string& text) {
  std::string out = "N'";
  for (char c : text) {
    out += c;
    if (c == '\'') out += '\'';
  }
  return out + "'";
}

std::string SqlQuotedName(const std::string& name) {
  std::string out = "[";
  for (char c : name) {
    out += c;
    if (c == ']') out += ']';
  }
  return out + "]";
}

SourceFacts ReadSourceFacts(tds::Connection& source, const std::vector<std::string>& table_include,
                            const std::vector<std::string>& table_exclude) {
  SourceFacts facts;
  facts.database = source.options().database;
  bool got_row = false;
  auto error = source.Execute(kSourceFactsQuery, [&](const tds::Row& row) {
    got_row = true;
    facts.recovery_model = Text(row, "recovery_model");
    if (int i = row.ColumnIndex("engine_edition"); i >= 0) {
      if (auto v = row.Int(i)) facts.engine_edition = static_cast<int>(*v);
    }
    facts.is_sysadmin = Flag(row, "is_sysadmin");
    facts.is_db_owner = Flag(row, "is_db_owner");
    facts.can_select_fn_dblog = Flag(row, "can_select_fn_dblog");
    facts.has_view_server_state = Flag(row, "has_view_server_state");
    facts.is_published = Flag(row, "is_published");
    facts.is_cdc_enabled = Flag(row, "is_cdc_enabled");
    facts.log_reuse_wait = Text(row, "log_reuse_wait");
    return false;
  });
  if (error) {
    facts.unreadable.push_back("database facts (sys.databases, permissions): " + error->ToString());
  } else if (!got_row) {
    facts.unreadable.push_back("database facts: sys.databases has no row for DB_NAME()");
  }
  facts.full_backups =
      Count(source, kFullBackupsQuery, "sqltail_full_backups", facts.unreadable, "full backups (msdb.dbo.backupset)");
  if (auto n = Count(source, kDistributorQuery, "sqltail_distributors", facts.unreadable,
                     "replication distributor (sys.servers)")) {
    facts.distributor_configured = *n > 0;
  }

  std::vector<SourceFacts::Table> tables;
  error = source.Execute(kPrepareTablesQuery, [&](const tds::Row& row) {
    SourceFacts::Table t;
    t.schema = Text(row, "schema_name").value_or("");
    t.name = Text(row, "table_name").value_or("");
    t.has_primary_key = Flag(row, "has_primary_key").value_or(false);
    t.is_replicated = Flag(row, "is_replicated").value_or(false);
    t.is_tracked_by_cdc = Flag(row, "is_tracked_by_cdc").value_or(false);
    tables.push_back(std::move(t));
    return true;
  });
  if (error) {
    facts.unreadable.push_back("tables (sys.tables): " + error->ToString());
    return facts;
  }
  facts.tables_known = true;
  for (auto& t : tables) {
    const std::string qualified = TableName(t);
    bool included = table_include.empty();
    for (const auto& p : table_include) included = included || logreader::WildcardMatch(p, qualified);
    for (const auto& p : table_exclude) included = included && !logreader::WildcardMatch(p, qualified);
    if (included) facts.tables.push_back(std::move(t));
  }
  return facts;
}

bool PreparePlan::Complete() const {
  return std::all_of(findings.begin(), findings.end(), [](const Finding& f) { return f.status == FindingStatus::kOk; });
}

void ReadSafeguardFacts(tds::Connection& source, const std::string& schema, const std::string& table,
                        SourceFacts& facts) {
  auto& g = facts.safeguard;
  g.wanted = true;
  g.schema = schema;
  g.table = table;
  const std::string name = SqlQuotedName(schema) + "." + SqlQuotedName(table);
  const std::string sql = "SELECT CAST(CASE WHEN OBJECT_ID(" + SqlUnicodeLiteral(name) +
                          ", N'U') IS NULL THEN 0 ELSE 1 END AS int) AS table_exists,"
                          " CAST(HAS_PERMS_BY_NAME(DB_NAME(), 'DATABASE', 'CREATE TABLE') AS int) AS can_create_table,"
                          " CAST(HAS_PERMS_BY_NAME(" +
                          SqlUnicodeLiteral(schema) + ", 'SCHEMA', 'ALTER') AS int) AS can_alter_schema";
  if (auto error = source.Execute(sql, [&](const tds::Row& row) {
        g.table_exists = Flag(row, "table_exists");
        g.can_create_table = Flag(row, "can_create_table");
        g.can_alter_schema = Flag(row, "can_alter_schema");
        return false;
      })) {
    facts.unreadable.push_back("log safeguard table: " + error->ToString());
  }
  if (auto error = source.Execute(logreader::kSafeguardAdrQuery, [&](const tds::Row& row) {
        g.adr_on = Flag(row, "adr_on");
        return false;
      })) {
    facts.unreadable.push_back("accelerated database recovery: " + error->ToString());
  }
}

namespace {

void PlanSafeguard(const SourceFacts& facts, PreparePlan& plan);

}  // namespace

PreparePlan PlanPrepare(const SourceFacts& facts, const PrepareOptions& options) {
  PreparePlan plan;
  const std::string db = facts.database;
  const std::string publication = options.publication.empty() ? "sqltail_" + db : options.publication;

  for (const auto& note : facts.unreadable) Add(plan, FindingStatus::kUnknown, "source query", note);

  // The log must keep what sqltail has not read yet: SIMPLE recovery truncates it at each checkpoint.
  if (!facts.recovery_model) {
    Add(plan, FindingStatus::kUnknown, "recovery model", "could not be read");
  } else if (*facts.recovery_model == "SIMPLE") {
    Add(plan, FindingStatus::kMissing, "recovery model",
        "SIMPLE truncates the log at every checkpoint, before sqltail has read it; prepare sets FULL (then take a "
        "full backup: the log chain starts there)");
    plan.statements.push_back("ALTER DATABASE " + SqlQuotedName(db) + " SET RECOVERY FULL");
  } else {
    Add(plan, FindingStatus::kOk, "recovery model", *facts.recovery_model);
  }

  if (!facts.full_backups) {
    Add(plan, FindingStatus::kUnknown, "full backup", "msdb.dbo.backupset could not be read");
  } else if (*facts.full_backups == 0) {
    Add(plan, FindingStatus::kMissing, "full backup",
        "no full database backup is recorded in msdb: until one is taken, FULL recovery behaves like SIMPLE and the "
        "log is truncated at checkpoints; prepare does not take backups (your backup policy decides where)");
  } else {
    Add(plan, FindingStatus::kOk, "full backup", std::to_string(*facts.full_backups) + " recorded");
  }

  // Permissions of the login sqltail runs as (docs/operator-guide.md "Least privilege").
  if (facts.is_sysadmin.value_or(false)) {
    Add(plan, FindingStatus::kOk, "permissions", "sysadmin");
  } else if (!facts.is_sysadmin || !facts.is_db_owner || !facts.can_select_fn_dblog) {
    Add(plan, FindingStatus::kUnknown, "permissions", "role membership or SELECT on sys.fn_dblog could not be read");
  } else if (!*facts.can_select_fn_dblog || !*facts.is_db_owner) {
    Add(plan, FindingStatus::kMissing, "permissions",
        std::string("the login needs db_owner in the database and SELECT on sys.fn_dblog (missing: ") +
            (!*facts.is_db_owner ? "db_owner" : "") + (!*facts.is_db_owner && !*facts.can_select_fn_dblog ? ", " : "") +
            (!*facts.can_select_fn_dblog ? "SELECT on sys.fn_dblog" : "") + "); a DBA grants them, prepare does not");
  } else {
    Add(plan, FindingStatus::kOk, "permissions",
        "db_owner and SELECT on sys.fn_dblog (reading log backups with fn_dump_dblog may need sysadmin: unconfirmed)");
  }
  if (!facts.has_view_server_state) {
    Add(plan, FindingStatus::kUnknown, "VIEW SERVER STATE", "could not be read");
  } else if (!*facts.has_view_server_state) {
    Add(plan, FindingStatus::kMissing, "VIEW SERVER STATE",
        std::string("needed for the log statistics behind lag metrics and truncation detection") +
            (facts.safeguard.wanted ? ", and by log_safeguard = open_transaction to read its transaction's begin LSN "
                                      "(sys.dm_tran_session_transactions, sys.dm_tran_database_transactions)"
                                    : "") +
            "; GRANT VIEW SERVER STATE TO <login>");
  } else {
    Add(plan, FindingStatus::kOk, "VIEW SERVER STATE", "granted");
  }
  PlanSafeguard(facts, plan);

  if (!facts.tables_known) {
    Add(plan, FindingStatus::kUnknown, "tables", "sys.tables could not be read");
    return plan;
  }
  if (facts.tables.empty()) {
    Add(plan, FindingStatus::kMissing, "tables", "capture.table_include / table_exclude select no table");
    return plan;
  }

  // Complete update images need supplemental logging: a transactional publication for tables with a
  // primary key, CDC for the others (anchors-products.md §1: what every log reader does).
  std::vector<const SourceFacts::Table*> need_article, need_cdc;
  for (const auto& t : facts.tables) {
    if (t.has_primary_key) {
      if (t.is_replicated) {
        Add(plan, FindingStatus::kOk, "table " + TableName(t), "primary key; published");
      } else {
        need_article.push_back(&t);
      }
    } else if (t.is_tracked_by_cdc) {
      Add(plan, FindingStatus::kOk, "table " + TableName(t), "no primary key; CDC enabled");
    } else {
      need_cdc.push_back(&t);
    }
  }

  if (!need_article.empty()) {
    if (facts.distributor_configured && !*facts.distributor_configured && !facts.is_published.value_or(false)) {
      Add(plan, FindingStatus::kMissing, "replication distributor",
          "publishing the database needs a configured distributor (sp_adddistributor, sp_adddistributiondb, "
          "sp_adddistpublisher); prepare leaves distribution to the DBA and plans no replication statements");
      for (const auto* t : need_article) {
        Add(plan, FindingStatus::kMissing, "table " + TableName(*t),
            "primary key but not published: updates may lack full row images (columns then arrive as unavailable)");
      }
    } else {
      if (!facts.is_published.value_or(false)) {
        plan.statements.push_back("EXEC sp_replicationdboption @dbname = " + SqlUnicodeLiteral(db) +
                                  ", @optname = N'publish', @value = N'true'");
      }
      // The publication is only a logging switch: no agents, no subscribers.
      plan.statements.push_back(
          "IF NOT EXISTS (SELECT 1 FROM dbo.syspublications WHERE name = " + SqlUnicodeLiteral(publication) +
          ") EXEC sp_addpublication @publication = " + SqlUnicodeLiteral(publication) +
          ", @status = N'active', @repl_freq = N'continuous', @independent_agent = N'true', @immediate_sync = "
          "N'false'");
      for (const auto* t : need_article) {
        Add(plan, FindingStatus::kMissing, "table " + TableName(*t),
            "primary key but not published: prepare adds it to publication " + publication);
        plan.statements.push_back("EXEC sp_addarticle @publication = " + SqlUnicodeLiteral(publication) +
                                  ", @article = " + SqlUnicodeLiteral(t->schema + "_" + t->name) +
                                  ", @source_owner = " + SqlUnicodeLiteral(t->schema) +
                                  ", @source_object = " + SqlUnicodeLiteral(t->name));
      }
    }
  }

  if (!need_cdc.empty()) {
    if (facts.engine_edition && *facts.engine_edition == 4) {
      for (const auto* t : need_cdc) {
        Add(plan, FindingStatus::kMissing, "table " + TableName(*t),
            "no primary key and CDC is not available on Express: updates may lack full row images (unavailable "
            "columns); add a primary key to publish it instead");
      }
    } else {
      if (!facts.is_cdc_enabled.value_or(false)) plan.statements.push_back("EXEC sys.sp_cdc_enable_db");
      for (const auto* t : need_cdc) {
        Add(plan, FindingStatus::kMissing, "table " + TableName(*t),
            "no primary key and no CDC: prepare enables CDC on it (SQL Server Agent runs its capture job)");
        plan.statements.push_back("EXEC sys.sp_cdc_enable_table @source_schema = " + SqlUnicodeLiteral(t->schema) +
                                  ", @source_name = " + SqlUnicodeLiteral(t->name) + ", @role_name = NULL");
      }
    }
  }
  return plan;
}

std::string FormatFindings(const PreparePlan& plan) {
  std::string out;
  for (const auto& f : plan.findings) {
    out += f.status == FindingStatus::kOk ? "ok " : f.status == FindingStatus::kMissing ? "MISSING " : "UNKNOWN ";
    out += f.what + ": " + f.detail + "\n";
  }
  return out;
}

bool ExecutePlan(tds::Connection& source, const PreparePlan& plan, std::vector<std::string>& executed,
                 std::string& error) {
  for (const auto& statement : plan.statements) {
    if (auto failure = source.Execute(statement)) {
      error = "prepare: '" + statement + "' failed: " + failure->ToString();
      return false;
    }
    executed.push_back(statement);
  }
  return true;
}

namespace {

// capture.log_safeguard = open_transaction (docs/operator-guide.md "Who lets the log be truncated").
void PlanSafeguard(const SourceFacts& facts, PreparePlan& plan) {
  const auto& g = facts.safeguard;
  if (!g.wanted) return;
  const std::string name = g.schema + "." + g.table;
  if (!g.adr_on) {
    Add(plan, FindingStatus::kUnknown, "log safeguard: accelerated database recovery", "could not be read");
  } else if (*g.adr_on) {
    Add(plan, FindingStatus::kMissing, "log safeguard: accelerated database recovery",
        "is on: SQL Server then truncates the log past open transactions, so log_safeguard = open_transaction "
        "holds nothing and the capture refuses to start with it; use repldone or none");
  } else {
    Add(plan, FindingStatus::kOk, "log safeguard: accelerated database recovery", "off");
  }
  if (!g.table_exists) {
    Add(plan, FindingStatus::kUnknown, "log safeguard table " + name, "could not be read");
  } else if (*g.table_exists) {
    Add(plan, FindingStatus::kOk, "log safeguard table " + name,
        "exists (the capture's login needs SELECT, INSERT and UPDATE on it)");
  } else if (g.can_create_table.value_or(false) && g.can_alter_schema.value_or(false)) {
    Add(plan, FindingStatus::kOk, "log safeguard table " + name,
        "missing; the capture creates it at start (the login has CREATE TABLE and ALTER on schema " + g.schema + ")");
  } else {
    Add(plan, FindingStatus::kMissing, "log safeguard table " + name,
        "missing, and the login may not create it (CREATE TABLE in the database and ALTER on schema " + g.schema +
            "): prepare creates it");
    logreader::LogHoldOptions hold;
    hold.schema = g.schema;
    hold.table = g.table;
    plan.statements.push_back(logreader::SafeguardCreateBatch(hold));
  }
}

}  // namespace

}  // namespace sqltail::engine
