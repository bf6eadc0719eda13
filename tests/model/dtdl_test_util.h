// Helpers for the model tests: build small DTDL documents and check rejections.
#pragma once

#include <gtest/gtest.h>

#include <nlohmann/json.hpp>
#include <string>

#include "doppel/model/dtdl.h"

namespace doppel::model::test {

using json = nlohmann::json;

// A v3 interface with the QuantitativeTypes extension and the given contents.
inline json Iface(const std::string& id, json contents = json::array()) {
  return json{{"@context", {"dtmi:dtdl:context;3", "dtmi:dtdl:extension:quantitativeTypes;1"}},
              {"@id", id},
              {"@type", "Interface"},
              {"contents", std::move(contents)}};
}

inline json Telemetry(const std::string& name, json schema = "double") {
  return json{{"@type", "Telemetry"}, {"name", name}, {"schema", std::move(schema)}};
}

// Parsing `doc` as "t.json" fails with kInvalidArgument "t.json: <path>: <reason...>".
inline ::testing::AssertionResult Rejected(const std::string& text, const std::string& path,
                                           const std::string& reason) {
  auto r = ParseInterface(text, "t.json");
  if (r.ok()) return ::testing::AssertionFailure() << "accepted";
  const std::string want = "t.json: " + path + ": " + reason;
  if (r.status().code() != StatusCode::kInvalidArgument) {
    return ::testing::AssertionFailure() << "code " << r.status().ToString();
  }
  if (r.status().message().rfind(want, 0) != 0) {
    return ::testing::AssertionFailure()
           << "message\n  got:  " << r.status().message() << "\n  want: " << want << "...";
  }
  return ::testing::AssertionSuccess();
}
inline ::testing::AssertionResult Rejected(const json& doc, const std::string& path,
                                           const std::string& reason) {
  return Rejected(doc.dump(), path, reason);
}

}  // namespace doppel::model::test
