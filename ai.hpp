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
     AI_MALLOC(sz)       [impl] allocation hooks used by the default allocator. Define both or
     AI_FREE(p)                 neither (an #error says so otherwise). A runtime ai::allocator given
                                in an options struct takes precedence over them.
     AI_NO_SIMD          [impl] do not use xsimd even if <xsimd/xsimd.hpp> is on the include path;
                         ai::simd kernels then run the scalar reference code.
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
    tq1_0 = 34, tq2_0 = 35, mxfp4 = 39, nvfp4 = 40, q1_0 = 41,
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
// Vector kernels
// ================================================================================================
// Every kernel exists twice with one signature: in ai::ref (portable scalar code, the reference)
// and in ai::simd (xsimd, for the instruction set the implementation's translation unit was
// compiled for: build it with -march=native or -mavx2 -mfma to get more than SSE2). The tests run
// both on the same inputs. Without xsimd (or with AI_NO_SIMD) ai::simd forwards to ai::ref.
namespace ref {
AI_API float dot_f32(const float* a, const float* b, int64_t n);  // sum of a[i]*b[i]
}  // namespace ref
namespace simd {
AI_API float dot_f32(const float* a, const float* b, int64_t n);
AI_API const char* arch_name();  // e.g. "fma3+avx2", "neon64", or "scalar"
}  // namespace simd

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
    int32_t n_dims = 0;            // 0..4 (0: a scalar, one element)
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

    // ne[0] varies fastest; n_dims in 0..4 (0: a scalar); data_bytes must equal the tensor's exact size.
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

// ================================================================================================
// Tokenizer
// ================================================================================================
// Text to token ids and back, exactly as the model was trained (llama.cpp's tokenizer is the
// reference and the tests compare with it). Built from a GGUF file's tokenizer.* metadata.

using token_id = int32_t;
constexpr token_id no_token = -1;

enum class vocab_kind : int32_t {
    none = 0,  // the file has no vocabulary
    spm,       // tokenizer.ggml.model "llama": SentencePiece, score-based merges, byte fallback
    bpe,       // "gpt2": byte-level BPE with merge ranks and a regex pre-tokenizer
    wpm,       // "bert": WordPiece
};

// GGUF's tokenizer.ggml.token_type values.
enum class token_kind : int32_t { undefined = 0, normal = 1, unknown = 2, control = 3, user_defined = 4, unused = 5, byte = 6 };

struct tokenizer_options {
    allocator alloc;  // zero: the defaults
    logger log;       // zero: silent
    // An unknown tokenizer.ggml.pre is an error unless this is set; then the default (GPT-2)
    // pre-tokenizer is used and a warning is logged.
    bool allow_unknown_pre = false;
};

// Per call; zero means: add BOS/EOS as the model asks, special-token text is plain text.
struct tokenize_options {
    bool no_special_added = false;  // add no BOS/EOS even if the model asks for them
    bool parse_special = false;     // text like "<|im_start|>" becomes that control/user token
};

class tokenizer {
public:
    tokenizer() = default;
    ~tokenizer();
    tokenizer(tokenizer&& other) noexcept;
    tokenizer& operator=(tokenizer&& other) noexcept;
    tokenizer(const tokenizer&) = delete;
    tokenizer& operator=(const tokenizer&) = delete;

    // Builds the tokenizer from the file's metadata. Everything needed is copied: the file may be
    // closed afterwards. Errors name the key that is missing or malformed.
    status load(const gguf_file& file, const tokenizer_options* opt = nullptr);
    bool is_loaded() const { return state_ != nullptr; }

    vocab_kind kind() const;
    const char* pre_name() const;  // the pre-tokenizer in use ("llama-bpe", "qwen2", "default", ...)
    int32_t n_tokens() const;

    token_id bos() const;  // no_token when the model has none
    token_id eos() const;
    token_id eot() const;
    token_id unk() const;
    token_id pad() const;
    bool add_bos() const;  // the model asks for BOS at the start of a prompt
    bool add_eos() const;
    bool is_eog(token_id id) const;  // end of generation: EOS, EOT, <|im_end|>, <|eot_id|>, ...
    token_kind kind_of(token_id id) const;  // token_kind::undefined for an invalid id
    std::string_view text(token_id id) const;  // the vocabulary entry as stored; empty if invalid

    // Tokenizes UTF-8 text into `out` (capacity `cap` ids). *n_out receives the number of ids the
    // whole text needs; if that exceeds cap, nothing past cap is written and the result is
    // result::out_of_range, so a caller can retry with a buffer of *n_out. Invalid UTF-8 is
    // tokenized as llama.cpp does (each bad byte as U+FFFD); the call never fails on content.
    // Thread-safe: a loaded tokenizer may be used from many threads at once.
    status tokenize(std::string_view text, token_id* out, size_t cap, size_t* n_out,
                    const tokenize_options* opt = nullptr) const;

    // The bytes one token stands for (byte tokens decoded, SentencePiece's U+2581 as a space,
    // byte-level BPE mapped back to bytes). Control tokens give nothing unless `special`.
    // Returns the number of bytes the piece needs; writes min(that, cap) bytes to buf.
    size_t piece(token_id id, char* buf, size_t cap, bool special = false) const;

    // Whole-sequence detokenization as llama.cpp does it (including removing the leading space
    // SentencePiece adds). Same size convention as tokenize: *n_out = bytes needed.
    status detokenize(const token_id* ids, size_t n, char* out, size_t cap, size_t* n_out,
                      bool special = false) const;

    struct state;  // implementation detail
private:
    friend class detokenize_stream;
    state* state_ = nullptr;
};

// Streaming detokenization for generated text: feed ids one at a time and get back only complete
// UTF-8 (bytes of a character split across tokens are held until the character is whole), with
// the same leading-space rule and space clean-up as tokenizer::detokenize, so the concatenated
// output equals detokenize() of the whole sequence whenever that is valid UTF-8. No allocation;
// holds at most 3 bytes of a character plus, for vocabularies that clean up spaces (" ," -> ","),
// up to 6 ASCII characters whose fate depends on what follows.
class detokenize_stream {
public:
    explicit detokenize_stream(const tokenizer& t, bool special = false) : tok_(&t), special_(special) {}
    // Appends the text completed by `id` to out (capacity cap); returns the bytes written, or
    // the bytes needed if cap is too small (then nothing is consumed: call again with more room).
    size_t feed(token_id id, char* out, size_t cap);
    // Whatever is still held at the end: held-back ASCII as is, an unfinished character as U+FFFD.
    size_t flush(char* out, size_t cap);
    void reset() { pending_len_ = 0; clean_ = 0; at_start_ = true; }

private:
    const tokenizer* tok_;
    bool special_;
    bool at_start_ = true;
    uint8_t pending_[4] = {0, 0, 0, 0};
    uint32_t pending_len_ = 0;
    uint32_t clean_ = 0;  // state of the space clean-up (what it holds back)
};

// ================================================================================================
// Model, context, sampling
// ================================================================================================
// A model is the weights (views into the mapped file, never copied) and hyper-parameters; a
// context is one conversation's state: the KV cache and every scratch buffer, all allocated when
// the context is created, so decoding never allocates. Many contexts can share one model.

enum class arch : int32_t { llama = 0, qwen2, qwen3 };
enum class rope_style : int32_t { normal = 0, neox };  // pairs (2i, 2i+1) vs (i, i + d/2)

// Hyper-parameters as read from the file (general.architecture + "<arch>.*" keys).
struct model_params {
    ai::arch arch = ai::arch::llama;
    int32_t n_vocab = 0;
    int32_t n_embd = 0;       // model width (embedding_length)
    int32_t n_layer = 0;
    int32_t n_head = 0;
    int32_t n_head_kv = 0;
    int32_t head_dim = 0;     // attention.key_length, or n_embd / n_head
    int32_t n_ff = 0;
    int32_t n_ctx_train = 0;  // context_length
    float rms_eps = 1e-5f;
    float rope_base = 10000.0f;
    int32_t rope_dims = 0;    // rope.dimension_count (rotated dimensions per head)
    ai::rope_style rope = ai::rope_style::normal;
    bool tied_output = false; // no output.weight: the token embedding is reused
};

struct model_options {
    allocator alloc;       // zero: the defaults
    logger log;            // zero: silent
    bool no_mmap = false;  // read the file into memory instead of mapping it
};

class model {
public:
    model() = default;
    ~model();
    model(model&& other) noexcept;
    model& operator=(model&& other) noexcept;
    model(const model&) = delete;
    model& operator=(const model&) = delete;

#ifndef AI_NO_STDIO
    status load_file(const char* path, const model_options* opt = nullptr);
#endif
    // The bytes must stay valid and unchanged while the model is in use.
    status load_memory(const void* data, size_t size, const model_options* opt = nullptr);
    bool is_loaded() const { return state_ != nullptr; }

    const model_params& params() const;
    const ai::tokenizer& tokenizer() const;
    const gguf_file& file() const;

    struct state;  // implementation detail
private:
    friend class context;  // a context reads the weights through the model's state
    status finish_load(const model_options* opt);
    state* state_ = nullptr;
};

enum class kv_type : int32_t { f16 = 0, f32 = 1 };  // zero = F16, as llama.cpp

// Lets a caller run our parallel loops on its own job system: call task(arg, i) for every i in
// [0, n_tasks), in any order and on any threads, and return when all are done.
struct parallel_for {
    void (*run)(void* user, int32_t n_tasks, void (*task)(void* arg, int32_t i), void* arg) = nullptr;
    void* user = nullptr;
};

struct context_options {
    int32_t n_ctx = 0;          // context length in tokens; 0: min(model's, 4096)
    int32_t n_batch = 0;        // most tokens per forward pass; 0: 512
    kv_type kv = kv_type::f16;  // KV cache element type
    size_t memory_budget = 0;   // bytes; 0: no limit. Creation fails with budget_exceeded if the
                                // KV cache and scratch would not fit
    int32_t n_threads = 0;      // 0 or 1: run on the calling thread, no synchronisation at all
    ai::parallel_for parallel;  // when set, used instead of our threads
    // Polled between layers: returning true stops the current decode with result::cancelled
    // (the context stays valid: the tokens already committed are kept).
    bool (*should_stop)(void* user) = nullptr;
    void* should_stop_user = nullptr;
    allocator alloc;
    logger log;
};

class context {
public:
    context() = default;
    ~context();
    context(context&& other) noexcept;
    context& operator=(context&& other) noexcept;
    context(const context&) = delete;
    context& operator=(const context&) = delete;

    status create(const model& m, const context_options* opt = nullptr);
    bool is_created() const { return state_ != nullptr; }

    // Runs the model over `n` tokens at the current position (any n: longer inputs are processed
    // in n_batch chunks) and appends them to the KV cache. Afterwards logits() holds the logits
    // after the last token; when logits_out is given (logits_out_count >= n * n_vocab floats) it
    // receives the logits after every one of the n tokens, row by row.
    status decode(const token_id* ids, int32_t n, float* logits_out = nullptr, size_t logits_out_count = 0);
    const float* logits() const;  // n_vocab floats, after the last decoded token; nullptr when
                                  // there is none (nothing decoded yet, or rewound since)
    int32_t position() const;     // tokens in the KV cache
    int32_t n_ctx() const;
    // Forgets tokens from position `pos` on (pos <= position()); 0 clears the conversation.
    status rewind(int32_t pos);
    size_t memory_bytes() const;  // everything this context allocated

    struct state;  // implementation detail
private:
    state* state_ = nullptr;
};

// Zero means: greedy, no truncation, no penalties, seed 0.
struct sampler_options {
    float temperature = 0.0f;     // <= 0: greedy (argmax)
    int32_t top_k = 0;            // 0: off
    float top_p = 0.0f;           // 0 or >= 1: off
    float min_p = 0.0f;           // 0: off
    float repeat_penalty = 0.0f;  // 0 or 1: off (llama.cpp's rule: divide positive logits, multiply negative)
    float frequency_penalty = 0.0f;
    float presence_penalty = 0.0f;
    int32_t penalty_last_n = 0;   // 0: 64 tokens of history
    uint64_t seed = 0;
};

// Picks the next token from logits. Owns its buffers (allocated at init, none while sampling);
// the same seed and history give the same tokens on every run and thread count.
class sampler {
public:
    sampler() = default;
    ~sampler();
    sampler(const sampler&) = delete;
    sampler& operator=(const sampler&) = delete;

    status init(int32_t n_vocab, const sampler_options* opt = nullptr, const allocator* alloc = nullptr);
    token_id sample(const float* logits);  // no_token if not initialised
    void accept(token_id id);              // adds to the penalty history
    void reset();                          // clears history, reseeds

    struct state;  // implementation detail
private:
    state* state_ = nullptr;
};

}  // namespace ai

#endif  // AI_HPP_INCLUDED

// ================================================================================================
// ================================================================================================
//                                       IMPLEMENTATION
// ================================================================================================
// ================================================================================================
#if defined(AI_IMPLEMENTATION) && !defined(AI_IMPLEMENTATION_INCLUDED)
#define AI_IMPLEMENTATION_INCLUDED

#include <algorithm>
#include <cfloat>
#include <climits>
#include <cmath>
#include <cstdarg>
#include <cstring>
#include <limits>
#include <new>

#ifndef AI_NO_STDIO
#include <cstdio>
#if !defined(AI_NO_MMAP)
#if defined(_WIN32)
#ifndef WIN32_LEAN_AND_MEAN
#define WIN32_LEAN_AND_MEAN
#endif
#ifndef NOMINMAX
#define NOMINMAX
#endif
#include <windows.h>
#define AI_MMAP_WIN32 1
#elif defined(__unix__) || defined(__APPLE__)
#include <fcntl.h>
#include <sys/mman.h>
#include <sys/stat.h>
#include <unistd.h>
#define AI_MMAP_POSIX 1
#endif
#endif
#endif

#if defined(AI_MALLOC) || defined(AI_FREE)
#if !defined(AI_MALLOC) || !defined(AI_FREE)
#error "ai.hpp: define both AI_MALLOC and AI_FREE, or neither"
#endif
#else
#include <cstdlib>
#define AI_MALLOC(sz) std::malloc(sz)
#define AI_FREE(p) std::free(p)
#endif

// xsimd is optional: found on the include path, it powers ai::simd; AI_NO_SIMD turns it off.
#if !defined(AI_NO_SIMD) && defined(__has_include)
#if __has_include(<xsimd/xsimd.hpp>)
#include <xsimd/xsimd.hpp>
#define AI_HAVE_XSIMD 1
#endif
#endif
#ifndef AI_HAVE_XSIMD
#define AI_HAVE_XSIMD 0
#endif

#ifndef AI_ASSERT
#include <cassert>
#define AI_ASSERT(x) assert(x)
#endif

// With AI_API defined as `static`, functions a program does not call would warn as unused.
#if defined(__GNUC__) || defined(__clang__)
#pragma GCC diagnostic push
#pragma GCC diagnostic ignored "-Wunused-function"
#endif

