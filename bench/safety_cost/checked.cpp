// The checked engine (mqblk::checked_ownership): what the library and every frontend use.
#define SAFETY_VARIANT "checked"
#define SAFETY_VARIANT_ID checked
#include "safety_cost/loop.hpp"
