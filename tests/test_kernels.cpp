// The quantized dot-product kernels (ai.hpp, "Vector kernels"): the kernels of every kernel set the
// build has and this CPU runs (ai::simd's, and with AI_DISPATCH the avx2 / avx512 units') against
// their ai::ref twins, and every ai::ref kernel against a double-precision dequantize-then-dot, on
// random rows of 1, 2, 3, 7 blocks and long rows. The tile kernels (kernel_set::mm) against ref
// vec_dot per (row, token), and for bit-identical results however rows and tokens are split. Weights are both real quantizer output (ref::from_float)
// and random bytes (every bit pattern, with finite scales); activations always come from the
// activation quantizers, as in the runtime (their values lie in -127..127).
//
// Tolerances (per dot product, mag = sum over i of |w_i * a_i| with dequantized values, nb = number
// of blocks): integer block sums are exact in both kernels, the float work is one product per block
// and one addition per block in some order, so
//   simd vs ref:    |simd - ref|   <= (nb + 4) * 2.5e-7 * mag
//   ref vs double:  |ref - exact|  <= (nb + 4) * 2.5e-7 * mag  (+ 2^-10 * sum |m * s| for Q8_1,
//                   whose s is d * sum(q) rounded to f16, exactly as llama.cpp stores it)
// A kernel that drops, repeats or misplaces one element is off by about mag / sqrt(n), far more.
// The activation quantizers are compared byte for byte (the same rounding in both).
#include <doctest/doctest.h>

#include "ai.hpp"

#include <cmath>
#include <cstdint>
#include <cstring>
#include <random>
#include <string>
#include <vector>

namespace {

using ai::tensor_type;

struct kernel_case {
    tensor_type w;
    std::vector<int> f16_fields;  // offsets of the f16 scales in one block (random-bytes weights)
};

const std::vector<kernel_case>& quant_cases() {
    static const std::vector<kernel_case> cases = {
        {tensor_type::q4_0, {0}},       {tensor_type::q4_1, {0, 2}}, {tensor_type::q5_0, {0}},
        {tensor_type::q5_1, {0, 2}},    {tensor_type::q8_0, {0}},    {tensor_type::iq4_nl, {0}},
        {tensor_type::q2_k, {80, 82}},  {tensor_type::q3_k, {108}},  {tensor_type::q4_k, {0, 2}},
        {tensor_type::q5_k, {0, 2}},    {tensor_type::q6_k, {208}},
    };
    return cases;
}

std::vector<float> random_floats(std::mt19937& rng, int64_t n) {
    std::normal_distribution<float> nd(0.0f, 1.0f);
    std::uniform_real_distribution<float> ud(-3.0f, 3.0f);
    std::vector<float> v((size_t)n);
    // per-32 magnitude changes, so block scales differ
    for (int64_t i = 0; i < n; i += 32) {
        const float s = std::exp(ud(rng));
        for (int64_t j = i; j < std::min(n, i + 32); ++j) v[(size_t)j] = nd(rng) * s;
    }
    return v;
}

std::vector<uint8_t> quantize(tensor_type t, const std::vector<float>& x) {
    size_t bytes = 0;
    REQUIRE(ai::type_row_bytes(t, (int64_t)x.size(), &bytes));
    std::vector<uint8_t> out(bytes);
    ai::ref::from_float(t)(x.data(), out.data(), (int64_t)x.size());
    return out;
}

std::vector<uint8_t> random_blocks(std::mt19937& rng, const kernel_case& c, int64_t n) {
    const ai::type_traits* tr = ai::type_info(c.w);
    const int64_t nb = n / tr->block_elems;
    std::vector<uint8_t> out((size_t)(nb * tr->block_bytes));
    std::uniform_int_distribution<int> byte(0, 255);
    std::uniform_real_distribution<float> sd(0.001f, 0.1f);
    for (auto& b : out) b = (uint8_t)byte(rng);
    for (int64_t i = 0; i < nb; ++i) {
        for (int off : c.f16_fields) {
            const uint16_t h = ai::f32_to_f16(sd(rng) * (byte(rng) & 1 ? 1.0f : -1.0f));
            std::memcpy(out.data() + i * tr->block_bytes + off, &h, 2);
        }
    }
    return out;
}

std::vector<double> dequant(tensor_type t, const void* p, int64_t n) {
    std::vector<float> f((size_t)n);
    ai::ref::to_float(t)(p, f.data(), n);
    return std::vector<double>(f.begin(), f.end());
}

// Extra tolerance for Q8_1's f16 s field: sum over blocks of |m * s| * 2^-10.
double q8_1_allowance(tensor_type w, const uint8_t* wq, const uint8_t* aq, int64_t n) {
    if (w != tensor_type::q4_1 && w != tensor_type::q5_1) return 0.0;
    const int wb = ai::type_info(w)->block_bytes;
    double e = 0;
    for (int64_t i = 0; i < n / 32; ++i) {
        uint16_t m, s;
        std::memcpy(&m, wq + i * wb + 2, 2);
        std::memcpy(&s, aq + i * 36 + 2, 2);
        e += std::fabs((double)ai::f16_to_f32(m) * ai::f16_to_f32(s)) * (1.0 / 1024);
    }
    return e;
}

// Every kernel set this build has and this CPU can run.
std::vector<const ai::kernel_set*> runnable_sets() {
    std::vector<const ai::kernel_set*> v;
    for (int i = 0; i < ai::kernel_set_count(); ++i)
        if (ai::kernel_set_runs_here(ai::kernel_set_at(i))) v.push_back(ai::kernel_set_at(i));
    return v;
}

void check_pair(const ai::kernel_set& K, tensor_type w, const std::vector<uint8_t>& wq, const std::vector<float>& act, int64_t n) {
    tensor_type at_ref = tensor_type::f32;
    uint32_t at_simd = 0;
    const ai::vec_dot_fn fr = ai::ref::vec_dot(w, &at_ref);
    const ai::vec_dot_fn fs = K.vec_dot((uint32_t)w, &at_simd);
    REQUIRE(bool(fr));
    REQUIRE(bool(fs));
    REQUIRE((uint32_t)at_ref == at_simd);
    size_t abytes = 0;
    REQUIRE(ai::type_row_bytes(at_ref, n, &abytes));
    std::vector<uint8_t> aq(abytes), aq_simd(abytes);
    ai::ref::quantize_act(at_ref)(act.data(), aq.data(), n);
    K.quantize_act((uint32_t)at_ref)(act.data(), aq_simd.data(), n);
    CHECK(aq == aq_simd);  // the activation quantizers agree byte for byte

    const std::vector<double> dw = dequant(w, wq.data(), n), da = dequant(at_ref, aq.data(), n);
    double exact = 0, mag = 0;
    for (int64_t i = 0; i < n; ++i) {
        exact += dw[(size_t)i] * da[(size_t)i];
        mag += std::fabs(dw[(size_t)i] * da[(size_t)i]);
    }
    const int64_t nb = n / ai::type_info(w)->block_elems;
    const double tol = (double)(nb + 4) * 2.5e-7 * mag + 1e-30;
    const float r = fr(wq.data(), aq.data(), n);
    const float s = fs(wq.data(), aq.data(), n);
    CHECK(std::fabs((double)s - r) <= tol);
    CHECK(std::fabs((double)r - exact) <= tol + q8_1_allowance(w, wq.data(), aq.data(), n));
}

}  // namespace

