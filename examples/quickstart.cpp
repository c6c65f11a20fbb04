// quickstart — the QUICK START of ai.hpp's first comment, as a program: load a model, tokenize a
// prompt, prefill, and greedily generate 32 tokens, streaming whole UTF-8 characters.
//
//   quickstart MODEL.gguf ["prompt"]
//
// ctest runs it on ../shared/models/stories260K.gguf and checks the story it tells.
#define AI_IMPLEMENTATION
#include "ai.hpp"

#include <cstdio>
#include <cstring>

int main(int argc, char** argv) {
    if (argc < 2) { std::fprintf(stderr, "usage: quickstart MODEL.gguf [\"prompt\"]\n"); return 2; }
    const char* prompt = argc > 2 ? argv[2] : "Once upon a time";

    ai::model m;
    ai::status st = m.load_file(argv[1]);                     // mmap; or load_memory(ptr, size)
    if (!st) { std::fprintf(stderr, "error: %s\n", st.message); return 1; }
    ai::token_id ids[512];
    size_t n = 0;
    st = m.tokenizer().tokenize(prompt, ids, 512, &n);        // BOS added if the model asks
    ai::context ctx;
    if (st) st = ctx.create(m);                               // KV cache + scratch, allocated once
    ai::sampler smp;
    if (st) st = smp.init(m.params().n_vocab);                // zero options: greedy
    if (st) st = ctx.decode(ids, (int32_t)n);                 // prefill
    ai::detokenize_stream text(m.tokenizer());                // whole UTF-8 characters only
    for (int i = 0; i < 32 && st; ++i) {
        ai::token_id id = smp.sample(ctx.logits());
        if (m.tokenizer().is_eog(id)) break;
        char buf[256];
        size_t k = text.feed(id, buf, sizeof buf);            // > sizeof buf: needs a bigger buf
        if (k <= sizeof buf) std::fwrite(buf, 1, k, stdout);
        st = ctx.decode(&id, 1);
    }
    std::printf("\n");
    if (!st) { std::fprintf(stderr, "error: %s\n", st.message); return 1; }
    return 0;
}
