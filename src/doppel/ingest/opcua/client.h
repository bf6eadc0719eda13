// Client: an OPC UA binary client session over one secure channel (SecurityPolicy None).
//
// Connect() runs Hello/Acknowledge, OpenSecureChannel, CreateSession and ActivateSession
// (anonymous, or user name + password when `user` is set; the password goes in clear, as
// SecurityPolicy None has no encryption). Then Browse, Read, Write, CreateSubscription,
// CreateMonitoredItems and Publish. Any transport or decoding failure closes the connection
// and is returned; the caller reconnects (the adapter does so with backoff).
//
// Publish keeps `publish_requests` PublishRequests outstanding; responses that arrive while
// a synchronous call waits for its own response are kept for the next Publish call.
// Notifications are acknowledged in the next PublishRequest.
//
// The secure channel's token is renewed before every request sent once 75 % of its lifetime has
// passed (SecureChannel::RenewDue), so a long-running subscription keeps its channel, session
// and subscription; Publish sends one itself when it is due.
//
// Thread safety: none. One thread owns a Client.
#pragma once

#include <cstdint>
#include <deque>
#include <memory>
#include <optional>
#include <string>
#include <vector>

#include "doppel/core/status.h"
#include "doppel/ingest/opcua/messages.h"
#include "doppel/ingest/opcua/transport.h"

namespace doppel::ingest::opcua {

struct ClientOptions {
  std::string endpoint;           // opc.tcp://HOST:PORT[/PATH]; required
  int connect_timeout_ms = 5000;  // TCP connect and each handshake step
  int request_timeout_ms = 5000;  // a service call's response
  double session_timeout_ms = 60000;
  uint32_t channel_lifetime_ms = 3'600'000;
  std::string user;  // empty: anonymous
  std::string password;
  int publish_requests = 2;  // PublishRequests kept outstanding (1..10)
  // Publish fails with kUnavailable when the server sent nothing for this long while
  // PublishRequests were outstanding (keep-alives arrive every keep-alive count x interval).
  int silence_timeout_ms = 10000;

  // Names the first broken rule: bad endpoint url, timeouts < 1 ms, session timeout < 1 s,
  // publish_requests outside 1..10, a password without a user.
  Status Validate() const;
};

struct ClientSummary {
  uint64_t requests = 0;           // service requests sent
  uint64_t publish_responses = 0;  // including keep-alives
  uint64_t notifications = 0;      // data-change items received
  uint64_t bytes_received = 0;     // over this connection
  uint64_t channel_renewals = 0;   // security tokens renewed, over all connections
};

class Client {
 public:
  explicit Client(ClientOptions options);
  ~Client();
  Client(const Client&) = delete;
  Client& operator=(const Client&) = delete;

  Status Connect();
  // CloseSession + CloseSecureChannel, best effort; idempotent.
  void Disconnect();
  bool connected() const { return channel_ != nullptr; }

  // Forward hierarchical references of `node` (continuation points are not followed).
  Result<std::vector<ReferenceDescription>> Browse(const NodeId& node);
  Result<std::vector<DataValue>> Read(const std::vector<ReadValueId>& nodes);
  // One StatusCode per value.
  Result<std::vector<uint32_t>> Write(const std::vector<WriteValue>& values);
  Result<CreateSubscriptionResponse> CreateSubscription(const CreateSubscriptionRequest& request);
  Result<std::vector<MonitoredItemCreateResult>> CreateMonitoredItems(
      uint32_t subscription_id, const std::vector<MonitoredItemCreate>& items);
  // Waits at most wait_ms for the next PublishResponse; nullopt when none arrived in time.
  Result<std::optional<PublishResponse>> Publish(int wait_ms);

  const ClientSummary& summary() const { return summary_; }

 private:
  RequestHeader NewHeader();
  // Sends `body`, waits for the response to it (stashing PublishResponses) and returns it.
  Result<std::string> Call(std::string body);
  Status SendPublish();
  // Sends an OPN Renew when the channel's token is due for one.
  Status MaybeRenew();
  // After a message arrived: the silence clock, bytes and renewal counts.
  void NoteReceived();
  Status Broken(Status st);

  ClientOptions options_;
  std::unique_ptr<SecureChannel> channel_;
  NodeId auth_token_;
  uint32_t next_handle_ = 1;
  std::vector<uint32_t> publish_ids_;  // request ids of outstanding PublishRequests
  std::deque<std::string> stashed_publish_;
  std::vector<SubscriptionAck> acks_;
  int64_t last_rx_ms_ = 0;
  uint64_t renewals_seen_ = 0;  // channel_->renewals() already in summary_
  ClientSummary summary_;
};

}  // namespace doppel::ingest::opcua
