#!/usr/bin/env python3
"""Compares ai.hpp's pre-tokenizers and Unicode tables with llama.cpp's own.

    check_pretok_peer.py [--header ai.hpp] [--shared DIR] [--work DIR] [--peer lib|source]
                         [--fuzz N] [--show K] [--cxx g++] [--print-cases]

llama.cpp's side is its own code, built into a scratch tool under --work (default
/tmp/ai-pretok-peer): with --peer lib (default) against the prebuilt libllama of the oracle (the
exact peer: tests/oracle.sh builds it), with --peer source from unicode.cpp and unicode-data.cpp
of the oracle's source tree (/tmp/oracle/src). The regex list of every pre-tokenizer name is
read from that tree's src/llama-vocab.cpp, so the check follows the peer's version by itself.

Checks:
 1. tables: for every codepoint U+0000..U+10FFFF, llama.cpp's category flags and whitespace bit,
    unicode_tolower and unicode_cpts_normalize_nfd against unicode_flags, unicode_lower and
    unicode_nfd;
 2. names: every tokenizer.ggml.pre name llama.cpp knows maps, through pretok_from_name, to a
    kind (or is reported as unsupported), and no name llama.cpp rejects is accepted;
 3. splits: for every supported name and every input, the words of unicode_regex_split (with
    that name's regex list) against pretokenize's words, byte for byte (words are re-encoded
    from codepoints on both sides, so UTF-8 decoding is compared too). Inputs: every test of
    SHARED/vocab/*.inp, a stress set (code, CJK, Arabic, Devanagari, emoji sequences, combining
    marks, whitespace runs, digit runs, contractions, mixed case, invalid UTF-8), 200 KB of
    SHARED/text/war-and-peace.txt, and --fuzz random strings of tricky characters (seeded).
    Inputs on which llama.cpp throws (a 4-byte sequence above U+10FFFF) are skipped and counted.
    llama.cpp's empty words (only SuperBPE's zero-width regex makes them; they give no tokens)
    are dropped before comparing: pretokenize never emits empty words.

Prints a summary; exits 0 when everything matches, 1 on any difference, 2 on a setup error.
--print-cases prints instead llama.cpp's words for the fixed cases of tests/test_unicode.cpp (the
body of its `cases` table).
"""
import argparse
import os
import random
import re
import resource
import struct
import subprocess
import sys
import tempfile

HERE = os.path.dirname(os.path.abspath(__file__))
ROOT = os.path.dirname(HERE)


def die(msg):
    print(f"check_pretok_peer: {msg}", file=sys.stderr)
    sys.exit(2)


def run(cmd, **kw):
    r = subprocess.run(cmd, stdout=subprocess.PIPE, stderr=subprocess.PIPE, **kw)
    if r.returncode != 0:
        die(f"{' '.join(cmd)} failed ({r.returncode}):\n{r.stderr.decode(errors='replace')[-3000:]}")
    return r.stdout


# ------------------------------------------------------------------------------------------------
# llama.cpp's regex lists, read from its source
# ------------------------------------------------------------------------------------------------

def strip_comments(src):
    out, i, n = [], 0, len(src)
    while i < n:
        ch = src[i]
        if ch in "\"'":
            j = i + 1
            while src[j] != ch:
                j += 2 if src[j] == "\\" else 1
            out.append(src[i:j + 1])
            i = j + 1
        elif src.startswith("//", i):
            i = src.find("\n", i)
            i = n if i < 0 else i
        elif src.startswith("/*", i):
            i = src.index("*/", i) + 2
        else:
            out.append(ch)
            i += 1
    return "".join(out)


