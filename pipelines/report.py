#!/usr/bin/env python3
"""report.py OUT [--truth TRAIN.jsonl] [--title T] [--split SPLIT.json]

Gather what the pipelines wrote under OUT into OUT/report.md, OUT/report.json
and gnuplot PNGs under OUT/plots/, and print the Markdown report.

Reads (each part is skipped when its files are absent):
  OUT/strength.jsonl, OUT/strength-groups.tsv   pipelines/ensemble.mk
  OUT/buckets/B.eval.json, OUT/buckets/B.jsonl  pipelines/experiments.mk
  OUT/compare/M.eval.json, OUT/compare/M.train.jsonl
  OUT/metarm/*.eval.json                        pipelines/metarm.mk
  OUT/compare/M.log.jsonl                       rm-filter --log: what each
                                                cleaning method changed
  OUT/split.json (or --split)                   pipelines/split.py --info:
                                                how the test set was made
With --truth (a dataset from rm-synth, whose records carry "flipped" and
"tie"), it also says how well strength found the flipped labels.

Every test accuracy is shown with its number of pairs and a 95% Wilson
interval, beside the chance line (0.5) and the length baseline (the longer
response preferred) on the same test pairs when rm-eval had the data.
"""
import glob
import json
import math
import os
import subprocess
import sys

METHOD_NAMES = {
    "baseline": "baseline",
    "flip10": "flip 10%",
    "margin": "margin",
    "flip10-margin": "flip 10% + margin",
    "soft-margin": "soft label + margin",
    "simcse": "soft label + margin + SimCSE",
}


def pairs_kept(r):
    """The pairs a record of rm-filter's output stands for: a rated record
    (with pair_labels) its pairs not dropped, any other record one."""
    pl = r.get("pair_labels") if isinstance(r, dict) else None
    if isinstance(pl, list):
        return sum(1 for x in pl if not x.get("drop"))
    return 1


def read_jsonl(path):
    with open(path, encoding="utf-8") as f:
        return [json.loads(line) for line in f if line.strip()]


def quantile(xs, q):
    xs = sorted(xs)
    if not xs:
        return float("nan")
    pos = q * (len(xs) - 1)
    lo = int(math.floor(pos))
    hi = min(lo + 1, len(xs) - 1)
    return xs[lo] + (xs[hi] - xs[lo]) * (pos - lo)


def roc_auc(scores, labels):
    """P(score of a positive > score of a negative), ties counted half."""
    pairs = sorted(zip(scores, labels))
    npos = sum(labels)
    nneg = len(labels) - npos
    if npos == 0 or nneg == 0:
        return float("nan")
    rank_sum, i = 0.0, 0
    while i < len(pairs):
        j = i
        while j < len(pairs) and pairs[j][0] == pairs[i][0]:
            j += 1
        avg_rank = (i + j + 1) / 2.0  # 1-based ranks i+1..j
        rank_sum += avg_rank * sum(l for _, l in pairs[i:j])
        i = j
    return (rank_sum - npos * (npos + 1) / 2.0) / (npos * nneg)


def wilson(acc, n, z=1.959964):
    """95% Wilson score interval of a proportion acc over n trials."""
    if n is None or n == 0 or acc is None or (isinstance(acc, float) and math.isnan(acc)):
        return (float("nan"), float("nan"))
    d = 1 + z * z / n
    c = (acc + z * z / (2 * n)) / d
    h = z * math.sqrt(acc * (1 - acc) / n + z * z / (4 * n * n)) / d
    return (max(0.0, c - h), min(1.0, c + h))


def fmt_ci(acc, n):
    lo, hi = wilson(acc, n)
    if math.isnan(lo):
        return fmt(acc)
    return f"{fmt(acc)} [{fmt(lo)}, {fmt(hi)}]"


def fmt(x, nd=3):
    if x is None or (isinstance(x, float) and math.isnan(x)):
        return "-"
    return f"{x:.{nd}f}"