TEST_CASE("activation quantizers: every kernel set == ref byte for byte, and close to the input") {
  for (const ai::kernel_set* K : runnable_sets()) {
    INFO("kernel set " << std::string(K->name));
    std::mt19937 rng(11);
    for (tensor_type at : {tensor_type::q8_0, tensor_type::q8_1, tensor_type::q8_k}) {
        INFO("type " << std::string(ai::type_name(at)));
        const int be = ai::type_info(at)->block_elems;
        for (int64_t nb : {1, 2, 3, 7, 40}) {
            const int64_t n = nb * be;
            std::vector<float> x = random_floats(rng, n);
            if (nb == 3) std::fill(x.begin(), x.begin() + be, 0.0f);  // an all-zero block
            if (nb == 7) {  // the largest magnitude twice with both signs (the first decides), a NaN
                x[(size_t)be + 5] = 9.0f, x[(size_t)be + 9] = -9.0f;
                x[(size_t)(2 * be) + 3] = -9.0f, x[(size_t)(2 * be) + 30] = 9.0f;
                x[(size_t)(3 * be) + 1] = std::nanf("");
            }
            size_t bytes = 0;
            REQUIRE(ai::type_row_bytes(at, n, &bytes));
            std::vector<uint8_t> a(bytes), b(bytes);
            ai::ref::quantize_act(at)(x.data(), a.data(), n);
            K->quantize_act((uint32_t)at)(x.data(), b.data(), n);
            CHECK(a == b);
            if (nb == 7) {  // an infinity: the same bytes as ref too (not close to anything)
                std::vector<float> xi = x;
                xi[(size_t)(4 * be) + 2] = -INFINITY;
                std::vector<uint8_t> ai_(bytes), bi(bytes);
                ai::ref::quantize_act(at)(xi.data(), ai_.data(), n);
                K->quantize_act((uint32_t)at)(xi.data(), bi.data(), n);
                CHECK(ai_ == bi);
                x[(size_t)(3 * be) + 1] = 0.0f;  // no NaN in the closeness check below
                ai::ref::quantize_act(at)(x.data(), a.data(), n);
            }
            const std::vector<double> back = dequant(at, a.data(), n);
            // each element within half a step of its block, plus Q8_0/Q8_1's f16 rounding of the
            // step (up to 127 * 2^-11 steps at the block's largest element)
            for (int64_t i = 0; i < n; i += be) {
                double amax = 0;
                for (int64_t j = i; j < i + be; ++j) amax = std::max(amax, (double)std::fabs(x[(size_t)j]));
                for (int64_t j = i; j < i + be; ++j) CHECK(std::fabs(back[(size_t)j] - x[(size_t)j]) <= amax / 127 * 0.57);
            }
        }
    }
    CHECK_FALSE(bool(K->quantize_act((uint32_t)tensor_type::q4_0)));
  }
}

