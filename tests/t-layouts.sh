#!/bin/sh
# rm-tokenize: the published A-versus-B layouts (PandaLM, SHP, Chatbot
# Arena, HelpSteer2-Preference, and one named by options) give the expected
# pairs: the winner chosen, ties with target 0.5 or dropped, the annotators'
# agreement and the graded strength carried; wrong types and labels are
# located errors; -k with every record invalid exits 1 and writes nothing.
name=layouts; . "$(dirname "$0")/common.sh"

# show FILE.rmt: one line per record, id|chosen|rejected|prompt|target|
# agreement|given_strength (texts decoded from the bytes tokenizer).
show() {
	rm-cat "$1" | python3 -c '
import json, sys
def text(ids):
    return bytes(i for i in ids if i < 256).decode().replace("\n", "/")
for l in sys.stdin:
    r = json.loads(l)
    p = r["prompt_len"]
    f = lambda k: "-" if k not in r else "%.4g" % r[k]
    print("%d|%s|%s|%s|%s|%s|%s" % (r["id"], text(r["chosen"][p:]),
          text(r["rejected"][p:]), text(r["chosen"][:p]), f("target"),
          f("agreement"), f("given_strength")))'
}

# ---- PandaLM: three annotators, 1 = response1, 2 = response2, 0 = tie
cat > pandalm.jsonl <<'J'
{"motivation_app":"x","instruction":"Say hi.","input":"","response1":"Hi!","response2":"Hello there.","annotator1":2,"annotator2":2,"annotator3":1}
{"instruction":"Add","input":"2 and 3","response1":"5","response2":"6","annotator1":1,"annotator2":1,"annotator3":1}
{"instruction":"Pick","input":"","response1":"a","response2":"b","annotator1":0,"annotator2":0,"annotator3":1}
{"instruction":"Pick","input":"","response1":"a","response2":"b","annotator1":0,"annotator2":1,"annotator3":2}
{"instruction":"One","input":"","response1":"a","response2":"b","annotator1":2}
J
rm-tokenize -t bytes --no-eos pandalm.jsonl -o p.rmt 2>err.txt || fail "pandalm: $(cat err.txt)"
show p.rmt > got.txt
cat > want.txt <<'W'
0| Hello there.| Hi!|//Human: Say hi.//Assistant:|-|0.6667|-
1| 5| 6|//Human: Add//2 and 3//Assistant:|-|1|-
2| a| b|//Human: Pick//Assistant:|0.5|0.6667|-
3| a| b|//Human: Pick//Assistant:|0.5|0.3333|-
4| b| a|//Human: One//Assistant:|-|-|-
W
diff want.txt got.txt || fail "pandalm pairs"
grep -qx 'rm-tokenize: 5 labelled pairs: 2 ties kept (target 0.5), 3 with annotators disagreeing' err.txt ||
	fail "pandalm counts: $(cat err.txt)"
rm-tokenize -t bytes --no-eos --ties drop pandalm.jsonl -o p.rmt 2>err.txt || fail "--ties drop"
[ "$(show p.rmt | cut -d'|' -f1 | tr '\n' ' ')" = "0 1 4 " ] || fail "ties dropped: $(show p.rmt)"
grep -q '2 ties dropped' err.txt || fail "drop count: $(cat err.txt)"
# --concat: prompt and response joined as they are (TRL).
rm-tokenize -t bytes --no-eos --concat pandalm.jsonl -o p.rmt || fail "--concat"
show p.rmt | sed -n 2p | grep -qx '1|5|6|Add//2 and 3|-|1|-' || fail "concat: $(show p.rmt | sed -n 2p)"
# ChatML template.
rm-tokenize -t bytes --no-eos -T chatml pandalm.jsonl -o p.rmt || fail "chatml"
show p.rmt | sed -n 1p |
	grep -qx '0|Hello there.<|im_end|>/|Hi!<|im_end|>/|<|im_start|>user/Say hi.<|im_end|>/<|im_start|>assistant/|-|0.6667|-' ||
	fail "chatml: $(show p.rmt | sed -n 1p)"

# Wrong types and labels: each a located error, or a -k line.
cat > bad.jsonl <<'J'
{"instruction":"a","input":"","response1":true,"response2":"b","annotator1":1}
{"instruction":"a","input":"","response1":"a","response2":"b","annotator1":7}
{"instruction":"a","input":"","response1":"a","response2":"b"}
{"instruction":["a"],"input":"","response1":"a","response2":"b","annotator1":1}
{"instruction":"a","input":"","response1":"a","response2":"b","annotator1":"1"}
J
rm-tokenize -t bytes bad.jsonl > /dev/null 2>err.txt; [ $? = 1 ] || fail "bad exit"
grep -qx "rm-tokenize: bad.jsonl:1: field 'response1' is a boolean, not a string" err.txt ||
	fail "type message: $(cat err.txt)"
