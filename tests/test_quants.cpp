// Tensor types and quantization: half/bfloat16 conversions, every type's quantize -> dequantize
// error, hand-built blocks that pin down each bit layout, and the checked entry points.
// The comparison with llama.cpp itself is tests/check_quants_peer.py (dequantization within
// 1 ulp, quantization error within 2%); these tests need no oracle.
#include <doctest/doctest.h>

#include "ai.hpp"

#include <cmath>
#include <cstdint>
#include <cstring>
#include <limits>
#include <random>
#include <string>
#include <vector>

#if (defined(__x86_64__) || defined(__i386__)) && (defined(__GNUC__) || defined(__clang__))
#include <cpuid.h>
#include <immintrin.h>
#define QT_HAVE_F16C_TARGET 1
// The F16C instructions are the reference for f32 <-> f16: compiled for F16C whatever -march says,
// and only called when the CPU (and the OS, which must save AVX state) supports them.
__attribute__((target("f16c"))) static uint16_t hw_f32_to_f16(float f) {
    return (uint16_t)_mm_cvtsi128_si32(_mm_cvtps_ph(_mm_set_ss(f), 0));  // 0: round to nearest even
}
__attribute__((target("f16c"))) static float hw_f16_to_f32(uint16_t h) {
    return _mm_cvtss_f32(_mm_cvtph_ps(_mm_cvtsi32_si128(h)));
}
static bool cpu_has_f16c() {
    unsigned a, b, c, d;
    if (!__get_cpuid(1, &a, &b, &c, &d)) return false;
    const bool f16c = (c >> 29) & 1, osxsave = (c >> 27) & 1, avx = (c >> 28) & 1;
    if (!f16c || !osxsave || !avx) return false;
    unsigned lo, hi;
    __asm__("xgetbv" : "=a"(lo), "=d"(hi) : "c"(0));
    return (lo & 6) == 6;  // XMM and YMM state enabled
}
#endif

namespace {

using ai::tensor_type;

std::string tname(tensor_type t) { return ai::type_name(t); }

uint32_t bits_of(float f) { uint32_t u; std::memcpy(&u, &f, 4); return u; }
float float_of(uint32_t u) { float f; std::memcpy(&f, &u, 4); return f; }

// Slow, obviously-correct value of a half: (-1)^s * 2^(e-15) * (1 + m/1024), or subnormal/inf/NaN.
double half_value(uint16_t h) {
    const int s = h >> 15, e = (h >> 10) & 31, m = h & 1023;
    double v;
    if (e == 31) v = m ? std::numeric_limits<double>::quiet_NaN() : std::numeric_limits<double>::infinity();
    else if (e == 0) v = std::ldexp(double(m), -24);
    else v = std::ldexp(double(1024 + m), e - 25);
    return s ? -v : v;
}

// Deterministic standard normal numbers (Box-Muller over mt19937, whose output the standard fixes).
struct gauss {
    std::mt19937 rng;
    explicit gauss(uint32_t seed) : rng(seed) {}
    float operator()() {
        const double u1 = (double(rng()) + 1.0) / 4294967297.0;  // (0, 1)
        const double u2 = double(rng()) / 4294967296.0;
        return float(std::sqrt(-2.0 * std::log(u1)) * std::cos(6.283185307179586 * u2));
    }
};

size_t row_bytes(tensor_type t, int64_t n) {
    size_t b = 0;
    REQUIRE(ai::type_row_bytes(t, n, &b));
    return b;
}

std::vector<unsigned char> quantize(tensor_type t, const std::vector<float>& x) {
    std::vector<unsigned char> q(row_bytes(t, int64_t(x.size())));
    const ai::status st = ai::quantize(t, x.data(), int64_t(x.size()), q.data(), q.size());
    REQUIRE_MESSAGE(st.ok(), st.message);
    return q;
}

std::vector<float> dequantize(tensor_type t, const std::vector<unsigned char>& q, int64_t n) {
    std::vector<float> y(size_t(n), -12345.0f);
    const ai::status st = ai::dequantize(t, q.data(), q.size(), y.data(), n);
    REQUIRE_MESSAGE(st.ok(), st.message);
    return y;
}

std::vector<float> round_trip(tensor_type t, const std::vector<float>& x) {
    return dequantize(t, quantize(t, x), int64_t(x.size()));
}

// Accumulates squared error and squared signal.
struct err_acc {
    double se = 0, ss = 0;
    void add(const float* x, const float* y, size_t n) {
        for (size_t i = 0; i < n; ++i) {
            const double d = double(x[i]) - double(y[i]);
            se += d * d;
            ss += double(x[i]) * double(x[i]);
        }
    }
    double rel() const { return ss > 0 ? std::sqrt(se / ss) : std::sqrt(se); }
};

struct type_case {
    tensor_type type;
    int block;         // elements per block
    double max_row;    // bound on any one row's relative RMSE (Gaussian data)
    double max_total;  // bound on the relative RMSE over all rows of the test
};

// Measured with this implementation (byte-identical to llama.cpp's reference quantizers) on the
// rows of the "round trip" test, worst row / all rows: F16 2.35e-4/2.08e-4, BF16 1.89e-3/1.66e-3,
// Q4_0 .111/.085, Q4_1 .101/.077, Q5_0 .054/.042, Q5_1 .048/.037, Q8_0 and Q8_1 .0071/.0053,
// Q2_K .336/.296, Q3_K .162/.150, Q4_K .078/.071, Q5_K .040/.036, Q6_K .026/.0177,
// Q8_K .0093/.0069, IQ4_NL .104/.076. Row bounds have 15% margin, the totals 5%; a kernel with a
// wrong bit layout lands near 1.0.
const type_case cases[] = {
    {tensor_type::f16, 1, 2.7e-4, 2.2e-4},
    {tensor_type::bf16, 1, 2.2e-3, 1.75e-3},
    {tensor_type::q4_0, 32, 0.128, 0.089},
    {tensor_type::q4_1, 32, 0.116, 0.081},
    {tensor_type::q5_0, 32, 0.062, 0.0445},
    {tensor_type::q5_1, 32, 0.055, 0.039},
    {tensor_type::q8_0, 32, 0.0081, 0.0056},
    {tensor_type::q8_1, 32, 0.0081, 0.0056},
    {tensor_type::q2_k, 256, 0.387, 0.311},
    {tensor_type::q3_k, 256, 0.186, 0.158},
    {tensor_type::q4_k, 256, 0.090, 0.0746},
    {tensor_type::q5_k, 256, 0.046, 0.0376},
    {tensor_type::q6_k, 256, 0.0297, 0.0186},
    {tensor_type::q8_k, 256, 0.0107, 0.0072},
    {tensor_type::iq4_nl, 32, 0.119, 0.0794},
};

}  // namespace