namespace ai {

// ================================================================================================
// Small internal tools: checked arithmetic, memory, messages
// ================================================================================================
namespace detail {

// Checked arithmetic: every size read from a file goes through these before it is used.
inline bool add_ok(uint64_t a, uint64_t b, uint64_t* r) { *r = a + b; return *r >= a; }
inline bool mul_ok(uint64_t a, uint64_t b, uint64_t* r) {
    if (a != 0 && b > UINT64_MAX / a) return false;
    *r = a * b;
    return true;
}
// Rounds x up to a multiple of the power of two `align`; false on overflow.
inline bool align_up_ok(uint64_t x, uint64_t align, uint64_t* r) {
    uint64_t t;
    if (!add_ok(x, align - 1, &t)) return false;
    *r = t & ~(align - 1);
    return true;
}
inline bool is_pow2(uint64_t x) { return x != 0 && (x & (x - 1)) == 0; }

// Default allocator: AI_MALLOC with manual alignment. The raw pointer sits just before the
// aligned block so free can find it.
inline void* default_alloc(void*, size_t size, size_t align) {
    if (align < sizeof(void*)) align = sizeof(void*);
    if (size > SIZE_MAX - align - sizeof(void*)) return nullptr;
    void* raw = AI_MALLOC(size + align + sizeof(void*));
    if (!raw) return nullptr;
    uintptr_t p = (reinterpret_cast<uintptr_t>(raw) + sizeof(void*) + align - 1) & ~(uintptr_t)(align - 1);
    std::memcpy(reinterpret_cast<void*>(p - sizeof(void*)), &raw, sizeof(void*));
    return reinterpret_cast<void*>(p);
}
inline void default_free(void*, void* ptr, size_t) {
    if (!ptr) return;
    void* raw;
    std::memcpy(&raw, static_cast<char*>(ptr) - sizeof(void*), sizeof(void*));
    AI_FREE(raw);
}

// An allocator with its gaps filled: a half-given allocator (alloc without free) is not usable, so
// both must come from the caller or both from the defaults.
inline allocator resolve(const allocator* a) {
    allocator r;
    if (a && a->alloc && a->free) return *a;
    r.alloc = default_alloc;
    r.free = default_free;
    return r;
}
inline void* mem_alloc(const allocator& a, size_t size, size_t align = 64) {
    return a.alloc(a.user, size ? size : 1, align);
}
inline void mem_free(const allocator& a, void* p, size_t size) {
    if (p) a.free(a.user, p, size ? size : 1);
}

// A tiny printf-like formatter so that messages need no <cstdio>. Supports %s, %.*s, %c, %d, %u,
// %lld, %llu, %zu, %x, %llx and %%; enough for every message in this file.
inline void fmt_put(char* out, size_t cap, size_t* n, char c) {
    if (*n + 1 < cap) out[*n] = c;
    ++*n;
}
inline void fmt_uint(char* out, size_t cap, size_t* n, unsigned long long v, unsigned base) {
    char tmp[24];
    int k = 0;
    do { tmp[k++] = "0123456789abcdef"[v % base]; v /= base; } while (v);
    while (k) fmt_put(out, cap, n, tmp[--k]);
}
inline void vformat(char* out, size_t cap, const char* fmt, va_list ap) {
    size_t n = 0;
    for (const char* f = fmt; *f; ++f) {
        if (*f != '%') { fmt_put(out, cap, &n, *f); continue; }
        ++f;
        if (*f == '%') { fmt_put(out, cap, &n, '%'); continue; }
        if (f[0] == '.' && f[1] == '*' && f[2] == 's') {
            int len = va_arg(ap, int);
            const char* s = va_arg(ap, const char*);
            for (int i = 0; i < len && s; ++i) fmt_put(out, cap, &n, s[i]);
            f += 2;
            continue;
        }
        int longs = 0;
        bool size_t_arg = false;
        while (*f == 'l') { ++longs; ++f; }
        if (*f == 'z') { size_t_arg = true; ++f; }
        switch (*f) {
        case 's': { const char* s = va_arg(ap, const char*); if (!s) s = "(null)"; while (*s) fmt_put(out, cap, &n, *s++); break; }
        case 'c': fmt_put(out, cap, &n, (char)va_arg(ap, int)); break;
        case 'd': case 'i': {
            long long v = longs >= 2 ? va_arg(ap, long long) : longs == 1 ? va_arg(ap, long) : va_arg(ap, int);
            unsigned long long m = v < 0 ? 0ull - (unsigned long long)v : (unsigned long long)v;
            if (v < 0) fmt_put(out, cap, &n, '-');
            fmt_uint(out, cap, &n, m, 10);
            break;
        }
        case 'u': case 'x': {
            unsigned long long v = size_t_arg ? va_arg(ap, size_t)
                                 : longs >= 2 ? va_arg(ap, unsigned long long)
                                 : longs == 1 ? va_arg(ap, unsigned long) : va_arg(ap, unsigned);
            fmt_uint(out, cap, &n, v, *f == 'x' ? 16 : 10);
            break;
        }
        default: fmt_put(out, cap, &n, '%'); if (*f) fmt_put(out, cap, &n, *f); else --f; break;
        }
    }
    if (cap) out[n < cap ? n : cap - 1] = '\0';
}
inline void format(char* out, size_t cap, const char* fmt, ...) {
    va_list ap;
    va_start(ap, fmt);
    vformat(out, cap, fmt, ap);
    va_end(ap);
}

inline status fail(result code, uint64_t offset, const char* fmt, ...) {
    status s;
    s.code = code;
    s.offset = offset;
    va_list ap;
    va_start(ap, fmt);
    vformat(s.message, sizeof s.message, fmt, ap);
    va_end(ap);
    // Messages are one line whatever names a file puts in them.
    for (char* c = s.message; *c; ++c)
        if ((unsigned char)*c < 0x20 || *c == 0x7f) *c = '?';
    return s;
}

inline void log(const logger& lg, log_level level, const char* fmt, ...) {
    if (!lg.fn) return;
    char msg[512];
    va_list ap;
    va_start(ap, fmt);
    vformat(msg, sizeof msg, fmt, ap);
    va_end(ap);
    lg.fn(lg.user, level, msg);
}

// For "%.*s" with a string_view; names in messages are cut at 96 bytes to keep one line readable.
inline int sv_len(std::string_view s) { return (int)(s.size() < 96 ? s.size() : 96); }

// Little-endian loads from unaligned bytes.
inline uint16_t load_u16(const uint8_t* p) { return (uint16_t)(p[0] | (p[1] << 8)); }
inline uint32_t load_u32(const uint8_t* p) {
    return (uint32_t)p[0] | ((uint32_t)p[1] << 8) | ((uint32_t)p[2] << 16) | ((uint32_t)p[3] << 24);
}
inline uint64_t load_u64(const uint8_t* p) { return (uint64_t)load_u32(p) | ((uint64_t)load_u32(p + 4) << 32); }
inline void store_u16(uint8_t* p, uint16_t v) { p[0] = (uint8_t)v; p[1] = (uint8_t)(v >> 8); }
inline void store_u32(uint8_t* p, uint32_t v) { for (int i = 0; i < 4; ++i) p[i] = (uint8_t)(v >> (8 * i)); }
inline void store_u64(uint8_t* p, uint64_t v) { for (int i = 0; i < 8; ++i) p[i] = (uint8_t)(v >> (8 * i)); }

// Open-addressing index from names to positions, for duplicate detection and lookup.
struct name_index {
    int32_t* slots = nullptr;  // -1 = empty, else an index into the caller's array
    uint32_t mask = 0;
    size_t bytes = 0;

