// Transformer runtime tests: stories260K's greedy decoding against the golden ids (llama.cpp and a
// naive fp32 reference agree on them), bit-identical logits for any thread count, batch size or
// caller's parallel_for, no allocation while decoding, the memory budget, the context's limits
// (n_ctx, invalid ids, rewind, cancellation), the sampler's options, and load errors on models
// written here with ai::gguf_writer (missing or mis-shaped tensors, unsupported architectures).
// The comparison with llama.cpp over many models and types is tests/check_runtime_peer.py.
#include <doctest/doctest.h>

#include "ai.hpp"
#include "test_util.hpp"

#include <algorithm>
#include <atomic>
#include <cmath>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <new>
#include <random>
#include <string>
#include <vector>

namespace {

using test_util::shared_dir;
using test_util::read_file;

std::string stories_path() { return shared_dir() + "/models/stories260K.gguf"; }


// The integers of the JSON array after "key": in text (enough for the golden file).
std::vector<int> json_int_array(const std::string& text, const std::string& key) {
    std::vector<int> out;
    size_t p = text.find("\"" + key + "\"");
    if (p == std::string::npos) return out;
    p = text.find('[', p);
    const size_t end = text.find(']', p);
    if (p == std::string::npos || end == std::string::npos) return out;
    const std::string body = text.substr(p + 1, end - p - 1);
    const char* s = body.c_str();
    char* next = nullptr;
    for (;;) {
        const long v = std::strtol(s, &next, 10);
        if (next == s) {
            if (!*s) break;
            ++s;
            continue;
        }
        out.push_back((int)v);
        s = next;
    }
    return out;
}

using test_util::counting_alloc;

ai::model& stories() {
    static ai::model m;
    if (!m.is_loaded()) {
        const ai::status st = m.load_file(stories_path().c_str());
        REQUIRE_MESSAGE(st.ok(), st.message);
    }
    return m;
}

std::vector<int> golden_ids() {
    std::string text;
    REQUIRE_MESSAGE(read_file(shared_dir() + "/golden/stories260K_greedy.json", &text), "golden file missing");
    return json_int_array(text, "greedy_ids");
}

// Teacher-forced logits of `ids` (all rows), decoded with the given options.
std::vector<float> all_logits(const ai::model& m, const std::vector<int>& ids, ai::context_options co) {
    ai::context ctx;
    ai::status st = ctx.create(m, &co);
    REQUIRE_MESSAGE(st.ok(), st.message);
    std::vector<float> out(ids.size() * (size_t)m.params().n_vocab);
    st = ctx.decode(ids.data(), (int32_t)ids.size(), out.data(), out.size());
    REQUIRE_MESSAGE(st.ok(), st.message);
    return out;
}

int argmax(const float* v, int n) { return (int)(std::max_element(v, v + n) - v); }

// ---- tiny models written with our own writer ----------------------------------------------------

struct tiny_spec {
    std::string arch = "llama";
    int dim = 32, layers = 2, ff = 64, heads = 4, kv_heads = 2, head_dim = 0, vocab = 40, ctx = 64;
    bool tied = false, biases = false, rope_freqs = false, tokenizer = true;
    bool fused_qkv = false;  // one attn_qkv.weight (and .bias) holding Q's, K's and V's rows
    std::string drop;      // leave this tensor out
    std::string misshape;  // give this tensor one more output row (1-D: one more element)
    ai::tensor_type type = ai::tensor_type::f32;  // of the matrices
};

std::vector<uint8_t> tiny_model(const tiny_spec& s) {
    ai::gguf_writer w;
    const int hd = s.head_dim ? s.head_dim : s.dim / s.heads;
    const std::string p = s.arch + ".";
    REQUIRE(w.set_string("general.architecture", s.arch).ok());
    REQUIRE(w.set_u32(p + "context_length", (uint32_t)s.ctx).ok());
    REQUIRE(w.set_u32(p + "embedding_length", (uint32_t)s.dim).ok());
    REQUIRE(w.set_u32(p + "block_count", (uint32_t)s.layers).ok());
    REQUIRE(w.set_u32(p + "feed_forward_length", (uint32_t)s.ff).ok());
    REQUIRE(w.set_u32(p + "attention.head_count", (uint32_t)s.heads).ok());
    REQUIRE(w.set_u32(p + "attention.head_count_kv", (uint32_t)s.kv_heads).ok());
    REQUIRE(w.set_f32(p + "attention.layer_norm_rms_epsilon", 1e-5f).ok());
    if (s.head_dim) REQUIRE(w.set_u32(p + "attention.key_length", (uint32_t)hd).ok());
    if (s.head_dim) REQUIRE(w.set_u32(p + "attention.value_length", (uint32_t)hd).ok());
    std::vector<std::string> tokens = {"<unk>", "<s>", "</s>"};
    std::vector<float> scores = {0, 0, 0};
    std::vector<int32_t> types = {2, 3, 3};
    for (int i = 0; (int)tokens.size() < s.vocab; ++i) {
        tokens.push_back("\xe2\x96\x81" + std::string(1, (char)('a' + i % 26)) + std::string((size_t)(i / 26), 'z'));
        types.push_back(1);
        scores.push_back(-(float)i);
    }
    std::vector<std::string_view> views(tokens.begin(), tokens.end());
    if (s.tokenizer) {
        REQUIRE(w.set_string("tokenizer.ggml.model", "llama").ok());
        REQUIRE(w.set_string_array("tokenizer.ggml.tokens", views.data(), views.size()).ok());
        REQUIRE(w.set_array("tokenizer.ggml.scores", ai::gguf_type::f32, scores.data(), scores.size()).ok());
        REQUIRE(w.set_array("tokenizer.ggml.token_type", ai::gguf_type::i32, types.data(), types.size()).ok());
    }

    std::mt19937 rng(1234);
    std::vector<std::vector<uint8_t>> store;  // tensor bytes, alive until the file is written
    store.reserve(128);
    // Writes one tensor of shape [n0] (n1 == 0) or [n0, n1]; matrices in s.type.
    const auto put = [&](const std::string& name, int64_t n0, int64_t n1, const std::vector<float>& v, bool matrix) {
        const ai::tensor_type t = matrix ? s.type : ai::tensor_type::f32;
        size_t rb = 0;
        REQUIRE(ai::type_row_bytes(t, n0, &rb));
        store.emplace_back(rb * (size_t)(n1 ? n1 : 1));
        REQUIRE(ai::quantize(t, v.data(), (int64_t)v.size(), store.back().data(), store.back().size()).ok());
        const int64_t ne[2] = {n0, n1};
        const ai::status st = w.add_tensor(name, t, n1 ? 2 : 1, ne, store.back().data(), store.back().size());
        REQUIRE_MESSAGE(st.ok(), st.message);
    };
    const auto gen = [&](int64_t n, float std, float mean) {
        std::normal_distribution<float> nd(mean, std);
        std::vector<float> v((size_t)n);
        for (float& x : v) x = nd(rng);
        return v;
    };
    // Random values are drawn even for a dropped tensor, so the others keep their values.
    const auto add = [&](const std::string& name, int64_t n0, int64_t n1, float std, float mean, bool matrix) {
        std::vector<float> v = gen(n0 * (n1 ? n1 : 1), std, mean);
        if (name == s.drop) return;
        if (name == s.misshape) {
            (n1 ? n1 : n0) += 1;
            v.resize((size_t)(n0 * (n1 ? n1 : 1)), 0.5f);
        }
        put(name, n0, n1, v, matrix);
    };
    const int64_t d = s.dim, qd = (int64_t)s.heads * hd, kvd = (int64_t)s.kv_heads * hd;
    const float in_std = 1.0f / std::sqrt((float)d);
    add("token_embd.weight", d, s.vocab, 1.0f, 0, true);
    for (int l = 0; l < s.layers; ++l) {
        const std::string b = "blk." + std::to_string(l) + ".";
        add(b + "attn_norm.weight", d, 0, 0.1f, 1, false);
        if (s.fused_qkv) {  // the same values as the separate tensors, rows of Q then K then V
            std::vector<float> wq = gen(d * qd, in_std, 0), wk = gen(d * kvd, in_std, 0), wv = gen(d * kvd, in_std, 0);
            wq.insert(wq.end(), wk.begin(), wk.end());
            wq.insert(wq.end(), wv.begin(), wv.end());
            put(b + "attn_qkv.weight", d, qd + 2 * kvd, wq, true);
            if (s.biases) {
                std::vector<float> bq = gen(qd, 0.1f, 0), bk = gen(kvd, 0.1f, 0), bv = gen(kvd, 0.1f, 0);
                bq.insert(bq.end(), bk.begin(), bk.end());
                bq.insert(bq.end(), bv.begin(), bv.end());
                put(b + "attn_qkv.bias", qd + 2 * kvd, 0, bq, false);
            }
        } else {
            add(b + "attn_q.weight", d, qd, in_std, 0, true);
            add(b + "attn_k.weight", d, kvd, in_std, 0, true);
            add(b + "attn_v.weight", d, kvd, in_std, 0, true);
            if (s.biases) {
                add(b + "attn_q.bias", qd, 0, 0.1f, 0, false);
                add(b + "attn_k.bias", kvd, 0, 0.1f, 0, false);
                add(b + "attn_v.bias", kvd, 0, 0.1f, 0, false);
            }
        }
        if (s.arch == "qwen3") {
            add(b + "attn_q_norm.weight", hd, 0, 0.1f, 1, false);
            add(b + "attn_k_norm.weight", hd, 0, 0.1f, 1, false);
        }
        add(b + "attn_output.weight", qd, d, 1.0f / std::sqrt((float)qd), 0, true);
        add(b + "ffn_norm.weight", d, 0, 0.1f, 1, false);
        add(b + "ffn_gate.weight", d, s.ff, in_std, 0, true);
        add(b + "ffn_up.weight", d, s.ff, in_std, 0, true);
        add(b + "ffn_down.weight", s.ff, d, 1.0f / std::sqrt((float)s.ff), 0, true);
    }
    add("output_norm.weight", d, 0, 0.1f, 1, false);
    if (!s.tied) add("output.weight", d, s.vocab, 3.0f * in_std, 0, true);
    if (s.rope_freqs) add("rope_freqs.weight", hd / 2, 0, 1.0f, 4, false);
    uint64_t size = 0;
    REQUIRE(w.file_size(&size).ok());
    std::vector<uint8_t> out((size_t)size);
    size_t written = 0;
    REQUIRE(w.write_memory(out.data(), out.size(), &written).ok());
    return out;
}

ai::status load_tiny(const tiny_spec& s, std::vector<uint8_t>* bytes, ai::model* m, const ai::model_options* mo = nullptr) {
    *bytes = tiny_model(s);
    return m->load_memory(bytes->data(), bytes->size(), mo);
}

}  // namespace