// ================================================================================================
// Half precision and bfloat16
// ================================================================================================

TEST_CASE("f16: every half converts to its exact value and back") {
    int nan_count = 0;
    for (uint32_t h = 0; h < 65536; ++h) {
        const float f = ai::f16_to_f32(uint16_t(h));
        const double expect = half_value(uint16_t(h));
        if (std::isnan(expect)) {
            ++nan_count;
            REQUIRE(std::isnan(f));
            REQUIRE(std::signbit(f) == bool(h & 0x8000));
            REQUIRE((ai::f32_to_f16(f) & 0x7E00) == 0x7E00);  // still a (quiet) NaN as a half
            continue;
        }
        REQUIRE(double(f) == expect);
        REQUIRE(std::signbit(f) == bool(h & 0x8000));  // -0 stays -0
        REQUIRE(ai::f32_to_f16(f) == h);
    }
    CHECK(nan_count == 2 * 1023);
}

TEST_CASE("f16: f32 -> f16 rounds to nearest, ties to even, at every rounding boundary") {
    // For each pair of neighbouring positive halves a < b, the float midpoint must go to the
    // even one, and the floats just below / above it to a / b. Covers normals, subnormals, the
    // subnormal/normal border and the overflow threshold (65504 < x < 65520 -> 65504).
    for (uint32_t h = 0; h < 0x7C00; ++h) {
        const float a = ai::f16_to_f32(uint16_t(h));
        const float b = h + 1 < 0x7C00 ? ai::f16_to_f32(uint16_t(h + 1)) : 65536.0f;  // next would-be step
        const float mid = float((double(a) + double(b)) / 2);                          // exact
        const uint16_t even = (h & 1) ? uint16_t(h + 1) : uint16_t(h);
        const uint16_t up = h + 1 < 0x7C00 ? uint16_t(h + 1) : uint16_t(0x7C00);
        REQUIRE(ai::f32_to_f16(mid) == (h + 1 < 0x7C00 ? even : uint16_t(0x7C00)));
        REQUIRE(ai::f32_to_f16(std::nextafter(mid, 0.0f)) == h);
        REQUIRE(ai::f32_to_f16(std::nextafter(mid, 1e30f)) == up);
        REQUIRE(ai::f32_to_f16(-mid) == uint16_t((h + 1 < 0x7C00 ? even : 0x7C00) | 0x8000));
    }
    CHECK(ai::f32_to_f16(65519.996f) == 0x7BFF);
    CHECK(ai::f32_to_f16(65520.0f) == 0x7C00);
    CHECK(ai::f32_to_f16(1e30f) == 0x7C00);
    CHECK(ai::f32_to_f16(-std::numeric_limits<float>::infinity()) == 0xFC00);
    CHECK(ai::f32_to_f16(std::ldexp(1.0f, -25)) == 0x0000);                         // tie to even 0
    CHECK(ai::f32_to_f16(std::nextafter(std::ldexp(1.0f, -25), 1.0f)) == 0x0001);
    CHECK(ai::f32_to_f16(std::numeric_limits<float>::denorm_min()) == 0x0000);
    CHECK(ai::f32_to_f16(-std::numeric_limits<float>::denorm_min()) == 0x8000);
    CHECK(ai::f32_to_f16(float_of(0x7FC00000)) == 0x7E00);  // NaN stays NaN, quiet
    CHECK(ai::f32_to_f16(float_of(0xFF800001)) == 0xFE00);  // signalling NaN with a low payload
    CHECK(ai::f32_to_f16(float_of(0x7FA00000)) == 0x7F00);  // payload's top bits kept
}

