#include "support/versions.hpp"

#include <unistd.h>

#include <algorithm>
#include <cstdio>
#include <cstdlib>
#include <filesystem>
#include <fstream>
#include <functional>
#include <memory>
#include <mutex>
#include <regex>
#include <sstream>
#include <stdexcept>
#include <vector>

#include "support/files.hpp"
#include "support/process.hpp"

namespace rmig::test {

namespace fs = std::filesystem;

namespace {

constexpr const char* kDefaultMirror = "http://deb.debian.org/debian";

struct Recipe {
  std::string name;  // "Valkey 8.0"
  // A module instead of a server: the .so under usr/lib/redis/modules (check_rdb, server, version_prefix
  // unused).
  std::string module;
  std::string slug;                   // cache directory prefix
  std::vector<std::string> packages;  // apt-get download arguments, NAME/SUITE
  std::string check_rdb;              // the binary in usr/bin
  std::string server;                 // the symlink made beside it
  std::string version_prefix;         // what --version must say, e.g. "v=8.0."
  bool needs_libs = false;            // LD_LIBRARY_PATH=usr/lib/x86_64-linux-gnu
  // Built for a newer C library than the machine's: started through the unpacked loader (usr/lib64/
  // ld-linux-x86-64.so.2 --library-path usr/lib/x86_64-linux-gnu), the package's libc6 among `packages`.
  bool own_loader = false;
};

// The mirror of the machine's own Debian sources (deb822 "URIs:" or a one-line "deb URL bookworm ...").
std::string machine_mirror() {
  if (const char* env = std::getenv("RMIG_DEBIAN_MIRROR"); env != nullptr && *env != '\0') return env;
  std::ifstream deb822("/etc/apt/sources.list.d/debian.sources");
  std::string line;
  while (std::getline(deb822, line)) {
    if (line.rfind("URIs:", 0) != 0) continue;
    std::istringstream words(line.substr(5));
    std::string uri;
    while (words >> uri) {
      if (uri.find("security") == std::string::npos) return uri;
    }
  }
  std::ifstream classic("/etc/apt/sources.list");
  static const std::regex kDeb(R"(^\s*deb\s+(?:\[[^\]]*\]\s+)?(\S+)\s+bookworm\s)");
  while (std::getline(classic, line)) {
    std::smatch m;
    if (std::regex_search(line, m, kDeb) && m[1].str().find("security") == std::string::npos) return m[1];
  }
  return kDefaultMirror;
}

[[noreturn]] void fetch_failed(const std::string& what, const std::string& step, const RunResult& r,
                               const std::string& mirror) {
  throw std::runtime_error("cannot fetch " + what + ": " + step + " failed (" +
                           (r.timed_out ? std::string("timed out") : "exit " + std::to_string(r.exit_code)) +
                           ")\n" + tail_lines(r.err + r.out, 15) +
                           "\nthe cross-version tests need network access to the Debian mirror " + mirror +
                           " (taken from /etc/apt/sources.list.d/debian.sources, or RMIG_DEBIAN_MIRROR)");
}

// An apt working area in a temporary directory: bullseye and bookworm-backports, updated once per process.
class AptArea {
 public:
  AptArea() : dir_("rmig-apt"), mirror_(machine_mirror()) {
    std::string list;
    for (const char* suite : {"bullseye", "bookworm-backports", "bookworm", "trixie", "sid"})
      list += "deb " + mirror_ + " " + suite + " main\n";
    write_file(dir_.file("sources.list"), list);
    fs::create_directories(dir_.file("lists/partial"));
    fs::create_directories(dir_.file("cache/archives/partial"));
    fs::create_directories(dir_.file("debs"));
  }

  std::vector<std::string> apt(const std::string& tool) const {
    return {tool, "-q",
            "-o", "Dir::Etc::sourcelist=" + dir_.file("sources.list"),
            "-o", "Dir::Etc::sourceparts=" + dir_.file("no-parts"),
            "-o", "Dir::State::Lists=" + dir_.file("lists"),
            "-o", "Dir::Cache=" + dir_.file("cache"),
            "-o", "Acquire::Check-Valid-Until=false",
            "-o", "APT::Get::List-Cleanup=0",
            "-o", "APT::Sandbox::User=root"};
  }

