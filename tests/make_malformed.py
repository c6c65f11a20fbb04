#!/usr/bin/env python3
"""make_malformed.py OUTDIR [--shared DIR] — write a corpus of malformed (and edge-case valid) GGUF
files for the `ai info` robustness test, plus OUTDIR/manifest.tsv.

Sources: a small valid file written here with gguf.GGUFWriter (every one of the 13 value types,
nested arrays, F32/F16/Q4_0/Q8_0 tensors), and the real files under the shared dir
(models/stories260K.gguf, models/legacy-v1/...). The shared dir is --shared, else $AI_SHARED_DIR,
else <repo>/../shared.

manifest.tsv: one line per file, `file<TAB>description<TAB>expect`, where expect is
  reject  the CLI must exit 1 with exactly one stderr line `error: ...`
  accept  well-formed per the GGUF format (an edge case): the CLI must exit 0

How cases were classified (llama.cpp ggml/src/gguf.cpp, gguf_init_from_reader, and docs/gguf.md):
  llama.cpp rejects: bad magic; version 0, 1, > 3, or (version & 0xFFFF) == 0 (other endianness);
  n_kv / n_tensors < 0 as int64; strings > 1 GiB or past EOF; arrays > 2^30 elements or past EOF;
  empty keys; duplicate keys; unknown value types; general.alignment not u32 or not a power of two;
  tensor names >= 64 bytes; duplicate tensor names; n_dims > 4; ne < 0; element count or byte size
  overflowing; ggml type outside [0, GGML_TYPE_COUNT) or removed (block size 0: 4, 5, 31-33, 36-38);
  ne[0] not a multiple of the block size; a tensor offset other than the running sum of the padded
  sizes of the tensors before it (so misaligned offsets and overlapping tensors are rejected);
  tensor data past EOF (at model load). We reject at least those.
  llama.cpp also rejects any nested array; the spec allows them ("Arrays can be nested") and gguf-py
  reads and writes them, so nested arrays are accepted here — but a 10,000-deep nesting is
  classified `reject`: a reader needs a depth limit (gguf-py itself overflows its recursion limit).
  llama.cpp accepts (and so do we): n_dims = 0 (a 1-element scalar), ne = 0 (an empty tensor),
  version 2, invalid UTF-8 in strings, missing padding after the metadata of a file without tensors,
  trailing bytes after the data. The spec (not llama.cpp) forbids bool bytes other than 0/1:
  classified `reject`.
  Checked by running llama.cpp's own reader (libggml-base of node-llama-cpp 3.21.1, as built by
  ../shared/tools/oracle: gguf_init_from_file with no_alloc, plus the model loader's bounds check
  of tensor data) on every file: it agrees with `expect` everywhere except valid_small,
  nested_depth_3_empty and empty_nested_arrays (nesting) and bool_value_2 (the spec rule).
  Single-defect mutations start from valid_flat (valid_small minus its nested arrays) so that the
  defect, not the nesting, is what a reader trips on.
"""
import argparse
import os
import struct
import sys
import tempfile

import numpy as np

# ------------------------------------------------------------------------------------------------
# Format constants
# ------------------------------------------------------------------------------------------------
U8, I8, U16, I16, U32, I32, F32, BOOL, STR, ARR, U64, I64, F64 = range(13)
SCALAR_FMT = {U8: '<B', I8: '<b', U16: '<H', I16: '<h', U32: '<I', I32: '<i', F32: '<f',
              BOOL: '<B', U64: '<Q', I64: '<q', F64: '<d'}
SCALAR_SIZE = {t: struct.calcsize(f) for t, f in SCALAR_FMT.items()}
TYPE_NAME = ['u8', 'i8', 'u16', 'i16', 'u32', 'i32', 'f32', 'bool', 'string', 'array',
             'u64', 'i64', 'f64']

# ggml types: id -> (name, block elements, block bytes). The ones ai.hpp knows (GGUF's numbering).
# Checked against ggml_blck_size/ggml_type_size of llama.cpp's libggml. Note gguf-py 0.19's
# GGML_QUANT_SIZES says Q8_1 is 40 bytes (its old float d/s layout); ggml's block_q8_1 is 36.
GGML_TYPES = {
    0: ('F32', 1, 4), 1: ('F16', 1, 2), 2: ('Q4_0', 32, 18), 3: ('Q4_1', 32, 20),
    6: ('Q5_0', 32, 22), 7: ('Q5_1', 32, 24), 8: ('Q8_0', 32, 34), 9: ('Q8_1', 32, 36),
    10: ('Q2_K', 256, 84), 11: ('Q3_K', 256, 110), 12: ('Q4_K', 256, 144), 13: ('Q5_K', 256, 176),
    14: ('Q6_K', 256, 210), 15: ('Q8_K', 256, 292), 16: ('IQ2_XXS', 256, 66),
    17: ('IQ2_XS', 256, 74), 18: ('IQ3_XXS', 256, 98), 19: ('IQ1_S', 256, 50),
    20: ('IQ4_NL', 32, 18), 21: ('IQ3_S', 256, 110), 22: ('IQ2_S', 256, 82),
    23: ('IQ4_XS', 256, 136), 24: ('I8', 1, 1), 25: ('I16', 1, 2), 26: ('I32', 1, 4),
    27: ('I64', 1, 8), 28: ('F64', 1, 8), 29: ('IQ1_M', 256, 56), 30: ('BF16', 1, 2),
    34: ('TQ1_0', 256, 54), 35: ('TQ2_0', 256, 66), 39: ('MXFP4', 32, 17),
}
M64 = (1 << 64) - 1


def align_up(x, a):
    return (x + a - 1) // a * a


def p32(v):
    return struct.pack('<I', v & 0xFFFFFFFF)


def p64(v):
    return struct.pack('<Q', v & M64)


def gstr(b):
    if isinstance(b, str):
        b = b.encode('utf-8')
    return p64(len(b)) + b


def tensor_nbytes(type_id, ne):
    n = 1
    for d in ne:
        n *= d
    if type_id in GGML_TYPES:
        _, be, bb = GGML_TYPES[type_id]
        return n // be * bb
    return 0


