// nbd/request.hpp - transmission-phase request headers: parse and decide, no I/O.
//
// The connection reads 28-byte headers, asks plan_request() what to do with each, and does
// it. Keeping the decision pure lets the unit tests and the fuzzer cover every branch.
#pragma once

#include <cstdint>

#include "mqblk/types.hpp"
#include "nbd/export.hpp"
#include "nbd/handshake.hpp"

namespace mqblk::nbd {

struct Request {
  uint16_t flags = 0;
  uint16_t type = 0;
  uint64_t cookie = 0;
  uint64_t offset = 0;
  uint32_t length = 0;
};

// Decodes a header (kRequestHeaderSize bytes). False when the magic is wrong: the stream
// is out of step and the connection cannot continue.
bool parse_request(const uint8_t* p, Request& out) noexcept;

enum class Action : uint8_t {
  execute,             // valid: run it (WRITE: its payload of length bytes follows)
  reply_error,         // invalid, no payload follows: reply with error
  discard_then_error,  // invalid WRITE: read and drop length payload bytes, then reply error
  disconnect,          // NBD_CMD_DISC: finish in-flight requests, then close
  close,               // cannot continue safely (an unacceptably large bogus payload)
};

struct Plan {
  Action action = Action::execute;
  uint32_t error = 0;  // wire errno for reply_error / discard_then_error
};

// Validates a request against the export and what the handshake negotiated: known command
// and flags, range, alignment to min_block, maximum payload, read-only, support.
Plan plan_request(const Request& r, const ExportInfo& exp, const Negotiated& neg) noexcept;

// The NBD errno for an engine status.
uint32_t wire_error(Status s) noexcept;

}  // namespace mqblk::nbd
