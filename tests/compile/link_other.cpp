// A second translation unit that includes the declarations (see link_main.cpp).
#include "ai.hpp"

int link_other() { return ai::type_name(ai::tensor_type::f32)[0] == 'F' ? 0 : 2; }
