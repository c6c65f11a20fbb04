#!/usr/bin/env python3
"""The `ai tokenize` contract on llama.cpp's own vectors: for every vocabulary in ../shared/vocab,
`ai tokenize VOCAB --vocab-test X.inp` must print exactly the ids of X.out, line by line (the .out
lines carry a leading space in most files; compared as id lists). Also `--text` and `--no-bos`
on one vocabulary each way. Final line "N passed, N failed". Env: AI_CLI, AI_SHARED_DIR."""
import os, pathlib, subprocess, sys

ROOT = pathlib.Path(__file__).resolve().parent.parent
SHARED = pathlib.Path(os.environ.get("AI_SHARED_DIR", ROOT.parent / "shared"))
CLI = os.environ.get("AI_CLI", str(ROOT / "build" / "ai"))

passed = failed = 0
def check(ok, what):
    global passed, failed
    print(("ok   " if ok else "FAIL ") + what)
    passed, failed = passed + bool(ok), failed + (not ok)

for inp in sorted((SHARED / "vocab").glob("*.gguf.inp")):
    vocab = inp.with_suffix("")
    want = [l.split() for l in inp.with_suffix(".out").read_text(encoding="utf-8").split("\n")]
    r = subprocess.run([CLI, "tokenize", str(vocab), "--vocab-test", str(inp)], capture_output=True)
    got = [l.split() for l in r.stdout.decode().split("\n")]
    n = min(len(want), len(got))
    bad = [i for i in range(n) if want[i] != got[i]]
    # Both end with one empty piece after the last newline; the counts of real lines must agree.
    check(r.returncode == 0 and not bad and len(want) == len(got),
          f"{vocab.name}: {n - len(bad)}/{n} lines" + (f", first mismatch at line {bad[0]}" if bad else "") + (f" rc={r.returncode} {r.stderr.decode()[:200]}" if r.returncode else ""))

spm = SHARED / "vocab" / "ggml-vocab-llama-spm.gguf"
r1 = subprocess.run([CLI, "tokenize", str(spm), "--text", "Hello world"], capture_output=True, text=True)
r2 = subprocess.run([CLI, "tokenize", str(spm), "--text", "Hello world", "--no-bos"], capture_output=True, text=True)
check(r1.returncode == 0 and r1.stdout.split()[:1] == ["1"] and r1.stdout.split()[1:] == r2.stdout.split(),
      f"llama-spm --text adds BOS (id 1) and --no-bos does not: {r1.stdout.strip()!r} / {r2.stdout.strip()!r}")
q = SHARED / "vocab" / "ggml-vocab-qwen2.gguf"
r3 = subprocess.run([CLI, "tokenize", str(q), "--text", "<|im_start|>user", "--special"], capture_output=True, text=True)
r4 = subprocess.run([CLI, "tokenize", str(q), "--text", "<|im_start|>user"], capture_output=True, text=True)
check(r3.returncode == 0 and r3.stdout.split()[0] == "151644" and len(r4.stdout.split()) > len(r3.stdout.split()),
      f"qwen2 --special parses <|im_start|> as one token: {r3.stdout.strip()!r} vs plain {r4.stdout.strip()!r}")
r5 = subprocess.run([CLI, "tokenize", str(SHARED / "models" / "stories260K.gguf"), "--text", "x", "--file", "y"], capture_output=True, text=True)
check(r5.returncode == 2, "--text with --file is a usage error (exit 2)")
print(f"{passed} passed, {failed} failed")
sys.exit(1 if failed else 0)
