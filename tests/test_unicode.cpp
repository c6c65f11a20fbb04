// Unicode layer and pre-tokenizers of the tokenizer: UTF-8 decoding as llama.cpp does it, the
// generated character tables, lowercase and NFD, pretok_from_name, and pretokenize's words on
// fixed cases. These need no oracle; tests/check_pretok_peer.py compares everything here with
// llama.cpp itself at scale (every codepoint, every pre-tokenizer name, thousands of inputs), and
// `tests/check_pretok_peer.py --print-cases` regenerates the expected words below from llama.cpp.
//
// The functions under test live in ai::detail, inside ai.hpp's implementation, which only the
// translation unit defining AI_IMPLEMENTATION sees. This file therefore compiles its own copy of
// ai_unicode.inl and ai_pretok.inl into a private namespace (they need nothing from ai.hpp).
#include <doctest/doctest.h>

#include "ai.hpp"

#include <cstdint>
#include <cstring>
#include <random>
#include <string>
#include <string_view>
#include <vector>

namespace ai_unicode_test {
#include "ai_unicode.inl"
#include "ai_pretok.inl"
}  // namespace ai_unicode_test

namespace {
using namespace ai_unicode_test::detail;

struct decoded {
    uint32_t cp;
    size_t len;
};
decoded dec(std::string_view s) {
    size_t len = 0;
    const uint32_t cp = utf8_decode(s.data(), s.size(), &len);
    return {cp, len};
}
std::vector<uint32_t> cpts_of(std::string_view s) {
    std::vector<uint32_t> v(s.size());
    v.resize(utf8_to_cpts(s.data(), s.size(), v.data()));
    return v;
}
std::string utf8_of(const uint32_t* c, size_t n) {
    std::string s;
    char buf[4];
    for (size_t i = 0; i < n; ++i) s.append(buf, utf8_encode(c[i], buf));
    return s;
}
// The words of `text`, checking on the way that they tile the text.
std::vector<std::string> words(pretok_kind k, std::string_view text) {
    const std::vector<uint32_t> c = cpts_of(text);
    std::vector<std::string> out;
    size_t expect = 0;
    bool ok = true;
    pretokenize(k, c.data(), c.size(), [&](size_t a, size_t b) {
        ok = ok && a == expect && b > a && b <= c.size();
        expect = b;
        out.push_back(utf8_of(c.data() + a, b - a));
    });
    CHECK(ok);
    CHECK(expect == c.size());
    return out;
}
}  // namespace

TEST_CASE("utf8_decode: valid sequences") {
    CHECK(dec("A").cp == 'A');
    CHECK(dec("A").len == 1);
    CHECK(dec(std::string_view("\0x", 2)).cp == 0);
    CHECK(dec("\xC3\xA9").cp == 0xE9);
    CHECK(dec("\xC3\xA9").len == 2);
    CHECK(dec("\xE2\x82\xAC").cp == 0x20AC);
    CHECK(dec("\xE2\x82\xAC").len == 3);
    CHECK(dec("\xF0\x9F\x98\x80").cp == 0x1F600);
    CHECK(dec("\xF0\x9F\x98\x80").len == 4);
    CHECK(dec("\xF4\x8F\xBF\xBF").cp == 0x10FFFF);
    CHECK(dec("\xEF\xBB\xBF").cp == 0xFEFF);
}

TEST_CASE("utf8_decode: invalid bytes are one U+FFFD each, as in llama.cpp") {
    for (const char* s : {"\x80", "\xBF", "\xFF", "\xFE", "\xF8\x88\x80\x80\x80", "\xC3", "\xC3(", "\xE2\x82",
                          "\xE2(\xAC", "\xF0\x9F\x98", "\xF0\x9F\x98(", "\xF4\x90\x80\x80", "\xF5\x80\x80\x80",
                          "\xF7\xBF\xBF\xBF"}) {
        CAPTURE(s);
        CHECK(dec(s).cp == 0xFFFD);
        CHECK(dec(s).len == 1);
    }
    // the available length counts, not a terminator
    CHECK(dec(std::string_view("\xC3\xA9", 1)).cp == 0xFFFD);
    CHECK(dec(std::string_view("\xE2\x82\xAC", 2)).len == 1);
    // llama.cpp accepts overlong forms and surrogates: they decode to their value
    CHECK(dec("\xC0\xAF").cp == '/');
    CHECK(dec("\xC0\xAF").len == 2);
    CHECK(dec("\xC1\xBF").cp == 0x7F);
    CHECK(dec("\xE0\x80\xAF").cp == '/');
    CHECK(dec("\xF0\x80\x80\xAF").cp == '/');
    CHECK(dec("\xED\xA0\x80").cp == 0xD800);
    CHECK(dec("\xED\xA0\x80").len == 3);
    // a whole string: every bad byte is its own U+FFFD and decoding resumes after it
    const std::vector<uint32_t> v = cpts_of("a\xE2\x82" "b\x80\xC3\xA9\xF0\x9F\x98");
    const std::vector<uint32_t> want = {'a', 0xFFFD, 0xFFFD, 'b', 0xFFFD, 0xE9, 0xFFFD, 0xFFFD, 0xFFFD};
    CHECK(v == want);
    CHECK(cpts_of("").empty());
}