def llama_pre_types(vocab_cpp):
    """{name: type}, {type: (regex literals, byte_encode)}, default list."""
    src = open(vocab_cpp, encoding="utf-8").read()
    a = src.index("struct llm_tokenizer_bpe : llm_tokenizer {")
    b = src.index("std::vector<std::string> regex_exprs;", a)
    body = strip_comments(src[a:b])
    lists, pending, default = {}, [], None
    tok = re.compile(r"case\s+(LLAMA_VOCAB_PRE_TYPE_\w+)\s*:|default\s*:|regex_exprs\s*=\s*\{(.*?)\};"
                     r"|byte_encode\s*=\s*false|break\s*;", re.S)
    cur = None
    for m in tok.finditer(body):
        t = m.group(0)
        if t.startswith("case"):
            pending.append(m.group(1))
        elif t.startswith("default"):
            pending.append("__default__")
        elif t.startswith("regex_exprs"):
            lits = []
            last_end = None
            for lm in re.finditer(r'"(?:[^"\\]|\\.)*"', m.group(2)):
                if last_end is not None and m.group(2)[last_end:lm.start()].strip() == "":
                    lits[-1] += lm.group(0)  # adjacent literals concatenate
                else:
                    lits.append(lm.group(0))
                last_end = lm.end()
            cur = [lits, True]
            for p in pending:
                lists[p] = cur
        elif t.startswith("byte_encode"):
            cur[1] = False
        else:  # break
            pending, cur = [], None
    default = lists.pop("__default__")
    a = src.index("if (tokenizer_pre.empty())")
    b = src.index('"unknown pre-tokenizer type', a)
    names = {}
    for block in strip_comments(src[a:b]).split("} else if ("):
        t = re.search(r"pre_type\s*=\s*(LLAMA_VOCAB_PRE_TYPE_\w+)", block)
        for n in re.findall(r'tokenizer_pre\s*==\s*"([^"]*)"', block):
            if t:
                names[n] = t.group(1)
    if len(names) < 20 or len(lists) < 10:
        die(f"could not read the pre-tokenizer table of {vocab_cpp}")
    return names, lists, default


# ------------------------------------------------------------------------------------------------
# The two tools
# ------------------------------------------------------------------------------------------------

PEER_SRC = r"""
#include <cstdint>
#include <cstdio>
#include <stdexcept>
#include <string>
#include <vector>
// llama.cpp's src/unicode.h (the library exports these)
struct peer_flags { uint16_t v; };
std::vector<std::string> unicode_regex_split(const std::string & text, const std::vector<std::string> & regex_exprs, bool byte_encode);
peer_flags unicode_cpt_flags_from_cpt(uint32_t cpt);
uint32_t unicode_tolower(uint32_t cpt);
std::vector<uint32_t> unicode_cpts_normalize_nfd(const std::vector<uint32_t> & cpts);

static const std::vector<std::vector<std::string>> k_lists = {
@LISTS@
};
"""

OURS_SRC = r"""
#define AI_IMPLEMENTATION
#include "ai.hpp"
#if @STANDALONE@
namespace ai {
#include "ai_unicode.inl"
#include "ai_pretok.inl"
}  // namespace ai
#endif
#include <cstdio>
#include <string>
#include <vector>
using namespace ai::detail;
"""

COMMON_SRC = r"""
static std::vector<std::string> read_inputs(const char* path) {
    std::vector<std::string> v;
    FILE* f = fopen(path, "rb");
    if (!f) { perror(path); exit(2); }
    uint32_t n = 0, len = 0;
    if (fread(&n, 4, 1, f) != 1) exit(2);
    for (uint32_t i = 0; i < n; ++i) {
        if (fread(&len, 4, 1, f) != 1) exit(2);
        std::string s(len, '\0');
        if (len && fread(&s[0], 1, len, f) != len) exit(2);
        v.push_back(s);
    }
    fclose(f);
    return v;
}
static void put_words(FILE* out, const std::vector<std::string>& words) {
    static const char* hx = "0123456789abcdef";
    std::string line;
    for (size_t w = 0; w < words.size(); ++w) {
        if (w) line += ' ';
        for (unsigned char ch : words[w]) { line += hx[ch >> 4]; line += hx[ch & 15]; }
    }
    line += '\n';
    fwrite(line.data(), 1, line.size(), out);
}
"""