# ------------------------------------------------------------------------------------------------
# A structural parser that records every boundary (used on valid files only)
# ------------------------------------------------------------------------------------------------
class Parsed:
    pass


class Reader:
    def __init__(self, buf):
        self.b = buf
        self.pos = 0
        self.marks = []  # (offset, label): the file may be cut at `offset` ("after <label>")

    def take(self, n):
        if self.pos + n > len(self.b):
            raise ValueError('truncated at %d' % self.pos)
        v = self.b[self.pos:self.pos + n]
        self.pos += n
        return v

    def u32(self):
        return struct.unpack('<I', self.take(4))[0]

    def u64(self):
        return struct.unpack('<Q', self.take(8))[0]

    def mark(self, label):
        self.marks.append((self.pos, label))


def parse(buf, mark_elems=3):
    """Parses a valid GGUF v2/v3 file; returns a Parsed with offsets of every field."""
    r = Reader(buf)
    p = Parsed()
    assert r.take(4) == b'GGUF', 'bad magic'
    r.mark('magic')
    p.version = r.u32()
    r.mark('version')
    p.n_tensors_off = r.pos
    p.n_tensors = r.u64()
    r.mark('n_tensors')
    p.n_kv_off = r.pos
    p.n_kv = r.u64()
    r.mark('n_kv')
    p.kvs = []
    for i in range(p.n_kv):
        kv = {'off': r.pos}
        klen = r.u64()
        r.mark('kv%d_keylen' % i)
        if klen > 1:
            r.marks.append((r.pos + klen // 2, 'IN:kv%d_key' % i))
        kv['key'] = bytes(r.take(klen))
        r.mark('kv%d_key' % i)
        kv['type_off'] = r.pos
        kv['type'] = r.u32()
        r.mark('kv%d_type' % i)
        kv['value_off'] = r.pos
        kv['arr'] = None
        _value(r, kv['type'], 'kv%d' % i, kv, mark_elems, top=True)
        kv['end'] = r.pos
        r.mark('kv%d' % i)
        kv['raw_value'] = bytes(buf[kv['type_off']:kv['end']])  # type + value
        p.kvs.append(kv)
    p.kv_end = r.pos
    p.tensors = []
    for j in range(p.n_tensors):
        t = {'off': r.pos}
        nlen = r.u64()
        r.mark('t%d_namelen' % j)
        if nlen > 1:
            r.marks.append((r.pos + nlen // 2, 'IN:t%d_name' % j))
        t['name'] = bytes(r.take(nlen))
        r.mark('t%d_name' % j)
        t['ndims_off'] = r.pos
        nd = r.u32()
        r.mark('t%d_ndims' % j)
        t['ne_off'] = r.pos
        t['ne'] = []
        for d in range(nd):
            t['ne'].append(r.u64())
            r.mark('t%d_ne%d' % (j, d))
        t['type_off'] = r.pos
        t['type'] = r.u32()
        r.mark('t%d_type' % j)
        t['offset_off'] = r.pos
        t['offset'] = r.u64()
        r.mark('t%d_offset' % j)
        p.tensors.append(t)
    p.info_end = r.pos
    p.alignment = 32
    for kv in p.kvs:
        if kv['key'] == b'general.alignment' and kv['type'] == U32:
            p.alignment = struct.unpack_from('<I', buf, kv['value_off'])[0]
    p.data_start = align_up(p.info_end, p.alignment)
    for t in p.tensors:
        t['abs'] = p.data_start + t['offset']
        t['nbytes'] = tensor_nbytes(t['type'], t['ne'])
        t['data'] = bytes(buf[t['abs']:t['abs'] + t['nbytes']])
    p.data_end = max([t['abs'] + t['nbytes'] for t in p.tensors], default=p.info_end)
    p.size = len(buf)
    p.marks = r.marks
    return p


def _value(r, typ, label, kv, mark_elems, top=False):
    if typ in SCALAR_SIZE:
        n = SCALAR_SIZE[typ]
        if top and n > 1:
            r.marks.append((r.pos + n // 2, 'IN:%s_value' % label))
        r.take(n)
    elif typ == STR:
        n = r.u64()
        if top:
            r.mark('%s_strlen' % label)
            if n > 1:
                r.marks.append((r.pos + n // 2, 'IN:%s_string' % label))
        r.take(n)
    elif typ == ARR:
        et = r.u32()
        if top:
            r.mark('%s_arr_type' % label)
            kv['arr'] = {'type_off': r.pos - 4, 'count_off': r.pos, 'elem_type': et}
        cnt = r.u64()
        if top:
            r.mark('%s_arr_count' % label)
            kv['arr']['count'] = cnt
            kv['arr']['data_off'] = r.pos
        for k in range(cnt):
            start = r.pos
            _value(r, et, '%s_elem%d' % (label, k), kv, mark_elems)
            if top and k < mark_elems:
                if r.pos - start > 1:
                    r.marks.append(((start + r.pos) // 2, 'IN:%s_elem%d' % (label, k)))
                if k < cnt - 1:
                    r.mark('%s_elem%d' % (label, k))
    else:
        raise ValueError('bad type %d' % typ)


# ------------------------------------------------------------------------------------------------
# A serializer from a simple model (kvs as raw type+value bytes, tensors with their data)
# ------------------------------------------------------------------------------------------------
def model_from_parsed(p):
    return {
        'version': p.version,
        'kvs': [[kv['key'], kv['raw_value']] for kv in p.kvs],
        'tensors': [{'name': t['name'], 'ne': list(t['ne']), 'type': t['type'], 'data': t['data']}
                    for t in p.tensors],
        'alignment': p.alignment,
    }


def serialize(m, n_kv=None, n_tensors=None, tail_pad=True):
    """Header + kvs + tensor infos + padding + data, tensors laid out contiguously in order."""
    al = m['alignment']
    out = bytearray(b'GGUF' + p32(m['version']))
    out += p64(len(m['tensors']) if n_tensors is None else n_tensors)
    out += p64(len(m['kvs']) if n_kv is None else n_kv)
    for key, raw in m['kvs']:
        out += gstr(key) + raw
    offsets = []
    off = 0
    for t in m['tensors']:
        offsets.append(off)
        off = align_up(off + len(t['data']), al)
    for t, o in zip(m['tensors'], offsets):
        out += gstr(t['name']) + p32(len(t['ne']))
        for d in t['ne']:
            out += p64(d)
        out += p32(t['type']) + p64(t.get('offset', o))
    if m['tensors']:
        out += b'\0' * (align_up(len(out), al) - len(out))
        base = len(out)
        for t, o in zip(m['tensors'], offsets):
            out += b'\0' * (base + o - len(out))
            out += t['data']
        if tail_pad:
            out += b'\0' * (align_up(len(out), al) - len(out))
    return bytes(out)


def kv_raw(typ, value, elem_type=None):
    """type + value bytes for a metadata value (arrays: value is a list, elem_type given)."""
    return p32(typ) + enc_value(typ, value, elem_type)


def enc_value(typ, value, elem_type=None):
    if typ in SCALAR_FMT:
        return struct.pack(SCALAR_FMT[typ], value)
    if typ == STR:
        return gstr(value)
    if typ == ARR:
        b = p32(elem_type) + p64(len(value))
        for v in value:
            if elem_type == ARR:
                b += enc_value(ARR, v[1], v[0])  # v = (inner elem type, inner list)
            else:
                b += enc_value(elem_type, v)
        return b
    raise ValueError(typ)


# ------------------------------------------------------------------------------------------------
# The small valid file (gguf.GGUFWriter)
# ------------------------------------------------------------------------------------------------
def make_small_valid(path):
    import gguf
    from gguf import GGMLQuantizationType as Q
    w = gguf.GGUFWriter(path, 'tiny')                  # general.architecture = "tiny" (string)
    w.add_uint32('general.alignment', 32)               # u32
    w.add_uint8('test.u8', 200)
    w.add_int8('test.i8', -100)
    w.add_uint16('test.u16', 60000)
    w.add_int16('test.i16', -30000)
    w.add_int32('test.i32', -2000000000)
    w.add_float32('test.f32', 0.1)
    w.add_bool('test.bool', True)
    w.add_string('test.string', 'h\u00e9llo \u2713 "quoted" \\ tab\t')
    w.add_uint64('test.u64', (1 << 64) - 1)
    w.add_int64('test.i64', -(1 << 63))
    w.add_float64('test.f64', 1.0 / 3.0)
    w.add_array('test.arr_i32', [1, -2, 3, 4, 5, 6, 7, 8, 9, 10])
    w.add_array('test.arr_str', ['a', 'bc', 'd\u00e9f'])
    w.add_array('test.arr_f32', [0.5, -1.25, 3.0])
    w.add_array('test.arr_bool', [True, False, True])
    w.add_array('test.nested', [[1, 2], [3]])                    # array of arrays of i32
    w.add_array('test.nested3', [[['x']], [['y', 'z'], ['w']]])  # 3 levels, strings inside
    rng = np.random.default_rng(1234)
    w.add_tensor('t.f32', np.arange(15, dtype=np.float32).reshape(3, 5) / 4)
    w.add_tensor('t.f16', (rng.standard_normal((2, 7)) * 0.5).astype(np.float16))
    x = rng.standard_normal((2, 64)).astype(np.float32)
    w.add_tensor('t.q4_0', gguf.quants.quantize(x, Q.Q4_0), raw_dtype=Q.Q4_0)
    y = rng.standard_normal((1, 32)).astype(np.float32)
    w.add_tensor('t.q8_0', gguf.quants.quantize(y, Q.Q8_0), raw_dtype=Q.Q8_0)  # 34 bytes: tail pad
    w.write_header_to_file()
    w.write_kv_data_to_file()
    w.write_tensors_to_file()
    w.close()


def small_valid_bytes():
    with tempfile.TemporaryDirectory() as d:
        path = os.path.join(d, 'small.gguf')
        make_small_valid(path)
        with open(path, 'rb') as f:
            return f.read()


def make_all_types():
    """One valid tensor of every ggml type ai.hpp knows (random bytes, one row of 256 elements)."""
    rng = np.random.default_rng(7)
    m = {'version': 3, 'alignment': 32,
         'kvs': [[b'general.architecture', kv_raw(STR, b'alltypes')]], 'tensors': []}
    for tid, (name, be, bb) in sorted(GGML_TYPES.items()):
        ne = [256, 2]
        nbytes = tensor_nbytes(tid, ne)
        data = rng.integers(0, 256, nbytes, dtype=np.uint8).tobytes()
        if name in ('F32', 'F64', 'F16', 'BF16'):  # finite values for the float types
            dt = {'F32': np.float32, 'F64': np.float64, 'F16': np.float16, 'BF16': None}[name]
            if dt is None:
                data = (rng.standard_normal(512).astype(np.float32).view(np.uint32) >> 16).astype(
                    np.uint16).tobytes()
            else:
                data = rng.standard_normal(512).astype(dt).tobytes()
        m['tensors'].append({'name': ('type.' + name).encode(), 'ne': ne, 'type': tid, 'data': data})
    return serialize(m)


# ------------------------------------------------------------------------------------------------
# The corpus
# ------------------------------------------------------------------------------------------------
class Corpus:
    def __init__(self, outdir):
        self.outdir = outdir
        self.rows = []
        self.names = set()

    def add(self, name, data, expect, desc):
        assert expect in ('reject', 'accept')
        assert name not in self.names, name
        self.names.add(name)
        fn = name + '.gguf'
        with open(os.path.join(self.outdir, fn), 'wb') as f:
            f.write(data)
        self.rows.append((fn, expect, desc))

    def write_manifest(self):
        with open(os.path.join(self.outdir, 'manifest.tsv'), 'w') as f:
            f.write('# file\tdescription\texpect\n')
            for fn, expect, desc in self.rows:
                f.write('%s\t%s\t%s\n' % (fn, desc.replace('\t', ' '), expect))


def patch(buf, off, b):
    out = bytearray(buf)
    out[off:off + len(b)] = b
    return bytes(out)


def boundary_name(label):
    if label.startswith('IN:'):
        return 'trunc_in_' + label[3:]
    return 'trunc_after_' + label


def truncations(c, prefix, buf, p, keep=None, tail=True):
    """Truncate at each recorded boundary, inside the padding and inside/after each tensor's data."""
    cuts = []
    for off, label in p.marks:
        cuts.append((off, boundary_name(label)))
    if p.tensors:
        if p.data_start > p.info_end + 1:
            cuts.append(((p.info_end + p.data_start) // 2, 'trunc_in_padding'))
        if p.data_start > p.info_end:
            cuts.append((p.data_start, 'trunc_at_data_start'))
        for j, t in enumerate(p.tensors):
            if t['nbytes'] > 1:
                cuts.append((t['abs'] + t['nbytes'] // 2, 'trunc_in_t%d_data' % j))
            if t['nbytes'] > 0:
                cuts.append((t['abs'] + t['nbytes'] - 1, 'trunc_t%d_data_minus1' % j))
            if j < len(p.tensors) - 1:
                cuts.append((t['abs'] + t['nbytes'], 'trunc_at_t%d_data_end' % j))
    seen = set()
    n = 0
    for off, name in cuts:
        if off >= p.size or off in seen:
            continue
        if keep is not None and not keep(name):
            continue
        seen.add(off)
        c.add(prefix + name, buf[:off], 'reject', 'cut to %d of %d bytes (%s)' % (off, p.size, name))
        n += 1
    # Cuts that leave every tensor complete: only trailing padding is missing (accepted).
    if tail and p.tensors and p.size > p.data_end:
        if p.size - p.data_end > 1:
            c.add(prefix + 'trunc_in_trailing_padding', buf[:(p.data_end + p.size) // 2], 'accept',
                  'cut inside the padding after the last tensor: all data present')
        c.add(prefix + 'trunc_at_last_data_end', buf[:p.data_end], 'accept',
              'cut right after the last tensor byte (no trailing padding)')
    return n


def nested_bomb(depth, complete=True, innermost_count=0):
    """A kv whose value is `depth` nested arrays (each count 1) around an empty u8 array."""
    body = bytearray(p32(ARR))                          # kv type
    body += (p32(ARR) + p64(1)) * depth                 # depth array headers, each one element
    if complete:
        body += p32(U8) + p64(innermost_count) + b'\0' * innermost_count
    m = {'version': 3, 'alignment': 32, 'tensors': [], 'kvs': [[b'bomb.nested', bytes(body)]]}
    return serialize(m)


def generate(outdir, shared):
    os.makedirs(outdir, exist_ok=True)
    c = Corpus(outdir)
    small = small_valid_bytes()
    sp = parse(small)
    assert serialize(model_from_parsed(sp)) == small, 'serializer does not round-trip the small file'
    kvi = {kv['key'].decode(): i for i, kv in enumerate(sp.kvs)}
    # llama.cpp refuses nested arrays (the spec allows them), so accepted edge cases start from
    # `flat`: the small file without its two nested-array keys, which llama.cpp reads too.
    def flat():
        m = model_from_parsed(sp)
        m['kvs'] = [kv for kv in m['kvs'] if not kv[0].startswith(b'test.nested')]
        return m
    flat_bytes = serialize(flat())
    fp = parse(flat_bytes)
    c.add('valid_flat', flat_bytes, 'accept', 'valid_small without the nested arrays')
    c.add('valid_small', small, 'accept', 'GGUFWriter file: all 13 value types, nested arrays, '
          'F32/F16/Q4_0/Q8_0 tensors (llama.cpp refuses nested arrays; the spec allows them)')
    remain = sp.size - 24

    # --- truncation at every structural boundary of the small file
    truncations(c, '', small, sp, tail=False)
    nested_bytes, nsp = small, sp
    # From here on, single-defect mutations start from the flat file, so that llama.cpp's verdict
    # on each is about the defect itself and not about the nested arrays it refuses.
    small, sp = flat_bytes, fp
    kvi = {kv['key'].decode(): i for i, kv in enumerate(sp.kvs)}
    truncations(c, 'flat_', flat_bytes, fp, keep=lambda n: False)  # only its accepted tail cuts

    # --- header: magic, version, endianness
    c.add('empty', b'', 'reject', 'empty file')
    c.add('three_bytes', b'GGU', 'reject', '3-byte file')
    c.add('bad_magic_GGUG', patch(small, 0, b'GGUG'), 'reject', 'magic GGUG')
    c.add('bad_magic_lower', patch(small, 0, b'gguf'), 'reject', 'magic gguf (lower case)')
    c.add('bad_magic_ggjt', patch(small, 0, b'tjgg'), 'reject', 'old GGJT magic')
    c.add('bad_magic_zero', patch(small, 0, b'\0\0\0\0'), 'reject', 'magic all zero')
    for v, exp, d in [(0, 'reject', 'version 0'), (1, 'reject', 'synthetic version 1 (obsolete)'),
                      (4, 'reject', 'version 4 (newer than supported)'),
                      (0xFFFFFFFF, 'reject', 'version 0xFFFFFFFF'),
                      (0x03000000, 'reject', 'version 3 stored big-endian (reads 0x03000000)'),
                      (2, 'accept', 'version 2 (same layout as v3; llama.cpp and gguf-py read it)')]:
        c.add('version_%d' % v if v < 256 else 'version_0x%08x' % v,
              patch(flat_bytes if exp == 'accept' else small, 4, p32(v)), exp, d)
    be = bytearray(small)
    be[4:8] = struct.pack('>I', 3)
    be[8:16] = struct.pack('>Q', sp.n_tensors)
    be[16:24] = struct.pack('>Q', sp.n_kv)
    c.add('big_endian_header', bytes(be), 'reject', 'byte-swapped header (version 0x03000000, '
          'counts swapped)')
    try:
        import gguf
        with tempfile.TemporaryDirectory() as d:
            path = os.path.join(d, 'be.gguf')
            w = gguf.GGUFWriter(path, 'tiny', endianess=gguf.GGUFEndian.BIG)
            w.add_uint32('test.u32', 5)
            w.add_tensor('t', np.arange(8, dtype=np.float32), tensor_endianess=gguf.GGUFEndian.BIG)
            w.write_header_to_file()
            w.write_kv_data_to_file()
            w.write_tensors_to_file()
            w.close()
            with open(path, 'rb') as f:
                c.add('big_endian_full', f.read(), 'reject', 'whole file big-endian (GGUFWriter '
                      'endianess=BIG)')
    except Exception as e:  # pragma: no cover
        print('note: big-endian writer failed: %s' % e, file=sys.stderr)

    # --- absurd counts
    for name, off in (('n_kv', 16), ('n_tensors', 8)):
        base = sp.n_kv if name == 'n_kv' else sp.n_tensors
        for tag, v in (('2p63', 1 << 63), ('2p64m1', M64), ('2p32', 1 << 32), ('2p31', 1 << 31),
                       ('plus1', base + 1), ('fits_plus1', remain // 13 + 1)):
            c.add('%s_%s' % (name, tag), patch(small, off, p64(v)), 'reject',
                  '%s = %d (file has %d)' % (name, v, base))
    c.add('counts_both_max', patch(patch(small, 8, p64(M64)), 16, p64(M64)), 'reject',
          'n_tensors = n_kv = 2^64-1')

    # --- absurd string lengths
    kv0 = sp.kvs[0]
    for tag, v in (('2p64m1', M64), ('2p63', 1 << 63), ('past_eof', sp.size - kv0['off'] - 8 + 1),
                   ('wrap', (1 << 64) - (kv0['off'] + 8) + 4)):
        c.add('keylen_%s' % tag, patch(small, kv0['off'], p64(v)), 'reject',
              'kv0 key length %d' % v)
    s = sp.kvs[kvi['test.string']]
    for tag, v in (('2p64m1', M64), ('2p63', 1 << 63), ('past_eof', sp.size - s['value_off'] - 8 + 1),
                   ('wrap', (1 << 64) - (s['value_off'] + 8) + 4), ('1gib', 1 << 30)):
        c.add('strlen_%s' % tag, patch(small, s['value_off'], p64(v)), 'reject',
              'test.string length %d' % v)
    t0 = sp.tensors[0]
    for tag, v in (('2p64m1', M64), ('past_eof', sp.size - t0['off'] - 8 + 1)):
        c.add('tensor_namelen_%s' % tag, patch(small, t0['off'], p64(v)), 'reject',
              'tensor 0 name length %d' % v)
    a = sp.kvs[kvi['test.arr_str']]
    c.add('arr_str_elem_len_2p64m1', patch(small, a['arr']['data_off'], p64(M64)), 'reject',
          'first string of test.arr_str has length 2^64-1')

    # --- absurd array counts
    ai_ = sp.kvs[kvi['test.arr_i32']]['arr']
    for tag, v in (('2p64m1', M64), ('2p63', 1 << 63), ('2p30p1', (1 << 30) + 1),
                   ('past_eof', (sp.size - ai_['data_off']) // 4 + 1),
                   ('mul_overflow', (1 << 62) + 10)):  # 4 * count wraps to 40 = the real bytes
        c.add('arr_count_%s' % tag, patch(small, ai_['count_off'], p64(v)), 'reject',
              'test.arr_i32 (10 x i32) count %d' % v)
    for tag, v in (('2p64m1', M64), ('past_eof', (sp.size - a['arr']['data_off']) // 8 + 1)):
        c.add('arr_str_count_%s' % tag, patch(small, a['arr']['count_off'], p64(v)), 'reject',
              'test.arr_str count %d' % v)
    n = nsp.kvs[[kv['key'] for kv in nsp.kvs].index(b'test.nested')]['arr']
    c.add('arr_nested_count_2p64m1', patch(nested_bytes, n['count_off'], p64(M64)), 'reject',
          'test.nested (array of arrays) count 2^64-1')
    c.add('arr_nested_inner_count_2p64m1', patch(nested_bytes, n['data_off'] + 4, p64(M64)), 'reject',
          'first inner array of test.nested has count 2^64-1')
    # u64 array of 1 element whose count*8 wraps to 8: 2^61 + 1
    m = model_from_parsed(sp)
    m['kvs'].append([b'test.arr_u64', kv_raw(ARR, [7], U64)])
    good = serialize(m)
    gp = parse(good)
    off = gp.kvs[-1]['arr']['count_off']
    c.add('arr_u64_count_mul_wrap', patch(good, off, p64((1 << 61) + 1)), 'reject',
          'u64 array of 1 element with count 2^61+1 (count*8 wraps to 8)')
    # wide nested bomb: an array of 2^40 empty arrays declared in a tiny file
    c.add('nested_wide_2p40', serialize({'version': 3, 'alignment': 32, 'tensors': [], 'kvs': [
        [b'bomb.wide', p32(ARR) + p32(ARR) + p64(1 << 40) + p32(U8) + p64(0)]]}), 'reject',
        'array of 2^40 arrays, one present')

    # --- depth bombs
    c.add('nested_depth_10000', nested_bomb(10000), 'reject',
          'arrays nested 10,000 deep (complete, 120 KB): needs a depth limit')
    c.add('nested_depth_100000', nested_bomb(100000), 'reject',
          'arrays nested 100,000 deep (complete, 1.2 MB): needs a depth limit')
    c.add('nested_depth_10000_trunc', nested_bomb(10000)[:60000], 'reject',
          'arrays declared 10,000 deep, file ends at depth ~5,000')
    c.add('nested_depth_3_empty', nested_bomb(3), 'accept', 'arrays nested 3 deep, innermost empty (spec-valid; llama.cpp refuses nesting)')

    # --- bad value types
    sk = sp.kvs[kvi['test.u8']]
    for v in (13, 0xFFFFFFFF, 0x80000000):
        c.add('kv_type_%d' % v if v < 256 else 'kv_type_0x%08x' % v,
              patch(small, sk['type_off'], p32(v)), 'reject', 'test.u8 value type %d' % v)
    for v in (13, 0xFFFFFFFF):
        c.add('arr_elem_type_%d' % v if v < 256 else 'arr_elem_type_0x%08x' % v,
              patch(small, ai_['type_off'], p32(v)), 'reject', 'test.arr_i32 element type %d' % v)
    c.add('arr_elem_type_13_count0', serialize({'version': 3, 'alignment': 32, 'tensors': [], 'kvs': [
        [b'x.empty', p32(ARR) + p32(13) + p64(0)]]}), 'reject',
        'empty array of element type 13 (llama.cpp rejects the type)')
    bk = sp.kvs[kvi['test.bool']]
    c.add('bool_value_2', patch(small, bk['value_off'], b'\x02'), 'reject',
          'bool byte 2 (spec: anything but 0/1 is invalid; llama.cpp accepts)')

    # --- keys
    m = model_from_parsed(sp)
    m['kvs'][1][0] = b''
    c.add('keylen_0', serialize(m), 'reject', 'kv1 key of length 0 (llama.cpp: "key is empty")')
    m = model_from_parsed(sp)
    m['kvs'].append([b'test.u8', kv_raw(U8, 1)])
    c.add('duplicate_key', serialize(m), 'reject', 'test.u8 appears twice')
    m = model_from_parsed(sp)
    m['kvs'].insert(0, [b'general.alignment', kv_raw(U32, 32)])
    c.add('duplicate_key_alignment', serialize(m), 'reject', 'general.alignment twice (same value)')

    # error messages quote keys and tensor names taken from the file: they must stay one line
    c.add('key_newline_bad_type', serialize({'version': 3, 'alignment': 32, 'tensors': [], 'kvs': [
        [b'evil\nkey\r\n', p32(13) + b'\0' * 8]]}), 'reject',
        'key "evil\\nkey\\r\\n" with value type 13 (the error line must not break)')
    c.add('key_nul_bad_type', serialize({'version': 3, 'alignment': 32, 'tensors': [], 'kvs': [
        [b'evil\0key', p32(13) + b'\0' * 8]]}), 'reject', 'key with a NUL byte and value type 13')
    m = flat()
    m['tensors'][0]['name'] = b'bad\nname'
    m['tensors'][0]['type'] = 12345
    c.add('tensor_name_newline_bad_type', serialize(m), 'reject',
          'tensor "bad\\nname" of type 12345 (the error line must not break)')

    # --- alignment
    al = sp.kvs[kvi['general.alignment']]
    for v, exp, d in ((0, 'reject', 'alignment 0'), (3, 'reject', 'alignment 3 (not a power of 2)'),
                      (48, 'reject', 'alignment 48 (not a power of 2)'),
                      (1 << 31, 'reject', 'alignment 2^31 (data section past EOF)')):
        c.add('alignment_%d' % v if v < 1000 else 'alignment_2p31', patch(small, al['value_off'], p32(v)),
              exp, d)
    c.add('alignment_as_f32', patch(patch(small, al['type_off'], p32(F32)), al['value_off'],
                                    struct.pack('<f', 32.0)), 'reject', 'general.alignment stored as f32 32.0')
    for typ, d in ((U64, 'u64'), (I32, 'i32'), (STR, 'string'), (U16, 'u16')):
        m = model_from_parsed(sp)
        m['kvs'][kvi['general.alignment']][1] = kv_raw(typ, b'32' if typ == STR else 32)
        c.add('alignment_as_%s' % d, serialize(m), 'reject',
              'general.alignment stored as %s 32 (must be u32)' % d)
    for v in (8, 64, 256):
        m = flat()
        [kv for kv in m['kvs'] if kv[0] == b'general.alignment'][0][1] = kv_raw(U32, v)
        m['alignment'] = v
        data = serialize(m)
        parse(data)
        c.add('alignment_%d_valid' % v, data, 'accept', 'alignment %d, laid out accordingly' % v)
    c.add('alignment_2p31_no_tensors', serialize({'version': 3, 'alignment': 1 << 31, 'tensors': [],
                                                 'kvs': [[b'general.alignment', kv_raw(U32, 1 << 31)]]}),
          'accept', 'alignment 2^31 with no tensors (nothing to align; llama.cpp accepts)')

    # --- tensor shapes
    def with_tensor(idx, **kw):
        m = flat()
        m['tensors'][idx].update(kw)
        return serialize(m)

    t1 = sp.tensors[1]
    c.add('ndims_5', with_tensor(0, ne=[5, 3, 1, 1, 1]), 'reject', 't.f32 with n_dims 5')
    c.add('ndims_0xffffffff', patch(small, t0['ndims_off'], p32(0xFFFFFFFF)), 'reject',
          't.f32 n_dims 0xFFFFFFFF')
    c.add('ndims_0', with_tensor(0, ne=[], data=struct.pack('<f', 1.5)), 'accept',
          't.f32 with n_dims 0: a 1-element scalar (llama.cpp accepts)')
    c.add('ne_zero', with_tensor(3, ne=[32, 0], data=b''), 'accept',
          't.q8_0 with ne = [32, 0]: empty tensor (llama.cpp accepts)')
    c.add('ne_zero_first', with_tensor(0, ne=[0, 3], data=b''), 'accept',
          't.f32 with ne = [0, 3]: empty tensor')
    c.add('ne_negative', patch(small, t0['ne_off'], p64(-1)), 'reject', 't.f32 ne[0] = -1 (as i64)')
    c.add('ne_int64_min', patch(small, t0['ne_off'] + 8, p64(-(1 << 63))), 'reject',
          't.f32 ne[1] = -2^63')
    c.add('ne_product_overflow', with_tensor(0, ne=[1 << 32, 1 << 32]), 'reject',
          't.f32 ne = [2^32, 2^32]: element count 2^64 wraps to 0')
    c.add('ne_product_overflow_4d', with_tensor(0, ne=[1 << 31] * 4), 'reject',
          't.f32 ne = [2^31]*4: 2^124 elements')
    c.add('ne_bytes_overflow', with_tensor(0, ne=[1 << 62]), 'reject',
          't.f32 ne = [2^62]: 2^62 elements fit int64, 2^64 bytes wrap to 0')
    c.add('ne_huge_past_eof', with_tensor(0, ne=[1 << 40, 1]), 'reject',
          't.f32 ne = [2^40, 1]: 4 TiB of data past EOF')
    c.add('ne0_not_block_multiple_q4_0', with_tensor(2, ne=[33, 2]), 'reject',
          't.q4_0 ne[0] = 33 (Q4_0 blocks are 32)')
    c.add('ne0_not_block_multiple_q4_k', with_tensor(2, ne=[64, 2], type=12), 'reject',
          't.q4_0 retyped Q4_K with ne[0] = 64 (Q4_K blocks are 256)')

    # --- tensor types
    for v, d in ((31, 'removed Q4_0_4_4'), (36, 'removed IQ4_NL_4_4'), (12345, 'unknown'),
                 (0xFFFFFFFF, 'unknown, -1 as int32'), (4, 'removed Q4_2'), (5, 'removed Q4_3')):
        c.add('ggml_type_%d' % v if v < 1 << 20 else 'ggml_type_0x%08x' % v,
              patch(small, t0['type_off'], p32(v)), 'reject', 't.f32 ggml type %d (%s)' % (v, d))
    c.add('all_types', make_all_types(), 'accept', 'one [256, 2] tensor of every ggml type ai.hpp knows')

    # --- tensor names
    m = model_from_parsed(sp)
    m['tensors'][1]['name'] = m['tensors'][0]['name']
    c.add('duplicate_tensor_name', serialize(m), 'reject', 'tensors 0 and 1 both t.f32')
    m = model_from_parsed(sp)
    m['tensors'][0]['name'] = b'n' * 65
    c.add('tensor_name_65', serialize(m), 'reject', 'tensor name of 65 bytes (spec: at most 64)')
    m = flat()
    m['tensors'][0]['name'] = b'n' * 63
    c.add('tensor_name_63', serialize(m), 'accept', 'tensor name of 63 bytes')
    m = flat()
    m['tensors'][0]['name'] = b''
    c.add('tensor_name_empty', serialize(m), 'accept', 'tensor with an empty name (llama.cpp accepts)')

    # --- tensor offsets
    c.add('tensor_offset_misaligned', patch(small, t1['offset_off'], p64(t1['offset'] + 4)), 'reject',
          't.f16 offset +4 (not a multiple of 32)')
    c.add('tensor0_offset_1', patch(small, t0['offset_off'], p64(1)), 'reject', 't.f32 offset 1')
    c.add('tensor_overlap', patch(small, t1['offset_off'], p64(sp.tensors[0]['offset'])), 'reject',
          't.f16 at the same offset as t.f32 (llama.cpp requires offset = running padded size)')
    # A holds 256 bytes at 0; an empty tensor at 32 sits between A and B (at 64, inside A):
    # a check that compares only neighbours in offset order, skipping empty ones, misses it.
    m = {'version': 3, 'alignment': 32, 'kvs': [], 'tensors': [
        {'name': b'A', 'ne': [64], 'type': 0, 'data': b'\1' * 256},
        {'name': b'Z', 'ne': [0], 'type': 0, 'data': b''},
        {'name': b'B', 'ne': [8], 'type': 0, 'data': b'\2' * 32}]}
    d = serialize(m)
    dp = parse(d)
    d = patch(patch(d, dp.tensors[1]['offset_off'], p64(32)), dp.tensors[2]['offset_off'], p64(64))
    c.add('tensor_overlap_past_empty', d, 'reject',
          'B (offset 64) lies inside A (offset 0, 256 bytes); an empty tensor at 32 sorts between them')
    t3 = sp.tensors[3]
    c.add('tensor_offset_past_eof', patch(small, t3['offset_off'], p64(t3['offset'] + 4096)), 'reject',
          'last tensor 4096 bytes further: data past EOF')
    c.add('tensor_offset_wrap', patch(small, t3['offset_off'], p64((1 << 64) - 32 * 4)), 'reject',
          'last tensor offset 2^64-128: data_offset + offset wraps')
    c.add('tensor_offset_2p63', patch(small, t3['offset_off'], p64(1 << 63)), 'reject',
          'last tensor offset 2^63')
    c.add('tensor_offset_just_past_eof', patch(small, t3['offset_off'],
                                               p64(align_up(sp.size - sp.data_start - t3['nbytes'] + 1, 32))),
          'reject', 'last tensor moved to the first aligned offset where it ends past EOF')

    # --- other accepted edges
    m = flat()
    m['kvs'].append([b'test.bad_utf8', kv_raw(STR, b'ok \xff\xfe \xc3( \xe2\x82 end')])
    m['kvs'].append([b'test.arr_bad_utf8', kv_raw(ARR, [b'\x80', b'fine', b'\xed\xa0\x80'], STR)])
    c.add('string_invalid_utf8', serialize(m), 'accept', 'strings with invalid UTF-8 (U+FFFD in output)')
    m = flat()
    m['kvs'].append([b'test.controls', kv_raw(STR, b'nul\x00 bell\x07 esc\x1b nl\n cr\r "q" \\ \x7f')])
    c.add('string_controls', serialize(m), 'accept', 'string with NUL, control chars, quotes, backslash')
    m = flat()
    m['kvs'].append([b'test.nan', kv_raw(F32, float('nan'))])
    m['kvs'].append([b'test.inf', kv_raw(F64, float('-inf'))])
    m['kvs'].append([b'test.arr_nonfinite', kv_raw(ARR, [float('inf'), float('nan'), 1.0], F32)])
    c.add('float_nonfinite', serialize(m), 'accept', 'NaN / Inf scalars and array elements (null)')
    m = flat()
    m['kvs'].append([b'test.empty_u8', p32(ARR) + p32(U8) + p64(0)])
    m['kvs'].append([b'test.empty_str', p32(ARR) + p32(STR) + p64(0)])
    m['kvs'].append([b'test.empty_string', kv_raw(STR, b'')])
    c.add('empty_arrays', serialize(m), 'accept', 'empty u8 and string arrays, an empty string')
    m = model_from_parsed(sp)
    m['kvs'].append([b'test.empty_nested', kv_raw(ARR, [(U8, []), (STR, [])], ARR)])
    m['kvs'].append([b'test.nested_empty_outer', p32(ARR) + p32(ARR) + p64(0)])
    c.add('empty_nested_arrays', serialize(m), 'accept', 'array of two empty arrays; empty array of arrays (spec-valid; llama.cpp refuses nesting)')
    c.add('header_only', serialize({'version': 3, 'alignment': 32, 'kvs': [], 'tensors': []}), 'accept',
          '24-byte file: no kvs, no tensors')
    c.add('trailing_garbage', flat_bytes + b'\xde\xad\xbe\xef' * 100, 'accept', '400 bytes after the data')
    m = flat()
    m['kvs'] = [[k, v] for k, v in m['kvs'] if k != b'general.alignment']
    c.add('no_alignment_key', serialize(m), 'accept', 'no general.alignment (default 32)')
    m = {'version': 3, 'alignment': 32, 'tensors': [],
         'kvs': [[b'k.%06d' % i, kv_raw(U32, i)] for i in range(100000)]}
    c.add('many_keys_100000', serialize(m), 'accept', '100,000 distinct keys (catches O(n^2) checks)')
    m = {'version': 3, 'alignment': 32, 'kvs': [],
         'tensors': [{'name': b't.%06d' % i, 'ne': [1], 'type': 0, 'data': b'\0\0\0\0'}
                     for i in range(100000)]}
    c.add('many_tensors_100000', serialize(m), 'accept', '100,000 distinct 1-element tensors')

    # --- real files: stories260K
    st_path = os.path.join(shared, 'models', 'stories260K.gguf')
    if os.path.exists(st_path):
        with open(st_path, 'rb') as f:
            st = f.read()
        stp = parse(st, mark_elems=0)
        wanted = set()
        labels = [lab for _, lab in stp.marks]
        # a sample: header, the first few kvs, the tokens array, every 7th tensor, the data
        for lab in labels:
            if (lab in ('magic', 'version', 'n_tensors', 'n_kv') or lab.startswith(('kv0_', 'IN:kv0'))
                    or '_arr_' in lab or lab.startswith('t0_') or lab.startswith('t47_')
                    or (lab.startswith('t') and lab.endswith('_offset') and int(lab[1:].split('_')[0]) % 7 == 0)):
                wanted.add(boundary_name(lab))
        wanted |= {'trunc_in_padding', 'trunc_at_data_start', 'trunc_in_t0_data', 'trunc_at_t0_data_end',
                   'trunc_in_t47_data', 'trunc_t47_data_minus1', 'trunc_at_t23_data_end'}
        truncations(c, 'st_', st, stp, keep=lambda n: n in wanted)
        tok = [kv for kv in stp.kvs if kv['key'] == b'tokenizer.ggml.tokens'][0]
        c.add('st_tokens_count_2p64m1', patch(st, tok['arr']['count_off'], p64(M64)), 'reject',
              'stories260K tokenizer.ggml.tokens count 2^64-1')
        c.add('st_tokens_count_plus1', patch(st, tok['arr']['count_off'], p64(tok['arr']['count'] + 1)),
              'reject', 'stories260K tokens count +1 (the next key is read as a token)')
        c.add('st_tokens_elem0_len_2p63', patch(st, tok['arr']['data_off'], p64(1 << 63)), 'reject',
              'stories260K first token length 2^63')
        c.add('st_n_kv_2p63', patch(st, 16, p64(1 << 63)), 'reject', 'stories260K n_kv = 2^63')
        c.add('st_n_tensors_2p64m1', patch(st, 8, p64(M64)), 'reject', 'stories260K n_tensors = 2^64-1')
        lt = stp.tensors[-1]
        c.add('st_last_tensor_offset_past_eof', patch(st, lt['offset_off'], p64(lt['offset'] + 32)),
              'reject', 'stories260K last tensor shifted 32 bytes: data past EOF')
        c.add('st_tensor5_type_12345', patch(st, stp.tensors[5]['type_off'], p32(12345)), 'reject',
              'stories260K tensor 5 ggml type 12345')
        c.add('st_tensor5_ndims_5', patch(st, stp.tensors[5]['ndims_off'], p32(5)), 'reject',
              'stories260K tensor 5 n_dims 5 (shifts the rest)')
        c.add('st_big_endian_version', patch(st, 4, struct.pack('>I', 3)), 'reject',
              'stories260K with version written big-endian')
        c.add('st_version_2', patch(st, 4, p32(2)), 'accept', 'stories260K relabelled version 2')
    else:
        print('note: %s missing, skipping its cases' % st_path, file=sys.stderr)

    v1_path = os.path.join(shared, 'models', 'legacy-v1', 'tinyllamas-stories-260k-f32.gguf')
    if os.path.exists(v1_path):
        with open(v1_path, 'rb') as f:
            c.add('version_1_legacy_real', f.read(), 'reject', 'real obsolete GGUF v1 file '
                  '(u32 counts and lengths)')
    c.write_manifest()
    return c.rows


def default_shared():
    env = os.environ.get('AI_SHARED_DIR')
    if env:
        return env
    repo = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
    return os.path.join(repo, '..', 'shared')


def main():
    ap = argparse.ArgumentParser(description=__doc__.split('\n')[0])
    ap.add_argument('outdir')
    ap.add_argument('--shared', default=None, help='shared data dir (default $AI_SHARED_DIR or <repo>/../shared)')
    args = ap.parse_args()
    rows = generate(args.outdir, args.shared or default_shared())
    n_rej = sum(1 for r in rows if r[1] == 'reject')
    print('%d files (%d reject, %d accept) in %s' % (len(rows), n_rej, len(rows) - n_rej, args.outdir))


if __name__ == '__main__':
    main()
