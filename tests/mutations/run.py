#!/usr/bin/env python3
"""Mutation harness: plants each bug of mutations.toml, one at a time, in a scratch copy
of the committed tree, rebuilds, and reports which layer catches it.

    python3 tests/mutations/run.py              # every mutation (about 5 min each on 2 cores)
    python3 tests/mutations/run.py --only NAME  # mutations whose name contains NAME (repeatable)
    python3 tests/mutations/run.py --list

The unmutated tree runs first: every layer must be clean on it, or the harness stops
(a layer that already fails cannot catch anything). Results go to stdout as a table and
to SCRATCH/results.json. The scratch copy and its build live in $STEMS_MUTANTS
(default /tmp/stems-mutants); its first build is a full one.
"""

import argparse
import json
import os
import shutil
import subprocess
import sys
import tomllib
from pathlib import Path

REPO = Path(__file__).resolve().parents[2]
HERE = Path(__file__).resolve().parent
LAYERS = ["verifier", "agreement", "waste", "band", "oracles", "tests"]


def sh(cmd, cwd, env=None, log=None):
    """Runs `cmd`; returns its exit code (output to `log` when given)."""
    out = open(log, "w") if log else subprocess.DEVNULL
    try:
        return subprocess.run(cmd, cwd=cwd, env=env, stdout=out, stderr=subprocess.STDOUT).returncode
    finally:
        if log:
            out.close()


def scratch_copy(scratch: Path) -> Path:
    """A copy of HEAD (not the working tree: what is committed is what is tested)."""
    tree = scratch / "tree"
    if tree.exists():
        shutil.rmtree(tree)
    tree.mkdir(parents=True)
    archive = subprocess.run(["git", "archive", "HEAD"], cwd=REPO, check=True, capture_output=True).stdout
    subprocess.run(["tar", "-x", "-C", str(tree)], input=archive, check=True)
    return tree


def run_cases(tree, env, cases, scratch):
    """Per case: runs that failed, disagreed, wasted, fell outside the band; first failure text."""
    results = []
    for i, case in enumerate(cases):
        out = scratch / f"case{i}"
        if out.exists():
            shutil.rmtree(out)
        code = sh([str(tree / "target-link" / "stems"), "validate", *case["args"], "--out", str(out)],
                  tree, env, log=scratch / f"case{i}.log")
        summary = out / "summary.json"
        if not summary.exists():
            tail = (scratch / f"case{i}.log").read_text(errors="replace").strip().splitlines()[-1:]
            results.append({"case": case["name"], "exit": code, "error": " ".join(tail)})
            continue
        s = json.loads(summary.read_text())
        first = lambda key: s[key][0]["failure"][:160] if s[key] else None
        results.append({
            "case": case["name"], "exit": code, "runs": s["runs"],
            "failed": len(s["failures"]), "disagreements": len(s["disagreements"]),
            "wasteful": len(s["wasteful"]), "outside_band": len(s["outside_latency_band"]),
            "first_failure": first("failures"), "first_disagreement": first("disagreements"),
            "first_waste": first("wasteful"),
        })
    return results


def layers_caught(cases, baseline, oracles_code, tests_code):
    """Which layers fail on this mutant (`baseline`: the unmutated cases, for the band)."""
    caught = set()
    for c, b in zip(cases, baseline or [None] * len(cases)):
        if "error" in c or c["failed"]:
            caught.add("verifier")
        if c.get("disagreements"):
            caught.add("agreement")
        if c.get("wasteful"):
            caught.add("waste")
        if b and "outside_band" in c and c["outside_band"] > b["outside_band"]:
            caught.add("band")
    if oracles_code != 0:
        caught.add("oracles")
    if tests_code != 0:
        caught.add("tests")
    return caught


