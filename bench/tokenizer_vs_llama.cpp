// tokenizer_vs_llama — our tokenizer and llama.cpp's side by side in one process, on the same
// vocabulary file: an identity check over many inputs, and a throughput benchmark.
//
//   tokenizer_vs_llama check VOCAB.gguf INPUTS.inp
//       Every input (llama.cpp's vocab-test format: inputs separated by "\n__ggml_vocab_test__\n")
//       tokenized by both, in all four modes (add BOS/EOS or not × parse special text or not).
//       One line per mismatch, then "N passed, N failed".
//   tokenizer_vs_llama bench|bench-paragraphs VOCAB.gguf TEXT_FILE [REPS]
//       Tokenizes the whole text (in one call, or one call per paragraph) REPS times (default 5)
//       with each tokenizer, alternating, and
//       prints one JSON line: median seconds, MB/s, min-max spread and the ratio (ours / theirs in
//       MB/s), plus the token counts (which must agree) and the peak RSS.
//
// llama.cpp here is the prebuilt library of the npm package node-llama-cpp 3.21.1 (release
// v0.4.0), the same peer ../shared/tools/oracle uses; bench/build_peer.sh compiles this file
// against it. Both tokenizers run single-threaded on the calling thread.
#define AI_IMPLEMENTATION
#include "ai.hpp"

#include "llama.h"

#include <sys/resource.h>

#include <algorithm>
#include <chrono>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <string>
#include <vector>

namespace {

double now_s() { return std::chrono::duration<double>(std::chrono::steady_clock::now().time_since_epoch()).count(); }

bool read_file(const char* path, std::string* out) {
    std::FILE* f = std::fopen(path, "rb");
    if (!f) return false;
    char buf[65536];
    size_t n;
    while ((n = std::fread(buf, 1, sizeof buf, f)) > 0) out->append(buf, n);
    std::fclose(f);
    return true;
}

std::vector<int32_t> ours(const ai::tokenizer& tok, const std::string& text, bool add, bool special) {
    ai::tokenize_options o;
    o.no_special_added = !add;
    o.parse_special = special;
    std::vector<int32_t> ids(text.size() + 16);
    size_t n = 0;
    ai::status st = tok.tokenize(text, ids.data(), ids.size(), &n, &o);
    if (st.code == ai::result::out_of_range) {
        ids.resize(n);
        st = tok.tokenize(text, ids.data(), ids.size(), &n, &o);
    }
    if (!st) { std::fprintf(stderr, "ours failed: %s\n", st.message); std::exit(1); }
    ids.resize(n);
    return ids;
}

std::vector<int32_t> theirs(const llama_vocab* v, const std::string& text, bool add, bool special) {
    std::vector<llama_token> ids(text.size() + 16);
    int32_t n = llama_tokenize(v, text.data(), (int32_t)text.size(), ids.data(), (int32_t)ids.size(), add, special);
    if (n < 0) {
        ids.resize((size_t)-n);
        n = llama_tokenize(v, text.data(), (int32_t)text.size(), ids.data(), (int32_t)ids.size(), add, special);
    }
    if (n < 0) { std::fprintf(stderr, "llama_tokenize failed\n"); std::exit(1); }
    ids.resize((size_t)n);
    return ids;
}

double median(std::vector<double> v) {
    std::sort(v.begin(), v.end());
    return v[v.size() / 2];
}

}  // namespace

