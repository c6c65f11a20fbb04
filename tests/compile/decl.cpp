// Declarations only (no AI_IMPLEMENTATION): the header stands alone, is include-guarded, and keeps
// heavy headers such as xsimd out of the declarations (STYLE.md habit 1).
#include "ai.hpp"
#include "ai.hpp"

#ifdef XSIMD_HPP
#error "ai.hpp's declarations include xsimd; keep it behind AI_IMPLEMENTATION"
#endif

// Uses the public types so that their definitions are instantiated, not just parsed.
ai::status decl_check(const ai::gguf_file& f) {
    ai::status st;
    uint32_t n = 0;
    if (f.is_open()) st = f.get("llama.block_count", &n);
    if (const ai::tensor_info* t = f.find_tensor("token_embd.weight")) st.offset = t->offset;
    ai::gguf_options opt{};
    (void)opt;
    return st;
}
