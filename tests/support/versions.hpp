#pragma once
// Other server versions for cross-version tests, from Debian's own archive, without installing anything
// system-wide: Valkey 8.0 from bookworm-backports, Redis 6.0 from bullseye, Redis 8.0 and Valkey 8.1 from
// trixie, Valkey 9.x from sid.
//
// The packages are fetched with `apt-get download` from a sources list kept in a temporary directory
// (-o Dir::Etc::sourcelist=... -o Dir::State::Lists=..., the mirror taken from the machine's own apt sources
// or RMIG_DEBIAN_MIRROR,
// Release files accepted past their Valid-Until like the container recipe does), unpacked with
// `dpkg-deb -x` into a cache directory under /tmp named after the package versions, and reused by later runs.
// Debian ships the server binary as *-check-rdb (it picks its mode from argv[0]): a *-server symlink is made
// beside it. Redis 6.0.16 links libssl1.1, liblua5.1-0, lua-cjson and lua-bitop from bullseye, unpacked into
// the same tree and found through LD_LIBRARY_PATH; Valkey 8.0.1 runs with bookworm's libraries.
//
// Redis 8.0 (trixie), Valkey 8.1 (trixie) and Valkey 9.x (sid) are built for a newer C library than Debian
// 12's: their package's libc6 (and Redis 8.0's libstdc++6/libgcc-s1) are unpacked into the same tree and the
// server is started through that tree's own loader (ld-linux-x86-64.so.2 --library-path <tree libs>); the
// other libraries they link (OpenSSL 3, jemalloc, lzf, systemd) come from the machine. The loader is given
// the *-server symlink's path, which the program sees as its argv[0].
//
// A fetch that fails throws std::runtime_error naming the step, its output and what the test needs (network
// access to the Debian mirror): the tests fail loudly instead of skipping.

#include <string>

#include "support/redis_server.hpp"

namespace rmig::test {

struct ServerBuild {
  std::string name;     // "Valkey 8.0"
  std::string binary;   // path of the *-server symlink
  std::string lib_dir;  // for LD_LIBRARY_PATH (or the loader's --library-path); empty when none is needed
  std::string loader;   // the unpacked ld-linux-x86-64.so.2 to start it with; empty: started directly
  std::string version;  // what `binary --version` says, e.g. "8.0.1"

  // ServerOptions that start this build.
  ServerOptions options() const;
};

// Fetched once per test process (and cached across runs); thread-safe.
const ServerBuild& valkey_8_0();
const ServerBuild& redis_6_0();
const ServerBuild& redis_8_0();   // trixie, own loader
const ServerBuild& valkey_8_1();  // trixie, own loader
const ServerBuild& valkey_9();    // sid (9.x), own loader

// RediSearch 1.2 (Debian's redis-redisearch, bookworm), a module whose index keys have a module type: the
// path of the .so for --loadmodule.
const std::string& redisearch_module();

// The directory the builds are cached in (RMIG_VERSIONS_CACHE, default /tmp/rmig-versions).
std::string versions_cache_dir();

}  // namespace rmig::test
