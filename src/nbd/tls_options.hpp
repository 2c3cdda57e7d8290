// nbd/tls_options.hpp - what the user asks of TLS (`mqblk nbd --tls...`), without GnuTLS, so
// that the protocol code (and the fuzzer, which builds it alone) can know the policy.
#pragma once

#include <cstdint>
#include <string>

namespace mqblk::nbd {

// As nbdkit's --tls: off never offers TLS (NBD_OPT_STARTTLS is refused with
// NBD_REP_ERR_POLICY); on lets each client choose; require refuses every option but
// NBD_OPT_STARTTLS and NBD_OPT_ABORT with NBD_REP_ERR_TLS_REQD until TLS is up.
enum class TlsMode : uint8_t { off, on, require };

struct TlsOptions {
  std::string certificates_dir;  // ca-cert.pem, server-cert.pem, server-key.pem
  std::string psk_file;          // psktool's format: one "identity:hexkey" a line
  bool verify_peer = false;      // ask for a client certificate and verify it against ca-cert.pem
};

}  // namespace mqblk::nbd
