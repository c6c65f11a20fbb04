// ai — the command-line face of ai.hpp.
//
// What it shows: opening a GGUF file (mapped), walking its metadata and tensor table, and reading
// any tensor as float32. Each subcommand is one function below; the contract of their arguments
// and output is fixed (other tools parse it), so change it only by adding.
//
//   ai info MODEL [--json]                 header, metadata and tensor table
//   ai info --cpu [--json]                 this CPU's instruction sets and the kernel sets built in
//   ai dequant MODEL TENSOR --out FILE     the tensor as raw little-endian float32, storage order
//   ai tokenize MODEL (--text T | --file F) [--no-bos] [--special]   token ids, one line
//   ai tokenize MODEL --vocab-test FILE.inp [--special]             llama.cpp's test format
//   ai run MODEL (-p PROMPT | --ids FILE) [-n N] [--temp T] [--top-k K] [--top-p P] [--min-p P]
//          [--repeat-penalty R] [--seed S] [-t THREADS] [--ctx N] [--ignore-eos] [--json]
//   ai logits MODEL --ids FILE --out FILE [-t THREADS]               teacher-forced logits
//   ai bench MODEL [-p 128,512] [-n 64] [-t 1,2] [-r 5] [-b 256] [--no-warmup] [--json]   prefill/decode speed
//   run, logits and bench also take --kernels NAME (a kernel set of `ai info --cpu`; default: best)
//   and --matmul q8-layers|f32|q8 (ai::matmul_input; default q8-layers), and --no-mmap (read the
//   file into memory, on Linux in 2 MiB pages: slower to load, faster to decode where the kernel
//   gives transparent huge pages on request)
//
// Errors: exit 1 and one line on stderr, `error: <what> (<where>)`. Usage errors exit 2.
#define AI_IMPLEMENTATION
#include "ai.hpp"

#include <sys/resource.h>

#include <chrono>
#include <cinttypes>
#include <cmath>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <algorithm>
#include <string>
#include <string_view>
#include <vector>