    static uint64_t hash(std::string_view s) {  // FNV-1a
        uint64_t h = 1469598103934665603ull;
        for (unsigned char c : s) { h ^= c; h *= 1099511628211ull; }
        return h;
    }
    bool init(const allocator& a, int64_t n) {
        uint64_t cap = 16;
        while (cap < (uint64_t)n * 2) cap <<= 1;
        if (cap > ((uint64_t)1 << 31)) return false;
        bytes = (size_t)cap * sizeof(int32_t);
        slots = static_cast<int32_t*>(mem_alloc(a, bytes));
        if (!slots) return false;
        std::memset(slots, 0xff, bytes);
        mask = (uint32_t)(cap - 1);
        return true;
    }
    void release(const allocator& a) { mem_free(a, slots, bytes); slots = nullptr; mask = 0; bytes = 0; }
    // Inserts `index` under `name`; returns the existing index if the name is already present.
    template <class NameOf> int32_t insert(std::string_view name, int32_t index, NameOf name_of) {
        for (uint32_t i = (uint32_t)hash(name) & mask;; i = (i + 1) & mask) {
            if (slots[i] < 0) { slots[i] = index; return -1; }
            if (name_of(slots[i]) == name) return slots[i];
        }
    }
    template <class NameOf> int32_t find(std::string_view name, NameOf name_of) const {
        if (!slots) return -1;
        for (uint32_t i = (uint32_t)hash(name) & mask;; i = (i + 1) & mask) {
            if (slots[i] < 0) return -1;
            if (name_of(slots[i]) == name) return slots[i];
        }
    }
};

}  // namespace detail

const char* result_name(result r) {
    switch (r) {
    case result::ok: return "ok";
    case result::invalid_argument: return "invalid_argument";
    case result::io_error: return "io_error";
    case result::out_of_memory: return "out_of_memory";
    case result::format_error: return "format_error";
    case result::unsupported: return "unsupported";
    case result::type_mismatch: return "type_mismatch";
    case result::not_found: return "not_found";
    case result::out_of_range: return "out_of_range";
    case result::budget_exceeded: return "budget_exceeded";
    case result::cancelled: return "cancelled";
    }
    return "unknown";
}

// ================================================================================================
// Tensor types: block layouts, reference quantization kernels
// ================================================================================================
// ================================================================================================
// Tensor types and quantization: half floats, block layouts, scalar reference kernels
// ================================================================================================
//
// Everything here is plain scalar C++: the reference every faster kernel is tested against, and
// the code that writes quantized files. Block layouts and dequantization arithmetic are GGUF's
// (ggml's): dequantization reproduces ggml's operations in the same order, so it gives the same
// float32 bits. Quantizers are our own code following the same rules: the same rounding for the
// simple types, the same kind of iterative scale search for the K-quants and IQ4_NL. In practice
// their bytes equal llama.cpp's reference quantizers' (the path `llama-quantize` takes without an
// importance matrix) for every type here; tests/check_quants_peer.py checks that.
//
// Conventions: blocks are read and written with memcpy (a row need not be aligned); the host is
// little-endian, as GGUF is; `n` is a multiple of the block size (a partial last block is
// ignored, never read or written). Nothing here allocates, throws or prints. Any float input,
// NaN and infinities included, is safe to quantize: every float-to-integer conversion goes
// through a clamping helper, and a block of zeros gets scale 0 with no division by zero.

// ------------------------------------------------------------------------------------------------
// IEEE half (binary16) and bfloat16
// ------------------------------------------------------------------------------------------------
//
// binary16: sign(1) exponent(5, bias 15) mantissa(10). binary32: sign(1) exponent(8, bias 127)
// mantissa(23). bfloat16 is the top half of a binary32.

namespace detail {
inline uint32_t f32_bits(float f) { uint32_t u; std::memcpy(&u, &f, 4); return u; }
inline float f32_from_bits(uint32_t u) { float f; std::memcpy(&f, &u, 4); return f; }
}  // namespace detail

float f16_to_f32(uint16_t h) {
    const uint32_t sign = uint32_t(h & 0x8000u) << 16;
    const uint32_t exp = (h >> 10) & 0x1Fu;
    const uint32_t mant = h & 0x3FFu;
    if (exp == 0x1F) {  // inf, or NaN (made quiet, as the F16C instruction does)
        return detail::f32_from_bits(sign | 0x7F800000u | (mant << 13) | (mant ? 0x00400000u : 0u));
    }
    if (exp != 0) {  // normal: rebias the exponent 15 -> 127, widen the mantissa 10 -> 23 bits
        return detail::f32_from_bits(sign | ((exp + 112u) << 23) | (mant << 13));
    }
    // zero or subnormal: mant * 2^-24, exact in float
    const float mag = float(mant) * 0x1p-24f;
    return detail::f32_from_bits(sign | detail::f32_bits(mag));
}

uint16_t f32_to_f16(float f) {
    const uint32_t u = detail::f32_bits(f);
    const uint16_t sign = uint16_t((u >> 16) & 0x8000u);
    const uint32_t a = u & 0x7FFFFFFFu;  // magnitude bits
    if (a > 0x7F800000u) {                // NaN: keep the top payload bits, force quiet
        return uint16_t(sign | 0x7E00u | ((a >> 13) & 0x3FFu));
    }
    if (a >= 0x477FF000u) return uint16_t(sign | 0x7C00u);  // >= 65520 rounds to inf (inf too)
    if (a >= 0x38800000u) {  // >= 2^-14: a normal half. Rebias the exponent (127 -> 15), then
        // round the 23-bit mantissa to 10 bits, ties to even; a carry moves into the exponent.
        const uint32_t r = a - (112u << 23);
        return uint16_t(sign | ((r + 0x0FFFu + ((r >> 13) & 1u)) >> 13));
    }
    // Subnormal half (or zero): the result is round(|f| * 2^24) in units of 2^-24. With the
    // implicit bit, |f| = m * 2^(e-150), so the unit count is m >> (126 - e) plus rounding.
    const uint32_t e = a >> 23;
    if (e < 102) return sign;  // below 2^-25: rounds to zero (2^-25 itself ties to even zero)
    const uint32_t m = (a & 0x7FFFFFu) | 0x800000u;
    const uint32_t shift = 126u - e;  // 14..24
    uint32_t q = m >> shift;
    const uint32_t rest = m & ((1u << shift) - 1u);
    const uint32_t half = 1u << (shift - 1u);
    if (rest > half || (rest == half && (q & 1u))) ++q;  // may carry to 0x400, the smallest normal
    return uint16_t(sign | q);
}

float bf16_to_f32(uint16_t h) { return detail::f32_from_bits(uint32_t(h) << 16); }

uint16_t f32_to_bf16(float f) {
    const uint32_t u = detail::f32_bits(f);
    if ((u & 0x7FFFFFFFu) > 0x7F800000u) return uint16_t((u >> 16) | 0x40u);  // NaN: force quiet
    // round the low 16 bits away, ties to even (overflow carries into inf, as it should)
    return uint16_t((u + 0x7FFFu + ((u >> 16) & 1u)) >> 16);
}

// No FMA contraction in this section. A compiler targeting FMA hardware may fuse a*b + c into one
// rounding (GCC does so across statements by default; Clang within an expression), which would
// change the quantizers' scale searches and so the bytes they write: llama.cpp's reference files
// are built without contraction, and our quantized output is meant to match them bit for bit.
// (Dequantization does not depend on it: its products d * scale * q are exact in float.)
#if defined(__clang__)
#pragma float_control(push)
#pragma clang fp contract(off)
#elif defined(__GNUC__)
#pragma GCC push_options
#pragma GCC optimize("fp-contract=off")
#endif

// ------------------------------------------------------------------------------------------------
// Block layouts (GGUF / ggml). Half-precision fields are IEEE binary16 bits.
// ------------------------------------------------------------------------------------------------
//
// "q" is the small unsigned integer stored per element, "x" the float it stands for. Blocks of 32
// for the classic types; K-quants use super-blocks of 256 split into sub-blocks of 16 or 32, with
// the sub-block scales themselves quantized against one or two f16 super-scales.

namespace detail {

constexpr int qk = 32;    // elements per block of the classic types and IQ4_NL
constexpr int qk_k = 256; // elements per super-block of the K-quants

struct block_q4_0 {    // x = d * (q - 8), q in 0..15
    uint16_t d;        // f16 scale
    uint8_t qs[16];    // element j in the low nibble of qs[j], element j+16 in its high nibble
};
struct block_q4_1 {    // x = d * q + m, q in 0..15
    uint16_t d;        // f16 scale
    uint16_t m;        // f16 offset (the block minimum)
    uint8_t qs[16];    // nibbles as in q4_0
};
struct block_q5_0 {    // x = d * (q - 16), q in 0..31
    uint16_t d;        // f16 scale
    uint8_t qh[4];     // bit j of this little-endian u32 is bit 4 of element j (j = 0..31)
    uint8_t qs[16];    // low 4 bits, nibbles as in q4_0
};
struct block_q5_1 {    // x = d * q + m, q in 0..31
    uint16_t d;        // f16 scale
    uint16_t m;        // f16 offset
    uint8_t qh[4];     // fifth bits as in q5_0
    uint8_t qs[16];    // low 4 bits as in q4_0
};
struct block_q8_0 {    // x = d * q
    uint16_t d;        // f16 scale
    int8_t qs[32];     // element j
};
struct block_q8_1 {    // x = d * q; s caches d * sum(q) for dot products
    uint16_t d;        // f16 scale
    uint16_t s;        // f16 of d * (sum of qs)
    int8_t qs[32];     // element j
};

// Q2_K, 256 elements in 16 sub-blocks of 16: x = (d * sc) * q - (dmin * m), q in 0..3.
// Element e = 128*h + 32*s + l (h = 0..1, s = 0..3, l = 0..31) keeps its 2 bits at bit 2*s of
// qs[32*h + l]; its sub-block is e / 16, whose 4-bit scale sc is the low nibble of scales[e/16]
// and 4-bit min m the high nibble.
struct block_q2_k {
    uint8_t scales[16];  // per sub-block: scale (low nibble), min (high nibble)
    uint8_t qs[64];      // 2-bit quants, four per byte as described above
    uint16_t d;          // f16 super-scale of the scales
    uint16_t dmin;       // f16 super-scale of the mins
};

// Q3_K, 256 elements in 16 sub-blocks of 16: x = (d * (sc - 32)) * (q - 4), q in 0..7.
// Element e = 128*h + 32*s + l: the low 2 bits as in Q2_K (bit 2*s of qs[32*h + l]); the third
// bit is bit (4*h + s) of hmask[l]. The sixteen 6-bit scales sc_j: low 4 bits in the low nibble
// of scales[j] for j < 8, the high nibble of scales[j - 8] for j >= 8; high 2 bits at bit
// 2*(j/4) of scales[8 + j%4].
struct block_q3_k {
    uint8_t hmask[32];   // third bits of the quants
    uint8_t qs[64];      // low 2 bits of the quants
    uint8_t scales[12];  // 16 six-bit scales, biased by 32
    uint16_t d;          // f16 super-scale
};

// Q4_K, 256 elements in 8 sub-blocks of 32: x = (d * sc) * q - (dmin * m), q in 0..15.
// Element e = 64*g + 32*hi + l (g = 0..3, hi = 0..1) sits in nibble hi of qs[32*g + l], in
// sub-block j = 2*g + hi. The 6-bit scale and min of sub-block j (the "k4" packing):
//   j < 4:  sc = scales[j] & 63,                         m = scales[j+4] & 63
//   j >= 4: sc = (scales[j+4] & 15) | (scales[j-4] >> 6) << 4,
//           m  = (scales[j+4] >> 4) | (scales[j]   >> 6) << 4
struct block_q4_k {
    uint16_t d;          // f16 super-scale of the scales
    uint16_t dmin;       // f16 super-scale of the mins
    uint8_t scales[12];  // 8 scales and 8 mins, 6 bits each, k4 packing
    uint8_t qs[128];     // 4-bit quants
};

// Q5_K: Q4_K plus a fifth bit, q in 0..31. The fifth bit of element e = 64*g + 32*hi + l is bit
// (2*g + hi) of qh[l].
struct block_q5_k {
    uint16_t d;          // f16 super-scale of the scales
    uint16_t dmin;       // f16 super-scale of the mins
    uint8_t scales[12];  // k4 packing as in Q4_K
    uint8_t qh[32];      // fifth bits
    uint8_t qs[128];     // low 4 bits, as in Q4_K
};

// Q6_K, 256 elements in 16 sub-blocks of 16: x = (d * sc) * (q - 32), q in 0..63, sc int8.
// Per half h (128 elements) and quarter k = 0..3, element e = 128*h + 32*k + l has its low 4 bits
// in nibble (k / 2) of ql[64*h + 32*(k % 2) + l] and its high 2 bits at bit 2*k of
// qh[32*h + l]; its scale is scales[e / 16].
struct block_q6_k {
    uint8_t ql[128];     // low 4 bits
    uint8_t qh[64];      // high 2 bits
    int8_t scales[16];   // 8-bit signed sub-block scales
    uint16_t d;          // f16 super-scale
};

// Q8_K: the activation format of the K-quant dot products. x = d * q.
struct block_q8_k {
    float d;             // f32 scale
    int8_t qs[256];      // quants
    int16_t bsums[16];   // sum of each group of 16 quants
};

// IQ4_NL: x = d * kvalues_iq4nl[q], q in 0..15, nibbles as in q4_0.
struct block_iq4_nl {
    uint16_t d;          // f16 scale
    uint8_t qs[16];      // indices into kvalues_iq4nl
};

static_assert(sizeof(block_q4_0) == 18, "q4_0 block");
static_assert(sizeof(block_q4_1) == 20, "q4_1 block");
static_assert(sizeof(block_q5_0) == 22, "q5_0 block");
static_assert(sizeof(block_q5_1) == 24, "q5_1 block");
static_assert(sizeof(block_q8_0) == 34, "q8_0 block");
static_assert(sizeof(block_q8_1) == 36, "q8_1 block");
static_assert(sizeof(block_q2_k) == 84, "q2_k block");
static_assert(sizeof(block_q3_k) == 110, "q3_k block");
static_assert(sizeof(block_q4_k) == 144, "q4_k block");
static_assert(sizeof(block_q5_k) == 176, "q5_k block");
static_assert(sizeof(block_q6_k) == 210, "q6_k block");
static_assert(sizeof(block_q8_k) == 292, "q8_k block");
static_assert(sizeof(block_iq4_nl) == 18, "iq4_nl block");

// The 16 levels of IQ4_NL: a non-uniform grid, denser near zero, fitted to weight distributions.
static constexpr int8_t kvalues_iq4nl[16] = {
    -127, -104, -83, -65, -49, -35, -22, -10, 1, 13, 25, 38, 53, 69, 89, 113,
};

template <class Block> inline Block load_block(const void* src, int64_t i) {
    Block b;
    std::memcpy(&b, static_cast<const unsigned char*>(src) + i * int64_t(sizeof(Block)), sizeof b);
    return b;
}
template <class Block> inline void store_block(void* dst, int64_t i, const Block& b) {
    std::memcpy(static_cast<unsigned char*>(dst) + i * int64_t(sizeof(Block)), &b, sizeof b);
}

// ---- float -> integer, always defined ----------------------------------------------------------
// Each returns a value in [lo, hi]; NaN gives lo. Inside the range they round exactly as named.

// Round half to even (the current, default, rounding mode).
inline int round_even_clamp(float v, int lo, int hi) {
    if (!(v >= float(lo))) return lo;
    if (!(v <= float(hi))) return hi;
    // |v| < 2^22 here: adding 1.5 * 2^23 leaves round(v) in the low mantissa bits.
    const float t = v + 12582912.0f;
    return int(detail::f32_bits(t) & 0x7FFFFFu) - 0x400000;
}
// Round half away from zero (roundf).
inline int round_away_clamp(float v, int lo, int hi) {
    if (!(v >= float(lo))) return lo;
    if (!(v <= float(hi))) return hi;
    return int(std::round(v));
}
// Truncate toward zero ((int) cast).
inline int trunc_clamp(float v, int lo, int hi) {
    if (!(v >= float(lo))) return lo;
    if (!(v <= float(hi))) return hi;
    return int(v);
}

// Index of the IQ4_NL level nearest to v; a tie goes to the upper level, NaN to the top one.
inline int nearest_iq4nl(float v) {
    int lo = 0;  // binary search: the last level <= v (0 if v is below them all)
    for (int step = 8; step > 0; step /= 2) {
        if (!(v < kvalues_iq4nl[lo + step])) lo += step;
    }
    if (lo == 15) return 15;
    return v - kvalues_iq4nl[lo] < kvalues_iq4nl[lo + 1] - v ? lo : lo + 1;
}

// ---- scale searches for the K-quants -----------------------------------------------------------

// Asymmetric fit x[i] ~= scale * L[i] - offset, L[i] in 0..nmax, offset >= 0 (the grid starts at
// or below zero). Starts from the min..max grid, then tries nstep + 1 stretched grids (nmax + rmin
// + rdelta*k levels across the range), solving the weighted least-squares scale and offset for
// each rounding and keeping the one with the lowest weighted error (|err| or err^2).
struct affine_search { float rmin, rdelta; int nstep; bool abs_err; };

inline float fit_affine(int n, int nmax, const float* x, const float* w, uint8_t* L,
                        uint8_t* L_try, float* offset, const affine_search& s) {
    float lo = x[0], hi = x[0];
    float sum_w = w[0], sum_x = w[0] * x[0];
    for (int i = 1; i < n; ++i) {
        if (x[i] < lo) lo = x[i];
        if (x[i] > hi) hi = x[i];
        sum_w += w[i];
        sum_x += w[i] * x[i];
    }
    if (lo > 0) lo = 0;
    if (hi == lo) {
        for (int i = 0; i < n; ++i) L[i] = 0;
        *offset = -lo;
        return 0.0f;
    }
    const auto error = [&](float scale, float low, const uint8_t* q) {
        float e = 0;
        for (int i = 0; i < n; ++i) {
            float diff = scale * q[i] + low - x[i];
            diff = s.abs_err ? std::fabs(diff) : diff * diff;
            e += w[i] * diff;
        }
        return e;
    };
    float inv = nmax / (hi - lo);
    float scale = 1 / inv;
    for (int i = 0; i < n; ++i) L[i] = uint8_t(round_even_clamp(inv * (x[i] - lo), 0, nmax));
    float best = error(scale, lo, L);
    for (int k = 0; k <= s.nstep; ++k) {
        inv = (s.rmin + s.rdelta * k + nmax) / (hi - lo);
        float sum_l = 0, sum_l2 = 0, sum_xl = 0;
        for (int i = 0; i < n; ++i) {
            const int l = round_even_clamp(inv * (x[i] - lo), 0, nmax);
            L_try[i] = uint8_t(l);
            sum_l += w[i] * l;
            sum_l2 += w[i] * l * l;
            sum_xl += w[i] * l * x[i];
        }
        // normal equations of min over (a, b) of sum w (a*l + b - x)^2
        const float det = sum_w * sum_l2 - sum_l * sum_l;
        if (!(det > 0)) continue;
        float a = (sum_w * sum_xl - sum_x * sum_l) / det;
        float b = (sum_l2 * sum_x - sum_l * sum_xl) / det;
        if (b > 0) {  // the offset may only lower the grid: refit the scale with b = 0
            b = 0;
            a = sum_xl / sum_l2;
        }
        const float e = error(a, b, L_try);
        if (e < best) {
            for (int i = 0; i < n; ++i) L[i] = L_try[i];
            best = e;
            scale = a;
            lo = b;
        }
    }
    *offset = -lo;
    return scale;
}

// Symmetric fit x[i] ~= scale * (L[i] - nmax), L[i] - nmax in -nmax..nmax-1, weighting each element
// by x^2. The grid is anchored at the element of largest magnitude (mapped to level -nmax, the
// side with one more level); the stretch of the grid is tried in 19 steps of 0.1 level and the
// rounding with the best least-squares fit wins. Returns the least-squares scale.
inline float fit_symmetric(int n, int nmax, const float* x, int8_t* L) {
    float amax = 0, max = 0;
    for (int i = 0; i < n; ++i) {
        if (std::fabs(x[i]) > amax) { amax = std::fabs(x[i]); max = x[i]; }
    }
    if (amax < 1e-15f) {
        for (int i = 0; i < n; ++i) L[i] = 0;
        return 0.0f;
    }
    const auto sums = [&](float inv, float* sumlx, float* suml2) {
        *sumlx = *suml2 = 0;
        for (int i = 0; i < n; ++i) {
            const int l = round_even_clamp(inv * x[i], -nmax, nmax - 1);
            const float w = x[i] * x[i];
            *sumlx += w * x[i] * l;
            *suml2 += w * l * l;
        }
    };
    const auto assign = [&](float inv) {
        for (int i = 0; i < n; ++i) L[i] = int8_t(nmax + round_even_clamp(inv * x[i], -nmax, nmax - 1));
    };
    float sumlx, suml2;
    float inv = -nmax / max;
    sums(inv, &sumlx, &suml2);
    assign(inv);
    float scale = suml2 != 0 ? sumlx / suml2 : 0.0f;
    float best = scale * sumlx;  // = sumlx^2 / suml2: the error reduction of this fit
    for (int k = -9; k <= 9; ++k) {
        if (k == 0) continue;
        inv = -(nmax + 0.1f * k) / max;
        sums(inv, &sumlx, &suml2);
        if (suml2 > 0 && sumlx * sumlx > best * suml2) {
            assign(inv);
            scale = sumlx / suml2;
            best = scale * sumlx;
        }
    }
    return scale;
}

// Symmetric fit for 3-bit sub-blocks: x[i] ~= scale * (L[i] - nmax), weights x^2. Rounds against
// the largest-magnitude element, then refines level by level (coordinate descent, up to 5 passes):
// each element moves to the level that is best for the scale fitted to all the others, if that
// raises sumlx^2 / suml2 (equivalently lowers the weighted squared error).
inline float fit_symmetric_refined(int n, int nmax, const float* x, int8_t* L) {
    float amax = 0, max = 0;
    for (int i = 0; i < n; ++i) {
        if (std::fabs(x[i]) > amax) { amax = std::fabs(x[i]); max = x[i]; }
    }
    if (amax < 1e-15f) {
        for (int i = 0; i < n; ++i) L[i] = 0;
        return 0.0f;
    }
    const float inv = -nmax / max;
    float sumlx = 0, suml2 = 0;
    for (int i = 0; i < n; ++i) {
        const int l = round_even_clamp(inv * x[i], -nmax, nmax - 1);
        L[i] = int8_t(l);
        const float w = x[i] * x[i];
        sumlx += w * x[i] * l;
        suml2 += w * l * l;
    }
    for (int pass = 0; pass < 5; ++pass) {
        int changed = 0;
        for (int i = 0; i < n; ++i) {
            const float w = x[i] * x[i];
            float slx = sumlx - w * x[i] * L[i];  // the sums without element i
            if (!(slx > 0)) continue;
            float sl2 = suml2 - w * L[i] * L[i];
            const int l = round_even_clamp(x[i] * sl2 / slx, -nmax, nmax - 1);
            if (l == L[i]) continue;
            slx += w * x[i] * l;
            sl2 += w * l * l;
            if (sl2 > 0 && slx * slx * suml2 > sumlx * sumlx * sl2) {
                L[i] = int8_t(l);
                sumlx = slx;
                suml2 = sl2;
                ++changed;
            }
        }
        if (!changed) break;
    }
    for (int i = 0; i < n; ++i) L[i] = int8_t(L[i] + nmax);
    return suml2 > 0 ? sumlx / suml2 : 0.0f;
}

// Packs 256 2-bit values: value e = 128*h + 32*s + l goes to bits 2*s of out[32*h + l].
inline void pack_2bit(const uint8_t* L, uint8_t* out) {
    for (int h = 0; h < 2; ++h) {
        for (int l = 0; l < 32; ++l) {
            const uint8_t* v = L + 128 * h + l;
            out[32 * h + l] = uint8_t(v[0] | v[32] << 2 | v[64] << 4 | v[96] << 6);
        }
    }
}

// k4 packing of 8 six-bit scales and mins (Q4_K, Q5_K); see block_q4_k.
inline void pack_scale_min_k4(const uint8_t* sc, const uint8_t* m, uint8_t* out) {
    for (int j = 0; j < 4; ++j) {
        out[j] = uint8_t(sc[j] | (sc[j + 4] >> 4) << 6);
        out[j + 4] = uint8_t(m[j] | (m[j + 4] >> 4) << 6);
        out[j + 8] = uint8_t((sc[j + 4] & 15) | (m[j + 4] & 15) << 4);
    }
}
inline void unpack_scale_min_k4(int j, const uint8_t* q, uint8_t* sc, uint8_t* m) {
    if (j < 4) {
        *sc = q[j] & 63;
        *m = q[j + 4] & 63;
    } else {
        *sc = uint8_t((q[j + 4] & 15) | (q[j - 4] >> 6) << 4);
        *m = uint8_t((q[j + 4] >> 4) | (q[j] >> 6) << 4);
    }
}

// 6-bit scale j of a Q3_K block, still biased by 32; see block_q3_k.
inline int q3_k_scale(const uint8_t* scales, int j) {
    const int low = j < 8 ? scales[j] & 15 : scales[j - 8] >> 4;
    const int high = (scales[8 + j % 4] >> (2 * (j / 4))) & 3;
    return low | high << 4;
}

// Shared by Q4_K and Q5_K: fits the 8 sub-blocks of one super-block (asymmetric search with
// weights |x| + rms), quantizes the 8 scales and 8 mins to 6 bits against d and dmin, then
// re-rounds every element against the stored scales. L gets 0..nmax per element.
inline void quantize_k4_superblock(const float* x, int nmax, const affine_search& search,
                                   uint16_t* d_out, uint16_t* dmin_out, uint8_t* scales_out,
                                   uint8_t* L) {
    float scales[8], mins[8], w[32];
    uint8_t L_try[32];
    float max_scale = 0, max_min = 0;
    for (int j = 0; j < 8; ++j) {
        const float* xb = x + 32 * j;
        float sum_x2 = 0;
        for (int l = 0; l < 32; ++l) sum_x2 += xb[l] * xb[l];
        const float rms = std::sqrt(sum_x2 / 32);
        for (int l = 0; l < 32; ++l) w[l] = rms + std::fabs(xb[l]);
        scales[j] = fit_affine(32, nmax, xb, w, L + 32 * j, L_try, &mins[j], search);
        if (scales[j] > max_scale) max_scale = scales[j];
        if (mins[j] > max_min) max_min = mins[j];
    }
    const float inv_scale = max_scale > 0 ? 63.f / max_scale : 0.f;
    const float inv_min = max_min > 0 ? 63.f / max_min : 0.f;
    uint8_t ls[8], lm[8];
    for (int j = 0; j < 8; ++j) {
        ls[j] = uint8_t(round_even_clamp(inv_scale * scales[j], 0, 63));
        lm[j] = uint8_t(round_even_clamp(inv_min * mins[j], 0, 63));
    }
    pack_scale_min_k4(ls, lm, scales_out);
    *d_out = f32_to_f16(max_scale / 63.f);
    *dmin_out = f32_to_f16(max_min / 63.f);
    const float d = f16_to_f32(*d_out), dmin = f16_to_f32(*dmin_out);
    for (int j = 0; j < 8; ++j) {
        const float dj = d * ls[j];
        if (dj == 0) continue;  // keep the fit's levels; they all dequantize to -m anyway
        const float mj = dmin * lm[j];
        for (int l = 0; l < 32; ++l) {
            L[32 * j + l] = uint8_t(round_even_clamp((x[32 * j + l] + mj) / dj, 0, nmax));
        }
    }
}

}  // namespace detail

// ------------------------------------------------------------------------------------------------
// Reference kernels, one dequantize/quantize pair per type
// ------------------------------------------------------------------------------------------------

namespace ref {

// ---- plain types -------------------------------------------------------------------------------

AI_API void dequantize_row_f32(const void* src, float* dst, int64_t n) {
    if (n > 0) std::memcpy(dst, src, size_t(n) * sizeof(float));
}
AI_API void quantize_row_f32(const float* src, void* dst, int64_t n) {
    if (n > 0) std::memcpy(dst, src, size_t(n) * sizeof(float));
}

AI_API void dequantize_row_f16(const void* src, float* dst, int64_t n) {
    const unsigned char* p = static_cast<const unsigned char*>(src);
    for (int64_t i = 0; i < n; ++i) {
        uint16_t h;
        std::memcpy(&h, p + 2 * i, 2);
        dst[i] = f16_to_f32(h);
    }
}
AI_API void quantize_row_f16(const float* src, void* dst, int64_t n) {
    unsigned char* p = static_cast<unsigned char*>(dst);
    for (int64_t i = 0; i < n; ++i) {
        const uint16_t h = f32_to_f16(src[i]);
        std::memcpy(p + 2 * i, &h, 2);
    }
}

AI_API void dequantize_row_bf16(const void* src, float* dst, int64_t n) {
    const unsigned char* p = static_cast<const unsigned char*>(src);
    for (int64_t i = 0; i < n; ++i) {
        uint16_t h;
        std::memcpy(&h, p + 2 * i, 2);
        dst[i] = bf16_to_f32(h);
    }
}
AI_API void quantize_row_bf16(const float* src, void* dst, int64_t n) {
    unsigned char* p = static_cast<unsigned char*>(dst);
    for (int64_t i = 0; i < n; ++i) {
        const uint16_t h = f32_to_bf16(src[i]);
        std::memcpy(p + 2 * i, &h, 2);
    }
}

// ---- Q4_0: d = (signed absmax) / -8, so the largest element lands exactly on level 0 ---------

AI_API void dequantize_row_q4_0(const void* src, float* dst, int64_t n) {
    for (int64_t i = 0; i < n / detail::qk; ++i, dst += detail::qk) {
        const auto b = detail::load_block<detail::block_q4_0>(src, i);
        const float d = f16_to_f32(b.d);
        for (int j = 0; j < 16; ++j) {
            dst[j] = float((b.qs[j] & 15) - 8) * d;
            dst[j + 16] = float((b.qs[j] >> 4) - 8) * d;
        }
    }
}
AI_API void quantize_row_q4_0(const float* src, void* dst, int64_t n) {
    for (int64_t i = 0; i < n / detail::qk; ++i, src += detail::qk) {
        float amax = 0, max = 0;
        for (int j = 0; j < detail::qk; ++j) {
            if (std::fabs(src[j]) > amax) { amax = std::fabs(src[j]); max = src[j]; }
        }
        const float d = max / -8;
        const float id = d != 0 ? 1.0f / d : 0.0f;
        detail::block_q4_0 b;
        b.d = f32_to_f16(d);
        for (int j = 0; j < 16; ++j) {  // q = trunc(x/d + 8.5), i.e. nearest level, ties up
            const int q0 = detail::trunc_clamp(src[j] * id + 8.5f, 0, 15);
            const int q1 = detail::trunc_clamp(src[j + 16] * id + 8.5f, 0, 15);
            b.qs[j] = uint8_t(q0 | q1 << 4);
        }
        detail::store_block(dst, i, b);
    }
}

// ---- Q4_1: 16 levels spanning [min, max] ------------------------------------------------------

AI_API void dequantize_row_q4_1(const void* src, float* dst, int64_t n) {
    for (int64_t i = 0; i < n / detail::qk; ++i, dst += detail::qk) {
        const auto b = detail::load_block<detail::block_q4_1>(src, i);
        const float d = f16_to_f32(b.d), m = f16_to_f32(b.m);
        for (int j = 0; j < 16; ++j) {
            dst[j] = float(b.qs[j] & 15) * d + m;
            dst[j + 16] = float(b.qs[j] >> 4) * d + m;
        }
    }
}
AI_API void quantize_row_q4_1(const float* src, void* dst, int64_t n) {
    for (int64_t i = 0; i < n / detail::qk; ++i, src += detail::qk) {
        float min = FLT_MAX, max = -FLT_MAX;
        for (int j = 0; j < detail::qk; ++j) {
            if (src[j] < min) min = src[j];
            if (src[j] > max) max = src[j];
        }
        const float d = (max - min) / 15;
        const float id = d != 0 ? 1.0f / d : 0.0f;
        detail::block_q4_1 b;
        b.d = f32_to_f16(d);
        b.m = f32_to_f16(min);
        for (int j = 0; j < 16; ++j) {
            const int q0 = detail::trunc_clamp((src[j] - min) * id + 0.5f, 0, 15);
            const int q1 = detail::trunc_clamp((src[j + 16] - min) * id + 0.5f, 0, 15);
            b.qs[j] = uint8_t(q0 | q1 << 4);
        }
        detail::store_block(dst, i, b);
    }
}

// ---- Q5_0 / Q5_1: Q4_0 / Q4_1 with 32 levels ---------------------------------------------------

AI_API void dequantize_row_q5_0(const void* src, float* dst, int64_t n) {
    for (int64_t i = 0; i < n / detail::qk; ++i, dst += detail::qk) {
        const auto b = detail::load_block<detail::block_q5_0>(src, i);
        const float d = f16_to_f32(b.d);
        uint32_t qh;
        std::memcpy(&qh, b.qh, 4);
        for (int j = 0; j < 16; ++j) {
            const int q0 = (b.qs[j] & 15) | int((qh >> j) & 1u) << 4;
            const int q1 = (b.qs[j] >> 4) | int((qh >> (j + 16)) & 1u) << 4;
            dst[j] = float(q0 - 16) * d;
            dst[j + 16] = float(q1 - 16) * d;
        }
    }
}
AI_API void quantize_row_q5_0(const float* src, void* dst, int64_t n) {
    for (int64_t i = 0; i < n / detail::qk; ++i, src += detail::qk) {
        float amax = 0, max = 0;
        for (int j = 0; j < detail::qk; ++j) {
            if (std::fabs(src[j]) > amax) { amax = std::fabs(src[j]); max = src[j]; }
        }
        const float d = max / -16;
        const float id = d != 0 ? 1.0f / d : 0.0f;
        detail::block_q5_0 b;
        b.d = f32_to_f16(d);
        uint32_t qh = 0;
        for (int j = 0; j < 16; ++j) {
            const int q0 = detail::trunc_clamp(src[j] * id + 16.5f, 0, 31);
            const int q1 = detail::trunc_clamp(src[j + 16] * id + 16.5f, 0, 31);
            b.qs[j] = uint8_t((q0 & 15) | (q1 & 15) << 4);
            qh |= uint32_t(q0 >> 4) << j | uint32_t(q1 >> 4) << (j + 16);
        }
        std::memcpy(b.qh, &qh, 4);
        detail::store_block(dst, i, b);
    }
}

AI_API void dequantize_row_q5_1(const void* src, float* dst, int64_t n) {
    for (int64_t i = 0; i < n / detail::qk; ++i, dst += detail::qk) {
        const auto b = detail::load_block<detail::block_q5_1>(src, i);
        const float d = f16_to_f32(b.d), m = f16_to_f32(b.m);
        uint32_t qh;
        std::memcpy(&qh, b.qh, 4);
        for (int j = 0; j < 16; ++j) {
            const int q0 = (b.qs[j] & 15) | int((qh >> j) & 1u) << 4;
            const int q1 = (b.qs[j] >> 4) | int((qh >> (j + 16)) & 1u) << 4;
            dst[j] = float(q0) * d + m;
            dst[j + 16] = float(q1) * d + m;
        }
    }
}
AI_API void quantize_row_q5_1(const float* src, void* dst, int64_t n) {
    for (int64_t i = 0; i < n / detail::qk; ++i, src += detail::qk) {
        float min = FLT_MAX, max = -FLT_MAX;
        for (int j = 0; j < detail::qk; ++j) {
            if (src[j] < min) min = src[j];
            if (src[j] > max) max = src[j];
        }
        const float d = (max - min) / 31;
        const float id = d != 0 ? 1.0f / d : 0.0f;
        detail::block_q5_1 b;
        b.d = f32_to_f16(d);
        b.m = f32_to_f16(min);
        uint32_t qh = 0;
        for (int j = 0; j < 16; ++j) {
            const int q0 = detail::trunc_clamp((src[j] - min) * id + 0.5f, 0, 31);
            const int q1 = detail::trunc_clamp((src[j + 16] - min) * id + 0.5f, 0, 31);
            b.qs[j] = uint8_t((q0 & 15) | (q1 & 15) << 4);
            qh |= uint32_t(q0 >> 4) << j | uint32_t(q1 >> 4) << (j + 16);
        }
        std::memcpy(b.qh, &qh, 4);
        detail::store_block(dst, i, b);
    }
}

// ---- Q8_0 / Q8_1: d = absmax / 127, q = round(x / d) (ties away from zero) --------------------

AI_API void dequantize_row_q8_0(const void* src, float* dst, int64_t n) {
    for (int64_t i = 0; i < n / detail::qk; ++i, dst += detail::qk) {
        const auto b = detail::load_block<detail::block_q8_0>(src, i);
        const float d = f16_to_f32(b.d);
        for (int j = 0; j < detail::qk; ++j) dst[j] = float(b.qs[j]) * d;
    }
}
AI_API void quantize_row_q8_0(const float* src, void* dst, int64_t n) {
    for (int64_t i = 0; i < n / detail::qk; ++i, src += detail::qk) {
        float amax = 0;
        for (int j = 0; j < detail::qk; ++j) amax = std::fmax(amax, std::fabs(src[j]));
        const float d = amax / 127;
        const float id = d != 0 ? 1.0f / d : 0.0f;
        detail::block_q8_0 b;
        b.d = f32_to_f16(d);
        for (int j = 0; j < detail::qk; ++j) {
            b.qs[j] = int8_t(detail::round_away_clamp(src[j] * id, -128, 127));
        }
        detail::store_block(dst, i, b);
    }
}

AI_API void dequantize_row_q8_1(const void* src, float* dst, int64_t n) {
    for (int64_t i = 0; i < n / detail::qk; ++i, dst += detail::qk) {
        const auto b = detail::load_block<detail::block_q8_1>(src, i);
        const float d = f16_to_f32(b.d);
        for (int j = 0; j < detail::qk; ++j) dst[j] = float(b.qs[j]) * d;
    }
}
AI_API void quantize_row_q8_1(const float* src, void* dst, int64_t n) {
    for (int64_t i = 0; i < n / detail::qk; ++i, src += detail::qk) {
        float amax = 0;
        for (int j = 0; j < detail::qk; ++j) amax = std::fmax(amax, std::fabs(src[j]));
        const float d = amax / 127;
        const float id = d != 0 ? 1.0f / d : 0.0f;
        detail::block_q8_1 b;
        b.d = f32_to_f16(d);
        int sum = 0;
        for (int j = 0; j < detail::qk; ++j) {
            b.qs[j] = int8_t(detail::round_away_clamp(src[j] * id, -128, 127));
            sum += b.qs[j];
        }
        b.s = f32_to_f16(float(sum) * d);
        detail::store_block(dst, i, b);
    }
}

// ---- Q2_K --------------------------------------------------------------------------------------

AI_API void dequantize_row_q2_k(const void* src, float* dst, int64_t n) {
    for (int64_t i = 0; i < n / detail::qk_k; ++i, dst += detail::qk_k) {
        const auto b = detail::load_block<detail::block_q2_k>(src, i);
        const float d = f16_to_f32(b.d), dmin = f16_to_f32(b.dmin);
        for (int e = 0; e < detail::qk_k; ++e) {
            const int h = e / 128, s = (e / 32) % 4, l = e % 32;
            const int q = (b.qs[32 * h + l] >> (2 * s)) & 3;
            const uint8_t sm = b.scales[e / 16];
            const float dl = d * float(sm & 15);
            const float ml = dmin * float(sm >> 4);
            dst[e] = dl * float(q) - ml;
        }
    }
}
AI_API void quantize_row_q2_k(const float* src, void* dst, int64_t n) {
    const detail::affine_search search = {-0.5f, 0.1f, 15, true};
    for (int64_t i = 0; i < n / detail::qk_k; ++i, src += detail::qk_k) {
        uint8_t L[detail::qk_k], L_try[16];
        float scales[16], mins[16], w[16];
        float max_scale = 0, max_min = 0;
        for (int j = 0; j < 16; ++j) {  // fit each sub-block of 16, weighting elements by |x|
            const float* xb = src + 16 * j;
            for (int l = 0; l < 16; ++l) w[l] = std::fabs(xb[l]);
            scales[j] = detail::fit_affine(16, 3, xb, w, L + 16 * j, L_try, &mins[j], search);
            if (scales[j] > max_scale) max_scale = scales[j];
            if (mins[j] > max_min) max_min = mins[j];
        }
        detail::block_q2_k b;
        const float inv_scale = max_scale > 0 ? 15.f / max_scale : 0.f;
        const float inv_min = max_min > 0 ? 15.f / max_min : 0.f;
        uint8_t ls[16], lm[16];
        for (int j = 0; j < 16; ++j) {
            ls[j] = uint8_t(detail::round_even_clamp(inv_scale * scales[j], 0, 15));
            lm[j] = uint8_t(detail::round_even_clamp(inv_min * mins[j], 0, 15));
            b.scales[j] = uint8_t(ls[j] | lm[j] << 4);
        }
        b.d = f32_to_f16(max_scale > 0 ? max_scale / 15.f : 0.f);
        b.dmin = f32_to_f16(max_min > 0 ? max_min / 15.f : 0.f);
        const float d = f16_to_f32(b.d), dmin = f16_to_f32(b.dmin);
        for (int j = 0; j < 16; ++j) {  // re-round against the scales as stored
            const float dj = d * ls[j];
            if (dj == 0) continue;
            const float mj = dmin * lm[j];
            for (int l = 0; l < 16; ++l) {
                L[16 * j + l] = uint8_t(detail::round_even_clamp((src[16 * j + l] + mj) / dj, 0, 3));
            }
        }
        detail::pack_2bit(L, b.qs);
        detail::store_block(dst, i, b);
    }
}

// ---- Q3_K --------------------------------------------------------------------------------------

AI_API void dequantize_row_q3_k(const void* src, float* dst, int64_t n) {
    for (int64_t i = 0; i < n / detail::qk_k; ++i, dst += detail::qk_k) {
        const auto b = detail::load_block<detail::block_q3_k>(src, i);
        const float d = f16_to_f32(b.d);
        for (int e = 0; e < detail::qk_k; ++e) {
            const int h = e / 128, s = (e / 32) % 4, l = e % 32;
            const int low = (b.qs[32 * h + l] >> (2 * s)) & 3;
            const int high = (b.hmask[l] >> (4 * h + s)) & 1;
            const float dl = d * float(detail::q3_k_scale(b.scales, e / 16) - 32);
            dst[e] = dl * float(low + 4 * high - 4);
        }
    }
}
AI_API void quantize_row_q3_k(const float* src, void* dst, int64_t n) {
    for (int64_t i = 0; i < n / detail::qk_k; ++i, src += detail::qk_k) {
        int8_t L[detail::qk_k];
        float scales[16];
        float max_scale = 0, amax = 0;  // the sub-block scale of largest magnitude, with its sign
        for (int j = 0; j < 16; ++j) {
            scales[j] = detail::fit_symmetric_refined(16, 4, src + 16 * j, L + 16 * j);
            if (std::fabs(scales[j]) > amax) { amax = std::fabs(scales[j]); max_scale = scales[j]; }
        }
        detail::block_q3_k b;
        std::memset(&b, 0, sizeof b);
        if (max_scale != 0) {  // 6-bit scales: the largest one maps to -32
            const float inv = -32.f / max_scale;
            for (int j = 0; j < 16; ++j) {
                const int l = detail::round_even_clamp(inv * scales[j], -32, 31) + 32;
                if (j < 8) b.scales[j] = uint8_t(l & 15);
                else b.scales[j - 8] = uint8_t(b.scales[j - 8] | (l & 15) << 4);
                b.scales[8 + j % 4] = uint8_t(b.scales[8 + j % 4] | (l >> 4) << (2 * (j / 4)));
            }
            b.d = f32_to_f16(1 / inv);
        } else {
            b.d = f32_to_f16(0.f);
        }
        const float d = f16_to_f32(b.d);
        for (int j = 0; j < 16; ++j) {
            const float dj = d * float(detail::q3_k_scale(b.scales, j) - 32);
            if (dj == 0) continue;
            for (int l = 0; l < 16; ++l) {
                L[16 * j + l] = int8_t(detail::round_even_clamp(src[16 * j + l] / dj, -4, 3) + 4);
            }
        }
        uint8_t low[detail::qk_k];
        for (int e = 0; e < detail::qk_k; ++e) {  // third bit of element e -> bit 4h+s of hmask[e % 32]
            const int q = L[e] & 7;
            if (q > 3) b.hmask[e % 32] = uint8_t(b.hmask[e % 32] | 1 << (e / 32));
            low[e] = uint8_t(q & 3);
        }
        detail::pack_2bit(low, b.qs);
        detail::store_block(dst, i, b);
    }
}

// ---- Q4_K / Q5_K -------------------------------------------------------------------------------

AI_API void dequantize_row_q4_k(const void* src, float* dst, int64_t n) {
    for (int64_t i = 0; i < n / detail::qk_k; ++i, dst += detail::qk_k) {
        const auto b = detail::load_block<detail::block_q4_k>(src, i);
        const float d = f16_to_f32(b.d), dmin = f16_to_f32(b.dmin);
        for (int j = 0; j < 8; ++j) {  // sub-block j: elements 32j..32j+31
            uint8_t sc, m;
            detail::unpack_scale_min_k4(j, b.scales, &sc, &m);
            const float dj = d * float(sc), mj = dmin * float(m);
            const uint8_t* q = b.qs + 32 * (j / 2);
            const int shift = 4 * (j % 2);
            for (int l = 0; l < 32; ++l) dst[32 * j + l] = dj * float((q[l] >> shift) & 15) - mj;
        }
    }
}
AI_API void quantize_row_q4_k(const float* src, void* dst, int64_t n) {
    const detail::affine_search search = {-1.f, 0.1f, 20, false};
    for (int64_t i = 0; i < n / detail::qk_k; ++i, src += detail::qk_k) {
        uint8_t L[detail::qk_k];
        detail::block_q4_k b;
        detail::quantize_k4_superblock(src, 15, search, &b.d, &b.dmin, b.scales, L);
        for (int g = 0; g < 4; ++g) {
            for (int l = 0; l < 32; ++l) b.qs[32 * g + l] = uint8_t(L[64 * g + l] | L[64 * g + 32 + l] << 4);
        }
        detail::store_block(dst, i, b);
    }
}

AI_API void dequantize_row_q5_k(const void* src, float* dst, int64_t n) {
    for (int64_t i = 0; i < n / detail::qk_k; ++i, dst += detail::qk_k) {
        const auto b = detail::load_block<detail::block_q5_k>(src, i);
        const float d = f16_to_f32(b.d), dmin = f16_to_f32(b.dmin);
        for (int j = 0; j < 8; ++j) {
            uint8_t sc, m;
            detail::unpack_scale_min_k4(j, b.scales, &sc, &m);
            const float dj = d * float(sc), mj = dmin * float(m);
            const uint8_t* q = b.qs + 32 * (j / 2);
            const int shift = 4 * (j % 2);
            for (int l = 0; l < 32; ++l) {
                const int v = ((q[l] >> shift) & 15) + (((b.qh[l] >> j) & 1) << 4);
                dst[32 * j + l] = dj * float(v) - mj;
            }
        }
    }
}
AI_API void quantize_row_q5_k(const float* src, void* dst, int64_t n) {
    const detail::affine_search search = {-0.5f, 0.1f, 15, false};
    for (int64_t i = 0; i < n / detail::qk_k; ++i, src += detail::qk_k) {
        uint8_t L[detail::qk_k];
        detail::block_q5_k b;
        detail::quantize_k4_superblock(src, 31, search, &b.d, &b.dmin, b.scales, L);
        std::memset(b.qh, 0, sizeof b.qh);
        for (int j = 0; j < 8; ++j) {  // element 32j + l: fifth bit -> bit j of qh[l]
            for (int l = 0; l < 32; ++l) {
                const int v = L[32 * j + l];
                if (v > 15) b.qh[l] = uint8_t(b.qh[l] | 1 << j);
            }
        }
        for (int g = 0; g < 4; ++g) {
            for (int l = 0; l < 32; ++l) {
                b.qs[32 * g + l] = uint8_t((L[64 * g + l] & 15) | (L[64 * g + 32 + l] & 15) << 4);
            }
        }
        detail::store_block(dst, i, b);
    }
}

// ---- Q6_K --------------------------------------------------------------------------------------

AI_API void dequantize_row_q6_k(const void* src, float* dst, int64_t n) {
    for (int64_t i = 0; i < n / detail::qk_k; ++i, dst += detail::qk_k) {
        const auto b = detail::load_block<detail::block_q6_k>(src, i);
        const float d = f16_to_f32(b.d);
        for (int e = 0; e < detail::qk_k; ++e) {
            const int h = e / 128, k = (e / 32) % 4, l = e % 32;
            const int low = (b.ql[64 * h + 32 * (k % 2) + l] >> (4 * (k / 2))) & 15;
            const int high = (b.qh[32 * h + l] >> (2 * k)) & 3;
            dst[e] = d * float(b.scales[e / 16]) * float((low | high << 4) - 32);
        }
    }
}
AI_API void quantize_row_q6_k(const float* src, void* dst, int64_t n) {
    for (int64_t i = 0; i < n / detail::qk_k; ++i, src += detail::qk_k) {
        int8_t L[detail::qk_k];
        float scales[16];
        float max_scale = 0, amax = 0;
        for (int j = 0; j < 16; ++j) {
            scales[j] = detail::fit_symmetric(16, 32, src + 16 * j, L + 16 * j);
            if (std::fabs(scales[j]) > amax) { amax = std::fabs(scales[j]); max_scale = scales[j]; }
        }
        detail::block_q6_k b;
        std::memset(&b, 0, sizeof b);
        if (!(amax >= 1e-15f)) {  // all (near) zero: an all-zero block, d = 0
            detail::store_block(dst, i, b);
            continue;
        }
        const float inv = -128.f / max_scale;  // 8-bit scales: the largest one maps to -128
        b.d = f32_to_f16(1 / inv);
        for (int j = 0; j < 16; ++j) {
            b.scales[j] = int8_t(detail::round_even_clamp(inv * scales[j], -128, 127));
        }
        const float d = f16_to_f32(b.d);
        for (int j = 0; j < 16; ++j) {
            const float dj = d * float(b.scales[j]);
            if (dj == 0) continue;
            for (int l = 0; l < 16; ++l) {
                L[16 * j + l] = int8_t(detail::round_even_clamp(src[16 * j + l] / dj, -32, 31) + 32);
            }
        }
        for (int e = 0; e < detail::qk_k; ++e) {  // inverse of the layout in detail::block_q6_k
            const int h = e / 128, k = (e / 32) % 4, l = e % 32;
            const int v = L[e] & 63;
            uint8_t& lo = b.ql[64 * h + 32 * (k % 2) + l];
            lo = uint8_t(lo | (v & 15) << (4 * (k / 2)));
            b.qh[32 * h + l] = uint8_t(b.qh[32 * h + l] | (v >> 4) << (2 * k));
        }
        detail::store_block(dst, i, b);
    }
}

// ---- Q8_K: d = (signed absmax) / -127, q = round(x / d) (ties to even) -------------------------

AI_API void dequantize_row_q8_k(const void* src, float* dst, int64_t n) {
    for (int64_t i = 0; i < n / detail::qk_k; ++i, dst += detail::qk_k) {
        const auto b = detail::load_block<detail::block_q8_k>(src, i);
        for (int j = 0; j < detail::qk_k; ++j) dst[j] = b.d * float(b.qs[j]);
    }
}
AI_API void quantize_row_q8_k(const float* src, void* dst, int64_t n) {
    for (int64_t i = 0; i < n / detail::qk_k; ++i, src += detail::qk_k) {
        float amax = 0, max = 0;
        for (int j = 0; j < detail::qk_k; ++j) {
            if (std::fabs(src[j]) > amax) { amax = std::fabs(src[j]); max = src[j]; }
        }
        detail::block_q8_k b;
        std::memset(&b, 0, sizeof b);
        if (amax != 0) {
            const float inv = -127.f / max;
            for (int j = 0; j < detail::qk_k; ++j) {
                b.qs[j] = int8_t(detail::round_even_clamp(inv * src[j], -128, 127));
            }
            for (int g = 0; g < 16; ++g) {
                int sum = 0;
                for (int l = 0; l < 16; ++l) sum += b.qs[16 * g + l];
                b.bsums[g] = int16_t(sum);
            }
            b.d = 1 / inv;
        }
        detail::store_block(dst, i, b);
    }
}

// ---- IQ4_NL ------------------------------------------------------------------------------------

AI_API void dequantize_row_iq4_nl(const void* src, float* dst, int64_t n) {
    for (int64_t i = 0; i < n / detail::qk; ++i, dst += detail::qk) {
        const auto b = detail::load_block<detail::block_iq4_nl>(src, i);
        const float d = f16_to_f32(b.d);
        for (int j = 0; j < 16; ++j) {
            dst[j] = d * float(detail::kvalues_iq4nl[b.qs[j] & 15]);
            dst[j + 16] = d * float(detail::kvalues_iq4nl[b.qs[j] >> 4]);
        }
    }
}
// Scale search: start with the largest-magnitude element on the level 127 end of the grid, fit the
// least-squares scale (weights x^2) for that assignment, then try 15 more anchorings (the largest
// element on level 127 + t, t = -7..7) and keep the scale with the best fit. Finally every
// element takes its nearest level for the chosen scale.
AI_API void quantize_row_iq4_nl(const float* src, void* dst, int64_t n) {
    constexpr int ntry = 7;
    for (int64_t i = 0; i < n / detail::qk; ++i, src += detail::qk) {
        float amax = 0, max = 0;
        for (int j = 0; j < detail::qk; ++j) {
            if (std::fabs(src[j]) > amax) { amax = std::fabs(src[j]); max = src[j]; }
        }
        float d = 0;
        if (amax >= 1e-15f) {
            const auto fit = [&](float inv, float* sumqx, float* sumq2) {
                *sumqx = *sumq2 = 0;
                for (int j = 0; j < detail::qk; ++j) {
                    const float q = detail::kvalues_iq4nl[detail::nearest_iq4nl(inv * src[j])];
                    const float w = src[j] * src[j];
                    *sumqx += w * q * src[j];
                    *sumq2 += w * q * q;
                }
            };
            float sumqx, sumq2;
            fit(1 / (-max / detail::kvalues_iq4nl[0]), &sumqx, &sumq2);
            d = sumq2 > 0 ? sumqx / sumq2 : 0.f;
            float best = d * sumqx;
            for (int t = -ntry; t <= ntry; ++t) {
                fit((t + detail::kvalues_iq4nl[0]) / max, &sumqx, &sumq2);
                if (sumq2 > 0 && sumqx * sumqx > best * sumq2) {
                    d = sumqx / sumq2;
                    best = d * sumqx;
                }
            }
        }
        detail::block_iq4_nl b;
        b.d = f32_to_f16(d);
        const float inv = d != 0 ? 1 / d : 0.f;
        for (int j = 0; j < 16; ++j) {
            const int q0 = detail::nearest_iq4nl(inv * src[j]);
            const int q1 = detail::nearest_iq4nl(inv * src[j + 16]);
            b.qs[j] = uint8_t(q0 | q1 << 4);
        }
        detail::store_block(dst, i, b);
    }
}

// ---- lookup by type ----------------------------------------------------------------------------

to_float_fn to_float(tensor_type t) {
    switch (t) {
        case tensor_type::f32: return dequantize_row_f32;
        case tensor_type::f16: return dequantize_row_f16;
        case tensor_type::bf16: return dequantize_row_bf16;
        case tensor_type::q4_0: return dequantize_row_q4_0;
        case tensor_type::q4_1: return dequantize_row_q4_1;
        case tensor_type::q5_0: return dequantize_row_q5_0;
        case tensor_type::q5_1: return dequantize_row_q5_1;
        case tensor_type::q8_0: return dequantize_row_q8_0;
        case tensor_type::q8_1: return dequantize_row_q8_1;
        case tensor_type::q2_k: return dequantize_row_q2_k;
        case tensor_type::q3_k: return dequantize_row_q3_k;
        case tensor_type::q4_k: return dequantize_row_q4_k;
        case tensor_type::q5_k: return dequantize_row_q5_k;
        case tensor_type::q6_k: return dequantize_row_q6_k;
        case tensor_type::q8_k: return dequantize_row_q8_k;
        case tensor_type::iq4_nl: return dequantize_row_iq4_nl;
        default: return nullptr;
    }
}

from_float_fn from_float(tensor_type t) {
    switch (t) {
        case tensor_type::f32: return quantize_row_f32;
        case tensor_type::f16: return quantize_row_f16;
        case tensor_type::bf16: return quantize_row_bf16;
        case tensor_type::q4_0: return quantize_row_q4_0;
        case tensor_type::q4_1: return quantize_row_q4_1;
        case tensor_type::q5_0: return quantize_row_q5_0;
        case tensor_type::q5_1: return quantize_row_q5_1;
        case tensor_type::q8_0: return quantize_row_q8_0;
        case tensor_type::q8_1: return quantize_row_q8_1;
        case tensor_type::q2_k: return quantize_row_q2_k;
        case tensor_type::q3_k: return quantize_row_q3_k;
        case tensor_type::q4_k: return quantize_row_q4_k;
        case tensor_type::q5_k: return quantize_row_q5_k;
        case tensor_type::q6_k: return quantize_row_q6_k;
        case tensor_type::q8_k: return quantize_row_q8_k;
        case tensor_type::iq4_nl: return quantize_row_iq4_nl;
        default: return nullptr;
    }
}

}  // namespace ref

#if defined(__clang__)
#pragma float_control(pop)
#elif defined(__GNUC__)
#pragma GCC pop_options
#endif

namespace detail {
struct type_row {
    const char* name;
    int32_t block_elems;
    int32_t block_bytes;
};
// Indexed by the GGUF type number. A null name marks a number GGUF never defined or has retired.
constexpr type_row type_table[] = {
    {"F32", 1, 4},        {"F16", 1, 2},        {"Q4_0", 32, 18},     {"Q4_1", 32, 20},
    {nullptr, 0, 0},      {nullptr, 0, 0},      {"Q5_0", 32, 22},     {"Q5_1", 32, 24},
    {"Q8_0", 32, 34},     {"Q8_1", 32, 36},     {"Q2_K", 256, 84},    {"Q3_K", 256, 110},
    {"Q4_K", 256, 144},   {"Q5_K", 256, 176},   {"Q6_K", 256, 210},   {"Q8_K", 256, 292},
    {"IQ2_XXS", 256, 66}, {"IQ2_XS", 256, 74},  {"IQ3_XXS", 256, 98}, {"IQ1_S", 256, 50},
    {"IQ4_NL", 32, 18},   {"IQ3_S", 256, 110},  {"IQ2_S", 256, 82},   {"IQ4_XS", 256, 136},
    {"I8", 1, 1},         {"I16", 1, 2},        {"I32", 1, 4},        {"I64", 1, 8},
    {"F64", 1, 8},        {"IQ1_M", 256, 56},   {"BF16", 1, 2},       {nullptr, 0, 0},
    {nullptr, 0, 0},      {nullptr, 0, 0},      {"TQ1_0", 256, 54},   {"TQ2_0", 256, 66},
    {nullptr, 0, 0},      {nullptr, 0, 0},      {nullptr, 0, 0},      {"MXFP4", 32, 17},
    {"NVFP4", 64, 36},    {"Q1_0", 128, 18},
};
constexpr uint32_t type_count = sizeof(type_table) / sizeof(type_table[0]);
// Names of numbers that were once GGUF types and were removed, for a helpful message.
inline const char* retired_type_name(uint32_t id) {
    switch (id) {
    case 4: return "Q4_2"; case 5: return "Q4_3";
    case 31: return "Q4_0_4_4"; case 32: return "Q4_0_4_8"; case 33: return "Q4_0_8_8";
    case 36: return "IQ4_NL_4_4"; case 37: return "IQ4_NL_4_8"; case 38: return "IQ4_NL_8_8";
    default: return nullptr;
    }
}
}  // namespace detail

const type_traits* type_info(tensor_type t) {
    // Filled once from the table and the kernel lists; a constant after first use.
    static const struct table {
        type_traits rows[detail::type_count];
        table() : rows() {
            for (uint32_t i = 0; i < detail::type_count; ++i) {
                const detail::type_row& r = detail::type_table[i];
                rows[i] = type_traits{r.name, r.block_elems, r.block_bytes,
                                      r.name && ref::to_float((tensor_type)i) != nullptr,
                                      r.name && ref::from_float((tensor_type)i) != nullptr};
            }
        }
    } t_;
    const uint32_t id = (uint32_t)t;
    if (id >= detail::type_count || !detail::type_table[id].name) return nullptr;
    return &t_.rows[id];
}

const char* type_name(tensor_type t) {
    const uint32_t id = (uint32_t)t;
    if (id >= detail::type_count || !detail::type_table[id].name) return "unknown";
    return detail::type_table[id].name;
}

bool type_row_bytes(tensor_type t, int64_t n_elems, size_t* bytes) {
    const uint32_t id = (uint32_t)t;
    if (id >= detail::type_count || !detail::type_table[id].name || n_elems < 0) return false;
    const detail::type_row& r = detail::type_table[id];
    if (n_elems % r.block_elems) return false;
    uint64_t b;
    if (!detail::mul_ok((uint64_t)(n_elems / r.block_elems), (uint64_t)r.block_bytes, &b) || b > SIZE_MAX) return false;
    *bytes = (size_t)b;
    return true;
}

status dequantize(tensor_type t, const void* src, size_t src_bytes, float* dst, int64_t n) {
    ref::to_float_fn fn = ref::to_float(t);
    if (!fn) return detail::fail(result::unsupported, no_offset, "cannot dequantize type %s (%u)", type_name(t), (unsigned)t);
    size_t need;
    if (!type_row_bytes(t, n, &need))
        return detail::fail(result::invalid_argument, no_offset, "%lld elements is not a whole number of %s blocks", (long long)n, type_name(t));
    if (src_bytes < need) return detail::fail(result::invalid_argument, no_offset, "source holds %zu bytes, %zu needed", src_bytes, need);
    if (n && (!src || !dst)) return detail::fail(result::invalid_argument, no_offset, "null buffer");
    if (n) fn(src, dst, n);
    return status{};
}

status quantize(tensor_type t, const float* src, int64_t n, void* dst, size_t dst_bytes) {
    ref::from_float_fn fn = ref::from_float(t);
    if (!fn) return detail::fail(result::unsupported, no_offset, "cannot quantize to type %s (%u)", type_name(t), (unsigned)t);
    size_t need;
    if (!type_row_bytes(t, n, &need))
        return detail::fail(result::invalid_argument, no_offset, "%lld elements is not a whole number of %s blocks", (long long)n, type_name(t));
    if (dst_bytes < need) return detail::fail(result::invalid_argument, no_offset, "destination holds %zu bytes, %zu needed", dst_bytes, need);
    if (n && (!src || !dst)) return detail::fail(result::invalid_argument, no_offset, "null buffer");
    if (n) fn(src, dst, n);
    return status{};
}

// ================================================================================================
// Vector kernels: scalar references and their xsimd twins
// ================================================================================================

float ref::dot_f32(const float* a, const float* b, int64_t n) {
    float sum = 0.0f;
    for (int64_t i = 0; i < n; ++i) sum += a[i] * b[i];
    return sum;
}

#if AI_HAVE_XSIMD
namespace detail {
// The few spots where xsimd's API changed between Debian's 8.1 and the current 13/14.
using vfloat = xsimd::batch<float>;
inline float reduce_add(const vfloat& v) {
#if XSIMD_VERSION_MAJOR >= 9
    return xsimd::reduce_add(v);
#else
    return xsimd::hadd(v);
#endif
}
}  // namespace detail

float simd::dot_f32(const float* a, const float* b, int64_t n) {
    using detail::vfloat;
    constexpr int64_t w = (int64_t)vfloat::size;
    // Four accumulators hide the FMA latency; the tail goes through the scalar loop.
    vfloat acc0(0.0f), acc1(0.0f), acc2(0.0f), acc3(0.0f);
    int64_t i = 0;
    for (; i + 4 * w <= n; i += 4 * w) {
        acc0 = xsimd::fma(vfloat::load_unaligned(a + i), vfloat::load_unaligned(b + i), acc0);
        acc1 = xsimd::fma(vfloat::load_unaligned(a + i + w), vfloat::load_unaligned(b + i + w), acc1);
        acc2 = xsimd::fma(vfloat::load_unaligned(a + i + 2 * w), vfloat::load_unaligned(b + i + 2 * w), acc2);
        acc3 = xsimd::fma(vfloat::load_unaligned(a + i + 3 * w), vfloat::load_unaligned(b + i + 3 * w), acc3);
    }
    for (; i + w <= n; i += w) acc0 = xsimd::fma(vfloat::load_unaligned(a + i), vfloat::load_unaligned(b + i), acc0);
    float sum = detail::reduce_add((acc0 + acc1) + (acc2 + acc3));
    for (; i < n; ++i) sum += a[i] * b[i];
    return sum;
}
const char* simd::arch_name() { return xsimd::default_arch::name(); }
#else
float simd::dot_f32(const float* a, const float* b, int64_t n) { return ref::dot_f32(a, b, n); }
const char* simd::arch_name() { return "scalar"; }
#endif

// ================================================================================================
// GGUF reading
// ================================================================================================
//
// Layout (all little-endian):
//   "GGUF"  u32 version  u64 n_tensors  u64 n_kv
//   n_kv × { string key, u32 value_type, value }          string = u64 length + bytes
//   n_tensors × { string name, u32 n_dims, n_dims × u64 ne, u32 type, u64 offset }
//   padding to general.alignment (default 32), then the data section; each tensor's offset is
//   relative to the data section and a multiple of the alignment.

const char* gguf_type_name(gguf_type t) {
    static const char* const names[] = {"u8", "i8", "u16", "i16", "u32", "i32", "f32", "bool",
                                        "string", "array", "u64", "i64", "f64"};
    const uint32_t i = (uint32_t)t;
    return i < 13 ? names[i] : "unknown";
}

namespace detail {

inline uint32_t gguf_scalar_size(gguf_type t) {  // 0 for string, array and unknown types
    switch (t) {
    case gguf_type::u8: case gguf_type::i8: case gguf_type::boolean: return 1;
    case gguf_type::u16: case gguf_type::i16: return 2;
    case gguf_type::u32: case gguf_type::i32: case gguf_type::f32: return 4;
    case gguf_type::u64: case gguf_type::i64: case gguf_type::f64: return 8;
    default: return 0;
    }
}

// Decodes a validated fixed-size value at p into the union-like triple.
inline void gguf_decode_scalar(gguf_type t, const uint8_t* p, uint64_t* u, int64_t* i, double* f) {
    *u = 0; *i = 0; *f = 0;
    switch (t) {
    case gguf_type::u8: *u = p[0]; break;
    case gguf_type::i8: *i = (int8_t)p[0]; break;
    case gguf_type::boolean: *u = p[0] != 0; break;
    case gguf_type::u16: *u = load_u16(p); break;
    case gguf_type::i16: *i = (int16_t)load_u16(p); break;
    case gguf_type::u32: *u = load_u32(p); break;
    case gguf_type::i32: *i = (int32_t)load_u32(p); break;
    case gguf_type::u64: *u = load_u64(p); break;
    case gguf_type::i64: { uint64_t v = load_u64(p); std::memcpy(i, &v, 8); break; }
    case gguf_type::f32: { uint32_t v = load_u32(p); float x; std::memcpy(&x, &v, 4); *f = x; break; }
    case gguf_type::f64: { uint64_t v = load_u64(p); std::memcpy(f, &v, 8); break; }
    default: break;
    }
}
inline bool gguf_is_unsigned(gguf_type t) {
    return t == gguf_type::u8 || t == gguf_type::u16 || t == gguf_type::u32 || t == gguf_type::u64 || t == gguf_type::boolean;
}
inline bool gguf_is_signed(gguf_type t) {
    return t == gguf_type::i8 || t == gguf_type::i16 || t == gguf_type::i32 || t == gguf_type::i64;
}

// Deepest nesting of arrays we accept; real files use none, the bound keeps hostile files cheap.
constexpr int gguf_max_array_depth = 8;

// Walks the metadata and tensor table of a GGUF image held in memory. Every read is bounds-checked
// against `size` (what we have) and sizes are compared with `file_size` (what the file has) so a
// caller reading a prefix can tell "need more bytes" from "broken".
struct gguf_parser {
    const uint8_t* p;
    uint64_t size;         // bytes available at p
    uint64_t file_size;    // bytes in the whole file (>= size)
    uint64_t pos = 0;
    bool need_more = false;  // ran off the end of a prefix that is shorter than the file
    status err;

