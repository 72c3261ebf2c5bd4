#!/usr/bin/env python3
"""split.py [--every N] [--test FILE] [--info FILE.json] DATA TRAIN TEST
   split.py --test FILE --info FILE.json [--method TEXT] DATA

Split a preference dataset into training and test records by prompt: every
record of a prompt lands on the same side, so no test prompt (and no
response to it) is seen in training.  The prompts are taken in order of
first appearance and every N-th (default 10) goes to the test side with
all its records.

With --test FILE the user's own test set is used as it is: DATA becomes
TRAIN whole, FILE becomes TEST, and the prompts of FILE that also occur in
DATA are counted (and reported) rather than removed.

The second form writes only the --info of a given training and test set,
with --method saying how they were made.

rm-tokenize's layout options may be given as they are (make demo passes
its LAYOUT_FLAGS): --prompt-key K[,K...] names the prompt's fields, and
--responses-key the list of responses; the others are read and ignored.

--info writes what was done as JSON: the method, records and prompts on
each side, test prompts also found in training, test pairs whose two
responses both occur in training for the same prompt, and exact duplicates.

DATA and FILE are JSON Lines or one JSON array of records, plain or
zstd-compressed (through `zstd -dcf`); TRAIN and TEST are written as JSON
Lines, each through a temporary file renamed into place.  Records are
copied as they are (JSON Lines) or re-serialised compactly (array
elements).

The prompt of a record, in the order tried: "prompt" (TRL, Chatbot Arena,
HelpSteer2), "instruction" with "input" (PandaLM,
Alpaca), "history" (Stanford SHP), "question", "context", "conversations"
(ShareGPT), and for records with "chosen" and "rejected" only, the text
they share: all but the last message of a list, or for strings the common
prefix up to the last "\\n\\nAssistant:" (HH-RLHF), else the common prefix.
A record without a prompt (nothing shared) is a prompt of its own.
"""
import hashlib
import json
import os
import subprocess
import sys

PROMPT_KEYS = ("prompt", "history", "question", "context")
# rm-tokenize's layout options that take a value (see the docstring)
LAYOUT_OPTS = ("--shape", "--prompt-key", "--chosen-key", "--rejected-key",
               "--a-key", "--b-key", "--label-key", "--label-values",
               "--responses-key", "--score-key", "--rank-key", "--codes-key")
OWN_PROMPT = []       # --prompt-key
OWN_RESPONSES = []    # --responses-key


def read_text(path):
    raw = subprocess.run(["zstd", "-qdcf", path], check=True,
                         capture_output=True).stdout.decode("utf-8")
    return raw


def records(path):
    """(line text, parsed record) pairs, line text as written to the output."""
    raw = read_text(path)
    text = raw.lstrip("\ufeff \t\r\n")
    if text.startswith("["):
        return [(json.dumps(r, ensure_ascii=False, separators=(",", ":")), r)
                for r in json.loads(text)]
    out = []
    for n, l in enumerate(raw.split("\n"), 1):
        l = l.rstrip("\r")
        if not l.strip():
            continue
        try:
            out.append((l, json.loads(l)))
        except ValueError as e:
            sys.exit(f"split.py: {path}:{n}: not JSON: {e}")
    return out


def common_prefix(a, b):
    n = 0
    while n < len(a) and n < len(b) and a[n] == b[n]:
        n += 1
    return a[:n]


def canon(x):
    return json.dumps(x, ensure_ascii=False, sort_keys=True,
                      separators=(",", ":"))


def prompt_of(r):
    """A canonical text for the prompt of record r; None when it has none
    (then the record is a group of its own)."""
    if not isinstance(r, dict):
        return canon(r)
    if OWN_PROMPT:
        return "own=" + canon([r.get(k) for k in OWN_PROMPT])
    for k in PROMPT_KEYS:
        if k in r:
            return k + "=" + canon(r[k])
    if "instruction" in r:
        return "instruction=" + canon([r.get("instruction"), r.get("input")])
    if "conversations" in r:
        return "conversations=" + canon(r["conversations"])
    c, j = r.get("chosen"), r.get("rejected")
    if isinstance(c, list) and isinstance(j, list):
        return "turns=" + canon(c[:-1]) if len(c) > 1 else None
    if isinstance(c, str) and isinstance(j, str):
        p = common_prefix(c, j)
        cut = p.rfind("\n\nAssistant:")
        return "text=" + (p[:cut] if cut >= 0 else p) if p else None
    return None


