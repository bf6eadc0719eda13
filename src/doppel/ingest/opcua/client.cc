#include "doppel/ingest/opcua/client.h"

#include <fmt/format.h>

#include <algorithm>
#include <chrono>
#include <random>

namespace doppel::ingest::opcua {

namespace {

int64_t NowMs() {
  return std::chrono::duration_cast<std::chrono::milliseconds>(
             std::chrono::steady_clock::now().time_since_epoch())
      .count();
}

TimeNs WallNs() {
  return std::chrono::duration_cast<std::chrono::nanoseconds>(
             std::chrono::system_clock::now().time_since_epoch())
      .count();
}

}  // namespace

Status ClientOptions::Validate() const {
  if (auto e = ParseEndpointUrl(endpoint); !e.ok()) return e.status();
  if (connect_timeout_ms < 1) return InvalidArgument("connect_timeout_ms must be >= 1");
  if (request_timeout_ms < 1) return InvalidArgument("request_timeout_ms must be >= 1");
  if (silence_timeout_ms < 1) return InvalidArgument("silence_timeout_ms must be >= 1");
  if (session_timeout_ms < 1000) return InvalidArgument("session_timeout_ms must be >= 1000");
  if (channel_lifetime_ms < 1000) return InvalidArgument("channel_lifetime_ms must be >= 1000");
  if (publish_requests < 1 || publish_requests > 10)
    return InvalidArgument("publish_requests must be in 1..10");
  if (user.empty() && !password.empty()) return InvalidArgument("password is set but user is empty");
  return Status::Ok();
}

Client::Client(ClientOptions options) : options_(std::move(options)) {}

Client::~Client() { Disconnect(); }

RequestHeader Client::NewHeader() {
  RequestHeader h;
  h.authentication_token = auth_token_;
  h.timestamp = NsToUaTicks(WallNs());
  h.request_handle = next_handle_++;
  h.timeout_hint_ms = static_cast<uint32_t>(options_.request_timeout_ms);
  return h;
}

Status Client::Broken(Status st) {
  if (channel_) channel_->Close();
  channel_.reset();
  publish_ids_.clear();
  stashed_publish_.clear();
  acks_.clear();
  return st;
}

Status Client::Connect() {
  Disconnect();
  DOPPEL_RETURN_IF_ERROR(options_.Validate());
  auto url = ParseEndpointUrl(options_.endpoint).value();
  auto stream = TcpConnect(url.host, url.port, options_.connect_timeout_ms);
  if (!stream.ok()) return stream.status();
  auth_token_ = NodeId{};
  channel_ = std::make_unique<SecureChannel>(std::move(stream).value(), options_.endpoint);
  renewals_seen_ = 0;
  if (Status st = channel_->Open(options_.channel_lifetime_ms, options_.connect_timeout_ms); !st.ok())
    return Broken(Status(st.code(), fmt::format("{}: {}", options_.endpoint, st.message())));
  last_rx_ms_ = NowMs();

  CreateSessionRequest cs;
  cs.header = NewHeader();
  cs.endpoint_url = options_.endpoint;
  cs.requested_session_timeout_ms = options_.session_timeout_ms;
  std::mt19937_64 rng(std::random_device{}());
  for (int i = 0; i < 32; ++i) cs.client_nonce.push_back(static_cast<char>(rng() & 0xFF));
  auto body = Call(Encode(cs));
  if (!body.ok()) return body.status();
  CreateSessionResponse session;
  if (Status st = DecodeResponse(*body, &session); !st.ok()) return Broken(st);

  // The identity token names a policy id the server offers for that token type.
  ActivateSessionRequest as;
  as.user_name = !options_.user.empty();
  as.user = options_.user;
  as.password = options_.password;
  uint32_t want = as.user_name ? 1 : 0;
  bool found = false;
  for (const auto& ep : session.server_endpoints) {
    if (ep.security_mode != 1) continue;
    for (const auto& p : ep.user_identity_tokens) {
      if (p.token_type != want || found) continue;
      if (as.user_name && !p.security_policy_uri.empty() &&
          p.security_policy_uri != "http://opcfoundation.org/UA/SecurityPolicy#None")
        continue;  // would need the password encrypted
      as.policy_id = p.policy_id;
      found = true;
    }
  }
  if (!found)
    return Broken(FailedPrecondition(
        fmt::format("{}: the server offers no {} login on a SecurityPolicy None endpoint", options_.endpoint,
                    as.user_name ? "clear-text user-name" : "anonymous")));
  auth_token_ = session.authentication_token;
  as.header = NewHeader();
  body = Call(Encode(as));
  if (!body.ok()) return body.status();
  ActivateSessionResponse activated;
  if (Status st = DecodeResponse(*body, &activated); !st.ok()) return Broken(st);
  return Status::Ok();
}

void Client::Disconnect() {
  if (!channel_) return;
  CloseSessionRequest req;
  req.header = NewHeader();
  req.header.timeout_hint_ms = 1000;
  // Best effort, short: the server may be gone already.
  if (auto id = channel_->Send(Encode(req)); id.ok()) {
    int64_t deadline = NowMs() + std::min(options_.request_timeout_ms, 1000);
    while (NowMs() < deadline) {
      auto m = channel_->Receive(static_cast<int>(std::max<int64_t>(1, deadline - NowMs())));
      if (!m.ok() || m->request_id == *id) break;
    }
  }
  (void)Broken(Status::Ok());
}

void Client::NoteReceived() {
  last_rx_ms_ = NowMs();
  summary_.bytes_received = channel_->bytes_received();
  summary_.channel_renewals += channel_->renewals() - renewals_seen_;
  renewals_seen_ = channel_->renewals();
}

Status Client::MaybeRenew() {
  if (!channel_->RenewDue()) return Status::Ok();
  if (Status st = channel_->SendRenew(options_.channel_lifetime_ms, options_.request_timeout_ms); !st.ok())
    return Broken(st);
  ++summary_.requests;
  return Status::Ok();
}

Result<std::string> Client::Call(std::string body) {
  if (!channel_) return Unavailable(options_.endpoint + ": not connected");
  DOPPEL_RETURN_IF_ERROR(MaybeRenew());
  auto id = channel_->Send(body);
  if (!id.ok()) return Broken(id.status());
  ++summary_.requests;
  int64_t deadline = NowMs() + options_.request_timeout_ms;
  for (;;) {
    int64_t left = deadline - NowMs();
    if (left <= 0)
      return Broken(Status(
          StatusCode::kDeadlineExceeded,
          fmt::format("{}: no response within {} ms", options_.endpoint, options_.request_timeout_ms)));
    auto m = channel_->Receive(static_cast<int>(left));
    if (!m.ok()) return Broken(m.status());
    NoteReceived();
    if (m->request_id == *id) return std::move(m->body);
    auto it = std::find(publish_ids_.begin(), publish_ids_.end(), m->request_id);
    if (it != publish_ids_.end()) {
      publish_ids_.erase(it);
      stashed_publish_.push_back(std::move(m->body));
    }
    // Anything else answers a request given up on earlier: dropped.
  }
}

Result<std::vector<ReferenceDescription>> Client::Browse(const NodeId& node) {
  BrowseRequest req;
  req.header = NewHeader();
  req.nodes = {node};
  auto body = Call(Encode(req));
  if (!body.ok()) return body.status();
  BrowseResponse resp;
  DOPPEL_RETURN_IF_ERROR(DecodeResponse(*body, &resp));
  if (resp.results.size() != 1)
    return InvalidArgument(fmt::format("Browse: {} results for 1 node", resp.results.size()));
  if (IsBad(resp.results[0].status))
    return NotFound(fmt::format("Browse {}: {}", node.ToString(), StatusCodeName(resp.results[0].status)));
  return std::move(resp.results[0].references);
}

Result<std::vector<DataValue>> Client::Read(const std::vector<ReadValueId>& nodes) {
  ReadRequest req;
  req.header = NewHeader();
  req.nodes = nodes;
  auto body = Call(Encode(req));
  if (!body.ok()) return body.status();
  ReadResponse resp;
  DOPPEL_RETURN_IF_ERROR(DecodeResponse(*body, &resp));
  if (resp.results.size() != nodes.size())
    return InvalidArgument(fmt::format("Read: {} results for {} nodes", resp.results.size(), nodes.size()));
  return std::move(resp.results);
}

Result<std::vector<uint32_t>> Client::Write(const std::vector<WriteValue>& values) {
  WriteRequest req;
  req.header = NewHeader();
  req.nodes = values;
  auto body = Call(Encode(req));
  if (!body.ok()) return body.status();
  WriteResponse resp;
  DOPPEL_RETURN_IF_ERROR(DecodeResponse(*body, &resp));
  if (resp.results.size() != values.size())
    return InvalidArgument(
        fmt::format("Write: {} results for {} values", resp.results.size(), values.size()));
  return std::move(resp.results);
}

Result<CreateSubscriptionResponse> Client::CreateSubscription(const CreateSubscriptionRequest& request) {
  CreateSubscriptionRequest req = request;
  req.header = NewHeader();
  auto body = Call(Encode(req));
  if (!body.ok()) return body.status();
  CreateSubscriptionResponse resp;
  DOPPEL_RETURN_IF_ERROR(DecodeResponse(*body, &resp));
  return resp;
}

Result<std::vector<MonitoredItemCreateResult>> Client::CreateMonitoredItems(
    uint32_t subscription_id, const std::vector<MonitoredItemCreate>& items) {
  CreateMonitoredItemsRequest req;
  req.header = NewHeader();
  req.subscription_id = subscription_id;
  req.items = items;
  auto body = Call(Encode(req));
  if (!body.ok()) return body.status();
  CreateMonitoredItemsResponse resp;
  DOPPEL_RETURN_IF_ERROR(DecodeResponse(*body, &resp));
  if (resp.results.size() != items.size())
    return InvalidArgument(
        fmt::format("CreateMonitoredItems: {} results for {} items", resp.results.size(), items.size()));
  return std::move(resp.results);
}

Status Client::SendPublish() {
  PublishRequest req;
  req.header = NewHeader();
  req.header.timeout_hint_ms = 0;  // parked at the server until there is something to send
  req.acks = std::move(acks_);
  acks_.clear();
  auto id = channel_->Send(Encode(req));
  if (!id.ok()) return Broken(id.status());
  ++summary_.requests;
  publish_ids_.push_back(*id);
  return Status::Ok();
}

Result<std::optional<PublishResponse>> Client::Publish(int wait_ms) {
  if (!channel_) return Unavailable(options_.endpoint + ": not connected");
  std::string body;
  if (!stashed_publish_.empty()) {
    body = std::move(stashed_publish_.front());
    stashed_publish_.pop_front();
  } else {
    DOPPEL_RETURN_IF_ERROR(MaybeRenew());
    while (static_cast<int>(publish_ids_.size()) < options_.publish_requests)
      DOPPEL_RETURN_IF_ERROR(SendPublish());
    int64_t deadline = NowMs() + wait_ms;
    for (;;) {
      int64_t left = deadline - NowMs();
      if (NowMs() - last_rx_ms_ > options_.silence_timeout_ms)
        return Broken(Unavailable(
            fmt::format("{}: server silent for {} ms", options_.endpoint, options_.silence_timeout_ms)));
      if (left <= 0) return std::optional<PublishResponse>();
      auto m = channel_->Receive(static_cast<int>(left));
      if (!m.ok() && m.status().code() == StatusCode::kDeadlineExceeded) continue;
      if (!m.ok()) return Broken(m.status());
      NoteReceived();
      auto it = std::find(publish_ids_.begin(), publish_ids_.end(), m->request_id);
      if (it == publish_ids_.end()) continue;  // a late answer to an abandoned call
      publish_ids_.erase(it);
      body = std::move(m->body);
      break;
    }
  }
  PublishResponse resp;
  if (Status st = DecodeResponse(body, &resp); !st.ok()) return Broken(st);
  ++summary_.publish_responses;
  summary_.notifications += resp.data_changes.size();
  if (!resp.data_changes.empty() || !resp.status_changes.empty())
    acks_.push_back({resp.subscription_id, resp.sequence_number});
  return std::optional<PublishResponse>(std::move(resp));
}

}  // namespace doppel::ingest::opcua
