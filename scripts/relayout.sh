#!/usr/bin/env bash
# Moves src/ from 25 flat modules into folders by concern (issue 14,
# item 4) and rewrites every path that named the old places.
#
# Idempotent: each move is skipped once done, and the path rewrites only
# match the old paths, so a second run changes nothing. It can be run on any
# tree that still has some of the old layout (a merge of branches written
# against it): it moves what is still in the old place, rewrites
# `crate::old` / `corral::old` / `super::msg` paths (grouped imports too) in
# src/, tests/, bench/ and fuzz/, and the `src/old.rs` file names in docs and
# scripts. shards/ is never touched (it does not depend on src/).
#
#   old                       new
#   jute path request fourlw  protocol::*
#   tree digest acl watch     data::*
#   txn prep                  data::*
#   storage (storage.rs)      storage (storage/mod.rs)
#   txnlog snapshot filemap   storage::*
#   quorum (quorum.rs)        quorum (quorum/mod.rs)
#   election/ zab/            quorum::election, quorum::zab
#   sequencer session         replica::*
#   server::msg               replica::msg
#   server::{counters,facts}  admin::* (admin reads them; server is above it)
#   ops (ops.rs)              ops (ops/mod.rs)
#   stall tools               ops::*
#   config (config.rs)        config (config/mod.rs)
#
# Then: `cargo build --release --all-targets` with no manual edit.
set -euo pipefail
cd "$(dirname "$0")/.."
export LC_ALL=C

moved=()

# mv_mod OLD_BASE NEW_DIR [NEW_NAME]: moves src/OLD_BASE.rs and/or the
# folder src/OLD_BASE/ into src/NEW_DIR/ (as NEW_NAME.rs, default the same
# name; NEW_NAME "mod" makes the file the folder's root). Relative
# include_str!/include_bytes! paths in a moved file get one more "../".
mv_mod() {
  local old=$1 dir=$2 name=${3:-$(basename "$1")}
  mkdir -p "src/$dir"
  if [[ -f "src/$old.rs" ]]; then
    local dest="src/$dir/$name.rs"
    if [[ -e "$dest" ]]; then
      echo "relayout: both src/$old.rs and $dest exist; resolve by hand" >&2
      exit 1
    fi
    git mv "src/$old.rs" "$dest"
    perl -0pi -e 's{(include_(?:str|bytes)!\(\s*")(\.\./)}{$1../$2}g' "$dest"
    moved+=("$dest")
    echo "moved src/$old.rs -> $dest"
  fi
  if [[ -d "src/$old" && "$name" != mod ]]; then
    local dest="src/$dir/$name"
    if [[ -e "$dest" ]]; then
      echo "relayout: both src/$old/ and $dest/ exist; resolve by hand" >&2
      exit 1
    fi
    git mv "src/$old" "$dest"
    moved+=("$dest")
    echo "moved src/$old/ -> $dest/"
  fi
}

mv_mod jute protocol
mv_mod path protocol
mv_mod request protocol
mv_mod fourlw protocol
mv_mod tree data
mv_mod digest data
mv_mod acl data
mv_mod watch data
mv_mod txn data
mv_mod prep data
mv_mod storage storage mod
mv_mod txnlog storage
mv_mod snapshot storage
mv_mod filemap storage
mv_mod quorum quorum mod
mv_mod election quorum
mv_mod zab quorum
mv_mod sequencer replica
mv_mod session replica
mv_mod server/msg replica msg
mv_mod server/counters admin counters
mv_mod server/facts admin facts
mv_mod ops ops mod
mv_mod stall ops
mv_mod tools ops
mv_mod config config mod

# The folders' roots: a new one gets a module doc; an existing one (the
# merged tree's src/replica/mod.rs, say) only gets the missing `pub mod`s.
ensure_root() {
  local dir=$1 doc=$2
  shift 2
  local root="src/$dir/mod.rs" m
  if [[ ! -f "$root" ]]; then
    { printf '%s\n\n' "$doc"; for m in "$@"; do printf 'pub mod %s;\n' "$m"; done; } >"$root"
    git add "$root"
    echo "created $root"
    return
  fi
  for m in "$@"; do
    if ! grep -qE "^\s*(pub(\([a-z]+\))? )?mod $m;" "$root"; then
      # right after the module doc (before any test module)
      perl -0pi -e 's{\A((?://!.*\n|#!\[.*\]\n|[ \t]*\n)*)}{$1pub mod '"$m"';\n}' "$root"
      echo "$root: pub mod $m"
    fi
  done
}