TEST_CASE("quantized vec_dot: every kernel set vs ref vs double, quantizer output and random bytes") {
  for (const ai::kernel_set* K : runnable_sets()) {
    INFO("kernel set " << std::string(K->name));
    std::mt19937 rng(5);
    for (const kernel_case& c : quant_cases()) {
        INFO("type " << std::string(ai::type_name(c.w)));
        const int be = ai::type_info(c.w)->block_elems;
        for (int64_t nb : {1, 2, 3, 7, 64}) {
            const int64_t n = nb * be;
            CAPTURE(n);
            for (int rep = 0; rep < 4; ++rep) {
                const std::vector<float> act = random_floats(rng, n);
                check_pair(*K, c.w, quantize(c.w, random_floats(rng, n)), act, n);
                check_pair(*K, c.w, random_blocks(rng, c, n), act, n);
            }
        }
    }
  }
}

TEST_CASE("plain vec_dot (F32, F16, BF16 rows x float): every kernel set vs ref vs double, every length") {
  for (const ai::kernel_set* K : runnable_sets()) {
    INFO("kernel set " << std::string(K->name));
    std::mt19937 rng(3);
    for (tensor_type t : {tensor_type::f32, tensor_type::f16, tensor_type::bf16}) {
        INFO("type " << std::string(ai::type_name(t)));
        tensor_type at = tensor_type::q8_0;
        const ai::vec_dot_fn fr = ai::ref::vec_dot(t, &at);
        const ai::vec_dot_fn fs = K->vec_dot((uint32_t)t, nullptr);
        REQUIRE(bool(fr));
        REQUIRE(bool(fs));
        CHECK(at == tensor_type::f32);
        std::vector<int64_t> sizes;
        for (int64_t n = 0; n <= 70; ++n) sizes.push_back(n);
        sizes.push_back(4097);
        for (int64_t n : sizes) {
            CAPTURE(n);
            const std::vector<float> x = random_floats(rng, n), a = random_floats(rng, n);
            std::vector<uint8_t> w = quantize(t, x);
            w.resize(w.size() + 1);  // room for the unaligned copy below
            const std::vector<double> dw = dequant(t, w.data(), n);
            double exact = 0, mag = 0;
            for (int64_t i = 0; i < n; ++i) {
                exact += dw[(size_t)i] * a[(size_t)i];
                mag += std::fabs(dw[(size_t)i] * a[(size_t)i]);
            }
            const double tol = (double)(n + 4) * 1.2e-7 * mag + 1e-30;
            const float r = fr(w.data(), a.data(), n);
            CHECK(std::fabs((double)r - exact) <= tol);
            CHECK(std::fabs((double)fs(w.data(), a.data(), n) - r) <= tol);
            if (t != tensor_type::f32) {  // F16/BF16 rows need no alignment at all
                std::vector<uint8_t> u(w.size() + 1);
                std::memcpy(u.data() + 1, w.data(), w.size() - 1);
                CHECK(std::fabs((double)fs(u.data() + 1, a.data(), n) - r) <= tol);
            }
            const double d = K->dot_f32(x.data(), a.data(), n), dr = ai::ref::dot_f32(x.data(), a.data(), n);
            double mag2 = 0;
            for (int64_t i = 0; i < n; ++i) mag2 += std::fabs((double)x[(size_t)i] * a[(size_t)i]);
            CHECK(std::fabs(d - dr) <= (double)(n + 4) * 1.2e-7 * mag2 + 1e-30);
        }
    }
  }
}

TEST_CASE("kernel sets: the registry, names, and a set chosen by name") {
    const std::vector<const ai::kernel_set*> sets = runnable_sets();
    REQUIRE(!sets.empty());
    CHECK(ai::kernel_set_best() == sets.front());
    CHECK(ai::kernel_set_find("scalar") == ai::ref::kernels());
    CHECK(ai::kernel_set_find(ai::simd::kernels()->name) != nullptr);
    CHECK(ai::kernel_set_find("no-such-set") == nullptr);
    CHECK(ai::kernel_set_at(-1) == nullptr);
    CHECK(ai::kernel_set_at(ai::kernel_set_count()) == nullptr);
    CHECK(std::string(ai::cpu_features()).size() > 0);
#if defined(AI_DISPATCH) && defined(__x86_64__)
    // A baseline build with dispatch has both x86 units (or its own flags already cover one).
    CHECK(ai::kernel_set_find("avx2") != nullptr);
    CHECK(ai::kernel_set_find("avx512") != nullptr);
#endif
}

