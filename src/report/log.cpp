#include "report/log.hpp"

#include <spdlog/pattern_formatter.h>
#include <spdlog/sinks/stdout_sinks.h>

#include <chrono>
#include <ctime>

namespace rmig::report {

namespace {

LogFormat g_format = LogFormat::kText;

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
  auto logger =
      std::make_shared<spdlog::logger>("redis-migrate", std::make_shared<spdlog::sinks::stderr_sink_st>());
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

}  // namespace rmig::report