PEER_MAIN = r"""
int main(int argc, char** argv) {
    if (argc >= 2 && std::string(argv[1]) == "tables") {
        std::vector<uint32_t> all(0x110000);
        for (uint32_t c = 0; c < 0x110000; ++c) all[c] = c;
        std::vector<uint32_t> nfd = unicode_cpts_normalize_nfd(all);
        for (uint32_t c = 0; c < 0x110000; ++c)
            printf("%x %x %x\n", (unsigned)(unicode_cpt_flags_from_cpt(c).v & 0x1FF), unicode_tolower(c), nfd[c]);
        return 0;
    }
    if (argc != 3) { fprintf(stderr, "usage: peer tables | peer LIST_INDEX INPUTS\n"); return 2; }
    const auto& list = k_lists.at(std::stoul(argv[1]));
    for (const std::string& text : read_inputs(argv[2])) {
        std::vector<std::string> words;
        try {
            words = unicode_regex_split(text, list, false);
        } catch (const std::exception&) {
            printf("!EXC\n");
            continue;
        }
        put_words(stdout, words);
    }
    return 0;
}
"""

OURS_MAIN = r"""
int main(int argc, char** argv) {
    if (argc >= 2 && std::string(argv[1]) == "tables") {
        static const uint32_t bits[][2] = {
            {ucat_unassigned, 0x01}, {ucat_number, 0x02}, {ucat_letter, 0x04}, {ucat_separator, 0x08},
            {ucat_mark, 0x10}, {ucat_punct, 0x20}, {ucat_symbol, 0x40}, {ucat_control, 0x80}, {ucat_space, 0x100}};
        for (uint32_t c = 0; c < 0x110000; ++c) {
            const uint32_t f = unicode_flags(c);
            uint32_t g = 0;
            for (auto& b : bits) if (f & b[0]) g |= b[1];
            uint32_t n[8];
            unicode_nfd(c, n);
            printf("%x %x %x\n", g, unicode_lower(c), n[0]);
        }
        return 0;
    }
    if (argc >= 2 && std::string(argv[1]) == "name") {  // name NAME...: kind name or "-"
        for (int i = 2; i < argc; ++i) {
            pretok_kind k;
            printf("%s\n", pretok_from_name(argv[i], &k) ? pretok_name(k) : "-");
        }
        return 0;
    }
    if (argc != 3) { fprintf(stderr, "usage: ours tables | ours name NAME... | ours NAME INPUTS\n"); return 2; }
    pretok_kind kind;
    if (!pretok_from_name(argv[1], &kind)) { fprintf(stderr, "unknown name %s\n", argv[1]); return 2; }
    std::vector<uint32_t> cpts;
    for (const std::string& text : read_inputs(argv[2])) {
        cpts.resize(text.size());
        cpts.resize(utf8_to_cpts(text.data(), text.size(), cpts.data()));
        std::vector<std::string> words;
        size_t expect = 0;
        pretokenize(kind, cpts.data(), cpts.size(), [&](size_t a, size_t b) {
            if (a != expect || b <= a || b > cpts.size()) { fprintf(stderr, "bad word [%zu, %zu)\n", a, b); exit(3); }
            expect = b;
            std::string w;
            for (size_t i = a; i < b; ++i) { char buf[4]; w.append(buf, utf8_encode(cpts[i], buf)); }
            words.push_back(w);
        });
        if (expect != cpts.size()) { fprintf(stderr, "words do not cover the text\n"); exit(3); }
        put_words(stdout, words);
    }
    return 0;
}
"""


