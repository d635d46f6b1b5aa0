// `sqltail prepare`: what the source database needs before log capture gives complete events, and
// the T-SQL that provides it. Reading the facts and planning are separate so the plan is testable
// without a server; nothing is changed unless the caller executes the plan.
#pragma once

#include <cstdint>
#include <optional>
#include <string>
#include <vector>

namespace sqltail::tds {
class Connection;
}

namespace sqltail::engine {

// What the source says about itself. An unset optional means the query for it failed (typically a
// missing permission); `unreadable` then says which query and why.
struct SourceFacts {
  std::string database;
  std::optional<std::string> recovery_model;  // FULL | BULK_LOGGED | SIMPLE
  std::optional<int> engine_edition;          // SERVERPROPERTY('EngineEdition'): 4 = Express
  std::optional<bool> is_sysadmin, is_db_owner, can_select_fn_dblog, has_view_server_state;
  std::optional<bool> is_published, is_cdc_enabled;
  std::optional<std::string> log_reuse_wait;
  std::optional<int64_t> full_backups;  // full database backups recorded in msdb
  std::optional<bool> distributor_configured;

  struct Table {
    std::string schema, name;
    bool has_primary_key = false;
    bool is_replicated = false;      // an article of a transactional or snapshot publication
    bool is_tracked_by_cdc = false;  // CDC enabled on the table
  };
  std::vector<Table> tables;  // the captured ones (include/exclude applied)
  bool tables_known = false;
  std::vector<std::string> unreadable;  // "<what>: <server message>"

  // capture.log_safeguard = open_transaction only (ReadSafeguardFacts): the safeguard table and
  // what the mode needs.
  struct Safeguard {
    bool wanted = false;
    std::string schema, table;
    std::optional<bool> table_exists, can_create_table, can_alter_schema, adr_on;
  } safeguard;
};

enum class FindingStatus { kOk, kMissing, kUnknown };

struct Finding {
  FindingStatus status = FindingStatus::kUnknown;
  std::string what;    // "recovery model", "table dbo.orders", ...
  std::string detail;  // why it matters and what fixes it
  // Missing essentials put the capture itself at risk (log truncated before it is read, log not
  // readable); the others make update events less complete.
  bool essential = false;
};

struct PrepareOptions {
  std::string publication;  // empty: "sqltail_<database>"
};

struct PreparePlan {
  std::vector<Finding> findings;
  std::vector<std::string> statements;  // T-SQL, one batch each, in order

  bool Complete() const;  // every finding ok
};

// The queries ReadSourceFacts runs (tds-replay answers them from a fixture's server.json).
extern const char* const kSourceFactsQuery;
extern const char* const kFullBackupsQuery;
extern const char* const kDistributorQuery;
extern const char* const kPrepareTablesQuery;

// Runs the fact queries on `source` (connected to the captured database). Query failures are noted
// in `unreadable`, not thrown; a dead connection throws tds::TdsException.
SourceFacts ReadSourceFacts(tds::Connection& source, const std::vector<std::string>& table_include,
                            const std::vector<std::string>& table_exclude);

// capture.log_safeguard = open_transaction: whether the safeguard table exists, whether the login
// may create it (CREATE TABLE in the database and ALTER on the schema), and whether accelerated
// database recovery is on (the mode cannot work then). Failures go to `unreadable`.
void ReadSafeguardFacts(tds::Connection& source, const std::string& schema, const std::string& table,
                        SourceFacts& facts);

// Pure: findings and the statements that would fix what prepare can fix.
PreparePlan PlanPrepare(const SourceFacts& facts, const PrepareOptions& options = {});

// One line per finding: "ok|MISSING|UNKNOWN <what>: <detail>".
std::string FormatFindings(const PreparePlan& plan);

// Executes the statements in order; stops at the first failure with `error` naming the statement
// and the server's message. `executed` receives each statement that succeeded.
bool ExecutePlan(tds::Connection& source, const PreparePlan& plan, std::vector<std::string>& executed,
                 std::string& error);

// T-SQL literal helpers (exposed for tests): N'it''s', [we]]ird].
std::string SqlUnicodeLiteral(const std::string& text);
std::string SqlQuotedName(const std::string& name);

}  // namespace sqltail::engine
