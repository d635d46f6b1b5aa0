// sqltail prepare's planner: facts in, findings and T-SQL out (no server needed).
#define DOCTEST_CONFIG_IMPLEMENT_WITH_MAIN
#include <doctest/doctest.h>

#include <algorithm>

#include "sqltail/engine/prepare.h"

using namespace sqltail::engine;

namespace {

// A source as a DBA finds it before sqltail: SIMPLE recovery, nothing published.
SourceFacts FreshSource() {
  SourceFacts f;
  f.database = "shop";
  f.recovery_model = "SIMPLE";
  f.engine_edition = 3;
  f.is_sysadmin = false;
  f.is_db_owner = true;
  f.can_select_fn_dblog = true;
  f.has_view_server_state = true;
  f.is_published = false;
  f.is_cdc_enabled = false;
  f.full_backups = 0;
  f.distributor_configured = true;
  f.tables_known = true;
  f.tables = {{"dbo", "orders", true, false, false}, {"dbo", "audit_heap", false, false, false}};
  return f;
}

const Finding* Find(const PreparePlan& plan, const std::string& what) {
  auto it = std::find_if(plan.findings.begin(), plan.findings.end(), [&](const Finding& f) { return f.what == what; });
  return it == plan.findings.end() ? nullptr : &*it;
}

}  // namespace

TEST_CASE("a fresh source gets FULL recovery, a publication for keyed tables and CDC for heaps") {
  PreparePlan plan = PlanPrepare(FreshSource());
  CHECK_FALSE(plan.Complete());
  REQUIRE(Find(plan, "recovery model"));
  CHECK(Find(plan, "recovery model")->status == FindingStatus::kMissing);
  CHECK(Find(plan, "full backup")->status == FindingStatus::kMissing);
  CHECK(Find(plan, "permissions")->status == FindingStatus::kOk);
  CHECK(Find(plan, "table dbo.orders")->status == FindingStatus::kMissing);
  CHECK(Find(plan, "table dbo.audit_heap")->status == FindingStatus::kMissing);
  const std::vector<std::string> expected = {
      "ALTER DATABASE [shop] SET RECOVERY FULL",
      "EXEC sp_replicationdboption @dbname = N'shop', @optname = N'publish', @value = N'true'",
      "IF NOT EXISTS (SELECT 1 FROM dbo.syspublications WHERE name = N'sqltail_shop') EXEC sp_addpublication "
      "@publication = N'sqltail_shop', @status = N'active', @repl_freq = N'continuous', @independent_agent = N'true', "
      "@immediate_sync = N'false'",
      "EXEC sp_addarticle @publication = N'sqltail_shop', @article = N'dbo_orders', @source_owner = N'dbo', "
      "@source_object = N'orders'",
      "EXEC sys.sp_cdc_enable_db",
      "EXEC sys.sp_cdc_enable_table @source_schema = N'dbo', @source_name = N'audit_heap', @role_name = NULL",
  };
  CHECK(plan.statements == expected);
}

TEST_CASE("a prepared source needs nothing") {
  SourceFacts f = FreshSource();
  f.recovery_model = "FULL";
  f.full_backups = 2;
  f.is_published = true;
  f.is_cdc_enabled = true;
  f.tables = {{"dbo", "orders", true, true, false}, {"dbo", "audit_heap", false, false, true}};
  PreparePlan plan = PlanPrepare(f);
  CHECK(plan.statements.empty());
  CHECK(plan.Complete());
  CHECK(FormatFindings(plan).find("MISSING") == std::string::npos);
}

TEST_CASE("what cannot be read is unknown, never assumed") {
  SourceFacts f = FreshSource();
  f.full_backups.reset();
  f.is_db_owner.reset();
  f.unreadable.push_back("full backups (msdb.dbo.backupset): denied");
  PreparePlan plan = PlanPrepare(f);
  CHECK(Find(plan, "full backup")->status == FindingStatus::kUnknown);
  CHECK(Find(plan, "permissions")->status == FindingStatus::kUnknown);
  CHECK(Find(plan, "source query")->status == FindingStatus::kUnknown);
  CHECK_FALSE(plan.Complete());
}