TEST_CASE("utf8_encode round-trips every codepoint, surrogates included") {
    char buf[4];
    uint32_t n_bad = 0, first_bad = 0;
    for (uint32_t cp = 0; cp <= 0x10FFFF; ++cp) {
        const size_t n = utf8_encode(cp, buf);
        size_t len = 0;
        const bool ok = n == (cp < 0x80 ? 1u : cp < 0x800 ? 2u : cp < 0x10000 ? 3u : 4u) &&
                        utf8_decode(buf, n, &len) == cp && len == n;
        if (!ok && n_bad++ == 0) first_bad = cp;
    }
    CAPTURE(first_bad);
    CHECK(n_bad == 0);
    CHECK(utf8_encode(0x110000, buf) == 3);
    CHECK(std::string(buf, 3) == "\xEF\xBF\xBD");
    CHECK(utf8_of(cpts_of("x\xFFy").data(), 3) == "x\xEF\xBF\xBDy");
}

TEST_CASE("unicode_flags: categories and whitespace (Unicode 15.1, llama.cpp's classes)") {
    struct {
        uint32_t cp, flags;
    } cases[] = {
        {'A', ucat_letter}, {'z', ucat_letter}, {'0', ucat_number}, {'_', ucat_punct}, {'\'', ucat_punct},
        {'$', ucat_symbol}, {'`', ucat_symbol}, {'+', ucat_symbol}, {' ', ucat_separator | ucat_space},
        {'\n', ucat_control | ucat_space}, {'\v', ucat_control | ucat_space}, {0x1C, ucat_control},
        {0, ucat_control}, {0x7F, ucat_control}, {0x85, ucat_control | ucat_space},
        {0xA0, ucat_separator | ucat_space}, {0x1680, ucat_separator | ucat_space},
        {0x2028, ucat_separator | ucat_space}, {0x3000, ucat_separator | ucat_space}, {0x200B, ucat_control},
        {0xFEFF, ucat_control}, {0xAD, ucat_control}, {0xB5, ucat_letter}, {0xE9, ucat_letter},
        {0x301, ucat_mark}, {0x94D, ucat_mark}, {0x20DD, ucat_mark}, {0x4E2D, ucat_letter},
        {0xAC00, ucat_letter}, {0x663, ucat_number}, {0xB2, ucat_number}, {0x216B, ucat_number},
        {0x2460, ucat_number}, {0x20AC, ucat_symbol}, {0x1F600, ucat_symbol}, {0x1F3FB, ucat_symbol},
        {0xAB, ucat_punct}, {0x3001, ucat_punct}, {0xFF01, ucat_punct}, {0xE000, ucat_control},
        {0xD800, ucat_control}, {0x10FFFD, ucat_control}, {0x378, ucat_unassigned}, {0xFFFF, ucat_unassigned},
        {0x110000, ucat_unassigned}, {0xFFFFFFFF, ucat_unassigned},
        // version: Kawi (15.0) and CJK Extension I (15.1) are assigned, Garay (16.0) is not
        {0x11F04, ucat_letter}, {0x2EBF0, ucat_letter}, {0x10D40, ucat_unassigned},
    };
    for (const auto& c : cases) {
        CAPTURE(c.cp);
        CHECK(unicode_flags(c.cp) == c.flags);
        CHECK(is_whitespace(c.cp) == ((c.flags & ucat_space) != 0));
    }
}

