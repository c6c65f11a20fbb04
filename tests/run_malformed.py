#!/usr/bin/env python3
"""run_malformed.py [--corpus DIR] [--shared DIR] — robustness test of `$AI_CLI info`.

Generates the corpus of tests/make_malformed.py into a temporary directory (or uses --corpus DIR
when it holds a manifest.tsv), then runs `$AI_CLI info FILE` and `$AI_CLI info FILE --json` on
every file, each with a 1-second timeout and (unless the binary is built with AddressSanitizer) a
1 GiB address-space limit:
  reject cases: exit status 1, no signal, stderr exactly one line starting with `error: `
  accept cases: exit status 0, no sanitizer output, --json prints one JSON object whose counts
                match the file
Then every valid file in <shared>/models (recursive) and <shared>/vocab must give exit 0, except
the legacy GGUF v1 file, which must be refused with one `error: ` line that mentions the version.

Prints one line per failure and a final line `N passed, N failed` (a file passes when both runs
pass); exits 1 if anything failed.
Env: AI_CLI (required, or --cli), AI_SHARED_DIR, AI_SANITIZE=1 (force "sanitized": no rlimit).
"""
import argparse
import concurrent.futures
import json
import os
import re
import shlex
import subprocess
import sys
import tempfile

HERE = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, HERE)
import make_malformed  # noqa: E402

SANITIZER_RE = re.compile(r'Sanitizer|runtime error:|==\d+==')


def is_sanitized(cli):
    if os.environ.get('AI_SANITIZE') == '1':
        return True
    try:
        out = subprocess.run(['ldd', cli], capture_output=True, text=True, timeout=10).stdout
        if 'libasan' in out or 'libtsan' in out or 'libmsan' in out:
            return True
    except (OSError, subprocess.SubprocessError):
        pass
    try:  # clang links the ASan runtime statically
        with open(cli, 'rb') as f:
            return b'__asan_init' in f.read()
    except OSError:
        return False


class Runner:
    def __init__(self, cli, timeout, sanitized):
        self.cli = cli
        self.timeout = timeout
        self.sanitized = sanitized
        self.env = dict(os.environ)
        # Sanitizer reports become failures (extra stderr lines / distinctive exit codes).
        self.env['ASAN_OPTIONS'] = ('exitcode=86:detect_leaks=1:max_allocation_size_mb=1024:'
                                    'allocator_may_return_null=0:' + os.environ.get('ASAN_OPTIONS', ''))
        self.env['UBSAN_OPTIONS'] = 'print_stacktrace=1:' + os.environ.get('UBSAN_OPTIONS', '')

    def run(self, args):
        """Returns (returncode, stdout, stderr, timed_out). Negative returncode = signal."""
        cmd = [self.cli] + args
        if not self.sanitized:
            # ulimit in a shell: thread-safe, unlike preexec_fn. -v is in KiB.
            cmd = ['sh', '-c', 'ulimit -c 0; ulimit -v 1048576; exec "$@"', 'sh'] + cmd
        for attempt in range(2):  # a timeout is retried once (the machine may be busy)
            try:
                p = subprocess.run(cmd, capture_output=True, timeout=self.timeout, env=self.env,
                                   stdin=subprocess.DEVNULL)
                return p.returncode, p.stdout, p.stderr.decode('utf-8', 'replace'), False
            except subprocess.TimeoutExpired as e:
                if attempt == 1:
                    return None, e.stdout or b'', (e.stderr or b'').decode('utf-8', 'replace'), True
        raise AssertionError


def describe(rc, err, timed_out):
    if timed_out:
        return 'timeout'
    if rc is not None and rc < 0:
        return 'killed by signal %d' % -rc
    lines = err.splitlines()
    first = lines[0] if lines else ''
    return 'exit %s, %d stderr line(s)%s' % (rc, len(lines), (': ' + first[:150]) if first else '')


def check_reject(res, need_version=False):
    rc, out, err, to = res
    if to or rc != 1 or SANITIZER_RE.search(err):
        return describe(rc, err, to)
    lines = err.splitlines()
    if len(lines) != 1 or not lines[0].startswith('error: ') or not err.endswith('\n'):
        return 'stderr is not exactly one "error: " line: %r' % err[:300]
    if need_version and not re.search(r'version', lines[0], re.I):
        return 'error does not mention the version: %r' % lines[0]
    return None


