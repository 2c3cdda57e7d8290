// nbd/reply.hpp - encoders for simple and structured replies into caller memory.
//
// The I/O path writes reply headers into a per-request scratch area and points an iovec
// at the payload: no allocation, no copy of data. Each function returns the bytes written.
#pragma once

#include <cstddef>
#include <cstdint>

#include "nbd/protocol.hpp"
#include "nbd/wire.hpp"

namespace mqblk::nbd {

inline size_t encode_simple_reply(uint8_t* p, uint32_t error, uint64_t cookie) noexcept {
  p = store_be32(p, kSimpleReplyMagic);
  p = store_be32(p, error);
  store_be64(p, cookie);
  return kSimpleReplySize;
}

inline size_t encode_chunk_header(uint8_t* p, uint16_t flags, uint16_t type, uint64_t cookie,
                                  uint32_t length) noexcept {
  p = store_be32(p, kStructuredReplyMagic);
  p = store_be16(p, flags);
  p = store_be16(p, type);
  p = store_be64(p, cookie);
  store_be32(p, length);
  return kChunkHeaderSize;
}

// NBD_REPLY_TYPE_OFFSET_DATA header; the data_len bytes of data follow separately.
inline size_t encode_data_chunk(uint8_t* p, bool done, uint64_t cookie, uint64_t offset,
                                uint32_t data_len) noexcept {
  encode_chunk_header(p, done ? kReplyFlagDone : 0, kReplyTypeOffsetData, cookie, 8 + data_len);
  store_be64(p + kChunkHeaderSize, offset);
  return kChunkHeaderSize + 8;
}

inline size_t encode_hole_chunk(uint8_t* p, bool done, uint64_t cookie, uint64_t offset,
                                uint32_t hole_len) noexcept {
  encode_chunk_header(p, done ? kReplyFlagDone : 0, kReplyTypeOffsetHole, cookie, 12);
  store_be32(store_be64(p + kChunkHeaderSize, offset), hole_len);
  return kChunkHeaderSize + 12;
}

// NBD_REPLY_TYPE_ERROR with an empty message; always the last chunk.
inline size_t encode_error_chunk(uint8_t* p, uint64_t cookie, uint32_t error) noexcept {
  encode_chunk_header(p, kReplyFlagDone, kReplyTypeError, cookie, 6);
  store_be16(store_be32(p + kChunkHeaderSize, error), 0);
  return kChunkHeaderSize + 6;
}

// NBD_REPLY_TYPE_BLOCK_STATUS header for n descriptors; descriptors follow (8 bytes each).
inline size_t encode_block_status_header(uint8_t* p, uint64_t cookie, uint32_t context_id,
                                         uint32_t n) noexcept {
  encode_chunk_header(p, kReplyFlagDone, kReplyTypeBlockStatus, cookie, 4 + 8 * n);
  store_be32(p + kChunkHeaderSize, context_id);
  return kChunkHeaderSize + 4;
}

inline size_t encode_extent(uint8_t* p, uint32_t length, uint32_t flags) noexcept {
  store_be32(store_be32(p, length), flags);
  return 8;
}

}  // namespace mqblk::nbd
