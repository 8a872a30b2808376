#!/usr/bin/env python3
"""Where a wasm module's bytes go: code size per crate, from an unstripped build's name section.

Usage: wasm_size.py MODULE.wasm [--top N]. Prints section sizes, then function-body bytes grouped by the
crate their (demangled-enough) name starts with. Run it on a build with `strip = false` for names.
"""
import re
import sys
from collections import Counter


def leb(data, i):
    result = shift = 0
    while True:
        b = data[i]
        i += 1
        result |= (b & 0x7F) << shift
        shift += 7
        if not b & 0x80:
            return result, i


def sections(data):
    i = 8
    while i < len(data):
        sid = data[i]
        size, j = leb(data, i + 1)
        yield sid, data[j:j + size]
        i = j + size


def crate_of(name):
    # Legacy Rust mangling: _ZN<len><ident>...; v0 or plain names fall through to the raw prefix.
    # `<T as Trait>::f` is mangled as _ZN<len>_$LT$<path>..: the type's crate is what the code belongs to.
    m = re.match(r"_ZN\d+_\$LT\$(?:\$RF\$|\$u5b\$|mut\$u20\$|\$BP\$|const\$u20\$)*([A-Za-z_][A-Za-z0-9_]*?)(?:\.\.|\$)", name)
    if m:
        return m.group(1)
    m = re.match(r"_ZN(\d+)(\w+)", name)
    if m:
        n = int(m.group(1))
        return m.group(2)[:n]
    m = re.match(r"<?([A-Za-z_][A-Za-z0-9_]*)::", name)
    return m.group(1) if m else name.split("::")[0][:40]


def main():
    path = sys.argv[1]
    top = int(sys.argv[sys.argv.index("--top") + 1]) if "--top" in sys.argv else 25
    data = open(path, "rb").read()
    names = {}
    imported = 0
    bodies = []
    by_section = Counter()
    for sid, body in sections(data):
        if sid == 0:
            nlen, k = leb(body, 0)
            cname = body[k:k + nlen].decode()
            by_section[f"custom:{cname}"] += len(body)
            if cname == "name":
                k += nlen
                while k < len(body):
                    sub = body[k]
                    size, k2 = leb(body, k + 1)
                    if sub == 1:
                        count, p = leb(body, k2)
                        for _ in range(count):
                            idx, p = leb(body, p)
                            ln, p = leb(body, p)
                            names[idx] = body[p:p + ln].decode(errors="replace")
                            p += ln
                    k = k2 + size
            continue
        by_section[{1: "type", 2: "import", 3: "function", 5: "memory", 6: "global", 7: "export", 9: "elem",
                    10: "code", 11: "data"}.get(sid, str(sid))] += len(body)
        if sid == 2:
            count, p = leb(body, 0)
            for _ in range(count):
                for _ in range(2):
                    ln, p = leb(body, p)
                    p += ln
                kind = body[p]
                p += 1
                if kind == 0:
                    imported += 1
                    _, p = leb(body, p)
                elif kind == 1:
                    p += 1
                    flags, p = leb(body, p)
                    _, p = leb(body, p)
                    if flags & 1:
                        _, p = leb(body, p)
                elif kind == 2:
                    flags, p = leb(body, p)
                    _, p = leb(body, p)
                    if flags & 1:
                        _, p = leb(body, p)
                else:
                    p += 2
        if sid == 10:
            count, p = leb(body, 0)
            for _ in range(count):
                size, p = leb(body, p)
                bodies.append(size)
                p += size
    print(f"{path}: {len(data)} bytes")
    for k, v in by_section.most_common():
        print(f"  section {k:<24} {v:>9}")
    per_crate = Counter()
    for n, size in enumerate(bodies):
        per_crate[crate_of(names.get(n + imported, "?"))] += size
    print("  code bytes by crate:")
    for k, v in per_crate.most_common(top):
        print(f"    {k:<32} {v:>9}")


if __name__ == "__main__":
    main()
