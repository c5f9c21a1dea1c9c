// What an operator meets around a run: signals (SIGHUP as a closed terminal or a dropped SSH session), closed
// pipes on stdout and stderr, paths and destinations checked before the first write, commands a managed
// service renamed or refused, and the progress bar on a terminal.

#include <doctest/doctest.h>
#include <fcntl.h>
#include <poll.h>
#include <sys/prctl.h>
#include <sys/wait.h>
#include <unistd.h>

#include <csignal>
#include <cstdlib>
#include <thread>

#include "helpers.hpp"
#include "support/compare.hpp"
#include "support/redis_server.hpp"

using namespace rmig::test;

namespace {

// Every seeded key exists somewhere with its value: on the destination, or still on the source.
void require_kept(Client& src, Client& dst, int n, const std::string& prefix) {
  int lost = 0;
  for (int i = 0; i < n; ++i) {
    const std::string key = prefix + std::to_string(i);
    const std::string value = seeded_value(prefix, i);
    if (dst.command({"GET", key}).str != value && src.command({"GET", key}).str != value) {
      if (++lost <= 5) FAIL_CHECK("key " << key << " is on neither side with its value");
    }
  }
  REQUIRE(lost == 0);
}

bool lock_held(KeyReader& dst) { return dst.command({"EXISTS", "redis-migrate:lock"}).integer != 0; }

// How a run with one output stream on a pipe ended, and what was read from the pipe before its read end was
// closed.
struct PipedRun {
  int exit_code = -1;
  int term_signal = 0;
  std::string read;
};

// Runs the tool with `fd` (1 or 2) writing into a pipe; the other stream goes to /dev/null. The pipe is read
// until `needle` has come by (empty: not at all), then its read end is closed while the run goes on: every
// later write to it fails (EPIPE, or SIGPIPE when not ignored).
PipedRun run_with_pipe_closed(const std::vector<std::string>& args, int fd, const std::string& needle) {
  int p[2];
  REQUIRE(::pipe2(p, O_CLOEXEC) == 0);
  const pid_t pid = ::fork();
  REQUIRE(pid >= 0);
  if (pid == 0) {
    ::prctl(PR_SET_PDEATHSIG, SIGKILL);
    // As a shell starts it: SIGPIPE at its default (kill), not inherited ignored from the test runner.
    std::signal(SIGPIPE, SIG_DFL);
    const int null = ::open("/dev/null", O_WRONLY);
    ::dup2(p[1], fd);
    ::dup2(null, fd == 1 ? 2 : 1);
    for (auto name : kToolEnvVars)
      ::unsetenv(std::string(name).c_str());
    std::vector<std::string> argv{tool_path()};
    argv.insert(argv.end(), args.begin(), args.end());
    std::vector<char*> raw;
    for (auto& a : argv)
      raw.push_back(a.data());
    raw.push_back(nullptr);
    ::execv(raw[0], raw.data());
    ::_exit(127);
  }
  ::close(p[1]);
  PipedRun out;
  const auto end = std::chrono::steady_clock::now() + 60s;
  while (!needle.empty() && out.read.find(needle) == std::string::npos &&
         std::chrono::steady_clock::now() < end) {
    pollfd pfd{p[0], POLLIN, 0};
    if (::poll(&pfd, 1, 1000) <= 0) continue;
    char buf[4096];
    const ssize_t n = ::read(p[0], buf, sizeof buf);
    if (n <= 0) break;
    out.read.append(buf, static_cast<std::size_t>(n));
  }
  ::close(p[0]);
  int status = 0;
  const auto deadline = std::chrono::steady_clock::now() + 120s;
  while (::waitpid(pid, &status, WNOHANG) == 0) {
    if (std::chrono::steady_clock::now() > deadline) {
      ::kill(pid, SIGKILL);
      ::waitpid(pid, &status, 0);
      FAIL_CHECK("the run did not end within 120 s");
      break;
    }
    std::this_thread::sleep_for(20ms);
  }
  if (WIFEXITED(status)) out.exit_code = WEXITSTATUS(status);
  if (WIFSIGNALED(status)) out.term_signal = WTERMSIG(status);
  return out;
}

// Runs `command` (a shell command line) on a pseudo-terminal with script(1) and returns everything written
// to the terminal, and the command's exit code.
std::pair<std::string, int> run_on_terminal(const std::string& command, const std::string& dir) {
  const std::string typescript = dir + "/typescript";
  // A fixed width, so that the bar is not cut to an unknown terminal size.
  auto r = run({"script", "-qfec", "stty cols 200 2>/dev/null; " + command, typescript}, {}, 120s);
  return {read_file(typescript), r.exit_code};
}

std::string shell_quote(const std::string& s) {
  std::string q = "'";
  for (char c : s) {
    if (c == '\'') {
      q += "'\\''";
    } else {
      q += c;
    }
  }
  return q + "'";
}

std::size_t count(const std::string& text, const std::string& needle) {
  std::size_t n = 0;
  for (std::size_t at = text.find(needle); at != std::string::npos; at = text.find(needle, at + 1))
    ++n;
  return n;
}

}  // namespace

