// EXPECTED TO FAIL: AI_MALLOC without AI_FREE must hit ai.hpp's #error (hooks all or none).
#include <cstdlib>
#define AI_MALLOC(sz) std::malloc(sz)
#define AI_IMPLEMENTATION
#include "ai.hpp"