def build_tools(args, work, lists_cpp):
    peer_cpp = os.path.join(work, "peer.cpp")
    with open(peer_cpp, "w", encoding="utf-8") as f:
        f.write(PEER_SRC.replace("@LISTS@", lists_cpp) + COMMON_SRC + PEER_MAIN)
    peer = os.path.join(work, "peer")
    if args.peer == "lib":
        out = run(["sh", os.path.join(HERE, "oracle.sh")], env=dict(os.environ, AI_SHARED_DIR=args.shared)).decode()
        bins = dict(l.split("=", 1) for l in out.split() if "=" in l).get("LLAMA_BINS")
        if not bins:
            die("tests/oracle.sh did not say where llama.cpp's libraries are")
        run([args.cxx, "-std=c++17", "-O1", peer_cpp, "-L" + bins, "-l:libllama.v0.4.0.so",
             "-l:libggml.v0.4.0.so", "-l:libggml-base.so", "-Wl,-rpath," + bins, "-o", peer])
    else:
        srcdir = os.path.join(args.oracle_src, "src")
        run([args.cxx, "-std=c++17", "-O2", peer_cpp, os.path.join(srcdir, "unicode.cpp"),
             os.path.join(srcdir, "unicode-data.cpp"), "-I" + srcdir, "-o", peer])

    header = open(args.header, encoding="utf-8").read()
    standalone = 0 if ('ai_pretok.inl"' in header or "pretok_from_name(" in header) else 1
    ours_cpp = os.path.join(work, "ours.cpp")
    with open(ours_cpp, "w", encoding="utf-8") as f:
        f.write(OURS_SRC.replace("@STANDALONE@", str(standalone)) + COMMON_SRC + OURS_MAIN)
    ours = os.path.join(work, "ours")
    hdr_dir = os.path.dirname(os.path.abspath(args.header))
    run([args.cxx, "-std=c++17", "-O2", "-Wall", "-Wextra", "-Werror", "-I" + hdr_dir, "-I" + ROOT,
         ours_cpp, "-o", ours])
    return peer, ours


# ------------------------------------------------------------------------------------------------
# Inputs
# ------------------------------------------------------------------------------------------------

def vocab_inputs(shared):
    d = os.path.join(shared, "vocab")
    out = []
    for name in sorted(os.listdir(d)):
        if name.endswith(".inp"):
            data = open(os.path.join(d, name), "rb").read()
            parts = data.split(b"\n__ggml_vocab_test__\n")
            if parts and parts[-1] == b"":
                parts.pop()
            out.extend(parts)
    return out


