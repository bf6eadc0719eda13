// libFuzzer target: arbitrary bytes as a DTDL model file. The parser must never crash or throw;
// whatever it accepts must link, serialize and parse back to the same document, and validating
// the input itself as a value against each accepted schema must not crash either.
#include <cstddef>
#include <cstdint>
#include <string_view>

#include "doppel/model/dtdl.h"

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  using doppel::model::ToJson;
  std::string_view text(reinterpret_cast<const char*>(data), size);
  auto parsed = doppel::model::ParseModelFile(text, "fuzz.json");
  if (!parsed.ok()) {
    if (parsed.status().code() == doppel::StatusCode::kInternal) __builtin_trap();  // an exception got caught
    return 0;
  }
  nlohmann::json value = nlohmann::json::parse(text, nullptr, /*allow_exceptions=*/false);
  for (const auto& iface : *parsed) {
    nlohmann::json doc = ToJson(iface);
    auto again = doppel::model::ParseInterface(doc.dump(), "roundtrip.json");
    if (!again.ok() || ToJson(*again) != doc) __builtin_trap();  // ToJson must round-trip
    for (const auto& c : iface.all_contents) {
      if (c.schema) (void)doppel::model::ValidateValue(*c.schema, value, "$");
      if (c.kind == doppel::model::ContentKind::kCommand) {
        (void)doppel::model::ValidateCommandRequest(iface, c.name, value);
      }
    }
    (void)doppel::model::ValidateDesiredProperties(iface, value);
  }
  auto reg = doppel::model::ModelRegistry::Build(std::move(parsed).value());
  if (reg.ok()) (void)ToJson(*reg);
  return 0;
}
