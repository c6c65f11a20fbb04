// AI_API=static: the whole library private to one translation unit, as the header's
// documentation offers. Unused functions must not warn.
#define AI_API static
#define AI_IMPLEMENTATION
#include "ai.hpp"

int main() { return ai::result_name(ai::result::ok) ? 0 : 1; }