TEST_CASE("unicode_flags: one category per codepoint, whitespace only on controls and separators") {
    const uint32_t cats = ucat_letter | ucat_number | ucat_mark | ucat_punct | ucat_symbol | ucat_control |
                          ucat_separator | ucat_unassigned;
    int n_space = 0;
    uint32_t n_bad = 0, first_bad = 0;
    for (uint32_t cp = 0; cp <= 0x10FFFF; ++cp) {
        const uint32_t f = unicode_flags(cp);
        const uint32_t c = f & cats;
        bool ok = c != 0 && (c & (c - 1)) == 0 && (f & ~(cats | ucat_space)) == 0;
        if (f & ucat_space) {
            ok = ok && (c & (ucat_control | ucat_separator)) != 0;
            ++n_space;
        }
        if (c == ucat_separator) ok = ok && (f & ucat_space) != 0;
        if (!ok && n_bad++ == 0) first_bad = cp;
    }
    CAPTURE(first_bad);
    CHECK(n_bad == 0);
    CHECK(n_space == 25);
}

TEST_CASE("unicode_lower: simple lowercase mapping") {
    struct {
        uint32_t cp, lower;
    } cases[] = {
        {'A', 'a'}, {'Z', 'z'}, {'a', 'a'}, {'1', '1'}, {0xC0, 0xE0}, {0xD7, 0xD7}, {0x100, 0x101},
        {0x101, 0x101}, {0x130, 'i'}, {0x178, 0xFF}, {0x1C4, 0x1C6}, {0x1C5, 0x1C6}, {0x3A3, 0x3C3},
        {0x3C2, 0x3C2}, {0x410, 0x430}, {0x10A0, 0x2D00}, {0x13A0, 0xAB70}, {0x1E9E, 0xDF}, {0x2126, 0x3C9},
        {0x212A, 'k'}, {0x212B, 0xE5}, {0xFF21, 0xFF41}, {0x10400, 0x10428}, {0x10570, 0x10597},
        {0x1E900, 0x1E922}, {0x4E2D, 0x4E2D}, {0x110000, 0x110000},
    };
    for (const auto& c : cases) {
        CAPTURE(c.cp);
        CHECK(unicode_lower(c.cp) == c.lower);
    }
}

TEST_CASE("unicode_nfd: llama.cpp's first codepoint of the canonical decomposition") {
    struct {
        uint32_t cp, nfd;
    } cases[] = {
        {'a', 'a'}, {0xE9, 'e'}, {0xC5, 'A'}, {0x212B, 'A'}, {0x1EC7, 'e'}, {0x1C4, 0x1C4}, {0x1E08, 'C'},
        {0x3AC, 0x3B1}, {0x419, 0x418}, {0xAC00, 0x1100}, {0xD7A3, 0x1112}, {0xF900, 0x8C48},
        {0x2F800, 0x4E3D}, {0xFB01, 0xFB01}, {0x2460, 0x2460}, {0x301, 0x301}, {0x1D15E, 0x1D157},
    };
    for (const auto& c : cases) {
        CAPTURE(c.cp);
        uint32_t out[8] = {0};
        CHECK(unicode_nfd(c.cp, out) == 1);
        CHECK(out[0] == c.nfd);
    }
}

TEST_CASE("unicode_is_han and the WordPiece CJK test") {
    CHECK(unicode_is_han(0x4E2D));
    CHECK(unicode_is_han(0x2B820));
    CHECK(unicode_is_han(0x2EBEF));
    CHECK(unicode_is_han(0xF900));
    CHECK_FALSE(unicode_is_han(0x3042));
    CHECK_FALSE(unicode_is_han(0xAC00));
    CHECK(unicode_is_cjk_wpm(0x4E2D));
    CHECK_FALSE(unicode_is_cjk_wpm(0x2B820));
    CHECK(unicode_is_cjk_wpm(0x2B920));
    CHECK_FALSE(unicode_is_cjk_wpm(0x2CEB0));
}

