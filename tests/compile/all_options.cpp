// Every trimming option and hook at once: AI_NO_STDIO + AI_NO_MMAP + AI_NO_SIMD (the scalar
// fallbacks, as without xsimd) + allocation hooks + AI_ASSERT.
#include <cstdlib>
#define AI_MALLOC(sz) std::malloc(sz)
#define AI_REALLOC(p, sz) std::realloc(p, sz)
#define AI_FREE(p) std::free(p)
#define AI_ASSERT(x) ((x) ? (void)0 : std::abort())
#define AI_NO_STDIO
#define AI_NO_MMAP
#define AI_NO_SIMD
#define AI_IMPLEMENTATION
#include "ai.hpp"
