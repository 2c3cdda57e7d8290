// ublk/features.hpp - names of the ublk feature bits, for `mqblk features` and errors.
#pragma once

#include <cstdint>
#include <string>
#include <vector>

namespace mqblk::ublk {

struct FeatureName {
  uint64_t bit;
  const char* name;  // as in the UAPI, without the UBLK_F_ prefix
  const char* what;  // what mqblk does with it
};

// Every bit mqblk knows, in bit order.
const std::vector<FeatureName>& feature_names();

// Names of the bits set in mask; unknown bits appear as "bit N".
std::vector<std::string> decode_features(uint64_t mask);

}  // namespace mqblk::ublk
