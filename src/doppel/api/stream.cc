#include "doppel/api/stream.h"

#include <algorithm>
#include <iterator>

#include "doppel/api/handlers.h"

namespace doppel::api {

using nlohmann::json;

namespace {

// Reads an optional list of names. `*all` is set for a missing or empty list or one with "*".
Status ReadNames(const json& obj, const char* key, const std::string& where, bool* all,
                 std::vector<std::string>* names) {
  *all = false;
  names->clear();
  auto it = obj.find(key);
  if (it == obj.end() || it->is_null()) {
    *all = true;
    return Status::Ok();
  }
  if (!it->is_array()) return InvalidArgument(where + "." + key + ": expected an array of strings");
  for (size_t i = 0; i < it->size(); ++i) {
    const json& v = (*it)[i];
    if (!v.is_string()) {
      return InvalidArgument(where + "." + key + "[" + std::to_string(i) + "]: expected a string");
    }
    if (v.get_ref<const std::string&>() == "*")
      *all = true;
    else
      names->push_back(v.get<std::string>());
  }
  if (names->empty()) *all = true;
  return Status::Ok();
}

// `current` with `add` merged in, or kInvalidArgument naming `where` when the union would hold
// more than kMaxStreamNames names or kMaxStreamNameBytes bytes (nothing is changed then).
Result<std::set<std::string>> Merged(const std::set<std::string>& current,
                                     const std::vector<std::string>& add, const std::string& where) {
  std::set<std::string> out = current;
  for (const auto& name : add) {
    out.insert(name);
    if (out.size() > kMaxStreamNames) {
      return InvalidArgument(where + ": more than " + std::to_string(kMaxStreamNames) +
                             " names in one subscription (subscribe to \"*\" for all)");
    }
  }
  size_t bytes = 0;
  for (const auto& name : out) bytes += name.size();
  if (bytes > kMaxStreamNameBytes) {
    return InvalidArgument(where + ": names of more than " + std::to_string(kMaxStreamNameBytes) +
                           " bytes in one subscription (subscribe to \"*\" for all)");
  }
  return out;
}

json Names(bool all, const std::set<std::string>& s) {
  if (all) return "*";
  return json(std::vector<std::string>(s.begin(), s.end()));
}

}  // namespace

Result<json> StreamFilter::Apply(std::string_view message) {
  Result<json> parsed = ParseJsonObject(message, "message");
  if (!parsed.ok()) return parsed.status();
  json& j = *parsed;
  bool sub = j.contains("subscribe");
  bool unsub = j.contains("unsubscribe");
  if (sub == unsub) {
    return InvalidArgument(R"(expected exactly one of {"subscribe":{...}} or {"unsubscribe":{...}})");
  }
  const char* verb = sub ? "subscribe" : "unsubscribe";
  const json& body = j[verb];
  if (!body.is_object() && !body.is_null())
    return InvalidArgument(std::string(verb) + ": expected an object");
  json empty = json::object();
  const json& b = body.is_null() ? empty : body;
  for (auto it = b.begin(); it != b.end(); ++it) {
    if (it.key() != "twins" && it.key() != "signals") {
      return InvalidArgument(std::string(verb) + "." + it.key() +
                             ": unknown field (expected twins, signals)");
    }
  }
  bool all_t, all_s;
  std::vector<std::string> twins, signals;
  DOPPEL_RETURN_IF_ERROR(ReadNames(b, "twins", verb, &all_t, &twins));
  DOPPEL_RETURN_IF_ERROR(ReadNames(b, "signals", verb, &all_s, &signals));

  if (sub) {
    Result<std::set<std::string>> new_twins = Merged(twins_, twins, "subscribe.twins");
    if (!new_twins.ok()) return new_twins.status();
    Result<std::set<std::string>> new_signals = Merged(signals_, signals, "subscribe.signals");
    if (!new_signals.ok()) return new_signals.status();
    all_twins_ = all_twins_ || all_t;
    all_signals_ = all_signals_ || all_s;
    twins_ = std::move(*new_twins);
    signals_ = std::move(*new_signals);
  } else if (!b.contains("twins") && !b.contains("signals")) {
    *this = StreamFilter();
  } else {
    if (b.contains("twins")) {
      if (all_t) {
        all_twins_ = false;
        twins_.clear();
      }
      for (const auto& t : twins) twins_.erase(t);
    }
    if (b.contains("signals")) {
      if (all_s) {
        all_signals_ = false;
        signals_.clear();
      }
      for (const auto& s : signals) signals_.erase(s);
    }
  }
  json ack = Describe();
  ack["type"] = sub ? "subscribed" : "unsubscribed";
  return ack;
}

bool StreamFilter::Matches(const engine::StreamEvent& e) const {
  const bool twin = all_twins_ || twins_.count(e.twin) > 0;
  if (!e.kind.empty()) return twin;  // alerts and annotations: by twin only
  return twin && (all_signals_ || signals_.count(e.signal) > 0);
}

json StreamFilter::Describe() const {
  return {{"twins", Names(all_twins_, twins_)}, {"signals", Names(all_signals_, signals_)}};
}

size_t StreamQueue::Push(const engine::StreamEvent& e) {
  size_t dropped = 0;
  while (q_.size() >= capacity_) {
    q_.pop_front();
    ++dropped;
  }
  q_.push_back(e);
  dropped_ += dropped;
  return dropped;
}

std::vector<engine::StreamEvent> StreamQueue::Take(size_t max) {
  size_t n = std::min(max, q_.size());
  std::vector<engine::StreamEvent> out(std::make_move_iterator(q_.begin()),
                                       std::make_move_iterator(q_.begin() + static_cast<std::ptrdiff_t>(n)));
  q_.erase(q_.begin(), q_.begin() + static_cast<std::ptrdiff_t>(n));
  return out;
}

size_t FrameQueue::Push(std::string frame) {
  size_t dropped = 0;
  while (!q_.empty() && (q_.size() >= max_frames_ || bytes_ + frame.size() > max_bytes_)) {
    bytes_ -= q_.front().size();
    q_.pop_front();
    ++dropped;
  }
  bytes_ += frame.size();
  q_.push_back(std::move(frame));
  return dropped;
}

std::string FrameQueue::Pop() {
  std::string f = std::move(q_.front());
  q_.pop_front();
  bytes_ -= f.size();
  return f;
}

std::string EncodeTelemetryFrame(const std::vector<engine::StreamEvent>& events, uint64_t dropped) {
  json arr = json::array();
  for (const auto& e : events) {
    if (!e.kind.empty()) continue;  // sent as their own frames (EncodeEventFrame)
    arr.push_back({{"twin", e.twin}, {"signal", e.signal}, {"ts", e.ts_ns}, {"value", e.value}});
  }
  json frame = {{"type", "telemetry"}, {"events", std::move(arr)}};
  if (dropped > 0) frame["dropped"] = dropped;
  return frame.dump(-1, ' ', false, json::error_handler_t::replace);
}

std::string EncodeEventFrame(const engine::StreamEvent& e) {
  // {"type": kind, kind: payload}; the payload is the engine's JSON document.
  std::string out = "{\"type\":" + json(e.kind).dump() + "," + json(e.kind).dump() + ":";
  out += e.payload.empty() ? "null" : e.payload;
  out += "}";
  return out;
}

std::string EncodeErrorFrame(std::string_view message) {
  return json({{"type", "error"}, {"message", std::string(message)}})
      .dump(-1, ' ', false, json::error_handler_t::replace);
}

}  // namespace doppel::api
