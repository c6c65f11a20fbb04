#!/usr/bin/env python3
"""Compares ai.hpp's quantization kernels with llama.cpp's.

    check_quants_peer.py --tool QUANT_TOOL --oracle LLAMA_ORACLE --model MODEL_F32.gguf [--work DIR]

MODEL_F32.gguf is a llama-architecture GGUF with F32 weights whose matrices have rows that are a
multiple of 256 (tests/make_model.cpp writes one). LLAMA_BINS must be set for the oracle (see
tests/oracle.sh). Needs numpy and the `gguf` package (its dequantizers are bit-exact with
llama.cpp's).

1. Dequantization. For every file type below, llama.cpp quantizes MODEL (`llama_oracle
   quantize`); every tensor of the result is dequantized by gguf.quants and by ai.hpp
   (`quant_tool dequant`, through gguf_file::dequantize_rows). Every element must agree within
   1 ulp (NaN equals NaN).
2. Quantization quality. Every quantized tensor of those files is quantized again from the F32
   source by ai.hpp (`quant_tool quantize` + `dequant-raw`, same type); the RMSE against the source
   must be at most 1.02x llama.cpp's on each tensor. The share of blocks whose bytes are
   identical to llama.cpp's is shown too (information only). Q8_K has no file type: it is checked
   against a numpy transcription of its formula instead, byte for byte.

Prints one table per part; exits 1 on any failure, 2 on a setup error.
"""
import argparse
import os
import subprocess
import sys
import tempfile

import numpy as np

try:
    import gguf
    from gguf import GGMLQuantizationType as QT
except ImportError:  # pragma: no cover
    print("check_quants_peer: the gguf Python package is required (pip install gguf)", file=sys.stderr)
    sys.exit(2)

# llama_ftype number -> label. The _M mixes put several K-quant types in one file.
FTYPES = [
    (1, "F16"), (32, "BF16"), (2, "Q4_0"), (3, "Q4_1"), (8, "Q5_0"), (9, "Q5_1"), (7, "Q8_0"),
    (10, "Q2_K"), (12, "Q3_K_M"), (15, "Q4_K_M"), (17, "Q5_K_M"), (18, "Q6_K"), (25, "IQ4_NL"),
]
MAX_ULP = 1
MAX_RMSE_RATIO = 1.02


