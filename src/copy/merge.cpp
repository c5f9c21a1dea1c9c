#include "copy/merge.hpp"

#include <array>

#include "util/sha1.hpp"

namespace rmig::copy {

namespace {

constexpr const char* kMergeScript =
    "local target, temp = KEYS[1], KEYS[2]\n"
    "local source_wins = ARGV[1] == '1'\n"
    "local tt = redis.call('TYPE', temp)['ok']\n"
    "if tt == 'none' then return -2 end\n"
    "local dt = redis.call('TYPE', target)['ok']\n"
    "if dt == 'none' then redis.call('UNLINK', temp) return -3 end\n"
    "if dt ~= tt then redis.call('UNLINK', temp) return -1 end\n"
    "local cursor = '0'\n"
    "repeat\n"
    "  local r\n"
    "  if tt == 'set' then\n"
    "    r = redis.call('SSCAN', temp, cursor, 'COUNT', 500)\n"
    "    if #r[2] > 0 then redis.call('SADD', target, unpack(r[2])) end\n"
    "  elseif tt == 'hash' then\n"
    "    r = redis.call('HSCAN', temp, cursor, 'COUNT', 500)\n"
    "    local kv = r[2]\n"
    "    if source_wins then\n"
    "      if #kv > 0 then redis.call('HSET', target, unpack(kv)) end\n"
    "    else\n"
    "      for i = 1, #kv, 2 do redis.call('HSETNX', target, kv[i], kv[i + 1]) end\n"
    "    end\n"
    "  elseif tt == 'zset' then\n"
    "    r = redis.call('ZSCAN', temp, cursor, 'COUNT', 500)\n"
    "    local ms = r[2]\n"
    "    local args = {}\n"
    "    for i = 1, #ms, 2 do args[#args + 1] = ms[i + 1]; args[#args + 1] = ms[i] end\n"
    "    if #args > 0 then\n"
    "      if source_wins then redis.call('ZADD', target, unpack(args))\n"
    "      else redis.call('ZADD', target, 'NX', unpack(args)) end\n"
    "    end\n"
    "  else\n"
    "    redis.call('UNLINK', temp)\n"
    "    return -1\n"
    "  end\n"
    "  cursor = r[1]\n"
    "until cursor == '0'\n"
    "redis.call('UNLINK', temp)\n"
    "return 1\n";

}  // namespace

ValueKind payload_kind(std::string_view payload) noexcept {
  if (payload.empty()) return ValueKind::kUnknown;
  // RDB object types (rdb.h): the first byte of a DUMP payload.
  switch (static_cast<unsigned char>(payload[0])) {
    case 0: return ValueKind::kString;
    case 1:   // list
    case 10:  // list ziplist
    case 14:  // list quicklist
    case 18:  // list quicklist 2
      return ValueKind::kList;
    case 2:   // set
    case 11:  // set intset
    case 20:  // set listpack
      return ValueKind::kSet;
    case 3:   // zset
    case 5:   // zset 2 (binary scores)
    case 12:  // zset ziplist
    case 17:  // zset listpack
      return ValueKind::kZset;
    case 4:   // hash
    case 9:   // hash zipmap
    case 13:  // hash ziplist
    case 16:  // hash listpack
    case 22:  // hash with field TTLs (Valkey 9; Redis 7.4 release candidates)
    case 23:  // hash listpack with field TTLs (Redis 7.4 release candidates)
    case 24:  // hash with field TTLs (Redis >= 7.4)
    case 25:  // hash listpack with field TTLs (Redis >= 7.4)
      return ValueKind::kHash;
    case 15:  // stream listpacks
    case 19:  // stream listpacks 2
    case 21:  // stream listpacks 3
      return ValueKind::kStream;
    case 6:
    case 7: return ValueKind::kModule;
    default: return ValueKind::kUnknown;
  }
}

bool payload_has_field_ttls(std::string_view payload) noexcept {
  if (payload.empty()) return false;
  const auto type = static_cast<unsigned char>(payload[0]);
  return type >= 22 && type <= 25;
}

ValueKind type_kind(std::string_view type) noexcept {
  for (ValueKind k : {ValueKind::kString, ValueKind::kList, ValueKind::kSet, ValueKind::kZset,
                      ValueKind::kHash, ValueKind::kStream}) {
    if (type == kind_name(k)) return k;
  }
  return type.empty() || type == "none" ? ValueKind::kUnknown : ValueKind::kModule;
}

const char* length_command(std::string_view type) noexcept {
  if (type == "string") return "STRLEN";
  if (type == "list") return "LLEN";
  if (type == "set") return "SCARD";
  if (type == "zset") return "ZCARD";
  if (type == "hash") return "HLEN";
  if (type == "stream") return "XLEN";
  return nullptr;
}

const char* kind_name(ValueKind k) noexcept {
  switch (k) {
    case ValueKind::kString: return "string";
    case ValueKind::kList: return "list";
    case ValueKind::kSet: return "set";
    case ValueKind::kZset: return "zset";
    case ValueKind::kHash: return "hash";
    case ValueKind::kStream: return "stream";
    case ValueKind::kModule: return "module";
    case ValueKind::kUnknown: return "unknown";
  }
  return "unknown";
}

bool mergeable(ValueKind k) noexcept {
  return k == ValueKind::kSet || k == ValueKind::kZset || k == ValueKind::kHash;
}

const scripts::Script& merge_script() {
  static const scripts::Script script(kMergeScript);
  return script;
}

}  // namespace rmig::copy