#ifdef QT_HAVE_F16C_TARGET
TEST_CASE("f16: conversions equal the F16C instructions bit for bit") {
    if (!cpu_has_f16c()) {
        MESSAGE("CPU has no F16C; skipped");
        return;
    }
    for (uint32_t h = 0; h < 65536; ++h) {
        REQUIRE(bits_of(ai::f16_to_f32(uint16_t(h))) == bits_of(hw_f16_to_f32(uint16_t(h))));
    }
    // Every float bit pattern would be 4.3e9 cases; a prime stride visits every exponent, sign and
    // NaN class and ~1M mantissas, and a second pass walks densely through the half range.
    uint64_t checked = 0;
    for (uint64_t u = 0; u <= 0xFFFFFFFFull; u += 4099) {
        const float f = float_of(uint32_t(u));
        REQUIRE(ai::f32_to_f16(f) == hw_f32_to_f16(f));
        ++checked;
    }
    for (uint32_t u = 0x33000000u - 64; u < 0x47800000u + 64; u += 61) {
        const float f = float_of(u);
        REQUIRE(ai::f32_to_f16(f) == hw_f32_to_f16(f));
        REQUIRE(ai::f32_to_f16(-f) == hw_f32_to_f16(-f));
        ++checked;
    }
    CHECK(checked > 1000000);
}
#endif

TEST_CASE("bf16: rounding, overflow, NaN") {
    CHECK(ai::f32_to_bf16(1.0f) == 0x3F80);
    CHECK(ai::f32_to_bf16(-2.0f) == 0xC000);
    CHECK(ai::f32_to_bf16(float_of(0x3F808000)) == 0x3F80);  // tie, even below
    CHECK(ai::f32_to_bf16(float_of(0x3F818000)) == 0x3F82);  // tie, even above
    CHECK(ai::f32_to_bf16(float_of(0x3F807FFF)) == 0x3F80);
    CHECK(ai::f32_to_bf16(float_of(0x3F808001)) == 0x3F81);
    CHECK(ai::f32_to_bf16(float_of(0x7F7FFFFF)) == 0x7F80);  // FLT_MAX rounds up to inf
    CHECK(ai::f32_to_bf16(float_of(0x7F7F7FFF)) == 0x7F7F);
    CHECK(ai::f32_to_bf16(std::numeric_limits<float>::infinity()) == 0x7F80);
    CHECK(ai::f32_to_bf16(-std::numeric_limits<float>::infinity()) == 0xFF80);
    CHECK(ai::f32_to_bf16(float_of(0x00008000)) == 0x0000);  // subnormal tie -> even zero
    CHECK(ai::f32_to_bf16(float_of(0x00018000)) == 0x0002);
    CHECK(ai::f32_to_bf16(float_of(0x80000000)) == 0x8000);
    // NaN: top 16 bits with the quiet bit forced (ggml's rule), never rounded into inf.
    CHECK(ai::f32_to_bf16(float_of(0x7F800001)) == 0x7FC0);
    CHECK(ai::f32_to_bf16(float_of(0xFFFFFFFF)) == 0xFFFF);
    CHECK(ai::f32_to_bf16(float_of(0x7F81FFFF)) == 0x7FC1);
    for (uint32_t h = 0; h < 65536; ++h) {
        const float f = ai::bf16_to_f32(uint16_t(h));
        REQUIRE(bits_of(f) == h << 16);
        if (!std::isnan(f)) REQUIRE(ai::f32_to_bf16(f) == h);
    }
}

// ================================================================================================
// Quantize -> dequantize error
// ================================================================================================

TEST_CASE("quantize then dequantize: error within each type's bound") {
    for (const type_case& c : cases) {
        INFO("type ", tname(c.type));
        const int blk = c.block == 1 ? 256 : c.block;
        err_acc total;
        double worst = 0;
        for (uint32_t seed = 0; seed < 20; ++seed) {
            for (double scale : {1e-3, 1.0, 1e3}) {
                for (int nb : {1, 2, 7}) {
                    gauss g(seed * 1000 + uint32_t(nb));
                    std::vector<float> x(size_t(nb * blk));
                    for (float& v : x) v = float(g() * scale);
                    const std::vector<float> y = round_trip(c.type, x);
                    err_acc row;
                    row.add(x.data(), y.data(), x.size());
                    total.add(x.data(), y.data(), x.size());
                    worst = std::max(worst, row.rel());
                }
            }
        }
        CHECK(worst < c.max_row);
        CHECK(total.rel() < c.max_total);
    }
}

