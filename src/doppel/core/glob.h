// Glob patterns over names: '*' matches any run of characters (also none), '?' exactly one.
// Used for twin and signal selectors in provisioning rules ("pump-*"), alert rules, the command
// envelope and query filters. Case-sensitive; no escapes, no character classes.
#pragma once

#include <string_view>

namespace doppel {

// True when `s` matches `pattern` as a whole. Iterative, backtracking only to the last '*':
// O(|pattern|·|s|) in the worst case, linear for the usual single-'*' patterns.
bool GlobMatch(std::string_view pattern, std::string_view s);

}  // namespace doppel
