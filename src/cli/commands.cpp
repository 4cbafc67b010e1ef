// ptun's command line: builds the CLI11 app from every feature's registration (command.hpp),
// parses argv and runs one command. Exit codes: 0 success, 1 runtime failure (bad config, refused
// certificate, ...), 2 usage error (unknown flag, missing file).
#include "cli/commands.hpp"

#include <cstdio>
#include <iostream>

#include "cli/command.hpp"
#include "common/build_info.hpp"
#include "common/log.hpp"

namespace ptun::cli {

int fail(const std::string& msg, int code) {
  // Under journald an unprefixed line would be stored as info: say it is an error.
  std::fprintf(stderr, "%sptun: %s\n", log::style() == log::Style::journal ? "<3>" : "", msg.c_str());
  return code;
}

int run(int argc, char** argv) {
  CLI::App app{"ptun: a DTLS packet tunnel for Linux (client and server in one binary)", "ptun"};
  app.require_subcommand(1);
  // --version/-V as other daemons have it (help2man and packagers call it), same text as `ptun version`
  app.set_version_flag("-V,--version", std::string("ptun ") + version(), "print the version and exit");
  std::string level;
  app.add_option("--log-level", level, "error, warn, info or debug (overrides the config)");

  CommandSet cmds(app);
  register_role_commands(cmds);
  register_control_commands(cmds);
  register_pki_commands(cmds);
  register_cleanup_commands(cmds);
  register_flows_commands(cmds);
  register_doctor_commands(cmds);
  cmds.add("version", "print the version", [] {
    std::cout << "ptun " << version() << "\n";
    return 0;
  });
  std::string help_text;   // rendered before parsing: afterwards CLI11 renders the subcommand's
  cmds.add("help", "show this help", [&help_text] {
    std::cout << help_text;
    return 0;
  });
  help_text = app.help();

  if (argc > 1 && argv[1][0] != '-') {
    bool known = false;
    for (const auto* sub : app.get_subcommands([](CLI::App*) { return true; }))
      known = known || sub->get_name() == argv[1];
    if (!known) return fail(std::string("unknown command '") + argv[1] + "' (see 'ptun help')", 2);
  }
  try {
    app.parse(argc, argv);
  } catch (const CLI::CallForHelp& e) {
    return app.exit(e);
  } catch (const CLI::CallForVersion& e) {
    return app.exit(e);
  } catch (const CLI::ParseError& e) {
    std::string what = e.what();
    if (what.empty()) what = e.get_name();
    return fail(what + " (see 'ptun help')", 2);
  }
  if (!level.empty()) {
    log::Level l;
    if (!log::parse_level(level.c_str(), &l)) return fail("unknown log level '" + level + "'", 2);
    log::set_level(l);
  }
  const auto* handler = cmds.selected();
  if (!handler) return fail("no command (see 'ptun help')", 2);
  return (*handler)();
}

}  // namespace ptun::cli