  void update(const std::string& what) {
    if (updated_) return;
    std::vector<std::string> argv = apt("apt-get");
    argv.push_back("update");
    RunResult r = run(argv, {}, 300s);
    // apt-get update exits 0 when an index could not be fetched, saying so in a warning.
    const std::string said = r.out + r.err;
    if (r.exit_code != 0 || said.find("Failed to fetch") != std::string::npos ||
        said.find("\nErr:") != std::string::npos || said.rfind("Err:", 0) == 0) {
      fetch_failed(what, "apt-get update", r, mirror_);
    }
    updated_ = true;
  }

  const TempDir& dir() const { return dir_; }
  const std::string& mirror() const { return mirror_; }

 private:
  TempDir dir_;
  std::string mirror_;
  bool updated_ = false;
};

std::mutex g_mutex;
std::unique_ptr<AptArea> g_apt;

// A cached build of `recipe`: the first directory named "<slug>_*" with a complete marker.
std::string find_cached(const Recipe& recipe) {
  std::error_code ec;
  for (const auto& e : fs::directory_iterator(versions_cache_dir(), ec)) {
    const std::string name = e.path().filename().string();
    if (name.rfind(recipe.slug + "_", 0) == 0 && fs::exists(e.path() / "complete")) return e.path().string();
  }
  return {};
}

ServerBuild describe(const Recipe& recipe, const std::string& root) {
  ServerBuild b;
  b.name = recipe.name;
  if (!recipe.module.empty()) {
    b.binary = root + "/usr/lib/redis/modules/" + recipe.module;
    return b;
  }
  b.binary = root + "/usr/bin/" + recipe.server;
  if (recipe.needs_libs || recipe.own_loader) b.lib_dir = root + "/usr/lib/x86_64-linux-gnu";
  if (recipe.own_loader) b.loader = root + "/usr/lib64/ld-linux-x86-64.so.2";
  return b;
}

// `binary --version` says the expected version; returns it ("8.0.1").
std::string check_version(const Recipe& recipe, const ServerBuild& b) {
  if (!recipe.module.empty()) {
    if (!fs::exists(b.binary))
      throw std::runtime_error(recipe.name + ": " + b.binary + " is not in the package");
    return {};
  }
  const ServerOptions o = b.options();
  std::vector<std::string> argv = o.launcher;
  argv.push_back(b.binary);
  argv.push_back("--version");
  EnvOverrides env;
  for (const auto& [k, v] : o.env)
    env[k] = v;
  RunResult r = run(argv, env, 30s);
  const std::size_t at = r.out.find(recipe.version_prefix);
  if (r.exit_code != 0 || at == std::string::npos) {
    throw std::runtime_error(recipe.name + ": " + b.binary + " --version did not say " +
                             recipe.version_prefix + " (" + r.describe() + ")");
  }
  const std::size_t start = at + 2;
  return r.out.substr(start, r.out.find(' ', start) - start);
}

ServerBuild fetch(const Recipe& recipe) {
  std::lock_guard<std::mutex> lock(g_mutex);
  if (std::string cached = find_cached(recipe); !cached.empty()) {
    ServerBuild b = describe(recipe, cached);
    b.version = check_version(recipe, b);
    return b;
  }
  if (!g_apt) g_apt = std::make_unique<AptArea>();
  AptArea& apt = *g_apt;
  apt.update(recipe.name);
  const std::string debs = apt.dir().file("debs/" + recipe.slug);
  fs::create_directories(debs);
  ProcessOptions o;
  o.argv = apt.apt("apt-get");
  o.argv.push_back("download");
  o.argv.insert(o.argv.end(), recipe.packages.begin(), recipe.packages.end());
  o.cwd = debs;
  RunResult r = run(std::move(o), 300s);
  if (r.exit_code != 0) fetch_failed(recipe.name, "apt-get download", r, apt.mirror());

  // Named after the package files (their versions), so another version of a package gets its own tree.
  std::vector<std::string> files;
  for (const auto& e : fs::directory_iterator(debs))
    files.push_back(e.path().filename().string());
  std::sort(files.begin(), files.end());
  std::string all;
  std::string tools;
  for (const auto& f : files) {
    all += f + "\n";
    if (f.find("-tools_") != std::string::npos || files.size() == 1) tools = f.substr(0, f.size() - 4);
  }
  char hash[17];
  std::snprintf(hash, sizeof hash, "%016zx", std::hash<std::string>{}(all));
  std::string key = recipe.slug + "_" + tools + "_" + std::string(hash, 8);
  for (auto& ch : key) {
    if (ch == ':' || ch == '%' || ch == '~' || ch == '+') ch = '_';
  }
  fs::create_directories(versions_cache_dir());
  const std::string staging =
      versions_cache_dir() + "/.staging-" + std::to_string(::getpid()) + "-" + recipe.slug;
  fs::remove_all(staging);
  fs::create_directories(staging);
  for (const auto& f : files) {
    std::string deb = debs;
    deb += "/";
    deb += f;
    RunResult x = run({"dpkg-deb", "-x", deb, staging}, {}, 120s);
    if (x.exit_code != 0) fetch_failed(recipe.name, "dpkg-deb -x " + f, x, apt.mirror());
  }
  if (recipe.module.empty()) fs::create_symlink(recipe.check_rdb, staging + "/usr/bin/" + recipe.server);
  ServerBuild probe = describe(recipe, staging);
  check_version(recipe, probe);
  write_file(staging + "/complete", "");
  const std::string final_dir = versions_cache_dir() + "/" + key;
  std::error_code ec;
  fs::rename(staging, final_dir, ec);
  if (ec) fs::remove_all(staging);  // another process cached the same build first
  ServerBuild b = describe(recipe, final_dir);
  b.version = check_version(recipe, b);
  return b;
}

}  // namespace

ServerOptions ServerBuild::options() const {
  ServerOptions o;
  o.binary = binary;
  if (!loader.empty()) {
    // The loader runs the program named by its path: argv[0] is the *-server symlink, so it starts as a
    // server.
    o.launcher = {loader, "--library-path", lib_dir};
  } else if (!lib_dir.empty()) {
    o.env["LD_LIBRARY_PATH"] = lib_dir;
  }
  return o;
}

std::string versions_cache_dir() {
  const char* env = std::getenv("RMIG_VERSIONS_CACHE");
  return env != nullptr && *env != '\0' ? env : "/tmp/rmig-versions";
}

const std::string& redisearch_module() {
  static const std::string path =
      fetch(
          Recipe{
              "RediSearch", "redisearch.so", "redisearch", {"redis-redisearch/bookworm"}, "", "", "", false})
          .binary;
  return path;
}

const ServerBuild& valkey_8_0() {
  static const ServerBuild build = fetch(Recipe{"Valkey 8.0",
                                                "",
                                                "valkey-8.0",
                                                {"valkey-tools/bookworm-backports"},
                                                "valkey-check-rdb",
                                                "valkey-server",
                                                "v=8.0.",
                                                false});
  return build;
}

const ServerBuild& redis_6_0() {
  static const ServerBuild build =
      fetch(Recipe{"Redis 6.0",
                   "",
                   "redis-6.0",
                   {"redis-tools/bullseye", "libssl1.1/bullseye", "liblua5.1-0/bullseye",
                    "lua-cjson/bullseye", "lua-bitop/bullseye"},
                   "redis-check-rdb",
                   "redis-server",
                   "v=6.0.",
                   true});
  return build;
}

const ServerBuild& redis_8_0() {
  static const ServerBuild build =
      fetch(Recipe{"Redis 8.0",
                   "",
                   "redis-8.0",
                   {"redis-tools/trixie", "libc6/trixie", "libstdc++6/trixie", "libgcc-s1/trixie"},
                   "redis-check-rdb",
                   "redis-server",
                   "v=8.0.",
                   false,
                   true});
  return build;
}

const ServerBuild& valkey_8_1() {
  static const ServerBuild build = fetch(Recipe{"Valkey 8.1",
                                                "",
                                                "valkey-8.1",
                                                {"valkey-tools/trixie", "libc6/trixie"},
                                                "valkey-check-rdb",
                                                "valkey-server",
                                                "v=8.1.",
                                                false,
                                                true});
  return build;
}

const ServerBuild& valkey_9() {
  static const ServerBuild build = fetch(Recipe{"Valkey 9",
                                                "",
                                                "valkey-9",
                                                {"valkey-tools/sid", "libc6/sid"},
                                                "valkey-check-rdb",
                                                "valkey-server",
                                                "v=9.",
                                                false,
                                                true});
  return build;
}

}  // namespace rmig::test