TEST_CASE("runtime: stories260K greedy from BOS reproduces the golden 256 ids") {
    const std::vector<int> golden = golden_ids();
    REQUIRE(golden.size() == 256);
    const ai::model& m = stories();
    const ai::model_params& hp = m.params();
    CHECK(hp.arch == ai::arch::llama);
    CHECK(hp.n_vocab == 512);
    CHECK(hp.n_embd == 64);
    CHECK(hp.n_layer == 5);
    CHECK(hp.n_head == 8);
    CHECK(hp.n_head_kv == 4);
    CHECK(hp.head_dim == 8);
    CHECK_FALSE(hp.tied_output);
    ai::context ctx;
    ai::context_options co;
    co.n_ctx = 300;
    REQUIRE(ctx.create(m, &co).ok());
    ai::token_id t = 1;
    std::vector<int> got;
    for (int i = 0; i < 256; ++i) {
        const ai::status st = ctx.decode(&t, 1);
        REQUIRE_MESSAGE(st.ok(), st.message);
        t = argmax(ctx.logits(), hp.n_vocab);
        got.push_back(t);
    }
    CHECK(got == golden);
    CHECK(ctx.position() == 256);
}

TEST_CASE("runtime: logits are bit-identical across threads, batch sizes and a caller's parallel_for") {
    const ai::model& m = stories();
    std::vector<int> ids = golden_ids();
    ids.insert(ids.begin(), 1);  // 257 tokens: one batch runs its feed-forward in groups (86 + 86 + 85)
    ai::context_options co;
    co.n_ctx = 300;
    const std::vector<float> one = all_logits(m, ids, co);
    co.n_threads = 2;
    CHECK(all_logits(m, ids, co) == one);
    co.n_threads = 3;
    co.n_batch = 7;  // chunks of 7 tokens: batched prefill is token-for-token the same arithmetic
    CHECK(all_logits(m, ids, co) == one);
    co.spin_us = -1;  // workers sleep between jobs: every job wakes them through the condition variable
    CHECK(all_logits(m, ids, co) == one);
    co.spin_us = 0;
    co.n_threads = 1;
    co.n_batch = 1;
    CHECK(all_logits(m, ids, co) == one);
    // A "job system" that runs the tasks in reverse order on the calling thread.
    struct reverse_runner {
        static void run(void* user, int32_t n, void (*task)(void*, int32_t), void* arg) {
            ++*static_cast<int*>(user);
            for (int32_t i = n - 1; i >= 0; --i) task(arg, i);
        }
    };
    int calls = 0;
    co.n_batch = 0;
    co.n_threads = 2;
    co.parallel.run = reverse_runner::run;
    co.parallel.user = &calls;
    CHECK(all_logits(m, ids, co) == one);
    CHECK(calls > 0);
    // An F32 cache: token by token gives the bits of one batch as well.
    ai::context_options cf;
    cf.n_ctx = 300;
    cf.kv = ai::kv_type::f32;
    const std::vector<float> f32_batch = all_logits(m, ids, cf);
    cf.n_batch = 1;
    CHECK(all_logits(m, ids, cf) == f32_batch);
}