TEST_SUITE("operator") {
  TEST_CASE("--help lists the exit codes of a SIGHUP and of a report that could not be written") {
    RunResult help = run_tool({"--help"}, {}, 30s);
    INFO(help.describe());
    REQUIRE(help.exit_code == 0);
    const std::string exits = help.out.substr(help.out.find("Exit codes:"));
    CHECK(exits.find("\n  6    the work finished but its --report-json could not be written") !=
          std::string::npos);
    CHECK(exits.find("129 by SIGHUP") != std::string::npos);
    CHECK(exits.find("a command refused or renamed") != std::string::npos);
  }

  TEST_CASE(
      "SIGHUP mid-copy finishes the keys in flight, checkpoints interrupted, releases the lock, exits 129") {
    RedisServer src_server, dst_server;
    Client src = src_server.client();
    Client dst = dst_server.client();
    seed_strings(src, 4000, "k:");
    TempDir dir("report");
    auto tool = start_tool({src_server.url(), dst_server.url(), "--rate-limit", "500", "--progress-interval",
                            "0.1", "--report-json", dir.file("r.json")});
    REQUIRE(tool.wait_for_output("progress", 30s, Stream::kErr));
    tool.send_signal(SIGHUP);
    auto result = tool.finish(60s);
    INFO(result.describe());
    CHECK(result.exit_code == 129);
    CHECK(result.err.find("SIGHUP: stopping the scan") != std::string::npos);
    CHECK(result.err.find("copy interrupted") != std::string::npos);  // the summary
    const auto report = nlohmann::json::parse(read_file(dir.file("r.json")));
    CHECK(report["exit_code"] == 129);
    CHECK(report["stopped"] == "interrupted by SIGHUP");
    const uint64_t copied = report["copied"];
    CHECK(copied > 0);
    CHECK(copied < 4000);
    CHECK(static_cast<uint64_t>(user_dbsize(dst)) == copied);  // the keys in flight were finished
    const nlohmann::json record = latest_record(dst);
    REQUIRE(record.is_object());
    CHECK(record["status"] == "interrupted");
    CHECK(record["exit_code"] == 129);
    CHECK_FALSE(lock_held(dst));
    CHECK(src.dbsize() == 4000);
  }

  TEST_CASE("a closed stderr mid-copy does not end the run: report complete, lock released, exit 0") {
    RedisServer src_server, dst_server;
    Client src = src_server.client();
    Client dst = dst_server.client();
    seed_strings(src, 3000, "k:");
    TempDir dir("report");
    // Progress lines every 50 ms for about 3 s: most of them meet the closed pipe.
    auto run = run_with_pipe_closed({src_server.url(), dst_server.url(), "--rate-limit", "1000",
                                     "--progress-interval", "0.05", "--report-json", dir.file("r.json")},
                                    2, "progress");
    CHECK(run.read.find("progress") != std::string::npos);
    CHECK(run.term_signal == 0);
    CHECK(run.exit_code == 0);
    const auto report = nlohmann::json::parse(read_file(dir.file("r.json")));
    CHECK(report["exit_code"] == 0);
    CHECK(report["copied"] == 3000);
    CHECK(user_dbsize(dst) == 3000);
    const nlohmann::json record = latest_record(dst);
    REQUIRE(record.is_object());
    CHECK(record["status"] == "finished");
    CHECK_FALSE(lock_held(dst));
    require_kept(src, dst, 3000, "k:");
  }

  TEST_CASE(
      "a closed stdout under --report-json -, or a full disk under the report, exits 6 after the work") {
    RedisServer src_server, dst_server;
    Client src = src_server.client();
    Client dst = dst_server.client();
    seed_strings(src, 2000, "k:");
    // The read end is closed at once: the report, written at the end, meets a closed pipe.
    auto run = run_with_pipe_closed(
        {src_server.url(), dst_server.url(), "--progress-interval", "0", "--report-json", "-"}, 1, "");
    CHECK(run.term_signal == 0);
    CHECK(run.exit_code == 6);
    CHECK(user_dbsize(dst) == 2000);  // the work was done
    const nlohmann::json record = latest_record(dst);
    REQUIRE(record.is_object());
    CHECK(record["status"] == "finished");
    CHECK_FALSE(lock_held(dst));

    // A full disk under the report file: the same exit code, after the same work.
    dst.flushall();
    auto full = run_tool(
        {src_server.url(), dst_server.url(), "--progress-interval", "0", "--report-json", "/dev/full"});
    INFO(full.describe());
    CHECK(full.exit_code == 6);
    CHECK(full.err.find("--report-json /dev/full: write failed (No space left on device)") !=
          std::string::npos);
    CHECK(user_dbsize(dst) == 2000);
    CHECK_FALSE(lock_held(dst));
  }

  TEST_CASE("an unwritable --report-json or --state-file exits 2 before any key moves") {
    RedisServer src_server, dst_server;
    Client src = src_server.client();
    Client dst = dst_server.client();
    seed_strings(src, 500, "k:");
    TempDir dir("paths");
    write_file(dir.file("plain"), "a file, not a directory\n");

    auto report = run_tool({src_server.url(), dst_server.url(), "--report-json", "/nonexistent/x.json"});
    INFO(report.describe());
    CHECK(report.exit_code == 2);
    CHECK(report.err.find("--report-json /nonexistent/x.json") != std::string::npos);
    CHECK(report.err.find("/nonexistent does not exist") != std::string::npos);
    CHECK(dst.dbsize() == 0);  // no key, no lock, no record

    const std::string state = dir.file("plain") + "/run.json";
    auto state_run = run_tool({src_server.url(), dst_server.url(), "--state-file", state});
    INFO(state_run.describe());
    CHECK(state_run.exit_code == 2);
    CHECK(state_run.err.find("--state-file " + state) != std::string::npos);
    CHECK(dst.dbsize() == 0);

    // A writable path is left as it was found: the check creates nothing that stays.
    auto ok = run_tool({src_server.url(), dst_server.url(), "--state-file", dir.file("run.json"),
                        "--report-json", dir.file("r.json"), "--progress-interval", "0"});
    INFO(ok.describe());
    CHECK(ok.exit_code == 0);
    CHECK(user_dbsize(dst) == 500);
    CHECK(read_file(dir.file("r.json")).find("\"copied\": 500") != std::string::npos);
    CHECK(::access(dir.file("run.json.tmp").c_str(), F_OK) != 0);
  }

  TEST_CASE("--all-dbs onto a destination with fewer databases exits 2 naming the DB, nothing written") {
    RedisServer src_server;
    RedisServer dst_server(ServerOptions{.extra_args = {"--databases", "2"}});
    Client src0 = src_server.client(0);
    Client src5 = src_server.client(5);
    seed_strings(src0, 50, "a:");
    seed_strings(src5, 50, "b:");
    auto r = run_tool({src_server.url(), dst_server.url(), "--all-dbs", "--progress-interval", "0"});
    INFO(r.describe());
    CHECK(r.exit_code == 2);
    CHECK(r.err.find("DB 5") != std::string::npos);
    CHECK(r.err.find("has only 2 databases") != std::string::npos);
    CHECK(dst_server.client(0).dbsize() == 0);  // DB 0 was not copied first
    CHECK(dst_server.client(1).dbsize() == 0);
  }

  TEST_CASE(
      "SCAN, DUMP or RESTORE renamed: exit 3 naming the command, nothing written; --mode rewrite then "
      "copies") {
    struct Case {
      const char* command;
      bool on_source;
    };
    for (const Case c : {Case{"SCAN", true}, Case{"DUMP", true}, Case{"RESTORE", false}}) {
      CAPTURE(c.command);
      const ServerOptions renamed{
          .extra_args = {"--rename-command", c.command, std::string(c.command) + "_X9"}};
      RedisServer src_server(c.on_source ? renamed : ServerOptions{});
      RedisServer dst_server(c.on_source ? ServerOptions{} : renamed);
      Client src = src_server.client();
      Client dst = dst_server.client();
      seed_strings(src, 200, "k:");
      auto r = run_tool({src_server.url(), dst_server.url(), "--progress-interval", "0"});
      INFO(r.describe());
      CHECK(r.exit_code == 3);
      CHECK(r.err.find(std::string(c.command) + " is refused") != std::string::npos);
      CHECK(r.err.find("rename-command") != std::string::npos);
      CHECK(nonempty_lines(r.err).size() <= 4);  // the start-up lines and the one error line, no summary
      CHECK(dst.dbsize() == 0);                  // no key, no lock, no record
      CHECK(src.dbsize() == 200);
      // The line names the way around a missing DUMP or RESTORE, and that way works.
      if (std::string_view(c.command) != "SCAN") {
        CHECK(r.err.find("--mode rewrite copies without it") != std::string::npos);
        src.checked({"HSET", "h", "f", "v"});
        src.checked({"PEXPIRE", "k:7", "500000"});
        auto rw =
            run_tool({src_server.url(), "--mode", "rewrite", dst_server.url(), "--progress-interval", "0"});
        INFO(rw.describe());
        CHECK(rw.exit_code == 0);
        check_same(compare_keyspaces(src, dst), 201);
      }
    }
  }

  TEST_CASE("EVALSHA renamed: cleanup, the cleanup command and merges fall back to EVAL") {
    const ServerOptions renamed{.extra_args = {"--rename-command", "EVALSHA", ""}};
    RedisServer src_server(renamed), dst_server(renamed);
    Client src = src_server.client();
    Client dst = dst_server.client();
    seed_strings(src, 3000, "k:");
    auto moved =
        run_copy({src_server.url(), dst_server.url(), "--cleanup", "--yes", "--progress-interval", "0"});
    INFO(moved.result.describe());
    CHECK(moved.exit_code() == 0);
    CHECK(moved.counter("deleted") == 3000);
    CHECK(moved.result.err.find("EVALSHA refused") != std::string::npos);
    CHECK(src.dbsize() == 0);
    require_kept(src, dst, 3000, "k:");

    // The cleanup command, on keys copied without --cleanup.
    seed_strings(src, 100, "c:");
    REQUIRE(run_tool({src_server.url(), dst_server.url(), "--progress-interval", "0"}).exit_code == 0);
    auto cleaned =
        run_copy({"cleanup", src_server.url(), dst_server.url(), "--yes", "--progress-interval", "0"});
    INFO(cleaned.result.describe());
    CHECK(cleaned.exit_code() == 0);
    CHECK(cleaned.counter("deleted") == 100);
    CHECK(src.dbsize() == 0);
    require_kept(src, dst, 100, "c:");

    // The merge script on the destination.
    src.checked({"HSET", "h", "a", "1", "b", "2"});
    dst.checked({"HSET", "h", "c", "3"});
    auto merged = run_copy(
        {src_server.url(), dst_server.url(), "--on-conflict", "merge", "--yes", "--progress-interval", "0"});
    INFO(merged.result.describe());
    CHECK(merged.exit_code() == 0);
    CHECK(merged.counter("merged") == 1);
    CHECK(dst.command({"HLEN", "h"}).integer == 3);
  }

  TEST_CASE("UNLINK renamed: cleanup, the cleanup command and merges delete with DEL") {
    const ServerOptions renamed{.extra_args = {"--rename-command", "UNLINK", ""}};
    RedisServer src_server(renamed), dst_server(renamed);
    Client src = src_server.client();
    Client dst = dst_server.client();
    seed_strings(src, 300, "k:");
    auto moved =
        run_copy({src_server.url(), dst_server.url(), "--cleanup", "--yes", "--progress-interval", "0"});
    INFO(moved.result.describe());
    CHECK(moved.exit_code() == 0);
    CHECK(moved.counter("deleted") == 300);
    CHECK(moved.counter("cleanup_failed") == 0);
    CHECK(src.dbsize() == 0);
    require_kept(src, dst, 300, "k:");

    seed_strings(src, 100, "c:");
    REQUIRE(run_tool({src_server.url(), dst_server.url(), "--progress-interval", "0"}).exit_code == 0);
    auto cleaned =
        run_copy({"cleanup", src_server.url(), dst_server.url(), "--yes", "--progress-interval", "0"});
    INFO(cleaned.result.describe());
    CHECK(cleaned.exit_code() == 0);
    CHECK(cleaned.counter("deleted") == 100);
    CHECK(src.dbsize() == 0);
    require_kept(src, dst, 100, "c:");

    src.checked({"SADD", "s", "a", "b"});
    dst.checked({"SADD", "s", "c"});
    auto merged = run_copy(
        {src_server.url(), dst_server.url(), "--on-conflict", "merge", "--yes", "--progress-interval", "0"});
    INFO(merged.result.describe());
    CHECK(merged.exit_code() == 0);
    CHECK(merged.counter("merged") == 1);
    CHECK(dst.command({"SCARD", "s"}).integer == 3);
    CHECK(dst.scan_all("*tmp*").empty());  // the merge's temporary key was deleted (with DEL)

    // An ACL user allowed DEL and EVAL but neither UNLINK nor EVALSHA (nor MULTI: probed one by one): the
    // same stand-ins. (+info: a deleting run proves source and destination are different servers.)
    RedisServer acl_src(
        ServerOptions{.acl_users = {"user mig on >mig-pw ~* +scan +dump +pttl +eval +del +info"}});
    RedisServer acl_dst;
    Client a = acl_src.client();
    Client ad = acl_dst.client();
    seed_strings(a, 50, "u:");
    auto acl = run_copy(
        {acl_src.url_as("mig", "mig-pw"), acl_dst.url(), "--cleanup", "--yes", "--progress-interval", "0"});
    INFO(acl.result.describe());
    CHECK(acl.exit_code() == 0);
    CHECK(acl.counter("deleted") == 50);
    CHECK(a.dbsize() == 0);
    require_kept(a, ad, 50, "u:");
  }

  TEST_CASE(
      "on a terminal the progress bar redraws in place; log lines and the summary get their own lines") {
    RedisServer src_server, dst_server;
    Client src = src_server.client();
    seed_strings(src, 4000, "k:");
    TempDir dir("pty");
    // SIGHUP after 1.5 s: its warning is a log line printed while the bar is shown.
    const std::string tool = shell_quote(tool_path()) + " " + src_server.url() + " " + dst_server.url() +
                             " --rate-limit 1000 --report-json " + shell_quote(dir.file("r.json"));
    auto [out, rc] = run_on_terminal(tool + " & p=$!; sleep 1.5; kill -HUP $p; wait $p", dir.path());
    INFO(out);
    CHECK(rc == 129);
    // Redrawn in place: several bars, each starting with a carriage return, each erasing the rest of the
    // line.
    CHECK(count(out, "\r[") >= 2);
    CHECK(count(out, "keys/s") >= 2);
    CHECK(out.find("ETA") != std::string::npos);
    CHECK(out.find("\x1b[K") != std::string::npos);
    CHECK(out.find("progress ") == std::string::npos);  // not the line format of a pipe
    // The warning erased the bar first, then printed its line, and the bar came back after it.
    const std::size_t warn = out.find("SIGHUP: stopping the scan");
    REQUIRE(warn != std::string::npos);
    const std::size_t line_start = out.rfind("\n", warn);
    const std::size_t erased = out.rfind("\r\x1b[K", warn);
    REQUIRE(erased != std::string::npos);
    CHECK((line_start == std::string::npos || erased > line_start));  // erased on the line the warning starts
    CHECK(out.find("\n", warn) < out.find("copy interrupted"));
    // The summary: the bar erased, then its lines each on their own.
    const std::size_t summary = out.find("copy interrupted");
    REQUIRE(summary != std::string::npos);
    CHECK(out.rfind("\r\x1b[K", summary) > out.rfind("\r[", summary));
    CHECK(out.find("\r[", summary) == std::string::npos);  // no bar after it
    CHECK(out.find("\n  copied ", summary) != std::string::npos);
    CHECK(out.find("\nexit code 129", summary) != std::string::npos);
    const auto report = nlohmann::json::parse(read_file(dir.file("r.json")));
    CHECK(report["exit_code"] == 129);

    // With --log-format json on the same terminal: JSON lines, no bar.
    Client dst = dst_server.client();
    dst.flushall();
    auto [json_out, json_rc] =
        run_on_terminal(tool + " --log-format json --progress-interval 0.2", dir.path());
    INFO(json_out);
    CHECK(json_rc == 0);
    CHECK(json_out.find("\r[") == std::string::npos);
    CHECK(json_out.find("\"event\":\"progress\"") != std::string::npos);
  }

  TEST_CASE("in a pipe the progress stays one line per --progress-interval, without redraws") {
    RedisServer src_server, dst_server;
    Client src = src_server.client();
    seed_strings(src, 2000, "k:");
    auto r =
        run_tool({src_server.url(), dst_server.url(), "--rate-limit", "1000", "--progress-interval", "0.5"});
    INFO(r.describe());
    CHECK(r.exit_code == 0);
    const auto lines = lines_with(r.err, "progress ");
    CHECK(lines.size() >= 2);
    CHECK(lines.size() <= 6);  // about 2 s at one line per 0.5 s
    for (const auto& l : lines) {
      CHECK(l.find("scanned") != std::string::npos);
      CHECK(l.find("keys/s") != std::string::npos);
    }
    CHECK(r.err.find('\r') == std::string::npos);
    CHECK(r.err.find("\x1b[") == std::string::npos);
    CHECK(r.err.find("\ncopy finished") != std::string::npos);
  }
}
