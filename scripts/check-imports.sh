#!/usr/bin/env bash
# Fails if a module of src/ imports upward: every `crate::a::b` and
# `super::x` path in a module's code (not its comments, not its test module)
# must name a module of the same rank or below, by the import order in
# docs/architecture.md (the ```text block after the "import-order" marker:
# one rank per line, bottom first; a module not listed takes the rank of its
# nearest listed parent). Grep-level: it reads paths, not Rust's name
# resolution, which is enough for `use` lines and inline paths.
set -euo pipefail
cd "$(dirname "$0")/.."
python3 - <<'PY'
import re, sys, pathlib

doc = pathlib.Path("docs/architecture.md").read_text()
m = re.search(r"<!-- import-order.*?-->\s*```text\n(.*?)```", doc, re.S)
if not m:
    sys.exit("check-imports: no import-order block in docs/architecture.md")
rank = {}
for i, line in enumerate(l for l in m.group(1).splitlines() if l.split("#")[0].strip()):
    for mod in line.split("#")[0].split():
        rank[mod] = i

def rank_of(path):
    """Rank of the longest listed prefix of a module path (a::b::c)."""
    parts = path.split("::")
    for n in range(len(parts), 0, -1):
        p = "::".join(parts[:n])
        if p in rank:
            return p, rank[p]
    return None, None

def module_of(f):
    parts = list(f.relative_to("src").with_suffix("").parts)
    if parts[-1] == "mod":
        parts.pop()
    return parts

def refs(code, me):
    """The crate-relative paths a module's code names."""
    out = []
    # grouped: crate::{a::b, c, d::{e, f}} -> a::b, c, d
    for g in re.finditer(r"\bcrate::\{", code):
        depth, j = 0, g.end() - 1
        for j in range(g.end() - 1, len(code)):
            depth += {"{": 1, "}": -1}.get(code[j], 0)
            if depth == 0:
                break
        inner, depth, item = code[g.end():j], 0, ""
        for ch in inner + ",":
            if ch == "," and depth == 0:
                if re.match(r"\s*\w", item):
                    out.append(re.match(r"\s*([\w:]+)", item).group(1).rstrip(":"))
                item = ""
                continue
            depth += {"{": 1, "}": -1}.get(ch, 0)
            item += ch
    for r in re.finditer(r"\bcrate::((?:[a-z_][a-z0-9_]*::)*[a-z_][a-z0-9_]*)", code):
        out.append(r.group(1))
    # super:: from a file module: its parent module
    for r in re.finditer(r"\bsuper::((?:[a-z_][a-z0-9_]*::)*[a-z_][a-z0-9_]*)", code):
        out.append("::".join(me[:-1] + [r.group(1)]) if len(me) > 1 else r.group(1))
    return out

bad = 0
for f in sorted(pathlib.Path("src").rglob("*.rs")):
    me = module_of(f)
    if f.name in ("lib.rs", "main.rs") and len(me) == 1 or f.name == "tests.rs":
        continue
    my_name, my_rank = rank_of("::".join(me))
    if my_rank is None:
        print(f"check-imports: {f}: module {'::'.join(me)} is not in the import order")
        bad += 1
        continue
    text = f.read_text()
    # the test module (at the end of a file) may import anything
    t = re.search(r"(?m)^#\[cfg\(test\)\]\s*\nmod tests\s*\{", text)
    if t:
        text = text[: t.start()]
    code = "\n".join(re.sub(r"//.*", "", l) for l in text.splitlines())
    for r in refs(code, me):
        name, rk = rank_of(r)
        if rk is not None and rk > my_rank:
            print(f"check-imports: {f}: {'::'.join(me)} imports {r} ({name} is above {my_name})")
            bad += 1
if bad:
    print(f"check-imports: {bad} upward import(s); see the import order in docs/architecture.md")
    sys.exit(1)
print("check-imports: every import points down")
PY
