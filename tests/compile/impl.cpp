// The implementation with every option at its default.
#define AI_IMPLEMENTATION
#include "ai.hpp"
