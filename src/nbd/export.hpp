// nbd/export.hpp - what the server says about its one export, derived from DiskLimits.
//
// Invariants: size is a multiple of min_block; min_block is a power of two <= 64 KiB;
// max_block is a multiple of min_block. The flags tell the truth about the device: a
// feature is advertised only when the device implements it (see from_limits()).
#pragma once

#include <cstdint>
#include <string>

#include "mqblk/disk.hpp"
#include "nbd/tls_options.hpp"

namespace mqblk::nbd {

class TlsServer;  // nbd/tls.hpp

// The largest READ/WRITE payload we accept, and advertise as maximum block size. Requests
// above the device's max_sectors are split into several engine requests.
inline constexpr uint32_t kMaxPayload = 32u << 20;

// A refused WRITE whose payload is at most this long has its payload read and thrown away,
// then gets an error reply and the connection goes on. A longer one closes the connection
// (the spec allows it): reading gigabytes only to refuse them helps nobody.
inline constexpr uint32_t kMaxDiscardPayload = 64u << 20;

struct ExportInfo {
  std::string name;  // "" is the default export and always matches too
  std::string description;
  uint64_t size = 0;
  uint32_t min_block = 512;
  uint32_t pref_block = 4096;
  uint32_t max_block = kMaxPayload;
  // Largest engine request per op, in bytes (0: the op is not supported by the device).
  uint64_t max_rw_part = 0;
  uint64_t max_trim_part = 0;
  uint64_t max_zero_part = 0;
  bool read_only = false;
  bool flush = false;  // volatile write cache: FLUSH is meaningful
  bool fua = false;
  bool rotational = false;
  // TLS: the policy the handshake applies, and the credentials a connection's session is
  // made from (non-null unless tls is off; owned by the server, outlives every connection).
  TlsMode tls = TlsMode::off;
  const TlsServer* tls_server = nullptr;

  bool trim() const noexcept { return max_trim_part != 0 && !read_only; }
  bool write_zeroes() const noexcept { return max_zero_part != 0 && !read_only; }

  // The transmission flags for a connection; DF only when structured replies are on.
  uint16_t transmission_flags(bool structured) const noexcept;

  static ExportInfo from_limits(const DiskLimits& l, std::string name, std::string description,
                                bool force_read_only);
};

}  // namespace mqblk::nbd