TEST_CASE("quantize: a zero row gives exact zeros, and an all-zero block for the K-quants") {
    for (const type_case& c : cases) {
        INFO("type ", tname(c.type));
        const int blk = c.block == 1 ? 256 : c.block;
        const std::vector<float> x(size_t(2 * blk), 0.0f);
        const std::vector<unsigned char> q = quantize(c.type, x);
        const std::vector<float> y = dequantize(c.type, q, int64_t(x.size()));
        for (float v : y) REQUIRE(v == 0.0f);
        if (c.type == tensor_type::q2_k || c.type == tensor_type::q3_k || c.type == tensor_type::q4_k ||
            c.type == tensor_type::q5_k || c.type == tensor_type::q6_k || c.type == tensor_type::q8_k) {
            for (unsigned char b : q) REQUIRE(b == 0);  // d = 0 included
        }
    }
    // The classic types: d (the first f16) is zero (Q4_0 and Q5_0 give -0, as llama.cpp does).
    for (tensor_type t : {tensor_type::q4_0, tensor_type::q4_1, tensor_type::q5_0, tensor_type::q5_1,
                          tensor_type::q8_0, tensor_type::q8_1, tensor_type::iq4_nl}) {
        INFO("type ", tname(t));
        const std::vector<unsigned char> q = quantize(t, std::vector<float>(32, 0.0f));
        CHECK(ai::f16_to_f32(uint16_t(q[0] | q[1] << 8)) == 0.0f);
    }
}

TEST_CASE("quantize: one huge outlier is kept and does not disturb the other blocks") {
    for (const type_case& c : cases) {
        INFO("type ", tname(c.type));
        const int blk = c.block == 1 ? 256 : c.block;
        gauss g(77);
        std::vector<float> x(size_t(7 * blk));
        for (float& v : x) v = g();
        const size_t at = size_t(3 * blk + 5);
        x[at] = 1000.0f;
        const std::vector<float> y = round_trip(c.type, x);
        // The outlier sets its block's scale, so it comes back to within a few percent (Q2_K has
        // 4 levels and 4-bit scales: worst).
        CHECK(std::fabs(y[at] - 1000.0f) < 1000.0f * (c.type == tensor_type::q2_k ? 0.1f : 0.03f));
        err_acc others;
        for (int b = 0; b < 7; ++b) {
            if (b == 3) continue;
            others.add(x.data() + b * blk, y.data() + b * blk, size_t(blk));
        }
        CHECK(others.rel() < c.max_row);
        for (float v : y) REQUIRE(std::isfinite(v));
    }
}

TEST_CASE("quantize: blocks are independent, results deterministic, buffers need no alignment") {
    for (const type_case& c : cases) {
        INFO("type ", tname(c.type));
        const int blk = c.block == 1 ? 256 : c.block;
        gauss g(5);
        std::vector<float> x(size_t(7 * blk));
        for (float& v : x) v = g() * 0.1f;
        const std::vector<unsigned char> whole = quantize(c.type, x);
        CHECK(quantize(c.type, x) == whole);
        const size_t bb = row_bytes(c.type, blk);
        for (int b = 0; b < 7; ++b) {
            const std::vector<float> one(x.begin() + b * blk, x.begin() + (b + 1) * blk);
            const std::vector<unsigned char> q = quantize(c.type, one);
            REQUIRE(std::memcmp(q.data(), whole.data() + b * bb, bb) == 0);
        }
        // Misaligned source, destination and float buffers (UBSan/ASan would flag a bad access).
        std::vector<unsigned char> qbuf(whole.size() + 3);
        std::vector<float> xbuf(x.size() + 1), ybuf(x.size() + 1), y = dequantize(c.type, whole, int64_t(x.size()));
        std::memcpy(xbuf.data() + 1, x.data(), x.size() * 4);
        REQUIRE(ai::quantize(c.type, xbuf.data() + 1, int64_t(x.size()), qbuf.data() + 3, whole.size()).ok());
        CHECK(std::memcmp(qbuf.data() + 3, whole.data(), whole.size()) == 0);
        REQUIRE(ai::dequantize(c.type, qbuf.data() + 3, whole.size(), ybuf.data() + 1, int64_t(x.size())).ok());
        CHECK(std::memcmp(ybuf.data() + 1, y.data(), y.size() * 4) == 0);
    }
}

TEST_CASE("quantize: NaN and infinity in the input are safe and stay in their block") {
    const float bad[] = {std::numeric_limits<float>::quiet_NaN(), std::numeric_limits<float>::infinity(),
                         -std::numeric_limits<float>::infinity(), std::numeric_limits<float>::max()};
    for (const type_case& c : cases) {
        INFO("type ", tname(c.type));
        const int blk = c.block == 1 ? 256 : c.block;
        gauss g(9);
        std::vector<float> x(size_t(3 * blk));
        for (float& v : x) v = g();
        const std::vector<unsigned char> clean = quantize(c.type, x);
        const size_t bb = row_bytes(c.type, blk);
        for (float b : bad) {
            std::vector<float> xb = x;
            xb[size_t(blk + 3)] = b;
            const std::vector<unsigned char> q = quantize(c.type, xb);  // no crash, no UB (sanitizers)
            CHECK(std::memcmp(q.data(), clean.data(), bb) == 0);
            CHECK(std::memcmp(q.data() + 2 * bb, clean.data() + 2 * bb, bb) == 0);
            (void)dequantize(c.type, q, int64_t(xb.size()));
        }
    }
}

