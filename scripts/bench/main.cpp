// rm-bench: the helper of scripts/bench.sh. Seeds datasets, writes the command files for the physical-limit
// measurements, replays them, runs a command while measuring its peak RSS, and renders the results.
// Every subcommand prints one line of key=value pairs on stdout; errors go to stderr with exit status 1.
#include <netinet/in.h>
#include <sys/socket.h>
#include <unistd.h>

#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <exception>
#include <stdexcept>
#include <string>
#include <vector>

#include "dump_files.hpp"
#include "exec_measure.hpp"
#include "render.hpp"
#include "seed.hpp"
#include "selftest.hpp"

namespace rmbench {
namespace {

constexpr const char* kUsage = R"(usage: rm-bench COMMAND ARGS...
  selftest                                         unit tests of the RESP skipper, writer and slot hashing
  free-port [--with-bus]                           a free loopback TCP port (and port+10000 with --with-bus)
  seed-strings HOST PORT N SIZE [--slots R]        N string keys of SIZE bytes (MSET, pipelined)
  seed-mixed HOST PORT N TTL_FRACTION TARGET_BYTES [--slots R]
                                                   N keys of all six types, TTL_FRACTION with a TTL
  seed-bigkeys HOST PORT SCALE                     300 MB hash, 5 M zset, 2 M list, 200 MB string, x SCALE
  gen-dump-cmds HOST PORT OUT [--mix M]            SCAN, write for every key: DUMP k (M = dump, the
                                                   default), PTTL k + DUMP k (pttl-dump), MEMORY USAGE k
                                                   + PTTL k + DUMP k (size-pttl-dump), TYPE k + PTTL k
                                                   + GETRANGE k 0 65536 (type-pttl-getrange), or PTTL k
                                                   + GETRANGE k 0 65536 (pttl-getrange)
  gen-restore HOST PORT OUT                        SCAN+PTTL+DUMP, write RESTORE k abs-ms payload ABSTTL
  replay HOST PORT FILE                            stream FILE as one pipeline, skip and count the replies
  exec [--stdin F] [--stdout F] [--stderr F] -- CMD ARGS...
                                                   run CMD, print max_rss_kb, elapsed_s, user_s, sys_s,
                                                   cpu_s, exit
  report-get FILE                                  the counters of a redis-migrate --report-json file
  render RESULTS --markdown OUT.md --json OUT.json print and write the results tables
R is a list of cluster slot ranges, e.g. 0-5460 or 0-100,200-300.
)";

[[noreturn]] void usage_error(const std::string& why) {
  std::fprintf(stderr, "rm-bench: %s\n%s", why.c_str(), kUsage);
  std::exit(2);
}

std::uint64_t to_count(const std::string& s, const char* what) {
  std::size_t used = 0;
  unsigned long long v = 0;
  try {
    v = std::stoull(s, &used);
  } catch (const std::exception&) {
    used = 0;
  }
  if (used != s.size() || s.empty() || s[0] == '-') usage_error(std::string("bad ") + what + ": '" + s + "'");
  return v;
}

double to_real(const std::string& s, const char* what) {
  std::size_t used = 0;
  double v = 0;
  try {
    v = std::stod(s, &used);
  } catch (const std::exception&) {
    used = 0;
  }
  if (used != s.size() || s.empty()) usage_error(std::string("bad ") + what + ": '" + s + "'");
  return v;
}

int to_port(const std::string& s) {
  const auto port = to_count(s, "port");
  if (port == 0 || port > 65535) usage_error("bad port: '" + s + "'");
  return static_cast<int>(port);
}

std::string seconds(double s) {
  char buf[32];
  std::snprintf(buf, sizeof buf, "%.3f", s);
  return buf;
}

// Positional arguments plus an optional trailing "--slots R".
struct SeedArgs {
  std::vector<std::string> positional;
  SlotFilter filter;
};
SeedArgs seed_args(const std::vector<std::string>& args, std::size_t want) {
  SeedArgs out;
  for (std::size_t i = 0; i < args.size(); ++i) {
    if (args[i] == "--slots" && i + 1 < args.size()) {
      out.filter = SlotFilter::parse(args[++i]);
    } else {
      out.positional.push_back(args[i]);
    }
  }
  if (out.positional.size() != want) usage_error("wrong number of arguments");
  return out;
}

void print_seed(const SeedStats& s) {
  std::printf("keys=%llu commands=%llu raw_bytes=%llu with_ttl=%llu elapsed_s=%s\n",
              static_cast<unsigned long long>(s.keys), static_cast<unsigned long long>(s.commands),
              static_cast<unsigned long long>(s.raw_bytes), static_cast<unsigned long long>(s.with_ttl),
              seconds(s.elapsed_s).c_str());
}

bool port_free(int port) {
  const int fd = socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
  sockaddr_in addr{};
  addr.sin_family = AF_INET;
  addr.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
  addr.sin_port = htons(static_cast<std::uint16_t>(port));
  const bool ok = bind(fd, reinterpret_cast<sockaddr*>(&addr), sizeof addr) == 0;
  close(fd);
  return ok;
}

// Binds 127.0.0.1:0 and returns the port the kernel chose (the usual small race with whoever binds next).
int free_port(bool with_bus) {
  for (int attempt = 0; attempt < 100; ++attempt) {
    const int fd = socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
    sockaddr_in addr{};
    addr.sin_family = AF_INET;
    addr.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
    socklen_t len = sizeof addr;
    if (bind(fd, reinterpret_cast<sockaddr*>(&addr), sizeof addr) != 0 ||
        getsockname(fd, reinterpret_cast<sockaddr*>(&addr), &len) != 0) {
      close(fd);
      throw std::runtime_error(std::string("cannot bind a loopback port: ") + std::strerror(errno));
    }
    close(fd);
    const int port = ntohs(addr.sin_port);
    if (!with_bus) return port;
    if (port + 10000 <= 65535 && port_free(port + 10000)) return port;
  }
  throw std::runtime_error("no free port pair (port, port+10000) found");
}

int run(const std::vector<std::string>& argv) {
  if (argv.empty()) usage_error("no command given");
  const std::string& cmd = argv[0];
  const std::vector<std::string> args(argv.begin() + 1, argv.end());

  if (cmd == "selftest") return run_selftest();
  if (cmd == "free-port") {
    std::printf("%d\n", free_port(!args.empty() && args[0] == "--with-bus"));
    return 0;
  }
  if (cmd == "seed-strings") {
    const auto a = seed_args(args, 4);
    print_seed(seed_strings({a.positional[0], to_port(a.positional[1])},
                            to_count(a.positional[2], "key count"), to_count(a.positional[3], "value size"),
                            a.filter));
    return 0;
  }
  if (cmd == "seed-mixed") {
    const auto a = seed_args(args, 5);
    print_seed(seed_mixed({a.positional[0], to_port(a.positional[1])}, to_count(a.positional[2], "key count"),
                          to_real(a.positional[3], "TTL fraction"), to_count(a.positional[4], "target bytes"),
                          a.filter));
    return 0;
  }
  if (cmd == "seed-bigkeys") {
    if (args.size() != 3) usage_error("wrong number of arguments");
    print_seed(seed_bigkeys({args[0], to_port(args[1])}, to_real(args[2], "scale")));
    return 0;
  }
  if (cmd == "gen-dump-cmds") {
    ServeMix mix = ServeMix::kDump;
    if (args.size() == 5 && args[3] == "--mix") {
      if (args[4] == "dump") {
        mix = ServeMix::kDump;
      } else if (args[4] == "pttl-dump") {
        mix = ServeMix::kPttlDump;
      } else if (args[4] == "size-pttl-dump") {
        mix = ServeMix::kSizePttlDump;
      } else if (args[4] == "type-pttl-getrange") {
        mix = ServeMix::kTypePttlGetrange;
      } else if (args[4] == "pttl-getrange") {
        mix = ServeMix::kPttlGetrange;
      } else {
        usage_error("gen-dump-cmds: unknown --mix '" + args[4] + "'");
      }
    } else if (args.size() != 3) {
      usage_error("wrong number of arguments");
    }
    const auto s = write_serve_file(args[0], to_port(args[1]), args[2], mix);
    std::printf("keys=%llu commands=%llu file_bytes=%llu elapsed_s=%s\n",
                static_cast<unsigned long long>(s.keys), static_cast<unsigned long long>(s.commands),
                static_cast<unsigned long long>(s.file_bytes), seconds(s.elapsed_s).c_str());
    return 0;
  }
  if (cmd == "gen-restore") {
    if (args.size() != 3) usage_error("wrong number of arguments");
    const auto s = write_absorb_file(args[0], to_port(args[1]), args[2]);
    std::printf(
        "scanned=%llu keys=%llu with_ttl=%llu expired=%llu vanished=%llu payload_bytes=%llu file_bytes=%llu "
        "elapsed_s=%s\n",
        static_cast<unsigned long long>(s.scanned), static_cast<unsigned long long>(s.keys),
        static_cast<unsigned long long>(s.with_ttl), static_cast<unsigned long long>(s.expired),
        static_cast<unsigned long long>(s.vanished), static_cast<unsigned long long>(s.payload_bytes),
        static_cast<unsigned long long>(s.file_bytes), seconds(s.elapsed_s).c_str());
    return 0;
  }
  if (cmd == "replay") {
    if (args.size() != 3) usage_error("wrong number of arguments");
    const auto s = replay_file(args[0], to_port(args[1]), args[2]);
    std::printf(
        "commands=%llu replies=%llu errors=%llu bytes_out=%llu bytes_in=%llu elapsed_s=%s "
        "replies_per_s=%.0f\n",
        static_cast<unsigned long long>(s.commands), static_cast<unsigned long long>(s.replies),
        static_cast<unsigned long long>(s.errors), static_cast<unsigned long long>(s.bytes_out),
        static_cast<unsigned long long>(s.bytes_in), seconds(s.elapsed_s).c_str(),
        s.elapsed_s > 0 ? static_cast<double>(s.replies) / s.elapsed_s : 0.0);
    if (s.errors > 0)
      std::fprintf(stderr, "rm-bench replay: %llu error replies, first: %s\n",
                   static_cast<unsigned long long>(s.errors), s.first_error.c_str());
    return 0;
  }
  if (cmd == "exec") {
    ExecOptions opts;
    std::size_t i = 0;
    for (; i < args.size() && args[i] != "--"; ++i) {
      if (i + 1 >= args.size()) usage_error("exec: " + args[i] + " needs a value");
      if (args[i] == "--stdin") {
        opts.stdin_path = args[++i];
      } else if (args[i] == "--stdout") {
        opts.stdout_path = args[++i];
      } else if (args[i] == "--stderr") {
        opts.stderr_path = args[++i];
      } else {
        usage_error("exec: unknown option " + args[i]);
      }
    }
    if (i + 1 >= args.size()) usage_error("exec: missing '-- CMD ARGS...'");
    std::fflush(stdout);
    const auto r =
        exec_measure(std::vector<std::string>(args.begin() + static_cast<long>(i) + 1, args.end()), opts);
    std::printf("max_rss_kb=%ld elapsed_s=%s user_s=%s sys_s=%s cpu_s=%s exit=%d signal=%d\n", r.max_rss_kb,
                seconds(r.elapsed_s).c_str(), seconds(r.user_s).c_str(), seconds(r.sys_s).c_str(),
                seconds(r.user_s + r.sys_s).c_str(), r.exit_code, r.signal);
    return 0;
  }
  if (cmd == "report-get") {
    if (args.size() != 1) usage_error("wrong number of arguments");
    std::printf("%s\n", report_fields(args[0]).c_str());
    return 0;
  }
  if (cmd == "render") {
    if (args.size() != 5 || args[1] != "--markdown" || args[3] != "--json")
      usage_error("render: bad arguments");
    std::fputs(render_results(args[0], args[2], args[4]).c_str(), stdout);
    return 0;
  }
  usage_error("unknown command '" + cmd + "'");
}

}  // namespace
}  // namespace rmbench

int main(int argc, char** argv) {
  try {
    return rmbench::run(std::vector<std::string>(argv + 1, argv + argc));
  } catch (const std::exception& e) {
    std::fprintf(stderr, "rm-bench %s: %s\n", argc > 1 ? argv[1] : "", e.what());
    return 1;
  }
}