TEST_CASE("runtime: no allocation while decoding; everything is freed") {
    counting_alloc ca;
    {
        ai::model_options mo;
        mo.alloc = ca.hooks();
        ai::model m;
        REQUIRE(m.load_file(stories_path().c_str(), &mo).ok());
        for (int threads : {1, 2}) {
            ai::context_options co;
            co.alloc = ca.hooks();
            co.n_ctx = 64;
            co.n_batch = 8;
            co.n_threads = threads;
            ai::context ctx;
            REQUIRE(ctx.create(m, &co).ok());
            CHECK(ctx.memory_bytes() > 0);
            std::vector<int> ids = golden_ids();
            ids.resize(40);
            std::vector<float> out(ids.size() * 512);
            const int64_t before = ca.calls.load();
            REQUIRE(ctx.decode(ids.data(), 20, out.data(), out.size()).ok());
            REQUIRE(ctx.decode(ids.data() + 20, 20).ok());
            REQUIRE(ctx.rewind(5).ok());
            REQUIRE(ctx.decode(ids.data(), 3).ok());
            CHECK(ca.calls.load() == before);
        }
        ai::sampler smp;
        ai::sampler_options so;
        so.temperature = 0.8f;
        so.top_k = 40;
        so.top_p = 0.9f;
        so.repeat_penalty = 1.1f;
        REQUIRE(smp.init(512, &so, &mo.alloc).ok());
        std::vector<float> logits(512, 0.0f);
        const int64_t before = ca.calls.load();
        for (int i = 0; i < 100; ++i) smp.accept(smp.sample(logits.data()));
        CHECK(ca.calls.load() == before);
    }
    CHECK(ca.live.load() == 0);
}

