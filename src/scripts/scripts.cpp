#include "scripts/scripts.hpp"

namespace rmig::scripts {

namespace {

constexpr const char* kCompareAndDelete =
    "local t = redis.call('PTTL', KEYS[1])\n"
    "if t == -2 then return -1 end\n"
    "local want = tonumber(ARGV[2])\n"
    "if want < 0 then\n"
    "  if t ~= -1 then return 0 end\n"
    "else\n"
    "  if t < 0 then return 0 end\n"
    "  local elapsed = tonumber(ARGV[3])\n"
    "  local drift = t - (want - elapsed)\n"
    // Redis >= 7.0 (and Valkey): the absolute expiry against the one expected on the server's own clock.
    // Refused or unknown (an ACL without +pexpiretime +time, an older server): the PTTL above.
    "  local at = redis.pcall('PEXPIRETIME', KEYS[1])\n"
    "  if type(at) == 'number' and at > 0 then\n"
    "    local now = redis.pcall('TIME')\n"
    "    if type(now) == 'table' and now[2] then\n"
    "      local now_ms = tonumber(now[1]) * 1000 + math.floor(tonumber(now[2]) / 1000)\n"
    "      drift = at - (now_ms - elapsed + want)\n"
    "    end\n"
    "  end\n"
    "  if drift > 1000 or drift < -1000 then return 0 end\n"  // kExpiryToleranceMs
    "end\n"
    "local v = redis.call('DUMP', KEYS[1])\n"
    "if not v or redis.sha1hex(v) ~= ARGV[1] then return 0 end\n"
    "redis.call('UNLINK', KEYS[1])\n"
    "return 1\n";

constexpr const char* kDumpSha =
    "local v = redis.call('DUMP', KEYS[1])\n"
    "if not v then return '' end\n"
    "return redis.sha1hex(v)\n";

constexpr const char* kMoveReplace =
    "local n = redis.call('COPY', KEYS[1], KEYS[1], 'DB', ARGV[1], 'REPLACE')\n"
    "if n == 1 then redis.call('UNLINK', KEYS[1]) end\n"
    "return n\n";

constexpr const char* kMerge =
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

constexpr const char* kSameAsRestored =
    "redis.call('RESTORE', KEYS[2], 0, ARGV[1], 'REPLACE')\n"
    "local fresh = redis.call('DUMP', KEYS[2])\n"
    "redis.call('DEL', KEYS[2])\n"
    "if fresh == redis.call('DUMP', KEYS[1]) then return 1 end\n"
    "return 0\n";

constexpr const char* kRestoreUnlessEqual =
    "local function same_value(have)\n"
    "  if not have then return false end\n"
    "  if have == ARGV[1] then return true end\n"
    // Only the trailer differs (2 bytes of RDB version, 8 of CRC64): the same serialized value.
    "  local n = #ARGV[1]\n"
    "  if #have == n and n > 10 and string.sub(have, 1, n - 10) == string.sub(ARGV[1], 1, n - 10) then\n"
    "    return true\n"
    "  end\n"
    // A hash table dumps in its own order: restore the payload next to it and compare the two DUMPs.
    "  redis.call('RESTORE', KEYS[2], 0, ARGV[1], 'REPLACE')\n"
    "  local fresh = redis.call('DUMP', KEYS[2])\n"
    "  redis.call('UNLINK', KEYS[2])\n"
    "  return fresh == have\n"
    "end\n"
    "local function same_expiry()\n"
    "  local want = tonumber(ARGV[2])\n"
    "  local t = redis.call('PTTL', KEYS[1])\n"
    "  if want == 0 then return t == -1 end\n"
    "  if t < 0 then return false end\n"
    "  local have = t\n"
    "  if ARGV[3] == '1' then\n"
    "    local at = redis.pcall('PEXPIRETIME', KEYS[1])\n"
    "    if type(at) == 'number' and at > 0 then\n"
    "      have = at\n"
    "    else\n"
    "      local now = redis.pcall('TIME')\n"
    "      if type(now) ~= 'table' or not now[2] then return false end\n"
    "      have = tonumber(now[1]) * 1000 + math.floor(tonumber(now[2]) / 1000) + t\n"
    "    end\n"
    "  end\n"
    "  local drift = have - want\n"
    "  local tolerance = tonumber(ARGV[4])\n"
    "  return drift <= tolerance and drift >= -tolerance\n"
    "end\n"
    "if same_value(redis.call('DUMP', KEYS[1])) and same_expiry() then return 0 end\n"
    "redis.call('RESTORE', KEYS[1], ARGV[2], ARGV[1], 'REPLACE', unpack(ARGV, 5))\n"
    "return 1\n";

constexpr const char* kLeaseRenew =
    "local v = redis.call('GET', KEYS[1])\n"
    "if v == ARGV[1] then redis.call('PEXPIRE', KEYS[1], ARGV[2]) return 1 end\n"
    "if not v then redis.call('SET', KEYS[1], ARGV[1], 'PX', ARGV[2]) return 2 end\n"
    "return 0\n";

constexpr const char* kLeaseRelease =
    "if redis.call('GET', KEYS[1]) == ARGV[1] then return redis.call('DEL', KEYS[1]) end\n"
    "return 0\n";

constexpr const char* kProbe = "return 0";

}  // namespace

int64_t elapsed_ms(std::chrono::steady_clock::time_point read_at) noexcept {
  const auto ms =
      std::chrono::duration_cast<std::chrono::milliseconds>(std::chrono::steady_clock::now() - read_at)
          .count();
  return ms < 0 ? 0 : static_cast<int64_t>(ms);
}

const Script& compare_and_delete() {
  static const Script script(kCompareAndDelete);
  return script;
}

const Script& dump_sha() {
  static const Script script(kDumpSha);
  return script;
}

const Script& move_replace() {
  static const Script script(kMoveReplace);
  return script;
}

const Script& merge() {
  static const Script script(kMerge);
  return script;
}

const Script& same_as_restored() {
  static const Script script(kSameAsRestored);
  return script;
}

const Script& restore_unless_equal() {
  static const Script script(kRestoreUnlessEqual);
  return script;
}

const Script& lease_renew() {
  static const Script script(kLeaseRenew);
  return script;
}

const Script& lease_release() {
  static const Script script(kLeaseRelease);
  return script;
}

const Script& probe() {
  static const Script script(kProbe);
  return script;
}

const std::array<const Script*, 9>& all() {
  static const std::array<const Script*, 9> every = {
      &compare_and_delete(),   &dump_sha(),    &move_replace(),  &merge(), &same_as_restored(),
      &restore_unless_equal(), &lease_renew(), &lease_release(), &probe()};
  return every;
}

DeleteAnswer delete_answer(long long answer, bool resent) noexcept {
  if (answer == 1 || (answer == -1 && resent)) return DeleteAnswer::kDeleted;
  if (answer == 0) return DeleteAnswer::kKept;
  return DeleteAnswer::kVanished;
}

}  // namespace rmig::scripts
