#include "doppel/ingest/opcua/transport.h"

#include <fmt/format.h>

#include <algorithm>
#include <chrono>

#include "doppel/ingest/opcua/binary.h"
#include "doppel/ingest/opcua/messages.h"

namespace doppel::ingest::opcua {

namespace {

constexpr char kPolicyNone[] = "http://opcfoundation.org/UA/SecurityPolicy#None";
constexpr size_t kSymmetricOverhead = kFrameHeaderSize + 4 + 4 + 8;  // channel, token, sequence

int64_t SteadyMs() {
  return std::chrono::duration_cast<std::chrono::milliseconds>(
             std::chrono::steady_clock::now().time_since_epoch())
      .count();
}

// Printable form of possibly binary bytes for error messages.
std::string Printable(std::string_view s) {
  std::string out;
  for (unsigned char c : s)
    out += (c >= 0x20 && c < 0x7F) ? std::string(1, char(c)) : fmt::format("\\x{:02x}", c);
  return out;
}

}  // namespace

Result<EndpointUrl> ParseEndpointUrl(const std::string& url) {
  constexpr std::string_view kScheme = "opc.tcp://";
  if (url.rfind(kScheme, 0) != 0)
    return InvalidArgument(fmt::format("endpoint '{}': expected opc.tcp://HOST:PORT[/PATH]", url));
  std::string rest = url.substr(kScheme.size());
  rest = rest.substr(0, rest.find('/'));
  EndpointUrl e;
  size_t colon = rest.rfind(':');
  if (!rest.empty() && rest[0] == '[') {  // [IPv6]:port
    size_t close = rest.find(']');
    if (close == std::string::npos)
      return InvalidArgument(fmt::format("endpoint '{}': unterminated '['", url));
    e.host = rest.substr(1, close - 1);
    colon = rest.size() > close + 1 && rest[close + 1] == ':' ? close + 1 : std::string::npos;
  } else {
    e.host = rest.substr(0, colon);
  }
  if (colon != std::string::npos) {
    std::string port = rest.substr(colon + 1);
    if (port.empty() || port.size() > 5 || !std::all_of(port.begin(), port.end(), ::isdigit) ||
        std::stoi(port) == 0 || std::stoi(port) > 65535)
      return InvalidArgument(fmt::format("endpoint '{}': bad port '{}'", url, port));
    e.port = std::stoi(port);
  }
  if (e.host.empty()) return InvalidArgument(fmt::format("endpoint '{}': missing host", url));
  return e;
}

Result<FrameHeader> ParseFrameHeader(std::string_view header, uint32_t max_size) {
  Decoder d(header);
  std::string type;
  DOPPEL_RETURN_IF_ERROR(d.Raw("MessageHeader.MessageType", 3, &type));
  uint8_t chunk = 0;
  FrameHeader h;
  DOPPEL_RETURN_IF_ERROR(d.Byte("MessageHeader.ChunkType", &chunk));
  DOPPEL_RETURN_IF_ERROR(d.UInt32("MessageHeader.MessageSize", &h.size));
  uint32_t min_size = 0;
  if (type == "HEL")
    min_size = 32;
  else if (type == "ACK")
    min_size = 28;
  else if (type == "ERR")
    min_size = 16;
  else if (type == "OPN")
    min_size = 32;
  else if (type == "MSG" || type == "CLO")
    min_size = 24;
  else
    return InvalidArgument(
        fmt::format("MessageHeader.MessageType: unknown message type '{}' at offset 0", Printable(type)));
  if (chunk != 'F' && chunk != 'C' && chunk != 'A')
    return InvalidArgument(fmt::format("MessageHeader.ChunkType: unknown chunk type '{}' at offset 3",
                                       Printable(std::string(1, char(chunk)))));
  if ((type != "MSG" && type != "OPN" && type != "CLO") && chunk != 'F')
    return InvalidArgument(fmt::format("MessageHeader.ChunkType: {} must be a final chunk", type));
  if (h.size < min_size || h.size > max_size)
    return InvalidArgument(
        fmt::format("MessageHeader.MessageSize: {} message of {} bytes is outside [{}, {}]", type, h.size,
                    min_size, max_size));
  h.type = std::move(type);
  h.chunk = static_cast<char>(chunk);
  return h;
}

std::string EncodeHello(const std::string& endpoint_url, const TransportLimits& l) {
  Encoder e;
  e.Raw("HELF");
  e.UInt32(0);  // size, patched below
  e.UInt32(0);  // protocol version
  e.UInt32(l.receive_buffer_size);
  e.UInt32(l.send_buffer_size);
  e.UInt32(l.max_message_size);
  e.UInt32(l.max_chunk_count);
  e.String(endpoint_url);
  e.PatchUInt32(4, static_cast<uint32_t>(e.size()));
  return e.Take();
}

Result<TransportLimits> DecodeAcknowledge(std::string_view body) {
  Decoder d(body);
  uint32_t version = 0;
  TransportLimits l;
  DOPPEL_RETURN_IF_ERROR(d.UInt32("Acknowledge.ProtocolVersion", &version));
  DOPPEL_RETURN_IF_ERROR(d.UInt32("Acknowledge.ReceiveBufferSize", &l.receive_buffer_size));
  DOPPEL_RETURN_IF_ERROR(d.UInt32("Acknowledge.SendBufferSize", &l.send_buffer_size));
  DOPPEL_RETURN_IF_ERROR(d.UInt32("Acknowledge.MaxMessageSize", &l.max_message_size));
  DOPPEL_RETURN_IF_ERROR(d.UInt32("Acknowledge.MaxChunkCount", &l.max_chunk_count));
  if (l.receive_buffer_size < 8192 || l.send_buffer_size < 8192)
    return InvalidArgument(fmt::format("Acknowledge: buffer sizes {}/{} below the minimum of 8192",
                                       l.receive_buffer_size, l.send_buffer_size));
  return l;
}

Status DecodeErrorMessage(std::string_view body) {
  Decoder d(body);
  uint32_t code = 0;
  std::string reason;
  DOPPEL_RETURN_IF_ERROR(d.StatusCode("Error.Error", &code));
  DOPPEL_RETURN_IF_ERROR(d.String("Error.Reason", &reason));
  return Unavailable(fmt::format("server error {}: {}", StatusCodeName(code), Printable(reason)));
}

Result<SecureChunk> ParseSecureChunk(const FrameHeader& h, std::string_view after_header) {
  Decoder d(after_header);
  SecureChunk c;
  DOPPEL_RETURN_IF_ERROR(d.UInt32("SecureChannelId", &c.channel_id));
  if (h.type == "OPN") {
    std::string cert;
    DOPPEL_RETURN_IF_ERROR(d.String("AsymmetricHeader.SecurityPolicyUri", &c.policy_uri));
    DOPPEL_RETURN_IF_ERROR(d.ByteString("AsymmetricHeader.SenderCertificate", &cert));
    DOPPEL_RETURN_IF_ERROR(d.ByteString("AsymmetricHeader.ReceiverCertificateThumbprint", &cert));
    if (c.policy_uri != kPolicyNone)
      return InvalidArgument(fmt::format(
          "AsymmetricHeader.SecurityPolicyUri: '{}' is not supported (only None)", Printable(c.policy_uri)));
  } else {
    DOPPEL_RETURN_IF_ERROR(d.UInt32("SymmetricHeader.TokenId", &c.token_id));
  }
  DOPPEL_RETURN_IF_ERROR(d.UInt32("SequenceHeader.SequenceNumber", &c.sequence_number));
  DOPPEL_RETURN_IF_ERROR(d.UInt32("SequenceHeader.RequestId", &c.request_id));
  c.body = d.Rest();
  return c;
}

SecureChannel::SecureChannel(std::unique_ptr<ByteStream> stream, std::string endpoint_url,
                             TransportLimits limits)
    : stream_(std::move(stream)), url_(std::move(endpoint_url)), ours_(limits), server_(limits) {}

Status SecureChannel::Fail(Status st) {
  if (broken_.ok()) broken_ = st;
  return st;
}

Result<FrameHeader> SecureChannel::ReadFrame(int timeout_ms, std::string* payload) {
  auto deadline = std::chrono::steady_clock::now() + std::chrono::milliseconds(timeout_ms);
  std::optional<FrameHeader> h;
  char buf[16384];
  for (;;) {
    if (!h && rx_.size() >= kFrameHeaderSize) {
      auto parsed = ParseFrameHeader(std::string_view(rx_).substr(0, kFrameHeaderSize),
                                     std::max(ours_.receive_buffer_size, 64u));
      if (!parsed.ok()) return Fail(parsed.status());
      h = std::move(parsed).value();
    }
    if (h && rx_.size() >= h->size) {
      payload->assign(rx_, kFrameHeaderSize, h->size - kFrameHeaderSize);
      rx_.erase(0, h->size);
      return *h;
    }
    auto left =
        std::chrono::duration_cast<std::chrono::milliseconds>(deadline - std::chrono::steady_clock::now());
    if (left.count() <= 0)
      return Status(StatusCode::kDeadlineExceeded,
                    fmt::format("{}: no response within {} ms", url_, timeout_ms));
    auto n = stream_->Read(buf, sizeof(buf), static_cast<int>(left.count()));
    if (!n.ok()) {
      if (n.status().code() == StatusCode::kDeadlineExceeded) continue;
      return Fail(n.status());
    }
    rx_.append(buf, *n);
    bytes_received_ += *n;
  }
}

Status SecureChannel::SendChunks(const char* type, std::string_view body, uint32_t request_id) {
  size_t per_chunk =
      server_.receive_buffer_size > kSymmetricOverhead ? server_.receive_buffer_size - kSymmetricOverhead : 0;
  if (per_chunk == 0) return Fail(Internal("server receive buffer too small"));
  size_t chunks = std::max<size_t>(1, (body.size() + per_chunk - 1) / per_chunk);
  if (server_.max_chunk_count != 0 && chunks > server_.max_chunk_count)
    return InvalidArgument(fmt::format("request of {} bytes needs {} chunks; the server accepts {}",
                                       body.size(), chunks, server_.max_chunk_count));
  if (server_.max_message_size != 0 && body.size() > server_.max_message_size)
    return InvalidArgument(fmt::format("request of {} bytes exceeds the server's limit of {}", body.size(),
                                       server_.max_message_size));
  for (size_t i = 0; i < chunks; ++i) {
    std::string_view part = body.substr(i * per_chunk, per_chunk);
    Encoder e;
    e.Raw(type);
    e.Byte(i + 1 == chunks ? 'F' : 'C');
    e.UInt32(0);
    e.UInt32(channel_id_);
    e.UInt32(token_id_);
    e.UInt32(next_sequence_++);
    e.UInt32(request_id);
    e.Raw(part);
    e.PatchUInt32(4, static_cast<uint32_t>(e.size()));
    if (Status st = stream_->Write(e.bytes()); !st.ok()) return Fail(st);
  }
  return Status::Ok();
}

Status SecureChannel::Open(uint32_t requested_lifetime_ms, int timeout_ms) {
  DOPPEL_RETURN_IF_ERROR(stream_->Write(EncodeHello(url_, ours_)));
  std::string payload;
  auto h = ReadFrame(timeout_ms, &payload);
  if (!h.ok()) return Fail(h.status());
  if (h->type == "ERR") return Fail(DecodeErrorMessage(payload));
  if (h->type != "ACK") return Fail(InvalidArgument(fmt::format("expected ACK after HEL, got {}", h->type)));
  auto ack = DecodeAcknowledge(payload);
  if (!ack.ok()) return Fail(ack.status());
  server_ = *ack;

  auto request_id = SendOpen(/*request_type=*/0, requested_lifetime_ms, timeout_ms);
  if (!request_id.ok()) return request_id.status();
  h = ReadFrame(timeout_ms, &payload);
  if (!h.ok()) return Fail(h.status());
  if (h->type == "ERR") return Fail(DecodeErrorMessage(payload));
  return AcceptOpen(*h, payload, *request_id);
}

Result<uint32_t> SecureChannel::SendOpen(uint32_t request_type, uint32_t requested_lifetime_ms,
                                         int timeout_hint_ms) {
  OpenSecureChannelRequest req;
  req.header.timestamp = NsToUaTicks(std::chrono::duration_cast<std::chrono::nanoseconds>(
                                         std::chrono::system_clock::now().time_since_epoch())
                                         .count());
  req.header.request_handle = 1;
  req.header.timeout_hint_ms = static_cast<uint32_t>(timeout_hint_ms);
  req.request_type = request_type;
  req.requested_lifetime_ms = requested_lifetime_ms;
  std::string body = Encode(req);
  uint32_t request_id = next_request_id_++;
  Encoder e;
  e.Raw("OPNF");
  e.UInt32(0);
  e.UInt32(channel_id_);  // 0 on Issue: the server assigns one
  e.String(kPolicyNone);
  e.NullString();  // sender certificate
  e.NullString();  // receiver thumbprint
  e.UInt32(next_sequence_++);
  e.UInt32(request_id);
  e.Raw(body);
  e.PatchUInt32(4, static_cast<uint32_t>(e.size()));
  if (Status st = stream_->Write(e.bytes()); !st.ok()) return Fail(st);
  return request_id;
}

Status SecureChannel::AcceptOpen(const FrameHeader& h, std::string_view payload, uint32_t request_id) {
  if (h.type != "OPN" || h.chunk != 'F')
    return Fail(InvalidArgument(fmt::format("expected a final OPN chunk, got {}{}", h.type, h.chunk)));
  auto chunk = ParseSecureChunk(h, payload);
  if (!chunk.ok()) return Fail(chunk.status());
  if (chunk->request_id != request_id)
    return Fail(
        InvalidArgument(fmt::format("OPN response for request {} (sent {})", chunk->request_id, request_id)));
  if (channel_id_ != 0) DOPPEL_RETURN_IF_ERROR(CheckSequence(chunk->sequence_number));
  OpenSecureChannelResponse resp;
  if (Status st = DecodeResponse(chunk->body, &resp); !st.ok()) return Fail(st);
  if (resp.channel_id != chunk->channel_id || resp.channel_id == 0)
    return Fail(InvalidArgument(fmt::format("OPN: channel id {} in the token, {} in the header",
                                            resp.channel_id, chunk->channel_id)));
  if (channel_id_ != 0 && resp.channel_id != channel_id_)
    return Fail(InvalidArgument(fmt::format("OPN renew: the token is for channel {}, this is channel {}",
                                            resp.channel_id, channel_id_)));
  if (channel_id_ != 0) ++renewals_;
  channel_id_ = resp.channel_id;
  token_id_ = resp.token_id;
  revised_lifetime_ms_ = resp.revised_lifetime_ms;
  token_since_ms_ = SteadyMs();
  renew_request_id_ = 0;
  last_rx_sequence_ = chunk->sequence_number;
  have_rx_sequence_ = true;
  return Status::Ok();
}

bool SecureChannel::RenewDue() const {
  if (!broken_.ok() || channel_id_ == 0 || renew_request_id_ != 0 || revised_lifetime_ms_ == 0) return false;
  return SteadyMs() - token_since_ms_ >= static_cast<int64_t>(revised_lifetime_ms_) * 3 / 4;
}

Status SecureChannel::SendRenew(uint32_t requested_lifetime_ms, int timeout_hint_ms) {
  if (!broken_.ok()) return broken_;
  auto id = SendOpen(/*request_type=*/1, requested_lifetime_ms, timeout_hint_ms);
  if (!id.ok()) return id.status();
  renew_request_id_ = *id;
  return Status::Ok();
}

Status SecureChannel::CheckSequence(uint32_t sequence_number) {
  bool wrapped = last_rx_sequence_ > 4294966271u && sequence_number < 1024;
  if (have_rx_sequence_ && sequence_number != last_rx_sequence_ + 1 && !wrapped)
    return Fail(
        InvalidArgument(fmt::format("SequenceNumber: {} after {}", sequence_number, last_rx_sequence_)));
  last_rx_sequence_ = sequence_number;
  have_rx_sequence_ = true;
  return Status::Ok();
}

Result<uint32_t> SecureChannel::Send(std::string_view body) {
  if (!broken_.ok()) return broken_;
  uint32_t id = next_request_id_++;
  DOPPEL_RETURN_IF_ERROR(SendChunks("MSG", body, id));
  return id;
}

Result<SecureChannel::Message> SecureChannel::Receive(int timeout_ms) {
  if (!broken_.ok()) return broken_;
  for (;;) {
    std::string payload;
    auto h = ReadFrame(timeout_ms, &payload);
    if (!h.ok()) return h.status();
    if (h->type == "ERR") return Fail(DecodeErrorMessage(payload));
    if (h->type == "OPN" && renew_request_id_ != 0) {  // the token renewal's answer
      DOPPEL_RETURN_IF_ERROR(AcceptOpen(*h, payload, renew_request_id_));
      continue;
    }
    if (h->type != "MSG")
      return Fail(InvalidArgument(fmt::format("unexpected {} message on an open channel", h->type)));
    auto c = ParseSecureChunk(*h, payload);
    if (!c.ok()) return Fail(c.status());
    if (c->channel_id != channel_id_)
      return Fail(
          InvalidArgument(fmt::format("SecureChannelId: {} on channel {}", c->channel_id, channel_id_)));
    DOPPEL_RETURN_IF_ERROR(CheckSequence(c->sequence_number));
    if (partial_chunks_ > 0 && c->request_id != partial_request_)
      return Fail(InvalidArgument(
          fmt::format("chunk of request {} inside request {}", c->request_id, partial_request_)));
    if (h->chunk == 'A') {
      partial_.clear();
      partial_chunks_ = 0;
      Status abort = DecodeErrorMessage(c->body);
      return Unavailable(fmt::format("request {} aborted by the server: {}", c->request_id, abort.message()));
    }
    if (partial_.size() + c->body.size() > ours_.max_message_size ||
        ++partial_chunks_ > ours_.max_chunk_count)
      return Fail(InvalidArgument(fmt::format("response to request {} exceeds {} bytes or {} chunks",
                                              c->request_id, ours_.max_message_size, ours_.max_chunk_count)));
    partial_request_ = c->request_id;
    partial_.append(c->body);
    if (h->chunk == 'F') {
      Message m{c->request_id, std::move(partial_)};
      partial_.clear();
      partial_chunks_ = 0;
      return m;
    }
  }
}

void SecureChannel::Close() {
  if (broken_.ok() && channel_id_ != 0) {
    RequestHeader h;
    (void)SendChunks("CLO", EncodeCloseSecureChannel(h), next_request_id_++);
  }
  (void)Fail(Unavailable("secure channel closed"));
}

}  // namespace doppel::ingest::opcua
