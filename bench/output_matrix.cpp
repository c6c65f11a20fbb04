// The output (logits) matrix's decode kernels, per kernel set this CPU runs: the float path
// (kernel_set::mm_dequant, weights dequantized in registers) against 16-bit input
// (kernel_set::mm_q16), one thread, one token, GB/s of weights read (median and min-max of REPS
// passes over random weights), and the largest difference between the two paths' outputs.
//
//   cmake --build build-bench --target ai_cli      # builds build-bench/libai_dispatch.a
//   c++ -std=c++17 -O2 -DAI_DISPATCH -I. bench/output_matrix.cpp build-bench/libai_dispatch.a -pthread -o /tmp/output_matrix
//   /tmp/output_matrix [ROWS COLS [q8_0|q6_k [REPS]]]   # default 151936 896 q8_0 9 (Qwen2.5-0.5B's tied output)
#define AI_IMPLEMENTATION
#include "ai.hpp"
#include <chrono>
#include <cstdio>
#include <random>
#include <vector>
#include <algorithm>
#include <cstring>
using namespace ai;
int main(int argc, char** argv) {
    const int64_t rows = argc > 1 ? atoll(argv[1]) : 151936, cols = argc > 2 ? atoll(argv[2]) : 896;
    const tensor_type t = argc > 3 && std::string(argv[3]) == "q6_k" ? tensor_type::q6_k : tensor_type::q8_0;
    const int reps = argc > 4 ? atoi(argv[4]) : 9;
    size_t rb = 0; type_row_bytes(t, cols, &rb);
    std::vector<uint8_t> w(rb * rows);
    std::mt19937 rng(1); std::normal_distribution<float> nd;
    std::vector<float> row(cols);
    for (int64_t r = 0; r < rows; ++r) { for (auto& v : row) v = nd(rng); ref::from_float(t)(row.data(), w.data() + r * rb, cols); }
    std::vector<float> x(cols); for (auto& v : x) v = nd(rng);
    std::vector<uint8_t> xq(cols / 32 * 68); ref::quantize_act_q16(x.data(), xq.data(), cols);
    std::vector<float> y(rows), y2(rows);
    for (int i = 0; i < kernel_set_count(); ++i) {
        const kernel_set* K = kernel_set_at(i);
        if (!kernel_set_runs_here(K)) continue;
        for (int q16 = 0; q16 < 2; ++q16) {
            mm_fn f = q16 ? (K->mm_q16 ? K->mm_q16((uint32_t)t) : nullptr) : (K->mm_dequant ? K->mm_dequant((uint32_t)t) : nullptr);
            if (!f) continue;
            std::vector<double> gbs;
            for (int k = 0; k < reps; ++k) {
                auto t0 = std::chrono::steady_clock::now();
                if (q16) f(w.data(), rb, rows, xq.data(), xq.size(), 1, cols, y.data(), rows);
                else f(w.data(), rb, rows, x.data(), cols * 4, 1, cols, y.data(), rows);
                double s = std::chrono::duration<double>(std::chrono::steady_clock::now() - t0).count();
                gbs.push_back(w.size() / s / 1e9);
            }
            std::sort(gbs.begin(), gbs.end());
            double err = 0, mag = 0;
            if (q16) { K->mm_dequant((uint32_t)t)(w.data(), rb, rows, x.data(), cols * 4, 1, cols, y2.data(), rows);
                for (int64_t r = 0; r < rows; ++r) { err = std::max(err, (double)std::fabs(y[r] - y2[r])); mag = std::max(mag, (double)std::fabs(y2[r])); } }
            printf("%-8s %-5s %s %5.1f MB: median %.2f GB/s (%.2f-%.2f)%s", K->name, type_name(t), q16 ? "q16  " : "float", w.size() / 1e6, gbs[reps / 2], gbs[0], gbs[reps - 1], q16 ? "" : "\n");
            if (q16) printf("  max |q16 - float| %.2e of max |y| %.2e\n", err, mag);
        }
    }
}
