#!/usr/bin/env python3
"""The `ai run`, `ai logits` and `ai bench` contract, on the real stories260K model, against llama.cpp:
- `ai logits` (all ids in one batch) vs the oracle's teacher-forced logits: mean KL <= 1e-4,
  top-1 >= 97%; `-t 2` and `--no-mmap` give bit-identical bytes;
- `ai run --ids` (BOS only) greedy for 256 tokens with --ignore-eos reproduces the golden ids of
  ../shared/golden/stories260K_greedy.json; --json has the contract's keys;
- sampling: the same seed gives the same ids with 1 and 2 threads, another seed other ids;
- errors: an out-of-range id, a missing file and bad usage exit 1/1/2 with one `error:` line.
Final line "N passed, N failed". Env: AI_CLI, AI_SHARED_DIR, AI_ORACLE, LLAMA_BINS."""
import json, os, pathlib, subprocess, sys, tempfile
import numpy as np

ROOT = pathlib.Path(__file__).resolve().parent.parent
SHARED = pathlib.Path(os.environ.get("AI_SHARED_DIR", ROOT.parent / "shared"))
CLI = os.environ.get("AI_CLI", str(ROOT / "build" / "ai"))
ORACLE = os.environ.get("AI_ORACLE", "/tmp/oracle/llama_oracle")
MODEL = str(SHARED / "models" / "stories260K.gguf")
golden = json.loads((SHARED / "golden" / "stories260K_greedy.json").read_text())

passed = failed = 0
def check(ok, what):
    global passed, failed
    print(("ok   " if ok else "FAIL ") + what, flush=True)
    passed, failed = passed + bool(ok), failed + (not ok)

def run(args, **kw):
    return subprocess.run(args, capture_output=True, text=True, **kw)

def kl_top1(ref, got, nv):
    R = ref.reshape(-1, nv).astype(np.float64); G = got.reshape(-1, nv).astype(np.float64)
    def lsm(x): x = x - x.max(1, keepdims=True); return x - np.log(np.exp(x).sum(1, keepdims=True))
    lr, lg = lsm(R), lsm(G)
    return float(np.mean(np.sum(np.exp(lr) * (lr - lg), 1))), float(np.mean(R.argmax(1) == G.argmax(1)))

