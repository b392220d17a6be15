#!/usr/bin/python3
"""The layers of user/ as the tree shows them: a file's layer is its folder.

No file may include a header of a layer above its own, nor one of a sibling
folder of the same layer (siblings stay independent). The order is README.md's
("Layout"); a new folder must be added here before it can be used.
Exit status 1, naming file, line and include, on any breach."""
import os
import re
import sys

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))

# Lowest first. bpf/record.h is the kernel's record: every layer may read it.
LAYERS = [
    {"bpf"},
    {"user/agg"},
    {"user/config"},
    {"user/host", "user/output", "user/recording"},
    {"user/kernel"},
    {"user"},
]
RANK = {folder: i for i, layer in enumerate(LAYERS) for folder in layer}
SEARCH = ["user", "bpf"]
GENERATED = {"tracepoint.skel.h", "trampoline.skel.h"}  # build/, from bpf/: the kernel layer's own
INCLUDE = re.compile(r'^\s*#\s*include\s+"([^"]+)"')


def resolve(src, name):
    here = os.path.join(os.path.dirname(src), name)
    if os.path.exists(os.path.join(ROOT, here)):
        return os.path.normpath(here)
    for d in SEARCH:
        if os.path.exists(os.path.join(ROOT, d, name)):
            return os.path.normpath(os.path.join(d, name))
    return None


def check(files):
    bad = []
    for src in files:
        folder = os.path.dirname(src)
        if folder not in RANK:
            bad.append(f"{src}: folder {folder} has no layer in tests/layering.py")
            continue
        with open(os.path.join(ROOT, src)) as f:
            for no, line in enumerate(f, 1):
                m = INCLUDE.match(line)
                if not m:
                    continue
                name = m.group(1)
                if name in GENERATED:
                    if folder != "user/kernel":
                        bad.append(f"{src}:{no}: includes {name}: only user/kernel may")
                    continue
                target = resolve(src, name)
                if target is None:
                    bad.append(f"{src}:{no}: includes {name}: not found in user/ or bpf/")
                    continue
                tfolder = os.path.dirname(target)
                if tfolder == folder:
                    continue
                if tfolder not in RANK:
                    bad.append(f"{src}:{no}: includes {name}: {tfolder} has no layer")
                elif RANK[tfolder] > RANK[folder]:
                    bad.append(f"{src}:{no}: includes {target}: {tfolder} is a layer above "
                               f"{folder}")
                elif RANK[tfolder] == RANK[folder]:
                    bad.append(f"{src}:{no}: includes {target}: {tfolder} is a sibling of "
                               f"{folder}, and siblings stay independent")
    return bad


def main():
    files = sys.argv[1:]
    if not files:
        for d in ["user"]:
            for dirpath, _, names in os.walk(os.path.join(ROOT, d)):
                for n in names:
                    if n.endswith((".c", ".h")):
                        files.append(os.path.relpath(os.path.join(dirpath, n), ROOT))
    bad = check(sorted(files))
    for b in bad:
        print(b, file=sys.stderr)
    if bad:
        print(f"layering: {len(bad)} include(s) against the layers", file=sys.stderr)
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main())
