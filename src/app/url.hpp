#pragma once
// Redis URLs, parsed with Boost.URL:
//   redis://[[user]:password@]host[:port][/db]     plain TCP, defaults port 6379 and db 0
//   rediss://...                                   the same over TLS
//   unix://[[user]:password@]/path/to.sock[?db=N]  Unix socket
// User and password are percent-decoded. IPv6 hosts are written in brackets: redis://[::1]:6379.

#include <string>
#include <string_view>

#include "net/endpoint.hpp"
#include "util/result.hpp"

namespace rmig::app {

struct RedisUrl {
  net::Endpoint endpoint;  // endpoint.tls.enabled is set for rediss://
  std::string user;
  std::string password;
  int db = 0;
  bool db_given = false;  // the URL named a database explicitly
  // The URL with the password replaced by ***: the only form that is ever printed.
  std::string redacted() const;
};

// `what` names the URL in errors ("source URL"). Errors are usage errors (exit code 2), never show a
// password.
Result<RedisUrl> parse_redis_url(std::string_view text, std::string_view what);

// Best-effort redaction of a URL that may not parse: hides whatever follows "user:" in the authority.
std::string redact_raw_url(std::string_view text);

}  // namespace rmig::app