TEST_CASE("pretok_from_name and pretok_name") {
    struct {
        const char* name;
        pretok_kind kind;
    } cases[] = {
        {"default", pretok_kind::default_}, {"gpt-2", pretok_kind::gpt2}, {"llama-bpe", pretok_kind::llama3},
        {"llama3", pretok_kind::llama3}, {"qwen2", pretok_kind::qwen2}, {"deepseek-r1-qwen", pretok_kind::qwen2},
        {"deepseek-llm", pretok_kind::deepseek_llm}, {"deepseek-coder", pretok_kind::deepseek_coder},
        {"falcon", pretok_kind::falcon}, {"mpt", pretok_kind::mpt}, {"starcoder", pretok_kind::starcoder},
        {"refact", pretok_kind::refact}, {"qwen35", pretok_kind::qwen35}, {"smollm", pretok_kind::smollm},
        {"smaug-bpe", pretok_kind::smaug}, {"olmo", pretok_kind::olmo}, {"dbrx", pretok_kind::dbrx},
        {"gpt-4o", pretok_kind::gpt4o}, {"llama4", pretok_kind::gpt4o}, {"deepseek-v3", pretok_kind::deepseek3_llm},
        {"tekken", pretok_kind::tekken}, {"chatglm-bpe", pretok_kind::chatglm4}, {"kimi-k2", pretok_kind::kimi_k2},
    };
    for (const auto& c : cases) {
        CAPTURE(c.name);
        pretok_kind k = pretok_kind::whitespace;
        REQUIRE(pretok_from_name(c.name, &k));
        CHECK(k == c.kind);
        pretok_kind back = pretok_kind::whitespace;
        REQUIRE(pretok_from_name(pretok_name(k), &back));
        CHECK(back == k);
    }
    pretok_kind k = pretok_kind::gpt2;
    for (const char* bad : {"", "llama", "gpt2", "Qwen2", "qwen2 ", "unknown"}) {
        CAPTURE(bad);
        CHECK_FALSE(pretok_from_name(bad, &k));
    }
    CHECK(k == pretok_kind::gpt2);
    CHECK(std::string(pretok_name(pretok_kind::llama3)) == "llama-bpe");
    CHECK(std::string(pretok_name(static_cast<pretok_kind>(-1))) == "unknown");
    CHECK(pretok_byte_encode(pretok_kind::qwen2));
    CHECK_FALSE(pretok_byte_encode(pretok_kind::gemma4));
}

