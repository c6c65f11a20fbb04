#!/usr/bin/env python3
"""check_info_peer.py [FILE...] — compare `$AI_CLI info FILE --json` with gguf-py's GGUFReader.

Files: every .gguf under <shared>/models (recursive, except the legacy v1 file, which gguf-py does
not read either) and <shared>/vocab/*.gguf, plus every file tests/make_malformed.py writes with
expectation `accept` (all 13 value types, nested arrays, every tensor type, NaN, invalid UTF-8,
empty arrays, version 2...); or just the FILEs given.

Compared: version, tensor and kv counts; every key in order with its type; scalar values (f32
exactly as float32, f64 exactly, non-finite as null); strings (invalid UTF-8 as U+FFFD); array
element type, count and the first 8 elements (nested arrays as {"elem_type", "count"}); tensor
names, type names and ids, shapes, absolute data offsets and byte sizes; data_offset and file_size
for files with tensors.

gguf-py puts the header into `fields` too, as the pseudo-keys GGUF.version, GGUF.tensor_count and
GGUF.kv_count; they are pushed before any metadata, at file offsets 4, 8 and 16, while real keys
start at offset 24 or later, so fields with offset < 24 are skipped (robust to a real key that is
also named "GGUF.something").

Tensor byte sizes come from ggml's block sizes (make_malformed.GGML_TYPES), not from gguf-py's
GGML_QUANT_SIZES, which still says Q8_1 is 40 bytes (ggml: 36).

Prints one line per mismatch and a final line `N passed, N failed` (per file); exit 1 on failure.
Env: AI_CLI (required, or --cli), AI_SHARED_DIR.
"""
import argparse
import json
import math
import os
import struct
import subprocess
import sys
import tempfile

import numpy as np

HERE = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, HERE)
import make_malformed  # noqa: E402
from make_malformed import GGML_TYPES, TYPE_NAME, ARR, STR, F32, F64, BOOL  # noqa: E402

HEAD = 8


def utf8_variants(b):
    """Acceptable renderings of bytes b: exact UTF-8, or U+FFFD replacements (per maximal invalid
    subpart, as Python and WHATWG do, or one per byte)."""
    b = bytes(b)
    try:
        return {b.decode('utf-8')}
    except UnicodeDecodeError:
        pass
    out = {b.decode('utf-8', 'replace')}
    s = []
    i = 0
    while i < len(b):
        for n in (4, 3, 2, 1):
            try:
                s.append(b[i:i + n].decode('utf-8'))
                i += n
                break
            except UnicodeDecodeError:
                continue
        else:
            s.append('\ufffd')
            i += 1
    out.add(''.join(s))
    return out


def scalar_expect(typ, arr):
    """Returns (kind, value) from a 1-element numpy array of the value's type."""
    v = arr[0]
    if typ == F32:
        f = np.float32(v)
        return ('float32', None if not np.isfinite(f) else f)
    if typ == F64:
        f = float(v)
        return ('float64', None if not math.isfinite(f) else f)
    if typ == BOOL:
        return ('bool', bool(v))
    return ('int', int(v))


def compare_scalar(exp, got):
    kind, v = exp
    if v is None:
        return got is None
    if kind == 'bool':
        return got is v
    if isinstance(got, bool) or got is None:
        return False
    if kind == 'int':
        return isinstance(got, int) and got == v
    if not isinstance(got, (int, float)):
        return False
    if kind == 'float32':
        return np.float32(got) == v  # exactly as float32
    return float(got) == v


class PartsWalker:
    """Walks gguf-py's flattened ReaderField.parts for one value of a known type."""

    def __init__(self, parts):
        self.parts = parts
        self.i = 0

    def skip(self, typ):
        if typ == STR:
            self.i += 2
        elif typ == ARR:
            et, cnt = int(self.parts[self.i][0]), int(self.parts[self.i + 1][0])
            self.i += 2
            for _ in range(cnt):
                self.skip(et)
        else:
            self.i += 1

    def value(self, typ, want_head):
        """Returns an expected-JSON descriptor: ('scalar', exp) / ('string', variants) /
        ('array', elem_type, count, [head descriptors]) after consuming the parts."""
        p = self.parts
        if typ == STR:
            self.i += 2
            return ('string', utf8_variants(p[self.i - 1].tobytes()))
        if typ == ARR:
            et = int(p[self.i][0])
            cnt = int(p[self.i + 1][0])
            self.i += 2
            head = []
            for k in range(cnt):
                if k < HEAD and want_head:
                    head.append(self.value(et, False))
                else:
                    self.skip(et)
            return ('array', et, cnt, head)
        self.i += 1
        return ('scalar', scalar_expect(typ, p[self.i - 1]))


def compare_value(desc, got, where, errs, top=True):
    kind = desc[0]
    if kind == 'scalar':
        if not compare_scalar(desc[1], got):
            errs.append('%s: value %r, gguf-py %r' % (where, got, desc[1][1]))
    elif kind == 'string':
        if got not in desc[1]:
            errs.append('%s: string %r, gguf-py %r' % (where, got, sorted(desc[1])[0]))
    else:
        _, et, cnt, head = desc
        if top:
            if got.get('elem_type') != TYPE_NAME[et] or got.get('count') != cnt:
                errs.append('%s: array %s[%s], gguf-py %s[%d]' % (where, got.get('elem_type'),
                                                                   got.get('count'), TYPE_NAME[et], cnt))
                return
            h = got.get('head')
            if not isinstance(h, list) or len(h) != min(cnt, HEAD):
                errs.append('%s: head has %s elements, want %d' % (
                    where, len(h) if isinstance(h, list) else h, min(cnt, HEAD)))
                return
            for k, (d, g) in enumerate(zip(head, h)):
                if d[0] == 'array':
                    if not isinstance(g, dict) or g.get('elem_type') != TYPE_NAME[d[1]] or g.get('count') != d[2]:
                        errs.append('%s[%d]: nested %r, gguf-py %s[%d]' % (where, k, g, TYPE_NAME[d[1]], d[2]))
                else:
                    compare_value(d, g, '%s[%d]' % (where, k), errs, top=False)


