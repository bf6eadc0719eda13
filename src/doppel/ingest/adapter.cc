#include "doppel/ingest/adapter.h"

#include <spdlog/spdlog.h>

#include <chrono>

#include "doppel/core/log.h"
#include "doppel/ingest/decode.h"
#include "doppel/ingest/topic.h"

namespace doppel::ingest {
namespace {

class TopicAdapterImpl final : public TopicAdapter {
 public:
  TopicAdapterImpl(platform::MessageBus* bus, TopicAdapterOptions o, TopicTemplate tel, TopicTemplate cmd,
                   TopicTemplate ack, ReadingSink* readings, CommandAckSink* acks, MetricsRegistry* m)
      : bus_(bus),
        opts_(std::move(o)),
        tel_(std::move(tel)),
        cmd_(std::move(cmd)),
        ack_(std::move(ack)),
        readings_(readings),
        acks_(acks),
        messages_(m->GetCounter("doppel_ingest_messages_total", "Telemetry messages received")),
        malformed_(m->GetCounter("doppel_readings_malformed_total",
                                 "Telemetry payloads that could not be decoded (each logged, rate-limited)")),
        refused_(m->GetCounter("doppel_readings_refused_total",
                               "Decoded readings the engine refused (unknown twin or signal)")),
        bad_acks_(
            m->GetCounter("doppel_command_acks_malformed_total", "Command acks that could not be decoded")),
        decode_latency_(m->GetHistogram("doppel_stage_latency_seconds", "Latency of each pipeline stage",
                                        "stage=\"decode\"")) {
    if (!opts_.now_ns) {
      opts_.now_ns = [] {
        return std::chrono::duration_cast<std::chrono::nanoseconds>(
                   std::chrono::system_clock::now().time_since_epoch())
            .count();
      };
    }
  }

  Status Subscribe() override {
    DOPPEL_RETURN_IF_ERROR(bus_->Subscribe(
        tel_.Filter(), opts_.qos, [this](std::string_view t, std::string_view p) { OnTelemetry(t, p); }));
    return bus_->Subscribe(ack_.Filter(), opts_.qos,
                           [this](std::string_view t, std::string_view p) { OnAck(t, p); });
  }

  Status SendCommand(const std::string& twin, const std::string& id, const std::string& name,
                     const nlohmann::json& request) override {
    nlohmann::json msg = {{"id", id}, {"name", name}, {"request", request}};
    return bus_->Publish(cmd_.Format(twin), msg.dump(), opts_.qos);
  }

 private:
  void OnTelemetry(std::string_view topic, std::string_view payload) {
    std::string_view twin;
    if (!tel_.Match(topic, &twin)) return;  // the ack filter may overlap; not ours
    messages_.Inc();
    auto t0 = std::chrono::steady_clock::now();
    auto decoded = DecodeTelemetry(twin, payload, opts_.now_ns());
    decode_latency_.Observe(std::chrono::duration<double>(std::chrono::steady_clock::now() - t0).count());
    if (!decoded.ok()) {
      malformed_.Inc();
      uint64_t skipped = 0;
      if (log_limit_.Allow(&skipped)) {
        spdlog::warn("ingest: malformed telemetry on '{}': {}{}", topic, decoded.status().message(),
                     skipped ? fmt::format(" ({} more suppressed)", skipped) : "");
      }
      return;
    }
    if (decoded->empty()) return;
    size_t n = decoded->size();
    Status s = readings_->Submit(std::move(decoded).value());
    if (!s.ok()) {
      refused_.Inc(n);
      uint64_t skipped = 0;
      if (log_limit_.Allow(&skipped)) {
        spdlog::warn("ingest: refused telemetry on '{}': {}{}", topic, s.message(),
                     skipped ? fmt::format(" ({} more suppressed)", skipped) : "");
      }
    }
  }

  void OnAck(std::string_view topic, std::string_view payload) {
    std::string_view twin;
    if (!ack_.Match(topic, &twin)) return;
    nlohmann::json j = nlohmann::json::parse(payload, nullptr, /*allow_exceptions=*/false);
    CommandAck ack;
    ack.twin = std::string(twin);
    if (!j.is_object() || !j.contains("id") || !j["id"].is_string() || !j.contains("status") ||
        !j["status"].is_string()) {
      bad_acks_.Inc();
      uint64_t skipped = 0;
      if (log_limit_.Allow(&skipped)) {
        spdlog::warn("ingest: malformed command ack on '{}': expected {{\"id\": string, \"status\": string}}",
                     topic);
      }
      return;
    }
    ack.id = j["id"].get<std::string>();
    std::string status = j["status"].get<std::string>();
    ack.accepted = status == "accepted" || status == "acked" || status == "ok";
    if (j.contains("reason") && j["reason"].is_string()) ack.reason = j["reason"].get<std::string>();
    if (!ack.accepted && ack.reason.empty()) ack.reason = "device answered '" + status + "'";
    acks_->OnCommandAck(ack);
  }

  platform::MessageBus* bus_;
  TopicAdapterOptions opts_;
  TopicTemplate tel_, cmd_, ack_;
  ReadingSink* readings_;
  CommandAckSink* acks_;
  Counter& messages_;
  Counter& malformed_;
  Counter& refused_;
  Counter& bad_acks_;
  Histogram& decode_latency_;
  RateLimiter log_limit_;
};

}  // namespace

Result<std::unique_ptr<TopicAdapter>> TopicAdapter::Create(platform::MessageBus* bus,
                                                           TopicAdapterOptions options, ReadingSink* readings,
                                                           CommandAckSink* acks, MetricsRegistry* metrics) {
  auto tel = TopicTemplate::Parse(options.telemetry_topic);
  if (!tel.ok()) return InvalidArgument("telemetry_topic: " + tel.status().message());
  auto cmd = TopicTemplate::Parse(options.command_topic);
  if (!cmd.ok()) return InvalidArgument("command_topic: " + cmd.status().message());
  auto ack = TopicTemplate::Parse(options.ack_topic);
  if (!ack.ok()) return InvalidArgument("ack_topic: " + ack.status().message());
  if (options.qos < 0 || options.qos > 1) return InvalidArgument("qos: must be 0 or 1");
  return std::unique_ptr<TopicAdapter>(new TopicAdapterImpl(bus, std::move(options), std::move(tel).value(),
                                                            std::move(cmd).value(), std::move(ack).value(),
                                                            readings, acks, metrics));
}

}  // namespace doppel::ingest
