// bandwidth — the machine's sustained read bandwidth, the ceiling of token-by-token decoding
// (every weight is read once per token). Built and run by bench/compare.py:
//
//   g++ -O2 -march=native -std=c++17 -pthread bench/bandwidth.cpp -o bandwidth
//   bandwidth [--mb 2048] [--threads 1,2] [--passes 7] [--huge] [--streams 8]
//
// Streams a sum over a buffer much larger than the last-level cache, split in equal contiguous
// slices, one per thread (as a matrix-vector product splits its rows), each slice read as
// --streams contiguous parts side by side, 256 bytes from each in turn: how ai.hpp's decode reads a
// matrix (decode_parts), and the fastest way one core reads here (one stream: ~12 GB/s, 4-8
// streams: ~14-15.5 on this VM). Prints one JSON object:
//   {"buffer_mb":M,"passes":P,"huge":B,"streams":S,"results":[{"threads":T,"gb_s":median,"min":..,"max":..}]}
// --huge asks for 2 MiB pages (madvise; a hint): the pages `ai --no-mmap` reads weights from.
// GB is 1e9 bytes. The first pass is a warm-up (page faults, frequency ramp) and is not counted.
#include <algorithm>
#include <atomic>
#include <chrono>
#include <cstdint>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <string>
#include <thread>
#include <vector>
#if defined(__linux__)
#include <sys/mman.h>
#endif

namespace {

typedef uint64_t v4u64 __attribute__((vector_size(32)));

// Four independent accumulators so the loads, not the add chain, set the pace. The slice is read
// as `streams` parts side by side, 256 bytes (8 vectors) of each in turn; the rest at the end.
uint64_t sum_slice(const v4u64* p, size_t n, int streams) {
    v4u64 a = {0, 0, 0, 0}, b = a, c = a, d = a;
    const size_t chunk = 8, per = n / (size_t)streams / chunk * chunk;
    for (size_t i = 0; i < per; i += chunk)
        for (int s = 0; s < streams; ++s) {
            const v4u64* q = p + (size_t)s * per + i;
            a += q[0] + q[4];
            b += q[1] + q[5];
            c += q[2] + q[6];
            d += q[3] + q[7];
        }
    for (size_t i = per * (size_t)streams; i < n; ++i) a += p[i];
    const v4u64 s = a + b + c + d;
    return s[0] + s[1] + s[2] + s[3];
}

double now_s() { return std::chrono::duration<double>(std::chrono::steady_clock::now().time_since_epoch()).count(); }

std::vector<int> parse_list(const char* s) {
    std::vector<int> out;
    for (const char* p = s; *p;) {
        char* end = nullptr;
        const long v = std::strtol(p, &end, 10);
        if (end == p || v < 1) return {};
        out.push_back((int)v);
        p = *end == ',' ? end + 1 : end;
        if (*end && *end != ',') return {};
    }
    return out;
}

}  // namespace

int main(int argc, char** argv) {
    size_t mb = 2048;
    int passes = 7;
    std::vector<int> threads = {1, 2};
    bool huge = false;  // --huge: ask Linux for 2 MiB pages (what `ai --no-mmap` reads its weights from)
    int streams = 8;
    for (int i = 1; i < argc; ++i) {
        const std::string a = argv[i];
        if (a == "--huge") { huge = true; continue; }
        const char* v = i + 1 < argc ? argv[++i] : nullptr;
        if (!v) { std::fprintf(stderr, "usage: bandwidth [--mb N] [--threads 1,2] [--passes N] [--huge] [--streams N]\n"); return 2; }
        if (a == "--mb") mb = (size_t)std::strtoull(v, nullptr, 10);
        else if (a == "--passes") passes = std::atoi(v);
        else if (a == "--threads") threads = parse_list(v);
        else if (a == "--streams") streams = std::atoi(v);
        else { std::fprintf(stderr, "usage: bandwidth [--mb N] [--threads 1,2] [--passes N] [--huge] [--streams N]\n"); return 2; }
    }
    if (mb < 1 || passes < 1 || threads.empty() || streams < 1 || streams > 64) { std::fprintf(stderr, "error: bad arguments (bandwidth)\n"); return 2; }

    const size_t bytes = mb << 20;
    const size_t n = bytes / sizeof(v4u64);
    const size_t huge_page = (size_t)2 << 20;  // aligned_alloc wants the size a multiple of the alignment
    v4u64* buf = (v4u64*)std::aligned_alloc(huge_page, (n * sizeof(v4u64) + huge_page - 1) / huge_page * huge_page);
    if (!buf) { std::fprintf(stderr, "error: cannot allocate %zu MB (bandwidth)\n", mb); return 1; }
#if defined(__linux__) && defined(MADV_HUGEPAGE)
    if (huge) madvise(buf, n * sizeof(v4u64), MADV_HUGEPAGE);
#endif
    std::memset(buf, 1, n * sizeof(v4u64));  // touch every page: no page faults in the timed passes

    std::printf("{\"buffer_mb\":%zu,\"passes\":%d,\"huge\":%s,\"streams\":%d,\"results\":[", mb, passes, huge ? "true" : "false", streams);
    uint64_t sink = 0;
    for (size_t ti = 0; ti < threads.size(); ++ti) {
        const int T = threads[ti];
        std::vector<double> rates;
        for (int pass = 0; pass <= passes; ++pass) {
            std::vector<uint64_t> sums((size_t)T);
            std::vector<std::thread> pool;
            std::atomic<int> ready{0};
            std::atomic<bool> go{false};
            double t0 = 0;
            for (int t = 0; t < T; ++t) {
                pool.emplace_back([&, t] {
                    const size_t lo = n * (size_t)t / (size_t)T, hi = n * (size_t)(t + 1) / (size_t)T;
                    ready.fetch_add(1);
                    while (!go.load(std::memory_order_acquire)) {}
                    sums[(size_t)t] = sum_slice(buf + lo, hi - lo, streams);
                });
            }
            while (ready.load() < T) {}
            t0 = now_s();
            go.store(true, std::memory_order_release);
            for (std::thread& th : pool) th.join();
            const double dt = now_s() - t0;
            for (uint64_t s : sums) sink += s;
            if (pass > 0) rates.push_back((double)bytes / dt / 1e9);  // pass 0 is the warm-up
        }
        std::sort(rates.begin(), rates.end());
        const size_t k = rates.size();
        const double med = k % 2 ? rates[k / 2] : 0.5 * (rates[k / 2 - 1] + rates[k / 2]);
        std::printf("%s{\"threads\":%d,\"gb_s\":%.3f,\"min\":%.3f,\"max\":%.3f}", ti ? "," : "", T, med, rates.front(), rates.back());
    }
    std::printf("],\"checksum\":%llu}\n", (unsigned long long)(sink & 0xffff));
    std::free(buf);
    return 0;
}