def check_file(cli, path, timeout):
    import gguf
    errs = []
    p = subprocess.run([cli, 'info', path, '--json'], capture_output=True, timeout=timeout)
    if p.returncode != 0:
        return ['exit %d: %s' % (p.returncode, p.stderr.decode('utf-8', 'replace').strip()[:300])]
    try:
        doc = json.loads(p.stdout.decode('utf-8'))
    except (UnicodeDecodeError, ValueError) as e:
        return ['--json output does not parse: %s' % e]
    r = gguf.GGUFReader(path)
    version = int(r.fields['GGUF.version'].parts[0][0])
    fields = [f for f in r.fields.values() if f.offset >= 24]  # skip the header pseudo-keys
    n_tensors = int(r.fields['GGUF.tensor_count'].parts[0][0])
    for name, want in (('version', version), ('kv_count', len(fields)), ('tensor_count', n_tensors),
                       ('file_size', os.path.getsize(path))):
        if doc.get(name) != want:
            errs.append('%s = %r, gguf-py %r' % (name, doc.get(name), want))
    if n_tensors and doc.get('data_offset') != r.data_offset:
        errs.append('data_offset = %r, gguf-py %r' % (doc.get('data_offset'), r.data_offset))
    if doc.get('alignment') != int(r.alignment):
        errs.append('alignment = %r, gguf-py %r' % (doc.get('alignment'), int(r.alignment)))
    meta = doc.get('metadata', [])
    if len(meta) != len(fields):
        errs.append('%d metadata entries, gguf-py %d' % (len(meta), len(fields)))
    for i, (f, m) in enumerate(zip(fields, meta)):
        where = 'kv %d %s' % (i, f.name)
        if m.get('key') not in utf8_variants(f.parts[1].tobytes()):
            errs.append('%s: key %r' % (where, m.get('key')))
            continue
        typ = int(f.parts[2][0])
        if m.get('type') != TYPE_NAME[typ]:
            errs.append('%s: type %r, gguf-py %s' % (where, m.get('type'), TYPE_NAME[typ]))
            continue
        w = PartsWalker(f.parts)
        w.i = 3
        desc = w.value(typ, True)
        compare_value(desc, m if typ == ARR else m.get('value'), where, errs)
    tens = doc.get('tensors', [])
    if len(tens) != len(r.tensors):
        errs.append('%d tensors, gguf-py %d' % (len(tens), len(r.tensors)))
    for j, (t, g) in enumerate(zip(r.tensors, tens)):
        where = 'tensor %d %s' % (j, t.name)
        tid = int(t.tensor_type)
        shape = [int(x) for x in t.shape]
        _, be, bb = GGML_TYPES[tid]
        n = int(np.prod(shape, dtype=object)) if shape else 1
        want = {'name': t.name, 'type': t.tensor_type.name, 'type_id': tid, 'shape': shape,
                'offset': int(t.data_offset), 'bytes': n // be * bb}
        for k, v in want.items():
            if g.get(k) != v:
                errs.append('%s: %s = %r, gguf-py %r' % (where, k, g.get(k), v))
    return errs


def main():
    ap = argparse.ArgumentParser(description=__doc__.split('\n')[0])
    ap.add_argument('files', nargs='*')
    ap.add_argument('--cli', default=os.environ.get('AI_CLI'))
    ap.add_argument('--shared', default=None)
    ap.add_argument('--timeout', type=float, default=60)
    args = ap.parse_args()
    if not args.cli or not os.path.exists(args.cli):
        print('check_info_peer.py: set AI_CLI to the ai binary (or pass --cli)', file=sys.stderr)
        return 2
    cli = os.path.abspath(args.cli)
    shared = args.shared or make_malformed.default_shared()
    tmp = None
    files = list(args.files)
    if not files:
        for sub in ('models', 'vocab'):
            for dirpath, dirs, names in os.walk(os.path.join(shared, sub)):
                dirs.sort()
                if 'legacy-v1' in os.path.relpath(dirpath, shared):
                    continue
                files += [os.path.join(dirpath, n) for n in sorted(names) if n.endswith('.gguf')]
        # plus every generated file that must be accepted (the 13 value types, nested arrays,
        # every tensor type, empty/NaN/invalid-UTF-8 values...): make_malformed's `accept` rows
        tmp = tempfile.TemporaryDirectory(prefix='ai-peer-')
        for fn, expect, _ in make_malformed.generate(tmp.name, shared):
            if expect == 'accept':
                files.append(os.path.join(tmp.name, fn))
    passed = failed = 0
    for path in files:
        try:
            errs = check_file(cli, path, args.timeout)
        except subprocess.TimeoutExpired:
            errs = ['timeout']
        except Exception as e:  # gguf-py failing to read is a failure of the test input
            errs = ['exception: %r' % e]
        shown = os.path.relpath(path, shared) if path.startswith(shared) else os.path.basename(path)
        if errs:
            failed += 1
            for e in errs[:20]:
                print('FAIL %s: %s' % (shown, e))
            if len(errs) > 20:
                print('FAIL %s: ... %d more' % (shown, len(errs) - 20))
        else:
            passed += 1
    if tmp is not None:
        tmp.cleanup()
    print('%d passed, %d failed' % (passed, failed))
    return 1 if failed else 0


if __name__ == '__main__':
    sys.exit(main())
