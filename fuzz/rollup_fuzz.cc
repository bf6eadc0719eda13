// Fuzzes the rollup file parser (docs/formats/rollup.md) with arbitrary bytes.
// The first byte picks the input: even = the rest as a file, as read from disk; odd = the rest
// with every block's CRC set right by the harness first, so mutations reach the series decoder
// behind the checksums. Properties: no crash, no out-of-bounds read, no UB, no huge allocation;
// a failed parse leaves the output untouched; a parsed file, built again, parses without damage
// to the same contents (Build is a fixpoint after one round).
#include <cstddef>
#include <cstdint>
#include <cstdlib>
#include <string>
#include <string_view>
#include <vector>

#include "doppel/store/coding.h"
#include "doppel/store/crc32c.h"
#include "doppel/store/rollup.h"

using namespace doppel::store;

namespace {

// Rewrites the masked CRC of every block whose framing fits (u32 crc, u32 len, payload).
void FixChecksums(std::string* file) {
  size_t at = rollupfile::kHeaderSize;
  while (at + 8 <= file->size()) {
    const uint32_t len = coding::GetFixed32(file->data() + at + 4);
    if (len > file->size() - at - 8) return;
    const uint32_t crc = crc32c::Extend(crc32c::Value(file->data() + at + 4, 4), file->data() + at + 8, len);
    std::string fixed;
    coding::PutFixed32(&fixed, crc32c::Mask(crc));
    file->replace(at, 4, fixed);
    at += 8 + len;
  }
}

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  if (size == 0) return 0;
  std::string file(reinterpret_cast<const char*>(data) + 1, size - 1);
  if (data[0] & 1) FixChecksums(&file);

  rollupfile::Contents c;
  c.seq = 77;  // a failed parse must leave it so
  std::vector<std::string> damaged;
  if (!rollupfile::Parse(file, &c, &damaged).ok()) {
    if (c.seq != 77 || !c.series.empty()) std::abort();
    return 0;
  }
  const std::string built = rollupfile::Build(c);
  rollupfile::Contents again;
  std::vector<std::string> damaged_again;
  if (!rollupfile::Parse(built, &again, &damaged_again).ok() || !damaged_again.empty()) std::abort();
  if (again.seq != c.seq || again.full != c.full || again.series.size() != c.series.size()) std::abort();
  if (rollupfile::Build(again) != built) std::abort();
  return 0;
}
