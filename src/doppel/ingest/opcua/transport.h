// OPC UA TCP (Part 6, 7.1) and UA Secure Conversation with SecurityPolicy None (Part 6, 6.7).
//
// Every message starts with an 8-byte header: 3 ASCII bytes of type (HEL, ACK, ERR, OPN, MSG,
// CLO), one chunk byte ('F' final, 'C' intermediate, 'A' abort) and the UInt32 size of the
// whole message. OPN chunks carry the secure channel id and an asymmetric security header
// (policy uri, certificate, thumbprint), MSG/CLO chunks the channel id and token id; both then
// a sequence header (sequence number, request id) and the body (messages.h).
//
// Token renewal (Part 6, 6.7.4): the channel's security token has the lifetime the server
// revised; a client asks for a new one (OPN with request type Renew on the same channel) once 75 %
// of it has passed, and uses the new token id from the response on. Servers that enforce the
// lifetime close a channel whose token expired. RenewDue/SendRenew start a renewal; Receive()
// consumes its response (it is not a service response) and switches to the new token.
//
// SecureChannel is not thread-safe: one thread sends and receives. Any framing violation
// (unknown message type, size out of bounds, wrong channel id, sequence gap, ERR from the
// server) fails the call with a message naming it; the channel is then unusable.
#pragma once

#include <cstdint>
#include <memory>
#include <string>
#include <string_view>

#include "doppel/core/status.h"
#include "doppel/ingest/opcua/tcp.h"

namespace doppel::ingest::opcua {

// "opc.tcp://host:port[/path]" split up; the port defaults to 4840.
struct EndpointUrl {
  std::string host;
  int port = 4840;
};
Result<EndpointUrl> ParseEndpointUrl(const std::string& url);

constexpr size_t kFrameHeaderSize = 8;

struct FrameHeader {
  std::string type;  // "HEL", "ACK", ...
  char chunk = 'F';
  uint32_t size = 0;  // including the header
};
// Checks type, chunk byte and size (8 + at least the fixed fields .. max_size).
Result<FrameHeader> ParseFrameHeader(std::string_view header, uint32_t max_size);

struct TransportLimits {
  uint32_t receive_buffer_size = 65536;  // our chunk size limit
  uint32_t send_buffer_size = 65536;
  uint32_t max_message_size = 16 << 20;
  uint32_t max_chunk_count = 4096;
};

// HEL body / ACK body / ERR body.
std::string EncodeHello(const std::string& endpoint_url, const TransportLimits& limits);
Result<TransportLimits> DecodeAcknowledge(std::string_view body);
// The ERR body as an error Status: "server error BadTcpEndpointUrlInvalid: <reason>".
Status DecodeErrorMessage(std::string_view body);

// One secure-conversation chunk after its 8-byte header.
struct SecureChunk {
  uint32_t channel_id = 0;
  uint32_t token_id = 0;   // MSG/CLO only
  std::string policy_uri;  // OPN only
  uint32_t sequence_number = 0;
  uint32_t request_id = 0;
  std::string_view body;
};
Result<SecureChunk> ParseSecureChunk(const FrameHeader& h, std::string_view after_header);

class SecureChannel {
 public:
  SecureChannel(std::unique_ptr<ByteStream> stream, std::string endpoint_url, TransportLimits limits = {});
  // HEL/ACK, then OPN (issue) with SecurityPolicy None; waits at most timeout_ms per step.
  Status Open(uint32_t requested_lifetime_ms, int timeout_ms);
  // Sends a service request body as MSG chunks; returns its request id.
  Result<uint32_t> Send(std::string_view body);
  struct Message {
    uint32_t request_id = 0;
    std::string body;
  };
  // The next complete response, waiting at most timeout_ms (kDeadlineExceeded).
  Result<Message> Receive(int timeout_ms);
  // Best-effort CLO; the channel is closed afterwards.
  void Close();
  // True once 75 % of the current token's revised lifetime has passed (steady clock) and no
  // renewal is outstanding; false before Open() succeeded.
  bool RenewDue() const;
  // Sends OPN (Renew) asking for a token of requested_lifetime_ms; the response is applied by
  // Receive(). Fails like Send().
  Status SendRenew(uint32_t requested_lifetime_ms, int timeout_hint_ms);
  uint32_t channel_id() const { return channel_id_; }
  uint32_t token_id() const { return token_id_; }
  uint32_t revised_lifetime_ms() const { return revised_lifetime_ms_; }
  uint64_t renewals() const { return renewals_; }  // tokens renewed on this channel
  uint64_t bytes_received() const { return bytes_received_; }

 private:
  Status SendChunks(const char* type, std::string_view body, uint32_t request_id);
  // One OPN chunk (Issue on channel 0, or Renew on this channel); returns its request id.
  Result<uint32_t> SendOpen(uint32_t request_type, uint32_t requested_lifetime_ms, int timeout_hint_ms);
  // Validates an OPN response chunk to request `request_id` and switches to its token.
  Status AcceptOpen(const FrameHeader& h, std::string_view payload, uint32_t request_id);
  // A received chunk's sequence number follows the previous one (wrapping after 2^32 − 1024).
  Status CheckSequence(uint32_t sequence_number);
  Result<FrameHeader> ReadFrame(int timeout_ms, std::string* payload);
  Status Fail(Status st);

  std::unique_ptr<ByteStream> stream_;
  std::string url_;
  TransportLimits ours_, server_;
  std::string rx_;  // bytes received but not yet consumed
  uint32_t channel_id_ = 0, token_id_ = 0;
  uint32_t revised_lifetime_ms_ = 0;
  int64_t token_since_ms_ = 0;     // steady clock when the current token arrived
  uint32_t renew_request_id_ = 0;  // the outstanding OPN Renew, 0 when none
  uint64_t renewals_ = 0;
  uint32_t next_request_id_ = 1, next_sequence_ = 1;
  uint32_t last_rx_sequence_ = 0;
  bool have_rx_sequence_ = false;
  std::string partial_;  // body chunks of the message being reassembled
  uint32_t partial_request_ = 0, partial_chunks_ = 0;
  uint64_t bytes_received_ = 0;
  Status broken_;
};

}  // namespace doppel::ingest::opcua
