#include "mupgrade/db/durability.hpp"

#include <fmt/format.h>

namespace mupgrade::db {

namespace {
const char* kPgRelaxed[][2] = {{"synchronous_commit", "off"}, {"fsync", "off"}, {"full_page_writes", "off"}, {"wal_writer_delay", "'10s'"}};
}

void relax_durability(const Endpoint& ep) {
  auto c = connect(ep);
  if (ep.kind == Kind::mariadb) {
    c->execute("SET GLOBAL innodb_flush_log_at_trx_commit = 2");
    return;
  }
  for (const auto& [name, value] : kPgRelaxed) c->execute(fmt::format("ALTER SYSTEM SET {} = {}", name, value));
  c->execute("SELECT pg_reload_conf()");
}

void restore_durability(const Endpoint& ep) {
  auto c = connect(ep);
  if (ep.kind == Kind::mariadb) {
    c->execute("SET GLOBAL innodb_flush_log_at_trx_commit = 1");
    c->execute("FLUSH ENGINE LOGS");
    return;
  }
  for (const auto& [name, value] : kPgRelaxed) c->execute(fmt::format("ALTER SYSTEM RESET {}", name));
  c->execute("SELECT pg_reload_conf()");
  // The reload reaches backends asynchronously; the checkpointer must see fsync=on first.
  for (int i = 0; i < 100 && c->scalar("SHOW fsync").value_or("") != "on"; ++i) c->execute("SELECT pg_sleep(0.01)");
  c->execute("CHECKPOINT");
}

std::string durability_settings(const Endpoint& ep) {
  auto c = connect(ep);
  if (ep.kind == Kind::mariadb)
    return "innodb_flush_log_at_trx_commit=" + c->scalar("SELECT @@GLOBAL.innodb_flush_log_at_trx_commit").value_or("?");
  std::string out;
  for (const auto& [name, value] : kPgRelaxed) out += fmt::format("{}{}={}", out.empty() ? "" : " ", name, c->scalar(std::string("SHOW ") + name).value_or("?"));
  return out;
}

}  // namespace mupgrade::db
