// ublk/abi.hpp - mqblk's own definitions of the Linux ublk user ABI.
//
// Why our own: Debian 12's <linux/ublk_cmd.h> is from 6.1 and lacks the ioctl-encoded
// commands (UBLK_U_CMD_*), GET_FEATURES, USER_COPY and ZONED. These definitions follow the
// UAPI as documented in Documentation/block/ublk.rst and include/uapi/linux/ublk_cmd.h;
// the layouts are pinned with static_asserts so a mistake is a compile error, not a
// kernel that reads garbage. Only what mqblk uses is defined.
#pragma once

#include <linux/ioctl.h>

#include <cstdint>

namespace mqblk::ublk::abi {

// ---- control commands (sent on /dev/ublk-control as IORING_OP_URING_CMD, SQE128) ----

// The payload of every control command, placed in the SQE's 80-byte command area.
struct CtrlCmd {
  uint32_t dev_id;    // target device, or kAnyDevice for ADD_DEV
  uint16_t queue_id;  // kNoQueue unless the command is about one queue
  uint16_t len;       // bytes at addr
  uint64_t addr;      // user buffer, in or out depending on the command
  uint64_t data[1];   // inline argument (daemon pid for START_DEV / END_USER_RECOVERY)
  uint16_t dev_path_len;
  uint16_t pad;
  uint32_t reserved;
};
static_assert(sizeof(CtrlCmd) == 32);

inline constexpr uint32_t kAnyDevice = ~0u;
inline constexpr uint16_t kNoQueue = 0xffff;

// Command numbers. New kernels accept only the ioctl encoding below (legacy raw numbers
// are a build option there), so mqblk always sends the encoded form.
inline constexpr unsigned kCmdGetQueueAffinity = 0x01;
inline constexpr unsigned kCmdGetDevInfo = 0x02;
inline constexpr unsigned kCmdAddDev = 0x04;
inline constexpr unsigned kCmdDelDev = 0x05;
inline constexpr unsigned kCmdStartDev = 0x06;
inline constexpr unsigned kCmdStopDev = 0x07;
inline constexpr unsigned kCmdSetParams = 0x08;
inline constexpr unsigned kCmdGetParams = 0x09;
inline constexpr unsigned kCmdStartUserRecovery = 0x10;
inline constexpr unsigned kCmdEndUserRecovery = 0x11;
inline constexpr unsigned kCmdGetDevInfo2 = 0x12;
inline constexpr unsigned kCmdGetFeatures = 0x13;
inline constexpr unsigned kCmdDelDevAsync = 0x14;  // 6.9+: does not wait for openers

// _IOC(dir, 'u', nr, sizeof(CtrlCmd)), written out so that it is a constant expression.
constexpr uint32_t ioc(unsigned dir, unsigned nr, unsigned size) {
  return (dir << _IOC_DIRSHIFT) | (unsigned{'u'} << _IOC_TYPESHIFT) | (nr << _IOC_NRSHIFT) |
         (size << _IOC_SIZESHIFT);
}
constexpr uint32_t ior(unsigned nr) { return ioc(_IOC_READ, nr, sizeof(CtrlCmd)); }
constexpr uint32_t iowr(unsigned nr) { return ioc(_IOC_READ | _IOC_WRITE, nr, sizeof(CtrlCmd)); }

inline constexpr uint32_t kUCmdGetQueueAffinity = ior(kCmdGetQueueAffinity);
inline constexpr uint32_t kUCmdGetDevInfo = ior(kCmdGetDevInfo);
inline constexpr uint32_t kUCmdAddDev = iowr(kCmdAddDev);
inline constexpr uint32_t kUCmdDelDev = iowr(kCmdDelDev);
inline constexpr uint32_t kUCmdStartDev = iowr(kCmdStartDev);
inline constexpr uint32_t kUCmdStopDev = iowr(kCmdStopDev);
inline constexpr uint32_t kUCmdSetParams = iowr(kCmdSetParams);
inline constexpr uint32_t kUCmdGetParams = ior(kCmdGetParams);
inline constexpr uint32_t kUCmdStartUserRecovery = iowr(kCmdStartUserRecovery);
inline constexpr uint32_t kUCmdEndUserRecovery = iowr(kCmdEndUserRecovery);
inline constexpr uint32_t kUCmdGetDevInfo2 = ior(kCmdGetDevInfo2);
inline constexpr uint32_t kUCmdGetFeatures = ior(kCmdGetFeatures);
inline constexpr uint32_t kUCmdDelDevAsync = ior(kCmdDelDevAsync);
// A known value from the kernel's header, to check the encoding above once.
static_assert(kUCmdGetFeatures == 0x80207513u);

// ---- device info (ADD_DEV in/out, GET_DEV_INFO out) ----

struct DevInfo {
  uint16_t nr_hw_queues;
  uint16_t queue_depth;
  uint16_t state;  // DevState
  uint16_t pad0;
  uint32_t max_io_buf_bytes;
  uint32_t dev_id;
  int32_t ublksrv_pid;
  uint32_t pad1;
  uint64_t flags;          // feature bits requested (ADD_DEV) / in effect
  uint64_t ublksrv_flags;  // opaque to the kernel: ours
  uint32_t owner_uid;
  uint32_t owner_gid;
  uint64_t reserved1;
  uint64_t reserved2;
};
static_assert(sizeof(DevInfo) == 64);

enum DevState : uint16_t { kStateDead = 0, kStateLive = 1, kStateQuiesced = 2, kStateFailIo = 3 };

// ---- feature bits (DevInfo::flags, GET_FEATURES) ----
inline constexpr uint64_t kFSupportZeroCopy = 1ull << 0;
inline constexpr uint64_t kFUringCmdCompInTask = 1ull << 1;
inline constexpr uint64_t kFNeedGetData = 1ull << 2;
inline constexpr uint64_t kFUserRecovery = 1ull << 3;
inline constexpr uint64_t kFUserRecoveryReissue = 1ull << 4;
inline constexpr uint64_t kFUnprivilegedDev = 1ull << 5;
inline constexpr uint64_t kFCmdIoctlEncode = 1ull << 6;
inline constexpr uint64_t kFUserCopy = 1ull << 7;
inline constexpr uint64_t kFZoned = 1ull << 8;
inline constexpr uint64_t kFUserRecoveryFailIo = 1ull << 9;
inline constexpr uint64_t kFUpdateSize = 1ull << 10;
inline constexpr uint64_t kFAutoBufReg = 1ull << 11;
inline constexpr uint64_t kFQuiesce = 1ull << 12;
inline constexpr uint64_t kFPerIoDaemon = 1ull << 13;
inline constexpr uint64_t kFBufRegOffDaemon = 1ull << 14;

// ---- parameters (SET_PARAMS / GET_PARAMS) ----

struct ParamBasic {
  uint32_t attrs;  // kAttr* bits
  uint8_t logical_bs_shift;
  uint8_t physical_bs_shift;
  uint8_t io_opt_shift;
  uint8_t io_min_shift;
  uint32_t max_sectors;
  uint32_t chunk_sectors;
  uint64_t dev_sectors;
  uint64_t virt_boundary_mask;
};
static_assert(sizeof(ParamBasic) == 32);
inline constexpr uint32_t kAttrReadOnly = 1u << 0;
inline constexpr uint32_t kAttrRotational = 1u << 1;
inline constexpr uint32_t kAttrVolatileCache = 1u << 2;
inline constexpr uint32_t kAttrFua = 1u << 3;

struct ParamDiscard {
  uint32_t discard_alignment;
  uint32_t discard_granularity;
  uint32_t max_discard_sectors;
  uint32_t max_write_zeroes_sectors;
  uint16_t max_discard_segments;
  uint16_t reserved0;
};
static_assert(sizeof(ParamDiscard) == 20);

// Read-only, filled by the kernel once the device is started.
struct ParamDevt {
  uint32_t char_major;
  uint32_t char_minor;
  uint32_t disk_major;
  uint32_t disk_minor;
};

struct ParamZoned {
  uint32_t max_open_zones;
  uint32_t max_active_zones;
  uint32_t max_zone_append_sectors;
  uint8_t reserved[20];
};

// The kernel copies min(len, its own size) bytes, so a struct that ends at `zoned`
// works with every kernel since 6.6 and older ones simply ignore the tail.
struct Params {
  uint32_t len;
  uint32_t types;  // kParamType* bits
  ParamBasic basic;
  ParamDiscard discard;
  ParamDevt devt;
  ParamZoned zoned;
};
// 108 bytes of fields padded to 8-byte alignment, as the kernel's struct is.
static_assert(sizeof(Params) == 112);
inline constexpr uint32_t kParamTypeBasic = 1u << 0;
inline constexpr uint32_t kParamTypeDiscard = 1u << 1;
inline constexpr uint32_t kParamTypeDevt = 1u << 2;
inline constexpr uint32_t kParamTypeZoned = 1u << 3;

// ---- I/O path (/dev/ublkcN) ----

// One request as the kernel describes it, in the per-queue array mmap'ed from /dev/ublkcN
// at kCmdBufOffset + q * kMaxCmdBufSize, indexed by tag.
struct IoDesc {
  uint32_t op_flags;    // op in bits 0-7, kIoF* flags above
  uint32_t nr_sectors;  // nr_zones for REPORT_ZONES
  uint64_t start_sector;
  uint64_t addr;  // the server's buffer (mapped-buffer mode)
};
static_assert(sizeof(IoDesc) == 24);

inline constexpr uint8_t kOpRead = 0;
inline constexpr uint8_t kOpWrite = 1;
inline constexpr uint8_t kOpFlush = 2;
inline constexpr uint8_t kOpDiscard = 3;
inline constexpr uint8_t kOpWriteSame = 4;
inline constexpr uint8_t kOpWriteZeroes = 5;
// Zoned devices (UBLK_F_ZONED). A zone append's commit carries, in IoCmd::addr, the sector
// the data went to; REPORT_ZONES asks for nr_zones (IoDesc::nr_sectors) struct blk_zone
// from start_sector, to be put in the request's buffer, and commits the bytes put there.
inline constexpr uint8_t kOpZoneOpen = 10;
inline constexpr uint8_t kOpZoneClose = 11;
inline constexpr uint8_t kOpZoneFinish = 12;
inline constexpr uint8_t kOpZoneAppend = 13;
inline constexpr uint8_t kOpZoneResetAll = 14;
inline constexpr uint8_t kOpZoneReset = 15;
inline constexpr uint8_t kOpReportZones = 18;

// struct blk_zone of <linux/blkzoned.h>, one entry of a zone report.
struct BlkZone {
  uint64_t start;
  uint64_t len;
  uint64_t wp;
  uint8_t type;
  uint8_t cond;
  uint8_t non_seq;
  uint8_t reset;
  uint8_t resv[4];
  uint64_t capacity;
  uint8_t reserved[24];
};
static_assert(sizeof(BlkZone) == 64);

inline constexpr uint32_t kIoFFua = 1u << 13;
inline constexpr uint32_t kIoFNoUnmap = 1u << 15;

// The payload of FETCH_REQ / COMMIT_AND_FETCH_REQ, in the SQE's command area.
struct IoCmd {
  uint16_t q_id;
  uint16_t tag;
  int32_t result;  // COMMIT: bytes done or -errno
  uint64_t addr;   // FETCH in mapped-buffer mode: the tag's buffer; 0 with USER_COPY;
                   // COMMIT of a zone append: the sector written (zone_append_lba)
};
static_assert(sizeof(IoCmd) == 16);

inline constexpr unsigned kIoFetchReq = 0x20;
inline constexpr unsigned kIoCommitAndFetchReq = 0x21;
constexpr uint32_t io_iowr(unsigned nr) { return ioc(_IOC_READ | _IOC_WRITE, nr, sizeof(IoCmd)); }
inline constexpr uint32_t kUIoFetchReq = io_iowr(kIoFetchReq);
inline constexpr uint32_t kUIoCommitAndFetchReq = io_iowr(kIoCommitAndFetchReq);

// CQE results of FETCH / COMMIT_AND_FETCH.
inline constexpr int kIoResOk = 0;
inline constexpr int kIoResNeedGetData = 1;
// kIoResAbort is -ENODEV: the device is going away; do not fetch this tag again.

// mmap offset of the descriptor arrays and their per-queue stride.
inline constexpr uint64_t kCmdBufOffset = 0;
inline constexpr unsigned kMaxQueueDepth = 4096;
inline constexpr uint64_t kMaxCmdBufSize =
    ((kMaxQueueDepth * sizeof(IoDesc)) + 4095) & ~uint64_t{4095};

// USER_COPY: pread/pwrite on /dev/ublkcN at this offset reach a request's data.
inline constexpr uint64_t kIoBufOffset = 0x80000000ull;
inline constexpr unsigned kIoBufBits = 25;  // at most 32 MiB per request
inline constexpr unsigned kTagOff = kIoBufBits;
inline constexpr unsigned kTagBits = 16;
inline constexpr unsigned kQidOff = kTagOff + kTagBits;
inline constexpr unsigned kQidBits = 12;
inline constexpr uint32_t kMaxIoBufBytes = 1u << kIoBufBits;
constexpr uint64_t user_copy_offset(unsigned q, unsigned tag) {
  return kIoBufOffset + (uint64_t{q} << kQidOff) + (uint64_t{tag} << kTagOff);
}

}  // namespace mqblk::ublk::abi