TEST_CASE("runtime: load_memory equals load_file; a moved model keeps working") {
    std::string bytes;
    REQUIRE(read_file(stories_path(), &bytes));
    ai::model from_memory;
    const ai::status st = from_memory.load_memory(bytes.data(), bytes.size());
    REQUIRE_MESSAGE(st.ok(), st.message);
    CHECK(from_memory.params().n_layer == 5);
    CHECK(from_memory.tokenizer().bos() == 1);
    CHECK(from_memory.file().find_tensor("output.weight") != nullptr);
    const std::vector<int> ids = {1, 403, 407, 261, 378};
    ai::context_options co;
    co.n_ctx = 16;
    const std::vector<float> ref = all_logits(stories(), ids, co);
    CHECK(all_logits(from_memory, ids, co) == ref);
    ai::model moved(std::move(from_memory));
    CHECK_FALSE(from_memory.is_loaded());
    CHECK(from_memory.params().n_layer == 0);
    CHECK(all_logits(moved, ids, co) == ref);
    ai::model assigned;
    assigned = std::move(moved);
    CHECK(all_logits(assigned, ids, co) == ref);
}

TEST_CASE("runtime: memory budget") {
    const ai::model& m = stories();
    ai::context_options co;
    co.n_ctx = 256;
    ai::context ctx;
    REQUIRE(ctx.create(m, &co).ok());
    const size_t need = ctx.memory_bytes();
    co.memory_budget = need;
    ai::context fits;
    CHECK(fits.create(m, &co).ok());
    co.memory_budget = need - 1;
    ai::context too_small;
    const ai::status st = too_small.create(m, &co);
    CHECK(st.code == ai::result::budget_exceeded);
    CHECK(std::string(st.message).find("needs") != std::string::npos);
    CHECK(std::string(st.message).find("budget") != std::string::npos);
    CHECK_FALSE(too_small.is_created());
    // F32 KV cache doubles the cache
    co.memory_budget = 0;
    co.kv = ai::kv_type::f32;
    ai::context f32;
    REQUIRE(f32.create(m, &co).ok());
    CHECK(f32.memory_bytes() > need);
}

TEST_CASE("runtime: context limits leave the context unchanged") {
    const ai::model& m = stories();
    ai::context_options co;
    co.n_ctx = 16;
    ai::context ctx;
    REQUIRE(ctx.create(m, &co).ok());
    CHECK(ctx.n_ctx() == 16);
    CHECK(ctx.logits() == nullptr);
    std::vector<int> ids = golden_ids();
    REQUIRE(ctx.decode(ids.data(), 10).ok());
    std::vector<float> after10(ctx.logits(), ctx.logits() + 512);
    ai::status st = ctx.decode(ids.data() + 10, 7);  // 17 > 16
    CHECK(st.code == ai::result::out_of_range);
    CHECK(ctx.position() == 10);
    CHECK(std::vector<float>(ctx.logits(), ctx.logits() + 512) == after10);
    const ai::token_id bad[3] = {5, 512, 7};
    st = ctx.decode(bad, 3);
    CHECK(st.code == ai::result::invalid_argument);
    const ai::token_id neg[1] = {-1};
    CHECK(ctx.decode(neg, 1).code == ai::result::invalid_argument);
    CHECK(ctx.position() == 10);
    std::vector<float> small(512 * 2 - 1);
    CHECK(ctx.decode(ids.data(), 2, small.data(), small.size()).code == ai::result::invalid_argument);
    CHECK(ctx.position() == 10);
    CHECK(ctx.decode(nullptr, 2).code == ai::result::invalid_argument);
    CHECK(ctx.decode(nullptr, 0).ok());
    REQUIRE(ctx.decode(ids.data() + 10, 6).ok());  // exactly full
    CHECK(ctx.position() == 16);
    CHECK(ctx.decode(ids.data(), 1).code == ai::result::out_of_range);
    CHECK(ctx.rewind(17).code == ai::result::out_of_range);
    CHECK(ctx.rewind(-1).code == ai::result::out_of_range);
    ai::context none;
    CHECK(none.decode(ids.data(), 1).code == ai::result::invalid_argument);
    CHECK(none.logits() == nullptr);
    ai::model unloaded;
    CHECK(none.create(unloaded).code == ai::result::invalid_argument);
    ai::context_options bad_opt;
    bad_opt.n_ctx = -1;
    CHECK(none.create(m, &bad_opt).code == ai::result::invalid_argument);
}

