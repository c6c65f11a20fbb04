// fuzz_gguf.cpp — libFuzzer harness for the GGUF reader (ai::gguf_file::open_memory / open_reader).
//
// Build (from the repo root; Debian 12: apt-get install clang libclang-rt-14-dev):
//   clang++ -g -O1 -fsanitize=fuzzer,address,undefined -std=c++17 -I. tests/fuzz_gguf.cpp -o fuzz_gguf
// Run: tests/fuzz.sh SECONDS (seeds it with the valid models and the malformed corpus).
// Replay one input: ./fuzz_gguf FILE
//
// On a successful open it touches everything a caller could: every key through find() and every
// typed get(), every array element (get / next_string / next_array, recursively), every tensor
// through find_tensor(), read_tensor() and dequantize_rows() of the first and last row when the
// type converts and the row is small. It also opens the same bytes through open_reader() (with and
// without load_data) and requires the same verdict and tables. Any inconsistency traps, so the
// fuzzer reports it like a crash.
#define AI_IMPLEMENTATION
#include "ai.hpp"

#include <algorithm>
#include <cmath>
#include <cstdint>
#include <cstdio>
#include <cstring>
#include <string_view>
#include <utility>
#include <vector>

// Contract checks beyond memory safety: error messages are one line even when they quote a key or
// tensor name holding '\n', and no two accepted tensors share bytes. -DFUZZ_STRICT=0 turns these
// off, to keep fuzzing for memory errors past a known failure of them.
#ifndef FUZZ_STRICT
#define FUZZ_STRICT 1
#endif

