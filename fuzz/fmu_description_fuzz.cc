// libFuzzer target: arbitrary bytes as an FMU's modelDescription.xml (FMI 2.0 or 3.0). The parser
// must never crash; whatever it accepts must be internally consistent (every index it hands out is
// in range, derivatives point at Real variables, 3.0 value references are unique), so
// FmuSystem/CoSimulation can trust it.
#include <cstddef>
#include <cstdint>
#include <string_view>

#include "doppel/fmu/model_description.h"

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  using namespace doppel::fmu;
  std::string_view text(reinterpret_cast<const char*>(data), size);
  auto md = ParseModelDescription(text, "fuzz.xml");
  if (!md.ok()) return 0;
  if ((md->fmi_version != "2.0" && md->fmi_version != "3.0") || md->guid.empty() || md->model_name.empty())
    __builtin_trap();
  if (!md->model_exchange_id && !md->co_simulation_id) __builtin_trap();
  const int n = static_cast<int>(md->variables.size());
  for (int i : md->outputs)
    if (i < 0 || i >= n) __builtin_trap();
  for (size_t k = 0; k < md->derivatives.size(); ++k) {
    const int d = md->derivatives[k];
    if (d < 0 || d >= n) __builtin_trap();
    const int s = md->StateOf(static_cast<int>(k));
    if (s < 0 || s >= n || md->variables[static_cast<size_t>(s)].type != VariableType::kReal)
      __builtin_trap();
  }
  for (const auto& v : md->variables) {
    if (v.name.empty()) __builtin_trap();
    if (md->Find(v.name) != &v) __builtin_trap();  // names are unique
    if (md->fmi_version == "3.0") {
      for (const auto& w : md->variables)
        if (&w != &v && w.value_reference == v.value_reference) __builtin_trap();
    }
  }
  return 0;
}
