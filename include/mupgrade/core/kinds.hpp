#pragma once
// The kinds a site config chooses between, with what each one implies, in one place.

#include <optional>
#include <string_view>

namespace mupgrade::core {

enum class DbKind { mariadb, postgresql };
enum class ProxyKind { haproxy, nginx };

/// What a DB engine is for mupgrade: its config name, the project's image, the superuser the
/// site connects as by default, its port, where it keeps its data in its container, and the
/// signal that stops it cleanly.
struct DbEngine {
  DbKind kind;
  std::string_view name;
  std::string_view image;
  std::string_view user;
  int port;
  std::string_view data_dir;
  std::string_view stop_signal;
};

const DbEngine& engine_of(DbKind kind);
std::string_view to_string(DbKind kind);
std::string_view to_string(ProxyKind kind);
/// A config or Moodle name: "mariadb" (also "mysqli", "mysql") or "postgresql" (also "pgsql", "postgres").
std::optional<DbKind> db_kind_named(std::string_view name);
std::optional<ProxyKind> proxy_kind_named(std::string_view name);
/// The project's proxy image for a kind (config key proxy.image's default).
std::string_view default_proxy_image(ProxyKind kind);

}  // namespace mupgrade::core
