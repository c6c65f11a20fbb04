// Helpers shared by the doctest files: where the reference data is, and reading a whole file.
#pragma once

#include <atomic>
#include <cstdio>
#include <cstdlib>
#include <new>
#include <string>

#include "ai.hpp"

namespace test_util {

// AI_SHARED_DIR, else ../shared from the repository root (tried from the working directory and
// from this file's location).
inline std::string shared_dir() {
    if (const char* e = std::getenv("AI_SHARED_DIR")) return e;
    const std::string here = __FILE__;
    const size_t slash = here.find_last_of("/\\");
    const std::string candidates[] = {"../shared", "../../shared", "../../../shared",
                                      (slash == std::string::npos ? std::string(".") : here.substr(0, slash)) + "/../../shared"};
    for (const std::string& c : candidates) {
        if (std::FILE* f = std::fopen((c + "/models/stories260K.gguf").c_str(), "rb")) {
            std::fclose(f);
            return c;
        }
    }
    return "../shared";
}

inline bool read_file(const std::string& path, std::string* out) {
    std::FILE* f = std::fopen(path.c_str(), "rb");
    if (!f) return false;
    out->clear();
    char buf[65536];
    size_t k;
    while ((k = std::fread(buf, 1, sizeof buf, f)) > 0) out->append(buf, k);
    std::fclose(f);
    return true;
}

// An ai::allocator that counts calls, live blocks and live bytes, and can refuse the fail_at-th
// call (counting from 0; -1: never). Atomic, so contexts with worker threads may use it.
struct counting_alloc {
    std::atomic<int64_t> calls{0}, live{0}, fail_at{-1};
    std::atomic<size_t> live_bytes{0};
    static void* alloc(void* user, size_t size, size_t align) {
        auto* c = static_cast<counting_alloc*>(user);
        const int64_t k = c->calls++;
        if (k == c->fail_at.load() || align > 64) return nullptr;  // every block is 64-aligned
        void* p = ::operator new(size, std::align_val_t(64), std::nothrow);
        if (p) { c->live++; c->live_bytes += size; }
        return p;
    }
    static void free(void* user, void* p, size_t size) {
        auto* c = static_cast<counting_alloc*>(user);
        c->live--;
        c->live_bytes -= size;
        ::operator delete(p, std::align_val_t(64));
    }
    ai::allocator hooks() {
        ai::allocator a;
        a.alloc = alloc;
        a.free = free;
        a.user = this;
        return a;
    }
};

}  // namespace test_util