    gguf_parser(const uint8_t* bytes, uint64_t avail, uint64_t total) : p(bytes), size(avail), file_size(total) {}

    bool truncated(const char* what) {
        if (size < file_size) { need_more = true; err = fail(result::format_error, pos, "need more bytes"); return false; }
        err = fail(result::format_error, pos, "file ends inside %s (file size %llu)", what, (unsigned long long)file_size);
        return false;
    }
    bool have(uint64_t n, const char* what) { return (n <= size && pos <= size - n) ? true : truncated(what); }
    bool u32(uint32_t* v, const char* what) { if (!have(4, what)) return false; *v = load_u32(p + pos); pos += 4; return true; }
    bool u64(uint64_t* v, const char* what) { if (!have(8, what)) return false; *v = load_u64(p + pos); pos += 8; return true; }
    bool str(std::string_view* s, const char* what) {
        uint64_t len;
        const uint64_t at = pos;
        if (!u64(&len, what)) return false;
        if (len > file_size - (pos <= file_size ? pos : file_size)) {
            err = fail(result::format_error, at, "%s length %llu runs past the end of the file", what, (unsigned long long)len);
            return false;
        }
        if (!have(len, what)) return false;
        *s = std::string_view(reinterpret_cast<const char*>(p + pos), (size_t)len);
        pos += len;
        return true;
    }