TEST_CASE("runtime: rewind then re-decode gives identical logits") {
    const ai::model& m = stories();
    std::vector<int> ids = golden_ids();
    ai::context_options co;
    co.n_ctx = 64;
    co.n_batch = 5;
    ai::context ctx;
    REQUIRE(ctx.create(m, &co).ok());
    std::vector<float> first(30 * 512), again(20 * 512);
    REQUIRE(ctx.decode(ids.data(), 30, first.data(), first.size()).ok());
    REQUIRE(ctx.rewind(10).ok());
    CHECK(ctx.position() == 10);
    CHECK(ctx.logits() == nullptr);
    REQUIRE(ctx.decode(ids.data() + 10, 20, again.data(), again.size()).ok());
    CHECK(std::equal(again.begin(), again.end(), first.begin() + 10 * 512));
    // a different continuation after a rewind, then back: still the same logits
    REQUIRE(ctx.rewind(10).ok());
    REQUIRE(ctx.decode(ids.data() + 40, 5).ok());
    REQUIRE(ctx.rewind(10).ok());
    REQUIRE(ctx.decode(ids.data() + 10, 20).ok());
    CHECK(std::equal(ctx.logits(), ctx.logits() + 512, first.begin() + 29 * 512));
    REQUIRE(ctx.rewind(0).ok());
    REQUIRE(ctx.decode(ids.data(), 30).ok());
    CHECK(std::equal(ctx.logits(), ctx.logits() + 512, first.begin() + 29 * 512));
    // moving a context keeps its state
    ai::context moved(std::move(ctx));
    CHECK_FALSE(ctx.is_created());
    CHECK(moved.position() == 30);
}

TEST_CASE("runtime: should_stop cancels between layers; committed tokens are kept") {
    const ai::model& m = stories();
    std::vector<int> ids = golden_ids();
    struct stopper {
        int polls = 0, stop_at = 0;
        static bool fn(void* u) {
            auto* s = static_cast<stopper*>(u);
            return ++s->polls == s->stop_at;
        }
    } stop;
    ai::context_options co;
    co.n_ctx = 64;
    co.n_batch = 4;
    co.should_stop = stopper::fn;
    co.should_stop_user = &stop;
    ai::context ctx;
    REQUIRE(ctx.create(m, &co).ok());
    stop.stop_at = 5 * 2 + 3;  // 5 layers per chunk: third layer of the third chunk
    ai::status st = ctx.decode(ids.data(), 12);
    CHECK(st.code == ai::result::cancelled);
    CHECK(ctx.position() == 8);  // two whole chunks committed
    CHECK(ctx.logits() == nullptr);
    stop.stop_at = -1;
    REQUIRE(ctx.decode(ids.data() + 8, 4).ok());
    co.should_stop = nullptr;
    const std::vector<int> head(ids.begin(), ids.begin() + 12);
    const std::vector<float> ref = all_logits(m, head, co);
    CHECK(std::equal(ctx.logits(), ctx.logits() + 512, ref.end() - 512));
}

TEST_CASE("runtime: F32 KV cache is close to F16") {
    const ai::model& m = stories();
    std::vector<int> ids = golden_ids();
    ids.resize(50);
    ai::context_options co;
    co.n_ctx = 64;
    const std::vector<float> f16 = all_logits(m, ids, co);
    co.kv = ai::kv_type::f32;
    const std::vector<float> f32 = all_logits(m, ids, co);
    float max_diff = 0;
    for (size_t i = 0; i < f16.size(); ++i) max_diff = std::max(max_diff, std::fabs(f16[i] - f32[i]));
    CHECK(max_diff > 0.0f);
    CHECK(max_diff < 0.05f);
}

TEST_CASE("runtime: tiny llama / qwen2 / qwen3 models written here load and decode") {
    for (int variant = 0; variant < 6; ++variant) {
        tiny_spec s;
        const char* what = "llama";
        switch (variant) {
        case 1: s.arch = "qwen2"; s.biases = true; s.tied = true; what = "qwen2 biases tied"; break;
        case 2: s.arch = "qwen3"; s.head_dim = 16; what = "qwen3 head_dim 16"; break;
        case 3: s.rope_freqs = true; what = "llama rope_freqs"; break;
        case 4: s.type = ai::tensor_type::q8_0; s.dim = 64; what = "llama Q8_0"; break;
        case 5: s.type = ai::tensor_type::q4_k; s.dim = 256; s.ff = 256; what = "llama Q4_K"; break;
        default: break;
        }
        CAPTURE(what);
        std::vector<uint8_t> bytes;
        ai::model m;
        const ai::status st = load_tiny(s, &bytes, &m);
        REQUIRE_MESSAGE(st.ok(), st.message);
        CHECK(m.params().tied_output == s.tied);
        CHECK(m.params().rope == (s.arch == "llama" ? ai::rope_style::normal : ai::rope_style::neox));
        CHECK(m.params().head_dim == (s.head_dim ? s.head_dim : s.dim / s.heads));
        CHECK(m.tokenizer().n_tokens() == s.vocab);
        const std::vector<int> ids = {1, 5, 9, 3, 30, 31, 7, 12};
        ai::context_options co;
        const std::vector<float> a = all_logits(m, ids, co);
        for (float v : a) REQUIRE(std::isfinite(v));
        co.n_threads = 2;
        co.n_batch = 3;
        CHECK(all_logits(m, ids, co) == a);
    }
}