TEST_CASE("quantize: values on the grid survive exactly") {
    // Q8_0 / Q8_1 / Q8_K: integers -127..127 times a power of two.
    std::vector<float> x(256);
    for (int i = 0; i < 256; ++i) x[size_t(i)] = float((i * 37) % 255 - 127) * 0.25f;
    for (int i = 0; i < 256; i += 32) x[size_t(i)] = -127 * 0.25f;  // every block holds the extreme
    for (tensor_type t : {tensor_type::q8_0, tensor_type::q8_1, tensor_type::q8_k, tensor_type::f16, tensor_type::bf16}) {
        INFO("type ", tname(t));
        CHECK(round_trip(t, x) == x);
    }
    // Q4_0: levels -8..7 of d = 0.5, with -8 present so that d = max / -8 exactly.
    std::vector<float> x4(64);
    for (int i = 0; i < 64; ++i) x4[size_t(i)] = float(i % 16 - 8) * 0.5f;
    CHECK(round_trip(tensor_type::q4_0, x4) == x4);
    std::vector<float> x5(64);
    for (int i = 0; i < 64; ++i) x5[size_t(i)] = float(i % 32 - 16) * 0.125f;
    CHECK(round_trip(tensor_type::q5_0, x5) == x5);
}

TEST_CASE("quantize: the bytes are stable (regression hashes)") {
    // FNV-1a of each type's quantization of a fixed pseudo-random row (integer arithmetic and exact
    // float operations only, so every platform builds the same input). Every value except Q8_1's
    // is the hash of llama.cpp's own bytes for this row (llama_oracle quantize of a model holding
    // it; Q8_K from the numpy formula of check_quants_peer.py). A change here changes the files we
    // write: run tests/check_quants_peer.py before updating a value.
    std::vector<float> x(1024);
    uint64_t s = 0x9E3779B97F4A7C15ull;
    for (float& v : x) {
        float sum = 0;
        for (int k = 0; k < 4; ++k) {  // Irwin-Hall: a sum of 4 uniforms is close to Gaussian
            s = s * 6364136223846793005ull + 1442695040888963407ull;
            sum += float(s >> 40) / 16777216.0f - 0.5f;
        }
        v = sum * 0.05f;
    }
    x[100] = 0.9f;  // an outlier
    const struct { tensor_type t; uint64_t h; } expect[] = {
        {tensor_type::f16, 11925846413923216703ull},
        {tensor_type::bf16, 13259261832535280060ull},
        {tensor_type::q4_0, 3468418024068756484ull},
        {tensor_type::q4_1, 5370496771934619901ull},
        {tensor_type::q5_0, 4469956939429517335ull},
        {tensor_type::q5_1, 15395960408644906657ull},
        {tensor_type::q8_0, 17925787855938684484ull},
        {tensor_type::q8_1, 12835896118246404708ull},
        {tensor_type::q2_k, 12951637635960577628ull},
        {tensor_type::q3_k, 4549878781208061512ull},
        {tensor_type::q4_k, 13772592216544657565ull},
        {tensor_type::q5_k, 7040261259924787175ull},
        {tensor_type::q6_k, 5216483261717380840ull},
        {tensor_type::q8_k, 1963327443320791675ull},
        {tensor_type::iq4_nl, 13839040359017521792ull},
    };
    for (const auto& e : expect) {
        INFO("type ", tname(e.t));
        uint64_t h = 1469598103934665603ull;
        for (unsigned char b : quantize(e.t, x)) h = (h ^ b) * 1099511628211ull;
        CHECK(h == e.h);
    }
}

// ================================================================================================
// Hand-built blocks: each layout's bit positions
// ================================================================================================

namespace {
bool has_kernels(tensor_type t, bool to_float) {
    return to_float ? ai::ref::to_float(t) != nullptr : ai::ref::from_float(t) != nullptr;
}
void put16(std::vector<unsigned char>& b, size_t at, uint16_t v) { std::memcpy(&b[at], &v, 2); }
std::vector<float> deq(tensor_type t, const std::vector<unsigned char>& b) {
    const ai::type_traits* ti = ai::type_info(t);
    REQUIRE(ti != nullptr);
    REQUIRE(int64_t(b.size()) == ti->block_bytes);
    return dequantize(t, b, ti->block_elems);
}
}  // namespace