namespace {

int usage() {
    std::fprintf(stderr,
                 "usage: ai <command> [args]\n"
                 "  info MODEL [--json]               header, metadata and tensors of a GGUF file\n"
                 "  info --cpu [--json]               this CPU's instruction sets and the kernel sets built in\n"
                 "  dequant MODEL TENSOR --out FILE   write a tensor as raw float32 (little-endian)\n"
                 "  tokenize MODEL (--text TEXT | --file FILE) [--no-bos] [--special]\n"
                 "                                    token ids, space separated, one line\n"
                 "  tokenize MODEL --vocab-test FILE.inp [--special]\n"
                 "                                    one line of ids per test input (llama.cpp's format)\n"
                 "  run MODEL (-p PROMPT | --ids FILE) [-n N] [--temp T] [--top-k K] [--top-p P] [--min-p P]\n"
                 "      [--repeat-penalty R] [--seed S] [-t THREADS] [--ctx N] [--ignore-eos] [--json]\n"
                 "                                    generate text (defaults: -n 128, --temp 0.8, --top-k 40,\n"
                 "                                    --top-p 0.95, --min-p 0.05, --seed 0; --temp 0 is greedy)\n"
                 "  logits MODEL --ids FILE --out FILE [-t THREADS]\n"
                 "                                    logits after every id (one batch), raw float32 rows\n"
                 "  bench MODEL [-p 128,512] [-n 64] [-t 1,2] [-r 5] [-b 256] [--no-warmup] [--json]\n"
                 "                                    prefill (pp) and decode (tg) tokens/s: median of r runs\n"
                 "  run, logits and bench take --kernels NAME: a kernel set of `ai info --cpu` (default: the best)\n"
                 "  and --matmul q8-layers|f32|q8: input of quantized matrix products (default q8-layers:\n"
                 "  8-bit in the layers, float into the output matrix; f32: float everywhere; q8: 8-bit everywhere)\n"
                 "  and --no-mmap: read the model into memory (2 MiB pages where Linux allows) instead of mapping it\n");
    return 2;
}

// `error: <what> (<where>)`, where is the file and, when known, the byte offset.
int report(const ai::status& st, const char* path) {
    if (st.offset != ai::no_offset)
        std::fprintf(stderr, "error: %s (%s, byte %" PRIu64 ")\n", st.message, path, st.offset);
    else
        std::fprintf(stderr, "error: %s (%s)\n", st.message, path);
    return 1;
}

int report_text(const char* what, const char* where) {
    std::fprintf(stderr, "error: %s (%s)\n", what, where);
    return 1;
}

// --- output helpers -------------------------------------------------------------------------------

// Length of the valid UTF-8 sequence at s[i], or 0 if the bytes there are not one.
size_t utf8_len(std::string_view s, size_t i) {
    const unsigned char c = (unsigned char)s[i];
    size_t n;
    uint32_t cp;
    if (c < 0x80) return 1;
    else if ((c & 0xe0) == 0xc0) { n = 2; cp = c & 0x1f; }
    else if ((c & 0xf0) == 0xe0) { n = 3; cp = c & 0x0f; }
    else if ((c & 0xf8) == 0xf0) { n = 4; cp = c & 0x07; }
    else return 0;
    if (i + n > s.size()) return 0;
    for (size_t k = 1; k < n; ++k) {
        const unsigned char d = (unsigned char)s[i + k];
        if ((d & 0xc0) != 0x80) return 0;
        cp = (cp << 6) | (d & 0x3f);
    }
    // Overlong forms, surrogates and values past U+10FFFF are not valid UTF-8.
    if ((n == 2 && cp < 0x80) || (n == 3 && cp < 0x800) || (n == 4 && cp < 0x10000) || cp > 0x10ffff || (cp >= 0xd800 && cp <= 0xdfff))
        return 0;
    return n;
}

// A JSON string: escapes controls, quotes and backslashes; invalid UTF-8 becomes U+FFFD.
void json_string(std::FILE* o, std::string_view s) {
    std::fputc('"', o);
    for (size_t i = 0; i < s.size();) {
        const unsigned char c = (unsigned char)s[i];
        const size_t n = utf8_len(s, i);
        if (n == 0) { std::fputs("\xef\xbf\xbd", o); ++i; continue; }
        if (c == '"' || c == '\\') { std::fputc('\\', o); std::fputc(c, o); }
        else if (c == '\n') std::fputs("\\n", o);
        else if (c == '\r') std::fputs("\\r", o);
        else if (c == '\t') std::fputs("\\t", o);
        else if (c < 0x20 || c == 0x7f) std::fprintf(o, "\\u%04x", c);
        else std::fwrite(s.data() + i, 1, n, o);
        i += n;
    }
    std::fputc('"', o);
}

// A readable one-line rendering for the text listing: printable, cut at `max` bytes.
void text_string(std::FILE* o, std::string_view s, size_t max, bool quoted = true) {
    if (quoted) std::fputc('"', o);
    size_t shown = 0;
    for (size_t i = 0; i < s.size() && shown < max;) {
        const unsigned char c = (unsigned char)s[i];
        const size_t n = utf8_len(s, i);
        if (n == 0) { std::fprintf(o, "\\x%02x", c); ++i; ++shown; continue; }
        if (c == '\n') std::fputs("\\n", o);
        else if (c == '\t') std::fputs("\\t", o);
        else if (c < 0x20 || c == 0x7f) std::fprintf(o, "\\x%02x", c);
        else if (c == '"' || c == '\\') { std::fputc('\\', o); std::fputc(c, o); }
        else std::fwrite(s.data() + i, 1, n, o);
        i += n;
        shown += n;
    }
    if (quoted) std::fputc('"', o);
    if (shown < s.size()) std::fputs("...", o);
}

void json_double(std::FILE* o, double v, bool is_f32) {
    if (!std::isfinite(v)) { std::fputs("null", o); return; }
    std::fprintf(o, is_f32 ? "%.9g" : "%.17g", v);
}

void print_scalar(std::FILE* o, const ai::gguf_kv& kv, bool json) {
    switch (kv.type) {
    case ai::gguf_type::u8: case ai::gguf_type::u16: case ai::gguf_type::u32: case ai::gguf_type::u64:
        std::fprintf(o, "%" PRIu64, kv.scalar.u); break;
    case ai::gguf_type::i8: case ai::gguf_type::i16: case ai::gguf_type::i32: case ai::gguf_type::i64:
        std::fprintf(o, "%" PRId64, kv.scalar.i); break;
    case ai::gguf_type::f32: case ai::gguf_type::f64:
        if (json) json_double(o, kv.scalar.f, kv.type == ai::gguf_type::f32);
        else std::fprintf(o, "%.9g", kv.scalar.f);
        break;
    case ai::gguf_type::boolean: std::fputs(kv.scalar.u ? "true" : "false", o); break;
    case ai::gguf_type::string:
        if (json) json_string(o, kv.str); else text_string(o, kv.str, 120);
        break;
    default: break;
    }
}

// The first `head` elements of an array, as JSON values (nested arrays as a summary object).
void print_array_head(std::FILE* o, const ai::gguf_array& a, uint64_t head, bool json) {
    std::fputc('[', o);
    uint64_t cursor = 0;
    const uint64_t n = a.count < head ? a.count : head;
    for (uint64_t i = 0; i < n; ++i) {
        if (i) std::fputs(json ? "," : ", ", o);
        if (a.type == ai::gguf_type::string) {
            std::string_view s;
            if (!a.next_string(&cursor, &s)) break;
            if (json) json_string(o, s); else text_string(o, s, 40);
        } else if (a.type == ai::gguf_type::array) {
            ai::gguf_array sub;
            if (!a.next_array(&cursor, &sub)) break;
            std::fprintf(o, json ? "{\"elem_type\":\"%s\",\"count\":%" PRIu64 "}" : "array[%s, %" PRIu64 "]",
                         ai::gguf_type_name(sub.type), sub.count);
        } else if (a.type == ai::gguf_type::f32 || a.type == ai::gguf_type::f64) {
            double v = 0;
            a.get(i, &v);
            if (json) json_double(o, v, a.type == ai::gguf_type::f32); else std::fprintf(o, "%.9g", v);
        } else if (a.type == ai::gguf_type::boolean) {
            uint64_t v = 0;
            a.get(i, &v);
            std::fputs(v ? "true" : "false", o);
        } else {
            int64_t s = 0;
            uint64_t u = 0;
            if (a.get(i, &s)) std::fprintf(o, "%" PRId64, s);
            else if (a.get(i, &u)) std::fprintf(o, "%" PRIu64, u);
        }
    }
    if (!json && a.count > n) std::fputs(", ...", o);
    std::fputc(']', o);
}

void print_shape(std::FILE* o, const ai::tensor_info& t, bool json) {
    std::fputc('[', o);
    for (int d = 0; d < t.n_dims; ++d) std::fprintf(o, d ? (json ? ",%" PRId64 : ", %" PRId64) : "%" PRId64, t.ne[d]);
    std::fputc(']', o);
}

// --matmul's value: q8-layers, f32 or q8 (ai::matmul_input).
bool parse_matmul(const char* v, ai::matmul_input* out) {
    if (!v) return false;
    if (!std::strcmp(v, "q8-layers")) *out = ai::matmul_input::q8_layers;
    else if (!std::strcmp(v, "f32")) *out = ai::matmul_input::f32;
    else if (!std::strcmp(v, "q8")) *out = ai::matmul_input::q8;
    else return false;
    return true;
}

// --- commands -------------------------------------------------------------------------------------

// `ai info --cpu`: what the CPU offers and which kernel sets this build has (the first one the CPU
// runs is what models use).
int cmd_info_cpu(bool json) {
    const ai::kernel_set* best = ai::kernel_set_best();
    if (json) {
        std::printf("{\"cpu\":\"%s\",\"kernel_sets\":[", ai::cpu_features());
        for (int i = 0; i < ai::kernel_set_count(); ++i) {
            const ai::kernel_set* k = ai::kernel_set_at(i);
            std::printf("%s{\"name\":\"%s\",\"runs_here\":%s,\"default\":%s}", i ? "," : "", k->name,
                        ai::kernel_set_runs_here(k) ? "true" : "false", k == best ? "true" : "false");
        }
        std::printf("]}\n");
        return 0;
    }
    std::printf("cpu: %s\nkernel sets:", ai::cpu_features());
    for (int i = 0; i < ai::kernel_set_count(); ++i) {
        const ai::kernel_set* k = ai::kernel_set_at(i);
        std::printf(" %s%s", k->name, k == best ? " (default)" : ai::kernel_set_runs_here(k) ? "" : " (not on this CPU)");
    }
    std::printf("\n");
    return 0;
}

int cmd_info(int argc, char** argv) {
    const char* path = nullptr;
    bool json = false, cpu = false;
    for (int i = 0; i < argc; ++i) {
        if (!std::strcmp(argv[i], "--json")) json = true;
        else if (!std::strcmp(argv[i], "--cpu")) cpu = true;
        else if (!path && argv[i][0] != '-') path = argv[i];
        else return usage();
    }
    if (cpu && !path) return cmd_info_cpu(json);
    if (!path) return usage();
    ai::gguf_file f;
    ai::status st = f.open_file(path);
    if (!st) return report(st, path);

    std::FILE* o = stdout;
    if (json) {
        std::fputs("{\"file\":", o);
        json_string(o, path);
        std::fprintf(o, ",\"version\":%u,\"alignment\":%" PRIu64 ",\"data_offset\":%" PRIu64 ",\"file_size\":%" PRIu64
                        ",\"kv_count\":%" PRId64 ",\"tensor_count\":%" PRId64 ",\"metadata\":[",
                     f.version(), f.alignment(), f.data_offset(), f.file_size(), f.kv_count(), f.tensor_count());
        for (int64_t i = 0; i < f.kv_count(); ++i) {
            const ai::gguf_kv& kv = f.kv(i);
            std::fputs(i ? ",{\"key\":" : "{\"key\":", o);
            json_string(o, kv.key);
            std::fprintf(o, ",\"type\":\"%s\"", ai::gguf_type_name(kv.type));
            if (kv.type == ai::gguf_type::array) {
                std::fprintf(o, ",\"elem_type\":\"%s\",\"count\":%" PRIu64 ",\"head\":", ai::gguf_type_name(kv.arr.type), kv.arr.count);
                print_array_head(o, kv.arr, 8, true);
            } else {
                std::fputs(",\"value\":", o);
                print_scalar(o, kv, true);
            }
            std::fputc('}', o);
        }
        std::fputs("],\"tensors\":[", o);
        for (int64_t i = 0; i < f.tensor_count(); ++i) {
            const ai::tensor_info& t = f.tensor(i);
            std::fputs(i ? ",{\"name\":" : "{\"name\":", o);
            json_string(o, t.name);
            std::fprintf(o, ",\"type\":\"%s\",\"type_id\":%u,\"shape\":", ai::type_name(t.type), (unsigned)t.type);
            print_shape(o, t, true);
            std::fprintf(o, ",\"offset\":%" PRIu64 ",\"bytes\":%zu}", t.offset, t.bytes);
        }
        std::fputs("]}\n", o);
        return 0;
    }

    std::fprintf(o, "%s: GGUF v%u, %" PRIu64 " bytes, alignment %" PRIu64 ", data at byte %" PRIu64 "\n", path, f.version(),
                 f.file_size(), f.alignment(), f.data_offset());
    std::fprintf(o, "metadata: %" PRId64 " keys\n", f.kv_count());
    for (int64_t i = 0; i < f.kv_count(); ++i) {
        const ai::gguf_kv& kv = f.kv(i);
        std::fputs("  ", o);
        text_string(o, kv.key, 80, false);
        if (kv.type == ai::gguf_type::array) {
            std::fprintf(o, " array[%s, %" PRIu64 "] = ", ai::gguf_type_name(kv.arr.type), kv.arr.count);
            print_array_head(o, kv.arr, 5, false);
        } else {
            std::fprintf(o, " %s = ", ai::gguf_type_name(kv.type));
            print_scalar(o, kv, false);
        }
        std::fputc('\n', o);
    }
    std::fprintf(o, "tensors: %" PRId64 "\n", f.tensor_count());
    if (f.tensor_count()) std::fprintf(o, "  %5s  %-32s %-8s %-24s %14s %12s\n", "#", "name", "type", "shape", "offset", "bytes");
    uint64_t total = 0;
    for (int64_t i = 0; i < f.tensor_count(); ++i) {
        const ai::tensor_info& t = f.tensor(i);
        char shape[96];
        int n = std::snprintf(shape, sizeof shape, "[");
        for (int d = 0; d < t.n_dims && n > 0 && n < (int)sizeof shape; ++d)
            n += std::snprintf(shape + n, sizeof shape - (size_t)n, d ? ", %" PRId64 : "%" PRId64, t.ne[d]);
        if (n > 0 && n < (int)sizeof shape) std::snprintf(shape + n, sizeof shape - (size_t)n, "]");
        std::fprintf(o, "  %5" PRId64 "  %-32.*s %-8s %-24s %14" PRIu64 " %12zu\n", i, (int)t.name.size(), t.name.data(),
                     ai::type_name(t.type), shape, t.offset, t.bytes);
        total += t.bytes;
    }
    if (f.tensor_count()) std::fprintf(o, "  total tensor bytes: %" PRIu64 "\n", total);
    return 0;
}

int cmd_dequant(int argc, char** argv) {
    const char* path = nullptr;
    const char* name = nullptr;
    const char* out = nullptr;
    for (int i = 0; i < argc; ++i) {
        if (!std::strcmp(argv[i], "--out") && i + 1 < argc) out = argv[++i];
        else if (!path) path = argv[i];
        else if (!name) name = argv[i];
        else return usage();
    }
    if (!path || !name || !out) return usage();
    ai::gguf_file f;
    ai::status st = f.open_file(path);
    if (!st) return report(st, path);
    const ai::tensor_info* t = f.find_tensor(name);
    if (!t) {
        std::string what = std::string("no tensor named '") + name + "'";
        return report_text(what.c_str(), path);
    }
    std::FILE* o = std::fopen(out, "wb");
    if (!o) return report_text("cannot create the output file", out);
    // A row at a time keeps memory flat for tensors of any size.
    const int64_t rows = t->ne[0] ? (int64_t)(t->n_elems / (uint64_t)t->ne[0]) : 0;
    std::vector<float> row((size_t)t->ne[0]);
    for (int64_t r = 0; r < rows; ++r) {
        st = f.dequantize_rows(*t, r, 1, row.data(), row.size());
        if (!st) { std::fclose(o); std::remove(out); return report(st, path); }
        // Raw little-endian float32: the host is little-endian on every platform we build for.
        if (std::fwrite(row.data(), sizeof(float), row.size(), o) != row.size()) {
            std::fclose(o);
            std::remove(out);
            return report_text("write failed", out);
        }
    }
    if (std::fclose(o) != 0) return report_text("write failed", out);
    return 0;
}

// Reads a whole file into a string; false if it cannot be read.
bool read_file(const char* path, std::string* out) {
    std::FILE* f = std::fopen(path, "rb");
    if (!f) return false;
    char buf[65536];
    size_t n;
    out->clear();
    while ((n = std::fread(buf, 1, sizeof buf, f)) > 0) out->append(buf, n);
    const bool ok = !std::ferror(f);
    std::fclose(f);
    return ok;
}

// Tokenizes with a buffer that grows to what the tokenizer says it needs.
ai::status tokenize_all(const ai::tokenizer& tok, std::string_view text, const ai::tokenize_options& opt, std::vector<ai::token_id>* ids) {
    size_t need = 0;
    ids->resize(text.size() + 8);
    ai::status st = tok.tokenize(text, ids->data(), ids->size(), &need, &opt);
    if (st.code == ai::result::out_of_range) {
        ids->resize(need);
        st = tok.tokenize(text, ids->data(), ids->size(), &need, &opt);
    }
    if (st) ids->resize(need);
    return st;
}

void print_ids(const std::vector<ai::token_id>& ids, bool leading_space) {
    for (size_t i = 0; i < ids.size(); ++i) std::printf(i || leading_space ? " %d" : "%d", ids[i]);
    std::printf("\n");
}

int cmd_tokenize(int argc, char** argv) {
    const char *path = nullptr, *text = nullptr, *file = nullptr, *vocab_test = nullptr;
    bool no_bos = false, special = false;
    for (int i = 0; i < argc; ++i) {
        const std::string_view a = argv[i];
        if (a == "--text" && i + 1 < argc) text = argv[++i];
        else if (a == "--file" && i + 1 < argc) file = argv[++i];
        else if (a == "--vocab-test" && i + 1 < argc) vocab_test = argv[++i];
        else if (a == "--no-bos") no_bos = true;
        else if (a == "--special") special = true;
        else if (!path && a.size() && a[0] != '-') path = argv[i];
        else return usage();
    }
    if (!path || (!!text + !!file + !!vocab_test) != 1) return usage();
    ai::gguf_file f;
    ai::status st = f.open_file(path);
    if (!st) return report(st, path);
    ai::tokenizer tok;
    st = tok.load(f);
    if (!st) return report(st, path);
    ai::tokenize_options opt;
    opt.parse_special = special;
    std::vector<ai::token_id> ids;
    if (vocab_test) {
        // llama.cpp's vector format: inputs separated by "\n__ggml_vocab_test__\n", the piece after
        // the last separator is empty; no BOS/EOS; never trimmed.
        std::string all;
        if (!read_file(vocab_test, &all)) return report_text("cannot read the test file", vocab_test);
        static const std::string sep = "\n__ggml_vocab_test__\n";
        opt.no_special_added = true;
        size_t start = 0;
        for (;;) {
            const size_t at = all.find(sep, start);
            if (at == std::string::npos) break;
            st = tokenize_all(tok, std::string_view(all).substr(start, at - start), opt, &ids);
            if (!st) return report(st, vocab_test);
            print_ids(ids, true);
            start = at + sep.size();
        }
        return 0;
    }
    std::string input;
    if (file && !read_file(file, &input)) return report_text("cannot read the input file", file);
    if (text) input = text;
    opt.no_special_added = no_bos;
    st = tokenize_all(tok, input, opt, &ids);
    if (!st) return report(st, path);
    print_ids(ids, false);
    return 0;
}

// --- generation -----------------------------------------------------------------------------------

double now_s() { return std::chrono::duration<double>(std::chrono::steady_clock::now().time_since_epoch()).count(); }

double peak_rss_mb() {
    rusage ru{};
    getrusage(RUSAGE_SELF, &ru);
    return (double)ru.ru_maxrss / 1024.0;  // Linux reports KiB
}

bool read_ids(const char* path, std::vector<ai::token_id>* ids) {
    std::string text;
    if (!read_file(path, &text)) return false;
    const char* p = text.c_str();
    char* end = nullptr;
    for (;;) {
        const long v = std::strtol(p, &end, 10);
        if (end == p) break;
        ids->push_back((ai::token_id)v);
        p = end;
    }
    while (*p == ' ' || *p == '\n' || *p == '\t' || *p == '\r') ++p;
    return *p == '\0';  // anything but ids and whitespace is an error
}

// Parses a number argument; false (and a usage error) when it is not one.
template <class T> bool parse_num(const char* s, T* out) {
    char* end = nullptr;
    const double v = std::strtod(s, &end);
    if (!s[0] || *end) return false;
    *out = (T)v;
    return true;
}

void json_ids(std::FILE* o, const std::vector<ai::token_id>& ids) {
    std::fputc('[', o);
    for (size_t i = 0; i < ids.size(); ++i) std::fprintf(o, i ? ",%d" : "%d", ids[i]);
    std::fputc(']', o);
}

int cmd_run(int argc, char** argv) {
    const char *path = nullptr, *prompt = nullptr, *ids_file = nullptr;
    int n_predict = 128, threads = 1, n_ctx = 0;
    bool ignore_eos = false, json = false;
    ai::model_options mo;
    ai::matmul_input matmul = ai::matmul_input::q8_layers;
    ai::sampler_options so;
    so.temperature = 0.8f;
    so.top_k = 40;
    so.top_p = 0.95f;
    so.min_p = 0.05f;
    for (int i = 0; i < argc; ++i) {
        const std::string_view a = argv[i];
        const char* v = i + 1 < argc ? argv[i + 1] : nullptr;
        bool ok = true;
        if (a == "--ignore-eos") ignore_eos = true;
        else if (a == "--no-mmap") mo.no_mmap = true;
        else if (a == "--json") json = true;
        else if (!v && a.size() && a[0] == '-') return usage();
        else if (a == "-p") { prompt = v; ++i; }
        else if (a == "--ids") { ids_file = v; ++i; }
        else if (a == "-n") { ok = parse_num(v, &n_predict); ++i; }
        else if (a == "--temp") { ok = parse_num(v, &so.temperature); ++i; }
        else if (a == "--top-k") { ok = parse_num(v, &so.top_k); ++i; }
        else if (a == "--top-p") { ok = parse_num(v, &so.top_p); ++i; }
        else if (a == "--min-p") { ok = parse_num(v, &so.min_p); ++i; }
        else if (a == "--repeat-penalty") { ok = parse_num(v, &so.repeat_penalty); ++i; }
        else if (a == "--seed") { ok = parse_num(v, &so.seed); ++i; }
        else if (a == "-t") { ok = parse_num(v, &threads); ++i; }
        else if (a == "--ctx") { ok = parse_num(v, &n_ctx); ++i; }
        else if (a == "--kernels") { mo.kernels = v; ++i; }
        else if (a == "--matmul") { ok = parse_matmul(v, &matmul); ++i; }
        else if (!path && a.size() && a[0] != '-') path = argv[i];
        else return usage();
        if (!ok) return usage();
    }
    if (!path || (!prompt == !ids_file) || n_predict < 0 || threads < 1 || n_ctx < 0) return usage();

    const double t_load = now_s();
    ai::model m;
    ai::status st = m.load_file(path, &mo);
    if (!st) return report(st, path);
    const ai::tokenizer& tok = m.tokenizer();

    std::vector<ai::token_id> prompt_ids;
    if (ids_file) {
        if (!read_ids(ids_file, &prompt_ids)) return report_text("not a list of token ids", ids_file);
    } else {
        ai::tokenize_options to;
        to.parse_special = true;  // chat markup such as <|im_start|> in a prompt means the tokens
        st = tokenize_all(tok, prompt, to, &prompt_ids);
        if (!st) return report(st, path);
    }
    if (prompt_ids.empty()) return report_text("the prompt has no tokens", path);

    ai::context_options co;
    co.matmul = matmul;
    co.n_ctx = n_ctx;
    co.n_threads = threads;
    ai::context ctx;
    st = ctx.create(m, &co);
    if (!st) return report(st, path);
    const int32_t n_vocab = m.params().n_vocab;
    ai::sampler smp;
    st = smp.init(n_vocab, &so);
    if (!st) return report(st, path);
    for (ai::token_id id : prompt_ids) smp.accept(id);
    const double load_s = now_s() - t_load;

    const double t0 = now_s();
    st = ctx.decode(prompt_ids.data(), (int32_t)prompt_ids.size());
    if (!st) return report(st, path);
    const double t1 = now_s();

    std::vector<ai::token_id> out_ids;
    std::string text;
    ai::detokenize_stream stream(tok);
    char buf[256];
    auto emit = [&](size_t n) {
        text.append(buf, n);
        if (!json) { std::fwrite(buf, 1, n, stdout); std::fflush(stdout); }
    };
    bool context_full = false;
    for (int i = 0; i < n_predict; ++i) {
        const ai::token_id id = smp.sample(ctx.logits());
        smp.accept(id);
        out_ids.push_back(id);
        if (!ignore_eos && tok.is_eog(id)) break;
        emit(stream.feed(id, buf, sizeof buf));
        if (i + 1 == n_predict) break;
        if (ctx.position() >= ctx.n_ctx()) { context_full = true; break; }
        st = ctx.decode(&id, 1);
        if (!st) return report(st, path);
    }
    emit(stream.flush(buf, sizeof buf));
    const double t2 = now_s();
    // Tokens decoded after the prompt: each generated token but the last was fed back.
    const size_t n_decoded = out_ids.size() > 1 ? out_ids.size() - 1 : 0;
    const double prefill_tps = (double)prompt_ids.size() / (t1 - t0);
    const double decode_tps = n_decoded && t2 > t1 ? (double)n_decoded / (t2 - t1) : 0.0;
    if (json) {
        std::fputs("{\"prompt_ids\":", stdout);
        json_ids(stdout, prompt_ids);
        std::fputs(",\"ids\":", stdout);
        json_ids(stdout, out_ids);
        std::fputs(",\"text\":", stdout);
        json_string(stdout, text);
        std::printf(",\"prefill_tok_s\":%.2f,\"decode_tok_s\":%.2f,\"peak_rss_mb\":%.1f}\n", prefill_tps, decode_tps, peak_rss_mb());
    } else {
        std::printf("\n");
        std::fprintf(stderr, "\n[%zu prompt tokens at %.1f tok/s, %zu generated at %.1f tok/s, load %.0f ms, peak RSS %.1f MB%s]\n",
                     prompt_ids.size(), prefill_tps, out_ids.size(), decode_tps, load_s * 1000.0, peak_rss_mb(),
                     context_full ? ", stopped: context full" : "");
    }
    return 0;
}

int cmd_logits(int argc, char** argv) {
    const char *path = nullptr, *ids_file = nullptr, *out = nullptr;
    int threads = 1;
    ai::model_options mo;
    ai::matmul_input matmul = ai::matmul_input::q8_layers;
    for (int i = 0; i < argc; ++i) {
        const std::string_view a = argv[i];
        if (a == "--no-mmap") mo.no_mmap = true;
        else if (a == "--kernels" && i + 1 < argc) mo.kernels = argv[++i];
        else if (a == "--matmul" && i + 1 < argc) { if (!parse_matmul(argv[++i], &matmul)) return usage(); }
        else if (a == "--ids" && i + 1 < argc) ids_file = argv[++i];
        else if (a == "--out" && i + 1 < argc) out = argv[++i];
        else if (a == "-t" && i + 1 < argc) { if (!parse_num(argv[++i], &threads)) return usage(); }
        else if (!path && a.size() && a[0] != '-') path = argv[i];
        else return usage();
    }
    if (!path || !ids_file || !out || threads < 1) return usage();
    std::vector<ai::token_id> ids;
    if (!read_ids(ids_file, &ids)) return report_text("not a list of token ids", ids_file);
    if (ids.empty()) return report_text("no token ids", ids_file);
    ai::model m;
    ai::status st = m.load_file(path, &mo);
    if (!st) return report(st, path);
    ai::context_options co;
    co.matmul = matmul;
    co.n_threads = threads;
    co.n_ctx = std::max<int>((int)ids.size(), 64);  // one batch of all ids, as the oracle does
    co.n_batch = co.n_ctx;
    ai::context ctx;
    st = ctx.create(m, &co);
    if (!st) return report(st, path);
    const size_t n_vocab = (size_t)m.params().n_vocab;
    std::vector<float> logits(ids.size() * n_vocab);
    st = ctx.decode(ids.data(), (int32_t)ids.size(), logits.data(), logits.size());
    if (!st) return report(st, path);
    std::FILE* o = std::fopen(out, "wb");
    if (!o) return report_text("cannot create the output file", out);
    const bool ok = std::fwrite(logits.data(), sizeof(float), logits.size(), o) == logits.size();
    if (std::fclose(o) != 0 || !ok) return report_text("write failed", out);
    return 0;
}

// --- benchmark ------------------------------------------------------------------------------------

// "128,512" -> {128, 512}; false when a piece is not a positive number or the list is empty.
bool parse_list(const char* s, std::vector<int>* out) {
    out->clear();
    std::string all = s ? s : "";
    size_t start = 0;
    for (;;) {
        const size_t comma = all.find(',', start);
        const std::string piece = all.substr(start, comma == std::string::npos ? std::string::npos : comma - start);
        int v = 0;
        if (!parse_num(piece.c_str(), &v) || v < 1) return false;
        out->push_back(v);
        if (comma == std::string::npos) break;
        start = comma + 1;
    }
    return !out->empty();
}

// Median (mean of the middle two for an even count), min and max of a non-empty sample.
struct spread {
    double median = 0, min = 0, max = 0;
};
spread summarize(std::vector<double> v) {
    spread s;
    if (v.empty()) return s;
    std::sort(v.begin(), v.end());
    const size_t n = v.size();
    s.median = n % 2 ? v[n / 2] : 0.5 * (v[n / 2 - 1] + v[n / 2]);
    s.min = v.front();
    s.max = v.back();
    return s;
}

// Prefill and decode speed, llama-bench style. Prompt ids are pseudo-random valid ids (as the
// oracle's: (i*7919+13) % n_vocab), decode feeds id, id+1, ... (no sampling), so both programs do
// the same work on the same file. Every run gets a fresh context: for each pp value one prefill of
// pp tokens; after the first pp value's prefill, n single-token decodes.
int cmd_bench(int argc, char** argv) {
    const char* path = nullptr;
    std::vector<int> pps = {128, 512}, threads = {1, 2};
    int n_gen = 64, reps = 5, n_batch = 0;
    bool json = false, warmup = true;
    ai::model_options mo;
    ai::matmul_input matmul = ai::matmul_input::q8_layers;
    for (int i = 0; i < argc; ++i) {
        const std::string_view a = argv[i];
        const char* v = i + 1 < argc ? argv[i + 1] : nullptr;
        bool ok = true;
        if (a == "--json") json = true;
        else if (a == "--no-warmup") warmup = false;
        else if (a == "--no-mmap") mo.no_mmap = true;
        else if (!v && a.size() && a[0] == '-') return usage();
        else if (a == "-p") { ok = parse_list(v, &pps); ++i; }
        else if (a == "-t") { ok = parse_list(v, &threads); ++i; }
        else if (a == "-n") { ok = parse_num(v, &n_gen); ++i; }
        else if (a == "-r") { ok = parse_num(v, &reps); ++i; }
        else if (a == "-b") { ok = parse_num(v, &n_batch); ++i; }
        else if (a == "--kernels") { mo.kernels = v; ++i; }
        else if (a == "--matmul") { ok = parse_matmul(v, &matmul); ++i; }
        else if (!path && a.size() && a[0] != '-') path = argv[i];
        else return usage();
        if (!ok) return usage();
    }
    if (!path || n_gen < 0 || reps < 1 || n_batch < 0) return usage();

    const double t_load = now_s();
    ai::model m;
    ai::status st = m.load_file(path, &mo);
    if (!st) return report(st, path);
    const double load_ms = (now_s() - t_load) * 1000.0;

    const int32_t n_vocab = m.params().n_vocab;
    if (n_vocab < 1) return report_text("the model has no vocabulary", path);
    const int max_pp = *std::max_element(pps.begin(), pps.end());
    std::vector<ai::token_id> toks((size_t)max_pp);
    for (size_t i = 0; i < toks.size(); ++i) toks[i] = (ai::token_id)(((int64_t)i * 7919 + 13) % n_vocab);

    struct row {
        int threads, pp;
        spread pp_s, tg_s;
    };
    std::vector<row> rows;
    for (int t : threads) {
        ai::context_options co;
        co.matmul = matmul;
        co.n_ctx = max_pp + n_gen + 8;
        co.n_batch = n_batch;
        co.n_threads = t;
        if (warmup) {
            // One untimed token: pages the weights in and starts the threads.
            ai::context ctx;
            st = ctx.create(m, &co);
            if (st) st = ctx.decode(toks.data(), 1);
            if (!st) return report(st, path);
        }
        std::vector<std::vector<double>> pp_rates(pps.size());
        std::vector<double> tg_rates;
        for (int r = 0; r < reps; ++r) {
            for (size_t j = 0; j < pps.size(); ++j) {
                ai::context ctx;
                st = ctx.create(m, &co);
                if (!st) return report(st, path);
                const double t0 = now_s();
                st = ctx.decode(toks.data(), pps[j]);
                if (!st) return report(st, path);
                const double t1 = now_s();
                pp_rates[j].push_back(pps[j] / (t1 - t0));
                if (j != 0 || n_gen == 0) continue;
                ai::token_id id = toks[0];
                for (int i = 0; i < n_gen; ++i) {
                    st = ctx.decode(&id, 1);
                    if (!st) return report(st, path);
                    id = (id + 1) % n_vocab;
                }
                tg_rates.push_back(n_gen / (now_s() - t1));
            }
        }
        const spread tg = summarize(tg_rates);
        for (size_t j = 0; j < pps.size(); ++j) rows.push_back({t, pps[j], summarize(pp_rates[j]), tg});
    }

    const double rss = peak_rss_mb();
    if (json) {
        std::fputs("{\"model\":", stdout);
        json_string(stdout, path);
        static const char* const matmul_names[] = {"q8-layers", "f32", "q8"};
        std::printf(",\"simd\":\"%s\",\"kernels\":\"%s\",\"matmul\":\"%s\",\"file_size\":%" PRIu64
                    ",\"n_vocab\":%d,\"reps\":%d,\"warmup\":%s,\"tg_after_pp\":%d,\"results\":[",
                    ai::simd::arch_name(), m.kernels()->name, matmul_names[(int)matmul], m.file().file_size(), n_vocab, reps,
                    warmup ? "true" : "false", pps[0]);
        for (size_t i = 0; i < rows.size(); ++i) {
            const row& w = rows[i];
            std::printf("%s{\"threads\":%d,\"pp\":%d,\"pp_tok_s\":%.3f,\"pp_min\":%.3f,\"pp_max\":%.3f,"
                        "\"tg\":%d,\"tg_tok_s\":%.3f,\"tg_min\":%.3f,\"tg_max\":%.3f}",
                        i ? "," : "", w.threads, w.pp, w.pp_s.median, w.pp_s.min, w.pp_s.max, n_gen, w.tg_s.median, w.tg_s.min,
                        w.tg_s.max);
        }
        std::printf("],\"peak_rss_mb\":%.1f,\"load_ms\":%.1f}\n", rss, load_ms);
        return 0;
    }
    std::printf("%s: %.1f MB, n_vocab %d, load %.1f ms, kernels %s; median of %d run%s%s\n", path, (double)m.file().file_size() / 1e6,
                n_vocab, load_ms, ai::simd::arch_name(), reps, reps == 1 ? "" : "s", warmup ? " after a warm-up token" : "");
    std::printf("| threads | test | tok/s | min | max |\n|--:|:--|--:|--:|--:|\n");
    for (int t : threads) {
        for (const row& w : rows)
            if (w.threads == t) std::printf("| %d | pp%d | %.2f | %.2f | %.2f |\n", t, w.pp, w.pp_s.median, w.pp_s.min, w.pp_s.max);
        for (const row& w : rows)
            if (w.threads == t && n_gen > 0) {
                std::printf("| %d | tg%d (after pp%d) | %.2f | %.2f | %.2f |\n", t, n_gen, pps[0], w.tg_s.median, w.tg_s.min, w.tg_s.max);
                break;
            }
    }
    std::printf("peak RSS %.1f MB\n", rss);
    return 0;
}

}  // namespace

int main(int argc, char** argv) {
    if (argc < 2) return usage();
    const std::string_view cmd = argv[1];
    if (cmd == "info") return cmd_info(argc - 2, argv + 2);
    if (cmd == "dequant") return cmd_dequant(argc - 2, argv + 2);
    if (cmd == "tokenize") return cmd_tokenize(argc - 2, argv + 2);
    if (cmd == "run") return cmd_run(argc - 2, argv + 2);
    if (cmd == "logits") return cmd_logits(argc - 2, argv + 2);
    if (cmd == "bench") return cmd_bench(argc - 2, argv + 2);
    if (cmd == "-h" || cmd == "--help" || cmd == "help") { usage(); return 0; }
    return usage();
}