TEST_CASE("without a distributor no replication statement is planned, and Express gets no CDC") {
  SourceFacts f = FreshSource();
  f.distributor_configured = false;
  f.engine_edition = 4;
  PreparePlan plan = PlanPrepare(f);
  CHECK(Find(plan, "replication distributor")->status == FindingStatus::kMissing);
  for (const auto& s : plan.statements) {
    CHECK(s.find("sp_replicationdboption") == std::string::npos);
    CHECK(s.find("sp_cdc") == std::string::npos);
  }
  CHECK(Find(plan, "table dbo.audit_heap")->detail.find("Express") != std::string::npos);
}

TEST_CASE("missing permissions are named; a filter that selects nothing is reported") {
  SourceFacts f = FreshSource();
  f.can_select_fn_dblog = false;
  f.tables.clear();
  PreparePlan plan = PlanPrepare(f);
  REQUIRE(Find(plan, "permissions"));
  CHECK(Find(plan, "permissions")->status == FindingStatus::kMissing);
  CHECK(Find(plan, "permissions")->detail.find("SELECT on sys.fn_dblog") != std::string::npos);
  CHECK(Find(plan, "tables")->status == FindingStatus::kMissing);
}

TEST_CASE("names and literals are quoted for T-SQL") {
  CHECK(SqlUnicodeLiteral("it's") == "N'it''s'");
  CHECK(SqlQuotedName("we]ird") == "[we]]ird]");
  SourceFacts f = FreshSource();
  f.database = "o'brien]db";
  PreparePlan plan = PlanPrepare(f);
  CHECK(plan.statements.front() == "ALTER DATABASE [o'brien]]db] SET RECOVERY FULL");
  CHECK(plan.statements[1].find("@dbname = N'o''brien]db'") != std::string::npos);
}

TEST_CASE("log_safeguard = open_transaction: the safeguard table, its permissions and ADR") {
  SourceFacts f = FreshSource();
  // Not asked for: no finding.
  CHECK(Find(PlanPrepare(f), "log safeguard table dbo.sqltail_truncation_safeguard") == nullptr);
  f.safeguard.wanted = true;
  f.safeguard.schema = "dbo";
  f.safeguard.table = "sqltail_truncation_safeguard";
  f.safeguard.table_exists = false;
  f.safeguard.can_create_table = true;
  f.safeguard.can_alter_schema = true;
  f.safeguard.adr_on = false;
  auto plan = PlanPrepare(f);
  const Finding* table = Find(plan, "log safeguard table dbo.sqltail_truncation_safeguard");
  REQUIRE(table);
  CHECK(table->status == FindingStatus::kOk);  // the capture creates it
  CHECK(Find(plan, "log safeguard: accelerated database recovery")->status == FindingStatus::kOk);
  // The login may not create it: prepare does.
  f.safeguard.can_create_table = false;
  plan = PlanPrepare(f);
  CHECK(Find(plan, "log safeguard table dbo.sqltail_truncation_safeguard")->status == FindingStatus::kMissing);
  CHECK(std::any_of(plan.statements.begin(), plan.statements.end(), [](const std::string& s) {
    return s.find("CREATE TABLE [dbo].[sqltail_truncation_safeguard]") != std::string::npos;
  }));
  // ADR on: missing and essential (the capture refuses to start).
  f.safeguard.adr_on = true;
  plan = PlanPrepare(f);
  const Finding* adr = Find(plan, "log safeguard: accelerated database recovery");
  CHECK(adr->status == FindingStatus::kMissing);
  CHECK(adr->essential);
  // VIEW SERVER STATE names the safeguard's need.
  f.has_view_server_state = false;
  plan = PlanPrepare(f);
  CHECK(Find(plan, "VIEW SERVER STATE")->detail.find("open_transaction") != std::string::npos);
  // Unreadable facts stay unknown.
  f.safeguard.table_exists.reset();
  f.safeguard.adr_on.reset();
  plan = PlanPrepare(f);
  CHECK(Find(plan, "log safeguard table dbo.sqltail_truncation_safeguard")->status == FindingStatus::kUnknown);
  CHECK(Find(plan, "log safeguard: accelerated database recovery")->status == FindingStatus::kUnknown);
}
