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

// Text -> symbol id, open addressing over the state's text arena. Inserting an existing text
// replaces its id: llama.cpp's token_to_id keeps the last of duplicate vocabulary entries.
struct tok_text_map {
    struct slot {
        uint32_t check;  // high half of the hash, to skip most string compares
        int32_t id;      // -1: empty
    };
    slot* slots = nullptr;
    uint32_t mask = 0;
    size_t bytes = 0;
    const char* text = nullptr;      // the arena
    const uint32_t* off = nullptr;   // symbol i is text[off[i], off[i+1])

    bool init(const allocator& a, size_t n) {
        uint64_t cap = 16;
        while (cap < (uint64_t)n * 2) cap <<= 1;
        if (cap > ((uint64_t)1 << 31)) return false;
        bytes = (size_t)cap * sizeof(slot);
        slots = static_cast<slot*>(mem_alloc(a, bytes));
        if (!slots) return false;
        std::memset(slots, 0xff, bytes);
        mask = (uint32_t)(cap - 1);
        return true;
    }
    void release(const allocator& a) { mem_free(a, slots, bytes); slots = nullptr; bytes = 0; }
    bool same(int32_t id, const char* p, size_t n) const {
        return off[id + 1] - off[id] == n && (n == 0 || std::memcmp(text + off[id], p, n) == 0);
    }
    int32_t find(const char* p, size_t n) const {
        const uint64_t h = tok_hash(p, n);
        const uint32_t check = (uint32_t)(h >> 32);
        for (uint32_t i = (uint32_t)h & mask;; i = (i + 1) & mask) {
            const slot& s = slots[i];
            if (s.id < 0) return -1;
            if (s.check == check && same(s.id, p, n)) return s.id;
        }
    }
    void put(int32_t id) {  // the text of `id` must already be in the arena
        const char* p = text + off[id];
        const size_t n = off[id + 1] - off[id];
        const uint64_t h = tok_hash(p, n);
        const uint32_t check = (uint32_t)(h >> 32);
        for (uint32_t i = (uint32_t)h & mask;; i = (i + 1) & mask) {
            slot& s = slots[i];
            if (s.id < 0 || (s.check == check && same(s.id, p, n))) { s.check = check; s.id = id; return; }
        }
    }
};

// (left symbol, right symbol) -> (merge rank, symbol of the merged text or -1).
struct tok_merge_map {
    struct slot {
        uint64_t key;  // ~0: empty
        int32_t rank;
        int32_t result;
    };
    slot* slots = nullptr;
    uint32_t mask = 0;
    size_t bytes = 0;

