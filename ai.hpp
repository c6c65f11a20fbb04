/* ai.hpp — an embeddable single-header C++17 inference library for small language models.

   WHAT IT IS
     Tensor types, quantization formats, a GGUF reader and writer (and, as the library grows, SIMD
     kernels, tokenizers and a transformer runtime), compiled into your program from this one file.
     No exceptions cross the API, nothing is printed unless you give a log callback, no thread is
     started unless you ask, and every allocation goes through a hook you can replace.

   QUICK START
     // in exactly one .cpp file:
     #define AI_IMPLEMENTATION
     #include "ai.hpp"

     ai::gguf_file f;
     ai::status st = f.open_file("model.gguf");            // mmap; or open_memory(ptr, size)
     if (!st) { fprintf(stderr, "error: %s\n", st.message); return 1; }
     uint32_t n_layer = 0;
     st = f.get("llama.block_count", &n_layer);            // type-checked, accepts u32/u64/...
     const ai::tensor_info* t = f.find_tensor("token_embd.weight");
     std::vector<float> row(t->ne[0]);
     st = f.dequantize_rows(*t, 0, 1, row.data(), row.size());  // any supported type -> float

   CONFIGURATION MACROS (define before including; the ones marked [impl] matter only in the
   translation unit that defines AI_IMPLEMENTATION)
     AI_IMPLEMENTATION   [impl] emit the implementation in this translation unit.
     AI_NO_STDIO         [impl] no file API at all (open_file, write_file): memory buffers and reader
                         callbacks only. Also drops <cstdio> from the implementation.
     AI_NO_MMAP          [impl] open_file always reads the file into memory instead of mapping it.
     AI_MALLOC(sz)       [impl] allocation hooks used by the default allocator. Define all three or
     AI_REALLOC(p,sz)           none (an #error says so otherwise). A runtime ai::allocator given in
     AI_FREE(p)                 an options struct takes precedence over them.
     AI_ASSERT(x)        [impl] internal invariant checks (default: assert). Never used for
                         checking input data: bad data always comes back as an ai::status.
     AI_API              decoration for every declared function (e.g. `static` or dllexport).

   DESIGN NOTES
     - Errors: every fallible call returns ai::status (a code, a message naming the key or tensor,
       and the byte offset in the input). Library code never prints, aborts or throws on bad data.
     - Options structs: zero (value-initialised) means default for every field.
     - Parsing works on memory; files, mappings and reader callbacks are thin wrappers over it.
     - Every size read from a file is overflow-checked before it is used.
     - The header is hand-edited as one file. Sections, in order:
         1. declarations   (status, allocator, log, tensor types, quantization, GGUF read/write)
         2. implementation (behind AI_IMPLEMENTATION)

   LICENSE
     MIT. Copyright (c) 2026 the ai.hpp authors. See the end of this file.
*/
#ifndef AI_HPP_INCLUDED
#define AI_HPP_INCLUDED

#include <cstddef>
#include <cstdint>
#include <string_view>

#define AI_VERSION_MAJOR 0
#define AI_VERSION_MINOR 1
#define AI_VERSION_PATCH 0

#ifndef AI_API
#define AI_API
#endif

namespace ai {

// ================================================================================================
// Status and errors
// ================================================================================================

enum class result : int32_t {
    ok = 0,
    invalid_argument,  // the caller passed something unusable (null pointer, wrong size, bad option)
    io_error,          // the operating system refused a read, write, open or map
    out_of_memory,     // an allocation failed (or the allocator hook refused it)
    format_error,      // the bytes are not a well-formed file of the expected kind
    unsupported,       // well-formed, but uses something this build cannot handle (e.g. a tensor type)
    type_mismatch,     // a metadata value exists but has a type that cannot convert to the request
    not_found,         // no such key or tensor
    out_of_range,      // an index or value outside what is valid
    budget_exceeded,   // a caller-set memory budget is too small
    cancelled,         // the caller's callback asked to stop
};

AI_API const char* result_name(result r);  // "ok", "format_error", ...

// Offset value meaning "no byte offset applies".
constexpr uint64_t no_offset = ~uint64_t(0);

// The outcome of a fallible call. Cheap to ignore only deliberately ([[nodiscard]]).
struct [[nodiscard]] status {
    result code = result::ok;
    uint64_t offset = no_offset;  // byte offset in the input where the problem was found, if any
    char message[240] = {0};      // one line, names the key or tensor involved; empty when ok