int main(int argc, char** argv) {
    if (argc < 4) {
        std::fprintf(stderr, "usage: tokenizer_vs_llama check VOCAB INPUTS | bench VOCAB TEXT [REPS]\n");
        return 2;
    }
    const std::string cmd = argv[1];
    const char* vocab_path = argv[2];

    llama_log_set([](ggml_log_level, const char*, void*) {}, nullptr);
    llama_backend_init();
    llama_model_params mp = llama_model_default_params();
    mp.vocab_only = true;
    llama_model* lm = llama_model_load_from_file(vocab_path, mp);
    if (!lm) { std::fprintf(stderr, "llama.cpp could not load %s\n", vocab_path); return 1; }
    const llama_vocab* lv = llama_model_get_vocab(lm);

    ai::gguf_file f;
    ai::status st = f.open_file(vocab_path);
    ai::tokenizer tok;
    if (st) st = tok.load(f);
    if (!st) { std::fprintf(stderr, "ours could not load %s: %s\n", vocab_path, st.message); return 1; }

    std::string data;
    if (!read_file(argv[3], &data)) { std::fprintf(stderr, "cannot read %s\n", argv[3]); return 1; }

    if (cmd == "check") {
        static const std::string sep = "\n__ggml_vocab_test__\n";
        std::vector<std::string> inputs;
        for (size_t start = 0;;) {
            const size_t at = data.find(sep, start);
            if (at == std::string::npos) break;
            inputs.push_back(data.substr(start, at - start));
            start = at + sep.size();
        }
        int passed = 0, failed = 0;
        for (size_t i = 0; i < inputs.size(); ++i) {
            for (int mode = 0; mode < 4; ++mode) {
                const bool add = mode & 1, special = mode & 2;
                const std::vector<int32_t> a = ours(tok, inputs[i], add, special);
                const std::vector<int32_t> b = theirs(lv, inputs[i], add, special);
                if (a == b) { ++passed; continue; }
                ++failed;
                size_t k = 0;
                while (k < a.size() && k < b.size() && a[k] == b[k]) ++k;
                std::printf("MISMATCH input %zu (%zu bytes) add=%d special=%d: first difference at id %zu: ours %d, llama.cpp %d (lengths %zu vs %zu)\n",
                            i, inputs[i].size(), add, special, k, k < a.size() ? a[k] : -1, k < b.size() ? b[k] : -1, a.size(), b.size());
            }
        }
        std::printf("%d passed, %d failed\n", passed, failed);
        llama_model_free(lm);
        return failed ? 1 : 0;
    }

    if (cmd == "bench" || cmd == "bench-paragraphs") {
        const int reps = argc > 4 ? std::max(1, std::atoi(argv[4])) : 5;
        // "bench" tokenizes the whole text in one call; "bench-paragraphs" one call per paragraph
        // (split at blank lines), closer to how prompts arrive.
        std::vector<std::string> parts;
        if (cmd == "bench") parts.push_back(data);
        else
            for (size_t start = 0; start < data.size();) {
                size_t at = data.find("\n\n", start);
                at = at == std::string::npos ? data.size() : at + 2;
                parts.push_back(data.substr(start, at - start));
                start = at;
            }
        std::vector<double> t_ours, t_theirs;
        size_t n_ours = 0, n_theirs = 0;
        for (int r = 0; r < reps; ++r) {  // alternate, so drifts in machine speed hit both alike
            n_ours = n_theirs = 0;
            double t0 = now_s();
            for (const std::string& p : parts) n_ours += ours(tok, p, false, false).size();
            double t1 = now_s();
            for (const std::string& p : parts) n_theirs += theirs(lv, p, false, false).size();
            double t2 = now_s();
            t_ours.push_back(t1 - t0);
            t_theirs.push_back(t2 - t1);
        }
        const double mb = (double)data.size() / 1e6;
        const double mo = median(t_ours), mt = median(t_theirs);
        rusage ru{};
        getrusage(RUSAGE_SELF, &ru);
        std::printf("{\"mode\":\"%s\",\"calls\":%zu,\"vocab\":\"%s\",\"bytes\":%zu,\"reps\":%d,\"ours_s\":%.4f,\"ours_min_s\":%.4f,\"ours_max_s\":%.4f,"
                    "\"llama_s\":%.4f,\"llama_min_s\":%.4f,\"llama_max_s\":%.4f,\"ours_mb_s\":%.2f,\"llama_mb_s\":%.2f,"
                    "\"ratio\":%.2f,\"tokens_ours\":%zu,\"tokens_llama\":%zu,\"peak_rss_mb\":%.1f}\n",
                    cmd.c_str(), parts.size(), vocab_path, data.size(), reps, mo, *std::min_element(t_ours.begin(), t_ours.end()),
                    *std::max_element(t_ours.begin(), t_ours.end()), mt, *std::min_element(t_theirs.begin(), t_theirs.end()),
                    *std::max_element(t_theirs.begin(), t_theirs.end()), mb / mo, mb / mt, mt / mo, n_ours, n_theirs,
                    (double)ru.ru_maxrss / 1024.0);
        llama_model_free(lm);
        return n_ours == n_theirs ? 0 : 1;
    }
    std::fprintf(stderr, "unknown command %s\n", cmd.c_str());
    return 2;
}