    // Skips one value of type t (validating it), recording a view of it in kv when given.
    bool value(gguf_type t, std::string_view key, int depth, gguf_kv* kv) {
        const uint32_t fixed = gguf_scalar_size(t);
        if (fixed) {
            if (!have(fixed, "a metadata value")) return false;
            if (t == gguf_type::boolean && p[pos] > 1) {
                err = fail(result::format_error, pos, "key '%.*s': bool value %u is neither 0 nor 1", sv_len(key), key.data(), (unsigned)p[pos]);
                return false;
            }
            if (kv) {
                uint64_t u; int64_t i; double f;
                gguf_decode_scalar(t, p + pos, &u, &i, &f);
                if (gguf_is_signed(t)) kv->scalar.i = i;
                else if (t == gguf_type::f32 || t == gguf_type::f64) kv->scalar.f = f;
                else kv->scalar.u = u;
            }
            pos += fixed;
            return true;
        }
        if (t == gguf_type::string) {
            std::string_view s;
            if (!str(&s, "a string value")) return false;
            if (kv) kv->str = s;
            return true;
        }
        if (t != gguf_type::array) {
            err = fail(result::format_error, pos, "key '%.*s' has unknown value type %u", sv_len(key), key.data(), (unsigned)t);
            return false;
        }
        if (depth >= gguf_max_array_depth) {
            err = fail(result::format_error, pos, "key '%.*s': arrays nested deeper than %d", sv_len(key), key.data(), gguf_max_array_depth);
            return false;
        }
        const uint64_t at = pos;
        uint32_t et;
        uint64_t count;
        if (!u32(&et, "an array header") || !u64(&count, "an array header")) return false;
        const gguf_type elem = (gguf_type)et;
        if (et > 12) {
            err = fail(result::format_error, at, "key '%.*s': array of unknown element type %u", sv_len(key), key.data(), et);
            return false;
        }
        const uint64_t start = pos;
        const uint64_t left = file_size - pos;
        const uint32_t esize = gguf_scalar_size(elem);
        // The smallest an element can be on disk: strings and arrays carry an 8- or 12-byte header.
        const uint64_t min_elem = esize ? esize : elem == gguf_type::string ? 8 : 12;
        if (count > left / min_elem) {
            err = fail(result::format_error, at, "key '%.*s': array of %llu %s elements cannot fit in the %llu bytes left",
                        sv_len(key), key.data(), (unsigned long long)count, gguf_type_name(elem), (unsigned long long)left);
            return false;
        }
        if (esize) {
            if (!have(count * esize, "an array")) return false;  // no overflow: count <= left / esize
            pos += count * esize;
        } else {
            for (uint64_t i = 0; i < count; ++i)
                if (!value(elem, key, depth + 1, nullptr)) return false;
        }
        if (kv) {
            kv->arr.type = elem;
            kv->arr.count = count;
            kv->arr.data = p + start;
            kv->arr.bytes = pos - start;
        }
        return true;
    }
};

}  // namespace detail

// --- gguf_array accessors (the array was validated when the file was opened) --------------------

bool gguf_array::get(uint64_t i, int64_t* out) const {
    const uint32_t es = detail::gguf_scalar_size(type);
    if (!es || i >= count || type == gguf_type::f32 || type == gguf_type::f64) return false;
    uint64_t u; int64_t s; double f;
    detail::gguf_decode_scalar(type, data + i * es, &u, &s, &f);
    if (detail::gguf_is_signed(type)) { *out = s; return true; }
    if (u > (uint64_t)INT64_MAX) return false;
    *out = (int64_t)u;
    return true;
}
bool gguf_array::get(uint64_t i, uint64_t* out) const {
    int64_t s;
    const uint32_t es = detail::gguf_scalar_size(type);
    if (es && i < count && detail::gguf_is_unsigned(type)) {
        uint64_t u; double f;
        detail::gguf_decode_scalar(type, data + i * es, &u, &s, &f);
        *out = u;
        return true;
    }
    if (!get(i, &s) || s < 0) return false;
    *out = (uint64_t)s;
    return true;
}
bool gguf_array::get(uint64_t i, double* out) const {
    const uint32_t es = detail::gguf_scalar_size(type);
    if (!es || i >= count) return false;
    uint64_t u; int64_t s; double f;
    detail::gguf_decode_scalar(type, data + i * es, &u, &s, &f);
    *out = (type == gguf_type::f32 || type == gguf_type::f64) ? f : detail::gguf_is_signed(type) ? (double)s : (double)u;
    return true;
}
bool gguf_array::next_string(uint64_t* cursor, std::string_view* out) const {
    if (type != gguf_type::string || *cursor + 8 > bytes) return false;
    const uint64_t len = detail::load_u64(data + *cursor);
    if (len > bytes - *cursor - 8) return false;
    *out = std::string_view(reinterpret_cast<const char*>(data + *cursor + 8), (size_t)len);
    *cursor += 8 + len;
    return true;
}
bool gguf_array::next_array(uint64_t* cursor, gguf_array* out) const {
    if (type != gguf_type::array || *cursor + 12 > bytes) return false;
    // Re-walk the element with the validating parser; it cannot fail on validated bytes, and the
    // check keeps this safe even on an array a caller built by hand.
    detail::gguf_parser ps(data, bytes, bytes);
    ps.pos = *cursor;
    gguf_kv kv;
    if (!ps.value(gguf_type::array, std::string_view(), 1, &kv)) return false;
    *out = kv.arr;
    *cursor = ps.pos;
    return true;
}

// --- gguf_file -----------------------------------------------------------------------------------

struct gguf_file::state {
    allocator alloc;
    logger log;

