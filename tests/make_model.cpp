// make_model — writes random-weight transformer models as GGUF with ai::gguf_writer, for tests
// that compare us with llama.cpp on the same file (llama.cpp can also quantize what this writes).
//
//   make_model OUT.gguf [--arch llama|qwen2|qwen3] [--dim 256] [--layers 2] [--ff 512]
//              [--vocab 512] [--heads 4] [--kv-heads 2] [--head-dim N] [--ctx 512]
//              [--type F32|F16|BF16|Q8_0|...] [--tied] [--rope-freqs] [--seed 1] [--scale S]
//              [--rope-scaling linear|yarn:FACTOR[:ORIG_CTX]]
//
// Weights are Gaussian with std `scale / sqrt(fan_in)` so activations keep their size through the
// layers and the logits come out peaked but not one-hot (output.weight, and token_embd.weight when
// --tied, get 3 × that). Norm weights are 1 + small noise. The
// vocabulary is a SentencePiece-style one (control tokens, 256 byte tokens, then letter pieces), so
// llama.cpp's loader accepts the file. --type quantizes the 2-D weight matrices with our own
// quantizer; norms and biases stay F32 as llama.cpp keeps them.
#define AI_IMPLEMENTATION
#include "ai.hpp"

#include <cmath>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <random>
#include <string>
#include <vector>

namespace {

struct options {
    std::string out, arch = "llama", type = "F32", rope_scaling;
    int dim = 256, layers = 2, ff = 512, vocab = 512, heads = 4, kv_heads = 2, head_dim = 0, ctx = 512;
    bool tied = false, rope_freqs = false;
    unsigned seed = 1;
    float scale = 1.0f;
};

int fail(const char* what) {
    std::fprintf(stderr, "error: %s\n", what);
    return 1;
}

bool parse_type(const std::string& name, ai::tensor_type* t) {
    for (uint32_t i = 0; i < 64; ++i) {
        const ai::type_traits* tt = ai::type_info((ai::tensor_type)i);
        if (tt && name == tt->name) { *t = (ai::tensor_type)i; return true; }
    }
    return false;
}

// Owns every tensor's bytes until the writer has written them.
struct model_writer {
    ai::gguf_writer w;
    std::vector<std::vector<uint8_t>> store;
    std::mt19937 rng;
    ai::tensor_type matrix_type = ai::tensor_type::f32;
    std::string error;

    bool add(const std::string& name, std::vector<float> values, std::vector<int64_t> ne, bool matrix) {
        ai::tensor_type t = matrix ? matrix_type : ai::tensor_type::f32;
        size_t bytes = 0;
        if (!ai::type_row_bytes(t, ne[0], &bytes)) {  // rows that do not fit the blocks stay F32
            t = ai::tensor_type::f32;
            ai::type_row_bytes(t, ne[0], &bytes);
        }
        bytes *= values.size() / (size_t)ne[0];
        store.emplace_back(bytes);
        ai::status st = ai::quantize(t, values.data(), (int64_t)values.size(), store.back().data(), bytes);
        if (st) st = w.add_tensor(name, t, (int32_t)ne.size(), ne.data(), store.back().data(), bytes);
        if (!st) { error = name + ": " + st.message; return false; }
        return true;
    }
    std::vector<float> gaussian(size_t n, float std) {
        std::normal_distribution<float> nd(0.0f, std);
        std::vector<float> v(n);
        for (float& x : v) x = nd(rng);
        return v;
    }
    bool matrix(const std::string& name, int64_t in, int64_t out, float scale) {
        return add(name, gaussian((size_t)(in * out), scale / std::sqrt((float)in)), {in, out}, true);
    }
    bool norm(const std::string& name, int64_t n) {
        std::vector<float> v = gaussian((size_t)n, 0.1f);
        for (float& x : v) x += 1.0f;
        return add(name, v, {n}, false);
    }
    bool bias(const std::string& name, int64_t n) { return add(name, gaussian((size_t)n, 0.1f), {n}, false); }
};

}  // namespace

