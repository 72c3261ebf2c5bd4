#!/usr/bin/env python3
"""synth_rated.py GROUPS NECTAR UF: rm-synth's groups (prompt, k responses,
true_scores) written in two published rated layouts, for measuring the demo
on expanded data: Nectar (answers ranked by the true score, rank 1 best)
and UltraFeedback (completions whose fine-grained_score is 3 + the true
score + N(0, 0.5) noise, clipped to 1..5 and rounded to 0.25, seeded).

    rm-synth -n 1 --groups 600 --k 4 --seed 3 --groups-out g.jsonl -o /dev/null
    python3 tests/synth_rated.py g.jsonl nectar.jsonl uf.jsonl
    make demo DATA=uf.jsonl M=3
"""
import json
import random
import sys


def main():
    if len(sys.argv) != 4:
        sys.exit(__doc__.strip())
    rnd = random.Random(5)
    with open(sys.argv[2], "w") as nec, open(sys.argv[3], "w") as uf:
        for line in open(sys.argv[1]):
            g = json.loads(line)
            s = g["true_scores"]
            order = sorted(range(len(s)), key=lambda i: -s[i])
            rank = {i: r + 1 for r, i in enumerate(order)}
            nec.write(json.dumps({"prompt": g["prompt"], "answers": [
                {"answer": r.lstrip(), "model": "m%d" % i, "rank": rank[i]}
                for i, r in enumerate(g["responses"])], "turns": 1,
                "num_responses": len(s), "source": ["rm-synth"],
                "good_natured": True}) + "\n")
            q = g["prompt"].split("Human: ", 1)[1].rsplit("\n\nAssistant:", 1)[0]
            uf.write(json.dumps({"source": "rm-synth", "instruction": q,
                "completions": [{"model": "m%d" % i, "response": r.lstrip(),
                    "fine-grained_score": round(max(1, min(5, 3 + s[i] +
                        rnd.gauss(0, 0.5))) * 4) / 4}
                    for i, r in enumerate(g["responses"])]}) + "\n")


if __name__ == "__main__":
    main()