def evaluate(tree, env, config, scratch, baseline, name):
    """Builds the tree as it stands and runs every layer on it."""
    log = scratch / "logs"
    log.mkdir(exist_ok=True)
    slug = "".join(ch if ch.isalnum() else "_" for ch in name)[:60]
    if sh(["cargo", "build", "--release", "--bin", "stems"], tree, env, log=log / f"{slug}.build") != 0:
        return {"built": False, "caught": ["build"]}
    link = tree / "target-link"
    link.mkdir(exist_ok=True)
    shutil.copy2(Path(env["CARGO_TARGET_DIR"]) / "release" / "stems", link / "stems")
    cases = run_cases(tree, env, config["case"], scratch)
    oracles = sh(["cargo", "test", "--release", "--test", "oracles"], tree, env, log=log / f"{slug}.oracles")
    tests = [a for b in config["tests"]["binaries"] for a in ("--test", b)]
    tests_code = sh(["cargo", "test", "--release", *tests], tree, env, log=log / f"{slug}.tests")
    caught = layers_caught(cases, baseline, oracles, tests_code)
    return {"built": True, "cases": cases, "oracles_exit": oracles, "tests_exit": tests_code,
            "caught": [l for l in LAYERS if l in caught]}


def verdict(caught):
    """caught: a layer that fails loudly on its own (verifier, oracles, tests) or a
    disagreement of the halves (agreement, waste and band fail under --strict);
    escaped: nothing noticed."""
    if not caught:
        return "escaped"
    if set(caught) & {"verifier", "oracles", "tests", "build"}:
        return "caught"
    return "disagreement"


def main():
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--only", action="append", help="run the mutations whose name contains this text (repeatable)")
    ap.add_argument("--list", action="store_true", help="list the mutations and exit")
    args = ap.parse_args()
    config = tomllib.loads((HERE / "mutations.toml").read_text())
    mutations = [m for m in config["mutation"] if not args.only or any(o in m["name"] for o in args.only)]
    if args.list:
        for m in mutations:
            print(f"{m['expect']:>9}  {m['name']}  ({m['file']})")
        return 0
    if not mutations:
        sys.exit(f"no mutation's name contains {args.only!r}")

    scratch = Path(os.environ.get("STEMS_MUTANTS", "/tmp/stems-mutants"))
    tree = scratch_copy(scratch)
    env = dict(os.environ, CARGO_TARGET_DIR=str(scratch / "target"))
    print(f"scratch copy of HEAD in {tree}; building the unmutated tree", flush=True)
    base = evaluate(tree, env, config, scratch, None, "baseline")
    if base["caught"]:
        print(f"the unmutated tree already fails: {base['caught']}; see {scratch}/logs")
        print(json.dumps(base, indent=1))
        return 2
    results = []
    for m in mutations:
        path = tree / m["file"]
        original = path.read_text()
        count = original.count(m["find"])
        if count != 1:
            print(f"STALE  {m['name']}: its text occurs {count} times in {m['file']}", flush=True)
            results.append({"name": m["name"], "expect": m["expect"], "verdict": "stale"})
            continue
        path.write_text(original.replace(m["find"], m["replace"]))
        try:
            r = evaluate(tree, env, config, scratch, base["cases"], m["name"])
        finally:
            path.write_text(original)
        r.update(name=m["name"], expect=m["expect"], verdict=verdict(r["caught"]))
        results.append(r)
        print(f"{r['verdict']:>12}  {m['name']}: {', '.join(r['caught']) or 'nothing'}", flush=True)

    (scratch / "results.json").write_text(json.dumps({"baseline": base, "mutations": results}, indent=1))
    print()
    print(f"{'mutation':<72} {'expected':<10} " + " ".join(f"{l:<9}" for l in LAYERS) + " verdict")
    for r in results:
        marks = " ".join(f"{'x' if l in r.get('caught', []) else '.':<9}" for l in LAYERS)
        print(f"{r['name'][:72]:<72} {r['expect']:<10} {marks} {r['verdict']}")
    for layer in LAYERS:
        n = sum(layer in r.get("caught", []) for r in results)
        print(f"{layer}: catches {n} of {len(results)}")
    escaped = [r["name"] for r in results if r["verdict"] in ("escaped", "stale")]
    print(f"escaped or stale: {len(escaped)}" + (f" ({'; '.join(escaped)})" if escaped else ""))
    print(f"details: {scratch}/results.json, logs in {scratch}/logs")
    return 1 if escaped else 0


if __name__ == "__main__":
    sys.exit(main())
