#pragma once
// Logging to stderr through spdlog, as text for people or as one JSON object per line for log collectors.
// stdout is kept for the JSON report when --report-json - is given.

#include <spdlog/spdlog.h>

#include <nlohmann/json.hpp>
#include <string_view>

#include "util/enum_names.hpp"

namespace rmig::report {

enum class LogFormat { kText, kJson };
inline constexpr std::array<NamedValue<LogFormat>, 2> kLogFormatNames = {{
    {LogFormat::kText, "text"},
    {LogFormat::kJson, "json"},
}};

void setup_logging(spdlog::level::level_enum level, LogFormat format);
LogFormat log_format() noexcept;

// A log line with structured fields: in JSON format the fields sit next to "msg"; in text format only the
// message is printed.
void log_event(spdlog::level::level_enum level, std::string_view event, std::string_view message,
               const nlohmann::json& fields);

// The status line of a terminal (the progress bar): only when stderr is a terminal and the log format is
// text. It is redrawn in place ("\r", the text cut to the terminal's width, erase to the end of the line);
// a log line printed while it is shown erases it first and redraws it after, so neither is garbled.
bool status_line_enabled() noexcept;
void set_status_line(std::string text);
// Erases the status line and forgets it: before a summary or anything else printed on its own lines.
void clear_status_line();

}  // namespace rmig::report
