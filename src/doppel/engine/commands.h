// CommandManager (engine-private): the lifecycle of commands to devices,
// pending -> sent -> acked | rejected | timed_out, each step recorded with who, when and why
// and persisted (metadata store) before it is visible, so a restart resumes every command.
//
// Thread safety: all methods may be called from any thread (one mutex; commands are rare).
#pragma once

#include <functional>
#include <map>
#include <mutex>
#include <random>
#include <string>
#include <vector>

#include "doppel/core/metrics.h"
#include "doppel/engine/service.h"
#include "doppel/store/metadata.h"

namespace doppel::engine {

class CommandManager {
 public:
  using Sender = std::function<Status(const CommandRecord&)>;

  CommandManager(store::MetadataStore* meta, MetricsRegistry* metrics, TimeNs timeout_ns);

  // Loads persisted commands (every state; open ones keep their timeout clock).
  Status Restore();
  void SetSender(Sender sender);

  // Records a new pending command and hands it to the sender (status sent); a failed send
  // returns it to pending and Tick retries it every second until the timeout.
  Result<CommandRecord> Create(const std::string& twin, const std::string& name,
                               const nlohmann::json& request, const std::string& principal, TimeNs now_ns);
  // An ack from the device; acks for unknown or already closed commands are counted and ignored.
  void OnAck(const std::string& twin, const std::string& id, bool accepted, const std::string& reason,
             TimeNs now_ns);
  // Re-sends pending commands and times out open ones older than the timeout.
  void Tick(TimeNs now_ns);

  Result<CommandRecord> Get(const std::string& twin, const std::string& id) const;
  std::vector<CommandRecord> ListByTwin(const std::string& twin) const;  // newest first

 private:
  void Transition(CommandRecord& c, CommandStatus to, TimeNs now_ns, const std::string& by,
                  const std::string& reason);
  void Send(const CommandRecord& c);
  Status Persist(const CommandRecord& c);
  std::string NewId();

  store::MetadataStore* meta_;
  TimeNs timeout_ns_;
  Sender sender_;
  mutable std::mutex mu_;
  std::map<std::string, CommandRecord> commands_;  // by id
  std::map<std::string, TimeNs> last_send_attempt_;
  std::mt19937_64 rng_{std::random_device{}()};
  uint64_t seq_ = 0;
  TimeNs deps_now_ns_ = 0;  // the latest time seen by a call (for transitions made in Send)
  Counter& created_;
  Counter& acked_;
  Counter& rejected_;
  Counter& timed_out_;
  Counter& stray_acks_;
};

}  // namespace doppel::engine