TEST_CASE("pretokenize: llama.cpp's words on fixed inputs") {
    static const char* const inputs[] = {
        "Hello world's 12345 ok", "I'M  don't\n\n  x  ", "3.14159 1234567 \u0661\u0662\u0663",
        "\u4E2D\u6587abc \uD55C\uAD6D\uC5B4 \u3072\u3089\u304C\u306A", "e\u0301tude  \u00A0 \u03A9\u0308x",
        "$+<=>^~|` ... !!'s", "\tif (x) {\r\n    return;\n}",
    };
    struct expected {
        const char* name;
        int input;
        const char* words[24];  // ends at the first null
    };
    static const expected cases[] = {
        // gpt-2
        {"gpt-2", 0, {"Hello", " world", "'s", " 12345", " ok"}},
        {"gpt-2", 1, {"I", "'", "M", " ", " don", "'t", "\n\n ", " x", "  "}},
        {"gpt-2", 2, {"3", ".", "14159", " 1234567", " \u0661\u0662\u0663"}},
        {"gpt-2", 3, {"\u4E2D\u6587abc", " \uD55C\uAD6D\uC5B4", " \u3072\u3089\u304C\u306A"}},
        {"gpt-2", 4, {"e", "\u0301", "tude", "  \u00A0", " \u03A9", "\u0308", "x"}},
        {"gpt-2", 5, {"$+<=>^~|`", " ...", " !!'", "s"}},
        {"gpt-2", 6, {"\t", "if", " (", "x", ")", " {", "\r\n   ", " return", ";", "\n", "}"}},
        // llama-bpe
        {"llama-bpe", 0, {"Hello", " world", "'s", " ", "123", "45", " ok"}},
        {"llama-bpe", 1, {"I", "'M", " ", " don", "'t", "\n\n", " ", " x", "  "}},
        {"llama-bpe", 2, {"3", ".", "141", "59", " ", "123", "456", "7", " ", "\u0661\u0662\u0663"}},
        {"llama-bpe", 3, {"\u4E2D\u6587abc", " \uD55C\uAD6D\uC5B4", " \u3072\u3089\u304C\u306A"}},
        {"llama-bpe", 4, {"e", "\u0301tude", "  \u00A0", " \u03A9", "\u0308x"}},
        {"llama-bpe", 5, {"$+<=>^~|`", " ...", " !!'", "s"}},
        {"llama-bpe", 6, {"\tif", " (", "x", ")", " {\r\n", "   ", " return", ";\n", "}"}},
        // qwen2
        {"qwen2", 0, {"Hello", " world", "'s", " ", "1", "2", "3", "4", "5", " ok"}},
        {"qwen2", 1, {"I", "'M", " ", " don", "'t", "\n\n", " ", " x", "  "}},
        {"qwen2", 2, {"3", ".", "1", "4", "1", "5", "9", " ", "1", "2", "3", "4", "5", "6", "7", " ", "\u0661", "\u0662", "\u0663"}},
        {"qwen2", 3, {"\u4E2D\u6587abc", " \uD55C\uAD6D\uC5B4", " \u3072\u3089\u304C\u306A"}},
        {"qwen2", 4, {"e", "\u0301tude", "  \u00A0", " \u03A9", "\u0308x"}},
        {"qwen2", 5, {"$+<=>^~|`", " ...", " !!'", "s"}},
        {"qwen2", 6, {"\tif", " (", "x", ")", " {\r\n", "   ", " return", ";\n", "}"}},
        // qwen35
        {"qwen35", 0, {"Hello", " world", "'s", " ", "1", "2", "3", "4", "5", " ok"}},
        {"qwen35", 1, {"I", "'M", " ", " don", "'t", "\n\n", " ", " x", "  "}},
        {"qwen35", 2, {"3", ".", "1", "4", "1", "5", "9", " ", "1", "2", "3", "4", "5", "6", "7", " ", "\u0661", "\u0662", "\u0663"}},
        {"qwen35", 3, {"\u4E2D\u6587abc", " \uD55C\uAD6D\uC5B4", " \u3072\u3089\u304C\u306A"}},
        {"qwen35", 4, {"e\u0301tude", "  \u00A0", " \u03A9\u0308x"}},
        {"qwen35", 5, {"$+<=>^~|`", " ...", " !!'", "s"}},
        {"qwen35", 6, {"\tif", " (", "x", ")", " {\r\n", "   ", " return", ";\n", "}"}},
        // deepseek-llm
        {"deepseek-llm", 0, {"Hello", " world", "'", "s", " ", "12345", " ok"}},
        {"deepseek-llm", 1, {"I", "'", "M", " ", " don", "'", "t", "\n", "\n", " ", " x", "  "}},
        {"deepseek-llm", 2, {"3", ".", "14159", " ", "1234567", " ", "\u0661\u0662\u0663"}},
        {"deepseek-llm", 3, {"\u4E2D\u6587", "abc", " ", "\uD55C\uAD6D\uC5B4", " ", "\u3072\u3089\u304C\u306A"}},
        {"deepseek-llm", 4, {"e", "\u0301", "tude", "  \u00A0", " \u03A9", "\u0308", "x"}},
        {"deepseek-llm", 5, {"$+<=>^~|`", " ...", " !!'", "s"}},
        {"deepseek-llm", 6, {"\tif", " (", "x", ")", " {", "\r", "\n", "   ", " return", ";", "\n", "}"}},
        // deepseek-coder
        {"deepseek-coder", 0, {"Hello", " world", "'", "s", " ", "1", "2", "3", "4", "5", " ok"}},
        {"deepseek-coder", 1, {"I", "'", "M", " ", " don", "'", "t", "\n", "\n", " ", " x", "  "}},
        {"deepseek-coder", 2, {"3", ".", "1", "4", "1", "5", "9", " ", "1", "2", "3", "4", "5", "6", "7", " ", "\u0661", "\u0662", "\u0663"}},
        {"deepseek-coder", 3, {"\u4E2D\u6587", "abc", " ", "\uD55C\uAD6D\uC5B4", " ", "\u3072\u3089\u304C\u306A"}},
        {"deepseek-coder", 4, {"e", "\u0301", "tude", "  \u00A0", " \u03A9", "\u0308", "x"}},
        {"deepseek-coder", 5, {"$+<=>^~|`", " ...", " !!'", "s"}},
        {"deepseek-coder", 6, {"\tif", " (", "x", ")", " {", "\r", "\n", "   ", " return", ";", "\n", "}"}},
        // falcon
        {"falcon", 0, {"Hello", " world", "'", "s", " ", "123", "45", " ok"}},
        {"falcon", 1, {"I", "'", "M", " ", " don", "'", "t", "\n\n ", " x", "  "}},
        {"falcon", 2, {"3", ".", "141", "59", " ", "123", "456", "7", " \u0661\u0662\u0663"}},
        {"falcon", 3, {"\u4E2D\u6587abc", " \uD55C\uAD6D\uC5B4", " \u3072\u3089\u304C\u306A"}},
        {"falcon", 4, {"e", "\u0301", "tude", "  \u00A0", " \u03A9", "\u0308", "x"}},
        {"falcon", 5, {"$+<=>^~|`", " ", "...", " ", "!!'", "s"}},
        {"falcon", 6, {"\t", "if", " ", "(", "x", ")", " ", "{", "\r\n   ", " return", ";", "\n", "}"}},
        // default
        {"default", 0, {"Hello", " world", "'", "s", " ", "123", "45", " ok"}},
        {"default", 1, {"I", "'", "M", " ", " don", "'", "t", "\n\n ", " x", "  "}},
        {"default", 2, {"3", ".", "141", "59", " ", "123", "456", "7", " ", "\u0661\u0662\u0663"}},
        {"default", 3, {"\u4E2D\u6587abc", " \uD55C\uAD6D\uC5B4", " \u3072\u3089\u304C\u306A"}},
        {"default", 4, {"e", "\u0301", "tude", "  \u00A0", " \u03A9", "\u0308", "x"}},
        {"default", 5, {"$+<=>^~|", "`", " ", "...", " ", "!!'", "s"}},
        {"default", 6, {"\t", "if", " ", "(", "x", ")", " ", "{", "\r\n   ", " return", ";", "\n", "}"}},
        // starcoder
        {"starcoder", 0, {"Hello", " world", "'s", " ", "1", "2", "3", "4", "5", " ok"}},
        {"starcoder", 1, {"I", "'", "M", " ", " don", "'t", "\n\n ", " x", "  "}},
        {"starcoder", 2, {"3", ".", "1", "4", "1", "5", "9", " ", "1", "2", "3", "4", "5", "6", "7", " ", "\u0661", "\u0662", "\u0663"}},
        {"starcoder", 3, {"\u4E2D\u6587abc", " \uD55C\uAD6D\uC5B4", " \u3072\u3089\u304C\u306A"}},
        {"starcoder", 4, {"e", "\u0301", "tude", "  \u00A0", " \u03A9", "\u0308", "x"}},
        {"starcoder", 5, {"$+<=>^~|`", " ...", " !!'", "s"}},
        {"starcoder", 6, {"\t", "if", " (", "x", ")", " {", "\r\n   ", " return", ";", "\n", "}"}},
        // deepseek-v3
        {"deepseek-v3", 0, {"Hello", " world", "'s", " ", "123", "45", " ok"}},
        {"deepseek-v3", 1, {"I", "'M", " ", " don", "'t", "\n\n", " ", " x", "  "}},
        {"deepseek-v3", 2, {"3", ".", "141", "59", " ", "123", "456", "7", " ", "\u0661\u0662\u0663"}},
        {"deepseek-v3", 3, {"\u4E2D\u6587", "abc", " \uD55C\uAD6D\uC5B4", " ", "\u3072\u3089\u304C\u306A"}},
        {"deepseek-v3", 4, {"e\u0301tude", "  \u00A0", " \u03A9\u0308x"}},
        {"deepseek-v3", 5, {"$+<=>^~|`", " ...", " !!'", "s"}},
        {"deepseek-v3", 6, {"\tif", " (", "x", ")", " {\r\n", "   ", " return", ";\n", "}"}},
        // gpt-4o
        {"gpt-4o", 0, {"Hello", " world's", " ", "123", "45", " ok"}},
        {"gpt-4o", 1, {"I'M", " ", " don't", "\n\n", " ", " x", "  "}},
        {"gpt-4o", 2, {"3", ".", "141", "59", " ", "123", "456", "7", " ", "\u0661\u0662\u0663"}},
        {"gpt-4o", 3, {"\u4E2D\u6587abc", " \uD55C\uAD6D\uC5B4", " \u3072\u3089\u304C\u306A"}},
        {"gpt-4o", 4, {"e", "\u0301tude", "  \u00A0", " \u03A9", "\u0308x"}},
        {"gpt-4o", 5, {"$+<=>^~|`", " ...", " !!'", "s"}},
        {"gpt-4o", 6, {"\tif", " (", "x", ")", " {\r\n", "   ", " return", ";\n", "}"}},
        // kimi-k2
        {"kimi-k2", 0, {"Hello", " world's", " ", "123", "45", " ok"}},
        {"kimi-k2", 1, {"I'M", " ", " don't", "\n\n", " ", " x", "  "}},
        {"kimi-k2", 2, {"3", ".", "141", "59", " ", "123", "456", "7", " ", "\u0661\u0662\u0663"}},
        {"kimi-k2", 3, {"\u4E2D\u6587", "abc", " \uD55C\uAD6D\uC5B4", " \u3072\u3089\u304C\u306A"}},
        {"kimi-k2", 4, {"e", "\u0301tude", "  \u00A0", " \u03A9", "\u0308x"}},
        {"kimi-k2", 5, {"$+<=>^~|`", " ...", " !!'", "s"}},
        {"kimi-k2", 6, {"\tif", " (", "x", ")", " {\r\n", "   ", " return", ";\n", "}"}},
        // bloom
        {"bloom", 0, {"Hello", " world's", " 12345", " ok"}},
        {"bloom", 1, {"I'M", " ", " don't", "\n\n ", " x", "  "}},
        {"bloom", 2, {"3", ".", "14159", " 1234567", " \u0661\u0662\u0663"}},
        {"bloom", 3, {"\u4E2D\u6587abc", " \uD55C\uAD6D\uC5B4", " \u3072\u3089\u304C\u306A"}},
        {"bloom", 4, {"e\u0301tude", "  \u00A0", " \u03A9\u0308x"}},
        {"bloom", 5, {"$+<=>^~", "|", "`", " ... !!", "'s"}},
        {"bloom", 6, {"\t", "if", " (", "x", ")", " {", "\r\n   ", " return;", "\n", "}"}},
        // whitespace
        {"whitespace", 0, {"Hello", " ", "world's", " ", "12345", " ", "ok"}},
        {"whitespace", 1, {"I'M", "  ", "don't", "\n\n  ", "x", "  "}},
        {"whitespace", 2, {"3.14159", " ", "1234567", " ", "\u0661\u0662\u0663"}},
        {"whitespace", 3, {"\u4E2D\u6587abc", " ", "\uD55C\uAD6D\uC5B4", " ", "\u3072\u3089\u304C\u306A"}},
        {"whitespace", 4, {"e\u0301tude", "  \u00A0 ", "\u03A9\u0308x"}},
        {"whitespace", 5, {"$+<=>^~|`", " ", "...", " ", "!!'s"}},
        {"whitespace", 6, {"\t", "if", " ", "(x)", " ", "{", "\r\n    ", "return;", "\n", "}"}},
        // gemma4
        {"gemma4", 0, {"Hello world's 12345 ok"}},
        {"gemma4", 1, {"I'M  don't", "\n\n", "  x  "}},
        {"gemma4", 2, {"3.14159 1234567 \u0661\u0662\u0663"}},
        {"gemma4", 3, {"\u4E2D\u6587abc \uD55C\uAD6D\uC5B4 \u3072\u3089\u304C\u306A"}},
        {"gemma4", 4, {"e\u0301tude  \u00A0 \u03A9\u0308x"}},
        {"gemma4", 5, {"$+<=>^~|` ... !!'s"}},
        {"gemma4", 6, {"\tif (x) {\r", "\n", "    return;", "\n", "}"}},
        // seed-coder
        {"seed-coder", 0, {"Hello", " world", "'s", " ", "1", "2", "3", "4", "5", " ok"}},
        {"seed-coder", 1, {"I", "'M", " ", " don", "'t", "\n\n", " ", " x", "  "}},
        {"seed-coder", 2, {"3", ".", "1", "4", "1", "5", "9", " ", "1", "2", "3", "4", "5", "6", "7", " ", "\u0661", "\u0662", "\u0663"}},
        {"seed-coder", 3, {"\u4E2D\u6587abc", " \uD55C\uAD6D\uC5B4", " \u3072\u3089\u304C\u306A"}},
        {"seed-coder", 4, {"e", "\u0301tude", "  \u00A0", " \u03A9", "\u0308x"}},
        {"seed-coder", 5, {"$+<=>^~|`", " ...", " !!'", "s"}},
        {"seed-coder", 6, {"\tif", " (", "x", ")", " {", "\r\n", "   ", " return", ";", "\n", "}"}},
        // tekken
        {"tekken", 0, {"Hello", " world", "'s", " ", "1", "2", "3", "4", "5", " ok"}},
        {"tekken", 1, {"I", "'M", " ", " don", "'t", "\n\n", " ", " x", "  "}},
        {"tekken", 2, {"3", ".", "1", "4", "1", "5", "9", " ", "1", "2", "3", "4", "5", "6", "7", " ", "\u0661", "\u0662", "\u0663"}},
        {"tekken", 3, {"\u4E2D\u6587abc", " \uD55C\uAD6D\uC5B4", " \u3072\u3089\u304C\u306A"}},
        {"tekken", 4, {"e", "\u0301tude", "  \u00A0", " \u03A9", "\u0308x"}},
        {"tekken", 5, {"$+<=>^~|`", " ...", " !!'", "s"}},
        {"tekken", 6, {"\tif", " (", "x", ")", " {\r\n", "   ", " return", ";\n", "}"}},
        // minicpm5
        {"minicpm5", 0, {"Hello", " world", "'s", " ", "123", "45", " ok"}},
        {"minicpm5", 1, {"I", "'M", " ", " don", "'t", "\n\n", " ", " x", "  "}},
        {"minicpm5", 2, {"3", ".", "141", "59", " ", "123", "456", "7", " ", "\u0661\u0662\u0663"}},
        {"minicpm5", 3, {"\u4E2D\u6587abc", " \uD55C\uAD6D\uC5B4", " \u3072\u3089\u304C\u306A"}},
        {"minicpm5", 4, {"e", "\u0301tude", "  \u00A0", " \u03A9", "\u0308x"}},
        {"minicpm5", 5, {"$+<=>^~|`", " ...", " !!'", "s"}},
        {"minicpm5", 6, {"\tif", " (", "x", ")", " {\r\n", "   ", " return", ";\n", "}"}},
    };
    for (const expected& e : cases) {
        CAPTURE(e.name);
        CAPTURE(e.input);
        pretok_kind k = pretok_kind::default_;
        REQUIRE(pretok_from_name(e.name, &k));
        std::vector<std::string> want;
        for (const char* w : e.words) {
            if (!w) break;
            want.push_back(w);
        }
        CHECK(words(k, inputs[e.input]) == want);
    }
}