def strength_part(out, truth_path, rep, md):
    path = os.path.join(out, "strength.jsonl")
    if not os.path.exists(path):
        return None
    st = read_jsonl(path)
    means = [r["strength_mean"] for r in st]
    stds = [r["strength_std"] for r in st]
    n = len(st)
    neg = sum(m < 0 for m in means)
    s = {"pairs": n, "models": st[0].get("n") if st else 0,
         "frac_mean_below_0": neg / n if n else float("nan"),
         "mean_quantiles": {str(q): quantile(means, q)
                            for q in (0, 0.1, 0.25, 0.5, 0.75, 0.9, 1)},
         "std_mean": sum(stds) / n if n else float("nan")}
    md.append("## Preference strength\n")
    md.append(f"{n} pairs scored by {s['models']} models. "
              f"Mean below 0: {neg} ({100 * s['frac_mean_below_0']:.1f}%). "
              f"Mean of the per-pair std: {fmt(s['std_mean'])}.\n")
    md.append("| quantile | 0% | 10% | 25% | 50% | 75% | 90% | 100% |")
    md.append("|---|---|---|---|---|---|---|---|")
    md.append("| strength mean | " + " | ".join(
        fmt(v, 2) for v in s["mean_quantiles"].values()) + " |\n")
    if truth_path and os.path.exists(truth_path):
        truth = read_jsonl(truth_path)
        if len(truth) == n and all("flipped" in t for t in truth):
            by_id = {r["id"]: r for r in st}
            flipped = [1 if truth[i].get("flipped") else 0 for i in range(n)]
            mean = [by_id[i]["strength_mean"] for i in range(n)]
            pred = [1 if m < 0 else 0 for m in mean]
            tp = sum(p and f for p, f in zip(pred, flipped))
            prec = tp / sum(pred) if sum(pred) else float("nan")
            rec = tp / sum(flipped) if sum(flipped) else float("nan")
            auc = roc_auc([-m for m in mean], flipped)
            order = sorted(range(n), key=lambda i: mean[i])
            low10 = order[: n // 10]
            frac_low10 = sum(flipped[i] for i in low10) / max(1, len(low10))
            ties = [i for i in range(n) if truth[i].get("tie")]
            tie_abs = (sum(abs(mean[i]) for i in ties) / len(ties)) if ties else float("nan")
            other_abs = [abs(mean[i]) for i in range(n) if not truth[i].get("tie")]
            s["truth"] = {"flipped": sum(flipped), "precision": prec,
                          "recall": rec, "roc_auc": auc,
                          "flipped_in_lowest_10pct": frac_low10,
                          "mean_abs_strength_ties": tie_abs,
                          "mean_abs_strength_others":
                              sum(other_abs) / len(other_abs) if other_abs else float("nan")}
            t = s["truth"]
            md.append("### Did strength find the flipped labels?\n")
            md.append(f"The data has {t['flipped']} flipped labels "
                      f"({100 * t['flipped'] / n:.1f}%).\n")
            md.append("| measure | value |\n|---|---|")
            md.append(f"| precision of mean < 0 | {fmt(prec)} |")
            md.append(f"| recall of mean < 0 | {fmt(rec)} |")
            md.append(f"| ROC AUC of -mean for 'flipped' | {fmt(auc)} |")
            md.append(f"| flipped among the lowest 10% | {fmt(frac_low10)} |")
            md.append(f"| mean abs strength, near-ties / others | "
                      f"{fmt(tie_abs)} / {fmt(t['mean_abs_strength_others'])} |\n")
    gpath = os.path.join(out, "strength-groups.tsv")
    if os.path.exists(gpath):
        rows = [l.rstrip("\n").split("\t") for l in open(gpath)]
        head, rows = rows[0], rows[1:]
        s["groups"] = [dict(zip(head, map(float, r))) for r in rows]
        md.append("### Groups sorted by strength (paper Fig. 2)\n")
        md.append("| group | pairs | mean of mean | mean of std |\n|---|---|---|---|")
        for g in s["groups"]:
            md.append(f"| {int(g['group'])} | {int(g['n'])} | "
                      f"{fmt(g['strength_mean'])} | {fmt(g['strength_std'])} |")
        md.append("")
    rep["strength"] = s
    return means, stds


def eval_acc(path):
    e = json.load(open(path))
    m = e["models"][0]
    return e, m


def log_curve(path):
    if not os.path.exists(path):
        return []
    return [(r["step"], r["eval_accuracy"]) for r in read_jsonl(path)
            if "eval_accuracy" in r]


def buckets_part(out, truth_path, rep, md):
    files = sorted(glob.glob(os.path.join(out, "buckets", "*.eval.json")),
                   key=lambda p: int(os.path.basename(p).split(".")[0]))
    if not files:
        return None
    truth = None
    if truth_path and os.path.exists(truth_path):
        truth = read_jsonl(truth_path)
    rows = []
    for f in files:
        b = int(os.path.basename(f).split(".")[0])
        _, m = eval_acc(f)
        data = os.path.join(out, "buckets", f"{b}.jsonl")
        recs = read_jsonl(data) if os.path.exists(data) else []
        row = {"bucket": b, "range": f"{10 * b}-{10 * b + 10}%",
               "pairs": sum(map(pairs_kept, recs)), "accuracy": m["accuracy"],
               "test_pairs": m.get("n"),
               "accuracy_95ci": wilson(m["accuracy"], m.get("n"))}
        if recs and "flipped" in recs[0]:
            row["flipped"] = sum(1 for r in recs if r.get("flipped")) / len(recs)
        rows.append(row)
    rep["buckets"] = rows
    md.append("## One reward model per strength decile (paper Fig. 4)\n")
    has_f = any("flipped" in r for r in rows)
    md.append("| bucket | train pairs | " + ("flipped | " if has_f else "") +
              "test accuracy [95% interval] |")
    md.append("|---|---|" + ("---|" if has_f else "") + "---|")
    for r in rows:
        md.append(f"| {r['range']} | {r['pairs']} | " +
                  (f"{fmt(r.get('flipped'))} | " if has_f else "") +
                  f"{fmt_ci(r['accuracy'], r['test_pairs'])} |")
    md.append("")
    return rows


def compare_part(out, rep, md):
    rows = []
    for key in METHOD_NAMES:
        f = os.path.join(out, "compare", f"{key}.eval.json")
        if not os.path.exists(f):
            continue
        _, m = eval_acc(f)
        curve = log_curve(os.path.join(out, "compare", f"{key}.train.jsonl"))
        rows.append({"method": key, "name": METHOD_NAMES[key],
                     "accuracy": m["accuracy"], "test_pairs": m.get("n"),
                     "accuracy_95ci": wilson(m["accuracy"], m.get("n")),
                     "ties": m["ties"],
                     "brier": m["brier"], "ece": m["ece"],
                     "margin_mean": m["margin_mean"],
                     "peak_eval_accuracy": max((a for _, a in curve), default=None),
                     "curve": curve})
    if not rows:
        return None
    rep["compare"] = [{k: v for k, v in r.items() if k != "curve"} for r in rows]
    md.append("## Full-data comparison (paper Fig. 8)\n")
    md.append("| method | test accuracy [95% interval] | peak during training | Brier | ECE | mean Δ |")
    md.append("|---|---|---|---|---|---|")
    for r in rows:
        md.append(f"| {r['name']} | {fmt_ci(r['accuracy'], r['test_pairs'])} | "
                  f"{fmt(r['peak_eval_accuracy'])} | {fmt(r['brier'])} | "
                  f"{fmt(r['ece'])} | {fmt(r['margin_mean'])} |")
    md.append("")
    return rows


def test_part(out, split_path, rep, md):
    """The test set: its size, how it was made, overlap, chance, length."""
    base = None
    for key in list(METHOD_NAMES) + ["buckets/0"]:
        f = os.path.join(out, "compare" if "/" not in key else "", key + ".eval.json")
        if os.path.exists(f):
            base = json.load(open(f))
            break
    split = None
    if split_path and os.path.exists(split_path):
        split = json.load(open(split_path))
    if base is None and split is None:
        return None
    t = {}
    md.append("## Test set\n")
    if base is not None:
        n = base["models"][0].get("n")
        t["pairs"] = n
        md.append(f"Every test accuracy below is measured on the same {n} "
                  f"held-out pairs, with a 95% Wilson interval "
                  f"(±{fmt((wilson(0.5, n)[1] - wilson(0.5, n)[0]) / 2)} at "
                  f"0.5). Chance is 0.500.\n")
        lb = base.get("length_baseline")
        if lb:
            t["length_baseline"] = lb
            md.append(f"Length baseline (the longer response preferred, no "
                      f"model): {fmt_ci(lb['accuracy'], lb['n'])} on "
                      f"{lb['n']} pairs ({fmt(lb.get('ties'))} of them the same "
                      f"length).\n")
    if split is not None:
        t["split"] = split
        md.append(f"Split: {split['method']}. Training records "
                  f"{split['train_records']} ({split['train_prompts']} prompts), "
                  f"test records {split['test_records']} "
                  f"({split['test_prompts']} prompts). Test prompts also in "
                  f"training: {split['test_prompts_in_train']}; test records "
                  f"whose responses all occur in training for their prompt: "
                  f"{split['test_records_with_all_responses_in_train']}; exact "
                  f"duplicates of a training record: "
                  f"{split['test_records_duplicating_train']}.\n")
    rep["test"] = t
    return t


def cleaning_part(out, rep, md):
    """What each rm-filter method changed, from its --log."""
    rows = []
    for key in METHOD_NAMES:
        f = os.path.join(out, "compare", f"{key}.log.jsonl")
        if not os.path.exists(f):
            continue
        log = read_jsonl(f)
        row = {"method": key, "name": METHOD_NAMES[key], "pairs": len(log)}
        for act in ("flip", "smooth", "drop", "margin"):
            ms = [r["strength_mean"] for r in log if act in r.get("actions", [])]
            row[act] = len(ms)
            if ms and act != "margin":
                row[act + "_strength"] = [min(ms), max(ms), sum(ms) / len(ms)]
        rows.append(row)
    if not rows:
        return None
    rep["cleaning"] = rows
    md.append("## What each cleaning method changed\n")
    nonneg = sum(r.get("flip_strength", [0, -1])[1] >= 0 for r in rows)
    md.append("Pairs whose label was flipped or smoothed, with the range and "
              "average of their strength mean. " +
              ("Some flipped pairs had a mean of 0 or more: the ensemble "
               "agreed with their label (the paper's pure by-rank rule)." if nonneg
               else "Every flipped pair had a mean below 0: the ensemble "
               "disagreed with its label.") + "\n")
    md.append("| method | pairs | flipped | strength of flipped | smoothed | strength of smoothed | margins |")
    md.append("|---|---|---|---|---|---|---|")
    for r in rows:
        def sp(a):
            v = r.get(a + "_strength")
            return f"{fmt(v[0], 2)} to {fmt(v[1], 2)} (avg {fmt(v[2], 2)})" if v else "-"
        md.append(f"| {r['name']} | {r['pairs']} | {r['flip']} | {sp('flip')} | "
                  f"{r['smooth']} | {sp('smooth')} | {r['margin']} |")
    md.append("")
    return rows


def metarm_part(out, rep, md):
    path = os.path.join(out, "metarm", "summary.json")
    if not os.path.exists(path):
        return None
    s = json.load(open(path))
    rep["metarm"] = s
    md.append("## MetaRM on the shifted samples (paper Fig. 16)\n")
    md.append("Reward differences between responses to the same prompt of the "
              "shifted samples: raw, and divided by the std of the model's "
              "rewards on them (normalised), against held-out accuracy.\n")
    md.append("| model | held-out accuracy | mean abs Δr | normalised mean | normalised median |")
    md.append("|---|---|---|---|---|")
    for r in s["rows"]:
        md.append(f"| {r['name']} | {fmt(r['accuracy'])} | {fmt(r.get('abs_delta_raw_mean'))} | "
                  f"{fmt(r['abs_delta_mean'])} | {fmt(r['abs_delta_median'])} |")
    md.append("")
    return s


def plots(out, st, buckets, compare, rep):
    if subprocess.run(["sh", "-c", "command -v gnuplot"],
                      capture_output=True).returncode != 0:
        return []
    pd = os.path.join(out, "plots")
    os.makedirs(pd, exist_ok=True)
    gp, made = [], []
    term = "reset\nset terminal pngcairo size 900,540 font 'sans,11'\n"
    if st:
        means, stds = st
        with open(os.path.join(pd, "strength.dat"), "w") as f:
            for m, s in zip(means, stds):
                f.write(f"{m} {s}\n")
        lo, hi = min(means), max(means)
        w = (hi - lo) / 40 or 1
        ws = (max(stds) - min(stds)) / 40 or 1
        gp.append(term + f"""set output '{pd}/strength-hist.png'
set multiplot layout 1,2 title 'Preference strength over the ensemble (paper Fig. 1)'
set style fill solid 0.6 border -1
set xlabel 'mean of reward difference'; set ylabel 'pairs'
bin(x,w)=w*floor(x/w)+w/2
plot '{pd}/strength.dat' using (bin($1,{w})):(1) smooth frequency with boxes lc rgb '#3070b0' title 'mean'
set xlabel 'std of reward difference'
plot '{pd}/strength.dat' using (bin($2,{ws})):(1) smooth frequency with boxes lc rgb '#d07020' title 'std'
unset multiplot
""")
        made.append("strength-hist.png")
        groups = rep.get("strength", {}).get("groups")
        if groups:
            with open(os.path.join(pd, "groups.dat"), "w") as f:
                for g in groups:
                    f.write(f"{int(g['group'])} {g['strength_mean']} {g['strength_std']}\n")
            gp.append(term + f"""set output '{pd}/strength-groups.png'
set title 'Pairs sorted by strength mean, in equal groups (paper Fig. 2)'
set xlabel 'group (lowest strength first)'; set ylabel 'mean of strength mean'
set y2label 'mean of strength std'; set ytics nomirror; set y2tics
set key below; set grid
plot '{pd}/groups.dat' using 1:2 with linespoints lw 2 lc rgb '#3070b0' title 'mean', \\
     '' using 1:3 axes x1y2 with linespoints lw 2 lc rgb '#d07020' title 'std'
unset y2label; unset y2tics; set ytics mirror
""")
            made.append("strength-groups.png")
    if buckets:
        with open(os.path.join(pd, "buckets.dat"), "w") as f:
            for r in buckets:
                f.write(f"{r['bucket']} \"{r['range']}\" {r['accuracy']}\n")
        gp.append(term + f"""set output '{pd}/buckets.png'
set title 'Test accuracy of a reward model trained on each strength decile (paper Fig. 4)'
set style fill solid 0.6 border -1; set boxwidth 0.7
set xlabel 'training pairs: strength decile'; set ylabel 'test accuracy'
set yrange [0:1]; set grid ytics; unset key
plot '{pd}/buckets.dat' using 1:3:xtic(2) with boxes lc rgb '#3070b0', \\
     0.5 with lines dt 2 lc rgb '#888888'
set autoscale y
""")
        made.append("buckets.png")
    if compare and any(r["curve"] for r in compare):
        parts = []
        for r in compare:
            if not r["curve"]:
                continue
            dat = os.path.join(pd, f"curve-{r['method']}.dat")
            with open(dat, "w") as f:
                for s, a in r["curve"]:
                    f.write(f"{s} {a}\n")
            parts.append(f"'{dat}' using 1:2 with linespoints lw 2 title '{r['name']}'")
        gp.append(term + f"""set output '{pd}/training.png'
set title 'Held-out accuracy during training (paper Fig. 8)'
set xlabel 'step'; set ylabel 'test accuracy'; set key right bottom; set grid
plot {', '.join(parts)}
""")
        made.append("training.png")
    metarm = rep.get("metarm")
    if metarm and metarm.get("hist"):
        dats = []
        for name, h in metarm["hist"].items():
            dat = os.path.join(pd, f"metarm-{len(dats)}.dat")
            with open(dat, "w") as f:
                for x, c in h:
                    f.write(f"{x} {c}\n")
            dats.append(f"'{dat}' using 1:2 with steps lw 2 title '{name}'")
        gp.append(term + f"""set output '{pd}/metarm-delta.png'
set title 'Reward differences between responses to the same shifted prompt (paper Fig. 16)'
set xlabel '|r_i - r_j| / std of rewards'; set ylabel 'fraction of response pairs'
set key right top; set grid
plot {', '.join(dats)}
""")
        made.append("metarm-delta.png")
    if gp:
        script = os.path.join(pd, "plots.gp")
        with open(script, "w") as f:
            f.write("\n".join(gp))
        subprocess.run(["gnuplot", script], check=True)
    return made


def main():
    args = sys.argv[1:]
    if not args or args[0] in ("-h", "--help"):
        print(__doc__.strip())
        sys.exit(0 if args else 2)
    out, truth, title = args[0], None, "rmkit report"
    split = os.path.join(args[0], "split.json")
    i = 1
    while i < len(args):
        if args[i] == "--truth":
            truth = args[i + 1]; i += 2
        elif args[i] == "--title":
            title = args[i + 1]; i += 2
        elif args[i] == "--split":
            split = args[i + 1]; i += 2
        else:
            print(f"report.py: unknown argument {args[i]}", file=sys.stderr)
            sys.exit(2)
    rep, md = {}, [f"# {title}\n"]
    test_part(out, split, rep, md)
    st = strength_part(out, truth, rep, md)
    buckets = buckets_part(out, truth, rep, md)
    compare = compare_part(out, rep, md)
    cleaning_part(out, rep, md)
    metarm_part(out, rep, md)
    made = plots(out, st, buckets, compare, rep)
    if made:
        md.append("Plots: " + ", ".join(f"plots/{m}" for m in made) + "\n")
    text = "\n".join(md)
    for name, data in (("report.md", text),
                       ("report.json", json.dumps(rep, indent=1) + "\n")):
        tmp = os.path.join(out, name + ".tmp")
        with open(tmp, "w") as f:
            f.write(data)
        os.replace(tmp, os.path.join(out, name))
    print(text)


if __name__ == "__main__":
    main()