def check_accept(res, json_mode, header):
    rc, out, err, to = res
    if to or rc != 0 or SANITIZER_RE.search(err):
        return describe(rc, err, to)
    if json_mode:
        try:
            doc = json.loads(out.decode('utf-8'))
        except (UnicodeDecodeError, ValueError) as e:
            return '--json output is not valid UTF-8 JSON: %s' % e
        if not isinstance(doc, dict):
            return '--json output is not an object'
        for key in ('version', 'alignment', 'data_offset', 'file_size', 'kv_count', 'tensor_count',
                    'metadata', 'tensors'):
            if key not in doc:
                return '--json output lacks "%s"' % key
        if header is not None:
            version, n_tensors, n_kv, size = header
            got = (doc['version'], doc['tensor_count'], doc['kv_count'], doc['file_size'])
            if got != (version, n_tensors, n_kv, size):
                return '--json (version, tensor_count, kv_count, file_size) = %s, file has %s' % (
                    got, (version, n_tensors, n_kv, size))
        if len(doc['metadata']) != doc['kv_count'] or len(doc['tensors']) != doc['tensor_count']:
            return '--json lists %d kvs / %d tensors, counts say %s / %s' % (
                len(doc['metadata']), len(doc['tensors']), doc['kv_count'], doc['tensor_count'])
    return None


def header_of(path):
    import struct
    with open(path, 'rb') as f:
        b = f.read(24)
    if len(b) < 24 or b[:4] != b'GGUF':
        return None
    v, nt, nkv = struct.unpack('<IQQ', b[4:24])
    return v, nt, nkv, os.path.getsize(path)


def test_file(runner, path, expect, need_version=False):
    """Returns a list of failure strings (empty: passed)."""
    fails = []
    for json_mode in (False, True):
        args = ['info', path] + (['--json'] if json_mode else [])
        res = runner.run(args)
        if expect == 'reject':
            why = check_reject(res, need_version)
        else:
            why = check_accept(res, json_mode, header_of(path))
        if why:
            fails.append('%s%s: %s' % ('--json ' if json_mode else '', expect, why))
    return fails


def main():
    ap = argparse.ArgumentParser(description=__doc__.split('\n')[0])
    ap.add_argument('--cli', default=os.environ.get('AI_CLI'))
    ap.add_argument('--corpus', help='use this corpus dir (made by make_malformed.py) if present')
    ap.add_argument('--shared', default=None)
    ap.add_argument('--timeout', type=float, default=1.0)
    ap.add_argument('-j', '--jobs', type=int, default=min(2, os.cpu_count() or 1))
    ap.add_argument('-k', '--filter', default='', help='only files whose name contains this')
    ap.add_argument('-v', '--verbose', action='store_true')
    args = ap.parse_args()
    if not args.cli or not os.path.exists(args.cli):
        print('run_malformed.py: set AI_CLI to the ai binary (or pass --cli)', file=sys.stderr)
        return 2
    cli = os.path.abspath(args.cli)
    shared = args.shared or make_malformed.default_shared()
    sanitized = is_sanitized(cli)
    runner = Runner(cli, args.timeout, sanitized)
    print('cli: %s (%s)' % (cli, 'sanitized: no rlimit' if sanitized else 'RLIMIT_AS 1 GiB'))

    tmp = None
    corpus = args.corpus
    if not corpus or not os.path.exists(os.path.join(corpus, 'manifest.tsv')):
        if not corpus:
            tmp = tempfile.TemporaryDirectory(prefix='ai-malformed-')
            corpus = tmp.name
        make_malformed.generate(corpus, shared)

    cases = []  # (display name, path, expect, need_version)
    with open(os.path.join(corpus, 'manifest.tsv')) as f:
        for line in f:
            if line.startswith('#') or not line.strip():
                continue
            fn, desc, expect = line.rstrip('\n').split('\t')
            cases.append((fn, os.path.join(corpus, fn), expect, fn.startswith('version_1')))
    for sub in ('models', 'vocab'):
        root = os.path.join(shared, sub)
        for dirpath, dirs, files in os.walk(root):
            dirs.sort()
            for fn in sorted(files):
                if not fn.endswith('.gguf'):
                    continue
                path = os.path.join(dirpath, fn)
                rel = os.path.relpath(path, shared)
                legacy = 'legacy-v1' in rel
                cases.append(('shared/' + rel, path, 'reject' if legacy else 'accept', legacy))
    if args.filter:
        cases = [c for c in cases if args.filter in c[0]]

    passed = failed = 0
    with concurrent.futures.ThreadPoolExecutor(max_workers=max(1, args.jobs)) as ex:
        futs = [(c, ex.submit(test_file, runner, c[1], c[2], c[3])) for c in cases]
        for (name, path, expect, _), fut in futs:
            fails = fut.result()
            if fails:
                failed += 1
                for why in fails:
                    print('FAIL %s: %s' % (name, why))
                if args.verbose:
                    print('     reproduce: %s info %s' % (shlex.quote(cli), shlex.quote(path)))
            else:
                passed += 1
                if args.verbose:
                    print('ok   %s (%s)' % (name, expect))
    if tmp is not None and failed:
        print('(corpus was generated in a temporary dir; pass --corpus DIR to keep it)')
    if tmp is not None:
        tmp.cleanup()
    print('%d passed, %d failed' % (passed, failed))
    return 1 if failed else 0


if __name__ == '__main__':
    sys.exit(main())
