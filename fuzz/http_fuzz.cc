// libFuzzer target: arbitrary requests through the API pipeline (target parsing, auth, routing,
// body parsing) and arbitrary WebSocket client messages. Must never crash or throw.
//
// Input layout: byte 0 picks the method and token, then target '\n' body; the whole input is
// also fed to StreamFilter::Apply.
#include <cstddef>
#include <cstdint>
#include <string>

#include "doppel/api/api.h"
#include "doppel/api/stream.h"

namespace {

using namespace doppel;

// A Service that knows one twin and answers everything else with an error.
class NullService : public engine::Service {
 public:
  nlohmann::json ListModels() const override { return nlohmann::json::array(); }
  std::vector<engine::TwinView> ListTwins(const engine::TwinFilter&) const override { return {Twin()}; }
  Result<engine::TwinView> GetTwin(const std::string& id) const override {
    if (id == "pump-1") return Twin();
    return NotFound("twin '" + id + "' not found");
  }
  Result<engine::TwinView> CreateTwin(const engine::TwinSpec& spec) override {
    engine::TwinView t;
    t.id = spec.id;
    t.model = spec.model;
    t.desired = spec.desired;
    t.relationships = spec.relationships;
    return t;
  }
  Result<std::vector<engine::Point>> QueryTelemetry(const std::string&, const std::string&, TimeNs from,
                                                    TimeNs to, size_t) const override {
    return std::vector<engine::Point>{{from, 1}, {to, 2}};
  }
  Result<engine::CommandRecord> SubmitCommandAs(const std::string& twin, const std::string& name,
                                                const nlohmann::json& request, const std::string& by,
                                                engine::CommandSource) override {
    engine::CommandRecord c;
    c.id = "c-1";
    c.twin = twin;
    c.name = name;
    c.request = request;
    c.issued_by = by;
    return c;
  }
  Result<std::vector<engine::CommandRecord>> ListCommands(const std::string&) const override {
    return std::vector<engine::CommandRecord>{};
  }
  Result<engine::CommandRecord> GetCommand(const std::string&, const std::string& id) const override {
    return NotFound("command '" + id + "' not found");
  }
  Result<engine::IngestSummary> Ingest(std::vector<Reading> readings) override {
    return engine::IngestSummary{readings.size(), 0};
  }
  std::string RenderMetrics() const override { return ""; }
  Result<engine::TwinEstimate> GetEstimate(const std::string& twin) const override {
    return NotFound("twin '" + twin + "' has no estimator");
  }
  Result<engine::WhatIfResult> WhatIf(const std::string& twin, const engine::WhatIfRequest&) const override {
    return NotFound("twin '" + twin + "' has no behavior model");
  }
  uint64_t SubscribeStream(StreamCallback) override { return 1; }
  void UnsubscribeStream(uint64_t) override {}

 private:
  static engine::TwinView Twin() {
    engine::TwinView t;
    t.id = "pump-1";
    t.model = "dtmi:x;1";
    return t;
  }
};

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  static NullService service;
  static api::ApiHandler handler(&service, nullptr, [] {
    api::ApiOptions o;
    o.tokens = {{"v", api::Role::kViewer, ""}, {"a", api::Role::kAdmin, ""}};
    o.max_body_bytes = 1 << 16;
    return o;
  }());
  if (size == 0) return 0;
  static const char* kMethods[] = {"GET", "POST", "PUT", "DELETE"};
  static const char* kTokens[] = {"", "Bearer v", "Bearer a", "Bearer x"};
  std::string in(reinterpret_cast<const char*>(data) + 1, size - 1);
  api::HttpRequest req;
  req.method = kMethods[data[0] & 3];
  req.authorization = kTokens[(data[0] >> 2) & 3];
  size_t nl = in.find('\n');
  req.target = in.substr(0, nl);
  if (nl != std::string::npos) req.body = in.substr(nl + 1);
  api::HttpResponse r = handler.Handle(req);
  if (r.status < 100 || r.status > 599) __builtin_trap();

  api::StreamFilter f;
  (void)f.Apply(in);
  return 0;
}
