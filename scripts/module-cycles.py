#!/usr/bin/env python3
"""Checks that no module of a crate imports one that imports it back, directly or in a longer
circle (ARCHITECTURE.md, "Invariants"). Run by `make test` for every crate of the workspace.

A module is a source file (`a/b.rs` or `a/b/mod.rs` is `a::b`; inline `mod x { .. }` blocks belong
to their file). Module A depends on B when A's code names a path into B: `crate::b::..`,
`super::..`, `self::c::..`, or `c::..` for a child `mod c;` declared in A (`pub use c::X`
re-exports included, so a parent that re-exports a child's items cannot also be used by that
child). Declaring a child (`mod c;`) is structure, not a dependency. Tests (`#[cfg(test)]`
modules and files under tests/) are not checked: a test module may use its parent freely.

Usage: scripts/module-cycles.py CRATE_DIR... (exit 1 and the circles found when there are any).
"""

import re
import sys
from pathlib import Path

COMMENT = re.compile(r"//[^\n]*|/\*.*?\*/", re.S)
STRING = re.compile(r'"(?:\\.|[^"\\])*"')
CFG_TEST = re.compile(r"#\[cfg\(test\)\]\s*(?:pub(?:\([^)]*\))?\s+)?mod\s+\w+\s*\{")
CHILD = re.compile(r"^\s*(?:pub(?:\([^)]*\))?\s+)?mod\s+(\w+)\s*;", re.M)
PATH = re.compile(r"(?<![\w:])((?:crate|super|self|[a-z_][a-z0-9_]*)(?:::(?:[A-Za-z_]\w*|\{))+)")


def module_of(src: Path, file: Path) -> tuple:
    rel = file.relative_to(src).with_suffix("")
    parts = list(rel.parts)
    if parts[-1] in ("mod", "lib", "main"):
        parts = parts[:-1]
    return tuple(parts)


def strip_test_modules(text: str) -> str:
    """Removes `#[cfg(test)] mod x { .. }` blocks (braces counted)."""
    while True:
        match = CFG_TEST.search(text)
        if not match:
            return text
        depth, i = 1, match.end()
        while depth and i < len(text):
            depth += {"{": 1, "}": -1}.get(text[i], 0)
            i += 1
        text = text[: match.start()] + text[i:]


def use_paths(text: str):
    """Every path named by the code, `use` trees expanded one level (`a::{b, c::d}`)."""
    for match in re.finditer(r"\buse\s+([^;]+);", text):
        tree = re.sub(r"\s+", "", match.group(1))
        yield from expand(tree)
    for match in PATH.finditer(re.sub(r"\buse\s+[^;]+;", "", text)):
        yield match.group(1).rstrip(":{")


def expand(tree: str):
    if "{" not in tree:
        yield tree.split(" as ")[0]
        return
    head, _, rest = tree.partition("{")
    body = rest[: rest.rfind("}")]
    depth, item, items = 0, "", []
    for ch in body:
        if ch == "," and depth == 0:
            items.append(item)
            item = ""
            continue
        depth += {"{": 1, "}": -1}.get(ch, 0)
        item += ch
    items.append(item)
    for item in items:
        if item:
            yield from expand(head + item)


def resolve(path: str, here: tuple, children: set, modules: set):
    parts = path.split("::")
    if parts[0] == "crate":
        base, parts = (), parts[1:]
    elif parts[0] in ("self", "super"):
        base = here
        while parts and parts[0] in ("self", "super"):
            if parts[0] == "super":
                base = base[:-1]
            parts = parts[1:]
    elif parts[0] in children:
        base = here
    else:
        return None  # an external crate, a type's associated item, a local enum's variant
    target = base
    for part in parts:
        if target + (part,) in modules:
            target = target + (part,)
        else:
            break
    return target


def check(crate: Path) -> list:
    src = crate / "src"
    files = [f for f in src.rglob("*.rs") if "tests" not in f.relative_to(src).parts]
    modules = {module_of(src, f) for f in files}
    edges = {m: set() for m in modules}
    for file in files:
        here = module_of(src, file)
        text = strip_test_modules(STRING.sub('""', COMMENT.sub("", file.read_text())))
        children = set(CHILD.findall(text))
        for path in use_paths(text):
            target = resolve(path, here, children, modules)
            if target is not None and target != here:
                edges[here].add(target)
    return cycles(edges)


def cycles(edges: dict) -> list:
    """The strongly connected components with more than one module (Tarjan)."""
    index, low, stack, on, found, counter = {}, {}, [], set(), [], [0]

    def visit(v):
        index[v] = low[v] = counter[0]
        counter[0] += 1
        stack.append(v)
        on.add(v)
        for w in edges.get(v, ()):
            if w not in index:
                visit(w)
                low[v] = min(low[v], low[w])
            elif w in on:
                low[v] = min(low[v], index[w])
        if low[v] == index[v]:
            component = []
            while True:
                w = stack.pop()
                on.discard(w)
                component.append(w)
                if w == v:
                    break
            if len(component) > 1:
                found.append(component)

    sys.setrecursionlimit(10000)
    for v in list(edges):
        if v not in index:
            visit(v)
    return [(c, edges) for c in found]


def name(module: tuple) -> str:
    return "crate" + "".join("::" + p for p in module)


def main() -> int:
    bad = 0
    for arg in sys.argv[1:]:
        crate = Path(arg)
        for component, edges in check(crate):
            bad += 1
            members = set(component)
            print(f"{crate}: modules that import each other:", file=sys.stderr)
            for m in sorted(component):
                back = sorted(name(t) for t in edges[m] if t in members)
                print(f"  {name(m)} -> {', '.join(back)}", file=sys.stderr)
    if bad:
        print(f"{bad} import circle(s); see scripts/module-cycles.py for the rule", file=sys.stderr)
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main())