def stress_inputs():
    s = [
        # code
        "int main(int argc, char** argv) {\n\tfor (int i = 0; i < argc; ++i) printf(\"%s\\n\", argv[i]);\n\treturn 0;\n}\n",
        "def f(x):\n    if x <= 0:\n        return [x ** 2 for x in range(10)]  # comment\n\n\n    return {'a': 1, \"b\": 2.5e-3}\n",
        "    \t  foo_bar.baz(qux)->quux[0] != 0x1F && a||b; `ls -la` $HOME ~/.bashrc @decorator #include <vector>",
        "{\"key\": [1, 2, 3], \"nested\": {\"x\": null, \"y\": true}}\r\n",
        "SELECT * FROM t WHERE a >= 10 AND b <> 'x';  -- ok\n",
        # CJK, kana, Hangul
        "你好，世界！这是一个测试。我们在北京。", "日本語のテキストとカタカナ、ひらがな。", "한국어 텍스트입니다. 안녕하세요!",
        "中文English混合123测试", "㐀㐁 𠀀𠀁 𪜀 𫝀 𫠠 𬺰 𮯠 豈 丽 ぁゟ゠ヿ ｱｲｳ ㄅㄆ",
        # Arabic, Hebrew, Devanagari, Thai, Bengali
        "مرحبا بالعالم! هذا اختبار. ١٢٣٤٥٦٧ بِسْمِ اللَّهِ الرَّحْمَٰنِ الرَّحِيمِ، ؟",
        "שלום עולם, זה מבחן.", "नमस्ते दुनिया। यह एक परीक्षण है। १२३४५ क्षत्रिय", "สวัสดีชาวโลก นี่คือการทดสอบ ๑๒๓",
        "আমি বাংলায় গান গাই। ১২৩", "Ελληνικά: Καλημέρα κόσμε ΣΑΣ σας", "Русский текст: Привет, мир! ЁЖИК ёжик",
        # emoji
        "👨‍👩‍👧‍👦 family 👩🏽‍💻 coder 🏳️‍🌈 flag 🇺🇸🇫🇷 1️⃣ #️⃣ ❤️ ☺︎ 😀😃😄", "🦙🦙🦙 llama.cpp 🚀",
        # combining marks
        "e\u0301 a\u0308\u0301 \u0301start  \u0301\u0302 x\u20dd Z\u0351\u0352\u0353 n\u0303o",
        "\u0301\u0301\u0301abc\u0301 1\u0301 .\u0301 '\u0301s",
        # whitespace
        "a b  c   d    e     f      g", "   leading", "trailing   ", " ", "  ", "\t", "\n", "\r\n", "\n\n\n",
        " \n \n ", "a\n\n b\r\n\r\n  c \t\n\td", "x \u00a0 y\u2003z\u3000w\u2028v\u0085u\u1680t\u202fs\u205fr",
        "\u00a0\u00a0a", "a\u3000\u3000", "\x0b\x0c\x1c\x1d\x1e\x1f\x7f\x00 a\x00b", "  \t \n  x",
        "a" + " " * 100 + "b", "\n" * 50 + "x" + "\t" * 50,
        # digits
        "1234567890 12 123 1234 12345 123456 1234567", "1" * 101, "a1b22c333d4444e55555", "3.14159 -42 +7 1,000,000",
        "٣٤٥ ١٢٣٤ ۱۲۳۴ ０１２３４ ²³¹ ¼½¾ Ⅻ ⅻ ①②③ ⓵ 𝟙𝟚𝟛 ١٢٣٤٥٦٧٨٩٠", "12345abc6789 99.9% v1.2.3",
        # contractions
        "'s 't 're 've 'm 'll 'd 'S 'T 'RE 'VE 'M 'LL 'D 'Re 'lL", "don't I'M we'VE they'Re it'S you'll he'D",
        "'", "''", "'''s", "x'", "'l", "'r", "'x", "Rock'n'roll", "O'Neil's", "’s ‘quote’", "'ſ 'K",
        # mixed case
        "HelloWORLD fooBar XMLHttpRequest iPhone McDonald'S ÀÉÎõü ǅungla ǈ ǋ", "ABCdef ABC DEF ghiJKL",
        "ΣΑΣ σας ÉCOLE École", "İstanbul ıi", "ﬁnal ﬀ ß ẞ",
        # punctuation, symbols
        "Hello, world! How are you? I'm fine... --- *** ### $$$ +++ <<<>>> ^^^ ~~~ ||| ``` ___",
        "«Bonjour» ¿Qué? ¡Hola! — – … • · ‰ ′ ″ ‹› „“ ‚‘ 【】 《》 「」 『』 ！？。，、",
        "<|im_start|>user\nHi<|im_end|>\n<|im_start|>assistant\n", "<s> [INST] hi [/INST] </s>",
        "€100 £5 ¥3 ₹9 $4 ¢ ©® ™ ° ± × ÷ ≠ ≤ ≥ ∞ √ ∑ ∫ → ← ⇒ ★ ☆ ♠ ♥ ♦ ♣",
        "µ ÀÖ × Øö ÷ øƺ ƻ Ƽƿ ǀ Ǆʓ ʔ ʕʯ ᴀ ℂ K Å Ⅎ ⅎ ﬀ Ａａ",
        # special-token-like text (Chameleon's sentinels and image tokens), scripts of AFMoE and Youtu
        "<sentinel:0> <sentinel:123><sentinel:> <sentinel:x> IMGIMGAZ IMGIMGABCDZ IMGIMGABCDEZ IMGIMGZ IMGIMGAJZ",
        "\t\t    x  y   z     w\n\n", "ㄅㄆㄇ ㄱㄴ 가나 ，、。「」 ︰﹏ “a” — …", "เกม ກາ ကမ္ဘာ ខ្មែរ ꩠ ꧠ ⼀⼁ ｱｲ ﾟ 豈 \ue000",
        "the quick brown fox  jumps\u0301 over l\u0301azy  dogs 12,345,678.9 1234567890123",
        # private use, unassigned, format characters
        "\ue000\uf8ff a\u200bb\u200cc\u200dd\ufeffe\u2060f \U000e0041 \U0001fbff \u0378",
    ]
    out = [x.encode("utf-8") for x in s]
    # invalid UTF-8
    out += [b"\x80", b"\xbf abc", b"\xc3", b"abc\xc3", b"\xc3 x", b"\xe2\x82", b"\xe2\x82 x", b"\xf0\x9f\x98",
            b"\xf0\x9f\x98 x", b"\xc0\xaf", b"a\xc0\xafb", b"\xe0\x80\xaf", b"\xc1\xbf", b"\xed\xa0\x80",
            b"\xed\xbf\xbf x", b"\xff\xfe", b"hello \xff world", b"\xf8\x88\x80\x80\x80", b"\x80\x80\x80abc",
            b"caf\xe9 na\xefve", b"\xe4\xbd\xa0\xe5\xa5", b"\xf4\x8f\xbf\xbf", b"'\xc3s", b" \x80\x81 ",
            b"\xf5\x80\x80\x80", b"\xf4\x90\x80\x80 x"]
    return out


