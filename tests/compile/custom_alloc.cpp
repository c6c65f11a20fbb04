// Every allocation hook given (the all-or-none rule's "all"). AI_REALLOC is defined too, in case
// the header uses it; a header that does not must simply ignore it.
#include <cstddef>
void* my_malloc(size_t n);
void* my_realloc(void* p, size_t n);
void my_free(void* p);
#define AI_MALLOC(sz) my_malloc(sz)
#define AI_REALLOC(p, sz) my_realloc(p, sz)
#define AI_FREE(p) my_free(p)
#define AI_IMPLEMENTATION
#include "ai.hpp"

#include <cstdlib>
static size_t g_live = 0;
void* my_malloc(size_t n) { ++g_live; return std::malloc(n); }
void* my_realloc(void* p, size_t n) { if (!p) ++g_live; return std::realloc(p, n); }
void my_free(void* p) { if (p) --g_live; std::free(p); }
size_t live_allocations() { return g_live; }
