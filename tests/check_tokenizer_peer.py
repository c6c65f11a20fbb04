#!/usr/bin/env python3
"""Our tokenizer vs llama.cpp's, in one process (bench/tokenizer_vs_llama, built against the
oracle's prebuilt libllama), on inputs beyond llama.cpp's own vectors: source code, CJK, Arabic,
Devanagari, emoji ZWJ sequences, combining marks, long whitespace runs, numbers, special-token
lookalikes, invalid UTF-8, and a 1 MB chunk of ../shared/text/war-and-peace.txt. Every vocabulary
in ../shared/vocab, every input, all four modes (add BOS/EOS or not x parse special text or not)
must give identical ids. Final line: "N passed, N failed".

usage: check_tokenizer_peer.py [--work DIR]    (env: AI_SHARED_DIR)"""
import argparse, os, pathlib, subprocess, sys

HERE = pathlib.Path(__file__).resolve().parent
ROOT = HERE.parent
SHARED = pathlib.Path(os.environ.get("AI_SHARED_DIR", ROOT.parent / "shared"))
SEP = b"\n__ggml_vocab_test__\n"


def inputs():
    texts = [
        "",
        " ",
        "\n\n\n",
        "\t \t  \n  \r\n",
        " " * 300,
        "Hello world",
        " Hello World!",
        "HELLO\tworld\n\nhow's it going? I'm fine, we'll see; they'd've",
        "def fib(n):\n    return n if n < 2 else fib(n - 1) + fib(n - 2)\n\nprint([fib(i) for i in range(10)])\n",
        "int main(void) {\n\tfor (int i = 0; i < 10; ++i) printf(\"%d\\n\", i);\n\treturn 0;\n}\n",
        "    if (x != y && z >= 0x1F) { a[i++] = b->c; } // comment\n",
        "1 12 123 1234 12345 123456789 3.14159 1,000,000 2026-11-29 0.0001 1e-5 -42",
        "你好，世界！我爱自然语言处理。今天天气很好。",
        "日本語のテキストとカタカナ、ひらがな。漢字も。",
        "한국어 텍스트입니다. 안녕하세요!",
        "مرحبا بالعالم، هذا نص عربي.",
        "नमस्ते दुनिया, यह हिंदी पाठ है।",
        "Привет, мир! Ёлки-палки.",
        "Ελληνικά γράμματα: αβγδε",
        "emoji: 😀 👍🏽 👨‍👩‍👧‍👦 🏳️‍🌈 ❤️ 🇯🇵",
        "combining: e\u0301 a\u0300\u0316 Z\u0351\u0352\u0353 \u0915\u094d\u0937",
        "<|im_start|>user\nhi<|im_end|>\n<|im_start|>assistant\n",
        "<s>[INST] hi [/INST]</s> <unk> <|endoftext|> <|eot_id|> <think>x</think>",
        "<|im_start <|im_end| |im_start|> <<|im_start|>> < |endoftext| >",
        "   leading and trailing spaces   ",
        "a\u00a0b\u2003c\u3000d",  # non-breaking, em and ideographic spaces
        "tab\tsep\tvalues\n" * 5,
        "'s 'S 't 'T 're 've 'm 'll 'd '' ''' 'x",
        "ALLCAPS lowercase MiXeDcAsE camelCaseWord snake_case_word kebab-case-word",
        "https://example.com/path?query=1&x=y#frag user@example.org",
        "!!!???...,,,;;;:::---___+++===***&&&%%%$$$###@@@",
        "\u200b\u200c\u200d\ufeff zero widths",
    ]
    blobs = [t.encode("utf-8") for t in texts]
    # Invalid UTF-8. Not here: a 4-byte form above U+10FFFF (F4 90 80 80), on which llama.cpp's
    # BPE and WordPiece paths throw and abort; tests/test_tokenizer.cpp covers it on our side.
    blobs += [b"bad \xff byte", b"\xc3\x28 overlong \xc0\xaf", b"trunc \xe2\x82",
              b"\xed\xa0\x80 surrogate", b"mixed \xe4\xbd\xa0\xff\xe5\xa5\xbd"]
    text = (SHARED / "text" / "war-and-peace.txt").read_bytes()
    blobs.append(text[200_000:1_200_000])  # 1 MB of real prose
    return blobs


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--work", default="/tmp/ai-tokenizer-peer")
    args = ap.parse_args()
    work = pathlib.Path(args.work)
    work.mkdir(parents=True, exist_ok=True)
    tool = subprocess.run(["sh", str(ROOT / "bench" / "build_peer.sh"), str(work)], check=True,
                          capture_output=True, text=True).stdout.strip().splitlines()[-1]
    inp = work / "inputs.inp"
    inp.write_bytes(b"".join(b + SEP for b in inputs()))
    passed = failed = 0
    for vocab in sorted((SHARED / "vocab").glob("*.gguf")):
        r = subprocess.run([tool, "check", str(vocab), str(inp)], capture_output=True, text=True, errors="replace")
        last = r.stdout.strip().splitlines()[-1] if r.stdout.strip() else ""
        ok = r.returncode == 0 and last.endswith(" 0 failed")
        print(f"{'ok  ' if ok else 'FAIL'} {vocab.name}: {last or r.stderr.strip()}")
        if not ok:
            for line in r.stdout.splitlines()[:10]:
                if line.startswith("MISMATCH"):
                    print("     " + line)
            print(r.stderr.strip()[:500])
        passed, failed = passed + ok, failed + (not ok)
    print(f"{passed} passed, {failed} failed")
    return 1 if failed else 0


if __name__ == "__main__":
    sys.exit(main())
