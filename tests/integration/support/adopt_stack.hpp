#pragma once
// A running Moodle stack made the way an admin's Compose project runs one (Compose labels, no
// compose binary), for `mupgrade adopt --from` to find: the stand-in Moodle installed, laid out
// like the families adopt knows (adopt_itest.cpp, adopt_kill_itest.cpp, adopt_perftest.cpp):
//  - Bitnami-like: code, moodledata and the DB in named volumes under /bitnami/..., Apache and
//    PHP as uid 1001, MariaDB keeping its data at /bitnami/mariadb/data;
//  - moodlehq-like: code bind-mounted at /var/www/html, moodledata bind-mounted, www-data,
//    PostgreSQL with its data dir bind-mounted;
//  - Alpine-like: code bind-mounted at /srv/moodle, moodledata in a named volume at
//    /var/lib/moodledata, Apache as uid 82 (Alpine's www-data), PostgreSQL as uid 70 (Alpine's
//    postgres) with PGDATA a subdir of its volume, and a Redis (uid 999, dump moodle.rdb in a
//    bind mount at /var/lib/redis, no save points) holding the sessions and a MUC store.

#include "fixtures.hpp"

#include "mupgrade/ports/http.hpp"

#include <cstdint>
#include <string>
#include <vector>

namespace mupgrade::itest {

/// Named volumes a test made (removed at its end, own names only). Declare it before the
/// Cleanup of the containers using them: a volume goes once they are gone.
struct StackVolumes {
  std::vector<std::string> names;
  std::vector<std::string> images;  // web images a test built (image_code)
  ~StackVolumes();
  /// A new volume; returns its host path.
  std::string make(const std::string& prefix);
};

enum class StackKind { bitnami, moodlehq, alpine };

struct StackFamily {
  const char* name;
  StackKind kind;
  int port;  // published on 127.0.0.1, and in wwwroot
  /// Seconds its DB container waits after the stop signal before the DB shuts down (a busy DB
  /// flushing), so a test can act while `docker stop` is in flight.
  int db_stop_delay_s = 0;
  /// moodlehq-like only: the code (and config.php) built into the web image, no mount holds it.
  bool image_code = false;
};

struct Stack {
  std::string project, web, db;
  std::string redis;                       // Alpine-like only
  std::string code_host, moodledata_host;  // host paths
  std::string code_in;                     // the code's path in the web container
  std::string host;                        // public Host header
  unsigned uid = 0;                        // PHP writes as
};

/// The stack, installed and serving (secrets and bind-mounted dirs under `data_dir`).
Stack make_stack(Cleanup& cleanup, StackVolumes& volumes, const StackFamily& fam, const std::string& data_dir);

/// The Alpine-like stack's moodledata/muc/config.php: a Redis MUC store on its Redis.
extern const char* const kAlpineMuc;
/// The Alpine-like stack's Redis asks for this password (config.php and the MUC store have it).
inline constexpr const char* kAlpineRedisPassword = "Redis-pw-1";

/// The login page through the stack's (or the adopted site's) public port.
ports::HttpResponse login_page(int port, const std::string& host);
/// Polls the login page until 200 (30 s).
bool wait_200(int port, const std::string& host);
/// Logs in as admin through the public port; the session cookie's value ("" and a test failure
/// when none came).
std::string login(int port, const std::string& host);
/// "user: admin" or "user: guest", as the stand-in sees the session cookie `sid`.
std::string whoami(int port, const std::string& host, const std::string& sid);

/// Moodle's file pool as a site of this size holds it: filedir/<2>/<2>/<sha1-like name>, sizes
/// spread from 1 KB to 4 MB (log-uniform: many small files, most bytes in big ones), plus
/// the small files of cache/, localcache/ and sessions/ (about 2 % of the bytes). Owned by
/// `uid`. Returns how many files it wrote.
size_t fill_moodledata(const std::string& dir, std::uint64_t bytes, unsigned uid, unsigned seed = 1);

/// Forum posts tagged `tag` in the DB behind a running web container (the stand-in's own
/// DB access, from PHP's CLI in the container); -1 when PHP could not ask.
int posts_tagged(const std::string& web_container, const std::string& code_in, unsigned uid, const std::string& tag);

}  // namespace mupgrade::itest
