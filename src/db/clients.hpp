#pragma once
#include "mupgrade/db/sql_client.hpp"

namespace mupgrade::db {
std::unique_ptr<SqlClient> connect_mariadb(const Endpoint& ep);
std::unique_ptr<SqlClient> connect_postgres(const Endpoint& ep);
/// The start of a statement for error messages (statements never carry secrets, but may be long).
std::string first_words(const std::string& sql);
}  // namespace mupgrade::db
