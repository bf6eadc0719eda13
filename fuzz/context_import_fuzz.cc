// libFuzzer: any bytes as a work-order or design-spec file (CSV or JSON) give rows or row errors,
// never a crash or a hang; the rows given always satisfy the store's rules, and a file with errors
// gives no rows. The first byte picks kind and format; the rest is the file.
#include <cstddef>
#include <cstdint>
#include <string_view>

#include "doppel/store/context_import.h"
#include "doppel/store/context_time.h"

namespace {

template <typename Parsed, typename Check>
void Verify(const Parsed& p, Check check) {
  if (!p.errors.empty() && !p.rows.empty()) __builtin_trap();
  if (p.rows.size() != p.lines.size()) __builtin_trap();
  for (const auto& row : p.rows) {
    if (!check(row).empty()) __builtin_trap();
  }
  for (const auto& e : p.errors) (void)e.ToString();
}

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  if (size == 0) return 0;
  using namespace doppel::store;
  const uint8_t mode = data[0];
  std::string_view text(reinterpret_cast<const char*>(data + 1), size - 1);
  ImportOptions o;
  o.format = (mode & 1) ? ImportFormat::kJson : ImportFormat::kCsv;
  if (mode & 4) o.format = ImportFormat::kAuto;
  o.max_rows = 200;
  o.max_errors = 50;
  if (mode & 2) {
    Verify(ParseSpecs(text, o), CheckDesignSpec);
  } else {
    Verify(ParseWorkOrders(text, o), CheckWorkOrder);
  }
  // Times: whatever parses formats back to the same instant.
  if (text.size() < 64) {
    auto t = ParseContextTime(text);
    if (t.ok() && *ParseContextTime(FormatContextTime(*t)) != *t) __builtin_trap();
  }
  return 0;
}
