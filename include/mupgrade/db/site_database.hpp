#pragma once
// The database port over real connections (libmariadb, libpq): every SQL statement the
// operations need lives in src/db/site_database.cpp, with the site's table prefix.

#include "mupgrade/ports/database.hpp"

namespace mupgrade::db {

class SqlDatabase : public ports::Database {
public:
  void wait_ready(const ports::DbEndpoint& ep, std::chrono::milliseconds deadline) override;
  std::string server_version(const ports::DbEndpoint& ep) override;
  std::optional<std::string> config_value(const ports::DbEndpoint& ep, const std::string& name) override;
  nlohmann::json watermark(const ports::DbEndpoint& ep) override;
  ports::WriteCount writes_since(const ports::DbEndpoint& ep, const nlohmann::json& watermark) override;
  std::optional<long> first_course(const ports::DbEndpoint& ep) override;
  std::vector<ports::StoredFile> newest_files(const ports::DbEndpoint& ep, int count) override;
  std::unique_ptr<ports::Freezer> freezer(const ports::DbEndpoint& ep) override;
  void relax_durability(const ports::DbEndpoint& ep) override;
  void restore_durability(const ports::DbEndpoint& ep) override;
  std::string durability_settings(const ports::DbEndpoint& ep) override;
};

/// Tables whose new rows mean users wrote something (the contract's write probes).
inline constexpr const char* kWriteProbeTables[] = {"files", "question_attempt_steps", "forum_posts", "grade_grades_history"};

}  // namespace mupgrade::db
