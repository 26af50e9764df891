#include "mupgrade/db/site_database.hpp"

#include "mupgrade/db/durability.hpp"
#include "mupgrade/db/freezer.hpp"
#include "mupgrade/db/sql_client.hpp"

#include <fmt/format.h>

#include <cctype>

namespace mupgrade::db {

namespace {

// The prefix goes into SQL text: only what Moodle allows ($CFG->prefix: letters, digits, _).
const std::string& checked_prefix(const ports::DbEndpoint& ep) {
  for (char c : ep.prefix)
    if (!std::isalnum(static_cast<unsigned char>(c)) && c != '_')
      throw DbError(fmt::format("table prefix '{}' holds a character Moodle does not allow", ep.prefix), "check $CFG->prefix in config.php");
  return ep.prefix;
}

std::string quoted(const std::string& s) {
  std::string out = "'";
  for (char c : s) {
    if (c == '\'' || c == '\\') out += c;
    out += c;
  }
  return out + "'";
}

long as_long(const std::optional<std::string>& v) { return v && !v->empty() ? std::stol(*v) : 0; }

}  // namespace

void SqlDatabase::wait_ready(const ports::DbEndpoint& ep, std::chrono::milliseconds deadline) { connect_when_ready(ep, deadline); }

std::string SqlDatabase::server_version(const ports::DbEndpoint& ep) { return connect(ep)->server_version(); }

std::optional<std::string> SqlDatabase::config_value(const ports::DbEndpoint& ep, const std::string& name) {
  return connect(ep)->scalar(fmt::format("SELECT value FROM {}config WHERE name = {}", checked_prefix(ep), quoted(name)));
}

nlohmann::json SqlDatabase::watermark(const ports::DbEndpoint& ep) {
  auto c = connect(ep);
  const auto& p = checked_prefix(ep);
  nlohmann::json w;
  w["logstore_standard_log"] = as_long(c->scalar(fmt::format("SELECT COALESCE(MAX(id), 0) FROM {}logstore_standard_log", p)));
  for (const char* t : kWriteProbeTables) w[t] = as_long(c->scalar(fmt::format("SELECT COALESCE(MAX(id), 0) FROM {}{}", p, t)));
  return w;
}

ports::WriteCount SqlDatabase::writes_since(const ports::DbEndpoint& ep, const nlohmann::json& mark) {
  auto c = connect(ep);
  const auto& p = checked_prefix(ep);
  ports::WriteCount n;
  n.logstore_writes = as_long(c->scalar(fmt::format(
      "SELECT COUNT(*) FROM {}logstore_standard_log WHERE id > {} AND crud IN ('c','u','d') AND origin IN ('web','ws')", p,
      mark.value("logstore_standard_log", 0L))));
  for (const char* t : kWriteProbeTables)
    n.per_table[t] = as_long(c->scalar(fmt::format("SELECT COUNT(*) FROM {}{} WHERE id > {}", p, t, mark.value(t, 0L))));
  return n;
}

std::optional<long> SqlDatabase::first_course(const ports::DbEndpoint& ep) {
  auto v = connect(ep)->scalar(fmt::format("SELECT MIN(id) FROM {}course WHERE id > 1", checked_prefix(ep)));
  if (!v || v->empty()) return std::nullopt;
  return std::stol(*v);
}

// Distinct contents: Moodle keeps one file in filedir for many rows (a draft and its final area,
// a file used in two courses), so the newest rows often name the same file.
std::vector<ports::StoredFile> SqlDatabase::newest_files(const ports::DbEndpoint& ep, int count) {
  auto rows = connect(ep)->query(fmt::format(
      "SELECT contenthash, MAX(filesize) FROM {}files WHERE filename <> '.' AND filesize > 0 GROUP BY contenthash ORDER BY MAX(id) DESC LIMIT {}",
      checked_prefix(ep), count));
  std::vector<ports::StoredFile> out;
  for (const auto& r : rows) out.push_back({r[0].value_or(""), std::stoll(r[1].value_or("0"))});
  return out;
}

std::unique_ptr<ports::Freezer> SqlDatabase::freezer(const ports::DbEndpoint& ep) { return make_freezer(ep); }
void SqlDatabase::relax_durability(const ports::DbEndpoint& ep) { db::relax_durability(ep); }
void SqlDatabase::restore_durability(const ports::DbEndpoint& ep) { db::restore_durability(ep); }
std::string SqlDatabase::durability_settings(const ports::DbEndpoint& ep) { return db::durability_settings(ep); }

}  // namespace mupgrade::db
