#include "resp/probe.hpp"

#include <spdlog/spdlog.h>

#include "resp/info.hpp"

namespace rmig::resp {

Result<ServerFacts> probe_server(net::Loop& loop, Connection& conn) {
  auto reply = call_sync(loop, conn, {"INFO"});
  if (!reply) return reply.error();
  const redisReply* r = reply->get();
  if (!is_string(r)) {
    // A minimal ACL user may not run INFO: the run goes on without the checks it enables.
    spdlog::debug("{}: INFO refused ({}); skipping the same-server and replica checks", conn.label(),
                  describe(r));
    return ServerFacts{};
  }
  return facts_from_info(parse_info(text(r)));
}

}  // namespace rmig::resp
