// The test runner: doctest's main, and the one translation unit of ai_tests that compiles ai.hpp's
// implementation. The test cases live in the other tests/test_*.cpp files (each includes ai.hpp
// without AI_IMPLEMENTATION). Environment: AI_SHARED_DIR (reference data), AI_CLI (the ai tool).
#define DOCTEST_CONFIG_IMPLEMENT_WITH_MAIN
#include <doctest/doctest.h>

#define AI_IMPLEMENTATION
#include "ai.hpp"

// Tests of internals (ai::detail), which only this translation unit can see.
#include "internal_unicode.inc"
