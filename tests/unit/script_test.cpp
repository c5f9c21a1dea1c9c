// The one mechanism every Lua script is sent through: EVALSHA falling back to EVAL on any refusal, and UNLINK
// replaced by DEL where it is refused.

#include "scripts/script.hpp"

#include <doctest/doctest.h>

#include <string>

#include "scripts/scripts.hpp"
#include "util/sha1.hpp"

using rmig::scripts::Script;
using rmig::scripts::ScriptCommands;

TEST_SUITE("script") {
  TEST_CASE("the DEL variant replaces each UNLINK call and has its own SHA1") {
    const Script s("redis.call('UNLINK', KEYS[1])\nlocal r = redis.pcall('UNLINK', KEYS[2])\nreturn 1\n");
    CHECK(s.body(false) == "redis.call('DEL', KEYS[1])\nlocal r = redis.pcall('DEL', KEYS[2])\nreturn 1\n");
    CHECK(s.sha() == rmig::sha1_hex(s.body()));
    CHECK(s.sha(false) == rmig::sha1_hex(s.body(false)));
    CHECK(s.sha() != s.sha(false));
    // Every script the tool sends: one that deletes with UNLINK has a DEL variant deleting with DEL only;
    // one that does not is its own DEL variant.
    int unlinking = 0;
    for (const Script* script : rmig::scripts::all()) {
      CHECK(script->body(false).find("UNLINK") == std::string::npos);
      if (script->body().find("'UNLINK'") == std::string::npos) {
        CHECK(script->body(false) == script->body());
        continue;
      }
      ++unlinking;
      CHECK(script->body(false).find("'DEL'") != std::string::npos);
    }
    CHECK(unlinking == 4);  // compare-and-delete, the merge, the move with overwrite, restore unless equal
    for (std::size_t i = 0; i < rmig::scripts::all().size(); ++i) {
      for (std::size_t k = i + 1; k < rmig::scripts::all().size(); ++k)
        CHECK(rmig::scripts::all()[i]->sha() != rmig::scripts::all()[k]->sha());  // listed once each
    }
    // The tolerance the header states is the one the script applies.
    const std::string tolerance = std::to_string(rmig::scripts::kExpiryToleranceMs);
    CHECK(rmig::scripts::compare_and_delete().body().find("drift > " + tolerance + " or drift < -" +
                                                          tolerance) != std::string::npos);
    CHECK(rmig::scripts::compare_and_delete().body().find("'UNLINK'") != std::string::npos);
    CHECK(rmig::scripts::merge().body().find("'UNLINK'") != std::string::npos);
  }

  TEST_CASE("words: EVALSHA with the SHA1, EVAL with the body when asked or when the side refuses EVALSHA") {
    const Script s("return redis.call('UNLINK', KEYS[1])");
    ScriptCommands side;
    CHECK(s.words(side, false).verb == "EVALSHA");
    CHECK(s.words(side, false).script == s.sha());
    CHECK(s.words(side, true).verb == "EVAL");
    CHECK(s.words(side, true).script == s.body());
    side.unlink = false;
    CHECK(s.words(side, false).script == s.sha(false));
    side.evalsha = false;
    CHECK(s.words(side, false).verb == "EVAL");
    CHECK(s.words(side, false).script == s.body(false));
  }

  TEST_CASE("fall_back: NOSCRIPT for this call, a refused EVALSHA for every later call, nothing else") {
    ScriptCommands side;
    bool eval = false;
    CHECK(Script::fall_back("NOSCRIPT No matching script. Please use EVAL.", side, eval));
    CHECK(eval);
    CHECK(side.evalsha);  // the cache was flushed: the next call tries EVALSHA again
    CHECK_FALSE(
        Script::fall_back("NOSCRIPT No matching script. Please use EVAL.", side, eval));  // sent as EVAL

    eval = false;
    CHECK(
        Script::fall_back("ERR unknown command 'EVALSHA', with args beginning with: 'abc' '1' ", side, eval));
    CHECK(eval);
    CHECK_FALSE(side.evalsha);

    // A call sent as EVALSHA before another call's refusal switched the side: its own refusal, arriving
    // later, falls back too.
    eval = false;
    CHECK(
        Script::fall_back("ERR unknown command 'EVALSHA', with args beginning with: 'abc' '1' ", side, eval));
    CHECK(eval);

    ScriptCommands acl;
    eval = false;
    CHECK(Script::fall_back("NOPERM User u has no permissions to run the 'evalsha' command", acl, eval));
    CHECK_FALSE(acl.evalsha);

    // Errors of the script itself, or of a command it runs, are not EVALSHA's.
    ScriptCommands other;
    eval = false;
    CHECK_FALSE(
        Script::fall_back("NOPERM User u has no permissions to run the 'unlink' command", other, eval));
    CHECK_FALSE(
        Script::fall_back("ERR Error running script: @user_script:1: Unknown Redis command called "
                          "from script",
                          other, eval));
    CHECK_FALSE(Script::fall_back("BUSY Redis is busy running a script.", other, eval));
    CHECK_FALSE(eval);
    CHECK(other.evalsha);
  }
}