TEST_CASE("vec_dot table: pairings and types without a kernel") {
    tensor_type at = tensor_type::f32;
    CHECK(bool(ai::simd::vec_dot(tensor_type::q4_0, &at)));
    CHECK(at == tensor_type::q8_0);
    CHECK(bool(ai::simd::vec_dot(tensor_type::q5_1, &at)));
    CHECK(at == tensor_type::q8_1);
    CHECK(bool(ai::simd::vec_dot(tensor_type::q6_k, &at)));
    CHECK(at == tensor_type::q8_k);
    CHECK_FALSE(bool(ai::simd::vec_dot(tensor_type::iq2_xxs, &at)));
    CHECK_FALSE(bool(ai::ref::vec_dot(tensor_type::q8_k, nullptr)));
}

TEST_CASE("tile kernels (kernel_set::mm): vs ref vec_dot, and bit-identical however the work is split") {
    std::mt19937 rng(17);
    const std::vector<tensor_type> types = {tensor_type::q4_0, tensor_type::q4_1, tensor_type::q5_0, tensor_type::q5_1,
                                            tensor_type::q8_0, tensor_type::iq4_nl, tensor_type::q2_k, tensor_type::q3_k,
                                            tensor_type::q4_k, tensor_type::q5_k, tensor_type::q6_k, tensor_type::f32,
                                            tensor_type::f16, tensor_type::bf16};
    int tested = 0;
    for (const ai::kernel_set* K : runnable_sets()) {
        INFO("kernel set " << std::string(K->name));
        for (tensor_type t : types) {
            const ai::mm_fn mm = K->mm((uint32_t)t);
            if (!mm) continue;
            ++tested;
            INFO("type " << std::string(ai::type_name(t)));
            tensor_type at = tensor_type::f32;
            const ai::vec_dot_fn fr = ai::ref::vec_dot(t, &at);
            REQUIRE(bool(fr));
            const int be = std::max(ai::type_info(t)->block_elems, ai::type_info(at)->block_elems);
            for (int64_t n : {(int64_t)be, 3 * (int64_t)be, (int64_t)((2048 + be - 1) / be * be)}) {
                for (int64_t nr : {1, 3, 4, 5, 13, 17, 37}) {
                    // 16 and more: the batch path of kernels that have one (amx: AMX tiles; avx2 and
                    // avx512: rows in the lanes, strips of 16 or 32 rows, so 37 rows end in a part strip)
                    for (int64_t nt : {1, 2, 4, 7, 16, 37}) {
                        if (nt >= 16 && nr != 5 && nr != 17 && nr != 37) continue;  // enough shapes, less time
                        if (nt < 16 && nr == 37) continue;
                        CAPTURE(n);
                        CAPTURE(nr);
                        CAPTURE(nt);
                        size_t wrow = 0, arow = 0;
                        REQUIRE(ai::type_row_bytes(t, n, &wrow));
                        REQUIRE(ai::type_row_bytes(at, n, &arow));
                        std::vector<uint8_t> w;
                        for (int64_t r = 0; r < nr; ++r) {
                            const std::vector<uint8_t> row = quantize(t, random_floats(rng, n));
                            w.insert(w.end(), row.begin(), row.end());
                        }
                        std::vector<uint8_t> a((size_t)nt * arow);
                        std::vector<float> mag((size_t)(nr * nt), 0.0f);
                        for (int64_t k = 0; k < nt; ++k) {
                            const std::vector<float> x = random_floats(rng, n);
                            if (at == tensor_type::f32) std::memcpy(a.data() + k * arow, x.data(), arow);
                            else ai::ref::quantize_act(at)(x.data(), a.data() + k * arow, n);
                        }
                        const int64_t ys = nr + 2;  // a stride wider than the tile: nothing else written
                        std::vector<float> y((size_t)(nt * ys), -7.0f);
                        mm(w.data(), wrow, nr, a.data(), arow, nt, n, y.data(), ys);
                        for (int64_t k = 0; k < nt; ++k) {
                            const std::vector<double> da = dequant(at, a.data() + k * arow, n);
                            for (int64_t r = 0; r < nr; ++r) {
                                const std::vector<double> dw = dequant(t, w.data() + r * wrow, n);
                                double m = 0;
                                for (int64_t i = 0; i < n; ++i) m += std::fabs(dw[(size_t)i] * da[(size_t)i]);
                                double tol = (double)(n / be + 4) * 2.5e-7 * m * (t == tensor_type::f32 || t == tensor_type::f16 || t == tensor_type::bf16 ? be : 1) + 1e-30;
                                // amx's F16 batches multiply bf16 pairs: within 2^-15 of each product (see simd::kernels_amx)
                                if (std::string(K->name) == "amx" && t == tensor_type::f16 && nt >= 16) tol += m * 0x1p-15;
                                const float ref = fr(w.data() + r * wrow, a.data() + k * arow, n);
                                CHECK(std::fabs((double)y[(size_t)(k * ys + r)] - ref) <= tol);
                            }
                            CHECK(y[(size_t)(k * ys + nr)] == -7.0f);
                            CHECK(y[(size_t)(k * ys + nr + 1)] == -7.0f);
                        }
                        // Split: one row and one token at a time gives the same bits. Batches of 16
                        // tokens or more may take a batch path (amx) with its own rounding: there,
                        // one row at a time with all tokens, and tokens split in two batches of 16+.
                        bool same = true;
                        if (nt < 16) {
                            for (int64_t k = 0; k < nt; ++k)
                                for (int64_t r = 0; r < nr; ++r) {
                                    float one = 0;
                                    mm(w.data() + r * wrow, wrow, 1, a.data() + k * arow, arow, 1, n, &one, 1);
                                    same = same && std::memcmp(&one, &y[(size_t)(k * ys + r)], 4) == 0;
                                }
                        } else {
                            std::vector<float> y2((size_t)(nt * ys), -7.0f);
                            for (int64_t r = 0; r < nr; ++r) mm(w.data() + r * wrow, wrow, 1, a.data(), arow, nt, n, y2.data() + r, ys);
                            const int64_t half = nt >= 32 ? 16 : nt;
                            std::vector<float> y3((size_t)(nt * ys), -7.0f);
                            mm(w.data(), wrow, nr, a.data(), arow, half, n, y3.data(), ys);
                            if (half < nt) mm(w.data(), wrow, nr, a.data() + half * arow, arow, nt - half, n, y3.data() + half * ys, ys);
                            same = std::memcmp(y2.data(), y.data(), y.size() * 4) == 0 && std::memcmp(y3.data(), y.data(), y.size() * 4) == 0;
                        }
                        CHECK(same);
                    }
                }
            }
        }
    }
    MESSAGE("tile kernels tested: " << tested);
}