    bool ok() const { return code == result::ok; }
    explicit operator bool() const { return ok(); }
};

// ================================================================================================
// Allocation and logging hooks (runtime; zero means the defaults)
// ================================================================================================

// All memory the library owns comes from here. `align` is a power of two <= 4096. `free` gets the
// size that was asked for, so budget and arena allocators need no header of their own.
struct allocator {
    void* (*alloc)(void* user, size_t size, size_t align) = nullptr;
    void (*free)(void* user, void* ptr, size_t size) = nullptr;
    void* user = nullptr;
};

enum class log_level : int32_t { error = 0, warn = 1, info = 2, debug = 3 };

// Called from the thread that made the call that logs. Nothing is logged without it.
struct logger {
    void (*fn)(void* user, log_level level, const char* message) = nullptr;
    void* user = nullptr;
};

// ================================================================================================
// Tensor types and quantization formats
// ================================================================================================

// Numbering and block layouts are GGUF's (ggml's), so files from any converter read directly.
enum class tensor_type : uint32_t {
    f32 = 0, f16 = 1, q4_0 = 2, q4_1 = 3, q5_0 = 6, q5_1 = 7, q8_0 = 8, q8_1 = 9,
    q2_k = 10, q3_k = 11, q4_k = 12, q5_k = 13, q6_k = 14, q8_k = 15,
    iq2_xxs = 16, iq2_xs = 17, iq3_xxs = 18, iq1_s = 19, iq4_nl = 20, iq3_s = 21, iq2_s = 22,
    iq4_xs = 23, i8 = 24, i16 = 25, i32 = 26, i64 = 27, f64 = 28, iq1_m = 29, bf16 = 30,
    tq1_0 = 34, tq2_0 = 35, mxfp4 = 39,
};

struct type_traits {
    const char* name;      // "Q4_K", as llama.cpp and the gguf Python package spell it
    int32_t block_elems;   // elements per block (1 for plain types)
    int32_t block_bytes;   // bytes per block
    bool can_dequantize;   // this build converts it to float32
    bool can_quantize;     // this build converts float32 to it
};

// Layout facts for every type GGUF defines; nullptr for a number GGUF does not define.
AI_API const type_traits* type_info(tensor_type t);
// The type's name, or "unknown" for an undefined number.
AI_API const char* type_name(tensor_type t);
// Bytes taken by `n_elems` consecutive elements; false if n_elems is negative, not a whole number
// of blocks, or the size overflows.
AI_API bool type_row_bytes(tensor_type t, int64_t n_elems, size_t* bytes);

// Whole-row conversions with argument checks. `n` must be a multiple of the block size; `src_bytes`
// / `dst_bytes` are the sizes of the caller's buffers and are checked before anything is touched.
AI_API status dequantize(tensor_type t, const void* src, size_t src_bytes, float* dst, int64_t n);
AI_API status quantize(tensor_type t, const float* src, int64_t n, void* dst, size_t dst_bytes);

// Unchecked per-type kernels: the scalar reference implementations. Each (later) SIMD kernel has a
// twin here with the same signature, and the tests compare them. `n` is a multiple of the type's
// block size; pointers are valid for the whole row.
namespace ref {
using to_float_fn = void (*)(const void* src, float* dst, int64_t n);
using from_float_fn = void (*)(const float* src, void* dst, int64_t n);
AI_API to_float_fn to_float(tensor_type t);      // nullptr if the type cannot be dequantized
AI_API from_float_fn from_float(tensor_type t);  // nullptr if the type cannot be quantized
}  // namespace ref

// IEEE half and bfloat16 conversions (exact, round-to-nearest-even; NaN stays NaN).
AI_API float f16_to_f32(uint16_t h);
AI_API uint16_t f32_to_f16(float f);
AI_API float bf16_to_f32(uint16_t h);
AI_API uint16_t f32_to_bf16(float f);

// ================================================================================================
// GGUF reading
// ================================================================================================

enum class gguf_type : uint32_t {
    u8 = 0, i8 = 1, u16 = 2, i16 = 3, u32 = 4, i32 = 5, f32 = 6, boolean = 7,
    string = 8, array = 9, u64 = 10, i64 = 11, f64 = 12,
};
AI_API const char* gguf_type_name(gguf_type t);  // "u32", "string", "array", ...

// A view of an array value inside the file's bytes; no copy. Elements are little-endian.
struct gguf_array {
    gguf_type type = gguf_type::u8;  // element type
    uint64_t count = 0;              // number of elements
    const uint8_t* data = nullptr;   // first byte of the first element
    uint64_t bytes = 0;              // total bytes of all elements

