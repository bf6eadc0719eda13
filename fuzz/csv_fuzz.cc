// libFuzzer target: the analytics CSV parser and timestamp/number parsing must reject
// malformed input with a Status, never crash or hang.
#include <cstddef>
#include <cstdint>
#include <string_view>

#include "doppel/analytics/csv.h"

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  std::string_view text(reinterpret_cast<const char*>(data), size);
  auto table = doppel::analytics::ParseCsv(text);
  if (table.ok()) {
    for (const auto& row : table->rows) {
      if (row.size() != table->header.size()) __builtin_trap();
      for (const auto& field : row) {
        (void)doppel::analytics::ParseTimestamp(field);
        (void)doppel::analytics::ParseNumber(field);
      }
    }
    if (!table->header.empty()) {
      (void)doppel::analytics::ReadSeries(*table, table->header.front(), table->header.back(), "fuzz");
    }
  }
  return 0;
}
