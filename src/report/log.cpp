#include "report/log.hpp"

#include <spdlog/details/null_mutex.h>
#include <spdlog/pattern_formatter.h>
#include <spdlog/sinks/base_sink.h>
#include <spdlog/sinks/stdout_sinks.h>
#include <sys/ioctl.h>
#include <unistd.h>

#include <chrono>
#include <cstdio>
#include <ctime>
#include <mutex>

namespace rmig::report {

namespace {

LogFormat g_format = LogFormat::kText;
std::string g_status;         // the status line's text, empty when none is shown
bool g_status_shown = false;  // it is drawn on the terminal now
// The terminal's log lines and status line: log lines may come from several threads (--threads).
std::mutex g_terminal;

// Writes are best effort: a closed terminal or pipe (EPIPE, SIGPIPE ignored) drops what cannot be printed.
void put(std::string_view s) {
  if (!s.empty()) std::fwrite(s.data(), 1, s.size(), stderr);
}

std::size_t terminal_columns() {
  winsize ws{};
  if (::ioctl(STDERR_FILENO, TIOCGWINSZ, &ws) == 0 && ws.ws_col > 0) return ws.ws_col;
  return 80;
}

void draw_status() {
  if (g_status.empty()) return;
  // One column short of the width: a line that reaches the last column wraps on some terminals, and "\r" then
  // redraws only its second half.
  const std::size_t width = terminal_columns() - 1;
  put("\r");
  put(std::string_view(g_status).substr(0, width));
  put("\x1b[K");
  std::fflush(stderr);
  g_status_shown = true;
}

void erase_status() {
  if (!g_status_shown) return;
  put("\r\x1b[K");
  g_status_shown = false;
}

// The text sink on a terminal: a log line erases the status line, is printed, and the status line is drawn
// again below it.
class TerminalSink final : public spdlog::sinks::base_sink<spdlog::details::null_mutex> {
 protected:
  void sink_it_(const spdlog::details::log_msg& msg) override {
    // The formatter keeps state (its cached time) and the sink takes no lock of its own: one lock for both.
    const std::lock_guard<std::mutex> lock(g_terminal);
    spdlog::memory_buf_t formatted;
    formatter_->format(msg, formatted);
    erase_status();
    put(std::string_view(formatted.data(), formatted.size()));
    draw_status();
    std::fflush(stderr);
  }
  void flush_() override { std::fflush(stderr); }
};

std::string iso_time(std::chrono::system_clock::time_point tp) {
  auto secs = std::chrono::time_point_cast<std::chrono::seconds>(tp);
  auto ms = std::chrono::duration_cast<std::chrono::milliseconds>(tp - secs).count();
  std::time_t t = std::chrono::system_clock::to_time_t(tp);
  std::tm tm{};
  gmtime_r(&t, &tm);
  char buf[40];
  std::size_t n = std::strftime(buf, sizeof buf, "%Y-%m-%dT%H:%M:%S", &tm);
  std::snprintf(buf + n, sizeof buf - n, ".%03dZ", static_cast<int>(ms));
  return buf;
}

nlohmann::json base_object(spdlog::level::level_enum level, std::chrono::system_clock::time_point tp) {
  nlohmann::json j;
  j["time"] = iso_time(tp);
  auto lv = spdlog::level::to_string_view(level);
  j["level"] = std::string(lv.data(), lv.size());
  return j;
}

std::string dump(const nlohmann::json& j) {
  return j.dump(-1, ' ', false, nlohmann::json::error_handler_t::replace);
}

// One JSON object per line: {"time":...,"level":...,"msg":...}.
class JsonFormatter final : public spdlog::formatter {
 public:
  void format(const spdlog::details::log_msg& msg, spdlog::memory_buf_t& dest) override {
    nlohmann::json j = base_object(msg.level, msg.time);
    j["msg"] = std::string(msg.payload.data(), msg.payload.size());
    std::string line = dump(j);
    line += '\n';
    dest.append(line.data(), line.data() + line.size());
  }
  std::unique_ptr<spdlog::formatter> clone() const override { return std::make_unique<JsonFormatter>(); }
};

}  // namespace

void setup_logging(spdlog::level::level_enum level, LogFormat format) {
  g_format = format;
  g_status.clear();
  g_status_shown = false;
  spdlog::sink_ptr sink;
  if (status_line_enabled()) {
    sink = std::make_shared<TerminalSink>();
  } else {
    sink = std::make_shared<spdlog::sinks::stderr_sink_mt>();
  }
  auto logger = std::make_shared<spdlog::logger>("redis-migrate", std::move(sink));
  if (format == LogFormat::kJson) {
    logger->set_formatter(std::make_unique<JsonFormatter>());
  } else {
    logger->set_pattern("%Y-%m-%d %H:%M:%S.%e %^%l%$ %v");
  }
  logger->set_level(level);
  logger->flush_on(spdlog::level::trace);
  spdlog::set_default_logger(std::move(logger));
}

LogFormat log_format() noexcept { return g_format; }

void log_event(spdlog::level::level_enum level, std::string_view event, std::string_view message,
               const nlohmann::json& fields) {
  auto* logger = spdlog::default_logger_raw();
  if (!logger->should_log(level)) return;
  if (g_format == LogFormat::kText) {
    logger->log(level, "{}", message);
    return;
  }
  nlohmann::json j = base_object(level, std::chrono::system_clock::now());
  j["msg"] = std::string(message);
  j["event"] = std::string(event);
  for (auto it = fields.begin(); it != fields.end(); ++it)
    j[it.key()] = it.value();
  std::string line = dump(j);
  std::fprintf(stderr, "%s\n", line.c_str());
  std::fflush(stderr);
}

bool status_line_enabled() noexcept { return g_format == LogFormat::kText && ::isatty(STDERR_FILENO) == 1; }

void set_status_line(std::string text) {
  if (!status_line_enabled()) return;
  const std::lock_guard<std::mutex> lock(g_terminal);
  g_status = std::move(text);
  draw_status();
}

void clear_status_line() {
  const std::lock_guard<std::mutex> lock(g_terminal);
  erase_status();
  g_status.clear();
  std::fflush(stderr);
}

}  // namespace rmig::report
