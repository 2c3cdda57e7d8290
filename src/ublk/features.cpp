#include "ublk/features.hpp"

#include "ublk/abi.hpp"

namespace mqblk::ublk {

const std::vector<FeatureName>& feature_names() {
  using namespace abi;
  static const std::vector<FeatureName> names = {
      {kFSupportZeroCopy, "SUPPORT_ZERO_COPY", "not used"},
      {kFUringCmdCompInTask, "URING_CMD_COMP_IN_TASK", "not requested (kernel default path)"},
      {kFNeedGetData, "NEED_GET_DATA", "not used (USER_COPY or mapped buffers instead)"},
      {kFUserRecovery, "USER_RECOVERY", "requested by `add -r 1`; `recover -n ID`"},
      {kFUserRecoveryReissue, "USER_RECOVERY_REISSUE",
       "requested by `add -i 1` (drivers whose writes are idempotent)"},
      {kFUnprivilegedDev, "UNPRIVILEGED_DEV",
       "requested by `add --unprivileged` (non-root users; see docs/ublk.md)"},
      {kFCmdIoctlEncode, "CMD_IOCTL_ENCODE", "required: mqblk sends ioctl-encoded commands"},
      {kFUserCopy, "USER_COPY", "used for data when present (pread/pwrite on /dev/ublkcN)"},
      {kFZoned, "ZONED", "not used yet"},
      {kFUserRecoveryFailIo, "USER_RECOVERY_FAIL_IO", "requested by `add -e 1`"},
      {kFUpdateSize, "UPDATE_SIZE", "not used"},
      {kFAutoBufReg, "AUTO_BUF_REG", "not used"},
      {kFQuiesce, "QUIESCE", "not used"},
      {kFPerIoDaemon, "PER_IO_DAEMON", "not used"},
      {kFBufRegOffDaemon, "BUF_REG_OFF_DAEMON", "not used"},
  };
  return names;
}

std::vector<std::string> decode_features(uint64_t mask) {
  std::vector<std::string> out;
  for (const auto& f : feature_names()) {
    if (mask & f.bit) {
      out.emplace_back(f.name);
      mask &= ~f.bit;
    }
  }
  for (unsigned b = 0; b < 64; ++b)
    if (mask & (uint64_t{1} << b)) out.push_back("bit " + std::to_string(b));
  return out;
}

}  // namespace mqblk::ublk
