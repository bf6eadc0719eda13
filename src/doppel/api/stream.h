// The pure parts of the WebSocket stream (/api/v1/stream): the client's subscription filter,
// the bounded per-session event queue, and the frame encoding. server.cc only moves bytes.
#pragma once

#include <cstdint>
#include <deque>
#include <nlohmann/json.hpp>
#include <set>
#include <string>
#include <string_view>
#include <vector>

#include "doppel/core/status.h"
#include "doppel/engine/service.h"

namespace doppel::api {

// Bounds of one client's subscription: each of its two sets (twins, signals) holds at most
// this many names, of at most this many bytes in all. A subscribe beyond either is refused
// with an error frame and leaves the filter unchanged ("*" subscribes to all without a list).
constexpr size_t kMaxStreamNames = 1024;
constexpr size_t kMaxStreamNameBytes = 64 * 1024;

// Bounds of the acknowledgements and error frames queued for one client that sends faster than
// it reads: beyond either, the oldest queued replies are dropped.
constexpr size_t kMaxQueuedReplies = 64;
constexpr size_t kMaxQueuedReplyBytes = 1024 * 1024;

// What one client is subscribed to: a set of twins and a set of signals (either may be "all").
// An event matches when both its twin and its signal are in the sets. Nothing matches until
// the first subscribe.
class StreamFilter {
 public:
  // Applies one client text message:
  //   {"subscribe":   {"twins": [...], "signals": [...]}}  adds; a missing or empty list, or
  //                                                         ["*"], means all
  //   {"unsubscribe": {"twins": [...], "signals": [...]}}  removes the listed names; missing
  //                                                         lists (or {}) clear everything
  // Returns the acknowledgement frame ({"type":"subscribed"|"unsubscribed",...}) or
  // kInvalidArgument naming the problem (the filter is then unchanged), e.g. a subscribe that
  // would take a set beyond kMaxStreamNames names or kMaxStreamNameBytes bytes.
  Result<nlohmann::json> Apply(std::string_view message);

  bool Matches(const engine::StreamEvent& e) const;
  bool active() const { return all_twins_ || !twins_.empty(); }
  nlohmann::json Describe() const;  // {"twins": "*"|[...], "signals": "*"|[...]}

 private:
  bool all_twins_ = false;
  bool all_signals_ = false;
  std::set<std::string> twins_;
  std::set<std::string> signals_;
};

// Bounded FIFO of events waiting to be written to one slow or fast client. Full: the oldest
// events are dropped (and counted) so the engine never waits on a client. Not thread-safe.
class StreamQueue {
 public:
  explicit StreamQueue(size_t capacity) : capacity_(capacity == 0 ? 1 : capacity) {}
  // Returns how many old events were dropped to make room.
  size_t Push(const engine::StreamEvent& e);
  std::vector<engine::StreamEvent> Take(size_t max);
  size_t size() const { return q_.size(); }
  bool empty() const { return q_.empty(); }
  uint64_t dropped() const { return dropped_; }

 private:
  size_t capacity_;
  std::deque<engine::StreamEvent> q_;
  uint64_t dropped_ = 0;
};

// FIFO of encoded frames bounded by count and by total bytes: a push that would exceed either
// bound drops the oldest frames first (a single frame above the byte bound is kept alone).
// Not thread-safe.
class FrameQueue {
 public:
  FrameQueue(size_t max_frames, size_t max_bytes)
      : max_frames_(max_frames == 0 ? 1 : max_frames), max_bytes_(max_bytes) {}
  // Returns how many old frames were dropped to make room.
  size_t Push(std::string frame);
  // The oldest frame, removed. Precondition: !empty().
  std::string Pop();
  bool empty() const { return q_.empty(); }
  size_t size() const { return q_.size(); }
  size_t bytes() const { return bytes_; }

 private:
  size_t max_frames_;
  size_t max_bytes_;
  std::deque<std::string> q_;
  size_t bytes_ = 0;
};

// {"type":"telemetry","events":[{"twin","signal","ts","value"},...]}; `dropped` > 0 adds
// "dropped": n (events lost since the previous frame because the client lagged).
std::string EncodeTelemetryFrame(const std::vector<engine::StreamEvent>& events, uint64_t dropped = 0);
// {"type":"error","message":message}
std::string EncodeErrorFrame(std::string_view message);
// {"type": e.kind, <e.kind>: <e.payload>} for an alert or annotation event.
std::string EncodeEventFrame(const engine::StreamEvent& e);

}  // namespace doppel::api
