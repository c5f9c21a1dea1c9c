#pragma once
// Is an existing destination key the one a RESTORE of this payload made? Equal DUMP bytes say yes. Different
// bytes do not always say no: a set or hash in a hash table is dumped in the table's order, which depends on
// the server that built it, so a key restored from a payload dumps differently from that payload. The same
// server restoring the same payload builds the same table, though: the script restores it again under a
// temporary name in the key's slot, compares the two DUMPs and deletes the temporary key, atomically
// (scripts::same_as_restored).
//
// Used when a re-sent RESTORE, or one of the first keys of a resumed run, meets BUSYKEY: the key counts as
// copied when it is this run's, as skipped when it was there before.

#include <string>
#include <string_view>

namespace rmig::copy {

// The temporary name: in the same cluster slot as `target`, under the tool's own prefix.
std::string restore_check_key(std::string_view target, std::string_view prefix);

}  // namespace rmig::copy