    const uint8_t* base = nullptr;  // the parsed bytes: whole file, or the metadata prefix (reader)
    uint64_t base_size = 0;
    uint64_t file_size = 0;
    const uint8_t* data = nullptr;  // data section in memory, or nullptr when it is not resident

    uint32_t version = 0;
    uint64_t alignment = 32;
    uint64_t data_offset = 0;

    gguf_kv* kvs = nullptr;
    int64_t n_kv = 0;
    tensor_info* tensors = nullptr;
    int64_t n_tensors = 0;
    detail::name_index kv_index, tensor_index;

    // What we own: a heap copy of the bytes (plain read / reader prefix), loaded tensor data, and
    // an OS mapping. Each is released in release().
    void* owned = nullptr;
    size_t owned_size = 0;
    void* owned_data = nullptr;
    size_t owned_data_size = 0;
    void* map_addr = nullptr;
    size_t map_size = 0;
#if defined(AI_MMAP_WIN32)
    HANDLE map_handle = nullptr;
#endif
    reader rd;  // set when the data section lives behind a reader

    void release_tables();  // the parsed tables only
    void release();         // everything
    status parse(const uint8_t* bytes, uint64_t avail, uint64_t total, bool* need_more);
};

void gguf_file::state::release_tables() {
    detail::mem_free(alloc, kvs, (size_t)n_kv * sizeof(gguf_kv));
    detail::mem_free(alloc, tensors, (size_t)n_tensors * sizeof(tensor_info));
    kvs = nullptr; tensors = nullptr; n_kv = n_tensors = 0;
    kv_index.release(alloc);
    tensor_index.release(alloc);
    version = 0; alignment = 32; data_offset = 0;
}

void gguf_file::state::release() {
    release_tables();
    detail::mem_free(alloc, owned, owned_size);
    owned = nullptr; owned_size = 0;
    detail::mem_free(alloc, owned_data, owned_data_size);
    owned_data = nullptr; owned_data_size = 0;
#if defined(AI_MMAP_POSIX)
    if (map_addr) munmap(map_addr, map_size);
#elif defined(AI_MMAP_WIN32)
    if (map_addr) UnmapViewOfFile(map_addr);
    if (map_handle) CloseHandle(map_handle);
    map_handle = nullptr;
#endif
    map_addr = nullptr; map_size = 0;
}

status gguf_file::state::parse(const uint8_t* bytes, uint64_t avail, uint64_t total, bool* need_more) {
    using namespace detail;
    *need_more = false;
    gguf_parser ps(bytes, avail, total);
    auto bail = [&]() -> status { *need_more = ps.need_more; return ps.err; };

    // --- header
    if (total < 4) return fail(result::format_error, 0, "not a GGUF file: %llu bytes is too short for the magic", (unsigned long long)total);
    if (!ps.have(4, "the magic")) return bail();
    if (std::memcmp(bytes, "GGUF", 4) != 0) {
        if (std::memcmp(bytes, "FUGG", 4) == 0) return fail(result::unsupported, 0, "big-endian GGUF files are not supported");
        return fail(result::format_error, 0, "not a GGUF file: bad magic %02x %02x %02x %02x", bytes[0], bytes[1], bytes[2], bytes[3]);
    }
    ps.pos = 4;
    if (!ps.u32(&version, "the version")) return bail();
    if (version == 1)
        return fail(result::unsupported, 4, "GGUF version 1 is obsolete and not supported; convert the model again with a current converter");
    if ((version & 0xffff) == 0 && (version >> 24) != 0)
        return fail(result::unsupported, 4, "big-endian GGUF files are not supported (version field reads 0x%x)", version);
    if (version != 2 && version != 3) return fail(result::unsupported, 4, "unsupported GGUF version %u (2 and 3 are supported)", version);
    uint64_t nt, nk;
    if (!ps.u64(&nt, "the tensor count") || !ps.u64(&nk, "the metadata count")) return bail();
    // A key/value needs at least 13 bytes and a tensor record 24, so counts that cannot fit in the
    // file are rejected before anything is allocated for them.
    if (nk > (total - ps.pos) / 13) return fail(result::format_error, 16, "metadata count %llu cannot fit in a %llu-byte file", (unsigned long long)nk, (unsigned long long)total);
    if (nt > (total - ps.pos) / 24) return fail(result::format_error, 8, "tensor count %llu cannot fit in a %llu-byte file", (unsigned long long)nt, (unsigned long long)total);
    if (nk > INT32_MAX || nt > INT32_MAX) return fail(result::unsupported, 8, "more than 2^31 keys or tensors");

    kvs = static_cast<gguf_kv*>(mem_alloc(alloc, (size_t)nk * sizeof(gguf_kv)));
    tensors = static_cast<tensor_info*>(mem_alloc(alloc, (size_t)nt * sizeof(tensor_info)));
    if (!kvs || !tensors || !kv_index.init(alloc, (int64_t)nk) || !tensor_index.init(alloc, (int64_t)nt)) {
        n_kv = (int64_t)nk; n_tensors = (int64_t)nt;  // so release() frees with the right sizes
        return fail(result::out_of_memory, 0, "out of memory for %llu keys and %llu tensors", (unsigned long long)nk, (unsigned long long)nt);
    }
    n_kv = (int64_t)nk;
    n_tensors = (int64_t)nt;
    for (int64_t i = 0; i < n_kv; ++i) new (&kvs[i]) gguf_kv();
    for (int64_t i = 0; i < n_tensors; ++i) new (&tensors[i]) tensor_info();

    // --- metadata
    for (int64_t i = 0; i < n_kv; ++i) {
        gguf_kv& kv = kvs[i];
        kv.offset = ps.pos;
        uint32_t t;
        if (!ps.str(&kv.key, "a metadata key") || !ps.u32(&t, "a metadata value type")) return bail();
        if (kv.key.empty()) return fail(result::format_error, kv.offset, "metadata key %lld is empty", (long long)i);
        kv.type = (gguf_type)t;
        if (!ps.value(kv.type, kv.key, 0, &kv)) return bail();
        const int32_t dup = kv_index.insert(kv.key, (int32_t)i, [&](int32_t j) { return kvs[j].key; });
        if (dup >= 0) return fail(result::format_error, kv.offset, "duplicate metadata key '%.*s'", sv_len(kv.key), kv.key.data());
    }

    // general.alignment decides where the data section starts, so it is checked before use.
    const int32_t ai = kv_index.find("general.alignment", [&](int32_t j) { return kvs[j].key; });
    if (ai >= 0) {
        const gguf_kv& kv = kvs[ai];
        // GGUF defines it as u32; llama.cpp rejects any other type, and so do we.
        if (kv.type != gguf_type::u32)
            return fail(result::format_error, kv.offset, "general.alignment has type %s, expected u32", gguf_type_name(kv.type));
        const uint64_t a = kv.scalar.u;
        if (!is_pow2(a)) return fail(result::format_error, kv.offset, "general.alignment = %llu is not a power of two", (unsigned long long)a);
        alignment = a;
    }

    // --- tensor table
    for (int64_t i = 0; i < n_tensors; ++i) {
        tensor_info& ti = tensors[i];
        const uint64_t at = ps.pos;
        uint32_t nd, ty;
        if (!ps.str(&ti.name, "a tensor name") || !ps.u32(&nd, "a tensor's dimension count")) return bail();
        const int nl = sv_len(ti.name);
        const char* nm = ti.name.data();
        // The format caps names at 64 bytes (llama.cpp's loader needs them shorter still).
        if (ti.name.size() > 64) return fail(result::format_error, at, "tensor name '%.*s...' is %zu bytes long (at most 64)", 32, nm, ti.name.size());
        // Zero dimensions is a scalar (one element), as llama.cpp reads it.
        if (nd > 4) return fail(result::format_error, at, "tensor '%.*s' has %u dimensions (at most 4)", nl, nm, nd);
        ti.n_dims = (int32_t)nd;
        uint64_t n = 1;
        for (uint32_t d = 0; d < nd; ++d) {
            uint64_t e;
            if (!ps.u64(&e, "a tensor's shape")) return bail();
            if (e > (uint64_t)INT64_MAX) return fail(result::format_error, at, "tensor '%.*s' has a negative size in dimension %u", nl, nm, d);
            if (!mul_ok(n, e, &n) || n > (uint64_t)INT64_MAX) return fail(result::format_error, at, "tensor '%.*s': element count overflows", nl, nm);
            ti.ne[d] = (int64_t)e;
        }
        ti.n_elems = n;
        if (!ps.u32(&ty, "a tensor's type") || !ps.u64(&ti.offset, "a tensor's offset")) return bail();
        ti.type = (tensor_type)ty;
        if (!type_info(ti.type)) {
            if (const char* old = retired_type_name(ty))
                return fail(result::unsupported, at, "tensor '%.*s' has type %s (%u), which GGUF no longer defines", nl, nm, old, ty);
            return fail(result::unsupported, at, "tensor '%.*s' has unknown type %u", nl, nm, ty);
        }
        size_t rb;
        if (!type_row_bytes(ti.type, ti.ne[0], &rb))
            return fail(result::format_error, at, "tensor '%.*s': row of %lld elements is not a whole number of %s blocks of %d",
                        nl, nm, (long long)ti.ne[0], type_name(ti.type), type_info(ti.type)->block_elems);
        uint64_t total_bytes;
        if (!mul_ok(rb, n / (ti.ne[0] ? (uint64_t)ti.ne[0] : 1), &total_bytes) || total_bytes > SIZE_MAX)
            return fail(result::format_error, at, "tensor '%.*s': byte size overflows", nl, nm);
        if (ti.ne[0] == 0) total_bytes = 0;
        ti.row_bytes = rb;
        ti.bytes = (size_t)total_bytes;
        if (ti.offset % alignment)
            return fail(result::format_error, at, "tensor '%.*s': offset %llu is not a multiple of the alignment %llu", nl, nm,
                        (unsigned long long)ti.offset, (unsigned long long)alignment);
        const int32_t dup = tensor_index.insert(ti.name, (int32_t)i, [&](int32_t j) { return tensors[j].name; });
        if (dup >= 0) return fail(result::format_error, at, "duplicate tensor name '%.*s'", nl, nm);
    }

    // --- data section
    if (!align_up_ok(ps.pos, alignment, &data_offset)) return fail(result::format_error, ps.pos, "data section offset overflows");
    for (int64_t i = 0; i < n_tensors; ++i) {
        tensor_info& ti = tensors[i];
        uint64_t start, end;
        if (!add_ok(data_offset, ti.offset, &start) || !add_ok(start, ti.bytes, &end) || end > total)
            return fail(result::format_error, data_offset, "tensor '%.*s': data [%llu, +%llu) runs past the end of the file (%llu bytes)",
                        sv_len(ti.name), ti.name.data(), (unsigned long long)ti.offset, (unsigned long long)ti.bytes, (unsigned long long)total);
        ti.offset = start;  // from here on, absolute
    }
    // Tensors may come in any order but must not share bytes: a writer that overlaps them is broken,
    // and a reader that trusted it could hand out aliased weights.
    if (n_tensors > 1) {
        const size_t ob = (size_t)n_tensors * sizeof(int32_t);
        int32_t* order = static_cast<int32_t*>(mem_alloc(alloc, ob));
        if (!order) return fail(result::out_of_memory, 0, "out of memory");
        for (int32_t i = 0; i < (int32_t)n_tensors; ++i) order[i] = i;
        std::sort(order, order + n_tensors, [&](int32_t a, int32_t b) { return tensors[a].offset < tensors[b].offset; });
        // Walk in offset order remembering the furthest end so far: an empty tensor in between
        // must not hide an overlap of its neighbours.
        status st;
        int32_t furthest = -1;  // the non-empty tensor whose data ends last so far
        for (int64_t k = 0; k < n_tensors && st.ok(); ++k) {
            const tensor_info& cur = tensors[order[k]];
            if (!cur.bytes) continue;
            if (furthest >= 0) {
                const tensor_info& prev = tensors[furthest];
                if (prev.offset + prev.bytes > cur.offset)
                    st = fail(result::format_error, cur.offset, "tensor '%.*s' overlaps the data of tensor '%.*s'", sv_len(cur.name),
                              cur.name.data(), sv_len(prev.name), prev.name.data());
            }
            if (furthest < 0 || cur.offset + cur.bytes > tensors[furthest].offset + tensors[furthest].bytes) furthest = order[k];
        }
        mem_free(alloc, order, ob);
        if (!st) return st;
    }
    return status{};
}

gguf_file::~gguf_file() { close(); }
gguf_file::gguf_file(gguf_file&& o) noexcept : state_(o.state_) { o.state_ = nullptr; }
gguf_file& gguf_file::operator=(gguf_file&& o) noexcept {
    if (this != &o) { close(); state_ = o.state_; o.state_ = nullptr; }
    return *this;
}

void gguf_file::close() {
    if (!state_) return;
    state_->release();
    const allocator a = state_->alloc;
    state_->~state();
    detail::mem_free(a, state_, sizeof(state));
    state_ = nullptr;
}

namespace detail {
// Creates a fresh state with the options' hooks resolved.
inline gguf_file::state* new_gguf_state(const gguf_options* opt) {
    const allocator a = resolve(opt ? &opt->alloc : nullptr);
    void* mem = mem_alloc(a, sizeof(gguf_file::state), alignof(gguf_file::state));
    if (!mem) return nullptr;
    gguf_file::state* s = new (mem) gguf_file::state();
    s->alloc = a;
    if (opt) s->log = opt->log;
    return s;
}
// Points every tensor at its bytes once the data section is resident at `data` (which holds the
// file's bytes from data_offset on).
inline void bind_tensor_data(gguf_file::state* s) {
    for (int64_t i = 0; i < s->n_tensors; ++i)
        s->tensors[i].data = s->data ? s->data + (s->tensors[i].offset - s->data_offset) : nullptr;
}
}  // namespace detail

status gguf_file::open_memory(const void* data, size_t size, const gguf_options* opt) {
    close();
    if (!data && size) return detail::fail(result::invalid_argument, no_offset, "null buffer");
    state* s = detail::new_gguf_state(opt);
    if (!s) return detail::fail(result::out_of_memory, no_offset, "out of memory");
    state_ = s;
    bool more;
    const uint8_t* bytes = static_cast<const uint8_t*>(data);
    status st = s->parse(bytes, size, size, &more);
    if (!st) { close(); return st; }
    s->base = bytes;
    s->base_size = size;
    s->file_size = size;
    s->data = bytes + s->data_offset;
    if (s->n_tensors == 0) s->data = nullptr;
    detail::bind_tensor_data(s);
    return status{};
}

status gguf_file::open_reader(const reader& r, const gguf_options* opt) {
    close();
    if (!r.read) return detail::fail(result::invalid_argument, no_offset, "reader has no read callback");
    state* s = detail::new_gguf_state(opt);
    if (!s) return detail::fail(result::out_of_memory, no_offset, "out of memory");
    state_ = s;
    // Read a prefix, parse, and double the prefix until the metadata fits; the metadata of real
    // models is well under the first read for all but the largest vocabularies.
    uint64_t want = r.size < ((uint64_t)1 << 20) ? r.size : ((uint64_t)1 << 20);
    uint64_t have = 0;
    for (;;) {
        if (want > SIZE_MAX) { close(); return detail::fail(result::unsupported, no_offset, "metadata larger than the address space"); }
        // Grow the prefix buffer keeping what was read; only the new bytes come from the stream.
        void* grown = detail::mem_alloc(s->alloc, (size_t)want);
        if (!grown) { close(); return detail::fail(result::out_of_memory, no_offset, "out of memory reading %llu bytes of metadata", (unsigned long long)want); }
        if (have) std::memcpy(grown, s->owned, (size_t)have);
        detail::mem_free(s->alloc, s->owned, s->owned_size);
        s->owned = grown;
        s->owned_size = (size_t)want;
        if (want > have && !r.read(r.user, have, static_cast<uint8_t*>(grown) + have, (size_t)(want - have))) {
            close();
            return detail::fail(result::io_error, have, "reader failed at offset %llu (%llu bytes)", (unsigned long long)have, (unsigned long long)(want - have));
        }
        have = want;
        bool more;
        s->release_tables();
        status st = s->parse(static_cast<const uint8_t*>(s->owned), want, r.size, &more);
        if (st) break;
        if (!more || want >= r.size) { close(); return st; }
        want = want * 2 < r.size ? want * 2 : r.size;
    }
    s->base = static_cast<const uint8_t*>(s->owned);
    s->base_size = want;
    s->file_size = r.size;
    s->rd = r;
    if (opt && opt->load_data && s->n_tensors > 0) {
        const uint64_t n = r.size - s->data_offset;
        if (n > SIZE_MAX) { close(); return detail::fail(result::unsupported, no_offset, "tensor data larger than the address space"); }
        s->owned_data_size = (size_t)n;
        s->owned_data = detail::mem_alloc(s->alloc, s->owned_data_size);
        if (!s->owned_data) { s->owned_data_size = 0; close(); return detail::fail(result::out_of_memory, no_offset, "out of memory for %llu bytes of tensor data", (unsigned long long)n); }
        if (n && !r.read(r.user, s->data_offset, s->owned_data, (size_t)n)) {
            const status st = detail::fail(result::io_error, s->data_offset, "reader failed reading the tensor data");
            close();
            return st;
        }
        s->data = static_cast<const uint8_t*>(s->owned_data);
    }
    detail::bind_tensor_data(s);
    return status{};
}

#ifndef AI_NO_STDIO
namespace detail {
// Reads a whole file into memory from the allocator: the fallback when mapping is unavailable.
inline status read_whole_file(const char* path, const allocator& a, void** out, size_t* out_size) {
    std::FILE* f = std::fopen(path, "rb");
    if (!f) return fail(result::io_error, no_offset, "cannot open '%s'", path);
    status st;
    long long len = -1;
    if (std::fseek(f, 0, SEEK_END) == 0) {
#if defined(_WIN32)
        len = _ftelli64(f);
#else
        len = (long long)ftello(f);
#endif
    }
    if (len < 0 || std::fseek(f, 0, SEEK_SET) != 0) st = fail(result::io_error, no_offset, "cannot get the size of '%s'", path);
    else if ((unsigned long long)len > SIZE_MAX) st = fail(result::unsupported, no_offset, "'%s' is larger than the address space", path);
    else {
        *out_size = (size_t)len;
        *out = mem_alloc(a, *out_size);
        if (!*out) st = fail(result::out_of_memory, no_offset, "out of memory reading '%s' (%llu bytes)", path, (unsigned long long)len);
        else if (*out_size && std::fread(*out, 1, *out_size, f) != *out_size) {
            mem_free(a, *out, *out_size);
            *out = nullptr;
            st = fail(result::io_error, no_offset, "short read from '%s'", path);
        }
    }
    std::fclose(f);
    return st;
}
}  // namespace detail

status gguf_file::open_file(const char* path, const gguf_options* opt) {
    close();
    if (!path) return detail::fail(result::invalid_argument, no_offset, "null path");
    state* s = detail::new_gguf_state(opt);
    if (!s) return detail::fail(result::out_of_memory, no_offset, "out of memory");
    state_ = s;
    const uint8_t* bytes = nullptr;
    uint64_t size = 0;
    const bool want_map = !(opt && opt->no_mmap);
#if defined(AI_MMAP_POSIX)
    if (want_map) {
        const int fd = ::open(path, O_RDONLY | O_CLOEXEC);
        if (fd < 0) { close(); return detail::fail(result::io_error, no_offset, "cannot open '%s'", path); }
        struct stat sb;
        if (fstat(fd, &sb) == 0 && S_ISREG(sb.st_mode) && sb.st_size > 0 && (unsigned long long)sb.st_size <= SIZE_MAX) {
            void* m = mmap(nullptr, (size_t)sb.st_size, PROT_READ, MAP_PRIVATE, fd, 0);
            if (m != MAP_FAILED) {
                s->map_addr = m;
                s->map_size = (size_t)sb.st_size;
                bytes = static_cast<const uint8_t*>(m);
                size = s->map_size;
            } else {
                detail::log(s->log, log_level::warn, "mmap of '%s' failed; reading it into memory instead", path);
            }
        }
        ::close(fd);
    }
#elif defined(AI_MMAP_WIN32)
    if (want_map) {
        // UTF-8 path to UTF-16 so non-ASCII names open on every Windows code page.
        wchar_t wpath[1024];
        const int wn = MultiByteToWideChar(CP_UTF8, MB_ERR_INVALID_CHARS, path, -1, wpath, 1024);
        HANDLE fh = wn > 0 ? CreateFileW(wpath, GENERIC_READ, FILE_SHARE_READ, nullptr, OPEN_EXISTING, FILE_ATTRIBUTE_NORMAL, nullptr)
                           : INVALID_HANDLE_VALUE;
        LARGE_INTEGER li;
        if (fh != INVALID_HANDLE_VALUE && GetFileSizeEx(fh, &li) && li.QuadPart > 0 && (unsigned long long)li.QuadPart <= SIZE_MAX) {
            HANDLE mh = CreateFileMappingW(fh, nullptr, PAGE_READONLY, 0, 0, nullptr);
            void* m = mh ? MapViewOfFile(mh, FILE_MAP_READ, 0, 0, 0) : nullptr;
            if (m) {
                s->map_handle = mh;
                s->map_addr = m;
                s->map_size = (size_t)li.QuadPart;
                bytes = static_cast<const uint8_t*>(m);
                size = s->map_size;
            } else {
                if (mh) CloseHandle(mh);
                detail::log(s->log, log_level::warn, "mapping '%s' failed; reading it into memory instead", path);
            }
        }
        if (fh != INVALID_HANDLE_VALUE) CloseHandle(fh);
    }
#else
    (void)want_map;
#endif
    if (!bytes) {
        void* buf = nullptr;
        size_t n = 0;
        status st = detail::read_whole_file(path, s->alloc, &buf, &n);
        if (!st) { close(); return st; }
        s->owned = buf;
        s->owned_size = n;
        bytes = static_cast<const uint8_t*>(buf);
        size = n;
    }
    bool more;
    status st = s->parse(bytes, size, size, &more);
    if (!st) { close(); return st; }
    s->base = bytes;
    s->base_size = size;
    s->file_size = size;
    s->data = s->n_tensors ? bytes + s->data_offset : nullptr;
    detail::bind_tensor_data(s);
    detail::log(s->log, log_level::info, "opened '%s': GGUF v%u, %lld keys, %lld tensors, %s", path, s->version,
                (long long)s->n_kv, (long long)s->n_tensors, s->map_addr ? "mapped" : "read into memory");
    return status{};
}
#endif  // AI_NO_STDIO

// Accessors on a closed file return neutral values; kv()/tensor() require a valid index.
uint32_t gguf_file::version() const { return state_ ? state_->version : 0; }
uint64_t gguf_file::alignment() const { return state_ ? state_->alignment : 0; }
uint64_t gguf_file::data_offset() const { return state_ ? state_->data_offset : 0; }
uint64_t gguf_file::file_size() const { return state_ ? state_->file_size : 0; }
bool gguf_file::is_mapped() const { return state_ && state_->map_addr; }
int64_t gguf_file::kv_count() const { return state_ ? state_->n_kv : 0; }
const gguf_kv& gguf_file::kv(int64_t i) const { AI_ASSERT(state_ && i >= 0 && i < state_->n_kv); return state_->kvs[i]; }
int64_t gguf_file::tensor_count() const { return state_ ? state_->n_tensors : 0; }
const tensor_info& gguf_file::tensor(int64_t i) const { AI_ASSERT(state_ && i >= 0 && i < state_->n_tensors); return state_->tensors[i]; }

const gguf_kv* gguf_file::find(std::string_view key) const {
    if (!state_) return nullptr;
    const int32_t i = state_->kv_index.find(key, [&](int32_t j) { return state_->kvs[j].key; });
    return i >= 0 ? &state_->kvs[i] : nullptr;
}
const tensor_info* gguf_file::find_tensor(std::string_view name) const {
    if (!state_) return nullptr;
    const int32_t i = state_->tensor_index.find(name, [&](int32_t j) { return state_->tensors[j].name; });
    return i >= 0 ? &state_->tensors[i] : nullptr;
}

namespace detail {
inline status missing_key(std::string_view key) {
    return fail(result::not_found, no_offset, "metadata key '%.*s' not found", sv_len(key), key.data());
}
inline status wrong_type(const gguf_kv& kv, const char* want) {
    return fail(result::type_mismatch, kv.offset, "metadata key '%.*s' has type %s, expected %s", sv_len(kv.key), kv.key.data(),
                gguf_type_name(kv.type), want);
}
// Integer metadata as a signed 128-bit-free pair: (negative?, magnitude) for range checks.
inline bool kv_integer(const gguf_kv& kv, bool* neg, uint64_t* mag) {
    if (gguf_is_unsigned(kv.type) && kv.type != gguf_type::boolean) { *neg = false; *mag = kv.scalar.u; return true; }
    if (gguf_is_signed(kv.type)) {
        *neg = kv.scalar.i < 0;
        *mag = *neg ? 0ull - (uint64_t)kv.scalar.i : (uint64_t)kv.scalar.i;
        return true;
    }
    return false;
}
template <class T> status get_integer(const gguf_file& f, std::string_view key, T* out, const char* want) {
    const gguf_kv* kv = f.find(key);
    if (!kv) return missing_key(key);
    bool neg;
    uint64_t mag;
    if (!kv_integer(*kv, &neg, &mag)) return wrong_type(*kv, want);
    constexpr bool is_signed = T(-1) < T(0);
    const uint64_t max_pos = (uint64_t)(std::numeric_limits<T>::max)();
    const uint64_t max_neg = is_signed ? max_pos + 1 : 0;
    if (neg ? mag > max_neg : mag > max_pos)
        return fail(result::type_mismatch, kv->offset, "metadata key '%.*s' = %s%llu does not fit in %s", sv_len(key), key.data(),
                    neg ? "-" : "", (unsigned long long)mag, want);
    *out = neg ? (T)(0 - (T)(mag - 1) - 1) : (T)mag;
    return status{};
}
}  // namespace detail

status gguf_file::get(std::string_view key, uint32_t* out) const { return detail::get_integer(*this, key, out, "u32"); }
status gguf_file::get(std::string_view key, int32_t* out) const { return detail::get_integer(*this, key, out, "i32"); }
status gguf_file::get(std::string_view key, uint64_t* out) const { return detail::get_integer(*this, key, out, "u64"); }
status gguf_file::get(std::string_view key, int64_t* out) const { return detail::get_integer(*this, key, out, "i64"); }
status gguf_file::get(std::string_view key, double* out) const {
    const gguf_kv* kv = find(key);
    if (!kv) return detail::missing_key(key);
    if (kv->type != gguf_type::f32 && kv->type != gguf_type::f64) return detail::wrong_type(*kv, "f32 or f64");
    *out = kv->scalar.f;
    return status{};
}
status gguf_file::get(std::string_view key, float* out) const {
    double d = 0;
    status st = get(key, &d);
    if (st) *out = (float)d;
    return st;
}
status gguf_file::get(std::string_view key, bool* out) const {
    const gguf_kv* kv = find(key);
    if (!kv) return detail::missing_key(key);
    if (kv->type != gguf_type::boolean) return detail::wrong_type(*kv, "bool");
    *out = kv->scalar.u != 0;
    return status{};
}
status gguf_file::get(std::string_view key, std::string_view* out) const {
    const gguf_kv* kv = find(key);
    if (!kv) return detail::missing_key(key);
    if (kv->type != gguf_type::string) return detail::wrong_type(*kv, "string");
    *out = kv->str;
    return status{};
}
status gguf_file::get(std::string_view key, gguf_array* out) const {
    const gguf_kv* kv = find(key);
    if (!kv) return detail::missing_key(key);
    if (kv->type != gguf_type::array) return detail::wrong_type(*kv, "array");
    *out = kv->arr;
    return status{};
}

status gguf_file::read_tensor(const tensor_info& t, void* dst, size_t dst_bytes) const {
    if (!state_) return detail::fail(result::invalid_argument, no_offset, "file is not open");
    if (dst_bytes < t.bytes) return detail::fail(result::invalid_argument, no_offset, "tensor '%.*s' needs %zu bytes, buffer has %zu",
                                                 detail::sv_len(t.name), t.name.data(), t.bytes, dst_bytes);
    if (!t.bytes) return status{};
    if (!dst) return detail::fail(result::invalid_argument, no_offset, "null buffer");
    if (t.data) { std::memcpy(dst, t.data, t.bytes); return status{}; }
    if (!state_->rd.read || !state_->rd.read(state_->rd.user, t.offset, dst, t.bytes))
        return detail::fail(result::io_error, t.offset, "reading tensor '%.*s' failed", detail::sv_len(t.name), t.name.data());
    return status{};
}

status gguf_file::dequantize_rows(const tensor_info& t, int64_t first_row, int64_t n_rows, float* dst, size_t dst_count) const {
    using detail::sv_len;
    if (!state_) return detail::fail(result::invalid_argument, no_offset, "file is not open");
    ref::to_float_fn fn = ref::to_float(t.type);
    if (!fn) return detail::fail(result::unsupported, t.offset, "tensor '%.*s': cannot dequantize type %s", sv_len(t.name), t.name.data(), type_name(t.type));
    const uint64_t rows = t.ne[0] ? t.n_elems / (uint64_t)t.ne[0] : 0;
    if (first_row < 0 || n_rows < 0 || (uint64_t)first_row > rows || (uint64_t)n_rows > rows - (uint64_t)first_row)
        return detail::fail(result::out_of_range, no_offset, "tensor '%.*s': rows [%lld, +%lld) outside its %llu rows", sv_len(t.name),
                            t.name.data(), (long long)first_row, (long long)n_rows, (unsigned long long)rows);
    uint64_t need;
    if (!detail::mul_ok((uint64_t)n_rows, (uint64_t)t.ne[0], &need) || need > dst_count)
        return detail::fail(result::invalid_argument, no_offset, "tensor '%.*s': %lld rows need more than the %zu floats given",
                            sv_len(t.name), t.name.data(), (long long)n_rows, dst_count);
    if (!need) return status{};
    if (!dst) return detail::fail(result::invalid_argument, no_offset, "null buffer");
    const uint64_t src_off = (uint64_t)first_row * t.row_bytes;  // within t.bytes, so no overflow
    const size_t src_bytes = (size_t)n_rows * t.row_bytes;
    if (t.data) {
        fn(static_cast<const uint8_t*>(t.data) + src_off, dst, (int64_t)need);
        return status{};
    }
    // Not resident: stage the rows through a buffer from the allocator.
    void* tmp = detail::mem_alloc(state_->alloc, src_bytes);
    if (!tmp) return detail::fail(result::out_of_memory, no_offset, "out of memory staging %zu bytes", src_bytes);
    status st;
    if (!state_->rd.read || !state_->rd.read(state_->rd.user, t.offset + src_off, tmp, src_bytes))
        st = detail::fail(result::io_error, t.offset + src_off, "reading tensor '%.*s' failed", sv_len(t.name), t.name.data());
    else
        fn(tmp, dst, (int64_t)need);
    detail::mem_free(state_->alloc, tmp, src_bytes);
    return st;
}

// ================================================================================================
// Unicode, pre-tokenizers, tokenizer (parts being pasted in)
// ================================================================================================
#include "ai_unicode.inl"
#include "ai_pretok.inl"
#include "ai_tokenizer.inl"

// ================================================================================================
// GGUF writing
// ================================================================================================

namespace detail {
// A growable byte buffer on the library allocator. Appends report failure instead of throwing.
struct byte_buf {
    uint8_t* data = nullptr;
    size_t size = 0, cap = 0;
    bool reserve(const allocator& a, size_t need) {
        if (need <= cap) return true;
        size_t nc = cap ? cap : 256;
        while (nc < need) { if (nc > SIZE_MAX / 2) return false; nc *= 2; }
        uint8_t* nd = static_cast<uint8_t*>(mem_alloc(a, nc, 16));
        if (!nd) return false;
        if (size) std::memcpy(nd, data, size);
        mem_free(a, data, cap);
        data = nd;
        cap = nc;
        return true;
    }
    bool append(const allocator& a, const void* p, size_t n) {
        if (n > SIZE_MAX - size || !reserve(a, size + n)) return false;
        if (n) std::memcpy(data + size, p, n);
        size += n;
        return true;
    }
    bool u32(const allocator& a, uint32_t v) { uint8_t b[4]; store_u32(b, v); return append(a, b, 4); }
    bool u64(const allocator& a, uint64_t v) { uint8_t b[8]; store_u64(b, v); return append(a, b, 8); }
    bool str(const allocator& a, std::string_view s) { return u64(a, s.size()) && append(a, s.data(), s.size()); }
    void release(const allocator& a) { mem_free(a, data, cap); data = nullptr; size = cap = 0; }
};
}  // namespace detail

struct gguf_writer::state {
    struct kv_entry { size_t key_off, key_len, val_off, val_len; };  // spans of `bytes`
    struct tensor_entry { size_t name_off, name_len; tensor_type type; int32_t n_dims; int64_t ne[4]; const void* data; size_t bytes; };
    allocator alloc;
    detail::byte_buf bytes;    // serialized keys and values, and tensor names
    detail::byte_buf kvs;      // kv_entry[]
    detail::byte_buf tensors;  // tensor_entry[]
    uint64_t alignment = 32;