TEST_CASE("layout: Q4_0, Q4_1, Q5_0, Q5_1, Q8_0, Q8_1, IQ4_NL") {
    SUBCASE("Q4_0: d, then element j in the low nibble of qs[j], j+16 in the high nibble") {
        std::vector<unsigned char> b(18, 0x88);  // every q = 8 -> 0
        put16(b, 0, 0x3800);                      // d = 0.5
        b[2 + 3] = 0xA2;
        const std::vector<float> y = deq(tensor_type::q4_0, b);
        CHECK(y[3] == -3.0f);   // (2 - 8) * 0.5
        CHECK(y[19] == 1.0f);   // (10 - 8) * 0.5
        CHECK(y[4] == 0.0f);
    }
    SUBCASE("Q4_1: d, m, nibbles; x = q*d + m") {
        std::vector<unsigned char> b(20, 0);
        put16(b, 0, 0x3400);  // d = 0.25
        put16(b, 2, 0xBC00);  // m = -1
        b[4 + 0] = 0xF0;
        const std::vector<float> y = deq(tensor_type::q4_1, b);
        CHECK(y[0] == -1.0f);
        CHECK(y[16] == 2.75f);
        CHECK(y[1] == -1.0f);
    }
    SUBCASE("Q5_0: bit j of qh is the fifth bit of element j") {
        std::vector<unsigned char> b(22, 0);
        put16(b, 0, 0x3C00);             // d = 1
        const uint32_t qh = 1u << 5 | 1u << 21;
        std::memcpy(&b[2], &qh, 4);
        b[6 + 5] = 0x31;
        const std::vector<float> y = deq(tensor_type::q5_0, b);
        CHECK(y[5] == 1.0f);     // (1 | 16) - 16
        CHECK(y[21] == 3.0f);    // (3 | 16) - 16
        CHECK(y[6] == -16.0f);   // 0 - 16
    }
    SUBCASE("Q5_1: d, m, qh, qs") {
        std::vector<unsigned char> b(24, 0);
        put16(b, 0, 0x4000);  // d = 2
        put16(b, 2, 0x3800);  // m = 0.5
        const uint32_t qh = 1u << 31;
        std::memcpy(&b[4], &qh, 4);
        b[8 + 15] = 0x70;
        const std::vector<float> y = deq(tensor_type::q5_1, b);
        CHECK(y[31] == 46.5f);  // (7 | 16) * 2 + 0.5
        CHECK(y[15] == 0.5f);
    }
    SUBCASE("Q8_0 and Q8_1: int8 times d") {
        std::vector<unsigned char> b(34, 0);
        put16(b, 0, 0x3000);  // d = 0.125
        b[2 + 7] = (unsigned char)int8_t(-100);
        CHECK(deq(tensor_type::q8_0, b)[7] == -12.5f);
        std::vector<unsigned char> c(36, 0);
        put16(c, 0, 0x3000);
        put16(c, 2, 0x4900);  // s (unused by dequantization)
        c[4 + 31] = 127;
        const std::vector<float> y = deq(tensor_type::q8_1, c);
        CHECK(y[31] == 15.875f);
        CHECK(y[0] == 0.0f);
    }
    SUBCASE("IQ4_NL: nibbles index the non-linear table") {
        std::vector<unsigned char> b(18, 0x88);  // index 8 = level 1
        put16(b, 0, 0x3800);                      // d = 0.5
        b[2 + 4] = 0x0F;
        const std::vector<float> y = deq(tensor_type::iq4_nl, b);
        CHECK(y[4] == 56.5f);    // 0.5 * 113
        CHECK(y[20] == -63.5f);  // 0.5 * -127
        CHECK(y[0] == 0.5f);     // 0.5 * 1
    }
}

TEST_CASE("layout: Q2_K") {
    std::vector<unsigned char> b(84, 0);
    put16(b, 80, 0x3C00);  // d = 1
    put16(b, 82, 0x3800);  // dmin = 0.5
    // element 200 = 128*1 + 32*2 + 8: bits 4..5 of qs[32 + 8]; sub-block 12
    b[16 + 40] = 3 << 4;
    b[12] = 3 << 4 | 5;  // min 3, scale 5
    // element 7 = 128*0 + 32*0 + 7: bits 0..1 of qs[7]; sub-block 0
    b[16 + 7] = 2;
    b[0] = 0 << 4 | 9;
    const std::vector<float> y = deq(tensor_type::q2_k, b);
    CHECK(y[200] == 13.5f);  // 5*3 - 0.5*3
    CHECK(y[201] == -1.5f);  // same sub-block, q = 0
    CHECK(y[7] == 18.0f);    // 9*2 - 0
    CHECK(y[39] == 0.0f);    // element 39 = 32*1 + 7 reads bits 2..3 of qs[7]: 0
}

