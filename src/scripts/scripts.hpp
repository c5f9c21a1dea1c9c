#pragma once
// Every Lua script the tool sends, in one file to audit (their bodies are in scripts.cpp, in this order).
// Each is a Script: sent as EVALSHA falling back to EVAL where the caller uses words(), or as EVAL with
// body(); a script that deletes with UNLINK has a DEL variant for servers that refuse UNLINK
// (Script::body(false)). None of them touches a key not named in KEYS (move_replace writes its key's name
// in another database).

#include <array>
#include <chrono>
#include <cstdint>

#include "scripts/script.hpp"

namespace rmig::scripts {

// ---- on the source ----

// Compare-and-delete (--cleanup, and the cleanup command). KEYS[1]: the source key. ARGV[1]: the SHA-1 (hex)
// of the DUMP payload that was copied (or compared); ARGV[2]: the remaining TTL in ms the copy was given (-1:
// persistent); ARGV[3]: elapsed_ms() of the moment that TTL was read. Deletes KEYS[1] only if its DUMP still
// hashes to ARGV[1] and its expiry is the copy's: persistent then and now, or absolute expiries within
// kExpiryToleranceMs (PEXPIRETIME against TIME where allowed, PTTL otherwise). Returns 1 deleted, 0 kept (it
// changed), -1 the key is gone.
const Script& compare_and_delete();
inline constexpr int64_t kExpiryToleranceMs = 1000;  // written into compare_and_delete's body
// compare_and_delete's answer: 1 deleted; 0 kept (the key changed on the source); -1 gone from the source,
// except after a re-send (`resent`), where the first send deleted it before the connection dropped.
enum class DeleteAnswer : uint8_t { kDeleted, kKept, kVanished };
DeleteAnswer delete_answer(long long answer, bool resent) noexcept;
// Milliseconds since `read_at` on the monotonic clock (0 if negative): compare_and_delete's ARGV[3].
int64_t elapsed_ms(std::chrono::steady_clock::time_point read_at) noexcept;

// The SHA-1 of a key's DUMP, computed on the server so a big value never travels (verify's cleanup of a key
// compared in chunks). KEYS[1]: the key. Returns the hex SHA-1, or "" when the key is gone.
const Script& dump_sha();

// Move with overwrite between two DBs of one server (--cleanup with --replace, COPY needs Redis >= 6.2).
// KEYS[1]: the key; ARGV[1]: the destination DB. COPY ... DB ARGV[1] REPLACE, then UNLINK of KEYS[1] if it
// was copied. Returns COPY's reply: 1 copied and deleted, 0 nothing done.
const Script& move_replace();

// ---- on the destination ----

// Merge (--on-conflict merge). KEYS[1]: the target; KEYS[2]: the temporary key holding the source's value
// (same slot); ARGV[1]: "1" when the source's fields, members or scores win. Adds the temporary key's
// hash fields, set members or zset members to the target (keeping the target's own for those on both sides
// unless ARGV[1] is "1"), leaves the target's TTL alone, and deletes the temporary key. Returns 1 merged,
// -1 the types differ (nothing changed, temporary key deleted), -2 the temporary key is gone (its safety
// TTL ran out: retry), -3 the target is gone (temporary key deleted: restore normally instead).
const Script& merge();

// Is an existing key the one a RESTORE of this payload made? KEYS[1]: the existing key; KEYS[2]: a
// temporary name in its slot; ARGV[1]: the payload. RESTOREs ARGV[1] under KEYS[2] (REPLACE, no TTL),
// compares the two DUMPs, deletes KEYS[2]. Returns 1 same, 0 different.
const Script& same_as_restored();

// Restore unless equal (a live run's resync, --live). KEYS[1]: the target; KEYS[2]: a temporary name in its
// slot (restore_check_key). ARGV[1]: the payload; ARGV[2]: RESTORE's ttl argument (0: persistent); ARGV[3]:
// "1" when ARGV[2] is an absolute Unix time in ms on the destination's clock (ABSTTL), "0" when it is the
// remaining ms; ARGV[4]: the tolerance in ms; ARGV[5..]: RESTORE's further arguments (ABSTTL, IDLETIME n or
// FREQ n). Leaves KEYS[1] alone when it holds the payload's value (the same DUMP bytes, the same bytes but
// for the RDB version and checksum trailer, or, for a hash table dumped in another order, the DUMP of the
// payload restored under KEYS[2], which is deleted at once) with the same expiry: both persistent, or
// expiries within ARGV[4] (PEXPIRETIME where allowed, TIME + PTTL otherwise). Else RESTOREs the payload over
// it (REPLACE). Returns 0 left alone, 1 restored.
const Script& restore_unless_equal();

// Renews the lease: KEYS[1] the lock key; ARGV[1] this run's lock value; ARGV[2] the TTL in ms. PEXPIRE
// while KEYS[1] holds ARGV[1]; SET ... PX when it vanished (a destination restarted without persistence).
// Returns 1 renewed, 2 taken again, 0 another run holds it (nothing changed).
const Script& lease_renew();

// Releases the lease: KEYS[1] the lock key; ARGV[1] this run's lock value. DEL while KEYS[1] holds ARGV[1].
// Returns 1 deleted, 0 not (another value, or gone).
const Script& lease_release();

// ---- at start, on either side ----

// Whether the user may run scripts at all (check_commands): no keys, no arguments, returns 0.
const Script& probe();

// Every script above, for tests and audits.
const std::array<const Script*, 9>& all();

}  // namespace rmig::scripts