rm-tokenize -t bytes -k -o out.rmt bad.jsonl 2>err.txt; [ $? = 1 ] || fail "-k all invalid must exit 1"
[ -e out.rmt ] && fail "-k all invalid left an output"
ls | grep -q 'out.rmt' && fail "temporary file left: $(ls)"
for want in \
	"{\"id\":0,\"error\":\"bad.jsonl:1: field 'response1' is a boolean, not a string\"}" \
	"{\"id\":1,\"error\":\"bad.jsonl:2: label 'annotator1' is 7, not 1 (A), 2 (B) or tie 0\"}" \
	"{\"id\":2,\"error\":\"bad.jsonl:3: no label: field 'annotator1' is missing\"}" \
	"{\"id\":3,\"error\":\"bad.jsonl:4: prompt field 'instruction' is an array, not a string\"}" \
	"{\"id\":4,\"error\":\"bad.jsonl:5: label 'annotator1' is '1', not 1 (A), 2 (B) or tie 0\"}" \
	"rm-tokenize: bad.jsonl: all 5 records are invalid: nothing written"; do
	grep -qxF "$want" err.txt || fail "missing: $want; got: $(cat err.txt)"
done
# One good record among them: exit 0, the rest reported.
cat pandalm.jsonl bad.jsonl | rm-tokenize -t bytes -k 2>err.txt > mixed.rmt || fail "mixed -k"
[ "$(rm-cat mixed.rmt | wc -l)" = 5 ] || fail "mixed count"

# ---- Stanford SHP: labels 1 = A; the score ratio is the graded strength
cat > shp.jsonl <<'J'
{"post_id":"p1","history":"Why is the sky blue?","human_ref_A":"Rayleigh scattering.","human_ref_B":"Magic.","labels":1,"score_A":40,"score_B":10}
{"post_id":"p1","history":"Why is the sky blue?","human_ref_A":"Magic.","human_ref_B":"Because of air.","labels":0,"score_A":10,"score_B":20}
{"post_id":"p2","history":"x","human_ref_A":"a","human_ref_B":"b","labels":2,"score_A":1,"score_B":1}
J
rm-tokenize -t bytes --no-eos -k shp.jsonl -o s.rmt 2>err.txt || fail "shp"
show s.rmt > got.txt
cat > want.txt <<'W'
0| Rayleigh scattering.| Magic.|//Human: Why is the sky blue?//Assistant:|-|-|1.386
1| Because of air.| Magic.|//Human: Why is the sky blue?//Assistant:|-|-|0.6931
W
diff want.txt got.txt || fail "shp pairs"
grep -qF "shp.jsonl:3: label 'labels' is 2, not 1 (A), 0 (B)" err.txt || fail "shp label: $(cat err.txt)"

# ---- Chatbot Arena: turns as JSON lists or as strings holding them
cat > arena.jsonl <<'J'
{"id":30192,"model_a":"m1","model_b":"m2","prompt":"[\"Hi?\"]","response_a":"[\"Hello.\"]","response_b":"[\"Yo.\"]","winner_model_a":0,"winner_model_b":1,"winner_tie":0}
{"id":53567,"prompt":["Q1","Q2"],"response_a":["A1","A2"],"response_b":["A1","B2"],"winner_model_a":1,"winner_model_b":0,"winner_tie":0}
{"id":7,"prompt":["Q"],"response_a":[null],"response_b":["B"],"winner_model_a":0,"winner_model_b":0,"winner_tie":1}
{"id":8,"prompt":["Q"],"response_a":["A"],"response_b":["B"],"winner_model_a":1,"winner_model_b":1,"winner_tie":0}
{"id":9,"prompt":["Q","R"],"response_a":["A"],"response_b":["B"],"winner_model_a":1,"winner_model_b":0,"winner_tie":0}
J
rm-tokenize -t bytes --no-eos -k arena.jsonl -o a.rmt 2>err.txt || fail "arena"
show a.rmt > got.txt
cat > want.txt <<'W'
30192| Yo.| Hello.|//Human: Hi?//Assistant:|-|-|-
53567| A2| B2|//Human: Q1//Assistant: A1//Human: Q2//Assistant:|-|-|-
7| | B|//Human: Q//Assistant:|0.5|-|-
W
diff want.txt got.txt || fail "arena pairs"
grep -qF "arena.jsonl:4: labels 'winner_model_a' and 'winner_model_b' are both 1" err.txt ||
	fail "arena both: $(cat err.txt)"
