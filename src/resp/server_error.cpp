#include "resp/server_error.hpp"

#include <algorithm>
#include <cctype>
#include <charconv>

namespace rmig::resp {

namespace {
bool starts_with(std::string_view s, std::string_view prefix) noexcept {
  return s.size() >= prefix.size() && s.compare(0, prefix.size(), prefix) == 0;
}
bool contains(std::string_view s, std::string_view needle) noexcept {
  return s.find(needle) != std::string_view::npos;
}

// An ACL denial: NOPERM for a command sent directly, or the error a script gets from redis.call (7.0: "ERR
// The user executing the script can't ...", 7.2+: "ERR ACL failure in script: ..."). A denied command dooms
// every key; a denied key (outside the user's ~patterns) only that key. Redis 6.0-7.0 say "access one of the
// keys used as arguments", 7.2+ "No permissions to access a key", scripts "access at least one of the keys".
std::optional<ServerError> classify_acl_denial(std::string_view m) noexcept {
  const bool direct = starts_with(m, "NOPERM");
  const bool script = starts_with(m, "ERR The user executing the script can't") ||
                      starts_with(m, "ERR ACL failure in script");
  if (!direct && !script) return std::nullopt;
  if (contains(m, "to run the '") || contains(m, "can't run this command")) return ServerError::kNoPerm;
  if (contains(m, "access a key") || contains(m, "of the keys") || contains(m, "' key")) {
    return ServerError::kNoPermKey;
  }
  return ServerError::kNoPerm;
}
}  // namespace

ServerError classify_error(std::string_view m) noexcept {
  if (starts_with(m, "BUSYKEY")) return ServerError::kBusyKey;
  if (starts_with(m, "WRONGTYPE")) return ServerError::kWrongType;
  if (starts_with(m, "MOVED ")) return ServerError::kMoved;
  if (starts_with(m, "ASK ")) return ServerError::kAsk;
  if (starts_with(m, "OOM")) return ServerError::kOom;
  if (starts_with(m, "READONLY")) return ServerError::kReadOnly;
  if (starts_with(m, "NOAUTH")) return ServerError::kNoAuth;
  if (starts_with(m, "WRONGPASS")) return ServerError::kWrongPass;
  if (auto acl = classify_acl_denial(m)) return *acl;
  if (starts_with(m, "LOADING")) return ServerError::kLoading;
  if (starts_with(m, "TRYAGAIN")) return ServerError::kTryAgain;
  if (starts_with(m, "CLUSTERDOWN")) return ServerError::kClusterDown;
  if (starts_with(m, "CROSSSLOT")) return ServerError::kCrossSlot;
  if (starts_with(m, "MISCONF")) return ServerError::kMisconf;
  if (starts_with(m, "BUSY ")) return ServerError::kBusy;
  if (starts_with(m, "MASTERDOWN")) return ServerError::kMasterDown;
  if (starts_with(m, "NOSCRIPT")) return ServerError::kNoScript;
  if (contains(m, "DUMP payload version or checksum are wrong") || contains(m, "Bad data format")) {
    return ServerError::kBadPayload;
  }
  if (starts_with(m, "ERR unknown command")) return ServerError::kUnknownCommand;
  if (contains(m, "max number of clients reached")) return ServerError::kMaxClients;
  // Older servers answer a wrong password with a plain ERR.
  if (starts_with(m, "ERR invalid password") || starts_with(m, "ERR invalid username-password")) {
    return ServerError::kWrongPass;
  }
  return ServerError::kOther;
}

std::optional<Redirect> parse_redirect(std::string_view m) {
  std::size_t sp = m.find(' ');
  if (sp == std::string_view::npos) return std::nullopt;
  std::string_view rest = m.substr(sp + 1);
  std::size_t sp2 = rest.find(' ');
  if (sp2 == std::string_view::npos) return std::nullopt;
  Redirect r;
  std::string_view slot = rest.substr(0, sp2);
  if (std::from_chars(slot.data(), slot.data() + slot.size(), r.slot).ec != std::errc()) return std::nullopt;
  std::string_view addr = rest.substr(sp2 + 1);
  std::size_t colon = addr.rfind(':');
  if (colon == std::string_view::npos) return std::nullopt;
  std::string_view port = addr.substr(colon + 1);
  if (std::from_chars(port.data(), port.data() + port.size(), r.port).ec != std::errc()) return std::nullopt;
  std::string_view host = addr.substr(0, colon);
  if (host.size() >= 2 && host.front() == '[' && host.back() == ']') host = host.substr(1, host.size() - 2);
  r.host = std::string(host);
  return r;
}

std::string denied_command(std::string_view m) {
  // Anchored on the phrase before the quote: "can't" holds a quote of its own.
  std::size_t a = std::string_view::npos;
  for (std::string_view anchor : {"run the '", "command '"}) {
    if (std::size_t p = m.find(anchor); p != std::string_view::npos) {
      a = p + anchor.size() - 1;
      break;
    }
  }
  if (a == std::string_view::npos) return {};
  std::size_t b = m.find('\'', a + 1);
  if (b == std::string_view::npos) return {};
  std::string cmd(m.substr(a + 1, b - a - 1));
  std::transform(cmd.begin(), cmd.end(), cmd.begin(), [](unsigned char c) { return std::tolower(c); });
  return cmd;
}

}  // namespace rmig::resp
