// nbd/wire.hpp - big-endian loads and stores for the NBD wire format.
//
// memcpy + byte swap: no alignment assumptions on network buffers, and compilers turn
// these into one load and one bswap.
#pragma once

#include <cstdint>
#include <cstring>
#include <string>

namespace mqblk::nbd {

inline uint16_t load_be16(const uint8_t* p) noexcept {
  uint16_t v;
  std::memcpy(&v, p, 2);
  return __builtin_bswap16(v);
}
inline uint32_t load_be32(const uint8_t* p) noexcept {
  uint32_t v;
  std::memcpy(&v, p, 4);
  return __builtin_bswap32(v);
}
inline uint64_t load_be64(const uint8_t* p) noexcept {
  uint64_t v;
  std::memcpy(&v, p, 8);
  return __builtin_bswap64(v);
}
inline uint8_t* store_be16(uint8_t* p, uint16_t v) noexcept {
  v = __builtin_bswap16(v);
  std::memcpy(p, &v, 2);
  return p + 2;
}
inline uint8_t* store_be32(uint8_t* p, uint32_t v) noexcept {
  v = __builtin_bswap32(v);
  std::memcpy(p, &v, 4);
  return p + 4;
}
inline uint8_t* store_be64(uint8_t* p, uint64_t v) noexcept {
  v = __builtin_bswap64(v);
  std::memcpy(p, &v, 8);
  return p + 8;
}

// Appenders for the handshake, which is not a hot path and builds std::string replies.
inline void put_be16(std::string& s, uint16_t v) {
  uint8_t b[2];
  store_be16(b, v);
  s.append(reinterpret_cast<const char*>(b), 2);
}
inline void put_be32(std::string& s, uint32_t v) {
  uint8_t b[4];
  store_be32(b, v);
  s.append(reinterpret_cast<const char*>(b), 4);
}
inline void put_be64(std::string& s, uint64_t v) {
  uint8_t b[8];
  store_be64(b, v);
  s.append(reinterpret_cast<const char*>(b), 8);
}

}  // namespace mqblk::nbd
