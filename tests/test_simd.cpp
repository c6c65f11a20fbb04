// Each ai::simd kernel against its ai::ref twin on the same inputs: odd sizes, tails, and
// magnitudes that would expose a dropped or doubled lane. This binary is built for one instruction
// set; the compile matrix and CI build it for several.
#include <doctest/doctest.h>

#include "ai.hpp"

#include <cmath>
#include <random>
#include <vector>

TEST_CASE("simd::dot_f32 matches ref::dot_f32 for every length 0..300") {
    INFO("simd arch: " << ai::simd::arch_name());
    std::mt19937 rng(7);
    std::normal_distribution<float> nd(0.0f, 1.0f);
    std::vector<float> a(300), b(300);
    for (int64_t n = 0; n <= 300; ++n) {
        CAPTURE(n);
        for (auto& x : a) x = nd(rng);
        for (auto& x : b) x = nd(rng);
        double exact = 0, mag = 0;
        for (int64_t i = 0; i < n; ++i) { exact += (double)a[i] * b[i]; mag += std::fabs((double)a[i] * b[i]); }
        const float r = ai::ref::dot_f32(a.data(), b.data(), n);
        const float s = ai::simd::dot_f32(a.data(), b.data(), n);
        // Both are float32 sums in different orders: each within a few ulps of the summed magnitude.
        const double tol = 1e-6 * (mag + 1.0) * 4;
        CHECK(std::fabs(r - exact) <= tol);
        CHECK(std::fabs(s - exact) <= tol);
    }
    // A single lane set: catches a kernel that ignores or repeats one lane or the tail.
    for (int64_t n : {1, 7, 8, 15, 16, 17, 33, 64, 65}) {
        for (int64_t k = 0; k < n; ++k) {
            std::vector<float> x((size_t)n, 0.0f), y((size_t)n, 1.0f);
            x[(size_t)k] = 3.0f;
            CHECK(ai::simd::dot_f32(x.data(), y.data(), n) == 3.0f);
        }
    }
}