TEST_CASE("layout: Q3_K") {
    std::vector<unsigned char> b(110, 0);
    put16(b, 108, 0x3800);  // d = 0.5
    // Scale 12 = 39 (i.e. +7): low 4 bits in the high nibble of scales[4], high 2 bits at bits
    // 6..7 of scales[8]. All other scales: 0 -> -32.
    b[96 + 4] = 0x70;
    b[96 + 8] = 0x80;
    // element 200 = 128 + 64 + 8: low bits at bits 4..5 of qs[40] = 2, third bit = bit 6 of hmask[8]
    b[32 + 40] = 2 << 4;
    b[8] = 1 << 6;
    const std::vector<float> y = deq(tensor_type::q3_k, b);
    CHECK(y[200] == 7.0f);    // 0.5*7 * (2 + 4 - 4)
    CHECK(y[201] == -14.0f);  // hmask bit clear, low 0: q = -4
    CHECK(y[0] == 64.0f);     // scale -32, q = -4: 0.5*-32*-4
}

TEST_CASE("layout: Q4_K and Q5_K") {
    std::vector<unsigned char> b(144, 0);
    put16(b, 0, 0x3400);  // d = 0.25
    put16(b, 2, 0x3800);  // dmin = 0.5
    unsigned char* sc = &b[4];
    // sub-block 6 (j >= 4): sc = 37 = 0b10'0101, m = 18 = 0b01'0010
    sc[10] = 0x25;        // low nibbles of scale and min
    sc[2] = 2 << 6;       // top bits of the scale
    sc[6] = 1 << 6;       // top bits of the min
    // sub-block 1 (j < 4): scale 11, min 3 in the low 6 bits of scales[1] / scales[5]
    sc[1] = 11;
    sc[5] = 3;
    unsigned char* qs = &b[16];
    qs[32 * 3 + 8] = 9;        // element 200 = 64*3 + 8: low nibble
    qs[8] = 0x50;              // element 40 = 32 + 8: high nibble of qs[8]
    qs[9] = 0x60;              // element 41
    const std::vector<float> y = deq(tensor_type::q4_k, b);
    CHECK(y[200] == 74.25f);   // 0.25*37*9 - 0.5*18
    CHECK(y[40] == 12.25f);    // 0.25*11*5 - 0.5*3
    CHECK(y[41] == 15.0f);     // 0.25*11*6 - 0.5*3
    CHECK(y[8] == 0.0f);

    // Q5_K: the same plus qh; the fifth bit of element 32*j + l is bit j of qh[l].
    std::vector<unsigned char> c(176, 0);
    std::memcpy(&c[0], &b[0], 16);
    std::memcpy(&c[48], &b[16], 128);
    c[16 + 8] = 1 << 6;  // element 200 (sub-block 6)
    c[16 + 9] = 1 << 1;  // element 41 (sub-block 1)
    const std::vector<float> z = deq(tensor_type::q5_k, c);
    CHECK(z[200] == 222.25f);  // 0.25*37*(9 + 16) - 9
    CHECK(z[40] == 12.25f);    // no fifth bit
    CHECK(z[41] == 59.0f);     // 0.25*11*(6 + 16) - 1.5
    CHECK(z[8] == 0.0f);       // sub-block 0 has scale 0 and min 0
}

TEST_CASE("layout: Q6_K") {
    std::vector<unsigned char> b(210, 0);
    put16(b, 208, 0x3800);                       // d = 0.5
    int8_t* scales = reinterpret_cast<int8_t*>(&b[192]);
    scales[12] = -3;
    scales[4] = 2;
    // element 200 = 128 + 32*2 + 8: low nibble = high nibble of ql[64 + 8], high 2 bits = bits 4..5
    // of qh[32 + 8]
    b[64 + 8] = 0xB0;
    b[128 + 32 + 8] = 2 << 4;
    // element 72 = 32*2 + 8 (first half): high nibble of ql[8] and bits 4..5 of qh[8]
    b[8] = 0x40;
    b[128 + 8] = 3 << 4;
    const std::vector<float> y = deq(tensor_type::q6_k, b);
    CHECK(y[200] == -16.5f);  // 0.5 * -3 * ((11 | 2<<4) - 32)
    CHECK(y[72] == 20.0f);    // 0.5 * 2 * ((4 | 3<<4) - 32)
    CHECK(y[73] == -32.0f);   // same sub-block, q = 0
    CHECK(y[8] == 0.0f);      // scale 0
}

