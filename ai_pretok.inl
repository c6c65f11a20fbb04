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

// The regexes of the lists, by what they do. pt_op_* names say which regex of llama-vocab.cpp.
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
        if (end == 0) end = pt_space(c, pos, b, gpt2 ? pt_ws_gpt2 : op == pt_op::bpe_jais2 ? pt_ws_jais2 : pt_ws_llama3);
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
