#!/usr/bin/env python3
"""metarm_summary.py MOUT ROUNDS: the figures of pipelines/metarm.mk as JSON.

For the base model and each round's model: held-out accuracy (from
rm-eval --json) and the distribution of |r_i - r_j| over all pairs of
responses to the same prompt in that round's samples (rm-vote --jsonl group
records), divided by the std of all that model's rewards on the samples so
that models with different reward scales compare (paper Fig. 16).
"""
import json
import math
import os
import statistics
import sys


def spread(path):
    rewards, deltas = [], []
    for line in open(path):
        r = json.loads(line)["rewards"]
        rewards.extend(r)
        deltas.extend(abs(a - b) for i, a in enumerate(r) for b in r[i + 1:])
    sd = statistics.pstdev(rewards) or 1.0
    return [d / sd for d in deltas], sd


def hist(xs, lo=0.0, hi=4.0, bins=40):
    w = (hi - lo) / bins
    c = [0] * bins
    for x in xs:
        c[min(bins - 1, int((x - lo) / w))] += 1
    n = max(1, len(xs))
    return [[lo + w * i, c[i] / n] for i in range(bins)]


def main():
    out, nr = sys.argv[1], int(sys.argv[2])
    rows, hists = [], {}
    for r in range(1, nr + 1):
        for name, groups, ev in (
                (f"starting model on round {r} samples",
                 f"base-{r}.groups.jsonl", "base.eval.json"),
                (f"vanilla round {r}", f"vanilla-{r}.groups.jsonl",
                 f"vanilla-{r}.eval.json"),
                (f"MetaRM round {r}", f"round-{r}.groups.jsonl",
                 f"round-{r}.eval.json")):
            d, sd = spread(os.path.join(out, groups))
            acc = json.load(open(os.path.join(out, ev)))["models"][0]["accuracy"]
            raw = [x * sd for x in d]
            rows.append({"name": name, "accuracy": acc,
                         "abs_delta_raw_mean": statistics.fmean(raw),
                         "abs_delta_mean": statistics.fmean(d),
                         "abs_delta_median": statistics.median(d),
                         "reward_std": sd, "response_pairs": len(d)})
            hists[name] = hist(d)
    json.dump({"rows": rows, "hist": hists}, sys.stdout, indent=1)
    print()


if __name__ == "__main__":
    main()