    size_t n_kv() const { return kvs.size / sizeof(kv_entry); }
    size_t n_tensors() const { return tensors.size / sizeof(tensor_entry); }
    kv_entry kv_at(size_t i) const { kv_entry e; std::memcpy(&e, kvs.data + i * sizeof e, sizeof e); return e; }
    tensor_entry tensor_at(size_t i) const { tensor_entry e; std::memcpy(&e, tensors.data + i * sizeof e, sizeof e); return e; }
    std::string_view span(size_t off, size_t len) const { return std::string_view(reinterpret_cast<const char*>(bytes.data) + off, len); }
};

gguf_writer::gguf_writer(const allocator* alloc) {
    const allocator a = detail::resolve(alloc);
    void* mem = detail::mem_alloc(a, sizeof(state), alignof(state));
    if (!mem) { init_error_ = detail::fail(result::out_of_memory, no_offset, "out of memory"); return; }
    state_ = new (mem) state();
    state_->alloc = a;
}

gguf_writer::~gguf_writer() {
    if (!state_) return;
    const allocator a = state_->alloc;
    state_->bytes.release(a);
    state_->kvs.release(a);
    state_->tensors.release(a);
    state_->~state();
    detail::mem_free(a, state_, sizeof(state));
}

namespace detail {
// Serializes `type` + value bytes for key and records (or replaces) the entry.
inline status writer_set(gguf_writer::state* s, const status& init_error, std::string_view key, gguf_type type, const void* value,
                         size_t value_bytes) {
    if (!s) return init_error;
    if (key.empty()) return fail(result::invalid_argument, no_offset, "empty metadata key");
    const allocator& a = s->alloc;
    const size_t val_off = s->bytes.size;
    if (!s->bytes.u32(a, (uint32_t)type) || !s->bytes.append(a, value, value_bytes))
        return fail(result::out_of_memory, no_offset, "out of memory setting '%.*s'", sv_len(key), key.data());
    for (size_t i = 0; i < s->n_kv(); ++i) {
        gguf_writer::state::kv_entry e = s->kv_at(i);
        if (s->span(e.key_off, e.key_len) == key) {
            e.val_off = val_off;
            e.val_len = s->bytes.size - val_off;
            std::memcpy(s->kvs.data + i * sizeof e, &e, sizeof e);
            return status{};
        }
    }
    const size_t val_len = s->bytes.size - val_off;
    const size_t key_off = s->bytes.size;
    gguf_writer::state::kv_entry e{key_off + 8, key.size(), val_off, val_len};
    if (!s->bytes.str(a, key) || !s->kvs.append(a, &e, sizeof e))
        return fail(result::out_of_memory, no_offset, "out of memory setting '%.*s'", sv_len(key), key.data());
    return status{};
}
template <class T> inline status writer_set_scalar(gguf_writer::state* s, const status& ie, std::string_view key, gguf_type t, T v) {
    uint8_t b[8];
    uint64_t u = 0;
    std::memcpy(&u, &v, sizeof v);  // little-endian host assumed for floats; integers stored bytewise below
    for (size_t i = 0; i < sizeof v; ++i) b[i] = (uint8_t)(u >> (8 * i));
    return writer_set(s, ie, key, t, b, sizeof v);
}
}  // namespace detail

status gguf_writer::set_u8(std::string_view k, uint8_t v) { return detail::writer_set_scalar(state_, init_error_, k, gguf_type::u8, v); }
status gguf_writer::set_i8(std::string_view k, int8_t v) { return detail::writer_set_scalar(state_, init_error_, k, gguf_type::i8, v); }
status gguf_writer::set_u16(std::string_view k, uint16_t v) { return detail::writer_set_scalar(state_, init_error_, k, gguf_type::u16, v); }
status gguf_writer::set_i16(std::string_view k, int16_t v) { return detail::writer_set_scalar(state_, init_error_, k, gguf_type::i16, v); }
status gguf_writer::set_u32(std::string_view k, uint32_t v) { return detail::writer_set_scalar(state_, init_error_, k, gguf_type::u32, v); }
status gguf_writer::set_i32(std::string_view k, int32_t v) { return detail::writer_set_scalar(state_, init_error_, k, gguf_type::i32, v); }
status gguf_writer::set_u64(std::string_view k, uint64_t v) { return detail::writer_set_scalar(state_, init_error_, k, gguf_type::u64, v); }
status gguf_writer::set_i64(std::string_view k, int64_t v) { return detail::writer_set_scalar(state_, init_error_, k, gguf_type::i64, v); }
status gguf_writer::set_f32(std::string_view k, float v) { return detail::writer_set_scalar(state_, init_error_, k, gguf_type::f32, v); }
status gguf_writer::set_f64(std::string_view k, double v) { return detail::writer_set_scalar(state_, init_error_, k, gguf_type::f64, v); }
status gguf_writer::set_bool(std::string_view k, bool v) { return detail::writer_set_scalar(state_, init_error_, k, gguf_type::boolean, (uint8_t)(v ? 1 : 0)); }

status gguf_writer::set_string(std::string_view key, std::string_view v) {
    if (!state_) return init_error_;
    detail::byte_buf tmp;
    status st;
    if (!tmp.str(state_->alloc, v)) st = detail::fail(result::out_of_memory, no_offset, "out of memory");
    else st = detail::writer_set(state_, init_error_, key, gguf_type::string, tmp.data, tmp.size);
    tmp.release(state_->alloc);
    return st;
}

status gguf_writer::set_array(std::string_view key, gguf_type elem, const void* data, uint64_t count) {
    if (!state_) return init_error_;
    const uint32_t es = detail::gguf_scalar_size(elem);
    if (!es) return detail::fail(result::invalid_argument, no_offset, "set_array: element type %s is not fixed-size", gguf_type_name(elem));
    uint64_t n;
    if (!detail::mul_ok(count, es, &n) || n > SIZE_MAX - 12) return detail::fail(result::invalid_argument, no_offset, "set_array: too large");
    if (n && !data) return detail::fail(result::invalid_argument, no_offset, "set_array: null data");
    detail::byte_buf tmp;
    status st;
    if (!tmp.u32(state_->alloc, (uint32_t)elem) || !tmp.u64(state_->alloc, count) || !tmp.append(state_->alloc, data, (size_t)n))
        st = detail::fail(result::out_of_memory, no_offset, "out of memory");
    else st = detail::writer_set(state_, init_error_, key, gguf_type::array, tmp.data, tmp.size);
    tmp.release(state_->alloc);
    return st;
}

status gguf_writer::set_string_array(std::string_view key, const std::string_view* items, uint64_t count) {
    if (!state_) return init_error_;
    if (count && !items) return detail::fail(result::invalid_argument, no_offset, "set_string_array: null items");
    detail::byte_buf tmp;
    bool ok = tmp.u32(state_->alloc, (uint32_t)gguf_type::string) && tmp.u64(state_->alloc, count);
    for (uint64_t i = 0; ok && i < count; ++i) ok = tmp.str(state_->alloc, items[i]);
    status st = ok ? detail::writer_set(state_, init_error_, key, gguf_type::array, tmp.data, tmp.size)
                   : detail::fail(result::out_of_memory, no_offset, "out of memory");
    tmp.release(state_->alloc);
    return st;
}

status gguf_writer::set_alignment(uint32_t alignment) {
    if (!state_) return init_error_;
    if (!detail::is_pow2(alignment) || alignment > (1u << 30))
        return detail::fail(result::invalid_argument, no_offset, "alignment %u is not a power of two up to 2^30", alignment);
    status st = set_u32("general.alignment", alignment);
    if (st) state_->alignment = alignment;
    return st;
}

status gguf_writer::add_tensor(std::string_view name, tensor_type type, int32_t n_dims, const int64_t* ne, const void* data, size_t data_bytes) {
    if (!state_) return init_error_;
    using detail::sv_len;
    if (name.empty()) return detail::fail(result::invalid_argument, no_offset, "empty tensor name");
    if (n_dims < 0 || n_dims > 4 || (n_dims && !ne)) return detail::fail(result::invalid_argument, no_offset, "tensor '%.*s': %d dimensions", sv_len(name), name.data(), n_dims);
    if (!type_info(type)) return detail::fail(result::invalid_argument, no_offset, "tensor '%.*s': unknown type %u", sv_len(name), name.data(), (unsigned)type);
    uint64_t n = 1;
    state::tensor_entry e{};
    for (int d = 0; d < 4; ++d) e.ne[d] = 1;
    for (int d = 0; d < n_dims; ++d) {
        if (ne[d] < 0 || !detail::mul_ok(n, (uint64_t)ne[d], &n) || n > (uint64_t)INT64_MAX)
            return detail::fail(result::invalid_argument, no_offset, "tensor '%.*s': bad shape", sv_len(name), name.data());
        e.ne[d] = ne[d];
    }
    size_t rb;
    if (!type_row_bytes(type, e.ne[0], &rb))
        return detail::fail(result::invalid_argument, no_offset, "tensor '%.*s': row of %lld is not a whole number of %s blocks", sv_len(name),
                            name.data(), (long long)e.ne[0], type_name(type));
    uint64_t bytes = 0;
    if (e.ne[0] && (!detail::mul_ok(rb, n / (uint64_t)e.ne[0], &bytes) || bytes > SIZE_MAX))
        return detail::fail(result::invalid_argument, no_offset, "tensor '%.*s': too large", sv_len(name), name.data());
    if (bytes != data_bytes)
        return detail::fail(result::invalid_argument, no_offset, "tensor '%.*s': %zu data bytes given, its shape needs %llu", sv_len(name),
                            name.data(), data_bytes, (unsigned long long)bytes);
    if (bytes && !data) return detail::fail(result::invalid_argument, no_offset, "tensor '%.*s': null data", sv_len(name), name.data());
    for (size_t i = 0; i < state_->n_tensors(); ++i) {
        const state::tensor_entry o = state_->tensor_at(i);
        if (state_->span(o.name_off, o.name_len) == name)
            return detail::fail(result::invalid_argument, no_offset, "duplicate tensor name '%.*s'", sv_len(name), name.data());
    }
    e.name_off = state_->bytes.size;
    e.name_len = name.size();
    e.type = type;
    e.n_dims = n_dims;
    e.data = data;
    e.bytes = (size_t)bytes;
    if (!state_->bytes.append(state_->alloc, name.data(), name.size()) || !state_->tensors.append(state_->alloc, &e, sizeof e))
        return detail::fail(result::out_of_memory, no_offset, "out of memory");
    return status{};
}

namespace detail {
// Streams the file through `sink(bytes, n) -> bool`; the one routine behind every write call, so
// the size, the memory image and the file cannot disagree.
template <class Sink> status writer_emit(const gguf_writer::state* s, Sink&& sink, uint64_t* total) {
    static const uint8_t zeros[64] = {0};
    uint64_t pos = 0;
    auto put = [&](const void* p, size_t n) { pos += n; return sink(p, n); };
    auto pad = [&](uint64_t align) {
        uint64_t target = pos;
        align_up_ok(pos, align, &target);
        while (pos < target) {
            const size_t k = (size_t)std::min<uint64_t>(target - pos, sizeof zeros);
            if (!put(zeros, k)) return false;
        }
        return true;
    };
    const status io = fail(result::io_error, no_offset, "write failed");
    uint8_t hdr[24];
    std::memcpy(hdr, "GGUF", 4);
    store_u32(hdr + 4, 3);
    store_u64(hdr + 8, s->n_tensors());
    store_u64(hdr + 16, s->n_kv());
    if (!put(hdr, sizeof hdr)) return io;
    for (size_t i = 0; i < s->n_kv(); ++i) {
        const gguf_writer::state::kv_entry e = s->kv_at(i);
        uint8_t len[8];
        store_u64(len, e.key_len);
        if (!put(len, 8) || !put(s->bytes.data + e.key_off, e.key_len) || !put(s->bytes.data + e.val_off, e.val_len)) return io;
    }
    uint64_t offset = 0;  // relative to the data section
    for (size_t i = 0; i < s->n_tensors(); ++i) {
        const gguf_writer::state::tensor_entry e = s->tensor_at(i);
        uint8_t b[8];
        store_u64(b, e.name_len);
        if (!put(b, 8) || !put(s->bytes.data + e.name_off, e.name_len)) return io;
        store_u32(b, (uint32_t)e.n_dims);
        if (!put(b, 4)) return io;
        for (int d = 0; d < e.n_dims; ++d) { store_u64(b, (uint64_t)e.ne[d]); if (!put(b, 8)) return io; }
        store_u32(b, (uint32_t)e.type);
        if (!put(b, 4)) return io;
        store_u64(b, offset);
        if (!put(b, 8)) return io;
        if (!align_up_ok(offset + e.bytes, s->alignment, &offset)) return fail(result::invalid_argument, no_offset, "file too large");
    }
    if (s->n_tensors()) {
        if (!pad(s->alignment)) return io;
        for (size_t i = 0; i < s->n_tensors(); ++i) {
            const gguf_writer::state::tensor_entry e = s->tensor_at(i);
            if (!put(e.data, e.bytes) || !pad(s->alignment)) return io;
        }
    }
    *total = pos;
    return status{};
}
}  // namespace detail

status gguf_writer::file_size(uint64_t* size) const {
    if (!state_) return init_error_;
    return detail::writer_emit(state_, [](const void*, size_t) { return true; }, size);
}

status gguf_writer::write_memory(void* dst, size_t dst_bytes, size_t* written) const {
    if (!state_) return init_error_;
    uint64_t need = 0;
    status st = file_size(&need);
    if (!st) return st;
    if (need > dst_bytes) return detail::fail(result::invalid_argument, no_offset, "buffer of %zu bytes is too small for %llu", dst_bytes, (unsigned long long)need);
    uint8_t* out = static_cast<uint8_t*>(dst);
    size_t pos = 0;
    uint64_t total = 0;
    st = detail::writer_emit(state_, [&](const void* p, size_t n) { if (n) std::memcpy(out + pos, p, n); pos += n; return true; }, &total);
    if (st && written) *written = pos;
    return st;
}

#ifndef AI_NO_STDIO
status gguf_writer::write_file(const char* path) const {
    if (!state_) return init_error_;
    if (!path) return detail::fail(result::invalid_argument, no_offset, "null path");
    std::FILE* f = std::fopen(path, "wb");
    if (!f) return detail::fail(result::io_error, no_offset, "cannot create '%s'", path);
    uint64_t total = 0;
    status st = detail::writer_emit(state_, [&](const void* p, size_t n) { return n == 0 || std::fwrite(p, 1, n, f) == n; }, &total);
    if (std::fclose(f) != 0 && st) st = detail::fail(result::io_error, no_offset, "closing '%s' failed", path);
    if (!st) { std::remove(path); st = detail::fail(st.code, st.offset, "writing '%s' failed: %s", path, st.message); }
    return st;
}
#endif

}  // namespace ai

