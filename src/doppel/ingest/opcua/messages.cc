#include "doppel/ingest/opcua/messages.h"

#include <fmt/format.h>

namespace doppel::ingest::opcua {

namespace {

constexpr uint32_t kTimestampsBoth = 2;
constexpr uint32_t kMonitoringModeReporting = 2;
constexpr uint32_t kHierarchicalReferences = 33;

void Header(Encoder& e, uint32_t encoding_id, const RequestHeader& h) {
  e.NodeId(NodeId::Numeric(0, encoding_id));
  e.NodeId(h.authentication_token);
  e.DateTime(h.timestamp);
  e.UInt32(h.request_handle);
  e.UInt32(0);     // return diagnostics: none
  e.NullString();  // audit entry id
  e.UInt32(h.timeout_hint_ms);
  e.ExtensionObject({});  // additional header
}

void ReadValue(Encoder& e, const NodeId& node, uint32_t attribute) {
  e.NodeId(node);
  e.UInt32(attribute);
  e.NullString();  // index range
  e.UInt16(0);     // data encoding: null QualifiedName (an empty name is refused for
  e.NullString();  // attributes other than Value)
}

Status ReadHeader(Decoder& d, ResponseHeader* h) {
  DOPPEL_RETURN_IF_ERROR(d.DateTime("ResponseHeader.Timestamp", &h->timestamp));
  DOPPEL_RETURN_IF_ERROR(d.UInt32("ResponseHeader.RequestHandle", &h->request_handle));
  DOPPEL_RETURN_IF_ERROR(d.StatusCode("ResponseHeader.ServiceResult", &h->service_result));
  DOPPEL_RETURN_IF_ERROR(d.SkipDiagnosticInfo("ResponseHeader.ServiceDiagnostics"));
  std::string s;
  DOPPEL_RETURN_IF_ERROR(d.Array(
      "ResponseHeader.StringTable", [&](size_t) { return d.String("ResponseHeader.StringTable", &s); }, 4));
  ExtensionObject extra;
  return d.ExtensionObject("ResponseHeader.AdditionalHeader", &extra);
}

Status Prefix(const char* service, const Status& st) {
  if (st.ok()) return st;
  return {st.code(), fmt::format("{}.{}", service, st.message())};
}

// Reads the encoding id and the response header; a ServiceFault or a Bad service result is
// an error naming the service.
Status Begin(Decoder& d, const char* service, uint32_t expected, ResponseHeader* h) {
  NodeId id;
  DOPPEL_RETURN_IF_ERROR(Prefix(service, d.NodeId("TypeId", &id)));
  if (id.ns != 0 || id.kind != NodeId::Kind::kNumeric ||
      (id.numeric != expected && id.numeric != kServiceFault))
    return InvalidArgument(
        fmt::format("{}: unexpected response type {} (expected i={})", service, id.ToString(), expected));
  DOPPEL_RETURN_IF_ERROR(Prefix(service, ReadHeader(d, h)));
  if (id.numeric == kServiceFault)
    return Unavailable(fmt::format("{}: ServiceFault {}", service, StatusCodeName(h->service_result)));
  if (IsBad(h->service_result))
    return Unavailable(fmt::format("{}: service result {}", service, StatusCodeName(h->service_result)));
  return Status::Ok();
}

Status End(Decoder& d, const char* service) {
  if (d.remaining() != 0)
    return InvalidArgument(
        fmt::format("{}: {} trailing bytes at offset {}", service, d.remaining(), d.offset()));
  return Status::Ok();
}

Status StatusCodes(Decoder& d, const char* field, std::vector<uint32_t>* out) {
  out->clear();
  return d.Array(
      field,
      [&](size_t) {
        out->push_back(0);
        return d.StatusCode(field, &out->back());
      },
      4);
}

Status SkipDiagnostics(Decoder& d, const char* field) {
  return d.Array(field, [&](size_t) { return d.SkipDiagnosticInfo(field); });
}

Status ApplicationDescriptionSkip(Decoder& d, const char* field) {
  std::string s;
  LocalizedText lt;
  uint32_t type = 0;
  DOPPEL_RETURN_IF_ERROR(d.String(field, &s));  // application uri
  DOPPEL_RETURN_IF_ERROR(d.String(field, &s));  // product uri
  DOPPEL_RETURN_IF_ERROR(d.LocalizedText(field, &lt));
  DOPPEL_RETURN_IF_ERROR(d.UInt32(field, &type));
  DOPPEL_RETURN_IF_ERROR(d.String(field, &s));  // gateway server uri
  DOPPEL_RETURN_IF_ERROR(d.String(field, &s));  // discovery profile uri
  return d.Array(
      field, [&](size_t) { return d.String(field, &s); }, 4);
}

Status ReadEndpoint(Decoder& d, EndpointDescription* e) {
  const char* f = "CreateSessionResponse.ServerEndpoints";
  std::string s;
  uint8_t level = 0;
  DOPPEL_RETURN_IF_ERROR(d.String(f, &e->endpoint_url));
  DOPPEL_RETURN_IF_ERROR(ApplicationDescriptionSkip(d, f));
  DOPPEL_RETURN_IF_ERROR(d.ByteString(f, &s));  // server certificate
  DOPPEL_RETURN_IF_ERROR(d.UInt32(f, &e->security_mode));
  DOPPEL_RETURN_IF_ERROR(d.String(f, &e->security_policy_uri));
  DOPPEL_RETURN_IF_ERROR(d.Array(
      "CreateSessionResponse.UserIdentityTokens",
      [&](size_t) {
        UserTokenPolicy p;
        const char* t = "CreateSessionResponse.UserIdentityTokens";
        DOPPEL_RETURN_IF_ERROR(d.String(t, &p.policy_id));
        DOPPEL_RETURN_IF_ERROR(d.UInt32(t, &p.token_type));
        DOPPEL_RETURN_IF_ERROR(d.String(t, &s));  // issued token type
        DOPPEL_RETURN_IF_ERROR(d.String(t, &s));  // issuer endpoint url
        DOPPEL_RETURN_IF_ERROR(d.String(t, &p.security_policy_uri));
        e->user_identity_tokens.push_back(std::move(p));
        return Status::Ok();
      },
      17));
  DOPPEL_RETURN_IF_ERROR(d.String(f, &s));  // transport profile uri
  return d.Byte(f, &level);
}

Status ReadDataChange(std::string_view body, PublishResponse* r) {
  Decoder d(body);
  const char* f = "DataChangeNotification.MonitoredItems";
  DOPPEL_RETURN_IF_ERROR(d.Array(
      f,
      [&](size_t) {
        MonitoredItemValue v;
        DOPPEL_RETURN_IF_ERROR(d.UInt32(f, &v.client_handle));
        DOPPEL_RETURN_IF_ERROR(d.DataValue(f, &v.value));
        r->data_changes.push_back(std::move(v));
        return Status::Ok();
      },
      5));
  DOPPEL_RETURN_IF_ERROR(SkipDiagnostics(d, "DataChangeNotification.DiagnosticInfos"));
  return End(d, "DataChangeNotification");
}

}  // namespace

std::string Encode(const OpenSecureChannelRequest& r) {
  Encoder e;
  Header(e, kOpenSecureChannelRequest, r.header);
  e.UInt32(0);  // client protocol version
  e.UInt32(r.request_type);
  e.UInt32(1);       // security mode None
  e.ByteString("");  // client nonce
  e.UInt32(r.requested_lifetime_ms);
  return e.Take();
}

std::string EncodeCloseSecureChannel(const RequestHeader& h) {
  Encoder e;
  Header(e, kCloseSecureChannelRequest, h);
  return e.Take();
}

std::string Encode(const CreateSessionRequest& r) {
  Encoder e;
  Header(e, kCreateSessionRequest, r.header);
  e.String(r.application_uri);
  e.String("urn:doppel");  // product uri
  e.LocalizedText({"", r.application_name});
  e.UInt32(1);  // application type: client
  e.NullString();
  e.NullString();
  e.NullArray();   // discovery urls
  e.NullString();  // server uri
  e.String(r.endpoint_url);
  e.String(r.session_name);
  e.ByteString(r.client_nonce);
  e.ByteString("");  // client certificate
  e.Double(r.requested_session_timeout_ms);
  e.UInt32(0);  // max response message size: no limit
  return e.Take();
}

std::string Encode(const ActivateSessionRequest& r) {
  Encoder e;
  Header(e, kActivateSessionRequest, r.header);
  e.NullString();  // client signature: algorithm
  e.ByteString("");
  e.NullArray();  // client software certificates
  e.ArrayLength(1);
  e.String("en");
  Encoder token;
  token.String(r.policy_id);
  if (r.user_name) {
    token.String(r.user);
    token.ByteString(r.password);  // SecurityPolicy None: the password travels in clear
    token.NullString();            // encryption algorithm
  }
  e.ExtensionObject(
      {NodeId::Numeric(0, r.user_name ? kUserNameIdentityToken : kAnonymousIdentityToken), 1, token.Take()});
  e.NullString();  // user token signature
  e.ByteString("");
  return e.Take();
}

std::string Encode(const CloseSessionRequest& r) {
  Encoder e;
  Header(e, kCloseSessionRequest, r.header);
  e.Boolean(r.delete_subscriptions);
  return e.Take();
}

std::string Encode(const BrowseRequest& r) {
  Encoder e;
  Header(e, kBrowseRequest, r.header);
  e.NodeId({});  // view: the whole address space
  e.DateTime(0);
  e.UInt32(0);
  e.UInt32(0);  // max references per node: server's choice
  e.ArrayLength(r.nodes.size());
  for (const NodeId& n : r.nodes) {
    e.NodeId(n);
    e.UInt32(0);  // forward
    e.NodeId(NodeId::Numeric(0, kHierarchicalReferences));
    e.Boolean(true);  // include subtypes
    e.UInt32(0);      // every node class
    e.UInt32(63);     // every result field
  }
  return e.Take();
}

std::string Encode(const ReadRequest& r) {
  Encoder e;
  Header(e, kReadRequest, r.header);
  e.Double(0);  // max age: fresh
  e.UInt32(kTimestampsBoth);
  e.ArrayLength(r.nodes.size());
  for (const ReadValueId& n : r.nodes) ReadValue(e, n.node_id, n.attribute_id);
  return e.Take();
}

std::string Encode(const WriteRequest& r) {
  Encoder e;
  Header(e, kWriteRequest, r.header);
  e.ArrayLength(r.nodes.size());
  for (const WriteValue& w : r.nodes) {
    e.NodeId(w.node_id);
    e.UInt32(w.attribute_id);
    e.NullString();
    e.DataValue(w.value);
  }
  return e.Take();
}

std::string Encode(const CreateSubscriptionRequest& r) {
  Encoder e;
  Header(e, kCreateSubscriptionRequest, r.header);
  e.Double(r.publishing_interval_ms);
  e.UInt32(r.lifetime_count);
  e.UInt32(r.max_keep_alive_count);
  e.UInt32(r.max_notifications_per_publish);
  e.Boolean(true);  // publishing enabled
  e.Byte(0);        // priority
  return e.Take();
}

std::string Encode(const CreateMonitoredItemsRequest& r) {
  Encoder e;
  Header(e, kCreateMonitoredItemsRequest, r.header);
  e.UInt32(r.subscription_id);
  e.UInt32(kTimestampsBoth);
  e.ArrayLength(r.items.size());
  for (const MonitoredItemCreate& m : r.items) {
    ReadValue(e, m.node_id, kAttrValue);
    e.UInt32(kMonitoringModeReporting);
    e.UInt32(m.client_handle);
    e.Double(m.sampling_interval_ms);
    e.ExtensionObject({});  // no filter: default data change trigger
    e.UInt32(m.queue_size);
    e.Boolean(true);  // discard oldest
  }
  return e.Take();
}

std::string Encode(const PublishRequest& r) {
  Encoder e;
  Header(e, kPublishRequest, r.header);
  e.ArrayLength(r.acks.size());
  for (const SubscriptionAck& a : r.acks) {
    e.UInt32(a.subscription_id);
    e.UInt32(a.sequence_number);
  }
  return e.Take();
}

Result<uint32_t> PeekEncodingId(std::string_view body) {
  Decoder d(body);
  NodeId id;
  DOPPEL_RETURN_IF_ERROR(d.NodeId("TypeId", &id));
  if (id.ns != 0 || id.kind != NodeId::Kind::kNumeric)
    return InvalidArgument("TypeId: expected a numeric namespace-0 encoding id, got " + id.ToString());
  return id.numeric;
}

Status DecodeResponse(std::string_view body, OpenSecureChannelResponse* r) {
  Decoder d(body);
  const char* s = "OpenSecureChannelResponse";
  DOPPEL_RETURN_IF_ERROR(Begin(d, s, kOpenSecureChannelResponse, &r->header));
  uint32_t version = 0;
  int64_t created = 0;
  std::string nonce;
  Status st = d.UInt32("ServerProtocolVersion", &version);
  if (st.ok()) st = d.UInt32("SecurityToken.ChannelId", &r->channel_id);
  if (st.ok()) st = d.UInt32("SecurityToken.TokenId", &r->token_id);
  if (st.ok()) st = d.DateTime("SecurityToken.CreatedAt", &created);
  if (st.ok()) st = d.UInt32("SecurityToken.RevisedLifetime", &r->revised_lifetime_ms);
  if (st.ok()) st = d.ByteString("ServerNonce", &nonce);
  DOPPEL_RETURN_IF_ERROR(Prefix(s, st));
  return End(d, s);
}

Status DecodeResponse(std::string_view body, CreateSessionResponse* r) {
  Decoder d(body);
  const char* s = "CreateSessionResponse";
  DOPPEL_RETURN_IF_ERROR(Begin(d, s, kCreateSessionResponse, &r->header));
  std::string bytes;
  uint32_t max_request = 0;
  Status st = d.NodeId("SessionId", &r->session_id);
  if (st.ok()) st = d.NodeId("AuthenticationToken", &r->authentication_token);
  if (st.ok()) st = d.Double("RevisedSessionTimeout", &r->revised_session_timeout_ms);
  if (st.ok()) st = d.ByteString("ServerNonce", &r->server_nonce);
  if (st.ok()) st = d.ByteString("ServerCertificate", &bytes);
  if (st.ok())
    st = d.Array(
        "ServerEndpoints",
        [&](size_t) {
          r->server_endpoints.emplace_back();
          return ReadEndpoint(d, &r->server_endpoints.back());
        },
        30);
  if (st.ok())
    st = d.Array(
        "ServerSoftwareCertificates",
        [&](size_t) {
          DOPPEL_RETURN_IF_ERROR(d.ByteString("ServerSoftwareCertificates", &bytes));
          return d.ByteString("ServerSoftwareCertificates", &bytes);
        },
        8);
  if (st.ok()) st = d.String("ServerSignature.Algorithm", &bytes);
  if (st.ok()) st = d.ByteString("ServerSignature.Signature", &bytes);
  if (st.ok()) st = d.UInt32("MaxRequestMessageSize", &max_request);
  DOPPEL_RETURN_IF_ERROR(Prefix(s, st));
  return End(d, s);
}

Status DecodeResponse(std::string_view body, ActivateSessionResponse* r) {
  Decoder d(body);
  const char* s = "ActivateSessionResponse";
  DOPPEL_RETURN_IF_ERROR(Begin(d, s, kActivateSessionResponse, &r->header));
  std::string nonce;
  Status st = d.ByteString("ServerNonce", &nonce);
  if (st.ok()) st = StatusCodes(d, "Results", &r->results);
  if (st.ok()) st = SkipDiagnostics(d, "DiagnosticInfos");
  DOPPEL_RETURN_IF_ERROR(Prefix(s, st));
  return End(d, s);
}

Status DecodeCloseSessionResponse(std::string_view body) {
  Decoder d(body);
  ResponseHeader h;
  DOPPEL_RETURN_IF_ERROR(Begin(d, "CloseSessionResponse", kCloseSessionResponse, &h));
  return End(d, "CloseSessionResponse");
}

Status DecodeResponse(std::string_view body, BrowseResponse* r) {
  Decoder d(body);
  const char* s = "BrowseResponse";
  DOPPEL_RETURN_IF_ERROR(Begin(d, s, kBrowseResponse, &r->header));
  ExpandedNodeId type_definition;
  Status st = d.Array(
      "Results",
      [&](size_t) {
        BrowseResult& b = r->results.emplace_back();
        DOPPEL_RETURN_IF_ERROR(d.StatusCode("Results.StatusCode", &b.status));
        DOPPEL_RETURN_IF_ERROR(d.ByteString("Results.ContinuationPoint", &b.continuation_point));
        return d.Array(
            "Results.References",
            [&](size_t) {
              ReferenceDescription& ref = b.references.emplace_back();
              const char* f = "Results.References";
              DOPPEL_RETURN_IF_ERROR(d.NodeId(f, &ref.reference_type_id));
              DOPPEL_RETURN_IF_ERROR(d.Boolean(f, &ref.is_forward));
              DOPPEL_RETURN_IF_ERROR(d.ExpandedNodeId(f, &ref.node_id));
              DOPPEL_RETURN_IF_ERROR(d.QualifiedName(f, &ref.browse_name));
              DOPPEL_RETURN_IF_ERROR(d.LocalizedText(f, &ref.display_name));
              DOPPEL_RETURN_IF_ERROR(d.UInt32(f, &ref.node_class));
              return d.ExpandedNodeId(f, &type_definition);
            },
            16);
      },
      8);
  if (st.ok()) st = SkipDiagnostics(d, "DiagnosticInfos");
  DOPPEL_RETURN_IF_ERROR(Prefix(s, st));
  return End(d, s);
}

Status DecodeResponse(std::string_view body, ReadResponse* r) {
  Decoder d(body);
  const char* s = "ReadResponse";
  DOPPEL_RETURN_IF_ERROR(Begin(d, s, kReadResponse, &r->header));
  Status st = d.Array("Results", [&](size_t) { return d.DataValue("Results", &r->results.emplace_back()); });
  if (st.ok()) st = SkipDiagnostics(d, "DiagnosticInfos");
  DOPPEL_RETURN_IF_ERROR(Prefix(s, st));
  return End(d, s);
}

Status DecodeResponse(std::string_view body, WriteResponse* r) {
  Decoder d(body);
  const char* s = "WriteResponse";
  DOPPEL_RETURN_IF_ERROR(Begin(d, s, kWriteResponse, &r->header));
  Status st = StatusCodes(d, "Results", &r->results);
  if (st.ok()) st = SkipDiagnostics(d, "DiagnosticInfos");
  DOPPEL_RETURN_IF_ERROR(Prefix(s, st));
  return End(d, s);
}

Status DecodeResponse(std::string_view body, CreateSubscriptionResponse* r) {
  Decoder d(body);
  const char* s = "CreateSubscriptionResponse";
  DOPPEL_RETURN_IF_ERROR(Begin(d, s, kCreateSubscriptionResponse, &r->header));
  Status st = d.UInt32("SubscriptionId", &r->subscription_id);
  if (st.ok()) st = d.Double("RevisedPublishingInterval", &r->revised_publishing_interval_ms);
  if (st.ok()) st = d.UInt32("RevisedLifetimeCount", &r->revised_lifetime_count);
  if (st.ok()) st = d.UInt32("RevisedMaxKeepAliveCount", &r->revised_max_keep_alive_count);
  DOPPEL_RETURN_IF_ERROR(Prefix(s, st));
  return End(d, s);
}

Status DecodeResponse(std::string_view body, CreateMonitoredItemsResponse* r) {
  Decoder d(body);
  const char* s = "CreateMonitoredItemsResponse";
  DOPPEL_RETURN_IF_ERROR(Begin(d, s, kCreateMonitoredItemsResponse, &r->header));
  Status st = d.Array(
      "Results",
      [&](size_t) {
        MonitoredItemCreateResult& m = r->results.emplace_back();
        double interval = 0;
        uint32_t queue = 0;
        ExtensionObject filter;
        DOPPEL_RETURN_IF_ERROR(d.StatusCode("Results.StatusCode", &m.status));
        DOPPEL_RETURN_IF_ERROR(d.UInt32("Results.MonitoredItemId", &m.monitored_item_id));
        DOPPEL_RETURN_IF_ERROR(d.Double("Results.RevisedSamplingInterval", &interval));
        DOPPEL_RETURN_IF_ERROR(d.UInt32("Results.RevisedQueueSize", &queue));
        return d.ExtensionObject("Results.FilterResult", &filter);
      },
      22);
  if (st.ok()) st = SkipDiagnostics(d, "DiagnosticInfos");
  DOPPEL_RETURN_IF_ERROR(Prefix(s, st));
  return End(d, s);
}

Status DecodeResponse(std::string_view body, PublishResponse* r) {
  Decoder d(body);
  const char* s = "PublishResponse";
  DOPPEL_RETURN_IF_ERROR(Begin(d, s, kPublishResponse, &r->header));
  uint32_t available = 0;
  Status st = d.UInt32("SubscriptionId", &r->subscription_id);
  if (st.ok())
    st = d.Array(
        "AvailableSequenceNumbers", [&](size_t) { return d.UInt32("AvailableSequenceNumbers", &available); },
        4);
  if (st.ok()) st = d.Boolean("MoreNotifications", &r->more_notifications);
  if (st.ok()) st = d.UInt32("NotificationMessage.SequenceNumber", &r->sequence_number);
  if (st.ok()) st = d.DateTime("NotificationMessage.PublishTime", &r->publish_time);
  if (st.ok())
    st = d.Array(
        "NotificationMessage.NotificationData",
        [&](size_t) {
          ExtensionObject n;
          DOPPEL_RETURN_IF_ERROR(d.ExtensionObject("NotificationMessage.NotificationData", &n));
          if (n.type_id == NodeId::Numeric(0, kDataChangeNotification) && n.encoding == 1)
            return ReadDataChange(n.body, r);
          if (n.type_id == NodeId::Numeric(0, kStatusChangeNotification) && n.encoding == 1) {
            Decoder nd(n.body);
            uint32_t code = 0;
            DOPPEL_RETURN_IF_ERROR(nd.StatusCode("StatusChangeNotification.Status", &code));
            DOPPEL_RETURN_IF_ERROR(nd.SkipDiagnosticInfo("StatusChangeNotification.DiagnosticInfo"));
            r->status_changes.push_back(code);
          }
          return Status::Ok();  // event notifications are not used by Doppel
        },
        3);
  if (st.ok()) st = StatusCodes(d, "Results", &r->ack_results);
  if (st.ok()) st = SkipDiagnostics(d, "DiagnosticInfos");
  DOPPEL_RETURN_IF_ERROR(Prefix(s, st));
  return End(d, s);
}

}  // namespace doppel::ingest::opcua
