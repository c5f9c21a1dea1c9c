#include "state/cutover.hpp"

#include <spdlog/spdlog.h>

#include <charconv>
#include <chrono>
#include <cstdio>
#include <nlohmann/json.hpp>
#include <thread>

#include "report/format.hpp"
#include "report/run_report.hpp"
#include "resp/server_error.hpp"
#include "state/lock.hpp"

namespace rmig::state {

namespace {

using Clock = std::chrono::steady_clock;

// How often the cutover command reads the answer and the lock, and how long it bears with a destination it
// cannot reach before it gives up (exit code 3).
constexpr auto kWaitPoll = std::chrono::milliseconds(200);
constexpr auto kUnreachableFor = std::chrono::seconds(30);

int fail(const Error& e) {
  std::fprintf(stderr, "redis-migrate: %s\n", e.message.c_str());
  return to_int(e.code);
}

// The answer's exit code; nullopt for anything else ("verifying", garbage).
std::optional<int> exit_code_of(std::string_view value) {
  int code = 0;
  auto [p, ec] = std::from_chars(value.data(), value.data() + value.size(), code);
  if (ec != std::errc() || p != value.data() + value.size() || code < 0 || code > 255) return std::nullopt;
  return code;
}

const char* exit_text(int code) {
  switch (code) {
    case 0: return "cut over: every change received before the request is on the destination";
    case 1: return "some keys failed (or --verify-at-cutover found differences): see the run's summary";
    case 2: return "usage or configuration error";
    case 3: return "cannot connect or authenticate";
    case 4: return "lost the destination's lock";
    case 5: return "the destination refuses writes or evicted keys";
    case 6: return "the run's report could not be written";
    case 129: return "interrupted by SIGHUP (no cut-over promise)";
    case 130: return "interrupted by SIGINT (no cut-over promise)";
    case 143: return "interrupted by SIGTERM (no cut-over promise)";
    default: return "see the run's summary";
  }
}

}  // namespace

std::string cutover_request_key(const std::string& prefix) { return prefix + "live:cutover"; }

std::string cutover_result_key(const std::string& prefix, const std::string& request_id) {
  return prefix + "live:cutover:" + request_id;
}

std::string cutover_request_value(const CutoverRequest& r) {
  nlohmann::json j = {
      {"id", r.id}, {"lock", r.lock}, {"requested_at", r.requested_at}, {"host", r.host}, {"pid", r.pid}};
  return j.dump(-1, ' ', false, nlohmann::json::error_handler_t::replace);
}

std::optional<CutoverRequest> parse_cutover_request(std::string_view value) {
  auto j = nlohmann::json::parse(value, nullptr, false);
  if (!j.is_object()) return std::nullopt;
  auto text = [&](const char* name) {
    const auto it = j.find(name);
    return it != j.end() && it->is_string() ? it->get<std::string>() : std::string();
  };
  CutoverRequest r;
  r.id = text("id");
  r.lock = text("lock");
  r.requested_at = text("requested_at");
  r.host = text("host");
  if (const auto pid = j.find("pid"); pid != j.end() && pid->is_number_integer()) r.pid = pid->get<int64_t>();
  if (r.id.empty() || r.lock.empty() || r.id.find_first_not_of("0123456789abcdef") != std::string::npos)
    return std::nullopt;
  return r;
}

void write_cutover_result(StateClient& client, const std::string& prefix, const std::string& request_id,
                          std::string_view value) {
  const std::string key = cutover_result_key(prefix, request_id);
  auto r = client.call(key, {"SET", key, std::string(value), "PX", std::to_string(kCutoverKeyTtlMs)});
  if (!r) {
    spdlog::warn(
        "could not answer the cut-over request {} ({}): `redis-migrate cutover` will say the run "
        "ended without answering",
        request_id, r.error().message);
  } else if (!resp::is_status(r->get(), "OK")) {
    spdlog::warn("could not answer the cut-over request {} ({})", request_id, resp::describe(r->get()));
  }
}

int run_cutover(const StateCommand& cmd) {
  net::Loop loop;
  int rc = 0;
  {
    StateClient client(loop, cmd.destination);
    FILE* out = cmd.report_json == "-" ? stderr : stdout;
    const std::string lock = lock_key(cmd.prefix, select::Shard{});
    auto holder = read_lock(client, lock);
    if (!holder) return fail(holder.error());
    if (!*holder) {
      return fail(make_error(
          ExitCode::kUsage, "no run holds the lock " + lock + " on " + cmd.destination_url +
                                ": nothing to cut over (a live run holds it from its start to its end; check "
                                "--state-prefix, or see `redis-migrate status`)"));
    }
    if (!(*holder)->live) {
      return fail(
          make_error(ExitCode::kUsage, "the run holding the lock " + lock + " on " + cmd.destination_url +
                                           " is not a live run (--live): held by " + (*holder)->describe() +
                                           "; it ends by itself once its copy is done, nothing to cut over"));
    }
    CutoverRequest req;
    req.id = random_token();
    req.lock = (*holder)->value;
    req.requested_at = iso_utc(std::chrono::system_clock::now());
    req.host = host_name();
    req.pid = static_cast<int64_t>(getpid());
    const std::string request_key = cutover_request_key(cmd.prefix);
    const std::string result_key = cutover_result_key(cmd.prefix, req.id);
    auto set = client.call(request_key, {"SET", request_key, cutover_request_value(req), "PX",
                                         std::to_string(kCutoverKeyTtlMs)});
    if (!set) return fail(set.error());
    if (!resp::is_status(set->get(), "OK")) {
      const resp::ServerError kind = resp::classify_error(resp::text(set->get()));
      const bool refused = kind == resp::ServerError::kReadOnly || kind == resp::ServerError::kOom ||
                           kind == resp::ServerError::kMisconf;
      return fail(
          make_error(refused ? ExitCode::kDestinationRefused : ExitCode::kConnect,
                     cmd.destination_url + ": cannot write the cut-over request " + request_key + " (" +
                         resp::describe(set->get()) + ")" +
                         (refused ? std::string(": the destination refuses writes")
                                  : ": allow the destination user the tool's keys with the ACL rule \"" +
                                        tool_keys_acl(cmd.prefix) + "\"")));
    }
    const auto started = Clock::now();
    std::fprintf(out,
                 "cut-over requested (request %s) of the live run held by %s; waiting for it to apply every "
                 "change received before the request and end\n",
                 req.id.c_str(), (*holder)->describe().c_str());
    std::fflush(out);

    nlohmann::json j = {{"command", "cutover"},
                        {"destination", cmd.destination_url},
                        {"request", req.id},
                        {"run",
                         {{"host", (*holder)->host},
                          {"pid", (*holder)->pid},
                          {"started_at", (*holder)->started_at},
                          {"command", (*holder)->command}}},
                        {"run_exit_code", nullptr},
                        {"verifying", false}};
    std::optional<int> run_code;
    bool verifying = false;
    Clock::time_point unreachable_since{};  // epoch: reachable
    std::string outcome;
    for (;;) {
      // The answer first: the run writes it before it releases its lock.
      auto answer = client.call(result_key, {"GET", result_key});
      std::optional<Error> error;
      if (!answer) error = answer.error();
      if (answer && resp::is_string(answer->get())) {
        const std::string_view value = resp::text(answer->get());
        if (auto code = exit_code_of(value)) {
          run_code = *code;
          break;
        }
        if (value == kCutoverVerifying && !verifying) {
          verifying = true;
          std::fprintf(out, "the run cut over and is verifying the selection (--verify-at-cutover)\n");
          std::fflush(out);
        }
      }
      if (answer && !verifying) {
        auto now_holder = read_lock(client, lock);
        if (!now_holder) {
          error = now_holder.error();
        } else if (!*now_holder || (*now_holder)->value != req.lock) {
          // Ended (or killed and its lease expired): its answer, if any, was written before the release.
          auto last = client.call(result_key, {"GET", result_key});
          if (last && resp::is_string(last->get())) {
            if (auto code = exit_code_of(resp::text(last->get()))) {
              run_code = *code;
              break;
            }
            if (resp::text(last->get()) == kCutoverVerifying) continue;
          }
          outcome =
              "the run ended without answering the request (it ended by itself first, or was killed: its "
              "lease " +
              std::string(*now_holder ? "is now another run's" : "is gone") +
              "); see `redis-migrate status` for how it ended";
          rc = kCutoverUnconfirmed;
          break;
        }
      }
      if (error) {
        if (unreachable_since == Clock::time_point{}) unreachable_since = Clock::now();
        if (Clock::now() - unreachable_since > kUnreachableFor) return fail(*error);
      } else {
        unreachable_since = Clock::time_point{};
      }
      if (cmd.cutover_timeout_ms > 0 &&
          Clock::now() - started >= std::chrono::milliseconds(cmd.cutover_timeout_ms)) {
        outcome = "the run has not ended after " +
                  report::human_duration(static_cast<double>(cmd.cutover_timeout_ms) / 1000.0) +
                  " (--timeout): the request stands and the run cuts over once it can (after its bulk copy, "
                  "when every pending change is applied); run `redis-migrate cutover` again to wait for it";
        rc = kCutoverUnconfirmed;
        break;
      }
      std::this_thread::sleep_for(kWaitPoll);
    }
    const double waited = std::chrono::duration<double>(Clock::now() - started).count();
    j["waited_s"] = waited;
    j["verifying"] = verifying;
    if (run_code) {
      rc = *run_code;
      j["run_exit_code"] = *run_code;
      std::fprintf(out, "the run ended after %s with exit code %d: %s\n",
                   report::human_duration(waited).c_str(), *run_code, exit_text(*run_code));
    } else {
      std::fprintf(stderr, "redis-migrate: %s (exit code %d)\n", outcome.c_str(), rc);
      j["error"] = outcome;
    }
    std::fflush(out);
    j["exit_code"] = rc;
    if (!cmd.report_json.empty()) {
      if (auto st = report::write_json_file(j, cmd.report_json); !st) rc = fail(st.error());
    }
  }
  loop.close();
  return rc;
}

}  // namespace rmig::state
