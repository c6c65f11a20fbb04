/* ai.hpp — an embeddable single-header C++17 inference library for small language models.

   WHAT IT IS
     Tensor types and quantization formats, a GGUF reader and writer, tokenizers (SentencePiece,
     byte-level BPE, WordPiece) and a transformer runtime (llama, qwen2, qwen3) with SIMD kernels,
     compiled into your program from this one file. No exceptions cross the API, nothing is printed
     unless you give a log callback, no thread is started unless you ask, and every allocation goes
     through a hook you can replace. Token ids and logits match llama.cpp's on the same files.

   QUICK START
     #define AI_IMPLEMENTATION                               // in exactly one .cpp file
     #include "ai.hpp"

     ai::model m;
     ai::status st = m.load_file("model.gguf");               // mmap; or load_memory(ptr, size)
     if (!st) { fprintf(stderr, "error: %s\n", st.message); return 1; }
     ai::token_id ids[512]; size_t n = 0;
     st = m.tokenizer().tokenize("Once upon a time", ids, 512, &n);
     ai::context ctx;  st = ctx.create(m);                    // KV cache + scratch, allocated once
     ai::sampler smp;  st = smp.init(m.params().n_vocab);     // zero options: greedy
     st = ctx.decode(ids, (int32_t)n);                        // prefill
     ai::detokenize_stream text(m.tokenizer());               // whole UTF-8 characters only
     for (int i = 0; i < 32 && st; ++i) {
         ai::token_id id = smp.sample(ctx.logits());
         char buf[256];
         size_t k = text.feed(id, buf, sizeof buf);            // > sizeof buf: needs a bigger buf
         if (k <= sizeof buf) fwrite(buf, 1, k, stdout);
         st = ctx.decode(&id, 1);
     }
     // Lower level: ai::gguf_file (metadata, tensors), ai::dequantize / ai::quantize, ai::gguf_writer.

   CONFIGURATION MACROS (define before including; the ones marked [impl] matter only in the
   translation unit that defines AI_IMPLEMENTATION)
     AI_IMPLEMENTATION   [impl] emit the implementation in this translation unit.
     AI_NO_STDIO         [impl] no file API at all (open_file, write_file): memory buffers and reader
                         callbacks only. Also drops <cstdio> from the implementation.
     AI_NO_MMAP          [impl] open_file always reads the file into memory instead of mapping it.
     AI_MALLOC(sz)       [impl] allocation hooks used by the default allocator. Define both or
     AI_FREE(p)                 neither (an #error says so otherwise). A runtime ai::allocator given
                                in an options struct takes precedence over them.
     AI_NO_THREADS       [impl] no <thread>: contexts always run on the calling thread (a caller's
                         ai::parallel_for still works); n_threads > 1 then logs a warning.
     AI_NO_SIMD          [impl] do not use xsimd even if <xsimd/xsimd.hpp> is on the include path;
                         ai::simd kernels then run the scalar reference code.
     AI_ASSERT(x)        [impl] internal invariant checks (default: assert). Never used for
                         checking input data: bad data always comes back as an ai::status.
     AI_API              decoration for every declared function (e.g. `static` or dllexport).
     AI_DECODE_PARTS     [impl] how many far-apart streams one-token products read a matrix as
                         (default 8 with AVX-512, else 4; tuned per machine, same results).
     AI_DISPATCH         [impl] link the dispatch units below and pick the best kernel set for the
                         CPU at run time (CMake's ai::ai and Meson's ai_dep do both by default on
                         x86-64 and AArch64 with GCC/Clang). Without it the kernels are what the
                         implementation file's own flags allow: baseline x86-64 means SSE2,
                         -march=native the best; on AArch64 NEON, with sdot when built with
                         +dotprod (e.g. -march=armv8.2-a+dotprod). tests/arm.sh runs the AArch64
                         builds under qemu.
     AI_DISPATCH_TARGET  compile this file (ai.cpp) as a dispatch unit: only the kernels, in an
                         inline namespace of that name, exported as ai_kernels_<target>() (and
                         ai_kernels_<target>_amx(): the AMX set, nullptr unless built). Targets:
                           avx2    with -mavx2 -mfma -mf16c
                           avx512  with those and -mavx512f -mavx512bw -mavx512vl -mavx512dq
                                   -mavx512vnni (on Linux with GCC >= 11 / Clang >= 12 this unit
                                   also holds the "amx" set: AMX code through target attributes)
                           dotprod with -march=armv8.2-a+dotprod (AArch64: NEON with sdot; chosen
                                   when Linux's AT_HWCAP says ASIMDDP, or on Apple arm64)
                         Build it at -O1 or more (at -O0 compilers keep out-of-line copies of
                         std::max and the like, which the linker may then share with baseline code).

   DESIGN NOTES
     - Errors: every fallible call returns ai::status (a code, a message naming the key or tensor,
       and the byte offset in the input). Library code never prints, aborts or throws on bad data.
     - Options structs: zero (value-initialised) means default for every field.
     - Parsing works on memory; files, mappings and reader callbacks are thin wrappers over it.
     - Every size read from a file is overflow-checked before it is used.
     - The header is hand-edited as one file. Sections, in order:
         1. declarations   (status, allocator, log, tensor types, quantization, vector kernels,
                            GGUF read, GGUF write, tokenizer, model / context / sampler)
         2. implementation (behind AI_IMPLEMENTATION), in the same order, plus the generated
                            Unicode tables (tests/gen_unicode.py --write ai.hpp regenerates them)
     - Every SIMD kernel in ai::simd has a scalar twin with the same signature in ai::ref (the
       tile kernels ai::simd::mm_*: ai::ref's vec_dot per row and token).
     - Kernel sets: ai::kernel_set_at / kernel_set_best list the instruction sets built in;
       model_options::kernels picks one by name; `ai info --cpu` shows them. The "amx" set runs
       batches of 16 tokens or more on AMX tiles; a token alone (decode) takes the AVX-512 code,
       so its logits can differ in the last bits from the same token inside such a batch.

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

// A dispatch translation unit (ai.cpp compiled with -DAI_DISPATCH_TARGET=avx2 or avx512 and the
// matching -m flags; CMake and Meson do it when AI_DISPATCH is on) builds only the kernels, inside
// an inline namespace of that name, so none of its code can be mistaken by the linker for the
// baseline build's; it exports one table of them (ai_kernels_<target>).
#if defined(AI_DISPATCH_TARGET)
#define AI_TARGET_NS_BEGIN inline namespace AI_DISPATCH_TARGET {
#define AI_TARGET_NS_END }
#else
#define AI_TARGET_NS_BEGIN
#define AI_TARGET_NS_END
#endif

namespace ai {

// Kernel signatures and the table of one kernel set (one instruction set), declared outside the
// per-target namespace: plain function pointers every translation unit agrees on. Types are GGUF
// type numbers (ai::tensor_type values).
using vec_dot_fn = float (*)(const void* w, const void* a, int64_t n);
using quantize_act_fn = void (*)(const float* x, void* dst, int64_t n);
using dequantize_fn = void (*)(const void* src, float* dst, int64_t n);  // a row to float32
// Tile product: y[t * y_stride + r] = sum_{k<n} W[r][k] * A[t][k] for rows r < nr, tokens t < nt.
// W rows are w_stride bytes apart, A rows (in the weight type's activation format) a_stride apart.
using mm_fn = void (*)(const void* w, size_t w_stride, int64_t nr, const void* a, size_t a_stride, int64_t nt, int64_t n,
                       float* y, int64_t y_stride);
struct kernel_set {
    const char* name;  // "avx512", "avx2", "sse2", "neon64", ... or "scalar" (the ai::ref twins)
    float (*dot_f32)(const float* a, const float* b, int64_t n);
    vec_dot_fn (*vec_dot)(uint32_t w_type, uint32_t* act_type);  // as ai::simd::vec_dot
    quantize_act_fn (*quantize_act)(uint32_t act_type);
    mm_fn (*mm)(uint32_t w_type);  // nullptr: no tile kernel; use vec_dot per (row, token)
    dequantize_fn (*to_float)(uint32_t type);  // same values as ai::ref::to_float, bit for bit
    // Rows of the type x float inputs, each row dequantized piece by piece as it is read: the same
    // bits as to_float followed by mm(F32), without the row buffer (decode of the float path).
    // nullptr (or a set returning nullptr): not available.
    mm_fn (*mm_dequant)(uint32_t type);
    // true: mm blocks its work for the caches itself (amx), so callers pass every token of a batch
    // in one call; false: callers keep a call's activations within L2 (a few hundred KiB)
    bool mm_whole_batch;
    // The forward pass's SiLU, softmax and attention products, in the set's vector width (as
    // ai::ref / ai::simd).
    void (*silu_mul)(float* g, const float* u, int64_t n);
    void (*softmax)(float* row, int64_t valid, int64_t n, float scale);
    void (*att_scores)(const float* kt, int64_t kt_stride, int64_t nk, int64_t hd, const float* q, int64_t q_stride, int64_t nq, float* s,
                       int64_t s_stride);
    void (*att_values)(const float* v, int64_t v_stride, int64_t nk, int64_t hd, const float* pr, int64_t p_stride, int64_t nq, float* out,
                       int64_t out_stride);
    // Rows of the type x q16 activations (ref::quantize_act_q16: 16 bits per element), for the
    // output matrix where its float input is the default (matmul_input::q8_layers) and dequantizing
    // in registers is slower than integer products (avx2, avx512, amx: Q8_0, Q6_K).
    // nullptr (or a set returning nullptr): the float path (mm_dequant).
    mm_fn (*mm_q16)(uint32_t type);
};

AI_TARGET_NS_BEGIN

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
//
// Quantized matrix-vector products follow llama.cpp's "vec_dot" scheme: the activation row is
// rounded once per matrix product to an 8-bit format (quantize_act_*), then every weight row is
// dotted with it in integers per block, scaled in float per block. Pairings (as llama.cpp's):
//   Q4_0, Q5_0, Q8_0, IQ4_NL   with Q8_0  (32-blocks: d = absmax/127, q = round-half-even(x*127/absmax))
//   Q4_1, Q5_1                 with Q8_1  (Q8_0 plus s = d * sum(q), for the weights' offset m)
//   Q2_K, Q3_K, Q4_K .. Q6_K   with Q8_K  (256-blocks, f32 d, 16-sums `bsums` for the mins)
//   F32, F16, BF16             with the float activations themselves (a points at n floats)
// vec_dot_<w>_<a>(w, a, n) = sum over the n elements of dequant(w)[i] * dequant(a)[i]; n is a
// multiple of the larger block size of the pair. The per-block integer sums are exact, so ai::ref
// and ai::simd differ only in the order of the float additions across blocks.
namespace ref {
AI_API float dot_f32(const float* a, const float* b, int64_t n);  // sum of a[i]*b[i]
AI_API void quantize_act_q8_0(const float* x, void* dst, int64_t n);  // n % 32 == 0
AI_API void quantize_act_q8_1(const float* x, void* dst, int64_t n);  // n % 32 == 0
AI_API void quantize_act_q8_k(const float* x, void* dst, int64_t n);  // n % 256 == 0
AI_API float vec_dot_q4_0_q8_0(const void* w, const void* a, int64_t n);
AI_API float vec_dot_q4_1_q8_1(const void* w, const void* a, int64_t n);
AI_API float vec_dot_q5_0_q8_0(const void* w, const void* a, int64_t n);
AI_API float vec_dot_q5_1_q8_1(const void* w, const void* a, int64_t n);
AI_API float vec_dot_q8_0_q8_0(const void* w, const void* a, int64_t n);
AI_API float vec_dot_iq4_nl_q8_0(const void* w, const void* a, int64_t n);
AI_API float vec_dot_q2_k_q8_k(const void* w, const void* a, int64_t n);
AI_API float vec_dot_q3_k_q8_k(const void* w, const void* a, int64_t n);
AI_API float vec_dot_q4_k_q8_k(const void* w, const void* a, int64_t n);
AI_API float vec_dot_q5_k_q8_k(const void* w, const void* a, int64_t n);
AI_API float vec_dot_q6_k_q8_k(const void* w, const void* a, int64_t n);
AI_API float vec_dot_f32_f32(const void* w, const void* a, int64_t n);   // w 4-byte aligned
AI_API float vec_dot_f16_f32(const void* w, const void* a, int64_t n);
AI_API float vec_dot_bf16_f32(const void* w, const void* a, int64_t n);
// The kernel for weight type `w` and the activation format it wants (q8_0, q8_1, q8_k, or f32
// for plain float); nullptr when `w` has none (the caller then dequantizes the row).
AI_API vec_dot_fn vec_dot(tensor_type w, tensor_type* act);
// The activation quantizer for q8_0 / q8_1 / q8_k; nullptr for any other type.
AI_API quantize_act_fn quantize_act(tensor_type act);
// 16-bit activations: blocks of 32 as f32 d = absmax / 32767 and int16 q = round(x / d) (68 bytes;
// a rounding step of 1/65534 of the block's largest element, 258 times finer than Q8_0's). The
// output matrix multiplies them where kernel_set::mm_q16 has a kernel: exact int32 sums per block
// of 32, scaled in float per block, as the 8-bit products are.
AI_API void quantize_act_q16(const float* x, void* dst, int64_t n);  // n % 32 == 0
// The reference tile kernel (mm_fn contract) of weight type w (Q8_0 or Q6_K) x q16 activations;
// nullptr for other types.
AI_API mm_fn mm_q16(tensor_type w);
// The elementwise steps of the forward pass that need e^x. Each element's result depends only on
// its own inputs (and, for softmax, the row's max and sum), never on where a range begins.
AI_API void silu_mul(float* g, const float* u, int64_t n);  // g[i] = g[i] / (1 + e^-g[i]) * u[i]
// Attention weights of one query over n keys: row[i] *= scale, then softmax over [0, valid)
// (e^(x - max) / sum, the sum in double), and zeros in [valid, n).
AI_API void softmax(float* row, int64_t valid, int64_t n, float scale);
// Attention products for nq queries of one head (head_dim hd) over nk keys, with K stored
// transposed (row d of kt holds dimension d of every key) and V as rows:
//   att_scores: s[t][p]   = sum over d < hd of q[t][d] * kt[d][p]   (d ascending)
//   att_values: out[t][d] = sum over p < nk of pr[t][p] * v[p][d]  (p ascending)
// one multiply-add per term into a per-output accumulator, so an output's bits depend on neither
// nq nor (for scores) nk: a query gets the same scores and values in a batch as alone. Strides are
// in elements.
AI_API void att_scores(const float* kt, int64_t kt_stride, int64_t nk, int64_t hd, const float* q, int64_t q_stride, int64_t nq, float* s,
                       int64_t s_stride);
AI_API void att_values(const float* v, int64_t v_stride, int64_t nk, int64_t hd, const float* pr, int64_t p_stride, int64_t nq, float* out,
                       int64_t out_stride);
AI_API const kernel_set* kernels();  // these kernels as a table, named "scalar"
}  // namespace ref
namespace simd {
AI_API float dot_f32(const float* a, const float* b, int64_t n);
AI_API void quantize_act_q8_0(const float* x, void* dst, int64_t n);  // n % 32 == 0
AI_API void quantize_act_q8_1(const float* x, void* dst, int64_t n);  // n % 32 == 0
AI_API void quantize_act_q8_k(const float* x, void* dst, int64_t n);  // n % 256 == 0
AI_API float vec_dot_q4_0_q8_0(const void* w, const void* a, int64_t n);
AI_API float vec_dot_q4_1_q8_1(const void* w, const void* a, int64_t n);
AI_API float vec_dot_q5_0_q8_0(const void* w, const void* a, int64_t n);
AI_API float vec_dot_q5_1_q8_1(const void* w, const void* a, int64_t n);
AI_API float vec_dot_q8_0_q8_0(const void* w, const void* a, int64_t n);
AI_API float vec_dot_iq4_nl_q8_0(const void* w, const void* a, int64_t n);
AI_API float vec_dot_q2_k_q8_k(const void* w, const void* a, int64_t n);
AI_API float vec_dot_q3_k_q8_k(const void* w, const void* a, int64_t n);
AI_API float vec_dot_q4_k_q8_k(const void* w, const void* a, int64_t n);
AI_API float vec_dot_q5_k_q8_k(const void* w, const void* a, int64_t n);
AI_API float vec_dot_q6_k_q8_k(const void* w, const void* a, int64_t n);
AI_API float vec_dot_f32_f32(const void* w, const void* a, int64_t n);   // w 4-byte aligned
AI_API float vec_dot_f16_f32(const void* w, const void* a, int64_t n);
AI_API float vec_dot_bf16_f32(const void* w, const void* a, int64_t n);
// The kernel for weight type `w` and the activation format it wants (q8_0, q8_1, q8_k, or f32
// for plain float); nullptr when `w` has none (the caller then dequantizes the row).
AI_API vec_dot_fn vec_dot(tensor_type w, tensor_type* act);
// The activation quantizer for q8_0 / q8_1 / q8_k; nullptr for any other type.
AI_API quantize_act_fn quantize_act(tensor_type act);
// As ref::silu_mul / ref::softmax, in xsimd batches (xsimd::exp, ~1 ulp; softmax sums in float
// lanes): within a few ulp of the reference.
AI_API void silu_mul(float* g, const float* u, int64_t n);
AI_API void softmax(float* row, int64_t valid, int64_t n, float scale);
// As ref::att_scores / att_values, in xsimd batches across keys (scores) and head dimensions
// (values): no horizontal sums, and keys past the last whole batch go through a zero-padded one.
AI_API void att_scores(const float* kt, int64_t kt_stride, int64_t nk, int64_t hd, const float* q, int64_t q_stride, int64_t nq, float* s,
                       int64_t s_stride);
AI_API void att_values(const float* v, int64_t v_stride, int64_t nk, int64_t hd, const float* pr, int64_t p_stride, int64_t nq, float* out,
                       int64_t out_stride);
AI_API const char* arch_name();  // e.g. "fma3+avx2", "neon64", or "scalar"
AI_API const char* int8_kernels();  // "avx512vnni", "avx2", or "scalar": what vec_dot runs on
// Tile kernels (see mm_fn), where this instruction set has them; kernels()->mm finds them by type.
AI_API void mm_q4_0_q8_0(const void* w, size_t w_stride, int64_t nr, const void* a, size_t a_stride, int64_t nt, int64_t n, float* y, int64_t y_stride);
AI_API void mm_q4_1_q8_1(const void* w, size_t w_stride, int64_t nr, const void* a, size_t a_stride, int64_t nt, int64_t n, float* y, int64_t y_stride);
AI_API void mm_q5_0_q8_0(const void* w, size_t w_stride, int64_t nr, const void* a, size_t a_stride, int64_t nt, int64_t n, float* y, int64_t y_stride);
AI_API void mm_q5_1_q8_1(const void* w, size_t w_stride, int64_t nr, const void* a, size_t a_stride, int64_t nt, int64_t n, float* y, int64_t y_stride);
AI_API void mm_q8_0_q8_0(const void* w, size_t w_stride, int64_t nr, const void* a, size_t a_stride, int64_t nt, int64_t n, float* y, int64_t y_stride);
AI_API void mm_iq4_nl_q8_0(const void* w, size_t w_stride, int64_t nr, const void* a, size_t a_stride, int64_t nt, int64_t n, float* y, int64_t y_stride);
AI_API void mm_q4_k_q8_k(const void* w, size_t w_stride, int64_t nr, const void* a, size_t a_stride, int64_t nt, int64_t n, float* y, int64_t y_stride);
AI_API void mm_q5_k_q8_k(const void* w, size_t w_stride, int64_t nr, const void* a, size_t a_stride, int64_t nt, int64_t n, float* y, int64_t y_stride);
AI_API void mm_q6_k_q8_k(const void* w, size_t w_stride, int64_t nr, const void* a, size_t a_stride, int64_t nt, int64_t n, float* y, int64_t y_stride);
AI_API void mm_q3_k_q8_k(const void* w, size_t w_stride, int64_t nr, const void* a, size_t a_stride, int64_t nt, int64_t n, float* y, int64_t y_stride);
AI_API void mm_q2_k_q8_k(const void* w, size_t w_stride, int64_t nr, const void* a, size_t a_stride, int64_t nt, int64_t n, float* y, int64_t y_stride);
AI_API void mm_f16_f32(const void* w, size_t w_stride, int64_t nr, const void* a, size_t a_stride, int64_t nt, int64_t n, float* y, int64_t y_stride);
AI_API void mm_f32_f32(const void* w, size_t w_stride, int64_t nr, const void* a, size_t a_stride, int64_t nt, int64_t n, float* y, int64_t y_stride);
// These kernels as a table, named after the instruction set: "avx512" (AVX-512 F/BW/VL/DQ with
// VNNI), "avx2" (AVX2 + FMA + F16C), else xsimd's architecture name or "scalar".
AI_API const kernel_set* kernels();
// "amx": kernels() plus AMX tile products for batches of 16 tokens or more: AMX-INT8 for Q4_0 Q4_1
// Q5_0 Q5_1 Q8_0 IQ4_NL Q4_K Q5_K Q6_K, AMX-BF16 for F16 (weights and inputs split into bf16 pairs,
// ~2^-16 relative per product). Built for x86-64 Linux with AVX-512 VNNI flags and GCC >= 11 or
// Clang >= 12 (nullptr elsewhere); runs on CPUs with AMX-INT8, AMX-BF16 and AVX512-BF16.
// Running it needs the OS's permission for the tile state, which kernel_set_runs_here asks for
// (Linux arch_prctl ARCH_REQ_XCOMP_PERM, once per process) before reporting true.
AI_API const kernel_set* kernels_amx();
}  // namespace simd

// ---- Instruction sets --------------------------------------------------------------------------
// A build holds several kernel sets: ai::ref's ("scalar"), ai::simd's (whatever the flags of the
// implementation's translation unit allow: -march=native gives the best) and, with AI_DISPATCH,
// those of the dispatch translation units (avx2, avx512), which are chosen at run time, so a
// baseline x86-64 build still runs AVX-512 code where the CPU has it. Models use the best set
// this CPU runs unless model_options::kernels names one.
AI_API int kernel_set_count();
AI_API const kernel_set* kernel_set_at(int i);          // nullptr when i is out of range
AI_API bool kernel_set_runs_here(const kernel_set* k);  // this CPU and OS support its instructions
AI_API const kernel_set* kernel_set_best();
AI_API const kernel_set* kernel_set_find(const char* name);  // nullptr when not built in
// What this CPU offers, as a space-separated list, e.g. "x86-64 sse2 avx avx2 fma f16c avx512f
// avx512bw avx512vl avx512dq avx512vnni avx512bf16 amx-int8", or "aarch64 neon dotprod".
AI_API const char* cpu_features();

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
    bool no_mmap = false;  // open_file: read into memory instead of mapping (see model_options)
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
    // Read the file into memory instead of mapping it. With the default allocator on Linux the
    // copy asks for 2 MiB pages (MADV_HUGEPAGE): loading takes a copy of the file (0.5-3 s per
    // 640 MB on the test VM, instead of ~20 ms), and decoding, which streams every weight once per
    // token, then walks no 4 KiB page tables (TinyLlama Q4_0: 1.5-1.8x the tokens/s there).
    bool no_mmap = false;
    // Kernel set by name (see kernel_set_at: "avx512", "avx2", "scalar", ...); nullptr: the best
    // this CPU runs. Loading fails if the set is not built in or the CPU cannot run it.
    const char* kernels = nullptr;
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
    const kernel_set* kernels() const;  // the instruction set its matrix products run on

    struct state;  // implementation detail
private:
    friend class context;  // a context reads the weights through the model's state
    status finish_load(const model_options* opt);
    state* state_ = nullptr;
};

enum class kv_type : int32_t { f16 = 0, f32 = 1 };  // zero = F16, as llama.cpp

// What matrix products on quantized weights multiply the weights with.
//   q8_layers (zero, the default): in the decoder layers the input is rounded to 8 bits per block
//       of 32 (or 256) and multiplied in integers, as llama.cpp does (its speed and its kind of
//       rounding error, about KL 3e-3 on a 135M model); the output (logits) matrix gets the float
//       input, which keeps the final scores close to the exact ones (or, on kernel sets with
//       kernel_set::mm_q16 for its type, the input rounded to 16 bits: ref::quantize_act_q16).
//   f32: float32 input everywhere (weights dequantized in cache, then FMA): no rounding of the
//       activations, logits within ~1e-7 KL of an exactly dequantized model; slower prefill.
//   q8: 8-bit input everywhere, the output matrix included: llama.cpp's method throughout.
// F32 / F16 weights always multiply float input.
enum class matmul_input : int32_t { q8_layers = 0, f32 = 1, q8 = 2 };

// Lets a caller run our parallel loops on its own job system: call task(arg, i) for every i in
// [0, n_tasks), in any order and on any threads, and return when all are done.
struct parallel_for {
    void (*run)(void* user, int32_t n_tasks, void (*task)(void* arg, int32_t i), void* arg) = nullptr;
    void* user = nullptr;
};

struct context_options {
    int32_t n_ctx = 0;          // context length in tokens; 0: min(model's, 4096)
    int32_t n_batch = 0;        // most tokens per forward pass; 0: 256 (the scratch grows with it;
                                // 512 prefilled no faster, see context::create)
    kv_type kv = kv_type::f16;  // KV cache element type
    size_t memory_budget = 0;   // bytes; 0: no limit. Creation fails with budget_exceeded if the
                                // KV cache and scratch would not fit
    int32_t n_threads = 0;      // 0 or 1: run on the calling thread, no synchronisation at all
    // How long our idle worker threads poll for the next job before they sleep, in microseconds;
    // 0: 1000 (a decode's jobs come microseconds apart, and waking a sleeping thread costs tens of
    // microseconds: with 2000 polls before sleeping, a sixth of a 0.5B model's decode time on 2
    // threads); negative: sleep at once (least CPU while idle). After a decode returns, workers
    // poll at most this long.
    int32_t spin_us = 0;
    ai::parallel_for parallel;  // when set, used instead of our threads
    // Polled between layers: returning true stops the current decode with result::cancelled
    // (the context stays valid: the tokens already committed are kept).
    bool (*should_stop)(void* user) = nullptr;
    void* should_stop_user = nullptr;
    ai::matmul_input matmul = ai::matmul_input::q8_layers;  // see matmul_input
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

AI_TARGET_NS_END
}  // namespace ai

#endif  // AI_HPP_INCLUDED

// ================================================================================================
// ================================================================================================
//                                       IMPLEMENTATION
// ================================================================================================
// ================================================================================================
#if (defined(AI_IMPLEMENTATION) || defined(AI_DISPATCH_TARGET)) && !defined(AI_IMPLEMENTATION_INCLUDED)
#define AI_IMPLEMENTATION_INCLUDED

#include <algorithm>
#include <cfloat>
#include <climits>
#include <cmath>
#include <cstdarg>
#include <cstring>
#include <limits>
#include <new>
#ifndef AI_NO_THREADS
#include <atomic>
#include <chrono>
#include <condition_variable>
#include <mutex>
#include <thread>
#endif

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

#if defined(__linux__) && defined(__x86_64__)  // asking for the AMX tile state (even without files)
#include <sys/syscall.h>
#include <unistd.h>
#endif
#if defined(__linux__) && defined(__aarch64__)  // the CPU's features as the kernel reports them (sdot)
#include <sys/auxv.h>
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
#if defined(__AVX2__) || defined(__AVX512F__)
#include <immintrin.h>  // the int8 dot products (xsimd has no maddubs / vpdpbusd), dequantization
#endif
#ifndef AI_HAVE_XSIMD
#define AI_HAVE_XSIMD 0
#endif

#if defined(_MSC_VER)
#include <intrin.h>  // __cpuidex, _xgetbv
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
AI_TARGET_NS_BEGIN

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

// Where the memory is ours (the default allocator), ask Linux for 2 MiB pages over the whole 2 MiB
// pages inside [p, p + bytes), before it is first touched. A hint only. Why: reading hundreds of
// MiB through 4 KiB pages costs a page walk every 4 KiB (nested walks under a hypervisor); the
// decode kernels streamed 9 GB/s from 4 KiB pages and 12.5 GB/s from 2 MiB pages on the test VM.
inline void advise_huge_pages(const allocator& a, void* p, size_t bytes) {
#if defined(__linux__) && defined(MADV_HUGEPAGE)
    if (a.alloc != default_alloc || !p) return;
    const uintptr_t huge = (uintptr_t)2 << 20;
    const uintptr_t b = ((uintptr_t)p + huge - 1) & ~(huge - 1), e = ((uintptr_t)p + bytes) & ~(huge - 1);
    if (e > b) madvise(reinterpret_cast<void*>(b), e - b, MADV_HUGEPAGE);
#else
    (void)a, (void)p, (void)bytes;
#endif
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
#if defined(__clang__) && (defined(__x86_64__) || defined(__i386__))
#pragma float_control(push)
#pragma clang fp contract(off)
#elif defined(__clang__)  // float_control(push) is x86-only in Clang 14: "not supported on this target"
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
// All sixteen at once, minus the bias (-32..31), four to a word: word k holds scales 4k..4k+3,
// whose low nibbles are nibble k / 2 of scales[4 (k % 2) ..] and high bits bits 2k, 2k+1 of
// scales[8..11].
inline void q3_k_scales(const uint8_t* scales, int8_t* out) {
    uint32_t a[3], v[4];
    std::memcpy(a, scales, 12);
    for (int k = 0; k < 4; ++k) v[k] = ((a[k % 2] >> (4 * (k / 2))) & 0x0f0f0f0fu) | (((a[2] >> (2 * k)) & 0x03030303u) << 4);
    uint8_t u[16];
    std::memcpy(u, v, 16);
    for (int j = 0; j < 16; ++j) out[j] = int8_t(u[j] - 32);
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

#if defined(__clang__) && (defined(__x86_64__) || defined(__i386__))
#pragma float_control(pop)
#elif defined(__clang__)
#pragma clang fp contract(on)  // Clang's default (-ffp-contract=on), since it cannot pop
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

// ---- SiLU, softmax and the attention products of the forward pass --------------------------------
void ref::silu_mul(float* g, const float* u, int64_t n) {
    for (int64_t i = 0; i < n; ++i) g[i] = g[i] / (1.0f + std::exp(-g[i])) * u[i];
}
void ref::softmax(float* row, int64_t valid, int64_t n, float scale) {
    float max = -INFINITY;
    for (int64_t p = 0; p < valid; ++p) {
        row[p] *= scale;
        if (row[p] > max) max = row[p];
    }
    double sum = 0.0;
    for (int64_t p = 0; p < valid; ++p) {
        row[p] = std::exp(row[p] - max);
        sum += (double)row[p];
    }
    const float inv = (float)(1.0 / sum);
    for (int64_t p = 0; p < valid; ++p) row[p] *= inv;
    for (int64_t p = valid; p < n; ++p) row[p] = 0.0f;
}
void ref::att_scores(const float* kt, int64_t kt_stride, int64_t nk, int64_t hd, const float* q, int64_t q_stride, int64_t nq, float* s,
                     int64_t s_stride) {
    for (int64_t t = 0; t < nq; ++t)
        for (int64_t p = 0; p < nk; ++p) {
            float acc = 0.0f;
            for (int64_t d = 0; d < hd; ++d) acc = std::fma(q[t * q_stride + d], kt[d * kt_stride + p], acc);
            s[t * s_stride + p] = acc;
        }
}
void ref::att_values(const float* v, int64_t v_stride, int64_t nk, int64_t hd, const float* pr, int64_t p_stride, int64_t nq, float* out,
                     int64_t out_stride) {
    for (int64_t t = 0; t < nq; ++t)
        for (int64_t d = 0; d < hd; ++d) {
            float acc = 0.0f;
            for (int64_t p = 0; p < nk; ++p) acc = std::fma(pr[t * p_stride + p], v[p * v_stride + d], acc);
            out[t * out_stride + d] = acc;
        }
}
#if AI_HAVE_XSIMD
#if defined(__GNUC__) && !defined(__clang__)
#pragma GCC diagnostic push  // GCC 12 flags undefined upper halves inside the AVX-512 intrinsics of xsimd::exp
#pragma GCC diagnostic ignored "-Wuninitialized"
#pragma GCC diagnostic ignored "-Wmaybe-uninitialized"
#endif
// The tails go through a zero-padded batch, so every element gets the batch arithmetic.
void simd::silu_mul(float* g, const float* u, int64_t n) {
    using detail::vfloat;
    constexpr int64_t w = (int64_t)vfloat::size;
    static_assert(w <= 64, "the tail buffer");
    const vfloat one(1.0f);
    const auto step = [&](float* gp, const float* up) {
        const vfloat x = vfloat::load_unaligned(gp);
        (x / (one + xsimd::exp(-x)) * vfloat::load_unaligned(up)).store_unaligned(gp);
    };
    int64_t i = 0;
    for (; i + w <= n; i += w) step(g + i, u + i);
    if (i < n) {
        float tg[64] = {}, tu[64] = {};
        std::memcpy(tg, g + i, (size_t)(n - i) * sizeof(float));
        std::memcpy(tu, u + i, (size_t)(n - i) * sizeof(float));
        step(tg, tu);
        std::memcpy(g + i, tg, (size_t)(n - i) * sizeof(float));
    }
}
void simd::softmax(float* row, int64_t valid, int64_t n, float scale) {
    using detail::vfloat;
    constexpr int64_t w = (int64_t)vfloat::size;
    const vfloat vs(scale);
    vfloat vmax(-INFINITY);
    int64_t p = 0;
    for (; p + w <= valid; p += w) {
        const vfloat v = vfloat::load_unaligned(row + p) * vs;
        v.store_unaligned(row + p);
        vmax = xsimd::max(vmax, v);
    }
    alignas(64) float lanes[64];
    vmax.store_unaligned(lanes);
    float max = -INFINITY;
    for (int64_t l = 0; l < w; ++l) max = std::max(max, lanes[l]);
    for (; p < valid; ++p) {
        row[p] *= scale;
        max = std::max(max, row[p]);
    }
    const vfloat vm(max);
    vfloat acc(0.0f);
    for (p = 0; p + w <= valid; p += w) {
        const vfloat e = xsimd::exp(vfloat::load_unaligned(row + p) - vm);
        e.store_unaligned(row + p);
        acc += e;
    }
    float tail_sum = 0.0f;
    if (p < valid) {
        float t[64] = {};
        std::memcpy(t, row + p, (size_t)(valid - p) * sizeof(float));
        xsimd::exp(vfloat::load_unaligned(t) - vm).store_unaligned(t);
        for (int64_t l = 0; l < valid - p; ++l) tail_sum += t[l];
        std::memcpy(row + p, t, (size_t)(valid - p) * sizeof(float));
    }
    const float inv = 1.0f / (detail::reduce_add(acc) + tail_sum);
    const vfloat vinv(inv);
    for (p = 0; p + w <= valid; p += w) (vfloat::load_unaligned(row + p) * vinv).store_unaligned(row + p);
    for (; p < valid; ++p) row[p] *= inv;
    for (p = valid; p < n; ++p) row[p] = 0.0f;
}
namespace detail {
// Both attention products have one shape: out[t][j] = sum over i < n of coef[t][i] * rows[i][j],
// a broadcast coefficient times a row, for NB batches of columns j (scores: coefficients q[t][d],
// rows K^T[d] across keys; values: coefficients p[t][k], rows V[k] across head dimensions). Two
// queries at a time share each row load; NB is a template argument so the sums stay in registers.
template <int NB>
inline void att_rows_fma(const float* rows, int64_t row_stride, int64_t n, const float* coef, int64_t coef_stride, int64_t nq, float* out,
                         int64_t out_stride) {
    constexpr int64_t w = (int64_t)vfloat::size;
    int64_t t = 0;
    for (; t + 2 <= nq; t += 2) {
        const float* c0 = coef + t * coef_stride;
        const float* c1 = c0 + coef_stride;
        vfloat a0[NB], a1[NB];
#pragma GCC unroll 4
        for (int j = 0; j < NB; ++j) a0[j] = a1[j] = vfloat(0.0f);
        for (int64_t i = 0; i < n; ++i) {
            const vfloat b0(c0[i]), b1(c1[i]);
#pragma GCC unroll 4
            for (int j = 0; j < NB; ++j) {
                const vfloat x = vfloat::load_unaligned(rows + i * row_stride + j * w);
                a0[j] = xsimd::fma(b0, x, a0[j]);
                a1[j] = xsimd::fma(b1, x, a1[j]);
            }
        }
#pragma GCC unroll 4
        for (int j = 0; j < NB; ++j) {
            a0[j].store_unaligned(out + t * out_stride + j * w);
            a1[j].store_unaligned(out + (t + 1) * out_stride + j * w);
        }
    }
    for (; t < nq; ++t) {
        const float* c0 = coef + t * coef_stride;
        vfloat a0[NB];
#pragma GCC unroll 4
        for (int j = 0; j < NB; ++j) a0[j] = vfloat(0.0f);
        for (int64_t i = 0; i < n; ++i) {
            const vfloat b0(c0[i]);
#pragma GCC unroll 4
            for (int j = 0; j < NB; ++j) a0[j] = xsimd::fma(b0, vfloat::load_unaligned(rows + i * row_stride + j * w), a0[j]);
        }
#pragma GCC unroll 4
        for (int j = 0; j < NB; ++j) a0[j].store_unaligned(out + t * out_stride + j * w);
    }
}
}  // namespace detail
void simd::att_scores(const float* kt, int64_t kt_stride, int64_t nk, int64_t hd, const float* q, int64_t q_stride, int64_t nq, float* s,
                      int64_t s_stride) {
    using detail::vfloat;
    constexpr int64_t w = (int64_t)vfloat::size;
    int64_t p = 0;
    for (; p + 4 * w <= nk; p += 4 * w) detail::att_rows_fma<4>(kt + p, kt_stride, hd, q, q_stride, nq, s + p, s_stride);
    for (; p + w <= nk; p += w) detail::att_rows_fma<1>(kt + p, kt_stride, hd, q, q_stride, nq, s + p, s_stride);
    if (p == nk) return;
    // The last keys: a zero-padded batch, hd in pieces of 64 rows, built once per 16 queries. The
    // same per-lane arithmetic as a whole batch, so a key's score does not depend on where nk ends.
    const int64_t left = nk - p;
    static_assert(w <= 16, "the padded batch");
    alignas(64) float kpad[64 * 16];
    float sp[16];
    for (int64_t t0 = 0; t0 < nq; t0 += 16) {
        const int64_t tn = std::min<int64_t>(16, nq - t0);
        vfloat acc[16];
        for (int64_t t = 0; t < tn; ++t) acc[t] = vfloat(0.0f);
        for (int64_t d0 = 0; d0 < hd; d0 += 64) {
            const int64_t dn = std::min<int64_t>(64, hd - d0);
            for (int64_t d = 0; d < dn; ++d)
                for (int64_t i = 0; i < w; ++i) kpad[d * w + i] = i < left ? kt[(d0 + d) * kt_stride + p + i] : 0.0f;
            for (int64_t t = 0; t < tn; ++t)
                for (int64_t d = 0; d < dn; ++d)
                    acc[t] = xsimd::fma(vfloat(q[(t0 + t) * q_stride + d0 + d]), vfloat::load_aligned(kpad + d * w), acc[t]);
        }
        for (int64_t t = 0; t < tn; ++t) {
            acc[t].store_unaligned(sp);
            for (int64_t i = 0; i < left; ++i) s[(t0 + t) * s_stride + p + i] = sp[i];
        }
    }
}
void simd::att_values(const float* v, int64_t v_stride, int64_t nk, int64_t hd, const float* pr, int64_t p_stride, int64_t nq, float* out,
                      int64_t out_stride) {
    using detail::vfloat;
    constexpr int64_t w = (int64_t)vfloat::size;
    const int64_t whole = hd / w;  // dimensions in whole batches; the rest one at a time below
    int64_t b = 0;
    for (; b + 4 <= whole; b += 4) detail::att_rows_fma<4>(v + b * w, v_stride, nk, pr, p_stride, nq, out + b * w, out_stride);
    for (; b < whole; ++b) detail::att_rows_fma<1>(v + b * w, v_stride, nk, pr, p_stride, nq, out + b * w, out_stride);
    for (int64_t t = 0; t < nq; ++t) {
        const float* pt = pr + t * p_stride;
        for (int64_t d = whole * w; d < hd; ++d) {
            float acc = 0.0f;
            for (int64_t p = 0; p < nk; ++p) acc = std::fma(pt[p], v[p * v_stride + d], acc);
            out[t * out_stride + d] = acc;
        }
    }
}
#if defined(__GNUC__) && !defined(__clang__)
#pragma GCC diagnostic pop
#endif
#else
void simd::silu_mul(float* g, const float* u, int64_t n) { ref::silu_mul(g, u, n); }
void simd::softmax(float* row, int64_t valid, int64_t n, float scale) { ref::softmax(row, valid, n, scale); }
void simd::att_scores(const float* kt, int64_t kt_stride, int64_t nk, int64_t hd, const float* q, int64_t q_stride, int64_t nq, float* s,
                      int64_t s_stride) {
    ref::att_scores(kt, kt_stride, nk, hd, q, q_stride, nq, s, s_stride);
}
void simd::att_values(const float* v, int64_t v_stride, int64_t nk, int64_t hd, const float* pr, int64_t p_stride, int64_t nq, float* out,
                      int64_t out_stride) {
    ref::att_values(v, v_stride, nk, hd, pr, p_stride, nq, out, out_stride);
}
#endif

// ---- Activation quantizers (the rows a matrix product multiplies) ------------------------------
// Q8_0 / Q8_1 as llama.cpp's x86 build rounds them (quantize_row_q8_0/1 with AVX): the multiplier
// is 127/absmax (not 1/d) and rounding is half to even. Q8_K is llama.cpp's reference quantizer,
// which every llama.cpp build uses: ai::ref::from_float(q8_k).

void ref::quantize_act_q8_0(const float* x, void* dst, int64_t n) {
    for (int64_t i = 0; i < n / detail::qk; ++i, x += detail::qk) {
        float amax = 0;
        for (int j = 0; j < detail::qk; ++j) amax = std::max(amax, std::fabs(x[j]));
        const float id = amax != 0 ? 127.0f / amax : 0.0f;
        detail::block_q8_0 b;
        b.d = f32_to_f16(amax / 127.0f);
        for (int j = 0; j < detail::qk; ++j) b.qs[j] = int8_t(detail::round_even_clamp(x[j] * id, -127, 127));
        detail::store_block(dst, i, b);
    }
}
void ref::quantize_act_q8_1(const float* x, void* dst, int64_t n) {
    for (int64_t i = 0; i < n / detail::qk; ++i, x += detail::qk) {
        float amax = 0;
        for (int j = 0; j < detail::qk; ++j) amax = std::max(amax, std::fabs(x[j]));
        const float d = amax / 127.0f;
        const float id = amax != 0 ? 127.0f / amax : 0.0f;
        detail::block_q8_1 b;
        b.d = f32_to_f16(d);
        int sum = 0;
        for (int j = 0; j < detail::qk; ++j) {
            b.qs[j] = int8_t(detail::round_even_clamp(x[j] * id, -127, 127));
            sum += b.qs[j];
        }
        b.s = f32_to_f16(d * float(sum));
        detail::store_block(dst, i, b);
    }
}
void ref::quantize_act_q8_k(const float* x, void* dst, int64_t n) { ref::quantize_row_q8_k(x, dst, n); }

// q16 (see ref::quantize_act_q16): the output matrix's input on sets with kernel_set::mm_q16.
namespace detail {
struct block_q16 {
    float d;          // absmax / 32767
    int16_t q[32];    // round(x / d), |q| <= 32767
};
static_assert(sizeof(block_q16) == 68, "q16 block layout");
}  // namespace detail
void ref::quantize_act_q16(const float* x, void* dst, int64_t n) {
    for (int64_t i = 0; i < n / detail::qk; ++i, x += detail::qk) {
        float amax = 0;
        for (int j = 0; j < detail::qk; ++j) amax = std::max(amax, std::fabs(x[j]));
        detail::block_q16 b;
        b.d = amax / 32767.0f;
        const float id = amax != 0 ? 32767.0f / amax : 0.0f;
        for (int j = 0; j < detail::qk; ++j) b.q[j] = (int16_t)std::max(-32767.0f, std::min(32767.0f, std::nearbyint(x[j] * id)));
        detail::store_block(dst, i, b);
    }
}
namespace detail {
// Per block of 32: the exact integer dot (int64: a Q6_K block's scaled levels reach 4096 x 32767
// per product), then acc += float(dot) * (d_w * d_a), blocks in order.
inline float ref_dot_q8_0_q16(const unsigned char* w, const unsigned char* a, int64_t n) {
    float acc = 0;
    for (int64_t b = 0; b < n / qk; ++b) {
        const block_q8_0 wb = load_block<block_q8_0>(w, b);
        const block_q16 ab = load_block<block_q16>(a, b);
        int64_t dot = 0;
        for (int j = 0; j < qk; ++j) dot += (int64_t)wb.qs[j] * ab.q[j];
        acc += (float)dot * (f16_to_f32(wb.d) * ab.d);
    }
    return acc;
}
inline float ref_dot_q6_k_q16(const unsigned char* w, const unsigned char* a, int64_t n) {
    float acc = 0;
    for (int64_t i = 0; i < n / qk_k; ++i) {
        const block_q6_k wb = load_block<block_q6_k>(w, i);
        int lev[qk_k];  // q = (ql | qh << 4) - 32, as to_float reads them
        for (int h = 0; h < 2; ++h)
            for (int l = 0; l < 32; ++l) {
                const uint8_t* ql = wb.ql + 64 * h;
                const uint8_t qh = wb.qh[32 * h + l];
                lev[128 * h + l] = (int)((ql[l] & 0xF) | ((qh >> 0) & 3) << 4) - 32;
                lev[128 * h + l + 32] = (int)((ql[l + 32] & 0xF) | ((qh >> 2) & 3) << 4) - 32;
                lev[128 * h + l + 64] = (int)((ql[l] >> 4) | ((qh >> 4) & 3) << 4) - 32;
                lev[128 * h + l + 96] = (int)((ql[l + 32] >> 4) | ((qh >> 6) & 3) << 4) - 32;
            }
        const float d = f16_to_f32(wb.d);
        for (int u = 0; u < 8; ++u) {  // activation block u: the sub-blocks 2u, 2u + 1 of 16
            const block_q16 ab = load_block<block_q16>(a, 8 * i + u);
            int64_t dot = 0;
            for (int j = 0; j < qk; ++j) dot += (int64_t)(lev[32 * u + j] * wb.scales[2 * u + j / 16]) * ab.q[j];
            acc += (float)dot * (d * ab.d);
        }
    }
    return acc;
}
template <float (*Dot)(const unsigned char*, const unsigned char*, int64_t)>
void ref_mm_q16(const void* w, size_t ws, int64_t nr, const void* a, size_t as, int64_t nt, int64_t n, float* y, int64_t ys) {
    for (int64_t t = 0; t < nt; ++t)
        for (int64_t r = 0; r < nr; ++r)
            y[t * ys + r] = Dot(static_cast<const unsigned char*>(w) + (size_t)r * ws, static_cast<const unsigned char*>(a) + (size_t)t * as, n);
}
}  // namespace detail
mm_fn ref::mm_q16(tensor_type w) {
    switch (w) {
        case tensor_type::q8_0: return detail::ref_mm_q16<detail::ref_dot_q8_0_q16>;
        case tensor_type::q6_k: return detail::ref_mm_q16<detail::ref_dot_q6_k_q16>;
        default: return nullptr;
    }
}

// ---- Reference dot products: unpack a block's integers, sum in int, scale in float ------------

namespace detail {
// q[0..32) of a block whose nibbles follow q4_0's layout (element j low nibble of qs[j], j+16 high).
inline void unpack_nibbles32(const uint8_t* qs, int* q) {
    for (int j = 0; j < 16; ++j) {
        q[j] = qs[j] & 15;
        q[j + 16] = qs[j] >> 4;
    }
}
inline int fifth_bit(const uint8_t* qh, int j) { return (qh[j / 8] >> (j % 8)) & 1; }  // bit j of a LE u32
inline int idot(const int* q, const int8_t* a, int n) {
    int s = 0;
    for (int j = 0; j < n; ++j) s += q[j] * a[j];
    return s;
}
// Q2_K .. Q6_K: the 256 integer levels of a super-block, in element order (layouts: block_q*_k).
inline void unpack_q2_k(const block_q2_k& b, int* q) {
    for (int e = 0; e < qk_k; ++e) q[e] = (b.qs[32 * (e / 128) + e % 32] >> (2 * ((e / 32) % 4))) & 3;
}
inline void unpack_q3_k(const block_q3_k& b, int* q) {  // q - 4, in -4..3
    for (int e = 0; e < qk_k; ++e) {
        const int h = e / 128, s = (e / 32) % 4, l = e % 32;
        const int low = (b.qs[32 * h + l] >> (2 * s)) & 3;
        const int high = (b.hmask[l] >> (4 * h + s)) & 1;
        q[e] = (low | high << 2) - 4;
    }
}
inline void unpack_q4_k(const uint8_t* qs, int* q) {
    for (int e = 0; e < qk_k; ++e) q[e] = (qs[32 * (e / 64) + e % 32] >> (4 * ((e / 32) % 2))) & 15;
}
inline void unpack_q6_k(const block_q6_k& b, int* q) {  // q - 32, in -32..31
    for (int e = 0; e < qk_k; ++e) {
        const int h = e / 128, k = (e / 32) % 4, l = e % 32;
        const int low = (b.ql[64 * h + 32 * (k % 2) + l] >> (4 * (k / 2))) & 15;
        const int high = (b.qh[32 * h + l] >> (2 * k)) & 3;
        q[e] = (low | high << 4) - 32;
    }
}
}  // namespace detail

float ref::vec_dot_q4_0_q8_0(const void* w, const void* a, int64_t n) {
    float sum = 0;
    for (int64_t i = 0; i < n / detail::qk; ++i) {
        const auto x = detail::load_block<detail::block_q4_0>(w, i);
        const auto y = detail::load_block<detail::block_q8_0>(a, i);
        int q[32];
        detail::unpack_nibbles32(x.qs, q);
        for (int& v : q) v -= 8;
        sum += float(detail::idot(q, y.qs, 32)) * (f16_to_f32(x.d) * f16_to_f32(y.d));
    }
    return sum;
}
float ref::vec_dot_q4_1_q8_1(const void* w, const void* a, int64_t n) {
    float sum = 0;
    for (int64_t i = 0; i < n / detail::qk; ++i) {
        const auto x = detail::load_block<detail::block_q4_1>(w, i);
        const auto y = detail::load_block<detail::block_q8_1>(a, i);
        int q[32];
        detail::unpack_nibbles32(x.qs, q);
        // sum (d q + m)(dy qy) = d dy sum(q qy) + m s
        sum += float(detail::idot(q, y.qs, 32)) * (f16_to_f32(x.d) * f16_to_f32(y.d)) + f16_to_f32(x.m) * f16_to_f32(y.s);
    }
    return sum;
}
float ref::vec_dot_q5_0_q8_0(const void* w, const void* a, int64_t n) {
    float sum = 0;
    for (int64_t i = 0; i < n / detail::qk; ++i) {
        const auto x = detail::load_block<detail::block_q5_0>(w, i);
        const auto y = detail::load_block<detail::block_q8_0>(a, i);
        int q[32];
        detail::unpack_nibbles32(x.qs, q);
        for (int j = 0; j < 32; ++j) q[j] = (q[j] | detail::fifth_bit(x.qh, j) << 4) - 16;
        sum += float(detail::idot(q, y.qs, 32)) * (f16_to_f32(x.d) * f16_to_f32(y.d));
    }
    return sum;
}
float ref::vec_dot_q5_1_q8_1(const void* w, const void* a, int64_t n) {
    float sum = 0;
    for (int64_t i = 0; i < n / detail::qk; ++i) {
        const auto x = detail::load_block<detail::block_q5_1>(w, i);
        const auto y = detail::load_block<detail::block_q8_1>(a, i);
        int q[32];
        detail::unpack_nibbles32(x.qs, q);
        for (int j = 0; j < 32; ++j) q[j] |= detail::fifth_bit(x.qh, j) << 4;
        sum += float(detail::idot(q, y.qs, 32)) * (f16_to_f32(x.d) * f16_to_f32(y.d)) + f16_to_f32(x.m) * f16_to_f32(y.s);
    }
    return sum;
}
float ref::vec_dot_q8_0_q8_0(const void* w, const void* a, int64_t n) {
    float sum = 0;
    for (int64_t i = 0; i < n / detail::qk; ++i) {
        const auto x = detail::load_block<detail::block_q8_0>(w, i);
        const auto y = detail::load_block<detail::block_q8_0>(a, i);
        int q[32];
        for (int j = 0; j < 32; ++j) q[j] = x.qs[j];
        sum += float(detail::idot(q, y.qs, 32)) * (f16_to_f32(x.d) * f16_to_f32(y.d));
    }
    return sum;
}
float ref::vec_dot_iq4_nl_q8_0(const void* w, const void* a, int64_t n) {
    float sum = 0;
    for (int64_t i = 0; i < n / detail::qk; ++i) {
        const auto x = detail::load_block<detail::block_iq4_nl>(w, i);
        const auto y = detail::load_block<detail::block_q8_0>(a, i);
        int q[32];
        detail::unpack_nibbles32(x.qs, q);
        for (int& v : q) v = detail::kvalues_iq4nl[v];
        sum += float(detail::idot(q, y.qs, 32)) * (f16_to_f32(x.d) * f16_to_f32(y.d));
    }
    return sum;
}

// K-quants: per super-block, isum = sum over sub-blocks of scale * (q . a) and msum = sum of
// min * (sum of a) from Q8_K's bsums; result d * dy * isum - dmin * dy * msum.
float ref::vec_dot_q2_k_q8_k(const void* w, const void* a, int64_t n) {
    float sum = 0;
    for (int64_t i = 0; i < n / detail::qk_k; ++i) {
        const auto x = detail::load_block<detail::block_q2_k>(w, i);
        const auto y = detail::load_block<detail::block_q8_k>(a, i);
        int q[256];
        detail::unpack_q2_k(x, q);
        int isum = 0, msum = 0;
        for (int j = 0; j < 16; ++j) {
            isum += (x.scales[j] & 15) * detail::idot(q + 16 * j, y.qs + 16 * j, 16);
            msum += (x.scales[j] >> 4) * y.bsums[j];
        }
        sum += y.d * f16_to_f32(x.d) * float(isum) - y.d * f16_to_f32(x.dmin) * float(msum);
    }
    return sum;
}
float ref::vec_dot_q3_k_q8_k(const void* w, const void* a, int64_t n) {
    float sum = 0;
    for (int64_t i = 0; i < n / detail::qk_k; ++i) {
        const auto x = detail::load_block<detail::block_q3_k>(w, i);
        const auto y = detail::load_block<detail::block_q8_k>(a, i);
        int q[256];
        detail::unpack_q3_k(x, q);
        int isum = 0;
        for (int j = 0; j < 16; ++j) isum += (detail::q3_k_scale(x.scales, j) - 32) * detail::idot(q + 16 * j, y.qs + 16 * j, 16);
        sum += y.d * f16_to_f32(x.d) * float(isum);
    }
    return sum;
}
float ref::vec_dot_q4_k_q8_k(const void* w, const void* a, int64_t n) {
    float sum = 0;
    for (int64_t i = 0; i < n / detail::qk_k; ++i) {
        const auto x = detail::load_block<detail::block_q4_k>(w, i);
        const auto y = detail::load_block<detail::block_q8_k>(a, i);
        int q[256];
        detail::unpack_q4_k(x.qs, q);
        int isum = 0, msum = 0;
        for (int j = 0; j < 8; ++j) {
            uint8_t sc, m;
            detail::unpack_scale_min_k4(j, x.scales, &sc, &m);
            isum += sc * detail::idot(q + 32 * j, y.qs + 32 * j, 32);
            msum += m * (y.bsums[2 * j] + y.bsums[2 * j + 1]);
        }
        sum += y.d * f16_to_f32(x.d) * float(isum) - y.d * f16_to_f32(x.dmin) * float(msum);
    }
    return sum;
}
float ref::vec_dot_q5_k_q8_k(const void* w, const void* a, int64_t n) {
    float sum = 0;
    for (int64_t i = 0; i < n / detail::qk_k; ++i) {
        const auto x = detail::load_block<detail::block_q5_k>(w, i);
        const auto y = detail::load_block<detail::block_q8_k>(a, i);
        int q[256];
        detail::unpack_q4_k(x.qs, q);
        for (int e = 0; e < detail::qk_k; ++e) q[e] |= ((x.qh[e % 32] >> (e / 32)) & 1) << 4;
        int isum = 0, msum = 0;
        for (int j = 0; j < 8; ++j) {
            uint8_t sc, m;
            detail::unpack_scale_min_k4(j, x.scales, &sc, &m);
            isum += sc * detail::idot(q + 32 * j, y.qs + 32 * j, 32);
            msum += m * (y.bsums[2 * j] + y.bsums[2 * j + 1]);
        }
        sum += y.d * f16_to_f32(x.d) * float(isum) - y.d * f16_to_f32(x.dmin) * float(msum);
    }
    return sum;
}
float ref::vec_dot_q6_k_q8_k(const void* w, const void* a, int64_t n) {
    float sum = 0;
    for (int64_t i = 0; i < n / detail::qk_k; ++i) {
        const auto x = detail::load_block<detail::block_q6_k>(w, i);
        const auto y = detail::load_block<detail::block_q8_k>(a, i);
        int q[256];
        detail::unpack_q6_k(x, q);
        int isum = 0;
        for (int j = 0; j < 16; ++j) isum += x.scales[j] * detail::idot(q + 16 * j, y.qs + 16 * j, 16);
        sum += y.d * f16_to_f32(x.d) * float(isum);
    }
    return sum;
}

// Plain rows against float activations, element by element (memcpy: rows need no alignment).
float ref::vec_dot_f32_f32(const void* w, const void* a, int64_t n) {
    const unsigned char* p = static_cast<const unsigned char*>(w);
    const float* x = static_cast<const float*>(a);
    float sum = 0;
    for (int64_t i = 0; i < n; ++i) {
        float v;
        std::memcpy(&v, p + 4 * i, 4);
        sum += v * x[i];
    }
    return sum;
}
float ref::vec_dot_f16_f32(const void* w, const void* a, int64_t n) {
    const unsigned char* p = static_cast<const unsigned char*>(w);
    const float* x = static_cast<const float*>(a);
    float sum = 0;
    for (int64_t i = 0; i < n; ++i) {
        uint16_t h;
        std::memcpy(&h, p + 2 * i, 2);
        sum += f16_to_f32(h) * x[i];
    }
    return sum;
}
float ref::vec_dot_bf16_f32(const void* w, const void* a, int64_t n) {
    const unsigned char* p = static_cast<const unsigned char*>(w);
    const float* x = static_cast<const float*>(a);
    float sum = 0;
    for (int64_t i = 0; i < n; ++i) {
        uint16_t h;
        std::memcpy(&h, p + 2 * i, 2);
        sum += bf16_to_f32(h) * x[i];
    }
    return sum;
}

// One table for both namespaces: the kernel of each weight type and its activation format.
#define AI_VEC_DOT_TABLE(NS)                                                                    \
    vec_dot_fn NS::vec_dot(tensor_type w, tensor_type* act) {                                   \
        tensor_type a = tensor_type::q8_0;                                                      \
        vec_dot_fn f = nullptr;                                                                 \
        switch (w) {                                                                            \
        case tensor_type::q4_0: f = NS::vec_dot_q4_0_q8_0; break;                               \
        case tensor_type::q5_0: f = NS::vec_dot_q5_0_q8_0; break;                               \
        case tensor_type::q8_0: f = NS::vec_dot_q8_0_q8_0; break;                               \
        case tensor_type::iq4_nl: f = NS::vec_dot_iq4_nl_q8_0; break;                           \
        case tensor_type::q4_1: f = NS::vec_dot_q4_1_q8_1; a = tensor_type::q8_1; break;        \
        case tensor_type::q5_1: f = NS::vec_dot_q5_1_q8_1; a = tensor_type::q8_1; break;        \
        case tensor_type::q2_k: f = NS::vec_dot_q2_k_q8_k; a = tensor_type::q8_k; break;        \
        case tensor_type::q3_k: f = NS::vec_dot_q3_k_q8_k; a = tensor_type::q8_k; break;        \
        case tensor_type::q4_k: f = NS::vec_dot_q4_k_q8_k; a = tensor_type::q8_k; break;        \
        case tensor_type::q5_k: f = NS::vec_dot_q5_k_q8_k; a = tensor_type::q8_k; break;        \
        case tensor_type::q6_k: f = NS::vec_dot_q6_k_q8_k; a = tensor_type::q8_k; break;        \
        case tensor_type::f32: f = NS::vec_dot_f32_f32; a = tensor_type::f32; break;            \
        case tensor_type::f16: f = NS::vec_dot_f16_f32; a = tensor_type::f32; break;            \
        case tensor_type::bf16: f = NS::vec_dot_bf16_f32; a = tensor_type::f32; break;          \
        default: break;                                                                         \
        }                                                                                       \
        if (act) *act = f ? a : tensor_type::f32;                                               \
        return f;                                                                               \
    }                                                                                           \
    quantize_act_fn NS::quantize_act(tensor_type act) {                                         \
        switch (act) {                                                                          \
        case tensor_type::q8_0: return NS::quantize_act_q8_0;                                   \
        case tensor_type::q8_1: return NS::quantize_act_q8_1;                                   \
        case tensor_type::q8_k: return NS::quantize_act_q8_k;                                   \
        default: return nullptr;                                                                \
        }                                                                                       \
    }
AI_VEC_DOT_TABLE(ref)
AI_VEC_DOT_TABLE(simd)
#undef AI_VEC_DOT_TABLE

// ---- ai::simd int8 kernels ----------------------------------------------------------------------
// xsimd has no int8 multiply-add (maddubs / vpdpbusd / sdot), so on x86 with AVX2 + FMA + F16C the
// kernels below call the intrinsics on 256-bit registers, as STYLE.md's xsimd notes suggest: one
// 32-element block (or K-quant chunk) per register, u8 x s8 products summed in int32 lanes
// (vpdpbusd with AVX512-VNNI, else maddubs + madd: no saturation, since every unsigned operand is
// at most 63 or comes from the abs/sign trick and the activations lie in -127..127), the block's
// scale applied in float with FMA. On AArch64 the NEON kernels further below do the same sums;
// elsewhere (SSE-only x86, 32-bit Arm, AI_NO_SIMD) they run the ai::ref code. Whole rows only: n
// is a multiple of the block size, so there is no tail.
#if AI_HAVE_XSIMD && defined(__AVX2__) && defined(__FMA__) && defined(__F16C__)
#define AI_X86_INT8 1
#else
#define AI_X86_INT8 0
#endif
#if AI_HAVE_XSIMD && defined(__aarch64__) && defined(__ARM_NEON)
#define AI_NEON_INT8 1
#include <arm_neon.h>
#else
#define AI_NEON_INT8 0
#endif

#if AI_X86_INT8
namespace detail {
inline __m256i x86_load(const void* p) { return _mm256_loadu_si256(static_cast<const __m256i*>(p)); }
// Decode streams every weight once from memory; the hardware prefetcher alone reaches about 3 GB/s
// on one core here, so the kernels ask for the bytes 2 KiB ahead (into the next rows; a prefetch
// past the end of the weights is harmless). Doubles the single-core rate of Q4_0 / Q4_1 rows.
inline void x86_prefetch(const void* p, size_t bytes) {
    for (size_t o = 0; o < bytes; o += 64) _mm_prefetch(static_cast<const char*>(p) + 2048 + o, _MM_HINT_T0);
}
inline float x86_f16(uint16_t h) { return _cvtsh_ss(h); }
inline float x86_f16_at(const void* p) {  // an f16 field of a packed block
    uint16_t h;
    std::memcpy(&h, p, 2);
    return _cvtsh_ss(h);
}
inline float x86_hsum(__m256 v) {
    __m128 s = _mm_add_ps(_mm256_castps256_ps128(v), _mm256_extractf128_ps(v, 1));
    s = _mm_add_ps(s, _mm_movehl_ps(s, s));
    s = _mm_add_ss(s, _mm_movehdup_ps(s));
    return _mm_cvtss_f32(s);
}
inline int x86_hsum_i32(__m256i v) {
    __m128i s = _mm_add_epi32(_mm256_castsi256_si128(v), _mm256_extracti128_si256(v, 1));
    s = _mm_add_epi32(s, _mm_unpackhi_epi64(s, s));
    s = _mm_add_epi32(s, _mm_shuffle_epi32(s, 1));
    return _mm_cvtsi128_si32(s);
}
// 16 bytes of nibbles -> 32 bytes 0..15: the low nibbles (elements 0..15), then the high ones.
inline __m256i x86_nibbles32(const uint8_t* qs) {
    const __m128i t = _mm_loadu_si128(reinterpret_cast<const __m128i*>(qs));
    const __m256i b = _mm256_inserti128_si256(_mm256_castsi128_si256(t), _mm_srli_epi16(t, 4), 1);
    return _mm256_and_si256(b, _mm256_set1_epi8(15));
}
// The 32 bits of a little-endian u32 -> 32 bytes, 0xFF where the bit is set.
inline __m256i x86_bits32(const uint8_t* qh) {
    uint32_t v;
    std::memcpy(&v, qh, 4);
    const __m256i spread = _mm256_shuffle_epi8(_mm256_set1_epi32((int)v),
        _mm256_set_epi64x(0x0303030303030303, 0x0202020202020202, 0x0101010101010101, 0));
    const __m256i bit = _mm256_set1_epi64x((long long)0x8040201008040201ull);
    return _mm256_cmpeq_epi8(_mm256_and_si256(spread, bit), bit);
}
// Sums of u[i] * s[i] (u unsigned, s signed bytes) over groups of 4 bytes: 8 int32 lanes.
inline __m256i x86_dot_us(__m256i u, __m256i s) {
#if defined(__AVX512VNNI__) && defined(__AVX512VL__)
    return _mm256_dpbusd_epi32(_mm256_setzero_si256(), u, s);
#else
    return _mm256_madd_epi16(_mm256_maddubs_epi16(u, s), _mm256_set1_epi16(1));
#endif
}
// The same for two signed operands: |x| * (y with x's sign).
inline __m256i x86_dot_ss(__m256i x, __m256i y) { return x86_dot_us(_mm256_sign_epi8(x, x), _mm256_sign_epi8(y, x)); }
// 16-bit products of a K-quant chunk of 32 bytes whose two halves have their own scale: int16
// lanes 0..7 belong to elements 0..15, lanes 8..15 to 16..31 (maddubs stays within 128-bit lanes).
// `scales` holds 16 bytes in both 128-bit lanes; c picks the pair (scales[2c], scales[2c+1]).
inline __m256i x86_scale_pair_u8(__m256i scales, int c) {  // unsigned bytes -> int16 lanes
    const __m256i ctl = _mm256_set_m128i(_mm_set1_epi16(short(0xFF00 | (2 * c + 1))), _mm_set1_epi16(short(0xFF00 | (2 * c))));
    return _mm256_shuffle_epi8(scales, ctl);
}
inline __m256i x86_scale_pair_s8(__m256i scales, int c) {  // signed bytes -> int16 lanes
    const __m256i ctl = _mm256_set_m128i(_mm_set1_epi16(short((2 * c + 1) << 8 | 0x80)), _mm_set1_epi16(short((2 * c) << 8 | 0x80)));
    return _mm256_srai_epi16(_mm256_shuffle_epi8(scales, ctl), 8);
}
inline __m256i x86_chunk_scaled(__m256i u, __m256i a, __m256i sc16) {
    return _mm256_madd_epi16(_mm256_maddubs_epi16(u, a), sc16);
}
}  // namespace detail

// 32-blocks: acc += (dw * da) * (int32 lanes of the block), two blocks per iteration.
#define AI_X86_BLOCK_LOOP(WBLOCK, ABLOCK, LANES, EXTRA)                                          \
    const unsigned char* wp = static_cast<const unsigned char*>(w);                             \
    const unsigned char* ap = static_cast<const unsigned char*>(a);                             \
    const int64_t nb = n / detail::qk;                                                          \
    __m256 acc0 = _mm256_setzero_ps(), acc1 = _mm256_setzero_ps();                              \
    float extra = 0;                                                                            \
    (void)extra;                                                                                \
    int64_t i = 0;                                                                              \
    for (; i < nb; ++i) {                                                                       \
        const unsigned char* x = wp + (size_t)i * sizeof(detail::WBLOCK);                       \
        const unsigned char* y = ap + (size_t)i * sizeof(detail::ABLOCK);                       \
        if ((i & 1) == 0) detail::x86_prefetch(x, 1);                                           \
        const __m256 d = _mm256_set1_ps(detail::x86_f16_at(x + offsetof(detail::WBLOCK, d)) *   \
                                        detail::x86_f16_at(y + offsetof(detail::ABLOCK, d)));   \
        const __m256i qy = detail::x86_load(y + offsetof(detail::ABLOCK, qs));                  \
        const __m256i lanes = LANES;                                                            \
        EXTRA;                                                                                  \
        if (i & 1) acc1 = _mm256_fmadd_ps(d, _mm256_cvtepi32_ps(lanes), acc1);                  \
        else acc0 = _mm256_fmadd_ps(d, _mm256_cvtepi32_ps(lanes), acc0);                        \
    }                                                                                           \
    return detail::x86_hsum(_mm256_add_ps(acc0, acc1)) + extra;

float simd::vec_dot_q4_0_q8_0(const void* w, const void* a, int64_t n) {
    AI_X86_BLOCK_LOOP(block_q4_0, block_q8_0,
        detail::x86_dot_ss(_mm256_sub_epi8(detail::x86_nibbles32(x + 2), _mm256_set1_epi8(8)), qy), (void)0)
}
float simd::vec_dot_q4_1_q8_1(const void* w, const void* a, int64_t n) {
    AI_X86_BLOCK_LOOP(block_q4_1, block_q8_1, detail::x86_dot_us(detail::x86_nibbles32(x + 4), qy),
        extra += detail::x86_f16_at(x + 2) * detail::x86_f16_at(y + 2))
}
float simd::vec_dot_q5_0_q8_0(const void* w, const void* a, int64_t n) {
    // q - 16 as a byte: the nibble, with 0xF0 or-ed in where the fifth bit is clear
    AI_X86_BLOCK_LOOP(block_q5_0, block_q8_0,
        detail::x86_dot_ss(_mm256_or_si256(detail::x86_nibbles32(x + 6),
                                           _mm256_andnot_si256(detail::x86_bits32(x + 2), _mm256_set1_epi8((char)0xF0))), qy),
        (void)0)
}
float simd::vec_dot_q5_1_q8_1(const void* w, const void* a, int64_t n) {
    AI_X86_BLOCK_LOOP(block_q5_1, block_q8_1,
        detail::x86_dot_us(_mm256_or_si256(detail::x86_nibbles32(x + 8),
                                           _mm256_and_si256(detail::x86_bits32(x + 4), _mm256_set1_epi8(16))), qy),
        extra += detail::x86_f16_at(x + 2) * detail::x86_f16_at(y + 2))
}
float simd::vec_dot_q8_0_q8_0(const void* w, const void* a, int64_t n) {
    AI_X86_BLOCK_LOOP(block_q8_0, block_q8_0, detail::x86_dot_ss(detail::x86_load(x + 2), qy), (void)0)
}
float simd::vec_dot_iq4_nl_q8_0(const void* w, const void* a, int64_t n) {
    const __m256i table = _mm256_broadcastsi128_si256(_mm_loadu_si128(reinterpret_cast<const __m128i*>(detail::kvalues_iq4nl)));
    AI_X86_BLOCK_LOOP(block_iq4_nl, block_q8_0,
        detail::x86_dot_ss(_mm256_shuffle_epi8(table, detail::x86_nibbles32(x + 2)), qy), (void)0)
}
#undef AI_X86_BLOCK_LOOP

float simd::vec_dot_q2_k_q8_k(const void* w, const void* a, int64_t n) {
    const auto* xs = static_cast<const unsigned char*>(w);
    const auto* ys = static_cast<const unsigned char*>(a);
    __m256 acc = _mm256_setzero_ps();
    float sum_m = 0;
    for (int64_t i = 0; i < n / detail::qk_k; ++i) {
        const unsigned char* x = xs + (size_t)i * sizeof(detail::block_q2_k);
        detail::x86_prefetch(x, sizeof(detail::block_q2_k));
        const unsigned char* y = ys + (size_t)i * sizeof(detail::block_q8_k);
        float dy;
        std::memcpy(&dy, y, 4);
        const int8_t* q8 = reinterpret_cast<const int8_t*>(y + 4);
        int16_t bsums[16];
        std::memcpy(bsums, y + 4 + 256, sizeof bsums);
        int msum = 0;
        for (int j = 0; j < 16; ++j) msum += (x[j] >> 4) * bsums[j];
        const __m128i sc128 = _mm_and_si128(_mm_loadu_si128(reinterpret_cast<const __m128i*>(x)), _mm_set1_epi8(15));
        const __m256i scales = _mm256_broadcastsi128_si256(sc128);
        const __m256i m3 = _mm256_set1_epi8(3);
        __m256i sumi = _mm256_setzero_si256();
        for (int h = 0; h < 2; ++h) {
            const __m256i bits = detail::x86_load(x + 16 + 32 * h);
            for (int s = 0; s < 4; ++s) {
                const __m256i q = _mm256_and_si256(_mm256_srli_epi16(bits, 2 * s), m3);
                const __m256i a8 = detail::x86_load(q8 + 128 * h + 32 * s);
                sumi = _mm256_add_epi32(sumi, detail::x86_chunk_scaled(q, a8, detail::x86_scale_pair_u8(scales, 4 * h + s)));
            }
        }
        acc = _mm256_fmadd_ps(_mm256_set1_ps(dy * detail::x86_f16_at(x + 80)), _mm256_cvtepi32_ps(sumi), acc);
        sum_m += dy * detail::x86_f16_at(x + 82) * float(msum);
    }
    return detail::x86_hsum(acc) - sum_m;
}

float simd::vec_dot_q3_k_q8_k(const void* w, const void* a, int64_t n) {
    const auto* xs = static_cast<const unsigned char*>(w);
    const auto* ys = static_cast<const unsigned char*>(a);
    __m256 acc = _mm256_setzero_ps();
    for (int64_t i = 0; i < n / detail::qk_k; ++i) {
        const unsigned char* x = xs + (size_t)i * sizeof(detail::block_q3_k);
        detail::x86_prefetch(x, sizeof(detail::block_q3_k));
        const unsigned char* y = ys + (size_t)i * sizeof(detail::block_q8_k);
        float dy;
        std::memcpy(&dy, y, 4);
        const int8_t* q8 = reinterpret_cast<const int8_t*>(y + 4);
        int16_t bsums[16];
        std::memcpy(bsums, y + 4 + 256, sizeof bsums);
        // sum (sc - 32) (q - 4) a = sum (sc - 32) (q . a) - 4 sum (sc - 32) bsum
        int8_t sc[16];
        detail::q3_k_scales(x + 96, sc);
        int corr = 0;
        for (int j = 0; j < 16; ++j) corr += sc[j] * bsums[j];
        const __m256i scales = _mm256_broadcastsi128_si256(_mm_loadu_si128(reinterpret_cast<const __m128i*>(sc)));
        const __m256i hmask = detail::x86_load(x);
        const __m256i m3 = _mm256_set1_epi8(3), m1 = _mm256_set1_epi8(1);
        __m256i sumi = _mm256_setzero_si256();
        for (int h = 0; h < 2; ++h) {
            const __m256i bits = detail::x86_load(x + 32 + 32 * h);
            for (int s = 0; s < 4; ++s) {
                const __m256i low = _mm256_and_si256(_mm256_srli_epi16(bits, 2 * s), m3);
                const __m256i high = _mm256_slli_epi16(_mm256_and_si256(_mm256_srli_epi16(hmask, 4 * h + s), m1), 2);
                const __m256i a8 = detail::x86_load(q8 + 128 * h + 32 * s);
                sumi = _mm256_add_epi32(sumi, detail::x86_chunk_scaled(_mm256_or_si256(low, high), a8, detail::x86_scale_pair_s8(scales, 4 * h + s)));
            }
        }
        sumi = _mm256_sub_epi32(sumi, _mm256_setr_epi32(4 * corr, 0, 0, 0, 0, 0, 0, 0));
        acc = _mm256_fmadd_ps(_mm256_set1_ps(dy * detail::x86_f16_at(x + 108)), _mm256_cvtepi32_ps(sumi), acc);
    }
    return detail::x86_hsum(acc);
}

namespace detail {
// Q4_K / Q5_K share everything but the fifth bit: `qh` is nullptr for Q4_K.
inline float x86_dot_k4(const unsigned char* x, const unsigned char* qs, const unsigned char* qh, const unsigned char* y, __m256& acc) {
    float dy;
    std::memcpy(&dy, y, 4);
    const int8_t* q8 = reinterpret_cast<const int8_t*>(y + 4);
    int16_t bsums[16];
    std::memcpy(bsums, y + 4 + 256, sizeof bsums);
    uint8_t sc[8], m[8];
    int msum = 0;
    for (int j = 0; j < 8; ++j) {
        unpack_scale_min_k4(j, x + 4, &sc[j], &m[j]);
        msum += m[j] * (bsums[2 * j] + bsums[2 * j + 1]);
    }
    const __m256i m4 = _mm256_set1_epi8(15), m1 = _mm256_set1_epi8(1);
    const __m256i hbits = qh ? x86_load(qh) : _mm256_setzero_si256();
    __m256i sumi = _mm256_setzero_si256();
    for (int g = 0; g < 4; ++g) {
        const __m256i bits = x86_load(qs + 32 * g);
        __m256i lo = _mm256_and_si256(bits, m4);
        __m256i hi = _mm256_and_si256(_mm256_srli_epi16(bits, 4), m4);
        if (qh) {
            lo = _mm256_or_si256(lo, _mm256_slli_epi16(_mm256_and_si256(_mm256_srli_epi16(hbits, 2 * g), m1), 4));
            hi = _mm256_or_si256(hi, _mm256_slli_epi16(_mm256_and_si256(_mm256_srli_epi16(hbits, 2 * g + 1), m1), 4));
        }
        const __m256i plo = x86_chunk_scaled(lo, x86_load(q8 + 64 * g), _mm256_set1_epi16(sc[2 * g]));
        const __m256i phi = x86_chunk_scaled(hi, x86_load(q8 + 64 * g + 32), _mm256_set1_epi16(sc[2 * g + 1]));
        sumi = _mm256_add_epi32(sumi, _mm256_add_epi32(plo, phi));
    }
    acc = _mm256_fmadd_ps(_mm256_set1_ps(dy * x86_f16_at(x)), _mm256_cvtepi32_ps(sumi), acc);
    return dy * x86_f16_at(x + 2) * float(msum);
}
}  // namespace detail

float simd::vec_dot_q4_k_q8_k(const void* w, const void* a, int64_t n) {
    const auto* xs = static_cast<const unsigned char*>(w);
    const auto* ys = static_cast<const unsigned char*>(a);
    __m256 acc = _mm256_setzero_ps();
    float sum_m = 0;
    for (int64_t i = 0; i < n / detail::qk_k; ++i) {
        const unsigned char* x = xs + (size_t)i * sizeof(detail::block_q4_k);
        detail::x86_prefetch(x, sizeof(detail::block_q4_k));
        sum_m += detail::x86_dot_k4(x, x + 16, nullptr, ys + (size_t)i * sizeof(detail::block_q8_k), acc);
    }
    return detail::x86_hsum(acc) - sum_m;
}
float simd::vec_dot_q5_k_q8_k(const void* w, const void* a, int64_t n) {
    const auto* xs = static_cast<const unsigned char*>(w);
    const auto* ys = static_cast<const unsigned char*>(a);
    __m256 acc = _mm256_setzero_ps();
    float sum_m = 0;
    for (int64_t i = 0; i < n / detail::qk_k; ++i) {
        const unsigned char* x = xs + (size_t)i * sizeof(detail::block_q5_k);
        detail::x86_prefetch(x, sizeof(detail::block_q5_k));
        sum_m += detail::x86_dot_k4(x, x + 48, x + 16, ys + (size_t)i * sizeof(detail::block_q8_k), acc);
    }
    return detail::x86_hsum(acc) - sum_m;
}

float simd::vec_dot_q6_k_q8_k(const void* w, const void* a, int64_t n) {
    const auto* xs = static_cast<const unsigned char*>(w);
    const auto* ys = static_cast<const unsigned char*>(a);
    __m256 acc = _mm256_setzero_ps();
    for (int64_t i = 0; i < n / detail::qk_k; ++i) {
        const unsigned char* x = xs + (size_t)i * sizeof(detail::block_q6_k);
        detail::x86_prefetch(x, sizeof(detail::block_q6_k));
        const unsigned char* y = ys + (size_t)i * sizeof(detail::block_q8_k);
        float dy;
        std::memcpy(&dy, y, 4);
        const int8_t* q8 = reinterpret_cast<const int8_t*>(y + 4);
        int16_t bsums[16];
        std::memcpy(bsums, y + 4 + 256, sizeof bsums);
        const int8_t* sc = reinterpret_cast<const int8_t*>(x + 192);
        // sum sc (q - 32) a = sum sc (q . a) - 32 sum sc bsum
        int corr = 0;
        for (int j = 0; j < 16; ++j) corr += sc[j] * bsums[j];
        const __m256i scales = _mm256_broadcastsi128_si256(_mm_loadu_si128(reinterpret_cast<const __m128i*>(sc)));
        const __m256i m4 = _mm256_set1_epi8(15), m2 = _mm256_set1_epi8(3);
        __m256i sumi = _mm256_setzero_si256();
        for (int h = 0; h < 2; ++h) {
            const __m256i l0 = detail::x86_load(x + 64 * h), l1 = detail::x86_load(x + 64 * h + 32);
            const __m256i hb = detail::x86_load(x + 128 + 32 * h);
            const __m256i q[4] = {
                _mm256_or_si256(_mm256_and_si256(l0, m4), _mm256_slli_epi16(_mm256_and_si256(hb, m2), 4)),
                _mm256_or_si256(_mm256_and_si256(l1, m4), _mm256_slli_epi16(_mm256_and_si256(_mm256_srli_epi16(hb, 2), m2), 4)),
                _mm256_or_si256(_mm256_and_si256(_mm256_srli_epi16(l0, 4), m4), _mm256_slli_epi16(_mm256_and_si256(_mm256_srli_epi16(hb, 4), m2), 4)),
                _mm256_or_si256(_mm256_and_si256(_mm256_srli_epi16(l1, 4), m4), _mm256_slli_epi16(_mm256_and_si256(_mm256_srli_epi16(hb, 6), m2), 4)),
            };
            for (int k = 0; k < 4; ++k)
                sumi = _mm256_add_epi32(sumi, detail::x86_chunk_scaled(q[k], detail::x86_load(q8 + 128 * h + 32 * k), detail::x86_scale_pair_s8(scales, 4 * h + k)));
        }
        sumi = _mm256_sub_epi32(sumi, _mm256_setr_epi32(32 * corr, 0, 0, 0, 0, 0, 0, 0));
        acc = _mm256_fmadd_ps(_mm256_set1_ps(dy * detail::x86_f16_at(x + 208)), _mm256_cvtepi32_ps(sumi), acc);
    }
    return detail::x86_hsum(acc);
}

// Activations: absmax and rounding in registers; the same values as ai::ref (127/absmax, then
// round half to even: cvtps rounds with the default MXCSR mode).
namespace detail {
inline void x86_quantize_block32(const float* x, int8_t* qs, float* d_out, int* sum_out) {
    const __m256 sign = _mm256_set1_ps(-0.0f);
    __m256 v[4];
    __m256 amax = _mm256_setzero_ps();
    for (int k = 0; k < 4; ++k) {
        v[k] = _mm256_loadu_ps(x + 8 * k);
        amax = _mm256_max_ps(_mm256_andnot_ps(sign, v[k]), amax);  // a NaN is skipped, as by std::max in ai::ref
    }
    __m128 m = _mm_max_ps(_mm256_castps256_ps128(amax), _mm256_extractf128_ps(amax, 1));
    m = _mm_max_ps(m, _mm_movehl_ps(m, m));
    m = _mm_max_ss(m, _mm_movehdup_ps(m));
    const float mx = _mm_cvtss_f32(m);
    *d_out = mx / 127.0f;
    const __m256 id = _mm256_set1_ps(mx != 0 ? 127.0f / mx : 0.0f);
    __m256i i32[4];
    // NaN products (a NaN, or an infinity times 0) convert to INT_MIN: clamped to -127 as in ai::ref
    for (int k = 0; k < 4; ++k) i32[k] = _mm256_max_epi32(_mm256_cvtps_epi32(_mm256_mul_ps(v[k], id)), _mm256_set1_epi32(-127));
    if (sum_out) *sum_out = x86_hsum_i32(_mm256_add_epi32(_mm256_add_epi32(i32[0], i32[1]), _mm256_add_epi32(i32[2], i32[3])));
    // pack 32 int32 -> 32 int8 (packs interleave the 128-bit lanes; the permute restores order)
    const __m256i p01 = _mm256_packs_epi32(i32[0], i32[1]), p23 = _mm256_packs_epi32(i32[2], i32[3]);
    const __m256i p = _mm256_permutevar8x32_epi32(_mm256_packs_epi16(p01, p23), _mm256_setr_epi32(0, 4, 1, 5, 2, 6, 3, 7));
    _mm256_storeu_si256(reinterpret_cast<__m256i*>(qs), p);
}
}  // namespace detail
void simd::quantize_act_q8_0(const float* x, void* dst, int64_t n) {
    unsigned char* out = static_cast<unsigned char*>(dst);
    for (int64_t i = 0; i < n / detail::qk; ++i, x += detail::qk, out += sizeof(detail::block_q8_0)) {
        float d;
        detail::x86_quantize_block32(x, reinterpret_cast<int8_t*>(out + 2), &d, nullptr);
        const uint16_t h = f32_to_f16(d);
        std::memcpy(out, &h, 2);
    }
}
void simd::quantize_act_q8_1(const float* x, void* dst, int64_t n) {
    unsigned char* out = static_cast<unsigned char*>(dst);
    for (int64_t i = 0; i < n / detail::qk; ++i, x += detail::qk, out += sizeof(detail::block_q8_1)) {
        float d;
        int sum;
        detail::x86_quantize_block32(x, reinterpret_cast<int8_t*>(out + 4), &d, &sum);
        const uint16_t h[2] = {f32_to_f16(d), f32_to_f16(d * float(sum))};
        std::memcpy(out, h, 4);
    }
}
// Q8_K: the scale comes from the first element of largest magnitude with its sign (-127 / max, as
// ai::ref); a super-block holding an infinity goes through the reference code.
void simd::quantize_act_q8_k(const float* x, void* dst, int64_t n) {
    unsigned char* out = static_cast<unsigned char*>(dst);
    const __m256 sign = _mm256_set1_ps(-0.0f);
    for (int64_t i = 0; i < n / detail::qk_k; ++i, x += detail::qk_k, out += sizeof(detail::block_q8_k)) {
        __m256 amax = _mm256_setzero_ps();
        for (int k = 0; k < 32; ++k) amax = _mm256_max_ps(_mm256_andnot_ps(sign, _mm256_loadu_ps(x + 8 * k)), amax);  // NaN: skipped
        __m128 m = _mm_max_ps(_mm256_castps256_ps128(amax), _mm256_extractf128_ps(amax, 1));
        m = _mm_max_ps(m, _mm_movehl_ps(m, m));
        m = _mm_max_ss(m, _mm_movehdup_ps(m));
        const float am = _mm_cvtss_f32(m);
        if (!(am < INFINITY)) {
            ref::quantize_row_q8_k(x, out, detail::qk_k);
            continue;
        }
        detail::block_q8_k b;
        std::memset(&b, 0, sizeof b);
        if (am != 0) {
            float max = 0;
            const __m256 amv = _mm256_set1_ps(am);
            for (int k = 0; k < 32; ++k) {
                const int hit = _mm256_movemask_ps(_mm256_cmp_ps(_mm256_andnot_ps(sign, _mm256_loadu_ps(x + 8 * k)), amv, _CMP_EQ_OQ));
                if (hit) {
                    max = x[8 * k + __builtin_ctz((unsigned)hit)];
                    break;
                }
            }
            const float inv = -127.f / max;
            const __m256 iv = _mm256_set1_ps(inv);
            for (int g = 0; g < 8; ++g) {  // 32 quants at a time
                __m256i q[4];
                for (int k = 0; k < 4; ++k)  // a NaN converts to INT_MIN: -128 as in ai::ref
                    q[k] = _mm256_max_epi32(_mm256_cvtps_epi32(_mm256_mul_ps(_mm256_loadu_ps(x + 32 * g + 8 * k), iv)), _mm256_set1_epi32(-128));
                b.bsums[2 * g] = (int16_t)detail::x86_hsum_i32(_mm256_add_epi32(q[0], q[1]));
                b.bsums[2 * g + 1] = (int16_t)detail::x86_hsum_i32(_mm256_add_epi32(q[2], q[3]));
                const __m256i p01 = _mm256_packs_epi32(q[0], q[1]), p23 = _mm256_packs_epi32(q[2], q[3]);
                _mm256_storeu_si256(reinterpret_cast<__m256i*>(b.qs + 32 * g),
                                    _mm256_permutevar8x32_epi32(_mm256_packs_epi16(p01, p23), _mm256_setr_epi32(0, 4, 1, 5, 2, 6, 3, 7)));
            }
            b.d = 1 / inv;
        }
        std::memcpy(out, &b, sizeof b);
    }
}
#elif AI_NEON_INT8
// ---- ai::simd int8 kernels on AArch64 -----------------------------------------------------------
// The same sums as the x86 kernels above, on 128-bit NEON registers: 16 byte products per step,
// summed into int32 lanes by sdot where the target has it (Armv8.2 dotprod: -march=armv8.2-a+dotprod
// or any -mcpu that includes it), else by widening multiplies and pairwise adds (every product fits
// int16: |w| <= 127 and |a| <= 127, or |w| <= 63 for the K-quants). Integer sums are exact; the
// float work is one scale per block (32-blocks) or super-block (K-quants).
namespace detail {
inline float neon_f16_at(const void* p) {  // an f16 field of a packed block
    uint16_t h;
    std::memcpy(&h, p, 2);
    return f16_to_f32(h);
}
// acc + sums of a[i] * b[i] over groups of 4 signed bytes: 4 int32 lanes.
inline int32x4_t neon_dot(int32x4_t acc, int8x16_t a, int8x16_t b) {
#if defined(__ARM_FEATURE_DOTPROD)
    return vdotq_s32(acc, a, b);
#else
    return vpadalq_s16(vpadalq_s16(acc, vmull_s8(vget_low_s8(a), vget_low_s8(b))), vmull_high_s8(a, b));
#endif
}
// 16 bytes of nibbles: elements 0..15 (low nibbles) and 16..31 (high nibbles), as bytes 0..15.
inline void neon_nibbles(const uint8_t* qs, uint8x16_t* lo, uint8x16_t* hi) {
    const uint8x16_t v = vld1q_u8(qs);
    *lo = vandq_u8(v, vdupq_n_u8(15));
    *hi = vshrq_n_u8(v, 4);
}
// The 32 bits of a little-endian u32: bytes 0xFF where bit j is set, elements 0..15 and 16..31.
inline void neon_bits32(const uint8_t* qh, uint8x16_t* lo, uint8x16_t* hi) {
    uint32_t v;
    std::memcpy(&v, qh, 4);
    const uint8x16_t bit = vreinterpretq_u8_u64(vdupq_n_u64(0x8040201008040201ull));
    *lo = vtstq_u8(vcombine_u8(vdup_n_u8((uint8_t)v), vdup_n_u8((uint8_t)(v >> 8))), bit);
    *hi = vtstq_u8(vcombine_u8(vdup_n_u8((uint8_t)(v >> 16)), vdup_n_u8((uint8_t)(v >> 24))), bit);
}
// 32 weight integers (lo: elements 0..15, hi: 16..31) against 32 activation quants: 4 int32 lanes.
inline int32x4_t neon_dot32(int8x16_t lo, int8x16_t hi, const int8_t* qa) {
    return neon_dot(neon_dot(vdupq_n_s32(0), lo, vld1q_s8(qa)), hi, vld1q_s8(qa + 16));
}
}  // namespace detail

// 32-blocks: acc += (dw * da) * (int32 lanes of the block); UNPACK sets int8x16_t lo, hi from x.
#define AI_NEON_BLOCK_LOOP(WBLOCK, ABLOCK, UNPACK, EXTRA)                                        \
    const uint8_t* wp = static_cast<const uint8_t*>(w);                                         \
    const uint8_t* ap = static_cast<const uint8_t*>(a);                                         \
    float32x4_t acc0 = vdupq_n_f32(0), acc1 = vdupq_n_f32(0);                                   \
    float extra = 0;                                                                            \
    (void)extra;                                                                                \
    for (int64_t i = 0; i < n / detail::qk; ++i) {                                              \
        const uint8_t* x = wp + (size_t)i * sizeof(detail::WBLOCK);                             \
        const uint8_t* y = ap + (size_t)i * sizeof(detail::ABLOCK);                             \
        int8x16_t lo, hi;                                                                       \
        UNPACK;                                                                                 \
        const float d = detail::neon_f16_at(x + offsetof(detail::WBLOCK, d)) *                  \
                        detail::neon_f16_at(y + offsetof(detail::ABLOCK, d));                   \
        const float32x4_t lanes = vcvtq_f32_s32(                                                \
            detail::neon_dot32(lo, hi, reinterpret_cast<const int8_t*>(y + offsetof(detail::ABLOCK, qs)))); \
        if (i & 1) acc1 = vfmaq_n_f32(acc1, lanes, d);                                          \
        else acc0 = vfmaq_n_f32(acc0, lanes, d);                                                \
        EXTRA;                                                                                  \
    }                                                                                           \
    return vaddvq_f32(vaddq_f32(acc0, acc1)) + extra;

float simd::vec_dot_q4_0_q8_0(const void* w, const void* a, int64_t n) {
    AI_NEON_BLOCK_LOOP(block_q4_0, block_q8_0, {
        uint8x16_t l; uint8x16_t h;
        detail::neon_nibbles(x + 2, &l, &h);
        lo = vsubq_s8(vreinterpretq_s8_u8(l), vdupq_n_s8(8));
        hi = vsubq_s8(vreinterpretq_s8_u8(h), vdupq_n_s8(8));
    }, (void)0)
}
float simd::vec_dot_q4_1_q8_1(const void* w, const void* a, int64_t n) {
    AI_NEON_BLOCK_LOOP(block_q4_1, block_q8_1, {
        uint8x16_t l; uint8x16_t h;
        detail::neon_nibbles(x + 4, &l, &h);
        lo = vreinterpretq_s8_u8(l);
        hi = vreinterpretq_s8_u8(h);
    }, extra += detail::neon_f16_at(x + 2) * detail::neon_f16_at(y + 2))
}
float simd::vec_dot_q5_0_q8_0(const void* w, const void* a, int64_t n) {
    // q - 16 as a byte: the nibble, with 0xF0 or-ed in where the fifth bit is clear
    AI_NEON_BLOCK_LOOP(block_q5_0, block_q8_0, {
        uint8x16_t l; uint8x16_t h; uint8x16_t bl; uint8x16_t bh;
        detail::neon_nibbles(x + 6, &l, &h);
        detail::neon_bits32(x + 2, &bl, &bh);
        lo = vreinterpretq_s8_u8(vorrq_u8(l, vbicq_u8(vdupq_n_u8(0xF0), bl)));
        hi = vreinterpretq_s8_u8(vorrq_u8(h, vbicq_u8(vdupq_n_u8(0xF0), bh)));
    }, (void)0)
}
float simd::vec_dot_q5_1_q8_1(const void* w, const void* a, int64_t n) {
    AI_NEON_BLOCK_LOOP(block_q5_1, block_q8_1, {
        uint8x16_t l; uint8x16_t h; uint8x16_t bl; uint8x16_t bh;
        detail::neon_nibbles(x + 8, &l, &h);
        detail::neon_bits32(x + 4, &bl, &bh);
        lo = vreinterpretq_s8_u8(vorrq_u8(l, vandq_u8(bl, vdupq_n_u8(16))));
        hi = vreinterpretq_s8_u8(vorrq_u8(h, vandq_u8(bh, vdupq_n_u8(16))));
    }, extra += detail::neon_f16_at(x + 2) * detail::neon_f16_at(y + 2))
}
float simd::vec_dot_q8_0_q8_0(const void* w, const void* a, int64_t n) {
    AI_NEON_BLOCK_LOOP(block_q8_0, block_q8_0, {
        lo = vld1q_s8(reinterpret_cast<const int8_t*>(x + 2));
        hi = vld1q_s8(reinterpret_cast<const int8_t*>(x + 18));
    }, (void)0)
}
float simd::vec_dot_iq4_nl_q8_0(const void* w, const void* a, int64_t n) {
    const int8x16_t table = vld1q_s8(detail::kvalues_iq4nl);
    AI_NEON_BLOCK_LOOP(block_iq4_nl, block_q8_0, {
        uint8x16_t l; uint8x16_t h;
        detail::neon_nibbles(x + 2, &l, &h);
        lo = vqtbl1q_s8(table, l);
        hi = vqtbl1q_s8(table, h);
    }, (void)0)
}
#undef AI_NEON_BLOCK_LOOP

// K-quants: per super-block, the int32 sum over sub-blocks of scale * (q . a), scaled once by
// d * dy; the mins (Q2_K, Q4_K, Q5_K) come from Q8_K's bsums, as in ref.
namespace detail {
// The sum of a 16-element sub-block's products.
inline int neon_sub_dot(int8x16_t q, const int8_t* a) { return vaddvq_s32(neon_dot(vdupq_n_s32(0), q, vld1q_s8(a))); }
// Q2_K and Q3_K: the 2-bit field s (0..3) of 32 bytes of qs, as two 16-byte halves.
inline void neon_crumbs(const uint8_t* qs, int s, uint8x16_t* lo, uint8x16_t* hi) {
    const int8x16_t shift = vdupq_n_s8((int8_t)(-2 * s));  // a negative left shift shifts right
    *lo = vandq_u8(vshlq_u8(vld1q_u8(qs), shift), vdupq_n_u8(3));
    *hi = vandq_u8(vshlq_u8(vld1q_u8(qs + 16), shift), vdupq_n_u8(3));
}
// The sum over a row's super-blocks of block(x, dy, q8, bsums): x the weight block, dy, q8[256]
// and bsums[16] the Q8_K activation block's scale, quants and sums of 16.
template <class Block, class Body>
inline float neon_k_row(const void* w, const void* a, int64_t n, Body&& block) {
    float sum = 0;
    for (int64_t i = 0; i < n / qk_k; ++i) {
        const uint8_t* y = static_cast<const uint8_t*>(a) + (size_t)i * sizeof(block_q8_k);
        float dy;
        int16_t bsums[16];
        std::memcpy(&dy, y, 4);
        std::memcpy(bsums, y + 4 + 256, sizeof bsums);
        sum += block(static_cast<const uint8_t*>(w) + (size_t)i * sizeof(Block), dy, reinterpret_cast<const int8_t*>(y + 4), bsums);
    }
    return sum;
}
// Q4_K and Q5_K (qh == nullptr: Q4_K): one super-block, d * dy * isum - dmin * dy * msum.
inline float neon_block_k4(const uint8_t* x, const uint8_t* qs, const uint8_t* qh, float dy, const int8_t* q8, const int16_t* bsums) {
    uint8x16_t h0 = vdupq_n_u8(0), h1 = vdupq_n_u8(0);
    if (qh) h0 = vld1q_u8(qh), h1 = vld1q_u8(qh + 16);
    int isum = 0, msum = 0;
    for (int g = 0; g < 4; ++g) {
        const uint8x16_t b0 = vld1q_u8(qs + 32 * g), b1 = vld1q_u8(qs + 32 * g + 16);
        for (int half = 0; half < 2; ++half) {
            const int j = 2 * g + half;
            uint8x16_t q0 = half ? vshrq_n_u8(b0, 4) : vandq_u8(b0, vdupq_n_u8(15));
            uint8x16_t q1 = half ? vshrq_n_u8(b1, 4) : vandq_u8(b1, vdupq_n_u8(15));
            if (qh) {
                const uint8x16_t bit = vdupq_n_u8((uint8_t)(1u << j)), sixteen = vdupq_n_u8(16);
                q0 = vorrq_u8(q0, vandq_u8(vtstq_u8(h0, bit), sixteen));
                q1 = vorrq_u8(q1, vandq_u8(vtstq_u8(h1, bit), sixteen));
            }
            uint8_t sc, m;
            unpack_scale_min_k4(j, x + 4, &sc, &m);
            isum += sc * vaddvq_s32(neon_dot32(vreinterpretq_s8_u8(q0), vreinterpretq_s8_u8(q1), q8 + 32 * j));
            msum += m * (bsums[2 * j] + bsums[2 * j + 1]);
        }
    }
    return dy * neon_f16_at(x) * float(isum) - dy * neon_f16_at(x + 2) * float(msum);
}
}  // namespace detail

float simd::vec_dot_q2_k_q8_k(const void* w, const void* a, int64_t n) {
    return detail::neon_k_row<detail::block_q2_k>(w, a, n, [](const uint8_t* x, float dy, const int8_t* q8, const int16_t* bsums) {
        int isum = 0, msum = 0;
        for (int j = 0; j < 16; ++j) msum += (x[j] >> 4) * bsums[j];
        for (int h = 0; h < 2; ++h)
            for (int s = 0; s < 4; ++s) {
                uint8x16_t lo, hi;
                detail::neon_crumbs(x + 16 + 32 * h, s, &lo, &hi);
                const int j = 8 * h + 2 * s;  // sub-blocks j (l < 16) and j + 1
                isum += (x[j] & 15) * detail::neon_sub_dot(vreinterpretq_s8_u8(lo), q8 + 16 * j);
                isum += (x[j + 1] & 15) * detail::neon_sub_dot(vreinterpretq_s8_u8(hi), q8 + 16 * j + 16);
            }
        return dy * detail::neon_f16_at(x + 80) * float(isum) - dy * detail::neon_f16_at(x + 82) * float(msum);
    });
}
float simd::vec_dot_q3_k_q8_k(const void* w, const void* a, int64_t n) {
    return detail::neon_k_row<detail::block_q3_k>(w, a, n, [](const uint8_t* x, float dy, const int8_t* q8, const int16_t*) {
        const uint8x16_t hm0 = vld1q_u8(x), hm1 = vld1q_u8(x + 16);
        int8_t sc[16];
        detail::q3_k_scales(x + 96, sc);
        int isum = 0;
        for (int h = 0; h < 2; ++h)
            for (int s = 0; s < 4; ++s) {
                uint8x16_t lo, hi;
                detail::neon_crumbs(x + 32 + 32 * h, s, &lo, &hi);
                // q - 4: the low 2 bits, plus 4 where the third bit is set, minus 4
                const uint8x16_t bit = vdupq_n_u8((uint8_t)(1u << (4 * h + s))), four = vdupq_n_u8(4);
                const int8x16_t q0 = vsubq_s8(vreinterpretq_s8_u8(vorrq_u8(lo, vandq_u8(vtstq_u8(hm0, bit), four))), vdupq_n_s8(4));
                const int8x16_t q1 = vsubq_s8(vreinterpretq_s8_u8(vorrq_u8(hi, vandq_u8(vtstq_u8(hm1, bit), four))), vdupq_n_s8(4));
                const int j = 8 * h + 2 * s;
                isum += sc[j] * detail::neon_sub_dot(q0, q8 + 16 * j);
                isum += sc[j + 1] * detail::neon_sub_dot(q1, q8 + 16 * j + 16);
            }
        return dy * detail::neon_f16_at(x + 108) * float(isum);
    });
}
float simd::vec_dot_q4_k_q8_k(const void* w, const void* a, int64_t n) {
    return detail::neon_k_row<detail::block_q4_k>(w, a, n, [](const uint8_t* x, float dy, const int8_t* q8, const int16_t* bsums) {
        return detail::neon_block_k4(x, x + 16, nullptr, dy, q8, bsums);
    });
}
float simd::vec_dot_q5_k_q8_k(const void* w, const void* a, int64_t n) {
    return detail::neon_k_row<detail::block_q5_k>(w, a, n, [](const uint8_t* x, float dy, const int8_t* q8, const int16_t* bsums) {
        return detail::neon_block_k4(x, x + 48, x + 16, dy, q8, bsums);
    });
}
float simd::vec_dot_q6_k_q8_k(const void* w, const void* a, int64_t n) {
    return detail::neon_k_row<detail::block_q6_k>(w, a, n, [](const uint8_t* x, float dy, const int8_t* q8, const int16_t*) {
        const int8_t* sc = reinterpret_cast<const int8_t*>(x + 192);
        int isum = 0;
        for (int h = 0; h < 2; ++h) {
            const uint8x16_t qh0 = vld1q_u8(x + 128 + 32 * h), qh1 = vld1q_u8(x + 128 + 32 * h + 16);
            for (int k = 0; k < 4; ++k) {
                const uint8_t* ql = x + 64 * h + 32 * (k % 2);
                uint8x16_t l0 = vld1q_u8(ql), l1 = vld1q_u8(ql + 16);
                l0 = k / 2 ? vshrq_n_u8(l0, 4) : vandq_u8(l0, vdupq_n_u8(15));
                l1 = k / 2 ? vshrq_n_u8(l1, 4) : vandq_u8(l1, vdupq_n_u8(15));
                const int8x16_t shift = vdupq_n_s8((int8_t)(-2 * k));
                const uint8x16_t u0 = vorrq_u8(l0, vshlq_n_u8(vandq_u8(vshlq_u8(qh0, shift), vdupq_n_u8(3)), 4));
                const uint8x16_t u1 = vorrq_u8(l1, vshlq_n_u8(vandq_u8(vshlq_u8(qh1, shift), vdupq_n_u8(3)), 4));
                const int j = 8 * h + 2 * k;  // sub-blocks j (l < 16) and j + 1
                isum += sc[j] * detail::neon_sub_dot(vsubq_s8(vreinterpretq_s8_u8(u0), vdupq_n_s8(32)), q8 + 16 * j);
                isum += sc[j + 1] * detail::neon_sub_dot(vsubq_s8(vreinterpretq_s8_u8(u1), vdupq_n_s8(32)), q8 + 16 * j + 16);
            }
        }
        return dy * detail::neon_f16_at(x + 208) * float(isum);
    });
}
void simd::quantize_act_q8_0(const float* x, void* dst, int64_t n) { ref::quantize_act_q8_0(x, dst, n); }
void simd::quantize_act_q8_1(const float* x, void* dst, int64_t n) { ref::quantize_act_q8_1(x, dst, n); }
void simd::quantize_act_q8_k(const float* x, void* dst, int64_t n) { ref::quantize_act_q8_k(x, dst, n); }
#else   // neither: the reference code
float simd::vec_dot_q4_0_q8_0(const void* w, const void* a, int64_t n) { return ref::vec_dot_q4_0_q8_0(w, a, n); }
float simd::vec_dot_q4_1_q8_1(const void* w, const void* a, int64_t n) { return ref::vec_dot_q4_1_q8_1(w, a, n); }
float simd::vec_dot_q5_0_q8_0(const void* w, const void* a, int64_t n) { return ref::vec_dot_q5_0_q8_0(w, a, n); }
float simd::vec_dot_q5_1_q8_1(const void* w, const void* a, int64_t n) { return ref::vec_dot_q5_1_q8_1(w, a, n); }
float simd::vec_dot_q8_0_q8_0(const void* w, const void* a, int64_t n) { return ref::vec_dot_q8_0_q8_0(w, a, n); }
float simd::vec_dot_iq4_nl_q8_0(const void* w, const void* a, int64_t n) { return ref::vec_dot_iq4_nl_q8_0(w, a, n); }
float simd::vec_dot_q2_k_q8_k(const void* w, const void* a, int64_t n) { return ref::vec_dot_q2_k_q8_k(w, a, n); }
float simd::vec_dot_q3_k_q8_k(const void* w, const void* a, int64_t n) { return ref::vec_dot_q3_k_q8_k(w, a, n); }
float simd::vec_dot_q4_k_q8_k(const void* w, const void* a, int64_t n) { return ref::vec_dot_q4_k_q8_k(w, a, n); }
float simd::vec_dot_q5_k_q8_k(const void* w, const void* a, int64_t n) { return ref::vec_dot_q5_k_q8_k(w, a, n); }
float simd::vec_dot_q6_k_q8_k(const void* w, const void* a, int64_t n) { return ref::vec_dot_q6_k_q8_k(w, a, n); }
void simd::quantize_act_q8_0(const float* x, void* dst, int64_t n) { ref::quantize_act_q8_0(x, dst, n); }
void simd::quantize_act_q8_1(const float* x, void* dst, int64_t n) { ref::quantize_act_q8_1(x, dst, n); }
void simd::quantize_act_q8_k(const float* x, void* dst, int64_t n) { ref::quantize_act_q8_k(x, dst, n); }
#endif

// The row kernel per (row, token): tile kernels' stand-in where an instruction set has none.
namespace detail {
inline void mm_by_rows(vec_dot_fn dot, const void* w, size_t ws, int64_t nr, const void* a, size_t as, int64_t nt, int64_t n, float* y, int64_t ys) {
    for (int64_t t = 0; t < nt; ++t)
        for (int64_t r = 0; r < nr; ++r)
            y[t * ys + r] = dot(static_cast<const unsigned char*>(w) + (size_t)r * ws, static_cast<const unsigned char*>(a) + (size_t)t * as, n);
}

// Decode (one token) reads every weight once, from memory, and one core reads memory fastest as a
// few sequential streams far apart: the L2 streamer follows each, where R neighbouring rows read
// side by side look to it like short scattered runs. So a matrix-vector product cuts its rows into
// S contiguous parts and every tile takes one row from each part. Measured on a 1 GB Q4_0 matrix,
// alternated: 16 neighbouring rows 10.0-10.3 GB/s, 2 parts 11.2, 4 parts 14.5-15.3, 8 parts 15.7
// (a plain read of 4 streams: 14-15.5); decode, one thread: TinyLlama Q4_0 +15-20%, Q4_K_M +29%,
// 8 parts 2-5% ahead of 4 on the three model shapes.
// tile(std::integral_constant<int, R>, first row, bytes between the tile's rows, out[R]) computes
// R rows (S, or 1 for the rows left over) and prefetches each row's successor (ws bytes on, the
// same part's next row). Which rows share a tile does not change any row's result.
// How many: measured per kernel set, on the one machine each was tuned on. AVX-512 (Sapphire Rapids):
// 8. AVX2 (Zen 3, whose L2 prefetcher keeps up with fewer streams: a 1 GB read at 12 GB/s as 1-2
// streams, ~10.4 as 4-8): 4; TinyLlama decode, one thread, alternated against 8 parts: Q4_K_M
// 8.9-10.6 -> 11.1-14.8 tok/s, Q4_0 11.1-12.7 -> 12.8-14.8.
// AI_DECODE_PARTS overrides it, for tuning on another machine (any count >= 1 gives the same bits).
// Zen 1 (EPYC 7001, AVX2, one thread, a 1 GB matrix, alternated): Q4_0 1 part 4.8 GB/s, 2 5.6, 4
// 6.5 (compute-bound there: 6.6 from L2); Q8_0 8.7, 9.9, 10.4; so 4 stays.
#if defined(AI_DECODE_PARTS)
static_assert(AI_DECODE_PARTS >= 1, "AI_DECODE_PARTS: rows are read as this many streams");
constexpr int decode_part_count = AI_DECODE_PARTS;
#elif defined(__AVX512F__)
constexpr int decode_part_count = 8;
#else
constexpr int decode_part_count = 4;
#endif
// How far ahead of its reads a decode row prefetches into L2: the row's successor in its part (ws
// on), or with AVX-512 at most 768 bytes on, where one core reads fastest. Measured on the Xeon
// (Sapphire Rapids class, 8 streams, 1 GB, alternated): a sum over 8 streams reads 15.8 GB/s with
// no software prefetch, 16.4 prefetching 2 KiB on and 16.6-17.0 at 512-1024 bytes on; the Q8_0
// decode kernel over a 1 GB matrix 16.2-16.5 GB/s with its successor row (2176 bytes on) against
// 16.8-17.0 at 768 (15.8 -> 16.3 for 5632-column rows, 12 KB on); TinyLlama Q8_0 decode, one
// thread, 5 rounds: 13.57 -> 13.85 tok/s. Zen 3 (AVX2) was tuned with the successor row and keeps it.
#if defined(__AVX512F__)
constexpr size_t decode_prefetch_max = 768;
#else
constexpr size_t decode_prefetch_max = ~size_t(0);
#endif
inline size_t decode_prefetch_ahead(size_t ws) { return ws < decode_prefetch_max ? ws : decode_prefetch_max; }

template <int S = decode_part_count, class Tile>
inline void decode_parts(const unsigned char* w, size_t ws, int64_t nr, float* y, Tile&& tile) {
    const int64_t per = nr / S;
    float out[S];
    for (int64_t k = 0; k < per; ++k) {
        tile(std::integral_constant<int, S>(), w + (size_t)k * ws, (size_t)per * ws, out);
        for (int s = 0; s < S; ++s) y[s * per + k] = out[s];
    }
    for (int64_t r = per * S; r < nr; ++r) tile(std::integral_constant<int, 1>(), w + (size_t)r * ws, ws, y + r);
}
}  // namespace detail

// ---- ai::simd tile kernels: many weight rows x many tokens per pass ------------------------------
// simd::mm_<w>_<a>(w, w_stride, nr, a, a_stride, nt, n, y, y_stride):
//   y[t * y_stride + r] = sum over k < n of W[r][k] * A[t][k]    for r < nr, t < nt
// W: nr rows of the weight type, w_stride bytes apart; A: nt rows of the activation blocks
// (q8_0 or q8_1, as vec_dot pairs them), a_stride bytes apart; n a multiple of 32.
//
// A tile of R rows x T tokens runs over n in groups of 32-blocks (four with AVX-512, two with
// AVX2), so every unpacked weight group serves T tokens and every activation group R rows. A group
// sits in two registers, each holding one 16-byte half of each block (128-bit lane k = block k,
// the first halves in `lo`, the second in `hi`): after the two int8 dots of a (row, token), the
// int32 lanes of 128-bit lane k all belong to block k, so one convert and one FMA scale the group. Weight bytes are
// made unsigned (Q4/Q5 levels as stored, Q8_0 and IQ4_NL plus 128); the bias times the sum of the
// activations comes back through the dot's initial value, computed once per token and group and
// shared by the tile's rows.
//
// Determinism: every output element goes through the same operations in the same order whatever
// nr, nt, the tile shape and its place in a tile (a last group of fewer than four blocks goes
// through a zero-padded copy, chosen by n alone), so results do not depend on how the runtime
// splits rows among threads or tokens into batches, and nt == 1 gives what nt > 1 gives.
#if AI_X86_INT8
#if defined(__GNUC__) && !defined(__clang__)
#pragma GCC diagnostic push
#pragma GCC diagnostic ignored "-Wuninitialized"
#pragma GCC diagnostic ignored "-Wmaybe-uninitialized"
#endif
namespace detail {

// The weight formats: block size, field offsets, how the quants become unsigned bytes, and the
// bias those bytes carry (the activation sum times it is subtracted).
enum class x86_mm_quants { nibbles, nibbles5, bytes, iq4nl };
template <int Size, int D, int M, int Qs, int Qh, x86_mm_quants Kind, int Bias, int ActSize>
struct x86_mm_format {
    static constexpr int size = Size, d = D, m = M, qs = Qs, qh = Qh, bias = Bias, act_size = ActSize;
    static constexpr x86_mm_quants kind = Kind;
    static constexpr bool has_min = M >= 0;
};
using x86_mm_q4_0 = x86_mm_format<18, 0, -1, 2, -1, x86_mm_quants::nibbles, 8, 34>;
using x86_mm_q4_1 = x86_mm_format<20, 0, 2, 4, -1, x86_mm_quants::nibbles, 0, 36>;
using x86_mm_q5_0 = x86_mm_format<22, 0, -1, 6, 2, x86_mm_quants::nibbles5, 16, 34>;
using x86_mm_q5_1 = x86_mm_format<24, 0, 2, 8, 4, x86_mm_quants::nibbles5, 0, 36>;
using x86_mm_q8_0 = x86_mm_format<34, 0, -1, 2, -1, x86_mm_quants::bytes, 128, 34>;
using x86_mm_iq4_nl = x86_mm_format<18, 0, -1, 2, -1, x86_mm_quants::iq4nl, 128, 34>;

#if defined(__AVX512F__) && defined(__AVX512BW__) && defined(__AVX512VNNI__)
// AVX-512: groups of four blocks. Each register of a group is gathered by one word permute
// (vpermt2w) from two 64-byte loads of the group's bytes.
// Where a 4-block group keeps the 16-bit words one gather collects: `len` bytes (16: a half of
// the quants; 2: an f16 field, repeated in the 4 lanes of its block) at byte `off` of each block.
// Two 64-byte loads at a and b cover them (b == a when 64 bytes suffice), both inside the group.
template <int Size, int Off, int Len> struct x86_mm_span {
    static constexpr int first = Off, last = 3 * Size + Off + Len;
    static constexpr int a = first, b = last - 64 > first ? last - 64 : first;
    static_assert(a + 64 <= 4 * Size && b + 64 <= 4 * Size && b >= 0, "gather reads outside the group");
    static_assert((Off & 1) == 0 && (Size & 1) == 0, "word gathers");
    static __m512i index() {  // for _mm512_permutex2var_epi16(load(a), index, load(b))
        alignas(64) uint16_t idx[32];
        for (int i = 0; i < 32; ++i) {
            const int o = Len == 16 ? (i / 8) * Size + Off + 2 * (i % 8) : (i / 4 % 4) * Size + Off;
            idx[i] = uint16_t(o + 2 <= a + 64 ? (o - a) / 2 : 32 + (o - b) / 2);
        }
        return _mm512_load_si512(idx);
    }
    // Bytes [0, k) of a 64-byte load (a mask for maskz_loadu: the rest read as zeros, never touched).
    static __mmask64 first_bytes(int k) { return k <= 0 ? 0 : k >= 64 ? ~(__mmask64)0 : ((__mmask64)1 << k) - 1; }
    // Part: only the group's first `bytes` bytes exist (a row's last blocks); the others read as
    // zeros, which gives the registers a zero-padded copy of the group would.
    template <bool Part = false> static __m512i gather(const unsigned char* g, __m512i idx, int bytes = 0) {
        if constexpr (Part)
            return _mm512_permutex2var_epi16(_mm512_maskz_loadu_epi8(first_bytes(bytes - a), g + a), idx,
                                             _mm512_maskz_loadu_epi8(first_bytes(bytes - b), g + b));
        (void)bytes;
        return _mm512_permutex2var_epi16(_mm512_loadu_si512(g + a), idx, _mm512_loadu_si512(g + b));
    }
    template <bool Part = false> static __m512 gather_f16(const unsigned char* g, __m512i idx, int bytes = 0) {  // 16 floats, block k in lanes 4k..4k+3
        return _mm512_cvtph_ps(_mm512_castsi512_si256(gather<Part>(g, idx, bytes)));
    }
};

template <class F> struct x86_mm_isa {
    static constexpr int group = 4;  // blocks per group
    using vec = __m512;
    static vec zero() { return _mm512_setzero_ps(); }
    static float reduce(vec v) { return _mm512_reduce_add_ps(v); }
    using w_lo = x86_mm_span<F::size, F::qs, 16>;  // nibbles: all 16 bytes; bytes: the first half
    using w_hi = x86_mm_span<F::size, F::qs + 16, 16>;
    using w_d = x86_mm_span<F::size, F::d, 2>;
    using w_m = x86_mm_span<F::size, (F::m >= 0 ? F::m : F::d), 2>;
    static constexpr int a_qs = F::act_size == 36 ? 4 : 2;
    using a_lo = x86_mm_span<F::act_size, a_qs, 16>;
    using a_hi = x86_mm_span<F::act_size, a_qs + 16, 16>;
    using a_d = x86_mm_span<F::act_size, 0, 2>;
    using a_s = x86_mm_span<F::act_size, 2, 2>;

    struct consts {
        __m512i w_lo_idx, w_hi_idx, w_d_idx, w_m_idx, a_lo_idx, a_hi_idx, a_d_idx, a_s_idx, table;
    };
    static consts make_consts() {
        consts c;
        c.w_lo_idx = w_lo::index();
        c.w_hi_idx = c.w_lo_idx;
        if constexpr (F::kind == x86_mm_quants::bytes) c.w_hi_idx = w_hi::index();
        c.w_d_idx = w_d::index();
        c.w_m_idx = w_m::index();
        c.a_lo_idx = a_lo::index();
        c.a_hi_idx = a_hi::index();
        c.a_d_idx = a_d::index();
        c.a_s_idx = a_s::index();
        // IQ4_NL levels + 128 as unsigned bytes, in every 128-bit lane
        c.table = _mm512_xor_si512(_mm512_broadcast_i32x4(_mm_loadu_si128(reinterpret_cast<const __m128i*>(kvalues_iq4nl))),
                                   _mm512_set1_epi8((char)0x80));
        return c;
    }

    struct weights { __m512i lo, hi; __m512 d, m; };
    struct acts { __m512i lo, hi, init; __m512 d, s; };

    // A row's last group of fewer than four blocks is read with masked loads (load_weights<true>
    // and load_acts<true> with the blocks there are): the registers a zero-padded copy of the
    // group gives, without the copy (SmolLM2's 576 columns end in one such group per row).
    static constexpr bool partial_groups = true;
    template <bool Part = false> static weights load_weights(const unsigned char* g, const consts& c, int blocks = 4) {
        weights r;
        const int bytes = blocks * F::size;
        const __m512i low4 = _mm512_set1_epi8(15);
        if constexpr (F::kind == x86_mm_quants::bytes) {
            r.lo = _mm512_xor_si512(w_lo::template gather<Part>(g, c.w_lo_idx, bytes), _mm512_set1_epi8((char)0x80));
            r.hi = _mm512_xor_si512(w_hi::template gather<Part>(g, c.w_hi_idx, bytes), _mm512_set1_epi8((char)0x80));
        } else {
            const __m512i q = w_lo::template gather<Part>(g, c.w_lo_idx, bytes);
            r.lo = _mm512_and_si512(q, low4);
            r.hi = _mm512_and_si512(_mm512_srli_epi16(q, 4), low4);
            if constexpr (F::kind == x86_mm_quants::iq4nl) {
                r.lo = _mm512_shuffle_epi8(c.table, r.lo);
                r.hi = _mm512_shuffle_epi8(c.table, r.hi);
            }
            if constexpr (F::kind == x86_mm_quants::nibbles5) {
                // fifth bits: bits 0..15 of each block's qh belong to lo, 16..31 to hi
                uint32_t h[4] = {0, 0, 0, 0};
                for (int k = 0; k < (Part ? blocks : 4); ++k) std::memcpy(&h[k], g + k * F::size + F::qh, 4);
                const uint64_t mlo = (uint64_t)(h[0] & 0xFFFF) | (uint64_t)(h[1] & 0xFFFF) << 16 |
                                     (uint64_t)(h[2] & 0xFFFF) << 32 | (uint64_t)(h[3] & 0xFFFF) << 48;
                const uint64_t mhi = (uint64_t)(h[0] >> 16) | (uint64_t)(h[1] >> 16) << 16 |
                                     (uint64_t)(h[2] >> 16) << 32 | (uint64_t)(h[3] >> 16) << 48;
                const __m512i sixteen = _mm512_set1_epi8(16);
                r.lo = _mm512_mask_add_epi8(r.lo, (__mmask64)mlo, r.lo, sixteen);
                r.hi = _mm512_mask_add_epi8(r.hi, (__mmask64)mhi, r.hi, sixteen);
            }
        }
        r.d = w_d::template gather_f16<Part>(g, c.w_d_idx, bytes);
        r.m = F::has_min ? w_m::template gather_f16<Part>(g, c.w_m_idx, bytes) : _mm512_setzero_ps();
        return r;
    }
    template <bool Part = false> static acts load_acts(const unsigned char* g, const consts& c, int blocks = 4) {
        acts r;
        const int bytes = blocks * F::act_size;
        r.lo = a_lo::template gather<Part>(g, c.a_lo_idx, bytes);
        r.hi = a_hi::template gather<Part>(g, c.a_hi_idx, bytes);
        r.d = a_d::template gather_f16<Part>(g, c.a_d_idx, bytes);
        const __m512i zero = _mm512_setzero_si512();
        if constexpr (F::bias != 0) {
            const __m512i b = _mm512_set1_epi8((char)F::bias);
            r.init = _mm512_sub_epi32(zero, _mm512_dpbusd_epi32(_mm512_dpbusd_epi32(zero, b, r.lo), b, r.hi));
        } else {
            r.init = zero;
        }
        // Q8_1's s = d * sum(q) once per block (lane 4k), for the weights' offset m
        r.s = F::has_min ? _mm512_cvtph_ps(_mm512_castsi512_si256(
                               _mm512_maskz_permutex2var_epi16(0x1111, _mm512_maskz_loadu_epi8(a_s::first_bytes(Part ? bytes - a_s::a : 64), g + a_s::a),
                                                               c.a_s_idx, _mm512_maskz_loadu_epi8(a_s::first_bytes(Part ? bytes - a_s::b : 64), g + a_s::b))))
                         : _mm512_setzero_ps();
        return r;
    }
    static constexpr int rows = 6, tokens = 4;
    static void step(__m512& acc, const weights& w, const acts& a) {
        __m512i i = _mm512_dpbusd_epi32(a.init, w.lo, a.lo);
        i = _mm512_dpbusd_epi32(i, w.hi, a.hi);
        acc = _mm512_fmadd_ps(_mm512_cvtepi32_ps(i), _mm512_mul_ps(w.d, a.d), acc);
        if constexpr (F::has_min) acc = _mm512_fmadd_ps(w.m, a.s, acc);
    }
};
#else

// AVX2: groups of two blocks in 256-bit registers. Without VNNI the dots are maddubs + madd:
// Q4/Q5 levels (<= 31) times activations stay far from int16 saturation even summed over both
// halves with the bias term, while Q8_0 / IQ4_NL use signed levels and the abs/sign trick.
#if (defined(__AVX512VNNI__) && defined(__AVX512VL__)) || defined(__AVXVNNI__)
#define AI_X86_MM_VNNI256 1
#else
#define AI_X86_MM_VNNI256 0
#endif
inline __m256i x86_dpbusd256(__m256i acc, __m256i u, __m256i s) {
#if defined(__AVX512VNNI__) && defined(__AVX512VL__)
    return _mm256_dpbusd_epi32(acc, u, s);
#elif defined(__AVXVNNI__)
    return _mm256_dpbusd_avx_epi32(acc, u, s);
#else
    return _mm256_add_epi32(acc, _mm256_madd_epi16(_mm256_maddubs_epi16(u, s), _mm256_set1_epi16(1)));
#endif
}
// Two 16-byte pieces (blocks 0 and 1 of the group) as one register.
inline __m256i x86_pair(const unsigned char* p0, const unsigned char* p1) {
    return _mm256_inserti128_si256(_mm256_castsi128_si256(_mm_loadu_si128(reinterpret_cast<const __m128i*>(p0))),
                                   _mm_loadu_si128(reinterpret_cast<const __m128i*>(p1)), 1);
}
// The f16 at p0 in lanes 0..3, the one at p1 in 4..7: both halves placed by one shuffle and
// converted together (two scalar conversions and their broadcasts cost about twice the uops, per
// row and group of the decode tile).
inline __m256 x86_f16_pair(const unsigned char* p0, const unsigned char* p1) {
    uint16_t h0, h1;
    std::memcpy(&h0, p0, 2);
    std::memcpy(&h1, p1, 2);
    const __m128i h = _mm_cvtsi32_si128((int)(h0 | (uint32_t)h1 << 16));
    return _mm256_cvtph_ps(_mm_shuffle_epi8(h, _mm_setr_epi8(0, 1, 0, 1, 0, 1, 0, 1, 2, 3, 2, 3, 2, 3, 2, 3)));
}

template <class F> struct x86_mm_isa {
    static constexpr int group = 2;
    using vec = __m256;
    static vec zero() { return _mm256_setzero_ps(); }
    static float reduce(vec v) { return x86_hsum(v); }
    static constexpr bool signed_levels = !AI_X86_MM_VNNI256 && (F::kind == x86_mm_quants::bytes || F::kind == x86_mm_quants::iq4nl);
    static constexpr int a_qs = F::act_size == 36 ? 4 : 2;

    struct consts { __m256i table; };
    static consts make_consts() {
        consts c;
        const __m256i t = _mm256_broadcastsi128_si256(_mm_loadu_si128(reinterpret_cast<const __m128i*>(kvalues_iq4nl)));
        c.table = signed_levels ? t : _mm256_xor_si256(t, _mm256_set1_epi8((char)0x80));
        return c;
    }
    // lo, hi: levels (unsigned, biased; or signed with their absolute values in abs_lo, abs_hi)
    struct weights { __m256i lo, hi, abs_lo, abs_hi; __m256 d, m; };
    struct acts { __m256i lo, hi, init; __m256 d, s; };
    static constexpr bool partial_groups = false;  // a row's last odd block goes through a zero-padded copy

    static weights load_weights(const unsigned char* g, const consts& c) {
        weights r;
        const unsigned char* b1 = g + F::size;
        if constexpr (F::kind == x86_mm_quants::bytes) {
            r.lo = x86_pair(g + F::qs, b1 + F::qs);
            r.hi = x86_pair(g + F::qs + 16, b1 + F::qs + 16);
            if constexpr (!signed_levels) {
                r.lo = _mm256_xor_si256(r.lo, _mm256_set1_epi8((char)0x80));
                r.hi = _mm256_xor_si256(r.hi, _mm256_set1_epi8((char)0x80));
            }
        } else {
            const __m256i low4 = _mm256_set1_epi8(15);
            const __m256i q = x86_pair(g + F::qs, b1 + F::qs);
            r.lo = _mm256_and_si256(q, low4);
            r.hi = _mm256_and_si256(_mm256_srli_epi16(q, 4), low4);
            if constexpr (F::kind == x86_mm_quants::iq4nl) {
                r.lo = _mm256_shuffle_epi8(c.table, r.lo);
                r.hi = _mm256_shuffle_epi8(c.table, r.hi);
            }
            if constexpr (F::kind == x86_mm_quants::nibbles5) {
                // fifth bits: bits 0..15 of each block's qh go with lo, 16..31 with hi
                uint32_t h0, h1;
                std::memcpy(&h0, g + F::qh, 4);
                std::memcpy(&h1, b1 + F::qh, 4);
                const uint32_t mlo = (h0 & 0xFFFF) | h1 << 16, mhi = h0 >> 16 | (h1 & 0xFFFF0000u);
                const __m256i sixteen = _mm256_set1_epi8(16);
                r.lo = _mm256_or_si256(r.lo, _mm256_and_si256(x86_bits32(reinterpret_cast<const uint8_t*>(&mlo)), sixteen));
                r.hi = _mm256_or_si256(r.hi, _mm256_and_si256(x86_bits32(reinterpret_cast<const uint8_t*>(&mhi)), sixteen));
            }
        }
        if constexpr (signed_levels) {
            r.abs_lo = _mm256_sign_epi8(r.lo, r.lo);
            r.abs_hi = _mm256_sign_epi8(r.hi, r.hi);
        }
        r.d = x86_f16_pair(g + F::d, b1 + F::d);
        if constexpr (F::has_min) r.m = x86_f16_pair(g + F::m, b1 + F::m);
        return r;
    }
    static acts load_acts(const unsigned char* g, const consts&) {
        acts r;
        const unsigned char* b1 = g + F::act_size;
        r.lo = x86_pair(g + a_qs, b1 + a_qs);
        r.hi = x86_pair(g + a_qs + 16, b1 + a_qs + 16);
        r.d = x86_f16_pair(g, b1);
        r.init = _mm256_setzero_si256();
        if constexpr (F::bias != 0 && !signed_levels) {
            const __m256i b = _mm256_set1_epi8((char)F::bias);
#if AI_X86_MM_VNNI256
            r.init = _mm256_sub_epi32(r.init, x86_dpbusd256(x86_dpbusd256(r.init, b, r.lo), b, r.hi));
#else
            // int16 pairs: bias (<= 16) * sums of 4 activations, at most 8192 in size
            r.init = _mm256_sub_epi16(r.init, _mm256_add_epi16(_mm256_maddubs_epi16(b, r.lo), _mm256_maddubs_epi16(b, r.hi)));
#endif
        }
        if constexpr (F::has_min) r.s = _mm256_setr_ps(x86_f16_at(g + 2), 0, 0, 0, x86_f16_at(b1 + 2), 0, 0, 0);
        return r;
    }
    static void step(__m256& acc, const weights& w, const acts& a) {
        __m256i i;
        if constexpr (signed_levels) {
            const __m256i one = _mm256_set1_epi16(1);
            i = _mm256_add_epi32(_mm256_madd_epi16(_mm256_maddubs_epi16(w.abs_lo, _mm256_sign_epi8(a.lo, w.lo)), one),
                                 _mm256_madd_epi16(_mm256_maddubs_epi16(w.abs_hi, _mm256_sign_epi8(a.hi, w.hi)), one));
        } else {
#if AI_X86_MM_VNNI256
            i = x86_dpbusd256(x86_dpbusd256(a.init, w.lo, a.lo), w.hi, a.hi);
#else
            // |level * a| summed over 4 bytes <= 31 * 128 * 4, plus the bias term: fits int16
            const __m256i p = _mm256_add_epi16(_mm256_add_epi16(_mm256_maddubs_epi16(w.lo, a.lo), _mm256_maddubs_epi16(w.hi, a.hi)), a.init);
            i = _mm256_madd_epi16(p, _mm256_set1_epi16(1));
#endif
        }
        acc = _mm256_fmadd_ps(_mm256_cvtepi32_ps(i), _mm256_mul_ps(w.d, a.d), acc);
        if constexpr (F::has_min) acc = _mm256_fmadd_ps(w.m, a.s, acc);
    }
    static constexpr int rows = 4, tokens = 3;
};
#endif  // the AVX-512 / AVX2 tile formats

// ---- AVX2 batches: weight rows in the lanes -------------------------------------------------------
// Without VNNI an int8 dot is pmaddubsw (byte pairs to int16) then pmaddwd (to int32), and the tile
// above gives each (row, token) pair its own register: per 64 products two pmaddubsw, a pmaddwd, a
// convert, a multiply and an FMA, all on the two pipes that also do the FMAs on a Zen 3. A batch of
// x86_rowlane_min_tokens tokens or more goes another way: a strip of 8 rows is transposed so that
// 32-bit lane r of a register holds 4 consecutive levels of row r (8 registers per 32-block, one per
// 4 columns), and a token's 4 activation bytes are broadcast to all lanes: one pmaddubsw makes 4
// products for each of 8 rows, int16 sums collect a whole block, and the convert and the scales are
// paid once per 256 products. Two strips share each broadcast (16 rows), four tokens each weight
// register. Measured on Zen 3 (192 rows x 2048 x 128 tokens, Q4_0, alternated with the tile above in
// a throwaway harness): 2.1-2.3x; 1.5x at 64 rows x 17 tokens.
// The transposed strip lives on the stack (x86_rowlane_strip, ~20 KiB) and is rebuilt for every
// chunk of 32 blocks; every token of the call passes over it while it sits in L1.
//
// Arithmetic (Q4_0): the levels s = q - 8 (-8..7) are pmaddubsw's signed operand, the activations
// plus 128 (0..255, an xor) its unsigned one; an int16 lane sums 16 products, |sum| <= 16 * 255 * 8 =
// 32640, exact. The +128 comes back as 128 * sum(s) per row and block, kept with the strip. Then
//     acc = fma(float(dot), d_w * d_a, acc)
// per (row, token), blocks in order, carried across chunks through y (stored and reloaded: exact),
// as the AMX kernels do. Each output depends on n alone, not on nr, the rows' grouping, nt or the
// token tiles; it can differ in the last bits from the one-token kernel above (another float order).
// Q5_0 (most of the bytes of Qwen2.5-0.5B's Q4_K_M file, whose 896 columns are not a multiple of
// 256) goes the same way with levels q - 16, its int16 sums widened every 4 columns instead of 8:
// 2.4-2.8x the tile kernel in the harness, Qwen2.5-0.5B Q4_K_M pp128 on one thread 91 -> 173 tok/s.
// Q4_1 and Q5_1 carry a minimum per block: their levels q (0..15, 0..31) are pmaddubsw's unsigned
// operand against the q8_1 activations as they are (no offset), and each block adds m_w * s_a.
// IQ4_NL's table values are signed bytes and go the Q8_0 way. SmolLM2-135M-Instruct (Q4_1) on one
// thread, three alternated pairs: pp128 177-227 -> 376-389 tok/s, pp512 171-179 -> 340-376.
#define AI_X86_ROWLANES 1
constexpr int64_t x86_rowlane_min_tokens = 16;

// Eight registers as an 8 x 8 matrix of 32-bit elements, transposed in place: lane k of r[i] becomes
// lane i of r[k].
inline void x86_transpose8x32(__m256i r[8]) {
    __m256i t[8], u[8];
    for (int i = 0; i < 8; i += 2) {  // t[i]: lanes (i,0) (i+1,0) (i,1) (i+1,1) | (i,4) (i+1,4) (i,5) (i+1,5)
        t[i] = _mm256_unpacklo_epi32(r[i], r[i + 1]);
        t[i + 1] = _mm256_unpackhi_epi32(r[i], r[i + 1]);
    }
    for (int i = 0; i < 8; i += 4) {  // u[i + j]: column j (low half) and j + 4 (high half) of rows i..i+3
        u[i] = _mm256_unpacklo_epi64(t[i], t[i + 2]);
        u[i + 1] = _mm256_unpackhi_epi64(t[i], t[i + 2]);
        u[i + 2] = _mm256_unpacklo_epi64(t[i + 1], t[i + 3]);
        u[i + 3] = _mm256_unpackhi_epi64(t[i + 1], t[i + 3]);
    }
    for (int j = 0; j < 4; ++j) {
        r[j] = _mm256_permute2x128_si256(u[j], u[j + 4], 0x20);
        r[j + 4] = _mm256_permute2x128_si256(u[j], u[j + 4], 0x31);
    }
}

// G groups of 8 rows, `chunk` blocks of 32, transposed (see above).
template <int G, int Chunk = 32> struct x86_rowlane_strip {
    static constexpr int chunk = Chunk;
    alignas(32) int8_t levels[chunk][8][G][32];  // [block][columns 4j..4j+3][group][row r: bytes 4r..4r+3]
    alignas(32) float d[chunk][G][8];            // the rows' block scales
    alignas(32) int32_t offset[chunk][G][8];     // 128 * the sum of the block's levels, per row
    alignas(32) float m[chunk][G][8];            // the rows' block minimums (Q4_1, Q5_1)
};

// C columns of 4 levels (G registers each, `col` bytes apart from one column to the next) against
// T tokens' activation bytes (4 per column from act, `act_stride` bytes apart from token to token):
// sum[t][g] = the int16 sums of the C pmaddubsw. The caller keeps C small enough for int16.
// pmaddubsw's unsigned operand is the activation (plus 128), or with WeightsUnsigned the levels.
template <int G, int T, int C, bool WeightsUnsigned = false>
inline void x86_rowlane_sum16(const int8_t* levels, size_t col, const unsigned char* act, size_t act_stride, __m256i (*sum)[G]) {
#pragma GCC unroll 8
    for (int c = 0; c < C; ++c) {
        __m256i wc[G];
#pragma GCC unroll 4
        for (int g = 0; g < G; ++g) {
            wc[g] = _mm256_load_si256(reinterpret_cast<const __m256i*>(levels + c * col + 32 * g));
#if defined(__GNUC__)
            __asm__("" : "+x"(wc[g]));  // one load per column, kept in a register for all T tokens
#endif
        }
#pragma GCC unroll 8
        for (int t = 0; t < T; ++t) {
            int32_t v;
            std::memcpy(&v, act + t * act_stride + 4 * c, 4);
            const __m256i av = _mm256_set1_epi32(v);
#pragma GCC unroll 4
            for (int g = 0; g < G; ++g) {
                const __m256i m = WeightsUnsigned ? _mm256_maddubs_epi16(wc[g], av) : _mm256_maddubs_epi16(av, wc[g]);
                sum[t][g] = c == 0 ? m : _mm256_add_epi16(sum[t][g], m);
#if defined(__GNUC__)
                __asm__("" : "+x"(sum[t][g]));  // a running sum per register (GCC otherwise builds trees and spills)
#endif
            }
        }
    }
}

// Rows [0, rows) of a 32-block format (rows <= 8 * G; the rest read as zeros; BlockBytes per block,
// its f16 scale first), blocks [b0, b0 + nbc), into s: levels(block) gives a block's 32 levels as
// bytes; with Offset, 128 * their sum per row goes with them; MinAt >= 0: the f16 minimum there.
template <int G, size_t BlockBytes, bool Offset, int MinAt, class Levels, int Chunk>
inline void x86_rowlane_pack32(const unsigned char* w, size_t ws, int rows, int64_t b0, int nbc, x86_rowlane_strip<G, Chunk>& s, Levels levels) {
    const __m256i ones8 = _mm256_set1_epi8(1), ones16 = _mm256_set1_epi16(1);
    for (int b = 0; b < nbc; ++b)
        for (int g = 0; g < G; ++g) {
            __m256i x[8];
            alignas(16) uint16_t d16[8], m16[8];
            for (int r = 0; r < 8; ++r) {
                if (8 * g + r >= rows) {
                    x[r] = _mm256_setzero_si256();
                    d16[r] = m16[r] = 0;
                    continue;
                }
                const unsigned char* p = w + (size_t)(8 * g + r) * ws + (size_t)(b0 + b) * BlockBytes;
                x[r] = levels(p);
                std::memcpy(&d16[r], p, 2);
                if constexpr (MinAt >= 0) std::memcpy(&m16[r], p + MinAt, 2);
            }
            x86_transpose8x32(x);
            __m256i sum16 = _mm256_setzero_si256();
            for (int j = 0; j < 8; ++j) {
                _mm256_store_si256(reinterpret_cast<__m256i*>(s.levels[b][j][g]), x[j]);
                if constexpr (Offset) sum16 = _mm256_add_epi16(sum16, _mm256_maddubs_epi16(ones8, x[j]));
            }
            if constexpr (Offset) _mm256_store_si256(reinterpret_cast<__m256i*>(s.offset[b][g]), _mm256_slli_epi32(_mm256_madd_epi16(sum16, ones16), 7));
            _mm256_store_ps(s.d[b][g], _mm256_cvtph_ps(_mm_load_si128(reinterpret_cast<const __m128i*>(d16))));
            if constexpr (MinAt >= 0) _mm256_store_ps(s.m[b][g], _mm256_cvtph_ps(_mm_load_si128(reinterpret_cast<const __m128i*>(m16))));
        }
}
// A block's 32 levels as bytes, for x86_rowlane_pack32 (nibbles as stored: low = elements 0..15,
// high = 16..31). Q4_0: q - 8.
struct x86_rowlane_levels_q4_0 {
    __m256i operator()(const unsigned char* p) const {
        return _mm256_sub_epi8(x86_nibbles32(p + 2), _mm256_set1_epi8(8));
    }
};
// Q5_0: q - 16 (-16..15), the fifth bits from qh (bit j: element j).
struct x86_rowlane_levels_q5_0 {
    __m256i operator()(const unsigned char* p) const {
        const __m256i lev = _mm256_or_si256(x86_nibbles32(p + 6), _mm256_and_si256(x86_bits32(p + 2), _mm256_set1_epi8(16)));
        return _mm256_sub_epi8(lev, _mm256_set1_epi8(16));
    }
};
// Q4_1: q as stored (0..15), after the scale and the minimum.
struct x86_rowlane_levels_q4_1 {
    __m256i operator()(const unsigned char* p) const {
        return x86_nibbles32(p + 4);
    }
};
// Q5_1: q as stored (0..31), the fifth bits from qh.
struct x86_rowlane_levels_q5_1 {
    __m256i operator()(const unsigned char* p) const {
        return _mm256_or_si256(x86_nibbles32(p + 8), _mm256_and_si256(x86_bits32(p + 4), _mm256_set1_epi8(16)));
    }
};
// IQ4_NL: the table's values (-127..113) for the nibbles; signed bytes like Q8_0's.
struct x86_rowlane_levels_iq4_nl {
    __m256i operator()(const unsigned char* p) const {
        const __m256i table = _mm256_broadcastsi128_si256(_mm_loadu_si128(reinterpret_cast<const __m128i*>(kvalues_iq4nl)));
        return _mm256_shuffle_epi8(table, x86_nibbles32(p + 2));
    }
};

// One 32-block of the strip (levels: its [8][G][32]) against T tokens' 32 activation bytes (act,
// act_stride apart): dot[t][g] = the int32 dots of rows 8g..8g+7, the int16 sums taken to int32
// every Cols columns.
template <int G, int T, int Cols, bool WeightsUnsigned>
inline void x86_rowlane_block_dot(const int8_t* levels, const unsigned char* act, size_t act_stride, __m256i (*dot)[G]) {
    const __m256i ones16 = _mm256_set1_epi16(1);
#pragma GCC unroll 2
    for (int c0 = 0; c0 < 8; c0 += Cols) {
        __m256i sum[T][G];
        x86_rowlane_sum16<G, T, Cols, WeightsUnsigned>(levels + 32 * G * c0, 32 * G, act + 4 * c0, act_stride, sum);
#pragma GCC unroll 8
        for (int t = 0; t < T; ++t)
#pragma GCC unroll 4
            for (int g = 0; g < G; ++g) {
                const __m256i p = _mm256_madd_epi16(sum[t][g], ones16);
                dot[t][g] = c0 == 0 ? p : _mm256_add_epi32(dot[t][g], p);
            }
    }
}

// T tokens (q8_0 rows as apart) over the strip's nbc blocks starting at block b0; acc[t][g] carries
// rows 8g..8g+7 of token t. The activations are staged first: plus 128, and their scales. Cols:
// columns per int16 sum (a column adds 2 products to each int16 lane), |sum| <= 2 * Cols * 255 *
// max |level| = 32640 with 8 for Q4_0 (levels -8..7) and 4 for Q5_0 (-16..15); then to int32.
template <int G, int T, int Cols>
inline void x86_rowlane_tokens_offset(const x86_rowlane_strip<G>& s, int nbc, int64_t b0, const unsigned char* a, size_t as, __m256 (*acc)[G]) {
    constexpr int chunk = x86_rowlane_strip<G>::chunk;
    alignas(32) unsigned char act[T][chunk][32];
    uint16_t act_d[T][chunk];
    const __m256i x80 = _mm256_set1_epi8((char)0x80);
    for (int t = 0; t < T; ++t)
        for (int b = 0; b < nbc; ++b) {
            const unsigned char* p = a + (size_t)t * as + (size_t)(b0 + b) * 34;
            _mm256_store_si256(reinterpret_cast<__m256i*>(act[t][b]), _mm256_xor_si256(x86_load(p + 2), x80));
            std::memcpy(&act_d[t][b], p, 2);
        }
    for (int b = 0; b < nbc; ++b) {
        __m256i dot[T][G];
        x86_rowlane_block_dot<G, T, Cols, false>(&s.levels[b][0][0][0], act[0][b], sizeof(act[0]), dot);
#pragma GCC unroll 8
        for (int t = 0; t < T; ++t) {
            const __m256 da = _mm256_cvtph_ps(_mm_set1_epi16((short)act_d[t][b]));
#pragma GCC unroll 4
            for (int g = 0; g < G; ++g) {
                const __m256i exact = _mm256_sub_epi32(dot[t][g], _mm256_load_si256(reinterpret_cast<const __m256i*>(s.offset[b][g])));
                acc[t][g] = _mm256_fmadd_ps(_mm256_cvtepi32_ps(exact), _mm256_mul_ps(_mm256_load_ps(s.d[b][g]), da), acc[t][g]);
            }
        }
    }
}

// Q4_1, Q5_1: unsigned levels q against the q8_1 activations as they are (36-byte blocks: d, s =
// d * sum of the levels, 32 bytes), so no offset: each block adds
//     acc = fma(float(dot), d_w * d_a, acc);  acc = fma(m_w, s_a, acc)
// Cols as x86_rowlane_tokens_offset: 2 * Cols * max q * 128 <= 32767 (8 for Q4_1, 4 for Q5_1).
template <int G, int T, int Cols>
inline void x86_rowlane_tokens_min(const x86_rowlane_strip<G>& s, int nbc, int64_t b0, const unsigned char* a, size_t as, __m256 (*acc)[G]) {
    for (int b = 0; b < nbc; ++b) {
        const unsigned char* ab = a + (size_t)(b0 + b) * 36;
        __m256i dot[T][G];
        x86_rowlane_block_dot<G, T, Cols, true>(&s.levels[b][0][0][0], ab + 4, as, dot);
#pragma GCC unroll 8
        for (int t = 0; t < T; ++t) {
            uint16_t h[2];
            std::memcpy(h, ab + (size_t)t * as, 4);
            const __m256 da = _mm256_cvtph_ps(_mm_set1_epi16((short)h[0])), sa = _mm256_cvtph_ps(_mm_set1_epi16((short)h[1]));
#pragma GCC unroll 4
            for (int g = 0; g < G; ++g) {
                const __m256 x = _mm256_fmadd_ps(_mm256_cvtepi32_ps(dot[t][g]), _mm256_mul_ps(_mm256_load_ps(s.d[b][g]), da), acc[t][g]);
                acc[t][g] = _mm256_fmadd_ps(_mm256_load_ps(s.m[b][g]), sa, x);
            }
        }
    }
}

// T tokens' accumulators for rows [0, rows) of y (8 per group; lanes past `rows` neither read nor written).
template <int G, int T> struct x86_rowlane_acc {
    __m256 v[T][G];
    static __m256i mask(int rows_in_group) { return _mm256_cmpgt_epi32(_mm256_set1_epi32(rows_in_group), _mm256_setr_epi32(0, 1, 2, 3, 4, 5, 6, 7)); }
    void load(const float* y, int64_t ys, int rows, bool zero) {
        for (int g = 0; g < G; ++g) {
            const int rg = rows - 8 * g;
            for (int t = 0; t < T; ++t)
                v[t][g] = zero || rg <= 0 ? _mm256_setzero_ps() : rg >= 8 ? _mm256_loadu_ps(y + t * ys + 8 * g) : _mm256_maskload_ps(y + t * ys + 8 * g, mask(rg));
        }
    }
    void store(float* y, int64_t ys, int rows) const {
        for (int g = 0; g < G; ++g) {
            const int rg = rows - 8 * g;
            for (int t = 0; t < T && rg > 0; ++t) {
                if (rg >= 8) _mm256_storeu_ps(y + t * ys + 8 * g, v[t][g]);
                else _mm256_maskstore_ps(y + t * ys + 8 * g, mask(rg), v[t][g]);
            }
        }
    }
};

// Q8_0 (levels -128..127): the levels as they are, no offset (see x86_rowlane_tokens_q8_0).
struct x86_rowlane_levels_q8_0 {
    __m256i operator()(const unsigned char* p) const { return x86_load(p + 2); }
};

// Q8_0 and IQ4_NL: both operands signed, so pmaddubsw takes |w| and the activation with w's sign (a pair of
// products reaches 2 * 128 * 127, so every pmaddubsw goes to int32 at once); no offset.
template <int G, int T>
inline void x86_rowlane_tokens_q8_0(const x86_rowlane_strip<G>& s, int nbc, int64_t b0, const unsigned char* a, size_t as, __m256 (*acc)[G]) {
    const __m256i ones16 = _mm256_set1_epi16(1);
    for (int b = 0; b < nbc; ++b) {
        __m256i dot[T][G];
#pragma GCC unroll 8
        for (int j = 0; j < 8; ++j) {
            __m256i wj[G], wabs[G];
#pragma GCC unroll 4
            for (int g = 0; g < G; ++g) {
                wj[g] = _mm256_load_si256(reinterpret_cast<const __m256i*>(s.levels[b][j][g]));
                wabs[g] = _mm256_abs_epi8(wj[g]);
            }
#pragma GCC unroll 8
            for (int t = 0; t < T; ++t) {
                int32_t v;
                std::memcpy(&v, a + (size_t)t * as + (size_t)(b0 + b) * 34 + 2 + 4 * j, 4);
                const __m256i av = _mm256_set1_epi32(v);
#pragma GCC unroll 4
                for (int g = 0; g < G; ++g) {
                    const __m256i p = _mm256_madd_epi16(_mm256_maddubs_epi16(wabs[g], _mm256_sign_epi8(av, wj[g])), ones16);
                    dot[t][g] = j == 0 ? p : _mm256_add_epi32(dot[t][g], p);
#if defined(__GNUC__)
                    __asm__("" : "+x"(dot[t][g]));
#endif
                }
            }
        }
#pragma GCC unroll 8
        for (int t = 0; t < T; ++t) {
            uint16_t h;
            std::memcpy(&h, a + (size_t)t * as + (size_t)(b0 + b) * 34, 2);
            const __m256 da = _mm256_cvtph_ps(_mm_set1_epi16((short)h));
#pragma GCC unroll 4
            for (int g = 0; g < G; ++g)
                acc[t][g] = _mm256_fmadd_ps(_mm256_cvtepi32_ps(dot[t][g]), _mm256_mul_ps(_mm256_load_ps(s.d[b][g]), da), acc[t][g]);
        }
    }
}

// The formats: strip type, pack and token functions, rows (8 * groups) and tokens per tile.
// Signed levels against activations + 128 (Q4_0, Q5_0): BlockBytes per block, Levels as above,
// Cols as x86_rowlane_tokens_offset.
template <size_t BlockBytes, class Levels, int Cols>
struct x86_rowlane_offset_format {
    static constexpr int groups = 2, tokens = 4, block_elems = 32;
    using strip = x86_rowlane_strip<groups>;
    static void pack(const unsigned char* w, size_t ws, int rows, int64_t b0, int nb, strip& s) {
        x86_rowlane_pack32<groups, BlockBytes, true, -1>(w, ws, rows, b0, nb, s, Levels());
    }
    template <int T> static void run(const strip& s, int nb, int64_t b0, const unsigned char* a, size_t as, __m256 (*acc)[groups]) {
        x86_rowlane_tokens_offset<groups, T, Cols>(s, nb, b0, a, as, acc);
    }
};
using x86_rowlane_q4_0 = x86_rowlane_offset_format<18, x86_rowlane_levels_q4_0, 8>;
using x86_rowlane_q5_0 = x86_rowlane_offset_format<22, x86_rowlane_levels_q5_0, 4>;
// Unsigned levels and a minimum (Q4_1, Q5_1): BlockBytes per block (d, m, ...), q8_1 activations.
template <size_t BlockBytes, class Levels, int Cols>
struct x86_rowlane_min_format {
    static constexpr int groups = 2, tokens = 4, block_elems = 32;
    using strip = x86_rowlane_strip<groups>;
    static void pack(const unsigned char* w, size_t ws, int rows, int64_t b0, int nb, strip& s) {
        x86_rowlane_pack32<groups, BlockBytes, false, 2>(w, ws, rows, b0, nb, s, Levels());
    }
    template <int T> static void run(const strip& s, int nb, int64_t b0, const unsigned char* a, size_t as, __m256 (*acc)[groups]) {
        x86_rowlane_tokens_min<groups, T, Cols>(s, nb, b0, a, as, acc);
    }
};
using x86_rowlane_q4_1 = x86_rowlane_min_format<20, x86_rowlane_levels_q4_1, 8>;
using x86_rowlane_q5_1 = x86_rowlane_min_format<24, x86_rowlane_levels_q5_1, 4>;
// Signed levels against signed activations (Q8_0, IQ4_NL): 18 or 34 bytes per block, q8_0 activations.
template <size_t BlockBytes, class Levels>
struct x86_rowlane_signed_format {
    static constexpr int groups = 2, tokens = 3, block_elems = 32;
    using strip = x86_rowlane_strip<groups>;
    static void pack(const unsigned char* w, size_t ws, int rows, int64_t b0, int nb, strip& s) {
        x86_rowlane_pack32<groups, BlockBytes, false, -1>(w, ws, rows, b0, nb, s, Levels());
    }
    template <int T> static void run(const strip& s, int nb, int64_t b0, const unsigned char* a, size_t as, __m256 (*acc)[groups]) {
        x86_rowlane_tokens_q8_0<groups, T>(s, nb, b0, a, as, acc);
    }
};
using x86_rowlane_q8_0 = x86_rowlane_signed_format<34, x86_rowlane_levels_q8_0>;
using x86_rowlane_iq4_nl = x86_rowlane_signed_format<18, x86_rowlane_levels_iq4_nl>;

// Strips of 8 * F::groups rows, chunk by chunk of blocks; tiles of F::tokens tokens (then one at a
// time), each output's accumulator carried across chunks through y.
template <class F>
inline void x86_rowlane_mm(const void* wv, size_t ws, int64_t nr, const void* av, size_t as, int64_t nt, int64_t n, float* y, int64_t ys) {
    constexpr int G = F::groups, T = F::tokens, chunk = F::strip::chunk;
    const unsigned char* w = static_cast<const unsigned char*>(wv);
    const unsigned char* a = static_cast<const unsigned char*>(av);
    const int64_t nb = n / F::block_elems;
    typename F::strip s;
    for (int64_t r = 0; r < nr; r += 8 * G) {
        const int rows = (int)std::min<int64_t>(8 * G, nr - r);
        for (int64_t b0 = 0; b0 < nb; b0 += chunk) {
            const int nbc = (int)std::min<int64_t>(chunk, nb - b0);
            F::pack(w + (size_t)r * ws, ws, rows, b0, nbc, s);
            int64_t t = 0;
            for (; t + T <= nt; t += T) {
                x86_rowlane_acc<G, T> acc;
                acc.load(y + t * ys + r, ys, rows, b0 == 0);
                F::template run<T>(s, nbc, b0, a + (size_t)t * as, as, acc.v);
                acc.store(y + t * ys + r, ys, rows);
            }
            for (; t < nt; ++t) {
                x86_rowlane_acc<G, 1> acc;
                acc.load(y + t * ys + r, ys, rows, b0 == 0);
                F::template run<1>(s, nbc, b0, a + (size_t)t * as, as, acc.v);
                acc.store(y + t * ys + r, ys, rows);
            }
        }
    }
}
#if defined(__AVX512F__) && defined(__AVX512BW__) && defined(__AVX512VNNI__)
// ---- AVX-512 VNNI batches: weight rows in the lanes ----------------------------------------------
// Without AMX, the AVX-512 tile above pays per 128 products two vpdpbusd and then a convert, a
// multiply and an FMA over the 16 lanes of one (row, token) pair, plus the word permutes that gather
// its groups: TinyLlama Q4_0 prefill ran at about a quarter of the VNNI peak on a Xeon without AMX,
// barely ahead of llama.cpp. A batch of x86_rowlane_min_tokens tokens or more goes the AVX2 batches'
// way on the same strips instead: two 8-row groups side by side are the 16 lanes of one register
// (lane r: 4 consecutive levels of row r), a token's 4 activation bytes are broadcast to all lanes,
// one vpdpbusd adds 4 products to each of 16 rows, 8 of them make a whole block's dot, and one
// convert, multiply and FMA scale 16 outputs at once. Arithmetic as in the AVX2 batches: exact int32
// dots, acc = fma(float(dot), d_w * d_a, acc) block by block, carried across chunks through y, so
// each output depends on n alone (and may differ in the last bits from the one-token tile above).
// Offset formats (Q4_0, Q5_0, Q8_0, IQ4_NL): vpdpbusd's unsigned operand is the activation plus 128,
// its signed one the levels, and a dot starts at -128 * the sum of the block's levels. Q4_1, Q5_1:
// the levels (0..31) are the unsigned operand and the q8_1 activations, as they are, the signed one.
constexpr int x512_rowlane_chunk = 16;  // blocks per strip pass: ~22 KiB of stack with 32 rows
template <int H> using x512_rowlane_strip = x86_rowlane_strip<2 * H, x512_rowlane_chunk>;

// T tokens' accumulators for rows [0, rows) of y, 16 per half (lanes past `rows` neither read nor written).
template <int H, int T> struct x512_rowlane_acc {
    __m512 v[T][H];
    static __mmask16 mask(int rows_in_half) {
        return rows_in_half >= 16 ? (__mmask16)0xFFFF : rows_in_half <= 0 ? (__mmask16)0 : (__mmask16)((1u << rows_in_half) - 1);
    }
    void load(const float* y, int64_t ys, int rows, bool zero) {
        for (int h = 0; h < H; ++h)
            for (int t = 0; t < T; ++t) v[t][h] = zero ? _mm512_setzero_ps() : _mm512_maskz_loadu_ps(mask(rows - 16 * h), y + t * ys + 16 * h);
    }
    void store(float* y, int64_t ys, int rows) const {
        for (int h = 0; h < H; ++h)
            for (int t = 0; t < T; ++t) _mm512_mask_storeu_ps(y + t * ys + 16 * h, mask(rows - 16 * h), v[t][h]);
    }
};

// Where a token's 32-element block b is in its activation row and its scale d (s: q8_0 has none).
struct x512_acts_q8_0 {
    static const unsigned char* qs(const unsigned char* a, int64_t b) { return a + (size_t)b * 34 + 2; }
    static void scales(const unsigned char* a, int64_t b, float& d, float& s) {
        d = x86_f16_at(a + (size_t)b * 34);
        s = 0.0f;
    }
};

// Offset formats: T tokens (rows of Acts' blocks, `as` apart) over the strip's nbc blocks from
// block b0; acc[t][h] carries rows 16h..16h+15 of token t. The activations are staged first: plus
// 128, and their scales as floats. A block's columns are Parts parts of 8 / Parts columns, each
// with its own offset and scale per row (Q6_K: two sub-blocks of 16, s.offset[b][u], s.d[b][u];
// one part: s.offset[b], s.d[b]).
template <int H, int T, int Parts, class Acts, class Strip>
inline void x512_rowlane_tokens_offset(const Strip& s, int nbc, int64_t b0, const unsigned char* a, size_t as, __m512 (*acc)[H]) {
    constexpr int chunk = x512_rowlane_chunk, cols = 8 / Parts;
    alignas(64) unsigned char act[T][chunk][32];
    alignas(64) float act_d[T][chunk];
    const __m256i x80 = _mm256_set1_epi8((char)0x80);
    for (int t = 0; t < T; ++t)
        for (int b = 0; b < nbc; ++b) {
            _mm256_store_si256(reinterpret_cast<__m256i*>(act[t][b]), _mm256_xor_si256(x86_load(Acts::qs(a + (size_t)t * as, b0 + b)), x80));
            float unused;
            Acts::scales(a + (size_t)t * as, b0 + b, act_d[t][b], unused);
        }
    for (int b = 0; b < nbc; ++b)
        for (int u = 0; u < Parts; ++u) {
            const auto& offset = [&]() -> decltype(auto) { if constexpr (Parts == 1) return (s.offset[b]); else return (s.offset[b][u]); }();
            const auto& d = [&]() -> decltype(auto) { if constexpr (Parts == 1) return (s.d[b]); else return (s.d[b][u]); }();
            __m512i dot[T][H];
#pragma GCC unroll 4
            for (int h = 0; h < H; ++h) {
                const __m512i start = _mm512_sub_epi32(_mm512_setzero_si512(), _mm512_loadu_si512(offset[2 * h]));
#pragma GCC unroll 8
                for (int t = 0; t < T; ++t) dot[t][h] = start;
            }
#pragma GCC unroll 8
            for (int j = cols * u; j < cols * u + cols; ++j) {
                __m512i wj[H];
#pragma GCC unroll 4
                for (int h = 0; h < H; ++h) wj[h] = _mm512_loadu_si512(s.levels[b][j][2 * h]);
#pragma GCC unroll 8
                for (int t = 0; t < T; ++t) {
                    int32_t v;
                    std::memcpy(&v, act[t][b] + 4 * j, 4);
                    const __m512i av = _mm512_set1_epi32(v);
#pragma GCC unroll 4
                    for (int h = 0; h < H; ++h) dot[t][h] = _mm512_dpbusd_epi32(dot[t][h], av, wj[h]);
                }
            }
#pragma GCC unroll 8
            for (int t = 0; t < T; ++t) {
                const __m512 da = _mm512_set1_ps(act_d[t][b]);
#pragma GCC unroll 4
                for (int h = 0; h < H; ++h)
                    acc[t][h] = _mm512_fmadd_ps(_mm512_cvtepi32_ps(dot[t][h]), _mm512_mul_ps(_mm512_loadu_ps(d[2 * h]), da), acc[t][h]);
            }
        }
}

// Where a token's 32-element block b is in its activation row, its scale d and its s (d times the
// sum of its 32 quants): q8_1 keeps s in the block (as f16).
struct x512_acts_q8_1 {
    static const unsigned char* qs(const unsigned char* a, int64_t b) { return a + (size_t)b * 36 + 4; }
    static void scales(const unsigned char* a, int64_t b, float& d, float& s) {
        d = x86_f16_at(a + (size_t)b * 36);
        s = x86_f16_at(a + (size_t)b * 36 + 2);
    }
};

// Q4_1, Q5_1 (and, with x512_acts_q8_k, the sub-blocks of Q4_K and Q5_K): unsigned levels against the
// activations as they are; each block adds acc = fma(float(dot), d_w * d_a, acc), then fma(m_w, s_a, acc).
template <int H, int T, class Acts = x512_acts_q8_1>
inline void x512_rowlane_tokens_min(const x512_rowlane_strip<H>& s, int nbc, int64_t b0, const unsigned char* a, size_t as, __m512 (*acc)[H]) {
    for (int b = 0; b < nbc; ++b) {
        const unsigned char* ab = Acts::qs(a, b0 + b);
        __m512i dot[T][H];
#pragma GCC unroll 8
        for (int t = 0; t < T; ++t)
#pragma GCC unroll 4
            for (int h = 0; h < H; ++h) dot[t][h] = _mm512_setzero_si512();
#pragma GCC unroll 8
        for (int j = 0; j < 8; ++j) {
            __m512i wj[H];
#pragma GCC unroll 4
            for (int h = 0; h < H; ++h) wj[h] = _mm512_loadu_si512(s.levels[b][j][2 * h]);
#pragma GCC unroll 8
            for (int t = 0; t < T; ++t) {
                int32_t v;
                std::memcpy(&v, ab + (size_t)t * as + 4 * j, 4);
                const __m512i av = _mm512_set1_epi32(v);
#pragma GCC unroll 4
                for (int h = 0; h < H; ++h) dot[t][h] = _mm512_dpbusd_epi32(dot[t][h], wj[h], av);
            }
        }
#pragma GCC unroll 8
        for (int t = 0; t < T; ++t) {
            float dd, ss;
            Acts::scales(a + (size_t)t * as, b0 + b, dd, ss);
            const __m512 da = _mm512_set1_ps(dd), sa = _mm512_set1_ps(ss);
#pragma GCC unroll 4
            for (int h = 0; h < H; ++h) {
                const __m512 x = _mm512_fmadd_ps(_mm512_cvtepi32_ps(dot[t][h]), _mm512_mul_ps(_mm512_loadu_ps(s.d[b][2 * h]), da), acc[t][h]);
                acc[t][h] = _mm512_fmadd_ps(_mm512_loadu_ps(s.m[b][2 * h]), sa, x);
            }
        }
    }
}

// The formats: strip (32 rows), packing and the token pass.
template <size_t BlockBytes, class Levels, bool Min> struct x512_rowlane_format {
    static constexpr int halves = 2, tokens = 4;
    static size_t byte_of(int64_t b) { return (size_t)b * BlockBytes; }  // where block b starts in a row
    using strip = x512_rowlane_strip<halves>;
    static void pack(const unsigned char* w, size_t ws, int rows, int64_t b0, int nb, strip& s) {
        x86_rowlane_pack32<2 * halves, BlockBytes, !Min, Min ? 2 : -1>(w, ws, rows, b0, nb, s, Levels());
    }
    template <int T> static void run(const strip& s, int nb, int64_t b0, const unsigned char* a, size_t as, __m512 (*acc)[halves]) {
        if constexpr (Min) x512_rowlane_tokens_min<halves, T>(s, nb, b0, a, as, acc);
        else x512_rowlane_tokens_offset<halves, T, 1, x512_acts_q8_0>(s, nb, b0, a, as, acc);
    }
};
using x512_rowlane_q4_0 = x512_rowlane_format<18, x86_rowlane_levels_q4_0, false>;
using x512_rowlane_q5_0 = x512_rowlane_format<22, x86_rowlane_levels_q5_0, false>;
using x512_rowlane_q8_0 = x512_rowlane_format<34, x86_rowlane_levels_q8_0, false>;
using x512_rowlane_iq4_nl = x512_rowlane_format<18, x86_rowlane_levels_iq4_nl, false>;
using x512_rowlane_q4_1 = x512_rowlane_format<20, x86_rowlane_levels_q4_1, true>;
using x512_rowlane_q5_1 = x512_rowlane_format<24, x86_rowlane_levels_q5_1, true>;

// Strips of 32 rows, chunk by chunk of blocks; tiles of F::tokens tokens (then one at a time).
template <class F>
inline void x512_rowlane_mm(const void* wv, size_t ws, int64_t nr, const void* av, size_t as, int64_t nt, int64_t n, float* y, int64_t ys) {
    constexpr int H = F::halves, T = F::tokens, chunk = x512_rowlane_chunk;
    const unsigned char* w = static_cast<const unsigned char*>(wv);
    const unsigned char* a = static_cast<const unsigned char*>(av);
    const int64_t nb = n / 32;
    typename F::strip s;
    for (int64_t r = 0; r < nr; r += 16 * H) {
        const int rows = (int)std::min<int64_t>(16 * H, nr - r);
        for (int64_t b0 = 0; b0 < nb; b0 += chunk) {
            const int nbc = (int)std::min<int64_t>(chunk, nb - b0);
            F::pack(w + (size_t)r * ws, ws, rows, b0, nbc, s);
            // The next pack's bytes into L2 while the tokens pass: 32 rows far apart are more
            // streams than the hardware prefetcher follows (without this, half the pack's time
            // went to waiting for the weights from memory).
            const int64_t rn = b0 + chunk < nb ? r : r + 16 * H, bn = b0 + chunk < nb ? b0 + chunk : 0;
            if (rn < nr) {
                const int rows_n = (int)std::min<int64_t>(16 * H, nr - rn);
                const size_t bytes = F::byte_of(std::min<int64_t>(bn + chunk, nb)) - F::byte_of(bn);
                for (int i = 0; i < rows_n; ++i) {
                    const char* p = reinterpret_cast<const char*>(w + (size_t)(rn + i) * ws + F::byte_of(bn));
                    for (size_t o = 0; o < bytes; o += 64) _mm_prefetch(p + o, _MM_HINT_T1);
                }
            }
            int64_t t = 0;
            for (; t + T <= nt; t += T) {
                x512_rowlane_acc<H, T> acc;
                acc.load(y + t * ys + r, ys, rows, b0 == 0);
                F::template run<T>(s, nbc, b0, a + (size_t)t * as, as, acc.v);
                acc.store(y + t * ys + r, ys, rows);
            }
            for (; t < nt; ++t) {
                x512_rowlane_acc<H, 1> acc;
                acc.load(y + t * ys + r, ys, rows, b0 == 0);
                F::template run<1>(s, nbc, b0, a + (size_t)t * as, as, acc.v);
                acc.store(y + t * ys + r, ys, rows);
            }
        }
    }
}
#endif

// The tile loops, shared by both instruction sets (K: x86_mm_isa<format>).
template <class F, class K> struct x86_mm_driver {
    using vec = typename K::vec;
    // Rows ws bytes apart; each row prefetches the bytes `ahead` on from where it reads (batches:
    // the next tile's rows, R * ws; decode: decode_prefetch_ahead, toward the row's successor).
    template <int R, int T>
    static void tile(const unsigned char* w, size_t ws, size_t ahead, const unsigned char* a, size_t as, int64_t n, float* y, int64_t ys,
                     const typename K::consts& c) {
        constexpr size_t wg = (size_t)K::group * F::size, ag = (size_t)K::group * F::act_size;
        vec acc[R][T];
#pragma GCC unroll 16
        for (int r = 0; r < R; ++r)
#pragma GCC unroll 16
            for (int t = 0; t < T; ++t) acc[r][t] = K::zero();
        const int64_t nb = n / qk, ng = nb / K::group;
        for (int64_t g = 0; g < ng; ++g) {
            typename K::acts at[T];
#pragma GCC unroll 16
            for (int t = 0; t < T; ++t) at[t] = K::load_acts(a + t * as + g * ag, c);
#pragma GCC unroll 16
            for (int r = 0; r < R; ++r) {
                const unsigned char* x = w + r * ws + g * wg;
                // Decode into L2 only (measured ~10% faster on TinyLlama Q4_0 than into L1, where 16
                // row streams crowd the fill buffers); batches into L1, where the tile reuses them.
                for (size_t o = 0; o < wg; o += 64)
                    _mm_prefetch(reinterpret_cast<const char*>(x + ahead + o), T == 1 ? _MM_HINT_T1 : _MM_HINT_T0);
                const typename K::weights wt = K::load_weights(x, c);
#pragma GCC unroll 16
                for (int t = 0; t < T; ++t) K::step(acc[r][t], wt, at[t]);
            }
        }
        if (const int64_t rest = nb % K::group) {  // the last blocks, zero-padded to a group
            typename K::acts at[T];
            if constexpr (K::partial_groups) {  // masked loads instead of the copy (same registers)
#pragma GCC unroll 16
                for (int t = 0; t < T; ++t) at[t] = K::template load_acts<true>(a + t * as + ng * ag, c, (int)rest);
#pragma GCC unroll 16
                for (int r = 0; r < R; ++r) {
                    const typename K::weights wt = K::template load_weights<true>(w + r * ws + ng * wg, c, (int)rest);
#pragma GCC unroll 16
                    for (int t = 0; t < T; ++t) K::step(acc[r][t], wt, at[t]);
                }
            } else {
                alignas(64) unsigned char buf[ag > wg ? ag : wg];
                for (int t = 0; t < T; ++t) {
                    std::memset(buf, 0, sizeof(buf));
                    std::memcpy(buf, a + t * as + ng * ag, (size_t)rest * F::act_size);
                    at[t] = K::load_acts(buf, c);
                }
                for (int r = 0; r < R; ++r) {
                    std::memset(buf, 0, sizeof(buf));
                    std::memcpy(buf, w + r * ws + ng * wg, (size_t)rest * F::size);
                    const typename K::weights wt = K::load_weights(buf, c);
                    for (int t = 0; t < T; ++t) K::step(acc[r][t], wt, at[t]);
                }
            }
        }
#pragma GCC unroll 16
        for (int r = 0; r < R; ++r)
#pragma GCC unroll 16
            for (int t = 0; t < T; ++t) y[t * ys + r] = K::reduce(acc[r][t]);
    }
    // A tile of up to R x T (rr x tt) chosen at run time.
    template <int R, int T>
    static void any_tile(int rr, int tt, const unsigned char* w, size_t ws, const unsigned char* a, size_t as, int64_t n, float* y,
                         int64_t ys, const typename K::consts& c) {
        if constexpr (R > 1) if (rr < R) return any_tile<R - 1, T>(rr, tt, w, ws, a, as, n, y, ys, c);
        if constexpr (T > 1) if (tt < T) return any_tile<R, T - 1>(rr, tt, w, ws, a, as, n, y, ys, c);
        tile<R, T>(w, ws, (size_t)R * ws, a, as, n, y, ys, c);
    }
    // Decode (one token) goes one row from each of decode_part_count parts at a time (decode_parts);
    // batches in tiles of K::rows x K::tokens, rows outermost so a tile's weights stay in L1 while
    // the batch's activations come from L2.
    static void mm(const void* wv, size_t ws, int64_t nr, const void* av, size_t as, int64_t nt, int64_t n, float* y, int64_t ys) {
        const unsigned char* w = static_cast<const unsigned char*>(wv);
        const unsigned char* a = static_cast<const unsigned char*>(av);
        const typename K::consts c = K::make_consts();
        constexpr int tr = K::rows, tt = K::tokens;
        if (nt == 1) {
            decode_parts(w, ws, nr, y, [&](auto rows, const unsigned char* wr, size_t rs, float* out) {
                tile<decltype(rows)::value, 1>(wr, rs, decode_prefetch_ahead(ws), a, as, n, out, 1, c);
            });
            return;
        }
        for (int64_t r = 0; r < nr; r += tr)
            for (int64_t t = 0; t < nt; t += tt)
                any_tile<tr, tt>((int)std::min<int64_t>(tr, nr - r), (int)std::min<int64_t>(tt, nt - t), w + r * ws, ws, a + t * as, as,
                                 n, y + t * ys + r, ys, c);
    }
};
template <class F>
inline void x86_mm(const void* w, size_t ws, int64_t nr, const void* a, size_t as, int64_t nt, int64_t n, float* y, int64_t ys) {
#if defined(__AVX512F__) && defined(__AVX512BW__) && defined(__AVX512VNNI__)
    if (nt >= x86_rowlane_min_tokens) {
        if constexpr (std::is_same<F, x86_mm_q4_0>::value) return x512_rowlane_mm<x512_rowlane_q4_0>(w, ws, nr, a, as, nt, n, y, ys);
        if constexpr (std::is_same<F, x86_mm_q5_0>::value) return x512_rowlane_mm<x512_rowlane_q5_0>(w, ws, nr, a, as, nt, n, y, ys);
        if constexpr (std::is_same<F, x86_mm_q8_0>::value) return x512_rowlane_mm<x512_rowlane_q8_0>(w, ws, nr, a, as, nt, n, y, ys);
        if constexpr (std::is_same<F, x86_mm_q4_1>::value) return x512_rowlane_mm<x512_rowlane_q4_1>(w, ws, nr, a, as, nt, n, y, ys);
        if constexpr (std::is_same<F, x86_mm_q5_1>::value) return x512_rowlane_mm<x512_rowlane_q5_1>(w, ws, nr, a, as, nt, n, y, ys);
        if constexpr (std::is_same<F, x86_mm_iq4_nl>::value) return x512_rowlane_mm<x512_rowlane_iq4_nl>(w, ws, nr, a, as, nt, n, y, ys);
    }
#elif defined(AI_X86_ROWLANES)
    if constexpr (std::is_same<F, x86_mm_q4_0>::value)
        if (nt >= x86_rowlane_min_tokens) return x86_rowlane_mm<x86_rowlane_q4_0>(w, ws, nr, a, as, nt, n, y, ys);
    if constexpr (std::is_same<F, x86_mm_q5_0>::value)
        if (nt >= x86_rowlane_min_tokens) return x86_rowlane_mm<x86_rowlane_q5_0>(w, ws, nr, a, as, nt, n, y, ys);
    if constexpr (std::is_same<F, x86_mm_q8_0>::value)
        if (nt >= x86_rowlane_min_tokens) return x86_rowlane_mm<x86_rowlane_q8_0>(w, ws, nr, a, as, nt, n, y, ys);
    if constexpr (std::is_same<F, x86_mm_q4_1>::value)
        if (nt >= x86_rowlane_min_tokens) return x86_rowlane_mm<x86_rowlane_q4_1>(w, ws, nr, a, as, nt, n, y, ys);
    if constexpr (std::is_same<F, x86_mm_q5_1>::value)
        if (nt >= x86_rowlane_min_tokens) return x86_rowlane_mm<x86_rowlane_q5_1>(w, ws, nr, a, as, nt, n, y, ys);
    if constexpr (std::is_same<F, x86_mm_iq4_nl>::value)
        if (nt >= x86_rowlane_min_tokens) return x86_rowlane_mm<x86_rowlane_iq4_nl>(w, ws, nr, a, as, nt, n, y, ys);
#endif
    x86_mm_driver<F, x86_mm_isa<F>>::mm(w, ws, nr, a, as, nt, n, y, ys);
}

// ---- AMX-INT8 tile kernels (Sapphire Rapids and later) -------------------------------------------
// One TDPBSSD multiplies a tile of 16 tokens x 32 activation bytes (one block of each token, read
// in place from the quantized rows, a_stride apart) by 32 weight bytes of 16 rows, giving the 16 x 16
// exact int32 block dots in one instruction (the AVX-512 tile above needs 64 vpdpbusd for them).
// Each block's scales are applied in float as it completes:
//     acc[t][r] = fma(float(dot[t][r]), d_w[r] * d_a[t], acc[t][r])   (+ fma(m_w[r], s_a[t], ...))
// block by block in order, so every output gets the same bits however rows and tokens are split,
// as long as each call has at least amx_min_tokens tokens (fewer go through the AVX-512 kernel:
// packing the weights costs the same for one token as for a hundred).
// A strip of 16 weight rows is unpacked per chunk of blocks into signed levels in the B tiles'
// layout (4 consecutive bytes of a row, the 16 rows side by side), once for all the call's tokens.
// The OS must grant the tile state first (Linux: arch_prctl, done when the kernel set is chosen).
#if defined(__AVX512F__) && defined(__AVX512BW__) && defined(__AVX512VNNI__) && defined(__x86_64__) && defined(__linux__) && \
    ((defined(__clang__) && __clang_major__ >= 12) || (!defined(__clang__) && defined(__GNUC__) && __GNUC__ >= 11))
#define AI_X86_AMX 1
#define AI_AMX_FN __attribute__((target("amx-tile,amx-int8")))
constexpr int64_t amx_min_tokens = 16;
struct alignas(64) amx_config {  // ldtilecfg's 64-byte operand (palette 1)
    uint8_t palette, start_row, reserved[14];
    uint16_t colsb[16];
    uint8_t rows[16];
};
// A 16 x 16 matrix of 32-bit values in 16 registers, transposed in place.
inline void amx_transpose16(__m512i r[16]) {
    __m512i t[16];
    for (int i = 0; i < 16; i += 2) {
        t[i] = _mm512_unpacklo_epi32(r[i], r[i + 1]);
        t[i + 1] = _mm512_unpackhi_epi32(r[i], r[i + 1]);
    }
    for (int i = 0; i < 16; i += 4) {
        r[i] = _mm512_unpacklo_epi64(t[i], t[i + 2]);
        r[i + 1] = _mm512_unpackhi_epi64(t[i], t[i + 2]);
        r[i + 2] = _mm512_unpacklo_epi64(t[i + 1], t[i + 3]);
        r[i + 3] = _mm512_unpackhi_epi64(t[i + 1], t[i + 3]);
    }
    // r[4q + j], 128-bit lane L: rows 4q..4q+3 of column 4L + j; two lane shuffles gather the columns
    for (int i = 0; i < 4; ++i) {
        t[i] = _mm512_shuffle_i32x4(r[i], r[i + 4], 0x88);
        t[i + 4] = _mm512_shuffle_i32x4(r[i], r[i + 4], 0xDD);
        t[i + 8] = _mm512_shuffle_i32x4(r[i + 8], r[i + 12], 0x88);
        t[i + 12] = _mm512_shuffle_i32x4(r[i + 8], r[i + 12], 0xDD);
    }
    for (int i = 0; i < 4; ++i) {
        r[i] = _mm512_shuffle_i32x4(t[i], t[i + 8], 0x88);
        r[i + 4] = _mm512_shuffle_i32x4(t[i + 4], t[i + 12], 0x88);
        r[i + 8] = _mm512_shuffle_i32x4(t[i], t[i + 8], 0xDD);
        r[i + 12] = _mm512_shuffle_i32x4(t[i + 4], t[i + 12], 0xDD);
    }
}

// The 32-block formats (Q4_0 ... IQ4_NL): weights through x86_mm_isa's unpacking, activations
// q8_0 / q8_1 (d, and q8_1's s = d * sum(q) for the weights' offset m).
template <class F> struct amx_qk32 {
    using K = x86_mm_isa<F>;
    using consts = typename K::consts;
    static constexpr int sub = 32, chunk = 8;  // elements per tile product, blocks per chunk
    static constexpr size_t block_bytes = F::size;  // weight bytes per block of `sub` elements
    static constexpr bool has_min = F::has_min;
    static consts make_consts() { return K::make_consts(); }
    static size_t a_off(int64_t b) { return (size_t)b * F::act_size + (F::act_size == 36 ? 4 : 2); }
    static void vnni(const void* w, size_t ws, int64_t nr, const void* a, size_t as, int64_t nt, int64_t n, float* y, int64_t ys) {
        x86_mm<F>(w, ws, nr, a, as, nt, n, y, ys);
    }
    // The scales of blocks [b0, b0 + nbc) of one token's row `at` (an f16 in each gathered dword's
    // low half; measured faster than eight plain loads).
    static void act_scales(const unsigned char* at, int64_t b0, int nbc, float* ad, float* am) {
        const __mmask8 blocks = (__mmask8)((1u << nbc) - 1);
        const __m256i offsets = _mm256_mullo_epi32(_mm256_set_epi32(7, 6, 5, 4, 3, 2, 1, 0), _mm256_set1_epi32(F::act_size));
        const unsigned char* p = at + (size_t)b0 * F::act_size;
        _mm256_store_ps(ad, _mm256_cvtph_ps(_mm256_cvtepi32_epi16(_mm256_mmask_i32gather_epi32(_mm256_setzero_si256(), blocks, offsets, p, 1))));
        if constexpr (F::has_min)
            _mm256_store_ps(am, _mm256_cvtph_ps(_mm256_cvtepi32_epi16(_mm256_mmask_i32gather_epi32(_mm256_setzero_si256(), blocks, offsets, p + 2, 1))));
    }
    static void pack_strip(const unsigned char* w, size_t ws, int nr, int64_t b0, int nbc, int64_t nb, int8_t* bt, float* d, float* m,
                           const consts& c) {
        const __m512i bias = _mm512_set1_epi8((char)F::bias);
        const __m512i first = _mm512_set_epi64(11, 10, 3, 2, 9, 8, 1, 0), second = _mm512_set_epi64(15, 14, 7, 6, 13, 12, 5, 4);
        const __mmask16 live = (__mmask16)((1u << nr) - 1);
        const __m512i row_offsets = _mm512_mullo_epi32(_mm512_set_epi32(15, 14, 13, 12, 11, 10, 9, 8, 7, 6, 5, 4, 3, 2, 1, 0), _mm512_set1_epi32((int)ws));
        for (int b = 0; b < nbc; ++b) {  // the scales, 16 rows at a time (an f16 in each gathered dword's low half)
            const unsigned char* blk = w + (size_t)(b0 + b) * F::size;
            const __m512i dd = _mm512_mask_i32gather_epi32(_mm512_setzero_si512(), live, row_offsets, blk + F::d, 1);
            _mm512_store_ps(d + b * 16, _mm512_cvtph_ps(_mm512_cvtepi32_epi16(dd)));
            if constexpr (F::has_min) {
                const __m512i mm = _mm512_mask_i32gather_epi32(_mm512_setzero_si512(), live, row_offsets, blk + F::m, 1);
                _mm512_store_ps(m + b * 16, _mm512_cvtph_ps(_mm512_cvtepi32_epi16(mm)));
            }
        }
        for (int g = 0; g < nbc; g += 4) {
            __m512i lo16[16], hi16[16];  // per row: blocks g, g+1 | blocks g+2, g+3 (32 bytes each)
            for (int r = 0; r < 16; ++r) {
                if (r >= nr) {
                    lo16[r] = hi16[r] = _mm512_setzero_si512();
                    continue;
                }
                const unsigned char* x = w + r * ws + (size_t)(b0 + g) * F::size;
                typename K::weights wt;
                const int64_t have = std::min<int64_t>(4, nb - (b0 + g));
                if (have < 4) {  // the row's last blocks, zero-padded to a group
                    alignas(64) unsigned char buf[4 * F::size];
                    std::memset(buf, 0, sizeof(buf));
                    std::memcpy(buf, x, (size_t)have * F::size);
                    wt = K::load_weights(buf, c);
                } else {
                    wt = K::load_weights(x, c);
                }
                const __m512i lo = _mm512_sub_epi8(wt.lo, bias), hi = _mm512_sub_epi8(wt.hi, bias);
                lo16[r] = _mm512_permutex2var_epi64(lo, first, hi);
                hi16[r] = _mm512_permutex2var_epi64(lo, second, hi);
            }
            amx_transpose16(lo16);
            amx_transpose16(hi16);
            for (int j = 0; j < 16; ++j) {
                _mm512_store_si512(bt + (size_t)g * 512 + j * 64, lo16[j]);
                _mm512_store_si512(bt + (size_t)g * 512 + 1024 + j * 64, hi16[j]);
            }
        }
    }
};

// Q4_K and Q5_K (Fifth = true): a 256-element super-block is 8 sub-blocks of 32 with 6-bit scales
// and mins; x = d * sc * q - dmin * m. Activations q8_K: one float d per super-block, and the
// sums of 16 quants, which give the mins' term: - dmin * m * d_a * (sum of the sub-block's quants).
template <bool Fifth> struct amx_qk {
    using B = typename std::conditional<Fifth, block_q5_k, block_q4_k>::type;
    struct consts {};
    static constexpr int sub = 32, chunk = 8;  // a chunk is one super-block
    static constexpr size_t block_bytes = sizeof(B) / 8;
    static constexpr bool has_min = true;
    static consts make_consts() { return {}; }
    static size_t a_off(int64_t b) { return (size_t)(b / 8) * sizeof(block_q8_k) + offsetof(block_q8_k, qs) + (size_t)(b % 8) * 32; }
    static void vnni(const void* w, size_t ws, int64_t nr, const void* a, size_t as, int64_t nt, int64_t n, float* y, int64_t ys) {
        if constexpr (Fifth) simd::mm_q5_k_q8_k(w, ws, nr, a, as, nt, n, y, ys);
        else simd::mm_q4_k_q8_k(w, ws, nr, a, as, nt, n, y, ys);
    }
    static void act_scales(const unsigned char* at, int64_t b0, int nbc, float* ad, float* am) {  // b0: a multiple of 8, nbc == 8
        (void)nbc;
        const unsigned char* p = at + (size_t)(b0 / 8) * sizeof(block_q8_k);
        float dA;
        std::memcpy(&dA, p + offsetof(block_q8_k, d), 4);
        const __m256i sums16 = _mm256_loadu_si256(reinterpret_cast<const __m256i*>(p + offsetof(block_q8_k, bsums)));
        const __m256 sums32 = _mm256_cvtepi32_ps(_mm256_madd_epi16(sums16, _mm256_set1_epi16(1)));  // pairs: 8 sub-blocks
        _mm256_store_ps(ad, _mm256_set1_ps(dA));
        _mm256_store_ps(am, _mm256_mul_ps(_mm256_set1_ps(dA), sums32));
    }
    static void pack_strip(const unsigned char* w, size_t ws, int nr, int64_t b0, int nbc, int64_t, int8_t* bt, float* d, float* m,
                           const consts&) {
        (void)nbc;
        const __m512i low4 = _mm512_set1_epi8(15);
        __m512i q[4][16];  // per row: sub-blocks 0|2, 1|3, 4|6, 5|7 (32 bytes each)
        for (int r = 0; r < 16; ++r) {
            if (r >= nr) {
                for (int i = 0; i < 4; ++i) q[i][r] = _mm512_setzero_si512();
                for (int s = 0; s < 8; ++s) d[s * 16 + r] = m[s * 16 + r] = 0.0f;
                continue;
            }
            const unsigned char* x = w + r * ws + (size_t)(b0 / 8) * sizeof(B);
            uint16_t dh, mh;
            std::memcpy(&dh, x + offsetof(B, d), 2);
            std::memcpy(&mh, x + offsetof(B, dmin), 2);
            const float dd = _cvtsh_ss(dh), dm = _cvtsh_ss(mh);
            for (int s = 0; s < 8; ++s) {
                uint8_t sc, mn;
                unpack_scale_min_k4(s, x + offsetof(B, scales), &sc, &mn);
                d[s * 16 + r] = dd * (float)sc;
                m[s * 16 + r] = -(dm * (float)mn);
            }
            const __m512i q0 = _mm512_loadu_si512(x + offsetof(B, qs)), q1 = _mm512_loadu_si512(x + offsetof(B, qs) + 64);
            q[0][r] = _mm512_and_si512(q0, low4);
            q[1][r] = _mm512_and_si512(_mm512_srli_epi16(q0, 4), low4);
            q[2][r] = _mm512_and_si512(q1, low4);
            q[3][r] = _mm512_and_si512(_mm512_srli_epi16(q1, 4), low4);
            if constexpr (Fifth) {  // the fifth bit of element l of sub-block s is bit s of qh[l]
                const __m512i qh = _mm512_broadcast_i64x4(_mm256_loadu_si256(reinterpret_cast<const __m256i*>(x + offsetof(B, qh))));
                const __m512i sixteen = _mm512_set1_epi8(16);
                for (int i = 0; i < 4; ++i) {
                    const int s_lo = (i / 2) * 4 + (i % 2), s_hi = s_lo + 2;  // the sub-blocks in this register's halves
                    const __m512i bit = _mm512_inserti64x4(_mm512_set1_epi8((char)(1 << s_lo)), _mm256_set1_epi8((char)(1 << s_hi)), 1);
                    q[i][r] = _mm512_mask_add_epi8(q[i][r], _mm512_test_epi8_mask(qh, bit), q[i][r], sixteen);
                }
            }
        }
        for (int i = 0; i < 4; ++i) {
            amx_transpose16(q[i]);
            const int s_lo = (i / 2) * 4 + (i % 2), s_hi = s_lo + 2;
            for (int j = 0; j < 8; ++j) {
                _mm512_store_si512(bt + (size_t)s_lo * 512 + j * 64, q[i][j]);
                _mm512_store_si512(bt + (size_t)s_hi * 512 + j * 64, q[i][j + 8]);
            }
        }
    }
};

// Q6_K: 16 sub-blocks of 16 with int8 scales, x = d * sc * (q - 32): tile products of 16
// elements (B tiles of 4 rows), the levels made signed (q - 32) as they are unpacked.
struct amx_q6k {
    struct consts {};
    static constexpr int sub = 16, chunk = 16;  // a chunk is one super-block
    static constexpr size_t block_bytes = sizeof(block_q6_k) / 16;  // 210 / 16: prefetch spans only
    static constexpr bool has_min = false;
    static consts make_consts() { return {}; }
    static size_t a_off(int64_t b) { return (size_t)(b / 16) * sizeof(block_q8_k) + offsetof(block_q8_k, qs) + (size_t)(b % 16) * 16; }
    static void vnni(const void* w, size_t ws, int64_t nr, const void* a, size_t as, int64_t nt, int64_t n, float* y, int64_t ys) {
        simd::mm_q6_k_q8_k(w, ws, nr, a, as, nt, n, y, ys);
    }
    static void act_scales(const unsigned char* at, int64_t b0, int, float* ad, float*) {
        float dA;
        std::memcpy(&dA, at + (size_t)(b0 / 16) * sizeof(block_q8_k) + offsetof(block_q8_k, d), 4);
        _mm512_store_ps(ad, _mm512_set1_ps(dA));
    }
    static void pack_strip(const unsigned char* w, size_t ws, int nr, int64_t b0, int, int64_t, int8_t* bt, float* d, float*, const consts&) {
        const __m512i low4 = _mm512_set1_epi8(15), three = _mm512_set1_epi8(3), thirty_two = _mm512_set1_epi8(32);
        // the high bits of elements 0..31 | 32..63 of a half's low nibbles sit at bits 0 | 2 of qh,
        // of its high nibbles at bits 4 | 6
        const __m512i shift_lo = _mm512_inserti64x4(_mm512_setzero_si512(), _mm256_set1_epi16(2), 1);
        const __m512i shift_hi = _mm512_inserti64x4(_mm512_set1_epi16(4), _mm256_set1_epi16(6), 1);
        __m512i q[4][16];  // per row: elements 0..63, 64..127, 128..191, 192..255 (sub-blocks 4i .. 4i+3)
        for (int r = 0; r < 16; ++r) {
            if (r >= nr) {
                for (int i = 0; i < 4; ++i) q[i][r] = _mm512_setzero_si512();
                for (int sb = 0; sb < 16; ++sb) d[sb * 16 + r] = 0.0f;
                continue;
            }
            const unsigned char* x = w + r * ws + (size_t)(b0 / 16) * sizeof(block_q6_k);
            uint16_t dh;
            std::memcpy(&dh, x + offsetof(block_q6_k, d), 2);
            const float dd = _cvtsh_ss(dh);
            const int8_t* sc = reinterpret_cast<const int8_t*>(x + offsetof(block_q6_k, scales));
            for (int sb = 0; sb < 16; ++sb) d[sb * 16 + r] = dd * (float)sc[sb];
            for (int h = 0; h < 2; ++h) {
                const __m512i ql = _mm512_loadu_si512(x + offsetof(block_q6_k, ql) + 64 * h);
                const __m512i qh = _mm512_broadcast_i64x4(_mm256_loadu_si256(reinterpret_cast<const __m256i*>(x + offsetof(block_q6_k, qh) + 32 * h)));
                const __m512i hi_lo = _mm512_slli_epi16(_mm512_and_si512(_mm512_srlv_epi16(qh, shift_lo), three), 4);
                const __m512i hi_hi = _mm512_slli_epi16(_mm512_and_si512(_mm512_srlv_epi16(qh, shift_hi), three), 4);
                q[2 * h][r] = _mm512_sub_epi8(_mm512_or_si512(_mm512_and_si512(ql, low4), hi_lo), thirty_two);
                q[2 * h + 1][r] = _mm512_sub_epi8(_mm512_or_si512(_mm512_and_si512(_mm512_srli_epi16(ql, 4), low4), hi_hi), thirty_two);
            }
        }
        for (int i = 0; i < 4; ++i) {  // transposed row j: sub-block 4i + j / 4, tile row j % 4
            amx_transpose16(q[i]);
            for (int j = 0; j < 16; ++j) _mm512_store_si512(bt + (size_t)i * 1024 + j * 64, q[i][j]);
        }
    }
};

// The driver: tokens in passes of `pass`, weight rows in groups of `group`, blocks in chunks of
// `chunk` (the activation scales of a pass and chunk are converted once per group), rows in strips
// of 16 packed per chunk, tokens in strips of 16 (a last partial strip through a zero-padded copy).
// Partial sums wait in y between chunks (stored and reloaded exactly), so the order of operations
// per output never changes; a group's partial sums (group x pass floats, 256 KiB) stay in L2
// across the chunks (with all rows per chunk they went to memory and back: R1-1.5B's 8960-row
// Q8_0 matrices ran at 245 GOP/s for 512 tokens, 370 for 256).
template <class P> struct amx_mm {
    static constexpr int S = P::sub, chunk = P::chunk;  // elements per tile product, blocks per chunk
    static constexpr int64_t pass = 256, group = 256;   // tokens per pass, rows per group

    AI_AMX_FN static void mm(const void* wv, size_t ws, int64_t nr, const void* av, size_t as, int64_t nt, int64_t n, float* y, int64_t ys) {
        if (nt < amx_min_tokens) return P::vnni(wv, ws, nr, av, as, nt, n, y, ys);
        const unsigned char* w = static_cast<const unsigned char*>(wv);
        const unsigned char* a = static_cast<const unsigned char*>(av);
        const typename P::consts c = P::make_consts();
        amx_config cfg;
        std::memset(&cfg, 0, sizeof(cfg));
        cfg.palette = 1;
        for (int i = 0; i < 4; ++i) cfg.rows[i] = 16, cfg.colsb[i] = 64;  // tiles 0-3: C, 16 tokens x 16 int32
        for (int i = 4; i < 6; ++i) cfg.rows[i] = 16, cfg.colsb[i] = S;   // tiles 4, 5: A, 16 tokens x S bytes
        for (int i = 6; i < 8; ++i) cfg.rows[i] = S / 4, cfg.colsb[i] = 64;  // tiles 6, 7: B, S / 4 x (16 rows x 4 bytes)
        _tile_loadconfig(&cfg);
        alignas(64) int8_t bt[chunk * 16 * S];
        alignas(64) float wd[chunk * 16], wm[chunk * 16];
        alignas(64) float ad[pass * chunk], am[P::has_min ? pass * chunk : 1];  // [token][block]
        alignas(64) int8_t apad[chunk * 16 * S];                                // a last partial strip's quants
        alignas(64) int32_t cb[4][256];
        const int64_t nb = n / S;
        for (int64_t p0 = 0; p0 < nt; p0 += pass)
        for (int64_t g0 = 0; g0 < nr; g0 += group) {
            const int64_t pn = std::min(pass, nt - p0), g1 = std::min(nr, g0 + group);
            for (int64_t b0 = 0; b0 < nb; b0 += chunk) {
                const int nbc = (int)std::min<int64_t>(chunk, nb - b0);
                for (int64_t t = 0; t < pn; ++t) P::act_scales(a + (size_t)(p0 + t) * as, b0, nbc, ad + t * chunk, am + (P::has_min ? t * chunk : 0));
                const int64_t full = pn / 16 * 16;
                if (full < pn) {
                    std::memset(apad, 0, sizeof(apad));
                    for (int64_t t = full; t < pn; ++t)
                        for (int b = 0; b < nbc; ++b) std::memcpy(apad + (b * 16 + (t - full)) * S, a + (size_t)(p0 + t) * as + P::a_off(b0 + b), S);
                }
                for (int64_t r0 = g0; r0 < g1; r0 += 16) {
                    const int rn = (int)std::min<int64_t>(16, g1 - r0);
                    // the next strip's weights (or the group's first strip's of the next chunk) on
                    // their way while this one is multiplied: strips are 16 rows apart in memory
                    const int64_t pr = r0 + 16 < g1 ? r0 + 16 : g0, pb = r0 + 16 < g1 ? b0 : b0 + chunk;
                    if (pb < nb)
                        for (int64_t r = pr; r < std::min(g1, pr + 16); ++r)
                            for (size_t o = 0; o < (size_t)chunk * P::block_bytes; o += 64)
                                _mm_prefetch(reinterpret_cast<const char*>(w + (size_t)r * ws + (size_t)pb * P::block_bytes + o), _MM_HINT_T0);
                    P::pack_strip(w + (size_t)r0 * ws, ws, rn, b0, nbc, nb, bt, wd, wm, c);
                    const __mmask16 rows = (__mmask16)((1u << rn) - 1);
                    for (int64_t t0 = 0; t0 < pn; t0 += 16) {
                        const int tn = (int)std::min<int64_t>(16, pn - t0);
                        const bool padded = t0 >= full;
                        const unsigned char* at = a + (size_t)(p0 + t0) * as;
                        const long a_row = padded ? S : (long)as;
                        float* yt = y + (p0 + t0) * ys + r0;
                        __m512 acc[16];
#pragma GCC unroll 16
                        for (int t = 0; t < 16; ++t)
                            acc[t] = b0 == 0 || t >= tn ? _mm512_setzero_ps() : _mm512_maskz_loadu_ps(rows, yt + t * ys);
                        const float* adt = ad + t0 * chunk;
                        const float* amt = am + (P::has_min ? t0 * chunk : 0);
                        // Four block products in flight (C tiles 0-3, A tiles 4-5, B tiles 6-7): the
                        // next four are issued before this four's scales are applied, so the tile
                        // unit and the vector unit overlap.
#define AI_AMX_DOT(C, A, B, blk)                                                                                    \
    if ((blk) < nbc) {                                                                                              \
        _tile_loadd(A, padded ? (const unsigned char*)apad + (blk) * 16 * S : at + P::a_off(b0 + (blk)), a_row); \
        _tile_loadd(B, bt + (blk) * 16 * S, 64);                                                                    \
        _tile_zero(C);                                                                                              \
        _tile_dpbssd(C, A, B);                                                                                      \
    }
#define AI_AMX_ISSUE(b0_) AI_AMX_DOT(0, 4, 6, (b0_)) AI_AMX_DOT(1, 5, 7, (b0_) + 1) AI_AMX_DOT(2, 4, 6, (b0_) + 2) AI_AMX_DOT(3, 5, 7, (b0_) + 3)
                        AI_AMX_ISSUE(0)
                        for (int b = 0; b < nbc; b += 4) {
                            _tile_stored(0, cb[0], 64);
                            if (b + 1 < nbc) _tile_stored(1, cb[1], 64);
                            if (b + 2 < nbc) _tile_stored(2, cb[2], 64);
                            if (b + 3 < nbc) _tile_stored(3, cb[3], 64);
                            AI_AMX_ISSUE(b + 4)
                            for (int j = 0; j < 4 && b + j < nbc; ++j) {
                                const int bj = b + j;
                                const __m512 d = _mm512_load_ps(wd + bj * 16);
#pragma GCC unroll 16
                                for (int t = 0; t < 16; ++t) {
                                    const __m512 sc = _mm512_mul_ps(d, _mm512_set1_ps(adt[t * chunk + bj]));
                                    acc[t] = _mm512_fmadd_ps(_mm512_cvtepi32_ps(_mm512_load_si512(cb[j] + t * 16)), sc, acc[t]);
                                    if constexpr (P::has_min) acc[t] = _mm512_fmadd_ps(_mm512_load_ps(wm + bj * 16), _mm512_set1_ps(amt[t * chunk + bj]), acc[t]);
                                }
                            }
                        }
#undef AI_AMX_ISSUE
#undef AI_AMX_DOT
                        for (int t = 0; t < tn; ++t) _mm512_mask_storeu_ps(yt + t * ys, rows, acc[t]);
                    }
                }
            }
        }
        _tile_release();
    }
};
#endif
}  // namespace detail

namespace simd {
void mm_q4_0_q8_0(const void* w, size_t w_stride, int64_t nr, const void* a, size_t a_stride, int64_t nt, int64_t n, float* y, int64_t y_stride) {
    detail::x86_mm<detail::x86_mm_q4_0>(w, w_stride, nr, a, a_stride, nt, n, y, y_stride);
}
void mm_q4_1_q8_1(const void* w, size_t w_stride, int64_t nr, const void* a, size_t a_stride, int64_t nt, int64_t n, float* y, int64_t y_stride) {
    detail::x86_mm<detail::x86_mm_q4_1>(w, w_stride, nr, a, a_stride, nt, n, y, y_stride);
}
void mm_q5_0_q8_0(const void* w, size_t w_stride, int64_t nr, const void* a, size_t a_stride, int64_t nt, int64_t n, float* y, int64_t y_stride) {
    detail::x86_mm<detail::x86_mm_q5_0>(w, w_stride, nr, a, a_stride, nt, n, y, y_stride);
}
void mm_q5_1_q8_1(const void* w, size_t w_stride, int64_t nr, const void* a, size_t a_stride, int64_t nt, int64_t n, float* y, int64_t y_stride) {
    detail::x86_mm<detail::x86_mm_q5_1>(w, w_stride, nr, a, a_stride, nt, n, y, y_stride);
}
void mm_q8_0_q8_0(const void* w, size_t w_stride, int64_t nr, const void* a, size_t a_stride, int64_t nt, int64_t n, float* y, int64_t y_stride) {
    detail::x86_mm<detail::x86_mm_q8_0>(w, w_stride, nr, a, a_stride, nt, n, y, y_stride);
}
void mm_iq4_nl_q8_0(const void* w, size_t w_stride, int64_t nr, const void* a, size_t a_stride, int64_t nt, int64_t n, float* y, int64_t y_stride) {
    detail::x86_mm<detail::x86_mm_iq4_nl>(w, w_stride, nr, a, a_stride, nt, n, y, y_stride);
}
}  // namespace simd
#undef AI_X86_MM_VNNI256
#if defined(__GNUC__) && !defined(__clang__)
#pragma GCC diagnostic pop
#endif
#else   // !AI_X86_INT8
// No int8 tile code for this target: the row kernel per (row, token).
namespace simd {
#define AI_MM_BY_ROWS(W, A)                                                                                   \
    void mm_##W##_##A(const void* w, size_t w_stride, int64_t nr, const void* a, size_t a_stride,     \
                             int64_t nt, int64_t n, float* y, int64_t y_stride) {                             \
        detail::mm_by_rows(simd::vec_dot_##W##_##A, w, w_stride, nr, a, a_stride, nt, n, y, y_stride);       \
    }
AI_MM_BY_ROWS(q4_0, q8_0)
AI_MM_BY_ROWS(q4_1, q8_1)
AI_MM_BY_ROWS(q5_0, q8_0)
AI_MM_BY_ROWS(q5_1, q8_1)
AI_MM_BY_ROWS(q8_0, q8_0)
AI_MM_BY_ROWS(iq4_nl, q8_0)
#undef AI_MM_BY_ROWS
}  // namespace simd
#endif


// ---- Plain rows against float activations ------------------------------------------------------
#if AI_HAVE_XSIMD
float simd::vec_dot_f32_f32(const void* w, const void* a, int64_t n) {
    return simd::dot_f32(static_cast<const float*>(w), static_cast<const float*>(a), n);
}
#else
float simd::vec_dot_f32_f32(const void* w, const void* a, int64_t n) { return ref::vec_dot_f32_f32(w, a, n); }
#endif

#if AI_HAVE_XSIMD && defined(__AVX512F__)
// 16 halves (or bfloat16s) per step, two accumulators; the tail through the scalar code.
// GCC 12's AVX-512 intrinsics start from _mm512_undefined_*() and trip its own -Wuninitialized.
#if defined(__GNUC__) && !defined(__clang__)
#pragma GCC diagnostic push
#pragma GCC diagnostic ignored "-Wuninitialized"
#pragma GCC diagnostic ignored "-Wmaybe-uninitialized"
#endif
float simd::vec_dot_f16_f32(const void* w, const void* a, int64_t n) {
    const unsigned char* p = static_cast<const unsigned char*>(w);
    const float* x = static_cast<const float*>(a);
    __m512 acc0 = _mm512_setzero_ps(), acc1 = _mm512_setzero_ps();
    int64_t i = 0;
    for (; i + 32 <= n; i += 32) {
        _mm_prefetch(reinterpret_cast<const char*>(p + 2 * i) + 2048, _MM_HINT_T0);
        acc0 = _mm512_fmadd_ps(_mm512_cvtph_ps(_mm256_loadu_si256(reinterpret_cast<const __m256i*>(p + 2 * i))), _mm512_loadu_ps(x + i), acc0);
        acc1 = _mm512_fmadd_ps(_mm512_cvtph_ps(_mm256_loadu_si256(reinterpret_cast<const __m256i*>(p + 2 * i + 32))), _mm512_loadu_ps(x + i + 16), acc1);
    }
    float sum = _mm512_reduce_add_ps(_mm512_add_ps(acc0, acc1));
    return sum + ref::vec_dot_f16_f32(p + 2 * i, x + i, n - i);
}
float simd::vec_dot_bf16_f32(const void* w, const void* a, int64_t n) {
    const unsigned char* p = static_cast<const unsigned char*>(w);
    const float* x = static_cast<const float*>(a);
    const auto widen = [](const unsigned char* q) {
        return _mm512_castsi512_ps(_mm512_slli_epi32(_mm512_cvtepu16_epi32(_mm256_loadu_si256(reinterpret_cast<const __m256i*>(q))), 16));
    };
    __m512 acc0 = _mm512_setzero_ps(), acc1 = _mm512_setzero_ps();
    int64_t i = 0;
    for (; i + 32 <= n; i += 32) {
        _mm_prefetch(reinterpret_cast<const char*>(p + 2 * i) + 2048, _MM_HINT_T0);
        acc0 = _mm512_fmadd_ps(widen(p + 2 * i), _mm512_loadu_ps(x + i), acc0);
        acc1 = _mm512_fmadd_ps(widen(p + 2 * i + 32), _mm512_loadu_ps(x + i + 16), acc1);
    }
    float sum = _mm512_reduce_add_ps(_mm512_add_ps(acc0, acc1));
    return sum + ref::vec_dot_bf16_f32(p + 2 * i, x + i, n - i);
}
#if defined(__GNUC__) && !defined(__clang__)
#pragma GCC diagnostic pop
#endif
#elif AI_X86_INT8
float simd::vec_dot_f16_f32(const void* w, const void* a, int64_t n) {
    const unsigned char* p = static_cast<const unsigned char*>(w);
    const float* x = static_cast<const float*>(a);
    __m256 acc0 = _mm256_setzero_ps(), acc1 = _mm256_setzero_ps();
    int64_t i = 0;
    for (; i + 16 <= n; i += 16) {
        if ((i & 16) == 0) _mm_prefetch(reinterpret_cast<const char*>(p + 2 * i) + 2048, _MM_HINT_T0);
        acc0 = _mm256_fmadd_ps(_mm256_cvtph_ps(_mm_loadu_si128(reinterpret_cast<const __m128i*>(p + 2 * i))), _mm256_loadu_ps(x + i), acc0);
        acc1 = _mm256_fmadd_ps(_mm256_cvtph_ps(_mm_loadu_si128(reinterpret_cast<const __m128i*>(p + 2 * i + 16))), _mm256_loadu_ps(x + i + 8), acc1);
    }
    return detail::x86_hsum(_mm256_add_ps(acc0, acc1)) + ref::vec_dot_f16_f32(p + 2 * i, x + i, n - i);
}
float simd::vec_dot_bf16_f32(const void* w, const void* a, int64_t n) {
    const unsigned char* p = static_cast<const unsigned char*>(w);
    const float* x = static_cast<const float*>(a);
    const auto widen = [](const unsigned char* q) {
        return _mm256_castsi256_ps(_mm256_slli_epi32(_mm256_cvtepu16_epi32(_mm_loadu_si128(reinterpret_cast<const __m128i*>(q))), 16));
    };
    __m256 acc0 = _mm256_setzero_ps(), acc1 = _mm256_setzero_ps();
    int64_t i = 0;
    for (; i + 16 <= n; i += 16) {
        if ((i & 16) == 0) _mm_prefetch(reinterpret_cast<const char*>(p + 2 * i) + 2048, _MM_HINT_T0);
        acc0 = _mm256_fmadd_ps(widen(p + 2 * i), _mm256_loadu_ps(x + i), acc0);
        acc1 = _mm256_fmadd_ps(widen(p + 2 * i + 16), _mm256_loadu_ps(x + i + 8), acc1);
    }
    return detail::x86_hsum(_mm256_add_ps(acc0, acc1)) + ref::vec_dot_bf16_f32(p + 2 * i, x + i, n - i);
}
#else
float simd::vec_dot_f16_f32(const void* w, const void* a, int64_t n) { return ref::vec_dot_f16_f32(w, a, n); }
float simd::vec_dot_bf16_f32(const void* w, const void* a, int64_t n) { return ref::vec_dot_bf16_f32(w, a, n); }
#endif

const char* simd::int8_kernels() {
#if AI_X86_INT8 && defined(__AVX512VNNI__) && defined(__AVX512VL__)
    return "avx2+avx512vnni";
#elif AI_X86_INT8
    return "avx2";
#else
    return "scalar";
#endif
}

// ---- ai::simd tile kernels for the K-quants: R weight rows x T tokens at once -------------------
// y[t * y_stride + r] = sum_k W[r][k] * A[t][k]. A tile unpacks each weight super-block (quants,
// scales, mins) once for its T tokens and reads each Q8_K block once per row from L1. Every output
// runs the same float sequence whatever the tile shape: per super-block, its own lanes of
// acc += (d * dy) * float(int lanes) (and the min term for Q4_K / Q5_K in lanes of its own), then
// a fixed reduction; tails use smaller instantiations of the same code, so y depends only on n.
// Integer sums are exact (maddubs pairs stay below 2^15: q <= 63, |a| <= 128).
#if defined(__AVX512F__) && defined(__AVX512BW__) && defined(__AVX512VNNI__) && defined(__AVX512VL__) && AI_X86_INT8
#define AI_X86_MM512 1
#else
#define AI_X86_MM512 0
#endif

// Tile loops index register arrays: they must unroll completely (GCC -O2 keeps them otherwise).
#if defined(__clang__)
#define AI_MM_UNROLL _Pragma("unroll")
#elif defined(__GNUC__)
#define AI_MM_UNROLL _Pragma("GCC unroll 16")
#else
#define AI_MM_UNROLL
#endif

namespace detail {
// Runs K::tile<R, T> over the whole R x T grid; tails call the smaller instantiations. Row tiles
// outside, tokens inside: a row tile's weights stay in L1 while the tokens pass over them.
template <class K, int RMAX, int TMAX, int R>
inline void mm_tile_t(int tt, const unsigned char* w, size_t ws, const unsigned char* a, size_t as, int64_t nb,
                      float* y, int64_t ys) {
    if constexpr (TMAX >= 1) {
        const size_t ahead = (size_t)R * ws;  // the next tile's rows
        switch (tt) {
        case 1: K::template tile<R, 1>(w, ws, ahead, a, as, nb, y, ys); break;
        case 2: if constexpr (TMAX >= 2) K::template tile<R, 2>(w, ws, ahead, a, as, nb, y, ys); break;
        case 3: if constexpr (TMAX >= 3) K::template tile<R, 3>(w, ws, ahead, a, as, nb, y, ys); break;
        case 4: if constexpr (TMAX >= 4) K::template tile<R, 4>(w, ws, ahead, a, as, nb, y, ys); break;
        case 5: if constexpr (TMAX >= 5) K::template tile<R, 5>(w, ws, ahead, a, as, nb, y, ys); break;
        case 6: if constexpr (TMAX >= 6) K::template tile<R, 6>(w, ws, ahead, a, as, nb, y, ys); break;
        default: break;
        }
    }
}
template <class K, int RMAX, int TMAX>
inline void mm_tiles(const void* w, size_t ws, int64_t nr, const void* a, size_t as, int64_t nt, int64_t n,
                     float* y, int64_t ys) {
    static_assert(RMAX >= 1 && RMAX <= 4 && TMAX >= 1 && TMAX <= 6, "tile shape");
    const auto* wp = static_cast<const unsigned char*>(w);
    const auto* ap = static_cast<const unsigned char*>(a);
    const int64_t nb = n / qk_k;
    for (int64_t r0 = 0; r0 < nr; r0 += RMAX) {
        const int rr = int(std::min<int64_t>(RMAX, nr - r0));
        for (int64_t t0 = 0; t0 < nt; t0 += TMAX) {
            const int tt = int(std::min<int64_t>(TMAX, nt - t0));
            const unsigned char* wt = wp + (size_t)r0 * ws;
            const unsigned char* at = ap + (size_t)t0 * as;
            float* yt = y + t0 * ys + r0;
            switch (rr) {
            case 1: mm_tile_t<K, RMAX, TMAX, 1>(tt, wt, ws, at, as, nb, yt, ys); break;
            case 2: if constexpr (RMAX >= 2) mm_tile_t<K, RMAX, TMAX, 2>(tt, wt, ws, at, as, nb, yt, ys); break;
            case 3: if constexpr (RMAX >= 3) mm_tile_t<K, RMAX, TMAX, 3>(tt, wt, ws, at, as, nb, yt, ys); break;
            case 4: if constexpr (RMAX >= 4) mm_tile_t<K, RMAX, TMAX, 4>(tt, wt, ws, at, as, nb, yt, ys); break;
            default: break;
            }
        }
    }
}

// Q8_K field offsets: f32 d, 256 int8 qs, 16 int16 bsums.
inline constexpr size_t q8k_qs = 4, q8k_bsums = 4 + qk_k;

#if AI_X86_INT8
// The R rows of a tile advance together: ask for the bytes the tile reads about 2 KiB later, which
// near a row's end lie in the next tile's row (same r, R rows down).
template <int R>
inline void x86_mm_prefetch(const unsigned char* x, size_t bytes, int64_t i, int64_t nb, size_t ws) {
    constexpr int64_t bytes_ahead = 3072;  // decode (R = 1): 2 KiB beat 4 KiB by 10-40% here, 3 KiB 2 KiB by 1-2%
    // (not std::max: GCC 12 then drops the prefetches altogether)
    const int64_t k0 = bytes_ahead / (R * (int64_t)bytes), k = k0 > 0 ? k0 : 1;
    const int64_t step = i + k < nb ? k * (int64_t)bytes : R * (int64_t)ws - (nb - k) * (int64_t)bytes;
    const unsigned char* p = x + step;
    for (size_t o = 0; o < bytes; o += 64) _mm_prefetch(reinterpret_cast<const char*>(p) + o, _MM_HINT_T0);
}
// The prefetch of an R x T tile. Decode (T = 1): the bytes `ahead` on from where the row is read,
// into L2 (decode_prefetch_ahead: toward the row's successor in its part; the Q4_0 / Q8_0 drivers' scheme);
// batches as x86_mm_prefetch.
template <int R, int T>
inline void x86_mm_prefetch_tile(const unsigned char* x, size_t bytes, int64_t i, int64_t nb, size_t ws, size_t ahead) {
    if constexpr (T == 1) {
        (void)i, (void)nb, (void)ws;
        for (size_t o = 0; o < bytes; o += 64) _mm_prefetch(reinterpret_cast<const char*>(x + ahead + o), _MM_HINT_T1);
    } else {
        (void)ahead;
        x86_mm_prefetch<R>(x, bytes, i, nb, ws);
    }
}
inline __m256i x86_mm_madd_acc(__m256i acc, __m256i p16, __m256i s16) {  // acc + pairwise p16 * s16
#if defined(__AVX512VNNI__) && defined(__AVX512VL__)
    return _mm256_dpwssd_epi32(acc, p16, s16);
#elif defined(__AVXVNNI__)
    return _mm256_dpwssd_avx_epi32(acc, p16, s16);
#else
    return _mm256_add_epi32(acc, _mm256_madd_epi16(p16, s16));
#endif
}
// Decode (one token) through K's tiles of R x 1, a row from each part at a time (decode_parts).
template <class K>
inline void mm_decode(const void* w, size_t ws, int64_t nr, const void* a, int64_t n, float* y) {
    decode_parts(static_cast<const unsigned char*>(w), ws, nr, y, [&](auto r, const unsigned char* wr, size_t rs, float* out) {
        K::template tile<decltype(r)::value, 1>(wr, rs, decode_prefetch_ahead(ws), static_cast<const unsigned char*>(a), 0, n / qk_k, out, 1);
    });
}
#endif

#if AI_X86_MM512
// GCC 12's AVX-512 intrinsics start from _mm512_undefined_*() and trip its own -Wuninitialized.
#if defined(__GNUC__) && !defined(__clang__)
#pragma GCC diagnostic push
#pragma GCC diagnostic ignored "-Wuninitialized"
#pragma GCC diagnostic ignored "-Wmaybe-uninitialized"
#endif
inline __m512i x86_mm_qs8k(const unsigned char* y, int c) { return _mm512_loadu_si512(y + q8k_qs + 64 * c); }
// The sum of 16 lanes in a fixed order (high half + low half, then as x86_hsum), which the 256-bit
// decode kernels repeat with their two halves.
inline float x512_hsum(__m512 v) {
    return x86_hsum(_mm256_add_ps(_mm512_castps512_ps256(v), _mm256_castpd_ps(_mm512_extractf64x4_pd(_mm512_castps_pd(v), 1))));
}
// Pshufb control giving int16 lanes 0..15 = byte b0, lanes 16..31 = byte b1 of each 128-bit lane.
inline __m512i x86_mm_pair_ctl(int b0, int b1) {
    const long long q0 = (long long)(uint64_t(0x8000 | b0) * 0x0001000100010001ull), q1 = (long long)(uint64_t(0x8000 | b1) * 0x0001000100010001ull);
    return _mm512_set_epi64(q1, q1, q1, q1, q0, q0, q0, q0);
}

// Q4_K (QH = false) and Q5_K (QH = true): 4-row headers (d, dmin, 12 scale bytes = the first 16
// bytes of both blocks) sit in the four 128-bit lanes of one register and are unpacked together.
template <bool QH>
struct x86_mm_k4 {
    static constexpr size_t bytes = QH ? sizeof(block_q5_k) : sizeof(block_q4_k);
    static constexpr size_t qs_at = QH ? 48 : 16;
    // Decode (one token) in 256-bit halves: lanes 0..7 of the 512-bit tile's sums are the even
    // sub-blocks' (sc[g] pairs sub-blocks 2g, 2g+1 in its two halves), lanes 8..15 the odd ones',
    // so two 256-bit accumulators run the tile's per-lane arithmetic exactly. Written apart because
    // for one token the 512-bit header unpacking (built to serve four rows) and the reordering
    // shuffles of the nibbles cost more than the products: 256-bit shuffles have two ports, 512-bit
    // ones one.
    struct row_acc {
        __m256 even, odd;  // the tile's lanes 0..7, 8..15
        __m128 mins;       // its min lanes 4r..4r+3
    };
    static void row_block(const unsigned char* x, const unsigned char* yb, row_acc& acc) {
        const __m256i m4 = _mm256_set1_epi8(15), m1 = _mm256_set1_epi8(1);
        const __m128i k1 = _mm_set1_epi32(0x3f3f3f3f), k2 = _mm_set1_epi32(0x0f0f0f0f), k30 = _mm_set1_epi32(0x30303030);
        const __m128i hdr = _mm_loadu_si128(reinterpret_cast<const __m128i*>(x));  // d, dmin, u0, u1, u2
        const __m128i s = _mm_shuffle_epi32(hdr, 0xF9), u2 = _mm_shuffle_epi32(hdr, 0xFF);
        const __m128i hi6 = _mm_or_si128(_mm_and_si128(_mm_srlv_epi32(u2, _mm_setr_epi32(0, 4, 0, 4)), k2), _mm_and_si128(_mm_srli_epi32(s, 2), k30));
        const __m128i scm = _mm_unpacklo_epi32(_mm_and_si128(s, k1), hi6);  // bytes sc0..7, m0..7
        const __m256i scb = _mm256_broadcastsi128_si256(scm);
        float dy;
        std::memcpy(&dy, yb, 4);
        const __m128 dd = _mm_mul_ps(_mm_cvtph_ps(hdr), _mm_set1_ps(dy));  // d * dy, dmin * dy
        const __m256i bp = _mm256_madd_epi16(x86_load(yb + q8k_bsums), _mm256_set1_epi16(1));
        const __m128i bp16 = _mm_packs_epi32(_mm256_castsi256_si128(bp), _mm256_extracti128_si256(bp, 1));
        const __m128i msum = _mm_madd_epi16(_mm_cvtepu8_epi16(_mm_srli_si128(scm, 8)), bp16);
        acc.mins = _mm_fmadd_ps(_mm_shuffle_ps(dd, dd, 0x55), _mm_cvtepi32_ps(msum), acc.mins);
        const __m256i hbits = QH ? x86_load(x + 16) : _mm256_setzero_si256();
        __m256i sum_even = _mm256_setzero_si256(), sum_odd = _mm256_setzero_si256();
        AI_MM_UNROLL
        for (int g = 0; g < 4; ++g) {
            const __m256i b = x86_load(x + qs_at + 32 * g);
            __m256i lo = _mm256_and_si256(b, m4), hi = _mm256_and_si256(_mm256_srli_epi16(b, 4), m4);
            if (QH) {
                lo = _mm256_or_si256(lo, _mm256_slli_epi16(_mm256_and_si256(_mm256_srli_epi16(hbits, 2 * g), m1), 4));
                hi = _mm256_or_si256(hi, _mm256_slli_epi16(_mm256_and_si256(_mm256_srli_epi16(hbits, 2 * g + 1), m1), 4));
            }
            const __m256i sc_lo = _mm256_shuffle_epi8(scb, _mm256_set1_epi16(short(0xFF00 | (2 * g))));
            const __m256i sc_hi = _mm256_shuffle_epi8(scb, _mm256_set1_epi16(short(0xFF00 | (2 * g + 1))));
            sum_even = _mm256_dpwssd_epi32(sum_even, _mm256_maddubs_epi16(lo, x86_load(yb + q8k_qs + 64 * g)), sc_lo);
            sum_odd = _mm256_dpwssd_epi32(sum_odd, _mm256_maddubs_epi16(hi, x86_load(yb + q8k_qs + 64 * g + 32)), sc_hi);
        }
        const __m256 d_dy = _mm256_broadcastss_ps(dd);
        acc.even = _mm256_fmadd_ps(d_dy, _mm256_cvtepi32_ps(sum_even), acc.even);
        acc.odd = _mm256_fmadd_ps(d_dy, _mm256_cvtepi32_ps(sum_odd), acc.odd);
    }
    // R rows side by side, block by block (R row streams keep the L2 prefetcher busier than one).
    template <int R>
    static void rows(const unsigned char* w, size_t ws, size_t ahead, const unsigned char* a, int64_t nb, float* y) {
        row_acc acc[R];
        AI_MM_UNROLL
        for (int r = 0; r < R; ++r) acc[r] = {_mm256_setzero_ps(), _mm256_setzero_ps(), _mm_setzero_ps()};
        for (int64_t i = 0; i < nb; ++i) {
            AI_MM_UNROLL
            for (int r = 0; r < R; ++r) {
                const unsigned char* x = w + (size_t)r * ws + (size_t)i * bytes;
                x86_mm_prefetch_tile<R, 1>(x, bytes, i, nb, ws, ahead);
                row_block(x, a + (size_t)i * sizeof(block_q8_k), acc[r]);
            }
        }
        AI_MM_UNROLL
        for (int r = 0; r < R; ++r) {
            alignas(16) float m[4];
            _mm_store_ps(m, acc[r].mins);
            y[r] = x86_hsum(_mm256_add_ps(acc[r].even, acc[r].odd)) - ((m[0] + m[1]) + (m[2] + m[3]));
        }
    }
    template <int R, int T>
    static void tile(const unsigned char* w, size_t ws, size_t ahead, const unsigned char* a, size_t as, int64_t nb, float* y, int64_t ys) {
        if constexpr (T == 1) rows<R>(w, ws, ahead, a, nb, y);
        else tile_wide<R, T>(w, ws, a, as, nb, y, ys);
    }
    template <int R, int T>
    static void tile_wide(const unsigned char* w, size_t ws, const unsigned char* a, size_t as, int64_t nb, float* y, int64_t ys) {
        __m512 acc[R][T], macc[T];
        AI_MM_UNROLL
        for (int t = 0; t < T; ++t) {
            macc[t] = _mm512_setzero_ps();
            AI_MM_UNROLL
            for (int r = 0; r < R; ++r) acc[r][t] = _mm512_setzero_ps();
        }
        const __m512i m4 = _mm512_set1_epi8(15);
        const __m512i k1 = _mm512_set1_epi32(0x3f3f3f3f), k2 = _mm512_set1_epi32(0x0f0f0f0f), k30 = _mm512_set1_epi32(0x30303030);
        const __m512i shift04 = _mm512_set_epi32(4, 0, 4, 0, 4, 0, 4, 0, 4, 0, 4, 0, 4, 0, 4, 0);
        const __m512i mins_ctl = _mm512_broadcast_i32x4(_mm_setr_epi8(8, -128, 9, -128, 10, -128, 11, -128, 12, -128, 13, -128, 14, -128, 15, -128));
        for (int64_t i = 0; i < nb; ++i) {
            // lane r: row r's d | dmin << 16, then the scale bytes u0, u1, u2 (dwords 1..3)
            __m512i hdr = _mm512_setzero_si512();
            AI_MM_UNROLL
            for (int r = 0; r < R; ++r) {
                const unsigned char* x = w + (size_t)r * ws + (size_t)i * bytes;
                x86_mm_prefetch<R>(x, bytes, i, nb, ws);
                hdr = _mm512_mask_broadcast_i32x4(hdr, __mmask16(0xF << (4 * r)), _mm_loadu_si128(reinterpret_cast<const __m128i*>(x)));
            }
            // k4 unpacking (see block_q4_k), four rows at once: lane bytes sc0..7, m0..7
            const __m512i s = _mm512_shuffle_epi32(hdr, _MM_PERM_ENUM(0xF9));  // u0 u1 u2 u2
            const __m512i u2 = _mm512_shuffle_epi32(hdr, _MM_PERM_ENUM(0xFF));
            const __m512i lo6 = _mm512_and_si512(s, k1);                          // sc0..3, m0..3
            const __m512i hi6 = _mm512_or_si512(_mm512_and_si512(_mm512_srlv_epi32(u2, shift04), k2),
                                                _mm512_and_si512(_mm512_srli_epi32(s, 2), k30));  // sc4..7, m4..7
            const __m512i scm = _mm512_unpacklo_epi32(lo6, hi6);
            const __m512i mins = _mm512_shuffle_epi8(scm, mins_ctl);  // int16 mins of row r in lane r
            const __m512i dd = _mm512_shuffle_epi32(hdr, _MM_PERM_ENUM(0));
            const __m512 dv = _mm512_cvtph_ps(_mm512_cvtepi32_epi16(dd));                           // d_r in lanes 4r..4r+3
            const __m512 dminv = _mm512_cvtph_ps(_mm512_cvtepi32_epi16(_mm512_srli_epi32(dd, 16)));  // dmin_r likewise
            float dy[T];
            AI_MM_UNROLL
            for (int t = 0; t < T; ++t) {
                const unsigned char* yb = a + (size_t)t * as + (size_t)i * sizeof(block_q8_k);
                std::memcpy(&dy[t], yb, 4);
                // sum_j m_j * (bsums[2j] + bsums[2j+1]), four int32 lanes per row
                const __m256i bp = _mm256_madd_epi16(_mm256_loadu_si256(reinterpret_cast<const __m256i*>(yb + q8k_bsums)), _mm256_set1_epi16(1));
                const __m512i bpb = _mm512_broadcast_i32x4(_mm256_cvtepi32_epi16(bp));
                const __m512i msum = _mm512_madd_epi16(mins, bpb);
                macc[t] = _mm512_fmadd_ps(_mm512_mul_ps(dminv, _mm512_set1_ps(dy[t])), _mm512_cvtepi32_ps(msum), macc[t]);
            }
            AI_MM_UNROLL
            for (int r = 0; r < R; ++r) {
                const unsigned char* x = w + (size_t)r * ws + (size_t)i * bytes;
                __m512i q[4];  // q[g]: elements 64g .. 64g+63 in order
                AI_MM_UNROLL
                for (int p = 0; p < 2; ++p) {
                    const __m512i b = _mm512_loadu_si512(x + qs_at + 64 * p);
                    const __m512i lo = _mm512_and_si512(b, m4), hi = _mm512_and_si512(_mm512_srli_epi16(b, 4), m4);
                    q[2 * p] = _mm512_shuffle_i64x2(lo, hi, 0x44);
                    q[2 * p + 1] = _mm512_shuffle_i64x2(lo, hi, 0xEE);
                }
                if (QH) {  // fifth bit of element 64g + 32hi + l: bit 2g + hi of qh[l]
                    const __m512i h = _mm512_broadcast_i64x4(_mm256_loadu_si256(reinterpret_cast<const __m256i*>(x + 16)));
                    AI_MM_UNROLL
                    for (int g = 0; g < 4; ++g) {
                        const long long b0 = (long long)(uint64_t(1u << (2 * g)) * 0x0101010101010101ull), b1 = (long long)(uint64_t(1u << (2 * g + 1)) * 0x0101010101010101ull);
                        const __mmask64 k = _mm512_test_epi8_mask(h, _mm512_set_epi64(b1, b1, b1, b1, b0, b0, b0, b0));
                        q[g] = _mm512_mask_add_epi8(q[g], k, q[g], _mm512_set1_epi8(16));
                    }
                }
                const __m512i scr = _mm512_permutexvar_epi32(_mm512_add_epi32(_mm512_set1_epi32(4 * r), _mm512_set_epi32(3, 2, 1, 0, 3, 2, 1, 0, 3, 2, 1, 0, 3, 2, 1, 0)), scm);
                __m512i sc[4];
                AI_MM_UNROLL
                for (int g = 0; g < 4; ++g) sc[g] = _mm512_shuffle_epi8(scr, x86_mm_pair_ctl(2 * g, 2 * g + 1));
                const __m512 dr = _mm512_permutexvar_ps(_mm512_set1_epi32(4 * r), dv);
                AI_MM_UNROLL
                for (int t = 0; t < T; ++t) {
                    const unsigned char* yb = a + (size_t)t * as + (size_t)i * sizeof(block_q8_k);
                    __m512i sumi = _mm512_setzero_si512();
                    AI_MM_UNROLL
                    for (int g = 0; g < 4; ++g) sumi = _mm512_dpwssd_epi32(sumi, _mm512_maddubs_epi16(q[g], x86_mm_qs8k(yb, g)), sc[g]);
                    acc[r][t] = _mm512_fmadd_ps(_mm512_mul_ps(dr, _mm512_set1_ps(dy[t])), _mm512_cvtepi32_ps(sumi), acc[r][t]);
                }
            }
        }
        AI_MM_UNROLL
        for (int t = 0; t < T; ++t) {
            alignas(64) float m[16];
            _mm512_store_ps(m, macc[t]);
            AI_MM_UNROLL
            for (int r = 0; r < R; ++r) y[t * ys + r] = x512_hsum(acc[r][t]) - ((m[4 * r] + m[4 * r + 1]) + (m[4 * r + 2] + m[4 * r + 3]));
        }
    }
};

struct x86_mm_q6_k {
    template <int R, int T>
    static void tile(const unsigned char* w, size_t ws, size_t ahead, const unsigned char* a, size_t as, int64_t nb, float* y, int64_t ys) {
        __m512 acc[R][T];
        AI_MM_UNROLL
        for (int r = 0; r < R; ++r)
            AI_MM_UNROLL
            for (int t = 0; t < T; ++t) acc[r][t] = _mm512_setzero_ps();
        const __m512i m0f = _mm512_set1_epi8(15), m30 = _mm512_set1_epi8(0x30);
        // bits 2k, 2k+1 of qh to bits 4, 5: k = 0, 1 shift left by 4, 2; k = 2, 3 right by 0, 2
        const __m512i sl42 = _mm512_inserti64x4(_mm512_set1_epi16(4), _mm256_set1_epi16(2), 1);
        const __m512i sr02 = _mm512_inserti64x4(_mm512_setzero_si512(), _mm256_set1_epi16(2), 1);
        for (int64_t i = 0; i < nb; ++i) {
            float dy[T];
            __m512i nbs[T];  // -bsums: the -32 of q - 32 goes through 32 * sc
            AI_MM_UNROLL
            for (int t = 0; t < T; ++t) {
                const unsigned char* yb = a + (size_t)t * as + (size_t)i * sizeof(block_q8_k);
                std::memcpy(&dy[t], yb, 4);
                nbs[t] = _mm512_zextsi256_si512(_mm256_sub_epi16(_mm256_setzero_si256(), _mm256_loadu_si256(reinterpret_cast<const __m256i*>(yb + q8k_bsums))));
            }
            AI_MM_UNROLL
            for (int r = 0; r < R; ++r) {
                const unsigned char* x = w + (size_t)r * ws + (size_t)i * sizeof(block_q6_k);
                x86_mm_prefetch_tile<R, T>(x, sizeof(block_q6_k), i, nb, ws, ahead);
                __m512i q[4];  // q[c]: elements 64c .. 64c+63 in order, 0..63
                AI_MM_UNROLL
                for (int h = 0; h < 2; ++h) {
                    const __m512i l = _mm512_loadu_si512(x + 64 * h);
                    const __m512i hb = _mm512_broadcast_i64x4(_mm256_loadu_si256(reinterpret_cast<const __m256i*>(x + 128 + 32 * h)));
                    q[2 * h] = _mm512_ternarylogic_epi32(l, m0f, _mm512_and_si512(_mm512_sllv_epi16(hb, sl42), m30), 0xEA);
                    q[2 * h + 1] = _mm512_ternarylogic_epi32(_mm512_srli_epi16(l, 4), m0f, _mm512_and_si512(_mm512_srlv_epi16(hb, sr02), m30), 0xEA);
                }
                const __m256i sc16 = _mm256_cvtepi8_epi16(_mm_loadu_si128(reinterpret_cast<const __m128i*>(x + 192)));
                const __m512i sc32 = _mm512_zextsi256_si512(_mm256_slli_epi16(sc16, 5));
                const __m512i scz = _mm512_zextsi256_si512(sc16);
                __m512i sc[4];  // int16 lane j of chunk c: scale of sub-block 4c + j / 8
                AI_MM_UNROLL
                for (int c = 0; c < 4; ++c) {
                    const long long s0 = (long long)(4 * c) * 0x0001000100010001ll;
                    const long long s1 = s0 + 0x0001000100010001ll, s2 = s1 + 0x0001000100010001ll, s3 = s2 + 0x0001000100010001ll;
                    sc[c] = _mm512_permutexvar_epi16(_mm512_set_epi64(s3, s3, s2, s2, s1, s1, s0, s0), scz);
                }
                const __m512 dr = _mm512_set1_ps(x86_f16_at(x + 208));
                AI_MM_UNROLL
                for (int t = 0; t < T; ++t) {
                    const unsigned char* yb = a + (size_t)t * as + (size_t)i * sizeof(block_q8_k);
                    __m512i sumi = _mm512_dpwssd_epi32(_mm512_setzero_si512(), sc32, nbs[t]);
                    AI_MM_UNROLL
                    for (int c = 0; c < 4; ++c) sumi = _mm512_dpwssd_epi32(sumi, _mm512_maddubs_epi16(q[c], x86_mm_qs8k(yb, c)), sc[c]);
                    acc[r][t] = _mm512_fmadd_ps(_mm512_mul_ps(dr, _mm512_set1_ps(dy[t])), _mm512_cvtepi32_ps(sumi), acc[r][t]);
                }
            }
        }
        AI_MM_UNROLL
        for (int t = 0; t < T; ++t)
            AI_MM_UNROLL
            for (int r = 0; r < R; ++r) y[t * ys + r] = _mm512_reduce_add_ps(acc[r][t]);
    }
};
#if defined(__GNUC__) && !defined(__clang__)
#pragma GCC diagnostic pop
#endif
#elif AI_X86_INT8
// 256-bit: one 32-element chunk (one Q4_K sub-block, two Q6_K sub-blocks) per register.
inline __m256i x86_mm_qs8k(const unsigned char* y, int c) { return x86_load(y + q8k_qs + 32 * c); }

template <bool QH>
struct x86_mm_k4 {
    static constexpr size_t bytes = QH ? sizeof(block_q5_k) : sizeof(block_q4_k);
    static constexpr size_t qs_at = QH ? 48 : 16;
    template <int R, int T>
    static void tile(const unsigned char* w, size_t ws, size_t ahead, const unsigned char* a, size_t as, int64_t nb, float* y, int64_t ys) {
        __m256 acc[R][T];
        AI_MM_UNROLL
        for (int r = 0; r < R; ++r)
            AI_MM_UNROLL
            for (int t = 0; t < T; ++t) acc[r][t] = _mm256_setzero_ps();
        const __m256i m4 = _mm256_set1_epi8(15), m1 = _mm256_set1_epi8(1);
        for (int64_t i = 0; i < nb; ++i) {
            float dy[T];
            __m128i bp[T];  // bsums[2j] + bsums[2j+1], eight int16
            AI_MM_UNROLL
            for (int t = 0; t < T; ++t) {
                const unsigned char* yb = a + (size_t)t * as + (size_t)i * sizeof(block_q8_k);
                std::memcpy(&dy[t], yb, 4);
                const __m256i p = _mm256_madd_epi16(x86_load(yb + q8k_bsums), _mm256_set1_epi16(1));
                bp[t] = _mm_packs_epi32(_mm256_castsi256_si128(p), _mm256_extracti128_si256(p, 1));
            }
            AI_MM_UNROLL
            for (int r = 0; r < R; ++r) {
                const unsigned char* x = w + (size_t)r * ws + (size_t)i * bytes;
                x86_mm_prefetch_tile<R, T>(x, bytes, i, nb, ws, ahead);
                uint32_t u[3], s[4];  // k4 unpacking (see block_q4_k): bytes sc0..7, m0..7
                std::memcpy(u, x + 4, 12);
                s[0] = u[0] & 0x3f3f3f3f;
                s[1] = (u[2] & 0x0f0f0f0f) | ((u[0] >> 2) & 0x30303030);
                s[2] = u[1] & 0x3f3f3f3f;
                s[3] = ((u[2] >> 4) & 0x0f0f0f0f) | ((u[1] >> 2) & 0x30303030);
                const __m128i scm = _mm_setr_epi32((int)s[0], (int)s[1], (int)s[2], (int)s[3]);
                const __m256i scb = _mm256_broadcastsi128_si256(scm);
                const __m128i mins = _mm_cvtepu8_epi16(_mm_srli_si128(scm, 8));
                const float d = x86_f16_at(x), dmin = x86_f16_at(x + 2);
                const __m256i hbits = QH ? x86_load(x + 16) : _mm256_setzero_si256();
                __m256i sumi[T];
                AI_MM_UNROLL
                for (int t = 0; t < T; ++t) sumi[t] = _mm256_setzero_si256();
                AI_MM_UNROLL
                for (int j = 0; j < 8; ++j) {  // sub-block j: elements 32j .. 32j+31
                    const __m256i bits = x86_load(x + qs_at + 32 * (j / 2));
                    __m256i q = _mm256_and_si256(j % 2 ? _mm256_srli_epi16(bits, 4) : bits, m4);
                    if (QH) q = _mm256_or_si256(q, _mm256_slli_epi16(_mm256_and_si256(_mm256_srli_epi16(hbits, j), m1), 4));
                    const __m256i sc = _mm256_shuffle_epi8(scb, _mm256_set1_epi16(short(0xFF00 | j)));
                    AI_MM_UNROLL
                    for (int t = 0; t < T; ++t) {
                        const unsigned char* yb = a + (size_t)t * as + (size_t)i * sizeof(block_q8_k);
                        sumi[t] = x86_mm_madd_acc(sumi[t], _mm256_maddubs_epi16(q, x86_mm_qs8k(yb, j)), sc);
                    }
                }
                AI_MM_UNROLL
                for (int t = 0; t < T; ++t) {
                    const __m256i msum = _mm256_zextsi128_si256(_mm_madd_epi16(mins, bp[t]));
                    acc[r][t] = _mm256_fmadd_ps(_mm256_set1_ps(d * dy[t]), _mm256_cvtepi32_ps(sumi[t]), acc[r][t]);
                    acc[r][t] = _mm256_fnmadd_ps(_mm256_set1_ps(dmin * dy[t]), _mm256_cvtepi32_ps(msum), acc[r][t]);
                }
            }
        }
        AI_MM_UNROLL
        for (int t = 0; t < T; ++t)
            AI_MM_UNROLL
            for (int r = 0; r < R; ++r) y[t * ys + r] = x86_hsum(acc[r][t]);
    }
};

#if defined(AI_X86_ROWLANES)
// Q4_K batches with rows in the lanes (see "AVX2 batches: weight rows in the lanes" above). A
// super-block's 8 sub-blocks are transposed like 8 Q4_0 blocks; the levels q (0..15) are the signed
// operand of pmaddubsw, the activations plus 128 its unsigned one, and the int16 sums are taken to
// int32 every 4 columns (8 products, at most 8 * 15 * 255 = 30600) by pmaddwd with the row's
// sub-block scale in both halves of its lane, so the scales cost one pmaddwd per 4 columns and 8
// rows. The +128 comes back as 128 * sum(scale * sum(q)) per row and super-block; the mins as
// sum(min * activation sum) through the activations' bsums, one pmaddwd per two sub-blocks. Then,
// per (row, token), super-blocks in order:
//     acc = fma(float(dot), d * d_a, acc);  acc = fnmadd(float(min_dot), dmin * d_a, acc)
// Q5_K goes the same way with the fifth bit from qh (levels 0..31) and its int16 sums taken to
// int32 every 2 columns (4 products, at most 4 * 31 * 255 = 31620).
// dot[t][g] += pmaddwd(sum[t][g], the rows' sub-block scales: 16 int16, both halves of each lane).
template <int G, int T>
inline void x86_rowlane_scale_acc(const __m256i (*sum)[G], const int16_t* scale, __m256i (*dot)[G]) {
#pragma GCC unroll 8
    for (int t = 0; t < T; ++t)
#pragma GCC unroll 4
        for (int g = 0; g < G; ++g)
            dot[t][g] = _mm256_add_epi32(dot[t][g], _mm256_madd_epi16(sum[t][g], _mm256_load_si256(reinterpret_cast<const __m256i*>(scale + 16 * g))));
}
// T tokens' q8_k super-blocks [i0, i0 + nsb) (rows `as` bytes apart) staged for the K kernels: the
// quants plus 128 (an xor) and the scales.
template <int T, int Chunk>
inline void x86_rowlane_stage_q8k(const unsigned char* a, size_t as, int64_t i0, int nsb, unsigned char (*act)[Chunk][256], float (*act_d)[Chunk]) {
    const __m256i x80 = _mm256_set1_epi8((char)0x80);
    for (int t = 0; t < T; ++t)
        for (int i = 0; i < nsb; ++i) {
            const unsigned char* yb = a + (size_t)t * as + (size_t)(i0 + i) * sizeof(block_q8_k);
            for (int c = 0; c < 8; ++c)
                _mm256_store_si256(reinterpret_cast<__m256i*>(act[t][i] + 32 * c), _mm256_xor_si256(x86_load(yb + q8k_qs + 32 * c), x80));
            std::memcpy(&act_d[t][i], yb, 4);
        }
}

template <int G> struct x86_rowlane_strip_k4 {
    static constexpr int chunk = 4;                  // super-blocks
    alignas(32) int8_t levels[chunk][8][8][G][32];   // [super-block][sub-block][columns 4c..4c+3][group][row r: bytes 4r..]
    alignas(32) int16_t scale[chunk][8][G][16];      // row r's sub-block scale at 2r and 2r + 1
    alignas(32) int16_t mins[chunk][4][G][16];       // row r's mins of sub-blocks 2u, 2u + 1 at 2r, 2r + 1
    alignas(32) float d[chunk][G][8], dmin[chunk][G][8];
    alignas(32) int32_t offset[chunk][G][8];         // 128 * sum over sub-blocks of scale * sum(q)
};

// Q4_K (Five false) or Q5_K (Five true; same header, then qh[32], then qs).
template <int G, bool Five>
inline void x86_rowlane_pack_q4_k(const unsigned char* w, size_t ws, int rows, int64_t i0, int nsb, x86_rowlane_strip_k4<G>& s) {
    constexpr size_t block = Five ? sizeof(block_q5_k) : sizeof(block_q4_k), qs = Five ? offsetof(block_q5_k, qs) : offsetof(block_q4_k, qs);
    const __m256i low4 = _mm256_set1_epi8(15), ones8 = _mm256_set1_epi8(1);
    for (int i = 0; i < nsb; ++i)
        for (int g = 0; g < G; ++g) {
            uint8_t sc[8][8] = {}, mn[8][8] = {};  // [row][sub-block]
            for (int r = 0; r < 8; ++r) {
                s.d[i][g][r] = s.dmin[i][g][r] = 0.0f;
                if (8 * g + r >= rows) continue;
                const unsigned char* x = w + (size_t)(8 * g + r) * ws + (size_t)(i0 + i) * block;
                s.d[i][g][r] = x86_f16_at(x);
                s.dmin[i][g][r] = x86_f16_at(x + 2);
                uint32_t u[3], k[4];  // k4 unpacking (see block_q4_k): bytes sc0..7, m0..7
                std::memcpy(u, x + 4, 12);
                k[0] = u[0] & 0x3f3f3f3f;
                k[1] = (u[2] & 0x0f0f0f0f) | ((u[0] >> 2) & 0x30303030);
                k[2] = u[1] & 0x3f3f3f3f;
                k[3] = ((u[2] >> 4) & 0x0f0f0f0f) | ((u[1] >> 2) & 0x30303030);
                std::memcpy(sc[r], k, 8);
                std::memcpy(mn[r], k + 2, 8);
            }
            for (int r = 0; r < 8; ++r) {
                for (int j = 0; j < 8; ++j) s.scale[i][j][g][2 * r] = s.scale[i][j][g][2 * r + 1] = sc[r][j];
                for (int u = 0; u < 4; ++u) s.mins[i][u][g][2 * r] = mn[r][2 * u], s.mins[i][u][g][2 * r + 1] = mn[r][2 * u + 1];
            }
            __m256i offset = _mm256_setzero_si256();
            for (int j = 0; j < 8; ++j) {  // sub-block j: elements 32j .. 32j+31, nibbles (j odd: high) of qs[32 (j/2) ..]
                __m256i x[8];
                for (int r = 0; r < 8; ++r) {
                    if (8 * g + r >= rows) {
                        x[r] = _mm256_setzero_si256();
                        continue;
                    }
                    const unsigned char* xb = w + (size_t)(8 * g + r) * ws + (size_t)(i0 + i) * block;
                    const __m256i bits = x86_load(xb + qs + 32 * (j / 2));
                    x[r] = _mm256_and_si256(j % 2 ? _mm256_srli_epi16(bits, 4) : bits, low4);
                    if constexpr (Five)  // element l's fifth bit: bit j of qh[l]
                        x[r] = _mm256_or_si256(x[r], _mm256_slli_epi16(_mm256_and_si256(_mm256_srli_epi16(x86_load(xb + offsetof(block_q5_k, qh)), j), _mm256_set1_epi8(1)), 4));
                }
                x86_transpose8x32(x);
                __m256i sum16 = _mm256_setzero_si256();
                for (int c = 0; c < 8; ++c) {
                    _mm256_store_si256(reinterpret_cast<__m256i*>(s.levels[i][j][c][g]), x[c]);
                    sum16 = _mm256_add_epi16(sum16, _mm256_maddubs_epi16(x[c], ones8));  // q <= 31: pairs <= 62, 8 columns <= 496
                }
                offset = _mm256_add_epi32(offset, _mm256_madd_epi16(sum16, _mm256_load_si256(reinterpret_cast<const __m256i*>(s.scale[i][j][g]))));
            }
            _mm256_store_si256(reinterpret_cast<__m256i*>(s.offset[i][g]), _mm256_slli_epi32(offset, 7));
        }
}

// T tokens (q8_k rows as apart) over the strip's nsb super-blocks from super-block i0; Cols: columns
// per int16 sum (4 for Q4_K, 2 for Q5_K).
template <int G, int T, int Cols>
inline void x86_rowlane_tokens_q4_k(const x86_rowlane_strip_k4<G>& s, int nsb, int64_t i0, const unsigned char* a, size_t as, __m256 (*acc)[G]) {
    constexpr int chunk = x86_rowlane_strip_k4<G>::chunk;
    alignas(32) unsigned char act[T][chunk][256];
    alignas(16) int16_t act_sums[T][chunk][8];  // activation sums of the 8 sub-blocks
    float act_d[T][chunk];
    x86_rowlane_stage_q8k<T, chunk>(a, as, i0, nsb, act, act_d);
    const __m256i ones16 = _mm256_set1_epi16(1);
    for (int t = 0; t < T; ++t)
        for (int i = 0; i < nsb; ++i) {
            const __m256i p = _mm256_madd_epi16(x86_load(a + (size_t)t * as + (size_t)(i0 + i) * sizeof(block_q8_k) + q8k_bsums), ones16);
            _mm_store_si128(reinterpret_cast<__m128i*>(act_sums[t][i]), _mm_packs_epi32(_mm256_castsi256_si128(p), _mm256_extracti128_si256(p, 1)));  // |sum| <= 32 * 128
        }
    for (int i = 0; i < nsb; ++i) {
        __m256i dot[T][G];
        for (int t = 0; t < T; ++t)
            for (int g = 0; g < G; ++g) dot[t][g] = _mm256_setzero_si256();
        for (int j = 0; j < 8; ++j)
            for (int c0 = 0; c0 < 8; c0 += Cols) {  // columns c0 .. c0 + Cols - 1 of sub-block j: 2 * Cols products per int16 lane
                __m256i sum[T][G];
                x86_rowlane_sum16<G, T, Cols>(&s.levels[i][j][c0][0][0], 32 * G, &act[0][i][32 * j + 4 * c0], sizeof(act[0]), sum);
                x86_rowlane_scale_acc<G, T>(sum, s.scale[i][j][0], dot);
            }
#pragma GCC unroll 8
        for (int t = 0; t < T; ++t) {
            __m256i min_dot[G];
            for (int g = 0; g < G; ++g) min_dot[g] = _mm256_setzero_si256();
            for (int u = 0; u < 4; ++u) {
                int32_t v;
                std::memcpy(&v, &act_sums[t][i][2 * u], 4);
                const __m256i av = _mm256_set1_epi32(v);
                for (int g = 0; g < G; ++g)
                    min_dot[g] = _mm256_add_epi32(min_dot[g], _mm256_madd_epi16(_mm256_load_si256(reinterpret_cast<const __m256i*>(s.mins[i][u][g])), av));
            }
            const __m256 dy = _mm256_set1_ps(act_d[t][i]);
#pragma GCC unroll 4
            for (int g = 0; g < G; ++g) {
                const __m256i q = _mm256_sub_epi32(dot[t][g], _mm256_load_si256(reinterpret_cast<const __m256i*>(s.offset[i][g])));
                acc[t][g] = _mm256_fmadd_ps(_mm256_cvtepi32_ps(q), _mm256_mul_ps(_mm256_load_ps(s.d[i][g]), dy), acc[t][g]);
                acc[t][g] = _mm256_fnmadd_ps(_mm256_cvtepi32_ps(min_dot[g]), _mm256_mul_ps(_mm256_load_ps(s.dmin[i][g]), dy), acc[t][g]);
            }
        }
    }
}

template <bool Five>
struct x86_rowlane_k4 {
    static constexpr int groups = 2, tokens = 3, block_elems = 256;
    using strip = x86_rowlane_strip_k4<groups>;
    static void pack(const unsigned char* w, size_t ws, int rows, int64_t i0, int nsb, strip& s) { x86_rowlane_pack_q4_k<groups, Five>(w, ws, rows, i0, nsb, s); }
    template <int T> static void run(const strip& s, int nsb, int64_t i0, const unsigned char* a, size_t as, __m256 (*acc)[groups]) {
        x86_rowlane_tokens_q4_k<groups, T, Five ? 2 : 4>(s, nsb, i0, a, as, acc);
    }
};
using x86_rowlane_q4_k = x86_rowlane_k4<false>;
using x86_rowlane_q5_k = x86_rowlane_k4<true>;

// Q6_K: levels q - 32 (-32..31) against activations plus 128; an int16 lane sums 4 products (2
// columns, at most 4 * 255 * 32 = 32640), then pmaddwd with the 16-element sub-block's scale, two
// per sub-block and 8 rows. The +128 comes back per row as 128 * sum(scale * sum(q - 32)); no mins:
//     acc = fma(float(dot), d * d_a, acc)   per (row, token), super-blocks in order.
template <int G> struct x86_rowlane_strip_k6 {
    static constexpr int chunk = 4;                  // super-blocks
    alignas(32) int8_t levels[chunk][8][8][G][32];   // [super-block][32 elements][columns 4c..4c+3][group][row r: bytes 4r..]
    alignas(32) int16_t scale[chunk][16][G][16];     // row r's scale of 16-element sub-block j at 2r and 2r + 1
    alignas(32) float d[chunk][G][8];
    alignas(32) int32_t offset[chunk][G][8];
    alignas(32) int16_t mins[chunk][8][G][16];       // Q2_K: row r's mins of sub-blocks 2u, 2u + 1 at 2r, 2r + 1
    alignas(32) float dmin[chunk][G][8];
};

// The tokens of the 16-sub-block formats (Q6_K, Q3_K, Q2_K): Cols columns per int16 sum (2 for
// Q6_K, 4 for Q3_K and Q2_K, whose products are at most 4 * 255 and 3 * 255), one pmaddwd with
// the scales per Cols columns; Mins (Q2_K): minus dmin * d_a * sum(min * bsum) per super-block.
template <int G, int T, int Cols, bool Mins>
inline void x86_rowlane_tokens_k16(const x86_rowlane_strip_k6<G>& s, int nsb, int64_t i0, const unsigned char* a, size_t as, __m256 (*acc)[G]) {
    constexpr int chunk = x86_rowlane_strip_k6<G>::chunk;
    alignas(32) unsigned char act[T][chunk][256];
    float act_d[T][chunk];
    x86_rowlane_stage_q8k<T, chunk>(a, as, i0, nsb, act, act_d);
    for (int i = 0; i < nsb; ++i) {
        __m256i dot[T][G];
        for (int t = 0; t < T; ++t)
            for (int g = 0; g < G; ++g) dot[t][g] = _mm256_setzero_si256();
        for (int j = 0; j < 16; ++j)                // 16-element sub-block j: columns 4 (j % 2) .. +3 of 32-element part j / 2
            for (int h = 0; h < 4 / Cols; ++h) {  // Cols columns at a time: 2 * Cols products per int16 lane
                const int col = 4 * (j % 2) + Cols * h;
                __m256i sum[T][G];
                x86_rowlane_sum16<G, T, Cols>(&s.levels[i][j / 2][col][0][0], 32 * G, &act[0][i][32 * (j / 2) + 4 * col], sizeof(act[0]), sum);
                x86_rowlane_scale_acc<G, T>(sum, s.scale[i][j][0], dot);
            }
#pragma GCC unroll 8
        for (int t = 0; t < T; ++t) {
            const __m256 dy = _mm256_set1_ps(act_d[t][i]);
            __m256i min_dot[G];
            if constexpr (Mins) {
                const unsigned char* bsums = a + (size_t)t * as + (size_t)(i0 + i) * sizeof(block_q8_k) + q8k_bsums;
                for (int g = 0; g < G; ++g) min_dot[g] = _mm256_setzero_si256();
                for (int u = 0; u < 8; ++u) {
                    int32_t v;
                    std::memcpy(&v, bsums + 4 * u, 4);
                    const __m256i av = _mm256_set1_epi32(v);
                    for (int g = 0; g < G; ++g)
                        min_dot[g] = _mm256_add_epi32(min_dot[g], _mm256_madd_epi16(_mm256_load_si256(reinterpret_cast<const __m256i*>(s.mins[i][u][g])), av));
                }
            }
#pragma GCC unroll 4
            for (int g = 0; g < G; ++g) {
                const __m256i q = _mm256_sub_epi32(dot[t][g], _mm256_load_si256(reinterpret_cast<const __m256i*>(s.offset[i][g])));
                acc[t][g] = _mm256_fmadd_ps(_mm256_cvtepi32_ps(q), _mm256_mul_ps(_mm256_load_ps(s.d[i][g]), dy), acc[t][g]);
                if constexpr (Mins)
                    acc[t][g] = _mm256_fnmadd_ps(_mm256_cvtepi32_ps(min_dot[g]), _mm256_mul_ps(_mm256_load_ps(s.dmin[i][g]), dy), acc[t][g]);
            }
        }
    }
}

// The 16-sub-block formats' strips: Q6_K levels q - 32 (-32..31) and int8 scales; Q3_K levels q - 4
// (-4..3) and scales sc - 32 (-32..31); Q2_K levels q (0..3), scales and mins the low and high
// nibbles of scales[16]. One element order: part 4h + k holds elements 128h + 32k .. +31.
template <int G, tensor_type Type>
inline void x86_rowlane_pack_k16(const unsigned char* w, size_t ws, int rows, int64_t i0, int nsb, x86_rowlane_strip_k6<G>& s) {
    static_assert(Type == tensor_type::q6_k || Type == tensor_type::q3_k || Type == tensor_type::q2_k, "Q6_K, Q3_K or Q2_K");
    constexpr bool q6 = Type == tensor_type::q6_k, q3 = Type == tensor_type::q3_k, q2 = Type == tensor_type::q2_k;
    constexpr size_t block = q6 ? sizeof(block_q6_k) : q3 ? sizeof(block_q3_k) : sizeof(block_q2_k);
    constexpr size_t d_at = q6 ? offsetof(block_q6_k, d) : q3 ? offsetof(block_q3_k, d) : offsetof(block_q2_k, d);
    const __m256i m4 = _mm256_set1_epi8(15), m3 = _mm256_set1_epi8(3), m1 = _mm256_set1_epi8(1), ones8 = _mm256_set1_epi8(1);
    for (int i = 0; i < nsb; ++i)
        for (int g = 0; g < G; ++g) {
            for (int r = 0; r < 8; ++r) {
                const bool live = 8 * g + r < rows;
                const unsigned char* x = w + (size_t)(8 * g + r) * ws + (size_t)(i0 + i) * block;
                int8_t sc[16] = {}, mn[16] = {};
                if (live && q6) std::memcpy(sc, x + offsetof(block_q6_k, scales), 16);
                if (live && q3) q3_k_scales(x + offsetof(block_q3_k, scales), sc);
                if (live && q2)
                    for (int j = 0; j < 16; ++j) sc[j] = int8_t(x[j] & 15), mn[j] = int8_t(x[j] >> 4);
                s.d[i][g][r] = live ? x86_f16_at(x + d_at) : 0.0f;
                s.dmin[i][g][r] = live && q2 ? x86_f16_at(x + offsetof(block_q2_k, dmin)) : 0.0f;
                for (int j = 0; j < 16; ++j) s.scale[i][j][g][2 * r] = s.scale[i][j][g][2 * r + 1] = sc[j];
                for (int u = 0; u < 8; ++u) s.mins[i][u][g][2 * r] = mn[2 * u], s.mins[i][u][g][2 * r + 1] = mn[2 * u + 1];
            }
            __m256i offset = _mm256_setzero_si256();
            for (int h = 0; h < 2; ++h)
                for (int k = 0; k < 4; ++k) {  // elements 128h + 32k .. +31: sub-blocks 8h + 2k and 8h + 2k + 1
                    __m256i x[8];
                    for (int r = 0; r < 8; ++r) {
                        if (8 * g + r >= rows) {
                            x[r] = _mm256_setzero_si256();
                            continue;
                        }
                        const unsigned char* xb = w + (size_t)(8 * g + r) * ws + (size_t)(i0 + i) * block;
                        if constexpr (q6) {
                            const __m256i l = x86_load(xb + 64 * h + 32 * (k % 2)), hb = x86_load(xb + offsetof(block_q6_k, qh) + 32 * h);
                            const __m256i q = _mm256_or_si256(_mm256_and_si256(k / 2 ? _mm256_srli_epi16(l, 4) : l, m4),
                                                              _mm256_slli_epi16(_mm256_and_si256(_mm256_srli_epi16(hb, 2 * k), m3), 4));
                            x[r] = _mm256_sub_epi8(q, _mm256_set1_epi8(32));
                            continue;
                        }
                        const __m256i low = _mm256_and_si256(_mm256_srli_epi16(x86_load(xb + (q3 ? offsetof(block_q3_k, qs) : offsetof(block_q2_k, qs)) + 32 * h), 2 * k), m3);
                        if constexpr (q3) {
                            const __m256i high = _mm256_and_si256(_mm256_srli_epi16(x86_load(xb), 4 * h + k), m1);
                            x[r] = _mm256_sub_epi8(_mm256_or_si256(low, _mm256_slli_epi16(high, 2)), _mm256_set1_epi8(4));
                        } else {
                            x[r] = low;
                        }
                    }
                    x86_transpose8x32(x);
                    __m256i sum16[2] = {_mm256_setzero_si256(), _mm256_setzero_si256()};
                    for (int c = 0; c < 8; ++c) {
                        _mm256_store_si256(reinterpret_cast<__m256i*>(s.levels[i][4 * h + k][c][g]), x[c]);
                        sum16[c / 4] = _mm256_add_epi16(sum16[c / 4], _mm256_maddubs_epi16(ones8, x[c]));
                    }
                    for (int e = 0; e < 2; ++e)
                        offset = _mm256_add_epi32(offset, _mm256_madd_epi16(sum16[e], _mm256_load_si256(reinterpret_cast<const __m256i*>(s.scale[i][8 * h + 2 * k + e][g]))));
                }
            _mm256_store_si256(reinterpret_cast<__m256i*>(s.offset[i][g]), _mm256_slli_epi32(offset, 7));
        }
}

template <tensor_type Type>
struct x86_rowlane_k16 {
    static constexpr int groups = 2, tokens = 3, block_elems = 256;
    using strip = x86_rowlane_strip_k6<groups>;
    static void pack(const unsigned char* w, size_t ws, int rows, int64_t i0, int nsb, strip& s) { x86_rowlane_pack_k16<groups, Type>(w, ws, rows, i0, nsb, s); }
    template <int T> static void run(const strip& s, int nsb, int64_t i0, const unsigned char* a, size_t as, __m256 (*acc)[groups]) {
        x86_rowlane_tokens_k16<groups, T, Type == tensor_type::q6_k ? 2 : 4, Type == tensor_type::q2_k>(s, nsb, i0, a, as, acc);
    }
};
using x86_rowlane_q6_k = x86_rowlane_k16<tensor_type::q6_k>;
using x86_rowlane_q3_k = x86_rowlane_k16<tensor_type::q3_k>;
using x86_rowlane_q2_k = x86_rowlane_k16<tensor_type::q2_k>;
#endif
#endif  // AI_X86_MM512

#if AI_X86_MM512
#if defined(__GNUC__) && !defined(__clang__)
#pragma GCC diagnostic push  // GCC 12 (-O2, the dispatch unit) sees dot[][] in the Q6_K pass as maybe uninitialized; it is not
#pragma GCC diagnostic ignored "-Wuninitialized"
#pragma GCC diagnostic ignored "-Wmaybe-uninitialized"
#endif
// ---- AVX-512 VNNI batches of K-quants: rows in the lanes ------------------------------------------
// As the 32-block formats' (x512_rowlane_mm), on strips whose blocks are 32 elements of a super-block:
// Q4_K, Q5_K: a 32-element sub-block is a block of unsigned levels q (0..15, 0..31), vpdpbusd's
// unsigned operand against the q8_k activations, with its scale d * sc and its minimum -dmin * m
// (both exact in float: 11 by 6 bits) applied as Q4_1's are (x512_rowlane_tokens_min):
//     acc = fma(float(dot), d_w * d_a, acc);  acc = fma(m_w, d_a * sum of the 32 activations, acc)
// Q6_K: a 32-element block holds two 16-element sub-blocks, each with its own scale d * sc (exact:
// 11 by 8 bits) and its own dot (4 vpdpbusd): levels q - 32 signed against the activations plus
// 128, each dot starting at -128 * the sum of its levels; per sub-block in order,
//     acc = fma(float(dot), d_w * d_a, acc)
struct x512_acts_q8_k {  // block b: sub-block b % 8 of super-block b / 8
    static const unsigned char* qs(const unsigned char* a, int64_t b) {
        return a + (size_t)(b / 8) * sizeof(block_q8_k) + q8k_qs + 32 * (size_t)(b % 8);
    }
    static void scales(const unsigned char* a, int64_t b, float& d, float& s) {
        const unsigned char* sb = a + (size_t)(b / 8) * sizeof(block_q8_k);
        int16_t sums[2];
        std::memcpy(&d, sb, 4);
        std::memcpy(sums, sb + q8k_bsums + 4 * (size_t)(b % 8), 4);
        s = d * (float)(sums[0] + sums[1]);
    }
};

// Q4_K (Five false) or Q5_K: 32-element blocks [b0, b0 + nbc) of rows [0, rows) into s.
template <bool Five, int G, int Chunk>
inline void x512_rowlane_pack_k4(const unsigned char* w, size_t ws, int rows, int64_t b0, int nbc, x86_rowlane_strip<G, Chunk>& s) {
    constexpr size_t block = Five ? sizeof(block_q5_k) : sizeof(block_q4_k), qs = Five ? offsetof(block_q5_k, qs) : offsetof(block_q4_k, qs);
    const __m256i low4 = _mm256_set1_epi8(15);
    for (int r = 0; r < 8 * G; ++r)
        for (int b = 0; b < nbc; ++b) {
            float& d = s.d[b][r / 8][r % 8];
            float& m = s.m[b][r / 8][r % 8];
            if (r >= rows) {
                d = m = 0.0f;
                continue;
            }
            const int64_t e = b0 + b;
            const int j = (int)(e % 8);
            const unsigned char* x = w + (size_t)r * ws + (size_t)(e / 8) * block;
            const unsigned char* q = x + 4;  // the 12 bytes of 6-bit scales and minimums (see block_q4_k)
            const int sc = j < 4 ? q[j] & 63 : (q[j + 4] & 0xF) | ((q[j - 4] >> 6) << 4);
            const int mn = j < 4 ? q[j + 4] & 63 : (q[j + 4] >> 4) | ((q[j] >> 6) << 4);
            d = x86_f16_at(x) * (float)sc;
            m = -(x86_f16_at(x + 2) * (float)mn);
        }
    for (int b = 0; b < nbc; ++b) {
        const int64_t e = b0 + b;
        const int j = (int)(e % 8);
        for (int g = 0; g < G; ++g) {
            __m256i x[8];
            for (int r = 0; r < 8; ++r) {
                if (8 * g + r >= rows) {
                    x[r] = _mm256_setzero_si256();
                    continue;
                }
                const unsigned char* xb = w + (size_t)(8 * g + r) * ws + (size_t)(e / 8) * block;
                const __m256i bits = x86_load(xb + qs + 32 * (j / 2));  // sub-blocks 2i, 2i + 1: the low, high nibbles
                x[r] = _mm256_and_si256(j % 2 ? _mm256_srli_epi16(bits, 4) : bits, low4);
                if constexpr (Five)  // element l's fifth bit: bit j of qh[l]
                    x[r] = _mm256_or_si256(x[r], _mm256_slli_epi16(_mm256_and_si256(_mm256_srli_epi16(x86_load(xb + offsetof(block_q5_k, qh)), j), _mm256_set1_epi8(1)), 4));
            }
            x86_transpose8x32(x);
            for (int c = 0; c < 8; ++c) _mm256_store_si256(reinterpret_cast<__m256i*>(s.levels[b][c][g]), x[c]);
        }
    }
}

template <bool Five> struct x512_rowlane_k4 {
    static constexpr int halves = 2, tokens = 4;
    using strip = x512_rowlane_strip<halves>;
    static size_t byte_of(int64_t b) { return (size_t)b * (Five ? sizeof(block_q5_k) : sizeof(block_q4_k)) / 8; }
    static void pack(const unsigned char* w, size_t ws, int rows, int64_t b0, int nb, strip& s) { x512_rowlane_pack_k4<Five>(w, ws, rows, b0, nb, s); }
    template <int T> static void run(const strip& s, int nb, int64_t b0, const unsigned char* a, size_t as, __m512 (*acc)[halves]) {
        x512_rowlane_tokens_min<halves, T, x512_acts_q8_k>(s, nb, b0, a, as, acc);
    }
};
using x512_rowlane_q4_k = x512_rowlane_k4<false>;
using x512_rowlane_q5_k = x512_rowlane_k4<true>;

// Q6_K strips: 32-element blocks of two 16-element sub-blocks (columns 0..3 and 4..7).
template <int G, int Chunk> struct x512_rowlane_strip_q6_k {
    static constexpr int chunk = Chunk;
    alignas(64) int8_t levels[Chunk][8][G][32];  // as x86_rowlane_strip's
    alignas(64) float d[Chunk][2][G][8];         // [block][sub-block]: d * sc per row
    alignas(64) int32_t offset[Chunk][2][G][8];  // 128 * the sum of the sub-block's levels per row
};
template <int G, int Chunk>
inline void x512_rowlane_pack_q6_k(const unsigned char* w, size_t ws, int rows, int64_t b0, int nbc, x512_rowlane_strip_q6_k<G, Chunk>& s) {
    const __m256i low4 = _mm256_set1_epi8(15), three = _mm256_set1_epi8(3), x20 = _mm256_set1_epi8(32), ones8 = _mm256_set1_epi8(1);
    const __m256i ones16 = _mm256_set1_epi16(1);
    for (int b = 0; b < nbc; ++b) {
        const int64_t e = b0 + b;
        const int k = (int)(e % 8), half = k / 4, quarter = k % 4;  // elements 128 half + 32 quarter + l of the super-block
        for (int g = 0; g < G; ++g) {
            __m256i x[8];
            for (int r = 0; r < 8; ++r) {
                float* d = &s.d[b][0][g][r];
                if (8 * g + r >= rows) {
                    x[r] = _mm256_setzero_si256();
                    d[0] = s.d[b][1][g][r] = 0.0f;
                    continue;
                }
                const unsigned char* xb = w + (size_t)(8 * g + r) * ws + (size_t)(e / 8) * sizeof(block_q6_k);
                const __m256i ql = x86_load(xb + offsetof(block_q6_k, ql) + 64 * half + 32 * (quarter & 1));
                const __m256i qh = x86_load(xb + offsetof(block_q6_k, qh) + 32 * half);
                const __m256i lo = _mm256_and_si256(quarter >= 2 ? _mm256_srli_epi16(ql, 4) : ql, low4);
                const __m256i hi = _mm256_and_si256(_mm256_srl_epi16(qh, _mm_cvtsi32_si128(2 * quarter)), three);
                x[r] = _mm256_sub_epi8(_mm256_or_si256(lo, _mm256_slli_epi16(hi, 4)), x20);
                const int8_t* sc = reinterpret_cast<const int8_t*>(xb + offsetof(block_q6_k, scales)) + 2 * k;
                const float dd = x86_f16_at(xb + offsetof(block_q6_k, d));
                d[0] = dd * (float)sc[0];
                s.d[b][1][g][r] = dd * (float)sc[1];
            }
            x86_transpose8x32(x);
            __m256i sum16[2] = {_mm256_setzero_si256(), _mm256_setzero_si256()};
            for (int c = 0; c < 8; ++c) {
                _mm256_store_si256(reinterpret_cast<__m256i*>(s.levels[b][c][g]), x[c]);
                sum16[c / 4] = _mm256_add_epi16(sum16[c / 4], _mm256_maddubs_epi16(ones8, x[c]));  // |pairs| <= 64, 4 columns <= 256
            }
            for (int u = 0; u < 2; ++u)
                _mm256_store_si256(reinterpret_cast<__m256i*>(s.offset[b][u][g]), _mm256_slli_epi32(_mm256_madd_epi16(sum16[u], ones16), 7));
        }
    }
}
struct x512_rowlane_q6_k {
    static constexpr int halves = 2, tokens = 4;
    using strip = x512_rowlane_strip_q6_k<2 * halves, x512_rowlane_chunk>;
    static size_t byte_of(int64_t b) { return (size_t)b * sizeof(block_q6_k) / 8; }
    static void pack(const unsigned char* w, size_t ws, int rows, int64_t b0, int nb, strip& s) { x512_rowlane_pack_q6_k(w, ws, rows, b0, nb, s); }
    template <int T> static void run(const strip& s, int nb, int64_t b0, const unsigned char* a, size_t as, __m512 (*acc)[halves]) {
        x512_rowlane_tokens_offset<halves, T, 2, x512_acts_q8_k>(s, nb, b0, a, as, acc);
    }
};
#if defined(__GNUC__) && !defined(__clang__)
#pragma GCC diagnostic pop
#endif
#endif  // AI_X86_MM512

#if AI_X86_INT8
// A Q3_K block's sixteen scales minus 32 (q3_k_scales in registers). The 16 bytes read are the
// last 4 of qs and the 12 scale bytes: nothing outside the block.
inline __m128i x86_q3_k_scales(const unsigned char* block) {
    const __m128i b = _mm_loadu_si128(reinterpret_cast<const __m128i*>(block + offsetof(block_q3_k, scales) - 4));  // scales at bytes 4..15
    const __m128i v = _mm_shuffle_epi8(b, _mm_setr_epi8(4, 5, 6, 7, 8, 9, 10, 11, 4, 5, 6, 7, 8, 9, 10, 11));
    const __m128i low = _mm_and_si128(_mm_srlv_epi64(v, _mm_set_epi64x(4, 0)), _mm_set1_epi8(15));  // 0..7: low nibbles, 8..15: high
    const __m128i h = _mm_shuffle_epi8(b, _mm_setr_epi8(12, 13, 14, 15, 12, 13, 14, 15, 12, 13, 14, 15, 12, 13, 14, 15));
    const __m128i high = _mm_and_si128(_mm_srlv_epi32(h, _mm_setr_epi32(0, 2, 4, 6)), _mm_set1_epi8(3));  // byte j: bits 2 (j / 4) ..
    return _mm_sub_epi8(_mm_or_si128(low, _mm_slli_epi16(high, 4)), _mm_set1_epi8(32));
}
// Tiles of the formats with 16 sub-blocks of 16 (decode, and batches where no faster path exists),
// 256 bits wide: Q3_K and Q2_K in every x86 set, Q6_K where there is no 512-bit one. Per (row,
// token) and super-block, the eight 32-element chunks as int8 dots with the two sub-block scales
// in int16, summed in int32 lanes, then
//     Q6_K: acc = fma(float(dot - 32 * sum(sc * bsum)), d * d_a, acc)  (levels q, 0..63, for q - 32)
//     Q3_K: acc = fma(float(dot - 4 * sum(sc * bsum)), d * d_a, acc)   (levels q, 0..7, for q - 4)
//     Q2_K: acc = fma(float(dot), d * d_a, acc); acc = fnmadd(float(sum(m * bsum)), dmin * d_a, acc)
// the bsum terms in vector lanes too, so an output's bits depend on n alone.
template <tensor_type Type>
struct x86_mm_k16 {
    static_assert(Type == tensor_type::q6_k || Type == tensor_type::q3_k || Type == tensor_type::q2_k, "Q6_K, Q3_K or Q2_K");
    static constexpr bool q6 = Type == tensor_type::q6_k, q3 = Type == tensor_type::q3_k, q2 = Type == tensor_type::q2_k;
    static constexpr size_t bytes = q6 ? sizeof(block_q6_k) : q3 ? sizeof(block_q3_k) : sizeof(block_q2_k);
    template <int R, int T>
    static void tile(const unsigned char* w, size_t ws, size_t ahead, const unsigned char* a, size_t as, int64_t nb, float* y, int64_t ys) {
        __m256 acc[R][T];
        AI_MM_UNROLL
        for (int r = 0; r < R; ++r)
            AI_MM_UNROLL
            for (int t = 0; t < T; ++t) acc[r][t] = _mm256_setzero_ps();
        const __m256i m3 = _mm256_set1_epi8(3), m4 = _mm256_set1_epi8(15), bit2 = _mm256_set1_epi8(4), bits45 = _mm256_set1_epi8(0x30);
        for (int64_t i = 0; i < nb; ++i) {
            float dy[T];
            AI_MM_UNROLL
            for (int t = 0; t < T; ++t) std::memcpy(&dy[t], a + (size_t)t * as + (size_t)i * sizeof(block_q8_k), 4);
            AI_MM_UNROLL
            for (int r = 0; r < R; ++r) {
                const unsigned char* x = w + (size_t)r * ws + (size_t)i * bytes;
                x86_mm_prefetch_tile<R, T>(x, bytes, i, nb, ws, ahead);
                // Chunk c's two scales as int16 lanes take one pshufb: of the scale bytes (Q2_K, unsigned:
                // x86_scale_pair_u8), or (Q6_K, Q3_K: signed) of the int16 scales 0..7 (c < 4) or 8..15
                // in both 128-bit lanes (sc_lo, sc_hi). side: the scales times 32 or 4 (Q6_K, Q3_K,
                // against -bsums) or the mins (Q2_K).
                __m256i sc_lo, sc_hi, side;
                if constexpr (q6 || q3) {
                    const __m256i sc16 = _mm256_cvtepi8_epi16(q6 ? _mm_loadu_si128(reinterpret_cast<const __m128i*>(x + offsetof(block_q6_k, scales))) : x86_q3_k_scales(x));
                    sc_lo = _mm256_permute2x128_si256(sc16, sc16, 0x00);
                    sc_hi = _mm256_permute2x128_si256(sc16, sc16, 0x11);
                    side = _mm256_slli_epi16(sc16, q6 ? 5 : 2);
                } else {
                    const __m128i b = _mm_loadu_si128(reinterpret_cast<const __m128i*>(x + offsetof(block_q2_k, scales)));
                    sc_lo = sc_hi = _mm256_broadcastsi128_si256(_mm_and_si128(b, _mm_set1_epi8(15)));
                    side = _mm256_cvtepu8_epi16(_mm_and_si128(_mm_srli_epi16(b, 4), _mm_set1_epi8(15)));
                }
                __m256i sumi[T], msum[T];
                AI_MM_UNROLL
                for (int t = 0; t < T; ++t) {
                    const __m256i bsums = x86_load(a + (size_t)t * as + (size_t)i * sizeof(block_q8_k) + q8k_bsums);
                    if constexpr (q6 || q3) sumi[t] = _mm256_madd_epi16(side, _mm256_sub_epi16(_mm256_setzero_si256(), bsums));
                    else sumi[t] = _mm256_setzero_si256(), msum[t] = _mm256_madd_epi16(side, bsums);
                }
                const __m256i hmask = q3 ? x86_load(x) : _mm256_setzero_si256();
                AI_MM_UNROLL
                for (int h = 0; h < 2; ++h) {
                    const __m256i bits = x86_load(x + (q6 ? 64 * h : (q3 ? offsetof(block_q3_k, qs) : offsetof(block_q2_k, qs)) + 32 * h));
                    const __m256i bits1 = q6 ? x86_load(x + 64 * h + 32) : bits;  // Q6_K: ql of elements 128h + 32 .. +63 and + 96 .. +127
                    const __m256i qh = q6 ? x86_load(x + offsetof(block_q6_k, qh) + 32 * h) : bits;
                    AI_MM_UNROLL
                    for (int k = 0; k < 4; ++k) {  // elements 128h + 32k .. +31
                        __m256i q;
                        if constexpr (q6) {  // low nibble k / 2 of ql, bits 2k, 2k + 1 of qh to bits 4, 5
                            const __m256i l = k % 2 ? bits1 : bits;
                            const __m256i hb = k < 2 ? _mm256_slli_epi16(qh, 4 - 2 * k) : k == 2 ? qh : _mm256_srli_epi16(qh, 2);
                            q = _mm256_or_si256(_mm256_and_si256(k / 2 ? _mm256_srli_epi16(l, 4) : l, m4), _mm256_and_si256(hb, bits45));
                        } else {
                            q = _mm256_and_si256(_mm256_srli_epi16(bits, 2 * k), m3);
                        }
                        if constexpr (q3) {  // bit j = 4h + k of each hmask byte to bit 2
                            const int j = 4 * h + k;
                            q = _mm256_or_si256(q, _mm256_and_si256(j >= 2 ? _mm256_srli_epi16(hmask, j - 2) : _mm256_slli_epi16(hmask, 2 - j), bit2));
                        }
                        const int c4 = 4 * k;  // Q6_K, Q3_K: scales 8h + 2k and 8h + 2k + 1 are int16 lanes 2k, 2k + 1 of sc_lo / sc_hi
                        const __m256i sc = q6 || q3 ? _mm256_shuffle_epi8(h ? sc_hi : sc_lo, _mm256_set_m128i(_mm_set1_epi16(short((c4 + 3) << 8 | (c4 + 2))), _mm_set1_epi16(short((c4 + 1) << 8 | c4))))
                                              : x86_scale_pair_u8(sc_lo, 4 * h + k);
                        AI_MM_UNROLL
                        for (int t = 0; t < T; ++t) {
                            const unsigned char* yb = a + (size_t)t * as + (size_t)i * sizeof(block_q8_k);
                            sumi[t] = x86_mm_madd_acc(sumi[t], _mm256_maddubs_epi16(q, x86_load(yb + q8k_qs + 32 * (4 * h + k))), sc);
                        }
                    }
                }
                const float d = x86_f16_at(x + (q6 ? offsetof(block_q6_k, d) : q3 ? offsetof(block_q3_k, d) : offsetof(block_q2_k, d)));
                const float dmin = q2 ? x86_f16_at(x + offsetof(block_q2_k, dmin)) : 0.0f;
                AI_MM_UNROLL
                for (int t = 0; t < T; ++t) {
                    acc[r][t] = _mm256_fmadd_ps(_mm256_set1_ps(d * dy[t]), _mm256_cvtepi32_ps(sumi[t]), acc[r][t]);
                    if constexpr (q2) acc[r][t] = _mm256_fnmadd_ps(_mm256_set1_ps(dmin * dy[t]), _mm256_cvtepi32_ps(msum[t]), acc[r][t]);
                }
            }
        }
        AI_MM_UNROLL
        for (int t = 0; t < T; ++t)
            AI_MM_UNROLL
            for (int r = 0; r < R; ++r) y[t * ys + r] = x86_hsum(acc[r][t]);
    }
};
using x86_mm_q3_k = x86_mm_k16<tensor_type::q3_k>;
using x86_mm_q2_k = x86_mm_k16<tensor_type::q2_k>;
#if !AI_X86_MM512
using x86_mm_q6_k = x86_mm_k16<tensor_type::q6_k>;
#endif
#endif
}  // namespace detail

#if AI_X86_INT8
#if AI_X86_MM512
#define AI_MM_TILE(R, T) R, T  // rows x tokens per tile (4 x 6 measured no better)
#else
#define AI_MM_TILE(R, T) 2, 4
#endif
// Decode (nt == 1): a row from each of decode_part_count parts side by side, each prefetching its
// successor into L2 (mm_decode). Same per-output arithmetic as the larger tiles.
namespace simd {
void mm_q4_k_q8_k(const void* w, size_t w_stride, int64_t nr, const void* a, size_t a_stride, int64_t nt,
                         int64_t n, float* y, int64_t y_stride) {
    if (nt == 1) return detail::mm_decode<detail::x86_mm_k4<false>>(w, w_stride, nr, a, n, y);
#if defined(AI_X86_ROWLANES) && !AI_X86_MM512
    if (nt >= detail::x86_rowlane_min_tokens) return detail::x86_rowlane_mm<detail::x86_rowlane_q4_k>(w, w_stride, nr, a, a_stride, nt, n, y, y_stride);
#endif
#if AI_X86_MM512
    if (nt >= detail::x86_rowlane_min_tokens) return detail::x512_rowlane_mm<detail::x512_rowlane_q4_k>(w, w_stride, nr, a, a_stride, nt, n, y, y_stride);
#endif
    detail::mm_tiles<detail::x86_mm_k4<false>, AI_MM_TILE(4, 4)>(w, w_stride, nr, a, a_stride, nt, n, y, y_stride);
}
void mm_q5_k_q8_k(const void* w, size_t w_stride, int64_t nr, const void* a, size_t a_stride, int64_t nt,
                         int64_t n, float* y, int64_t y_stride) {
    if (nt == 1) return detail::mm_decode<detail::x86_mm_k4<true>>(w, w_stride, nr, a, n, y);
#if defined(AI_X86_ROWLANES) && !AI_X86_MM512
    if (nt >= detail::x86_rowlane_min_tokens) return detail::x86_rowlane_mm<detail::x86_rowlane_q5_k>(w, w_stride, nr, a, a_stride, nt, n, y, y_stride);
#endif
#if AI_X86_MM512
    if (nt >= detail::x86_rowlane_min_tokens) return detail::x512_rowlane_mm<detail::x512_rowlane_q5_k>(w, w_stride, nr, a, a_stride, nt, n, y, y_stride);
#endif
    detail::mm_tiles<detail::x86_mm_k4<true>, AI_MM_TILE(4, 4)>(w, w_stride, nr, a, a_stride, nt, n, y, y_stride);
}
void mm_q6_k_q8_k(const void* w, size_t w_stride, int64_t nr, const void* a, size_t a_stride, int64_t nt,
                         int64_t n, float* y, int64_t y_stride) {
    if (nt == 1) return detail::mm_decode<detail::x86_mm_q6_k>(w, w_stride, nr, a, n, y);
#if defined(AI_X86_ROWLANES) && !AI_X86_MM512
    if (nt >= detail::x86_rowlane_min_tokens) return detail::x86_rowlane_mm<detail::x86_rowlane_q6_k>(w, w_stride, nr, a, a_stride, nt, n, y, y_stride);
#endif
#if AI_X86_MM512
    if (nt >= detail::x86_rowlane_min_tokens) return detail::x512_rowlane_mm<detail::x512_rowlane_q6_k>(w, w_stride, nr, a, a_stride, nt, n, y, y_stride);
#endif
    detail::mm_tiles<detail::x86_mm_q6_k, AI_MM_TILE(4, 4)>(w, w_stride, nr, a, a_stride, nt, n, y, y_stride);
}
void mm_q3_k_q8_k(const void* w, size_t w_stride, int64_t nr, const void* a, size_t a_stride, int64_t nt,
                         int64_t n, float* y, int64_t y_stride) {
    if (nt == 1) return detail::mm_decode<detail::x86_mm_q3_k>(w, w_stride, nr, a, n, y);
#if defined(AI_X86_ROWLANES) && !AI_X86_MM512
    if (nt >= detail::x86_rowlane_min_tokens) return detail::x86_rowlane_mm<detail::x86_rowlane_q3_k>(w, w_stride, nr, a, a_stride, nt, n, y, y_stride);
#endif
    detail::mm_tiles<detail::x86_mm_q3_k, 2, 4>(w, w_stride, nr, a, a_stride, nt, n, y, y_stride);
}
void mm_q2_k_q8_k(const void* w, size_t w_stride, int64_t nr, const void* a, size_t a_stride, int64_t nt,
                         int64_t n, float* y, int64_t y_stride) {
    if (nt == 1) return detail::mm_decode<detail::x86_mm_q2_k>(w, w_stride, nr, a, n, y);
#if defined(AI_X86_ROWLANES) && !AI_X86_MM512
    if (nt >= detail::x86_rowlane_min_tokens) return detail::x86_rowlane_mm<detail::x86_rowlane_q2_k>(w, w_stride, nr, a, a_stride, nt, n, y, y_stride);
#endif
    detail::mm_tiles<detail::x86_mm_q2_k, 2, 4>(w, w_stride, nr, a, a_stride, nt, n, y, y_stride);
}
}  // namespace simd
#undef AI_MM_TILE
#else
// Elsewhere: the row kernel per (row, token).
namespace simd {
void mm_q4_k_q8_k(const void* w, size_t ws, int64_t nr, const void* a, size_t as, int64_t nt, int64_t n, float* y, int64_t ys) {
    detail::mm_by_rows(simd::vec_dot_q4_k_q8_k, w, ws, nr, a, as, nt, n, y, ys);
}
void mm_q5_k_q8_k(const void* w, size_t ws, int64_t nr, const void* a, size_t as, int64_t nt, int64_t n, float* y, int64_t ys) {
    detail::mm_by_rows(simd::vec_dot_q5_k_q8_k, w, ws, nr, a, as, nt, n, y, ys);
}
void mm_q6_k_q8_k(const void* w, size_t ws, int64_t nr, const void* a, size_t as, int64_t nt, int64_t n, float* y, int64_t ys) {
    detail::mm_by_rows(simd::vec_dot_q6_k_q8_k, w, ws, nr, a, as, nt, n, y, ys);
}
void mm_q3_k_q8_k(const void* w, size_t ws, int64_t nr, const void* a, size_t as, int64_t nt, int64_t n, float* y, int64_t ys) {
    detail::mm_by_rows(simd::vec_dot_q3_k_q8_k, w, ws, nr, a, as, nt, n, y, ys);
}
void mm_q2_k_q8_k(const void* w, size_t ws, int64_t nr, const void* a, size_t as, int64_t nt, int64_t n, float* y, int64_t ys) {
    detail::mm_by_rows(simd::vec_dot_q2_k_q8_k, w, ws, nr, a, as, nt, n, y, ys);
}
}  // namespace simd
#endif
#undef AI_X86_MM512
#undef AI_MM_UNROLL
#undef AI_X86_ROWLANES

// ---- Tile kernels (matrix x matrix) -------------------------------------------------------------
// mm_fn kernels compute a tile of R weight rows x T tokens at once, so each weight vector loaded
// serves T tokens and each activation vector R rows. Every output element has its own accumulator
// chain, whose order depends only on n, never on where the element falls in a tile: results are
// the same bits however rows and tokens are split among calls (threads, batches).

// F32 / F16 rows x float activations.
// GCC keeps an array of vector accumulators in registers only when the loops over it are unrolled,
// which -O2 does not do by itself for these nests.
#if defined(__clang__)
#define AI_TILE_UNROLL _Pragma("unroll")
#elif defined(__GNUC__)
#define AI_TILE_UNROLL _Pragma("GCC unroll 16")
#else
#define AI_TILE_UNROLL
#endif
#if AI_HAVE_XSIMD && defined(__AVX512F__)
#if defined(__GNUC__) && !defined(__clang__)
#pragma GCC diagnostic push
#pragma GCC diagnostic ignored "-Wuninitialized"
#pragma GCC diagnostic ignored "-Wmaybe-uninitialized"
#endif
namespace detail {
// 16 weights of row `p` at element i as floats; `mask` selects the lanes that exist (the tail).
// Full steps use plain loads (masked ones measured slower on the streaming decode path).
template <bool F16> inline __m512 x512_wload(const unsigned char* p, int64_t i, __mmask16 mask) {
    if (mask == (__mmask16)0xFFFF) {
        if (F16) return _mm512_cvtph_ps(_mm256_loadu_si256(reinterpret_cast<const __m256i*>(p + 2 * i)));
        return _mm512_loadu_ps(p + 4 * i);
    }
    if (F16) return _mm512_cvtph_ps(_mm256_maskz_loadu_epi16(mask, p + 2 * i));
    return _mm512_maskz_loadu_ps(mask, p + 4 * i);
}
inline __m512 x512_aload(const unsigned char* p, __mmask16 mask) {
    return mask == (__mmask16)0xFFFF ? _mm512_loadu_ps(p) : _mm512_maskz_loadu_ps(mask, p);
}
template <bool F16, int R, int T>
inline void x512_tile_float(const unsigned char* w, size_t ws, const float* a, size_t as, int64_t n, float* y, int64_t ys) {
    __m512 acc[R][T];
    AI_TILE_UNROLL
    for (int r = 0; r < R; ++r)
        AI_TILE_UNROLL
        for (int t = 0; t < T; ++t) acc[r][t] = _mm512_setzero_ps();
    for (int64_t i = 0; i < n; i += 16) {
        const __mmask16 mask = n - i >= 16 ? (__mmask16)0xFFFF : (__mmask16)((1u << (n - i)) - 1u);
        __m512 wv[R];
        AI_TILE_UNROLL
        for (int r = 0; r < R; ++r) {
            // One prefetch per 64-byte line: 1 KiB ahead into L1 for tiles; decode (one token)
            // into L2, R rows from R parts decode_prefetch_max ahead as the int8 kernels do, a
            // single row 4 KiB ahead (measured 15-20% faster F16 decode than 2 KiB into L1: L1
            // prefetches hold fill buffers, of which there are few, for the whole memory latency).
            const unsigned char* p = w + r * ws + (F16 ? 2 : 4) * i;
            if (!F16 || (i & 16) == 0) {
                if (T > 1) _mm_prefetch(reinterpret_cast<const char*>(p) + 1024, _MM_HINT_T0);
                else _mm_prefetch(reinterpret_cast<const char*>(p) + (R == 1 ? 4096 : decode_prefetch_max), _MM_HINT_T1);
            }
            wv[r] = x512_wload<F16>(w + r * ws, i, mask);
        }
        AI_TILE_UNROLL
        for (int t = 0; t < T; ++t) {
            const __m512 av = x512_aload(reinterpret_cast<const unsigned char*>(a) + t * as + 4 * i, mask);
            AI_TILE_UNROLL
            for (int r = 0; r < R; ++r) acc[r][t] = _mm512_fmadd_ps(wv[r], av, acc[r][t]);
        }
    }
    AI_TILE_UNROLL
    for (int r = 0; r < R; ++r)
        AI_TILE_UNROLL
        for (int t = 0; t < T; ++t) y[t * ys + r] = _mm512_reduce_add_ps(acc[r][t]);
}
}  // namespace detail
#if defined(__GNUC__) && !defined(__clang__)
#pragma GCC diagnostic pop
#endif
#define AI_TILE_FLOAT(F16, R, T, W, WS, A, AS, N, Y, YS) \
    detail::x512_tile_float<F16, R, T>(W, WS, reinterpret_cast<const float*>(A), AS, N, Y, YS)
#define AI_TILE_ROWS 4
#define AI_TILE_TOKENS 4
// Decode: a row from each of 8 parts at a time (decode_parts), as the int8 kernels read. Against
// one row after another (a single stream 4 KiB prefetched), F16 decode on the Xeon, one thread,
// alternated: TinyLlama 6.81 -> 7.61 tok/s, Qwen2.5-0.5B 14.8 -> 16.1, DeepSeek-1.5B 5.2-5.4 -> 5.1-5.3.
#define AI_TILE_DECODE_ROWS decode_part_count
#elif AI_X86_INT8
namespace detail {
template <bool F16> inline __m256 x256_wload(const unsigned char* p, int64_t i) {
    if (F16) return _mm256_cvtph_ps(_mm_loadu_si128(reinterpret_cast<const __m128i*>(p + 2 * i)));
    return _mm256_loadu_ps(reinterpret_cast<const float*>(p + 4 * i));
}
// 8 lanes per step; the elements past the last multiple of 8 go through a scalar tail per element.
template <bool F16, int R, int T>
inline void x256_tile_float(const unsigned char* w, size_t ws, const float* a, size_t as, int64_t n, float* y, int64_t ys) {
    __m256 acc[R][T];
    AI_TILE_UNROLL
    for (int r = 0; r < R; ++r)
        AI_TILE_UNROLL
        for (int t = 0; t < T; ++t) acc[r][t] = _mm256_setzero_ps();
    const int64_t n8 = n & ~(int64_t)7;
    for (int64_t i = 0; i < n8; i += 8) {
        __m256 wv[R];
        AI_TILE_UNROLL
        for (int r = 0; r < R; ++r) {
            _mm_prefetch(reinterpret_cast<const char*>(w + r * ws + (F16 ? 2 : 4) * i) + 1024, _MM_HINT_T0);
            wv[r] = x256_wload<F16>(w + r * ws, i);
        }
        AI_TILE_UNROLL
        for (int t = 0; t < T; ++t) {
            const __m256 av = _mm256_loadu_ps(reinterpret_cast<const float*>(reinterpret_cast<const unsigned char*>(a) + t * as) + i);
            AI_TILE_UNROLL
            for (int r = 0; r < R; ++r) acc[r][t] = _mm256_fmadd_ps(wv[r], av, acc[r][t]);
        }
    }
    AI_TILE_UNROLL
    for (int r = 0; r < R; ++r)
        AI_TILE_UNROLL
        for (int t = 0; t < T; ++t) {
            float sum = x86_hsum(acc[r][t]);
            const float* at = reinterpret_cast<const float*>(reinterpret_cast<const unsigned char*>(a) + t * as);
            for (int64_t i = n8; i < n; ++i) {
                float wf;
                if (F16) {
                    uint16_t h;
                    std::memcpy(&h, w + r * ws + 2 * i, 2);
                    wf = _cvtsh_ss(h);
                } else {
                    std::memcpy(&wf, w + r * ws + 4 * i, 4);
                }
                sum += wf * at[i];
            }
            y[t * ys + r] = sum;
        }
}
}  // namespace detail
#define AI_TILE_FLOAT(F16, R, T, W, WS, A, AS, N, Y, YS) \
    detail::x256_tile_float<F16, R, T>(W, WS, reinterpret_cast<const float*>(A), AS, N, Y, YS)
#define AI_TILE_ROWS 2
#define AI_TILE_TOKENS 4
// Decode: a tile of one row has a single FMA chain, 8 products per FMA latency (4 cycles on Zen 3:
// 6.9 GMAC/s, 13.7 GB/s of F16 from L2, below memory speed); 4 rows side by side are 4 chains.
#define AI_TILE_DECODE_ROWS 4
#endif

#if defined(AI_TILE_FLOAT)
namespace detail {
// Walks an nr x nt product in tiles of (up to) R x T; `Tile<r, t>` runs one tile.
template <bool F16>
inline void tile_walk_float(const void* w, size_t ws, int64_t nr, const void* a, size_t as, int64_t nt, int64_t n, float* y, int64_t ys) {
    const unsigned char* wp = static_cast<const unsigned char*>(w);
    const unsigned char* ap = static_cast<const unsigned char*>(a);
    constexpr int R = AI_TILE_ROWS, T = AI_TILE_TOKENS;
    if (nt == 1) {
        if constexpr (AI_TILE_DECODE_ROWS == 1) {  // one row after another, a single stream the prefetchers follow across rows
            for (int64_t r = 0; r < nr; ++r) AI_TILE_FLOAT(F16, 1, 1, wp + (size_t)r * ws, ws, ap, as, n, y + r, ys);
        } else {  // a row from each of AI_TILE_DECODE_ROWS parts at a time (decode_parts); each row's sum is as above
            decode_parts<AI_TILE_DECODE_ROWS>(wp, ws, nr, y, [&](auto rows, const unsigned char* wr, size_t rs, float* out) {
                AI_TILE_FLOAT(F16, decltype(rows)::value, 1, wr, rs, ap, as, n, out, 1);
            });
        }
        return;
    }
    for (int64_t t0 = 0; t0 < nt; t0 += T) {
        const int64_t tn = std::min<int64_t>(T, nt - t0);
        for (int64_t r0 = 0; r0 < nr; r0 += R) {
            const int64_t rn = std::min<int64_t>(R, nr - r0);
            const unsigned char* W = wp + (size_t)r0 * ws;
            const unsigned char* A = ap + (size_t)t0 * as;
            float* Y = y + t0 * ys + r0;
#define AI_TILE_CASE(RR, TT) \
    if (rn == RR && tn == TT) { AI_TILE_FLOAT(F16, RR, TT, W, ws, A, as, n, Y, ys); continue; }
            AI_TILE_CASE(R, T) AI_TILE_CASE(R, 1)
            // remainders: one row or one token at a time (the same per-element arithmetic)
            for (int64_t r = 0; r < rn; ++r)
                for (int64_t t = 0; t < tn; ++t) AI_TILE_FLOAT(F16, 1, 1, W + (size_t)r * ws, ws, A + (size_t)t * as, as, n, Y + t * ys + r, ys);
#undef AI_TILE_CASE
        }
    }
}
}  // namespace detail
void simd::mm_f16_f32(const void* w, size_t ws, int64_t nr, const void* a, size_t as, int64_t nt, int64_t n, float* y, int64_t ys) {
    detail::tile_walk_float<true>(w, ws, nr, a, as, nt, n, y, ys);
}
void simd::mm_f32_f32(const void* w, size_t ws, int64_t nr, const void* a, size_t as, int64_t nt, int64_t n, float* y, int64_t ys) {
    detail::tile_walk_float<false>(w, ws, nr, a, as, nt, n, y, ys);
}
#if defined(AI_X86_AMX)
// ---- AMX-BF16 for F16 weights ---------------------------------------------------------------------
// TDPBF16PS multiplies bf16 pairs and accumulates in float32. F16 weights split exactly into two
// bf16 (w = wh + wl: 11 significant bits over 8 + 3); float activations into two (x ~ xh + xl, 16
// significant bits, the rest ~2^-17 relative). The product keeps wh*xh + wh*xl + wl*xh, so each
// term is within ~2^-16 of w*x (llama.cpp rounds x to f16: 2^-11). Sums run in the C tiles across
// all of n, in the same order for every output however rows and tokens are split (the partial sums
// wait in y between chunks of n, exactly); fewer than amx_min_tokens tokens take the AVX-512 kernel.
#if defined(__GNUC__) && !defined(__clang__)
#pragma GCC diagnostic push  // GCC 12 flags the undefined upper halves inside the conversion intrinsics
#pragma GCC diagnostic ignored "-Wuninitialized"
#pragma GCC diagnostic ignored "-Wmaybe-uninitialized"
#endif
namespace detail {
#define AI_AMX_BF16_FN __attribute__((target("amx-tile,amx-bf16,avx512bf16")))
// 32 floats (two registers) as bf16 heads and tails, 16 pairs each (pair j: elements 2j, 2j + 1).
AI_AMX_BF16_FN inline void amx_split_bf16(__m512 x0, __m512 x1, __m512i* head, __m512i* tail) {
    const __m256i h0 = (__m256i)_mm512_cvtneps_pbh(x0), h1 = (__m256i)_mm512_cvtneps_pbh(x1);
    const __m512 b0 = _mm512_castsi512_ps(_mm512_slli_epi32(_mm512_cvtepu16_epi32(h0), 16));
    const __m512 b1 = _mm512_castsi512_ps(_mm512_slli_epi32(_mm512_cvtepu16_epi32(h1), 16));
    const __m256i l0 = (__m256i)_mm512_cvtneps_pbh(_mm512_sub_ps(x0, b0)), l1 = (__m256i)_mm512_cvtneps_pbh(_mm512_sub_ps(x1, b1));
    *head = _mm512_inserti64x4(_mm512_castsi256_si512(h0), h1, 1);
    *tail = _mm512_inserti64x4(_mm512_castsi256_si512(l0), l1, 1);
}
inline __mmask16 amx_mask16(int64_t left) { return left >= 16 ? (__mmask16)0xFFFF : left <= 0 ? (__mmask16)0 : (__mmask16)((1u << left) - 1); }

AI_AMX_BF16_FN inline void amx_mm_f16(const void* wv, size_t ws, int64_t nr, const void* av, size_t as, int64_t nt, int64_t n, float* y,
                                     int64_t ys) {
    if (nt < amx_min_tokens) return tile_walk_float<true>(wv, ws, nr, av, as, nt, n, y, ys);
    const unsigned char* w = static_cast<const unsigned char*>(wv);
    const unsigned char* a = static_cast<const unsigned char*>(av);
    constexpr int strips = 3, steps = 2;  // 48 rows per group, 64 elements per chunk (2 tile steps of 32)
    amx_config cfg;
    std::memset(&cfg, 0, sizeof(cfg));
    cfg.palette = 1;
    for (int i = 0; i < 8; ++i) cfg.rows[i] = 16, cfg.colsb[i] = 64;  // C 0-2, A head 3, A tail 4, B head 5, B tail 6
    _tile_loadconfig(&cfg);
    alignas(64) unsigned char bh[strips][steps][1024], bl[strips][steps][1024], ah[steps][1024], al[steps][1024];
    alignas(64) float part[16 * 16];  // a partial tile's sums (fewer than 16 rows or tokens)
    for (int64_t g0 = 0; g0 < nr; g0 += 16 * strips) {
        const int ns = (int)std::min<int64_t>(strips, (nr - g0 + 15) / 16);
        for (int64_t k0 = 0; k0 < n; k0 += 32 * steps) {
            const int nsteps = (int)std::min<int64_t>(steps, (n - k0 + 31) / 32);
            for (int s = 0; s < ns; ++s)  // the weights: 16 rows x 32 elements per step, transposed into pairs
                for (int st = 0; st < nsteps; ++st) {
                    __m512i h[16], l[16];
                    const int64_t k = k0 + 32 * st;
                    for (int r = 0; r < 16; ++r) {
                        const int64_t row = g0 + 16 * s + r;
                        if (row >= nr) {
                            h[r] = l[r] = _mm512_setzero_si512();
                            continue;
                        }
                        const unsigned char* p = w + (size_t)row * ws + 2 * (size_t)k;
                        // the same place four chunks on: rows are far apart, too many streams for the
                        // hardware prefetcher (measured: 1 chunk ahead +30%, 4 chunks +15% more; a
                        // prefetch past the row is harmless)
                        _mm_prefetch(reinterpret_cast<const char*>(p) + 4 * 64 * steps, _MM_HINT_T0);
                        const __m512 x0 = _mm512_cvtph_ps(_mm256_maskz_loadu_epi16(amx_mask16(n - k), p));
                        const __m512 x1 = _mm512_cvtph_ps(_mm256_maskz_loadu_epi16(amx_mask16(n - k - 16), p + 32));
                        amx_split_bf16(x0, x1, &h[r], &l[r]);
                    }
                    amx_transpose16(h);
                    amx_transpose16(l);
                    for (int j = 0; j < 16; ++j) {
                        _mm512_store_si512(bh[s][st] + 64 * j, h[j]);
                        _mm512_store_si512(bl[s][st] + 64 * j, l[j]);
                    }
                }
            for (int64_t t0 = 0; t0 < nt; t0 += 16) {
                const int tn = (int)std::min<int64_t>(16, nt - t0);
                for (int st = 0; st < nsteps; ++st)  // the tokens' inputs, row-major
                    for (int t = 0; t < 16; ++t) {
                        __m512i h = _mm512_setzero_si512(), l = _mm512_setzero_si512();
                        if (t < tn) {
                            const int64_t k = k0 + 32 * st;
                            const float* x = reinterpret_cast<const float*>(a + (size_t)(t0 + t) * as) + k;
                            amx_split_bf16(_mm512_maskz_loadu_ps(amx_mask16(n - k), x), _mm512_maskz_loadu_ps(amx_mask16(n - k - 16), x + 16), &h, &l);
                        }
                        _mm512_store_si512(ah[st] + 64 * t, h);
                        _mm512_store_si512(al[st] + 64 * t, l);
                    }
                for (int s = 0; s < ns; ++s) {
                    const int64_t r0 = g0 + 16 * s;
                    const int rn = (int)std::min<int64_t>(16, nr - r0);
                    const bool whole = rn == 16 && tn == 16;
                    float* yt = y + t0 * ys + r0;
                    if (!whole) {
                        std::memset(part, 0, sizeof(part));
                        if (k0 > 0)
                            for (int t = 0; t < tn; ++t) std::memcpy(part + 16 * t, yt + t * ys, (size_t)rn * 4);
                    }
                    if (k0 == 0) _tile_zero(0);
                    else if (whole) _tile_loadd(0, yt, (long)(ys * 4));
                    else _tile_loadd(0, part, 64);
                    for (int st = 0; st < nsteps; ++st) {
                        _tile_loadd(3, ah[st], 64);
                        _tile_loadd(4, al[st], 64);
                        _tile_loadd(5, bh[s][st], 64);
                        _tile_loadd(6, bl[s][st], 64);
                        _tile_dpbf16ps(0, 3, 5);
                        _tile_dpbf16ps(0, 3, 6);
                        _tile_dpbf16ps(0, 4, 5);
                    }
                    if (whole) {
                        _tile_stored(0, yt, (long)(ys * 4));
                    } else {
                        _tile_stored(0, part, 64);
                        for (int t = 0; t < tn; ++t) std::memcpy(yt + t * ys, part + 16 * t, (size_t)rn * 4);
                    }
                }
            }
        }
    }
    _tile_release();
}
#undef AI_AMX_BF16_FN
}  // namespace detail
#if defined(__GNUC__) && !defined(__clang__)
#pragma GCC diagnostic pop
#endif
#endif
#undef AI_TILE_FLOAT
#undef AI_TILE_UNROLL
#undef AI_TILE_ROWS
#undef AI_TILE_TOKENS
#undef AI_TILE_DECODE_ROWS
#define AI_HAVE_TILE_FLOAT 1
#else  // no tile code for this instruction set: the row kernel per (row, token)
void simd::mm_f16_f32(const void* w, size_t ws, int64_t nr, const void* a, size_t as, int64_t nt, int64_t n, float* y, int64_t ys) {
    detail::mm_by_rows(simd::vec_dot_f16_f32, w, ws, nr, a, as, nt, n, y, ys);
}
void simd::mm_f32_f32(const void* w, size_t ws, int64_t nr, const void* a, size_t as, int64_t nt, int64_t n, float* y, int64_t ys) {
    detail::mm_by_rows(simd::vec_dot_f32_f32, w, ws, nr, a, as, nt, n, y, ys);
}
#endif

namespace detail {
inline mm_fn simd_mm(tensor_type w) {
    switch (w) {
#if AI_X86_INT8
    case tensor_type::q4_0: return simd::mm_q4_0_q8_0;
    case tensor_type::q4_1: return simd::mm_q4_1_q8_1;
    case tensor_type::q5_0: return simd::mm_q5_0_q8_0;
    case tensor_type::q5_1: return simd::mm_q5_1_q8_1;
    case tensor_type::q8_0: return simd::mm_q8_0_q8_0;
    case tensor_type::iq4_nl: return simd::mm_iq4_nl_q8_0;
    case tensor_type::q4_k: return simd::mm_q4_k_q8_k;
    case tensor_type::q5_k: return simd::mm_q5_k_q8_k;
    case tensor_type::q6_k: return simd::mm_q6_k_q8_k;
    case tensor_type::q3_k: return simd::mm_q3_k_q8_k;
    case tensor_type::q2_k: return simd::mm_q2_k_q8_k;
#endif
#if defined(AI_HAVE_TILE_FLOAT)
    case tensor_type::f16: return simd::mm_f16_f32;
    case tensor_type::f32: return simd::mm_f32_f32;
#endif
    default: return nullptr;
    }
}
}  // namespace detail

// ---- Dequantization into float rows (the f32 matmul input path) --------------------------------
// ---- ai::simd dequantization kernels (to_float) -----------------------------------------------
// One quantized row -> n floats, bit-identical to ai::ref::to_float(type). Used on the hot path:
// a chunk of weight rows is dequantized into an L1/L2 buffer and multiplied by float activations.
//
// Exactness: every product the reference forms is exact in float (an f16 scale has 11 significant
// bits, a sub-block scale at most 8 (Q6_K: |sc| <= 128, and 128 is a power of two, so at most 7
// significant bits), a quant at most 7: 11 + 7 + 5 <= 24), so the only rounding is the final add
// or subtract (Q4_1 / Q5_1: q*d + m; K-quants with mins: dj*q - mj). The kernels still use
// separate mul and add/sub intrinsics, in the reference's association; even if a compiler fused
// them the result would not change, since fma(a, b, c) == round(a*b + c) == round(round(a*b) + c)
// when a*b is exact.
//
// Layout: bytes of quants are assembled with SSE/AVX2 byte ops (shared by both instruction sets),
// then 16 at a time widened to int32, converted, scaled and stored: one zmm per 16 elements with
// AVX-512, two ymm with AVX2. Sub-block scales are computed as one vector per super-block, kept in
// a small stack array and broadcast from it. Source rows may be unaligned (loadu everywhere);
// blocks are read in place (no copy). Software prefetch: every 64 bytes of source 2 KiB ahead.
//
// Needs <immintrin.h> included at file scope (ai.hpp includes it with xsimd and AVX2/AVX-512).
#if defined(__AVX512F__) && defined(__AVX512BW__) && defined(__AVX512VL__) && defined(__AVX512DQ__) && \
    defined(__F16C__)
#define AI_DEQ_X86 512
#elif defined(__AVX2__) && defined(__FMA__) && defined(__F16C__)
#define AI_DEQ_X86 256
#else
#define AI_DEQ_X86 0
#endif

#if defined(__GNUC__) && !defined(__clang__)  // GCC's AVX-512 intrinsics trip -Wmaybe-uninitialized (_mm512_undefined_*)
#pragma GCC diagnostic push
#pragma GCC diagnostic ignored "-Wuninitialized"
#pragma GCC diagnostic ignored "-Wmaybe-uninitialized"
#endif
namespace detail {
#if AI_DEQ_X86

// Prefetches each 64-byte step of the source 2 KiB ahead of the reader, exactly once.
struct deq_prefetcher {
    const char* next;
    explicit deq_prefetcher(const void* src) : next(static_cast<const char*>(src) + 2048) {}
    void upto(const void* end) {  // everything below end + 2048
        const char* e = static_cast<const char*>(end) + 2048;
        while (next < e) {
            _mm_prefetch(next, _MM_HINT_T0);
            next += 64;
        }
    }
};

inline float deq_f16(const unsigned char* p) {
    uint16_t h;
    std::memcpy(&h, p, 2);
    return _cvtsh_ss(h);
}
inline __m128i deq_load16(const void* p) { return _mm_loadu_si128(static_cast<const __m128i*>(p)); }
inline __m256i deq_load32(const void* p) { return _mm256_loadu_si256(static_cast<const __m256i*>(p)); }
inline __m128i deq_lo(__m256i v) { return _mm256_castsi256_si128(v); }
inline __m128i deq_hi(__m256i v) { return _mm256_extracti128_si256(v, 1); }

// 16 floats: one zmm, or two ymm.
#if AI_DEQ_X86 == 512
struct deq_v16 { __m512 v; };
inline deq_v16 deq_s8(__m128i q) { return {_mm512_cvtepi32_ps(_mm512_cvtepi8_epi32(q))}; }
inline deq_v16 deq_u8(__m128i q) { return {_mm512_cvtepi32_ps(_mm512_cvtepu8_epi32(q))}; }
inline deq_v16 deq_set1(float x) { return {_mm512_set1_ps(x)}; }
inline deq_v16 deq_set2(float a, float b) {  // lanes 0..7 = a, 8..15 = b
    return {_mm512_mask_blend_ps(__mmask16(0xFF00), _mm512_set1_ps(a), _mm512_set1_ps(b))};
}
inline deq_v16 deq_mul(deq_v16 a, deq_v16 b) { return {_mm512_mul_ps(a.v, b.v)}; }
inline deq_v16 deq_add(deq_v16 a, deq_v16 b) { return {_mm512_add_ps(a.v, b.v)}; }
inline deq_v16 deq_sub(deq_v16 a, deq_v16 b) { return {_mm512_sub_ps(a.v, b.v)}; }
inline void deq_store(float* p, deq_v16 a) { _mm512_storeu_ps(p, a.v); }
#else
struct deq_v16 { __m256 lo, hi; };
inline deq_v16 deq_s8(__m128i q) {
    return {_mm256_cvtepi32_ps(_mm256_cvtepi8_epi32(q)), _mm256_cvtepi32_ps(_mm256_cvtepi8_epi32(_mm_unpackhi_epi64(q, q)))};
}
inline deq_v16 deq_u8(__m128i q) {
    return {_mm256_cvtepi32_ps(_mm256_cvtepu8_epi32(q)), _mm256_cvtepi32_ps(_mm256_cvtepu8_epi32(_mm_unpackhi_epi64(q, q)))};
}
inline deq_v16 deq_set1(float x) { return {_mm256_set1_ps(x), _mm256_set1_ps(x)}; }
inline deq_v16 deq_set2(float a, float b) { return {_mm256_set1_ps(a), _mm256_set1_ps(b)}; }
inline deq_v16 deq_mul(deq_v16 a, deq_v16 b) { return {_mm256_mul_ps(a.lo, b.lo), _mm256_mul_ps(a.hi, b.hi)}; }
inline deq_v16 deq_add(deq_v16 a, deq_v16 b) { return {_mm256_add_ps(a.lo, b.lo), _mm256_add_ps(a.hi, b.hi)}; }
inline deq_v16 deq_sub(deq_v16 a, deq_v16 b) { return {_mm256_sub_ps(a.lo, b.lo), _mm256_sub_ps(a.hi, b.hi)}; }
inline void deq_store(float* p, deq_v16 a) {
    _mm256_storeu_ps(p, a.lo);
    _mm256_storeu_ps(p + 8, a.hi);
}
#endif

// 16 bytes of nibbles -> 32 bytes 0..15: the low nibbles (elements 0..15), then the high ones.
inline __m256i deq_nibbles32(const unsigned char* qs) {
    const __m128i t = deq_load16(qs);
    const __m256i b = _mm256_inserti128_si256(_mm256_castsi128_si256(t), _mm_srli_epi16(t, 4), 1);
    return _mm256_and_si256(b, _mm256_set1_epi8(15));
}
// The 32 bits of a little-endian u32 -> 32 bytes, 0xFF where the bit is set.
inline __m256i deq_bits32(const unsigned char* qh) {
    uint32_t v;
    std::memcpy(&v, qh, 4);
    const __m256i spread = _mm256_shuffle_epi8(_mm256_set1_epi32((int)v),
        _mm256_set_epi64x(0x0303030303030303, 0x0202020202020202, 0x0101010101010101, 0));
    const __m256i bit = _mm256_set1_epi64x((long long)0x8040201008040201ull);
    return _mm256_cmpeq_epi8(_mm256_and_si256(spread, bit), bit);
}
// dst[0..31] = float(q) * d for 32 signed bytes.
inline void deq_store32_mul(float* dst, __m256i q, deq_v16 d) {
    deq_store(dst, deq_mul(deq_s8(deq_lo(q)), d));
    deq_store(dst + 16, deq_mul(deq_s8(deq_hi(q)), d));
}
// dst[0..31] = float(q) * d + m for 32 unsigned bytes.
inline void deq_store32_mul_add(float* dst, __m256i q, deq_v16 d, deq_v16 m) {
    deq_store(dst, deq_add(deq_mul(deq_u8(deq_lo(q)), d), m));
    deq_store(dst + 16, deq_add(deq_mul(deq_u8(deq_hi(q)), d), m));
}

// ---- 32-element blocks --------------------------------------------------------------------------
// The f16 scales (and offsets) are converted 16 blocks at a time: the halves of the next 16 blocks
// are copied to a small array while the current 16 are expanded (so the vector load of that array
// never waits on a failed store forward), then one cvtph gives 16 floats, which the block bodies
// read as broadcast memory operands. With AVX-512 the 4- and 5-bit types then look their levels up
// in a per-block table of the 16 (32) possible outputs with vpermps (vpermt2ps): the table is
// computed with the reference's arithmetic (float(q - 8) * d, float(q) * d + m, ...), so the
// values are the same, and each 16 outputs cost a permute instead of a convert and a multiply.

inline deq_v16 deq_cvt_h16(const uint16_t* h) {
#if AI_DEQ_X86 == 512
    return {_mm512_cvtph_ps(_mm256_load_si256(reinterpret_cast<const __m256i*>(h)))};
#else
    return {_mm256_cvtph_ps(_mm_load_si128(reinterpret_cast<const __m128i*>(h))),
            _mm256_cvtph_ps(_mm_load_si128(reinterpret_cast<const __m128i*>(h + 8)))};
#endif
}

// Calls body(block pointer, dst of the block, &d, &m) for each of the nb blocks; NF = 1 (d at byte
// 0) or 2 (d at 0, m at 2). m points at junk when NF == 1.
template <size_t BS, int NF, class Body>
inline void deq_blocks32(const void* src, float* dst, int64_t nb, Body body) {
    const unsigned char* p = static_cast<const unsigned char*>(src);
    deq_prefetcher pf(p);
    alignas(64) uint16_t h[2][2][16] = {};
    alignas(64) float s[2][16];
    const auto gather = [&](int64_t b0, uint16_t (*hh)[16]) {
        const int cnt = nb - b0 < 16 ? int(nb - b0) : 16;
        for (int k = 0; k < cnt; ++k) {
            for (int f = 0; f < NF; ++f) std::memcpy(&hh[f][k], p + size_t(b0 + k) * BS + 2 * f, 2);
        }
    };
    if (nb > 0) gather(0, h[0]);
    for (int64_t b0 = 0, c = 0; b0 < nb; b0 += 16, ++c) {
        if (b0 + 16 < nb) gather(b0 + 16, h[(c + 1) & 1]);
        for (int f = 0; f < NF; ++f) deq_store(s[f], deq_cvt_h16(h[c & 1][f]));
        const int cnt = nb - b0 < 16 ? int(nb - b0) : 16;
        for (int k = 0; k < cnt; ++k) {
            const unsigned char* x = p + size_t(b0 + k) * BS;
            pf.upto(x + BS);
            body(x, dst + 32 * (b0 + k), &s[0][k], &s[1][k]);
        }
    }
}

#if AI_DEQ_X86 == 512
inline __m512 deq_iota16(float first) {  // first, first + 1, ..., first + 15
    return _mm512_add_ps(_mm512_set1_ps(first), _mm512_setr_ps(0, 1, 2, 3, 4, 5, 6, 7, 8, 9, 10, 11, 12, 13, 14, 15));
}
#endif

inline void simd_to_float_q8_0(const void* src, float* dst, int64_t n) {
    // per-block scale conversion measured faster here than the batched one (no lookup to share it)
    const unsigned char* p = static_cast<const unsigned char*>(src);
    deq_prefetcher pf(p);
    for (int64_t i = 0; i < n / qk; ++i, p += sizeof(block_q8_0), dst += qk) {
        pf.upto(p + sizeof(block_q8_0));
        const deq_v16 d = deq_set1(deq_f16(p));
        deq_store(dst, deq_mul(deq_s8(deq_load16(p + 2)), d));
        deq_store(dst + 16, deq_mul(deq_s8(deq_load16(p + 18)), d));
    }
}

#if AI_DEQ_X86 == 512
// 16 bytes -> 16 int32 lanes holding the whole byte; vpermps reads only the low 4 bits (the low
// nibble), and the high nibble is the lane shifted right by 4.
inline void deq_lookup32_512(float* o, const unsigned char* qs, __m512 table) {
    const __m512i q = _mm512_cvtepu8_epi32(deq_load16(qs));
    _mm512_storeu_ps(o, _mm512_permutexvar_ps(q, table));
    _mm512_storeu_ps(o + 16, _mm512_permutexvar_ps(_mm512_srli_epi32(q, 4), table));
}
// The same with a fifth bit from the little-endian u32 at qh (bit j for element j): 32 levels,
// tlo for q < 16, thi for q >= 16.
inline void deq_lookup32_5bit_512(float* o, const unsigned char* qs, const unsigned char* qh, __m512 tlo, __m512 thi) {
    uint32_t bits;
    std::memcpy(&bits, qh, 4);
    const __m512i q = _mm512_cvtepu8_epi32(deq_load16(qs));
    const __m512i k16 = _mm512_set1_epi32(16), k15 = _mm512_set1_epi32(15);
    const __m512i lo = _mm512_and_si512(q, k15), hi = _mm512_srli_epi32(q, 4);
    const __m512i ilo = _mm512_mask_or_epi32(lo, __mmask16(bits & 0xFFFF), lo, k16);
    const __m512i ihi = _mm512_mask_or_epi32(hi, __mmask16(bits >> 16), hi, k16);
    _mm512_storeu_ps(o, _mm512_permutex2var_ps(tlo, ilo, thi));
    _mm512_storeu_ps(o + 16, _mm512_permutex2var_ps(tlo, ihi, thi));
}
#endif

inline void simd_to_float_q4_0(const void* src, float* dst, int64_t n) {
#if AI_DEQ_X86 == 512
    const __m512 base = deq_iota16(-8);
    deq_blocks32<sizeof(block_q4_0), 1>(src, dst, n / qk, [base](const unsigned char* x, float* o, const float* d, const float*) {
        deq_lookup32_512(o, x + 2, _mm512_mul_ps(base, _mm512_set1_ps(*d)));
    });
#else
    deq_blocks32<sizeof(block_q4_0), 1>(src, dst, n / qk, [](const unsigned char* x, float* o, const float* d, const float*) {
        deq_store32_mul(o, _mm256_sub_epi8(deq_nibbles32(x + 2), _mm256_set1_epi8(8)), deq_set1(*d));
    });
#endif
}

inline void simd_to_float_q4_1(const void* src, float* dst, int64_t n) {
#if AI_DEQ_X86 == 512
    const __m512 base = deq_iota16(0);
    deq_blocks32<sizeof(block_q4_1), 2>(src, dst, n / qk, [base](const unsigned char* x, float* o, const float* d, const float* m) {
        deq_lookup32_512(o, x + 4, _mm512_add_ps(_mm512_mul_ps(base, _mm512_set1_ps(*d)), _mm512_set1_ps(*m)));
    });
#else
    deq_blocks32<sizeof(block_q4_1), 2>(src, dst, n / qk, [](const unsigned char* x, float* o, const float* d, const float* m) {
        deq_store32_mul_add(o, deq_nibbles32(x + 4), deq_set1(*d), deq_set1(*m));
    });
#endif
}

inline void simd_to_float_q5_0(const void* src, float* dst, int64_t n) {
#if AI_DEQ_X86 == 512
    const __m512 blo = deq_iota16(-16), bhi = deq_iota16(0);
    deq_blocks32<sizeof(block_q5_0), 1>(src, dst, n / qk, [blo, bhi](const unsigned char* x, float* o, const float* d, const float*) {
        const __m512 dv = _mm512_set1_ps(*d);
        deq_lookup32_5bit_512(o, x + 6, x + 2, _mm512_mul_ps(blo, dv), _mm512_mul_ps(bhi, dv));
    });
#else
    deq_blocks32<sizeof(block_q5_0), 1>(src, dst, n / qk, [](const unsigned char* x, float* o, const float* d, const float*) {
        // q - 16 as a byte: the nibble, with 0xF0 or-ed in where the fifth bit is clear
        const __m256i q = _mm256_or_si256(deq_nibbles32(x + 6), _mm256_andnot_si256(deq_bits32(x + 2), _mm256_set1_epi8((char)0xF0)));
        deq_store32_mul(o, q, deq_set1(*d));
    });
#endif
}

inline void simd_to_float_q5_1(const void* src, float* dst, int64_t n) {
#if AI_DEQ_X86 == 512
    const __m512 blo = deq_iota16(0), bhi = deq_iota16(16);
    deq_blocks32<sizeof(block_q5_1), 2>(src, dst, n / qk, [blo, bhi](const unsigned char* x, float* o, const float* d, const float* m) {
        const __m512 dv = _mm512_set1_ps(*d), mv = _mm512_set1_ps(*m);
        deq_lookup32_5bit_512(o, x + 8, x + 4, _mm512_add_ps(_mm512_mul_ps(blo, dv), mv), _mm512_add_ps(_mm512_mul_ps(bhi, dv), mv));
    });
#else
    deq_blocks32<sizeof(block_q5_1), 2>(src, dst, n / qk, [](const unsigned char* x, float* o, const float* d, const float* m) {
        const __m256i q = _mm256_or_si256(deq_nibbles32(x + 8), _mm256_and_si256(deq_bits32(x + 4), _mm256_set1_epi8(16)));
        deq_store32_mul_add(o, q, deq_set1(*d), deq_set1(*m));
    });
#endif
}

inline void simd_to_float_iq4_nl(const void* src, float* dst, int64_t n) {
#if AI_DEQ_X86 == 512
    const __m512 levels = _mm512_cvtepi32_ps(_mm512_cvtepi8_epi32(deq_load16(kvalues_iq4nl)));
    deq_blocks32<sizeof(block_iq4_nl), 1>(src, dst, n / qk, [levels](const unsigned char* x, float* o, const float* d, const float*) {
        deq_lookup32_512(o, x + 2, _mm512_mul_ps(_mm512_set1_ps(*d), levels));
    });
#else
    const __m256i table = _mm256_broadcastsi128_si256(deq_load16(kvalues_iq4nl));
    deq_blocks32<sizeof(block_iq4_nl), 1>(src, dst, n / qk, [table](const unsigned char* x, float* o, const float* d, const float*) {
        deq_store32_mul(o, _mm256_shuffle_epi8(table, deq_nibbles32(x + 2)), deq_set1(*d));
    });
#endif
}

// ---- K-quants (256-element super-blocks) --------------------------------------------------------

// Q6_K: x = (d * sc) * (q - 32), one scale per 16 elements.
// Half h of a Q6_K block as levels q - 32, 32 bytes in each of out[0..3] (elements 128h + 32k..):
// ql holds 64 bytes, whose low nibbles are elements 0..63 of the half and high nibbles 64..127;
// qh 32 bytes, whose bit pairs 0-1, 2-3, 4-5, 6-7 are the top bits of elements l, 32+l, 64+l, 96+l.
// emit(k, levels) gets them in order k = 0..3 (a callback rather than an array: the fused decode
// kernel stores them straight away, where an array went through the stack).
template <class Emit>
inline void deq_q6_k_levels(const unsigned char* blk, int h, Emit emit) {
    const __m256i m4 = _mm256_set1_epi8(15), m2 = _mm256_set1_epi8(0x30), k32 = _mm256_set1_epi8(32);
    const __m256i ql0 = deq_load32(blk + 64 * h), ql1 = deq_load32(blk + 64 * h + 32);
    const __m256i qh = deq_load32(blk + offsetof(block_q6_k, qh) + 32 * h);
    emit(0, _mm256_sub_epi8(_mm256_or_si256(_mm256_and_si256(ql0, m4), _mm256_and_si256(_mm256_slli_epi16(qh, 4), m2)), k32));
    emit(1, _mm256_sub_epi8(_mm256_or_si256(_mm256_and_si256(ql1, m4), _mm256_and_si256(_mm256_slli_epi16(qh, 2), m2)), k32));
    emit(2, _mm256_sub_epi8(_mm256_or_si256(_mm256_and_si256(_mm256_srli_epi16(ql0, 4), m4), _mm256_and_si256(qh, m2)), k32));
    emit(3, _mm256_sub_epi8(_mm256_or_si256(_mm256_and_si256(_mm256_srli_epi16(ql1, 4), m4), _mm256_and_si256(_mm256_srli_epi16(qh, 2), m2)), k32));
}
inline void simd_to_float_q6_k(const void* src, float* dst, int64_t n) {
    const unsigned char* p = static_cast<const unsigned char*>(src);
    deq_prefetcher pf(p);
    alignas(64) float dl[16];
    for (int64_t i = 0; i < n / qk_k; ++i, p += sizeof(block_q6_k), dst += qk_k) {
        pf.upto(p + sizeof(block_q6_k));
        const deq_v16 d = deq_set1(deq_f16(p + offsetof(block_q6_k, d)));
        deq_store(dl, deq_mul(d, deq_s8(deq_load16(p + offsetof(block_q6_k, scales)))));
        for (int h = 0; h < 2; ++h) {
            deq_q6_k_levels(p, h, [&](int k, __m256i v) {
                float* o = dst + 128 * h + 32 * k;
                deq_store(o, deq_mul(deq_set1(dl[8 * h + 2 * k]), deq_s8(deq_lo(v))));
                deq_store(o + 16, deq_mul(deq_set1(dl[8 * h + 2 * k + 1]), deq_s8(deq_hi(v))));
            });
        }
    }
}

// The 8 six-bit scales (bytes 0..7) and mins (bytes 8..15) of a Q4_K / Q5_K block (k4 packing).
inline __m128i deq_k4_scales(const unsigned char* scales) {
    uint32_t u[4];
    std::memcpy(u, scales, 12);
    const uint32_t m6 = 0x3f3f3f3f, m4 = 0x0f0f0f0f, m2 = 0x03030303;
    u[3] = ((u[2] >> 4) & m4) | (((u[1] >> 6) & m2) << 4);  // mins 4..7
    const uint32_t mins03 = u[1] & m6;
    u[1] = (u[2] & m4) | (((u[0] >> 6) & m2) << 4);         // scales 4..7
    u[2] = mins03;
    u[0] &= m6;                                             // scales 0..3
    return _mm_set_epi32((int)u[3], (int)u[2], (int)u[1], (int)u[0]);
}

// Q4_K: x = (d * sc) * q - (dmin * m), one scale/min pair per 32 elements.
inline void simd_to_float_q4_k(const void* src, float* dst, int64_t n) {
    const unsigned char* p = static_cast<const unsigned char*>(src);
    deq_prefetcher pf(p);
#if AI_DEQ_X86 != 512
    const __m256i m4 = _mm256_set1_epi8(15);
#endif
    alignas(64) float dm[16];  // d * sc[0..7], then dmin * m[0..7]
    for (int64_t i = 0; i < n / qk_k; ++i, p += sizeof(block_q4_k), dst += qk_k) {
        pf.upto(p + sizeof(block_q4_k));
        deq_store(dm, deq_mul(deq_set2(deq_f16(p), deq_f16(p + 2)), deq_u8(deq_k4_scales(p + 4))));
#if AI_DEQ_X86 == 512
        // per sub-block a table of its 16 outputs dj * q - mj, looked up with vpermps (which reads
        // the low nibble of each zero-extended byte; the high nibble is the lane >> 4)
        const __m512 base = _mm512_setr_ps(0, 1, 2, 3, 4, 5, 6, 7, 8, 9, 10, 11, 12, 13, 14, 15);
        for (int g = 0; g < 4; ++g) {
            const unsigned char* qs = p + offsetof(block_q4_k, qs) + 32 * g;
            const __m512i q0 = _mm512_cvtepu8_epi32(deq_load16(qs)), q1 = _mm512_cvtepu8_epi32(deq_load16(qs + 16));
            const __m512 tlo = _mm512_sub_ps(_mm512_mul_ps(_mm512_set1_ps(dm[2 * g]), base), _mm512_set1_ps(dm[8 + 2 * g]));
            const __m512 thi = _mm512_sub_ps(_mm512_mul_ps(_mm512_set1_ps(dm[2 * g + 1]), base), _mm512_set1_ps(dm[9 + 2 * g]));
            float* o = dst + 64 * g;
            _mm512_storeu_ps(o, _mm512_permutexvar_ps(q0, tlo));
            _mm512_storeu_ps(o + 16, _mm512_permutexvar_ps(q1, tlo));
            _mm512_storeu_ps(o + 32, _mm512_permutexvar_ps(_mm512_srli_epi32(q0, 4), thi));
            _mm512_storeu_ps(o + 48, _mm512_permutexvar_ps(_mm512_srli_epi32(q1, 4), thi));
        }
#else
        for (int g = 0; g < 4; ++g) {
            const __m256i t = deq_load32(p + offsetof(block_q4_k, qs) + 32 * g);
            const __m256i q[2] = {_mm256_and_si256(t, m4), _mm256_and_si256(_mm256_srli_epi16(t, 4), m4)};
            for (int hi = 0; hi < 2; ++hi) {
                const int j = 2 * g + hi;
                const deq_v16 dj = deq_set1(dm[j]), mj = deq_set1(dm[8 + j]);
                float* o = dst + 32 * j;
                deq_store(o, deq_sub(deq_mul(dj, deq_u8(deq_lo(q[hi]))), mj));
                deq_store(o + 16, deq_sub(deq_mul(dj, deq_u8(deq_hi(q[hi]))), mj));
            }
        }
#endif
    }
}

// Q5_K: Q4_K with a fifth bit (bit j of qh[l] for element 32j + l).
inline void simd_to_float_q5_k(const void* src, float* dst, int64_t n) {
    const unsigned char* p = static_cast<const unsigned char*>(src);
    deq_prefetcher pf(p);
    const __m256i m4 = _mm256_set1_epi8(15), b4 = _mm256_set1_epi8(16);
    alignas(64) float dm[16];
    for (int64_t i = 0; i < n / qk_k; ++i, p += sizeof(block_q5_k), dst += qk_k) {
        pf.upto(p + sizeof(block_q5_k));
        deq_store(dm, deq_mul(deq_set2(deq_f16(p), deq_f16(p + 2)), deq_u8(deq_k4_scales(p + 4))));
        __m256i qh = deq_load32(p + offsetof(block_q5_k, qh));  // shifted right by one per sub-block
        for (int g = 0; g < 4; ++g) {
            const __m256i t = deq_load32(p + offsetof(block_q5_k, qs) + 32 * g);
            const __m256i nib[2] = {_mm256_and_si256(t, m4), _mm256_and_si256(_mm256_srli_epi16(t, 4), m4)};
            for (int hi = 0; hi < 2; ++hi) {
                const int j = 2 * g + hi;
                // bit 0 of each byte of qh (bit j of the original) -> bit 4; the bits shifted in
                // from the next byte land in bits 8-j..7 and are masked off
                const __m256i q = _mm256_or_si256(nib[hi], _mm256_and_si256(_mm256_slli_epi16(qh, 4), b4));
                qh = _mm256_srli_epi16(qh, 1);
                const deq_v16 dj = deq_set1(dm[j]), mj = deq_set1(dm[8 + j]);
                float* o = dst + 32 * j;
                deq_store(o, deq_sub(deq_mul(dj, deq_u8(deq_lo(q))), mj));
                deq_store(o + 16, deq_sub(deq_mul(dj, deq_u8(deq_hi(q))), mj));
            }
        }
    }
}

// Q2_K: x = (d * sc) * q - (dmin * m), one 4-bit scale/min pair per 16 elements.
inline void simd_to_float_q2_k(const void* src, float* dst, int64_t n) {
    const unsigned char* p = static_cast<const unsigned char*>(src);
    deq_prefetcher pf(p);
    const __m256i m2 = _mm256_set1_epi8(3);
    alignas(64) float dl[16], ml[16];
    for (int64_t i = 0; i < n / qk_k; ++i, p += sizeof(block_q2_k), dst += qk_k) {
        pf.upto(p + sizeof(block_q2_k));
        const __m128i sm = deq_load16(p);
        const __m128i m15 = _mm_set1_epi8(15);
        deq_store(dl, deq_mul(deq_set1(deq_f16(p + offsetof(block_q2_k, d))), deq_u8(_mm_and_si128(sm, m15))));
        deq_store(ml, deq_mul(deq_set1(deq_f16(p + offsetof(block_q2_k, dmin))), deq_u8(_mm_and_si128(_mm_srli_epi16(sm, 4), m15))));
        for (int h = 0; h < 2; ++h) {
            const __m256i bits = deq_load32(p + offsetof(block_q2_k, qs) + 32 * h);
            for (int s = 0; s < 4; ++s) {
                const __m256i q = _mm256_and_si256(_mm256_srli_epi16(bits, 2 * s), m2);
                const int j = 8 * h + 2 * s;
                float* o = dst + 128 * h + 32 * s;
                deq_store(o, deq_sub(deq_mul(deq_set1(dl[j]), deq_u8(deq_lo(q))), deq_set1(ml[j])));
                deq_store(o + 16, deq_sub(deq_mul(deq_set1(dl[j + 1]), deq_u8(deq_hi(q))), deq_set1(ml[j + 1])));
            }
        }
    }
}

// Q3_K: x = (d * (sc - 32)) * (q - 4), one 6-bit scale per 16 elements.
inline void simd_to_float_q3_k(const void* src, float* dst, int64_t n) {
    const unsigned char* p = static_cast<const unsigned char*>(src);
    deq_prefetcher pf(p);
    const __m256i m2 = _mm256_set1_epi8(3), k4 = _mm256_set1_epi8(4);
    alignas(64) float dl[16];
    for (int64_t i = 0; i < n / qk_k; ++i, p += sizeof(block_q3_k), dst += qk_k) {
        pf.upto(p + sizeof(block_q3_k));
        uint32_t a[4];
        std::memcpy(a, p + offsetof(block_q3_k, scales), 12);
        const uint32_t m4 = 0x0f0f0f0f, m1 = 0x03030303, t = a[2];
        a[2] = ((a[0] >> 4) & m4) | (((t >> 4) & m1) << 4);
        a[3] = ((a[1] >> 4) & m4) | (((t >> 6) & m1) << 4);
        a[0] = (a[0] & m4) | ((t & m1) << 4);
        a[1] = (a[1] & m4) | (((t >> 2) & m1) << 4);
        const __m128i sc = _mm_sub_epi8(_mm_set_epi32((int)a[3], (int)a[2], (int)a[1], (int)a[0]), _mm_set1_epi8(32));
        deq_store(dl, deq_mul(deq_set1(deq_f16(p + offsetof(block_q3_k, d))), deq_s8(sc)));
        const __m256i hm = deq_load32(p);
        for (int h = 0; h < 2; ++h) {
            const __m256i bits = deq_load32(p + offsetof(block_q3_k, qs) + 32 * h);
            for (int s = 0; s < 4; ++s) {
                const __m256i bit = _mm256_set1_epi8((char)(1 << (4 * h + s)));
                const __m256i set = _mm256_cmpeq_epi8(_mm256_and_si256(hm, bit), bit);
                // low + 4*high - 4: subtract 4 where the third bit is clear
                const __m256i q = _mm256_sub_epi8(_mm256_and_si256(_mm256_srli_epi16(bits, 2 * s), m2),
                                                  _mm256_andnot_si256(set, k4));
                const int j = 8 * h + 2 * s;
                float* o = dst + 128 * h + 32 * s;
                deq_store(o, deq_mul(deq_set1(dl[j]), deq_s8(deq_lo(q))));
                deq_store(o + 16, deq_mul(deq_set1(dl[j + 1]), deq_s8(deq_hi(q))));
            }
        }
    }
}

// ---- F16 / BF16 (any n) -------------------------------------------------------------------------

inline void simd_to_float_f16(const void* src, float* dst, int64_t n) {
    const unsigned char* p = static_cast<const unsigned char*>(src);
    int64_t i = 0;
#if AI_DEQ_X86 == 512
    for (; i + 32 <= n; i += 32) {
        _mm_prefetch(reinterpret_cast<const char*>(p + 2 * i) + 2048, _MM_HINT_T0);
        _mm512_storeu_ps(dst + i, _mm512_cvtph_ps(deq_load32(p + 2 * i)));
        _mm512_storeu_ps(dst + i + 16, _mm512_cvtph_ps(deq_load32(p + 2 * i + 32)));
    }
#else
    for (; i + 32 <= n; i += 32) {
        _mm_prefetch(reinterpret_cast<const char*>(p + 2 * i) + 2048, _MM_HINT_T0);
        for (int k = 0; k < 4; ++k) _mm256_storeu_ps(dst + i + 8 * k, _mm256_cvtph_ps(deq_load16(p + 2 * i + 16 * k)));
    }
#endif
    for (; i + 8 <= n; i += 8) _mm256_storeu_ps(dst + i, _mm256_cvtph_ps(deq_load16(p + 2 * i)));
    for (; i < n; ++i) dst[i] = deq_f16(p + 2 * i);
}

inline void simd_to_float_bf16(const void* src, float* dst, int64_t n) {
    const unsigned char* p = static_cast<const unsigned char*>(src);
    int64_t i = 0;
#if AI_DEQ_X86 == 512
    for (; i + 32 <= n; i += 32) {
        _mm_prefetch(reinterpret_cast<const char*>(p + 2 * i) + 2048, _MM_HINT_T0);
        _mm512_storeu_si512(dst + i, _mm512_slli_epi32(_mm512_cvtepu16_epi32(deq_load32(p + 2 * i)), 16));
        _mm512_storeu_si512(dst + i + 16, _mm512_slli_epi32(_mm512_cvtepu16_epi32(deq_load32(p + 2 * i + 32)), 16));
    }
#else
    for (; i + 32 <= n; i += 32) {
        _mm_prefetch(reinterpret_cast<const char*>(p + 2 * i) + 2048, _MM_HINT_T0);
        for (int k = 0; k < 4; ++k) {
            _mm256_storeu_si256(reinterpret_cast<__m256i*>(dst + i + 8 * k),
                                _mm256_slli_epi32(_mm256_cvtepu16_epi32(deq_load16(p + 2 * i + 16 * k)), 16));
        }
    }
#endif
    for (; i + 8 <= n; i += 8) {
        _mm256_storeu_si256(reinterpret_cast<__m256i*>(dst + i), _mm256_slli_epi32(_mm256_cvtepu16_epi32(deq_load16(p + 2 * i)), 16));
    }
    for (; i < n; ++i) {
        uint16_t h;
        std::memcpy(&h, p + 2 * i, 2);
        const uint32_t u = uint32_t(h) << 16;
        std::memcpy(dst + i, &u, 4);
    }
}

#else  // !AI_DEQ_X86: the reference code under the same names

#define AI_DEQ_FORWARD(NAME, TYPE) \
    inline void simd_to_float_##NAME(const void* src, float* dst, int64_t n) { ref::to_float(tensor_type::TYPE)(src, dst, n); }
AI_DEQ_FORWARD(q8_0, q8_0)
AI_DEQ_FORWARD(q4_0, q4_0)
AI_DEQ_FORWARD(q4_1, q4_1)
AI_DEQ_FORWARD(q5_0, q5_0)
AI_DEQ_FORWARD(q5_1, q5_1)
AI_DEQ_FORWARD(iq4_nl, iq4_nl)
AI_DEQ_FORWARD(q6_k, q6_k)
AI_DEQ_FORWARD(q4_k, q4_k)
AI_DEQ_FORWARD(q5_k, q5_k)
AI_DEQ_FORWARD(q2_k, q2_k)
AI_DEQ_FORWARD(q3_k, q3_k)
AI_DEQ_FORWARD(f16, f16)
AI_DEQ_FORWARD(bf16, bf16)
#undef AI_DEQ_FORWARD

#endif  // AI_DEQ_X86
}  // namespace detail
#if defined(__GNUC__) && !defined(__clang__)
#pragma GCC diagnostic pop
#endif

// The fastest row dequantizer this build has for type t (same contract and bit-identical output
// as ai::ref::to_float(t); nullptr where that is nullptr).
namespace detail {
inline dequantize_fn simd_to_float(tensor_type t) {
#if AI_DEQ_X86
    switch (t) {
        case tensor_type::q8_0: return simd_to_float_q8_0;
        case tensor_type::q4_0: return simd_to_float_q4_0;
        case tensor_type::q4_1: return simd_to_float_q4_1;
        case tensor_type::q5_0: return simd_to_float_q5_0;
        case tensor_type::q5_1: return simd_to_float_q5_1;
        case tensor_type::iq4_nl: return simd_to_float_iq4_nl;
        case tensor_type::q2_k: return simd_to_float_q2_k;
        case tensor_type::q3_k: return simd_to_float_q3_k;
        case tensor_type::q4_k: return simd_to_float_q4_k;
        case tensor_type::q5_k: return simd_to_float_q5_k;
        case tensor_type::q6_k: return simd_to_float_q6_k;
        case tensor_type::f16: return simd_to_float_f16;
        case tensor_type::bf16: return simd_to_float_bf16;
        default: break;
    }
#endif
    return ref::to_float(t);
}
#if AI_DEQ_X86 && defined(AI_HAVE_TILE_FLOAT)
// The fused mm_dequant kernels' walk: each token in turn, a row from each of S parts at a time
// (decode_parts). rows(std::integral_constant<int, R>) gives the R-row kernel, called as
// (first row, bytes between its rows, bytes to its successor, x, len, out[R]), len as passed here
// (blocks per row, or elements).
template <int S, class Rows>
inline void mm_rows_walk(Rows rows, const void* w, size_t ws, int64_t nr, const void* a, size_t as, int64_t nt, int64_t nb, float* y, int64_t ys) {
    for (int64_t t = 0; t < nt; ++t) {
        const float* x = reinterpret_cast<const float*>(static_cast<const unsigned char*>(a) + (size_t)t * as);
        decode_parts<S>(static_cast<const unsigned char*>(w), ws, nr, y + t * ys, [&](auto r, const unsigned char* wr, size_t rs, float* out) {
            rows(r)(wr, rs, decode_prefetch_ahead(ws), x, nb, out);
        });
    }
}
#endif
#if AI_DEQ_X86 == 512 && defined(AI_HAVE_TILE_FLOAT)
#if defined(__GNUC__) && !defined(__clang__)
#pragma GCC diagnostic push  // GCC 12 flags the undefined upper half inside _mm512_reduce_add_ps
#pragma GCC diagnostic ignored "-Wuninitialized"
#pragma GCC diagnostic ignored "-Wmaybe-uninitialized"
#endif
// mm_dequant with AVX-512: 256 elements at a time into an L1 buffer, then the F32 tile kernel's
// per-element steps (x512_tile_float: 16 lanes, one FMA per 16 elements in order, masked tail, the
// same final reduction), so each output has the bits of to_float + mm(F32).
template <int Type> void x512_mm_dequant(const void* w, size_t ws, int64_t nr, const void* a, size_t as, int64_t nt, int64_t n, float* y, int64_t ys) {
    const type_traits* info = type_info((tensor_type)Type);
    const dequantize_fn deq = simd_to_float((tensor_type)Type);
    const int64_t piece = 256, piece_bytes = piece / info->block_elems * info->block_bytes;  // 256: a multiple of every block
    alignas(64) float buf[256];
    for (int64_t r = 0; r < nr; ++r) {
        const unsigned char* row = static_cast<const unsigned char*>(w) + (size_t)r * ws;
        for (int64_t t = 0; t < nt; ++t) {
            const unsigned char* x = static_cast<const unsigned char*>(a) + (size_t)t * as;
            __m512 acc = _mm512_setzero_ps();
            for (int64_t b = 0; b < n; b += piece) {
                const int64_t m = std::min(piece, n - b);
                deq(row + (size_t)(b / piece * piece_bytes), buf, m);
                for (int64_t i = 0; i < m; i += 16) {
                    const __mmask16 mask = m - i >= 16 ? (__mmask16)0xFFFF : (__mmask16)((1u << (m - i)) - 1u);
                    const __m512 wv = x512_wload<false>(reinterpret_cast<const unsigned char*>(buf), i, mask);
                    acc = _mm512_fmadd_ps(wv, x512_aload(x + 4 * (b + i), mask), acc);
                }
            }
            y[t * ys + r] = _mm512_reduce_add_ps(acc);
        }
    }
}
// Q8_0 (the tied output matrix of Qwen2.5-0.5B's Q4_0/Q8_0 files: 42% of the bytes decode reads):
// d * q is exact in float, so the weights go from the block straight into the same FMAs, without
// the row buffer, and R rows at a time keep R FMA chains in flight (one chain per row was
// latency-bound near the memory speed). Same bits as the generic loop above. Rows rs bytes apart,
// each asking for its block `ahead` bytes on into L2 (mm_rows_walk: decode_prefetch_ahead).
template <int R>
inline void x512_mm_q8_0_rows(const unsigned char* w, size_t rs, size_t ahead, const float* x, int64_t nb, float* y) {
    __m512 acc[R];
    for (int r = 0; r < R; ++r) acc[r] = _mm512_setzero_ps();
    for (int64_t b = 0; b < nb; ++b) {
        const __m512 x0 = _mm512_loadu_ps(x + 32 * b), x1 = _mm512_loadu_ps(x + 32 * b + 16);
#pragma GCC unroll 16
        for (int r = 0; r < R; ++r) {
            const unsigned char* blk = w + (size_t)r * rs + (size_t)b * sizeof(block_q8_0);
            _mm_prefetch(reinterpret_cast<const char*>(blk + ahead), _MM_HINT_T1);
            const __m512 d = _mm512_set1_ps(deq_f16(blk));
            const __m512 w0 = _mm512_mul_ps(_mm512_cvtepi32_ps(_mm512_cvtepi8_epi32(deq_load16(blk + 2))), d);
            const __m512 w1 = _mm512_mul_ps(_mm512_cvtepi32_ps(_mm512_cvtepi8_epi32(deq_load16(blk + 18))), d);
            acc[r] = _mm512_fmadd_ps(w1, x1, _mm512_fmadd_ps(w0, x0, acc[r]));
        }
    }
    for (int r = 0; r < R; ++r) y[r] = _mm512_reduce_add_ps(acc[r]);
}
template <> inline void x512_mm_dequant<(int)tensor_type::q8_0>(const void* w, size_t ws, int64_t nr, const void* a, size_t as, int64_t nt,
                                                                int64_t n, float* y, int64_t ys) {
    mm_rows_walk<decode_part_count>([](auto r) { return x512_mm_q8_0_rows<decltype(r)::value>; }, w, ws, nr, a, as, nt, n / qk, y, ys);
}
// Q6_K (the output matrix of llama.cpp's Q4_0 and Q4_K_M files): (d * sc) * (q - 32) is exact in
// float (11 + 8 + 6 significant bits), so as for Q8_0 the weights go straight into the FMAs, R rows
// at a time. A block's 256 six-bit values are assembled as bytes (64 per instruction) in an L1
// buffer, and widened 16 at a time from there. Same bits as the generic loop. Compute-bound (~12
// GB/s from L2, ~9 from memory), so 4 rows side by side: 8 read 16% slower from L2 (a small
// model's output matrix can sit in a large L3) and no faster from memory.
template <int R>
inline void x512_mm_q6_k_rows(const unsigned char* w, size_t rs, size_t ahead, const float* x, int64_t nb, float* y) {
    const __m512i m4 = _mm512_set1_epi8(15), m2 = _mm512_set1_epi8(0x30), k32 = _mm512_set1_epi8(32);
    alignas(64) int8_t q[R][256];
    alignas(64) float dl[R][16];
    __m512 acc[R];
    for (int r = 0; r < R; ++r) acc[r] = _mm512_setzero_ps();
    for (int64_t b = 0; b < nb; ++b) {
#pragma GCC unroll 4
        for (int r = 0; r < R; ++r) {
            const unsigned char* blk = w + (size_t)r * rs + (size_t)b * sizeof(block_q6_k);
            for (int l = 0; l < (int)sizeof(block_q6_k); l += 64)
                _mm_prefetch(reinterpret_cast<const char*>(blk + ahead + l), _MM_HINT_T0);
            const __m512 d = _mm512_set1_ps(deq_f16(blk + offsetof(block_q6_k, d)));
            _mm512_store_ps(dl[r], _mm512_mul_ps(d, _mm512_cvtepi32_ps(_mm512_cvtepi8_epi32(deq_load16(blk + offsetof(block_q6_k, scales))))));
            for (int h = 0; h < 2; ++h) {
                // ql: 64 bytes, low nibbles = values 0..63 of this half, high nibbles = 64..127;
                // qh: 32 bytes, bit pairs 0-1, 2-3, 4-5, 6-7 = the top bits of values l, 32+l, 64+l, 96+l.
                const __m512i ql = _mm512_loadu_si512(blk + 64 * h);
                const __m256i qh = deq_load32(blk + offsetof(block_q6_k, qh) + 32 * h);
                const __m512i qh_lo = _mm512_inserti64x4(_mm512_castsi256_si512(_mm256_slli_epi16(qh, 4)), _mm256_slli_epi16(qh, 2), 1);
                const __m512i qh_hi = _mm512_inserti64x4(_mm512_castsi256_si512(qh), _mm256_srli_epi16(qh, 2), 1);
                const __m512i v_lo = _mm512_or_si512(_mm512_and_si512(ql, m4), _mm512_and_si512(qh_lo, m2));
                const __m512i v_hi = _mm512_or_si512(_mm512_and_si512(_mm512_srli_epi16(ql, 4), m4), _mm512_and_si512(qh_hi, m2));
                _mm512_store_si512(q[r] + 128 * h, _mm512_sub_epi8(v_lo, k32));
                _mm512_store_si512(q[r] + 128 * h + 64, _mm512_sub_epi8(v_hi, k32));
            }
        }
        for (int g = 0; g < 16; ++g) {
            const __m512 xv = _mm512_loadu_ps(x + 256 * b + 16 * g);
#pragma GCC unroll 4
            for (int r = 0; r < R; ++r) {
                const __m512 wv = _mm512_mul_ps(_mm512_set1_ps(dl[r][g]), _mm512_cvtepi32_ps(_mm512_cvtepi8_epi32(deq_load16(q[r] + 16 * g))));
                acc[r] = _mm512_fmadd_ps(wv, xv, acc[r]);
            }
        }
    }
    for (int r = 0; r < R; ++r) y[r] = _mm512_reduce_add_ps(acc[r]);
}
template <> inline void x512_mm_dequant<(int)tensor_type::q6_k>(const void* w, size_t ws, int64_t nr, const void* a, size_t as, int64_t nt,
                                                                int64_t n, float* y, int64_t ys) {
    mm_rows_walk<4>([](auto r) { return x512_mm_q6_k_rows<decltype(r)::value>; }, w, ws, nr, a, as, nt, n / qk_k, y, ys);
}
#if defined(__GNUC__) && !defined(__clang__)
#pragma GCC diagnostic pop
#endif
inline mm_fn simd_mm_dequant(uint32_t t) {
    switch ((tensor_type)t) {
#define AI_MM_DEQ(T) case tensor_type::T: return x512_mm_dequant<(int)tensor_type::T>;
        AI_MM_DEQ(q4_0) AI_MM_DEQ(q4_1) AI_MM_DEQ(q5_0) AI_MM_DEQ(q5_1) AI_MM_DEQ(q8_0) AI_MM_DEQ(iq4_nl)
        AI_MM_DEQ(q2_k) AI_MM_DEQ(q3_k) AI_MM_DEQ(q4_k) AI_MM_DEQ(q5_k) AI_MM_DEQ(q6_k) AI_MM_DEQ(bf16)
#undef AI_MM_DEQ
        default: return nullptr;
    }
}
#elif AI_DEQ_X86 == 256 && defined(AI_HAVE_TILE_FLOAT)
// mm_dequant with AVX2, for decode (the runtime calls it for one token; the float input is what
// the output matrix gets by default, see matmul_input). Without it a decode dequantized its rows
// into the row buffer (L2) and read them back through the F32 tile: on Zen 3, one thread, the
// tied Q8_0 output matrix of Qwen2.5-0.5B (41% of the bytes a decode reads) took 57% of the time,
// TinyLlama's Q6_K output (9% of the bytes) 20%.
// Here R rows, one from each part (decode_parts), run side by side as R FMA chains, each as
// x256_tile_float runs it (8 lanes, one FMA per 8 elements in order, x86_hsum), on the values
// to_float gives: so every output has the bits of to_float + mm(F32). Q8_0 and Q6_K (the output
// matrices of llama.cpp's files) form their values in registers (the products are exact in
// float); other types go 256 elements at a time through their to_float kernel into an L1 buffer.
// Measured on Zen 3, one thread, against the row buffer: Q8_0 151936 x 896 4.3-6.1 -> 11.2-12.7
// GB/s (the generic kernel: 7.6), Q6_K 32000 x 2048 3.1-4.1 -> 7.6-8.6 (generic 4.7; compute-bound
// at ~9 GB/s also from L2: a widen, a convert, a multiply and an FMA per 8 values, on two pipes).
// No tail: every type here has blocks of 32 or 256.
template <int R>
inline void x256_mm_deq_rows(dequantize_fn deq, size_t piece_bytes, const unsigned char* w, size_t rs, const float* x, int64_t n, float* y) {
    constexpr int64_t piece = 256;
    alignas(32) float buf[R][piece];
    __m256 acc[R];
    for (int r = 0; r < R; ++r) acc[r] = _mm256_setzero_ps();
    for (int64_t b = 0, k = 0; b < n; b += piece, ++k) {
        const int64_t m = std::min(piece, n - b);
        for (int r = 0; r < R; ++r) deq(w + (size_t)r * rs + (size_t)k * piece_bytes, buf[r], m);  // prefetches its row ahead
        for (int64_t i = 0; i < m; i += 8) {
            const __m256 xv = _mm256_loadu_ps(x + b + i);
#pragma GCC unroll 8
            for (int r = 0; r < R; ++r) acc[r] = _mm256_fmadd_ps(_mm256_load_ps(buf[r] + i), xv, acc[r]);
        }
    }
    for (int r = 0; r < R; ++r) y[r] = x86_hsum(acc[r]);
}
template <int Type> void x256_mm_dequant(const void* w, size_t ws, int64_t nr, const void* a, size_t as, int64_t nt, int64_t n, float* y, int64_t ys) {
    const type_traits* info = type_info((tensor_type)Type);
    const dequantize_fn deq = simd_to_float((tensor_type)Type);
    const size_t piece_bytes = (size_t)(256 / info->block_elems) * info->block_bytes;  // 256: a multiple of every block here
    const auto rows = [&](auto r) {
        return [&](const unsigned char* wr, size_t rs, size_t, const float* x, int64_t len, float* out) {
            x256_mm_deq_rows<decltype(r)::value>(deq, piece_bytes, wr, rs, x, len, out);
        };
    };
    mm_rows_walk<decode_part_count>(rows, w, ws, nr, a, as, nt, n, y, ys);
}
// Q8_0: d * q is exact in float, so the weights go from the block straight into the FMAs; each
// row asks for its successor's block (ws bytes on, the same part's next row) into L2.
template <int R>
inline void x256_mm_q8_0_rows(const unsigned char* w, size_t rs, size_t ahead, const float* x, int64_t nb, float* y) {
    __m256 acc[R];
    for (int r = 0; r < R; ++r) acc[r] = _mm256_setzero_ps();
    for (int64_t b = 0; b < nb; ++b) {
        const float* xb = x + 32 * b;
#pragma GCC unroll 8
        for (int r = 0; r < R; ++r) {
            const unsigned char* blk = w + (size_t)r * rs + (size_t)b * sizeof(block_q8_0);
            _mm_prefetch(reinterpret_cast<const char*>(blk + ahead), _MM_HINT_T1);
            const __m256 d = _mm256_set1_ps(deq_f16(blk));
#pragma GCC unroll 4
            for (int k = 0; k < 4; ++k) {
                const __m256i q = _mm256_cvtepi8_epi32(_mm_loadl_epi64(reinterpret_cast<const __m128i*>(blk + 2 + 8 * k)));
                acc[r] = _mm256_fmadd_ps(_mm256_mul_ps(_mm256_cvtepi32_ps(q), d), _mm256_loadu_ps(xb + 8 * k), acc[r]);
            }
        }
    }
    for (int r = 0; r < R; ++r) y[r] = x86_hsum(acc[r]);
}
template <> inline void x256_mm_dequant<(int)tensor_type::q8_0>(const void* w, size_t ws, int64_t nr, const void* a, size_t as, int64_t nt,
                                                                int64_t n, float* y, int64_t ys) {
    mm_rows_walk<decode_part_count>([](auto r) { return x256_mm_q8_0_rows<decltype(r)::value>; }, w, ws, nr, a, as, nt, n / qk, y, ys);
}
// Q6_K: the values (d * sc) * (q - 32) are formed in float as to_float forms them; a block's 256
// levels are assembled as bytes (32 per instruction, as simd_to_float_q6_k) into an L1 buffer and
// widened 8 at a time from there, 16 elements (one scale, broadcast once) per step. Harness on Zen
// 3, one thread, median of 7-31: 151936 x 1536 from memory 7.0 -> 8.7 GB/s against the same loop
// with the levels through a stack array and a broadcast per 8 elements; without the multiply by
// the scale (wrong values) it would be 12 GB/s.
template <int R>
inline void x256_mm_q6_k_rows(const unsigned char* w, size_t rs, size_t ahead, const float* x, int64_t nb, float* y) {
    alignas(32) int8_t q[R][256];
    alignas(32) float dl[R][16];
    __m256 acc[R];
    for (int r = 0; r < R; ++r) acc[r] = _mm256_setzero_ps();
    for (int64_t b = 0; b < nb; ++b) {
#pragma GCC unroll 8
        for (int r = 0; r < R; ++r) {
            const unsigned char* blk = w + (size_t)r * rs + (size_t)b * sizeof(block_q6_k);
            for (int l = 0; l < (int)sizeof(block_q6_k); l += 64) _mm_prefetch(reinterpret_cast<const char*>(blk + ahead + l), _MM_HINT_T1);
            deq_store(dl[r], deq_mul(deq_set1(deq_f16(blk + offsetof(block_q6_k, d))), deq_s8(deq_load16(blk + offsetof(block_q6_k, scales)))));
#pragma GCC unroll 2
            for (int h = 0; h < 2; ++h)
                deq_q6_k_levels(blk, h, [&](int k, __m256i v) { _mm256_store_si256(reinterpret_cast<__m256i*>(q[r] + 128 * h + 32 * k), v); });
        }
#pragma GCC unroll 2
        for (int j = 0; j < 16; ++j) {
            const __m256 x0 = _mm256_loadu_ps(x + 256 * b + 16 * j), x1 = _mm256_loadu_ps(x + 256 * b + 16 * j + 8);
#pragma GCC unroll 8
            for (int r = 0; r < R; ++r) {
                const __m256 s = _mm256_broadcast_ss(&dl[r][j]);
                const __m256i q0 = _mm256_cvtepi8_epi32(_mm_loadl_epi64(reinterpret_cast<const __m128i*>(q[r] + 16 * j)));
                const __m256i q1 = _mm256_cvtepi8_epi32(_mm_loadl_epi64(reinterpret_cast<const __m128i*>(q[r] + 16 * j + 8)));
                acc[r] = _mm256_fmadd_ps(_mm256_mul_ps(s, _mm256_cvtepi32_ps(q0)), x0, acc[r]);
                acc[r] = _mm256_fmadd_ps(_mm256_mul_ps(s, _mm256_cvtepi32_ps(q1)), x1, acc[r]);
            }
        }
    }
    for (int r = 0; r < R; ++r) y[r] = x86_hsum(acc[r]);
}
template <> inline void x256_mm_dequant<(int)tensor_type::q6_k>(const void* w, size_t ws, int64_t nr, const void* a, size_t as, int64_t nt,
                                                                int64_t n, float* y, int64_t ys) {
    mm_rows_walk<decode_part_count>([](auto r) { return x256_mm_q6_k_rows<decltype(r)::value>; }, w, ws, nr, a, as, nt, n / qk_k, y, ys);
}
inline mm_fn simd_mm_dequant(uint32_t t) {
    switch ((tensor_type)t) {
#define AI_MM_DEQ(T) case tensor_type::T: return x256_mm_dequant<(int)tensor_type::T>;
        AI_MM_DEQ(q4_0) AI_MM_DEQ(q4_1) AI_MM_DEQ(q5_0) AI_MM_DEQ(q5_1) AI_MM_DEQ(q8_0) AI_MM_DEQ(iq4_nl)
        AI_MM_DEQ(q2_k) AI_MM_DEQ(q3_k) AI_MM_DEQ(q4_k) AI_MM_DEQ(q5_k) AI_MM_DEQ(q6_k)
#undef AI_MM_DEQ
        default: return nullptr;
    }
}
#else
inline mm_fn simd_mm_dequant(uint32_t) { return nullptr; }
#endif
// ---- The output matrix x q16 activations (kernel_set::mm_q16) ------------------------------------
// Dequantizing Q8_0 / Q6_K rows in registers for the float input costs per 8 weights a widening, a
// convert, a multiply and an FMA, which on a first-generation EPYC ran the output matrix at 5.1
// (Q8_0) and 3.0 (Q6_K) GB/s where its int8 products read 10.3 and 8.7. With the input rounded to
// 16 bits (ref::quantize_act_q16) a block of 32 is two widenings and two pmaddwd, whose 8 int32
// lanes hold exact sums, then one convert and one FMA with d_w * d_a. Q6_K's levels are multiplied
// by their sub-block scale in int16 first (|q - 32| * |sc| <= 4096), so a lane sums 4 products of
// at most 4096 * 32767: 5.4e8, far from int32's limit. Rows from decode_parts' parts, R side by
// side, each prefetching `ahead` bytes on into L2, as the float path's kernels.
#if AI_DEQ_X86 && defined(AI_HAVE_TILE_FLOAT)
template <int S, class Rows>
inline void mm_q16_walk(Rows rows, const void* w, size_t ws, int64_t nr, const void* a, size_t as, int64_t nt, int64_t nb, float* y, int64_t ys) {
    for (int64_t t = 0; t < nt; ++t) {
        const unsigned char* x = static_cast<const unsigned char*>(a) + (size_t)t * as;
        decode_parts<S>(static_cast<const unsigned char*>(w), ws, nr, y + t * ys, [&](auto r, const unsigned char* wr, size_t rs, float* out) {
            rows(r)(wr, rs, decode_prefetch_ahead(ws), x, nb, out);
        });
    }
}
template <int R>
inline void x256_mm_q8_0_q16_rows(const unsigned char* w, size_t rs, size_t ahead, const unsigned char* x, int64_t nb, float* y) {
    __m256 acc[R];
    for (int r = 0; r < R; ++r) acc[r] = _mm256_setzero_ps();
    for (int64_t b = 0; b < nb; ++b) {
        const unsigned char* xb = x + (size_t)b * sizeof(block_q16);
        float da;
        std::memcpy(&da, xb, 4);
        const __m256i a0 = _mm256_loadu_si256(reinterpret_cast<const __m256i*>(xb + 4));
        const __m256i a1 = _mm256_loadu_si256(reinterpret_cast<const __m256i*>(xb + 36));
#pragma GCC unroll 8
        for (int r = 0; r < R; ++r) {
            const unsigned char* blk = w + (size_t)r * rs + (size_t)b * sizeof(block_q8_0);
            _mm_prefetch(reinterpret_cast<const char*>(blk + ahead), _MM_HINT_T1);
            const __m256i w0 = _mm256_cvtepi8_epi16(_mm_loadu_si128(reinterpret_cast<const __m128i*>(blk + 2)));
            const __m256i w1 = _mm256_cvtepi8_epi16(_mm_loadu_si128(reinterpret_cast<const __m128i*>(blk + 18)));
            const __m256i i = _mm256_add_epi32(_mm256_madd_epi16(w0, a0), _mm256_madd_epi16(w1, a1));
            acc[r] = _mm256_fmadd_ps(_mm256_cvtepi32_ps(i), _mm256_set1_ps(deq_f16(blk) * da), acc[r]);
        }
    }
    for (int r = 0; r < R; ++r) y[r] = x86_hsum(acc[r]);
}
template <int R>
inline void x256_mm_q6_k_q16_rows(const unsigned char* w, size_t rs, size_t ahead, const unsigned char* x, int64_t nb, float* y) {
    alignas(32) int8_t q[R][256];
    alignas(32) int32_t sc[R][16];  // a sub-block's scale in both halves (one vpbroadcastd, a load)
    alignas(32) float dd[R][8];     // d_w * d_a of activation block u
    __m256 acc[R];
    for (int r = 0; r < R; ++r) acc[r] = _mm256_setzero_ps();
    for (int64_t b = 0; b < nb; ++b) {
        const unsigned char* xs = x + (size_t)(8 * b) * sizeof(block_q16);
        alignas(32) float da[8];
        for (int u = 0; u < 8; ++u) std::memcpy(&da[u], xs + (size_t)u * sizeof(block_q16), 4);
        const __m256 dav = _mm256_load_ps(da);
#pragma GCC unroll 8
        for (int r = 0; r < R; ++r) {
            const unsigned char* blk = w + (size_t)r * rs + (size_t)b * sizeof(block_q6_k);
            for (int l = 0; l < (int)sizeof(block_q6_k); l += 64) _mm_prefetch(reinterpret_cast<const char*>(blk + ahead + l), _MM_HINT_T1);
            const __m256i s16 = _mm256_cvtepi8_epi16(_mm_loadu_si128(reinterpret_cast<const __m128i*>(blk + offsetof(block_q6_k, scales))));
            const __m256i lo = _mm256_unpacklo_epi16(s16, s16), hi = _mm256_unpackhi_epi16(s16, s16);  // lanes 0-3 | 8-11, 4-7 | 12-15
            _mm256_store_si256(reinterpret_cast<__m256i*>(sc[r]), _mm256_permute2x128_si256(lo, hi, 0x20));
            _mm256_store_si256(reinterpret_cast<__m256i*>(sc[r] + 8), _mm256_permute2x128_si256(lo, hi, 0x31));
            _mm256_store_ps(dd[r], _mm256_mul_ps(_mm256_set1_ps(deq_f16(blk + offsetof(block_q6_k, d))), dav));
#pragma GCC unroll 2
            for (int h = 0; h < 2; ++h)
                deq_q6_k_levels(blk, h, [&](int k, __m256i v) { _mm256_store_si256(reinterpret_cast<__m256i*>(q[r] + 128 * h + 32 * k), v); });
        }
#pragma GCC unroll 2
        for (int u = 0; u < 8; ++u) {  // activation block u: sub-blocks 2u and 2u + 1
            const unsigned char* xb = xs + (size_t)u * sizeof(block_q16);
            const __m256i a0 = _mm256_loadu_si256(reinterpret_cast<const __m256i*>(xb + 4));
            const __m256i a1 = _mm256_loadu_si256(reinterpret_cast<const __m256i*>(xb + 36));
#pragma GCC unroll 8
            for (int r = 0; r < R; ++r) {
                const __m256i w0 = _mm256_mullo_epi16(_mm256_cvtepi8_epi16(_mm_load_si128(reinterpret_cast<const __m128i*>(q[r] + 32 * u))),
                                                      _mm256_set1_epi32(sc[r][2 * u]));
                const __m256i w1 = _mm256_mullo_epi16(_mm256_cvtepi8_epi16(_mm_load_si128(reinterpret_cast<const __m128i*>(q[r] + 32 * u + 16))),
                                                      _mm256_set1_epi32(sc[r][2 * u + 1]));
                const __m256i i = _mm256_add_epi32(_mm256_madd_epi16(w0, a0), _mm256_madd_epi16(w1, a1));
                acc[r] = _mm256_fmadd_ps(_mm256_cvtepi32_ps(i), _mm256_broadcast_ss(&dd[r][u]), acc[r]);
            }
        }
    }
    for (int r = 0; r < R; ++r) y[r] = x86_hsum(acc[r]);
}
inline void x256_mm_q8_0_q16(const void* w, size_t ws, int64_t nr, const void* a, size_t as, int64_t nt, int64_t n, float* y, int64_t ys) {
    mm_q16_walk<decode_part_count>([](auto r) { return x256_mm_q8_0_q16_rows<decltype(r)::value>; }, w, ws, nr, a, as, nt, n / qk, y, ys);
}
inline void x256_mm_q6_k_q16(const void* w, size_t ws, int64_t nr, const void* a, size_t as, int64_t nt, int64_t n, float* y, int64_t ys) {
    mm_q16_walk<decode_part_count>([](auto r) { return x256_mm_q6_k_q16_rows<decltype(r)::value>; }, w, ws, nr, a, as, nt, n / qk_k, y, ys);
}
#if AI_DEQ_X86 == 512 && defined(__AVX512VNNI__)
#if defined(__GNUC__) && !defined(__clang__)
#pragma GCC diagnostic push
#pragma GCC diagnostic ignored "-Wuninitialized"
#pragma GCC diagnostic ignored "-Wmaybe-uninitialized"
#endif
// Q6_K with AVX-512 VNNI: the 16-bit input is split into bytes, a = 256 * hi + lo (lo unsigned, hi
// signed), so that vpdpbusd multiplies 64 levels per instruction: (q - 32) * lo with the levels
// signed, and q * hi with them unsigned, less 32 * (sum of hi) which starts the accumulator. Each
// int32 lane then holds the exact dot of 4 elements (|sum| <= 4 * 32 * 32767); the split and the
// correction are made once per block and shared by the R rows. A lane is scaled in float by its
// sub-block's scale times d_w and its block's d_a, so the float order is the lanes' in a fixed
// pattern, as the other kernels (thread- and split-invariant). Against the 256-bit pmaddwd kernel
// (a widening, a multiply by the scale and a pmaddwd per 16 levels) this is about half the work per
// level, which on one Xeon core moved the output matrix from compute-bound to memory-bound.
template <int R>
inline void x512_mm_q6_k_q16_rows(const unsigned char* w, size_t rs, size_t ahead, const unsigned char* x, int64_t nb, float* y) {
    const __m512i m4 = _mm512_set1_epi8(15), m2 = _mm512_set1_epi8(0x30), k32 = _mm512_set1_epi8(32);
    __m512 acc[R];
    for (int r = 0; r < R; ++r) acc[r] = _mm512_setzero_ps();
    for (int64_t b = 0; b < nb; ++b) {
        const unsigned char* xs = x + (size_t)(8 * b) * sizeof(block_q16);
        __m512i lo[4], hi[4], corr[4];
        __m512 da[4];  // d_a of each lane's block: lanes 0..7 block 2c, 8..15 block 2c + 1
        for (int c = 0; c < 4; ++c) {  // elements 64c .. 64c + 63: q16 blocks 2c and 2c + 1
            const unsigned char* x0 = xs + (size_t)(2 * c) * sizeof(block_q16);
            const unsigned char* x1 = x0 + sizeof(block_q16);
            const __m512i a0 = _mm512_loadu_si512(x0 + 4), a1 = _mm512_loadu_si512(x1 + 4);
            lo[c] = _mm512_inserti64x4(_mm512_castsi256_si512(_mm512_cvtepi16_epi8(a0)), _mm512_cvtepi16_epi8(a1), 1);
            hi[c] = _mm512_inserti64x4(_mm512_castsi256_si512(_mm512_cvtepi16_epi8(_mm512_srai_epi16(a0, 8))),
                                       _mm512_cvtepi16_epi8(_mm512_srai_epi16(a1, 8)), 1);
            corr[c] = _mm512_sub_epi32(_mm512_setzero_si512(), _mm512_dpbusd_epi32(_mm512_setzero_si512(), k32, hi[c]));
            float d0, d1;
            std::memcpy(&d0, x0, 4);
            std::memcpy(&d1, x1, 4);
            da[c] = _mm512_insertf32x8(_mm512_set1_ps(d0), _mm256_set1_ps(d1), 1);
        }
#pragma GCC unroll 8
        for (int r = 0; r < R; ++r) {
            const unsigned char* blk = w + (size_t)r * rs + (size_t)b * sizeof(block_q6_k);
            for (int l = 0; l < (int)sizeof(block_q6_k); l += 64) _mm_prefetch(reinterpret_cast<const char*>(blk + ahead + l), _MM_HINT_T1);
            const __m512 scale = _mm512_mul_ps(_mm512_set1_ps(deq_f16(blk + offsetof(block_q6_k, d))),
                                               _mm512_cvtepi32_ps(_mm512_cvtepi8_epi32(deq_load16(blk + offsetof(block_q6_k, scales)))));
#pragma GCC unroll 2
            for (int h = 0; h < 2; ++h) {
                // the levels of chunks 2h (low nibbles of ql, qh bit pairs 0-1 and 2-3) and 2h + 1
                const __m512i ql = _mm512_loadu_si512(blk + 64 * h);
                const __m256i qh = deq_load32(blk + offsetof(block_q6_k, qh) + 32 * h);
                const __m512i qh_lo = _mm512_inserti64x4(_mm512_castsi256_si512(_mm256_slli_epi16(qh, 4)), _mm256_slli_epi16(qh, 2), 1);
                const __m512i qh_hi = _mm512_inserti64x4(_mm512_castsi256_si512(qh), _mm256_srli_epi16(qh, 2), 1);
                const __m512i lev[2] = {_mm512_or_si512(_mm512_and_si512(ql, m4), _mm512_and_si512(qh_lo, m2)),
                                        _mm512_or_si512(_mm512_and_si512(_mm512_srli_epi16(ql, 4), m4), _mm512_and_si512(qh_hi, m2))};
#pragma GCC unroll 2
                for (int k = 0; k < 2; ++k) {
                    const int c = 2 * h + k;
                    const __m512i dot_hi = _mm512_dpbusd_epi32(corr[c], lev[k], hi[c]);
                    const __m512i dot = _mm512_dpbusd_epi32(_mm512_slli_epi32(dot_hi, 8), lo[c], _mm512_sub_epi8(lev[k], k32));
                    // lane i: sub-block 4c + i / 4
                    const __m512i sub = _mm512_set_epi32(4 * c + 3, 4 * c + 3, 4 * c + 3, 4 * c + 3, 4 * c + 2, 4 * c + 2, 4 * c + 2, 4 * c + 2,
                                                         4 * c + 1, 4 * c + 1, 4 * c + 1, 4 * c + 1, 4 * c, 4 * c, 4 * c, 4 * c);
                    const __m512 s = _mm512_mul_ps(_mm512_permutexvar_ps(sub, scale), da[c]);
                    acc[r] = _mm512_fmadd_ps(_mm512_cvtepi32_ps(dot), s, acc[r]);
                }
            }
        }
    }
    for (int r = 0; r < R; ++r) y[r] = _mm512_reduce_add_ps(acc[r]);
}
inline void x512_mm_q6_k_q16(const void* w, size_t ws, int64_t nr, const void* a, size_t as, int64_t nt, int64_t n, float* y, int64_t ys) {
    mm_q16_walk<decode_part_count>([](auto r) { return x512_mm_q6_k_q16_rows<decltype(r)::value>; }, w, ws, nr, a, as, nt, n / qk_k, y, ys);
}
#if defined(__GNUC__) && !defined(__clang__)
#pragma GCC diagnostic pop
#endif
#endif
#endif
// Which sets use them, measured on this harness's shapes (one thread, medians of 5-15 passes,
// the output matrices of Qwen2.5-0.5B, TinyLlama, DeepSeek-1.5B and SmolLM2-135M) on a Xeon
// (AVX-512): Q8_0 12.6-20.5 GB/s against 9.1-12.1 for the float path with AVX2, 13.9-19.3 against
// 11.3-13.0 with AVX-512; Q6_K with AVX2 7.7 against 5.8 (32000 x 2048; 6.6 against 6.8 at
// 151936 x 1536, within the noise); with AVX-512 the pmaddwd kernel was mixed (7.7-11.4 against
// 8.2-9.2), the byte-split one (x512_mm_q6_k_q16) reads 15.1-15.3 against 10.6-10.8 at 32000 x 2048
// and 11.6-13.8 against 10.2-10.7 at 151936 x 1536 (Xeon without AMX, medians of 9, two rounds;
// from L2, 1024 x 1536: 13-16 against 9-12). On a first-generation EPYC the float path read Q6_K
// at 3.0 GB/s.
#if AI_DEQ_X86 && defined(AI_HAVE_TILE_FLOAT)
inline mm_fn simd_mm_q16(uint32_t t) {
    switch ((tensor_type)t) {
        case tensor_type::q8_0: return x256_mm_q8_0_q16;
#if AI_DEQ_X86 == 256
        case tensor_type::q6_k: return x256_mm_q6_k_q16;
#elif AI_DEQ_X86 == 512 && defined(__AVX512VNNI__)
        case tensor_type::q6_k: return x512_mm_q6_k_q16;  // (AVX-512 without VNNI: the float path)
#endif
        default: return nullptr;
    }
}
#else
inline mm_fn simd_mm_q16(uint32_t) { return nullptr; }
#endif
}  // namespace detail
#undef AI_DEQ_X86


// ---- Kernel sets ----------------------------------------------------------------------------------
namespace detail {
#define AI_KERNEL_SET_LOOKUPS(NS)                                                                  \
    inline vec_dot_fn NS##_vec_dot_by_id(uint32_t w, uint32_t* act) {                              \
        tensor_type a = tensor_type::f32;                                                          \
        const vec_dot_fn f = NS::vec_dot((tensor_type)w, &a);                                      \
        if (act) *act = (uint32_t)a;                                                               \
        return f;                                                                                  \
    }                                                                                              \
    inline quantize_act_fn NS##_quantize_act_by_id(uint32_t a) { return NS::quantize_act((tensor_type)a); }
AI_KERNEL_SET_LOOKUPS(ref)
AI_KERNEL_SET_LOOKUPS(simd)
#undef AI_KERNEL_SET_LOOKUPS
// The reference has no tile kernels (its products are vec_dot per row and token) and no mm_dequant.
inline mm_fn ref_mm_by_id(uint32_t) { return nullptr; }
inline mm_fn simd_mm_by_id(uint32_t w) { return simd_mm((tensor_type)w); }
inline dequantize_fn ref_to_float_by_id(uint32_t t) { return ref::to_float((tensor_type)t); }
inline dequantize_fn simd_to_float_by_id(uint32_t t) { return simd_to_float((tensor_type)t); }
}  // namespace detail

const kernel_set* ref::kernels() {
    static const kernel_set k = {"scalar", ref::dot_f32, detail::ref_vec_dot_by_id, detail::ref_quantize_act_by_id, detail::ref_mm_by_id,
                                 detail::ref_to_float_by_id, detail::ref_mm_by_id, false, ref::silu_mul, ref::softmax, ref::att_scores, ref::att_values,
                                 detail::ref_mm_by_id};
    return &k;
}
const kernel_set* simd::kernels() {
#if AI_X86_INT8 && defined(__AVX512F__) && defined(__AVX512BW__) && defined(__AVX512VL__) && defined(__AVX512DQ__) && defined(__AVX512VNNI__)
    static const char* const name = "avx512";
#elif AI_X86_INT8
    static const char* const name = "avx2";
#elif AI_NEON_INT8 && defined(__ARM_FEATURE_DOTPROD)
    static const char* const name = "dotprod";
#elif AI_NEON_INT8
    static const char* const name = "neon";
#else
    static const char* const name = simd::arch_name();
#endif
    static const kernel_set k = {name, simd::dot_f32, detail::simd_vec_dot_by_id, detail::simd_quantize_act_by_id, detail::simd_mm_by_id,
                                 detail::simd_to_float_by_id, detail::simd_mm_dequant, false, simd::silu_mul, simd::softmax, simd::att_scores, simd::att_values,
                                 detail::simd_mm_q16};
    return &k;
}
#if AI_X86_INT8 && defined(AI_X86_AMX)
namespace detail {
inline mm_fn amx_mm_by_id(uint32_t w) {
    switch ((tensor_type)w) {
        case tensor_type::q4_0: return amx_mm<amx_qk32<x86_mm_q4_0>>::mm;
        case tensor_type::q4_1: return amx_mm<amx_qk32<x86_mm_q4_1>>::mm;
        case tensor_type::q5_0: return amx_mm<amx_qk32<x86_mm_q5_0>>::mm;
        case tensor_type::q5_1: return amx_mm<amx_qk32<x86_mm_q5_1>>::mm;
        case tensor_type::q8_0: return amx_mm<amx_qk32<x86_mm_q8_0>>::mm;
        case tensor_type::iq4_nl: return amx_mm<amx_qk32<x86_mm_iq4_nl>>::mm;
        case tensor_type::q4_k: return amx_mm<amx_qk<false>>::mm;
        case tensor_type::q5_k: return amx_mm<amx_qk<true>>::mm;
        case tensor_type::q6_k: return amx_mm<amx_q6k>::mm;
#if defined(AI_HAVE_TILE_FLOAT)
        case tensor_type::f16: return amx_mm_f16;
#endif
        default: return simd_mm((tensor_type)w);
    }
}
}  // namespace detail
const kernel_set* simd::kernels_amx() {
    static const kernel_set k = {"amx", simd::dot_f32, detail::simd_vec_dot_by_id, detail::simd_quantize_act_by_id, detail::amx_mm_by_id,
                                 detail::simd_to_float_by_id, detail::simd_mm_dequant, true, simd::silu_mul, simd::softmax, simd::att_scores, simd::att_values,
                                 detail::simd_mm_q16};
    return &k;
}
#else
const kernel_set* simd::kernels_amx() { return nullptr; }
#endif

#if !defined(AI_DISPATCH_TARGET)
// ---- Which sets this build has, and which this CPU runs ----------------------------------------
#if defined(AI_DISPATCH) && (defined(__x86_64__) || defined(_M_X64))
extern "C" const ai::kernel_set* ai_kernels_avx2(void);
extern "C" const ai::kernel_set* ai_kernels_avx512(void);
extern "C" const ai::kernel_set* ai_kernels_avx512_amx(void);  // nullptr when its compiler lacked AMX
#elif defined(AI_DISPATCH) && defined(__aarch64__)
extern "C" const ai::kernel_set* ai_kernels_dotprod(void);  // NEON with sdot (Armv8.2 dotprod)
#endif

namespace detail {
struct cpu_caps {
    bool x86 = false, sse2 = false, avx = false, avx2 = false, fma = false, f16c = false;
    bool avx512f = false, avx512bw = false, avx512vl = false, avx512dq = false, avx512vnni = false, avx512bf16 = false;
    bool amx_int8 = false, amx_bf16 = false, amx_tile = false, amx_os = false, aarch64 = false, neon = false;
    bool dotprod = false;  // AArch64 sdot / udot (FEAT_DotProd)
};
#if (defined(__x86_64__) || defined(__i386__)) && (defined(__GNUC__) || defined(__clang__))
inline void cpu_cpuid(unsigned leaf, unsigned sub, unsigned r[4]) {
    __asm__ __volatile__("cpuid" : "=a"(r[0]), "=b"(r[1]), "=c"(r[2]), "=d"(r[3]) : "a"(leaf), "c"(sub));
}
inline uint64_t cpu_xgetbv0() {
    unsigned lo, hi;
    __asm__ __volatile__("xgetbv" : "=a"(lo), "=d"(hi) : "c"(0));
    return ((uint64_t)hi << 32) | lo;
}
#define AI_HAVE_CPUID 1
#elif defined(_MSC_VER) && (defined(_M_X64) || defined(_M_IX86))
inline void cpu_cpuid(unsigned leaf, unsigned sub, unsigned r[4]) {
    int v[4];
    __cpuidex(v, (int)leaf, (int)sub);
    for (int i = 0; i < 4; ++i) r[i] = (unsigned)v[i];
}
inline uint64_t cpu_xgetbv0() { return _xgetbv(0); }
#define AI_HAVE_CPUID 1
#endif
// The instruction sets the CPU has and the OS saves the registers of (XCR0: YMM for AVX, the
// opmask and ZMM state for AVX-512): cpuid alone would allow AVX-512 under an OS that lacks it.
inline cpu_caps cpu_detect() {
    cpu_caps c;
#if defined(AI_HAVE_CPUID)
    c.x86 = true;
    unsigned r[4];
    cpu_cpuid(0, 0, r);
    const unsigned max_leaf = r[0];
    cpu_cpuid(1, 0, r);
    c.sse2 = (r[3] >> 26) & 1;
    const bool osxsave = (r[2] >> 27) & 1;
    const uint64_t xcr0 = osxsave ? cpu_xgetbv0() : 0;
    const bool ymm = (xcr0 & 0x6) == 0x6, zmm = (xcr0 & 0xE6) == 0xE6;
    c.avx = ymm && ((r[2] >> 28) & 1);
    c.fma = c.avx && ((r[2] >> 12) & 1);
    c.f16c = c.avx && ((r[2] >> 29) & 1);
    if (max_leaf >= 7) {
        cpu_cpuid(7, 0, r);
        c.avx2 = c.avx && ((r[1] >> 5) & 1);
        c.avx512f = zmm && ((r[1] >> 16) & 1);
        c.avx512dq = c.avx512f && ((r[1] >> 17) & 1);
        c.avx512bw = c.avx512f && ((r[1] >> 30) & 1);
        c.avx512vl = c.avx512f && ((r[1] >> 31) & 1);
        c.avx512vnni = c.avx512f && ((r[2] >> 11) & 1);
        c.amx_int8 = (r[3] >> 25) & 1;
        c.amx_tile = (r[3] >> 24) & 1;
        c.amx_bf16 = (r[3] >> 22) & 1;
        c.amx_os = (xcr0 & 0x60000) == 0x60000;  // XTILECFG and XTILEDATA state enabled
        cpu_cpuid(7, 1, r);
        c.avx512bf16 = c.avx512f && ((r[0] >> 5) & 1);
    }
#elif defined(__aarch64__) || defined(_M_ARM64)
    c.aarch64 = c.neon = true;  // Advanced SIMD is part of every AArch64 CPU
#if defined(__ARM_FEATURE_DOTPROD) || defined(__APPLE__)  // built for it, or any Apple arm64 (M1 on)
    c.dotprod = true;
#elif defined(__linux__)
    c.dotprod = (getauxval(AT_HWCAP) >> 20) & 1;  // HWCAP_ASIMDDP
#endif
#endif
    return c;
}
inline const cpu_caps& cpu() {
    static const cpu_caps c = cpu_detect();
    return c;
}
// Linux hands a process the AMX tile state only on request (the register file is 8 KiB per
// thread); without it the first tile instruction faults. Asked once, when the registry is built.
inline bool cpu_amx_granted() {
#if defined(__linux__) && defined(__x86_64__)
    const long arch_req_xcomp_perm = 0x1023, xfeature_xtiledata = 18;
    return syscall(SYS_arch_prctl, arch_req_xcomp_perm, xfeature_xtiledata) == 0;
#else
    return false;
#endif
}
inline bool cpu_runs_set(const char* name) {
    const cpu_caps& c = cpu();
    const bool avx512 = c.avx2 && c.fma && c.f16c && c.avx512f && c.avx512bw && c.avx512vl && c.avx512dq && c.avx512vnni;
    if (std::strcmp(name, "amx") == 0) return avx512 && c.avx512bf16 && c.amx_int8 && c.amx_bf16 && c.amx_tile && c.amx_os && cpu_amx_granted();
    if (std::strcmp(name, "avx512") == 0) return avx512;
    if (std::strcmp(name, "avx2") == 0) return c.avx2 && c.fma && c.f16c;
    if (std::strcmp(name, "dotprod") == 0) return c.dotprod;
    return true;
}
// Best first: the sets built in, dispatch sets only when they add one the baseline lacks.
struct kernel_registry {
    const kernel_set* sets[6] = {};
    bool runs[6] = {};
    int n = 0;
    void add(const kernel_set* k, bool runs_here) {
        if (!k || n == 6) return;
        for (int i = 0; i < n; ++i)
            if (std::strcmp(sets[i]->name, k->name) == 0) return;
        sets[n] = k;
        runs[n++] = runs_here;
    }
    kernel_registry() {
#if defined(AI_DISPATCH) && (defined(__x86_64__) || defined(_M_X64))
        const char* own = simd::kernels()->name;
        if (std::strcmp(own, "avx512") != 0) {
            if (const kernel_set* amx = ai_kernels_avx512_amx()) add(amx, cpu_runs_set("amx"));
            add(ai_kernels_avx512(), cpu_runs_set("avx512"));
            if (std::strcmp(own, "avx2") != 0) add(ai_kernels_avx2(), cpu_runs_set("avx2"));
        }
#elif defined(AI_DISPATCH) && defined(__aarch64__)
        add(ai_kernels_dotprod(), cpu_runs_set("dotprod"));  // a build made with +dotprod keeps one of the two
#endif
        if (const kernel_set* amx = simd::kernels_amx()) add(amx, cpu_runs_set("amx"));
        add(simd::kernels(), true);  // compiled for this translation unit's flags: runs by construction
        add(ref::kernels(), true);
    }
};
inline const kernel_registry& kernel_sets() {
    static const kernel_registry r;
    return r;
}
}  // namespace detail

int kernel_set_count() { return detail::kernel_sets().n; }
const kernel_set* kernel_set_at(int i) {
    const detail::kernel_registry& r = detail::kernel_sets();
    return i >= 0 && i < r.n ? r.sets[i] : nullptr;
}
bool kernel_set_runs_here(const kernel_set* k) {
    const detail::kernel_registry& r = detail::kernel_sets();
    for (int i = 0; i < r.n; ++i)
        if (r.sets[i] == k) return r.runs[i];
    return false;
}
const kernel_set* kernel_set_best() {
    const detail::kernel_registry& r = detail::kernel_sets();
    for (int i = 0; i < r.n; ++i)
        if (r.runs[i]) return r.sets[i];
    return ref::kernels();
}
const kernel_set* kernel_set_find(const char* name) {
    const detail::kernel_registry& r = detail::kernel_sets();
    for (int i = 0; name && i < r.n; ++i)
        if (std::strcmp(r.sets[i]->name, name) == 0) return r.sets[i];
    return nullptr;
}
const char* cpu_features() {
    static const struct text {
        char s[256];
        text() : s() {
            const detail::cpu_caps& c = detail::cpu();
            const struct { bool on; const char* name; } all[] = {
                {c.x86, "x86-64"}, {c.sse2, "sse2"}, {c.avx, "avx"}, {c.avx2, "avx2"}, {c.fma, "fma"}, {c.f16c, "f16c"},
                {c.avx512f, "avx512f"}, {c.avx512bw, "avx512bw"}, {c.avx512vl, "avx512vl"}, {c.avx512dq, "avx512dq"},
                {c.avx512vnni, "avx512vnni"}, {c.avx512bf16, "avx512bf16"}, {c.amx_int8, "amx-int8"},
                {c.aarch64, "aarch64"}, {c.neon, "neon"}, {c.dotprod, "dotprod"}};
            size_t at = 0;
            for (const auto& f : all) {
                if (!f.on) continue;
                const size_t len = std::strlen(f.name);
                if (at + len + 2 > sizeof s) break;
                if (at) s[at++] = ' ';
                std::memcpy(s + at, f.name, len);
                at += len;
            }
            if (!at) std::memcpy(s, "unknown", 8);
        }
    } t;
    return t.s;
}
#endif  // !AI_DISPATCH_TARGET

#if defined(AI_DISPATCH_TARGET)
// A dispatch translation unit ends here: its kernels, exported under a C name.
AI_TARGET_NS_END
}  // namespace ai
#define AI_CAT2_(a, b) a##b
#define AI_CAT_(a, b) AI_CAT2_(a, b)
extern "C" const ai::kernel_set* AI_CAT_(ai_kernels_, AI_DISPATCH_TARGET)(void) { return ai::simd::kernels(); }
extern "C" const ai::kernel_set* AI_CAT_(AI_CAT_(ai_kernels_, AI_DISPATCH_TARGET), _amx)(void) { return ai::simd::kernels_amx(); }
#else  // !AI_DISPATCH_TARGET: the rest of the library

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
        detail::advise_huge_pages(s->alloc, s->owned_data, s->owned_data_size);  // streamed once per token
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
        advise_huge_pages(a, *out, *out_size);  // (nothing on nullptr) the weights are streamed once per token
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
// Unicode: UTF-8, character classes, lowercase and NFD, as llama.cpp's src/unicode.cpp has them
// ================================================================================================
//
// The tokenizers must give llama.cpp's token ids for every input, so this layer reproduces
// llama.cpp's own Unicode handling, quirks included, rather than the standard's:
//   - UTF-8 decoding is lenient in the same places (see utf8_decode);
//   - the tables are Unicode 15.1.0, the version of llama.cpp's src/unicode-data.cpp (generated
//     below by tests/gen_unicode.py, checked codepoint by codepoint against llama.cpp by
//     tests/check_pretok_peer.py);
//   - "NFD" is llama.cpp's: the first codepoint of the canonical decomposition only.
// Nothing here allocates, throws or prints. Codepoints are uint32_t.

namespace detail {

// Character classes (unicode_flags). Every codepoint has exactly one of the category bits
// (letter, number, mark, punct, symbol, control, separator, unassigned); ucat_space may come on
// top of control or separator.
enum : uint32_t {
    ucat_letter = 1,        // \p{L}: Lu Ll Lt Lm Lo
    ucat_number = 2,        // \p{N}: Nd Nl No
    ucat_mark = 4,          // \p{M}: Mn Mc Me
    ucat_punct = 8,         // \p{P}: Pc Pd Ps Pe Pi Pf Po
    ucat_symbol = 16,       // \p{S}: Sm Sc Sk So
    ucat_space = 32,        // whitespace as llama.cpp (and regex \s) sees it: Unicode White_Space
    ucat_control = 64,      // \p{C} except unassigned: Cc Cf Co Cs
    ucat_separator = 128,   // \p{Z}: Zs Zl Zp (all of them are also ucat_space)
    ucat_unassigned = 256,  // Cn, and anything above U+10FFFF
};

}  // namespace detail

// <<< generated by tests/gen_unicode.py: do not edit
// Unicode 15.1.0, the version of llama.cpp's src/unicode-data.cpp.
// Packed tables are strings of 6-bit digits, most significant first: '#'..'>' = 0..27,
// '@'..'[' = 28..55, ']'..'d' = 56..63 (no '"', '\\' or '?'). ucd_digits() decodes them.
namespace detail {

// General category, as ranges. Record i (4 digits) = first codepoint << 3 | class; a range
// ends where the next record begins, the last one at U+10FFFF. ucd_cat_flags maps the class.
constexpr uint32_t ucd_cat_count = 2272;
constexpr char ucd_cat_data[] =
    "###*##'&##'0##'J##'Q##(B##(I##)$##*8##*J##*b##+-##.A##.Z##.b##/)##/-##2A##2J##2Q##2Z##2d##7&##70"
    "##79##7b##8)##85##8A##8J##8S##8Z##94##9J##9N##9Y##:)##:,##:5##:A##:E##:b##;%##=c##>%##Bc##C%#$;9"
    "#$;V#$=9#$@%#$@R#$AF#$AR#$AV#$Ac#$D'#$R%#$RR#$RV#$S##$S5#$SY#$S_#$T##$TJ#$TV#$Tb#$U%#$U;#$UF#$UL"
    "#$UV#$X3#$X=#$cZ#$c_#%39#%3@#%45#%J##%J-#%N]#%O-#%O8#%P%#%U0#%U;#%UR#%V##%V/#%[Y#%[a#%](#%]/#%]A"
    "#%]H#%]Y#%]a#%^##%_%#%b;#%b_#%cA#%cL#&#*#&#Z#&$0#&$B#&$I#&$Z#&%'#&&A#&&K#&&Q#&'%#&,@#&/$#&08#&0V"
    "#&1'#&1-#&=I#&=N#&=X#&>S#&>Z#&>a#&@N#&@a#&A1#&A7#&AV#&B$#&C5#&CR#&C_#&D(#&ET#&Ed#&F%#&F/#&F5#&J'"
    "#&M;#&MN#&XX#&Z-#&Z3#&]$#&^5#&b@#&cF#&cZ#&cb#&d5#&d;#&dP#&dZ#'#%#'%X#'&5#'&@#''F#''P#'(%#'(/#'(T"
    "#')(#'*]#'+%#'./#'.D#'.Y#'.]#'/%#'0;#'1%#'4)#'4-#'4]#'5*#'53#'6'#'7%#'<7#'@:#'@@#'DF#'K7#'KN#'KX"
    "#'N%#'N/#'O%#'P7#'PI#'PU#'R(#'R-#'T/#'TD#'TN#'UL#'U_#'V+#'V=#'Y+#'Y5#'Z+#'Z5#'Z;#'ZV#'[3#'[H#'[N"
    "#'[X#']L#']a#'^+#'^@#'^V#'^]#'_a#'`##'`F#'`T#'`_#'a7#'aD#'aU#'c%#'c9#'cE#'d9#'dF#'dQ#'dX#'d]#(#/"
    "#(#D#(#N#($;#($_#(%+#(%=#((+#((5#()+#()5#()D#()N#()]#(*%#(*3#(*H#(*L#(*X#(+;#(+a#(,+#(,@#(,T#(-/"
    "#(-3#(.-#(.L#(.V#(.]#(/U#(1'#(15#(1P#(1Y#(1]#(3/#(3D#(3N#(4T#(4_#(53#(5=#(8+#(85#(9+#(95#(9D#(9N"
    "#(:3#(:H#(:N#(:X#(;T#(;a#(<3#(<@#(<T#(=%#(=+#(@%#(@7#(@D#(@U#(B(#(B1#(B3#(C-#(C7#(D##(D/#(DD#(DN"
    "#(EL#(E_#(F+#(F=#(I+#(I5#(J+#(J5#(JD#(JN#(K3#(KH#(KN#(KX#(LL#(La#(M+#(M@#(MT#(NP#(O##(OF#(OT#(O_"
    "#(P7#(PD#(PU#(R)#(R-#(R4#(S##(T7#(T=#(TD#(TN#(U;#(UV#(V+#(V5#(VT#(W-#(W;#(WF#(WL#(WV#(X##(X=#(XL"
    "#(Y%#(Y;#(YV#([3#([X#(];#(]X#(^+#(^7#(^T#(_%#(_+#(_a#(`##(aU#(cB#(d;#)#'#)#N#)$L#)$V#)%+#)%5#)(+"
    "#)(5#)*3#)*H#)*N#)*X#)+L#)+X#),+#),7#),T#)-P#)-]#).%#).;#).N#).T#)/%#)/7#)/D#)/U#)1##)1b#)2$#)2c"
    "#)3%#)3/#)3I#)3N#)4L#)4V#)5+#)55#)8+#)85#)9D#)9N#):3#):H#):N#):X#);L#);X#)<+#)<7#)<T#)=P#)=]#)>N"
    "#)>]#)@%#)@7#)@D#)@U#)B##)B-#)B@#)BD#)D'#)DF#)EL#)EV#)F+#)F5#)K@#)KN#)KX#)LL#)LX#)M+#)M7#)MV#)Mc"
    "#)N##)NF#)Na#)O$#)O_#)P7#)PD#)PU#)S1#)S5#)T##)T/#)TD#)TN#)V]#)W5#)Z3#)Z=#)[D#)[N#)[T#)]%#)]]#)^7"
    "#)^;#)^a#)_L#)_X#)_]#)`'#)a##)aU#)c##)c7#)cI#)cL#*#-#*)/#*)5#*)H#**;#**c#*+%#*+a#*,b#*-$#*.8#*.D"
    "#*3-#*3;#*3F#*3L#*3V#*4;#*4F#*7D#*7N#*7T#*7_#*9/#*95#*9H#*:N#*:T#*;%#*;L#*;V#*;]#*<'#*<]#*=$#*>3"
    "#*>F#*@##*D%#*D1#*DI#*FB#*FI#*FR#*G'#*G9#*H$#*JJ#*JP#*JZ#*Ja#*K)#*K/#*K8#*KX#*L%#*M##*M-#*QL#*R/"
    "#*TQ#*TX#*U%#*UP#*W##*W/#*[L#*[Z#*]X#*]c#*^L#*^Z#*_(#*_R#*`0#*`;#+#%#+(@#+*_#++$#+,8#+-%#+-X#+.5"
    "#+.X#+/-#+/7#+/N#+/a#+0V#+1/#+1N#+37#+4V#+4a#+5$#+67#+6Z#+7%#+;T#+;_#+<##+<N#+<T#+=%#+CA#+CF#,,+"
    "#,,5#,,T#,-%#,-]#,.%#,.+#,.5#,.T#,/%#,4+#,45#,4T#,5%#,9+#,95#,9T#,:%#,:]#,;%#,;+#,;5#,;T#,<%#,=]"
    "#,>%#,F+#,F5#,FT#,G%#,O;#,OP#,P(#,Q,#,SL#,T%#,V)#,W3#,X%#,cT#,d%#,dT#-#(#-#-#.0R#.0Y#.0_#.3&#.3-"
    "#.6A#.6L#.7%#.AA#.AU#.B-#.C+#.D%#.F7#.FT#.G_#.J7#.JQ#.J]#.L%#.N7#.ND#.P%#.QL#.QV#.R+#.R7#.RD#.T%"
    "#.ZH#._I#.__#.`(#.`B#.`F#.`P#.`T#.a$#.b3#.c$#.d3#/#(#/$@#/$[#/$a#/%$#/&3#/'%#/2+#/3%#/3P#/3_#/8/"
    "#/85#/8;#/9%#/BT#/D%#/G]#/H'#/ID#/J'#/KD#/L)#/L+#/LI#/LU#/N%#/QT#/R%#/RL#/T%#/YD#/Z%#/^3#/_$#/`;"
    "#/`Z#0#%#0%a#0&D#0&Y#0'%#0-P#0.]#0/'#02L#02a#03$#043#05$#063#07(#07_#08(#08T#09'#0<]#0D'#0DN#0JH"
    "#0LN#0ML#0N$#0O8#0P1#0Q@#0RJ#0SQ#0S]#0T'#0T=#0X/#0YV#0Z$#0[5#0aX#0cD#0dI#1#%#1'H#1*##1*A#1+$#1,3"
    "#1,N#1-$#1.5#12Y#13%#14+#15%#1:;#1:N#1;(#1<##1='#1=A#1=H#1A-#1AP#1AV#1BH#1BN#1Ba#1C5#1C;#1D%#1]'"
    "#2#%#2FT#2G%#2GT#2H%#2LT#2M%#2MT#2N%#2O##2O-#2O3#2O=#2OD#2ON#2OT#2O_#2ST#2T%#2ZL#2ZV#2[R#2[V#2[c"
    "#2]5#2]L#2]V#2^R#2_%#2_D#2_V#2`D#2`R#2a%#2bR#2c##2c5#2cL#2cV#2dR#2d]#3#&#3$C#3%(#3(&#3(:#3(`#3)("
    "#3+J#3+Q#3-9#3-A#3.`#3/*#3/L#3/[#31$#31-#313#31E#329#32Q#32_#33$#349#34Q#34]#35%#36L#37)#3;+#3='"
    "#3B+#3D)#3D5#3DB#3D_#3E)#3E5#3FJ#3FN#3FZ#3G-#3GZ#3HF#3HR#3HV#3Hc#3I%#3I1#3I5#3IZ#3I_#3K9#3KF#3L)"
    "#3LN#3M9#3MV#3Mc#3N$#3T=#3TM#3U9#3UD#3V)#4E(#4EJ#4I0#4IB#5']#5+)#5,;#5/$#56J#5A4#5D)#6Q(#6RU#6VJ"
    "#6]Q#6]c#6aY#6c)#7TA#7W1#7`(#7`J#7dI#7dZ#8RD#8RZ#8VT#8Vc#9#%#9@R#9A=#9Aa#9B5#9BD#9C0#9CM#9CY#9D%"
    "#9HT#9H_#9I##9IN#9IT#9J%#9Q##9Q_#9R(#9R+#9Sa#9T%#9V]#9X%#9X]#9Y%#9Y]#9Z%#9Z]#9[%#9[]#9]%#9]]#9^%"
    "#9^]#9_%#9_]#9`%#9`]#9a'#:#(#:(_#:)(#:-)#:-8#:.T#:3)#:63#:6B#:BD#:D)#:_T#:c)#;#&#;#0#;#J#;#N#;#^"
    "#;$(#;%9#;%I#;')#;',#;(7#;)(#;)-#;)Z#;*$#;*=#;*Q#;*Z#;+##;+-#;5]#;6/#;6B#;6N#;7(#;7-#;CA#;CF#;D#"
    "#;DN#;J##;J-#;U]#;V)#;V4#;VZ#;X%#;])#;aD#;bc#;c%#<#)#<&]#<'$#<(9#<,$#<-)#<-,#</)#<3$#<49#<9,#<;)"
    "#=#%#J])#K#%$54L$55)$5;]$5=%$5CY$5D%$6$Q$6%%$6'$$6(5$6(D$6+%$60a$61A$61H$62Y$62_$66X$67%$6@U$6B'"
    "$6B8$6C#$6D)$6F_$6H)$6H5$6U1$6U=$6^;$6_%$6_3$6_=$6_D$6_N$6`3$6c5$7#7$7#=$7#X$7#_$7$@$7$F$7'@$7()"
    "$7(H$7(L$7)$$7)Z$7*3$7+%$71I$72#$73'$735$79H$7;T$7<Y$7=$$7>3$7@'$7B5$7C($7C=$7CI$7CN$7Ca$7D$$7E5"
    "$7HX$7IY$7J%$7La$7ND$7Ob$7P%$7SL$7T'$7TF$7Z@$7]0$7^T$7^_$7_$$7`3$7`Y$7a%$7aP$7aV$7c$$7d5$7d]$8#%"
    "$8(/$8)]$8+%$8+@$8+F$8,H$8,T$8-$$8.3$8.I$8/%$81c$825$82@$82V$89'$89-$897$89N$89a$8:-$8:X$8;%$8;/"
    "$8;5$8;;$8>=$8>Y$8@%$8A@$8B($8B5$8BP$8B]$8D-$8D]$8E-$8E]$8F-$8F]$8H%$8H]$8I%$8I]$8J%$8OB$8OF$8Q9"
    "$8QD$8R%$8a@$8bA$8bH$8bT$8c$$8d3$9#%$OXD$OZ%$O]]$O^=$OdD$P#*$aD%$b0T$b1%$b>3$bD%$bD]$bF=$bG#$bGN"
    "$bGX$bG_$bI1$bI5$bJ]$bK%$bKL$bKV$bK]$bL%$bL3$bL=$bLL$bLV$bZ9$b];$b_=$cKY$cL)$cN%$cV#$cV5$c^#$c^c"
    "$c_#$cc%$cdJ$d#'$d%($d&3$d''$d)($d-;$d-I$d/9$d/A$d/J$d/]$d0($d01$d08$d0D$d1%$d1L$d1V$dCL$dCd$dD#"
    "$dD0$dDJ$dDQ$dEB$dEI$dF$$dG8$dGJ$dGb$dH-$dKA$dKZ$dKb$dL)$dL-$dOA$dOJ$dOQ$dOZ$dOb$dPV$d[]$d]5$d^#"
    "$d^5$d_#$d_5$d`#$d`5$d`L$da)$da]$db)$db]$dd2$ddJ$ddT%##%%#$D%#$N%#']%#(%%#*;%#*F%#*T%#*_%#,T%#-%"
    "%#.T%#3%%#C;%#D(%#D;%#D^%#JD%#Jc%#L$%#S1%#U4%#UJ%#U]%#V)%#WL%#X)%#X+%#_)%#dP%#dT%$3%%$6L%$7%%$=+"
    "%$@'%$@,%$CD%$D%%$H$%$HD%$IN%$L,%$L5%$M4%$M;%$N%%$RX%$S;%$T%%$WT%$Wb%$X%%$]D%$^%%$_(%$_,%$_T%%#%"
    "%%6T%%7$%%83%%9%%%=D%%>%%%CD%%D%%%I#%%J%%%PD%%Qb%%R%%%S;%%SF%%U;%%UF%%V;%%VF%%VT%%V_%%X3%%X=%%Z3"
    "%%Z=%%[3%%[=%%[L%&#%%&J]%&L%%&NT%&P%%&Q#%&T%%&TT%&T_%&Z+%&Z5%&[;%'#%%'#T%'$%%'$+%'$5%')T%')_%'*+"
    "%'*F%'*L%'*_%'-T%'-b%'.$%'/%%'1c%'2,%'3%%'6]%'7^%'9#%'@%%'B;%'BF%'BT%'C<%'D%%'FU%'GD%'Gb%'H%%'K3"
    "%'Kb%'L#%'T%%'[#%'[E%'[V%']$%'_#%'_4%(#%%(#/%(#D%(#P%(#]%($H%(%%%(%D%(%N%(&#%(&-%()T%(*'%(*;%(*a"
    "%(+$%(,+%(-(%(.+%(/%%(2M%(2b%(3%%(6M%(7#%(;%%(<)%(<-%(@P%(@]%(A<%(B(%(B]%(D%%(JT%(K0%(L%%(NT%(O$"
    "%(P%%(R;%(S$%(T%%(V3%(W0%(WL%(Y,%(Z#%)#%%),+%)3%%)9;%);%%)B;%)C4%)D%%)HH%)I#%)J$%)K3%*/$%*2]%*3%"
    "%*83%*8@%*8Q%*8T%*9%%*93%*CP%*D%%*GM%*H_%*I#%*J%%*LX%*N,%*NQ%*O3%*R%%*T7%*TY%*U3%*Z%%*]M%*^D%*a%"
    "%*c]%+#'%+#=%+*'%++b%+,T%+-4%+1'%+1-%+1@%+1N%+1T%+2a%+3=%+9'%+:A%+:S%+:Y%+;7%+;;%+<S%+<T%+=%%+A+"
    "%+B$%+C3%+D'%+D=%+Ha%+JL%+JU%+L(%+LF%+LP%+L_%+M#%+N%%+R@%+RI%+RV%+R]%+T'%+T=%+Z@%+]-%+]Q%+^/%+^Q"
    "%+^X%+_$%+`5%+`A%+`F%+`Q%+a#%+a,%+cL%,#%%,%3%,%=%,(H%,*(%,*X%,*_%,+/%,+3%,3%%,3]%,4%%,4+%,45%,4T"
    "%,4_%,6T%,6_%,80%,83%,9%%,>a%,A;%,B$%,C3%,D'%,DD%,DN%,EL%,E_%,F+%,F=%,I+%,I5%,J+%,J5%,JD%,JN%,K3"
    "%,K@%,KN%,KX%,LL%,La%,M+%,M@%,MT%,N%%,N+%,Na%,O#%,ON%,P7%,PD%,PX%,QL%,R'%,RL%-#%%-)P%-+_%-,A%--$"
    "%-.8%-.D%-.Q%-.X%-._%-/3%-3%%-9'%-;F%-;Y%-;_%-<#%-=$%->3%-T%%-Ya%-ZT%-['%-]0%-`%%-`H%-`T%.#%%.)'"
    "%.+0%.+F%.+L%.-$%..3%./(%.0L%.3%%.8@%.:%%.:0%.:3%.;$%.<3%.D%%.G;%.GP%.ID%.J$%.KI%.Kc%.L%%.L]%/#%"
    "%/(H%/*A%/*D%/7%%/@$%/B;%/C_%/D]%/E-%/E3%/EF%/FD%/FN%/F]%/G%%/J'%/JT%/Ja%/K+%/K@%/K_%/L'%/L-%/L7"
    "%/LI%/L]%/N$%/O3%/X%%/Y#%/Y5%/_/%/`#%/`7%/a-%/a8%/a=%/aH%/aL%0#%%0#/%0$=%0)@%0*5%0*@%0*b%0+a%0,#"
    "%0-%%0-/%0.F%047%068%06N%06Y%07;%09%%0C+%0D(%0E3%1#%%1$+%1$5%1(a%1)]%1*'%1+%%1+0%1+T%1-$%10L%11("
    "%115%15#%157%18#%18/%19]%1D%%1D]%1E%%1E3%1E=%1J/%1J]%1K7%1K;%1KH%1KT%1Ka%1LV%1La%1M#%1N$%1O3%1P%"
    "%1PT%1P_%1Q+%1Q5%1U7%1U]%1V'%1V3%1V@%1W%%1W+%1X$%1Y3%2@%%2B@%2Bb%2C+%2D'%2D5%2D@%2DF%2F+%2F5%2JH"
    "%2K;%2KX%2LA%2N$%2O3%2Z%%2Z+%2]$%2_R%2c3%2db%3#%%4W3%5#$%50]%51(%51L%53%%5LD%:V%%:c0%:c;%;#%%=)*"
    "%=+'%=+-%=+a%=-T%F#%%G+]%X#%%Y*+%Y+%%Y.]%Y/$%Y03%Y0Y%Y1%%Y:]%Y;$%Y<3%Y=%%YAT%YB'%YBQ%YBT%YD%%YJ'"
    "%YJb%YKJ%YL%%YLI%YLR%YLT%YN$%YO3%YO<%YP3%YP=%YS#%YSN%YV#%[+%%[3$%[5b%[6;%[D%%[M;%[Ma%[N%%[N/%[U#"
    "%[Ua%[V=%[X#%[a%%[a8%[a=%[aH%[aL%[c'%[c3%]#%&&d#&'#%&)=T&)D%&)E+&:c%&:cD&:cN&:dD&:dN&:d]&;#%&;H;"
    "&;J5&;J;&;N%&;N;&;NN&;NT&;PF&;Q#&;R%&<CD&B#%&B0;&B1%&B2L&B3%&B4+&B5%&B63&B6J&B6P&B6b&B7*&B7D&KD'"
    "&KIT&KJ'&KL]&KN)&K]D&L#)&LBT&LD)&LH]&LI1&LPP&LQ9&LQP&LRC&LS@&LTB&LTP&LUJ&LY7&LYZ&Lb;&M#)&M+7&M+R"
    "&M+T&M;$&M=D&M@$&MBD&MD)&MN]&MP$&MS+&N#%&N-L&N-V&N6L&N6V&N7#&N75&N7;&N7N&N7]&N8-&N8L&N8V&N:3&N:="
    "&N:D&N:N&N;D&N;N&NDT&ND_&NE;&NEN&NFL&NFV&NGL&NGV&NK3&NK=&NK]&NL%&NLL&NLV&NL]&NM5&NN+&NN5&O7T&O8%"
    "&O;1&O;5&O>B&O>F&OCB&OCF&OFR&OFV&OJR&OJV&OMc&ON%&OQc&OR%&OU1&OU5&OY1&OY5&O]B&O]F&O^D&O^U&P#)&Q#'"
    "&Q)c&Q*@&Q0R&Q1P&Q1Z&Q3H&Q3R&Q3b&Q4D&Q6@&Q7#&Q7/&Q9#&SD%&SG]&SHN&SI;&T#'&T#]&T$'&T&+&T&@&T'3&T'@"
    "&T'L&T'X&T(;&T)%&T0T&T4a&T5#&TD%&TIL&TJ'&TJ_&TKT&TL$&TM3&TMV&TMc&TN#&U5%&U8X&U8]&U;%&UAH&UB$&UC3"
    "&UCc&UD#&V=%&VAH&VB$&VC3&Wa%&Wa]&Wb%&WbD&WbN&Wb]&Wc%&Wd]&X#%&X;L&X;^&X='&X=]&XD%&XLH&XM=&XMD&XN$"
    "&XO3&XOY&XP#&Z1,&Z8J&Z8M&Z9)&Z9,&Z9L&ZD,&ZIZ&ZI^&ZKT&[#%&[#D&[#N&['#&['-&[';&['F&['L&['_&[(#&[(-"
    "&[);&[)F&[*#&[*-&[*3&[*=&[*D&[+5&[+;&[+_&[,#&[,-&[,3&[,=&[,D&[,N&[-#&[--&[-;&[-F&[-L&[-_&[.#&[.-"
    "&[.3&[.=&[.D&[.N&[.T&[._&[/#&[/-&[/;&[/F&[/L&[/_&[0;&[0F&[1;&[1F&[2#&[2-&[2L&[2V&[2]&[3%&[43&[4="
    "&[6D&[7-&[7D&[7N&[83&[8=&[:D&[B)&[B3&]#)&](D&]))&]5D&]7)&]8]&]91&];#&];1&]=#&]=1&]BT&]D$&]ER&]YT"
    "&]aZ&^#;&^%)&^*D&^+)&^,+&^-)&^-3&^/)&^/T&^D)&`>#&`>J&`AL&`B)&`CL&`D)&`R]&`SB&``3&`a)&`bD&`c)&`c+"
    "&a#)&a$D&a%)&a,#&a-)&a.3&a/)&a4#&a5)&a8T&a9)&a93&aD)&b-D&b/)&b0T&b1)&b2L&b3)&b4+&b5)&b:T&b:c&b;T"
    "&b<Z&b>D&b@)&bA+&bB)&bC+&bD)&bV;&bVJ&b^;&bc$&bd3'##%(6@#(6D%(>K3(>L%(@&T(@'%(K73(K9%(Ya+(Yc%([.T"
    "(a#%(b&T)##%),M;),N%)4Z#@##2@##3@#'*@#3#@#D'@#c#B##*CddTD##*EddT";
constexpr uint16_t ucd_cat_flags[8] = {
    ucat_unassigned, ucat_number, ucat_letter, ucat_separator,
    ucat_mark, ucat_punct, ucat_symbol, ucat_control};

// unicode_flags() of U+0000..U+007F.
constexpr uint16_t ucd_ascii_flags[128] = {
    64, 64, 64, 64, 64, 64, 64, 64, 64, 96, 96, 96, 96, 96, 64, 64,
    64, 64, 64, 64, 64, 64, 64, 64, 64, 64, 64, 64, 64, 64, 64, 64,
    160, 8, 8, 8, 16, 8, 8, 8, 8, 8, 8, 16, 8, 8, 8, 8,
    2, 2, 2, 2, 2, 2, 2, 2, 2, 2, 8, 8, 16, 16, 16, 8,
    8, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1,
    1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 8, 8, 8, 16, 8,
    16, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1,
    1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 8, 16, 8, 16, 64,
};

// Unicode White_Space (llama.cpp's whitespace). Every separator (Zs Zl Zp) is in it; the
// others are controls.
constexpr uint32_t ucd_space[] = {
    0x0009, 0x000A, 0x000B, 0x000C, 0x000D, 0x0020, 0x0085, 0x00A0, 0x1680, 0x2000, 0x2001, 0x2002, 0x2003,
    0x2004, 0x2005, 0x2006, 0x2007, 0x2008, 0x2009, 0x200A, 0x2028, 0x2029, 0x202F, 0x205F, 0x3000,
};

// Simple lowercase mapping, as runs {first, count, stride, delta}: first + k*stride (k < count)
// maps to itself + delta. Sorted by first; no run's span holds another run's codepoint.
constexpr int32_t ucd_lower[182][4] = {
    {0x41,26,1,32}, {0xC0,23,1,32}, {0xD8,7,1,32}, {0x100,24,2,1}, {0x130,1,1,-199}, {0x132,3,2,1},
    {0x139,8,2,1}, {0x14A,23,2,1}, {0x178,1,1,-121}, {0x179,3,2,1}, {0x181,1,1,210}, {0x182,2,2,1},
    {0x186,1,1,206}, {0x187,1,1,1}, {0x189,2,1,205}, {0x18B,1,1,1}, {0x18E,1,1,79}, {0x18F,1,1,202},
    {0x190,1,1,203}, {0x191,1,1,1}, {0x193,1,1,205}, {0x194,1,1,207}, {0x196,1,1,211},
    {0x197,1,1,209}, {0x198,1,1,1}, {0x19C,1,1,211}, {0x19D,1,1,213}, {0x19F,1,1,214},
    {0x1A0,3,2,1}, {0x1A6,1,1,218}, {0x1A7,1,1,1}, {0x1A9,1,1,218}, {0x1AC,1,1,1}, {0x1AE,1,1,218},
    {0x1AF,1,1,1}, {0x1B1,2,1,217}, {0x1B3,2,2,1}, {0x1B7,1,1,219}, {0x1B8,1,1,1}, {0x1BC,1,1,1},
    {0x1C4,1,1,2}, {0x1C5,1,1,1}, {0x1C7,1,1,2}, {0x1C8,1,1,1}, {0x1CA,1,1,2}, {0x1CB,9,2,1},
    {0x1DE,9,2,1}, {0x1F1,1,1,2}, {0x1F2,2,2,1}, {0x1F6,1,1,-97}, {0x1F7,1,1,-56}, {0x1F8,20,2,1},
    {0x220,1,1,-130}, {0x222,9,2,1}, {0x23A,1,1,10795}, {0x23B,1,1,1}, {0x23D,1,1,-163},
    {0x23E,1,1,10792}, {0x241,1,1,1}, {0x243,1,1,-195}, {0x244,1,1,69}, {0x245,1,1,71},
    {0x246,5,2,1}, {0x370,2,2,1}, {0x376,1,1,1}, {0x37F,1,1,116}, {0x386,1,1,38}, {0x388,3,1,37},
    {0x38C,1,1,64}, {0x38E,2,1,63}, {0x391,17,1,32}, {0x3A3,9,1,32}, {0x3CF,1,1,8}, {0x3D8,12,2,1},
    {0x3F4,1,1,-60}, {0x3F7,1,1,1}, {0x3F9,1,1,-7}, {0x3FA,1,1,1}, {0x3FD,3,1,-130},
    {0x400,16,1,80}, {0x410,32,1,32}, {0x460,17,2,1}, {0x48A,27,2,1}, {0x4C0,1,1,15}, {0x4C1,7,2,1},
    {0x4D0,48,2,1}, {0x531,38,1,48}, {0x10A0,38,1,7264}, {0x10C7,1,1,7264}, {0x10CD,1,1,7264},
    {0x13A0,80,1,38864}, {0x13F0,6,1,8}, {0x1C90,43,1,-3008}, {0x1CBD,3,1,-3008}, {0x1E00,75,2,1},
    {0x1E9E,1,1,-7615}, {0x1EA0,48,2,1}, {0x1F08,8,1,-8}, {0x1F18,6,1,-8}, {0x1F28,8,1,-8},
    {0x1F38,8,1,-8}, {0x1F48,6,1,-8}, {0x1F59,4,2,-8}, {0x1F68,8,1,-8}, {0x1F88,8,1,-8},
    {0x1F98,8,1,-8}, {0x1FA8,8,1,-8}, {0x1FB8,2,1,-8}, {0x1FBA,2,1,-74}, {0x1FBC,1,1,-9},
    {0x1FC8,4,1,-86}, {0x1FCC,1,1,-9}, {0x1FD8,2,1,-8}, {0x1FDA,2,1,-100}, {0x1FE8,2,1,-8},
    {0x1FEA,2,1,-112}, {0x1FEC,1,1,-7}, {0x1FF8,2,1,-128}, {0x1FFA,2,1,-126}, {0x1FFC,1,1,-9},
    {0x2126,1,1,-7517}, {0x212A,1,1,-8383}, {0x212B,1,1,-8262}, {0x2132,1,1,28}, {0x2160,16,1,16},
    {0x2183,1,1,1}, {0x24B6,26,1,26}, {0x2C00,48,1,48}, {0x2C60,1,1,1}, {0x2C62,1,1,-10743},
    {0x2C63,1,1,-3814}, {0x2C64,1,1,-10727}, {0x2C67,3,2,1}, {0x2C6D,1,1,-10780},
    {0x2C6E,1,1,-10749}, {0x2C6F,1,1,-10783}, {0x2C70,1,1,-10782}, {0x2C72,1,1,1}, {0x2C75,1,1,1},
    {0x2C7E,2,1,-10815}, {0x2C80,50,2,1}, {0x2CEB,2,2,1}, {0x2CF2,1,1,1}, {0xA640,23,2,1},
    {0xA680,14,2,1}, {0xA722,7,2,1}, {0xA732,31,2,1}, {0xA779,2,2,1}, {0xA77D,1,1,-35332},
    {0xA77E,5,2,1}, {0xA78B,1,1,1}, {0xA78D,1,1,-42280}, {0xA790,2,2,1}, {0xA796,10,2,1},
    {0xA7AA,1,1,-42308}, {0xA7AB,1,1,-42319}, {0xA7AC,1,1,-42315}, {0xA7AD,1,1,-42305},
    {0xA7AE,1,1,-42308}, {0xA7B0,1,1,-42258}, {0xA7B1,1,1,-42282}, {0xA7B2,1,1,-42261},
    {0xA7B3,1,1,928}, {0xA7B4,8,2,1}, {0xA7C4,1,1,-48}, {0xA7C5,1,1,-42307}, {0xA7C6,1,1,-35384},
    {0xA7C7,2,2,1}, {0xA7D0,1,1,1}, {0xA7D6,2,2,1}, {0xA7F5,1,1,1}, {0xFF21,26,1,32},
    {0x10400,40,1,40}, {0x104B0,36,1,40}, {0x10570,11,1,39}, {0x1057C,15,1,39}, {0x1058C,7,1,39},
    {0x10594,2,1,39}, {0x10C80,51,1,64}, {0x118A0,32,1,32}, {0x16E40,32,1,32}, {0x1E900,34,1,34},
};

// llama.cpp's NFD: the first codepoint of the canonical decomposition. Record i (10 digits) =
// first codepoint (4), count - 1 (2), result (4); codepoints outside every range map to themselves.
constexpr uint32_t ucd_nfd_count = 1827;
constexpr char ucd_nfd_data[] =
    "##&##(##$$##&*####$&##&+#&##$(##&/#&##$,##&4####$1##&5#'##$2##&<#&##$8##&A####$<##&D#(##$E##&K####$G"
    "##&L#&##$I##&P#&##$M##&U####$R##&V#'##$S##&^#&##$Y##&b####$^##&d####$^##'#####$$##'$####$E##'%####$$"
    "##'&####$E##''####$$##'(####$E##')####$&##'*####$G##'+####$&##',####$G##'-####$&##'.####$G##'/####$&"
    "##'0####$G##'1####$'##'2####$H##'5####$(##'6####$I##'7####$(##'8####$I##'9####$(##':####$I##';####$("
    "##'<####$I##'=####$(##'>####$I##'@####$*##'A####$K##'B####$*##'C####$K##'D####$*##'E####$K##'F####$*"
    "##'G####$K##'H####$+##'I####$L##'L####$,##'M####$M##'N####$,##'O####$M##'P####$,##'Q####$M##'R####$,"
    "##'S####$M##'T####$,##'X####$-##'Y####$N##'Z####$.##'[####$O##'^####$/##'_####$P##'`####$/##'a####$P"
    "##'b####$/##'c####$P##(&####$1##('####$R##((####$1##()####$R##(*####$1##(+####$R##(/####$2##(0####$S"
    "##(1####$2##(2####$S##(3####$2##(4####$S##(7####$5##(8####$V##(9####$5##(:####$V##(;####$5##(<####$V"
    "##(=####$6##(>####$W##(@####$6##(A####$W##(B####$6##(C####$W##(D####$6##(E####$W##(F####$7##(G####$X"
    "##(H####$7##(I####$X##(L####$8##(M####$Y##(N####$8##(O####$Y##(P####$8##(Q####$Y##(R####$8##(S####$Y"
    "##(T####$8##(U####$Y##(V####$8##(W####$Y##(X####$:##(Y####$[##(Z####$<##([####$^##(]####$<##(^####$="
    "##(_####$_##(`####$=##(a####$_##(b####$=##(c####$_##)D####$2##)E####$S##)S####$8##)T####$Y##*0####$$"
    "##*1####$E##*2####$,##*3####$M##*4####$2##*5####$S##*6####$8##*7####$Y##*8####$8##*9####$Y##*:####$8"
    "##*;####$Y##*<####$8##*=####$Y##*>####$8##*@####$Y##*B####$$##*C####$E##*D####$$##*E####$E##*F####&)"
    "##*G####&J##*J####$*##*K####$K##*L####$.##*M####$O##*N####$2##*O####$S##*P####$2##*Q####$S##*R####)["
    "##*S####-5##*T####$N##*X####$*##*Y####$K##*]####$1##*^####$R##*_####$$##*`####$E##*a####&)##*b####&J"
    "##*c####&;##*d####&]##+#####$$##+$####$E##+%####$$##+&####$E##+'####$(##+(####$I##+)####$(##+*####$I"
    "##++####$,##+,####$M##+-####$,##+.####$M##+/####$2##+0####$S##+1####$2##+2####$S##+3####$5##+4####$V"
    "##+5####$5##+6####$V##+7####$8##+8####$Y##+9####$8##+:####$Y##+;####$6##+<####$W##+=####$7##+>####$X"
    "##+B####$+##+C####$L##+J####$$##+K####$E##+L####$(##+M####$I##+N####$2##+O####$S##+P####$2##+Q####$S"
    "##+R####$2##+S####$S##+T####$2##+U####$S##+V####$<##+W####$^##0#####/###0$####/$##0&####/6##0'####/+"
    "##0X####-^##0c#####`##1(####%L##1)####14##1*####%[##1+####18##1,####1:##1-####1<##1/####1C##11####1I"
    "##12####1M##13####1^##1N####1<##1O####1I##1P####1U##1Q####1Y##1R####1[##1S####1^##1T####2(##2-####1^"
    "##2.####2(##2/####1d##20####2(##21####2,##26#$##25##3##$##38##3&####36##3*####3)##3/####3=##30####3;"
    "##31####3G##3<####3;##3^####3]##43#$##3Y##46####3W##4:####49##4@####3_##4A####3]##4B####4&##4Z####4X"
    "##4[####4Y##6$####39##6%####3Z##63####33##64####3T##65####33##66####3T##69####38##6:####3Y##6=####6;"
    "##6>####6<##6@####39##6A####3Z##6B####3:##6C####3[##6F####3;##6G####3]##6H####3;##6I####3]##6J####3B"
    "##6K####3c##6N####6L##6O####6M##6P####3Q##6Q####40##6R####3G##6S####4&##6T####3G##6U####4&##6V####3G"
    "##6W####4&##6X####3K##6Y####4*##6]####3O##6^####4.##;F#$##;K##;H####<+##;I####;K##;J####<-##>#####>8"
    "##>%####>$##>6####>5##HM####HL##HU####HT##HX####HW##I;####H8##I<####H9##I=####H:##I>####H@##I@####HE"
    "##IA####HF##IB####HO##IC####HS##K.#$##K*##K@####JE##KA####JF##KC####JS##LW####LV##LZ####L]##M<####L9"
    "##M=####L:##M>####L@##MB####LO##Q+####Q*##Q.#$##Q*##Q@####PE##QA####PF##R7####R5##S-####S)##S.####S*"
    "##S/####S)##U+####U)##W#####Vd##W*#$##W)##W-#$##W)##Y-####Y)##Y.####Y*##Y/####Y)##[=####[<##[@#%##[<"
    "##b&####b%##b0####b/##b5####b4##b:####b9##b@####b>##bM####b###bW####bU##bY####bU##bZ####cV##b]####cW"
    "##c$####bU##c6####c5##cA####c@##cF####cE##cK####cJ##cP####cO##c^####c3#$#J###$#I#$P)###$P(#$P+###$P*"
    "#$P-###$P,#$P/###$P.#$P1###$P0#$P5###$P4#$P`###$P_#$Pb###$Pa#$Q####$Pc#$Q$###$Pd#$Q&###$Q%#$]#####$$"
    "#$]$####$E#$]%####$%#$]&####$F#$]'####$%#$](####$F#$])####$%#$]*####$F#$]+####$&#$],####$G#$]-####$'"
    "#$].####$H#$]/####$'#$]0####$H#$]1####$'#$]2####$H#$]3####$'#$]4####$H#$]5####$'#$]6####$H#$]7####$("
    "#$]8####$I#$]9####$(#$]:####$I#$];####$(#$]<####$I#$]=####$(#$]>####$I#$]@####$(#$]A####$I#$]B####$)"
    "#$]C####$J#$]D####$*#$]E####$K#$]F####$+#$]G####$L#$]H####$+#$]I####$L#$]J####$+#$]K####$L#$]L####$+"
    "#$]M####$L#$]N####$+#$]O####$L#$]P####$,#$]Q####$M#$]R####$,#$]S####$M#$]T####$.#$]U####$O#$]V####$."
    "#$]W####$O#$]X####$.#$]Y####$O#$]Z####$/#$][####$P#$]]####$/#$]^####$P#$]_####$/#$]`####$P#$]a####$/"
    "#$]b####$P#$]c####$0#$]d####$Q#$^#####$0#$^$####$Q#$^%####$0#$^&####$Q#$^'####$1#$^(####$R#$^)####$1"
    "#$^*####$R#$^+####$1#$^,####$R#$^-####$1#$^.####$R#$^/####$2#$^0####$S#$^1####$2#$^2####$S#$^3####$2"
    "#$^4####$S#$^5####$2#$^6####$S#$^7####$3#$^8####$T#$^9####$3#$^:####$T#$^;####$5#$^<####$V#$^=####$5"
    "#$^>####$V#$^@####$5#$^A####$V#$^B####$5#$^C####$V#$^D####$6#$^E####$W#$^F####$6#$^G####$W#$^H####$6"
    "#$^I####$W#$^J####$6#$^K####$W#$^L####$6#$^M####$W#$^N####$7#$^O####$X#$^P####$7#$^Q####$X#$^R####$7"
    "#$^S####$X#$^T####$7#$^U####$X#$^V####$8#$^W####$Y#$^X####$8#$^Y####$Y#$^Z####$8#$^[####$Y#$^]####$8"
    "#$^^####$Y#$^_####$8#$^`####$Y#$^a####$9#$^b####$Z#$^c####$9#$^d####$Z#$_#####$:#$_$####$[#$_%####$:"
    "#$_&####$[#$_'####$:#$_(####$[#$_)####$:#$_*####$[#$_+####$:#$_,####$[#$_-####$;#$_.####$]#$_/####$;"
    "#$_0####$]#$_1####$<#$_2####$^#$_3####$=#$_4####$_#$_5####$=#$_6####$_#$_7####$=#$_8####$_#$_9####$L"
    "#$_:####$X#$_;####$[#$_<####$^#$_>####(d#$_D####$$#$_E####$E#$_F####$$#$_G####$E#$_H####$$#$_I####$E"
    "#$_J####$$#$_K####$E#$_L####$$#$_M####$E#$_N####$$#$_O####$E#$_P####$$#$_Q####$E#$_R####$$#$_S####$E"
    "#$_T####$$#$_U####$E#$_V####$$#$_W####$E#$_X####$$#$_Y####$E#$_Z####$$#$_[####$E#$_]####$(#$_^####$I"
    "#$__####$(#$_`####$I#$_a####$(#$_b####$I#$_c####$(#$_d####$I#$`#####$(#$`$####$I#$`%####$(#$`&####$I"
    "#$`'####$(#$`(####$I#$`)####$(#$`*####$I#$`+####$,#$`,####$M#$`-####$,#$`.####$M#$`/####$2#$`0####$S"
    "#$`1####$2#$`2####$S#$`3####$2#$`4####$S#$`5####$2#$`6####$S#$`7####$2#$`8####$S#$`9####$2#$`:####$S"
    "#$`;####$2#$`<####$S#$`=####$2#$`>####$S#$`@####$2#$`A####$S#$`B####$2#$`C####$S#$`D####$2#$`E####$S"
    "#$`F####$2#$`G####$S#$`H####$8#$`I####$Y#$`J####$8#$`K####$Y#$`L####$8#$`M####$Y#$`N####$8#$`O####$Y"
    "#$`P####$8#$`Q####$Y#$`R####$8#$`S####$Y#$`T####$8#$`U####$Y#$`V####$<#$`W####$^#$`X####$<#$`Y####$^"
    "#$`Z####$<#$`[####$^#$`]####$<#$`^####$^#$a##*##1U#$a+#*##14#$a3#(##1Y#$a;#(##18#$aD#*##1[#$aL#*##1:"
    "#$aT#*##1^#$a]#*##1<#$b##(##1d#$b+#(##1C#$b3#*##2(#$b<####1I#$b>####1I#$bA####1I#$bC####1I#$bD#*##2,"
    "#$bL#*##1M#$bT#$##1U#$bV#$##1Y#$bX#$##1[#$bZ#$##1^#$b]#$##1d#$b_#$##2(#$ba#$##2,#$c##*##1U#$c+#*##14"
    "#$c3#*##1[#$c;#*##1:#$cD#*##2,#$cL#*##1M#$cT#'##1U#$cZ#$##1U#$c]#'##14#$cc####1^#$d$####%L#$d%#%##1["
    "#$d)#$##1[#$d+#$##18#$d-#%##1:#$d0#%#$cd#$d3#&##1^#$d9#$##1^#$d;#&##1<#$dA#%#$dc#$dD#&##2(#$dH#$##2$"
    "#$dJ#$##2(#$dL#&##1I#$dP####1E#$dQ#$##%L#$dS####$D#$dV#%##2,#$dZ#$##2,#$d]#$##1C#$d_#%##1M#$db####%X"
    "#%#####%#%#%#$###%#&#%'J####1M#%'N####$.#%'O####$$#%)=###%)3#%)>###%)5#%)R###%)7#%*0###%*3#%*1###%*7"
    "#%*2###%*5#%+'###%+&#%+,###%++#%+/###%+.#%+H###%+G#%+J###%+I#%,$###%+a#%,'###%,&#%,*###%,(#%,,###%,+"
    "#%,D#####b#%,F###%,E#%,Q###%,0#%,R#####a#%,S#####c#%,T###%,H#%,U###%,I#%,X###%,V#%,Y###%,W#%,]###%,Z"
    "#%,^###%,[#%-####%,_#%-$###%,`#%-'###%-%#%-(###%-&#%-+###%-)#%-,###%-*#%-P###%-F#%-Q###%-L#%-R###%-M"
    "#%-S###%-O#%.D###%,a#%.E###%,b#%.F###%-4#%.G###%-5#%.N###%-V#%.O###%-W#%.P###%-X#%.Q###%-Y#%/M###&#+"
    "#%/N###&#,#%O@###%OA#&$/###&$.#&$1###&$0#&$3###&$2#&$5###&$4#&$7###&$6#&$9###&$8#&$;###&$:#&$=###&$<"
    "#&$@###&$>#&$B###&$A#&$D###&$C#&$F###&$E#&$I###&$H#&$K###&$J#&$M###&$L#&$T#$#&$S#&$W#$#&$V#&$Z#$#&$Y"
    "#&$^#$#&$]#&$a#$#&$`#&%7###&$)#&%B###&%A#&%P###&%O#&%R###&%Q#&%T###&%S#&%V###&%U#&%X###&%W#&%Z###&%Y"
    "#&%]###&%[#&%_###&%^#&%a###&%`#&%c###&%b#&&####&%d#&&%###&&$#&&(###&&'#&&*###&&)#&&,###&&+#&&3#$#&&2"
    "#&&6#$#&&5#&&9#$#&&8#&&<#$#&&;#&&@#$#&&>#&&X###&%J#&&[###&&S#&&]###&&T#&&^###&&U#&&_###&&V#&&c###&&b"
    "#-T#,.#$'##-^/,.#$'$#.%;,.#$'%#..H,.#$'&#.7T,.#$''#.Aa,.#$'(#.K+,.#$')#.T7,.#$'*#.^D,.#$'+#/%P,.#$',"
    "#/.],.#$'-#/8',.#$'.#/B3,.#$'/#/K@,.#$'0#/TL,.#$'1#/^X,.#$'2#0&#,.#$'3#0//,.#$'4#08;,.#$'5#2H####+U+"
    "#2H$###)>X#2H%###+`-#2H&###+W+#2H'###)`4#2H(###']V#2H)###(2I#2H*#$#,c@#2H,###(I4#2H-###,*4#2H.###(9*"
    "#2H/###(I+#2H0###)*Z#2H1###*<M#2H2###*c(#2H3###+;d#2H4###+B_#2H5###+G]#2H6###,%2#2H7###)L%#2H8###)X>"
    "#2H9###*&<#2H:###*2B#2H;###+3b#2H<###,(N#2H=###,KU#2H>###'_%#2H@###(0Y#2HA###)P'#2HB###*+>#2HC###+;Q"
    "#2HD###,]B#2HE###(Y3#2HF###)dO#2HG###+:0#2HH###+IH#2HI###).,#2HJ###+*;#2HK###+DC#2HL###(`-#2HM###)@:"
    "#2HN###)YN#2HO###*.a#2HP###,&1#2HQ###'c)#2HR###()[#2HS###(.B#2HT###)6'#2HU###)O6#2HV###*+3#2HW###*>K"
    "#2HX###+#$#2HY###+;)#2HZ###+<@#2H[###+[S#2H]###,@V#2H^###,QS#2H_###,[_#2H`###*F/#2Ha###*Id#2Hb###*ZD"
    "#2Hc###+2,#2Hd###,/'#2I####,^d#2I$###+O9#2I%###(GC#2I&###(a'#2I'###*UD#2I(###+$c#2I)###*,F#2I*###*G-"
    "#2I+###+W%#2I,###,>[#2I-###(G;#2I.###(UF#2I/###)L6#2I0###)[=#2I1###)a2#2I2###*XS#2I3###*][#2I4###,<."
    "#2I5###(.5#2I6###+%.#2I7###(*@#2I8###(*/#2I9###*L@#2I:###*Zc#2I;###+2U#2I<###,<Y#2I=###+R##2I>###).2"
    "#2I@###)L%#2IA###+Oc#2IB###']^#2IC###(SK#2ID###)#5#2IE###*1*#2IF###*8T#2IG###(/:#2IH###*G`#2II###'cd"
    "#2IJ###(cM#2IK###']0#2IL###)W/#2IM###)8]#2IN###*XF#2IO###(2&#2IP###(EB#2IQ###*@$#2IR###+4,#2IS###+NN"
    "#2IT###)R_#2IU###+cT#2IV###)V+#2IW###).c#2IX###+.I#2IY###)1D#2IZ###*8I#2I[###'_R#2I]###((M#2I^###(*,"
    "#2I_###)F$#2I`###*WK#2Ia###+,S#2Ib###+O5#2Ic###,*2#2Id###(.Y#2J####(4%#2J$###(IW#2J%###(`P#2J&###):("
    "#2J'###)dc#2J(###*HN#2J)###,9Q#2J*###,MN#2J+###,_:#2J,###,`1#2J-###(->#2J.###)>)#2J/###)Q[#2J0###+bF"
    "#2J1###(^X#2J2###))3#2J3###)+##2J4###)5=#2J5###)aG#2J6###*(,#2J7###*5,#2J8###*K-#2J9###*[X#2J:###+$S"
    "#2J;###+aJ#2J<###+6R#2J=###,#G#2J>###,0-#2J@###(+:#2JA###(-G#2JB###(5b#2JC###*&+#2JD###+G%#2JE###+NN"
    "#2JF###(`,#2JG###(dY#2JH###)0`#2JI###)RR#2JJ###*Tc#2JK###*0Y#2JL###'`H#2JM###(>^#2JN###(SK#2JO###(Z_"
    "#2JP###)#@#2JQ###*1V#2JR###*4M#2JS###*c=#2JT###+$)#2JU###,+X#2JV###,>Z#2JW###,A+#2JX###,D;#2JY###'c."
    "#2JZ###*JR#2J[###,)X#2J]###,=]#2J^###)&E#2J_###'_)#2J`###(&=#2Ja###(SR#2Jb###(Td#2Jc###)9<#2Jd###)L%"
    "#2K####**1#2K$###*<%#2K%###+6a#2K&###,$a#2K'###,c0#2K(###)=+#2K)###,;R#2K*###(-,#2K+###)A`#2K,###)CW"
    "#2K-###)Y$#2K.###)_@#2K/###*3,#2K0###*8<#2K1###*EO#2K2###*X3#2K3###,EB#2K4###((Q#2K5###)+R#2K6###,<]"
    "#2K7###(#O#2K8###(X<#2K9###)[N#2K:###+aN#2K;###(c.#2K<###)('#2K=###)D:#2K>###*1*#2K@###,=)#2KA###(+M"
    "#2KB###(32#2KC###(UI#2KD###);6#2KE###)A1#2KF###)FL#2KG###)WI#2KH###*3)#2KI###*:F#2KJ###*b^#2KK###+G2"
    "#2KL###+GE#2KM###,*/#2KN###,>F#2KO###(/d#2KP###)__#2KQ###(3A#2KR###**3#2KS###*5;#2KT###+:_#2KU###,=G"
    "#2KV###,U:#2KW###,_C#2KX###)B:#2KY###)[.#2KZ###+*L#2K[###*O.#2K]###*PD#2K^###*V5#2K_###*.##2K`###*%<"
    "#2Ka###+Q;#2Kb###'`##2Kc###+/Z#2Kd###(+_#2L####(+*#2L$###(_J#2L%###).6#2L&###*W9#2L'###(R(#2L(###)XB"
    "#2L)###)=X#2L*###+a`#2L+###+E/#2L,###,<0#2L-###+J.#2L.###(`6#2L/###((##2L0###(:##2L3###(E=#2L5###)<X"
    "#2L8###(*B#2L9###*/N#2L:###*>-#2L;###*Ha#2L<###*IB#2L=###*II#2L>###*J2#2L@###,A9#2LA###*Vc#2LB###*cb"
    "#2LD###+;5#2LF###+O]#2LI###,#]#2LJ###,&b#2LN###,GS#2LO###,Ga#2LP###,HL#2LQ###,ZX#2LR###,&B#2LS###,=["
    "#2LT###'cR#2LU###(&K#2LV###((0#2LW###(.,#2LX###(.H#2LY###(04#2LZ###(9A#2L[###(;)#2L]###(<L#2L^###(E#"
    "#2L_###(FL#2L`###(UH#2La###(UR#2Lb###)%7#2Lc###)(L#2Ld###))1#2M####)*V#2M$###)82#2M%###):F#2M&###)=4"
    "#2M'###)F(#2M(###)Y[#2M)###)]=#2M*###)aF#2M+###*(R#2M,###*+O#2M-###*3F#2M.###*F4#2M/###*Hc#2M0###*I,"
    "#2M1###*I+#2M2###*I3#2M3###*I9#2M4###*IA#2M5###*J0#2M6###*J1#2M7###*M##2M8###*N$#2M9###*S##2M:###*[X"
    "#2M;###*],#2M<###*^$#2M=###*bV#2M>###+#(#2M@###+*Q#2MA#$#+,^#2MC###+4:#2MD###+H3#2ME###+J9#2MF###+P$"
    "#2MG###+P^#2MH###+W6#2MI###+X+#2MJ###+cZ#2MK###,#]#2ML###,>G#2MM###,Cd#2MN###,D`#2MO###)$Y#2MP###H.R"
    "#2MQ###++;#2MT###']J#2MU###()Y#2MV###((L#2MW###'c##2MX###(((#2MY###()##2MZ###(.*#2M[###(._#2M]###(9A"
    "#2M^###(88#2M_###(9<#2M`###(:F#2Ma###(E=#2Mb###(FW#2Mc###(I'#2Md###(I7#2N####(MF#2N$###(PL#2N%###(`5"
    "#2N&###(`<#2N'###(bM#2N(###(cQ#2N)###)&;#2N*###)(1#2N+###)'+#2N,###))1#2N-###)(D#2N.###)*V#2N/###)+X"
    "#2N0###)2'#2N1###)3@#2N2###)45#2N3###)89#2N4###)<X#2N5###)@:#2N6###)@>#2N7###)A9#2N8###)Q^#2N9###)R_"
    "#2N:###)Y$#2N;###)`>#2N<###)`.#2N=###)aF#2N>###*#B#2N@###*(R#2NA###*BK#2NB###*+Y#2NC###*-S#2ND###*/N"
    "#2NE###*4U#2NF###*7)#2NG###*7`#2NH###*;A#2NI###*;C#2NJ###*>-#2NK###*>>#2NL###*>X#2NM###*A-#2NN###*A#"
    "#2NO###*G/#2NP###*NU#2NQ###*S##2NR###*U`#2NS###*Y>#2NT###*[X#2NU###*ac#2NV###+#(#2NW###+05#2NX###+2S"
    "#2NY###+A^#2NZ###+I$#2N[###+J)#2N]###+J9#2N^###+Nd#2N_###+O]#2N`###+O.#2Na###+P$#2Nb###+Oc#2Nc###+OQ"
    "#2Nd###+P^#2O####+R-#2O$###+X+#2O%###+a]#2O&###,$V#2O'###,)<#2O(###,,Z#2O)###,<a#2O*###,>G#2O+###,A9"
    "#2O,###,C>#2O-###,Cd#2O.###,D.#2O/###,D`#2O0###,P5#2O1###,c@#2O2###FE-#2O3###FE'#2O4###G28#2O5###&RA"
    "#2O6###'#;#2O7###'#^#2O8###I,,#2O9###IW3#2O:###K`6#2O;###,b&#2O<###,c1#2PA####:<#2PC####:V#2PN#&##:M"
    "#2PR#%##:3#2PU####:4#2PV####:5#2PW####:6#2PX####:7#2PY####:8#2PZ####:9#2P]####:;#2P^####:<#2P_####:="
    "#2P`####:>#2Pa####:@#2Pc####:B#2Q#####:D#2Q$####:E#2Q&####:G#2Q'####:H#2Q)####:J#2Q*####:K#2Q+####:L"
    "#2Q,####:M#2Q-####:N#2Q.####:8#2Q/####:4#2Q0####:>#2Q1####:H#4%=###4%<#4%@###4%>#4%O###4%I#4'R###4'U"
    "#4'S###4'V#40.#$#40*#45`#$#45^#45c###45^#49_###49]#49`###49^#4H]###4HY#A(B###A(:#A(C#(#A(;#A)`###A)^"
    "#A)a###A)_#A)b###A)^#A)c###A)_#A)d###A)^#A*####A)_#SD####']b#SD$###']]#SD%###'^$#SD&###D'F#SD'###'bD"
    "#SD(###'cR#SD)###'c`#SD*###(#%#SD+###($_#SD,###(%<#SD-###(&K#SD.###(&2#SD/###&5B#SD0###D;_#SD1###((0"
    "#SD2###((7#SD3###((H#SD4###(([#SD5###D7@#SD6###&5^#SD7###((K#SD8###()0#SD9###D8.#SD:###():#SD;###()H"
    "#SD<###'`/#SD=###()P#SD>###()Y#SD@###M*C#SDA###(*Y#SDB###(+&#SDC###&6C#SDD###(+`#SDE###(,)#SDF###(,V"
    "#SDG###(,[#SDH###&78#SDI###(.*#SDJ###(.,#SDK###(.H#SDL###(._#SDM###(/(#SDN###(/)#SDO###(/:#SDP###(0,"
    "#SDQ###(04#SDR###(0=#SDS###(0W#SDT###(0b#SDU#%#(0d#SDX###DLP#SDY###*$T#SDZ###(2-#SD[###(2C#SD]###DQG"
    "#SD^###(2O#SD_###(2U#SD`###(3)#SDa###(5B#SDb###(3]#SDc###(4+#SDd###(4L#SE####(5F#SE$###(6Z#SE%###(73"
    "#SE&###(86#SE'###(8G#SE(#$#(9'#SE*###(9<#SE+###(9O#SE,###(9W#SE-###(:%#SE.###(@9#SE/###(;)#SE0###(@:"
    "#SE1###(<4#SE2###(<X#SE3###(+*#SE4###(GR#SE5###(C1#SE6###(CX#SE7###(D0#SE8###(B.#SE9###(DV#SE:###(DU"
    "#SE;###(FP#SE<###E6H#SE=###(GV#SE>###(G[#SE@###(H)#SEA###(H=#SEB###(HF#SEC###(IF#SED###E=L#SEE###E>N"
    "#SEF###(KP#SEG###(L>#SEH###(LK#SEI###(K;#SEJ###(MJ#SEK###&>R#SEL###&>a#SEM###(P+#SEN#$#(Pc#SEP###EK+"
    "#SEQ###(S&#SER###(S;#SES###(SK#SET###(SW#SEU###EP;#SEV###(Sd#SEW###(T)#SEX###(b6#SEY###(TF#SEZ###&B$"
    "#SE[###(UD#SE]###(UR#SE^###(W##SE_###(V0#SE`###E[H#SEa###(Y&#SEb###E[J#SEc###(YR#SEd###(YO#SF####(Ya"
    "#SF$###([E#SF%###([F#SF&###&DS#SF'###([b#SF(###(]L#SF)###(]b#SF*###(^M#SF+###&EF#SF,###F)&#SF-###&Ea"
    "#SF.###(_T#SF/###(_W#SF0###(_Z#SF1###(`-#SF2###N15#SF3###(`c#SF4#$#F/U#SF6###++$#SF7#$#(aF#SF9###&G*"
    "#SF:###G-]#SF;###J*=#SF<###(bF#SF=###(bO#SF>###&GG#SF@###(c=#SFA###(d0#SFB###(d:#SFC###(d^#SFD###)%$"
    "#SFE###&H_#SFF###&H@#SFG###)%7#SFH###F>7#SFI###)&*#SFJ###)(+#SFK###)(/#SFL###)(1#SFM###)(/#SFN###)(_"
    "#SFO###))1#SFP###))V#SFQ###))H#SFR###))S#SFS###)*B#SFT###)*V#SFU###)*Z#SFV###)+3#SFW###)+>#SFX###),A"
    "#SFY###)-U#SFZ###).7#SF[###)03#SF]###FP/#SF^###)/b#SF_###).a#SF`###)0L#SFa###)1&#SFb###)2H#SFc###FSU"
    "#SFd###)3F#SG####)2(#SG$###)1M#SG%###&LR#SG&###)4M#SG'###)4c#SG(###)5A#SG)###)4[#SG*###&MP#SG+###)82"
    "#SG,###)8P#SG-###G#-#SG.###):G#SG/###)>]#SG0###)<,#SG1###&P<#SG2###)=4#SG3###&P+#SG4###&OH#SG5###()5"
    "#SG6###()8#SG7###)@##SG8###)=@#SG9###+%Q#SG:###'2<#SG;###)@:#SG<###)@>#SG=###)@E#SG>###)AB#SG@###)A6"
    "#SGA###G2&#SGB###&Q,#SGC###)C_#SGD###)B(#SGE###)E5#SGF###)F(#SGG###G4Q#SGH###)F1#SGI###)DC#SGJ###)H7"
    "#SGK###&RA#SGL###)I%#SGM###)JG#SGN###)KN#SGO###)NL#SGP###G=G#SGQ###)O>#SGR###&T;#SGS###)PE#SGT###GFK"
    "#SGU###)Q7#SGV###&U1#SGW###)QV#SGX###)RC#SGY###)R_#SGZ###)R`#SG[###GN0#SG]###EX.#SG^###GO_#SG_###)U1"
    "#SG`###GVa#SGa###)Vd#SGb###)W0#SGc###)UK#SGd###)X9#SH####)Xc#SH$###)Y[#SH%###)Y$#SH&###)YM#SH'###)Y]"
    "#SH(###)Z(#SH)###GXB#SH*###)XX#SH+###)]S#SH,###)^R#SH-###&XW#SH.###)`.#SH/###)`*#SH0###G`4#SH1###)[^"
    "#SH2###)bR#SH3###GbB#SH4###Gc1#SH5###)d)#SH6###*#^#SH7###*#B#SH8###*#>#SH9###&Z9#SH:###*$-#SH;###*$b"
    "#SH<###*$[#SH=###*%Q#SH>###D7I#SH@###*((#SHA###H,G#SHB###*)@#SHC###H1O#SHD###*+L#SHE###*+Y#SHF###*,3"
    "#SHG###H;+#SHH###*-##SHI###*-8#SHJ###H@Y#SHK###HD7#SHL###*0_#SHM###*1.#SHN###&_P#SHO###*1I#SHP#$#&_]"
    "#SHR###*4*#SHS###*4@#SHT###*4U#SHU###*5(#SHV###*6-#SHW###&a>#SHX###*7H#SHY###HTZ#SHZ###*7c#SH[###HV5"
    "#SH]###*8T#SH^###F)C#SH_###*;3#SH`###HcE#SHa###Hc]#SHb###I$'#SHc###&da#SHd###'#+#SI####*>X#SI$###I&W"
    "#SI%###I&V#SI&###I'<#SI'###I'W#SI(###*@B#SI)#$#*@C#SI+###*A-#SI,###'#^#SI-###*B.#SI.###'$)#SI/###'%9"
    "#SI0###I3A#SI1###*E1#SI2###*F/#SI3###*G/#SI4###'&G#SI5###I;J#SI6###*I9#SI7###I==#SI8###I>(#SI9###*J2"
    "#SI:###*KO#SI;###''S#SI<###*M##SI=###*M-#SI>###*M2#SI@###IIa#SIA#$#INK#SIC###*OR#SID###'+%#SIE###IRO"
    "#SIF###*S)#SIG###*S,#SIH###'+K#SII###IV##SIJ###*W5#SIK###'-D#SIL###*WL#SIM###*WG#SIN###*X##SIO###Ic)"
    "#SIP###*YG#SIQ###'/$#SIR###*[*#SIS###*]%#SIT###*^(#SIU###'/X#SIV###J+L#SIW###J,*#SIX###'0<#SIY###J.<"
    "#SIZ###*b_#SI[###J/c#SI]###*c8#SI^###*d_#SI_###+#(#SI`###J6=#SIa###J7G#SIb###+$D#SIc###J9L#SId###+$T"
    "#SJ####G0C#SJ$###'28#SJ%###+%V#SJ&###+'&#SJ'###'3.#SJ(###+'c#SJ)###(NY#SJ*###JBK#SJ+###JBY#SJ,###G16"
    "#SJ-###G1@#SJ.###++$#SJ/###++'#SJ0###+cB#SJ1###'4O#SJ2###+-4#SJ3###+-.#SJ4###+-A#SJ5###(-W#SJ6###+-U"
    "#SJ7###+-W#SJ8###+-b#SJ9###+.J#SJ:###JPa#SJ;###+.I#SJ<###+/A#SJ=###+0G#SJ>###+1Q#SJ@###+/G#SJA###+1b"
    "#SJB###+2K#SJC###+4:#SJD###+06#SJE###+2-#SJF###+2/#SJG###+2@#SJH###JTZ#SJI###JYO#SJJ###JW8#SJK###'7O"
    "#SJL###+6U#SJM###+6W#SJN###+79#SJO###K2-#SJP###+8H#SJQ###JaP#SJR###'8A#SJS###'8E#SJT###JcU#SJU###K&5"
    "#SJV###'8O#SJW###+<3#SJX###+<@#SJY###+<K#SJZ###+<M#SJ[###+=M#SJ]###+=+#SJ^###+@1#SJ_###+>F#SJ`###+A^"
    "#SJa###+@L#SJb###+AO#SJc###+B)#SJd###'::#SK####+CE#SK$###+D$#SK%###':^#SK&###+ED#SK'###+EG#SK(###K<K"
    "#SK)###+G:#SK*###+GB#SK+###';Y#SK,###+G_#SK-###&5`#SK.###KFR#SK/###KIJ#SK0###'=c#SK1###'>*#SK2###+ND"
    "#SK3###+OQ#SK4###+R-#SK5###+U8#SK6###KVL#SK7###+VO#SK8###+W$#SK9###+X>#SK:###+Y[#SK;###KaS#SK<###DD'"
    "#SK=###+[.#SK>###+Za#SK@###+[T#SKA###DGB#SKB###+`7#SKC###+a]#SKD###L:5#SKE###L:Q#SKF###,%7#SKG###,&U"
    "#SKH###,'4#SKI###L@R#SKJ###,'>#SKK###,+]#SKL###,.:#SKM###,.;#SKN###,,a#SKO###,2^#SKP###,38#SKQ###LS_"
    "#SKR###,9.#SKS###'J8#SKT###,9[#SKU###LY[#SKV###'KJ#SKW###,>&#SKX###(ZV#SKY###,@G#SKZ###M((#SK[###M+="
    "#SK]###'MR#SK^###'MZ#SK_###,CD#SK`###M3-#SKa###'NV#SKb###M59#SKc#$#,D.#SL####,DM#SL$###M9Z#SL%###,GF"
    "#SL&###'PW#SL'###,HM#SL(###,JK#SL)###,K%#SL*###,Kc#SL+###'S1#SL,###MPT#SL-###,P5#SL.###,U##SL/###,Wb"
    "#SL0###'W1#SL1###'WQ#SL2###,YK#SL3###N&1#SL4###'W]#SL5###N'(#SL6###N+1#SL7###N-4#SL8###,_`#SL9###'Y9"
    "#SL:###,`^#SL;###,`c#SL<###,a(#SL=###,a2#SL>###,a9#SL@###,a`#SLA###N;#";

}  // namespace detail
// >>> end of generated tables

namespace detail {

// Value of n packed 6-bit digits (see the generated tables).
inline uint32_t ucd_digits(const char* p, int n) {
    uint32_t v = 0;
    for (int i = 0; i < n; ++i) {
        const uint32_t c = static_cast<uint8_t>(p[i]);
        v = (v << 6) | (c - 35u - (c > 63u) - (c > 92u));
    }
    return v;
}

// Decodes the codepoint at s (n >= 1 bytes available) and stores its length in *len. Exactly
// llama.cpp's unicode_cpts_from_utf8, which decides the tokens:
//   - a lead byte announces the length (0xxxxxxx 1, 110xxxxx 2, 1110xxxx 3, 11110xxx 4), and the
//     announced continuation bytes must be there and be 10xxxxxx;
//   - overlong forms (C0 AF = '/') and surrogates (ED A0 80 = U+D800) are NOT rejected: they
//     decode to their value, and utf8_encode writes them back the way llama.cpp does;
//   - anything else (a stray continuation byte, F8..FF, a truncated sequence) is one invalid byte:
//     U+FFFD with *len = 1, and decoding resumes at the next byte.
// One difference: llama.cpp decodes F4 90.. to F7 BF BF BF to values above U+10FFFF and then
// fails on them (an exception escapes llama_tokenize); here such a lead byte is one invalid byte.
inline uint32_t utf8_decode(const char* s, size_t n, size_t* len) {
    const auto u = reinterpret_cast<const uint8_t*>(s);
    const uint32_t b0 = u[0];
    *len = 1;
    if (b0 < 0x80) return b0;
    auto cont = [&](size_t i) { return (u[i] & 0xC0u) == 0x80u; };
    if (b0 >= 0xC0 && b0 < 0xE0) {
        if (n < 2 || !cont(1)) return 0xFFFD;
        *len = 2;
        return ((b0 & 0x1Fu) << 6) | (u[1] & 0x3Fu);
    }
    if (b0 >= 0xE0 && b0 < 0xF0) {
        if (n < 3 || !cont(1) || !cont(2)) return 0xFFFD;
        *len = 3;
        return ((b0 & 0x0Fu) << 12) | ((u[1] & 0x3Fu) << 6) | (u[2] & 0x3Fu);
    }
    if (b0 >= 0xF0 && b0 < 0xF8) {
        if (n < 4 || !cont(1) || !cont(2) || !cont(3)) return 0xFFFD;
        const uint32_t cp = ((b0 & 0x07u) << 18) | ((u[1] & 0x3Fu) << 12) | ((u[2] & 0x3Fu) << 6) | (u[3] & 0x3Fu);
        if (cp > 0x10FFFF) return 0xFFFD;
        *len = 4;
        return cp;
    }
    return 0xFFFD;  // 80..BF (a continuation byte) or F8..FF
}

// Decodes all of s[0, n) into out (room for n codepoints); returns how many were written.
inline size_t utf8_to_cpts(const char* s, size_t n, uint32_t* out) {
    size_t k = 0;
    for (size_t i = 0, len = 0; i < n; i += len) out[k++] = utf8_decode(s + i, n - i, &len);
    return k;
}

// Writes cp as UTF-8 to out (room for 4 bytes) and returns the length, as llama.cpp's
// unicode_cpt_to_utf8 does: surrogates get their 3-byte form. Above U+10FFFF (never produced
// by utf8_decode) writes U+FFFD.
inline size_t utf8_encode(uint32_t cp, char* out) {
    auto put = [&](int i, uint32_t v) { out[i] = static_cast<char>(static_cast<uint8_t>(v)); };
    if (cp < 0x80) { put(0, cp); return 1; }
    if (cp < 0x800) { put(0, 0xC0 | (cp >> 6)); put(1, 0x80 | (cp & 0x3F)); return 2; }
    if (cp > 0x10FFFF) cp = 0xFFFD;
    if (cp < 0x10000) {
        put(0, 0xE0 | (cp >> 12)); put(1, 0x80 | ((cp >> 6) & 0x3F)); put(2, 0x80 | (cp & 0x3F));
        return 3;
    }
    put(0, 0xF0 | (cp >> 18)); put(1, 0x80 | ((cp >> 12) & 0x3F));
    put(2, 0x80 | ((cp >> 6) & 0x3F)); put(3, 0x80 | (cp & 0x3F));
    return 4;
}

// The ucat_* bits of cp (llama.cpp's unicode_cpt_flags_from_cpt, as bits of our own).
inline uint32_t unicode_flags(uint32_t cp) {
    if (cp < 128) return ucd_ascii_flags[cp];
    if (cp > 0x10FFFF) return ucat_unassigned;
    uint32_t lo = 0, hi = ucd_cat_count;  // record lo starts at or before cp, record hi after it
    while (hi - lo > 1) {
        const uint32_t mid = (lo + hi) / 2;
        if ((ucd_digits(ucd_cat_data + 4 * mid, 4) >> 3) <= cp) lo = mid; else hi = mid;
    }
    uint32_t f = ucd_cat_flags[ucd_digits(ucd_cat_data + 4 * lo, 4) & 7];
    if (f & (ucat_separator | ucat_control)) {
        for (uint32_t s : ucd_space) {
            if (s == cp) { f |= ucat_space; break; }
        }
    }
    return f;
}

// llama.cpp's whitespace (Unicode White_Space: \t \n \v \f \r, space, U+0085, U+00A0, U+1680,
// U+2000..U+200A, U+2028, U+2029, U+202F, U+205F, U+3000).
inline bool is_whitespace(uint32_t cp) { return (unicode_flags(cp) & ucat_space) != 0; }

// Simple lowercase mapping (UnicodeData.txt), llama.cpp's unicode_tolower: one codepoint to one,
// cp itself when it has none (U+0130 gives U+0069).
inline uint32_t unicode_lower(uint32_t cp) {
    constexpr uint32_t n = sizeof(ucd_lower) / sizeof(ucd_lower[0]);
    if (cp < static_cast<uint32_t>(ucd_lower[0][0])) return cp;
    uint32_t lo = 0, hi = n;
    while (hi - lo > 1) {
        const uint32_t mid = (lo + hi) / 2;
        if (static_cast<uint32_t>(ucd_lower[mid][0]) <= cp) lo = mid; else hi = mid;
    }
    const uint32_t off = cp - static_cast<uint32_t>(ucd_lower[lo][0]);
    const uint32_t stride = static_cast<uint32_t>(ucd_lower[lo][2]);
    if (off % stride != 0 || off / stride >= static_cast<uint32_t>(ucd_lower[lo][1])) return cp;
    return static_cast<uint32_t>(static_cast<int32_t>(cp) + ucd_lower[lo][3]);
}

// NFD as llama.cpp's unicode_cpts_normalize_nfd does it (for BERT's WordPiece): each codepoint
// becomes the FIRST codepoint of its canonical decomposition ('é' -> 'e', 'Ḉ' -> 'C',
// '가' -> U+1100; compatibility forms such as 'ﬁ' or 'Ǆ' stay), everything else stays. Writes
// that one codepoint to out (room for 8, for a full decomposition should a tokenizer ever need
// one) and returns 1.
inline size_t unicode_nfd(uint32_t cp, uint32_t* out) {
    out[0] = cp;
    if (ucd_nfd_count == 0 || cp < ucd_digits(ucd_nfd_data, 4)) return 1;
    uint32_t lo = 0, hi = ucd_nfd_count;
    while (hi - lo > 1) {
        const uint32_t mid = (lo + hi) / 2;
        if (ucd_digits(ucd_nfd_data + 10 * mid, 4) <= cp) lo = mid; else hi = mid;
    }
    const char* r = ucd_nfd_data + 10 * lo;
    if (cp <= ucd_digits(r, 4) + ucd_digits(r + 4, 2)) out[0] = ucd_digits(r + 6, 4);
    return 1;
}

// llama.cpp's unicode_cpt_is_han: the CJK ideograph blocks (Unified, Extensions A-F,
// Compatibility, Compatibility Supplement), whole blocks, assigned or not. \p{Han} of Kimi-K2.
inline bool unicode_is_han(uint32_t cp) {
    return (cp >= 0x4E00 && cp <= 0x9FFF) || (cp >= 0x3400 && cp <= 0x4DBF) ||
           (cp >= 0x20000 && cp <= 0x2A6DF) || (cp >= 0x2A700 && cp <= 0x2B73F) ||
           (cp >= 0x2B740 && cp <= 0x2B81F) || (cp >= 0x2B820 && cp <= 0x2CEAF) ||
           (cp >= 0x2CEB0 && cp <= 0x2EBEF) || (cp >= 0xF900 && cp <= 0xFAFF) ||
           (cp >= 0x2F800 && cp <= 0x2FA1F);
}

// The "Chinese character" test of llama.cpp's WordPiece (BERT) preprocessing, which differs
// from unicode_is_han: Extension E starts at U+2B920 (as in Hugging Face's Rust code), and
// Extension F is not included.
inline bool unicode_is_cjk_wpm(uint32_t cp) {
    return (cp >= 0x4E00 && cp <= 0x9FFF) || (cp >= 0x3400 && cp <= 0x4DBF) ||
           (cp >= 0x20000 && cp <= 0x2A6DF) || (cp >= 0x2A700 && cp <= 0x2B73F) ||
           (cp >= 0x2B740 && cp <= 0x2B81F) || (cp >= 0x2B920 && cp <= 0x2CEAF) ||
           (cp >= 0xF900 && cp <= 0xFAFF) || (cp >= 0x2F800 && cp <= 0x2FA1F);
}

}  // namespace detail

// ================================================================================================
// Pre-tokenizers: the regex word splitting of byte-level BPE vocabularies, as llama.cpp does it
// ================================================================================================
//
// A byte-level BPE vocabulary names its pre-tokenizer in tokenizer.ggml.pre; llama.cpp maps each
// name to a list of regular expressions (src/llama-vocab.cpp) and splits the text with them
// (src/unicode.cpp, unicode_regex_split): the first regex splits the whole text, each next one
// splits every piece the previous one produced, on its own. A regex splits a piece into its
// matches (leftmost first, as std::regex_iterator finds them) and the runs of text between
// matches; both are words. Two engines do the matching there, and both are reproduced here:
//   - hand-written fast paths for the common lists (GPT-2, Llama 3, Qwen2, Qwen3.5, Kimi-K2),
//     with their small departures from the regexes they stand for;
//   - std::regex for the others, run on a "collapsed" text in which every non-ASCII codepoint
//     became one byte for its class: so \p{L} is A-Za-z or any non-ASCII letter, \s is ASCII
//     whitespace or any non-ASCII White_Space, and a literal non-ASCII range in a regex never
//     matches a non-ASCII whitespace character.
// Each regex below is a hand-written matcher with the same result as llama.cpp on every input,
// checked against llama.cpp by tests/check_pretok_peer.py. No std::regex, no allocation.
//
// Use:
//   pretok_kind k;
//   if (!pretok_from_name(pre, &k)) ... unknown or unsupported tokenizer.ggml.pre
//   pretokenize(k, cpts, n, [&](size_t begin, size_t end) { ... one word: cpts[begin, end) ... });
// cpts are the text's codepoints as utf8_decode gives them. The words come in order and tile
// [0, n) exactly; none is empty; an empty text gives none. A word's bytes are utf8_encode of its
// codepoints (as llama.cpp rebuilds them: an invalid byte becomes EF BF BD), not the input's
// bytes. No scratch memory is needed: the regexes of a list run nested, piece by piece.

namespace detail {

// One value per pre-tokenizer type of llama.cpp (llama_vocab_pre_type) that this file supports.
// Types whose regex lists are equal split equally; they stay apart because llama.cpp sets other
// options per type (clean_spaces, ignore_merges, add_bos, ...).
enum class pretok_kind : int32_t {
    default_,         // "default": also a missing tokenizer.ggml.pre
    llama3,           // "llama-bpe", "llama3", "llama-v3", "falcon3", "falcon-h1", "pixtral", ...
    deepseek_llm,     // "deepseek-llm"
    deepseek_coder,   // "deepseek-coder"
    deepseek3_llm,    // "deepseek-v3"
    falcon,           // "falcon"
    mpt,              // "mpt"
    starcoder,        // "starcoder"
    gpt2,             // "gpt-2", "phi-2", "jina-es", "roberta-bpe", "exaone4", ...
    refact,           // "refact"
    command_r,        // "command-r"
    stablelm2,        // "stablelm2"
    qwen2,            // "qwen2", "deepseek-r1-qwen", "megrez", "kormo", "f2llmv2"
    qwen35,           // "qwen35"
    olmo,             // "olmo"
    dbrx,             // "dbrx"
    smaug,            // "smaug-bpe"
    poro,             // "poro-chat"
    chatglm4,         // "chatglm-bpe", "glm4"
    viking,           // "viking"
    jais,             // "jais"
    tekken,           // "tekken"
    smollm,           // "smollm"
    codeshell,        // "codeshell"
    bloom,            // "bloom"
    gpt3_finnish,     // "gpt3-finnish"
    exaone,           // "exaone"
    minerva,          // "minerva-7b"
    gpt4o,            // "gpt-4o", "llama4", "kanana2", "talkie"
    trillion,         // "trillion"
    granite_docling,  // "granite-docling"
    bailingmoe,       // "bailingmoe", "bailingmoe2", "llada-moe"
    seed_coder,       // "seed-coder"
    hunyuan,          // "hunyuan"
    hunyuan_dense,    // "hunyuan-dense"
    joyai_llm,        // "joyai-llm"
    kimi_k2,          // "kimi-k2"
    grok_2,           // "grok-2"
    minimax_m2,       // "minimax-m2"
    solar_open,       // "solar-open"
    mellum2,          // "mellum2"
    granite_emb_multi,// "granite-embed-multi-97m"
    laguna,           // "laguna"
    gemma4,           // "gemma4", "granite-embed-multi-311m"
    sarvam_moe,       // "sarvam-moe"
    minicpm5,         // "minicpm5"
    whitespace,       // "whitespace"
    jais2,            // "jais-2"
    afmoe,            // "afmoe"
    tiny_aya,         // "tiny_aya", "cohere2moe"
    youtu,            // "youtu"
    exaone_moe,       // "exaone-moe"
    chameleon,        // "chameleon"
    superbpe,         // "superbpe"
};
constexpr size_t pretok_kind_count = static_cast<size_t>(pretok_kind::superbpe) + 1;

// ------------------------------------------------------------------------------------------------
// Matchers
// ------------------------------------------------------------------------------------------------

// The regexes of llama-vocab.cpp's lists, each with the regex it stands for ("fast path": llama.cpp
// itself uses hand-written code for it, which this reproduces rather than the regex).
enum class pt_op : uint8_t {
    none,
    bpe_gpt2,        // 's|'t|'re|'ve|'m|'ll|'d| ?\p{L}+| ?\p{N}+| ?[^\s\p{L}\p{N}]+|\s+(?!\S)   (fast path)
    bpe_llama3,      // (?:'[sS]|..)|[^\r\n\p{L}\p{N}]?\p{L}+|\p{N}{1,3}| ?[^\s\p{L}\p{N}]+[\r\n]*|\s*[\r\n]+|\s+(?!\S)|\s+
    bpe_qwen2,       // the same with \p{N}                                       (fast path)
    bpe_qwen35,      // Qwen2's with [\p{L}\p{M}]+ and [^\s\p{L}\p{M}\p{N}]        (fast path)
    bpe_seed_coder,  // Qwen2's with ` ?[^\s\p{L}\p{N}\r\n]+` (no [\r\n]* after)
    bpe_minicpm5,    // Llama 3's with \p{N}+
    bpe_jais2,       // Llama 3's with \s{512}(?!\S)|\s{256}(?!\S)|...|\s{4}(?!\S)|\s{1,2}(?!\S)|\s{1}
    bpe_kimi_k2,     // Kimi-K2's fast path (\p{Han}+ first, contractions after words)
    bpe_gpt4o,       // [^\r\n\p{L}\p{N}]?((?=[\p{L}])([^a-z]))*((?=[\p{L}])([^A-Z]))+(?:'[sS]|..)?|...
    bpe_tekken,      // the same without contractions, with \p{N}
    bpe_granite,     // GPT-4o's with [\p{L}\p{M}] in the lookaheads
    bpe_aya,         // [^\r\n\p{L}\p{N}]?[\p{Lu}\p{Lt}\p{Lm}\p{Lo}\p{M}]*[\p{Ll}\p{Lm}\p{Lo}\p{M}]+(?:'[sS]|..)?|...|\p{N}{1,3}|...
    bpe_youtu,       // the same with \p{N}
    bpe_exaone_moe,  // (?:'[sS]|..)|[^\r\n\p{L}\p{N}]?(?:\p{L}\p{M}*(?: \p{L}\p{M}*)*)+|\p{N}| ?[^\s\p{L}\p{N}]+[\r\n/]?|...
    ds3_main,        // [!-/:-@[-`{-~][A-Za-z]+|[^\r\n\p{L}\p{P}\p{S}]?[\p{L}\p{M}]+| ?[\p{P}\p{S}]+[\r\n]*|...
    newlines,        // [^\n]+|[\n]+                                               (fast path)
    punct_run,       // [\p{P}\$\+<=>\^~\|]+
    punct_run_bt,    // [\p{P}\$\+<=>\^~\|`]+
    num_run,         // \p{N}+
    num_one,         // \p{N}
    num_1to3,        // \p{N}{1,3}
    ascii_digit3,    // [0-9][0-9][0-9]
    crlf_one,        // [\r\n]
    ds_letters,      // \s?[A-Za-zµÀ-ÖØ-öø-ƺ...]+  (DeepSeek LLM's list of cased-script letters)
    ds_punct,        // \s?[!-/:-~！-／：-～‘-‟　-。]+
    trailing_space,  // \s+$
    ds_cjk,          // [一-龥ࠀ-一가-퟿]+
    ds3_cjk_kana,    // [一-龥぀-ゟ゠-ヿ]+
    space_letters,   // \s?\p{L}+
    space_punct,     // \s?\p{P}+
    bloom,           //  ?[^(\s|.,!?…。，、।۔،)]+
    non_space_run,   // \S+
    afmoe_digits,    // \p{AFMoE_digits} and \d{1,3}(?=(?:\d{3})*\b): llama.cpp's digit-grouping fast path
    afmoe_cjk,       // [一-鿿㐀-䶿豈-﫿぀-ゟ゠-ヿ･-ﾟ⼀-⿟เ-๿຀-໿ក-៿က-႟ꩠ-ꩿꧠ-꧿가-힯ᄀ-ᇿ]+
    youtu_cjk,       // [가-힣ㄱ-ㆎ]+|[！…“”‘’—：；，、-〿︰-﹏]+|[ㄅ-ㄯ]+|[一-龥぀-ゟ゠-ヿ]+
    sentinel,        // <sentinel:[0-9]+>
    image_tokens,    // (IMGIMG)((A|B|C|D|E|F|G|H|I){1,4})Z
    tab_nl_spaces,   // ([\t\n]|    |  )
    punct_one,       // [\p{P}!-/:-@\[-`{-~]
    digit_groups,    // (?=(\d{3})+(?!\d)): empty matches, i.e. split points (llama.cpp's empty words dropped)
};

struct pt_range {
    uint32_t lo, hi;
};

template <size_t N>
inline bool pt_in(const pt_range (&r)[N], uint32_t cp) {
    size_t lo = 0, hi = N;  // first range with hi >= cp
    while (lo < hi) {
        const size_t mid = (lo + hi) / 2;
        if (r[mid].hi < cp) lo = mid + 1; else hi = mid;
    }
    return lo < N && r[lo].lo <= cp;
}

// A literal class of a regex without \p{..}: llama.cpp matches those on the codepoints with every
// non-ASCII whitespace replaced by U+000B, so such a character never matches a literal range.
template <size_t N>
inline bool pt_in_literal(const pt_range (&r)[N], uint32_t cp) {
    return pt_in(r, cp) && !(cp > 0x7F && (unicode_flags(cp) & ucat_space));
}

// DeepSeek LLM's letters: A-Za-zµÀ-ÖØ-öø-ƺƼ-ƿǄ-ʓʕ-ʯͰ-ͳͶͷͻ-ͽͿΆΈ-ΊΌΎ-ΡΣ-ϵϷ-ҁҊ-ԯԱ-ՖႠ-ჅᎠ-Ᏽᏸ-ᏽᲐ-ᲺᲽ-Ჿᴀ-ᴫᵫ-ᵷᵹ-ᶚ
// Ḁ-ἕἘ-Ἕἠ-ὅὈ-Ὅὐ-ὗὙὛὝὟ-ώᾀ-ᾴᾶ-ᾼιῂ-ῄῆ-ῌῐ-ΐῖ-Ίῠ-Ῥῲ-ῴῶ-ῼℂℇℊ-ℓℕℙ-ℝℤΩℨK-ℭℯ-ℴℹℼ-ℿⅅ-ⅉⅎↃↄⰀ-ⱻⱾ-ⳤⳫ-ⳮⳲⳳꙀ-ꙭ
// Ꚁ-ꚛꜢ-ꝯꝱ-ꞇꞋ-ꞎꭰ-ꮿﬀ-ﬆﬓ-ﬗＡ-Ｚａ-ｚ𐐀-𐑏𐒰-𐓓𐓘-𐓻𐲀-𐲲𐳀-𐳲𑢠-𑣟𞤀-𞥃 (from its tokenizer.json).
constexpr pt_range pt_ds_letters[] = {
    {0x41, 0x5A}, {0x61, 0x7A}, {0xB5, 0xB5}, {0xC0, 0xD6}, {0xD8, 0xF6}, {0xF8, 0x1BA},
    {0x1BC, 0x1BF}, {0x1C4, 0x293}, {0x295, 0x2AF}, {0x370, 0x373}, {0x376, 0x377}, {0x37B, 0x37D},
    {0x37F, 0x37F}, {0x386, 0x386}, {0x388, 0x38A}, {0x38C, 0x38C}, {0x38E, 0x3A1}, {0x3A3, 0x3F5},
    {0x3F7, 0x481}, {0x48A, 0x52F}, {0x531, 0x556}, {0x10A0, 0x10C5}, {0x13A0, 0x13F5},
    {0x13F8, 0x13FD}, {0x1C90, 0x1CBA}, {0x1CBD, 0x1CBF}, {0x1D00, 0x1D2B}, {0x1D6B, 0x1D77},
    {0x1D79, 0x1D9A}, {0x1E00, 0x1F15}, {0x1F18, 0x1F1D}, {0x1F20, 0x1F45}, {0x1F48, 0x1F4D},
    {0x1F50, 0x1F57}, {0x1F59, 0x1F59}, {0x1F5B, 0x1F5B}, {0x1F5D, 0x1F5D}, {0x1F5F, 0x1F7D},
    {0x1F80, 0x1FB4}, {0x1FB6, 0x1FBC}, {0x1FBE, 0x1FBE}, {0x1FC2, 0x1FC4}, {0x1FC6, 0x1FCC},
    {0x1FD0, 0x1FD3}, {0x1FD6, 0x1FDB}, {0x1FE0, 0x1FEC}, {0x1FF2, 0x1FF4}, {0x1FF6, 0x1FFC},
    {0x2102, 0x2102}, {0x2107, 0x2107}, {0x210A, 0x2113}, {0x2115, 0x2115}, {0x2119, 0x211D},
    {0x2124, 0x2124}, {0x2126, 0x2126}, {0x2128, 0x2128}, {0x212A, 0x212D}, {0x212F, 0x2134},
    {0x2139, 0x2139}, {0x213C, 0x213F}, {0x2145, 0x2149}, {0x214E, 0x214E}, {0x2183, 0x2184},
    {0x2C00, 0x2C7B}, {0x2C7E, 0x2CE4}, {0x2CEB, 0x2CEE}, {0x2CF2, 0x2CF3}, {0xA640, 0xA66D},
    {0xA680, 0xA69B}, {0xA722, 0xA76F}, {0xA771, 0xA787}, {0xA78B, 0xA78E}, {0xAB70, 0xABBF},
    {0xFB00, 0xFB06}, {0xFB13, 0xFB17}, {0xFF21, 0xFF3A}, {0xFF41, 0xFF5A}, {0x10400, 0x1044F},
    {0x104B0, 0x104D3}, {0x104D8, 0x104FB}, {0x10C80, 0x10CB2}, {0x10CC0, 0x10CF2},
    {0x118A0, 0x118DF}, {0x1E900, 0x1E943},
};
// DeepSeek LLM's punctuation: !-/ :-~ ！-／ ：-～ ‘-‟ 　-。 (U+3000 is whitespace, so never matches).
constexpr pt_range pt_ds_punct[] = {
    {0x21, 0x2F}, {0x3A, 0x7E}, {0x2018, 0x201F}, {0x3000, 0x3002}, {0xFF01, 0xFF0F}, {0xFF1A, 0xFF5E},
};
// DeepSeek's CJK: 一-龥 ࠀ-一 가-퟿, i.e. U+0800..U+9FA5 and U+AC00..U+D7FF.
constexpr pt_range pt_ds_cjk[] = {{0x0800, 0x9FA5}, {0xAC00, 0xD7FF}};
// DeepSeek V3's CJK and kana: 一-龥 ぀-ゟ ゠-ヿ.
constexpr pt_range pt_ds3_cjk_kana[] = {{0x3040, 0x30FF}, {0x4E00, 0x9FA5}};

// AFMoE's CJK and Southeast Asian scripts, as the regex has them (its "豈" is U+8C48, not U+F900,
// so one range is U+8C48..U+FAFF). Ranges sorted and merged, as pt_in needs.
constexpr pt_range pt_afmoe_cjk[] = {
    {0x0E40, 0x0E7F}, {0x0E80, 0x0EFF}, {0x1000, 0x109F}, {0x1100, 0x11FF}, {0x1780, 0x17FF},
    {0x2F00, 0x2FDF}, {0x3040, 0x30FF}, {0x3400, 0x4DBF}, {0x4E00, 0xFAFF}, {0xFF65, 0xFF9F},
};  // 4E00-9FFF, 8C48-FAFF, A9E0-A9FF, AA60-AA7F and AC00-D7AF merged
// Youtu's four classes: Hangul; CJK punctuation; Bopomofo; CJK and kana.
constexpr pt_range pt_youtu_hangul[] = {{0x3131, 0x318E}, {0xAC00, 0xD7A3}};
constexpr pt_range pt_youtu_punct[] = {
    {0x2014, 0x2014}, {0x2018, 0x2019}, {0x201C, 0x201D}, {0x2026, 0x2026}, {0x3001, 0x303F},
    {0xFE30, 0xFE4F}, {0xFF01, 0xFF01}, {0xFF0C, 0xFF0C}, {0xFF1A, 0xFF1B},
};
constexpr pt_range pt_youtu_bopomofo[] = {{0x3105, 0x312F}};
constexpr pt_range pt_youtu_cjk[] = {{0x3040, 0x30FF}, {0x4E00, 0x9FA5}};

inline bool pt_is_crlf(uint32_t cp) { return cp == '\r' || cp == '\n'; }

// End of the run of codepoints from p (< b) that satisfy pred.
template <class P>
inline size_t pt_run(const uint32_t* c, size_t p, size_t b, const P& pred) {
    while (p < b && pred(c[p])) ++p;
    return p;
}

inline size_t pt_run_flags(const uint32_t* c, size_t p, size_t b, uint32_t mask) {
    while (p < b && (unicode_flags(c[p]) & mask)) ++p;
    return p;
}

// \p{N}{1,max} at p (max 0: no limit): its end, or p when c[p] is not a number.
inline size_t pt_digits(const uint32_t* c, size_t p, size_t b, size_t max) {
    return pt_run_flags(c, p, max && b - p > max ? p + max : b, ucat_number);
}

// How llama.cpp's unicode_regex_split_stl turns matches into words: the leftmost match from the
// current position (match_at(p) gives its end, or p or less when no match starts at p), the text
// between two matches as a word of its own.
template <class M, class F>
inline void pt_regex(size_t a, size_t b, const M& match_at, F& emit) {
    size_t gap = a;
    for (size_t p = a; p < b;) {
        const size_t e = match_at(p);
        if (e <= p) { ++p; continue; }
        if (gap < p) emit(gap, p);
        emit(p, e);
        gap = p = e;
    }
    if (gap < b) emit(gap, b);
}

// 's 't 're 've 'm 'll 'd at p, case-insensitive when `fold` (through the simple lowercase
// mapping, as llama.cpp's fast paths do; only ASCII letters fold to these). End, or 0.
inline size_t pt_contraction(const uint32_t* c, size_t p, size_t b, bool fold) {
    if (p + 1 >= b || c[p] != '\'') return 0;
    const uint32_t n1 = fold ? unicode_lower(c[p + 1]) : c[p + 1];
    if (n1 == 's' || n1 == 't' || n1 == 'm' || n1 == 'd') return p + 2;
    if (p + 2 >= b) return 0;
    const uint32_t n2 = fold ? unicode_lower(c[p + 2]) : c[p + 2];
    if ((n1 == 'r' && n2 == 'e') || (n1 == 'v' && n2 == 'e') || (n1 == 'l' && n2 == 'l')) return p + 3;
    return 0;
}

// Whitespace at p. pt_ws_gpt2: \s+(?!\S) (the run but its last character, unless the run ends
// the piece), else \s+. pt_ws_llama3: first \s*[\r\n]+ (up to the last CR or LF of the run).
// pt_ws_jais2: that, then \s{512}(?!\S)|\s{256}(?!\S)|...|\s{4}(?!\S)|\s{1,2}(?!\S)|\s{1}.
// End; p + 1 when c[p] is not whitespace.
enum pt_ws_mode { pt_ws_gpt2, pt_ws_llama3, pt_ws_jais2 };
inline size_t pt_space(const uint32_t* c, size_t p, size_t b, pt_ws_mode mode) {
    size_t i = p, after_nl = 0;
    while (i < b && (unicode_flags(c[i]) & ucat_space)) {
        if (pt_is_crlf(c[i])) after_nl = i + 1;
        ++i;
    }
    if (mode != pt_ws_gpt2 && after_nl) return after_nl;
    const size_t n = i - p;
    if (mode == pt_ws_jais2) {
        for (size_t m = 512; m >= 4; m /= 2) {
            if (n > m || (n == m && i == b)) return p + m;
        }
        return n >= 3 || (n == 2 && i == b) ? p + 2 : p + 1;
    }
    if (n > 1 && i < b) return i - 1;
    return n > 0 ? i : p + 1;
}

// The fast paths of GPT-2, Llama 3 and Qwen2/3.5, and the regexes of the same shape (Seed-Coder,
// MiniCPM5, Jais-2), one word at a time.
template <class F>
inline void pt_bpe(pt_op op, const uint32_t* c, size_t a, size_t b, F& emit) {
    auto fl = [&](size_t i) -> uint32_t { return i < b ? unicode_flags(c[i]) : 0u; };
    const bool gpt2 = op == pt_op::bpe_gpt2;
    const uint32_t word = op == pt_op::bpe_qwen35 ? (ucat_letter | ucat_mark) : ucat_letter;
    const uint32_t not_other = ucat_space | ucat_number | word;  // [^\s\p{L}\p{N}] is the rest
    const pt_ws_mode ws = gpt2 ? pt_ws_gpt2 : op == pt_op::bpe_jais2 ? pt_ws_jais2 : pt_ws_llama3;
    for (size_t pos = a; pos < b;) {
        const uint32_t cp = c[pos];
        const uint32_t f = unicode_flags(cp);
        size_t end = pt_contraction(c, pos, b, !gpt2);
        if (end == 0 && gpt2) {
            // ' ?' then letters, numbers or other: the space is taken only when one follows
            const uint32_t f2 = cp == ' ' ? fl(pos + 1) : f;
            const size_t s = pos + (cp == ' ');
            if (f2 & ucat_letter) {
                end = pt_run_flags(c, s, b, ucat_letter);
            } else if (f2 & ucat_number) {
                end = pt_run_flags(c, s, b, ucat_number);
            } else if (f2 != 0 && !(f2 & not_other)) {
                end = s;
                while (fl(end) != 0 && !(fl(end) & not_other)) ++end;
            }
        } else if (end == 0) {
            if (!pt_is_crlf(cp) && !(f & ucat_number) && ((f & word) || (fl(pos + 1) & word))) {
                end = pt_run_flags(c, pos + 1, b, word);  // [^\r\n\p{L}\p{N}]?\p{L}+
            } else if (f & ucat_number) {
                // \p{N}{1,3} for Llama 3 and Jais-2, \p{N}+ for MiniCPM5, \p{N} for the others
                const bool three = op == pt_op::bpe_llama3 || op == pt_op::bpe_jais2;
                end = pt_digits(c, pos, b, three ? 3 : op == pt_op::bpe_minicpm5 ? 0 : 1);
            } else if (!((cp == ' ' ? fl(pos + 1) : f) & not_other)) {
                end = pos + (cp == ' ');  // ' ?[^\s\p{L}\p{N}]+[\r\n]*'
                while (fl(end) != 0 && !(fl(end) & not_other)) ++end;
                if (op != pt_op::bpe_seed_coder) end = pt_run(c, end, b, pt_is_crlf);
            }
        }
        if (end == 0) end = pt_space(c, pos, b, ws);
        emit(pos, end);
        pos = end;
    }
}

// Kimi-K2's fast path: [\p{Han}]+ | letter words (not Han) with an optional leading non-letter and
// a trailing contraction | \p{N}{1,3} | ' ?[^\s\p{L}\p{N}]+[\r\n]*' | whitespace as Llama 3.
template <class F>
inline void pt_kimi_k2(const uint32_t* c, size_t a, size_t b, F& emit) {
    auto fl = [&](size_t i) -> uint32_t { return i < b ? unicode_flags(c[i]) : 0u; };
    auto word = [&](size_t i) { return (fl(i) & ucat_letter) && !unicode_is_han(c[i]); };
    constexpr uint32_t not_other = ucat_space | ucat_letter | ucat_number;
    for (size_t pos = a; pos < b;) {
        const uint32_t cp = c[pos];
        const uint32_t f = unicode_flags(cp);
        size_t end = 0;
        if (unicode_is_han(cp)) {
            end = pt_run(c, pos, b, unicode_is_han);
        } else {
            const bool lead = !pt_is_crlf(cp) && !(f & (ucat_letter | ucat_number));
            if (word(pos) || (lead && word(pos + 1))) {
                size_t i = pos + lead;
                while (word(i)) ++i;
                const size_t k = pt_contraction(c, i, b, true);
                end = k ? k : i;
            } else if (f & ucat_number) {
                end = pt_digits(c, pos, b, 3);
            } else {
                const uint32_t f2 = cp == ' ' ? fl(pos + 1) : f;
                if (f2 != 0 && !(f2 & not_other)) {
                    end = pos + (cp == ' ');
                    while (fl(end) != 0 && !(fl(end) & not_other)) ++end;
                    end = pt_run(c, end, b, pt_is_crlf);
                }
            }
            if (end == 0) end = pt_space(c, pos, b, pt_ws_llama3);
        }
        emit(pos, end);
        pos = end;
    }
}

// The GPT-4o family, a std::regex in llama.cpp (case-aware words through lookaheads):
//   [^\r\n\p{L}\p{N}]?((?=[\p{L}])([^a-z]))*((?=[\p{L}])([^A-Z]))+(?:'[sS]|'[tT]|..)?
//   |[^\r\n\p{L}\p{N}]?((?=[\p{L}])([^a-z]))+((?=[\p{L}])([^A-Z]))*(?:'[sS]|'[tT]|..)?
//   |\p{N}{1,3}| ?[^\s\p{L}\p{N}]+[\r\n/]*|\s*[\r\n]+|\s+(?!\S)|\s+
// On the collapsed text a non-ASCII letter is neither a-z nor A-Z, so it is "upper" (U: a letter
// but not a-z) and "lower" (W: a letter but not A-Z) at once. Tekken: no contractions, \p{N}.
// Granite: [\p{L}\p{M}] in the lookaheads (a mark is then U and W too).
// Tiny Aya and Youtu write the classes as [\p{Lu}\p{Lt}\p{Lm}\p{Lo}\p{M}] and [\p{Ll}\p{Lm}\p{Lo}\p{M}],
// which llama.cpp collapses to [\p{L}\p{M}] both: U = W = letters and marks, ASCII case ignored.
template <class F>
inline void pt_gpt4o(pt_op op, const uint32_t* c, size_t a, size_t b, F& emit) {
    const bool cased = op == pt_op::bpe_gpt4o || op == pt_op::bpe_tekken || op == pt_op::bpe_granite;
    const uint32_t lm = op == pt_op::bpe_gpt4o || op == pt_op::bpe_tekken ? ucat_letter : (ucat_letter | ucat_mark);
    const bool contractions = op != pt_op::bpe_tekken;
    const size_t max_digits = op == pt_op::bpe_tekken || op == pt_op::bpe_youtu ? 1 : 3;
    auto is_u = [&](uint32_t cp) { return (unicode_flags(cp) & lm) && !(cased && cp >= 'a' && cp <= 'z'); };
    auto is_w = [&](uint32_t cp) { return (unicode_flags(cp) & lm) && !(cased && cp >= 'A' && cp <= 'Z'); };
    auto tail = [&](size_t e) {  // optional contraction
        const size_t k = contractions ? pt_contraction(c, e, b, true) : 0;
        return k ? k : e;
    };
    // U*W+ from q: U* takes all it can and gives back until a W follows.
    auto alt1 = [&](size_t q) -> size_t {
        const size_t u = pt_run(c, q, b, is_u);
        for (size_t k = u + 1; k-- > q;) {
            if (k < b && is_w(c[k])) return tail(pt_run(c, k, b, is_w));
        }
        return 0;
    };
    auto alt2 = [&](size_t q) -> size_t {  // U+W*
        const size_t u = pt_run(c, q, b, is_u);
        return u > q ? tail(pt_run(c, u, b, is_w)) : 0;
    };
    auto match_at = [&](size_t p) -> size_t {
        const uint32_t cp = c[p];
        const uint32_t f = unicode_flags(cp);
        const bool prefix = !pt_is_crlf(cp) && !(f & (ucat_letter | ucat_number));
        size_t e = 0;
        if (prefix && (e = alt1(p + 1)) != 0) return e;
        if ((e = alt1(p)) != 0) return e;
        if (prefix && (e = alt2(p + 1)) != 0) return e;
        if ((e = alt2(p)) != 0) return e;
        if (f & ucat_number) return pt_digits(c, p, b, max_digits);
        constexpr uint32_t not_other = ucat_space | ucat_letter | ucat_number;
        const uint32_t f2 = cp == ' ' && p + 1 < b ? unicode_flags(c[p + 1]) : f;
        if (!(f2 & not_other)) {  // ' ?[^\s\p{L}\p{N}]+[\r\n/]*'
            e = pt_run(c, p + (cp == ' '), b, [](uint32_t x) { return !(unicode_flags(x) & not_other); });
            return pt_run(c, e, b, [](uint32_t x) { return pt_is_crlf(x) || x == '/'; });
        }
        return pt_space(c, p, b, pt_ws_llama3);
    };
    pt_regex(a, b, match_at, emit);
}

// DeepSeek V3's third regex:
//   [!"#$%&'()*+,\-./:;<=>?@\[\\\]^_`{|}~][A-Za-z]+|[^\r\n\p{L}\p{P}\p{S}]?[\p{L}\p{M}]+
//   | ?[\p{P}\p{S}]+[\r\n]*|\s*[\r\n]+|\s+(?!\S)|\s+
template <class F>
inline void pt_ds3_main(const uint32_t* c, size_t a, size_t b, F& emit) {
    constexpr uint32_t lm = ucat_letter | ucat_mark, ps = ucat_punct | ucat_symbol;
    auto ascii_alpha = [](uint32_t x) { return (x >= 'A' && x <= 'Z') || (x >= 'a' && x <= 'z'); };
    auto match_at = [&](size_t p) -> size_t {
        const uint32_t cp = c[p];
        const uint32_t f = unicode_flags(cp);
        const uint32_t f1 = p + 1 < b ? unicode_flags(c[p + 1]) : 0u;
        if (cp < 0x80 && (f & ps) && p + 1 < b && ascii_alpha(c[p + 1])) return pt_run(c, p + 1, b, ascii_alpha);
        if (!pt_is_crlf(cp) && !(f & (ucat_letter | ps)) && (f1 & lm)) return pt_run_flags(c, p + 1, b, lm);
        if (f & lm) return pt_run_flags(c, p, b, lm);
        size_t e = 0;
        if (cp == ' ' && (f1 & ps)) e = pt_run_flags(c, p + 1, b, ps);
        else if (f & ps) e = pt_run_flags(c, p, b, ps);
        if (e) return pt_run(c, e, b, pt_is_crlf);
        return (f & ucat_space) ? pt_space(c, p, b, pt_ws_llama3) : 0;
    };
    pt_regex(a, b, match_at, emit);
}

// EXAONE-MoE's regex: words may hold single spaces between letters.
//   (?:'[sS]|'[tT]|..)|[^\r\n\p{L}\p{N}]?(?:\p{L}\p{M}*(?: \p{L}\p{M}*)*)+|\p{N}
//   | ?[^\s\p{L}\p{N}]+[\r\n/]?|\s*[\r\n]|\s+(?!\S)|\s+
template <class F>
inline void pt_exaone_moe(const uint32_t* c, size_t a, size_t b, F& emit) {
    auto fl = [&](size_t i) -> uint32_t { return i < b ? unicode_flags(c[i]) : 0u; };
    // (?:\p{L}\p{M}*(?: \p{L}\p{M}*)*)+ at q: a letter, then letters, marks, and spaces that a
    // letter follows. End, or 0.
    auto words = [&](size_t q) -> size_t {
        if (!(fl(q) & ucat_letter)) return 0;
        size_t i = q + 1;
        for (;;) {
            if (fl(i) & (ucat_letter | ucat_mark)) ++i;
            else if (i < b && c[i] == ' ' && (fl(i + 1) & ucat_letter)) i += 2;
            else return i;
        }
    };
    auto match_at = [&](size_t p) -> size_t {
        constexpr uint32_t not_other = ucat_space | ucat_letter | ucat_number;
        const uint32_t cp = c[p];
        const uint32_t f = unicode_flags(cp);
        size_t e = pt_contraction(c, p, b, true);
        if (e) return e;
        if (!pt_is_crlf(cp) && !(f & (ucat_letter | ucat_number)) && (e = words(p + 1)) != 0) return e;
        if ((e = words(p)) != 0) return e;
        if (f & ucat_number) return p + 1;
        const uint32_t f2 = cp == ' ' && p + 1 < b ? unicode_flags(c[p + 1]) : f;
        if (!(f2 & not_other)) {
            e = pt_run(c, p + (cp == ' '), b, [](uint32_t x) { return !(unicode_flags(x) & not_other); });
            return e < b && (pt_is_crlf(c[e]) || c[e] == '/') ? e + 1 : e;
        }
        return pt_space(c, p, b, pt_ws_llama3);
    };
    pt_regex(a, b, match_at, emit);
}

// llama.cpp's digit-grouping fast path (AFMoE's \p{AFMoE_digits}, Tiny Aya's
// \d{1,3}(?=(?:\d{3})*\b)): every run of numbers splits into groups of 3 counted from its end, and
// the text before a run joins the run's first group (the fast path emits nothing for it earlier).
template <class F>
inline void pt_afmoe_digits(const uint32_t* c, size_t a, size_t b, F& emit) {
    size_t prev = a;
    for (size_t pos = a; pos < b;) {
        if (!(unicode_flags(c[pos]) & ucat_number)) { ++pos; continue; }
        const size_t s = pos;
        pos = pt_run_flags(c, pos, b, ucat_number);
        size_t cur = s + (pos - s) % 3;
        if (cur > s) { emit(prev, cur); prev = cur; }
        for (; cur < pos; cur += 3) { emit(prev, cur + 3); prev = cur + 3; }
    }
    if (prev < b) emit(prev, b);
}

// (?=(\d{3})+(?!\d)) (SuperBPE): an empty match wherever the ASCII digits that follow are a
// positive multiple of 3. llama.cpp turns each into an empty word; those give no tokens and are
// left out here, so the piece just splits at those places.
template <class F>
inline void pt_digit_groups(const uint32_t* c, size_t a, size_t b, F& emit) {
    auto digit = [](uint32_t x) { return x >= '0' && x <= '9'; };
    size_t prev = a;
    for (size_t i = a; i < b;) {
        if (!digit(c[i])) { ++i; continue; }
        const size_t e = pt_run(c, i, b, digit);
        for (size_t k = i; k < e; ++k) {
            if ((e - k) % 3 == 0 && k > prev) { emit(prev, k); prev = k; }
        }
        i = e;
    }
    if (prev < b) emit(prev, b);
}

// One regex of a list, over the piece [a, b).
template <class F>
inline void pt_apply(pt_op op, const uint32_t* c, size_t a, size_t b, F& emit) {
    auto is_num = [](uint32_t x) { return (unicode_flags(x) & ucat_number) != 0; };
    auto is_space = [](uint32_t x) { return (unicode_flags(x) & ucat_space) != 0; };
    // A class run: the runs of the class are the matches, the runs of the rest the gaps.
    auto runs = [&](auto pred) {
        pt_regex(a, b, [&](size_t p) { return pred(c[p]) ? pt_run(c, p, b, pred) : size_t(0); }, emit);
    };
    // \s?X+ (one optional leading whitespace, taken only when X follows)
    auto space_then = [&](auto pred) {
        pt_regex(a, b, [&](size_t p) -> size_t {
            if (is_space(c[p]) && p + 1 < b && pred(c[p + 1])) return pt_run(c, p + 1, b, pred);
            return pred(c[p]) ? pt_run(c, p, b, pred) : 0;
        }, emit);
    };
    switch (op) {
        case pt_op::none: emit(a, b); break;
        case pt_op::bpe_gpt2:
        case pt_op::bpe_llama3:
        case pt_op::bpe_qwen2:
        case pt_op::bpe_qwen35:
        case pt_op::bpe_seed_coder:
        case pt_op::bpe_minicpm5:
        case pt_op::bpe_jais2: pt_bpe(op, c, a, b, emit); break;
        case pt_op::bpe_kimi_k2: pt_kimi_k2(c, a, b, emit); break;
        case pt_op::bpe_gpt4o:
        case pt_op::bpe_tekken:
        case pt_op::bpe_granite:
        case pt_op::bpe_aya:
        case pt_op::bpe_youtu: pt_gpt4o(op, c, a, b, emit); break;
        case pt_op::bpe_exaone_moe: pt_exaone_moe(c, a, b, emit); break;
        case pt_op::ds3_main: pt_ds3_main(c, a, b, emit); break;
        case pt_op::newlines: runs([](uint32_t x) { return x == '\n'; }); break;
        case pt_op::punct_run:
        case pt_op::punct_run_bt: {
            const bool bt = op == pt_op::punct_run_bt;
            runs([bt](uint32_t x) {
                return (unicode_flags(x) & ucat_punct) || x == '$' || x == '+' || x == '<' || x == '=' ||
                       x == '>' || x == '^' || x == '~' || x == '|' || (bt && x == '`');
            });
            break;
        }
        case pt_op::num_run: runs(is_num); break;
        case pt_op::num_one: pt_regex(a, b, [&](size_t p) { return is_num(c[p]) ? p + 1 : 0; }, emit); break;
        case pt_op::num_1to3: pt_regex(a, b, [&](size_t p) { return pt_digits(c, p, b, 3); }, emit); break;
        case pt_op::ascii_digit3:
            pt_regex(a, b, [&](size_t p) -> size_t {
                auto d = [](uint32_t x) { return x >= '0' && x <= '9'; };
                return p + 2 < b && d(c[p]) && d(c[p + 1]) && d(c[p + 2]) ? p + 3 : 0;
            }, emit);
            break;
        case pt_op::crlf_one: pt_regex(a, b, [&](size_t p) { return pt_is_crlf(c[p]) ? p + 1 : 0; }, emit); break;
        case pt_op::ds_letters: space_then([](uint32_t x) { return pt_in_literal(pt_ds_letters, x); }); break;
        case pt_op::ds_punct: space_then([](uint32_t x) { return pt_in_literal(pt_ds_punct, x); }); break;
        case pt_op::trailing_space: {
            size_t t = b;
            while (t > a && is_space(c[t - 1])) --t;
            if (t > a) emit(a, t);
            if (t < b) emit(t, b);
            break;
        }
        case pt_op::ds_cjk: runs([](uint32_t x) { return pt_in_literal(pt_ds_cjk, x); }); break;
        case pt_op::ds3_cjk_kana: runs([](uint32_t x) { return pt_in_literal(pt_ds3_cjk_kana, x); }); break;
        case pt_op::space_letters: space_then([](uint32_t x) { return (unicode_flags(x) & ucat_letter) != 0; }); break;
        case pt_op::space_punct: space_then([](uint32_t x) { return (unicode_flags(x) & ucat_punct) != 0; }); break;
        case pt_op::bloom:
            pt_regex(a, b, [&](size_t p) -> size_t {
                auto x = [](uint32_t cp) {
                    return !(unicode_flags(cp) & ucat_space) && cp != '(' && cp != ')' && cp != '|' &&
                           cp != '.' && cp != ',' && cp != '!' && cp != '?' && cp != 0x2026 && cp != 0x3002 &&
                           cp != 0xFF0C && cp != 0x3001 && cp != 0x0964 && cp != 0x06D4 && cp != 0x060C;
                };
                if (c[p] == ' ' && p + 1 < b && x(c[p + 1])) return pt_run(c, p + 1, b, x);
                return x(c[p]) ? pt_run(c, p, b, x) : 0;
            }, emit);
            break;
        case pt_op::non_space_run: runs([](uint32_t x) { return !(unicode_flags(x) & ucat_space); }); break;
        case pt_op::afmoe_digits: pt_afmoe_digits(c, a, b, emit); break;
        case pt_op::afmoe_cjk: runs([](uint32_t x) { return pt_in_literal(pt_afmoe_cjk, x); }); break;
        case pt_op::youtu_cjk:
            pt_regex(a, b, [&](size_t p) -> size_t {
                auto in = [&](const auto& r) {
                    return pt_run(c, p, b, [&](uint32_t x) { return pt_in_literal(r, x); });
                };
                size_t e = in(pt_youtu_hangul);
                if (e == p) e = in(pt_youtu_punct);
                if (e == p) e = in(pt_youtu_bopomofo);
                if (e == p) e = in(pt_youtu_cjk);
                return e;
            }, emit);
            break;
        case pt_op::sentinel:
            pt_regex(a, b, [&](size_t p) -> size_t {
                static const char head[] = "<sentinel:";
                size_t i = p;
                for (const char* h = head; *h; ++h, ++i) {
                    if (i >= b || c[i] != static_cast<uint32_t>(*h)) return 0;
                }
                const size_t e = pt_run(c, i, b, [](uint32_t x) { return x >= '0' && x <= '9'; });
                return e > i && e < b && c[e] == '>' ? e + 1 : 0;
            }, emit);
            break;
        case pt_op::image_tokens:
            pt_regex(a, b, [&](size_t p) -> size_t {
                static const char head[] = "IMGIMG";
                size_t i = p;
                for (const char* h = head; *h; ++h, ++i) {
                    if (i >= b || c[i] != static_cast<uint32_t>(*h)) return 0;
                }
                const size_t e = pt_run(c, i, b, [](uint32_t x) { return x >= 'A' && x <= 'I'; });
                return e > i && e - i <= 4 && e < b && c[e] == 'Z' ? e + 1 : 0;
            }, emit);
            break;
        case pt_op::tab_nl_spaces:
            pt_regex(a, b, [&](size_t p) -> size_t {
                if (c[p] == '\t' || c[p] == '\n') return p + 1;
                const size_t e = pt_run(c, p, p + 4 < b ? p + 4 : b, [](uint32_t x) { return x == ' '; });
                return e - p == 4 ? e : e - p >= 2 ? p + 2 : 0;
            }, emit);
            break;
        case pt_op::punct_one:
            pt_regex(a, b, [&](size_t p) -> size_t {
                const uint32_t x = c[p];
                return (unicode_flags(x) & ucat_punct) || (x < 0x80 && (unicode_flags(x) & ucat_symbol)) ? p + 1 : 0;
            }, emit);
            break;
        case pt_op::digit_groups: pt_digit_groups(c, a, b, emit); break;
    }
}

// The regex list of every kind (llama-vocab.cpp's llm_tokenizer_bpe), and its names.
struct pt_kind_info {
    pretok_kind kind;
    const char* name;   // what pretok_name gives
    bool byte_encode;   // false: words are raw UTF-8 (SentencePiece-style BPE), not GPT-2 bytes
    pt_op ops[6];
};

using po = pt_op;
constexpr pt_kind_info pt_kinds[] = {
    {pretok_kind::default_, "default", true, {po::punct_run, po::bpe_gpt2, po::num_run, po::ascii_digit3}},
    {pretok_kind::llama3, "llama-bpe", true, {po::bpe_llama3}},
    {pretok_kind::deepseek_llm, "deepseek-llm", true,
     {po::crlf_one, po::ds_letters, po::ds_punct, po::trailing_space, po::ds_cjk, po::num_run}},
    {pretok_kind::deepseek_coder, "deepseek-coder", true,
     {po::crlf_one, po::space_letters, po::space_punct, po::ds_cjk, po::num_one}},
    {pretok_kind::deepseek3_llm, "deepseek-v3", true, {po::num_1to3, po::ds3_cjk_kana, po::ds3_main}},
    {pretok_kind::falcon, "falcon", true, {po::punct_run_bt, po::bpe_gpt2, po::ascii_digit3}},
    {pretok_kind::mpt, "mpt", true, {po::bpe_gpt2}},
    {pretok_kind::starcoder, "starcoder", true, {po::num_one, po::bpe_gpt2}},
    {pretok_kind::gpt2, "gpt-2", true, {po::bpe_gpt2}},
    {pretok_kind::refact, "refact", true, {po::num_one, po::bpe_gpt2}},
    {pretok_kind::command_r, "command-r", true, {po::num_one, po::bpe_gpt2}},
    {pretok_kind::stablelm2, "stablelm2", true, {po::bpe_qwen2}},
    {pretok_kind::qwen2, "qwen2", true, {po::bpe_qwen2}},
    {pretok_kind::qwen35, "qwen35", true, {po::bpe_qwen35}},
    {pretok_kind::olmo, "olmo", true, {po::bpe_gpt2}},
    {pretok_kind::dbrx, "dbrx", true, {po::bpe_llama3}},
    {pretok_kind::smaug, "smaug-bpe", true, {po::bpe_llama3}},
    {pretok_kind::poro, "poro-chat", true, {po::bloom}},
    {pretok_kind::chatglm4, "chatglm-bpe", true, {po::bpe_llama3}},
    {pretok_kind::viking, "viking", true, {po::bloom, po::num_one}},
    {pretok_kind::jais, "jais", true, {po::bpe_gpt2}},
    {pretok_kind::tekken, "tekken", true, {po::bpe_tekken}},
    {pretok_kind::smollm, "smollm", true, {po::num_one, po::bpe_gpt2}},
    {pretok_kind::codeshell, "codeshell", true, {po::num_one, po::bpe_gpt2}},
    {pretok_kind::bloom, "bloom", true, {po::bloom}},
    {pretok_kind::gpt3_finnish, "gpt3-finnish", true, {po::bloom}},
    {pretok_kind::exaone, "exaone", true, {po::num_one, po::bpe_gpt2}},
    {pretok_kind::minerva, "minerva-7b", true, {po::num_one, po::bpe_gpt2}},
    {pretok_kind::gpt4o, "gpt-4o", true, {po::bpe_gpt4o}},
    {pretok_kind::trillion, "trillion", true, {po::bpe_gpt2}},
    {pretok_kind::granite_docling, "granite-docling", true, {po::bpe_gpt2}},
    {pretok_kind::bailingmoe, "bailingmoe", true, {po::bpe_qwen2}},
    {pretok_kind::seed_coder, "seed-coder", true, {po::bpe_seed_coder}},
    {pretok_kind::hunyuan, "hunyuan", true, {po::bpe_qwen2}},
    {pretok_kind::hunyuan_dense, "hunyuan-dense", true, {po::num_1to3, po::ds3_cjk_kana, po::ds3_main}},
    {pretok_kind::joyai_llm, "joyai-llm", true, {po::num_1to3, po::ds3_cjk_kana, po::ds3_main}},
    {pretok_kind::kimi_k2, "kimi-k2", true, {po::bpe_kimi_k2}},
    {pretok_kind::grok_2, "grok-2", true, {po::bpe_qwen2}},
    {pretok_kind::minimax_m2, "minimax-m2", true, {po::bpe_gpt4o}},
    {pretok_kind::solar_open, "solar-open", true, {po::bpe_qwen2}},
    {pretok_kind::mellum2, "mellum2", true, {po::num_one, po::bpe_gpt2}},
    {pretok_kind::granite_emb_multi, "granite-embed-multi-97m", true, {po::bpe_granite}},
    {pretok_kind::laguna, "laguna", true, {po::newlines, po::bpe_qwen2}},
    {pretok_kind::gemma4, "gemma4", false, {po::newlines}},
    {pretok_kind::sarvam_moe, "sarvam-moe", false, {po::newlines}},
    {pretok_kind::minicpm5, "minicpm5", true, {po::num_1to3, po::bpe_minicpm5}},
    {pretok_kind::whitespace, "whitespace", false, {po::non_space_run}},
    {pretok_kind::jais2, "jais-2", true, {po::bpe_jais2}},
    {pretok_kind::afmoe, "afmoe", true, {po::afmoe_digits, po::afmoe_cjk, po::ds3_main}},
    {pretok_kind::tiny_aya, "tiny_aya", true, {po::afmoe_digits, po::bpe_aya}},
    {pretok_kind::youtu, "youtu", true, {po::youtu_cjk, po::bpe_youtu}},
    {pretok_kind::exaone_moe, "exaone-moe", true, {po::bpe_exaone_moe}},
    {pretok_kind::chameleon, "chameleon", true,
     {po::sentinel, po::image_tokens, po::tab_nl_spaces, po::num_one, po::punct_one, po::bpe_gpt2}},
    {pretok_kind::superbpe, "superbpe", true, {po::num_run, po::digit_groups}},
};
constexpr size_t pt_kind_count = sizeof(pt_kinds) / sizeof(pt_kinds[0]);
constexpr bool pt_kinds_in_order() {
    for (size_t i = 0; i < pt_kind_count; ++i) {
        if (static_cast<size_t>(pt_kinds[i].kind) != i) return false;
    }
    return true;
}
static_assert(pt_kinds_in_order(), "pt_kinds must list every pretok_kind in enum order");
static_assert(pt_kind_count == pretok_kind_count, "a pretok_kind has no pt_kinds entry");

// Every tokenizer.ggml.pre value llama.cpp accepts for the kinds above.
struct pt_alias {
    const char* name;
    pretok_kind kind;
};
constexpr pt_alias pt_aliases[] = {
    {"default", pretok_kind::default_},
    {"llama3", pretok_kind::llama3}, {"llama-v3", pretok_kind::llama3}, {"llama-bpe", pretok_kind::llama3},
    {"falcon3", pretok_kind::llama3}, {"falcon-h1", pretok_kind::llama3}, {"pixtral", pretok_kind::llama3},
    {"midm-2.0", pretok_kind::llama3}, {"lfm2", pretok_kind::llama3}, {"jina-v5-nano", pretok_kind::llama3},
    {"deepseek-llm", pretok_kind::deepseek_llm},
    {"deepseek-coder", pretok_kind::deepseek_coder},
    {"deepseek-v3", pretok_kind::deepseek3_llm},
    {"falcon", pretok_kind::falcon},
    {"mpt", pretok_kind::mpt},
    {"starcoder", pretok_kind::starcoder},
    {"gpt-2", pretok_kind::gpt2}, {"phi-2", pretok_kind::gpt2}, {"jina-es", pretok_kind::gpt2},
    {"jina-de", pretok_kind::gpt2}, {"gigachat", pretok_kind::gpt2}, {"jina-v2-es", pretok_kind::gpt2},
    {"jina-v2-de", pretok_kind::gpt2}, {"a.x-4.0", pretok_kind::gpt2}, {"mellum", pretok_kind::gpt2},
    {"modern-bert", pretok_kind::gpt2}, {"jina-v1-en", pretok_kind::gpt2}, {"jina-v2-code", pretok_kind::gpt2},
    {"roberta-bpe", pretok_kind::gpt2}, {"exaone4", pretok_kind::gpt2},
    {"refact", pretok_kind::refact},
    {"command-r", pretok_kind::command_r},
    {"qwen2", pretok_kind::qwen2}, {"deepseek-r1-qwen", pretok_kind::qwen2}, {"kormo", pretok_kind::qwen2},
    {"f2llmv2", pretok_kind::qwen2}, {"megrez", pretok_kind::qwen2},
    {"qwen35", pretok_kind::qwen35},
    {"stablelm2", pretok_kind::stablelm2},
    {"olmo", pretok_kind::olmo},
    {"dbrx", pretok_kind::dbrx},
    {"smaug-bpe", pretok_kind::smaug},
    {"poro-chat", pretok_kind::poro},
    {"glm4", pretok_kind::chatglm4}, {"chatglm-bpe", pretok_kind::chatglm4},
    {"viking", pretok_kind::viking},
    {"jais", pretok_kind::jais},
    {"tekken", pretok_kind::tekken},
    {"smollm", pretok_kind::smollm},
    {"codeshell", pretok_kind::codeshell},
    {"bloom", pretok_kind::bloom},
    {"gpt3-finnish", pretok_kind::gpt3_finnish},
    {"exaone", pretok_kind::exaone},
    {"minerva-7b", pretok_kind::minerva},
    {"gpt-4o", pretok_kind::gpt4o}, {"llama4", pretok_kind::gpt4o}, {"kanana2", pretok_kind::gpt4o},
    {"talkie", pretok_kind::gpt4o},
    {"granite-embed-multi-97m", pretok_kind::granite_emb_multi},
    {"trillion", pretok_kind::trillion},
    {"granite-docling", pretok_kind::granite_docling},
    {"bailingmoe", pretok_kind::bailingmoe}, {"bailingmoe2", pretok_kind::bailingmoe},
    {"llada-moe", pretok_kind::bailingmoe},
    {"seed-coder", pretok_kind::seed_coder},
    {"hunyuan", pretok_kind::hunyuan},
    {"hunyuan-dense", pretok_kind::hunyuan_dense},
    {"joyai-llm", pretok_kind::joyai_llm},
    {"kimi-k2", pretok_kind::kimi_k2},
    {"grok-2", pretok_kind::grok_2},
    {"laguna", pretok_kind::laguna},
    {"minimax-m2", pretok_kind::minimax_m2},
    {"solar-open", pretok_kind::solar_open},
    {"mellum2", pretok_kind::mellum2},
    {"gemma4", pretok_kind::gemma4}, {"granite-embed-multi-311m", pretok_kind::gemma4},
    {"sarvam-moe", pretok_kind::sarvam_moe},
    {"minicpm5", pretok_kind::minicpm5},
    {"whitespace", pretok_kind::whitespace},
    {"jais-2", pretok_kind::jais2},
    {"afmoe", pretok_kind::afmoe},
    {"tiny_aya", pretok_kind::tiny_aya}, {"cohere2moe", pretok_kind::tiny_aya},
    {"youtu", pretok_kind::youtu},
    {"exaone-moe", pretok_kind::exaone_moe},
    {"chameleon", pretok_kind::chameleon},
    {"superbpe", pretok_kind::superbpe},
};

inline const pt_kind_info* pt_info(pretok_kind kind) {
    const size_t i = static_cast<size_t>(kind);
    return i < pt_kind_count && pt_kinds[i].kind == kind ? &pt_kinds[i] : nullptr;
}

// Runs ops[0..n) nested: each op splits the pieces the one before it produced.
template <class F>
inline void pt_chain(const pt_op* ops, size_t n, const uint32_t* c, size_t a, size_t b, F& emit) {
    if (n == 0 || ops[0] == pt_op::none) { emit(a, b); return; }
    auto next = [&](size_t s, size_t e) { pt_chain(ops + 1, n - 1, c, s, e, emit); };
    pt_apply(ops[0], c, a, b, next);
}

// ------------------------------------------------------------------------------------------------
// API
// ------------------------------------------------------------------------------------------------

// tokenizer.ggml.pre -> kind, by llama.cpp's names (an empty name is not accepted here: llama.cpp
// takes a missing key as "default", with a warning). False for a name llama.cpp does not know
// or whose regexes this file does not have (listed in the report of check_pretok_peer.py).
inline bool pretok_from_name(std::string_view name, pretok_kind* out) {
    for (const pt_alias& a : pt_aliases) {
        if (name == a.name) { *out = a.kind; return true; }
    }
    return false;
}

// The usual tokenizer.ggml.pre value of a kind ("llama-bpe", "qwen2", "default", ...).
inline const char* pretok_name(pretok_kind kind) {
    const pt_kind_info* k = pt_info(kind);
    return k ? k->name : "unknown";
}

// False where llama.cpp leaves the words as raw UTF-8 instead of mapping bytes to GPT-2's
// printable codepoints (gemma4, sarvam-moe, whitespace).
inline bool pretok_byte_encode(pretok_kind kind) {
    const pt_kind_info* k = pt_info(kind);
    return k ? k->byte_encode : true;
}

// Splits cpts[0, n) into words, calling emit(begin, end) for each, in order (see the top of this
// section). Does not allocate; recursion depth is the length of the regex list (at most 6).
template <class Emit>
inline void pretokenize(pretok_kind kind, const uint32_t* cpts, size_t n, Emit&& emit) {
    if (n == 0) return;
    const pt_kind_info* k = pt_info(kind);
    if (!k) { emit(size_t(0), n); return; }
    size_t n_ops = 0;
    while (n_ops < 6 && k->ops[n_ops] != pt_op::none) ++n_ops;
    pt_chain(k->ops, n_ops, cpts, 0, n, emit);
}

}  // namespace detail

// ================================================================================================
// Tokenizer: SentencePiece (llama), byte-level BPE (gpt2) and WordPiece (bert), exact to llama.cpp
// ================================================================================================
//
// Part of ai.hpp's implementation: pasted inside namespace ai after the GGUF reader, ai_unicode.inl
// and ai_pretok.inl. llama.cpp (src/llama-vocab.cpp, release v0.4.0) is the reference for every
// rule here; where a rule looks arbitrary, it is because llama.cpp does it that way and the token
// ids must come out identical.
//
// Load: the tokenizer.* metadata is copied into memory owned by the state:
//   - one text arena holding every vocabulary entry, followed by the halves of BPE merges that
//     are not vocabulary entries ("symbols" are both; token ids are the first n_tokens of them),
//   - an open-addressing map text -> symbol, and one (left symbol, right symbol) -> merge rank,
//   - llama.cpp's per-token attribute bits, scores, the end-of-generation set,
//   - every token's piece (its bytes as detokenized), computed once,
//   - the special tokens, in llama.cpp's matching order, with a two-byte prefix filter.
// Tokenize: the text is split on special tokens exactly as llama.cpp's tokenizer_st_partition
// does, then every plain fragment goes through the model's algorithm. Working memory comes from
// the allocator in a few growing buffers per call, reused across words.

namespace detail {

// llama.cpp's llama_token_attr bits. The file stores one type per token; llama.cpp turns it into
// these bits and then adds some (control for end-of-turn texts, strip flags for some models).
enum : uint16_t {
    tattr_unknown = 1u << 0,
    tattr_unused = 1u << 1,
    tattr_normal = 1u << 2,
    tattr_control = 1u << 3,
    tattr_user_defined = 1u << 4,
    tattr_byte = 1u << 5,
    tattr_lstrip = 1u << 7,
    tattr_rstrip = 1u << 8,
};

// A fast non-cryptographic hash of a byte string (8 bytes per step).
inline uint64_t tok_hash(const char* p, size_t n) {
    uint64_t h = 0x9e3779b97f4a7c15ull ^ (uint64_t)n;
    while (n >= 8) {
        uint64_t w;
        std::memcpy(&w, p, 8);
        h = (h ^ w) * 0xbf58476d1ce4e5b9ull;
        h ^= h >> 31;
        p += 8;
        n -= 8;
    }
    if (n) {
        uint64_t w = 0;
        std::memcpy(&w, p, n);
        h = (h ^ w) * 0x94d049bb133111ebull;
    }
    h ^= h >> 29;
    h *= 0xbf58476d1ce4e5b9ull;
    h ^= h >> 32;
    return h;
}

// Open-addressing slots of 4 bytes: an index in the low `index_bits`, high bits of the key's hash
// above it (most probes of another key end there, without reading the key), ~0 when empty. The
// index bits can hold every index below `count` and are never all ones, so no slot in use is ~0.
// At most 2/3 full. Why 4 bytes: the tables of a 49k-entry BPE vocabulary went from 3.1 MB (8-
// and 16-byte slots) to 1.6 MB, a third of the memory a 135M model needs besides its weights.
struct tok_slots {
    uint32_t* slots = nullptr;
    uint32_t mask = 0;
    uint32_t index_mask = 0;
    size_t bytes = 0;

    bool init(const allocator& a, size_t count) {
        uint64_t cap = 16;
        while (cap < (uint64_t)count + count / 2 + 1) cap <<= 1;
        if (cap > ((uint64_t)1 << 31) || count >= ((uint64_t)1 << 31)) return false;
        index_mask = 1;
        while (index_mask < count) index_mask = index_mask * 2 + 1;  // index_mask >= count
        bytes = (size_t)cap * sizeof(uint32_t);
        slots = static_cast<uint32_t*>(mem_alloc(a, bytes));
        if (!slots) return false;
        std::memset(slots, 0xff, bytes);
        mask = (uint32_t)(cap - 1);
        return true;
    }
    void release(const allocator& a) { mem_free(a, slots, bytes); slots = nullptr; bytes = 0; mask = 0; }
    uint32_t tag_of(uint64_t h) const { return (uint32_t)(h >> 32) & ~index_mask; }
    // The slot index probed `step`s after the hash's home slot.
    uint32_t at(uint64_t h, uint32_t step) const { return ((uint32_t)h + step) & mask; }
};

// Text -> symbol id over the state's text arena. Inserting an existing text replaces its id:
// llama.cpp's token_to_id keeps the last of duplicate vocabulary entries.
struct tok_text_map {
    tok_slots table;
    const char* text = nullptr;      // the arena
    const uint32_t* off = nullptr;   // symbol i is text[off[i], off[i+1])

    bool init(const allocator& a, size_t n) { return table.init(a, n); }
    void release(const allocator& a) { table.release(a); }
    bool same(int32_t id, const char* p, size_t n) const {
        return off[id + 1] - off[id] == n && (n == 0 || std::memcmp(text + off[id], p, n) == 0);
    }
    int32_t find(const char* p, size_t n) const {
        const uint64_t h = tok_hash(p, n);
        const uint32_t tag = table.tag_of(h);
        for (uint32_t step = 0;; ++step) {
            const uint32_t v = table.slots[table.at(h, step)];
            if (v == ~0u) return -1;
            const int32_t id = (int32_t)(v & table.index_mask);
            if ((v & ~table.index_mask) == tag && same(id, p, n)) return id;
        }
    }
    void put(int32_t id) {  // the text of `id` must already be in the arena
        const char* p = text + off[id];
        const size_t n = off[id + 1] - off[id];
        const uint64_t h = tok_hash(p, n);
        const uint32_t tag = table.tag_of(h);
        for (uint32_t step = 0;; ++step) {
            uint32_t& v = table.slots[table.at(h, step)];
            if (v == ~0u || ((v & ~table.index_mask) == tag && same((int32_t)(v & table.index_mask), p, n))) {
                v = tag | (uint32_t)id;
                return;
            }
        }
    }
};

// (left symbol, right symbol) -> (merge rank, symbol of the merged text or -1). Slots hold
// ranks; a merge's three ids sit together, so a hit reads one more cache line, not two.
struct tok_merge_map {
    struct merge { int32_t left, right, result; };  // result: the merged symbol, -1 if not an entry
    tok_slots table;
    merge* merges = nullptr;  // [n_merges], by rank
    size_t n_merges = 0;

    static uint64_t key_of(int32_t a, int32_t b) { return ((uint64_t)(uint32_t)a << 32) | (uint32_t)b; }
    static uint32_t spread(uint64_t k) { k *= 0x9e3779b97f4a7c15ull; return (uint32_t)(k >> 32) ^ (uint32_t)k; }
    static uint64_t hash(int32_t a, int32_t b) {  // splitmix64's finaliser: every bit of both ids in every bit
        uint64_t k = key_of(a, b);
        k = (k ^ (k >> 30)) * 0xbf58476d1ce4e5b9ull;
        k = (k ^ (k >> 27)) * 0x94d049bb133111ebull;
        return k ^ (k >> 31);
    }
    bool init(const allocator& a, size_t n) {
        if (n > SIZE_MAX / sizeof(merge) || !table.init(a, n)) return false;
        merges = static_cast<merge*>(mem_alloc(a, n * sizeof(merge), alignof(merge)));
        if (!merges) { table.release(a); return false; }
        n_merges = n;
        return true;
    }
    void release(const allocator& a) {
        table.release(a);
        mem_free(a, merges, n_merges * sizeof(merge));
        merges = nullptr;
        n_merges = 0;
    }
    // Keeps the first rank given for a pair (llama.cpp inserts with emplace).
    void put_first(int32_t a, int32_t b, int32_t rank, int32_t merged) {
        const uint64_t h = hash(a, b);
        const uint32_t tag = table.tag_of(h);
        for (uint32_t step = 0;; ++step) {
            uint32_t& v = table.slots[table.at(h, step)];
            if (v == ~0u) {
                v = tag | (uint32_t)rank;
                merges[rank] = merge{a, b, merged};
                return;
            }
            const merge& m = merges[v & table.index_mask];
            if ((v & ~table.index_mask) == tag && m.left == a && m.right == b) return;
        }
    }
    // The rank of merge (a, b), -1 if there is none.
    int32_t find(int32_t a, int32_t b) const {
        if (!table.slots) return -1;
        const uint64_t h = hash(a, b);
        const uint32_t tag = table.tag_of(h);
        for (uint32_t step = 0;; ++step) {
            const uint32_t v = table.slots[table.at(h, step)];
            if (v == ~0u) return -1;
            const uint32_t r = v & table.index_mask;
            if ((v & ~table.index_mask) == tag && merges[r].left == a && merges[r].right == b) return (int32_t)r;
        }
    }
};

// A set of (left, right) pairs of 32-bit keys, 8 bytes a slot, grown by doubling (load at most
// 2/3). Sized by what it holds, not by an upper bound: a 152k-entry SentencePiece vocabulary has
// ~1M characters but far fewer distinct adjacent pairs.
struct tok_pair_set {
    uint64_t* slots = nullptr;  // ~0: empty
    uint32_t mask = 0;
    size_t bytes = 0;
    size_t used = 0;
    bool has_all_ones = false;  // the one pair whose key is the empty marker

    static uint64_t key_of(int32_t a, int32_t b) { return tok_merge_map::key_of(a, b); }
    static uint32_t spread(uint64_t k) { return tok_merge_map::spread(k); }
    void release(const allocator& a) { mem_free(a, slots, bytes); slots = nullptr; bytes = 0; mask = 0; used = 0; has_all_ones = false; }
    bool rehash(const allocator& a, uint64_t cap) {
        if (cap > ((uint64_t)1 << 31)) return false;
        const size_t nb = (size_t)cap * sizeof(uint64_t);
        uint64_t* ns = static_cast<uint64_t*>(mem_alloc(a, nb));
        if (!ns) return false;
        std::memset(ns, 0xff, nb);
        const uint32_t nmask = (uint32_t)(cap - 1);
        for (size_t i = 0; slots && i <= mask; ++i) {
            if (slots[i] == ~(uint64_t)0) continue;
            uint32_t j = spread(slots[i]) & nmask;
            while (ns[j] != ~(uint64_t)0) j = (j + 1) & nmask;
            ns[j] = slots[i];
        }
        mem_free(a, slots, bytes);
        slots = ns;
        bytes = nb;
        mask = nmask;
        return true;
    }
    bool put(const allocator& a, int32_t l, int32_t r) {
        const uint64_t k = key_of(l, r);
        if (k == ~(uint64_t)0) { has_all_ones = true; return true; }
        if (!slots && !rehash(a, 1024)) return false;
        if ((used + 1) * 3 > ((uint64_t)mask + 1) * 2 && !rehash(a, ((uint64_t)mask + 1) * 2)) return false;
        for (uint32_t i = spread(k) & mask;; i = (i + 1) & mask) {
            if (slots[i] == k) return true;
            if (slots[i] == ~(uint64_t)0) { slots[i] = k; ++used; return true; }
        }
    }
    bool contains(int32_t l, int32_t r) const {
        const uint64_t k = key_of(l, r);
        if (k == ~(uint64_t)0) return has_all_ones;
        if (!slots) return false;
        for (uint32_t i = spread(k) & mask;; i = (i + 1) & mask) {
            if (slots[i] == k) return true;
            if (slots[i] == ~(uint64_t)0) return false;
        }
    }
};

// A buffer from the allocator that only grows; contents are not kept when it grows.
struct tok_buf {
    void* p = nullptr;
    size_t bytes = 0;
    template <class T> T* get(const allocator& a, size_t count) {
        if (count > SIZE_MAX / sizeof(T) / 2) return nullptr;
        const size_t need = count * sizeof(T);
        if (need > bytes || !p) {
            size_t nb = bytes ? bytes : 256;
            while (nb < need) nb *= 2;
            mem_free(a, p, bytes);
            p = mem_alloc(a, nb);
            bytes = p ? nb : 0;
        }
        return static_cast<T*>(p);
    }
    // Grows to hold `count` elements keeping the first `used` of them.
    template <class T> T* grow(const allocator& a, size_t count, size_t used) {
        if (count * sizeof(T) <= bytes && p) return static_cast<T*>(p);
        if (count > SIZE_MAX / sizeof(T) / 2) return nullptr;
        size_t nb = bytes ? bytes : 256;
        while (nb < count * sizeof(T)) nb *= 2;
        void* np = mem_alloc(a, nb);
        if (!np) return nullptr;
        if (used) std::memcpy(np, p, used * sizeof(T));
        mem_free(a, p, bytes);
        p = np;
        bytes = nb;
        return static_cast<T*>(p);
    }
    void release(const allocator& a) { mem_free(a, p, bytes); p = nullptr; bytes = 0; }
};

// A binary min-heap over a tok_buf, ordered by `Before` (a strict weak order).
template <class T, class Before> struct tok_heap {
    tok_buf* buf;
    const allocator* a;
    T* v = nullptr;
    size_t n = 0;
    bool failed = false;
    tok_heap(tok_buf* b, const allocator* al) : buf(b), a(al) { v = static_cast<T*>(buf->p); }
    void push(const T& x) {
        if ((n + 1) * sizeof(T) > buf->bytes || !v) {
            T* nv = buf->grow<T>(*a, n + 1 > 64 ? (n + 1) : 64, n);
            if (!nv) { failed = true; return; }
            v = nv;
        }
        size_t i = n++;
        while (i > 0) {
            const size_t parent = (i - 1) / 2;
            if (!Before()(x, v[parent])) break;
            v[i] = v[parent];
            i = parent;
        }
        v[i] = x;
    }
    T pop() {
        const T top = v[0];
        const T last = v[--n];
        size_t i = 0;
        for (;;) {
            size_t c = 2 * i + 1;
            if (c >= n) break;
            if (c + 1 < n && Before()(v[c + 1], v[c])) ++c;
            if (!Before()(v[c], last)) break;
            v[i] = v[c];
            i = c;
        }
        if (n) v[i] = last;
        return top;
    }
};

// Ids written up to the caller's capacity and counted beyond it.
struct tok_out {
    token_id* out;
    size_t cap;
    size_t n = 0;
    void push(token_id id) {
        if (n < cap) out[n] = id;
        ++n;
    }
};

// isspace() of the C locale, as llama.cpp's lstrip/rstrip use it.
inline bool tok_isspace(char c) { return c == ' ' || (c >= '\t' && c <= '\r'); }

// SentencePiece's characters: the length a first byte announces (1 for continuation bytes and
// ASCII, 2 for C0-DF, 3 for E0-EF, 4 for F0-FF), cut at the end of the text, valid or not.
inline size_t tok_char_len(const char* s, size_t left) {
    static const uint8_t len_of[16] = {1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 2, 2, 3, 4};
    const size_t k = len_of[(uint8_t)s[0] >> 4];
    return k < left ? k : left;
}
// Such a character packed into 32 bits (zero padded). Different characters may share a key;
// that only makes the SentencePiece cut (spm_pairs) more cautious, never wrong.
inline int32_t tok_char_key(const char* s, size_t len) {
    uint32_t k = 0;
    for (size_t i = 0; i < len; ++i) k |= (uint32_t)(uint8_t)s[i] << (8 * i);
    return (int32_t)k;
}

// GPT-2's byte-level alphabet: printable Latin-1 bytes stand for themselves, the other 68 bytes
// take the code points 256.. in byte order.
inline uint32_t gpt2_byte_to_cp(uint8_t b) {
    if ((b >= 0x21 && b <= 0x7E) || (b >= 0xA1 && b <= 0xAC) || b >= 0xAE) return b;
    if (b <= 0x20) return 256u + b;
    if (b <= 0xA0) return 256u + 33u + (b - 0x7Fu);
    return 256u + 33u + 34u;  // 0xAD
}
inline int gpt2_cp_to_byte(uint32_t cp) {
    if ((cp >= 0x21 && cp <= 0x7E) || (cp >= 0xA1 && cp <= 0xAC) || (cp >= 0xAE && cp <= 0xFF)) return (int)cp;
    if (cp >= 256 && cp < 256 + 33) return (int)(cp - 256);
    if (cp >= 256 + 33 && cp < 256 + 67) return (int)(cp - 256 - 33 + 0x7F);
    if (cp == 256 + 67) return 0xAD;
    return -1;
}

// strtol(s, 16) over at most two characters, as llama.cpp reads the XX of a "<0xXX>" byte token.
inline uint8_t tok_hex_byte(const char* s, size_t n) {
    size_t i = 0;
    while (i < n && tok_isspace(s[i])) ++i;
    bool neg = false;
    if (i < n && (s[i] == '+' || s[i] == '-')) neg = s[i++] == '-';
    long v = 0;
    for (; i < n; ++i) {
        const char c = s[i];
        const int d = c >= '0' && c <= '9' ? c - '0' : c >= 'a' && c <= 'f' ? c - 'a' + 10 : c >= 'A' && c <= 'F' ? c - 'A' + 10 : -1;
        if (d < 0) break;
        v = v * 16 + d;
    }
    return (uint8_t)(neg ? -v : v);
}

// DeepSeek's special texts use fullwidth bars and U+2581 ("<｜end▁of▁sentence｜>"), spelled in
// escapes here; the literals are split so that a hex escape does not run into the next letter.
constexpr const char* tok_ds_end_of_sentence = "<\xef\xbd\x9c" "end\xe2\x96\x81of\xe2\x96\x81sentence\xef\xbd\x9c>";
constexpr const char* tok_ds_fim_begin = "<\xef\xbd\x9c" "fim\xe2\x96\x81" "begin\xef\xbd\x9c>";
constexpr const char* tok_ds_fim_hole = "<\xef\xbd\x9c" "fim\xe2\x96\x81hole\xef\xbd\x9c>";
constexpr const char* tok_ds_fim_end = "<\xef\xbd\x9c" "fim\xe2\x96\x81" "end\xef\xbd\x9c>";

// What a tokenizer.ggml.pre name changes besides the split rules (llama.cpp's load()).
struct tok_pre_flags {
    const char* name;
    bool clean_spaces;   // detokenize removes " ?", " 's", ... (clean_up_tokenization_spaces)
    bool ignore_merges;  // a word that is a whole vocabulary entry skips the merges
    bool add_bos;
    bool no_bos;         // the model has no BOS token
};
inline const tok_pre_flags* tok_find_pre(std::string_view name) {
    static const tok_pre_flags table[] = {
        {"default", true, false, false, false},
        {"minicpm5", true, true, false, false},
        {"llama3", true, true, true, false}, {"llama-v3", true, true, true, false}, {"llama-bpe", true, true, true, false},
        {"falcon3", true, true, true, false}, {"falcon-h1", true, true, true, false}, {"pixtral", true, true, true, false},
        {"midm-2.0", true, true, true, false}, {"lfm2", true, true, true, false}, {"jina-v5-nano", true, true, true, false},
        {"deepseek-llm", false, false, false, false}, {"deepseek-coder", false, false, false, false},
        {"deepseek-v3", false, false, false, false}, {"youtu", false, true, false, false},
        {"falcon", true, false, false, false}, {"mpt", true, false, false, false}, {"starcoder", true, false, false, false},
        {"gpt-2", true, false, false, false}, {"phi-2", true, false, false, false}, {"jina-es", true, false, false, false},
        {"jina-de", true, false, false, false}, {"gigachat", true, false, false, false}, {"jina-v2-es", true, false, false, false},
        {"jina-v2-de", true, false, false, false}, {"a.x-4.0", true, false, false, false}, {"mellum", true, false, false, false},
        {"modern-bert", true, false, false, false}, {"jais-2", true, false, false, false},
        {"jina-v1-en", true, false, false, false}, {"jina-v2-code", true, false, false, false}, {"roberta-bpe", true, false, false, false},
        {"refact", true, false, false, false}, {"command-r", false, false, false, false},
        {"qwen2", false, false, false, false}, {"deepseek-r1-qwen", false, false, false, false}, {"kormo", false, false, false, false},
        {"f2llmv2", false, false, false, false}, {"qwen35", false, false, false, false},
        {"stablelm2", true, false, false, false}, {"olmo", true, false, false, false}, {"dbrx", true, false, false, false},
        {"smaug-bpe", true, false, false, false}, {"poro-chat", false, false, false, false},
        {"glm4", true, false, false, true}, {"chatglm-bpe", true, false, false, true},
        {"viking", false, false, false, false}, {"jais", true, false, false, false},
        {"tekken", false, true, true, false}, {"smollm", false, false, false, false}, {"codeshell", true, false, false, false},
        {"bloom", true, false, false, false}, {"gpt3-finnish", true, false, false, false}, {"exaone", true, false, false, false},
        {"exaone4", true, false, false, false}, {"exaone-moe", true, false, false, false},
        {"chameleon", false, false, true, false}, {"minerva-7b", true, false, false, false}, {"megrez", true, false, false, false},
        {"gpt-4o", false, false, false, false}, {"llama4", false, false, false, false}, {"kanana2", false, false, false, false},
        {"talkie", false, false, false, false}, {"granite-embed-multi-97m", false, true, false, false},
        {"tiny_aya", false, false, false, false}, {"cohere2moe", false, false, false, false}, {"superbpe", false, false, false, false},
        {"trillion", false, false, false, false}, {"granite-docling", false, false, false, false},
        {"bailingmoe", false, false, false, false}, {"bailingmoe2", false, false, false, false}, {"llada-moe", false, false, false, false},
        {"seed-coder", false, false, false, false}, {"hunyuan", false, false, false, false}, {"hunyuan-dense", false, false, false, false},
        {"joyai-llm", false, false, false, false}, {"kimi-k2", false, false, false, false}, {"grok-2", false, false, false, false},
        {"afmoe", false, false, false, false}, {"laguna", false, false, false, false}, {"minimax-m2", false, false, false, false},
        {"solar-open", false, false, false, false}, {"mellum2", true, false, false, false},
    };
    for (const tok_pre_flags& f : table)
        if (name == f.name) return &f;
    return nullptr;
}

// One entry of the split of a text on special tokens: plain text [begin, end) or a token.
struct tok_fragment {
    uint32_t begin, end;
    int32_t token;  // -1: plain text
    int32_t next;   // next fragment in text order, -1 at the end
};
// A place where special token number `rank` (in matching order) occurs in the text.
struct tok_occurrence {
    uint32_t rank;
    uint32_t pos;
};
// A special token in the two-byte prefix index.
struct tok_special_key {
    uint16_t prefix;  // first two bytes, little-endian
    int32_t rank;
};

}  // namespace detail

// ------------------------------------------------------------------------------------------------
// State
// ------------------------------------------------------------------------------------------------

struct tokenizer::state {
    allocator alloc;
    logger log;
    vocab_kind kind = vocab_kind::none;
    detail::pretok_kind pre{};
    char pre_name[40] = "default";

    int32_t n_tokens = 0;
    int32_t n_syms = 0;               // vocabulary entries, then merge halves that are not entries
    char* text = nullptr;             // every symbol's text
    uint32_t* text_off = nullptr;     // n_syms + 1 offsets
    float* score = nullptr;           // n_tokens; nullptr when the file has no scores (all 0)
    uint16_t* attr = nullptr;         // n_tokens, detail::tattr_* bits
    uint8_t* eog = nullptr;           // bitmap over n_tokens
    detail::tok_text_map map;
    detail::tok_merge_map merges;
    // SentencePiece: the pairs of adjacent characters that occur inside some vocabulary entry
    // (pairs of packed characters, see tok_char_key). No merge ever joins
    // two characters that are not such a pair, so the text is cut there and every piece merged
    // on its own: the same tokens as one pass over the whole text, with small queues.
    detail::tok_pair_set spm_pairs;
    int32_t max_token_len = 0;

    int32_t byte_token[256];          // SPM: <0xXX> or the raw byte; BPE: one-byte vocabulary entries
    int32_t byte_sym[256];            // BPE: symbol of the byte-level character of each byte
    char byte_enc[256][2];            // BPE: that character in UTF-8 (1 or 2 bytes)
    uint8_t byte_enc_len[256];

    // Special tokens (control, user-defined, unknown) in llama.cpp's matching order (longest
    // text first) and an index by their first two bytes; one-byte texts are indexed by that byte.
    int32_t* specials = nullptr;
    int32_t n_specials = 0;
    detail::tok_special_key* sp_keys = nullptr;  // texts of 2+ bytes, sorted by prefix
    int32_t n_sp_keys = 0;
    uint8_t* sp_filter = nullptr;                // 2 x 65536 bits: [0] user-defined only, [1] all
    int32_t sp_single[256][2];                   // one-byte special of that byte: rank, -1 if none

    token_id bos = no_token, eos = no_token, eot = no_token, eom = no_token, unk = no_token;
    token_id sep = no_token, pad = no_token, mask = no_token;
    token_id fim_pre = no_token, fim_suf = no_token, fim_mid = no_token, fim_pad = no_token, fim_rep = no_token, fim_sep = no_token;
    bool add_bos = false, add_eos = false, add_sep = false;
    bool add_space_prefix = false, clean_spaces = false, ignore_merges = false, remove_extra_ws = false;
    bool lowercase = true, strip_accents = true;  // WordPiece normalizer

    // Everything above that points to memory came from here; release() frees it all.
    struct block { void* p; size_t bytes; };
    block blocks[16];
    int n_blocks = 0;

    template <class T> T* take(size_t count) {
        if (n_blocks == (int)(sizeof blocks / sizeof blocks[0]) || count > SIZE_MAX / sizeof(T)) return nullptr;
        const size_t b = count * sizeof(T);
        void* p = detail::mem_alloc(alloc, b);
        if (!p) return nullptr;
        blocks[n_blocks++] = block{p, b};
        return static_cast<T*>(p);
    }
    void release() {
        for (int i = 0; i < n_blocks; ++i) detail::mem_free(alloc, blocks[i].p, blocks[i].bytes);
        n_blocks = 0;
        map.release(alloc);
        merges.release(alloc);
        spm_pairs.release(alloc);
    }

    std::string_view sym_text(int32_t id) const { return std::string_view(text + text_off[id], text_off[id + 1] - text_off[id]); }
    token_id find_token(const char* p, size_t n) const {
        const int32_t id = map.find(p, n);
        return id < n_tokens ? id : no_token;
    }
    token_id find_token(std::string_view s) const { return find_token(s.data(), s.size()); }
    bool is_eog(token_id id) const { return id >= 0 && id < n_tokens && (eog[id >> 3] >> (id & 7) & 1); }
    void set_eog(token_id id, bool on) {
        if (id < 0 || id >= n_tokens) return;
        if (on) eog[id >> 3] = (uint8_t)(eog[id >> 3] | (1u << (id & 7)));
        else eog[id >> 3] = (uint8_t)(eog[id >> 3] & ~(1u << (id & 7)));
    }

    status load(const gguf_file& f, const tokenizer_options* opt);
    status load_texts(const gguf_array& tokens, const gguf_array* merge_list);
    // The bytes token `id` stands for, in order, as calls put(const char* p, size_t n).
    template <class Put> void piece_parts(token_id id, Put&& put) const;
    status build_specials();
    status build_spm_pairs();
    void tokenize_spm(const char* s, size_t n, bool space_prefix, detail::tok_buf* bufs, detail::tok_out& out, bool* oom) const;
    void merge_spm(const char* t, size_t begin, size_t end, detail::tok_buf* bufs, detail::tok_out& out, bool* oom) const;
    void tokenize_bpe(const char* s, size_t n, detail::tok_buf* bufs, detail::tok_out& out, bool* oom) const;
    void tokenize_wpm(const char* s, size_t n, detail::tok_buf* bufs, detail::tok_out& out, bool* oom) const;
};

namespace detail {

inline status tok_array(const gguf_file& f, std::string_view key, gguf_array* out, bool* present) {
    const gguf_kv* kv = f.find(key);
    *present = kv != nullptr;
    if (!kv) return status{};
    if (kv->type != gguf_type::array)
        return fail(result::type_mismatch, kv->offset, "metadata key '%.*s' has type %s, expected an array", sv_len(key), key.data(),
                    gguf_type_name(kv->type));
    *out = kv->arr;
    return status{};
}

// Bools and strings that llama.cpp reads with get_key(..., required = false).
inline status tok_opt_bool(const gguf_file& f, std::string_view key, bool* v) {
    if (!f.find(key)) return status{};
    return f.get(key, v);
}

}  // namespace detail

// Copies the vocabulary texts (and BPE merge halves that are not vocabulary entries) into one
// arena, builds the text map, and for BPE the merge map.
status tokenizer::state::load_texts(const gguf_array& tokens, const gguf_array* merge_list) {
    using namespace detail;
    const uint64_t n = tokens.count;
    // Sizes first: text bytes (an empty entry becomes "[EMPTY_<id>]", as in llama.cpp).
    uint64_t text_bytes = 0;
    {
        uint64_t cur = 0;
        std::string_view s;
        for (uint64_t i = 0; i < n; ++i) {
            if (!tokens.next_string(&cur, &s)) return fail(result::format_error, no_offset, "tokenizer.ggml.tokens: entry %llu is unreadable", (unsigned long long)i);
            text_bytes += s.empty() ? 32 : s.size();
        }
    }
    uint64_t n_merges = 0, merge_bytes = 0, longest_merge = 0;
    if (merge_list) {
        n_merges = merge_list->count;
        uint64_t cur = 0;
        std::string_view s;
        for (uint64_t i = 0; i < n_merges; ++i) {
            if (!merge_list->next_string(&cur, &s)) return fail(result::format_error, no_offset, "tokenizer.ggml.merges: entry %llu is unreadable", (unsigned long long)i);
            merge_bytes += s.size();
            if (s.size() > longest_merge) longest_merge = s.size();
        }
        if (n_merges > (uint64_t)INT32_MAX) return fail(result::unsupported, no_offset, "tokenizer.ggml.merges: more than 2^31 merges");
    }
    if (text_bytes + merge_bytes >= UINT32_MAX || n + 2 * n_merges >= (uint64_t)INT32_MAX)
        return fail(result::unsupported, no_offset, "tokenizer.ggml.tokens: vocabulary texts larger than 4 GiB");

    text = take<char>((size_t)text_bytes + 1);
    text_off = take<uint32_t>((size_t)n + 1);
    if (!text || !text_off || !map.init(alloc, (size_t)n)) return fail(result::out_of_memory, no_offset, "out of memory for the vocabulary");
    map.text = text;
    map.off = text_off;

    uint32_t pos = 0;
    uint64_t cur = 0;
    std::string_view s;
    for (uint64_t i = 0; i < n; ++i) {
        tokens.next_string(&cur, &s);
        text_off[i] = pos;
        if (s.empty()) {
            char tmp[32];
            format(tmp, sizeof tmp, "[EMPTY_%llu]", (unsigned long long)i);
            const size_t k = std::strlen(tmp);
            std::memcpy(text + pos, tmp, k);
            pos += (uint32_t)k;
            detail::log(this->log, log_level::warn, "tokenizer: empty token at index %llu", (unsigned long long)i);
        } else {
            std::memcpy(text + pos, s.data(), s.size());
            pos += (uint32_t)s.size();
        }
        text_off[i + 1] = pos;
        const int32_t len = (int32_t)(pos - text_off[i]);
        if (len > max_token_len) max_token_len = len;
        map.put((int32_t)i);
    }
    n_syms = (int32_t)n;
    if (!merge_list || n_merges == 0) return status{};

    // Every merge becomes a pair of symbol ids. llama.cpp splits "a b" at the first space after
    // the first byte; a merge without one (or with an empty right half) can never apply.
    auto split = [](std::string_view m, std::string_view* a, std::string_view* b) {
        const size_t sp = m.find(' ', 1);
        if (sp == std::string_view::npos) return false;
        *a = m.substr(0, sp);
        *b = m.substr(sp + 1);
        return !b->empty();
    };
    const size_t pair_bytes = (size_t)n_merges * 2 * sizeof(int32_t);
    int32_t* pairs = static_cast<int32_t*>(mem_alloc(alloc, pair_bytes));
    char* joined = static_cast<char*>(mem_alloc(alloc, (size_t)longest_merge + 1));
    status st;
    if (!pairs || !joined) st = fail(result::out_of_memory, no_offset, "out of memory for %llu merges", (unsigned long long)n_merges);
    // Halves that are not vocabulary entries become extra symbols (rare: then the map is rebuilt
    // larger and the missing halves are added).
    size_t missing = 0, missing_bytes = 0;
    cur = 0;
    for (uint64_t i = 0; st && i < n_merges; ++i) {
        merge_list->next_string(&cur, &s);
        std::string_view a, b;
        pairs[2 * i] = pairs[2 * i + 1] = -2;  // -2: no pair
        if (!split(s, &a, &b)) continue;
        pairs[2 * i] = map.find(a.data(), a.size());
        pairs[2 * i + 1] = map.find(b.data(), b.size());
        if (pairs[2 * i] < 0 || pairs[2 * i + 1] < 0) { missing += 2; missing_bytes += s.size(); }
    }
    if (st && missing) {
        // Room for the extra symbols: a larger arena, offsets array and map.
        char* text2 = take<char>((size_t)text_bytes + missing_bytes + 1);
        uint32_t* off2 = take<uint32_t>((size_t)n + missing + 1);
        tok_text_map bigger;
        if (!text2 || !off2 || !bigger.init(alloc, (size_t)n + missing)) {
            st = fail(result::out_of_memory, no_offset, "out of memory");
        } else {
            std::memcpy(text2, text, pos);
            std::memcpy(off2, text_off, ((size_t)n + 1) * sizeof(uint32_t));
            text = text2;
            text_off = off2;
            map.release(alloc);
            map = bigger;
            map.text = text;
            map.off = text_off;
            for (int32_t i = 0; i < n_syms; ++i) map.put(i);
        }
        auto intern = [&](std::string_view t) {
            int32_t id = map.find(t.data(), t.size());
            if (id >= 0) return id;
            id = n_syms++;
            text_off[id] = pos;
            std::memcpy(text + pos, t.data(), t.size());
            pos += (uint32_t)t.size();
            text_off[id + 1] = pos;
            map.put(id);
            return id;
        };
        cur = 0;
        for (uint64_t i = 0; st && i < n_merges; ++i) {
            merge_list->next_string(&cur, &s);
            std::string_view a, b;
            if (pairs[2 * i] != -1 && pairs[2 * i + 1] != -1) continue;
            split(s, &a, &b);
            pairs[2 * i] = intern(a);
            pairs[2 * i + 1] = intern(b);
        }
    }
    if (st && !merges.init(alloc, (size_t)n_merges)) st = fail(result::out_of_memory, no_offset, "out of memory for %llu merges", (unsigned long long)n_merges);
    cur = 0;
    for (uint64_t i = 0; st && i < n_merges; ++i) {
        merge_list->next_string(&cur, &s);
        if (pairs[2 * i] < 0) continue;
        const size_t la = s.find(' ', 1);
        std::memcpy(joined, s.data(), la);
        std::memcpy(joined + la, s.data() + la + 1, s.size() - la - 1);
        merges.put_first(pairs[2 * i], pairs[2 * i + 1], (int32_t)i, map.find(joined, s.size() - 1));
    }
    mem_free(alloc, pairs, pair_bytes);
    mem_free(alloc, joined, (size_t)longest_merge + 1);
    return st;
}

// The bytes token `id` stands for, as llama.cpp's token_to_piece(special = true) computes them.
// Computed per call, not cached: a table of every token's piece was 0.5 MB for a 49k vocabulary,
// and a token's piece takes nanoseconds to make.
template <class Put> void tokenizer::state::piece_parts(token_id id, Put&& put) const {
    using namespace detail;
    const std::string_view t = sym_text(id);
    const uint16_t a = attr[id];
    if (a & (tattr_unknown | tattr_control | tattr_user_defined)) {
        put(t.data(), t.size());
    } else if (a & tattr_normal) {
        if (kind == vocab_kind::bpe) {
            // Byte-level: every code point of the entry maps back to one byte. A code point outside
            // the alphabet gives llama.cpp's "[UNK_BYTE_0x<its UTF-8 in hex><the entry>]".
            size_t i = 0;
            while (i < t.size()) {
                size_t len;
                const uint32_t cp = utf8_decode(t.data() + i, t.size() - i, &len);
                i += len;
                const int b = gpt2_cp_to_byte(cp);
                if (b >= 0) {
                    const char c = (char)b;
                    put(&c, 1);
                    continue;
                }
                char u[4];
                const size_t ul = utf8_encode(cp, u);
                put("[UNK_BYTE_0x", 12);
                for (size_t k = 0; k < ul; ++k) {
                    const char hx[2] = {"0123456789abcdef"[(uint8_t)u[k] >> 4], "0123456789abcdef"[(uint8_t)u[k] & 15]};
                    put(hx, 2);
                }
                put(t.data(), t.size());
                put("]", 1);
            }
        } else {
            // SentencePiece and WordPiece: U+2581 stands for a space.
            size_t i = 0;
            while (i < t.size()) {
                if (i + 3 <= t.size() && (uint8_t)t[i] == 0xE2 && (uint8_t)t[i + 1] == 0x96 && (uint8_t)t[i + 2] == 0x81) {
                    put(" ", 1);
                    i += 3;
                } else {
                    put(t.data() + i, 1);
                    ++i;
                }
            }
        }
    } else if (a & tattr_byte) {
        // "<0xXX>": llama.cpp reads the two characters at offset 3 as hex.
        const char c = (char)tok_hex_byte(t.size() > 3 ? t.data() + 3 : t.data(), t.size() > 3 ? std::min<size_t>(2, t.size() - 3) : 0);
        put(&c, 1);
    }
}

// Special tokens in llama.cpp's matching order, and the prefix index used to find them.
status tokenizer::state::build_specials() {
    using namespace detail;
    int32_t count = 0;
    for (int32_t i = 0; i < n_tokens; ++i)
        if (attr[i] & (tattr_control | tattr_user_defined | tattr_unknown)) ++count;
    specials = take<int32_t>((size_t)count + 1);
    sp_keys = take<tok_special_key>((size_t)count + 1);
    sp_filter = take<uint8_t>(2 * 8192);
    if (!specials || !sp_keys || !sp_filter) return fail(result::out_of_memory, no_offset, "out of memory");
    n_specials = 0;
    for (int32_t i = 0; i < n_tokens; ++i)
        if (attr[i] & (tattr_control | tattr_user_defined | tattr_unknown)) specials[n_specials++] = i;
    // llama.cpp sorts with std::sort by decreasing text length; the same call on the same input
    // gives the same order for equal lengths.
    std::sort(specials, specials + n_specials,
              [&](int32_t a, int32_t b) { return text_off[a + 1] - text_off[a] > text_off[b + 1] - text_off[b]; });
    std::memset(sp_filter, 0, 2 * 8192);
    for (int b = 0; b < 256; ++b) sp_single[b][0] = sp_single[b][1] = -1;
    n_sp_keys = 0;
    for (int32_t r = n_specials - 1; r >= 0; --r) {  // backwards, so the first in order wins a byte
        const std::string_view t = sym_text(specials[r]);
        const bool user = !(attr[specials[r]] & (tattr_control | tattr_unknown));
        if (t.size() == 1) {
            sp_single[(uint8_t)t[0]][1] = r;
            if (user) sp_single[(uint8_t)t[0]][0] = r;
            continue;
        }
        const uint16_t p = (uint16_t)((uint8_t)t[0] | ((uint8_t)t[1] << 8));
        sp_keys[n_sp_keys++] = tok_special_key{p, r};
        sp_filter[8192 + (p >> 3)] = (uint8_t)(sp_filter[8192 + (p >> 3)] | (1u << (p & 7)));
        if (user) sp_filter[p >> 3] = (uint8_t)(sp_filter[p >> 3] | (1u << (p & 7)));
    }
    std::sort(sp_keys, sp_keys + n_sp_keys, [](const tok_special_key& a, const tok_special_key& b) {
        return a.prefix != b.prefix ? a.prefix < b.prefix : a.rank < b.rank;
    });
    return status{};
}

status tokenizer::state::build_spm_pairs() {
    using namespace detail;
    for (int32_t i = 0; i < n_tokens; ++i) {
        const char* p = text + text_off[i];
        const size_t n = text_off[i + 1] - text_off[i];
        int32_t prev = 0;
        for (size_t j = 0; j < n;) {
            const size_t len = tok_char_len(p + j, n - j);
            const int32_t key = tok_char_key(p + j, len);
            if (j && !spm_pairs.put(alloc, prev, key)) return fail(result::out_of_memory, no_offset, "out of memory");
            prev = key;
            j += len;
        }
    }
    return status{};
}

status tokenizer::state::load(const gguf_file& f, const tokenizer_options* opt) {
    using namespace detail;
    if (opt) log = opt->log;

    // --- model and pre-tokenizer
    std::string_view model, pre_sv;
    status st = f.get("tokenizer.ggml.model", &model);
    if (!st) return st;
    if (f.find("tokenizer.ggml.pre")) {
        st = f.get("tokenizer.ggml.pre", &pre_sv);
        if (!st) return st;
    }
    if (model == "no_vocab" || model == "none") {
        kind = vocab_kind::none;
        return status{};
    }
    const tok_pre_flags* pf = nullptr;
    if (model == "llama") {
        kind = vocab_kind::spm;
        bos = 1; eos = 2; unk = 0;
        add_space_prefix = true;
        add_bos = true;
    } else if (model == "bert") {
        kind = vocab_kind::wpm;
        bos = 101; unk = 100; sep = 102; pad = 0; mask = 103;
        add_bos = true;
        add_sep = true;
        clean_spaces = true;
    } else if (model == "gpt2") {
        kind = vocab_kind::bpe;
        bos = 11; eos = 11;
        clean_spaces = true;
        std::string_view use = pre_sv.empty() ? std::string_view("default") : pre_sv;
        if (pre_sv.empty()) detail::log(this->log, log_level::warn, "tokenizer: tokenizer.ggml.pre is missing, using 'default'; generation quality will be degraded");
        pf = tok_find_pre(use);
        if (!pf || !pretok_from_name(use, &pre)) {
            if (!(opt && opt->allow_unknown_pre))
                return fail(result::unsupported, no_offset, "unknown pre-tokenizer tokenizer.ggml.pre = '%.*s'", sv_len(use), use.data());
            detail::log(this->log, log_level::warn, "tokenizer: unknown pre-tokenizer '%.*s', using 'default'", sv_len(use), use.data());
            use = "default";
            pf = tok_find_pre(use);
            if (!pretok_from_name(use, &pre)) return fail(result::unsupported, no_offset, "the default pre-tokenizer is not available");
        }
        if (!pretok_byte_encode(pre))  // gemma4, sarvam-moe, whitespace: BPE on raw UTF-8
            return fail(result::unsupported, no_offset, "tokenizer.ggml.pre = '%.*s': BPE on raw UTF-8 (SentencePiece-style) is not supported",
                        sv_len(use), use.data());
        clean_spaces = pf->clean_spaces;
        ignore_merges = pf->ignore_merges;
        if (pf->add_bos) add_bos = true;
        if (pf->no_bos) bos = no_token;
        if (use == "jina-v1-en" || use == "jina-v2-code" || use == "roberta-bpe") add_sep = true;
        const size_t k = use.size() < sizeof pre_name - 1 ? use.size() : sizeof pre_name - 1;
        std::memcpy(pre_name, use.data(), k);
        pre_name[k] = '\0';
    } else {
        return fail(result::unsupported, no_offset, "tokenizer.ggml.model = '%.*s' is not supported (llama, gpt2 and bert are)", sv_len(model), model.data());
    }
    if (!(st = tok_opt_bool(f, "tokenizer.ggml.add_space_prefix", &add_space_prefix))) return st;
    if (!(st = tok_opt_bool(f, "tokenizer.ggml.remove_extra_whitespaces", &remove_extra_ws))) return st;

    // --- arrays
    gguf_array tokens, scores_arr, types_arr, merges_arr;
    bool has_tokens, has_scores, has_types, has_merges;
    if (!(st = tok_array(f, "tokenizer.ggml.tokens", &tokens, &has_tokens))) return st;
    if (!has_tokens) return fail(result::not_found, no_offset, "metadata key 'tokenizer.ggml.tokens' not found");
    const gguf_kv* tkv = f.find("tokenizer.ggml.tokens");
    if (tokens.type != gguf_type::string)
        return fail(result::type_mismatch, tkv->offset, "tokenizer.ggml.tokens is an array of %s, expected strings", gguf_type_name(tokens.type));
    if (tokens.count == 0 || tokens.count >= (uint64_t)INT32_MAX)
        return fail(result::format_error, tkv->offset, "tokenizer.ggml.tokens has %llu entries", (unsigned long long)tokens.count);
    const uint64_t n = tokens.count;
    if (!(st = tok_array(f, "tokenizer.ggml.scores", &scores_arr, &has_scores))) return st;
    if (has_scores) {
        const gguf_kv* kv = f.find("tokenizer.ggml.scores");
        if (scores_arr.type != gguf_type::f32 && scores_arr.type != gguf_type::i32)
            return fail(result::type_mismatch, kv->offset, "tokenizer.ggml.scores is an array of %s, expected f32 or i32", gguf_type_name(scores_arr.type));
        if (scores_arr.count < n)
            return fail(result::format_error, kv->offset, "tokenizer.ggml.scores has %llu entries for %llu tokens", (unsigned long long)scores_arr.count, (unsigned long long)n);
    }
    if (!(st = tok_array(f, "tokenizer.ggml.token_type", &types_arr, &has_types))) return st;
    if (has_types) {
        const gguf_kv* kv = f.find("tokenizer.ggml.token_type");
        if (types_arr.type != gguf_type::i32)
            return fail(result::type_mismatch, kv->offset, "tokenizer.ggml.token_type is an array of %s, expected i32", gguf_type_name(types_arr.type));
        if (types_arr.count < n)
            return fail(result::format_error, kv->offset, "tokenizer.ggml.token_type has %llu entries for %llu tokens", (unsigned long long)types_arr.count, (unsigned long long)n);
    }
    if (kind == vocab_kind::bpe) {
        if (!(st = tok_array(f, "tokenizer.ggml.merges", &merges_arr, &has_merges))) return st;
        if (!has_merges && std::string_view(pre_name) != "kimi-k2")
            return fail(result::not_found, no_offset, "metadata key 'tokenizer.ggml.merges' not found (a gpt2 tokenizer needs its merges)");
        if (has_merges && merges_arr.type != gguf_type::string)
            return fail(result::type_mismatch, f.find("tokenizer.ggml.merges")->offset, "tokenizer.ggml.merges is an array of %s, expected strings",
                        gguf_type_name(merges_arr.type));
    } else {
        has_merges = false;
    }

    n_tokens = (int32_t)n;
    if (!(st = load_texts(tokens, has_merges ? &merges_arr : nullptr))) return st;
    score = has_scores ? take<float>((size_t)n) : nullptr;  // BPE files have none: all scores 0
    attr = take<uint16_t>((size_t)n);
    eog = take<uint8_t>((size_t)n / 8 + 1);
    if ((has_scores && !score) || !attr || !eog) return fail(result::out_of_memory, no_offset, "out of memory for %llu tokens", (unsigned long long)n);
    std::memset(eog, 0, (size_t)n / 8 + 1);
    for (uint64_t i = 0; i < n; ++i) {
        if (has_scores) {
            double sc = 0;
            scores_arr.get(i, &sc);
            score[i] = (float)sc;
        }
        uint16_t a = tattr_normal;
        if (has_types) {
            int64_t t = 0;
            types_arr.get(i, &t);
            switch (t) {
            case 1: a = tattr_normal; break;
            case 2: a = tattr_unknown; break;
            case 3: a = tattr_control; break;
            case 4: a = tattr_user_defined; break;
            case 5: a = tattr_unused; break;
            case 6: a = tattr_byte; break;
            default: a = 0; break;
            }
        }
        attr[i] = a;
    }

    // --- special ids: defaults outside the vocabulary are dropped, then the file's values apply
    // when they are in range (llama.cpp warns and keeps the default otherwise).
    struct special_key { const char* key; token_id* id; };
    const special_key keys[] = {
        {"tokenizer.ggml.bos_token_id", &bos},         {"tokenizer.ggml.eos_token_id", &eos},
        {"tokenizer.ggml.eot_token_id", &eot},         {"tokenizer.ggml.eom_token_id", &eom},
        {"tokenizer.ggml.unknown_token_id", &unk},     {"tokenizer.ggml.seperator_token_id", &sep},
        {"tokenizer.ggml.padding_token_id", &pad},     {"tokenizer.ggml.mask_token_id", &mask},
        {"tokenizer.ggml.fim_pre_token_id", &fim_pre}, {"tokenizer.ggml.fim_suf_token_id", &fim_suf},
        {"tokenizer.ggml.fim_mid_token_id", &fim_mid}, {"tokenizer.ggml.fim_pad_token_id", &fim_pad},
        {"tokenizer.ggml.fim_rep_token_id", &fim_rep}, {"tokenizer.ggml.fim_sep_token_id", &fim_sep},
        {"tokenizer.ggml.prefix_token_id", &fim_pre},  {"tokenizer.ggml.suffix_token_id", &fim_suf},
        {"tokenizer.ggml.middle_token_id", &fim_mid},
    };
    for (const special_key& k : keys) {
        if (*k.id >= n_tokens) *k.id = no_token;
        const gguf_kv* kv = f.find(k.key);
        if (!kv) continue;
        int64_t v = 0;
        if (!(st = f.get(k.key, &v))) return st;
        if (v < 0 || v >= n_tokens)
            detail::log(this->log, log_level::warn, "tokenizer: bad special token %s = %lld, using the default %d", k.key, (long long)v, (int)*k.id);
        else
            *k.id = (token_id)v;
    }
    if (!(st = tok_opt_bool(f, "tokenizer.ggml.add_bos_token", &add_bos))) return st;
    if (!(st = tok_opt_bool(f, "tokenizer.ggml.add_eos_token", &add_eos))) return st;
    if (!(st = tok_opt_bool(f, "tokenizer.ggml.add_sep_token", &add_sep))) return st;
    if (!(st = tok_opt_bool(f, "tokenizer.ggml.normalizer.lowercase", &lowercase))) return st;
    strip_accents = lowercase;
    if (!(st = tok_opt_bool(f, "tokenizer.ggml.normalizer.strip_accents", &strip_accents))) return st;

    // --- tokens found by their text. llama.cpp walks its hash map and takes the first hit, so
    // with several candidates its pick depends on the hash order; this takes them in the order of
    // its lists, which agrees with it on every vocabulary we test.
    auto force_control = [&](token_id id) {
        if (!(attr[id] & tattr_control)) {
            detail::log(this->log, log_level::warn, "tokenizer: token %d '%.*s' looks like a control token; treating it as one", (int)id,
                sv_len(sym_text(id)), sym_text(id).data());
            attr[id] = (uint16_t)(attr[id] | tattr_control);
        }
    };
    auto detect = [&](token_id* id, std::initializer_list<const char*> texts) {
        if (*id != no_token) return;
        for (const char* t : texts) {
            const token_id found = find_token(t, std::strlen(t));
            if (found == no_token) continue;
            *id = found;
            force_control(found);
            return;
        }
    };
    detect(&eot, {"<|eot_id|>", "<|im_end|>", "<|end|>", "<end_of_turn>", "<|endoftext|>", "<|end_of_text|>", "<EOT>", "_<EOT>",
                  "[EOT]", tok_ds_end_of_sentence, "<end_of_utterance>"});
    detect(&eom, {"<|eom_id|>"});
    detect(&fim_pre, {"<|fim_prefix|>", "<fim-prefix>", "<fim_prefix>", tok_ds_fim_begin, "<PRE>",
                      "\xe2\x96\x81<PRE>", "<|code_prefix|>", "<|prefix|>"});
    detect(&fim_suf, {"<|fim_suffix|>", "<fim-suffix>", "<fim_suffix>", tok_ds_fim_hole, "<SUF>",
                      "\xe2\x96\x81<SUF>", "<|code_suffix|>", "<|suffix|>"});
    detect(&fim_mid, {"<|fim_middle|>", "<fim-middle>", "<fim_middle>", tok_ds_fim_end, "<MID>",
                      "\xe2\x96\x81<MID>", "<|code_middle|>", "<|middle|>"});
    detect(&fim_pad, {"<|fim_pad|>", "<fim-pad>", "<fim_pad>", "<PAD>", "[PAD]"});
    detect(&fim_rep, {"<|fim_repo|>", "<|repo_name|>", "<fim-repo>", "<REPO>", "<reponame>"});
    detect(&fim_sep, {"<|file_sep|>"});

    // Control tokens whose text says "unused" are unused.
    for (int32_t i = 0; i < n_tokens; ++i) {
        if (!(attr[i] & tattr_control) || find_token(sym_text(i)) != i) continue;
        const std::string_view t = sym_text(i);
        if (t.find("unused") != std::string_view::npos) attr[i] = (uint16_t)(attr[i] | tattr_unused);
    }

    // --- end of generation
    set_eog(fim_pad, true);
    set_eog(fim_rep, true);
    set_eog(fim_sep, true);
    const char* const eog_texts[] = {
        "<|eot_id|>", "<|im_end|>", "<|end|>", "<|return|>", "<|call|>", "<|flush|>", "<|calls|>", "<end_of_turn>",
        "<|endoftext|>", "</s>", "<|eom_id|>", "<EOT>", "_<EOT>", "[EOT]", "[EOS]", "<|end_of_text|>", "<end_of_utterance>",
        "<eos>", "<turn|>", "<|tool_response>", tok_ds_end_of_sentence, "[e~[",
    };
    for (const char* t : eog_texts) {
        const token_id id = find_token(t, std::strlen(t));
        if (id == no_token) continue;
        set_eog(id, true);
        force_control(id);
    }
    // gpt-oss: these are always rendered.
    for (const char* t : {"<|channel|>", "<|message|>", "<|start|>", "<|constrain|>"}) {
        const token_id id = find_token(t, std::strlen(t));
        if (id != no_token) attr[id] = tattr_user_defined;
    }
    set_eog(eos, true);
    set_eog(eot, true);
    set_eog(eom, true);
    // o200k_harmony and solar-open: <|end|> is not an end of generation when the model has
    // <|return|> and <|call|> (or <|calls|> and <|flush|>).
    {
        auto eog_text = [&](const char* t) {
            const token_id id = find_token(t, std::strlen(t));
            return id != no_token && is_eog(id) ? id : no_token;
        };
        const token_id end_id = eog_text("<|end|>");
        const bool has_return = eog_text("<|return|>") != no_token;
        const bool has_call = eog_text("<|call|>") != no_token || eog_text("<|calls|>") != no_token;
        const bool has_flush = eog_text("<|flush|>") != no_token;
        if (end_id != no_token && ((has_return && has_call) || (has_call && has_flush))) {
            set_eog(end_id, false);
            attr[end_id] = tattr_user_defined;
        }
        // gemma4 and paddleocr: </s> is not an end of generation next to <|tool_response>.
        const token_id s_id = eog_text("</s>");
        if (s_id != no_token && eog_text("<|tool_response>") != no_token) {
            set_eog(s_id, false);
            attr[s_id] = tattr_normal;
        }
    }

    if (!(st = build_specials())) return st;
    if (kind == vocab_kind::spm && !(st = build_spm_pairs())) return st;

    // --- strip flags llama.cpp sets by model, tokenizer or architecture name
    {
        std::string_view name, arch;
        char lower[256];
        size_t nl = 0;
        if (f.find("general.name") && f.get("general.name", &name)) {
            for (char c : name) if (nl < sizeof lower) lower[nl++] = (c >= 'A' && c <= 'Z') ? (char)(c - 'A' + 'a') : c;
        }
        const std::string_view lname(lower, nl);
        if (f.find("general.architecture") && !f.get("general.architecture", &arch)) arch = std::string_view();
        auto has = [](std::string_view s, std::initializer_list<const char*> subs) {
            for (const char* x : subs)
                if (s.find(x) != std::string_view::npos) return true;
            return false;
        };
        auto set_attr = [&](const char* t, uint16_t bit, bool on) {
            const token_id id = find_token(t, std::strlen(t));
            if (id == no_token) return;
            attr[id] = (uint16_t)(on ? (attr[id] | bit) : (attr[id] & ~bit));
        };
        if (has(pre_sv, {"jina-v2-de", "jina-v2-es", "jina-v2-code"}) || has(arch, {"nomic-bert-moe", "jina-bert-v3"})) {
            set_attr("<mask>", tattr_lstrip, true);
        } else if (has(lname, {"phi-3", "phi3"})) {
            for (int32_t r = 0; r < n_specials; ++r) attr[specials[r]] = (uint16_t)(attr[specials[r]] | tattr_rstrip);
            set_attr("</s>", tattr_rstrip, true);
            for (const char* t : {"<unk>", "<s>", "<|endoftext|>"}) set_attr(t, tattr_rstrip, false);
        } else if (has(lname, {"modern-bert"})) {
            set_attr("[MASK]", tattr_lstrip, true);
        }
    }

    // --- byte tables
    for (int b = 0; b < 256; ++b) {
        byte_token[b] = no_token;
        byte_sym[b] = -1;
        if (kind == vocab_kind::spm) {
            char hex[7] = {'<', '0', 'x', "0123456789ABCDEF"[b >> 4], "0123456789ABCDEF"[b & 15], '>', 0};
            byte_token[b] = find_token(hex, 6);
            if (byte_token[b] == no_token) {
                const char c = (char)b;
                byte_token[b] = find_token(&c, 1);
            }
        } else if (kind == vocab_kind::bpe) {
            const char c = (char)b;
            byte_token[b] = find_token(&c, 1);
            char u[4] = {0, 0, 0, 0};
            const size_t k = utf8_encode(gpt2_byte_to_cp((uint8_t)b), u);
            byte_sym[b] = map.find(u, k);
            byte_enc[b][0] = u[0];
            byte_enc[b][1] = u[1];
            byte_enc_len[b] = (uint8_t)k;
        }
    }
    return status{};
}

// ------------------------------------------------------------------------------------------------
// tokenizer: life cycle and accessors
// ------------------------------------------------------------------------------------------------

tokenizer::~tokenizer() {
    if (!state_) return;
    const allocator a = state_->alloc;
    state_->release();
    state_->~state();
    detail::mem_free(a, state_, sizeof(state));
}
tokenizer::tokenizer(tokenizer&& o) noexcept : state_(o.state_) { o.state_ = nullptr; }
tokenizer& tokenizer::operator=(tokenizer&& o) noexcept {
    if (this != &o) {
        tokenizer dead(static_cast<tokenizer&&>(*this));
        state_ = o.state_;
        o.state_ = nullptr;
    }
    return *this;
}

status tokenizer::load(const gguf_file& file, const tokenizer_options* opt) {
    tokenizer old(static_cast<tokenizer&&>(*this));  // released at return, loaded or not
    if (!file.is_open()) return detail::fail(result::invalid_argument, no_offset, "the GGUF file is not open");
    const allocator a = detail::resolve(opt ? &opt->alloc : nullptr);
    void* mem = detail::mem_alloc(a, sizeof(state), alignof(state));
    if (!mem) return detail::fail(result::out_of_memory, no_offset, "out of memory");
    state* s = new (mem) state();
    s->alloc = a;
    status st = s->load(file, opt);
    if (!st) {
        s->release();
        s->~state();
        detail::mem_free(a, s, sizeof(state));
        return st;
    }
    state_ = s;
    return status{};
}

vocab_kind tokenizer::kind() const { return state_ ? state_->kind : vocab_kind::none; }
const char* tokenizer::pre_name() const { return state_ ? state_->pre_name : "default"; }
int32_t tokenizer::n_tokens() const { return state_ ? state_->n_tokens : 0; }
token_id tokenizer::bos() const { return state_ ? state_->bos : no_token; }
token_id tokenizer::eos() const { return state_ ? state_->eos : no_token; }
token_id tokenizer::eot() const { return state_ ? state_->eot : no_token; }
token_id tokenizer::unk() const { return state_ ? state_->unk : no_token; }
token_id tokenizer::pad() const { return state_ ? state_->pad : no_token; }
bool tokenizer::add_bos() const { return state_ && state_->add_bos; }
bool tokenizer::add_eos() const { return state_ && state_->add_eos; }
bool tokenizer::is_eog(token_id id) const { return state_ && state_->is_eog(id); }

token_kind tokenizer::kind_of(token_id id) const {
    if (!state_ || id < 0 || id >= state_->n_tokens) return token_kind::undefined;
    const uint16_t a = state_->attr[id];
    if (a & detail::tattr_control) return token_kind::control;
    if (a & detail::tattr_user_defined) return token_kind::user_defined;
    if (a & detail::tattr_unknown) return token_kind::unknown;
    if (a & detail::tattr_byte) return token_kind::byte;
    if (a & detail::tattr_unused) return token_kind::unused;
    if (a & detail::tattr_normal) return token_kind::normal;
    return token_kind::undefined;
}

std::string_view tokenizer::text(token_id id) const {
    if (!state_ || id < 0 || id >= state_->n_tokens) return std::string_view();
    return state_->sym_text(id);
}

// ------------------------------------------------------------------------------------------------
// Tokenize
// ------------------------------------------------------------------------------------------------

namespace detail {

// Working buffers of one tokenize call, released at its end.
enum { tb_fragments, tb_occurrences, tb_text, tb_cpts, tb_symbols, tb_heap, tb_offsets, tb_count };

struct tok_symbol {
    uint32_t start;  // byte offset in the working text
    uint32_t n;      // bytes; 0 once merged into the symbol on its left
    int32_t prev, next;
    int32_t id;      // token (SPM) or symbol (BPE) of the text, -1 if none
};

struct tok_spm_bigram {
    float score;
    int32_t left;
    uint32_t size;  // bytes of the pair when it was queued; a different sum means it is stale
    int32_t token;
};
struct tok_spm_before {  // highest score first, then leftmost
    bool operator()(const tok_spm_bigram& a, const tok_spm_bigram& b) const {
        return a.score > b.score || (a.score == b.score && a.left < b.left);
    }
};
struct tok_bpe_bigram {
    int32_t rank;
    int32_t left;
    uint32_t size;
    int32_t result;
};
struct tok_bpe_before {  // lowest rank first, then leftmost
    bool operator()(const tok_bpe_bigram& a, const tok_bpe_bigram& b) const {
        return a.rank < b.rank || (a.rank == b.rank && a.left < b.left);
    }
};

}  // namespace detail

// SentencePiece (llama.cpp's llm_tokenizer_spm): spaces become U+2581, then score-ordered merges
// over the whole fragment, run piece by piece where no merge can cross (merge_spm).
void tokenizer::state::tokenize_spm(const char* s, size_t n, bool space_prefix, detail::tok_buf* bufs, detail::tok_out& out, bool* oom) const {
    using namespace detail;
    // Escape: optional leading space, then every ' ' becomes U+2581.
    char* t = bufs[tb_text].get<char>(alloc, 3 * n + 3);
    if (!t) { *oom = true; return; }
    size_t tn = 0;
    auto put_space = [&]() { t[tn++] = (char)0xE2; t[tn++] = (char)0x96; t[tn++] = (char)0x81; };
    if (space_prefix) put_space();
    for (size_t i = 0; i < n; ++i) {
        if (s[i] == ' ') put_space();
        else t[tn++] = s[i];
    }
    // Cut between characters that no vocabulary entry has side by side (see spm_pairs).
    size_t begin = 0;
    int32_t prev = 0;
    for (size_t i = 0; i < tn && !*oom;) {
        const size_t len = tok_char_len(t + i, tn - i);
        const int32_t key = tok_char_key(t + i, len);
        if (i > begin && !spm_pairs.contains(prev, key)) {
            merge_spm(t, begin, i, bufs, out, oom);
            begin = i;
        }
        prev = key;
        i += len;
    }
    if (begin < tn && !*oom) merge_spm(t, begin, tn, bufs, out, oom);
}

// The merges of one piece t[begin, end) of escaped text: one symbol per character, then the
// adjacent pair whose text is the entry with the highest score (leftmost on ties) merges until
// no pair is an entry. A symbol that is not an entry becomes byte tokens.
void tokenizer::state::merge_spm(const char* t, size_t begin, size_t end, detail::tok_buf* bufs, detail::tok_out& out, bool* oom) const {
    using namespace detail;
    tok_symbol* sym = bufs[tb_symbols].get<tok_symbol>(alloc, end - begin + 1);
    if (!sym) { *oom = true; return; }
    int32_t ns = 0;
    for (size_t i = begin; i < end;) {
        const size_t len = tok_char_len(t + i, end - i);
        sym[ns] = tok_symbol{(uint32_t)i, (uint32_t)len, ns - 1, ns + 1, -1};
        ++ns;
        i += len;
    }
    if (ns == 0) return;
    sym[ns - 1].next = -1;
    tok_heap<tok_spm_bigram, tok_spm_before> heap(&bufs[tb_heap], &alloc);
    auto try_pair = [&](int32_t left, int32_t right) {
        if (left < 0 || right < 0) return;
        const uint32_t size = sym[left].n + sym[right].n;
        const token_id id = find_token(t + sym[left].start, size);
        if (id == no_token) return;
        heap.push(tok_spm_bigram{score ? score[id] : 0.0f, left, size, id});
    };
    for (int32_t i = 1; i < ns; ++i) try_pair(i - 1, i);
    while (heap.n) {
        const tok_spm_bigram b = heap.pop();
        tok_symbol& l = sym[b.left];
        if (l.n == 0 || l.next < 0) continue;
        tok_symbol& r = sym[l.next];
        if (r.n == 0 || l.n + r.n != b.size) continue;
        l.n += r.n;
        l.id = b.token;
        r.n = 0;
        l.next = r.next;
        if (r.next >= 0) sym[r.next].prev = b.left;
        try_pair(l.prev, b.left);
        try_pair(b.left, l.next);
    }
    if (heap.failed) { *oom = true; return; }
    for (int32_t i = 0; i >= 0; i = sym[i].next) {
        token_id id = sym[i].id;
        if (id == no_token) id = find_token(t + sym[i].start, sym[i].n);
        if (id != no_token) {
            out.push(id);
            continue;
        }
        for (uint32_t k = 0; k < sym[i].n; ++k) {
            // llama.cpp throws when a byte has no token at all; the unknown token stands in.
            const token_id bt = byte_token[(uint8_t)t[sym[i].start + k]];
            if (bt != no_token) out.push(bt);
            else if (unk != no_token) out.push(unk);
        }
    }
}

// Byte-level BPE: split into words by the pre-tokenizer, write each word in GPT-2's byte
// alphabet, and merge the adjacent pair with the lowest merge rank until none is left.
void tokenizer::state::tokenize_bpe(const char* s, size_t n, detail::tok_buf* bufs, detail::tok_out& out, bool* oom) const {
    using namespace detail;
    uint32_t* cpts = bufs[tb_cpts].get<uint32_t>(alloc, n + 1);
    if (!cpts) { *oom = true; return; }
    size_t nc = 0;
    for (size_t i = 0; i < n;) {
        size_t len;
        cpts[nc++] = utf8_decode(s + i, n - i, &len);
        i += len;
    }
    pretokenize(pre, cpts, nc, [&](size_t wb, size_t we) {
        if (*oom || we <= wb) return;
        // The word's bytes (its code points re-encoded) in the byte alphabet, one symbol per byte.
        const size_t max_bytes = (we - wb) * 4;
        char* w = bufs[tb_text].get<char>(alloc, max_bytes * 2 + 1);
        tok_symbol* sym = bufs[tb_symbols].get<tok_symbol>(alloc, max_bytes + 1);
        if (!w || !sym) { *oom = true; return; }
        size_t wn = 0;
        int32_t ns = 0;
        for (size_t c = wb; c < we; ++c) {
            char u[4];
            const size_t k = utf8_encode(cpts[c], u);
            for (size_t j = 0; j < k; ++j) {
                const uint8_t b = (uint8_t)u[j];
                sym[ns] = tok_symbol{(uint32_t)wn, byte_enc_len[b], ns - 1, ns + 1, byte_sym[b]};
                ++ns;
                w[wn++] = byte_enc[b][0];
                if (byte_enc_len[b] == 2) w[wn++] = byte_enc[b][1];
            }
        }
        if (ignore_merges) {
            const token_id id = find_token(w, wn);
            if (id != no_token) {
                out.push(id);
                return;
            }
        }
        sym[ns - 1].next = -1;
        tok_heap<tok_bpe_bigram, tok_bpe_before> heap(&bufs[tb_heap], &alloc);
        auto try_pair = [&](int32_t left, int32_t right) {
            if (left < 0 || right < 0 || sym[left].id < 0 || sym[right].id < 0) return;
            const int32_t rank = merges.find(sym[left].id, sym[right].id);
            if (rank < 0) return;
            heap.push(tok_bpe_bigram{rank, left, sym[left].n + sym[right].n, merges.merges[rank].result});
        };
        for (int32_t i = 1; i < ns; ++i) try_pair(i - 1, i);
        while (heap.n) {
            const tok_bpe_bigram b = heap.pop();
            tok_symbol& l = sym[b.left];
            if (l.n == 0 || l.next < 0) continue;
            tok_symbol& r = sym[l.next];
            if (r.n == 0 || l.n + r.n != b.size) continue;
            l.n += r.n;
            l.id = b.result;
            r.n = 0;
            l.next = r.next;
            if (r.next >= 0) sym[r.next].prev = b.left;
            try_pair(l.prev, b.left);
            try_pair(b.left, l.next);
        }
        if (heap.failed) { *oom = true; return; }
        for (int32_t i = 0; i >= 0; i = sym[i].next) {
            if (sym[i].id >= 0 && sym[i].id < n_tokens) {
                out.push(sym[i].id);
                continue;
            }
            // Not a vocabulary entry: llama.cpp looks up each byte of the spelling on its own.
            for (uint32_t k = 0; k < sym[i].n; ++k) {
                const token_id bt = byte_token[(uint8_t)w[sym[i].start + k]];
                if (bt != no_token) out.push(bt);
            }
        }
    });
}

// WordPiece (llama.cpp's llm_tokenizer_wpm): normalize (accents off through the first code
// point of the NFD form, lowercase), split on whitespace and around punctuation and CJK, then
// match each word greedily longest-first with a U+2581 in front; a word with an unmatched rest
// is the unknown token.
void tokenizer::state::tokenize_wpm(const char* s, size_t n, detail::tok_buf* bufs, detail::tok_out& out, bool* oom) const {
    using namespace detail;
    char* w = bufs[tb_text].get<char>(alloc, 4 * n + 8);
    uint32_t* ends = bufs[tb_offsets].get<uint32_t>(alloc, n + 2);  // end of each word in w
    if (!w || !ends) { *oom = true; return; }
    // Words are written back to back into w, each preceded by U+2581.
    size_t wn = 0;
    size_t n_words = 0;
    size_t word_start = 0;  // position of the current word's first byte after its U+2581
    bool in_word = false;
    auto begin_word = [&]() {
        w[wn++] = (char)0xE2; w[wn++] = (char)0x96; w[wn++] = (char)0x81;
        word_start = wn;
        in_word = true;
    };
    auto end_word = [&]() {
        if (in_word && wn > word_start) ends[n_words++] = (uint32_t)wn;
        else if (in_word) wn = word_start - 3;  // nothing was added: drop the U+2581
        in_word = false;
    };
    for (size_t i = 0; i < n;) {
        size_t len;
        uint32_t cp = utf8_decode(s + i, n - i, &len);
        i += len;
        if (strip_accents) {
            uint32_t d[8];
            if (unicode_nfd(cp, d) > 0) cp = d[0];
        }
        const uint32_t fl = unicode_flags(cp);
        if (fl & ucat_space) {
            end_word();
            continue;
        }
        if (cp == 0 || cp == 0xFFFD || (fl & ucat_control)) continue;
        if (strip_accents && (fl & ucat_mark)) continue;
        char u[4];
        const size_t k = utf8_encode(lowercase ? unicode_lower(cp) : cp, u);
        if ((fl & ucat_punct) || (cp < 0x7F && (fl & ucat_symbol)) || unicode_is_cjk_wpm(cp)) {
            end_word();
            begin_word();
            std::memcpy(w + wn, u, k);
            wn += k;
            end_word();
        } else {
            if (!in_word) begin_word();
            std::memcpy(w + wn, u, k);
            wn += k;
        }
    }
    end_word();
    size_t start = 0;
    for (size_t wi = 0; wi < n_words; ++wi) {
        const size_t end = ends[wi];
        const size_t first = out.n;
        const size_t len = end - start;
        bool ok = true;
        for (size_t i = 0; i < len && ok;) {
            ok = false;
            size_t j = std::min(len, i + (size_t)max_token_len + 1);
            for (; j > i; --j) {
                const token_id id = find_token(w + start + i, j - i);
                if (id != no_token) {
                    out.push(id);
                    ok = true;
                    break;
                }
            }
            i = j;
        }
        if (!ok) out.n = first;  // discard the word's pieces
        if (out.n == first) out.push(unk);
        start = end;
    }
}

status tokenizer::tokenize(std::string_view text, token_id* out, size_t cap, size_t* n_out, const tokenize_options* opt) const {
    using namespace detail;
    if (n_out) *n_out = 0;
    if (!state_) return fail(result::invalid_argument, no_offset, "tokenizer is not loaded");
    const state& S = *state_;
    if (S.kind == vocab_kind::none) return fail(result::unsupported, no_offset, "the model has no vocabulary");
    if (cap && !out) return fail(result::invalid_argument, no_offset, "null output buffer");
    if (text.size() >= (size_t)INT32_MAX) return fail(result::invalid_argument, no_offset, "text of %zu bytes is too long", text.size());
    const bool add_special = !(opt && opt->no_special_added);
    const bool parse_special = opt && opt->parse_special;
    const char* s = text.data();
    const uint32_t n = (uint32_t)text.size();

    tok_buf bufs[tb_count];
    bool oom = false;
    tok_out o{out, cap};

    // --- split on special tokens (tokenizer_st_partition). llama.cpp takes the special tokens one
    // at a time, longest first, and splits every plain fragment at each leftmost occurrence. Here
    // all occurrences are found in one pass, then replayed in that order.
    const int mode = parse_special ? 1 : 0;  // without parse_special only user-defined tokens split
    tok_fragment* frag = nullptr;
    int32_t head = -1;
    if (n) {
        size_t n_occ = 0;
        tok_occurrence* occ = nullptr;
        for (int pass = 0; pass < 2; ++pass) {
            size_t k = 0;
            for (uint32_t i = 0; i < n; ++i) {
                const uint8_t c0 = (uint8_t)s[i];
                const int32_t r1 = S.sp_single[c0][mode];
                if (r1 >= 0) {
                    // One-byte texts sort last; r1 is the first with this byte, duplicates follow.
                    for (int32_t r = r1; r < S.n_specials; ++r) {
                        const int32_t id = S.specials[r];
                        if (S.text_off[id + 1] - S.text_off[id] != 1 || (uint8_t)S.text[S.text_off[id]] != c0) continue;
                        if (mode == 0 && (S.attr[id] & (tattr_control | tattr_unknown))) continue;
                        if (pass) occ[k] = tok_occurrence{(uint32_t)r, i};
                        ++k;
                    }
                }
                if (i + 1 >= n) continue;
                const uint16_t p = (uint16_t)(c0 | ((uint8_t)s[i + 1] << 8));
                if (!(S.sp_filter[mode * 8192 + (p >> 3)] >> (p & 7) & 1)) continue;
                const tok_special_key* lo = std::lower_bound(S.sp_keys, S.sp_keys + S.n_sp_keys, p,
                                                             [](const tok_special_key& e, uint16_t v) { return e.prefix < v; });
                for (; lo != S.sp_keys + S.n_sp_keys && lo->prefix == p; ++lo) {
                    const int32_t id = S.specials[lo->rank];
                    if (mode == 0 && (S.attr[id] & (tattr_control | tattr_unknown))) continue;
                    const uint32_t len = S.text_off[id + 1] - S.text_off[id];
                    if (len > n - i || std::memcmp(s + i, S.text + S.text_off[id], len) != 0) continue;
                    if (pass) occ[k] = tok_occurrence{(uint32_t)lo->rank, i};
                    ++k;
                }
            }
            if (pass == 0) {
                n_occ = k;
                frag = bufs[tb_fragments].get<tok_fragment>(S.alloc, 2 * n_occ + 1);
                occ = n_occ ? bufs[tb_occurrences].get<tok_occurrence>(S.alloc, n_occ) : nullptr;
                if (!frag || (n_occ && !occ)) {
                    for (tok_buf& b : bufs) b.release(S.alloc);
                    return fail(result::out_of_memory, no_offset, "out of memory tokenizing %u bytes", n);
                }
            }
        }
        frag[0] = tok_fragment{0, n, -1, -1};
        head = 0;
        int32_t nf = 1;
        if (n_occ) {
            std::sort(occ, occ + n_occ, [](const tok_occurrence& a, const tok_occurrence& b) {
                return a.rank != b.rank ? a.rank < b.rank : a.pos < b.pos;
            });
            for (size_t g = 0; g < n_occ;) {
                const uint32_t rank = occ[g].rank;
                const int32_t id = S.specials[rank];
                const uint32_t len = S.text_off[id + 1] - S.text_off[id];
                const uint16_t at = S.attr[id];
                int32_t cur = head;
                for (; g < n_occ && occ[g].rank == rank; ++g) {
                    const uint32_t p = occ[g].pos;
                    while (cur >= 0 && frag[cur].end <= p) cur = frag[cur].next;
                    if (cur < 0) continue;
                    const tok_fragment fr = frag[cur];
                    if (fr.token >= 0 || p < fr.begin || p + len > fr.end) continue;
                    uint32_t le = p;
                    if (at & tattr_lstrip)
                        while (le > fr.begin && tok_isspace(s[le - 1])) --le;
                    uint32_t rb = p + len;
                    if (at & tattr_rstrip)
                        while (rb < fr.end && tok_isspace(s[rb])) ++rb;
                    int32_t tok_slot = cur;
                    if (le > fr.begin) {
                        frag[cur].end = le;
                        tok_slot = nf++;
                        frag[cur].next = tok_slot;
                    }
                    frag[tok_slot] = tok_fragment{p, p + len, id, fr.next};
                    if (rb < fr.end) {
                        const int32_t right = nf++;
                        frag[right] = tok_fragment{rb, fr.end, -1, fr.next};
                        frag[tok_slot].next = right;
                        cur = right;
                    } else {
                        cur = fr.next;
                    }
                }
            }
        }
    }

    // --- each fragment through the model's algorithm
    switch (S.kind) {
    case vocab_kind::spm: {
        if (add_special && S.add_bos && S.bos != no_token) o.push(S.bos);
        bool prev_special = true;  // a space prefix goes before text at the start or after a special token
        for (int32_t f = head; f >= 0 && !oom; f = frag[f].next) {
            if (frag[f].token >= 0) {
                o.push(frag[f].token);
                prev_special = true;
            } else {
                S.tokenize_spm(s + frag[f].begin, frag[f].end - frag[f].begin, S.add_space_prefix && prev_special, bufs, o, &oom);
                prev_special = false;
            }
        }
        if (add_special && S.add_eos && S.eos != no_token) o.push(S.eos);
        break;
    }
    case vocab_kind::bpe: {
        if (add_special && S.add_bos && S.bos != no_token) o.push(S.bos);
        for (int32_t f = head; f >= 0 && !oom; f = frag[f].next) {
            if (frag[f].token >= 0) o.push(frag[f].token);
            else S.tokenize_bpe(s + frag[f].begin, frag[f].end - frag[f].begin, bufs, o, &oom);
        }
        if (add_special && S.add_eos && S.eos != no_token) o.push(S.eos);
        break;
    }
    case vocab_kind::wpm: {
        // llama.cpp adds BOS (CLS) and SEP around every WordPiece input when asked for specials.
        if (add_special && S.bos != no_token) o.push(S.bos);
        for (int32_t f = head; f >= 0 && !oom; f = frag[f].next) {
            if (frag[f].token >= 0) o.push(frag[f].token);
            else S.tokenize_wpm(s + frag[f].begin, frag[f].end - frag[f].begin, bufs, o, &oom);
        }
        if (add_special && S.sep != no_token) o.push(S.sep);
        break;
    }
    case vocab_kind::none: break;
    }
    for (tok_buf& b : bufs) b.release(S.alloc);
    if (oom) return fail(result::out_of_memory, no_offset, "out of memory tokenizing %u bytes", n);
    if (n_out) *n_out = o.n;
    if (o.n > cap)
        return fail(result::out_of_range, no_offset, "%zu tokens do not fit in a buffer of %zu", o.n, cap);
    return status{};
}

// ------------------------------------------------------------------------------------------------
// Detokenize
// ------------------------------------------------------------------------------------------------

namespace detail {

// llama.cpp's clean-up of tokenization spaces (clean_up_tokenization_spaces), as three passes
// over the whole text: (1) drop a space before ? ! . , ; (2) " ' " becomes "'"; (3) drop a space
// before 's 'm 're 've. Each pass is run here as a small streaming machine that holds back the
// few characters whose fate depends on what follows, so the same code serves whole texts and
// streams. The state fits in 32 bits: p1 (bit 0: a space held), p2 (bits 1-2: 0, " ", " '"),
// p3 (bits 3-4: 0, " ", " '", " 'x"), bit 5: x is 'v' rather than 'r'.
template <class Sink> struct tok_cleaner {
    uint32_t st;
    Sink& sink;

    void pass3(char c) {
        uint32_t p3 = (st >> 3) & 3;
        const char x = (st >> 5 & 1) ? 'v' : 'r';
        for (;;) {
            if (p3 == 0) {
                if (c == ' ') p3 = 1;
                else sink(c);
                break;
            }
            if (p3 == 1) {
                if (c == '\'') p3 = 2;
                else if (c == ' ') sink(' ');
                else { sink(' '); sink(c); p3 = 0; }
                break;
            }
            if (p3 == 2) {
                if (c == 's' || c == 'm') { sink('\''); sink(c); p3 = 0; break; }
                if (c == 'r' || c == 'v') { p3 = 3; st = (st & ~(1u << 5)) | (c == 'v' ? 1u << 5 : 0u); break; }
                sink(' '); sink('\'');
                p3 = 0;
                continue;  // c again from the start
            }
            // p3 == 3: " 'r" or " 'v"
            if (c == 'e') { sink('\''); sink(x); sink('e'); p3 = 0; break; }
            sink(' '); sink('\''); sink(x);
            p3 = 0;
        }
        st = (st & ~(3u << 3)) | (p3 << 3);
    }
    void pass2(char c) {
        uint32_t p2 = (st >> 1) & 3;
        for (;;) {
            if (p2 == 0) {
                if (c == ' ') p2 = 1;
                else pass3(c);
                break;
            }
            if (p2 == 1) {
                if (c == '\'') p2 = 2;
                else if (c == ' ') pass3(' ');
                else { pass3(' '); pass3(c); p2 = 0; }
                break;
            }
            // p2 == 2: " '"
            if (c == ' ') { pass3('\''); p2 = 0; break; }
            pass3(' '); pass3('\'');
            p2 = 0;
        }
        st = (st & ~(3u << 1)) | (p2 << 1);
    }
    void put(char c) {
        if (st & 1) {
            st &= ~1u;
            if (!(c == '?' || c == '!' || c == '.' || c == ',')) pass2(' ');
        }
        if (c == ' ') st |= 1;
        else pass2(c);
    }
    void finish() {
        if (st & 1) { st &= ~1u; pass2(' '); }
        const uint32_t p2 = (st >> 1) & 3;
        st &= ~(3u << 1);
        if (p2 >= 1) pass3(' ');
        if (p2 == 2) pass3('\'');
        const uint32_t p3 = (st >> 3) & 3;
        const char x = (st >> 5 & 1) ? 'v' : 'r';
        st = 0;
        if (p3 >= 1) sink(' ');
        if (p3 >= 2) sink('\'');
        if (p3 == 3) sink(x);
    }
};

// Writes up to cap bytes and counts all.
struct tok_text_out {
    char* out;
    size_t cap;
    size_t n = 0;
    void operator()(char c) {
        if (n < cap) out[n] = c;
        ++n;
    }
};

// Length of the UTF-8 sequence a lead byte starts (0: not a lead byte), and whether b can follow
// the bytes already held (strict UTF-8: no overlong forms, no surrogates, nothing past U+10FFFF).
inline uint32_t tok_utf8_need(uint8_t c) { return c < 0x80 ? 1 : c < 0xC2 ? 0 : c < 0xE0 ? 2 : c < 0xF0 ? 3 : c < 0xF5 ? 4 : 0; }
inline bool tok_utf8_next_ok(const uint8_t* held, uint32_t k, uint8_t b) {
    if ((b & 0xC0) != 0x80) return false;
    if (k == 1) {
        const uint8_t c = held[0];
        if (c == 0xE0 && b < 0xA0) return false;
        if (c == 0xED && b > 0x9F) return false;
        if (c == 0xF0 && b < 0x90) return false;
        if (c == 0xF4 && b > 0x8F) return false;
    }
    return true;
}

}  // namespace detail

size_t tokenizer::piece(token_id id, char* buf, size_t cap, bool special) const {
    if (!state_ || id < 0 || id >= state_->n_tokens) return 0;
    const state& S = *state_;
    if (!special && (S.attr[id] & (detail::tattr_unknown | detail::tattr_control))) return 0;
    size_t n = 0;
    S.piece_parts(id, [&](const char* p, size_t k) {
        if (buf && n < cap) std::memcpy(buf + n, p, std::min(k, cap - n));
        n += k;
    });
    return n;
}

status tokenizer::detokenize(const token_id* ids, size_t n, char* out, size_t cap, size_t* n_out, bool special) const {
    using namespace detail;
    if (n_out) *n_out = 0;
    if (!state_) return fail(result::invalid_argument, no_offset, "tokenizer is not loaded");
    if (n && !ids) return fail(result::invalid_argument, no_offset, "null ids");
    if (cap && !out) return fail(result::invalid_argument, no_offset, "null output buffer");
    const state& S = *state_;
    tok_text_out sink{out, cap};
    tok_cleaner<tok_text_out> clean{0, sink};
    bool remove_space = S.add_space_prefix;  // the first piece loses one leading space
    for (size_t i = 0; i < n; ++i) {
        const token_id id = ids[i];
        if (id < 0 || id >= S.n_tokens) return fail(result::out_of_range, no_offset, "token id %d at position %zu is outside the vocabulary of %d", (int)id, i, (int)S.n_tokens);
        if (special || !(S.attr[id] & (tattr_unknown | tattr_control))) {
            S.piece_parts(id, [&](const char* p, size_t k) {
                for (size_t j = 0; j < k; ++j) {
                    if (remove_space) {
                        remove_space = false;
                        if (p[j] == ' ') continue;
                    }
                    if (S.clean_spaces) clean.put(p[j]);
                    else sink(p[j]);
                }
            });
        }
        remove_space = false;
    }
    if (S.clean_spaces) clean.finish();
    if (n_out) *n_out = sink.n;
    if (sink.n > cap) return fail(result::out_of_range, no_offset, "%zu bytes do not fit in a buffer of %zu", sink.n, cap);
    return status{};
}

// Streaming: the piece goes through the space clean-up (when the model uses it), then through a
// UTF-8 stage that holds the bytes of an unfinished character. A byte that cannot continue (or
// start) a character becomes U+FFFD, once per held sequence or stray byte.
namespace detail {
struct tok_stream_sink {
    uint8_t* held;
    uint32_t* held_len;
    char* out;
    size_t cap;
    size_t n = 0;
    void emit(char c) {
        if (n < cap) out[n] = c;
        ++n;
    }
    void bad() { emit((char)0xEF); emit((char)0xBF); emit((char)0xBD); }
    void operator()(char ch) {
        const uint8_t b = (uint8_t)ch;
        for (;;) {
            if (*held_len == 0) {
                const uint32_t need = tok_utf8_need(b);
                if (need == 1) emit(ch);
                else if (need == 0) bad();
                else held[(*held_len)++] = b;
                return;
            }
            if (tok_utf8_next_ok(held, *held_len, b)) {
                held[(*held_len)++] = b;
                if (*held_len == tok_utf8_need(held[0])) {
                    for (uint32_t k = 0; k < *held_len; ++k) emit((char)held[k]);
                    *held_len = 0;
                }
                return;
            }
            bad();  // the held bytes end here, unfinished; b starts afresh
            *held_len = 0;
        }
    }
};
}  // namespace detail

size_t detokenize_stream::feed(token_id id, char* out, size_t cap) {
    using namespace detail;
    const tokenizer::state* S = tok_ && tok_->state_ ? tok_->state_ : nullptr;
    if (!S || id < 0 || id >= S->n_tokens) return 0;
    const bool has_piece = special_ || !(S->attr[id] & (tattr_unknown | tattr_control));
    // First count on copies of the state; only write and keep the new state when it all fits.
    for (int pass = 0; pass < 2; ++pass) {
        uint8_t held[4];
        std::memcpy(held, pending_, 4);
        uint32_t held_len = pending_len_;
        tok_stream_sink sink{held, &held_len, pass ? out : nullptr, pass ? cap : 0};
        tok_cleaner<tok_stream_sink> clean{clean_, sink};
        bool remove_space = at_start_ && S->add_space_prefix;  // as detokenize, on the first piece
        if (has_piece) {
            S->piece_parts(id, [&](const char* p, size_t k) {
                for (size_t j = 0; j < k; ++j) {
                    if (remove_space) {
                        remove_space = false;
                        if (p[j] == ' ') continue;
                    }
                    if (S->clean_spaces) clean.put(p[j]);
                    else sink(p[j]);
                }
            });
        }
        if (pass == 0) {
            if (sink.n > cap) return sink.n;
            continue;
        }
        std::memcpy(pending_, held, 4);
        pending_len_ = held_len;
        clean_ = clean.st;
        at_start_ = false;
        return sink.n;
    }
    return 0;
}

size_t detokenize_stream::flush(char* out, size_t cap) {
    using namespace detail;
    for (int pass = 0; pass < 2; ++pass) {
        uint8_t held[4];
        std::memcpy(held, pending_, 4);
        uint32_t held_len = pending_len_;
        tok_stream_sink sink{held, &held_len, pass ? out : nullptr, pass ? cap : 0};
        tok_cleaner<tok_stream_sink> clean{clean_, sink};
        clean.finish();
        if (held_len) sink.bad();
        if (pass == 0) {
            if (sink.n > cap) return sink.n;
            continue;
        }
        pending_len_ = 0;
        clean_ = 0;
        return sink.n;
    }
    return 0;
}


// ================================================================================================
// Transformer runtime: model loading, the forward pass, the KV cache, threads, sampling
// ================================================================================================
//
// Part of ai.hpp's implementation: pasted inside namespace ai after the GGUF reader, the
// quantization kernels and the tokenizer. It needs <atomic>, <condition_variable>, <mutex> and
// <thread> among the implementation's includes (or AI_NO_THREADS: then n_threads > 1 runs on the
// calling thread and a warning is logged).
//
// llama.cpp (release v0.4.0: src/models/{llama,qwen2,qwen3}.cpp, src/llama-graph.cpp and ggml's CPU
// ops) is the reference for every formula here; the code is ours. The three architectures share one
// decoder-only block:
//
//   x    = token_embd[id]                                          (embedding lookup)
//   for each layer:
//     h    = RMSNorm(x) * attn_norm                                (RMSNorm: x / sqrt(mean(x^2) + eps))
//     q, k, v = h Wq^T + bq, h Wk^T + bk, h Wv^T + bv              (biases: qwen2, optional elsewhere)
//     q, k = RMSNorm per head * attn_q_norm / attn_k_norm          (qwen3 only)
//     q, k = RoPE(q, pos), RoPE(k, pos)                            (pairs (2i, 2i+1) for llama,
//                                                                   (i, i + d/2) "NeoX" for qwen)
//     K[pos], V[pos] = k, v                                        (KV cache, F16 or F32)
//     a    = softmax(q K^T / sqrt(head_dim), causal) V             (grouped-query: head h reads
//                                                                   KV head h / (n_head / n_head_kv))
//     x    = x + a Wo^T (+ bo)
//     h    = RMSNorm(x) * ffn_norm
//     x    = x + (silu(h Wgate^T) * (h Wup^T)) Wdown^T             (SwiGLU feed-forward)
//   logits = (RMSNorm(x) * output_norm) Wout^T                     (Wout = token_embd when tied)
//
// Numerics: as llama.cpp, each matrix product rounds its input rows once to the weights' "vec_dot"
// activation format (Q8_0 for Q4_0/Q5_0/Q8_0/IQ4_NL, Q8_1 for Q4_1/Q5_1, Q8_K for the K-quants;
// see "Vector kernels") and dots every weight row with it in integers per block (ai::simd::vec_dot_*).
// F32, F16 and BF16 weights are dotted with the float activations themselves (llama.cpp rounds those
// to F16/BF16), and types without a kernel are dequantized a row at a time (ai::ref::to_float). Sums
// of squares and the softmax denominator are taken in double, as ggml does. tests/check_runtime_peer.py
// measures both against the F32 model.
//
// Memory: a model's matrices are views into the mapped (or caller's) file; only the small 1-D
// tensors (norms, biases, RoPE factors) are copied, as float, into one block owned by the model. A
// context allocates everything it will use (KV cache, activations for n_batch tokens, per-thread
// scratch, the logits row) in one block at creation: decode() never allocates. The scratch pages
// are written at creation too, so the first decode does not stop for page faults; the KV cache's
// pages are touched as tokens arrive.
//
// Threads: n_threads > 1 starts n_threads - 1 workers at context creation. Work is split by output
// rows (matrix products) and by attention head; each output element is computed by exactly the
// same operations in the same order whatever the split, so logits are bit-identical for any thread
// count or caller-supplied parallel_for. With a parallel_for, each matrix product is split into
// max(n_threads, 1) * 4 tasks and attention into n_head tasks.

// ------------------------------------------------------------------------------------------------
// Weights, layers, the model's state
// ------------------------------------------------------------------------------------------------

namespace detail {

// A matrix as GGUF stores it: ne = [cols, rows], each row `cols` elements of `type`, rows
// `row_bytes` apart. A matrix product y = x W^T dots every row with the input vector.
struct rt_weight {
    const uint8_t* data = nullptr;
    tensor_type type = tensor_type::f32;
    ref::to_float_fn to_float = nullptr;
    int64_t cols = 0;      // input size  (ne[0])
    int64_t rows = 0;      // output size (ne[1])
    size_t row_bytes = 0;
    bool direct_f32 = false;  // F32 rows, 4-byte aligned: dotted in place, no conversion
    // The vec_dot kernel (ai::simd) and the activation format it multiplies: q8_0 / q8_1 / q8_k
    // (quantized once per matrix product with `quant`), or f32 (the float activations as they are).
    // dot == nullptr: no kernel for this type; rows are dequantized with to_float instead.
    vec_dot_fn dot = nullptr;
    tensor_type act = tensor_type::f32;
    quantize_act_fn quant = nullptr;
    mm_fn mm = nullptr;  // tile kernel for the same pair (many rows x many tokens), if the set has one
    mm_fn mm_dequant = nullptr;  // float inputs, rows dequantized as read (kernel_set::mm_dequant)
    mm_fn mm_q16 = nullptr;      // q16 inputs (kernel_set::mm_q16): the output matrix's, where the set has it
};

// Picks the kernels of a weight from the model's kernel set.
inline void rt_set_kernels(const kernel_set& K, rt_weight* w) {
    if (!w->data) return;
    uint32_t act = (uint32_t)tensor_type::f32;
    w->dot = K.vec_dot((uint32_t)w->type, &act);
    if (w->type == tensor_type::f32 && !w->direct_f32) w->dot = nullptr;  // vec_dot_f32_f32 wants aligned rows
    // BF16 rows track llama.cpp better through the dequantize-then-dot path.
    if (w->type == tensor_type::bf16) w->dot = nullptr;
    w->act = w->dot ? (tensor_type)act : tensor_type::f32;
    w->quant = w->dot ? K.quantize_act(act) : nullptr;
    w->mm = w->dot ? K.mm((uint32_t)w->type) : nullptr;
    w->to_float = K.to_float((uint32_t)w->type);
    w->mm_dequant = K.mm_dequant && !w->direct_f32 ? K.mm_dequant((uint32_t)w->type) : nullptr;
    w->mm_q16 = K.mm_q16 && w->cols % 32 == 0 ? K.mm_q16((uint32_t)w->type) : nullptr;
}

// Index of an activation format's scratch in the context (q8_0, q8_1, q8_k), or -1 for f32.
inline int rt_act_index(tensor_type act) {
    return act == tensor_type::q8_0 ? 0 : act == tensor_type::q8_1 ? 1 : act == tensor_type::q8_k ? 2 : -1;
}

// One decoder block. GGUF shapes are [ne0, ne1] = [inputs, outputs].
struct rt_layer {
    const float* attn_norm = nullptr;   // [n_embd]
    rt_weight wq;                       // [n_embd, n_head*head_dim]
    rt_weight wk;                       // [n_embd, n_head_kv*head_dim]
    rt_weight wv;                       // [n_embd, n_head_kv*head_dim]
    const float* bq = nullptr;          // [n_head*head_dim]     optional (qwen2 has them)
    const float* bk = nullptr;          // [n_head_kv*head_dim]  optional
    const float* bv = nullptr;          // [n_head_kv*head_dim]  optional
    const float* q_norm = nullptr;      // [head_dim]            qwen3 only
    const float* k_norm = nullptr;      // [head_dim]            qwen3 only
    rt_weight wo;                       // [n_head*head_dim, n_embd]
    const float* bo = nullptr;          // [n_embd]              optional
    const float* ffn_norm = nullptr;    // [n_embd]
    rt_weight w_gate;                   // [n_embd, n_ff]
    rt_weight w_up;                     // [n_embd, n_ff]
    rt_weight w_down;                   // [n_ff, n_embd]
    const float* b_gate = nullptr;      // [n_ff]                optional
    const float* b_up = nullptr;        // [n_ff]                optional
    const float* b_down = nullptr;      // [n_embd]              optional
};

}  // namespace detail

struct model::state {
    allocator alloc;
    logger log;
    gguf_file file;          // the weights live in its bytes
    ai::tokenizer tok;
    model_params hp;

    // RoPE beyond model_params: llama.cpp's linear / YaRN scaling and Llama-3 frequency factors.
    float rope_freq_scale = 1.0f;   // 1 / rope.scaling.factor
    float rope_ext_factor = 0.0f;   // YaRN extrapolation mix: 1 with YaRN, else 0
    float rope_mscale = 1.0f;       // multiplies cos and sin (rope.scaling.attn_factor, YaRN)
    float rope_corr[2] = {0, 0};    // YaRN correction dims (first and last ramped pair)
    const float* rope_factors = nullptr;  // [rope_dims/2], rope_freqs.weight (llama only)

    detail::rt_weight tok_embd;            // [n_embd, n_vocab]
    const float* output_norm = nullptr;    // [n_embd]
    detail::rt_weight output;              // [n_embd, n_vocab] (token_embd when tied)
    const float* output_bias = nullptr;    // [n_vocab] optional
    detail::rt_layer* layers = nullptr;    // (n_layer)
    const kernel_set* kernels = nullptr;   // the instruction set the matrix products run on
    size_t layers_bytes = 0;

    float* vecs = nullptr;  // every 1-D tensor above, converted to float
    size_t vecs_bytes = 0;

    void release() {
        detail::mem_free(alloc, layers, layers_bytes);
        detail::mem_free(alloc, vecs, vecs_bytes);
        layers = nullptr;
        vecs = nullptr;
        layers_bytes = vecs_bytes = 0;
    }
};

namespace detail {

inline const char* rt_arch_name(ai::arch a) {
    switch (a) {
    case ai::arch::llama: return "llama";
    case ai::arch::qwen2: return "qwen2";
    case ai::arch::qwen3: return "qwen3";
    }
    return "unknown";
}

// "<arch>.<suffix>" metadata as a non-negative int32. Absent: `def`, or not_found when required.
inline status rt_get_i32(const gguf_file& f, const char* arch, const char* suffix, bool required, int32_t def,
                         int32_t* out) {
    char key[128];
    format(key, sizeof key, "%s.%s", arch, suffix);
    const gguf_kv* kv = f.find(key);
    if (!kv) {
        if (required) return fail(result::not_found, no_offset, "model: metadata key '%s' not found", key);
        *out = def;
        return status{};
    }
    if (kv->type == gguf_type::array)
        return fail(result::unsupported, kv->offset, "model: '%s' is a per-layer array; only one value for all layers is supported", key);
    int64_t v = 0;
    status st = f.get(key, &v);
    if (!st) return st;
    if (v < 0 || v > INT32_MAX)
        return fail(result::format_error, kv->offset, "model: '%s' = %lld is out of range", key, (long long)v);
    *out = (int32_t)v;
    return status{};
}

inline status rt_get_f32(const gguf_file& f, const char* arch, const char* suffix, bool required, float def, float* out) {
    char key[128];
    format(key, sizeof key, "%s.%s", arch, suffix);
    if (!f.find(key)) {
        if (required) return fail(result::not_found, no_offset, "model: metadata key '%s' not found", key);
        *out = def;
        return status{};
    }
    status st = f.get(key, out);
    if (st && !std::isfinite(*out))
        return fail(result::format_error, f.find(key)->offset, "model: '%s' is not a finite number", key);
    return st;
}

// Binds the tensors of a model to its state, checking every shape against the hyper-parameters.
// Runs twice: the first pass only counts the floats the 1-D tensors need (vecs == nullptr), the
// second converts them into the block allocated in between.
struct rt_binder {
    const gguf_file& f;
    float* vecs = nullptr;
    size_t n_floats = 0;  // used so far in this pass
    status err;

    explicit rt_binder(const gguf_file& file) : f(file) {}

    static void dims_text(const int64_t* ne, int nd, char* out, size_t cap) {
        char tmp[96];
        size_t n = 0;
        out[0] = '\0';
        for (int d = 0; d < nd; ++d) {
            format(tmp, sizeof tmp, d ? ", %lld" : "%lld", (long long)ne[d]);
            for (const char* p = tmp; *p && n + 1 < cap; ++p) out[n++] = *p;
        }
        out[n < cap ? n : cap - 1] = '\0';
    }

    // Checks one tensor: present (or optional), resident, a type we can read, and shaped exactly
    // [n0, n1] (n1 = 0: 1-D), trailing dimensions 1 as llama.cpp compares them.
    const tensor_info* find(const char* name, int64_t n0, int64_t n1, const char* meaning, bool required) {
        if (!err.ok()) return nullptr;
        const tensor_info* t = f.find_tensor(name);
        if (!t) {
            if (required) err = fail(result::not_found, no_offset, "model: tensor '%s' is missing", name);
            return nullptr;
        }
        const int64_t want[4] = {n0, n1 ? n1 : 1, 1, 1};
        if (t->ne[0] != want[0] || t->ne[1] != want[1] || t->ne[2] != 1 || t->ne[3] != 1) {
            char got[128], exp[128];
            dims_text(t->ne, t->n_dims, got, sizeof got);
            dims_text(want, n1 ? 2 : 1, exp, sizeof exp);
            err = fail(result::format_error, t->offset, "model: tensor '%s' has shape [%s], expected [%s] (%s)", name, got, exp, meaning);
            return nullptr;
        }
        if (!ref::to_float(t->type)) {
            err = fail(result::unsupported, t->offset, "model: tensor '%s' has type %s, which this build cannot dequantize", name,
                       type_name(t->type));
            return nullptr;
        }
        if (!t->data && t->bytes) {
            err = fail(result::unsupported, t->offset, "model: tensor '%s' is not resident in memory", name);
            return nullptr;
        }
        return t;
    }

    static void make_weight(const tensor_info* t, int64_t first_row, int64_t rows, rt_weight* w) {
        w->data = static_cast<const uint8_t*>(t->data) + (size_t)first_row * t->row_bytes;
        w->type = t->type;
        w->to_float = ref::to_float(t->type);
        w->cols = t->ne[0];
        w->rows = rows;
        w->row_bytes = t->row_bytes;
        w->direct_f32 = t->type == tensor_type::f32 && (reinterpret_cast<uintptr_t>(w->data) % alignof(float)) == 0;
    }

    bool matrix(const char* name, int64_t cols, int64_t rows, const char* meaning, bool required, rt_weight* w) {
        const tensor_info* t = find(name, cols, rows, meaning, required);
        if (t) make_weight(t, 0, rows, w);
        return t != nullptr;
    }

    // A 1-D tensor converted to float into the model's block (or counted, in the first pass).
    bool vector(const char* name, int64_t n, const char* meaning, bool required, const float** out) {
        const tensor_info* t = find(name, n, 0, meaning, required);
        if (!t) return false;
        if (vecs) {
            float* dst = vecs + n_floats;
            t->type == tensor_type::f32 ? (void)std::memcpy(dst, t->data, (size_t)n * sizeof(float))
                                        : ref::to_float(t->type)(t->data, dst, n);
            *out = dst;
        }
        n_floats += (size_t)((n + 15) & ~int64_t(15));  // keep every vector 64-byte aligned
        return true;
    }
    // Rows [first, first + n) of a 1-D tensor already found (a slice of a fused bias).
    void vector_slice(const tensor_info* t, int64_t first, int64_t n, const float** out) {
        if (vecs) {
            float* dst = vecs + n_floats;
            ref::to_float_fn fn = ref::to_float(t->type);
            if (t->type == tensor_type::f32) std::memcpy(dst, static_cast<const uint8_t*>(t->data) + (size_t)first * sizeof(float), (size_t)n * sizeof(float));
            else {  // the slice boundaries are element counts of a plain (block size 1) type here
                size_t eb = 0;
                type_row_bytes(t->type, 1, &eb);
                fn(static_cast<const uint8_t*>(t->data) + (size_t)first * eb, dst, n);
            }
            *out = dst;
        }
        n_floats += (size_t)((n + 15) & ~int64_t(15));
    }
};

// The whole tensor list of one model. Returns false with b.err set on the first problem.
inline bool rt_bind_tensors(rt_binder& b, model::state* s) {
    const model_params& hp = s->hp;
    const int64_t E = hp.n_embd, V = hp.n_vocab, F = hp.n_ff;
    const int64_t QD = (int64_t)hp.n_head * hp.head_dim, KD = (int64_t)hp.n_head_kv * hp.head_dim;
    char name[96];
    const auto nm = [&](int32_t l, const char* suffix) {
        format(name, sizeof name, "blk.%d.%s", l, suffix);
        return name;
    };

    b.matrix("token_embd.weight", E, V, "n_embd, n_vocab", true, &s->tok_embd);
    b.vector("output_norm.weight", E, "n_embd", true, &s->output_norm);
    if (!b.matrix("output.weight", E, V, "n_embd, n_vocab", false, &s->output)) s->output = s->tok_embd;
    b.vector("output.bias", V, "n_vocab", false, &s->output_bias);
    if (hp.arch == ai::arch::llama)
        b.vector("rope_freqs.weight", hp.rope_dims / 2, "rope.dimension_count / 2", false, &s->rope_factors);

    for (int32_t l = 0; l < hp.n_layer && b.err.ok(); ++l) {
        detail::rt_layer& L = s->layers[l];
        b.vector(nm(l, "attn_norm.weight"), E, "n_embd", true, &L.attn_norm);
        // Q, K and V: three matrices, or one fused attn_qkv whose rows are Q's, then K's, then V's.
        const tensor_info* qkv = b.f.find_tensor(nm(l, "attn_qkv.weight"));
        if (qkv) {
            if (const tensor_info* t = b.find(name, E, QD + 2 * KD, "n_embd, (n_head + 2*n_head_kv)*head_dim", true)) {
                rt_binder::make_weight(t, 0, QD, &L.wq);
                rt_binder::make_weight(t, QD, KD, &L.wk);
                rt_binder::make_weight(t, QD + KD, KD, &L.wv);
            }
            const tensor_info* qb = b.find(nm(l, "attn_qkv.bias"), QD + 2 * KD, 0, "(n_head + 2*n_head_kv)*head_dim", false);
            if (qb && type_info(qb->type)->block_elems != 1) {
                b.err = fail(result::unsupported, qb->offset, "model: tensor '%s' has a block type; a fused bias must be F32, F16 or BF16", name);
            } else if (qb) {
                b.vector_slice(qb, 0, QD, &L.bq);
                b.vector_slice(qb, QD, KD, &L.bk);
                b.vector_slice(qb, QD + KD, KD, &L.bv);
            }
        } else {
            b.matrix(nm(l, "attn_q.weight"), E, QD, "n_embd, n_head*head_dim", true, &L.wq);
            b.matrix(nm(l, "attn_k.weight"), E, KD, "n_embd, n_head_kv*head_dim", true, &L.wk);
            b.matrix(nm(l, "attn_v.weight"), E, KD, "n_embd, n_head_kv*head_dim", true, &L.wv);
            b.vector(nm(l, "attn_q.bias"), QD, "n_head*head_dim", false, &L.bq);
            b.vector(nm(l, "attn_k.bias"), KD, "n_head_kv*head_dim", false, &L.bk);
            b.vector(nm(l, "attn_v.bias"), KD, "n_head_kv*head_dim", false, &L.bv);
        }
        if (hp.arch == ai::arch::qwen3) {
            b.vector(nm(l, "attn_q_norm.weight"), hp.head_dim, "head_dim", true, &L.q_norm);
            b.vector(nm(l, "attn_k_norm.weight"), hp.head_dim, "head_dim", true, &L.k_norm);
        }
        b.matrix(nm(l, "attn_output.weight"), QD, E, "n_head*head_dim, n_embd", true, &L.wo);
        b.vector(nm(l, "attn_output.bias"), E, "n_embd", false, &L.bo);
        b.vector(nm(l, "ffn_norm.weight"), E, "n_embd", true, &L.ffn_norm);
        b.matrix(nm(l, "ffn_gate.weight"), E, F, "n_embd, n_ff", true, &L.w_gate);
        b.matrix(nm(l, "ffn_up.weight"), E, F, "n_embd, n_ff", true, &L.w_up);
        b.matrix(nm(l, "ffn_down.weight"), F, E, "n_ff, n_embd", true, &L.w_down);
        b.vector(nm(l, "ffn_gate.bias"), F, "n_ff", false, &L.b_gate);
        b.vector(nm(l, "ffn_up.bias"), F, "n_ff", false, &L.b_up);
        b.vector(nm(l, "ffn_down.bias"), E, "n_embd", false, &L.b_down);
    }
    return b.err.ok();
}

// Hyper-parameters and RoPE settings from the metadata, with llama.cpp's defaults and checks.
inline status rt_read_hparams(model::state* s) {
    const gguf_file& f = s->file;
    model_params& hp = s->hp;
    std::string_view arch_sv;
    status st = f.get("general.architecture", &arch_sv);
    if (!st) return fail(st.code, st.offset, "model: %s", st.message);
    if (arch_sv == "llama") hp.arch = ai::arch::llama;
    else if (arch_sv == "qwen2") hp.arch = ai::arch::qwen2;
    else if (arch_sv == "qwen3") hp.arch = ai::arch::qwen3;
    else
        return fail(result::unsupported, f.find("general.architecture")->offset,
                    "model: architecture '%.*s' is not supported (llama, qwen2 and qwen3 are)", sv_len(arch_sv), arch_sv.data());
    const char* a = rt_arch_name(hp.arch);

    if (!(st = rt_get_i32(f, a, "embedding_length", true, 0, &hp.n_embd))) return st;
    if (!(st = rt_get_i32(f, a, "block_count", true, 0, &hp.n_layer))) return st;
    if (!(st = rt_get_i32(f, a, "feed_forward_length", true, 0, &hp.n_ff))) return st;
    if (!(st = rt_get_i32(f, a, "context_length", true, 0, &hp.n_ctx_train))) return st;
    if (!(st = rt_get_i32(f, a, "attention.head_count", true, 0, &hp.n_head))) return st;
    if (!(st = rt_get_i32(f, a, "attention.head_count_kv", false, hp.n_head, &hp.n_head_kv))) return st;
    if (!(st = rt_get_f32(f, a, "attention.layer_norm_rms_epsilon", true, 0.0f, &hp.rms_eps))) return st;
    if (hp.n_embd <= 0 || hp.n_layer <= 0 || hp.n_ff <= 0 || hp.n_head <= 0 || hp.n_head_kv <= 0)
        return fail(result::format_error, no_offset, "model: embedding_length, block_count, feed_forward_length and the head counts must be positive");
    if (hp.n_layer > 65536 || hp.n_head > 65536) return fail(result::unsupported, no_offset, "model: %d layers / %d heads is beyond this runtime", hp.n_layer, hp.n_head);
    if (hp.n_head % hp.n_head_kv)
        return fail(result::format_error, no_offset, "model: head_count %d is not a multiple of head_count_kv %d", hp.n_head, hp.n_head_kv);
    if (hp.rms_eps < 0) return fail(result::format_error, no_offset, "model: %s.attention.layer_norm_rms_epsilon is negative", a);

    int32_t k_len = 0, v_len = 0;
    const int32_t def_len = hp.n_embd / hp.n_head;
    if (!(st = rt_get_i32(f, a, "attention.key_length", false, def_len, &k_len))) return st;
    if (!(st = rt_get_i32(f, a, "attention.value_length", false, def_len, &v_len))) return st;
    if (k_len != v_len)
        return fail(result::unsupported, no_offset, "model: attention.key_length %d differs from attention.value_length %d", k_len, v_len);
    if (k_len <= 0) return fail(result::format_error, no_offset, "model: head size is 0 (give attention.key_length or a larger embedding_length)");
    hp.head_dim = k_len;
    if (!(st = rt_get_i32(f, a, "rope.dimension_count", false, hp.head_dim, &hp.rope_dims))) return st;
    if (hp.rope_dims % 2 || hp.rope_dims > hp.head_dim)
        return fail(result::format_error, no_offset, "model: rope.dimension_count %d must be even and at most the head size %d", hp.rope_dims, hp.head_dim);
    if (!(st = rt_get_f32(f, a, "rope.freq_base", false, 10000.0f, &hp.rope_base))) return st;
    if (!(hp.rope_base > 0)) return fail(result::format_error, no_offset, "model: rope.freq_base must be positive");
    hp.rope = hp.arch == ai::arch::llama ? rope_style::normal : rope_style::neox;

    // Scaling: rope.scaling.type (default "linear"), .factor (or rope.scale_linear), .attn_factor.
    char type_key[128], key[128];
    format(type_key, sizeof type_key, "%s.rope.scaling.type", a);
    std::string_view scaling = "linear";
    const gguf_kv* type_kv = f.find(type_key);
    if (type_kv && !(st = f.get(type_key, &scaling))) return st;
    float factor = 0;
    format(key, sizeof key, "%s.rope.scaling.factor", a);
    if (!(st = rt_get_f32(f, a, f.find(key) ? "rope.scaling.factor" : "rope.scale_linear", false, 0.0f, &factor))) return st;
    float attn_factor = 1;
    if (!(st = rt_get_f32(f, a, "rope.scaling.attn_factor", false, 1.0f, &attn_factor))) return st;
    int32_t n_ctx_orig = 0;
    if (!(st = rt_get_i32(f, a, "rope.scaling.original_context_length", false, hp.n_ctx_train, &n_ctx_orig))) return st;
    if (factor < 0) return fail(result::format_error, no_offset, "model: rope scaling factor is negative");
    s->rope_freq_scale = factor == 0.0f ? 1.0f : 1.0f / factor;
    s->rope_mscale = attn_factor;
    if (scaling == "none") {
        s->rope_freq_scale = 1.0f;
    } else if (scaling == "yarn") {
        // YaRN with llama.cpp's defaults (ext_factor 1, beta_fast 32, beta_slow 1). Its attention
        // factor 0.1 ln(factor) + 1 is applied once, inside the rotation (as ggml's rope_yarn does).
        s->rope_ext_factor = 1.0f;
        if (n_ctx_orig <= 0) n_ctx_orig = hp.n_ctx_train > 0 ? hp.n_ctx_train : 4096;
        const float pi = 3.14159265358979323846f;
        const auto corr_dim = [&](float n_rot) {
            return (float)hp.rope_dims * std::log((float)n_ctx_orig / (n_rot * 2 * pi)) / (2 * std::log(hp.rope_base));
        };
        const float start = std::floor(corr_dim(32.0f)), end = std::ceil(corr_dim(1.0f));
        s->rope_corr[0] = start > 0 ? start : 0;
        s->rope_corr[1] = end < (float)(hp.rope_dims - 1) ? end : (float)(hp.rope_dims - 1);
    } else if (scaling != "linear") {
        return fail(result::unsupported, type_kv ? type_kv->offset : no_offset,
                    "model: rope.scaling.type '%.*s' is not supported (none, linear and yarn are)", sv_len(scaling), scaling.data());
    }
    return status{};
}

}  // namespace detail

model::~model() {
    if (!state_) return;
    const allocator a = state_->alloc;
    state_->release();
    state_->~state();
    detail::mem_free(a, state_, sizeof(state));
    state_ = nullptr;
}
model::model(model&& o) noexcept : state_(o.state_) { o.state_ = nullptr; }
model& model::operator=(model&& o) noexcept {
    if (this != &o) {
        model dead(static_cast<model&&>(*this));
        state_ = o.state_;
        o.state_ = nullptr;
    }
    return *this;
}

namespace detail {
inline model::state* rt_new_model_state(const model_options* opt) {
    const allocator a = resolve(opt ? &opt->alloc : nullptr);
    void* mem = mem_alloc(a, sizeof(model::state), alignof(model::state));
    if (!mem) return nullptr;
    model::state* s = new (mem) model::state();
    s->alloc = a;
    if (opt) s->log = opt->log;
    return s;
}
inline gguf_options rt_gguf_options(const model::state* s, const model_options* opt) {
    gguf_options g;
    g.alloc = s->alloc;
    g.log = s->log;
    g.no_mmap = opt && opt->no_mmap;
    return g;
}
}  // namespace detail

#ifndef AI_NO_STDIO
status model::load_file(const char* path, const model_options* opt) {
    model old(static_cast<model&&>(*this));
    if (!path) return detail::fail(result::invalid_argument, no_offset, "null path");
    state_ = detail::rt_new_model_state(opt);
    if (!state_) return detail::fail(result::out_of_memory, no_offset, "out of memory");
    const gguf_options g = detail::rt_gguf_options(state_, opt);
    status st = state_->file.open_file(path, &g);
    if (st) st = finish_load(opt);
    if (!st) {
        model dead(static_cast<model&&>(*this));
        return st;
    }
    return st;
}
#endif

status model::load_memory(const void* data, size_t size, const model_options* opt) {
    model old(static_cast<model&&>(*this));
    state_ = detail::rt_new_model_state(opt);
    if (!state_) return detail::fail(result::out_of_memory, no_offset, "out of memory");
    const gguf_options g = detail::rt_gguf_options(state_, opt);
    status st = state_->file.open_memory(data, size, &g);
    if (st) st = finish_load(opt);
    if (!st) {
        model dead(static_cast<model&&>(*this));
        return st;
    }
    return st;
}

status model::finish_load(const model_options* opt) {
    using namespace detail;
    state* s = state_;
    s->kernels = kernel_set_best();
    if (opt && opt->kernels) {
        const kernel_set* k = kernel_set_find(opt->kernels);
        if (!k) return fail(result::unsupported, no_offset, "model: kernel set '%s' is not built in (this build has %s%s%s%s%s)", opt->kernels,
                            kernel_set_at(0)->name, kernel_set_count() > 1 ? ", " : "", kernel_set_count() > 1 ? kernel_set_at(1)->name : "",
                            kernel_set_count() > 2 ? ", " : "", kernel_set_count() > 2 ? kernel_set_at(2)->name : "");
        if (!kernel_set_runs_here(k)) return fail(result::unsupported, no_offset, "model: this CPU cannot run kernel set '%s' (it has: %s)", opt->kernels, cpu_features());
        s->kernels = k;
    }
    status st = rt_read_hparams(s);
    if (!st) return st;
    model_params& hp = s->hp;

    // The vocabulary size is the embedding's row count; the tokenizer must agree with it.
    const tensor_info* emb = s->file.find_tensor("token_embd.weight");
    if (!emb) return fail(result::not_found, no_offset, "model: tensor 'token_embd.weight' is missing");
    if (emb->ne[1] <= 0 || emb->ne[1] > INT32_MAX) return fail(result::format_error, emb->offset, "model: token_embd.weight has %lld rows", (long long)emb->ne[1]);
    hp.n_vocab = (int32_t)emb->ne[1];

    tokenizer_options topt;
    topt.alloc = s->alloc;
    topt.log = s->log;
    st = s->tok.load(s->file, &topt);
    if (!st) return fail(st.code, st.offset, "model: tokenizer: %s", st.message);
    if (s->tok.kind() != vocab_kind::none && s->tok.n_tokens() != hp.n_vocab)
        return fail(result::format_error, emb->offset, "model: the tokenizer has %d tokens but token_embd.weight has %d rows",
                    s->tok.n_tokens(), hp.n_vocab);

    s->layers_bytes = (size_t)hp.n_layer * sizeof(rt_layer);
    s->layers = static_cast<rt_layer*>(mem_alloc(s->alloc, s->layers_bytes, alignof(rt_layer)));
    if (!s->layers) return fail(result::out_of_memory, no_offset, "out of memory for %d layers", hp.n_layer);
    for (int32_t l = 0; l < hp.n_layer; ++l) new (&s->layers[l]) rt_layer();

    rt_binder count(s->file);  // pass 1: check everything, count the floats of the vectors
    if (!rt_bind_tensors(count, s)) return count.err;
    uint64_t vb = 0;
    if (!mul_ok(count.n_floats, sizeof(float), &vb) || vb > SIZE_MAX) return fail(result::out_of_memory, no_offset, "model: vectors too large");
    s->vecs_bytes = (size_t)vb;
    s->vecs = static_cast<float*>(mem_alloc(s->alloc, s->vecs_bytes));
    if (!s->vecs) return fail(result::out_of_memory, no_offset, "out of memory for %zu bytes of norms and biases", s->vecs_bytes);
    rt_binder fill(s->file);  // pass 2: the same walk, converting into the block
    fill.vecs = s->vecs;
    if (!rt_bind_tensors(fill, s)) return fill.err;
    hp.tied_output = s->file.find_tensor("output.weight") == nullptr;
    for (int32_t l = 0; l < hp.n_layer; ++l) {
        rt_layer& L = s->layers[l];
        for (rt_weight* w : {&L.wq, &L.wk, &L.wv, &L.wo, &L.w_gate, &L.w_up, &L.w_down}) rt_set_kernels(*s->kernels, w);
    }
    rt_set_kernels(*s->kernels, &s->output);
    rt_set_kernels(*s->kernels, &s->tok_embd);

    detail::log(s->log, log_level::info, "model: %s, %d layers, n_embd %d, %d heads (%d KV) of %d, n_ff %d, vocab %d, context %d%s",
                rt_arch_name(hp.arch), hp.n_layer, hp.n_embd, hp.n_head, hp.n_head_kv, hp.head_dim, hp.n_ff, hp.n_vocab,
                hp.n_ctx_train, hp.tied_output ? ", tied output" : "");
    return status{};
}

const model_params& model::params() const {
    static const model_params none;
    return state_ ? state_->hp : none;
}
const ai::tokenizer& model::tokenizer() const {
    static const ai::tokenizer none;
    return state_ ? state_->tok : none;
}
const gguf_file& model::file() const {
    static const gguf_file none;
    return state_ ? state_->file : none;
}
const kernel_set* model::kernels() const { return state_ ? state_->kernels : nullptr; }

// ------------------------------------------------------------------------------------------------
// Worker threads
// ------------------------------------------------------------------------------------------------

namespace detail {

// task(arg, index, slot): `slot` names the scratch the task may use; no two tasks running at the
// same time share a slot.
using rt_task_fn = void (*)(void* arg, int32_t index, int32_t slot);

#ifndef AI_NO_THREADS
// One step of a polling loop: tells the core (and a hyperthread sibling) that we are waiting.
inline void rt_cpu_relax() {
#if defined(_MSC_VER) && (defined(_M_X64) || defined(_M_IX86))
    _mm_pause();
#elif defined(_MSC_VER) && defined(_M_ARM64)
    __yield();
#elif (defined(__GNUC__) || defined(__clang__)) && (defined(__x86_64__) || defined(__i386__))
    __builtin_ia32_pause();
#elif (defined(__GNUC__) || defined(__clang__)) && (defined(__aarch64__) || defined(__arm__))
    __asm__ __volatile__("yield");
#endif
}

// A fixed set of workers. Task i of a job runs on thread i % n_threads (thread 0 is the caller),
// so a job is one wake-up and one join, with no task queue. Workers poll for the next job for
// spin_ns (context_options::spin_us), then sleep on the condition variable.
struct rt_pool {
    std::thread* threads = nullptr;
    int32_t n_workers = 0;  // besides the calling thread
    std::mutex mu;
    std::condition_variable cv;
    std::atomic<uint32_t> generation{0};
    std::atomic<int32_t> pending{0};  // workers still running the current job
    std::atomic<bool> quit{false};
    rt_task_fn fn = nullptr;
    void* arg = nullptr;
    int32_t n_tasks = 0;
    int64_t spin_ns = 0;

    void worker(int32_t w) {
        using clock = std::chrono::steady_clock;
        uint32_t seen = 0;
        for (;;) {
            uint32_t g;
            const clock::time_point start = clock::now();
            for (uint32_t polls = 1; (g = generation.load(std::memory_order_acquire)) == seen; ++polls) {
                if (quit.load(std::memory_order_acquire)) return;
                rt_cpu_relax();
                if (polls % 64 != 0 || std::chrono::duration_cast<std::chrono::nanoseconds>(clock::now() - start).count() < spin_ns) continue;
                std::unique_lock<std::mutex> lock(mu);
                cv.wait(lock, [&] { return generation.load(std::memory_order_acquire) != seen || quit.load(std::memory_order_acquire); });
            }
            if (quit.load(std::memory_order_acquire)) return;
            seen = g;
            const int32_t stride = n_workers + 1;
            for (int32_t i = w; i < n_tasks; i += stride) fn(arg, i, w);
            pending.fetch_sub(1, std::memory_order_acq_rel);
        }
    }

    void run(int32_t n, rt_task_fn f, void* a) {
        fn = f;
        arg = a;
        n_tasks = n;
        pending.store(n_workers, std::memory_order_relaxed);
        {
            std::lock_guard<std::mutex> lock(mu);
            generation.fetch_add(1, std::memory_order_acq_rel);
        }
        cv.notify_all();
        const int32_t stride = n_workers + 1;
        for (int32_t i = 0; i < n; i += stride) f(a, i, 0);
        // The workers started together with us; past a few thousand polls one of them has lost
        // its core, and yielding gives it back.
        for (int polls = 0; pending.load(std::memory_order_acquire) != 0;) {
            rt_cpu_relax();
            if (++polls > 4000) std::this_thread::yield();
        }
    }

    void stop() {
        {
            std::lock_guard<std::mutex> lock(mu);
            quit.store(true, std::memory_order_release);
        }
        cv.notify_all();
        for (int32_t i = 0; i < n_workers; ++i) threads[i].join();
    }
};
#endif

}  // namespace detail

// ------------------------------------------------------------------------------------------------
// The context
// ------------------------------------------------------------------------------------------------

struct context::state {
    allocator alloc;
    logger log;
    const model::state* m = nullptr;
    int32_t n_ctx = 0;
    int32_t n_batch = 0;
    kv_type kv = kv_type::f16;
    int32_t pos = 0;            // tokens in the KV cache
    bool have_logits = false;   // logits holds the row after token pos - 1
    bool (*should_stop)(void*) = nullptr;
    void* should_stop_user = nullptr;
    matmul_input matmul = matmul_input::q8_layers;

    // KV cache, uint16_t (F16 bits) or float elements: K transposed, (n_layer) × [n_head_kv*head_dim,
    // n_ctx] (a row per dimension, so attention's scores run across positions without horizontal
    // sums), and V as rows, (n_layer) × [n_ctx, n_head_kv*head_dim].
    void* k_cache = nullptr;
    void* v_cache = nullptr;
    size_t kv_elem = 2;
    int64_t kv_dim = 0;       // n_head_kv*head_dim
    int64_t q_dim = 0;        // n_head*head_dim

    // Activations for one chunk of up to n_batch tokens, row per token.
    float* x = nullptr;       // [n_batch, n_embd]     the residual stream
    float* xn = nullptr;      // [n_batch, n_embd]     normalised input of a sub-block
    float* q = nullptr;       // [n_batch, q_dim]      then the sums of x Wo^T ([n_batch, n_embd])
    float* k = nullptr;       // [n_batch, kv_dim]
    float* v = nullptr;       // [n_batch, kv_dim]
    float* att = nullptr;     // [n_batch, q_dim]      attention output, heads side by side (in xn
                              //                       when q_dim <= n_embd, see carve)
    float* gate = nullptr;    // [ffn_rows, n_ff]      ffn_rows = min(n_batch, rt_ffn_rows)
    float* up = nullptr;      // [ffn_rows, n_ff]      then the sums of x Wdown^T ([ffn_rows, n_embd]);
                              //                       gate and up share memory with q, k, v,
                              //                       att, scores, att_k and att_v (see carve)
    float* rope = nullptr;    // [n_batch, rope_dims]  cos, sin of every rotated pair
    float* logits = nullptr;  // [n_vocab]             after the last decoded token

    // Per-slot scratch (a slot is a worker thread, or a task under a caller's parallel_for).
    int32_t n_slots = 1;
    float* rowbuf = nullptr;  // (n_slots) × [rowbuf_floats]  dequantized weight rows (at least one)
    int64_t rowbuf_floats = 0;  // max(max_cols, 8192): 32 KiB, a chunk of rows that stays in L1
    int64_t max_cols = 0;
    // The input of a matrix product in the activation formats its weights' kernels want: q8_0,
    // q8_1, q8_k (rt_act_index); each [n_batch] rows of max(n_embd, q_dim) elements or [ffn_rows]
    // rows of n_ff (the down projection's input), whichever is larger; nullptr when no weight of
    // the model uses that format.
    uint8_t* actq[3] = {nullptr, nullptr, nullptr};
    uint8_t* actq16 = nullptr;  // [rt_q16_rows] rows of n_embd in q16 blocks, when the output matrix has mm_q16
    float* scores = nullptr;  // (n_slots) × [rt_att_block, n_ctx]  attention weights of a block of queries
    float* att_k = nullptr;   // (n_slots) × [head_dim, n_ctx + 32]  one head's K^T as float
    float* att_v = nullptr;   // (n_slots) × [n_ctx, head_dim]       one head's V rows as float (F16 cache)
    int32_t mm_split = 1;     // tasks per matrix product

    void* block = nullptr;
    size_t block_bytes = 0;
    size_t kv_bytes = 0;

    ai::parallel_for par;
#ifndef AI_NO_THREADS
    detail::rt_pool* pool = nullptr;
    size_t threads_bytes = 0;
#endif

    void run(int32_t n_tasks, detail::rt_task_fn fn, void* arg);
    status forward(const token_id* ids, int32_t n, float* out, bool all_rows);
    void release();
};

void context::state::release() {
#ifndef AI_NO_THREADS
    if (pool) {
        pool->stop();
        for (int32_t i = 0; i < pool->n_workers; ++i) pool->threads[i].~thread();
        detail::mem_free(alloc, pool->threads, threads_bytes);
        pool->~rt_pool();
        detail::mem_free(alloc, pool, sizeof(detail::rt_pool));
        pool = nullptr;
    }
#endif
    detail::mem_free(alloc, block, block_bytes);
    block = nullptr;
    block_bytes = 0;
}

namespace detail {
struct rt_par_call {
    rt_task_fn fn;
    void* arg;
};
inline void rt_par_trampoline(void* arg, int32_t i) {
    const rt_par_call* c = static_cast<const rt_par_call*>(arg);
    c->fn(c->arg, i, i);
}
}  // namespace detail

void context::state::run(int32_t n_tasks, detail::rt_task_fn fn, void* arg) {
    if (par.run) {
        detail::rt_par_call c{fn, arg};
        par.run(par.user, n_tasks, detail::rt_par_trampoline, &c);
        return;
    }
#ifndef AI_NO_THREADS
    if (pool) {
        pool->run(n_tasks, fn, arg);
        return;
    }
#endif
    for (int32_t i = 0; i < n_tasks; ++i) fn(arg, i, 0);
}

// ------------------------------------------------------------------------------------------------
// Kernels of the forward pass
// ------------------------------------------------------------------------------------------------

namespace detail {

// RMSNorm: y = x / sqrt(mean(x^2) + eps) * w. The sum of squares is taken in double and the
// scale applied before the weight, as ggml does.
inline void rt_rmsnorm(const float* x, const float* w, int64_t n, float eps, float* y) {
    double sum = 0.0;
    for (int64_t i = 0; i < n; ++i) sum += (double)(x[i] * x[i]);
    const float mean = (float)(sum / (double)n);
    const float scale = 1.0f / std::sqrt(mean + eps);
    for (int64_t i = 0; i < n; ++i) y[i] = x[i] * scale * w[i];
}

// g = silu(g) * u over `count` elements, split among n_split tasks in ranges of 64.
struct rt_silu_job {
    void (*silu_mul)(float* g, const float* u, int64_t n);  // the kernel set's
    float* g;
    const float* u;
    int64_t count;
    int32_t n_split;
};
inline void rt_silu_task(void* arg, int32_t task, int32_t) {
    const rt_silu_job& j = *static_cast<const rt_silu_job*>(arg);
    const int64_t units = (j.count + 63) / 64;
    const int64_t i0 = units * task / j.n_split * 64, i1 = std::min(j.count, units * (task + 1) / j.n_split * 64);
    if (i1 > i0) j.silu_mul(j.g + i0, j.u + i0, i1 - i0);  // g = silu(g) * u
}
// The input of a matrix product ([n_tok, cols] floats) into its activation format, token rows
// split among n_split tasks.
struct rt_quant_job {
    const float* in;
    uint8_t* out;
    size_t out_stride;
    int64_t cols, n_tok;
    quantize_act_fn quant;
    int32_t n_split;
};
inline void rt_quant_task(void* arg, int32_t task, int32_t) {
    const rt_quant_job& j = *static_cast<const rt_quant_job*>(arg);
    const int64_t t0 = j.n_tok * task / j.n_split, t1 = j.n_tok * (task + 1) / j.n_split;
    for (int64_t t = t0; t < t1; ++t) j.quant(j.in + t * j.cols, j.out + (size_t)t * j.out_stride, j.cols);
}

// The cos and sin of every rotated pair at position p (ggml's rope cache): pair i turns by
// theta_i = p * base^(-2i/d) / factor_i, the power built by repeated multiplication as ggml does;
// linear scaling multiplies theta by freq_scale, YaRN mixes scaled and unscaled angles per pair.
inline void rt_rope_table(const model::state& M, int32_t p, float* cs) {
    const int32_t d = M.hp.rope_dims;
    if (d <= 0) return;
    const float theta_scale = std::pow(M.hp.rope_base, -2.0f / (float)d);
    float theta = (float)p;
    for (int32_t i = 0; i < d / 2; ++i) {
        const float extrap = M.rope_factors ? theta / M.rope_factors[i] : theta;
        const float interp = M.rope_freq_scale * extrap;
        float angle = interp, mscale = M.rope_mscale;
        if (M.rope_ext_factor != 0.0f) {
            const float y = ((float)i - M.rope_corr[0]) / std::max(0.001f, M.rope_corr[1] - M.rope_corr[0]);
            const float ramp = (1 - std::min(1.0f, std::max(0.0f, y))) * M.rope_ext_factor;
            angle = interp * (1 - ramp) + extrap * ramp;
            mscale *= 1.0f + 0.1f * std::log(1.0f / M.rope_freq_scale);
        }
        cs[2 * i] = std::cos(angle) * mscale;
        cs[2 * i + 1] = std::sin(angle) * mscale;
        theta *= theta_scale;
    }
}

// Rotates the first rope_dims values of one head: pairs (2i, 2i+1) (normal) or (i, i + d/2) (NeoX).
inline void rt_rope(float* v, const float* cs, int32_t d, rope_style style) {
    const int32_t half = d / 2;
    for (int32_t i = 0; i < half; ++i) {
        const int32_t a = style == rope_style::neox ? i : 2 * i;
        const int32_t b = style == rope_style::neox ? i + half : 2 * i + 1;
        const float c = cs[2 * i], s = cs[2 * i + 1];
        const float x0 = v[a], x1 = v[b];
        v[a] = x0 * c - x1 * s;
        v[b] = x0 * s + x1 * c;
    }
}

// y = x W^T (+ bias), for up to three weights sharing the input x. The rows of all parts form one
// range that tasks split evenly. Within a task, in order of preference: the weight's tile kernel
// (mm) on its activation format; its row kernel (vec_dot) per row and token; or rows dequantized
// in chunks and multiplied by the F32 tile kernel (the float input path). Nothing else depends on
// how it walks, and every path gives each output the same bits however the rows are split.
struct rt_mm_part {
    const rt_weight* w = nullptr;
    const float* bias = nullptr;  // [w->rows] or nullptr
    float* y = nullptr;           // [n_tok, w->rows]
    const uint8_t* a = nullptr;   // with w->dot: the input rows in w->act's format, a_stride apart
    size_t a_stride = 0;
};
struct rt_mm_job {
    rt_mm_part parts[3];
    int32_t n_parts = 0;
    const float* x = nullptr;     // [n_tok, cols]
    int32_t n_tok = 0;
    bool accumulate = false;      // y += x W^T (+ bias) instead of y = ...; one part only
    float* sums = nullptr;        // accumulate: [n_tok, rows], where the products land before
                                  // they are added to y (a buffer the caller has no use for now)
    bool int8_acts = false;       // use the integer kernels of weights that want 8-bit activations
    bool q16_acts = false;        // use the q16 kernels (rt_weight::mm_q16) of weights that have one
    bool mm_whole_batch = false;  // the kernel set's mm takes every token at once (kernel_set::mm_whole_batch)
    float (*dot_f32)(const float* a, const float* b, int64_t n) = nullptr;  // the model's kernel set's
    mm_fn mm_f32 = nullptr;       // its F32 tile kernel (nullptr: dot_f32 per row and token)
    int32_t n_split = 1;
    float* rowbuf = nullptr;      // (slots) × [rowbuf_stride]
    int64_t rowbuf_stride = 0;
};

// Rows per tile-kernel call in a batch (one token: all of a task's rows, see rt_mm_task): a
// multiple of the AVX-512 tile's 6 rows and of AMX's 16. This sets how often a call starts over
// (AMX: the batch's activation scales converted again per call); 192 against 48: prefill +3-9% on
// Qwen2.5-0.5B pp512 and TinyLlama pp128 (alternated, one thread).
constexpr int64_t rt_mm_chunk_rows = 192;

// The feed-forward runs on at most this many tokens at a time: its gate and up activations,
// [tokens, n_ff] each, were the largest scratch (Qwen2.5-0.5B at n_batch 512: 20 of 32 MB, which
// put its peak RSS past the file + KV cache + 10%). A batch is cut into equal groups (130 tokens:
// 65 + 65), so no group is a short tail; each group reads the FFN weights once more.
constexpr int32_t rt_ffn_rows = 128;
// Tokens per call of the output matrix on q16 input (only `ai logits` asks for more than one).
constexpr int32_t rt_q16_rows = 16;
inline int32_t rt_ffn_group(int32_t n) {
    const int32_t groups = (n + rt_ffn_rows - 1) / rt_ffn_rows;
    return groups > 1 ? (n + groups - 1) / groups : n;
}

// Where the kernels write a product: y itself, or for a product into the residual stream the
// job's sums (same layout), added to y by rt_mm_finish. No tile buffer of our own: the kernels
// write rows r0.. of tokens t0.. with y's row stride either way.
inline float* rt_mm_dest(const rt_mm_job& j, const rt_mm_part& part) { return j.accumulate ? j.sums : part.y; }

// Tokens t0.., rows r0.. of a product written by the kernels to rt_mm_dest: plus the bias, plus
// y itself when the product accumulates into the residual stream (each output: y + (d + bias),
// the bits of adding a tile of results).
inline void rt_mm_finish(const rt_mm_job& j, const rt_mm_part& part, int64_t t0, int64_t tn, int64_t r0, int64_t nr) {
    const int64_t rows = part.w->rows;
    const float* bias = part.bias ? part.bias + r0 : nullptr;
    if (!bias && !j.accumulate) return;  // already in y
    for (int64_t t = 0; t < tn; ++t) {  // one plain loop per case, so compilers vectorize each
        float* y = part.y + (t0 + t) * rows + r0;
        const float* d = rt_mm_dest(j, part) + (t0 + t) * rows + r0;
        if (bias && j.accumulate) for (int64_t r = 0; r < nr; ++r) y[r] += d[r] + bias[r];
        else if (bias) for (int64_t r = 0; r < nr; ++r) y[r] = d[r] + bias[r];
        else for (int64_t r = 0; r < nr; ++r) y[r] += d[r];
    }
}

inline void rt_mm_task(void* arg, int32_t task, int32_t slot) {
    const rt_mm_job& j = *static_cast<const rt_mm_job*>(arg);
    int64_t total = 0;
    for (int32_t p = 0; p < j.n_parts; ++p) total += j.parts[p].w->rows;
    const int64_t r0 = total * task / j.n_split, r1 = total * (task + 1) / j.n_split;
    float* buf = j.rowbuf + (int64_t)slot * j.rowbuf_stride;
    int64_t base = 0;
    for (int32_t p = 0; p < j.n_parts; ++p) {
        const rt_mm_part& part = j.parts[p];
        const rt_weight& w = *part.w;
        const int64_t lo = std::max(r0, base) - base, hi = std::min(r1, base + w.rows) - base;
        base += w.rows;
        if (j.q16_acts && w.mm_q16) {  // the task's rows in one call, each token in turn (decode_parts)
            if (hi > lo) {
                w.mm_q16(w.data + (size_t)lo * w.row_bytes, w.row_bytes, hi - lo, part.a, part.a_stride, j.n_tok, w.cols, rt_mm_dest(j, part) + lo,
                         w.rows);
                rt_mm_finish(j, part, 0, j.n_tok, lo, hi - lo);
            }
            continue;
        }
        if (w.mm && (w.act == tensor_type::f32 || j.int8_acts)) {
            // Tokens in blocks whose input rows fit in L2 (~512 KiB), rows in chunks inside: the
            // kernel re-reads a block's inputs for every few rows, from L2 rather than from L3;
            // the weights stream once per block.
            const int64_t tok_block = j.mm_whole_batch ? j.n_tok
                                                       : std::max<int64_t>(4, (int64_t)((512u << 10) / std::max<size_t>(part.a_stride, 1)) / 4 * 4);
            float* dest = rt_mm_dest(j, part);
            // One token: the task's rows in one call, which the kernel reads as a few long
            // streams (decode_parts).
            const int64_t chunk = j.n_tok > 1 ? rt_mm_chunk_rows : std::max<int64_t>(hi - lo, 1);
            for (int64_t t0 = 0; t0 < j.n_tok; t0 += tok_block) {
                const int64_t tn = std::min<int64_t>(tok_block, j.n_tok - t0);
                for (int64_t r0 = lo; r0 < hi; r0 += chunk) {
                    const int64_t nr = std::min(chunk, hi - r0);
                    w.mm(w.data + (size_t)r0 * w.row_bytes, w.row_bytes, nr, part.a + (size_t)t0 * part.a_stride, part.a_stride, tn, w.cols,
                         dest + t0 * w.rows + r0, w.rows);
                    rt_mm_finish(j, part, t0, tn, r0, nr);
                }
            }
            continue;
        }
        if (w.dot && (w.act == tensor_type::f32 || j.int8_acts)) {
            // Tiles of rows_per_tile weight rows: their bytes stay in L1 while every token of the
            // chunk passes, so each weight row comes from memory once per matrix product and each
            // activation row once per tile (prefill); decode (one token) is a plain row loop.
            constexpr int64_t rows_per_tile = 8;
            for (int64_t rt = lo; rt < hi; rt += rows_per_tile) {
                const int64_t re = std::min(hi, rt + rows_per_tile);
                for (int32_t t = 0; t < j.n_tok; ++t) {
                    const uint8_t* a = part.a + (size_t)t * part.a_stride;
                    float* y = part.y + (int64_t)t * w.rows;
                    for (int64_t r = rt; r < re; ++r) {
                        float s = w.dot(w.data + (size_t)r * w.row_bytes, a, w.cols);
                        if (part.bias) s += part.bias[r];
                        y[r] = j.accumulate ? y[r] + s : s;
                    }
                }
            }
            continue;
        }
        if (j.n_tok == 1 && w.mm_dequant) {  // one token: rows dequantized piece by piece as read (same bits)
            if (hi > lo) {
                w.mm_dequant(w.data + (size_t)lo * w.row_bytes, w.row_bytes, hi - lo, j.x, (size_t)w.cols * sizeof(float), 1, w.cols,
                             rt_mm_dest(j, part) + lo, w.rows);
                rt_mm_finish(j, part, 0, 1, lo, hi - lo);
            }
            continue;
        }
        // Float input: a chunk of rows is dequantized into the slot's buffer (sized for L1/L2),
        // then multiplied with the tokens, 64 at a time so their rows stay in L2, by the F32 tile
        // kernel; each weight row is converted once per matrix product.
        const int64_t chunk = std::max<int64_t>(1, std::min<int64_t>(rt_mm_chunk_rows, j.rowbuf_stride / w.cols));
        float* dest = rt_mm_dest(j, part);
        for (int64_t r0 = lo; r0 < hi; r0 += chunk) {
            const int64_t nr = std::min(chunk, hi - r0);
            const float* rows = buf;
            if (w.direct_f32) rows = reinterpret_cast<const float*>(w.data + (size_t)r0 * w.row_bytes);
            else
                for (int64_t r = 0; r < nr; ++r) w.to_float(w.data + (size_t)(r0 + r) * w.row_bytes, buf + r * w.cols, w.cols);
            const size_t rs = w.direct_f32 ? w.row_bytes : (size_t)w.cols * sizeof(float);
            for (int32_t t0 = 0; t0 < j.n_tok; t0 += 64) {
                const int32_t tn = std::min<int32_t>(64, j.n_tok - t0);
                const float* xt = j.x + (int64_t)t0 * w.cols;
                float* out = dest + (int64_t)t0 * w.rows + r0;
                if (j.mm_f32) {
                    j.mm_f32(rows, rs, nr, xt, (size_t)w.cols * sizeof(float), tn, w.cols, out, w.rows);
                } else {
                    for (int32_t t = 0; t < tn; ++t)
                        for (int64_t r = 0; r < nr; ++r)
                            out[(int64_t)t * w.rows + r] = j.dot_f32(reinterpret_cast<const float*>(reinterpret_cast<const uint8_t*>(rows) + (size_t)r * rs),
                                                                     xt + (int64_t)t * w.cols, w.cols);
                }
            }
            rt_mm_finish(j, part, 0, j.n_tok, r0, nr);
        }
    }
}

// Attention for one KV head and the query heads that share it (grouped-query attention), over the
// chunk: token t (at position p0 + t) attends to positions 0..p0+t of the cache.
//   S = Q K^T / sqrt(head_dim)   (kernel_set::att_scores: the cache keeps K transposed)
//   P = softmax(S) per row, positions after the query's own set to 0
//   O = P V                      (kernel_set::att_values: V rows as they are in the cache)
// An F16 cache's K^T and V rows are converted to float once per chunk (contiguous runs) and shared
// by the head's queries; an F32 cache is read in place. Queries go in blocks of rt_att_block; a
// query's result does not depend on its block or the chunk size: its scores are the same sums, and
// the zeros past its position add nothing.
constexpr int32_t rt_att_block = 64;

struct rt_att_job {
    context::state* c;
    int32_t layer, n_tok, p0;
    float scale;
};

inline void rt_att_task(void* arg, int32_t kvh, int32_t slot) {
    const rt_att_job& j = *static_cast<const rt_att_job*>(arg);
    context::state& c = *j.c;
    const model_params& hp = c.m->hp;
    const kernel_set& K = *c.m->kernels;
    const int32_t hd = hp.head_dim, group = hp.n_head / hp.n_head_kv;
    const int32_t n_keys = j.p0 + j.n_tok;
    float* sc = c.scores + (int64_t)slot * rt_att_block * c.n_ctx;  // [block, n_keys]
    // K^T: hd rows of n_ctx (row d: dimension d of every position); V: n_ctx rows of kv_dim
    const int64_t kt_off = ((int64_t)j.layer * c.kv_dim + (int64_t)kvh * hd) * c.n_ctx;
    const int64_t v_off = (int64_t)j.layer * c.n_ctx * c.kv_dim + (int64_t)kvh * hd;
    // K^T goes into the slot's buffer with rows only as long as the keys, plus 64 bytes: rows n_ctx
    // apart (16 KiB for 4096) all fall into the same L1 sets, and the scores read 64 of them at once.
    const int64_t kt_stride = (n_keys + 15) / 16 * 16 + 16;
    float* kt = c.att_k + (int64_t)slot * hd * (c.n_ctx + 32);  // [hd][kt_stride]
    const float* v;                                             // [n_keys][v_stride]
    int64_t v_stride;
    if (c.kv == kv_type::f16) {
        const dequantize_fn f16_row = K.to_float((uint32_t)tensor_type::f16);  // vcvtph2ps where the set has it
        float* vf = c.att_v + (int64_t)slot * c.n_ctx * hd;                    // [n_ctx][hd]
        for (int32_t d = 0; d < hd; ++d)
            f16_row(static_cast<const uint16_t*>(c.k_cache) + kt_off + (int64_t)d * c.n_ctx, kt + (int64_t)d * kt_stride, n_keys);
        for (int32_t p = 0; p < n_keys; ++p)
            f16_row(static_cast<const uint16_t*>(c.v_cache) + v_off + (int64_t)p * c.kv_dim, vf + (int64_t)p * hd, hd);
        v = vf, v_stride = hd;
    } else {
        for (int32_t d = 0; d < hd; ++d)
            std::memcpy(kt + (int64_t)d * kt_stride, static_cast<const float*>(c.k_cache) + kt_off + (int64_t)d * c.n_ctx, (size_t)n_keys * sizeof(float));
        v = static_cast<const float*>(c.v_cache) + v_off, v_stride = c.kv_dim;
    }
    for (int32_t h = kvh * group; h < (kvh + 1) * group; ++h) {
        for (int32_t t0 = 0; t0 < j.n_tok; t0 += rt_att_block) {
            const int32_t tn = std::min(rt_att_block, j.n_tok - t0);
            const int32_t nk = j.p0 + t0 + tn;  // keys the block's last query sees
            const float* q = c.q + (int64_t)t0 * c.q_dim + (int64_t)h * hd;
            K.att_scores(kt, kt_stride, nk, hd, q, c.q_dim, tn, sc, nk);
            for (int32_t t = 0; t < tn; ++t) K.softmax(sc + (int64_t)t * nk, j.p0 + t0 + t + 1, nk, j.scale);  // keys up to its own
            K.att_values(v, v_stride, nk, hd, sc, nk, tn, c.att + (int64_t)t0 * c.q_dim + (int64_t)h * hd, c.q_dim);
        }
    }
}

}  // namespace detail

// ------------------------------------------------------------------------------------------------
// The forward pass over one chunk of n <= n_batch tokens at positions pos .. pos + n - 1
// ------------------------------------------------------------------------------------------------
// Writes the logits after token t into out + (t - first) * n_vocab for t from first = (all_rows ?
// 0 : n - 1) to n - 1, when out is given. Does not move pos (the caller commits the chunk).

status context::state::forward(const token_id* ids, int32_t n, float* out, bool all_rows) {
    using namespace detail;
    const model::state& M = *m;
    const model_params& hp = M.hp;
    const int64_t E = hp.n_embd, F = hp.n_ff, hd = hp.head_dim;
    const int32_t p0 = pos;
    const int32_t ffn_group = rt_ffn_group(n);

    rt_mm_job mm;
    mm.n_split = mm_split;
    mm.dot_f32 = M.kernels->dot_f32;
    mm.mm_whole_batch = M.kernels->mm_whole_batch;
    mm.rowbuf = rowbuf;
    mm.rowbuf_stride = rowbuf_floats;
    mm.n_tok = n;
    // 8-bit inputs in the layers unless f32 is asked for; in the output matrix only with q8.
    const bool int8_layers = this->matmul != matmul_input::f32;
    mm.int8_acts = int8_layers;
    mm.mm_f32 = M.kernels->mm((uint32_t)tensor_type::f32);
    // y = in W^T (+ b) for up to three weights; with `sums` (a dead buffer of [n, rows]):
    // y += in W^T (+ b), one weight, the products landing in sums first.
    const auto matmul = [&](const float* in, float* sums, const rt_mm_part& a, const rt_mm_part& b, const rt_mm_part& c) {
        mm.x = in;
        mm.accumulate = sums != nullptr;
        mm.sums = sums;
        mm.parts[0] = a;
        mm.parts[1] = b;
        mm.parts[2] = c;
        mm.n_parts = c.w ? 3 : b.w ? 2 : 1;
        // Quantize the input once per format (parts share it), before the tasks start.
        bool done[3] = {false, false, false};
        for (int32_t p = 0; p < mm.n_parts; ++p) {
            rt_mm_part& part = mm.parts[p];
            const rt_weight& w = *part.w;
            if (mm.q16_acts && w.mm_q16) {  // rounded to 16 bits here: the output matrix's few rows
                part.a = actq16;
                part.a_stride = (size_t)(w.cols / 32) * sizeof(block_q16);
                for (int32_t t = 0; t < mm.n_tok; ++t) ref::quantize_act_q16(in + (int64_t)t * w.cols, actq16 + (size_t)t * part.a_stride, w.cols);
                continue;
            }
            if (!w.dot) continue;
            const int ai = rt_act_index(w.act);
            if (ai >= 0 && !mm.int8_acts) continue;  // float path: rows dequantized in the tasks
            if (ai < 0) {  // float activations, read in place
                part.a = reinterpret_cast<const uint8_t*>(in);
                part.a_stride = (size_t)w.cols * sizeof(float);
                continue;
            }
            type_row_bytes(w.act, w.cols, &part.a_stride);
            part.a = actq[ai];
            if (!done[ai]) {  // token rows split among the tasks
                rt_quant_job qj{in, actq[ai], part.a_stride, w.cols, mm.n_tok, w.quant, std::min<int32_t>(mm_split, mm.n_tok)};
                run(qj.n_split, rt_quant_task, &qj);
                done[ai] = true;
            }
        }
        run(mm_split, rt_mm_task, &mm);
    };
    const rt_mm_part none;

    // x = token_embd[id]
    for (int32_t t = 0; t < n; ++t)
        M.tok_embd.to_float(M.tok_embd.data + (size_t)ids[t] * M.tok_embd.row_bytes, x + t * E, E);
    // the rotation of every position in the chunk, shared by all layers and heads
    for (int32_t t = 0; t < n; ++t) rt_rope_table(M, p0 + t, rope + (int64_t)t * hp.rope_dims);

    for (int32_t l = 0; l < hp.n_layer; ++l) {
        if (should_stop && should_stop(should_stop_user))
            return fail(result::cancelled, no_offset, "decode cancelled before layer %d; %d tokens kept", l, pos);
        const rt_layer& L = M.layers[l];

        // ---- self-attention
        for (int32_t t = 0; t < n; ++t) rt_rmsnorm(x + t * E, L.attn_norm, E, hp.rms_eps, xn + t * E);  // h = RMSNorm(x) * attn_norm
        matmul(xn, nullptr, {&L.wq, L.bq, q}, {&L.wk, L.bk, k}, {&L.wv, L.bv, v});                      // q, k, v = h W^T + b
        for (int32_t t = 0; t < n; ++t) {
            const float* cs = rope + (int64_t)t * hp.rope_dims;
            for (int32_t h = 0; h < hp.n_head; ++h) {
                float* qh = q + t * q_dim + h * hd;
                if (L.q_norm) rt_rmsnorm(qh, L.q_norm, hd, hp.rms_eps, qh);                            // qwen3: per-head RMSNorm
                rt_rope(qh, cs, hp.rope_dims, hp.rope);                                                 // q = RoPE(q, pos)
            }
            for (int32_t h = 0; h < hp.n_head_kv; ++h) {
                float* kh = k + t * kv_dim + h * hd;
                if (L.k_norm) rt_rmsnorm(kh, L.k_norm, hd, hp.rms_eps, kh);
                rt_rope(kh, cs, hp.rope_dims, hp.rope);                                                 // k = RoPE(k, pos)
            }
            // K^T[:, pos], V[pos] = k, v
            const int64_t pos = p0 + t, kt_off = (int64_t)l * kv_dim * n_ctx + pos, v_off = ((int64_t)l * n_ctx + pos) * kv_dim;
            if (kv == kv_type::f16) {
                uint16_t* kc = static_cast<uint16_t*>(k_cache) + kt_off;
                uint16_t* vc = static_cast<uint16_t*>(v_cache) + v_off;
                for (int64_t i = 0; i < kv_dim; ++i) {
                    kc[i * n_ctx] = f32_to_f16(k[t * kv_dim + i]);
                    vc[i] = f32_to_f16(v[t * kv_dim + i]);
                }
            } else {
                float* kc = static_cast<float*>(k_cache) + kt_off;
                for (int64_t i = 0; i < kv_dim; ++i) kc[i * n_ctx] = k[t * kv_dim + i];
                std::memcpy(static_cast<float*>(v_cache) + v_off, v + t * kv_dim, (size_t)kv_dim * sizeof(float));
            }
        }
        rt_att_job aj{this, l, n, p0, 1.0f / std::sqrt((float)hd)};
        run(hp.n_head_kv, rt_att_task, &aj);                                                               // a = softmax(q K^T / sqrt(d)) V
        matmul(att, q, {&L.wo, L.bo, x}, none, none);                                                   // x = x + a Wo^T (summed in q)

        // ---- feed-forward (in groups of tokens, see rt_ffn_rows)
        for (int32_t t = 0; t < n; ++t) rt_rmsnorm(x + t * E, L.ffn_norm, E, hp.rms_eps, xn + t * E);   // h = RMSNorm(x) * ffn_norm
        for (int32_t t0 = 0; t0 < n; t0 += ffn_group) {
            mm.n_tok = std::min(ffn_group, n - t0);
            matmul(xn + t0 * E, nullptr, {&L.w_gate, L.b_gate, gate}, {&L.w_up, L.b_up, up}, none);      // g, u = h Wgate^T, h Wup^T
            const int64_t n_ff_all = (int64_t)mm.n_tok * F;                                               // g = silu(g) * u
            rt_silu_job sj{m->kernels->silu_mul, gate, up, n_ff_all, (int32_t)std::min<int64_t>(mm_split, (n_ff_all + 63) / 64)};
            run(sj.n_split, rt_silu_task, &sj);
            matmul(gate, up, {&L.w_down, L.b_down, x + t0 * E}, none, none);                          // x = x + (...) Wdown^T (summed in up)
        }
        mm.n_tok = n;
    }
    if (!out) return status{};

    // logits = RMSNorm(x) * output_norm · Wout^T, only for the rows asked for
    const int32_t first = all_rows ? 0 : n - 1;
    for (int32_t t = first; t < n; ++t) rt_rmsnorm(x + t * E, M.output_norm, E, hp.rms_eps, xn + t * E);
    mm.int8_acts = this->matmul == matmul_input::q8;
    // q8_layers on a set with a q16 kernel for the output's type: 16-bit input (rt_q16_rows tokens
    // at a time through actq16); otherwise float (or, with q8, 8-bit) input, every row at once.
    mm.q16_acts = this->matmul == matmul_input::q8_layers && M.output.mm_q16 && actq16;
    const int32_t group = mm.q16_acts ? rt_q16_rows : n - first;
    for (int32_t t0 = first; t0 < n; t0 += group) {
        mm.n_tok = std::min(group, n - t0);
        matmul(xn + t0 * E, nullptr, {&M.output, M.output_bias, out + (int64_t)(t0 - first) * M.output.rows}, none, none);
    }
    mm.q16_acts = false;
    return status{};
}

// ------------------------------------------------------------------------------------------------
// context: creation, decode, rewind
// ------------------------------------------------------------------------------------------------

context::~context() {
    if (!state_) return;
    const allocator a = state_->alloc;
    state_->release();
    state_->~state();
    detail::mem_free(a, state_, sizeof(state));
    state_ = nullptr;
}
context::context(context&& o) noexcept : state_(o.state_) { o.state_ = nullptr; }
context& context::operator=(context&& o) noexcept {
    if (this != &o) {
        context dead(static_cast<context&&>(*this));
        state_ = o.state_;
        o.state_ = nullptr;
    }
    return *this;
}

namespace detail {
// Lays out named buffers in one block: each call reserves `count` elements of `elem` bytes at the
// next 64-byte boundary; the first pass (base == nullptr) only measures.
struct rt_layout {
    uint8_t* base = nullptr;
    uint64_t size = 0;
    bool overflow = false;
    void* take(uint64_t count, uint64_t elem) {
        uint64_t bytes, at;
        if (!mul_ok(count, elem, &bytes) || !align_up_ok(size, 64, &at) || !add_ok(at, bytes, &size)) {
            overflow = true;
            return nullptr;
        }
        return base ? base + at : nullptr;
    }
    template <class T> T* take_as(uint64_t count) { return static_cast<T*>(take(count, sizeof(T))); }
};
}  // namespace detail

status context::create(const model& mdl, const context_options* opt) {
    using namespace detail;
    context old(static_cast<context&&>(*this));
    if (!mdl.is_loaded()) return fail(result::invalid_argument, no_offset, "context: the model is not loaded");
    const context_options defaults;
    const context_options& o = opt ? *opt : defaults;
    const model::state& M = *mdl.state_;
    const model_params& hp = M.hp;

    if (o.n_ctx < 0 || o.n_batch < 0 || o.n_threads < 0 || o.n_threads > 1024)
        return fail(result::invalid_argument, no_offset, "context: n_ctx %d, n_batch %d and n_threads %d must be non-negative (n_threads at most 1024)",
                    o.n_ctx, o.n_batch, o.n_threads);
    if (o.kv != kv_type::f16 && o.kv != kv_type::f32) return fail(result::invalid_argument, no_offset, "context: unknown kv_type %d", (int)o.kv);
    if ((int)o.matmul < 0 || (int)o.matmul > 2) return fail(result::invalid_argument, no_offset, "context: unknown matmul_input %d", (int)o.matmul);
    const int32_t n_ctx = o.n_ctx ? o.n_ctx : (hp.n_ctx_train > 0 && hp.n_ctx_train < 4096 ? hp.n_ctx_train : 4096);
    // 256 by default: half the activation scratch of 512 (x, xn, q, k, v and the tile buffers;
    // 2.9 MB for SmolLM2-135M, 5 MB for TinyLlama) at the same prefill speed: TinyLlama Q4_0 and
    // Q4_K_M, Qwen2.5-0.5B Q4_0, pp512, one and two threads, 256 against 512 (and 128) alternated
    // three times on Zen 3 differed by less than the rounds did (+-10%). Each forward pass reads
    // the weights once; at 256 tokens that is under 1% of a prefill's time.
    const int32_t n_batch = std::min(o.n_batch ? o.n_batch : 256, n_ctx);
    int32_t n_threads = o.n_threads > 1 ? o.n_threads : 1;
#ifdef AI_NO_THREADS
    if (n_threads > 1 && !o.parallel.run) {
        detail::log(o.log, log_level::warn, "context: built with AI_NO_THREADS; n_threads %d runs on the calling thread", n_threads);
        n_threads = 1;
    }
#endif
    const bool use_par = o.parallel.run != nullptr;
    const int32_t mm_split = use_par ? n_threads * 4 : n_threads;
    const int32_t n_slots = use_par ? std::max(mm_split, hp.n_head_kv) : n_threads;
    const int64_t q_dim = (int64_t)hp.n_head * hp.head_dim, kv_dim = (int64_t)hp.n_head_kv * hp.head_dim;
    const int64_t max_cols = std::max<int64_t>(std::max<int64_t>(hp.n_embd, hp.n_ff), q_dim);
    const int64_t rowbuf_floats = std::max<int64_t>(max_cols, 8192);
    const uint64_t kv_elem = o.kv == kv_type::f16 ? 2 : 4;
    // Bytes of one input row in each activation format some weight of the model uses.
    // The down projection's input (n_ff wide) comes ffn_rows tokens at a time, the others
    // (n_embd or q_dim wide) n_batch at a time.
    const int32_t ffn_rows = std::min(n_batch, rt_ffn_rows);
    const int64_t narrow_cols = std::max<int64_t>(hp.n_embd, q_dim);
    uint64_t act_bytes[3] = {0, 0, 0};
    const auto need_act = [&](const rt_weight& w) {
        const int i = rt_act_index(w.act);
        size_t narrow = 0, wide = 0;
        if (w.dot && i >= 0 && type_row_bytes(w.act, (narrow_cols + 255) / 256 * 256, &narrow) &&
            type_row_bytes(w.act, (max_cols + 255) / 256 * 256, &wide))
            act_bytes[i] = std::max<uint64_t>((uint64_t)n_batch * narrow, (uint64_t)ffn_rows * wide);
    };
    need_act(M.output);
    for (int32_t l = 0; l < hp.n_layer; ++l) {
        const rt_layer& L = M.layers[l];
        for (const rt_weight* w : {&L.wq, &L.wk, &L.wv, &L.wo, &L.w_gate, &L.w_up, &L.w_down}) need_act(*w);
    }

    // Everything in one block: measure, check the budget, allocate, then carve.
    const auto carve = [&](rt_layout& lay, state* s) {
        const uint64_t kv_count = (uint64_t)hp.n_layer * (uint64_t)n_ctx * (uint64_t)kv_dim;
        void* kc = lay.take(kv_count, kv_elem);
        void* vc = lay.take(kv_count, kv_elem);
        const uint64_t kv_end = lay.size;
        const uint64_t B = (uint64_t)n_batch;
        float* bufs[10];
        bufs[0] = lay.take_as<float>(B * (uint64_t)hp.n_embd);
        bufs[1] = lay.take_as<float>(B * (uint64_t)hp.n_embd);
        bufs[8] = lay.take_as<float>(B * (uint64_t)std::max(hp.rope_dims, 2));
        bufs[9] = lay.take_as<float>((uint64_t)hp.n_vocab);
        float* rb = lay.take_as<float>((uint64_t)n_slots * (uint64_t)rowbuf_floats);
        uint8_t* aq[3];
        for (int i = 0; i < 3; ++i) aq[i] = act_bytes[i] ? static_cast<uint8_t*>(lay.take(act_bytes[i], 1)) : nullptr;
        uint8_t* aq16 = M.output.mm_q16 ? static_cast<uint8_t*>(lay.take((uint64_t)rt_q16_rows * (uint64_t)(M.output.cols / 32), sizeof(block_q16))) : nullptr;
        // The attention's buffers are dead while the feed-forward runs and the other way round
        // (forward() finishes one before it starts the other), so the two sets share memory. The
        // smaller set is saved: 0.9 MB for SmolLM2-135M at 200 tokens, 5.7 MB for TinyLlama at
        // 4096 tokens (the attention's per-slot buffers grow with n_ctx).
        const uint64_t shared_at = lay.size;
        bufs[2] = lay.take_as<float>(B * (uint64_t)std::max<int64_t>(q_dim, hp.n_embd));  // also wo's sums
        bufs[3] = lay.take_as<float>(B * (uint64_t)kv_dim);
        bufs[4] = lay.take_as<float>(B * (uint64_t)kv_dim);
        // The attention output goes where the normalised input was: xn is dead from the q, k, v
        // product until the feed-forward's RMSNorm rewrites it (0.6 MB at n_batch 256, 576 wide).
        bufs[5] = q_dim <= hp.n_embd ? bufs[1] : lay.take_as<float>(B * (uint64_t)q_dim);
        float* sc = lay.take_as<float>((uint64_t)n_slots * (uint64_t)rt_att_block * (uint64_t)n_ctx);
        float* ak = lay.take_as<float>((uint64_t)n_slots * ((uint64_t)n_ctx + 32) * (uint64_t)hp.head_dim);
        float* av = lay.take_as<float>((uint64_t)n_slots * (uint64_t)n_ctx * (uint64_t)hp.head_dim);
        const uint64_t attention_end = lay.size;
        lay.size = shared_at;
        bufs[6] = lay.take_as<float>((uint64_t)ffn_rows * (uint64_t)hp.n_ff);
        bufs[7] = lay.take_as<float>((uint64_t)ffn_rows * (uint64_t)std::max(hp.n_ff, hp.n_embd));  // also w_down's sums
        lay.size = std::max(lay.size, attention_end);
        if (s) {
            s->k_cache = kc; s->v_cache = vc;
            s->x = bufs[0]; s->xn = bufs[1]; s->q = bufs[2]; s->k = bufs[3]; s->v = bufs[4];
            s->att = bufs[5]; s->gate = bufs[6]; s->up = bufs[7]; s->rope = bufs[8]; s->logits = bufs[9];
            s->rowbuf = rb; s->scores = sc; s->att_k = ak; s->att_v = av;
            for (int i = 0; i < 3; ++i) s->actq[i] = aq[i];
            s->actq16 = aq16;
        }
        return kv_end;
    };
    rt_layout measure;
    const uint64_t kv_bytes = carve(measure, nullptr);
    if (measure.overflow || measure.size > SIZE_MAX)
        return fail(result::out_of_memory, no_offset, "context: n_ctx %d × %d layers is too large for the address space", n_ctx, hp.n_layer);
#ifndef AI_NO_THREADS
    const size_t threads_bytes = (!use_par && n_threads > 1) ? sizeof(rt_pool) + (size_t)(n_threads - 1) * sizeof(std::thread) : 0;
#else
    const size_t threads_bytes = 0;
#endif
    const uint64_t total = measure.size + sizeof(state) + threads_bytes;
    if (o.memory_budget && total > o.memory_budget)
        return fail(result::budget_exceeded, no_offset,
                    "context: needs %llu bytes (KV cache %llu for %d tokens, scratch %llu), memory budget is %zu bytes",
                    (unsigned long long)total, (unsigned long long)kv_bytes, n_ctx, (unsigned long long)(total - kv_bytes), o.memory_budget);

    const allocator a = resolve(&o.alloc);
    void* mem = mem_alloc(a, sizeof(state), alignof(state));
    if (!mem) return fail(result::out_of_memory, no_offset, "out of memory");
    state* s = new (mem) state();
    state_ = s;
    s->alloc = a;
    s->log = o.log;
    s->m = &M;
    s->n_ctx = n_ctx;
    s->n_batch = n_batch;
    s->kv = o.kv;
    s->kv_elem = (size_t)kv_elem;
    s->kv_dim = kv_dim;
    s->q_dim = q_dim;
    s->kv_bytes = (size_t)kv_bytes;
    s->should_stop = o.should_stop;
    s->should_stop_user = o.should_stop_user;
    s->matmul = o.matmul;
    s->n_slots = n_slots;
    s->max_cols = max_cols;
    s->rowbuf_floats = rowbuf_floats;
    s->mm_split = mm_split;
    s->par = o.parallel;
    s->block_bytes = (size_t)measure.size;
    s->block = mem_alloc(a, s->block_bytes);
    if (!s->block) {
        const size_t need = s->block_bytes;
        s->block_bytes = 0;
        context dead(static_cast<context&&>(*this));
        return fail(result::out_of_memory, no_offset, "context: out of memory for %zu bytes (KV cache and scratch)", need);
    }
    // Batches walk the activation matrices a token row apart (n_ff floats and more): with 4 KiB
    // pages every row is another TLB entry (2 MiB pages measured 5-20% on TinyLlama pp512, AMX).
    advise_huge_pages(a, s->block, s->block_bytes);
    rt_layout lay;
    lay.base = static_cast<uint8_t*>(s->block);
    const uint64_t scratch_at = carve(lay, s);
    // The scratch is written by every batch: its pages are touched here, once, so that the first
    // decode does not stop for page faults (the KV cache fills as tokens arrive and is left alone).
    std::memset(static_cast<uint8_t*>(s->block) + scratch_at, 0, s->block_bytes - (size_t)scratch_at);

#ifndef AI_NO_THREADS
    if (threads_bytes) {
        void* pm = mem_alloc(a, sizeof(rt_pool), alignof(rt_pool));
        void* tm = pm ? mem_alloc(a, (size_t)(n_threads - 1) * sizeof(std::thread), alignof(std::thread)) : nullptr;
        if (!tm) {
            mem_free(a, pm, sizeof(rt_pool));
            context dead(static_cast<context&&>(*this));
            return fail(result::out_of_memory, no_offset, "context: out of memory for the thread pool");
        }
        rt_pool* pool = new (pm) rt_pool();
        pool->threads = static_cast<std::thread*>(tm);
        pool->spin_ns = o.spin_us < 0 ? 0 : (o.spin_us == 0 ? 1000 : (int64_t)o.spin_us) * 1000;
        s->threads_bytes = (size_t)(n_threads - 1) * sizeof(std::thread);
        for (int32_t i = 0; i < n_threads - 1; ++i) {
            new (&pool->threads[i]) std::thread(&rt_pool::worker, pool, i + 1);
            pool->n_workers = i + 1;
        }
        s->pool = pool;
    }
#endif
    detail::log(s->log, log_level::info, "context: n_ctx %d, n_batch %d, KV cache %s %zu bytes, %zu bytes in all, %d thread(s)%s", n_ctx,
                n_batch, o.kv == kv_type::f16 ? "F16" : "F32", s->kv_bytes, memory_bytes(), n_threads,
                use_par ? " via the caller's parallel_for" : "");
    return status{};
}

status context::decode(const token_id* ids, int32_t n, float* logits_out, size_t logits_out_count) {
    if (!state_) return detail::fail(result::invalid_argument, no_offset, "context: not created");
    state& s = *state_;
    const int32_t n_vocab = s.m->hp.n_vocab;
    if (n < 0 || (n > 0 && !ids)) return detail::fail(result::invalid_argument, no_offset, "decode: %d tokens at a null pointer", n);
    if (n == 0) return status{};
    if (n > s.n_ctx - s.pos)
        return detail::fail(result::out_of_range, no_offset, "decode: %d tokens at position %d exceed the context of %d tokens", n, s.pos, s.n_ctx);
    for (int32_t i = 0; i < n; ++i)
        if (ids[i] < 0 || ids[i] >= n_vocab)
            return detail::fail(result::invalid_argument, no_offset, "decode: token %d (index %d) is not in the vocabulary of %d", ids[i], i, n_vocab);
    if (logits_out && logits_out_count / (size_t)n < (size_t)n_vocab)
        return detail::fail(result::invalid_argument, no_offset, "decode: logits_out holds %zu floats, %d tokens × %d need more", logits_out_count, n, n_vocab);

    s.have_logits = false;
    for (int32_t c = 0; c < n; c += s.n_batch) {
        const int32_t nt = std::min(s.n_batch, n - c);
        const bool last = c + nt == n;
        float* out = logits_out ? logits_out + (size_t)c * n_vocab : last ? s.logits : nullptr;
        status st = s.forward(ids + c, nt, out, logits_out != nullptr);
        if (!st) return st;
        s.pos += nt;
    }
    if (logits_out) std::memcpy(s.logits, logits_out + (size_t)(n - 1) * n_vocab, (size_t)n_vocab * sizeof(float));
    s.have_logits = true;
    return status{};
}

const float* context::logits() const { return state_ && state_->have_logits ? state_->logits : nullptr; }
int32_t context::position() const { return state_ ? state_->pos : 0; }
int32_t context::n_ctx() const { return state_ ? state_->n_ctx : 0; }

status context::rewind(int32_t pos) {
    if (!state_) return detail::fail(result::invalid_argument, no_offset, "context: not created");
    if (pos < 0 || pos > state_->pos)
        return detail::fail(result::out_of_range, no_offset, "rewind: position %d is outside 0..%d", pos, state_->pos);
    if (pos != state_->pos) state_->have_logits = false;
    state_->pos = pos;
    return status{};
}

size_t context::memory_bytes() const {
    if (!state_) return 0;
    size_t n = sizeof(state) + state_->block_bytes;
#ifndef AI_NO_THREADS
    if (state_->pool) n += sizeof(detail::rt_pool) + state_->threads_bytes;
#endif
    return n;
}

// ------------------------------------------------------------------------------------------------
// Sampler
// ------------------------------------------------------------------------------------------------
// llama.cpp's samplers, in its common order: penalties, top-k, top-p, min-p, temperature, draw.
// Candidates are ordered by (logit descending, id ascending) whenever an order matters, a total
// order, so every standard library gives the same result. The random numbers are xoshiro256**
// seeded by splitmix64: the same seed gives the same stream on every platform.

struct sampler::state {
    struct cand {
        float logit;
        int32_t id;
    };
    allocator alloc;
    sampler_options o;
    int32_t n_vocab = 0;
    int32_t last_n = 64;
    cand* cands = nullptr;       // [n_vocab]
    int32_t* counts = nullptr;   // [n_vocab] occurrences in the history
    token_id* hist = nullptr;    // [last_n] ring buffer
    int32_t hist_len = 0, hist_head = 0;
    uint64_t rng[4] = {0, 0, 0, 0};
    size_t bytes = 0;
    void* block = nullptr;

    void seed() {
        uint64_t z = o.seed;
        for (uint64_t& r : rng) {  // splitmix64
            z += 0x9e3779b97f4a7c15ull;
            uint64_t t = z;
            t = (t ^ (t >> 30)) * 0xbf58476d1ce4e5b9ull;
            t = (t ^ (t >> 27)) * 0x94d049bb133111ebull;
            r = t ^ (t >> 31);
        }
    }
    uint64_t next() {  // xoshiro256**
        const auto rotl = [](uint64_t x, int k) { return (x << k) | (x >> (64 - k)); };
        const uint64_t result = rotl(rng[1] * 5, 7) * 9;
        const uint64_t t = rng[1] << 17;
        rng[2] ^= rng[0];
        rng[3] ^= rng[1];
        rng[1] ^= rng[2];
        rng[0] ^= rng[3];
        rng[2] ^= t;
        rng[3] = rotl(rng[3], 45);
        return result;
    }
    double uniform() { return (double)(next() >> 11) * 0x1p-53; }  // [0, 1)
};

namespace detail {
inline bool rt_cand_before(const sampler::state::cand& a, const sampler::state::cand& b) {
    return a.logit > b.logit || (a.logit == b.logit && a.id < b.id);
}
}  // namespace detail

namespace detail {
inline void rt_sampler_free(sampler::state* s) {
    if (!s) return;
    const allocator a = s->alloc;
    mem_free(a, s->block, s->bytes);
    s->~state();
    mem_free(a, s, sizeof(sampler::state));
}
}  // namespace detail

sampler::~sampler() { detail::rt_sampler_free(state_); }

status sampler::init(int32_t n_vocab, const sampler_options* opt, const allocator* alloc) {
    using namespace detail;
    const sampler_options o = opt ? *opt : sampler_options{};
    if (n_vocab <= 0) return fail(result::invalid_argument, no_offset, "sampler: n_vocab %d must be positive", n_vocab);
    if (std::isnan(o.temperature) || o.top_k < 0 || !(o.top_p >= 0) || !(o.min_p >= 0 && o.min_p <= 1) || !(o.repeat_penalty >= 0) ||
        !std::isfinite(o.frequency_penalty) || !std::isfinite(o.presence_penalty) || o.penalty_last_n < 0)
        return fail(result::invalid_argument, no_offset, "sampler: an option is out of range (top_k, penalty_last_n >= 0; top_p >= 0; min_p in [0, 1]; repeat_penalty >= 0)");
    rt_sampler_free(state_);
    state_ = nullptr;
    const allocator a = resolve(alloc);
    void* mem = mem_alloc(a, sizeof(state), alignof(state));
    if (!mem) return fail(result::out_of_memory, no_offset, "out of memory");
    state* s = new (mem) state();
    s->alloc = a;
    s->o = o;
    s->n_vocab = n_vocab;
    s->last_n = o.penalty_last_n ? o.penalty_last_n : 64;
    rt_layout lay;
    for (int pass = 0; pass < 2; ++pass) {
        s->cands = lay.take_as<state::cand>((uint64_t)n_vocab);
        s->counts = lay.take_as<int32_t>((uint64_t)n_vocab);
        s->hist = lay.take_as<token_id>((uint64_t)s->last_n);
        if (pass == 0) {
            if (lay.overflow || lay.size > SIZE_MAX) {
                rt_sampler_free(s);
                return fail(result::out_of_memory, no_offset, "sampler: %d tokens is too large", n_vocab);
            }
            s->bytes = (size_t)lay.size;
            s->block = mem_alloc(a, s->bytes);
            if (!s->block) {
                rt_sampler_free(s);
                return fail(result::out_of_memory, no_offset, "sampler: out of memory for %zu bytes", (size_t)lay.size);
            }
            lay = rt_layout{};
            lay.base = static_cast<uint8_t*>(s->block);
        }
    }
    state_ = s;
    reset();
    return status{};
}

void sampler::reset() {
    if (!state_) return;
    std::memset(state_->counts, 0, (size_t)state_->n_vocab * sizeof(int32_t));
    state_->hist_len = state_->hist_head = 0;
    state_->seed();
}

void sampler::accept(token_id id) {
    if (!state_ || id < 0 || id >= state_->n_vocab) return;
    state& s = *state_;
    if (s.hist_len == s.last_n) {  // full: the oldest token (at hist_head) leaves, id takes its place
        --s.counts[s.hist[s.hist_head]];
        s.hist[s.hist_head] = id;
        s.hist_head = (s.hist_head + 1) % s.last_n;
    } else {
        s.hist[(s.hist_head + s.hist_len) % s.last_n] = id;
        ++s.hist_len;
    }
    ++s.counts[id];
}

token_id sampler::sample(const float* logits) {
    if (!state_ || !logits) return no_token;
    state& s = *state_;
    const sampler_options& o = s.o;
    state::cand* c = s.cands;
    int32_t n = s.n_vocab;
    for (int32_t i = 0; i < n; ++i) c[i] = state::cand{logits[i], i};

    // Penalties over the last N accepted tokens (llama.cpp): divide a positive logit by the repeat
    // penalty, multiply a non-positive one; subtract count * frequency + presence.
    const bool rep = o.repeat_penalty != 0.0f && o.repeat_penalty != 1.0f;
    if (s.hist_len && (rep || o.frequency_penalty != 0.0f || o.presence_penalty != 0.0f)) {
        for (int32_t i = 0; i < n; ++i) {
            const int32_t cnt = s.counts[i];
            if (!cnt) continue;
            if (rep) c[i].logit = c[i].logit <= 0 ? c[i].logit * o.repeat_penalty : c[i].logit / o.repeat_penalty;
            c[i].logit -= (float)cnt * o.frequency_penalty + o.presence_penalty;
        }
    }

    if (!(o.temperature > 0.0f)) {  // greedy: the largest logit, the lowest id among equals
        int32_t best = 0;
        for (int32_t i = 1; i < n; ++i)
            if (c[i].logit > c[best].logit) best = i;
        return c[best].id;
    }

    bool sorted = false;
    if (o.top_k > 0 && o.top_k < n) {  // top-k: the k largest
        std::partial_sort(c, c + o.top_k, c + n, detail::rt_cand_before);
        n = o.top_k;
        sorted = true;
    }
    if (o.top_p > 0.0f && o.top_p < 1.0f) {  // top-p: the smallest prefix whose probability reaches p
        if (!sorted) std::sort(c, c + n, detail::rt_cand_before);
        sorted = true;
        const float max = c[0].logit;
        float sum = 0.0f;
        for (int32_t i = 0; i < n; ++i) sum += std::exp(c[i].logit - max);
        float cum = 0.0f;
        for (int32_t i = 0; i < n; ++i) {
            cum += std::exp(c[i].logit - max) / sum;
            if (cum >= o.top_p) {
                n = i + 1;
                break;
            }
        }
    }
    if (o.min_p > 0.0f) {  // min-p: keep p_i >= min_p * p_max, i.e. logit >= max + log(min_p)
        float max = c[0].logit;
        for (int32_t i = 1; i < n; ++i) max = std::max(max, c[i].logit);
        const float min_logit = max + std::log(o.min_p);
        int32_t kept = 0;
        for (int32_t i = 0; i < n; ++i)
            if (c[i].logit >= min_logit) c[kept++] = c[i];
        n = kept > 0 ? kept : 1;
    }
    for (int32_t i = 0; i < n; ++i) c[i].logit /= o.temperature;  // temperature

    // Draw from softmax(logits) of what is left.
    float max = c[0].logit;
    for (int32_t i = 1; i < n; ++i) max = std::max(max, c[i].logit);
    double sum = 0.0;
    for (int32_t i = 0; i < n; ++i) sum += (double)std::exp(c[i].logit - max);
    const double target = s.uniform() * sum;
    double cum = 0.0;
    for (int32_t i = 0; i < n; ++i) {
        cum += (double)std::exp(c[i].logit - max);
        if (target < cum) return c[i].id;
    }
    return c[n - 1].id;
}

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

AI_TARGET_NS_END
}  // namespace ai
#endif  // AI_DISPATCH_TARGET

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
