#include "app/url.hpp"

#include <boost/url/parse.hpp>
#include <boost/url/url_view.hpp>
#include <charconv>

namespace rmig::app {

namespace {

bool all_digits(std::string_view s) {
  if (s.empty()) return false;
  for (char c : s) {
    if (c < '0' || c > '9') return false;
  }
  return true;
}

Result<int> parse_db(std::string_view text, const std::string& where) {
  int db = 0;
  if (!all_digits(text) || text.size() > 6 ||
      std::from_chars(text.data(), text.data() + text.size(), db).ec != std::errc()) {
    return make_error(ExitCode::kUsage, where + ": database '" + std::string(text) +
                                            "' is not a number: use e.g. /0 or /1 at the end of the URL");
  }
  return db;
}

// The characters among @ / # ? that the password part of a URL's text holds unencoded, as each would be
// percent-encoded: "'@' as %40, '/' as %2F". The password part, as a person typed it, runs from the ':' after
// the user to the last '@' (for unix://, to the "@/" before the socket's path). Empty when there is no such
// character (or no password).
std::string unencoded_in_password(std::string_view text) {
  const std::size_t scheme_end = text.find("://");
  if (scheme_end == std::string_view::npos) return {};
  const std::size_t start = scheme_end + 3;
  // A unix:// URL's path may hold '@' too: its user part ends at the "@/" before the path.
  const bool unix_socket = text.substr(0, scheme_end) == "unix";
  const std::size_t at = unix_socket ? text.find("@/", start) : text.rfind('@');
  if (at == std::string_view::npos || at < start) return {};
  const std::size_t colon = text.find(':', start);
  if (colon == std::string_view::npos || colon > at) return {};
  const std::string_view password = text.substr(colon + 1, at - colon - 1);
  std::string out;
  for (auto [c, encoded] :
       {std::pair{'@', "%40"}, std::pair{'/', "%2F"}, std::pair{'#', "%23"}, std::pair{'?', "%3F"}}) {
    if (password.find(c) == std::string_view::npos) continue;
    if (!out.empty()) out += ", ";
    out += std::string("'") + c + "' as " + encoded;
  }
  return out;
}

Result<RedisUrl> parse_url_text(std::string_view text, std::string_view what);

}  // namespace

std::string redact_raw_url(std::string_view text) {
  std::size_t scheme_end = text.find("://");
  std::size_t start = scheme_end == std::string_view::npos ? 0 : scheme_end + 3;
  std::size_t at = text.rfind('@');
  if (at == std::string_view::npos || at < start) return std::string(text);
  std::size_t colon = text.find(':', start);
  if (colon == std::string_view::npos || colon > at) return std::string(text);
  std::string out(text.substr(0, colon + 1));
  out.append("***");
  out.append(text.substr(at));
  return out;
}

std::string RedisUrl::redacted() const {
  std::string out;
  if (endpoint.kind == net::Endpoint::Kind::kUnix) {
    out = "unix://";
  } else {
    out = endpoint.tls.enabled ? "rediss://" : "redis://";
  }
  if (!user.empty() || !password.empty()) {
    out += user;
    if (!password.empty()) out += ":***";
    out += "@";
  }
  if (endpoint.kind == net::Endpoint::Kind::kUnix) {
    out += endpoint.path;
    if (db != 0) out += "?db=" + std::to_string(db);
  } else {
    out += endpoint.to_string();
    out += '/';
    out += std::to_string(db);
  }
  return out;
}

namespace {

Result<RedisUrl> parse_url_text(std::string_view text, std::string_view what) {
  const std::string where = std::string(what) + " '" + redact_raw_url(text) + "'";
  auto usage = [&](const std::string& msg) { return make_error(ExitCode::kUsage, where + ": " + msg); };
  if (text.empty()) return make_error(ExitCode::kUsage, std::string(what) + " is empty");
  if (text.find("://") == std::string_view::npos) {
    return usage(
        "not a URL: write it as redis://[user:password@]host[:port][/db], rediss://... for TLS, or "
        "unix:///path/to/redis.sock");
  }
  auto parsed = boost::urls::parse_uri(text);
  if (!parsed) {
    return usage("malformed URL (" + parsed.error().message() +
                 "): percent-encode special characters in the password (e.g. @ as %40, / as %2F)");
  }
  boost::urls::url_view u = *parsed;
  RedisUrl out;
  const std::string scheme(u.scheme());
  if (scheme == "redis" || scheme == "rediss") {
    out.endpoint.kind = net::Endpoint::Kind::kTcp;
    out.endpoint.tls.enabled = scheme == "rediss";
  } else if (scheme == "unix") {
    out.endpoint.kind = net::Endpoint::Kind::kUnix;
  } else {
    return usage("unsupported scheme '" + scheme + "': use redis://, rediss:// (TLS) or unix://");
  }
  if (u.has_userinfo()) {
    out.user = u.user();
    if (u.has_password()) out.password = u.password();
  }

  if (out.endpoint.kind == net::Endpoint::Kind::kUnix) {
    if (!u.encoded_host().empty()) {
      return usage("a unix:// URL has no host: write unix:///absolute/path/to/redis.sock (three slashes)");
    }
    out.endpoint.path = std::string(u.path());
    if (out.endpoint.path.empty() || out.endpoint.path == "/") return usage("missing socket path");
    for (auto param : u.params()) {
      if (param.key == "db") {
        auto db = parse_db(param.value, where);
        if (!db) return db.error();
        out.db = *db;
        out.db_given = true;
      } else {
        return usage("unknown parameter '" + std::string(param.key) + "': only ?db=N is understood");
      }
    }
    return out;
  }

  if (u.host_type() == boost::urls::host_type::none || u.encoded_host().empty()) {
    return usage("missing host: write redis://host:port/db");
  }
  out.endpoint.host = u.host_address();
  if (u.host_type() == boost::urls::host_type::ipvfuture) return usage("unsupported address form");
  if (u.has_port()) {
    std::string_view port = u.port();
    unsigned long value = 0;
    if (!all_digits(port) || port.size() > 5 ||
        std::from_chars(port.data(), port.data() + port.size(), value).ec != std::errc() || value == 0 ||
        value > 65535) {
      return usage("port '" + std::string(port) + "' is not a number between 1 and 65535");
    }
    out.endpoint.port = static_cast<uint16_t>(value);
  }
  std::string path(u.path());
  if (!path.empty() && path != "/") {
    std::string_view db_text = std::string_view(path).substr(1);
    if (!db_text.empty() && db_text.back() == '/') db_text.remove_suffix(1);
    auto db = parse_db(db_text, where);
    if (!db) return db.error();
    out.db = *db;
    out.db_given = true;
  }
  if (u.has_query()) {
    for (auto param : u.params()) {
      if (param.key == "db" && !out.db_given) {
        auto db = parse_db(param.value, where);
        if (!db) return db.error();
        out.db = *db;
        out.db_given = true;
      } else {
        return usage("unknown parameter '" + std::string(param.key) +
                     "': TLS and timeouts are set with options (see --help)");
      }
    }
  }
  if (u.has_fragment()) return usage("unexpected '#' fragment: percent-encode '#' in the password as %23");
  return out;
}

}  // namespace

Result<RedisUrl> parse_redis_url(std::string_view text, std::string_view what) {
  auto url = parse_url_text(text, what);
  const std::string unencoded = unencoded_in_password(text);
  if (unencoded.empty()) return url;
  // A unix:// password part (up to the "@/" before the path) never holds them legitimately.
  if (url && url->endpoint.kind != net::Endpoint::Kind::kUnix) {
    // An '@' after the host is never part of a Redis URL: the password held it, and the URL only seemed to
    // parse.
    const std::size_t start = text.find("://") + 3;
    const std::size_t end = text.find_first_of("/?#", start);
    if (end == std::string_view::npos || text.find('@', end) == std::string_view::npos) return url;
  }
  // The parser's own message would quote a piece of the password as a port or a database: say only what to
  // do.
  return make_error(ExitCode::kUsage, std::string(what) + " '" + redact_raw_url(text) +
                                          "' cannot be read: the password holds characters a URL reserves; "
                                          "percent-encode them (" +
                                          unencoded + ")");
}

}  // namespace rmig::app
