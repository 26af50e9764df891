#include "docs.hpp"

#include "app.hpp"

#include "mupgrade/core/config_keys.hpp"

#include <fmt/format.h>

namespace mupgrade::cli {

namespace {


std::vector<const CLI::Option*> options_of(const CLI::App& cmd) {
  std::vector<const CLI::Option*> out;
  for (const auto* o : cmd.get_options())
    if (o != cmd.get_help_ptr() && o->nonpositional() && !o->get_group().empty()) out.push_back(o);
  return out;
}

bool takes_value(const CLI::Option* o) { return o->get_type_size() != 0; }

void command_section(const CLI::App& cmd, const std::string& path, std::string& out) {
  auto subs = visible_commands(cmd);
  if (!subs.empty()) {
    for (const auto* s : subs) command_section(*s, path + " " + s->get_name(), out);
    return;
  }
  out += fmt::format(".SS \"{}\"\n{}\n", core::roff_escape(path), core::roff_escape(cmd.get_description()));
  for (const auto* o : options_of(cmd)) {
    std::string names;
    for (const auto& l : o->get_lnames()) names += (names.empty() ? "" : ", ") + fmt::format("\\fB\\-\\-{}\\fR", core::roff_escape(l));
    if (takes_value(o)) names += fmt::format(" \\fI{}\\fR", core::roff_escape(o->get_type_name()));
    std::string text = core::roff_escape(o->get_description());
    if (!o->get_default_str().empty()) text += fmt::format(" (default: {})", core::roff_escape(o->get_default_str()));
    if (o->get_required()) text += " (required)";
    out += fmt::format(".TP\n{}\n{}\n", names, text);
  }
}

void collect_words(const CLI::App& cmd, const std::string& key, std::string& cases) {
  std::string words;
  for (const auto* s : visible_commands(cmd)) words += " " + s->get_name();
  for (const auto* o : options_of(cmd))
    for (const auto& l : o->get_lnames()) words += " --" + l;
  words += " --help";
  cases += fmt::format("    \"{}\") words=\"{}\" ;;\n", key, words.substr(1));
  for (const auto* s : visible_commands(cmd)) collect_words(*s, key.empty() ? s->get_name() : key + " " + s->get_name(), cases);
}

}  // namespace

std::vector<const CLI::App*> visible_commands(const CLI::App& app) {
  return app.get_subcommands([](const CLI::App* s) { return !s->get_group().empty(); });
}

std::string render_command_man(const CLI::App& app, std::string_view version) {
  std::string out = fmt::format(".TH MUPGRADE 8 \"\" \"mupgrade {}\" \"System Administration\"\n", version);
  out += fmt::format(".SH NAME\nmupgrade \\- {}\n", core::roff_escape(app.get_description().substr(app.get_description().find(": ") + 2)));
  out += ".SH SYNOPSIS\n\\fBmupgrade\\fR \\fICOMMAND\\fR [\\fIOPTIONS\\fR]\n.br\n\\fBmupgrade\\fR \\fB\\-\\-help\\fR | \\fB\\-\\-version\\fR\n";
  out += ".SH DESCRIPTION\nmupgrade upgrades a Dockerized Moodle site on one host by switching between sets "
         "(DB, web, code, moodledata) made from btrfs snapshots: the live set keeps serving while a green set is "
         "made, upgraded and checked; the proxy then moves traffic to it, and the previous set stays as the way back. "
         "Each site is described by \\fB/etc/mupgrade/\\fISITE\\fB.yml\\fR (see \\fBmupgrade.yml\\fR(5)).\n";
  out += ".SH COMMANDS\n";
  for (const auto* s : visible_commands(app)) command_section(*s, s->get_name(), out);
  out += ".SH EXIT STATUS\n";
  for (const auto& e : kExitCodes) out += fmt::format(".TP\n.B {}\n{}\n", e.code, core::roff_escape(e.meaning));
  out += ".PP\nErrors are one line, \\fBmupgrade: error:\\fR \\fIwhat failed\\fR (\\fIcause\\fR), followed by "
         "\\fBmupgrade: hint:\\fR \\fInext step\\fR when there is one.\n";
  out += ".SH FILES\n"
         ".TP\n/etc/mupgrade/\\fISITE\\fR.yml\nA site's config (\\fBmupgrade.yml\\fR(5)).\n"
         ".TP\n/var/lib/mupgrade/\\fISITE\\fR/\nState dir: journal/ (one JSON-lines journal per operation), lock, site.json, web\\-images.json (the image each set's web container was made with, for \\fBup\\fR), "
         "logs/ (upgrade.php output), rehearsals/ (reports), metrics/ (node_exporter textfiles: mupgrade.prom of the rehearsal, "
         "mupgrade\\-cutover.prom, mupgrade\\-rollback.prom).\n"
         ".TP\n/usr/share/mupgrade/playbooks/\nThe built-in playbooks (compiled in; copies to start a site's own \\fBplaybooks_dir\\fR from).\n"
         ".TP\n/usr/lib/systemd/system/mupgrade\\-rehearse@.timer\nNightly rehearsal of a site: \\fBsystemctl enable \\-\\-now mupgrade\\-rehearse@\\fISITE\\fB.timer\\fR.\n"
         ".TP\n/usr/share/doc/mupgrade/examples/\nAn example site config and the cron alternative to the timer.\n";
  out += ".SH LOGGING\nEach operation that ran writes one summary line to syslog with ident \\fBmupgrade\\fR "
         "(\\fBjournalctl \\-t mupgrade\\fR): operation, site, verdict, failed step, sets, window, upgrade and overhead "
         "seconds and the journal's path. The full log stays in the state dir.\n";
  out += ".SH SEE ALSO\n\\fBmupgrade.yml\\fR(5), \\fBbtrfs\\fR(8), \\fBdocker\\fR(1)\n";
  return out;
}

std::string render_bash_completion(const CLI::App& app) {
  std::string cases;
  collect_words(app, "", cases);
  std::string out = "# bash completion for mupgrade (generated by 'mupgrade man bash-completion')\n";
  out += "_mupgrade_sites() {\n  local f\n  for f in \"${MUPGRADE_CONFIG_DIR:-/etc/mupgrade}\"/*.yml; do\n"
         "    [ -e \"$f\" ] || continue\n    f=${f##*/}\n    echo \"${f%.yml}\"\n  done\n}\n\n";
  out += "_mupgrade() {\n  local cur=${COMP_WORDS[COMP_CWORD]} prev=${COMP_WORDS[COMP_CWORD-1]} key=\"\" words=\"\" i w\n";
  out += "  case $prev in\n"
         "    --site) COMPREPLY=($(compgen -W \"$(_mupgrade_sites)\" -- \"$cur\")); return ;;\n"
         "    --config|--target|--pool|--config-dir|--docker-socket) compopt -o filenames 2>/dev/null; COMPREPLY=($(compgen -f -- \"$cur\")); return ;;\n"
         "    --kind) COMPREPLY=($(compgen -W \"haproxy nginx\" -- \"$cur\")); return ;;\n"
         "  esac\n";
  out += "  # The command words typed so far (proxy init): the key of the list below.\n"
         "  for ((i = 1; i < COMP_CWORD; i++)); do\n    w=${COMP_WORDS[i]}\n    [[ $w == -* ]] && continue\n"
         "    case \"${key:+$key }$w\" in\n";
  std::string keys;
  for (std::size_t pos = 0; (pos = cases.find("    \"", pos)) != std::string::npos;) {
    auto end = cases.find('"', pos + 5);
    std::string k = cases.substr(pos + 5, end - pos - 5);
    if (!k.empty()) keys += (keys.empty() ? "      " : "|") + fmt::format("\"{}\"", k);
    pos = end;
  }
  out += keys + ") key=\"${key:+$key }$w\" ;;\n      *) break ;;\n    esac\n  done\n";
  out += "  case $key in\n" + cases + "  esac\n";
  out += "  COMPREPLY=($(compgen -W \"$words\" -- \"$cur\"))\n}\ncomplete -F _mupgrade mupgrade\n";
  return out;
}

}  // namespace mupgrade::cli