    // Fixed-size elements (every type but string and array); false on a wrong type or index.
    bool get(uint64_t i, int64_t* out) const;    // any integer or bool element
    bool get(uint64_t i, uint64_t* out) const;   // any non-negative integer or bool element
    bool get(uint64_t i, double* out) const;     // any numeric element
    // Variable-size elements are walked in order: start with *cursor = 0, call until false.
    bool next_string(uint64_t* cursor, std::string_view* out) const;
    bool next_array(uint64_t* cursor, gguf_array* out) const;
};

// One metadata entry.
struct gguf_kv {
    std::string_view key;
    gguf_type type = gguf_type::u8;
    uint64_t offset = 0;  // file offset of the key's length field, for error messages
    union {
        uint64_t u;       // u8, u16, u32, u64, boolean (0/1)
        int64_t i;        // i8, i16, i32, i64
        double f;         // f32, f64
    } scalar = {0};
    std::string_view str;  // type == string (bytes as stored; not validated as UTF-8)
    gguf_array arr;        // type == array
};

// One tensor's description; data is resident when the file was opened from memory or a mapping.
struct tensor_info {
    std::string_view name;
    tensor_type type = tensor_type::f32;
    int32_t n_dims = 0;            // 1..4
    int64_t ne[4] = {1, 1, 1, 1};  // elements per dimension, ne[0] varies fastest (GGUF order)
    uint64_t n_elems = 0;          // product of ne
    size_t row_bytes = 0;          // bytes of one ne[0] row
    size_t bytes = 0;              // bytes of the whole tensor
    uint64_t offset = 0;           // absolute file offset of the first byte
    const void* data = nullptr;    // nullptr when the data is not resident (reader without loading)
};

// A source of bytes the caller controls (a pak file, a network cache, a compressed archive...).
// `read` fills dst with `bytes` bytes starting at `offset` and returns false on failure.
struct reader {
    bool (*read)(void* user, uint64_t offset, void* dst, size_t bytes) = nullptr;
    uint64_t size = 0;  // total size of the stream in bytes
    void* user = nullptr;
};

struct gguf_options {
    allocator alloc;       // zero: AI_MALLOC/AI_FREE (default malloc/free)
    logger log;            // zero: silent
    bool no_mmap = false;  // open_file: read into memory instead of mapping
    bool load_data = false;  // open_reader: also read all tensor data into memory
};

class gguf_file {
public:
    gguf_file() = default;
    ~gguf_file();
    gguf_file(gguf_file&& other) noexcept;
    gguf_file& operator=(gguf_file&& other) noexcept;
    gguf_file(const gguf_file&) = delete;
    gguf_file& operator=(const gguf_file&) = delete;

    // Parses `size` bytes at `data`. The bytes are not copied: keep them alive and unchanged while
    // this object (or any view from it) is in use.
    status open_memory(const void* data, size_t size, const gguf_options* opt = nullptr);
    // Reads the metadata through `r`; tensor data stays in the stream unless opt->load_data.
    status open_reader(const reader& r, const gguf_options* opt = nullptr);
#ifndef AI_NO_STDIO
    // Maps the file read-only (POSIX mmap / Windows file mapping), or reads it into memory when
    // mapping is unavailable or opt->no_mmap is set.
    status open_file(const char* path, const gguf_options* opt = nullptr);
#endif
    void close();  // releases everything; the object can be opened again
    bool is_open() const { return state_ != nullptr; }

    uint32_t version() const;      // 2 or 3
    uint64_t alignment() const;    // general.alignment, or 32
    uint64_t data_offset() const;  // absolute offset of the tensor data section
    uint64_t file_size() const;
    bool is_mapped() const;        // data is an OS file mapping

