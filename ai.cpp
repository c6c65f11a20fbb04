#define AI_IMPLEMENTATION
#include "ai.hpp"
