#include "mupgrade/core/config_keys.hpp"

#include <fmt/format.h>

namespace mupgrade::core {

namespace {

constexpr ConfigKey kKeys[] = {
    {"", "site", "string", "required", "The site's name: letters, digits, - and _. It names containers, the network and the state dir."},
    {"", "public_url", "url", "required", "Moodle's $CFG->wwwroot (http:// or https://); its host[:port] is the Host header checks send."},
    {"", "pool", "path", "required", "The btrfs directory that holds sets/<id>/{db,moodledata,code} and clones/."},
    {"", "state_dir", "path", "/var/lib/mupgrade/SITE", "Journal, lock, site.json, logs, rehearsal reports and metrics."},
    {"", "network", "string", "mupgrade-SITE", "The Docker network the proxy shares with every set's web container."},
    {"", "db", "mapping", "required", "The database: see DB."},
    {"", "web", "mapping", "", "The web containers: see WEB."},
    {"", "proxy", "mapping", "required", "The reverse proxy in front: see PROXY."},
    {"", "cache", "mapping", "", "A cache service per set (Redis for Moodle's sessions and caches): see CACHE."},
    {"", "target", "mapping", "", "The release to upgrade to: see TARGET."},
    {"", "upgrade", "mapping", "", "Timeouts of the upgrade: see UPGRADE."},
    {"", "retention", "mapping", "", "What prune keeps: see RETENTION."},
    {"", "settings", "mapping", "", "Moodle settings (name: value) set with cfg.php on green after upgrade.php."},
    {"", "rehearse", "mapping", "", "The nightly rehearsal: see REHEARSE."},
    {"", "steps", "list", "", "Site steps run at a named point of a playbook: see STEPS."},
    {"", "playbooks_dir", "path", "built-in", "A directory with the site's own cutover.yml, rehearse.yml, rollback.yml."},

    {"db", "kind", "string", "mariadb", "mariadb or postgresql (mysqli, mysql, pgsql and postgres are read as these)."},
    {"db", "image", "string", "mupgrade/mariadb:10.11 or mupgrade/postgres:15", "The DB containers' image."},
    {"db", "name", "string", "moodle", "The database's name."},
    {"db", "user", "string", "root or postgres", "The DB user mupgrade connects as."},
    {"db", "password_file", "path", "", "A file holding the DB password (one of password_file, password_env)."},
    {"db", "password_env", "string", "", "An environment variable holding the DB password. The password itself never goes in this file."},
    {"db", "relaxed_durability", "boolean", "true", "upgrade.php on green's DB without fsync; durability is restored before the switch."},
    {"db", "prefix", "string", "mdl_", "Moodle's $CFG->prefix (may be empty)."},

    {"web", "image", "string", "mupgrade/web:php8.2", "The web containers' image."},
    {"web", "port", "integer", "80", "The port the web container listens on (the public port, see README, 'Ports')."},

    {"cache", "kind", "string", "required",
     "redis: each set runs its own Redis container (mupgrade-SITE-SET-cache, answering to \"cache\" on the set's network, data in <pool>/sets/SET/cache), "
     "saved and snapshotted with the set at the freeze point, so green's upgrade and purges never touch blue's Redis and sessions stored in it survive a cutover. "
     "In config.php: $CFG->session_handler_class = '\\core\\session\\redis'; $CFG->session_redis_host = 'cache'; a Redis MUC store with server 'cache'."},
    {"cache", "image", "string", "mupgrade/redis:7.0", "The cache containers' image (containers/redis)."},

    {"proxy", "kind", "string", "haproxy", "haproxy (runtime API switch, no reload) or nginx (config rewrite and reload)."},
    {"proxy", "container", "string", "required", "The proxy's container name."},
    {"proxy", "config_dir", "path", "required", "The host directory mounted as the proxy's config dir."},
    {"proxy", "url", "url", "required", "The proxy on loopback, e.g. http://127.0.0.1:18080."},
    {"proxy", "image", "string", "mupgrade/haproxy:2.6 or mupgrade/nginx-proxy:1.22", "The proxy container's image: 'mupgrade up' recreates the container from it."},

    {"target", "code", "path", "", "The target release's code directory (or subvolume)."},
    {"target", "git", "mapping", "", "Or: a ref of a local clone or mirror of Moodle (repo, ref)."},
    {"target", "image", "string", "web.image", "The web image of the target release."},
    {"target", "image_code", "path", "/var/www/moodle", "Or: the code comes from target.image, at this path in it."},
    {"target.git", "repo", "path", "required", "A local git clone or mirror."},
    {"target.git", "ref", "string", "required", "A branch, tag or commit."},

    {"upgrade", "timeout_s", "integer", "3600", "upgrade.php's limit in seconds (10-86400)."},
    {"upgrade", "cron_drain_timeout_s", "integer", "120", "How long cron may take to stop before the window (0-3600)."},
    {"upgrade", "purge_caches", "boolean", "false",
     "Run purge_caches.php after upgrade.php. Off: upgrade.php purges every cache itself and builds the theme last; a purge after it makes the first page on green cold."},

    {"retention", "keep_sets", "integer", "3", "Sets kept, the live one and the rollback target included (2-100)."},
    {"retention", "keep_clones", "integer", "1", "Rehearsal clones kept with --keep (0-100)."},
    {"retention", "keep_reports", "integer", "60", "Rehearsal reports kept."},
    {"retention", "max_report_age_days", "integer", "90", "Rehearsal reports older than this are removed."},
    {"retention", "min_free_gb", "integer", "2", "Below this much free space (the filesystem's), prune removes the oldest clones, then sets, that retention does not protect, only when what they free (their exclusive extents) reaches it; otherwise it removes nothing for space and says how much is this site's and how much is outside it."},

    {"rehearse", "prometheus_textfile", "path", "STATE_DIR/metrics/mupgrade.prom",
     "The rehearsal's node_exporter textfile; cutover and rollback write theirs beside it (mupgrade-cutover.prom, mupgrade-rollback.prom)."},
    {"rehearse", "smoke_paths", "list", "", "Extra GETs on the clone, each starting with / (e.g. a public pluginfile URL)."},

    {"steps[]", "name", "string", "required", "The step's name, as progress and the journal show it."},
    {"steps[]", "before", "string", "", "Run before this playbook step (one of before, after)."},
    {"steps[]", "after", "string", "", "Run after this playbook step."},
    {"steps[]", "operations", "list", "[cutover, rehearse]", "The operations it runs in."},
    {"steps[]", "cfg", "mapping", "", "Moodle settings set with cfg.php on green (one of cfg, exec, host)."},
    {"steps[]", "exec", "list", "", "A command run in green's web container: [program, arg, ...]."},
    {"steps[]", "host", "list", "", "A command run on this host; the program is an absolute path."},
    {"steps[]", "timeout_s", "integer", "600", "The step's limit in seconds."},
};

constexpr std::string_view kSectionOrder[] = {"", "db", "web", "cache", "proxy", "target", "target.git", "upgrade", "retention", "rehearse", "steps[]"};

constexpr std::string_view kExample = R"(# /etc/mupgrade/demo.yml: one Moodle site (mupgrade.yml(5) names every key).
site: demo
public_url: http://demo.moodle.test:18080
pool: /srv/mupgrade-pool/demo
db:
  kind: mariadb
  password_file: /etc/mupgrade/demo.db-password   # mode 0600; never the password itself here
web:
  port: 18080
proxy:
  kind: haproxy
  container: mupgrade-demo-proxy
  config_dir: /srv/mupgrade-pool/demo/proxy
  url: http://127.0.0.1:18080
target:
  code: /srv/mupgrade-pool/demo/releases/4.4.3
retention:
  keep_sets: 3
rehearse:
  prometheus_textfile: /var/lib/prometheus/node-exporter/mupgrade-demo.prom
)";


}  // namespace

