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
    c, j = text(r["chosen"][p:]), text(r["rejected"][p:])
    if sys.argv[1:] == ["pairs"]:
        print("%d|%d|%d|%s|%s|%s|%s" % (r["id"], r["pair_index"],
              r["source_id"], c, j, f("target"), f("given_strength")))
    else:
        print("%d|%s|%s|%s|%s|%s|%s" % (r["id"], c, j, text(r["chosen"][:p]),
              f("target"), f("agreement"), f("given_strength")))' ${2:-}
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

# ---- Rated, ranked and compared responses, expanded into pairs.
# showp FILE.rmt: id|pair_index|source_id|chosen|rejected|target|given
showp() { show "$1" pairs; }

# UltraFeedback: four completions, fine-grained_score by default; a tie
# (Apple and Banana 4.5); with the honesty rating one completion is "N/A"
# and left out (its pairs are not made, the others keep their indices).
cat > uf.jsonl <<'J'
{"source":"sharegpt","instruction":"Name a fruit.","models":["a","b","c","d"],"completions":[{"model":"a","principle":"helpfulness","custom_system_prompt":"Be nice.","response":"Apple.","annotations":{"helpfulness":{"Rating":"5","Rationale":"r"},"honesty":{"Rating":"4","Rationale":"r"}},"fine-grained_score":4.5,"overall_score":8.0,"critique":"c"},{"model":"b","response":"Carrot.","annotations":{"helpfulness":{"Rating":"2","Rationale":"r"},"honesty":{"Rating":"N/A","Rationale":"r"}},"fine-grained_score":2.0,"overall_score":3.0},{"model":"c","response":"Banana.","annotations":{"helpfulness":{"Rating":"5","Rationale":"r"},"honesty":{"Rating":"5","Rationale":"r"}},"fine-grained_score":4.5,"overall_score":7.0},{"model":"d","response":"Fruit.","annotations":{"helpfulness":{"Rating":"3","Rationale":"r"},"honesty":{"Rating":"2","Rationale":"r"}},"fine-grained_score":3.25,"overall_score":5.0}],"correct_answers":["None"],"incorrect_answers":["None"]}
{"instruction":"Say no.","completions":[{"response":"No.","fine-grained_score":5},{"response":true,"fine-grained_score":1}]}
{"instruction":"Say no.","completions":[{"response":"No.","fine-grained_score":5},{"response":"Yes.","fine-grained_score":false}]}
{"instruction":"Say no.","completions":[{"response":"No.","fine-grained_score":"N/A"},{"response":"Yes.","fine-grained_score":1}]}
J
rm-tokenize -t bytes --no-eos -k uf.jsonl -o u.rmt 2>err.txt || fail "ultrafeedback: $(cat err.txt)"
showp u.rmt > got.txt
cat > want.txt <<'W'
0|0|0| Apple.| Carrot.|-|2.5
1|1|0| Apple.| Banana.|0.5|0
2|2|0| Apple.| Fruit.|-|1.25
3|3|0| Banana.| Carrot.|-|2.5
4|4|0| Fruit.| Carrot.|-|1.25
5|5|0| Banana.| Fruit.|-|1.25
W
diff want.txt got.txt || fail "ultrafeedback pairs"
for want in \
	"{\"id\":1,\"error\":\"uf.jsonl:2: field 'completions' item 1: 'response' is a boolean, not a string\"}" \
	"{\"id\":2,\"error\":\"uf.jsonl:3: field 'completions' item 1: 'fine-grained_score' is a boolean, not a number\"}" \
	"{\"id\":3,\"error\":\"uf.jsonl:4: 1 of the 2 responses in 'completions' have a score: no pair to make\"}" \
	"rm-tokenize: 1 rated records: 6 pairs written (--pairs all), 1 ties kept (target 0.5), 0 dropped by their pair_labels"; do
	grep -qxF "$want" err.txt || fail "missing: $want; got: $(cat err.txt)"
done
head -n 1 uf.jsonl > uf1.jsonl
rm-tokenize -q -t bytes --no-eos --score-key annotations.honesty.Rating uf1.jsonl -o u.rmt ||
	fail "--score-key path"
