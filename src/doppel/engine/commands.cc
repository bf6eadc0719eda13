#include "doppel/engine/commands.h"

#include <fmt/format.h>
#include <spdlog/spdlog.h>

#include <algorithm>

namespace doppel::engine {

const char* CommandStatusName(CommandStatus s) {
  switch (s) {
    case CommandStatus::kPending: return "pending";
    case CommandStatus::kSent: return "sent";
    case CommandStatus::kAcked: return "acked";
    case CommandStatus::kRejected: return "rejected";
    case CommandStatus::kTimedOut: return "timed_out";
  }
  return "pending";
}

namespace {

bool ParseStatus(const std::string& s, CommandStatus* out) {
  for (CommandStatus c : {CommandStatus::kPending, CommandStatus::kSent, CommandStatus::kAcked,
                          CommandStatus::kRejected, CommandStatus::kTimedOut}) {
    if (s == CommandStatusName(c)) {
      *out = c;
      return true;
    }
  }
  return false;
}

bool IsOpen(CommandStatus s) { return s == CommandStatus::kPending || s == CommandStatus::kSent; }

constexpr TimeNs kResendInterval = kNsPerS;

}  // namespace

CommandManager::CommandManager(store::MetadataStore* meta, MetricsRegistry* m, TimeNs timeout_ns)
    : meta_(meta),
      timeout_ns_(timeout_ns),
      created_(m->GetCounter("doppel_commands_total", "Commands created")),
      acked_(m->GetCounter("doppel_commands_acked_total", "Commands acknowledged by their device")),
      rejected_(m->GetCounter("doppel_commands_rejected_total", "Commands rejected by their device")),
      timed_out_(
          m->GetCounter("doppel_commands_timed_out_total", "Commands without an ack within the timeout")),
      stray_acks_(m->GetCounter("doppel_command_acks_stray_total", "Acks for unknown or closed commands")) {}

void CommandManager::SetSender(Sender sender) {
  std::lock_guard lk(mu_);
  sender_ = std::move(sender);
}

Status CommandManager::Restore() {
  std::vector<store::CommandRow> rows;
  for (const char* st : {"pending", "sent", "acked", "rejected", "timed_out"}) {
    auto r = meta_->ListCommandsByStatus(st);
    if (!r.ok()) return r.status();
    rows.insert(rows.end(), r->begin(), r->end());
  }
  std::lock_guard lk(mu_);
  for (const auto& row : rows) {
    CommandRecord c;
    c.id = row.id;
    c.twin = row.twin;
    c.name = row.name;
    c.request = nlohmann::json::parse(row.request_json, nullptr, false);
    if (!ParseStatus(row.status, &c.status)) continue;
    c.reason = row.reason;
    c.issued_by = row.issued_by;
    c.created_ns = row.created_ns;
    c.updated_ns = row.updated_ns;
    nlohmann::json h = nlohmann::json::parse(row.history_json, nullptr, false);
    if (h.is_array()) {
      for (const auto& e : h) {
        CommandEvent ev;
        if (!e.is_object() || !ParseStatus(e.value("status", ""), &ev.status)) continue;
        ev.at_ns = e.value("at", int64_t{0});
        ev.by = e.value("by", "");
        ev.reason = e.value("reason", "");
        c.history.push_back(ev);
      }
    }
    commands_[c.id] = std::move(c);
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
  row.created_ns = c.created_ns;
  row.updated_ns = c.updated_ns;
  nlohmann::json h = nlohmann::json::array();
  for (const auto& e : c.history) {
    h.push_back(
        {{"status", CommandStatusName(e.status)}, {"at", e.at_ns}, {"by", e.by}, {"reason", e.reason}});
  }
  row.history_json = h.dump();
  return meta_->PutCommand(row);
}

void CommandManager::Transition(CommandRecord& c, CommandStatus to, TimeNs now_ns, const std::string& by,
                                const std::string& reason) {
  c.status = to;
  c.updated_ns = now_ns;
  if (!reason.empty() || to == CommandStatus::kAcked) c.reason = reason;
  c.history.push_back(CommandEvent{to, now_ns, by, reason});
  if (Status s = Persist(c); !s.ok()) {
    spdlog::error("command {}: persisting '{}' failed: {}", c.id, CommandStatusName(to), s.ToString());
  }
}

// Called without mu_ held: an in-process device may ack synchronously from inside the send.
void CommandManager::Send(const CommandRecord& c) {
  Sender sender;
  {
    std::lock_guard lk(mu_);
    sender = sender_;
  }
  Status s = sender ? sender(c) : Unavailable("no command transport is connected");
  if (s.ok()) return;
  spdlog::warn("command {} to '{}': send failed ({}); will retry until timeout", c.id, c.twin, s.message());
  std::lock_guard lk(mu_);
  auto it = commands_.find(c.id);
  if (it != commands_.end() && it->second.status == CommandStatus::kSent) {
    Transition(it->second, CommandStatus::kPending, deps_now_ns_, "transport", "send failed: " + s.message());
  }
}

Result<CommandRecord> CommandManager::Create(const std::string& twin, const std::string& name,
                                             const nlohmann::json& request, const std::string& principal,
                                             TimeNs now_ns) {
  std::unique_lock lk(mu_);
  deps_now_ns_ = now_ns;
  CommandRecord c;
  c.id = NewId();
  c.twin = twin;
  c.name = name;
  c.request = request;
  c.issued_by = principal;
  c.created_ns = now_ns;
  c.updated_ns = now_ns;
  c.history.push_back(CommandEvent{CommandStatus::kPending, now_ns, principal, ""});
  DOPPEL_RETURN_IF_ERROR(Persist(c));
  created_.Inc();
  CommandRecord& stored = commands_[c.id] = std::move(c);
  last_send_attempt_[stored.id] = now_ns;
  Transition(stored, CommandStatus::kSent, now_ns, "transport", "");
  CommandRecord copy = stored;
  lk.unlock();
  Send(copy);
  return Get(copy.twin, copy.id);
}

void CommandManager::OnAck(const std::string& twin, const std::string& id, bool accepted,
                           const std::string& reason, TimeNs now_ns) {
  std::lock_guard lk(mu_);
  deps_now_ns_ = now_ns;
  auto it = commands_.find(id);
  if (it == commands_.end() || it->second.twin != twin || !IsOpen(it->second.status)) {
    stray_acks_.Inc();
    return;
  }
  if (accepted) {
    acked_.Inc();
    Transition(it->second, CommandStatus::kAcked, now_ns, "device:" + twin, "");
  } else {
    rejected_.Inc();
    Transition(it->second, CommandStatus::kRejected, now_ns, "device:" + twin, reason);
  }
  last_send_attempt_.erase(id);
}

void CommandManager::Tick(TimeNs now_ns) {
  std::vector<CommandRecord> resend;
  std::unique_lock lk(mu_);
  deps_now_ns_ = now_ns;
  for (auto& [id, c] : commands_) {
    if (!IsOpen(c.status)) continue;
    if (now_ns - c.created_ns >= timeout_ns_) {
      timed_out_.Inc();
      spdlog::warn("command {} to '{}' timed out after {} ms without an ack", id, c.twin,
                   timeout_ns_ / kNsPerMs);
      Transition(c, CommandStatus::kTimedOut, now_ns, "timeout",
                 fmt::format("no ack within {} ms", timeout_ns_ / kNsPerMs));
      last_send_attempt_.erase(id);
    } else if (c.status == CommandStatus::kPending) {
      auto at = last_send_attempt_.find(id);
      if (at == last_send_attempt_.end() || now_ns - at->second >= kResendInterval) {
        last_send_attempt_[id] = now_ns;
        Transition(c, CommandStatus::kSent, now_ns, "transport", "");
        resend.push_back(c);
      }
    }
  }
  lk.unlock();
  for (const auto& c : resend) Send(c);
}

Result<CommandRecord> CommandManager::Get(const std::string& twin, const std::string& id) const {
  std::lock_guard lk(mu_);
  auto it = commands_.find(id);
  if (it == commands_.end() || it->second.twin != twin) {
    return NotFound("command '" + id + "' of twin '" + twin + "' not found");
  }
  return it->second;
}

std::vector<CommandRecord> CommandManager::ListByTwin(const std::string& twin) const {
  std::lock_guard lk(mu_);
  std::vector<CommandRecord> out;
  for (const auto& [id, c] : commands_) {
    if (c.twin == twin) out.push_back(c);
  }
  std::sort(out.begin(), out.end(), [](const CommandRecord& a, const CommandRecord& b) {
    return a.created_ns != b.created_ns ? a.created_ns > b.created_ns : a.id > b.id;
  });
  return out;
}

}  // namespace doppel::engine