TEST_CASE("kernel_set::mm_dequant: the bits of to_float followed by mm(F32), every type and length") {
    std::mt19937 rng(29);
    int tested = 0;
    for (const ai::kernel_set* K : runnable_sets()) {
        INFO("kernel set " << std::string(K->name));
        const ai::mm_fn mm_f32 = K->mm((uint32_t)tensor_type::f32);
        for (tensor_type t : {tensor_type::q4_0, tensor_type::q4_1, tensor_type::q5_0, tensor_type::q5_1, tensor_type::q8_0, tensor_type::iq4_nl,
                              tensor_type::q2_k, tensor_type::q3_k, tensor_type::q4_k, tensor_type::q5_k, tensor_type::q6_k, tensor_type::bf16}) {
            const ai::mm_fn f = K->mm_dequant ? K->mm_dequant((uint32_t)t) : nullptr;
            if (!f) continue;
            REQUIRE(bool(mm_f32));
            ++tested;
            INFO("type " << std::string(ai::type_name(t)));
            const int be = ai::type_info(t)->block_elems;
            for (int64_t n : {(int64_t)std::max(be, 32), (int64_t)(7 * 256 + (be == 1 ? 5 : 0)), (int64_t)1536}) {
                if (n % be) continue;
                CAPTURE(n);
                const int64_t nr = 22, nt = 2;  // 22 = 16 + 4 + 2: Q8_0 goes 16, then 4 rows at a time, Q6_K 4
                size_t wrow = 0;
                REQUIRE(ai::type_row_bytes(t, n, &wrow));
                std::vector<uint8_t> w;
                for (int64_t r = 0; r < nr; ++r) {
                    const std::vector<uint8_t> row = quantize(t, random_floats(rng, n));
                    w.insert(w.end(), row.begin(), row.end());
                }
                std::vector<float> x;
                for (int64_t k = 0; k < nt; ++k) {
                    const std::vector<float> v = random_floats(rng, n);
                    x.insert(x.end(), v.begin(), v.end());
                }
                std::vector<float> rows((size_t)(nr * n)), y1((size_t)(nr * nt)), y2((size_t)(nr * nt));
                for (int64_t r = 0; r < nr; ++r) K->to_float((uint32_t)t)(w.data() + r * wrow, rows.data() + r * n, n);
                mm_f32(rows.data(), (size_t)n * 4, nr, x.data(), (size_t)n * 4, nt, n, y1.data(), nr);
                f(w.data(), wrow, nr, x.data(), (size_t)n * 4, nt, n, y2.data(), nr);
                CHECK(std::memcmp(y1.data(), y2.data(), y1.size() * 4) == 0);
                // one token at a time (how the runtime calls it) gives the same bits
                for (int64_t k = 0; k < nt; ++k) {
                    std::vector<float> one((size_t)nr);
                    f(w.data(), wrow, nr, x.data() + k * n, (size_t)n * 4, 1, n, one.data(), nr);
                    CHECK(std::memcmp(one.data(), y2.data() + k * nr, (size_t)nr * 4) == 0);
                }
            }
        }
    }
    MESSAGE("mm_dequant kernels tested: " << tested);
}

