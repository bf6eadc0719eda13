// The `modbus:` configuration section (docs/modbus.md): a list of servers, each a YAML map, into
// ModbusAdapterOptions. Unknown keys are errors; every error names the source and key path,
// e.g. "config: modbus[0].points[2].type: 'float64' is not one of int16, uint16, ...".
#pragma once

#include <string>
#include <vector>

#include "doppel/core/status.h"
#include "doppel/ingest/modbus_adapter.h"

namespace doppel::ingest {

// `text` holds the section's list at the top level (YAML or JSON). Each server's options are
// also Validate()d.
Result<std::vector<ModbusAdapterOptions>> ParseModbusConfigText(const std::string& text,
                                                                const std::string& source);

}  // namespace doppel::ingest
