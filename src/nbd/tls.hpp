// nbd/tls.hpp - TLS for the NBD server (GnuTLS): the server's credentials, loaded once, and
// one non-blocking session per connection that upgraded with NBD_OPT_STARTTLS.
//
// The session reads and writes the connection's socket itself (the descriptor is
// non-blocking, so GnuTLS returns GNUTLS_E_AGAIN where the socket would block); recv() and
// send() report like the socket calls they replace (bytes, 0 at EOF, or -1 with errno
// EAGAIN/EINTR, or EPROTO with why() set), so that the connection keeps one error path.
//
// Edge-triggered epoll: GnuTLS may hold bytes it has read from the socket (a record's
// rest, decrypted data the caller had no room for), which no new edge will announce. So a
// short read means nothing here: recv() reads on until the buffer is full or the socket
// says EAGAIN, and drained() tells the caller which of the two ended it.
//
// Reads from the socket go through a read-ahead buffer (kReadAhead): GnuTLS asks for a
// record's 5-byte header and then its body, two receives per record, where one receive
// now brings many records (a client's small requests). Not while records are large, where
// read-ahead would only add a copy (see pull()). GnuTLS says EAGAIN only once that buffer
// is empty and the socket said EAGAIN.
#pragma once

#include <gnutls/gnutls.h>
#include <sys/types.h>
#include <sys/uio.h>

#include <cstddef>
#include <memory>
#include <string>

#include "nbd/tls_options.hpp"

namespace mqblk::nbd {

// The server's credentials. Built before any connection, then only read (GnuTLS allows
// concurrent sessions to share credentials), so any I/O thread may make sessions from it.
class TlsServer {
 public:
  // Throws std::runtime_error with one line (which file, what is wrong) on bad input.
  explicit TlsServer(const TlsOptions& o);
  ~TlsServer();
  TlsServer(const TlsServer&) = delete;
  TlsServer& operator=(const TlsServer&) = delete;

  bool psk() const noexcept { return psk_ != nullptr; }

 private:
  friend class TlsSession;
  gnutls_certificate_credentials_t x509_ = nullptr;
  gnutls_psk_server_credentials_t psk_ = nullptr;
  gnutls_priority_t priority_ = nullptr;
  bool verify_peer_ = false;
};

// One connection's TLS session. Used only by the connection's I/O thread. It never closes
// the descriptor, which stays the connection's.
class TlsSession {
 public:
  enum class Step { done, again, failed };

  // Throws std::runtime_error if GnuTLS cannot make a session (out of memory).
  TlsSession(const TlsServer& srv, int fd);
  ~TlsSession();
  TlsSession(const TlsSession&) = delete;
  TlsSession& operator=(const TlsSession&) = delete;

  // Drives the TLS handshake as far as the socket allows. On again, wants_write() says
  // whether it waits for the socket to become writable (else readable). On failed, why().
  Step handshake();
  bool established() const noexcept { return established_; }
  bool wants_write() const noexcept;

  // As ::recv on a non-blocking socket (see the file comment): reads records until len
  // bytes arrived or the socket has no more.
  ssize_t recv(void* buf, size_t len);
  // True when the last recv() stopped because the socket had nothing more (a new edge
  // will come), false when it stopped because the buffer was full.
  bool drained() const noexcept { return drained_; }

  // As ::send: sends a prefix of buf. After EAGAIN, the next call must pass the same
  // bytes again (GnuTLS holds the record it already made of them).
  ssize_t send(const void* buf, size_t len);
  // As ::sendmsg over iov, with the replies of a batch coalesced into full records: takes
  // up to kMaxBatch bytes into GnuTLS's buffer and returns how many it took; what the
  // socket did not take stays in GnuTLS, and blocked() is true until flush_pending()
  // sent it. While blocked, sendv() takes nothing (-1, EAGAIN).
  ssize_t sendv(const iovec* iov, int n);
  // Sends what an earlier sendv() left in GnuTLS. True once nothing is left.
  bool flush_pending();
  bool blocked() const noexcept { return blocked_; }

  // Sends close_notify if the socket takes it now (never waits).
  void bye() noexcept;

  const std::string& why() const noexcept { return why_; }

  static constexpr size_t kMaxBatch = 256u << 10;
  static constexpr size_t kReadAhead = 64u << 10;

 private:
  ssize_t fail_io(int err);
  static ssize_t push(gnutls_transport_ptr_t self, const giovec_t* iov, int n);
  static ssize_t pull(gnutls_transport_ptr_t self, void* data, size_t size);
  static int pull_timeout(gnutls_transport_ptr_t self, unsigned ms);

  gnutls_session_t s_ = nullptr;
  int fd_;
  std::unique_ptr<char[]> rbuf_;  // kReadAhead bytes; [rhead_, rtail_) not yet pulled
  size_t rhead_ = 0;
  size_t rtail_ = 0;
  bool big_records_ = false;  // the last record body pulled was >= kBigRecord
  static constexpr size_t kRecordHeader = 5;
  static constexpr size_t kBigRecord = 8u << 10;
  bool established_ = false;
  bool drained_ = false;
  bool blocked_ = false;
  bool psk_ = false;  // PSK credentials (for the failure's hint)
  std::string why_;
};

}  // namespace mqblk::nbd