with tempfile.TemporaryDirectory() as tmp:
    tmp = pathlib.Path(tmp)
    ids = golden["prompt_ids"] + golden["greedy_ids"][:63]  # 64 positions of real text
    (tmp / "ids").write_text(" ".join(map(str, ids)))
    r1 = run([CLI, "logits", MODEL, "--ids", str(tmp / "ids"), "--out", str(tmp / "ours.f32")])
    r2 = run([CLI, "logits", MODEL, "--ids", str(tmp / "ids"), "--out", str(tmp / "ours2.f32"), "-t", "2"])
    r3 = run([ORACLE, "logits", MODEL, str(tmp / "ids"), str(tmp / "ref.f32")])
    if r1.returncode or r3.returncode:
        check(False, f"ai logits / oracle ran: {r1.stderr.strip()} {r3.stderr.strip()}")
    else:
        ours = np.fromfile(tmp / "ours.f32", "<f4"); ref = np.fromfile(tmp / "ref.f32", "<f4")
        nv = 512
        ok_shape = ours.size == ref.size == len(ids) * nv
        kl, top1 = kl_top1(ref, ours, nv) if ok_shape else (1e9, 0)
        check(ok_shape and kl <= 1e-4 and top1 >= 0.97, f"ai logits vs llama.cpp on stories260K, 64 positions: KL {kl:.2e}, top-1 {top1:.3f}")
        check(r2.returncode == 0 and (tmp / "ours.f32").read_bytes() == (tmp / "ours2.f32").read_bytes(),
              "ai logits -t 1 and -t 2 give bit-identical logits")
        r4 = run([CLI, "logits", MODEL, "--ids", str(tmp / "ids"), "--out", str(tmp / "ours3.f32"), "--no-mmap"])
        check(r4.returncode == 0 and (tmp / "ours.f32").read_bytes() == (tmp / "ours3.f32").read_bytes(),
              "ai logits --no-mmap (the file read into memory) gives the mapped file's logits bit for bit")

    (tmp / "bos").write_text("1")
    r = run([CLI, "run", MODEL, "--ids", str(tmp / "bos"), "-n", "256", "--temp", "0", "--ignore-eos", "--json"])
    try:
        j = json.loads(r.stdout)
    except ValueError:
        j = {}
    keys = {"prompt_ids", "ids", "text", "prefill_tok_s", "decode_tok_s", "peak_rss_mb"}
    check(r.returncode == 0 and keys <= set(j), f"ai run --json has the keys {sorted(keys)}")
    got = j.get("ids", [])
    first_diff = next((i for i, (a, b) in enumerate(zip(got, golden["greedy_ids"])) if a != b), None)
    check(got == golden["greedy_ids"], f"ai run greedy from BOS reproduces the 256 golden ids (first difference: {first_diff})")
    check(j.get("prompt_ids") == [1] and j.get("text", "").startswith("Once upon a time, there was a little girl named Lily."),
          f"ai run text starts like the golden text: {j.get('text', '')[:60]!r}")

    outs = {}
    for seed, t in [(7, 1), (7, 2), (8, 1)]:
        r = run([CLI, "run", MODEL, "-p", "Once upon a time", "-n", "48", "--temp", "1.0", "--seed", str(seed), "-t", str(t), "--json"])
        outs[(seed, t)] = json.loads(r.stdout)["ids"] if r.returncode == 0 else None
    check(outs[(7, 1)] is not None and outs[(7, 1)] == outs[(7, 2)], "same seed, 1 and 2 threads: same sampled ids")
    check(outs[(7, 1)] != outs[(8, 1)], "another seed: other sampled ids")
    r = run([CLI, "run", MODEL, "-p", "Once upon a time", "-n", "48", "--temp", "0"])
    check(r.returncode == 0 and len(r.stdout.strip()) > 20 and "tok/s" in r.stderr, f"ai run -p streams text and reports speed: {r.stdout.strip()[:50]!r}")

    r = run([CLI, "bench", MODEL, "-p", "16,32", "-n", "8", "-t", "1,2", "-r", "1", "--json"])
    try:
        b = json.loads(r.stdout)
    except ValueError:
        b = {}
    res = b.get("results", [])
    want = {"threads", "pp", "pp_tok_s", "tg", "tg_tok_s"}
    check(r.returncode == 0 and len(res) == 4 and all(want <= set(x) for x in res) and {"peak_rss_mb", "load_ms"} <= set(b)
          and sorted((x["threads"], x["pp"]) for x in res) == [(1, 16), (1, 32), (2, 16), (2, 32)],
          f"ai bench --json: one result per threads x pp with the contract's keys ({len(res)} results)")
    r = run([CLI, "bench", MODEL, "-p", "x"])
    check(r.returncode == 2, "ai bench with a bad -p list: usage error, exit 2")
    r = run([CLI, "bench", MODEL, "-p", "20", "-n", "2", "-t", "1", "-r", "1", "-b", "8", "--json"])
    try:
        res = json.loads(r.stdout).get("results", [])
    except ValueError:
        res = []
    check(r.returncode == 0 and len(res) == 1 and res[0]["pp"] == 20 and res[0]["pp_tok_s"] > 0,
          "ai bench -b 8: a 20-token prefill in passes of 8 tokens")
    r = run([CLI, "bench", MODEL, "-b", "-1"])
    check(r.returncode == 2, "ai bench -b -1: usage error, exit 2")

    (tmp / "bad").write_text("1 99999")
    r = run([CLI, "run", MODEL, "--ids", str(tmp / "bad"), "-n", "4"])
    lines = r.stderr.strip().splitlines()
    check(r.returncode == 1 and len(lines) == 1 and lines[0].startswith("error: "), f"an out-of-range id: exit 1, one error line: {lines}")
    r = run([CLI, "run", str(tmp / "missing.gguf"), "-p", "x"])
    check(r.returncode == 1 and r.stderr.startswith("error: "), "a missing model: exit 1 with an error line")
    r = run([CLI, "run", MODEL])
    check(r.returncode == 2, "no prompt: usage error, exit 2")

print(f"{passed} passed, {failed} failed")
sys.exit(1 if failed else 0)
