#pragma once
// mupgrade(8) and the bash completion, rendered from the command line as CLI11 parses it, so
// neither can drift from `--help` (mupgrade.yml(5) comes from core::config_keys()).

#include <CLI/CLI.hpp>

#include <string>
#include <string_view>

namespace mupgrade::cli {

/// The commands a person sees: every subcommand but the hidden ones (group "").
std::vector<const CLI::App*> visible_commands(const CLI::App& app);
/// mupgrade(8) in roff: every command with its options, exit codes, files.
std::string render_command_man(const CLI::App& app, std::string_view version);
/// A bash completion script: commands, their flags, site names from $MUPGRADE_CONFIG_DIR
/// (default /etc/mupgrade)/*.yml after --site, files after options that take a path.
std::string render_bash_completion(const CLI::App& app);

}  // namespace mupgrade::cli