def run(cmd, env=None):
    r = subprocess.run(cmd, env=env, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    if r.returncode != 0:
        raise RuntimeError(f"{' '.join(cmd)} failed ({r.returncode}): {r.stderr.strip()}")


def ordered(a):
    """float32 -> int64 whose difference counts ulps (+0 and -0 both map to 0)."""
    i = np.ascontiguousarray(a, dtype=np.float32).view(np.int32).astype(np.int64)
    return np.where(i < 0, -(i & 0x7FFFFFFF), i)


def ulp_diff(a, b):
    """Largest ulp distance between a and b, element by element; NaN == NaN, NaN vs number = inf."""
    a = a.reshape(-1)
    b = b.reshape(-1)
    na, nb = np.isnan(a), np.isnan(b)
    if np.any(na != nb):
        return float("inf")
    ok = ~na
    if not np.any(ok):
        return 0
    return int(np.max(np.abs(ordered(a[ok]) - ordered(b[ok]))))


def rmse(a, b):
    d = a.reshape(-1).astype(np.float64) - b.reshape(-1).astype(np.float64)
    return float(np.sqrt(np.mean(d * d)))


def read_f32(path):
    return np.fromfile(path, dtype=np.float32)


class Ours:
    def __init__(self, tool, work):
        self.tool, self.work = tool, work

    def dequant(self, gguf_path, name):
        out = os.path.join(self.work, "deq.f32")
        run([self.tool, "dequant", gguf_path, name, out])
        return read_f32(out)

    def quantize(self, type_name, x):
        src = os.path.join(self.work, "src.f32")
        q = os.path.join(self.work, "q.bin")
        out = os.path.join(self.work, "rt.f32")
        np.ascontiguousarray(x, dtype=np.float32).tofile(src)
        run([self.tool, "quantize", type_name, src, q])
        run([self.tool, "dequant-raw", type_name, q, str(x.size), out])
        return np.fromfile(q, dtype=np.uint8), read_f32(out)


def q8_k_reference(x):
    """Q8_K by its formula, in float32: d = max/-127 with max the signed absmax element,
    q = round-half-even(x * (-127/max)) clamped to [-128, 127], bsums = sums of 16 quants."""
    blocks = x.reshape(-1, 256).astype(np.float32)
    out = bytearray()
    deq = np.zeros_like(blocks)
    for bi, b in enumerate(blocks):
        k = int(np.argmax(np.abs(b)))  # first index of the largest magnitude
        mx = b[k]
        if mx == 0:
            out += np.zeros(1, np.float32).tobytes() + bytes(256) + bytes(32)
            continue
        iscale = np.float32(-127.0) / mx
        q = np.clip(np.rint(iscale * b), -128, 127).astype(np.int8)
        d = np.float32(1.0) / iscale
        bsums = q.reshape(16, 16).astype(np.int32).sum(axis=1).astype(np.int16)
        out += np.float32(d).tobytes() + q.tobytes() + bsums.tobytes()
        deq[bi] = d * q.astype(np.float32)
    return np.frombuffer(bytes(out), dtype=np.uint8), deq.reshape(-1)


def block_bytes(qtype):
    return gguf.GGML_QUANT_SIZES[qtype][1]


def main():
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--tool", required=True, help="path of quant_tool")
    ap.add_argument("--oracle", required=True, help="path of llama_oracle")
    ap.add_argument("--model", required=True, help="F32 llama GGUF to quantize")
    ap.add_argument("--work", help="folder for the quantized files (default: a temporary folder)")
    args = ap.parse_args()
    if not os.environ.get("LLAMA_BINS"):
        print("check_quants_peer: set LLAMA_BINS (tests/oracle.sh prints it)", file=sys.stderr)
        return 2
    for p in (args.tool, args.oracle, args.model):
        if not os.path.exists(p):
            print(f"check_quants_peer: {p} does not exist", file=sys.stderr)
            return 2

    tmp = None
    work = args.work
    if not work:
        tmp = tempfile.TemporaryDirectory(prefix="ai_quants_peer_")
        work = tmp.name
    os.makedirs(work, exist_ok=True)
    ours = Ours(args.tool, work)
    failures = []

    source = {t.name: np.array(t.data, dtype=np.float32).reshape(-1)
              for t in gguf.GGUFReader(args.model).tensors if t.tensor_type == QT.F32}
    if not source:
        print("check_quants_peer: the model has no F32 tensors", file=sys.stderr)
        return 2

    # ---- 1. dequantization -------------------------------------------------------------------
    print(f"== dequantization: ai.hpp vs gguf.quants (llama.cpp), limit {MAX_ULP} ulp")
    print(f"{'file type':<10} {'tensors':>7} {'types':<28} {'worst ulp':>9}  worst tensor")
    quality = {}  # type name -> list of (tensor, llama rmse, ours rmse, identical blocks, blocks)
    for ftype, label in FTYPES:
        path = os.path.join(work, f"model-{label}.gguf")
        run([args.oracle, "quantize", args.model, path, str(ftype)])
        reader = gguf.GGUFReader(path)
        worst, worst_name, types = 0, "-", set()
        for t in reader.tensors:
            qt = QT(int(t.tensor_type))
            types.add(qt.name)
            ref = gguf.quants.dequantize(np.asarray(t.data), qt).astype(np.float32).reshape(-1)
            mine = ours.dequant(path, t.name)
            if mine.size != ref.size:
                failures.append(f"{label} {t.name}: {mine.size} elements, expected {ref.size}")
                continue
            u = ulp_diff(mine, ref)
            if u > worst or worst_name == "-":
                worst, worst_name = u, t.name
            if u > MAX_ULP:
                failures.append(f"dequantize {label} {t.name} ({qt.name}): {u} ulp")
            if qt != QT.F32 and t.name in source:
                raw = np.asarray(t.data).view(np.uint8).reshape(-1)
                quality.setdefault(qt.name, []).append((label, t.name, qt, raw, ref))
        print(f"{label:<10} {len(reader.tensors):>7} {','.join(sorted(types)):<28} {worst:>9}  "
              f"{worst_name if worst else '-'}")

    # ---- 2. quantization quality -------------------------------------------------------------
    print(f"\n== quantization: RMSE of ai.hpp's quantize vs llama.cpp's, same tensors, "
          f"limit {MAX_RMSE_RATIO}x per tensor")
    print(f"{'type':<7} {'tensors':>7} {'rmse llama':>11} {'rmse ours':>11} {'ratio':>7} "
          f"{'worst ratio':>11} {'same blocks':>11}")
    cache = {}
    for qname in sorted(quality):
        se_llama = se_ours = n_total = 0.0
        worst_ratio, same, blocks = 0.0, 0, 0
        for label, name, qt, raw, ref in quality[qname]:
            x = source[name]
            key = (qname, name)
            if key not in cache:
                cache[key] = ours.quantize(qname, x)
            qbytes, mine = cache[key]
            r_llama, r_ours = rmse(ref, x), rmse(mine, x)
            ratio = r_ours / r_llama if r_llama > 0 else (1.0 if r_ours == 0 else float("inf"))
            worst_ratio = max(worst_ratio, ratio)
            if ratio > MAX_RMSE_RATIO:
                failures.append(f"quantize {qname} {name} ({label}): RMSE {r_ours:.6g} vs llama.cpp {r_llama:.6g}")
            se_llama += r_llama ** 2 * x.size
            se_ours += r_ours ** 2 * x.size
            n_total += x.size
            bb = block_bytes(qt)
            a, b = qbytes.reshape(-1, bb), raw.reshape(-1, bb)
            if a.shape == b.shape:
                same += int(np.sum(np.all(a == b, axis=1)))
            blocks += b.shape[0]
        rl, ro = np.sqrt(se_llama / n_total), np.sqrt(se_ours / n_total)
        print(f"{qname:<7} {len(quality[qname]):>7} {rl:>11.4e} {ro:>11.4e} {ro / rl:>7.4f} "
              f"{worst_ratio:>11.4f} {100.0 * same / blocks:>10.1f}%")

    # Q8_K: no llama.cpp file type; the formula transcribed in numpy is the reference.
    se_ref = se_ours = n_total = 0.0
    same_bytes = True
    for name, x in source.items():
        if x.size % 256:
            continue
        qbytes, mine = ours.quantize("Q8_K", x)
        ref_bytes, ref = q8_k_reference(x)
        same_bytes &= qbytes.size == ref_bytes.size and bool(np.all(qbytes == ref_bytes))
        u = ulp_diff(mine, ref)
        if u > MAX_ULP:
            failures.append(f"Q8_K {name}: dequantized values differ from the formula by {u} ulp")
        se_ref += rmse(ref, x) ** 2 * x.size
        se_ours += rmse(mine, x) ** 2 * x.size
        n_total += x.size
    rl, ro = np.sqrt(se_ref / n_total), np.sqrt(se_ours / n_total)
    if not same_bytes:
        failures.append("Q8_K: bytes differ from the numpy reference")
    if ro > MAX_RMSE_RATIO * rl:
        failures.append(f"Q8_K: RMSE {ro:.6g} vs formula {rl:.6g}")
    print(f"{'Q8_K':<7} {'(numpy)':>7} {rl:>11.4e} {ro:>11.4e} {ro / rl:>7.4f} {'':>11} "
          f"{'100.0%' if same_bytes else 'differ':>11}")

    if tmp:
        tmp.cleanup()
    print()
    if failures:
        for f in failures:
            print("FAIL", f)
        print(f"check_quants_peer: {len(failures)} failure(s)")
        return 1
    print("check_quants_peer: all checks passed")
    return 0


if __name__ == "__main__":
    try:
        sys.exit(main())
    except RuntimeError as e:  # a tool that failed: report it as a failed check
        print(f"FAIL {e}")
        sys.exit(1)
