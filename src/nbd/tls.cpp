#include "nbd/tls.hpp"

#include <gnutls/x509.h>
#include <poll.h>
#include <sys/socket.h>
#include <unistd.h>

#include <algorithm>
#include <cctype>
#include <cerrno>
#include <cstring>
#include <fstream>
#include <stdexcept>

#include "nbd/errors.hpp"

namespace mqblk::nbd {

namespace {

std::string gnutls_text(int r) { return gnutls_strerror(r); }

void need_readable(const std::string& path, const char* what) {
  if (::access(path.c_str(), R_OK) != 0) {
    fail(std::string(what) + " " + path + ": " + errno_text() +
         " (--tls-certificates DIR needs ca-cert.pem, server-cert.pem and server-key.pem)");
  }
}

// GnuTLS reads a PSK file only when a client connects; a bad line would fail every
// handshake later. Check psktool's format now: "identity:hexkey", one a line.
void check_psk_file(const std::string& path) {
  std::ifstream in(path);
  if (!in) fail("--tls-psk " + path + ": " + errno_text() + ": give a file made by psktool");
  std::string line;
  unsigned lineno = 0, keys = 0;
  while (std::getline(in, line)) {
    lineno++;
    if (line.empty()) continue;
    const size_t colon = line.find(':');
    const std::string key = colon == std::string::npos ? "" : line.substr(colon + 1);
    const bool hex =
        !key.empty() && key.size() % 2 == 0 &&
        std::all_of(key.begin(), key.end(), [](unsigned char c) { return std::isxdigit(c) != 0; });
    if (colon == 0 || !hex) {
      fail("--tls-psk " + path + " line " + std::to_string(lineno) +
           ": not \"identity:hexkey\" (make the file with psktool -u NAME -p FILE)");
    }
    keys++;
  }
  if (keys == 0)
    fail("--tls-psk " + path + ": no keys in it (add one with psktool -u NAME -p FILE)");
}

}  // namespace

TlsServer::TlsServer(const TlsOptions& o) : verify_peer_(o.verify_peer) {
  if (!o.certificates_dir.empty() && !o.psk_file.empty())
    fail("--tls-certificates and --tls-psk both given: choose one");
  if (o.certificates_dir.empty() && o.psk_file.empty())
    fail("TLS needs credentials: give --tls-certificates DIR or --tls-psk FILE");
  if (o.verify_peer && o.certificates_dir.empty())
    fail("--tls-verify-peer checks client certificates: it needs --tls-certificates DIR");
  int r = 0;
  // TLS 1.2 and 1.3 only (the NBD protocol: older versions not by default).
  const char* prio = "NORMAL:-VERS-ALL:+VERS-TLS1.3:+VERS-TLS1.2";
  if (!o.psk_file.empty()) {
    check_psk_file(o.psk_file);
    r = gnutls_psk_allocate_server_credentials(&psk_);
    if (r < 0) fail("GnuTLS: " + gnutls_text(r));
    r = gnutls_psk_set_server_credentials_file(psk_, o.psk_file.c_str());
    if (r < 0) fail("--tls-psk " + o.psk_file + ": " + gnutls_text(r));
    gnutls_psk_set_server_known_dh_params(psk_, GNUTLS_SEC_PARAM_MEDIUM);
    prio = "NORMAL:-VERS-ALL:+VERS-TLS1.3:+VERS-TLS1.2:+ECDHE-PSK:+DHE-PSK:+PSK";
  } else {
    const std::string& d = o.certificates_dir;
    const std::string ca = d + "/ca-cert.pem", cert = d + "/server-cert.pem",
                      key = d + "/server-key.pem";
    need_readable(cert, "--tls-certificates: server certificate");
    need_readable(key, "--tls-certificates: server key");
    if (o.verify_peer) need_readable(ca, "--tls-certificates: CA certificate");
    r = gnutls_certificate_allocate_credentials(&x509_);
    if (r < 0) fail("GnuTLS: " + gnutls_text(r));
    r = gnutls_certificate_set_x509_key_file(x509_, cert.c_str(), key.c_str(), GNUTLS_X509_FMT_PEM);
    if (r < 0) fail("--tls-certificates " + cert + " / " + key + ": " + gnutls_text(r));
    if (::access(ca.c_str(), R_OK) == 0) {
      r = gnutls_certificate_set_x509_trust_file(x509_, ca.c_str(), GNUTLS_X509_FMT_PEM);
      if (r < 0) fail("--tls-certificates " + ca + ": " + gnutls_text(r));
      if (r == 0 && o.verify_peer) fail("--tls-certificates " + ca + ": no certificate in it");
    }
    gnutls_certificate_set_known_dh_params(x509_, GNUTLS_SEC_PARAM_MEDIUM);
  }
  const char* where = nullptr;
  r = gnutls_priority_init(&priority_, prio, &where);
  if (r < 0) fail(std::string("GnuTLS priority ") + prio + ": " + gnutls_text(r));
}

TlsServer::~TlsServer() {
  if (priority_) gnutls_priority_deinit(priority_);
  if (x509_) gnutls_certificate_free_credentials(x509_);
  if (psk_) gnutls_psk_free_server_credentials(psk_);
}

TlsSession::TlsSession(const TlsServer& srv, int fd) : fd_(fd), rbuf_(new char[kReadAhead]) {
  int r = gnutls_init(&s_, GNUTLS_SERVER | GNUTLS_NONBLOCK | GNUTLS_NO_SIGNAL);
  if (r < 0) throw std::runtime_error("GnuTLS: " + gnutls_text(r));
  r = gnutls_priority_set(s_, srv.priority_);
  psk_ = srv.psk_ != nullptr;
  if (r >= 0 && srv.psk_) r = gnutls_credentials_set(s_, GNUTLS_CRD_PSK, srv.psk_);
  if (r >= 0 && srv.x509_) {
    r = gnutls_credentials_set(s_, GNUTLS_CRD_CERTIFICATE, srv.x509_);
    if (srv.verify_peer_) {
      gnutls_certificate_server_set_request(s_, GNUTLS_CERT_REQUIRE);
      gnutls_session_set_verify_cert(s_, nullptr, 0);  // checked in the handshake
    }
  }
  if (r < 0) {
    gnutls_deinit(s_);
    throw std::runtime_error("GnuTLS: " + gnutls_text(r));
  }
  // Both directions call back into this session: pushes are one sendmsg on the socket,
  // pulls come through the read-ahead buffer.
  gnutls_transport_set_ptr(s_, this);
  gnutls_transport_set_vec_push_function(s_, &TlsSession::push);
  gnutls_transport_set_pull_function(s_, &TlsSession::pull);
  gnutls_transport_set_pull_timeout_function(s_, &TlsSession::pull_timeout);
}

ssize_t TlsSession::push(gnutls_transport_ptr_t self, const giovec_t* iov, int n) {
  auto* t = static_cast<TlsSession*>(self);
  msghdr m{};
  m.msg_iov = const_cast<iovec*>(iov);  // giovec_t is struct iovec; sendmsg only reads it
  m.msg_iovlen = static_cast<size_t>(n);
  ssize_t r;
  do r = ::sendmsg(t->fd_, &m, MSG_NOSIGNAL | MSG_DONTWAIT);
  while (r < 0 && errno == EINTR);
  if (r < 0) gnutls_transport_set_errno(t->s_, errno);
  return r;
}

ssize_t TlsSession::pull(gnutls_transport_ptr_t self, void* data, size_t size) {
  auto* t = static_cast<TlsSession*>(self);
  // GnuTLS pulls a record's header, then its body. While records are large (a stream of
  // big WRITEs) read-ahead would only add a copy: bodies go straight into GnuTLS's buffer,
  // two receives a record as without read-ahead. Small records are read ahead, many a
  // receive.
  if (size > kRecordHeader) t->big_records_ = size >= kBigRecord;
  if (t->rhead_ == t->rtail_ && t->big_records_) {
    ssize_t n;
    do n = ::recv(t->fd_, data, size, MSG_DONTWAIT);
    while (n < 0 && errno == EINTR);
    if (n < 0) gnutls_transport_set_errno(t->s_, errno);
    return n;
  }
  if (t->rhead_ == t->rtail_) {
    t->rhead_ = t->rtail_ = 0;
    ssize_t n;
    do n = ::recv(t->fd_, t->rbuf_.get(), kReadAhead, MSG_DONTWAIT);
    while (n < 0 && errno == EINTR);
    if (n < 0) gnutls_transport_set_errno(t->s_, errno);
    if (n <= 0) return n;  // 0: EOF
    t->rtail_ = static_cast<size_t>(n);
  }
  const size_t take = std::min(size, t->rtail_ - t->rhead_);
  std::memcpy(data, t->rbuf_.get() + t->rhead_, take);
  t->rhead_ += take;
  return static_cast<ssize_t>(take);
}

// GnuTLS asks before a read whether one would find data; the session never waits.
int TlsSession::pull_timeout(gnutls_transport_ptr_t self, unsigned) {
  auto* t = static_cast<TlsSession*>(self);
  if (t->rhead_ != t->rtail_) return 1;
  pollfd pf{t->fd_, POLLIN, 0};
  return ::poll(&pf, 1, 0);
}

TlsSession::~TlsSession() { gnutls_deinit(s_); }

TlsSession::Step TlsSession::handshake() {
  // Warning alerts are not fatal: go on (each one consumed input, so this is bounded).
  int r;
  do r = gnutls_handshake(s_);
  while (r < 0 && r != GNUTLS_E_AGAIN && r != GNUTLS_E_INTERRUPTED && !gnutls_error_is_fatal(r));
  if (r == 0) {
    established_ = true;
    return Step::done;
  }
  if (r == GNUTLS_E_AGAIN || r == GNUTLS_E_INTERRUPTED) return Step::again;
  why_ = gnutls_text(r);
  if (r == GNUTLS_E_CERTIFICATE_VERIFICATION_ERROR) {
    gnutls_datum_t out{};
    const unsigned st = gnutls_session_get_verify_cert_status(s_);
    if (gnutls_certificate_verification_status_print(st, GNUTLS_CRT_X509, &out, 0) == 0) {
      why_ += std::string(": ") + reinterpret_cast<const char*>(out.data);
      gnutls_free(out.data);
    }
  }
  if (r == GNUTLS_E_CERTIFICATE_REQUIRED || r == GNUTLS_E_NO_CERTIFICATE_FOUND) {
    why_ += " (--tls-verify-peer: the client sent no certificate signed by ca-cert.pem)";
  }
  if (psk_) {
    const char* who = gnutls_psk_server_get_username(s_);
    why_ += who && *who
                ? std::string(" (PSK identity \"") + who + "\": is its key the one in --tls-psk?)"
                : std::string(" (PSK: a wrong key, or an identity not in --tls-psk?)");
  }
  return Step::failed;
}

bool TlsSession::wants_write() const noexcept { return gnutls_record_get_direction(s_) == 1; }

ssize_t TlsSession::fail_io(int err) {
  why_ = gnutls_text(err);
  errno = EPROTO;
  return -1;
}

ssize_t TlsSession::recv(void* buf, size_t len) {
  auto* p = static_cast<char*>(buf);
  size_t got = 0;
  drained_ = false;
  while (got < len) {
    const ssize_t r = gnutls_record_recv(s_, p + got, len - got);
    if (r > 0) {
      got += static_cast<size_t>(r);
      continue;
    }
    if (r == GNUTLS_E_INTERRUPTED) continue;
    if (r == GNUTLS_E_AGAIN) {
      drained_ = true;
      break;
    }
    // close_notify (0), or the peer closed the socket without one: both are an EOF. What
    // came before it is returned first; the next call sees the EOF again.
    if (r == 0 || r == GNUTLS_E_PREMATURE_TERMINATION) {
      if (got) return static_cast<ssize_t>(got);
      return 0;
    }
    if (r == GNUTLS_E_REHANDSHAKE) return fail_io(r);           // renegotiation is not offered
    if (!gnutls_error_is_fatal(static_cast<int>(r))) continue;  // a warning alert
    return fail_io(static_cast<int>(r));
  }
  if (got) return static_cast<ssize_t>(got);
  errno = EAGAIN;
  return -1;
}

ssize_t TlsSession::send(const void* buf, size_t len) {
  const ssize_t r = gnutls_record_send(s_, buf, len);
  if (r >= 0) return r;
  if (r == GNUTLS_E_AGAIN) {
    errno = EAGAIN;
    return -1;
  }
  if (r == GNUTLS_E_INTERRUPTED) {
    errno = EINTR;
    return -1;
  }
  return fail_io(static_cast<int>(r));
}

ssize_t TlsSession::sendv(const iovec* iov, int n) {
  if (blocked_ && !flush_pending()) {
    errno = EAGAIN;
    return -1;
  }
  // Corked, GnuTLS copies what it is given and makes full records of it at uncork: a
  // batch of small replies costs a few records rather than two per reply.
  gnutls_record_cork(s_);
  size_t took = 0;
  for (int i = 0; i < n && took < kMaxBatch; i++) {
    const size_t len = std::min(iov[i].iov_len, kMaxBatch - took);
    const ssize_t r = gnutls_record_send(s_, iov[i].iov_base, len);
    if (r < 0) {
      if (r == GNUTLS_E_AGAIN || r == GNUTLS_E_INTERRUPTED) break;
      return fail_io(static_cast<int>(r));
    }
    took += static_cast<size_t>(r);
    if (static_cast<size_t>(r) < len) break;
  }
  if (!flush_pending() && errno == EPROTO) return -1;
  return static_cast<ssize_t>(took);
}

bool TlsSession::flush_pending() {
  const int r = gnutls_record_uncork(s_, 0);
  if (r >= 0) {
    blocked_ = false;
    return true;
  }
  if (r == GNUTLS_E_AGAIN || r == GNUTLS_E_INTERRUPTED) {
    blocked_ = true;
    errno = EAGAIN;
    return false;
  }
  blocked_ = false;
  fail_io(r);
  return false;
}

void TlsSession::bye() noexcept {
  if (established_) (void)gnutls_bye(s_, GNUTLS_SHUT_WR);
}

}  // namespace mqblk::nbd
