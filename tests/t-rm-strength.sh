#!/bin/sh
# rm-strength: hand-computed means and population stds over three models
# given as JSONL, tensor stream and compressed deltas; the group table;
# the summary; mismatch and non-finite errors; exact u64 hashes.
name=rm-strength; . "$(dirname "$0")/common.sh"
mk=$RM_TOP/tests/bin/tool-mkvotes

check_synopsis rm-strength

# d = chosen - rejected per model:   id0  id1  id2  id3
#   a (JSONL)                          1   -1    2  0.5
#   b (tensor stream)                  3   -1    0  0.5
#   c (zstd JSONL, delta, no hash)     2    1    1  0.5
cat > a.jsonl <<'J'
{"id":0,"hash":18446744073709551615,"chosen":1,"rejected":0}
{"id":1,"hash":11,"chosen":0,"rejected":1}
{"id":2,"hash":12,"chosen":2,"rejected":0}
{"id":3,"hash":13,"chosen":0.5,"rejected":0}
J
cat > b.jsonl <<'J'
{"id":0,"hash":18446744073709551615,"chosen":4,"rejected":1}
{"id":1,"hash":11,"chosen":-1,"rejected":0}
{"id":2,"hash":12,"chosen":0.25,"rejected":0.25}
{"id":3,"hash":13,"chosen":1,"rejected":0.5}
J
"$mk" < b.jsonl > b.rmt || fail "tool-mkvotes"
printf '{"id":0,"delta":2}\n{"id":1,"delta":1}\n{"id":2,"delta":1}\n{"id":3,"delta":0.5}\n' |
	zstd -q > c.jsonl.zst

rm-strength --each a.jsonl b.rmt c.jsonl.zst > s.jsonl 2> summary.txt ||
	fail "rm-strength failed: $(cat summary.txt)"
# id0: mean 2, std sqrt(2/3); id1: mean -1/3, std sqrt(8/9);
# id2: mean 1, std sqrt(2/3); id3: mean 0.5, std 0.
cat > want.jsonl <<'J'
{"id":0,"hash":18446744073709551615,"strength_mean":2,"strength_std":0.816496581,"n":3,"deltas":[1,3,2]}
{"id":1,"hash":11,"strength_mean":-0.333333333,"strength_std":0.942809042,"n":3,"deltas":[-1,-1,1]}
{"id":2,"hash":12,"strength_mean":1,"strength_std":0.816496581,"n":3,"deltas":[2,0,1]}
{"id":3,"hash":13,"strength_mean":0.5,"strength_std":0,"n":3,"deltas":[0.5,0.5,0.5]}
J
cmp -s s.jsonl want.jsonl || { diff want.jsonl s.jsonl; fail "pair records"; }
grep -q '^rm-strength: 4 pairs, 3 models$' summary.txt || fail "summary header"
grep -q 'strength_mean < 0: 1 (25.0%)' summary.txt || fail "summary negative fraction"
# sorted means -1/3 0.5 1 2 (h = q * 3): 10% = -1/3 + 0.3 * 5/6,
# 25% = -1/3 + 0.75 * 5/6 = 0.2917, 50% = 0.75, 90% = 1 + 0.7 * 1
grep -q 'min -0.3333 10% -0.08333 25% 0.2917 50% 0.75 75% 1.25 90% 1.7 max 2' summary.txt ||
	fail "summary quantiles: $(cat summary.txt)"

# Groups: sorted by mean, 2 groups {id1, id3} {id2, id0}.
rm-strength -q --groups 2 a.jsonl b.rmt c.jsonl.zst > g.jsonl || fail "--groups"
cat > want.jsonl <<'J'
{"group":1,"n":2,"mean_lo":-0.333333333,"mean_hi":0.5,"strength_mean":0.0833333333,"strength_std":0.471404521}
{"group":2,"n":2,"mean_lo":1,"mean_hi":2,"strength_mean":1.5,"strength_std":0.816496581}
J
cmp -s g.jsonl want.jsonl || { diff want.jsonl g.jsonl; fail "group table"; }
rm-strength -q --groups 2 --tsv --groups-out g.tsv -o p.jsonl a.jsonl b.rmt c.jsonl.zst ||
	fail "--groups-out"
[ "$(wc -l < p.jsonl)" = 4 ] || fail "pairs beside --groups-out"
printf 'group\tn\tmean_lo\tmean_hi\tstrength_mean\tstrength_std\n1\t2\t-0.333333333\t0.5\t0.0833333333\t0.471404521\n2\t2\t1\t2\t1.5\t0.816496581\n' |
	cmp -s - g.tsv || fail "tsv table"

# One model from standard input, external scores without hash.
rm-strength -q < c.jsonl.zst | head -n 1 | grep -qx '{"id":0,"strength_mean":2,"strength_std":0,"n":1}' ||
	fail "single external model"

# Errors: exit 1, message naming file, record and mismatch; no output file.
expect_err() {   # pattern, args...
	pat=$1; shift
	rm-strength -q -o out.jsonl "$@" 2> err.txt
	rc=$?
	[ $rc = 1 ] || fail "exit $rc for $*"
	grep -q "^rm-strength: $pat" err.txt || fail "message for $*: $(cat err.txt)"
	[ -e out.jsonl ] && fail "output left behind for $*"
	return 0
}
head -n 3 a.jsonl > short.jsonl
expect_err 'short.jsonl: ends after 3 records, but a.jsonl goes on' a.jsonl short.jsonl
expect_err 'a.jsonl: goes on after 3 records, but short.jsonl ends there' short.jsonl a.jsonl
sed 's/"hash":12/"hash":99/' a.jsonl > badhash.jsonl
expect_err 'badhash.jsonl:3: id 2: hash 99 does not match b.rmt: record 2 (hash 12)' b.rmt badhash.jsonl
sed 's/"id":1,/"id":7,/' a.jsonl > badid.jsonl
expect_err 'badid.jsonl:2: id 7 does not match a.jsonl:2 (id 1)' a.jsonl badid.jsonl
printf '{"id":0,"chosen":"nan","rejected":0}\n' | "$mk" > nan.rmt
expect_err "nan.rmt: record 0: score 'chosen' is not finite" nan.rmt
printf '{"id":0,"chosen":1e999,"rejected":0}\n' > inf.jsonl
expect_err "inf.jsonl:1: score 'chosen' is not finite" inf.jsonl
printf '{"id":0,"reward":1}\n' > single.jsonl
expect_err "single.jsonl:1: single scores, expected pair scores" single.jsonl
printf '{"id":0,"hash":-3,"delta":1}\n' > neg.jsonl
expect_err "neg.jsonl:1: field 'hash' is not an unsigned 64-bit integer" neg.jsonl
expect_err "missing.jsonl: " missing.jsonl

rm-strength --tsv a.jsonl >/dev/null 2>&1; [ $? = 2 ] || fail "--tsv without --groups"
rm-strength - - < a.jsonl >/dev/null 2>&1; [ $? = 2 ] || fail "stdin twice"
echo ok