int main(int argc, char** argv) {
    options o;
    for (int i = 1; i < argc; ++i) {
        const std::string a = argv[i];
        auto next = [&]() -> const char* { return i + 1 < argc ? argv[++i] : nullptr; };
        const char* v = nullptr;
        if (a == "--tied") o.tied = true;
        else if (a == "--rope-freqs") o.rope_freqs = true;
        else if (a[0] != '-' && o.out.empty()) o.out = a;
        else if (!(v = next())) return fail(("missing value for " + a).c_str());
        else if (a == "--arch") o.arch = v;
        else if (a == "--type") o.type = v;
        else if (a == "--dim") o.dim = std::atoi(v);
        else if (a == "--layers") o.layers = std::atoi(v);
        else if (a == "--ff") o.ff = std::atoi(v);
        else if (a == "--vocab") o.vocab = std::atoi(v);
        else if (a == "--heads") o.heads = std::atoi(v);
        else if (a == "--kv-heads") o.kv_heads = std::atoi(v);
        else if (a == "--head-dim") o.head_dim = std::atoi(v);
        else if (a == "--ctx") o.ctx = std::atoi(v);
        else if (a == "--seed") o.seed = (unsigned)std::strtoul(v, nullptr, 10);
        else if (a == "--scale") o.scale = (float)std::atof(v);
        else if (a == "--rope-scaling") o.rope_scaling = v;
        else return fail(("unknown option " + a).c_str());
    }
    if (o.out.empty()) return fail("usage: make_model OUT.gguf [options] (see the source)");
    if (o.arch != "llama" && o.arch != "qwen2" && o.arch != "qwen3") return fail("--arch must be llama, qwen2 or qwen3");
    if (o.dim <= 0 || o.layers <= 0 || o.ff <= 0 || o.heads <= 0 || o.kv_heads <= 0 || o.heads % o.kv_heads || o.vocab < 300)
        return fail("bad shape: need positive sizes, heads divisible by kv-heads, vocab >= 300");
    const int head_dim = o.head_dim ? o.head_dim : o.dim / o.heads;
    if (!o.head_dim && o.dim % o.heads) return fail("dim must be divisible by heads (or give --head-dim)");

    model_writer m;
    m.rng.seed(o.seed);
    if (!parse_type(o.type, &m.matrix_type)) return fail(("unknown type " + o.type).c_str());
    if (!ai::type_info(m.matrix_type)->can_quantize) return fail(("cannot quantize to " + o.type).c_str());

    // --- metadata: what llama.cpp's loader reads for these architectures
    const std::string p = o.arch + ".";
    ai::gguf_writer& w = m.w;
    ai::status st;
    auto ok = [&](ai::status s) { if (s.ok()) return true; st = s; return false; };
    bool good = ok(w.set_string("general.architecture", o.arch)) && ok(w.set_string("general.name", "random " + o.arch)) &&
                ok(w.set_u32(p + "context_length", (uint32_t)o.ctx)) && ok(w.set_u32(p + "embedding_length", (uint32_t)o.dim)) &&
                ok(w.set_u32(p + "block_count", (uint32_t)o.layers)) && ok(w.set_u32(p + "feed_forward_length", (uint32_t)o.ff)) &&
                ok(w.set_u32(p + "attention.head_count", (uint32_t)o.heads)) &&
                ok(w.set_u32(p + "attention.head_count_kv", (uint32_t)o.kv_heads)) &&
                ok(w.set_f32(p + "attention.layer_norm_rms_epsilon", 1e-6f)) &&
                ok(w.set_f32(p + "rope.freq_base", o.arch == "llama" ? 10000.0f : 1000000.0f)) &&
                ok(w.set_u32(p + "rope.dimension_count", (uint32_t)head_dim));
    if (good && o.head_dim) good = ok(w.set_u32(p + "attention.key_length", (uint32_t)head_dim)) && ok(w.set_u32(p + "attention.value_length", (uint32_t)head_dim));
    if (good && !o.rope_scaling.empty()) {  // rope.scaling.{type,factor,original_context_length}
        const size_t c1 = o.rope_scaling.find(':'), c2 = o.rope_scaling.find(':', c1 == std::string::npos ? c1 : c1 + 1);
        if (c1 == std::string::npos) return fail("--rope-scaling wants TYPE:FACTOR[:ORIG_CTX]");
        good = ok(w.set_string(p + "rope.scaling.type", o.rope_scaling.substr(0, c1))) &&
               ok(w.set_f32(p + "rope.scaling.factor", (float)std::atof(o.rope_scaling.c_str() + c1 + 1)));
        if (good && c2 != std::string::npos)
            good = ok(w.set_u32(p + "rope.scaling.original_context_length", (uint32_t)std::atoi(o.rope_scaling.c_str() + c2 + 1)));
    }

    // A SentencePiece-style vocabulary: <unk> <s> </s>, 256 byte tokens, then pieces.
    std::vector<std::string> tokens = {"<unk>", "<s>", "</s>"};
    std::vector<float> scores = {0, 0, 0};
    std::vector<int32_t> types = {2, 3, 3};  // unknown, control, control
    char buf[16];
    for (int b = 0; b < 256; ++b) {
        std::snprintf(buf, sizeof buf, "<0x%02X>", b);
        tokens.push_back(buf);
        scores.push_back(0);
        types.push_back(6);  // byte
    }
    const char* letters = "etaoinshrdlcumwfgypbvkjxqz";
    for (int i = 0; (int)tokens.size() < o.vocab; ++i) {
        std::string piece = "\xe2\x96\x81";  // the SentencePiece space mark
        int k = i;
        do { piece += letters[k % 26]; k /= 26; } while (k);
        tokens.push_back(piece);
        scores.push_back(-(float)i);
        types.push_back(1);  // normal
    }
    std::vector<std::string_view> views(tokens.begin(), tokens.end());
    if (good) good = ok(w.set_string("tokenizer.ggml.model", "llama")) && ok(w.set_string_array("tokenizer.ggml.tokens", views.data(), views.size())) &&
                     ok(w.set_array("tokenizer.ggml.scores", ai::gguf_type::f32, scores.data(), scores.size())) &&
                     ok(w.set_array("tokenizer.ggml.token_type", ai::gguf_type::i32, types.data(), types.size())) &&
                     ok(w.set_u32("tokenizer.ggml.bos_token_id", 1)) && ok(w.set_u32("tokenizer.ggml.eos_token_id", 2)) &&
                     ok(w.set_u32("tokenizer.ggml.unknown_token_id", 0));
    if (!good) return fail(st.message);

    // --- tensors, in llama.cpp's names and GGUF shapes (ne[0] = input size)
    const int64_t d = o.dim, q_out = (int64_t)o.heads * head_dim, kv_out = (int64_t)o.kv_heads * head_dim;
    // Tied: the embedding doubles as the output matrix, so it gets output.weight's std (the input
    // side does not care: the first RMSNorm removes the scale).
    const float embd_std = o.tied ? 3.0f * o.scale / std::sqrt((float)d) : 1.0f;
    bool ok_t = m.add("token_embd.weight", m.gaussian((size_t)(d * o.vocab), embd_std), {d, o.vocab}, true);
    for (int l = 0; ok_t && l < o.layers; ++l) {
        const std::string b = "blk." + std::to_string(l) + ".";
        ok_t = m.norm(b + "attn_norm.weight", d) && m.matrix(b + "attn_q.weight", d, q_out, o.scale) &&
               m.matrix(b + "attn_k.weight", d, kv_out, o.scale) && m.matrix(b + "attn_v.weight", d, kv_out, o.scale) &&
               m.matrix(b + "attn_output.weight", q_out, d, o.scale) && m.norm(b + "ffn_norm.weight", d) &&
               m.matrix(b + "ffn_gate.weight", d, o.ff, o.scale) && m.matrix(b + "ffn_up.weight", d, o.ff, o.scale) &&
               m.matrix(b + "ffn_down.weight", o.ff, d, o.scale);
        if (ok_t && o.arch == "qwen2")
            ok_t = m.bias(b + "attn_q.bias", q_out) && m.bias(b + "attn_k.bias", kv_out) && m.bias(b + "attn_v.bias", kv_out);
        if (ok_t && o.arch == "qwen3") ok_t = m.norm(b + "attn_q_norm.weight", head_dim) && m.norm(b + "attn_k_norm.weight", head_dim);
    }
    if (ok_t) ok_t = m.norm("output_norm.weight", d);
    if (ok_t && !o.tied) ok_t = m.matrix("output.weight", d, o.vocab, 3.0f * o.scale);
    if (ok_t && o.rope_freqs) {
        // Llama-3 style per-frequency factors: 1 for high frequencies, growing for low ones.
        std::vector<float> f((size_t)head_dim / 2);
        for (size_t i = 0; i < f.size(); ++i) f[i] = 1.0f + 7.0f * (float)i / (float)f.size();
        ok_t = m.add("rope_freqs.weight", f, {(int64_t)f.size()}, false);
    }
    if (!ok_t) return fail(m.error.c_str());
    st = w.write_file(o.out.c_str());
    if (!st) return fail(st.message);
    return 0;
}
