#!/usr/bin/env python3
"""Architecture rules of issue 9, checked on the source text (CI runs this; exit 1 on a breach).

1. `src/domain` is pure: it names no module of this crate outside `domain` (and no actix/diesel).
2. No status word as a string literal outside the enum definitions (`src/domain`) and the
   migrations: states are typed.
3. No import cycle between the top-level modules of `src/`.
4. No handler module (`src/api/<x>.rs`) imports another handler module.
"""
import os
import re
import sys

ROOT = os.path.normpath(os.path.join(os.path.dirname(os.path.abspath(__file__)), ".."))
SRC = os.path.join(ROOT, "src")

STATUS_WORDS = [
    # listing
    "draft", "submitted", "returned", "announced", "auction", "awarded", "contracted",
    "failed", "cancelled",
    # registration and deposit
    "applied", "qualified", "rejected", "unpaid", "confirmed", "refund_due", "refunded",
    "forfeited", "applied_to_rent",
    # deal
    "pending_confirmation", "fallen_through",
    # contract, installment, policy, claim (to come)
    "signed", "certified", "active", "completed", "terminated", "scheduled", "due",
    "overdue", "defaulted", "paid", "covered", "quoted", "issued", "expired", "claimed",
    "filed", "under_review", "approved", "recovery_open", "recovered", "written_off",
]


def rust_files(base):
    for d, _, files in sorted(os.walk(base)):
        for f in sorted(files):
            if f.endswith(".rs"):
                yield os.path.relpath(os.path.join(d, f), ROOT)


def code_lines(path):
    """Lines with `//` comments removed, and without `#[cfg(test)]` modules' tails."""
    with open(os.path.join(ROOT, path), encoding="utf-8") as fh:
        text = fh.read()
    cut = text.find("#[cfg(test)]")
    if cut >= 0:
        text = text[:cut]
    for n, line in enumerate(text.splitlines(), 1):
        stripped = re.sub(r"//.*$", "", line) if "\"" not in line else line
        if stripped.lstrip().startswith("//"):
            continue
        yield n, stripped


def top_module(path):
    rel = os.path.relpath(os.path.join(ROOT, path), SRC)
    first = rel.split(os.sep)[0]
    return first[:-3] if first.endswith(".rs") else first


def main():
    errors = []

    # 1. Domain purity.
    for p in rust_files(os.path.join(SRC, "domain")):
        for n, line in code_lines(p):
            for m in re.finditer(r"\bcrate::(\w+)", line):
                if m.group(1) not in ("domain", "text_enum"):
                    errors.append(f"{p}:{n}: domain reaches outside itself: crate::{m.group(1)}")
            if re.search(r"\b(actix_\w+|diesel)::", line) or re.search(r"\bsuper::super::", line):
                errors.append(f"{p}:{n}: domain imports a framework or leaves domain: {line.strip()}")

    # 2. Status literals.
    pat = re.compile(r'"(' + "|".join(STATUS_WORDS) + r')"')
    for p in rust_files(SRC):
        if p.startswith(os.path.join("src", "domain") + os.sep):
            continue
        for n, line in code_lines(p):
            m = pat.search(re.sub(r'\btag\s*=\s*"\w+"', "", line))
            if m:
                errors.append(f"{p}:{n}: status literal {m.group(0)} outside the enums: {line.strip()}")

    # 3. Cycles between top-level modules.
    graph = {}
    for p in rust_files(SRC):
        mod = top_module(p)
        if mod in ("lib", "main"):
            continue
        deps = graph.setdefault(mod, set())
        for _, line in code_lines(p):
            for m in re.finditer(r"\bcrate::(\w+)", line):
                dep = m.group(1)
                if dep != mod and os.path.exists(os.path.join(SRC, dep + ".rs")) or os.path.isdir(os.path.join(SRC, dep)):
                    if dep != mod:
                        deps.add(dep)
    # Also `landx::text_enum!`-style macro paths resolve to the crate root: ignore.
    for d in graph.values():
        d.discard("text_enum")
    seen, stack, cycles = set(), [], []

    def visit(node):
        if node in stack:
            cycles.append(stack[stack.index(node):] + [node])
            return
        if node in seen:
            return
        seen.add(node)
        stack.append(node)
        for nxt in sorted(graph.get(node, ())):
            visit(nxt)
        stack.pop()

    for node in sorted(graph):
        visit(node)
    for c in cycles:
        errors.append("import cycle between top-level modules: " + " -> ".join(c))

    # 4. Handler modules don't import each other.
    api = os.path.join(SRC, "api")
    handlers = {
        f[:-3]
        for f in os.listdir(api)
        if f.endswith(".rs") and f not in ("mod.rs", "docs.rs", "extract.rs")
    }
    for p in rust_files(api):
        me = os.path.basename(p)[:-3]
        if me in ("mod", "docs", "extract"):
            continue  # shared HTTP helpers and extractors; docs.rs assembles the OpenAPI
        for n, line in code_lines(p):
            for m in re.finditer(r"\b(?:super|crate::api)::(\w+)", line):
                if m.group(1) in handlers and m.group(1) != me:
                    errors.append(f"{p}:{n}: handler module {me} imports handler module {m.group(1)}")
            g = re.search(r"\b(?:super|crate::api)::\{([^}]*)\}", line)
            if g:
                for name in re.findall(r"\w+", g.group(1)):
                    if name in handlers and name != me:
                        errors.append(f"{p}:{n}: handler module {me} imports handler module {name}")

    for e in errors:
        print(e)
    if errors:
        print(f"architecture check: {len(errors)} breach(es)")
        return 1
    print("architecture check: domain pure, states typed, no module cycle, handlers independent")
    return 0


if __name__ == "__main__":
    sys.exit(main())
