#include "scripts/script.hpp"

#include <spdlog/spdlog.h>

#include "resp/server_error.hpp"
#include "util/sha1.hpp"

namespace rmig::scripts {

namespace {

std::string with_del(std::string body) {
  for (std::string_view call : {"call('UNLINK'", "pcall('UNLINK'"}) {
    const std::string del = std::string(call.substr(0, call.find('\''))) + "'DEL'";
    for (std::size_t at = body.find(call); at != std::string::npos; at = body.find(call, at + del.size()))
      body.replace(at, call.size(), del);
  }
  return body;
}

}  // namespace

std::string_view delete_command(const ScriptCommands& c) noexcept { return c.unlink ? "UNLINK" : "DEL"; }

Script::Script(std::string body) {
  body_[1] = with_del(body);
  body_[0] = std::move(body);
  sha_[0] = sha1_hex(body_[0]);
  sha_[1] = sha1_hex(body_[1]);
}

Script::Words Script::words(const ScriptCommands& side, bool eval) const noexcept {
  const int v = side.unlink ? 0 : 1;
  if (eval || !side.evalsha) return {"EVAL", body_[v]};
  return {"EVALSHA", sha_[v]};
}

bool Script::fall_back(std::string_view message, ScriptCommands& side, bool& eval) {
  // Only EVALSHA answers NOSCRIPT or is refused by name, so the message tells what was sent: a call sent as
  // EVALSHA before another call's refusal turned the side to EVAL falls back too when its own refusal comes.
  if (eval) return false;  // it went as EVAL: nothing to fall back to
  const resp::ServerError kind = resp::classify_error(message);
  if (kind == resp::ServerError::kNoScript) {
    eval = true;
    return true;
  }
  if ((kind == resp::ServerError::kUnknownCommand || kind == resp::ServerError::kNoPerm) &&
      resp::denied_command(message) == "evalsha") {
    if (side.evalsha) spdlog::info("EVALSHA refused ({}): scripts are sent with EVAL from now on", message);
    side.evalsha = false;
    eval = true;
    return true;
  }
  return false;
}

}  // namespace rmig::scripts