TEST_CASE("dequantization (kernel_set::to_float): every kernel set == ref bit for bit") {
    std::mt19937 rng(23);
    for (const ai::kernel_set* K : runnable_sets()) {
        INFO("kernel set " << std::string(K->name));
        for (const kernel_case& c : quant_cases()) {
            INFO("type " << std::string(ai::type_name(c.w)));
            const ai::dequantize_fn f = K->to_float((uint32_t)c.w);
            REQUIRE(bool(f));
            const int be = ai::type_info(c.w)->block_elems;
            for (int64_t nb : {1, 2, 3, 7, 64}) {
                const int64_t n = nb * be;
                CAPTURE(n);
                for (const std::vector<uint8_t>& w : {quantize(c.w, random_floats(rng, n)), random_blocks(rng, c, n)}) {
                    std::vector<float> a((size_t)n), b((size_t)n);
                    ai::ref::to_float(c.w)(w.data(), a.data(), n);
                    f(w.data(), b.data(), n);
                    CHECK(std::memcmp(a.data(), b.data(), (size_t)n * sizeof(float)) == 0);
                }
            }
        }
        for (tensor_type t : {tensor_type::f16, tensor_type::bf16}) {
            const int64_t n = 4099;
            std::vector<uint8_t> w((size_t)n * 2);
            for (auto& x : w) x = (uint8_t)rng();
            std::vector<float> a((size_t)n), b((size_t)n);
            ai::ref::to_float(t)(w.data(), a.data(), n);
            K->to_float((uint32_t)t)(w.data(), b.data(), n);
            for (int64_t i = 0; i < n; ++i)  // NaN payloads may differ; every other value is exact
                if (!std::isnan(a[(size_t)i])) CHECK(std::memcmp(&a[(size_t)i], &b[(size_t)i], 4) == 0);
        }
    }
}

TEST_CASE("kernel_set::silu_mul and softmax: every set within a few ulp of ref, whatever the range") {
    std::mt19937 rng(31);
    std::uniform_real_distribution<float> ud(-20.0f, 20.0f);
    const auto close = [](float a, float b, float rel) { return std::fabs(a - b) <= rel * std::fabs(b) + 1e-37f; };
    for (const ai::kernel_set* K : runnable_sets()) {
        INFO("kernel set " << std::string(K->name));
        REQUIRE(bool(K->silu_mul));
        REQUIRE(bool(K->softmax));
        for (int64_t n : {1, 7, 16, 37, 1000}) {
            CAPTURE(n);
            std::vector<float> g((size_t)n), u((size_t)n);
            for (int64_t i = 0; i < n; ++i) g[(size_t)i] = ud(rng), u[(size_t)i] = ud(rng) / 4;
            g[0] = -100.0f;  // e^100 overflows to inf: silu is -0, not NaN
            std::vector<float> want = g, got = g;
            ai::ref::silu_mul(want.data(), u.data(), n);
            K->silu_mul(got.data(), u.data(), n);
            int bad = 0;
            for (int64_t i = 0; i < n; ++i) bad += !close(got[(size_t)i], want[(size_t)i], 4e-6f) || std::isnan(got[(size_t)i]);
            CHECK(bad == 0);
            // An element's result does not depend on where the range begins (threads split it).
            if (n > 3) {
                std::vector<float> split = g;
                K->silu_mul(split.data(), u.data(), 3);
                K->silu_mul(split.data() + 3, u.data() + 3, n - 3);
                CHECK(std::memcmp(split.data(), got.data(), (size_t)n * sizeof(float)) == 0);
            }
            // softmax over the first `valid` of n scores, zeros after
            for (int64_t valid : {(int64_t)1, (n + 1) / 2, n}) {
                CAPTURE(valid);
                std::vector<float> s((size_t)n);
                for (auto& x : s) x = ud(rng) * 3;
                std::vector<float> sw = s, sg = s;
                ai::ref::softmax(sw.data(), valid, n, 0.125f);
                K->softmax(sg.data(), valid, n, 0.125f);
                double total = 0;
                int off = 0;
                for (int64_t i = 0; i < n; ++i) {
                    off += !close(sg[(size_t)i], sw[(size_t)i], 2e-5f);
                    total += sg[(size_t)i];
                    if (i >= valid) off += sg[(size_t)i] != 0.0f;
                }
                CHECK(off == 0);
                CHECK(std::fabs(total - 1.0) < 1e-5);
            }
        }
    }
}

