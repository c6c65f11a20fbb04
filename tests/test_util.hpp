// Helpers shared by the doctest files: where the reference data is, and reading a whole file.
#pragma once

#include <cstdio>
#include <cstdlib>
#include <string>

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

}  // namespace test_util