def fuzz_inputs(n, seed=1234):
    units = ([" ", "  ", "\n", "\r", "\r\n", "\t", "\x0b", "\x0c", "\x1c", "\x85", "\u00a0", "\u3000", "\u2028", "\u2003",
              "a", "b", "B", "Z", "s", "S", "t", "l", "L", "e", "r", "v", "d", "m", "x", "é", "É", "ß", "ǅ", "σ", "Σ",
              "я", "Я", "µ", "ƻ", "ʔ", "ᴀ", "ℂ", "Ａ", "ａ", "0", "1", "7", "٣", "१", "０", "²", "Ⅻ", "①", "'", "’",
              "\"", ".", ",", "!", "?", "-", "_", "/", "\\", "(", ")", "[", "]", "{", "}", "$", "+", "<", "=", ">",
              "^", "~", "|", "`", "@", "#", "%", "&", "*", ":", ";", "…", "。", "，", "、", "।", "۔", "،", "！", "：",
              "～", "‘", "‟", "¿", "«", "€", "©", "∑", "中", "国", "龥", "一", "가", "힣", "ㄱ", "ぁ", "カ", "ｱ",
              "ا", "ب", "\u064e", "न", "\u094d", "\u0301", "\u20dd", "ก", "\u200b", "\u200d", "\ufeff", "\ue000",
              "\x00", "\x7f", "😀", "👩", "\U0001f3fd", "🇺", "\ufe0f", "𝟙", "𐐀", "\U000e0041", "\u0378"] +
             [" the", " of", "'s", "'ll", "'RE", " 123", "\n\n", "  \n", "    ", "1234567", "<sentinel:", "IMGIMG",
              "A", "C", "I", "Z", "ㄅ", "ㄱ", "，", "︰", "—", "เ", "ກ", "က", "ក", "⼀", "豈", "ｱ", "ꩠ", "\u0e01"])
    bad = [b"\x80", b"\xc3", b"\xe2\x82", b"\xf0\x9f\x98", b"\xc0\xaf", b"\xed\xa0\x80", b"\xff"]
    rng = random.Random(seed)
    out = []
    for _ in range(n):
        k = rng.randint(0, 24)
        parts = []
        for _ in range(k):
            if rng.random() < 0.04:
                parts.append(rng.choice(bad))
            else:
                parts.append(rng.choice(units).encode("utf-8"))
        out.append(b"".join(parts))
    return out


def book_input(shared, size=200 * 1024):
    data = open(os.path.join(shared, "text", "war-and-peace.txt"), "rb").read()
    start = len(data) // 3
    while start < len(data) and (data[start] & 0xC0) == 0x80:
        start += 1
    end = start + size
    while end < len(data) and (data[end] & 0xC0) == 0x80:
        end += 1
    return data[start:end]


def write_inputs(path, inputs):
    with open(path, "wb") as f:
        f.write(struct.pack("<I", len(inputs)))
        for x in inputs:
            f.write(struct.pack("<I", len(x)))
            f.write(x)


def big_stack():
    try:
        resource.setrlimit(resource.RLIMIT_STACK, (resource.RLIM_INFINITY, resource.RLIM_INFINITY))
    except (ValueError, OSError):
        pass


def words_of(line):
    if line == "!EXC":
        return None
    return [bytes.fromhex(w).decode("utf-8", "replace") for w in line.split(" ") if w]