TEST_CASE("runtime: a fused attn_qkv gives the same logits as separate Q, K, V") {
    for (bool biases : {false, true}) {
        tiny_spec s;
        s.biases = biases;
        std::vector<uint8_t> b1, b2;
        ai::model sep, fused;
        REQUIRE(load_tiny(s, &b1, &sep).ok());
        s.fused_qkv = true;
        const ai::status st = load_tiny(s, &b2, &fused);
        REQUIRE_MESSAGE(st.ok(), st.message);
        CHECK(fused.file().find_tensor("blk.0.attn_qkv.weight") != nullptr);
        const std::vector<int> ids = {1, 4, 8, 15, 16, 23, 3};
        ai::context_options co;
        CHECK(all_logits(fused, ids, co) == all_logits(sep, ids, co));
    }
}

TEST_CASE("runtime: load errors name the tensor or key") {
    struct bad {
        const char* drop;
        const char* misshape;
        const char* arch;
        ai::result code;
        const char* needle;
    };
    const bad cases[] = {
        {"blk.1.attn_k.weight", "", "llama", ai::result::not_found, "blk.1.attn_k.weight"},
        {"output_norm.weight", "", "llama", ai::result::not_found, "output_norm.weight"},
        {"token_embd.weight", "", "llama", ai::result::not_found, "token_embd.weight"},
        {"blk.0.attn_q_norm.weight", "", "qwen3", ai::result::not_found, "attn_q_norm"},
        {"", "blk.0.attn_v.weight", "llama", ai::result::format_error, "blk.0.attn_v.weight"},
        {"", "blk.1.ffn_down.weight", "llama", ai::result::format_error, "n_ff, n_embd"},
        {"", "blk.0.ffn_norm.weight", "llama", ai::result::format_error, "blk.0.ffn_norm.weight"},
        {"", "output.weight", "llama", ai::result::format_error, "output.weight"},
        {"", "", "gpt2", ai::result::unsupported, "gpt2"},
    };
    for (const bad& b : cases) {
        tiny_spec s;
        s.arch = b.arch;
        s.drop = b.drop;
        s.misshape = b.misshape;
        CAPTURE(b.needle);
        std::vector<uint8_t> bytes;
        ai::model m;
        const ai::status st = load_tiny(s, &bytes, &m);
        CHECK(st.code == b.code);
        CHECK(std::string(st.message).find(b.needle) != std::string::npos);
        CHECK_FALSE(m.is_loaded());
    }
    // no tokenizer: the model does not load, and says why
    tiny_spec s;
    s.tokenizer = false;
    std::vector<uint8_t> bytes;
    ai::model m;
    const ai::status st = load_tiny(s, &bytes, &m);
    CHECK_FALSE(st.ok());
    CHECK(std::string(st.message).find("tokenizer") != std::string::npos);
    // legacy GGUF v1 and a missing file
    ai::model old;
    CHECK(old.load_file((shared_dir() + "/models/legacy-v1/tinyllamas-stories-260k-f32.gguf").c_str()).code == ai::result::unsupported);
    CHECK(old.load_file("/nonexistent/model.gguf").code == ai::result::io_error);
    // a failed load leaves nothing allocated
    counting_alloc ca;
    {
        ai::model_options mo;
        mo.alloc = ca.hooks();
        tiny_spec t;
        t.misshape = "blk.1.attn_output.weight";
        ai::model mm;
        CHECK_FALSE(load_tiny(t, &bytes, &mm, &mo).ok());
    }
    CHECK(ca.live.load() == 0);
}