namespace {

#define FUZZ_CHECK(cond)                                                                   \
    do {                                                                                   \
        if (!(cond)) {                                                                     \
            std::fprintf(stderr, "fuzz_gguf.cpp:%d: invariant failed: %s\n", __LINE__, #cond); \
            __builtin_trap();                                                              \
        }                                                                                  \
    } while (0)

volatile uint64_t g_sink;  // keeps the reads from being optimised away

void touch_bytes(const void* p, size_t n) {
    const uint8_t* b = static_cast<const uint8_t*>(p);
    uint64_t h = 0;
    for (size_t i = 0; i < n; ++i) h = h * 31 + b[i];
    g_sink = g_sink + h;
}

// Walks an array value completely (nested arrays to any depth the parser accepted).
void walk_array(const ai::gguf_array& a, int depth) {
    FUZZ_CHECK(depth < 64);
    if (a.count) FUZZ_CHECK(a.data != nullptr);
    switch (a.type) {
        case ai::gguf_type::string: {
            uint64_t cur = 0, n = 0;
            std::string_view s;
            while (a.next_string(&cur, &s)) {
                touch_bytes(s.data(), s.size());
                ++n;
            }
            FUZZ_CHECK(n == a.count);
            FUZZ_CHECK(cur == a.bytes);
            break;
        }
        case ai::gguf_type::array: {
            uint64_t cur = 0, n = 0;
            ai::gguf_array inner;
            while (a.next_array(&cur, &inner)) {
                walk_array(inner, depth + 1);
                ++n;
            }
            FUZZ_CHECK(n == a.count);
            FUZZ_CHECK(cur == a.bytes);
            break;
        }
        default: {
            for (uint64_t i = 0; i < a.count; ++i) {
                int64_t s;
                uint64_t u;
                double d;
                const bool okd = a.get(i, &d);
                FUZZ_CHECK(okd);  // every fixed-size element converts to double
                if (a.get(i, &s)) g_sink = g_sink + (uint64_t)s;
                if (a.get(i, &u)) g_sink = g_sink + u;
                g_sink = g_sink + (uint64_t)std::isnan(d);
            }
            int64_t s;
            double d;
            FUZZ_CHECK(!a.get(a.count, &d));  // one past the end is refused
            FUZZ_CHECK(!a.get(a.count, &s));
            std::string_view sv;
            uint64_t cur = 0;
            FUZZ_CHECK(!a.next_string(&cur, &sv));  // wrong kind is refused
            break;
        }
    }
}

void touch_kv(const ai::gguf_file& f, int64_t i) {
    const ai::gguf_kv& kv = f.kv(i);
    FUZZ_CHECK(f.find(kv.key) == &kv);  // duplicates are rejected, so find() lands on this one
    touch_bytes(kv.key.data(), kv.key.size());
    {
        uint32_t u32; int32_t i32; uint64_t u64; int64_t i64; float f32; double f64; bool b;
        std::string_view sv; ai::gguf_array arr;
        (void)f.get(kv.key, &u32); (void)f.get(kv.key, &i32);
        (void)f.get(kv.key, &u64); (void)f.get(kv.key, &i64);
        (void)f.get(kv.key, &f32); (void)f.get(kv.key, &f64);
        (void)f.get(kv.key, &b);
        const bool is_str = f.get(kv.key, &sv).ok();
        FUZZ_CHECK(is_str == (kv.type == ai::gguf_type::string));
        const bool is_arr = f.get(kv.key, &arr).ok();
        FUZZ_CHECK(is_arr == (kv.type == ai::gguf_type::array));
        if (is_str) touch_bytes(sv.data(), sv.size());
    }
    if (kv.type == ai::gguf_type::string) touch_bytes(kv.str.data(), kv.str.size());
    if (kv.type == ai::gguf_type::array) walk_array(kv.arr, 0);
    (void)ai::gguf_type_name(kv.type);
}

constexpr int64_t kMaxRow = 1 << 16;  // elements; bigger rows are skipped (memory, speed)

void touch_tensor(const ai::gguf_file& f, int64_t i, const uint8_t* mem, size_t size) {
    const ai::tensor_info& t = f.tensor(i);
    FUZZ_CHECK(f.find_tensor(t.name) == &t);
    const ai::type_traits* tr = ai::type_info(t.type);
    FUZZ_CHECK(tr != nullptr);  // unknown types are rejected at open
    FUZZ_CHECK(t.n_dims >= 0 && t.n_dims <= 4);
    uint64_t n = 1;
    for (int d = 0; d < 4; ++d) {
        FUZZ_CHECK(t.ne[d] >= 0);
        n *= (uint64_t)t.ne[d];
    }
    FUZZ_CHECK(n == t.n_elems);
    FUZZ_CHECK(t.offset <= f.file_size() && t.bytes <= f.file_size() - t.offset);
    if (mem && t.data) {  // resident: the view lies inside the caller's bytes, at the same offset
        const uint8_t* p = static_cast<const uint8_t*>(t.data);
        FUZZ_CHECK(p >= mem && (size_t)(p - mem) == t.offset && t.bytes <= size - t.offset);
    }
    if (t.bytes <= ((size_t)1 << 20)) {
        std::vector<uint8_t> raw(t.bytes + 1);
        if (f.read_tensor(t, raw.data(), t.bytes).ok()) touch_bytes(raw.data(), t.bytes);
        if (t.bytes) FUZZ_CHECK(!f.read_tensor(t, raw.data(), t.bytes - 1).ok());  // too small a buffer
    }
    const int64_t rows = t.ne[0] ? (int64_t)(t.n_elems / (uint64_t)t.ne[0]) : 0;
    if (tr->can_dequantize && t.ne[0] > 0 && t.ne[0] <= kMaxRow && rows > 0) {
        std::vector<float> row((size_t)t.ne[0]);
        ai::status st = f.dequantize_rows(t, 0, 1, row.data(), row.size());
        FUZZ_CHECK(st.ok());
        st = f.dequantize_rows(t, rows - 1, 1, row.data(), row.size());
        FUZZ_CHECK(st.ok());
        float acc = 0;
        for (float v : row) acc += v;  // NaN/Inf are fine: the bytes are arbitrary
        g_sink = g_sink + (uint64_t)std::isnan(acc);
        FUZZ_CHECK(!f.dequantize_rows(t, rows, 1, row.data(), row.size()).ok());       // past the end
        FUZZ_CHECK(!f.dequantize_rows(t, 0, 1, row.data(), row.size() - 1).ok());     // buffer too small
    }
}

void touch_file(const ai::gguf_file& f, const uint8_t* mem, size_t size) {
    FUZZ_CHECK(f.version() == 2 || f.version() == 3);
    const uint64_t a = f.alignment();
    FUZZ_CHECK(a && (a & (a - 1)) == 0);
    FUZZ_CHECK(f.data_offset() % a == 0);
    for (int64_t i = 0; i < f.kv_count(); ++i) touch_kv(f, i);
    for (int64_t i = 0; i < f.tensor_count(); ++i) touch_tensor(f, i, mem, size);
#if FUZZ_STRICT
    // No two tensors share a byte (the parser promises that; empty tensors take no bytes).
    std::vector<std::pair<uint64_t, uint64_t>> spans;
    for (int64_t i = 0; i < f.tensor_count(); ++i)
        if (f.tensor(i).bytes) spans.emplace_back(f.tensor(i).offset, f.tensor(i).offset + f.tensor(i).bytes);
    std::sort(spans.begin(), spans.end());
    for (size_t k = 1; k < spans.size(); ++k) FUZZ_CHECK(spans[k - 1].second <= spans[k].first);
#endif
    FUZZ_CHECK(f.find(std::string_view("\xff no such key \xff")) == nullptr);
    FUZZ_CHECK(f.find_tensor(std::string_view("\xff no such tensor \xff")) == nullptr);
}

struct mem_stream {
    const uint8_t* data;
    size_t size;
};

bool read_cb(void* user, uint64_t offset, void* dst, size_t bytes) {
    const mem_stream* m = static_cast<const mem_stream*>(user);
    if (offset > m->size || bytes > m->size - offset) return false;
    if (bytes) std::memcpy(dst, m->data + offset, bytes);
    return true;
}

// The reader path must agree with the memory path on the verdict and on the tables.
void check_reader(const ai::gguf_file& fm, bool mem_ok, const uint8_t* data, size_t size, bool load) {
    mem_stream ms{data, size};
    ai::reader r;
    r.read = read_cb;
    r.size = size;
    r.user = &ms;
    ai::gguf_options opt;
    opt.load_data = load;
    ai::gguf_file fr;
    const ai::status st = fr.open_reader(r, &opt);
    if (st.code == ai::result::out_of_memory) return;
    FUZZ_CHECK(st.ok() == mem_ok);
    if (!mem_ok) return;
    FUZZ_CHECK(fr.kv_count() == fm.kv_count() && fr.tensor_count() == fm.tensor_count());
    FUZZ_CHECK(fr.data_offset() == fm.data_offset() && fr.alignment() == fm.alignment());
    for (int64_t i = 0; i < fr.kv_count(); ++i) {
        FUZZ_CHECK(fr.kv(i).key == fm.kv(i).key && fr.kv(i).type == fm.kv(i).type);
        FUZZ_CHECK(fr.kv(i).arr.count == fm.kv(i).arr.count);
    }
    for (int64_t i = 0; i < fr.tensor_count(); ++i) {
        const ai::tensor_info& a = fr.tensor(i);
        const ai::tensor_info& b = fm.tensor(i);
        FUZZ_CHECK(a.name == b.name && a.type == b.type && a.offset == b.offset && a.bytes == b.bytes);
    }
    touch_file(fr, nullptr, size);
}

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
    // A private copy, so reads past `size` hit ASan's redzone instead of libFuzzer's buffer slack.
    std::vector<uint8_t> buf(data, data + size);
    const uint8_t* p = buf.empty() ? nullptr : buf.data();
    ai::gguf_file f;
    const ai::status st = f.open_memory(p, size);
    if (st.ok()) {
        touch_file(f, p, size);
    } else {
        FUZZ_CHECK(st.message[0] != 0);                                  // every error says what
        const size_t len = strnlen(st.message, sizeof st.message);
        FUZZ_CHECK(len < sizeof st.message);                             // terminated
#if FUZZ_STRICT
        FUZZ_CHECK(std::memchr(st.message, '\n', len) == nullptr);       // on one line
#endif
        FUZZ_CHECK(!f.is_open());
    }
    check_reader(f, st.ok(), p, size, false);
    check_reader(f, st.ok(), p, size, true);
    return 0;
}