std::string roff_escape(std::string_view s) {
  std::string out;
  for (char c : s) {
    if (c == '\\') out += "\\e";
    else if (c == '-') out += "\\-";
    else out += c;
  }
  if (!out.empty() && (out.front() == '.' || out.front() == '\'')) out.insert(0, "\\&");
  return out;
}

std::span<const ConfigKey> config_keys() { return kKeys; }

std::vector<std::string> keys_in(std::string_view section) {
  std::vector<std::string> out;
  for (const auto& k : kKeys)
    if (k.section == section) out.emplace_back(k.key);
  return out;
}

std::string section_title(std::string_view section) {
  if (section.empty()) return "the site config";
  if (section == "steps[]") return "a site step";
  return std::string(section);
}

std::string_view example_site_config() { return kExample; }

std::string render_config_man(std::string_view version) {
  std::string out = fmt::format(".TH MUPGRADE.YML 5 \"\" \"mupgrade {}\" \"File Formats\"\n", version);
  out += ".SH NAME\nmupgrade.yml \\- a Moodle site's configuration for mupgrade\n";
  out += ".SH SYNOPSIS\n/etc/mupgrade/\\fISITE\\fR.yml\n";
  out += ".SH DESCRIPTION\nOne YAML file per site. Every command takes \\fB\\-\\-site\\fR \\fISITE\\fR (this path) or "
         "\\fB\\-\\-config\\fR \\fIFILE\\fR. Unknown keys, keys given twice and empty values are refused with the file, "
         "line and column (exit code 2), before anything changes.\n";
  for (auto section : kSectionOrder) {
    if (section.empty()) out += ".SH KEYS\n";
    else if (section == "steps[]") out += ".SH STEPS\nEach item of \\fBsteps\\fR:\n";
    else {
      std::string title(section);
      for (auto& ch : title) ch = static_cast<char>(ch == '.' ? ' ' : std::toupper(static_cast<unsigned char>(ch)));
      out += fmt::format(".SH {}\nKeys of \\fB{}\\fR:\n", title, section);
    }
    for (const auto& k : kKeys) {
      if (k.section != section) continue;
      out += fmt::format(".TP\n\\fB{}\\fR ({}", roff_escape(k.key), k.type);
      if (!k.fallback.empty()) out += k.fallback == "required" ? ", required" : fmt::format(", default: {}", roff_escape(k.fallback));
      out += fmt::format(")\n{}\n", roff_escape(k.what));
    }
  }
  out += ".SH EXAMPLE\n.nf\n" + roff_escape(kExample) + ".fi\n";
  out += ".SH FILES\n.TP\n/etc/mupgrade/\\fISITE\\fR.yml\nThe site's config.\n"
         ".TP\n/usr/share/doc/mupgrade/examples/site.yml\nThe example above.\n";
  out += ".SH SEE ALSO\n\\fBmupgrade\\fR(8)\n";
  return out;
}

}  // namespace mupgrade::core