[ "$(showp u.rmt | cut -d'|' -f2,4,5,7 | tr '\n' ' ')" = "1| Banana.| Apple.|1 2| Apple.| Fruit.|2 5| Banana.| Fruit.|3 " ] ||
	fail "honesty ratings: $(showp u.rmt)"
rm-tokenize -q -t bytes --no-eos --score-key overall_score --pairs best uf1.jsonl -o u.rmt || fail "best"
[ "$(showp u.rmt | cut -d'|' -f1,4,5 | tr '\n' ' ')" = "0| Apple.| Carrot. 1| Apple.| Banana. 2| Apple.| Fruit. " ] ||
	fail "best pairs: $(showp u.rmt)"
rm-tokenize -q -t bytes --no-eos --pairs best --ties drop uf1.jsonl -o u.rmt 2>err.txt || fail "best, ties dropped"
[ "$(showp u.rmt | cut -d'|' -f1 | tr '\n' ' ')" = "0 2 " ] || fail "best without the tie: $(showp u.rmt)"
# random: one pair per record, the same for the same seed and any -j,
# and every record's draw its own (seeded by its id)
python3 -c '
import json
for i in range(40):
    print(json.dumps({"instruction": "q%d" % i, "completions": [
        {"response": "r%d" % j, "fine-grained_score": 5 - j} for j in range(4)]}))' > many.jsonl
rm-tokenize -q -t bytes --pairs random -j 1 many.jsonl -o r1.rmt || fail "random"
rm-tokenize -q -t bytes --pairs random -j 2 many.jsonl -o r2.rmt || fail "random -j 2"
cmp -s r1.rmt r2.rmt || fail "--pairs random differs with -j"
rm-tokenize -q -t bytes --pairs random --seed 2 many.jsonl -o r3.rmt || fail "random seed 2"
cmp -s r1.rmt r3.rmt && fail "--seed changes nothing"
showp r1.rmt | awk -F'|' '$2 > 2 || $4 != " r0" { bad = 1 } END { exit bad }' ||
	fail "random: not the best against one other: $(showp r1.rmt)"
[ "$(showp r1.rmt | wc -l)" = 40 ] || fail "random: one pair per record"
[ "$(showp r1.rmt | cut -d'|' -f2 | sort -u | wc -l)" = 3 ] || fail "random: always the same draw"
rm-tokenize -t bytes --seed 3 uf1.jsonl > /dev/null 2>&1; [ $? = 2 ] || fail "--seed without random"
rm-tokenize -t bytes --pairs some uf1.jsonl > /dev/null 2>&1; [ $? = 2 ] || fail "--pairs usage"

# Nectar: an HH transcript prompt, answers ranked (1 the best).
cat > nectar.jsonl <<'J'
{"prompt":"\n\nHuman: Hi\n\nAssistant: Hello!\n\nHuman: A colour?\n\nAssistant:","answers":[{"answer":"Red is one.","model":"m2","rank":2.0},{"answer":"Blue.","model":"m1","rank":1.0},{"answer":"No.","model":"m3","rank":3.0}],"turns":2,"num_responses":3,"source":["sharegpt"],"good_natured":true}
{"prompt":"\n\nHuman: x\n\nAssistant:","answers":[{"answer":"a","rank":1},{"answer":"b","rank":"first"}],"turns":1}
J
rm-tokenize -t bytes --no-eos -k nectar.jsonl -o n.rmt 2>err.txt || fail "nectar: $(cat err.txt)"
showp n.rmt > got.txt
cat > want.txt <<'W'
0|0|0| Blue.| Red is one.|-|-
1|1|0| Red is one.| No.|-|-
2|2|0| Blue.| No.|-|-
W
diff want.txt got.txt || fail "nectar pairs"
rm-cat n.rmt | head -n 1 | python3 -c '
import json, sys
r = json.loads(sys.stdin.read())
t = bytes(i for i in r["chosen"][:r["prompt_len"]] if i < 256).decode()
assert t == "\n\nHuman: Hi\n\nAssistant: Hello!\n\nHuman: A colour?\n\nAssistant:", repr(t)' ||
	fail "nectar prompt"
