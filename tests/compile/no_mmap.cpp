// AI_NO_MMAP: open_file always reads the file into memory.
#define AI_NO_MMAP
#define AI_IMPLEMENTATION
#include "ai.hpp"