def responses_of(r):
    """The responses of r (as canonical texts), for the overlap counts."""
    if not isinstance(r, dict):
        return []
    out = []
    for a, b in (("chosen", "rejected"), ("response1", "response2"),
                 ("response_1", "response_2"), ("response_a", "response_b"),
                 ("human_ref_A", "human_ref_B")):
        if a in r and b in r:
            out += [canon(r[a]), canon(r[b])]
    for k, t in [(k, None) for k in OWN_RESPONSES] + [
            ("responses", None), ("completions", "response"),
            ("answers", "answer")]:
        if isinstance(r.get(k), list):
            # a rated response's text, without its ratings
            out += [canon(x.get(t) if t and isinstance(x, dict) else x)
                    for x in r[k]]
    return out


def key(s):
    return hashlib.sha1(s.encode("utf-8")).hexdigest()


def prompt_key(r, i, side):
    """The grouping key of record i of one side ("train", "test")."""
    p = prompt_of(r)
    return key(p) if p is not None else f"{side}:{i}"


def write(path, lines):
    tmp = path + ".tmp"
    with open(tmp, "w", encoding="utf-8") as f:
        for l in lines:
            f.write(l + "\n")
    os.replace(tmp, path)


def overlap(train, test):
    """Counts of test prompts and pairs already seen in training."""
    tr_prompts = {}
    tr_lines = set()
    for i, (l, r) in enumerate(train):
        p = prompt_key(r, i, "train")
        tr_prompts.setdefault(p, set()).update(responses_of(r))
        tr_lines.add(key(canon(r)))
    te_prompts = {prompt_key(r, i, "test") for i, (_, r) in enumerate(test)}
    both = 0
    for i, (_, r) in enumerate(test):
        resp = responses_of(r)
        seen = tr_prompts.get(prompt_key(r, i, "test"), set())
        if resp and all(x in seen for x in resp):
            both += 1
    return {
        "train_prompts": len(tr_prompts),
        "test_prompts": len(te_prompts),
        "test_prompts_in_train": sum(p in tr_prompts for p in te_prompts),
        "test_records_with_all_responses_in_train": both,
        "test_records_duplicating_train": sum(key(canon(r)) in tr_lines
                                              for _, r in test),
    }


def main():
    args = sys.argv[1:]
    every, test_file, info, method_text = 10, None, None, None
    pos = []
    i = 0
    while i < len(args):
        a = args[i]
        if a in ("-h", "--help"):
            print(__doc__.strip())
            sys.exit(0)
        if a == "--concat":
            i += 1
            continue
        if a.split("=", 1)[0] in LAYOUT_OPTS:
            name, v = (a.split("=", 1) + [None])[:2]
            if v is None:
                if i + 1 == len(args):
                    sys.exit(f"split.py: {a} needs a value")
                v = args[i + 1]
                i += 1
            i += 1
            if name == "--prompt-key":
                OWN_PROMPT[:] = v.split(",")
            elif name == "--responses-key":
                OWN_RESPONSES[:] = [v]
            continue
        if a in ("--every", "--test", "--info", "--method"):
            if i + 1 == len(args):
                sys.exit(f"split.py: {a} needs a value")
            v = args[i + 1]
            if a == "--every":
                every = int(v)
            elif a == "--test":
                test_file = v
            elif a == "--method":
                method_text = v
            else:
                info = v
            i += 2
            continue
        pos.append(a)
        i += 1
    if len(pos) == 4 and test_file is None:   # the old DATA TRAIN TEST EVERY
        every = int(pos.pop())
    only_info = len(pos) == 1 and test_file and info
    if (len(pos) != 3 and not only_info) or every < 2:
        print(__doc__.strip(), file=sys.stderr)
        sys.exit(2)
    data = pos[0]
    train_path, test_path = (pos[1], pos[2]) if not only_info else (None, None)
    recs = records(data)
    if test_file:
        train, test = recs, records(test_file)
        method = (f"a test set of its own, {os.path.basename(test_file)}, "
                  f"beside all of {os.path.basename(data)} for training")
    else:
        order = {}
        keys = [prompt_key(r, i, "data") for i, (_, r) in enumerate(recs)]
        for k in keys:
            order.setdefault(k, len(order))
        side = [(order[k] + 1) % every == 0 for k in keys]
        train = [x for x, s in zip(recs, side) if not s]
        test = [x for x, s in zip(recs, side) if s]
        method = (f"by prompt: one prompt in {every} of "
                  f"{os.path.basename(data)} (in order of first appearance) "
                  f"is held out with all its records")
    if method_text:
        method = method_text
    if not train or not test:
        sys.exit(f"split.py: {data}: {len(recs)} records make an empty "
                 f"{'training' if not train else 'test'} side")
    if not only_info:
        write(train_path, [l for l, _ in train])
        write(test_path, [l for l, _ in test])
    if info:
        rep = {"method": method, "train_records": len(train),
               "test_records": len(test)}
        rep.update(overlap(train, test))
        tmp = info + ".tmp"
        with open(tmp, "w") as f:
            json.dump(rep, f, indent=1)
            f.write("\n")
        os.replace(tmp, info)


if __name__ == "__main__":
    main()