grep -qF "nectar.jsonl:2: field 'answers' item 1: 'rank' is 'first', not a number" err.txt ||
	fail "nectar rank: $(cat err.txt)"

# k answers with pairwise codes: four answers, six codes in the order
# (1,2) (1,3) (1,4) (2,3) (2,4) (3,4); 1 = the first better, 2 = the
# second, 0 = tie, null = not compared.
cat > codes.jsonl <<'J'
{"question":"What is 2+2?","answers":["4","5","four","22"],"preferences":[1,0,1,2,2,null]}
{"question":"q","answers":["a","b","c"],"preferences":[1,2]}
{"question":"q","answers":["a","b","c"],"preferences":[1,2,3]}
J
rm-tokenize -t bytes --no-eos -k codes.jsonl -o c.rmt 2>err.txt || fail "codes: $(cat err.txt)"
showp c.rmt > got.txt
cat > want.txt <<'W'
0|0|0| 4| 5|-|-
1|1|0| 4| four|0.5|-
2|2|0| 4| 22|-|-
3|3|0| four| 5|-|-
4|4|0| 22| 5|-|-
W
diff want.txt got.txt || fail "codes pairs"
grep -qF "codes.jsonl:2: field 'preferences' has 2 codes; 3 answers make 3 pairs" err.txt ||
	fail "codes count: $(cat err.txt)"
grep -qF "codes.jsonl:3: label 'preferences[2] (answers 2 and 3)' is 3, not 1 (A), 2 (B) or tie 0" err.txt ||
	fail "codes value: $(cat err.txt)"
head -n 1 codes.jsonl > codes1.jsonl
rm-tokenize -q -t bytes --no-eos --pairs best codes1.jsonl -o c.rmt || fail "codes best"
[ "$(showp c.rmt | cut -d'|' -f1 | tr '\n' ' ')" = "0 1 2 " ] || fail "codes best: $(showp c.rmt)"
sed 's/"preferences"/"prefs"/' codes1.jsonl | rm-tokenize -q -t bytes -s codes --codes-key prefs \
	--label-values 2,1,0 -o c.rmt || fail "--codes-key"
[ "$(showp c.rmt | sed -n 1p | cut -d'|' -f4,5)" = " 5| 4" ] || fail "--label-values for codes: $(showp c.rmt)"

# Groups with scores (or ranks, lower better); ties by score.
cat > scored.jsonl <<'J'
{"id":7,"prompt":"P: ","responses":["x","y","z"],"scores":[1,3,1]}
{"id":8,"prompt":"P: ","responses":["x","y"],"scores":[1]}
J
rm-tokenize -t bytes --no-eos -k scored.jsonl -o g.rmt 2>err.txt || fail "scored: $(cat err.txt)"
showp g.rmt > got.txt
cat > want.txt <<'W'
70000|0|7|y|x|-|2
70001|1|7|x|z|0.5|0
70002|2|7|y|z|-|2
W
diff want.txt got.txt || fail "scored pairs"
grep -qF "scored.jsonl:2: field 'scores' is an array, not a list of 2 scores" err.txt ||
	fail "scored count: $(cat err.txt)"
head -n 1 scored.jsonl | sed 's/"scores"/"ranks"/' |
	rm-tokenize -q -t bytes --no-eos -s scored --rank-key ranks -o g.rmt || fail "--rank-key"
[ "$(showp g.rmt | cut -d'|' -f4,5 | tr '\n' ' ')" = "x|y x|z z|y " ] || fail "ranks: $(showp g.rmt)"

# rm-filter decides per pair (by the derived ids) and writes pair_labels;
# rm-tokenize applies them: a flip is target 0, a drop leaves the pair out.
python3 -c '
for i, m in enumerate([-2, 0.5, 1, 3, 2, 4]):
    print("{\"id\":%d,\"strength_mean\":%g}" % (i, m))' > ust.jsonl
