// quant_tool: ai.hpp's quantization kernels on raw files, for tests/check_quants_peer.py.
//
//   quant_tool dequant FILE.gguf TENSOR OUT.f32     every row of TENSOR through gguf_file::dequantize_rows
//   quant_tool quantize TYPE IN.f32 OUT.bin         ai::quantize of the whole raw float32 file
//   quant_tool dequant-raw TYPE IN.bin N OUT.f32    ai::dequantize of N elements of raw blocks
//
// TYPE is a GGUF type name ("Q4_K", any case) or number. Raw files are little-endian, no header.
// Exit status: 0 on success, 1 on any error (message on stderr), 2 on bad usage.
#define AI_IMPLEMENTATION
#include "ai.hpp"

#include <cstdio>
#include <cctype>
#include <cstdlib>
#include <cstring>
#include <string>
#include <vector>

namespace {

int fail(const char* what, const ai::status& st) {
    std::fprintf(stderr, "quant_tool: %s: %s: %s\n", what, ai::result_name(st.code), st.message);
    return 1;
}

bool read_all(const char* path, std::vector<unsigned char>* out) {
    FILE* f = std::fopen(path, "rb");
    if (!f) return false;
    unsigned char buf[1 << 16];
    size_t got;
    while ((got = std::fread(buf, 1, sizeof buf, f)) > 0) out->insert(out->end(), buf, buf + got);
    const bool ok = !std::ferror(f);
    std::fclose(f);
    return ok;
}

bool write_all(const char* path, const void* data, size_t bytes) {
    FILE* f = std::fopen(path, "wb");
    if (!f) return false;
    const bool ok = std::fwrite(data, 1, bytes, f) == bytes;
    return std::fclose(f) == 0 && ok;
}

bool parse_type(const char* s, ai::tensor_type* out) {
    char* end = nullptr;
    const long v = std::strtol(s, &end, 10);
    if (end != s && *end == 0 && v >= 0 && ai::type_info(ai::tensor_type(v))) {
        *out = ai::tensor_type(v);
        return true;
    }
    for (uint32_t i = 0; i < 64; ++i) {
        const ai::type_traits* t = ai::type_info(ai::tensor_type(i));
        if (!t) continue;
        std::string a = t->name, b = s;
        for (char& c : a) c = char(std::toupper((unsigned char)c));
        for (char& c : b) c = char(std::toupper((unsigned char)c));
        if (a == b) { *out = ai::tensor_type(i); return true; }
    }
    return false;
}

int cmd_dequant(const char* path, const char* name, const char* out_path) {
    ai::gguf_file f;
    ai::status st = f.open_file(path);
    if (!st) return fail(path, st);
    const ai::tensor_info* t = f.find_tensor(name);
    if (!t) { std::fprintf(stderr, "quant_tool: %s: no tensor '%s'\n", path, name); return 1; }
    const int64_t rows = int64_t(t->n_elems / uint64_t(t->ne[0]));
    std::vector<float> out(size_t(t->n_elems));
    st = f.dequantize_rows(*t, 0, rows, out.data(), out.size());
    if (!st) return fail(name, st);
    if (!write_all(out_path, out.data(), out.size() * sizeof(float))) { std::perror(out_path); return 1; }
    return 0;
}

int cmd_quantize(ai::tensor_type type, const char* in_path, const char* out_path) {
    std::vector<unsigned char> raw;
    if (!read_all(in_path, &raw)) { std::perror(in_path); return 1; }
    const int64_t n = int64_t(raw.size() / sizeof(float));
    std::vector<float> x(static_cast<size_t>(n));
    if (n) std::memcpy(x.data(), raw.data(), size_t(n) * sizeof(float));
    size_t bytes = 0;
    if (!ai::type_row_bytes(type, n, &bytes)) {
        std::fprintf(stderr, "quant_tool: %lld floats is not a whole number of %s blocks\n", (long long)n, ai::type_name(type));
        return 1;
    }
    std::vector<unsigned char> q(bytes);
    const ai::status st = ai::quantize(type, x.data(), n, q.data(), q.size());
    if (!st) return fail("quantize", st);
    if (!write_all(out_path, q.data(), q.size())) { std::perror(out_path); return 1; }
    return 0;
}

int cmd_dequant_raw(ai::tensor_type type, const char* in_path, int64_t n, const char* out_path) {
    std::vector<unsigned char> raw;
    if (!read_all(in_path, &raw)) { std::perror(in_path); return 1; }
    std::vector<float> out(size_t(n > 0 ? n : 0));
    const ai::status st = ai::dequantize(type, raw.data(), raw.size(), out.data(), n);
    if (!st) return fail("dequantize", st);
    if (!write_all(out_path, out.data(), out.size() * sizeof(float))) { std::perror(out_path); return 1; }
    return 0;
}

int usage() {
    std::fprintf(stderr,
                 "usage: quant_tool dequant FILE.gguf TENSOR OUT.f32\n"
                 "       quant_tool quantize TYPE IN.f32 OUT.bin\n"
                 "       quant_tool dequant-raw TYPE IN.bin N OUT.f32\n");
    return 2;
}

}  // namespace

int main(int argc, char** argv) {
    if (argc < 2) return usage();
    const std::string cmd = argv[1];
    ai::tensor_type type{};
    if (cmd == "dequant" && argc == 5) return cmd_dequant(argv[2], argv[3], argv[4]);
    if (cmd == "quantize" && argc == 5) {
        if (!parse_type(argv[2], &type)) { std::fprintf(stderr, "quant_tool: unknown type %s\n", argv[2]); return 2; }
        return cmd_quantize(type, argv[3], argv[4]);
    }
    if (cmd == "dequant-raw" && argc == 6) {
        if (!parse_type(argv[2], &type)) { std::fprintf(stderr, "quant_tool: unknown type %s\n", argv[2]); return 2; }
        return cmd_dequant_raw(type, argv[3], std::strtoll(argv[4], nullptr, 10), argv[5]);
    }
    return usage();
}
