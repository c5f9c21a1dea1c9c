#include "app/commands.hpp"

#include "app/url.hpp"

namespace rmig::app {

std::string redacted_command_line(int argc, char** argv) {
  std::string line = "redis-migrate";
  for (int i = 1; i < argc; ++i) {
    std::string arg = argv[i];
    if (arg.find("://") != std::string::npos) {
      // "--flag=URL" keeps its flag; a bare URL is redacted whole.
      const std::size_t eq = arg.find('=');
      if (eq != std::string::npos && eq < arg.find("://")) {
        arg = arg.substr(0, eq + 1) + redact_raw_url(std::string_view(arg).substr(eq + 1));
      } else {
        arg = redact_raw_url(arg);
      }
    }
    line += ' ';
    line += arg;
  }
  return line;
}

copy::StateOptions state_options(const Config& cfg, std::string command_line) {
  copy::StateOptions s;
  s.prefix = cfg.state.prefix;
  s.lock = !cfg.state.no_lock;
  s.lock_ttl_ms = static_cast<uint32_t>(cfg.state.lock_ttl_s * 1000.0);
  s.state_file = cfg.state.state_file;
  s.restart = cfg.state.restart;
  s.command_line = std::move(command_line);
  return s;
}

}  // namespace rmig::app