#if defined(__GNUC__) || defined(__clang__)
#pragma GCC diagnostic pop
#endif

#endif  // AI_IMPLEMENTATION

/*
------------------------------------------------------------------------------------------------
MIT License

Copyright (c) 2026 the ai.hpp authors

Permission is hereby granted, free of charge, to any person obtaining a copy of this software and
associated documentation files (the "Software"), to deal in the Software without restriction,
including without limitation the rights to use, copy, modify, merge, publish, distribute,
sublicense, and/or sell copies of the Software, and to permit persons to whom the Software is
furnished to do so, subject to the following conditions:

The above copyright notice and this permission notice shall be included in all copies or
substantial portions of the Software.

THE SOFTWARE IS PROVIDED "AS IS", WITHOUT WARRANTY OF ANY KIND, EXPRESS OR IMPLIED, INCLUDING BUT
NOT LIMITED TO THE WARRANTIES OF MERCHANTABILITY, FITNESS FOR A PARTICULAR PURPOSE AND
NONINFRINGEMENT. IN NO EVENT SHALL THE AUTHORS OR COPYRIGHT HOLDERS BE LIABLE FOR ANY CLAIM,
DAMAGES OR OTHER LIABILITY, WHETHER IN AN ACTION OF CONTRACT, TORT OR OTHERWISE, ARISING FROM, OUT
OF OR IN CONNECTION WITH THE SOFTWARE OR THE USE OR OTHER DEALINGS IN THE SOFTWARE.
------------------------------------------------------------------------------------------------
*/
