// EXPECTED TO FAIL: AI_FREE without AI_MALLOC must hit ai.hpp's #error (hooks all or none).
#include <cstdlib>
#define AI_FREE(p) std::free(p)
#define AI_IMPLEMENTATION
#include "ai.hpp"
