// `ptun cleanup -c CONFIG`: restores the host after a client that was killed (SIGKILL, power
// loss) or that keeps an always_on kill switch: replays the journal in the config's state_dir.
#include <iostream>

#include "cli/command.hpp"
#include "config/config.hpp"
#include "netcfg/client_host.hpp"

namespace ptun::cli {

void register_cleanup_commands(CommandSet& cmds) {
  static std::string path;
  auto* sub = cmds.add("cleanup", "restore routes, rules, DNS and firewall a client left behind", [] {
    auto cfg = config::load_client(path, false);
    if (!cfg) return fail(cfg.error().message);
    auto n = netcfg::cleanup(*cfg);
    if (!n) return fail("cleanup: " + n.error().message);
    std::cout << "ptun: cleanup: " << *n << " host change(s) undone\n";
    return 0;
  });
  sub->add_option("-c,--config", path, "the client's config file")->required();
}

}  // namespace ptun::cli