TEST_CASE("sampler: determinism and each option's effect") {
    const int n = 64;
    std::vector<float> logits(n);
    for (int i = 0; i < n; ++i) logits[i] = (float)((i * 37) % n) / 8.0f;  // distinct, 0.125 apart
    const int best = argmax(logits.data(), n);

    ai::sampler none;
    CHECK(none.sample(logits.data()) == ai::no_token);
    CHECK(none.init(0).code == ai::result::invalid_argument);
    ai::sampler_options bad;
    bad.top_k = -1;
    CHECK(none.init(n, &bad).code == ai::result::invalid_argument);
    bad = ai::sampler_options{};
    bad.min_p = 1.5f;
    CHECK(none.init(n, &bad).code == ai::result::invalid_argument);

    ai::sampler greedy;
    REQUIRE(greedy.init(n).ok());
    CHECK(greedy.sample(logits.data()) == best);

    const auto draw = [&](ai::sampler_options o, int count) {
        ai::sampler s;
        REQUIRE(s.init(n, &o).ok());
        std::vector<int> out;
        for (int i = 0; i < count; ++i) {
            const int t = s.sample(logits.data());
            out.push_back(t);
            s.accept(t);
        }
        return out;
    };
    ai::sampler_options o;
    o.temperature = 1.0f;
    o.seed = 42;
    const std::vector<int> a = draw(o, 200), b = draw(o, 200);
    CHECK(a == b);                                      // same seed, same tokens
    CHECK(std::count(a.begin(), a.end(), a[0]) < 200);  // not constant
    o.seed = 43;
    CHECK(draw(o, 200) != a);
    // reset() reseeds and clears the history
    {
        o.seed = 42;
        ai::sampler s;
        REQUIRE(s.init(n, &o).ok());
        std::vector<int> first;
        for (int i = 0; i < 50; ++i) { first.push_back(s.sample(logits.data())); s.accept(first.back()); }
        s.reset();
        std::vector<int> second;
        for (int i = 0; i < 50; ++i) { second.push_back(s.sample(logits.data())); s.accept(second.back()); }
        CHECK(first == second);
    }
    // top-k = 1 is greedy, whatever the temperature
    o.top_k = 1;
    o.temperature = 5.0f;
    for (int t : draw(o, 50)) CHECK(t == best);
    // top-k = 3: only the three largest
    std::vector<int> order(n);
    for (int i = 0; i < n; ++i) order[i] = i;
    std::sort(order.begin(), order.end(), [&](int x, int y) { return logits[x] > logits[y]; });
    o.top_k = 3;
    {
        const std::vector<int> got = draw(o, 300);
        for (int t : got) CHECK((t == order[0] || t == order[1] || t == order[2]));
        CHECK(std::count(got.begin(), got.end(), order[2]) > 0);
    }
    // top-p small: only the most likely; min-p = 1: only the maximum
    o = ai::sampler_options{};
    o.temperature = 1.0f;
    o.top_p = 1e-6f;
    for (int t : draw(o, 50)) CHECK(t == best);
    o.top_p = 0.0f;
    o.min_p = 1.0f;
    for (int t : draw(o, 50)) CHECK(t == best);
    // min-p = 0.5 keeps tokens with p >= p_max / 2: logit >= max - ln 2
    o.min_p = 0.5f;
    for (int t : draw(o, 200)) CHECK(logits[t] >= logits[best] - std::log(2.0f) - 1e-6f);
    // temperature: low is nearly greedy, high spreads
    o = ai::sampler_options{};
    o.temperature = 0.01f;
    for (int t : draw(o, 50)) CHECK(t == best);
    o.temperature = 100.0f;
    {
        const std::vector<int> got = draw(o, 300);
        std::vector<int> distinct(got);
        std::sort(distinct.begin(), distinct.end());
        CHECK(std::unique(distinct.begin(), distinct.end()) - distinct.begin() > 20);
    }
    // repetition penalty (greedy): the best token, once accepted, loses to the runner-up
    {
        std::vector<float> l(n, 0.0f);
        l[10] = 2.0f;
        l[20] = 1.9f;
        ai::sampler_options p;
        p.repeat_penalty = 1.2f;  // 2.0 / 1.2 < 1.9
        ai::sampler s;
        REQUIRE(s.init(n, &p).ok());
        CHECK(s.sample(l.data()) == 10);
        s.accept(10);
        CHECK(s.sample(l.data()) == 20);
        // the history holds penalty_last_n tokens: older ones stop counting
        ai::sampler_options q;
        q.repeat_penalty = 1.2f;
        q.penalty_last_n = 2;
        ai::sampler r;
        REQUIRE(r.init(n, &q).ok());
        r.accept(10);
        CHECK(r.sample(l.data()) == 20);
        r.accept(3);
        r.accept(4);  // 10 has left the window
        CHECK(r.sample(l.data()) == 10);
        // negative logits are multiplied by the penalty
        std::vector<float> neg(n, -5.0f);
        neg[1] = -1.0f;
        neg[2] = -1.1f;
        ai::sampler u;
        REQUIRE(u.init(n, &p).ok());
        u.accept(1);
        CHECK(u.sample(neg.data()) == 2);  // -1.2 < -1.1
    }
    // frequency and presence penalties subtract count * f + p
    {
        std::vector<float> l(n, 0.0f);
        l[10] = 2.0f;
        l[20] = 1.0f;
        ai::sampler_options f;
        f.frequency_penalty = 0.4f;
        ai::sampler s;
        REQUIRE(s.init(n, &f).ok());
        s.accept(10);
        s.accept(10);
        CHECK(s.sample(l.data()) == 10);  // 2.0 - 0.8 = 1.2 > 1.0
        s.accept(10);
        CHECK(s.sample(l.data()) == 20);  // 2.0 - 1.2 = 0.8 < 1.0
        ai::sampler_options pr;
        pr.presence_penalty = 1.5f;
        ai::sampler t;
        REQUIRE(t.init(n, &pr).ok());
        t.accept(10);
        CHECK(t.sample(l.data()) == 20);  // 2.0 - 1.5 < 1.0
    }
}

