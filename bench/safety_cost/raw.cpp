// The raw baseline: compiled with -DMQBLK_RAW_OWNERSHIP=1 (see the CMakeLists), so the
// ownership machinery is mqblk::raw_ownership: an owner's end is a relaxed store, no CAS.
#ifndef MQBLK_RAW_OWNERSHIP
#error "raw.cpp must be compiled with -DMQBLK_RAW_OWNERSHIP=1"
#endif
#define SAFETY_VARIANT "raw"
#define SAFETY_VARIANT_ID raw
#include "safety_cost/loop.hpp"