    // Metadata, in file order.
    int64_t kv_count() const;
    const gguf_kv& kv(int64_t index) const;  // index in [0, kv_count())
    const gguf_kv* find(std::string_view key) const;  // nullptr if absent

    // Typed metadata access. An integer of any width converts when the value fits; f32/f64
    // convert to float/double. A missing key is result::not_found; a value of another kind or out
    // of range for the request is result::type_mismatch; both messages name the key.
    status get(std::string_view key, uint32_t* out) const;
    status get(std::string_view key, int32_t* out) const;
    status get(std::string_view key, uint64_t* out) const;
    status get(std::string_view key, int64_t* out) const;
    status get(std::string_view key, float* out) const;
    status get(std::string_view key, double* out) const;
    status get(std::string_view key, bool* out) const;
    status get(std::string_view key, std::string_view* out) const;
    status get(std::string_view key, gguf_array* out) const;
    // The same with a fallback for absent keys (a present key of the wrong type is still an error).
    template <class T> status get_or(std::string_view key, T* out, T fallback) const {
        if (!find(key)) { *out = fallback; return status{}; }
        return get(key, out);
    }

    // Tensors, in file order.
    int64_t tensor_count() const;
    const tensor_info& tensor(int64_t index) const;          // index in [0, tensor_count())
    const tensor_info* find_tensor(std::string_view name) const;  // nullptr if absent

    // Copies the raw bytes of `t` (from memory, the mapping or the reader) into dst.
    status read_tensor(const tensor_info& t, void* dst, size_t dst_bytes) const;
    // Dequantizes rows [first_row, first_row + n_rows) of `t` (a row is ne[0] elements, rows are
    // counted over ne[1]*ne[2]*ne[3]) into dst, which holds dst_count floats.
    status dequantize_rows(const tensor_info& t, int64_t first_row, int64_t n_rows, float* dst,
                           size_t dst_count) const;

    struct state;  // implementation detail
private:
    state* state_ = nullptr;
};

// ================================================================================================
// GGUF writing
// ================================================================================================

// Collects metadata and tensors, then writes a GGUF v3 file. Tensor data is not copied: every
// pointer given to add_tensor must stay valid until the last write call.
class gguf_writer {
public:
    explicit gguf_writer(const allocator* alloc = nullptr);
    ~gguf_writer();
    gguf_writer(const gguf_writer&) = delete;
    gguf_writer& operator=(const gguf_writer&) = delete;

    // Setting a key that exists replaces its value in place (file order is kept).
    status set_u8(std::string_view key, uint8_t v);
    status set_i8(std::string_view key, int8_t v);
    status set_u16(std::string_view key, uint16_t v);
    status set_i16(std::string_view key, int16_t v);
    status set_u32(std::string_view key, uint32_t v);
    status set_i32(std::string_view key, int32_t v);
    status set_u64(std::string_view key, uint64_t v);
    status set_i64(std::string_view key, int64_t v);
    status set_f32(std::string_view key, float v);
    status set_f64(std::string_view key, double v);
    status set_bool(std::string_view key, bool v);
    status set_string(std::string_view key, std::string_view v);
    // An array of fixed-size elements (not string/array), `count` elements of little-endian bytes.
    status set_array(std::string_view key, gguf_type elem, const void* data, uint64_t count);
    status set_string_array(std::string_view key, const std::string_view* items, uint64_t count);
    // Sets general.alignment (a power of two) and uses it for the tensor data.
    status set_alignment(uint32_t alignment);

    // ne[0] varies fastest; n_dims in 1..4; data_bytes must equal the tensor's exact size.
    status add_tensor(std::string_view name, tensor_type type, int32_t n_dims, const int64_t* ne,
                      const void* data, size_t data_bytes);

    // The exact size write_memory needs.
    status file_size(uint64_t* size) const;
    // Writes the whole file to dst (capacity dst_bytes); *written gets the size.
    status write_memory(void* dst, size_t dst_bytes, size_t* written) const;
#ifndef AI_NO_STDIO
    status write_file(const char* path) const;
#endif

    struct state;  // implementation detail
private:
    state* state_ = nullptr;
    status init_error_;
};

}  // namespace ai

#endif  // AI_HPP_INCLUDED