rm-filter -s ust.jsonl --flip-lowest 0.2 --drop-above 0.9 --margin uf1.jsonl > uff.jsonl 2>err.txt ||
	fail "rm-filter on rated: $(cat err.txt)"
grep -qF '"pair_labels":[{"pair_index":0,"target":0,"margin":-2},{"pair_index":1,"margin":0.5},{"pair_index":2,"margin":1},{"pair_index":3,"margin":3},{"pair_index":4,"margin":2},{"pair_index":5,"drop":true}]}' uff.jsonl ||
	fail "pair_labels: $(cat uff.jsonl)"
grep -qx 'rm-filter: 6 records: 5 kept, 1 dropped, 1 flipped, 0 smoothed, 5 margins, 0 unscored' err.txt ||
	fail "rated filter counts: $(cat err.txt)"
rm-tokenize -q -t bytes --no-eos uff.jsonl -o uf.rmt || fail "tokenize pair_labels"
[ "$(rm-cat uf.rmt | python3 -c '
import json, sys
for l in sys.stdin:
    r = json.loads(l)
    g = lambda k: "%g" % r[k] if k in r else "-"
    print(r["id"], g("target"), g("margin"))' | tr '\n' ' ')" = "0 0 -2 1 0.5 0.5 2 - 1 3 - 3 4 - 2 " ] ||
	fail "pair_labels applied: $(rm-cat uf.rmt)"
rm-tokenize -q -t bytes --pairs best uff.jsonl > /dev/null 2>&1 && fail "pair_labels of another rule"
rm-tokenize -q -t bytes --pairs best uff.jsonl 2>&1 >/dev/null | grep -qF "pair 3 is not one this record expands to" ||
	fail "pair_labels rule message"
echo '{"id":9,"strength_mean":1}' > none.jsonl
rm-filter -q -s none.jsonl uf1.jsonl > /dev/null 2>err.txt && fail "unscored rated record"
grep -qF "uf1.jsonl:1: none of the 6 pairs of id 0 has a strength record" err.txt || fail "unscored: $(cat err.txt)"
# rm-strength --given: a score difference per pair
rm-strength -q --given uf1.jsonl | grep -o '"id":[0-9]*,"hash":[0-9]*,"strength_mean":[0-9.]*' |
	sed 's/"hash":[0-9]*,//' | tr '\n' ' ' | grep -qx '"id":0,"strength_mean":2.5 "id":1,"strength_mean":0 "id":2,"strength_mean":1.25 "id":3,"strength_mean":2.5 "id":4,"strength_mean":1.25 "id":5,"strength_mean":1.25 ' ||
	fail "given per pair: $(rm-strength -q --given uf1.jsonl)"

# The layout options reach rm-filter, rm-eval and rm-strength too: with
# overall_score Apple beats Banana (a tie by fine-grained_score), so the
# flipped pair 1 gets target 0, not 0.5.
echo '{"id":1,"strength_mean":-1}' > st1.jsonl
rm-filter -q -s st1.jsonl --flip-lowest 1 uf1.jsonl | grep -qF '"pair_labels":[{"pair_index":1,"target":0.5}]' ||
	fail "flipped tie"
rm-filter -q -s st1.jsonl --flip-lowest 1 --score-key overall_score uf1.jsonl |
	grep -qF '"pair_labels":[{"pair_index":1,"target":0}]' || fail "rm-filter --score-key"
sed 's/"preferences"/"prefs"/' codes1.jsonl > prefs.jsonl
echo '{"id":0,"strength_mean":-1}' > st0.jsonl
rm-filter -q -s st0.jsonl --flip-lowest 1 prefs.jsonl > /dev/null 2>&1 && fail "custom codes key undetected"
rm-filter -q -s st0.jsonl --flip-lowest 1 --shape codes --codes-key prefs prefs.jsonl |
	grep -qF '"pair_labels":[{"pair_index":0,"target":0}]' || fail "rm-filter --codes-key"
rm-filter -q -s st0.jsonl --a-key x prefs.jsonl > /dev/null 2>&1; [ $? = 2 ] || fail "rm-filter layout usage"

echo ok
