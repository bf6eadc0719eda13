#include "doppel/engine/commands.h"

#include <fmt/format.h>
#include <spdlog/spdlog.h>

#include <algorithm>

#include "doppel/ingest/topic.h"

namespace doppel::engine {

// --- names (service.h) ---------------------------------------------------------------------

const char* CommandStatusName(CommandStatus s) {
  switch (s) {
    case CommandStatus::kProposed: return "proposed";
    case CommandStatus::kApproved: return "approved";
    case CommandStatus::kSent: return "sent";
    case CommandStatus::kAcked: return "acked";
    case CommandStatus::kRejected: return "rejected";
    case CommandStatus::kRefused: return "refused";
    case CommandStatus::kTimedOut: return "timed_out";
    case CommandStatus::kSuperseded: return "superseded";
  }
  return "proposed";
}

bool ParseCommandStatus(const std::string& s, CommandStatus* out) {
  if (s == "pending") {  // schema 1: approved, waiting for the transport or an ack
    *out = CommandStatus::kApproved;
    return true;
  }
  for (CommandStatus c : {CommandStatus::kProposed, CommandStatus::kApproved, CommandStatus::kSent,
                          CommandStatus::kAcked, CommandStatus::kRejected, CommandStatus::kRefused,
                          CommandStatus::kTimedOut, CommandStatus::kSuperseded}) {
    if (s == CommandStatusName(c)) {
      *out = c;
      return true;
    }
  }
  return false;
}

bool IsFinal(CommandStatus s) {
  return s != CommandStatus::kProposed && s != CommandStatus::kApproved && s != CommandStatus::kSent;
}

const char* CommandSourceName(CommandSource s) {
  switch (s) {
    case CommandSource::kOperator: return "operator";
    case CommandSource::kApi: return "api";
    case CommandSource::kMpc: return "mpc";
  }
  return "operator";
}

bool ParseCommandSource(const std::string& s, CommandSource* out) {
  for (CommandSource c : {CommandSource::kOperator, CommandSource::kApi, CommandSource::kMpc}) {
    if (s == CommandSourceName(c)) {
      *out = c;
      return true;
    }
  }
  return false;
}

const char* ControlModeName(ControlMode m) {
  switch (m) {
    case ControlMode::kAdvisory: return "advisory";
    case ControlMode::kApprove: return "approve";
    case ControlMode::kAuto: return "auto";
  }
  return "auto";
}

bool ParseControlMode(const std::string& s, ControlMode* out) {
  for (ControlMode m : {ControlMode::kAdvisory, ControlMode::kApprove, ControlMode::kAuto}) {
    if (s == ControlModeName(m)) {
      *out = m;
      return true;
    }
  }
  return false;
}

Result<CommandRecord> Service::ApproveCommand(const std::string&, const std::string&, const std::string&,
                                              const std::string&) {
  return FailedPrecondition("command approval is not available on this server");
}
Result<CommandRecord> Service::RejectCommand(const std::string&, const std::string&, const std::string&,
                                             const std::string&) {
  return FailedPrecondition("command rejection is not available on this server");
}
Result<ControlModeView> Service::GetControlMode(const std::string&) const {
  return FailedPrecondition("control modes are not available on this server");
}
Result<ControlModeView> Service::SetControlMode(const std::string&, ControlMode, const std::string&) {
  return FailedPrecondition("control modes are not available on this server");
}

// --- options ---------------------------------------------------------------------------------

Status CommandBusOptions::Validate() const {
  if (timeout_ns < 100 * kNsPerMs) return InvalidArgument("timeout_ns: must be at least 100 ms");
  for (const auto& [glob, mode] : modes) {
    if (glob.empty()) return InvalidArgument("modes: empty twin-id glob");
  }
  return Status::Ok();
}

Result<CommandBusOptions> CommandBusOptionsFromConfig(const CommandsConfig& config, TimeNs timeout_ns,
                                                      const model::ModelRegistry* models) {
  CommandBusOptions o;
  o.timeout_ns = timeout_ns;
  if (!ParseControlMode(config.default_mode, &o.default_mode)) {
    return InvalidArgument("commands.default_mode: '" + config.default_mode +
                           "' is not advisory, approve or auto");
  }
  for (const auto& [glob, mode] : config.modes) {
    ControlMode m;
    if (!ParseControlMode(mode, &m)) {
      return InvalidArgument("commands.modes." + glob + ": '" + mode + "' is not advisory, approve or auto");
    }
    o.modes.emplace_back(glob, m);
  }
  auto env = SafetyEnvelope::Create(config, models);
  if (!env.ok()) return env.status();
  o.envelope = std::move(env).value();
  DOPPEL_RETURN_IF_ERROR(o.Validate());
  return o;
}

// --- manager ---------------------------------------------------------------------------------

namespace {

constexpr TimeNs kResendInterval = kNsPerS;

nlohmann::json AuditToJson(const std::vector<CommandEvent>& audit) {
  nlohmann::json a = nlohmann::json::array();
  for (const auto& e : audit) {
    a.push_back(
        {{"status", CommandStatusName(e.status)}, {"who", e.by}, {"at_ns", e.at_ns}, {"why", e.reason}});
  }
  return a;
}

// Reads the audit column: schema 2 {status, who, at_ns, why}; schema 1 {status, by, at, reason}.
std::vector<CommandEvent> AuditFromJson(const std::string& text) {
  std::vector<CommandEvent> out;
  nlohmann::json h = nlohmann::json::parse(text, nullptr, false);
  if (!h.is_array()) return out;
  for (const auto& e : h) {
    CommandEvent ev;
    if (!e.is_object() || !e.contains("status") || !e["status"].is_string() ||
        !ParseCommandStatus(e["status"].get<std::string>(), &ev.status)) {
      continue;
    }
    auto str = [&](const char* a, const char* b) {
      for (const char* k : {a, b}) {
        auto it = e.find(k);
        if (it != e.end() && it->is_string()) return it->get<std::string>();
      }
      return std::string();
    };
    ev.by = str("who", "by");
    ev.reason = str("why", "reason");
    for (const char* k : {"at_ns", "at"}) {
      auto it = e.find(k);
      if (it != e.end() && it->is_number_integer()) ev.at_ns = it->get<int64_t>();
    }
    out.push_back(std::move(ev));
  }
  return out;
}

}  // namespace

CommandManager::CommandManager(store::MetadataStore* meta, MetricsRegistry* m, CommandBusOptions options)
    : meta_(meta),
      opts_(std::move(options)),
      created_(m->GetCounter("doppel_commands_total", "Commands created")),
      acked_(m->GetCounter("doppel_commands_acked_total", "Commands acknowledged by their device")),
      rejected_(m->GetCounter("doppel_commands_rejected_total",
                              "Commands rejected by their device or an operator")),
      refused_(m->GetCounter("doppel_commands_refused_total", "Commands refused by the safety envelope")),
      superseded_(
          m->GetCounter("doppel_commands_superseded_total", "Commands superseded before they were sent")),
      timed_out_(
          m->GetCounter("doppel_commands_timed_out_total", "Commands without an ack within the timeout")),
      resent_(m->GetCounter("doppel_commands_resent_after_restart_total",
                            "Commands persisted as sent and re-sent (same id) after a restart")),
      stray_acks_(m->GetCounter("doppel_command_acks_stray_total", "Acks for unknown or closed commands")) {}

void CommandManager::SetSender(Sender sender) {
  std::lock_guard lk(mu_);
  sender_ = std::move(sender);
}

void CommandManager::SetOnTimeout(TimeoutHook hook) {
  std::lock_guard lk(mu_);
  on_timeout_ = std::move(hook);
}

void CommandManager::SetFleetSource(FleetSource src) {
  std::lock_guard lk(mu_);
  fleet_ = std::move(src);
}

void CommandManager::ReplaceEnvelopeLimits(const std::string& source_prefix,
                                           std::vector<CommandLimitConfig> limits) {
  std::lock_guard lk(mu_);
  opts_.envelope.ReplaceLimits(source_prefix, std::move(limits));
}

Status CommandManager::Restore() {
  auto rows = meta_->ListCommands();
  if (!rows.ok()) return rows.status();
  auto modes = meta_->ListControlModes();
  if (!modes.ok()) return modes.status();
  std::lock_guard lk(mu_);
  for (const auto& row : *modes) {
    ControlModeView v;
    if (!ParseControlMode(row.mode, &v.mode)) continue;
    v.twin = row.twin;
    v.overridden = true;
    v.set_by = row.set_by;
    v.set_ns = row.set_ns;
    overrides_[row.twin] = v;
  }
  for (const auto& row : *rows) {
    Entry e;
    CommandRecord& c = e.rec;
    if (!ParseCommandStatus(row.status, &c.status)) {
      spdlog::warn("command {}: unknown status '{}' in the metadata store; skipped", row.id, row.status);
      continue;
    }
    c.id = row.id;
    c.twin = row.twin;
    c.name = row.name;
    c.request = nlohmann::json::parse(row.request_json, nullptr, false);
    if (!ParseCommandSource(row.source, &c.source)) c.source = CommandSource::kOperator;
    c.reason = row.reason;
    c.issued_by = row.issued_by;
    c.created_ns = row.created_ns;
    c.updated_ns = row.updated_ns;
    c.history = AuditFromJson(row.history_json);
    TimeNs last_sent = 0;
    for (const auto& ev : c.history) {
      if (ev.status == CommandStatus::kApproved && e.approved_ns == 0) e.approved_ns = ev.at_ns;
      if (ev.status == CommandStatus::kSent) last_sent = ev.at_ns;
    }
    if (e.approved_ns == 0 && c.status != CommandStatus::kProposed) e.approved_ns = c.created_ns;  // schema 1
    if (last_sent != 0) opts_.envelope.RecordSent(c.twin, c.name, c.request, last_sent);
    e.resend = c.status == CommandStatus::kSent;
    commands_[c.id] = std::move(e);
  }
  seq_ = commands_.size();
  return Status::Ok();
}

std::string CommandManager::NewId() {
  return fmt::format("c-{:06d}-{:08x}", ++seq_, static_cast<uint32_t>(rng_()));
}

Status CommandManager::Persist(const CommandRecord& c) {
  store::CommandRow row;
  row.id = c.id;
  row.twin = c.twin;
  row.name = c.name;
  row.request_json = c.request.dump();
  row.status = CommandStatusName(c.status);
  row.reason = c.reason;
  row.issued_by = c.issued_by;
  row.source = CommandSourceName(c.source);
  row.created_ns = c.created_ns;
  row.updated_ns = c.updated_ns;
  row.history_json = AuditToJson(c.history).dump();
  return meta_->PutCommand(row);
}

void CommandManager::Transition(Entry& e, CommandStatus to, TimeNs now_ns, const std::string& by,
                                const std::string& reason) {
  CommandRecord& c = e.rec;
  c.status = to;
  c.updated_ns = now_ns;
  if (!reason.empty()) c.reason = reason;
  c.history.push_back(CommandEvent{to, now_ns, by, reason});
  if (to == CommandStatus::kApproved && e.approved_ns == 0) e.approved_ns = now_ns;
}

FleetValues CommandManager::Fleet() const {
  FleetSource src;
  {
    std::lock_guard lk(mu_);
    if (opts_.envelope.empty()) return {};
    src = fleet_;
  }
  return src ? src() : FleetValues{};
}

ControlModeView CommandManager::ModeLocked(const std::string& twin) const {
  auto it = overrides_.find(twin);
  if (it != overrides_.end()) return it->second;
  ControlModeView v;
  v.twin = twin;
  v.mode = opts_.default_mode;
  for (const auto& [glob, mode] : opts_.modes) {
    if (ingest::GlobMatch(glob, twin)) {
      v.mode = mode;
      break;
    }
  }
  return v;
}

ControlModeView CommandManager::ModeOf(const std::string& twin) const {
  std::lock_guard lk(mu_);
  return ModeLocked(twin);
}

Result<ControlModeView> CommandManager::SetMode(const std::string& twin, ControlMode mode,
                                                const std::string& who, TimeNs now_ns) {
  ControlModeView v{twin, mode, true, who, now_ns};
  std::lock_guard lk(mu_);
  DOPPEL_RETURN_IF_ERROR(meta_->PutControlMode({twin, ControlModeName(mode), who, now_ns}));
  overrides_[twin] = v;
  spdlog::info("twin '{}': control mode {} (set by {})", twin, ControlModeName(mode), who);
  return v;
}

void CommandManager::SupersedeOlder(const Entry& newer, bool newer_is_approved, TimeNs now_ns) {
  for (auto& [id, e] : commands_) {
    CommandRecord& c = e.rec;
    if (id == newer.rec.id || c.twin != newer.rec.twin || c.name != newer.rec.name) continue;
    if (c.created_ns > newer.rec.created_ns) continue;
    const bool replace =
        c.status == CommandStatus::kProposed || (newer_is_approved && c.status == CommandStatus::kApproved);
    if (!replace) continue;
    Transition(e, CommandStatus::kSuperseded, now_ns, newer.rec.issued_by, "superseded by " + newer.rec.id);
    superseded_.Inc();
    if (Status s = Persist(c); !s.ok()) spdlog::error("command {}: persisting failed: {}", id, s.ToString());
  }
}

Result<CommandRecord> CommandManager::ApproveAndMarkSentLocked(Entry& e, const std::string& who,
                                                               const std::string& why, TimeNs now_ns) {
  Transition(e, CommandStatus::kApproved, now_ns, who, why);
  SupersedeOlder(e, /*newer_is_approved=*/true, now_ns);
  Transition(e, CommandStatus::kSent, now_ns, "transport", "");
  e.last_attempt_ns = now_ns;
  // Write-ahead: the device may apply it as soon as it is on the wire.
  DOPPEL_RETURN_IF_ERROR(Persist(e.rec));
  return e.rec;
}

Result<CommandRecord> CommandManager::Create(const std::string& twin, const std::string& name,
                                             const nlohmann::json& request, const std::string& principal,
                                             CommandSource source, TimeNs now_ns) {
  const FleetValues fleet = Fleet();
  std::unique_lock lk(mu_);
  const ControlModeView mode = ModeLocked(twin);
  Entry e;
  CommandRecord& c = e.rec;
  c.id = NewId();
  const std::string id = c.id;
  c.twin = twin;
  c.name = name;
  c.request = request;
  c.source = source;
  c.issued_by = principal;
  c.created_ns = now_ns;
  const EnvelopeDecision d = opts_.envelope.Evaluate(twin, name, request, now_ns, fleet);
  std::string proposed_why = fmt::format("{} command", CommandSourceName(source));
  if (d.verdict == EnvelopeVerdict::kClamped) {
    c.request = d.request;
    proposed_why += fmt::format("; envelope clamped (asked {}): {}", request.dump(), d.why);
  }
  const bool waits = source != CommandSource::kOperator && mode.mode != ControlMode::kAuto;
  if (waits && d.verdict != EnvelopeVerdict::kRefused) {
    proposed_why += mode.mode == ControlMode::kApprove ? "; approve mode: waiting for an operator"
                                                       : "; advisory mode: advice only";
  }
  Transition(e, CommandStatus::kProposed, now_ns, principal, proposed_why);
  created_.Inc();

  if (d.verdict == EnvelopeVerdict::kRefused) {
    Transition(e, CommandStatus::kRefused, now_ns, "envelope", d.why);
    refused_.Inc();
    spdlog::warn("command {} {} to '{}' refused by the safety envelope: {}", c.id, name, twin, d.why);
    DOPPEL_RETURN_IF_ERROR(Persist(c));
    return (commands_[id] = std::move(e)).rec;
  }
  if (waits) {
    DOPPEL_RETURN_IF_ERROR(Persist(c));
    Entry& stored = (commands_[id] = std::move(e));
    SupersedeOlder(stored, /*newer_is_approved=*/false, now_ns);
    return stored.rec;
  }
  const std::string who = source == CommandSource::kOperator ? principal : "mode:auto";
  const std::string why = source == CommandSource::kOperator ? "issued by an operator" : "auto mode";
  Entry& stored = (commands_[id] = std::move(e));
  auto sent = ApproveAndMarkSentLocked(stored, who, why, now_ns);
  if (!sent.ok()) {
    commands_.erase(id);
    return sent.status();
  }
  lk.unlock();
  Send(*sent, now_ns);
  return Get(twin, id);
}

Result<CommandRecord> CommandManager::Approve(const std::string& twin, const std::string& id,
                                              const std::string& who, const std::string& reason,
                                              TimeNs now_ns) {
  const FleetValues fleet = Fleet();
  std::unique_lock lk(mu_);
  auto it = commands_.find(id);
  if (it == commands_.end() || it->second.rec.twin != twin) {
    return NotFound("command '" + id + "' of twin '" + twin + "' not found");
  }
  Entry& e = it->second;
  if (e.rec.status != CommandStatus::kProposed) {
    return FailedPrecondition(fmt::format("command '{}' is {}; only a proposed command can be approved", id,
                                          CommandStatusName(e.rec.status)));
  }
  if (ModeLocked(twin).mode == ControlMode::kAdvisory) {
    return FailedPrecondition(
        "twin '" + twin +
        "' is in advisory mode: proposals are advice only; set its control mode to approve "
        "or auto to approve commands");
  }
  const EnvelopeDecision d = opts_.envelope.Evaluate(twin, e.rec.name, e.rec.request, now_ns, fleet);
  if (d.verdict == EnvelopeVerdict::kRefused) {
    Transition(e, CommandStatus::kRefused, now_ns, "envelope", d.why);
    refused_.Inc();
    DOPPEL_RETURN_IF_ERROR(Persist(e.rec));
    return e.rec;
  }
  std::string why = reason.empty() ? "approved by an operator" : reason;
  if (d.verdict == EnvelopeVerdict::kClamped) {
    why += fmt::format("; envelope clamped (asked {}): {}", e.rec.request.dump(), d.why);
    e.rec.request = d.request;
  }
  auto sent = ApproveAndMarkSentLocked(e, who, why, now_ns);
  if (!sent.ok()) return sent.status();
  lk.unlock();
  Send(*sent, now_ns);
  return Get(twin, id);
}

Result<CommandRecord> CommandManager::Reject(const std::string& twin, const std::string& id,
                                             const std::string& who, const std::string& reason,
                                             TimeNs now_ns) {
  std::lock_guard lk(mu_);
  auto it = commands_.find(id);
  if (it == commands_.end() || it->second.rec.twin != twin) {
    return NotFound("command '" + id + "' of twin '" + twin + "' not found");
  }
  Entry& e = it->second;
  if (e.rec.status != CommandStatus::kProposed && e.rec.status != CommandStatus::kApproved) {
    return FailedPrecondition(
        fmt::format("command '{}' is {}; only a proposed or unsent command can be rejected", id,
                    CommandStatusName(e.rec.status)));
  }
  Transition(e, CommandStatus::kRejected, now_ns, who, reason.empty() ? "rejected by an operator" : reason);
  rejected_.Inc();
  DOPPEL_RETURN_IF_ERROR(Persist(e.rec));
  return e.rec;
}

// Called without mu_ held: an in-process device may ack synchronously from inside the send.
void CommandManager::Send(const CommandRecord& c, TimeNs now_ns) {
  Sender sender;
  {
    std::lock_guard lk(mu_);
    sender = sender_;
  }
  Status s = sender ? sender(c) : Unavailable("no command transport is connected");
  std::lock_guard lk(mu_);
  if (s.ok()) {
    opts_.envelope.RecordSent(c.twin, c.name, c.request, now_ns);
    return;
  }
  spdlog::warn("command {} to '{}': send failed ({}); will retry until timeout", c.id, c.twin, s.message());
  auto it = commands_.find(c.id);
  if (it != commands_.end() && it->second.rec.status == CommandStatus::kSent) {
    Transition(it->second, CommandStatus::kApproved, now_ns, "transport", "send failed: " + s.message());
    if (Status p = Persist(it->second.rec); !p.ok()) spdlog::error("command {}: {}", c.id, p.ToString());
  }
}

void CommandManager::OnAck(const std::string& twin, const std::string& id, bool accepted,
                           const std::string& reason, TimeNs now_ns) {
  std::lock_guard lk(mu_);
  auto it = commands_.find(id);
  if (it == commands_.end() || it->second.rec.twin != twin) {
    stray_acks_.Inc();
    return;
  }
  Entry& e = it->second;
  const CommandStatus st = e.rec.status;
  const bool was_sent = std::any_of(e.rec.history.begin(), e.rec.history.end(),
                                    [](const CommandEvent& ev) { return ev.status == CommandStatus::kSent; });
  const bool open = st == CommandStatus::kSent || (st == CommandStatus::kApproved && was_sent);
  if (!open && st != CommandStatus::kTimedOut) {
    stray_acks_.Inc();  // a duplicate ack (the device re-acks a redelivered id) or a stray one
    return;
  }
  const std::string late = st == CommandStatus::kTimedOut ? "late ack, after the timeout" : "";
  if (accepted) {
    acked_.Inc();
    Transition(e, CommandStatus::kAcked, now_ns, "device:" + twin, late);
  } else {
    rejected_.Inc();
    Transition(e, CommandStatus::kRejected, now_ns, "device:" + twin,
               late.empty() ? reason : reason + " (" + late + ")");
  }
  if (Status s = Persist(e.rec); !s.ok())
    spdlog::error("command {}: persisting failed: {}", id, s.ToString());
}

void CommandManager::Tick(TimeNs now_ns) {
  std::vector<CommandRecord> resend, timed_out;
  TimeoutHook hook;
  {
    std::lock_guard lk(mu_);
    hook = on_timeout_;
    for (auto& [id, e] : commands_) {
      CommandRecord& c = e.rec;
      if (c.status != CommandStatus::kApproved && c.status != CommandStatus::kSent) continue;
      if (now_ns - e.approved_ns >= opts_.timeout_ns) {
        timed_out_.Inc();
        spdlog::warn("command {} {} to '{}' timed out after {} ms without an ack", id, c.name, c.twin,
                     opts_.timeout_ns / kNsPerMs);
        Transition(e, CommandStatus::kTimedOut, now_ns, "timeout",
                   fmt::format("no ack within {} ms", opts_.timeout_ns / kNsPerMs));
        e.resend = false;
        if (Status s = Persist(c); !s.ok())
          spdlog::error("command {}: persisting failed: {}", id, s.ToString());
        timed_out.push_back(c);
        continue;
      }
      const bool retry =
          c.status == CommandStatus::kApproved && now_ns - e.last_attempt_ns >= kResendInterval;
      if (!retry && !e.resend) continue;
      const std::string why =
          e.resend ? "re-sent after a restart (same id: the device applies it once)" : "retry";
      Transition(e, CommandStatus::kSent, now_ns, "transport", why);
      if (Status s = Persist(c); !s.ok()) {  // write-ahead failed: do not send this round
        spdlog::error("command {}: persisting failed: {}", id, s.ToString());
        continue;
      }
      if (e.resend) resent_.Inc();
      e.resend = false;
      e.last_attempt_ns = now_ns;
      resend.push_back(c);
    }
  }
  for (const auto& c : resend) Send(c, now_ns);
  if (hook) {
    for (const auto& c : timed_out) hook(c);
  }
}

Result<CommandRecord> CommandManager::Get(const std::string& twin, const std::string& id) const {
  std::lock_guard lk(mu_);
  auto it = commands_.find(id);
  if (it == commands_.end() || it->second.rec.twin != twin) {
    return NotFound("command '" + id + "' of twin '" + twin + "' not found");
  }
  return it->second.rec;
}

std::vector<CommandRecord> CommandManager::ListByTwin(const std::string& twin) const {
  std::lock_guard lk(mu_);
  std::vector<CommandRecord> out;
  for (const auto& [id, e] : commands_) {
    if (e.rec.twin == twin) out.push_back(e.rec);
  }
  std::sort(out.begin(), out.end(), [](const CommandRecord& a, const CommandRecord& b) {
    return a.created_ns != b.created_ns ? a.created_ns > b.created_ns : a.id > b.id;
  });
  return out;
}

}  // namespace doppel::engine
