#!/usr/bin/env python3
"""Float accuracy with the input quantized as the client quantizes it.

Trains a float MLP (one ReLU hidden layer of the shipped example's width,
biases, softmax cross-entropy, plain SGD, batch 8, learning rate 0.1, He
initialisation) on the fixed splits, with every input feature quantized
before training and testing, and prints the mean test accuracy over seeds
1-5. Everything but the input is float, so the figure is a ceiling: no
integer circuit that sees this input can be expected to beat it.

Input formats:
  --step S    standardize (training-set mean and std), round to units of S
              standard deviations, clip to signed --bits bits (silc's input:
              at bits 4 it is 3 bits in units of 1.0, i.e. `--step 1`)
  --quantile  the feature's mid-rank among the training set's values, in
              2^bits bins of equal count, centred on 0 (`input N
              bins=quantile;`)
  --normal S  the normal score of the feature's mid-rank (the value a
              standard normal feature of that rank would have), in units of
              S, clipped like --step (not a silc input form: measured, see
              docs/learning.md)
  --float     no quantization

Pure Python (no NumPy): Iris and Wine take seconds, Breast Cancer about a
minute, Digits several minutes.

  python3 scripts/input-ceiling.py iris --step 1
  python3 scripts/input-ceiling.py breast_cancer --quantile
"""

import argparse
import bisect
import csv
import math
import random
import statistics
from pathlib import Path

HIDDEN = {"iris": 8, "wine": 16, "breast_cancer": 30, "digits": 32}
EPOCHS = {"iris": 30, "wine": 30, "breast_cancer": 20, "digits": 20}


def load(path):
    with open(path) as f:
        rows = list(csv.reader(f))[1:]
    return [([float(v) for v in r[:-1]], int(r[-1])) for r in rows]


def quantizer(train, args):
    d = len(train[0][0])
    n = len(train)
    mean = [sum(x[i] for x, _ in train) / n for i in range(d)]
    std = [math.sqrt(sum((x[i] - mean[i]) ** 2 for x, _ in train) / n) or 1.0 for i in range(d)]
    half = 1 << (args.bits - 1)
    if args.quantile:
        bins = 1 << args.bits
        cols = [sorted(x[i] for x, _ in train) for i in range(d)]

        def rank_bin(c, v):
            # Mid-rank, as `silc` bins: values below plus half those equal.
            below, upto = bisect.bisect_left(c, v), bisect.bisect_right(c, v)
            return min(bins - 1, (below + upto) * bins // (2 * n)) - half

        return lambda x: [rank_bin(cols[i], v) for i, v in enumerate(x)]
    if args.normal:
        cols = [sorted(x[i] for x, _ in train) for i in range(d)]
        nd = statistics.NormalDist()

        def normal_bin(c, v):
            # The mid-rank's normal score (a Gaussianized feature), in units of S.
            below, upto = bisect.bisect_left(c, v), bisect.bisect_right(c, v)
            u = (below + upto) / (2 * n)
            u = min(max(u, 1e-9), 1 - 1e-9)
            return max(-half, min(half - 1, round(nd.inv_cdf(u) / args.normal)))

        return lambda x: [normal_bin(cols[i], v) for i, v in enumerate(x)]
    if args.float:
        return lambda x: [(v - mean[i]) / std[i] for i, v in enumerate(x)]
    s = args.step
    return lambda x: [max(-half, min(half - 1, round((v - mean[i]) / std[i] / s))) * s for i, v in enumerate(x)]


def train_and_test(train, test, hidden, classes, epochs, seed, lr=0.1, batch=8):
    rnd = random.Random(seed)
    d = len(train[0][0])
    w1 = [[rnd.gauss(0, math.sqrt(2 / d)) for _ in range(hidden)] for _ in range(d)]
    w2 = [[rnd.gauss(0, math.sqrt(2 / hidden)) for _ in range(classes)] for _ in range(hidden)]
    b1, b2 = [0.0] * hidden, [0.0] * classes

    def forward(x):
        h = [max(0.0, sum(x[i] * w1[i][j] for i in range(d)) + b1[j]) for j in range(hidden)]
        z = [sum(h[j] * w2[j][k] for j in range(hidden)) + b2[k] for k in range(classes)]
        return h, z

    for _ in range(epochs):
        order = list(range(len(train)))
        rnd.shuffle(order)
        for start in range(0, len(order), batch):
            rows = order[start:start + batch]
            g1 = [[0.0] * hidden for _ in range(d)]
            g2 = [[0.0] * classes for _ in range(hidden)]
            gb1, gb2 = [0.0] * hidden, [0.0] * classes
            for r in rows:
                x, y = train[r]
                h, z = forward(x)
                m = max(z)
                e = [math.exp(v - m) for v in z]
                s = sum(e)
                dz = [e[k] / s - (k == y) for k in range(classes)]
                dh = [sum(w2[j][k] * dz[k] for k in range(classes)) if h[j] > 0 else 0.0 for j in range(hidden)]
                for j in range(hidden):
                    for k in range(classes):
                        g2[j][k] += h[j] * dz[k]
                    gb1[j] += dh[j]
                    for i in range(d):
                        g1[i][j] += x[i] * dh[j]
                for k in range(classes):
                    gb2[k] += dz[k]
            f = lr / len(rows)
            for j in range(hidden):
                b1[j] -= f * gb1[j]
                for i in range(d):
                    w1[i][j] -= f * g1[i][j]
                for k in range(classes):
                    w2[j][k] -= f * g2[j][k]
            for k in range(classes):
                b2[k] -= f * gb2[k]
    right = sum(max(range(classes), key=lambda k, z=forward(x)[1]: z[k]) == y for x, y in test)
    return right / len(test)


def main():
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("dataset", choices=sorted(HIDDEN))
    form = ap.add_mutually_exclusive_group(required=True)
    form.add_argument("--step", type=float, help="uniform quantization in units of this many standard deviations")
    form.add_argument("--quantile", action="store_true", help="equal-count bins of the training set")
    form.add_argument("--normal", type=float, metavar="S", help="the mid-rank's normal score in units of S")
    form.add_argument("--float", action="store_true", help="no quantization")
    ap.add_argument("--bits", type=int, default=3, help="signed bits of a quantized feature (default 3, bits 4's)")
    ap.add_argument("--splits", default=str(Path(__file__).resolve().parents[1] / "examples/data"), help="folder of the fixed splits")
    args = ap.parse_args()
    if args.bits < 1 or any(v is not None and v <= 0 for v in (args.step, args.normal)):
        ap.error("--bits must be at least 1, --step and --normal positive")
    train = load(Path(args.splits) / f"{args.dataset}_train.csv")
    test = load(Path(args.splits) / f"{args.dataset}_test.csv")
    q = quantizer(train, args)
    train = [(q(x), y) for x, y in train]
    test = [(q(x), y) for x, y in test]
    classes = max(y for _, y in train) + 1
    accs = [train_and_test(train, test, HIDDEN[args.dataset], classes, EPOCHS[args.dataset], s) for s in range(1, 6)]
    mean = 100 * sum(accs) / len(accs)
    std = 100 * math.sqrt(sum((a - sum(accs) / len(accs)) ** 2 for a in accs) / len(accs))
    print(f"{args.dataset}: {mean:.1f} ± {std:.1f} %  (seeds 1-5: {' '.join(f'{100 * a:.1f}' for a in accs)})")


if __name__ == "__main__":
    main()