def show_diff(want, got):
    """The words around the first difference, both sides."""
    a, b = words_of(want), words_of(got)
    i = 0
    while i < min(len(a), len(b)) and a[i] == b[i]:
        i += 1
    lo = max(0, i - 3)
    fmt = lambda w: ("... " if lo else "") + ", ".join(repr(x) for x in w[lo:i + 6]) + (" ..." if len(w) > i + 6 else "")
    return f"word {i}: llama.cpp [{fmt(a)}]", f"{' ' * len(str(i))}       ours      [{fmt(b)}]"


# The fixed cases of tests/test_unicode.cpp (same inputs, same order).
CASE_INPUTS = ["Hello world's 12345 ok", "I'M  don't\n\n  x  ", "3.14159 1234567 \u0661\u0662\u0663",
               "\u4E2D\u6587abc \uD55C\uAD6D\uC5B4 \u3072\u3089\u304C\u306A", "e\u0301tude  \u00A0 \u03A9\u0308x",
               "$+<=>^~|` ... !!'s", "\tif (x) {\r\n    return;\n}"]
CASE_NAMES = ["gpt-2", "llama-bpe", "qwen2", "qwen35", "deepseek-llm", "deepseek-coder", "falcon", "default",
              "starcoder", "deepseek-v3", "gpt-4o", "kimi-k2", "bloom", "whitespace", "gemma4", "seed-coder",
              "tekken", "minicpm5"]


def c_literal(s):
    out = ""
    for ch in s:
        o = ord(ch)
        if ch in "\"\\":
            out += "\\" + ch
        elif ch == "\n":
            out += "\\n"
        elif ch == "\r":
            out += "\\r"
        elif ch == "\t":
            out += "\\t"
        elif 0x20 <= o < 0x7F:
            out += ch
        elif o < 0x10000:
            out += "\\u%04X" % o
        else:
            out += "\\U%08X" % o
    return '"' + out + '"'


def print_cases(peer, work, name_list):
    path = os.path.join(work, "cases.bin")
    write_inputs(path, [x.encode("utf-8") for x in CASE_INPUTS])
    for n in CASE_NAMES:
        out = run([peer, str(name_list[n]), path]).decode().split("\n")
        print(f"        // {n}")
        for i in range(len(CASE_INPUTS)):
            words = ", ".join(c_literal(w) for w in words_of(out[i]))
            print(f'        {{"{n}", {i}, {{{words}}}}},')


# ------------------------------------------------------------------------------------------------

