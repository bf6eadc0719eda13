// The `opcua:` configuration section: YAML (or JSON, which yaml-cpp reads too) into
// OpcUaAdapterOptions. Unknown keys are errors; every error names the source and key path,
// e.g. "doppel.yaml: opcua.mappings[1].node_id: node id 'ns=1;q=3': ...". docs/opcua.md
// has a complete example.
#pragma once

#include <yaml-cpp/yaml.h>

#include <string>

#include "doppel/core/status.h"
#include "doppel/ingest/opcua/adapter.h"

namespace doppel::ingest::opcua {

// `section` is the opcua map itself; `path` its key path for messages (e.g. "opcua").
Result<OpcUaAdapterOptions> ParseOpcUaConfig(const YAML::Node& section, const std::string& source,
                                             const std::string& path = "opcua");
// Text holding the section's map at the top level (YAML or JSON).
Result<OpcUaAdapterOptions> ParseOpcUaConfigText(const std::string& text, const std::string& source);

}  // namespace doppel::ingest::opcua