TEST_CASE("kernel_set::att_scores / att_values: every set near ref; a query's bits depend on neither nq nor nk") {
    std::mt19937 rng(37);
    std::normal_distribution<float> nd(0.0f, 1.0f);
    const auto fill = [&](std::vector<float>& v) {
        for (auto& x : v) x = nd(rng);
    };
    for (const ai::kernel_set* K : runnable_sets()) {
        INFO("kernel set " << std::string(K->name));
        REQUIRE(bool(K->att_scores));
        REQUIRE(bool(K->att_values));
        for (int64_t hd : {64, 80, 128, 7}) {
            CAPTURE(hd);
            const int64_t nk = 77, nq = 5, kts = 96, qs = hd + 3;  // strides wider than the data
            std::vector<float> kt((size_t)(hd * kts)), q((size_t)(nq * qs)), v((size_t)(nk * qs)), p((size_t)(nq * nk));
            fill(kt), fill(q), fill(v), fill(p);
            std::vector<float> s_ref((size_t)(nq * nk)), s((size_t)(nq * nk)), o_ref((size_t)(nq * qs)), o((size_t)(nq * qs));
            ai::ref::att_scores(kt.data(), kts, nk, hd, q.data(), qs, nq, s_ref.data(), nk);
            K->att_scores(kt.data(), kts, nk, hd, q.data(), qs, nq, s.data(), nk);
            ai::ref::att_values(v.data(), qs, nk, hd, p.data(), nk, nq, o_ref.data(), qs);
            K->att_values(v.data(), qs, nk, hd, p.data(), nk, nq, o.data(), qs);
            int bad = 0;
            for (int64_t t = 0; t < nq; ++t) {
                for (int64_t k = 0; k < nk; ++k) {
                    double mag = 0;  // sum of |terms|: the rounding of any order is within ~hd ulp of it
                    for (int64_t d = 0; d < hd; ++d) mag += std::fabs((double)q[(size_t)(t * qs + d)] * kt[(size_t)(d * kts + k)]);
                    bad += std::fabs(s[(size_t)(t * nk + k)] - s_ref[(size_t)(t * nk + k)]) > 2e-5 * mag + 1e-30;
                }
                for (int64_t d = 0; d < hd; ++d) {
                    double mag = 0;
                    for (int64_t k = 0; k < nk; ++k) mag += std::fabs((double)p[(size_t)(t * nk + k)] * v[(size_t)(k * qs + d)]);
                    bad += std::fabs(o[(size_t)(t * qs + d)] - o_ref[(size_t)(t * qs + d)]) > 1e-5 * mag + 1e-30;
                }
            }
            CHECK(bad == 0);
            // query 3 alone, over its first 41 keys: the same bits as in the batch of 5 over 77
            std::vector<float> s1(41), o1((size_t)hd);
            K->att_scores(kt.data(), kts, 41, hd, q.data() + 3 * qs, qs, 1, s1.data(), 41);
            CHECK(std::memcmp(s1.data(), s.data() + 3 * nk, 41 * sizeof(float)) == 0);
            K->att_values(v.data(), qs, nk, hd, p.data() + 3 * nk, nk, 1, o1.data(), hd);
            CHECK(std::memcmp(o1.data(), o.data() + 3 * qs, (size_t)hd * sizeof(float)) == 0);
        }
    }
}