def main():
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--header", default=os.path.join(ROOT, "ai.hpp"))
    ap.add_argument("--shared", default=os.environ.get("AI_SHARED_DIR", os.path.join(ROOT, "..", "shared")))
    ap.add_argument("--oracle-src", default="/tmp/oracle/src")
    ap.add_argument("--work", default="/tmp/ai-pretok-peer")
    ap.add_argument("--peer", choices=["lib", "source"], default="lib")
    ap.add_argument("--fuzz", type=int, default=3000)
    ap.add_argument("--show", type=int, default=3, help="mismatching inputs to print per name")
    ap.add_argument("--cxx", default=os.environ.get("CXX", "g++"))
    ap.add_argument("--print-cases", action="store_true")
    args = ap.parse_args()
    args.shared = os.path.abspath(args.shared)
    if not os.path.isdir(os.path.join(args.shared, "vocab")):
        die(f"no shared data folder at {args.shared}")
    os.makedirs(args.work, exist_ok=True)

    # llama.cpp's names and lists (the source tree exists once oracle.sh has run)
    vocab_cpp = os.path.join(args.oracle_src, "src", "llama-vocab.cpp")
    if not os.path.exists(vocab_cpp):
        run(["sh", os.path.join(HERE, "oracle.sh")], env=dict(os.environ, AI_SHARED_DIR=args.shared))
    if not os.path.exists(vocab_cpp):
        die(f"missing {vocab_cpp} (tests/oracle.sh lays it out)")
    names, lists, default = llama_pre_types(vocab_cpp)
    distinct = []
    def list_index(lits):
        key = tuple(lits)
        if key not in distinct:
            distinct.append(key)
        return distinct.index(key)
    name_list = {n: list_index(lists.get(t, default)[0]) for n, t in sorted(names.items())}
    lists_cpp = ",\n".join("    {" + ", ".join(lits) + "}" for lits in distinct)
    peer, ours = build_tools(args, args.work, lists_cpp)
    if args.print_cases:
        print_cases(peer, args.work, name_list)
        return 0
    failures = 0

    # 1. tables
    a = run([peer, "tables"]).split(b"\n")
    b = run([ours, "tables"]).split(b"\n")
    bad = [i for i in range(0x110000) if a[i] != b[i]]
    print(f"tables: {0x110000 - len(bad)}/{0x110000} codepoints agree (flags, lowercase, NFD)")
    for i in bad[:10]:
        print(f"  U+{i:04X}: llama.cpp {a[i].decode()} | ours {b[i].decode()}")
    failures += len(bad) > 0

    # 2. names
    ours_names = run([ours, "name"] + sorted(names)).decode().split("\n")
    supported = {n: k for n, k in zip(sorted(names), ours_names) if k != "-"}
    unsupported = sorted(set(names) - set(supported))
    fakes = ["", "llama", "gpt2", "Qwen2", "unknown-pre", "bert", "deepseek_llm"]
    extra = [n for n, k in zip(fakes, run([ours, "name"] + fakes).decode().split("\n")) if k != "-" and n not in names]
    print(f"names: {len(supported)}/{len(names)} of llama.cpp's tokenizer.ggml.pre names supported"
          + (f"; unsupported: {', '.join(unsupported)}" if unsupported else ""))
    if extra:
        print(f"  accepted but unknown to llama.cpp: {extra}")
        failures += 1

    # 3. splits
    inputs = []
    seen = set()
    groups = [("vocab .inp", vocab_inputs(args.shared)), ("stress", stress_inputs()),
              ("war-and-peace 200 KB", [book_input(args.shared)]), ("fuzz", fuzz_inputs(args.fuzz))]
    for _, g in groups:
        for x in g:
            if x not in seen:
                seen.add(x)
                inputs.append(x)
    inp_path = os.path.join(args.work, "inputs.bin")
    write_inputs(inp_path, inputs)
    print("inputs: " + ", ".join(f"{len(g)} {label}" for label, g in groups) + f" ({len(inputs)} distinct)")

    peer_out = {}
    for idx in sorted(set(name_list[n] for n in supported)):
        r = subprocess.run([peer, str(idx), inp_path], stdout=subprocess.PIPE, stderr=subprocess.PIPE,
                           preexec_fn=big_stack)
        if r.returncode != 0:
            die(f"peer failed on list {idx}: {r.stderr.decode(errors='replace')[-2000:]}")
        peer_out[idx] = [" ".join(w for w in line.split(" ") if w)
                         for line in r.stdout.decode().split("\n")[:len(inputs)]]
    total_bad = 0
    compared = 0
    skipped = set()
    print(f"{'name':26} {'kind':24} {'inputs':>7} {'mismatch':>8}")
    for n in sorted(supported):
        got = run([ours, n, inp_path]).decode().split("\n")[:len(inputs)]
        want = peer_out[name_list[n]]
        mism = [i for i in range(len(inputs)) if want[i] != "!EXC" and want[i] != got[i]]
        exc = sum(1 for w in want if w == "!EXC")
        skipped.update(i for i, w in enumerate(want) if w == "!EXC")
        compared += len(inputs) - exc
        total_bad += len(mism)
        print(f"{n:26} {supported[n]:24} {len(inputs) - exc:7} {len(mism):8}")
        for i in mism[:args.show]:
            x = inputs[i]
            print(f"    input {i} ({len(x)} bytes): {x[:160]!r}{'...' if len(x) > 160 else ''}")
            w, g = show_diff(want[i], got[i])
            print(f"      {w}")
            print(f"      {g}")
    print(f"splits: {compared} comparisons ({len(supported)} names x {len(inputs)} inputs, less those where"
          f" llama.cpp throws: {', '.join(repr(inputs[i][:20]) for i in sorted(skipped))}), {total_bad} mismatches")
    failures += total_bad > 0
    print("check_pretok_peer: " + ("OK" if failures == 0 else "FAILED"))
    return 1 if failures else 0


if __name__ == "__main__":
    sys.exit(main())
