// The OPC UA services (Part 4) Doppel's client uses, in their binary encoding (Part 6).
//
// A service message body is the NodeId of the type's DefaultBinary encoding followed by the
// structure. Encode* writes a whole request body; DecodeResponse reads a whole response body,
// checks the encoding id (a ServiceFault becomes an error "<Service>: ServiceFault
// BadSessionIdInvalid") and that the service result is not Bad.
//
// Only the fields Doppel uses are kept in the response structs; the others are read and
// dropped. Requests carry what SecurityPolicy None and anonymous or user-name login need.
#pragma once

#include <cstdint>
#include <string>
#include <vector>

#include "doppel/ingest/opcua/binary.h"

namespace doppel::ingest::opcua {

// DefaultBinary encoding node ids (namespace 0), from the standard's NodeIds.csv.
enum EncodingId : uint32_t {
  kAnonymousIdentityToken = 321,
  kUserNameIdentityToken = 324,
  kServiceFault = 397,
  kOpenSecureChannelRequest = 446,
  kOpenSecureChannelResponse = 449,
  kCloseSecureChannelRequest = 452,
  kCreateSessionRequest = 461,
  kCreateSessionResponse = 464,
  kActivateSessionRequest = 467,
  kActivateSessionResponse = 470,
  kCloseSessionRequest = 473,
  kCloseSessionResponse = 476,
  kBrowseRequest = 527,
  kBrowseResponse = 530,
  kReadRequest = 631,
  kReadResponse = 634,
  kWriteRequest = 673,
  kWriteResponse = 676,
  kCreateMonitoredItemsRequest = 751,
  kCreateMonitoredItemsResponse = 754,
  kCreateSubscriptionRequest = 787,
  kCreateSubscriptionResponse = 790,
  kDataChangeNotification = 811,
  kStatusChangeNotification = 820,
  kPublishRequest = 826,
  kPublishResponse = 829,
};

// Attribute ids (Part 6, A.1).
enum AttributeId : uint32_t { kAttrNodeId = 1, kAttrBrowseName = 3, kAttrDataType = 14, kAttrValue = 13 };

constexpr uint32_t kStatusBadTimeout = 0x800A0000;

struct RequestHeader {
  NodeId authentication_token;
  int64_t timestamp = 0;  // ticks
  uint32_t request_handle = 0;
  uint32_t timeout_hint_ms = 0;
};

struct ResponseHeader {
  int64_t timestamp = 0;
  uint32_t request_handle = 0;
  uint32_t service_result = 0;
};

// --- Secure channel and session ---

struct OpenSecureChannelRequest {
  RequestHeader header;
  uint32_t request_type = 0;  // 0 issue, 1 renew
  uint32_t requested_lifetime_ms = 3'600'000;
};
struct OpenSecureChannelResponse {
  ResponseHeader header;
  uint32_t channel_id = 0;
  uint32_t token_id = 0;
  uint32_t revised_lifetime_ms = 0;
};

struct CreateSessionRequest {
  RequestHeader header;
  std::string application_uri = "urn:doppel:opcua-client";
  std::string application_name = "Doppel";
  std::string endpoint_url;
  std::string session_name = "doppel";
  std::string client_nonce;  // 32 bytes
  double requested_session_timeout_ms = 60'000;
};
struct UserTokenPolicy {
  std::string policy_id;
  uint32_t token_type = 0;  // 0 anonymous, 1 user name, 2 certificate, 3 issued
  std::string security_policy_uri;
};
struct EndpointDescription {
  std::string endpoint_url;
  uint32_t security_mode = 0;  // 1 None, 2 Sign, 3 SignAndEncrypt
  std::string security_policy_uri;
  std::vector<UserTokenPolicy> user_identity_tokens;
};
struct CreateSessionResponse {
  ResponseHeader header;
  NodeId session_id;
  NodeId authentication_token;
  double revised_session_timeout_ms = 0;
  std::string server_nonce;
  std::vector<EndpointDescription> server_endpoints;
};

struct ActivateSessionRequest {
  RequestHeader header;
  std::string policy_id;
  bool user_name = false;  // false: AnonymousIdentityToken
  std::string user, password;
};
struct ActivateSessionResponse {
  ResponseHeader header;
  std::vector<uint32_t> results;
};

struct CloseSessionRequest {
  RequestHeader header;
  bool delete_subscriptions = true;
};

// --- Attribute and view services ---

struct ReferenceDescription {
  NodeId reference_type_id;
  bool is_forward = true;
  ExpandedNodeId node_id;
  QualifiedName browse_name;
  LocalizedText display_name;
  uint32_t node_class = 0;  // 1 Object, 2 Variable, 4 Method, ...
};
struct BrowseRequest {
  RequestHeader header;
  std::vector<NodeId> nodes;  // forward hierarchical references of each
};
struct BrowseResult {
  uint32_t status = 0;
  std::string continuation_point;
  std::vector<ReferenceDescription> references;
};
struct BrowseResponse {
  ResponseHeader header;
  std::vector<BrowseResult> results;
};

struct ReadValueId {
  NodeId node_id;
  uint32_t attribute_id = kAttrValue;
};
struct ReadRequest {
  RequestHeader header;
  std::vector<ReadValueId> nodes;
};
struct ReadResponse {
  ResponseHeader header;
  std::vector<DataValue> results;
};

struct WriteValue {
  NodeId node_id;
  uint32_t attribute_id = kAttrValue;
  DataValue value;
};
struct WriteRequest {
  RequestHeader header;
  std::vector<WriteValue> nodes;
};
struct WriteResponse {
  ResponseHeader header;
  std::vector<uint32_t> results;
};

// --- Subscriptions ---

struct CreateSubscriptionRequest {
  RequestHeader header;
  double publishing_interval_ms = 100;
  uint32_t lifetime_count = 600;
  uint32_t max_keep_alive_count = 20;
  uint32_t max_notifications_per_publish = 0;  // 0: no limit
};
struct CreateSubscriptionResponse {
  ResponseHeader header;
  uint32_t subscription_id = 0;
  double revised_publishing_interval_ms = 0;
  uint32_t revised_lifetime_count = 0;
  uint32_t revised_max_keep_alive_count = 0;
};

struct MonitoredItemCreate {
  NodeId node_id;
  uint32_t client_handle = 0;
  double sampling_interval_ms = -1;  // -1: the publishing interval
  uint32_t queue_size = 10;
};
struct CreateMonitoredItemsRequest {
  RequestHeader header;
  uint32_t subscription_id = 0;
  std::vector<MonitoredItemCreate> items;
};
struct MonitoredItemCreateResult {
  uint32_t status = 0;
  uint32_t monitored_item_id = 0;
};
struct CreateMonitoredItemsResponse {
  ResponseHeader header;
  std::vector<MonitoredItemCreateResult> results;
};

struct SubscriptionAck {
  uint32_t subscription_id = 0;
  uint32_t sequence_number = 0;
};
struct PublishRequest {
  RequestHeader header;
  std::vector<SubscriptionAck> acks;
};
struct MonitoredItemValue {
  uint32_t client_handle = 0;
  DataValue value;
};
struct PublishResponse {
  ResponseHeader header;
  uint32_t subscription_id = 0;
  uint32_t sequence_number = 0;  // of the NotificationMessage
  int64_t publish_time = 0;      // ticks
  bool more_notifications = false;
  std::vector<MonitoredItemValue> data_changes;  // from every DataChangeNotification in it
  std::vector<uint32_t> status_changes;          // StatusChangeNotification codes (e.g. BadTimeout)
  std::vector<uint32_t> ack_results;             // one per acknowledgement sent
};

// Request bodies (encoding NodeId + structure).
std::string Encode(const OpenSecureChannelRequest& r);
std::string EncodeCloseSecureChannel(const RequestHeader& h);
std::string Encode(const CreateSessionRequest& r);
std::string Encode(const ActivateSessionRequest& r);
std::string Encode(const CloseSessionRequest& r);
std::string Encode(const BrowseRequest& r);
std::string Encode(const ReadRequest& r);
std::string Encode(const WriteRequest& r);
std::string Encode(const CreateSubscriptionRequest& r);
std::string Encode(const CreateMonitoredItemsRequest& r);
std::string Encode(const PublishRequest& r);

// Response bodies. Fails on a truncated or malformed body, a different encoding id, trailing
// bytes, a ServiceFault or a Bad service result (the message names the service and the code).
Status DecodeResponse(std::string_view body, OpenSecureChannelResponse* r);
Status DecodeResponse(std::string_view body, CreateSessionResponse* r);
Status DecodeResponse(std::string_view body, ActivateSessionResponse* r);
Status DecodeResponse(std::string_view body, BrowseResponse* r);
Status DecodeResponse(std::string_view body, ReadResponse* r);
Status DecodeResponse(std::string_view body, WriteResponse* r);
Status DecodeResponse(std::string_view body, CreateSubscriptionResponse* r);
Status DecodeResponse(std::string_view body, CreateMonitoredItemsResponse* r);
Status DecodeResponse(std::string_view body, PublishResponse* r);
// CloseSession: only the header matters.
Status DecodeCloseSessionResponse(std::string_view body);

// The encoding id at the start of a body (e.g. to tell a PublishResponse from a ServiceFault).
Result<uint32_t> PeekEncodingId(std::string_view body);

}  // namespace doppel::ingest::opcua