ensure_root protocol '//! The client wire: the jute codec, paths, requests and replies, and the
//! four-letter words. Pure (no I/O); imports nothing above it.' jute path request fourlw
ensure_root data '//! The data tree and what changes it: the immutable versioned tree and its
//! digest, ACLs, one shard'"'"'s watch table, txn records, and prep (a client
//! write into a txn). Pure (no I/O); it imports only `protocol`.' tree digest acl watch txn prep
ensure_root storage '' txnlog snapshot filemap
ensure_root quorum '' election zab
ensure_root replica '//! The replica: the single writer (the sequencer), the session tracker, and
//! the messages that cross cores between the shards, the sequencer and the
//! log core. Pure state machines and plain data; the glommio drivers that
//! carry them are in `server`.' sequencer session msg
ensure_root ops '' stall tools
ensure_root admin '' counters facts

# server/mod.rs no longer declares msg.
if [[ -f src/server/mod.rs ]]; then
  perl -ni -e 'print unless /^\s*(pub(\([a-z]+\))? )?mod (msg|counters|facts);\s*$/' src/server/mod.rs
fi

# lib.rs: the folders instead of the flat modules.
perl -ni -e 'print unless /^\s*pub(\([a-z]+\))? mod (jute|path|request|fourlw|tree|digest|acl|watch|txn|prep|txnlog|snapshot|filemap|election|zab|sequencer|session|stall|tools);\s*$/' src/lib.rs
for m in protocol data storage quorum replica ops; do
  if ! grep -qE "^\s*pub(\([a-z]+\))? mod $m;" src/lib.rs; then
    perl -0pi -e 's{(.*^\s*pub(?:\([a-z]+\))? mod [a-z_]+;\n)}{$1pub mod '"$m"';\n}ms' src/lib.rs
    echo "src/lib.rs: pub mod $m"
  fi
done

# The path rewrites, in every Rust file of the crate, its tests, bench and
# fuzz (never shards/), and the file names in docs and scripts.
files=$(git ls-files -co --exclude-standard -- 'src/*.rs' 'tests/*.rs' 'bench/*.rs' 'fuzz/*.rs' | sort -u)
docs=$(git ls-files -co --exclude-standard -- '*.md' '*.sh' '*.py' '*.rs' ':!:shards/*' ':!:vendor/*' ':!:scripts/relayout.sh' | sort -u)
python3 - "$files" "$docs" <<'PY'
import re, sys

files = sys.argv[1].split()
docs = sys.argv[2].split()

NEW = {}
for m in "jute path request fourlw".split(): NEW[m] = "protocol::" + m
for m in "tree digest acl watch txn prep".split(): NEW[m] = "data::" + m
for m in "txnlog snapshot filemap".split(): NEW[m] = "storage::" + m
for m in "election zab".split(): NEW[m] = "quorum::" + m
for m in "sequencer session".split(): NEW[m] = "replica::" + m
for m in "stall tools".split(): NEW[m] = "ops::" + m
OLD = "|".join(sorted(NEW, key=len, reverse=True))
# files moved out of src/server/
SERVER_OUT = {"msg": "replica::msg", "counters": "admin::counters", "facts": "admin::facts"}
OUT = "msg|counters|facts"

def group_end(s, i):
    """s[i] == '{': the index just past its matching '}'."""
    depth = 0
    for j in range(i, len(s)):
        if s[j] == "{": depth += 1
        elif s[j] == "}":
            depth -= 1
            if depth == 0: return j + 1
    raise ValueError("unbalanced braces")

def split_items(inner):
    """Top-level comma-separated items of a use group, whitespace kept."""
    items, depth, cur = [], 0, ""
    for ch in inner:
        if ch == "," and depth == 0:
            items.append(cur); cur = ""; continue
        if ch == "{": depth += 1
        if ch == "}": depth -= 1
        cur += ch
    items.append(cur)
    return items

def fix_items(inner):
    """Rewrites the items of `crate::{...}` (paths relative to the crate root)."""
    out = []
    for it in split_items(inner):
        lead = it[: len(it) - len(it.lstrip())]
        body = it.strip()
        m = re.match(r"(%s)\b" % OLD, body)
        if m and not body.startswith(m.group(1) + "_"):
            body = NEW[m.group(1)] + body[len(m.group(1)):]
        elif re.match(r"server::(%s)\b" % OUT, body):
            name = re.match(r"server::(\w+)", body).group(1)
            body = SERVER_OUT[name] + body[len("server::" + name):]
        elif body.startswith("server::{"):
            end = group_end(body, len("server::"))
            keep, outs = [], []
            for sub in split_items(body[len("server::{"):end - 1]):
                (outs if re.match(r"\s*(%s)\b" % OUT, sub) else keep).append(sub)
            if outs:
                if keep:
                    out.append(lead + "server::{" + ",".join(keep) + "}" + body[end:])
                for x in outs:
                    x = x.strip()
                    name = re.match(r"\w+", x).group(0)
                    out.append(" " + SERVER_OUT[name] + x[len(name):])
                continue
        out.append(lead + body)
    return ",".join(out)

def rewrite_groups(s, prefix_re, fix):
    out, pos = [], 0
    for m in re.finditer(prefix_re, s):
        if m.start() < pos: continue
        i = m.end() - 1  # at '{'
        end = group_end(s, i)
        out.append(s[pos:m.start()])
        out.append(fix(m, s[i + 1:end - 1]))
        pos = end
    out.append(s[pos:])
    return "".join(out)

