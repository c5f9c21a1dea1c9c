#include "copy/merge.hpp"

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

const scripts::Script& merge_script() {
  static const scripts::Script script(kMergeScript);
  return script;
}

}  // namespace rmig::copy
