// Linked with link_other.cpp (declarations only) and impl.cpp: nothing in the declarations may be
// defined twice, and everything used must be defined by the implementation.
#include "ai.hpp"

int link_other();

int main() {
    ai::gguf_file f;
    ai::status st = f.open_memory("", 0);  // an empty buffer is not a GGUF file
    ai::gguf_writer w;
    uint64_t size = 0;
    ai::status st2 = w.file_size(&size);
    return (!st && st2 && ai::result_name(st.code) && ai::type_info(ai::tensor_type::q4_0)) ? link_other() : 1;
}