CHILDREN = {"storage": "txnlog|snapshot|filemap", "quorum": "election|zab", "ops": "stall|tools",
            "admin": "counters|facts"}

def rust(path, s):
    # super:: paths that pointed at a file moved out of src/server/
    if path.startswith("src/server/"):
        if path == "src/server/mod.rs":
            s = re.sub(r"(?<![\w:])(?:self::)?(%s)::" % OUT, lambda m: "crate::%s::" % SERVER_OUT[m.group(1)], s)
            s = re.sub(r"(?m)^([ \t]*use )(?:self::)?(%s);" % OUT, lambda m: "%scrate::%s;" % (m.group(1), SERVER_OUT[m.group(2)]), s)
        s = re.sub(r"\bsuper::(%s)\b" % OUT, lambda m: "crate::" + SERVER_OUT[m.group(1)], s)
        # super::{.., msg, ..} -> crate::server::{..} (split below)
        s = rewrite_groups(
            s, r"\bsuper::\{",
            lambda m, inner: ("crate::server::{%s}" if re.search(r"(^|[{,])\s*(%s)\b" % OUT, inner)
                              else "super::{%s}") % inner)
    # crate::server::{.., msg::X, ..} -> crate::{server::{..}, replica::msg::X}
    def server_group(m, inner):
        subs = split_items(inner)
        out = [x for x in subs if re.match(r"\s*(%s)\b" % OUT, x)]
        if not out:
            return m.group(0) + inner + "}"
        keep = [x for x in subs if x not in out]
        items = ["server::{%s}" % ",".join(keep)] if keep else []
        for x in out:
            x = x.strip()
            name = re.match(r"\w+", x).group(0)
            if path == "src/admin/mod.rs" and x == name and name != "msg":
                continue  # admin's own child now
            items.append(SERVER_OUT[name] + x[len(name):])
        return "%s::{%s}" % (m.group(1), ", ".join(items))
    s = rewrite_groups(s, r"\b(crate|corral)::server::\{", server_group)
    # single paths
    s = re.sub(r"\b(crate|corral)::server::(%s)\b" % OUT, lambda m: "%s::%s" % (m.group(1), SERVER_OUT[m.group(2)]), s)
    s = re.sub(r"\b(crate|corral)::(%s)\b(?!_)" % OLD, lambda m: m.group(1) + "::" + NEW[m.group(2)], s)
    # grouped: crate::{a, b::c}
    s = rewrite_groups(s, r"\b(crate|corral)::\{", lambda m, inner: m.group(1) + "::{" + fix_items(inner) + "}")
    s = re.sub(r"(?m)^[ \t]*use (crate|corral)::\{\s*\};[ \t]*\n", "", s)
    # a folder's root no longer imports its own children
    for d, kids in CHILDREN.items():
        if path == "src/%s/mod.rs" % d:
            s = re.sub(r"(?m)^[ \t]*use (?:crate|super)::%s::(?:%s);[ \t]*\n" % (d, kids), "", s)
            s = re.sub(r"(?m)^([ \t]*use crate::%s::(?:%s)::\{)\s*self\s*,\s*" % (d, kids), r"\1", s)
    return s

FILE = {m: "src/" + NEW[m].replace("::", "/") + ".rs" for m in NEW}
FILE.update({"storage": "src/storage/mod.rs", "quorum": "src/quorum/mod.rs",
             "ops": "src/ops/mod.rs", "config": "src/config/mod.rs"})
def names(s):
    pre = r"(?<!shards/)(?<!bench/)(?<!fuzz/)(?<![\w.-])"
    s = re.sub(pre + r"src/server/(msg|counters|facts)\.rs\b",
               lambda m: "src/%s.rs" % SERVER_OUT[m.group(1)].replace("::", "/"), s)
    s = re.sub(pre + r"src/(election|zab)/", lambda m: "src/quorum/%s/" % m.group(1), s)
    s = re.sub(pre + r"src/(election|zab)\b(?![/.])", lambda m: "src/quorum/%s" % m.group(1), s)
    s = re.sub(pre + r"src/(%s|storage|quorum|ops|config)\.rs\b" % OLD, lambda m: FILE[m.group(1)], s)
    return s

for path in sorted(set(files) | set(docs)):
    try:
        with open(path, encoding="utf-8") as f: s = f.read()
    except (FileNotFoundError, IsADirectoryError, UnicodeDecodeError):
        continue
    t = s
    if path in files: t = rust(path, t)
    if path in docs: t = names(t)
    if t != s:
        with open(path, "w", encoding="utf-8") as f: f.write(t)
        print("rewrote", path)
PY

# rustfmt orders the rewritten imports (a no-op where nothing changed).
cargo fmt --all
echo "relayout: done"