    static uint64_t key_of(int32_t a, int32_t b) { return ((uint64_t)(uint32_t)a << 32) | (uint32_t)b; }
    static uint32_t spread(uint64_t k) { k *= 0x9e3779b97f4a7c15ull; return (uint32_t)(k >> 32) ^ (uint32_t)k; }
    bool init(const allocator& a, size_t n) {
        uint64_t cap = 16;
        while (cap < (uint64_t)n + n / 2) cap <<= 1;  // load factor at most 2/3
        if (cap > ((uint64_t)1 << 31)) return false;
        bytes = (size_t)cap * sizeof(slot);
        slots = static_cast<slot*>(mem_alloc(a, bytes));
        if (!slots) return false;
        std::memset(slots, 0xff, bytes);
        mask = (uint32_t)(cap - 1);
        return true;
    }
    void release(const allocator& a) { mem_free(a, slots, bytes); slots = nullptr; bytes = 0; }
    // Keeps the first rank given for a pair (llama.cpp inserts with emplace).
    void put_first(int32_t a, int32_t b, int32_t rank, int32_t result) {
        const uint64_t k = key_of(a, b);
        for (uint32_t i = spread(k) & mask;; i = (i + 1) & mask) {
            slot& s = slots[i];
            if (s.key == k) return;
            if (s.key == ~(uint64_t)0) { s.key = k; s.rank = rank; s.result = result; return; }
        }
    }
    const slot* find(int32_t a, int32_t b) const {
        if (!slots) return nullptr;
        const uint64_t k = key_of(a, b);
        for (uint32_t i = spread(k) & mask;; i = (i + 1) & mask) {
            const slot& s = slots[i];
            if (s.key == k) return &s;
            if (s.key == ~(uint64_t)0) return nullptr;
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
    float* score = nullptr;           // n_tokens
    uint16_t* attr = nullptr;         // n_tokens, detail::tattr_* bits
    uint8_t* eog = nullptr;           // bitmap over n_tokens
    char* piece_text = nullptr;       // every token's piece (as llama.cpp's special=true cache)
    uint32_t* piece_off = nullptr;    // n_tokens + 1
    detail::tok_text_map map;
    detail::tok_merge_map merges;
    // SentencePiece: the pairs of adjacent characters that occur inside some vocabulary entry
    // (keys as tok_merge_map pairs of packed characters, see tok_char_key). No merge ever joins
    // two characters that are not such a pair, so the text is cut there and every piece merged
    // on its own: the same tokens as one pass over the whole text, with small queues.
    detail::tok_merge_map spm_pairs;
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
    std::string_view piece_of(token_id id) const {
        return std::string_view(piece_text + piece_off[id], piece_off[id + 1] - piece_off[id]);
    }
    bool is_eog(token_id id) const { return id >= 0 && id < n_tokens && (eog[id >> 3] >> (id & 7) & 1); }
    void set_eog(token_id id, bool on) {
        if (id < 0 || id >= n_tokens) return;
        if (on) eog[id >> 3] = (uint8_t)(eog[id >> 3] | (1u << (id & 7)));
        else eog[id >> 3] = (uint8_t)(eog[id >> 3] & ~(1u << (id & 7)));
    }

    status load(const gguf_file& f, const tokenizer_options* opt);
    status load_texts(const gguf_array& tokens, const gguf_array* merge_list);
    size_t make_piece(token_id id, char* out) const;  // writes the piece, returns its size
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
// Writes them to out when out is not null; returns the size.
size_t tokenizer::state::make_piece(token_id id, char* out) const {
    using namespace detail;
    const std::string_view t = sym_text(id);
    const uint16_t a = attr[id];
    size_t n = 0;
    auto put = [&](const char* p, size_t k) {
        if (out) std::memcpy(out + n, p, k);
        n += k;
    };
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
    return n;
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
    size_t count = 0;
    for (int32_t i = 0; i < n_tokens; ++i) count += text_off[i + 1] - text_off[i];
    if (!spm_pairs.init(alloc, count)) return fail(result::out_of_memory, no_offset, "out of memory");
    for (int32_t i = 0; i < n_tokens; ++i) {
        const char* p = text + text_off[i];
        const size_t n = text_off[i + 1] - text_off[i];
        int32_t prev = 0;
        for (size_t j = 0; j < n;) {
            const size_t len = tok_char_len(p + j, n - j);
            const int32_t key = tok_char_key(p + j, len);
            if (j) spm_pairs.put_first(prev, key, 0, 0);
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
    score = take<float>((size_t)n);
    attr = take<uint16_t>((size_t)n);
    eog = take<uint8_t>((size_t)n / 8 + 1);
    if (!score || !attr || !eog) return fail(result::out_of_memory, no_offset, "out of memory for %llu tokens", (unsigned long long)n);
    std::memset(eog, 0, (size_t)n / 8 + 1);
    for (uint64_t i = 0; i < n; ++i) {
        double sc = 0;
        if (has_scores) scores_arr.get(i, &sc);
        score[i] = (float)sc;
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

    // --- pieces (before the strip flags below, which do not change them)
    {
        size_t total = 0;
        for (int32_t i = 0; i < n_tokens; ++i) total += make_piece(i, nullptr);
        if (total >= UINT32_MAX) return fail(result::unsupported, no_offset, "token pieces larger than 4 GiB");
        piece_text = take<char>(total + 1);
        piece_off = take<uint32_t>((size_t)n_tokens + 1);
        if (!piece_text || !piece_off) return fail(result::out_of_memory, no_offset, "out of memory");
        uint32_t pos = 0;
        for (int32_t i = 0; i < n_tokens; ++i) {
            piece_off[i] = pos;
            pos += (uint32_t)make_piece(i, piece_text + pos);
        }
        piece_off[n_tokens] = pos;
    }

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
        if (i > begin && !spm_pairs.find(prev, key)) {
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
        heap.push(tok_spm_bigram{score[id], left, size, id});
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
            const tok_merge_map::slot* m = merges.find(sym[left].id, sym[right].id);
            if (!m) return;
            heap.push(tok_bpe_bigram{m->rank, left, sym[left].n + sym[right].n, m->result});
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
    const std::string_view p = S.piece_of(id);
    if (buf && cap) std::memcpy(buf, p.data(), std::min(cap, p.size()));
    return p.size();
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
        std::string_view p;
        if (special || !(S.attr[id] & (tattr_unknown | tattr_control))) p = S.piece_of(id);
        if (remove_space && !p.empty() && p[0] == ' ') p.remove_prefix(1);
        remove_space = false;
        for (char c : p) {
            if (S.clean_spaces) clean.put(c);
            else sink(c);
        }
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
    std::string_view p;
    if (special_ || !(S->attr[id] & (tattr_unknown | tattr_control))) p = S->piece_of(id);
    if (at_start_ && S->add_space_prefix && !p.empty() && p[0] == ' ') p.remove_prefix(1);
    // First count on copies of the state; only write and keep the new state when it all fits.
    for (int pass = 0; pass < 2; ++pass) {
        uint8_t held[4];
        std::memcpy(held, pending_, 4);
        uint32_t held_len = pending_len_;
        tok_stream_sink sink{held, &held_len, pass ? out : nullptr, pass ? cap : 0};
        tok_cleaner<tok_stream_sink> clean{clean_, sink};
        for (char c : p) {
            if (S->clean_spaces) clean.put(c);
            else sink(c);
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
