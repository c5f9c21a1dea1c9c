#pragma once
// How the tool's Lua scripts and its own deletions are sent, one mechanism for every script (the copy's
// compare-and-delete, the merge, cleanup's deletion): EVALSHA with the script's SHA1, falling back to EVAL
// with its body on any refusal of EVALSHA, and, on a server where UNLINK is refused, each UNLINK as DEL (in
// the scripts and for temporary keys). A server's answer is probed at start (copy/copy_command.cpp,
// check_commands); a refusal met during the run switches the same way.

#include <string>
#include <string_view>

namespace rmig::scripts {

// What one side allows the tool's scripts and deletions.
struct ScriptCommands {
  bool evalsha = true;  // false: EVALSHA is refused (an ACL, a rename-command): every script goes as EVAL
  bool unlink = true;   // false: UNLINK is refused: scripts and temporary keys use DEL
};

// "UNLINK", or "DEL" where UNLINK is refused.
std::string_view delete_command(const ScriptCommands& c) noexcept;

class Script {
 public:
  explicit Script(std::string body);

  // The first two words of a call: "EVALSHA" and the SHA1, or "EVAL" and the body (when `eval`, or when the
  // side refuses EVALSHA), of the UNLINK or the DEL variant as the side allows.
  struct Words {
    std::string_view verb;
    std::string_view script;
  };
  Words words(const ScriptCommands& side, bool eval) const noexcept;
  // The body as written (UNLINK) or with each redis.call('UNLINK' / redis.pcall('UNLINK' as DEL.
  const std::string& body(bool unlink = true) const noexcept { return body_[unlink ? 0 : 1]; }
  const std::string& sha(bool unlink = true) const noexcept { return sha_[unlink ? 0 : 1]; }

  // After an error reply to a call sent as `words(side, eval)`: whether to send it again as EVAL. NOSCRIPT
  // (the script cache was flushed by a restart or a failover) sets `eval` for this call; a refused EVALSHA
  // (unknown: renamed or disabled; NOPERM naming it) also turns EVALSHA off for the side, for every later
  // call. False when the call already went as EVAL (`eval` set), or for any other error. The message alone
  // says the call went as EVALSHA, so replies to calls sent before the side switched fall back too.
  static bool fall_back(std::string_view message, ScriptCommands& side, bool& eval);

 private:
  std::string body_[2];
  std::string sha_[2];
};

}  // namespace rmig::scripts
