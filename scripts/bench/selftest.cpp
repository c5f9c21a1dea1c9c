// `rm-bench selftest`: the parts whose exactness the measurements rest on, checked without a server.
#include "selftest.hpp"

#include <hiredis/hiredis.h>

#include <cstdio>
#include <cstdlib>
#include <stdexcept>
#include <string>
#include <string_view>
#include <vector>

#include "cluster_slot.hpp"
#include "random_text.hpp"
#include "resp_skipper.hpp"
#include "resp_writer.hpp"
#include "seed.hpp"

namespace rmbench {
namespace {

int g_failures = 0;
int g_checks = 0;

void check(bool ok, const std::string& what, int line) {
  ++g_checks;
  if (!ok) {
    ++g_failures;
    std::fprintf(stderr, "selftest: FAILED at line %d: %s\n", line, what.c_str());
  }
}
#define CHECK(cond) check((cond), #cond, __LINE__)
#define CHECK_MSG(cond, msg) check((cond), msg, __LINE__)

struct Sample {
  std::string bytes;
  bool top_error;
};

// One reply of every shape the skipper must handle, with the awkward cases: CRLF inside a bulk payload, empty
// and null bulks and arrays, nesting, an error nested in an array (not a top-level error), RESP3 types, a
// large bulk string.
std::vector<Sample> corpus() {
  std::vector<Sample> s = {
      {"+OK\r\n", false},
      {"-ERR wrong number of arguments\r\n", true},
      {":1234\r\n", false},
      {":-1\r\n", false},
      {"$5\r\nhe\r\nl\r\n", false},
      {"$0\r\n\r\n", false},
      {"$-1\r\n", false},
      {"*-1\r\n", false},
      {"*0\r\n", false},
      {"*2\r\n*3\r\n:1\r\n$1\r\na\r\n*0\r\n+x\r\n", false},
      {"*3\r\n$-1\r\n-BUSYKEY inner\r\n:5\r\n", false},
      {"*1\r\n*1\r\n*1\r\n*1\r\n$3\r\n*1\r\r\n", false},
      {"%2\r\n+k\r\n:1\r\n$2\r\nk2\r\n*1\r\n_\r\n", false},
      {"~2\r\n+a\r\n,3.25\r\n", false},
      {"_\r\n", false},
      {"#t\r\n", false},
      {"(12345678901234567890\r\n", false},
      {"=7\r\ntxt:abc\r\n", false},
      {"!9\r\nERR oops!\r\n", true},
  };
  std::string big = "$100000\r\n";
  Rng rng(7);
  for (int i = 0; i < 100000; ++i)
    big.push_back("ab\r\n$*+-"[rng.below(9)]);
  big += "\r\n";
  s.push_back({big, false});
  return s;
}

void test_skipper_fragments() {
  const auto samples = corpus();
  std::string stream;
  std::vector<std::size_t> ends;  // offset just past each reply
  std::uint64_t errors = 0;
  for (const auto& s : samples) {
    stream += s.bytes;
    ends.push_back(stream.size());
    errors += s.top_error ? 1 : 0;
  }

  {  // all at once
    RespSkipper sk;
    CHECK(sk.feed(stream.data(), stream.size()));
    CHECK(sk.replies() == samples.size());
    CHECK(sk.errors() == errors);
    CHECK(sk.first_error() == "ERR wrong number of arguments");
    CHECK(sk.idle());
    CHECK(sk.bytes() == stream.size());
  }
  {  // byte by byte: the count steps exactly at each reply's last byte
    RespSkipper sk;
    std::size_t next_end = 0;
    bool exact = true;
    for (std::size_t i = 0; i < stream.size(); ++i) {
      exact = exact && sk.feed(stream.data() + i, 1);
      const bool at_end = next_end < ends.size() && i + 1 == ends[next_end];
      if (at_end) ++next_end;
      exact = exact && sk.replies() == next_end && sk.idle() == at_end;
    }
    CHECK_MSG(exact, "byte-by-byte feeding counts each reply exactly at its last byte");
    CHECK(sk.replies() == samples.size());
    CHECK(sk.errors() == errors);
  }
  {  // every split point of the small replies into two fragments
    const std::string small = stream.substr(0, ends[ends.size() - 2]);
    bool all = true;
    for (std::size_t cut = 0; cut <= small.size(); ++cut) {
      RespSkipper sk;
      all = all && sk.feed(small.data(), cut) && sk.feed(small.data() + cut, small.size() - cut) &&
            sk.replies() == samples.size() - 1 && sk.errors() == errors && sk.idle() &&
            sk.first_error() == "ERR wrong number of arguments";
    }
    CHECK_MSG(all, "every two-fragment split of the small replies");
  }
  {  // random fragment sizes over the whole stream, repeated
    Rng rng(42);
    bool all = true;
    for (int round = 0; round < 300; ++round) {
      RespSkipper sk;
      for (std::size_t i = 0; i < stream.size();) {
        const std::size_t n =
            std::min<std::size_t>(stream.size() - i, 1 + rng.below(round % 2 == 0 ? 7 : 4096));
        all = all && sk.feed(stream.data() + i, n);
        i += n;
      }
      all = all && sk.replies() == samples.size() && sk.errors() == errors && sk.idle();
    }
    CHECK_MSG(all, "random fragmentations");
  }
  {  // a half-read reply is not counted
    RespSkipper sk;
    CHECK(sk.feed("$10\r\nabc", 8));
    CHECK(sk.replies() == 0);
    CHECK(!sk.idle());
  }
}

void test_skipper_rejects() {
  const std::vector<std::string> bad = {"?x\r\n",  "$3\r\nabcd\r\n", "*1x\r\n",      "+OK\n",
                                        "$-2\r\n", "$\r\n",          ":1\r\n>1\r\n", "*-1\r\r\n",
                                        "=-1\r\n", "$1\r\na\n\n",    "*1\r\n|1\r\n"};
  for (const auto& b : bad) {
    RespSkipper sk;
    bool ok = true;
    for (const char c : b)
      ok = ok && sk.feed(&c, 1);
    CHECK_MSG(!ok && sk.failed() && !sk.error().empty(), "rejects " + b);
  }
}

void test_writer_matches_hiredis() {
  const std::vector<std::vector<std::string>> commands = {
      {"PTTL", "key:1"},
      {"RESTORE", "k", "0", std::string("\x00\x01\r\n\xff", 5)},
      {"SET", "", ""},
      {"MSET", "a", "1", "b", std::string(70000, 'x')},
  };
  std::string mine;
  CommandWriter w(mine);
  std::string theirs;
  for (const auto& argv : commands) {
    w.begin(argv.size());
    std::vector<const char*> ptrs;
    std::vector<std::size_t> lens;
    for (const auto& a : argv) {
      w.arg(a);
      ptrs.push_back(a.data());
      lens.push_back(a.size());
    }
    char* out = nullptr;
    const long long len =
        redisFormatCommandArgv(&out, static_cast<int>(argv.size()), ptrs.data(), lens.data());
    theirs.append(out, static_cast<std::size_t>(len));
    redisFreeCommand(out);
  }
  CHECK(mine == theirs);
  CHECK(w.commands() == commands.size());
  RespSkipper counter;  // a command file is counted by the same skipper
  CHECK(counter.feed(mine.data(), mine.size()) && counter.replies() == commands.size());

  std::string numbers;
  CommandWriter wn(numbers);
  wn.begin(3);
  wn.arg_number(-1234567890123);
  wn.arg_number(0);
  wn.arg_double(2.5);
  CHECK(numbers == "*3\r\n$14\r\n-1234567890123\r\n$1\r\n0\r\n$3\r\n2.5\r\n");
}

void test_slots() {
  CHECK(crc16_xmodem("123456789") == 0x31C3);
  CHECK(key_slot("foo") == 12182);
  CHECK(key_slot("bar") == 5061);
  CHECK(key_slot("{user1000}.following") == key_slot("{user1000}.followers"));
  CHECK(key_slot("foo{}{bar}") == crc16_xmodem("foo{}{bar}") % 16384);
  CHECK(key_slot("foo{{bar}}zap") == key_slot("{bar"));
  CHECK(key_slot("foo{bar}{zap}") == key_slot("bar"));

  const SlotFilter low = SlotFilter::parse("0-5460");
  CHECK(low.wants("bar") && !low.wants("foo"));
  CHECK(SlotFilter().wants("foo"));
  CHECK(SlotFilter::parse("12182").wants("foo"));
  for (const char* bad : {"5-1", "0-16384", "a-b", "1-", "-1"}) {
    bool threw = false;
    try {
      (void)SlotFilter::parse(bad);
    } catch (const std::invalid_argument&) {
      threw = true;
    }
    CHECK_MSG(threw, std::string("rejects slot range ") + bad);
  }
}

void test_determinism() {
  Rng a = Rng::for_key(1, 99);
  Rng b = Rng::for_key(1, 99);
  CHECK(a.next() == b.next());
  const TextPool pool(5);
  Rng r1(3);
  Rng r2(3);
  CHECK(pool.slice(r1, 100) == pool.slice(r2, 100));
  CHECK(pool.slice(r1, 100).size() == 100);
}

}  // namespace

int run_selftest() {
  test_skipper_fragments();
  test_skipper_rejects();
  test_writer_matches_hiredis();
  test_slots();
  test_determinism();
  std::printf("selftest: %d checks, %d failed\n", g_checks, g_failures);
  return g_failures == 0 ? 0 : 1;
}

}  // namespace rmbench