TEST_CASE("pretokenize: every kind tiles random text into non-empty words") {
    static const char* const units[] = {" ", "  ", "\n", "\r\n", "\t", "a", "Z", "'s", "'LL", "1", "123456",
                                        "\u00E9", "\u0301", "\u4E2D", "\uAC00", "\u0663", ".", "$", "`", "\u00A0",
                                        "\u3000", "\U0001F600", "\xFF", "\xC3", "\u3002", "\u2026", "/"};
    std::mt19937 rng(7);
    for (int kind = 0; kind < static_cast<int>(pretok_kind_count); ++kind) {
        CAPTURE(kind);
        for (int t = 0; t < 200; ++t) {
            std::string s;
            const int n = static_cast<int>(rng() % 20);
            for (int i = 0; i < n; ++i) s += units[rng() % (sizeof(units) / sizeof(units[0]))];
            size_t total = 0;
            for (const std::string& w : words(static_cast<pretok_kind>(kind), s)) total += cpts_of(w).size();
            CHECK(total == cpts_of(s).size());
        }
        CHECK(words(static_cast<pretok_kind>(kind), "").empty());
    }
}

TEST_CASE("pretokenize: long runs stay linear") {
    std::string s(200000, ' ');
    s += "x";
    s += std::string(100000, '7');
    s += std::string(100000, '\n');
    for (pretok_kind k : {pretok_kind::gpt2, pretok_kind::llama3, pretok_kind::deepseek_llm, pretok_kind::gpt4o,
                          pretok_kind::deepseek3_llm, pretok_kind::default_}) {
        CAPTURE(static_cast<int>(k));
        const std::vector<std::string> w = words(k, s);
        CHECK(!w.empty());
    }
}
