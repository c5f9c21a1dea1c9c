#pragma once
// Key names are binary: they may hold spaces, CR/LF, NUL or invalid UTF-8. Everything shown to a human or
// written to JSON goes through printable(), which escapes like redis-cli so the name stays unambiguous.

#include <string>
#include <string_view>

namespace rmig {

// Printable ASCII is kept except '"' and '\\'; \n \r \t \a \b get their C escapes, other bytes become \xHH.
std::string printable(std::string_view bytes);

// printable() truncated to about max_len characters (with "..." appended when cut).
std::string printable_short(std::string_view bytes, std::size_t max_len = 120);

}  // namespace rmig