grep -qF "arena.jsonl:5: fields 'prompt', 'response_a' and 'response_b' need the same number of turns" err.txt ||
	fail "arena turns: $(cat err.txt)"

# ---- HelpSteer2-Preference: -3..3, negative = response_1 better
cat > hs.jsonl <<'J'
{"split":"train","prompt":"Name a color.","response_1":"Blue.","response_2":"Idk.","preference_strength":-2}
{"prompt":"Name a color.","response_1":"Idk.","response_2":"Red.","preference_strength":3}
{"prompt":"p","response_1":"a","response_2":"b","preference_strength":0}
{"prompt":"p","response_1":"a","response_2":"b","preference_strength":4}
{"prompt":"p","response_1":"a","response_2":"b","preference_strength":"2"}
J
rm-tokenize -t bytes --no-eos -k hs.jsonl -o h.rmt 2>err.txt || fail "helpsteer2"
show h.rmt > got.txt
cat > want.txt <<'W'
0| Blue.| Idk.|//Human: Name a color.//Assistant:|-|-|2
1| Red.| Idk.|//Human: Name a color.//Assistant:|-|-|3
2| a| b|//Human: p//Assistant:|0.5|-|0
W
diff want.txt got.txt || fail "helpsteer2 pairs"
grep -qF "hs.jsonl:4: label 'preference_strength' is 4, outside -3 to 3" err.txt || fail "range: $(cat err.txt)"
grep -qF "hs.jsonl:5: label 'preference_strength' is not a number" err.txt || fail "type: $(cat err.txt)"

# ---- A layout of one's own, several prompt fields and labels
cat > own.jsonl <<'J'
{"q":"Why?","ctx":"Because.","left":"L1","right":"R1","w1":"L","w2":"R","w3":"R"}
{"q":"Why?","left":"L2","right":"R2","w1":"tie","w2":null}
J
rm-tokenize -t bytes --no-eos --prompt-key q,ctx --a-key left --b-key right \
	--label-key w1,w2,w3 --label-values L,R,tie own.jsonl -o o.rmt 2>err.txt || fail "own: $(cat err.txt)"
show o.rmt > got.txt
cat > want.txt <<'W'
0| R1| L1|//Human: Why?//Because.//Assistant:|-|0.6667|-
1| L2| R2|//Human: Why?//Assistant:|0.5|-|-
W
diff want.txt got.txt || fail "own layout pairs"
rm-tokenize -t bytes --a-key left --b-key right own.jsonl > /dev/null 2>&1; [ $? = 2 ] || fail "no label usage"
rm-tokenize -t bytes --ties maybe own.jsonl > /dev/null 2>&1; [ $? = 2 ] || fail "--ties usage"

# rm-filter flips an A/B record by its target (nothing to swap): a tie stays 0.5.
python3 -c '
for i in range(5):
    print("{\"id\":%d,\"strength_mean\":%d}" % (i, i - 3))' > st.jsonl
rm-filter -q -s st.jsonl --flip-lowest 0.6 pandalm.jsonl > pf.jsonl || fail "rm-filter on pandalm"
grep -o '"target":[0-9.]*}$' pf.jsonl | tr '\n' ' ' |
	grep -qx '"target":0} "target":0} "target":0.5} ' || fail "A/B flips: $(cat pf.jsonl)"
rm-tokenize -q -t bytes --no-eos pf.jsonl -o pf.rmt || fail "tokenize filtered"
[ "$(show pf.rmt | cut -d'|' -f5 | tr '\n' ' ')" = "0 0 0.5 0.5 - " ] || fail "filtered targets: $(show pf.rmt)"

# rm-strength --given: the dataset's own graded strength, joined by rm-filter.
head -n 2 shp.jsonl > shp2.jsonl
rm-strength -q --given shp2.jsonl > gs.jsonl || fail "--given"
grep -c '"given":true' gs.jsonl | grep -qx 2 || fail "given lines: $(cat gs.jsonl)"
rm-filter -q -s gs.jsonl --margin shp2.jsonl | grep -o '"margin":[0-9.]*' | tr '\n' ' ' |
	grep -qx '"margin":1.38629436 "margin":0.693147181 ' || fail "given margins"
rm-strength -q --given --given-field score_A shp2.jsonl | grep -o '"strength_mean":[0-9]*' |
	tr '\n' ' ' | grep -qx '"strength_mean":40 "strength_mean":10 ' || fail "--given-field"
rm-strength -q --given pandalm.jsonl > /dev/null 2>err.txt && fail "pandalm has no graded strength"
grep -q "pandalm.jsonl:1: no graded preference" err.txt || fail "given error: $(cat err.txt)"

echo ok
