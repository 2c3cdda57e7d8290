// drivers/file/file_config.hpp - the file driver's attributes, parsed from key=value items.
//
// `file path=PATH [direct=0|1] [size=BYTES] [readonly=1] [blocksize=N] [submit_queues=N]
// [hw_queue_depth=N] [request_timeout=S]`. Parsing is pure (it opens nothing); every mistake
// is a ConfigError whose what() is one line "file: KEY=VALUE: what is wrong (how to fix)".
// docs/file-driver.md has the table.
#pragma once

#include <cstdint>
#include <string>
#include <vector>

#include "mqblk/registry.hpp"

namespace mqblk::file {

// direct=: O_DIRECT always (1), never (0), or when the file system allows it (auto, the
// default: buffered without a word when it does not).
enum class DirectMode : uint8_t { off, on, automatic };

struct FileConfig {
  std::string path;  // required: a regular file or a block device
  DirectMode direct = DirectMode::automatic;
  uint64_t size_bytes = 0;  // 0: the file's size
  bool readonly = false;
  uint32_t blocksize = 0;         // 0: what the file needs (512, or its O_DIRECT alignment)
  uint32_t submit_queues = 1;     // hardware queues, each with its own io_uring and reaper
  uint32_t hw_queue_depth = 128;  // tags per hardware queue
  uint64_t request_timeout_ns = 30'000'000'000;  // a disk may take this long (kernel: 30 s)
};

// Throws ConfigError (one line) on an unknown key, a missing '=', an empty value, a bad
// number or unit, a value out of range, a missing path.
FileConfig parse_file_config(const std::vector<std::string>& kv);

std::vector<mqblk::AttributeInfo> file_attributes();

// strerror(err) without strerror's thread-safety trap (the reapers report errors too).
std::string errno_text(int err);

}  // namespace mqblk::file
