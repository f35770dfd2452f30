#!/usr/bin/env python3
"""Regenerates the accuracy table in README.md.

For Iris, Wine, Breast Cancer and Digits: `silc simulate --float` over five
seeds (mean ± standard deviation of the test accuracy, at bits 8 and bits 6);
for MNIST (when --mnist DIR is given): one seed on the full 60 000 / 10 000
split. Prints a Markdown table.

With --scaling, compares static and block scaling instead (`scaling block;`
added to each model) at bits 8, 6 and 5, over the same seeds.

    cargo build --release -p silc-cli
    python3 scripts/accuracy.py [--mnist ../shared/data/mnist] [--seeds 5]
    python3 scripts/accuracy.py --scaling [--seeds 5] [--only iris,wine] [--mnist DIR]
"""
import argparse, json, os, statistics, subprocess, sys, tempfile, time

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
SILC = os.environ.get("SILC", os.path.join(ROOT, "target", "release", "silc"))


def simulate(model, train, test, seed, bits=None, scaling=None, float_ref=True):
    path = model
    if bits is not None or scaling is not None:
        text = open(model).read()
        import re
        if bits is not None:
            text = re.sub(r"bits\s+\d+\s*;", f"bits {bits};", text)
        if scaling is not None:
            text = re.sub(r"}\s*$", f"    scaling {scaling};\n}}\n", text)
        fd, path = tempfile.mkstemp(suffix=".mlp")
        os.write(fd, text.encode())
        os.close(fd)
    start = time.time()
    extra = ["--float"] if float_ref else []
    out = subprocess.run([SILC, "simulate", path, "--train", train, "--test", test, "--seed", str(seed),
                          "--json"] + extra, capture_output=True, text=True)
    if out.returncode != 0:
        sys.exit(f"silc simulate {model} failed:\n{out.stderr}")
    d = json.loads(out.stdout)
    d["wall"] = time.time() - start
    return d


def fmt(values):
    m = statistics.mean(values) * 100
    s = statistics.pstdev(values) * 100 if len(values) > 1 else 0.0
    return f"{m:.1f} ± {s:.1f}" if len(values) > 1 else f"{m:.1f}"


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--seeds", type=int, default=5)
    ap.add_argument("--mnist", help="folder holding the MNIST IDX files")
    ap.add_argument("--only", help="comma-separated data set names")
    ap.add_argument("--scaling", action="store_true", help="compare static and block scaling")
    args = ap.parse_args()
    if args.scaling:
        return compare_scaling(args)
    rows = []
    sets = ["iris", "wine", "breast_cancer", "digits"]
    if args.only:
        sets = [s for s in sets if s in args.only.split(",")]
    for name in sets:
        model = os.path.join(ROOT, "examples", f"{name}.mlp")
        train = os.path.join(ROOT, "examples", "data", f"{name}_train.csv")
        test = os.path.join(ROOT, "examples", "data", f"{name}_test.csv")
        r8 = [simulate(model, train, test, s) for s in range(1, args.seeds + 1)]
        r6 = [simulate(model, train, test, s, bits=6) for s in range(1, args.seeds + 1)]
        rows.append((name, fmt([r["float_test_accuracy"] for r in r8]), fmt([r["test_accuracy"] for r in r8]),
                     fmt([r["test_accuracy"] for r in r6]), len(r8[0]["epochs"]),
                     f"{statistics.mean(r['wall'] for r in r8):.1f} s"))
        print(f"{name}: done", file=sys.stderr)
    if args.mnist and (not args.only or "mnist" in args.only):
        model = os.path.join(ROOT, "examples", "mnist.mlp")
        train = os.path.join(args.mnist, "train-images-idx3-ubyte.gz")
        test = os.path.join(args.mnist, "t10k-images-idx3-ubyte.gz")
        r8 = simulate(model, train, test, 1)
        r6 = simulate(model, train, test, 1, bits=6)
        rows.append(("mnist", fmt([r8["float_test_accuracy"]]), fmt([r8["test_accuracy"]]),
                     fmt([r6["test_accuracy"]]), len(r8["epochs"]), f"{r8['wall']:.0f} s"))
    print("| data set | float32 test % | silc bits 8 test % | silc bits 6 test % | epochs | wall time (bits 8, with float) |")
    print("|---|---|---|---|---|---|")
    for r in rows:
        print("| " + " | ".join(str(x) for x in r) + " |")


def compare_scaling(args):
    sets = ["iris", "wine", "breast_cancer", "digits"]
    if args.only:
        sets = [s for s in sets if s in args.only.split(",")]
    seeds = range(1, args.seeds + 1)
    print("| data set | bits | static scaling test % | block scaling test % |")
    print("|---|---|---|---|")
    for name in sets:
        model = os.path.join(ROOT, "examples", f"{name}.mlp")
        train = os.path.join(ROOT, "examples", "data", f"{name}_train.csv")
        test = os.path.join(ROOT, "examples", "data", f"{name}_test.csv")
        for bits in (8, 6, 5):
            cells = []
            for scaling in ("static", "block"):
                runs = [simulate(model, train, test, s, bits=bits, scaling=scaling, float_ref=False) for s in seeds]
                cells.append(fmt([r["test_accuracy"] for r in runs]))
            print(f"| {name} | {bits} | {cells[0]} | {cells[1]} |", flush=True)
    if args.mnist and (not args.only or "mnist" in args.only):
        model = os.path.join(ROOT, "examples", "mnist.mlp")
        train = os.path.join(args.mnist, "train-images-idx3-ubyte.gz")
        test = os.path.join(args.mnist, "t10k-images-idx3-ubyte.gz")
        for bits in (8, 6):
            cells = [fmt([simulate(model, train, test, 1, bits=bits, scaling=s, float_ref=False)["test_accuracy"]])
                     for s in ("static", "block")]
            print(f"| mnist (seed 1) | {bits} | {cells[0]} | {cells[1]} |", flush=True)


if __name__ == "__main__":
    main()
