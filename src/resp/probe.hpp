#pragma once
// The one probe of a server before a run: INFO, read into ServerFacts (resp/server_facts.hpp).

#include "net/loop.hpp"
#include "resp/connection.hpp"
#include "resp/server_facts.hpp"
#include "util/result.hpp"

namespace rmig::resp {

// Never fails the run by itself: a refused INFO gives known == false. Connection failures are errors.
Result<ServerFacts> probe_server(net::Loop& loop, Connection& conn);

}  // namespace rmig::resp