TEST_CASE("q16 activations: rounding, ref::mm_q16 against the float dot, kernel_set::mm_q16 against ref") {
    std::mt19937 rng(41);
    // quantize_act_q16: every element within half a step (d / 2) of the input; zeros stay zeros
    for (int64_t n : {32, 96, 2048}) {
        const std::vector<float> x = random_floats(rng, n);
        std::vector<uint8_t> q((size_t)(n / 32 * 68));
        ai::ref::quantize_act_q16(x.data(), q.data(), n);
        for (int64_t b = 0; b < n / 32; ++b) {
            float d, amax = 0;
            std::memcpy(&d, q.data() + b * 68, 4);
            for (int j = 0; j < 32; ++j) amax = std::max(amax, std::fabs(x[(size_t)(32 * b + j)]));
            CHECK(d == amax / 32767.0f);
            for (int j = 0; j < 32; ++j) {
                int16_t v;
                std::memcpy(&v, q.data() + b * 68 + 4 + 2 * j, 2);
                CHECK(std::fabs((double)v * d - x[(size_t)(32 * b + j)]) <= 0.51 * d);
            }
        }
    }
    std::vector<float> zeros(64, 0.0f);
    std::vector<uint8_t> zq(2 * 68, 0xAB);
    ai::ref::quantize_act_q16(zeros.data(), zq.data(), 64);
    for (int b = 0; b < 2; ++b)
        for (int j = 0; j < 68; ++j) CHECK(zq[(size_t)(b * 68 + j)] == 0);
    CHECK_FALSE(bool(ai::ref::mm_q16(tensor_type::q4_0)));

    int tested = 0;
    for (tensor_type t : {tensor_type::q8_0, tensor_type::q6_k}) {
        INFO("type " << std::string(ai::type_name(t)));
        const ai::mm_fn ref = ai::ref::mm_q16(t);
        REQUIRE(bool(ref));
        const int be = ai::type_info(t)->block_elems;
        for (int64_t n : {(int64_t)be, 3 * (int64_t)be, (int64_t)(2304 / be * be)}) {
            for (int64_t nr : {1, 3, 5, 17}) {
                for (int64_t nt : {1, 2, 5}) {
                    CAPTURE(n);
                    CAPTURE(nr);
                    CAPTURE(nt);
                    size_t wrow = 0;
                    REQUIRE(ai::type_row_bytes(t, n, &wrow));
                    const size_t arow = (size_t)(n / 32 * 68);
                    std::vector<uint8_t> w;
                    for (int64_t r = 0; r < nr; ++r) {
                        const std::vector<uint8_t> row = quantize(t, random_floats(rng, n));
                        w.insert(w.end(), row.begin(), row.end());
                    }
                    std::vector<uint8_t> a((size_t)nt * arow);
                    std::vector<std::vector<float>> xs;
                    for (int64_t k = 0; k < nt; ++k) {
                        xs.push_back(random_floats(rng, n));
                        ai::ref::quantize_act_q16(xs.back().data(), a.data() + k * arow, n);
                    }
                    const int64_t ys = nr + 2;
                    std::vector<float> yr((size_t)(nt * ys), -7.0f);
                    ref(w.data(), wrow, nr, a.data(), arow, nt, n, yr.data(), ys);
                    // ref against the float dot of the weights with the unrounded input: the rounding
                    // of the input moves each product by at most |w| * d_a / 2, the float sums by a few ulps
                    for (int64_t k = 0; k < nt; ++k)
                        for (int64_t r = 0; r < nr; ++r) {
                            const std::vector<double> dw = dequant(t, w.data() + r * wrow, n);
                            double exact = 0, mag = 0, step = 0;
                            for (int64_t i = 0; i < n; ++i) {
                                exact += dw[(size_t)i] * xs[(size_t)k][(size_t)i];
                                mag += std::fabs(dw[(size_t)i] * xs[(size_t)k][(size_t)i]);
                                float d;
                                std::memcpy(&d, a.data() + k * arow + (size_t)(i / 32) * 68, 4);
                                step += std::fabs(dw[(size_t)i]) * d * 0.5;
                            }
                            CHECK(std::fabs((double)yr[(size_t)(k * ys + r)] - exact) <= step + (double)(n / 32 + 4) * 2.5e-7 * mag + 1e-30);
                            CHECK(yr[(size_t)(k * ys + nr)] == -7.0f);
                        }
                    for (const ai::kernel_set* K : runnable_sets()) {
                        const ai::mm_fn mm = K->mm_q16 ? K->mm_q16((uint32_t)t) : nullptr;
                        if (!mm) continue;
                        INFO("kernel set " << std::string(K->name));
                        ++tested;
                        std::vector<float> y((size_t)(nt * ys), -7.0f);
                        mm(w.data(), wrow, nr, a.data(), arow, nt, n, y.data(), ys);
                        for (int64_t k = 0; k < nt; ++k) {
                            for (int64_t r = 0; r < nr; ++r) {
                                const std::vector<double> dw = dequant(t, w.data() + r * wrow, n);
                                double mag = 0;
                                for (int64_t i = 0; i < n; ++i) mag += std::fabs(dw[(size_t)i] * xs[(size_t)k][(size_t)i]);
                                CHECK(std::fabs((double)y[(size_t)(k * ys + r)] - yr[(size_t)(k * ys + r)]) <= (double)(n / 32 + 4) * 2.5e-7 * mag + 1e-30);
                                // one row and one token at a time: the same bits
                                float one = 0;
                                mm(w.data() + r * wrow, wrow, 1, a.data() + k * arow, arow, 1, n, &one, 1);
                                CHECK(std::memcmp(&one, &y[(size_t)(k * ys + r)], 4) == 0);
                            }
                            CHECK(y[(size_t)(k * ys + nr)] == -7.0f);
                            CHECK(y[(size_t)(k * ys + nr + 1)] == -7.0f);
                        }
                    }
                }
            }
        }
    }
    MESSAGE("mm_q16 kernels tested: " << tested);
}
