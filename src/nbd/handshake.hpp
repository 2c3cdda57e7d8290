// nbd/handshake.hpp - the fixed newstyle handshake as a pure state machine.
//
// No I/O: the connection feeds it the bytes it received and sends what output() holds.
// This is what the fuzzer drives. The handshake is not a hot path, so it builds its
// replies in a std::string.
//
// Invariants: output() starts with the greeting; feed() consumes bytes only while state()
// is options, so bytes after the end of the handshake (a pipelined first request) are left
// to the caller; once state() is transmission or closed it never changes again. State
// starttls: the ACK of NBD_OPT_STARTTLS is the last thing in output(); the caller sends it
// in the clear, runs the TLS handshake and calls tls_started(), after which options go on
// (inside TLS) with everything negotiated before forgotten, as the protocol demands. With
// ExportInfo::tls require, no option but STARTTLS and ABORT is answered before that. Option
// payloads longer than kMaxOptionLength are skipped (never stored) and answered with
// NBD_REP_ERR_TOO_BIG, so memory stays bounded whatever the client sends.
#pragma once

#include <cstddef>
#include <cstdint>
#include <string>

#include "nbd/export.hpp"

namespace mqblk::nbd {

inline constexpr uint32_t kMaxOptionLength = 64u << 10;

// What the client chose, valid once the handshake reached transmission.
struct Negotiated {
  bool structured_replies = false;
  bool base_allocation = false;  // base:allocation selected by SET_META_CONTEXT
  uint16_t transmission_flags = 0;
};

class Handshake {
 public:
  enum class State { options, starttls, transmission, closed };

  explicit Handshake(const ExportInfo& exp);

  // Consumes a prefix of data, returns how many bytes were used. Appends replies to
  // output(). Stops at the end of the handshake.
  size_t feed(const uint8_t* data, size_t len);

  State state() const noexcept { return state_; }
  const Negotiated& negotiated() const noexcept { return neg_; }
  // Bytes to send to the client; the caller erases what it has sent.
  std::string& output() noexcept { return out_; }
  // After starttls: TLS is up, options go on.
  void tls_started();
  bool tls_active() const noexcept { return tls_active_; }
  // Why the handshake ended in closed (for the log).
  const std::string& close_reason() const noexcept { return reason_; }

 private:
  enum class Phase { client_flags, opt_header, opt_data, opt_skip };

  void handle_option();
  void reply(uint32_t type, const std::string& data = {});
  void error(uint32_t type, const char* msg);
  void finish_export_name();
  void handle_info_go(bool go);
  void handle_meta_context(bool set);
  void send_info_export();
  void close(const char* why);
  bool refuse_before_tls();
  void handle_starttls();
  bool export_matches(const std::string& name) const;

  const ExportInfo& exp_;
  State state_ = State::options;
  Phase phase_ = Phase::client_flags;
  bool no_zeroes_ = false;
  bool tls_active_ = false;
  Negotiated neg_;
  std::string out_;
  std::string reason_;
  // The option being received.
  uint8_t hdr_[16];
  size_t hdr_have_ = 0;
  uint32_t opt_ = 0;
  uint32_t opt_len_ = 0;
  uint32_t skip_left_ = 0;
  std::string data_;
};

}  // namespace mqblk::nbd
