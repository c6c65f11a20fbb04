// runtime_tool: ai.hpp's transformer runtime from the command line, for tests/check_runtime_peer.py.
// Its subcommands mirror llama.cpp's oracle (shared/tools/oracle) so the two outputs compare
// directly.
//
//   runtime_tool logits MODEL IDS_FILE OUT.f32 [THREADS]   teacher-forced logits after every id
//                                                         (raw float32, one row of n_vocab per id)
//   runtime_tool greedy MODEL IDS_FILE N [THREADS]         JSON list of N greedy ids after the ids
//   runtime_tool tokenize MODEL TEXT_FILE                  the text's ids (BOS as the model asks)
//   runtime_tool bench MODEL PP TG THREADS REPS            median prompt / generation tokens/s (JSON)
//
// IDS_FILE holds whitespace-separated token ids. The KV cache is F16, as llama.cpp's default.
// AI_MATMUL=q8_layers|f32|q8 in the environment sets context_options::matmul (default q8_layers);
// AI_KERNELS=NAME picks the kernel set (model_options::kernels; `ai info --cpu` lists them).
// Exit status: 0 on success, 1 on an error (message on stderr), 2 on bad usage.
#define AI_IMPLEMENTATION
#include "ai.hpp"

#include <algorithm>
#include <chrono>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <string>
#include <vector>

namespace {

int fail(const char* what, const ai::status& st) {
    std::fprintf(stderr, "runtime_tool: %s: %s: %s\n", what, ai::result_name(st.code), st.message);
    return 1;
}

bool read_ids(const char* path, std::vector<ai::token_id>* ids) {
    FILE* f = std::fopen(path, "r");
    if (!f) return false;
    int x;
    while (std::fscanf(f, "%d", &x) == 1) ids->push_back(x);
    std::fclose(f);
    return true;
}

bool read_text(const char* path, std::string* out) {
    FILE* f = std::fopen(path, "rb");
    if (!f) return false;
    char buf[1 << 16];
    size_t got;
    while ((got = std::fread(buf, 1, sizeof buf, f)) > 0) out->append(buf, got);
    std::fclose(f);
    return true;
}

double now_s() { return std::chrono::duration<double>(std::chrono::steady_clock::now().time_since_epoch()).count(); }

int usage() {
    std::fprintf(stderr, "usage: runtime_tool logits MODEL IDS OUT.f32 [THREADS] | greedy MODEL IDS N [THREADS] | "
                         "tokenize MODEL TEXT | bench MODEL PP TG THREADS REPS\n");
    return 2;
}

}  // namespace

int main(int argc, char** argv) {
    if (argc < 4) return usage();
    const std::string cmd = argv[1];
    ai::model model;
    ai::model_options mo;
    mo.kernels = std::getenv("AI_KERNELS");
    if (mo.kernels && !mo.kernels[0]) mo.kernels = nullptr;
    ai::status st = model.load_file(argv[2], &mo);
    if (!st) return fail(argv[2], st);
    const int32_t n_vocab = model.params().n_vocab;
    const char* mode = std::getenv("AI_MATMUL");
    ai::matmul_input matmul = ai::matmul_input::q8_layers;
    if (mode && !std::strcmp(mode, "f32")) matmul = ai::matmul_input::f32;
    else if (mode && !std::strcmp(mode, "q8")) matmul = ai::matmul_input::q8;
    else if (mode && mode[0] && std::strcmp(mode, "q8_layers")) { std::fprintf(stderr, "runtime_tool: AI_MATMUL=%s is not q8_layers, f32 or q8\n", mode); return 2; }

    if (cmd == "tokenize") {
        std::string text;
        if (!read_text(argv[3], &text)) { std::fprintf(stderr, "runtime_tool: cannot read %s\n", argv[3]); return 1; }
        std::vector<ai::token_id> ids(text.size() + 16);
        size_t n = 0;
        st = model.tokenizer().tokenize(text, ids.data(), ids.size(), &n);
        if (!st) return fail("tokenize", st);
        for (size_t i = 0; i < n; ++i) std::printf("%s%d", i ? " " : "", ids[i]);
        std::printf("\n");
        return 0;
    }

    if ((cmd == "logits" && argc >= 5) || (cmd == "greedy" && argc >= 5)) {
        std::vector<ai::token_id> ids;
        if (!read_ids(argv[3], &ids) || ids.empty()) { std::fprintf(stderr, "runtime_tool: no ids in %s\n", argv[3]); return 1; }
        const int n = (int)ids.size();
        ai::context_options co;
        co.matmul = matmul;
        co.n_threads = argc > 5 ? std::atoi(argv[5]) : 1;
        const int n_gen = cmd == "greedy" ? std::atoi(argv[4]) : 0;
        co.n_ctx = std::max(64, n + n_gen + 8);
        ai::context ctx;
        if (!(st = ctx.create(model, &co))) return fail("context", st);
        if (cmd == "logits") {
            std::vector<float> out((size_t)n * (size_t)n_vocab);
            if (!(st = ctx.decode(ids.data(), n, out.data(), out.size()))) return fail("decode", st);
            FILE* f = std::fopen(argv[4], "wb");
            if (!f || std::fwrite(out.data(), sizeof(float), out.size(), f) != out.size()) {
                std::fprintf(stderr, "runtime_tool: cannot write %s\n", argv[4]);
                if (f) std::fclose(f);
                return 1;
            }
            std::fclose(f);
            return 0;
        }
        if (!(st = ctx.decode(ids.data(), n))) return fail("decode", st);
        std::printf("[");
        for (int i = 0; i < n_gen; ++i) {
            const float* l = ctx.logits();
            const ai::token_id t = (ai::token_id)(std::max_element(l, l + n_vocab) - l);
            std::printf("%s%d", i ? "," : "", t);
            if (!(st = ctx.decode(&t, 1))) return fail("decode", st);
        }
        std::printf("]\n");
        return 0;
    }

    if (cmd == "bench" && argc >= 7) {
        const int pp = std::atoi(argv[3]), tg = std::atoi(argv[4]), th = std::atoi(argv[5]), reps = std::atoi(argv[6]);
        if (pp <= 0 || tg <= 0 || reps <= 0) return usage();
        std::vector<ai::token_id> toks((size_t)pp);
        for (int i = 0; i < pp; ++i) toks[(size_t)i] = (ai::token_id)((i * 7919 + 13) % n_vocab);
        std::vector<double> pps, tgs;
        for (int r = 0; r < reps; ++r) {
            ai::context_options co;
            co.matmul = matmul;
            co.n_ctx = pp + tg + 8;
            co.n_threads = th;
            ai::context ctx;
            if (!(st = ctx.create(model, &co))) return fail("context", st);
            const double t0 = now_s();
            if (!(st = ctx.decode(toks.data(), pp))) return fail("decode", st);
            const double t1 = now_s();
            ai::token_id t = toks[0];
            for (int i = 0; i < tg; ++i) {
                if (!(st = ctx.decode(&t, 1))) return fail("decode", st);
                t = (t + 1) % n_vocab;
            }
            const double t2 = now_s();
            pps.push_back(pp / (t1 - t0));
            tgs.push_back(tg / (t2 - t1));
        }
        std::sort(pps.begin(), pps.end());
        std::sort(tgs.begin(), tgs.end());
        std::printf("{\"pp_tok_s\":%.2f,\"tg_tok_s\":%.2f,\"threads\":%d,\"pp\":%d,\"tg\":%d}\n", pps[pps.size() / 2],
                    tgs[tgs.size() / 2], th, pp, tg);
        return 0;
    }
    return usage();
}
