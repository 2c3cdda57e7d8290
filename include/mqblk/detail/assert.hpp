// mqblk/detail/assert.hpp - run-time checks of the ownership rules.
//
// MQBLK_DEBUG_ASSERT is on in debug builds and in every sanitizer build
// (MQBLK_DEBUG_CHECKS=1); release builds keep the cheap, non-aborting fallback the caller
// writes after it (e.g. an end through an empty handle returns EndResult::not_owner).
#pragma once

namespace mqblk::detail {
[[noreturn]] void assert_fail(const char* what, const char* file, int line) noexcept;
}

#if defined(MQBLK_DEBUG_CHECKS) || !defined(NDEBUG)
#define MQBLK_DEBUG_CHECKS_ON 1
#define MQBLK_DEBUG_ASSERT(cond, what)                                                        \
  do {                                                                                        \
    if (__builtin_expect(!(cond), 0)) ::mqblk::detail::assert_fail(what, __FILE__, __LINE__); \
  } while (0)
#else
#define MQBLK_DEBUG_CHECKS_ON 0
#define MQBLK_DEBUG_ASSERT(cond, what) \
  do {                                 \
  } while (0)
#endif

// The ownership machinery (request slots, handles, queues, devices) lives in an inline
// namespace named after the ownership policy, so that bench/safety_cost can link the
// checked engine and the raw baseline (MQBLK_RAW_OWNERSHIP) into one binary without two
// definitions of the same inline function.
#if defined(MQBLK_RAW_OWNERSHIP)
#define MQBLK_OWNERSHIP_NS_BEGIN inline namespace raw_ownership {
#elif defined(MQBLK_BROKEN_OWNERSHIP)
#define MQBLK_OWNERSHIP_NS_BEGIN inline namespace broken_ownership {
#else
#define MQBLK_OWNERSHIP_NS_BEGIN inline namespace checked_ownership {
#endif
#define MQBLK_OWNERSHIP_NS_END }
