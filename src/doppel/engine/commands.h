// CommandManager (engine-private): the command bus (docs/commands.md).
//
//   proposed --approve--> approved --> sent --> acked | rejected | timed_out
//      |  \--reject--> rejected          \--(send failed)--> approved (retried every second)
//      |--> refused (safety envelope, at creation or at approval)
//      \--> superseded (a newer command of the same name for the same twin; an approved-unsent
//           command only by a newer approved one)
//
// Every transition is appended to the command's audit list {status, who, at_ns, why} and
// persisted (metadata store) before it is visible; `sent` is persisted before the transport is
// called (write-ahead), so after a crash every command that may be on the wire is known.
//
// Modes (per twin; API overrides persisted, else the config's globs, else the default):
//   auto      every command that passes the envelope is approved and sent;
//   approve   operator commands go out directly; api and mpc commands wait as proposals for
//             Approve (an operator) or Reject;
//   advisory  operator commands go out directly; api and mpc commands stay proposals (advice)
//             until a newer one supersedes them; Approve is refused.
// A mode change applies to commands created afterwards; waiting proposals stay proposals.
//
// Timeout: an approved command that has no ack `timeout` after its approval times out (the
// on_timeout hook fires: the engine raises an alert). A late ack still closes it (acked or
// rejected, audit says "late").
//
// Redelivery: a command id is sent at most once per manager lifetime, except after a restart:
// a command persisted as `sent` whose timeout has not passed is re-sent once with the same id
// (it may have been lost with the process). The device applies an id once and re-acks a
// duplicate with its first answer (doppel plant remembers its last 1024 ids), so a command is
// applied at most once. Devices must remember ids for at least the command timeout.
//
// Thread safety: all methods may be called from any thread (one mutex; the sender, the
// fleet-values source and the timeout hook are called without it held).
#pragma once

#include <functional>
#include <map>
#include <mutex>
#include <random>
#include <string>
#include <utility>
#include <vector>

#include "doppel/core/metrics.h"
#include "doppel/engine/envelope.h"
#include "doppel/engine/service.h"
#include "doppel/store/metadata.h"

namespace doppel::engine {

struct CommandBusOptions {
  TimeNs timeout_ns = 10 * kNsPerS;  // approved -> timed_out without an ack; at least 100 ms
  ControlMode default_mode = ControlMode::kAuto;
  std::vector<std::pair<std::string, ControlMode>> modes;  // twin-id glob -> mode; first match wins
  SafetyEnvelope envelope;

  Status Validate() const;
};

// Translates the serve config's commands section (modes, envelope) checked against the models.
Result<CommandBusOptions> CommandBusOptionsFromConfig(const CommandsConfig& config, TimeNs timeout_ns,
                                                      const model::ModelRegistry* models);

class CommandManager {
 public:
  using Sender = std::function<Status(const CommandRecord&)>;
  using TimeoutHook = std::function<void(const CommandRecord&)>;
  using FleetSource = std::function<FleetValues()>;

  CommandManager(store::MetadataStore* meta, MetricsRegistry* metrics, CommandBusOptions options);

  // Loads persisted commands (every state) and control-mode overrides. Commands persisted as
  // sent are re-sent once by the next Tick (same id) unless their timeout has passed.
  Status Restore();
  void SetSender(Sender sender);
  void SetOnTimeout(TimeoutHook hook);   // called from Tick, once per timed-out command
  void SetFleetSource(FleetSource src);  // latest values for the envelope's interlocks
  // maintenance: live design-spec limits (SafetyEnvelope::ReplaceLimits), for later commands.
  void ReplaceEnvelopeLimits(const std::string& source_prefix, std::vector<CommandLimitConfig> limits);

  // Puts a new command on the bus (see the modes above). The request must already be valid for
  // the model. Returns the record as it stands after the envelope and the mode (an auto
  // command is returned as sent, or approved when the send failed).
  Result<CommandRecord> Create(const std::string& twin, const std::string& name,
                               const nlohmann::json& request, const std::string& principal,
                               CommandSource source, TimeNs now_ns);
  Result<CommandRecord> Approve(const std::string& twin, const std::string& id, const std::string& who,
                                const std::string& reason, TimeNs now_ns);
  Result<CommandRecord> Reject(const std::string& twin, const std::string& id, const std::string& who,
                               const std::string& reason, TimeNs now_ns);
  // An ack from the device; acks for unknown or closed commands are counted and ignored.
  void OnAck(const std::string& twin, const std::string& id, bool accepted, const std::string& reason,
             TimeNs now_ns);
  // Re-sends approved commands whose send failed (every second), re-sends restored ones once,
  // and times out the ones older than the timeout.
  void Tick(TimeNs now_ns);

  Result<CommandRecord> Get(const std::string& twin, const std::string& id) const;
  std::vector<CommandRecord> ListByTwin(const std::string& twin) const;  // newest first

  ControlModeView ModeOf(const std::string& twin) const;
  Result<ControlModeView> SetMode(const std::string& twin, ControlMode mode, const std::string& who,
                                  TimeNs now_ns);

 private:
  struct Entry {
    CommandRecord rec;
    TimeNs approved_ns = 0;      // the timeout clock (0 while proposed)
    TimeNs last_attempt_ns = 0;  // last call of the sender
    bool resend = false;         // restored as sent: re-send once
  };

  void Transition(Entry& e, CommandStatus to, TimeNs now_ns, const std::string& by,
                  const std::string& reason);
  void SupersedeOlder(const Entry& newer, bool newer_is_approved, TimeNs now_ns);
  ControlModeView ModeLocked(const std::string& twin) const;
  // Approves and marks sent (persisted); the caller sends the returned copy without the lock.
  Result<CommandRecord> ApproveAndMarkSentLocked(Entry& e, const std::string& who, const std::string& why,
                                                 TimeNs now_ns);
  void Send(const CommandRecord& c, TimeNs now_ns);
  Status Persist(const CommandRecord& c);
  FleetValues Fleet() const;
  std::string NewId();

  store::MetadataStore* meta_;
  CommandBusOptions opts_;
  Sender sender_;
  TimeoutHook on_timeout_;
  FleetSource fleet_;
  mutable std::mutex mu_;
  std::map<std::string, Entry> commands_;             // by id
  std::map<std::string, ControlModeView> overrides_;  // by twin
  std::mt19937_64 rng_{std::random_device{}()};
  uint64_t seq_ = 0;
  Counter& created_;
  Counter& acked_;
  Counter& rejected_;
  Counter& refused_;
  Counter& superseded_;
  Counter& timed_out_;
  Counter& resent_;
  Counter& stray_acks_;
};

}  // namespace doppel::engine
