#pragma once
// A source node that continued on another server during the run (a cluster failover, or a server restarted
// behind the same address): the report's `source_failovers` entries.

#include <string>

namespace rmig::report {

struct SourceFailover {
  std::string node;        // the source node as reported (host:port at start)
  std::string primary;     // where it continued (host:port)
  std::string cause;       // "node unreachable", "node demoted to replica" or "new server"
  bool rescanned = false;  // its scan started again from the beginning there
};

}  // namespace rmig::report