TEST_CASE("sampler: a fixed seed gives a fixed sequence on every platform") {
    // The xoshiro256** stream and the sampling arithmetic are our own, so these ids are the same
    // with any standard library (they are part of the API's promise).
    const int n = 16;
    float logits[n];
    for (int i = 0; i < n; ++i) logits[i] = (float)(i % 5) * 0.5f;
    ai::sampler_options o;
    o.temperature = 1.0f;
    o.seed = 1234;
    ai::sampler s;
    REQUIRE(s.init(n, &o).ok());
    std::vector<int> got;
    for (int i = 0; i < 12; ++i) got.push_back(s.sample(logits));
    const std::vector<int> expected = {1, 14, 11, 14, 2, 14, 8, 4, 9, 9, 8, 4};
    CHECK(got == expected);
}

TEST_CASE("runtime: matmul_input q8 / q8_layers — integer kernels close to the f32 path, thread-independent, no allocation") {
    // Q4_0, Q8_0, Q4_K, Q4_1 and Q6_K matrices (rows of 256 so every type's blocks fit), on every
    // kernel set this CPU runs (avx2's q8_layers output matrix multiplies 16-bit inputs: mm_q16).
    for (int ki = 0; ki < ai::kernel_set_count(); ++ki)
    for (ai::tensor_type t : {ai::tensor_type::q4_0, ai::tensor_type::q8_0, ai::tensor_type::q4_k, ai::tensor_type::q4_1, ai::tensor_type::q6_k}) {
        const ai::kernel_set* K = ai::kernel_set_at(ki);
        if (!ai::kernel_set_runs_here(K)) continue;
        CAPTURE(std::string(K->name));
        CAPTURE(ai::type_name(t));
        ai::model_options mo;
        mo.kernels = K->name;
        tiny_spec s;
        s.dim = 256;
        s.ff = 512;
        s.heads = 4;
        s.kv_heads = 2;
        s.vocab = 300;
        s.type = t;
        std::vector<uint8_t> bytes;
        ai::model m;
        REQUIRE(load_tiny(s, &bytes, &m, &mo).ok());
        std::vector<int> ids;
        for (int i = 0; i < 24; ++i) ids.push_back(1 + (i * 37) % 299);
        ai::context_options co;
        co.n_ctx = 64;
        co.matmul = ai::matmul_input::f32;
        const std::vector<float> exact = all_logits(m, ids, co);
        co.matmul = ai::matmul_input::q8_layers;  // the default: 8-bit layers, float output matrix
        const std::vector<float> mixed = all_logits(m, ids, co);
        co.matmul = ai::matmul_input::q8;
        const std::vector<float> q8 = all_logits(m, ids, co);
        co.n_threads = 2;
        const std::vector<float> q8_2 = all_logits(m, ids, co);
        CHECK(q8 == q8_2);  // bit-identical for any thread count
        co.matmul = ai::matmul_input::q8_layers;
        CHECK(all_logits(m, ids, co) == mixed);
        CHECK(mixed != q8);     // the output matrix takes the other path
        CHECK(mixed != exact);  // and the layers too
        REQUIRE(q8.size() == exact.size());
        // Per position: 8-bit activations move logits by a small fraction of their spread.
        const size_t nv = 300;
        double worst = 0, spread = 0;
        for (size_t i = 0; i < q8.size(); ++i) worst = std::max(worst, (double)std::fabs(q8[i] - exact[i]));
        for (size_t i = 0; i < nv; ++i) spread = std::max(spread, (double)std::fabs(exact[i]));
        CHECK(worst > 0.0);           // the integer path really ran
        CHECK(worst < 0.05 * spread);  // and stayed close
        double worst_mixed = 0;
        for (size_t i = 0; i < q8.size(); ++i) worst_mixed = std::max(worst_mixed, (double)std::fabs(mixed[i] - exact[i]));
        CHECK(worst_mixed < 0.05 * spread);
        // No allocation while decoding with the integer path either.
        counting_alloc ca;
        co.alloc = ca.hooks();
        co.n_threads = 1;
        ai::context ctx;
        REQUIRE(ctx.create(m, &co).ok());
        const int64_t before = ca.calls.load();
        REQUIRE(ctx.decode(ids.data(), (int32_t)ids.size()).ok());
        REQUIRE(ctx.decode(ids.data(), 1).ok());
        CHECK(ca.calls.load() == before);
    }
}
