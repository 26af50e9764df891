#include "mupgrade/core/kinds.hpp"

namespace mupgrade::core {

namespace {
constexpr DbEngine kEngines[] = {
    {DbKind::mariadb, "mariadb", "mupgrade/mariadb:10.11", "root", 3306, "/var/lib/mysql", "SIGTERM"},
    // PostgreSQL's "smart" SIGTERM waits for clients; SIGINT is its clean fast shutdown.
    {DbKind::postgresql, "postgresql", "mupgrade/postgres:15", "postgres", 5432, "/var/lib/postgresql/data", "SIGINT"},
};
}  // namespace

const DbEngine& engine_of(DbKind kind) { return kEngines[kind == DbKind::mariadb ? 0 : 1]; }

std::string_view to_string(DbKind kind) { return engine_of(kind).name; }

std::string_view to_string(ProxyKind kind) { return kind == ProxyKind::haproxy ? "haproxy" : "nginx"; }

std::string_view default_proxy_image(ProxyKind kind) {
  return kind == ProxyKind::haproxy ? "mupgrade/haproxy:2.6" : "mupgrade/nginx-proxy:1.22";
}

std::optional<DbKind> db_kind_named(std::string_view s) {
  if (s == "mariadb" || s == "mysqli" || s == "mysql") return DbKind::mariadb;
  if (s == "postgresql" || s == "pgsql" || s == "postgres") return DbKind::postgresql;
  return std::nullopt;
}

std::optional<ProxyKind> proxy_kind_named(std::string_view s) {
  if (s == "haproxy") return ProxyKind::haproxy;
  if (s == "nginx") return ProxyKind::nginx;
  return std::nullopt;
}

}  // namespace mupgrade::core