TEST_CASE("layout: Q8_K, F16, BF16, F32") {
    std::vector<unsigned char> b(292, 0);
    const float d = 0.5f;
    std::memcpy(&b[0], &d, 4);
    b[4 + 255] = (unsigned char)int8_t(-128);
    b[4 + 0] = 3;
    std::vector<float> y = deq(tensor_type::q8_k, b);
    CHECK(y[255] == -64.0f);
    CHECK(y[0] == 1.5f);
    // Q8_K's bsums hold the group sums
    std::vector<float> x(256, 0.0f);
    for (int i = 0; i < 256; ++i) x[size_t(i)] = float(i % 7) - 3.0f;
    const std::vector<unsigned char> q = quantize(tensor_type::q8_k, x);
    for (int g = 0; g < 16; ++g) {
        int sum = 0;
        for (int l = 0; l < 16; ++l) sum += int8_t(q[size_t(4 + 16 * g + l)]);
        int16_t stored;
        std::memcpy(&stored, &q[size_t(4 + 256 + 2 * g)], 2);
        CHECK(stored == sum);
    }

    std::vector<unsigned char> h(8);
    put16(h, 0, 0x3C00);
    put16(h, 2, 0xC000);
    put16(h, 4, 0x0001);
    put16(h, 6, 0x7BFF);
    y = dequantize(tensor_type::f16, h, 4);
    CHECK(y == std::vector<float>{1.0f, -2.0f, std::ldexp(1.0f, -24), 65504.0f});
    put16(h, 0, 0x3F80);
    put16(h, 2, 0xC2F7);
    y = dequantize(tensor_type::bf16, h, 4);
    CHECK(y[0] == 1.0f);
    CHECK(y[1] == -123.5f);
    const float f[2] = {1.5f, -0.0f};
    std::vector<unsigned char> fb(8);
    std::memcpy(fb.data(), f, 8);
    y = dequantize(tensor_type::f32, fb, 2);
    CHECK(bits_of(y[0]) == bits_of(1.5f));
    CHECK(bits_of(y[1]) == 0x80000000u);
}

// ================================================================================================
// Checked entry points and the kernel tables
// ================================================================================================

TEST_CASE("quantize/dequantize: wrong sizes and types are rejected before anything is touched") {
    std::vector<float> x(64, 1.0f), y(64, 7.0f);
    std::vector<unsigned char> q(36, 0xAB);
    // not a whole number of blocks
    ai::status st = ai::quantize(tensor_type::q4_0, x.data(), 33, q.data(), q.size());
    CHECK(st.code == ai::result::invalid_argument);
    CHECK(st.message[0] != 0);
    st = ai::dequantize(tensor_type::q4_k, q.data(), q.size(), y.data(), 32);
    CHECK(st.code == ai::result::invalid_argument);
    // destination too small: 64 Q4_0 elements need 36 bytes
    st = ai::quantize(tensor_type::q4_0, x.data(), 64, q.data(), 35);
    CHECK(st.code == ai::result::invalid_argument);
    for (unsigned char c : q) REQUIRE(c == 0xAB);
    // source too small
    st = ai::dequantize(tensor_type::q4_0, q.data(), 35, y.data(), 64);
    CHECK(st.code == ai::result::invalid_argument);
    for (float v : y) REQUIRE(v == 7.0f);
    // negative count
    CHECK(ai::quantize(tensor_type::f32, x.data(), -4, q.data(), q.size()).code == ai::result::invalid_argument);
    // a type without kernels
    CHECK(ai::quantize(tensor_type::iq2_xxs, x.data(), 256, q.data(), q.size()).code == ai::result::unsupported);
    CHECK(ai::dequantize(tensor_type::iq2_xxs, q.data(), q.size(), y.data(), 256).code == ai::result::unsupported);
    // exact sizes work; zero elements is a no-op
    CHECK(ai::quantize(tensor_type::q4_0, x.data(), 64, q.data(), 36).ok());
    CHECK(ai::dequantize(tensor_type::q4_0, q.data(), 36, y.data(), 64).ok());
    CHECK(y == x);
    CHECK(ai::quantize(tensor_type::q8_0, x.data(), 0, q.data(), 0).ok());
}

TEST_CASE("ref kernel tables: every implemented type has both directions, others none") {
    for (const type_case& c : cases) {
        INFO("type ", tname(c.type));
        CHECK(has_kernels(c.type, true));
        CHECK(has_kernels(c.type, false));
        const ai::type_traits* ti = ai::type_info(c.type);
        REQUIRE(ti != nullptr);
        CHECK(ti->can_dequantize);
        CHECK(ti->can_quantize);
        CHECK(ti->block_elems == c.block);
    }
    CHECK(has_kernels(tensor_type::f32, true));
    for (tensor_type t : {tensor_type::iq2_xxs, tensor_type::iq4_xs, tensor_type::i8, tensor_type::f64,
                          tensor_type::tq1_0, tensor_type::mxfp4, tensor_type(4), tensor_type(1000)}) {
        CHECK_FALSE(has_kernels(t, true));
        CHECK_FALSE(has_kernels(t, false));
    }
    // The table entry is the kernel ai::dequantize runs.
    std::vector<unsigned char> b(144);
    for (size_t i = 0; i < b.size(); ++i) b[i] = (unsigned char)(i * 29 + 3);
    put16(b, 0, 0x2E66);
    put16(b, 2, 0x2A66);
    std::vector<float> a(256), r(256);
    ai::ref::to_float(tensor_type::q4_k)(b.data(), a.data(), 256);
    REQUIRE(ai::dequantize(tensor_type::q4_k, b.data(), b.size(), r.data(), 256).ok());
    CHECK(std::memcmp(a.data(), r.data(), 256 * 4) == 0);
}
