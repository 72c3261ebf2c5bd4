# experiments.mk - the paper's experiments on any dataset (section 2.3-2.5).
#
#   make -f pipelines/experiments.mk DATA=train.jsonl TEST=test.jsonl OUT=out [BASE=dir]
#
# Needs OUT/strength.jsonl (pipelines/ensemble.mk makes it).  Two experiments,
# each model trained from the same seed and evaluated on TEST with rm-eval:
#   buckets   one reward model per strength decile of DATA (Fig. 4)
#   compare   baseline, flip 10%, margin, flip 10% + margin, soft label +
#             margin, and contrastive (SimCSE) training on the cleaned data (Fig. 8);
#             "flip 10%" flips the pairs of the lowest 10% whose strength mean
#             is below 0 (FLIP_FLAGS=--flip-by-rank: all of them, the paper's rule)
# Results: OUT/buckets/*.eval.json, OUT/compare/*.eval.json; pipelines/report
# turns them into tables and plots.  Runs JOBS trainings at once.  BASE, a
# pretrained model directory, starts every model from it (rm-train --init)
# and tokenizes with its tokenizer (rm-tokenize -t), as in ensemble.mk.

DATA ?= data.jsonl
TEST ?= test.jsonl
OUT ?= out
SEED ?= 1000
EVAL_EVERY ?= 25
NPROC := $(shell nproc 2>/dev/null || echo 1)
THREADS ?= 1
TOKENIZE_FLAGS ?= -m 256
# rm-tokenize's layout options (--prompt-key, --codes-key, ...) for a
# dataset whose keys are not detected: given to rm-tokenize, rm-filter and
# rm-eval alike, so that all three read its records the same way.
LAYOUT_FLAGS ?=
TRAIN_FLAGS ?=
BUCKET_TRAIN_FLAGS ?= $(TRAIN_FLAGS)
CONTRASTIVE_FLAGS ?= --contrastive simcse
FLIP_FLAGS ?=
BASE ?=
BASE_TOKENIZE = $(if $(BASE),-t $(abspath $(BASE)))
BASE_TRAIN = $(if $(BASE),--init $(abspath $(BASE)))
METHODS ?= baseline flip10 margin flip10-margin soft-margin simcse
RMBIN ?= $(abspath $(dir $(lastword $(MAKEFILE_LIST)))/../bin)
export PATH := $(RMBIN):$(PATH)

BUCKETS = 0 1 2 3 4 5 6 7 8 9

experiments: buckets compare
buckets: $(foreach b,$(BUCKETS),$(OUT)/buckets/$(b).eval.json)
compare: $(foreach m,$(METHODS),$(OUT)/compare/$(m).eval.json)

# Labelled ties (an A/B layout's) say nothing about accuracy: not tested.
$(OUT)/test.rmt: $(TEST)
	@mkdir -p $(OUT)
	rm-tokenize $(BASE_TOKENIZE) $(TOKENIZE_FLAGS) $(LAYOUT_FLAGS) --ties drop -o $@ $<

# ---- data for each run (rm-filter joins DATA with strength by id and hash)
S = $(OUT)/strength.jsonl

$(OUT)/compare/baseline.jsonl: $(DATA)
	@mkdir -p $(@D)
	cp $< $@.tmp && mv $@.tmp $@
$(OUT)/compare/simcse.jsonl: $(OUT)/compare/soft-margin.jsonl
	cp $< $@.tmp && mv $@.tmp $@
$(OUT)/compare/flip10.jsonl: $(DATA) $(S)
	@mkdir -p $(@D)
	rm-filter -q $(LAYOUT_FLAGS) -s $(S) --flip-lowest 0.1 $(FLIP_FLAGS) --log $(@:.jsonl=.log.jsonl) -o $@ $<
$(OUT)/compare/margin.jsonl: $(DATA) $(S)
	@mkdir -p $(@D)
	rm-filter -q $(LAYOUT_FLAGS) -s $(S) --margin --log $(@:.jsonl=.log.jsonl) -o $@ $<
$(OUT)/compare/flip10-margin.jsonl: $(DATA) $(S)
	@mkdir -p $(@D)
	rm-filter -q $(LAYOUT_FLAGS) -s $(S) --preset flip10-margin $(FLIP_FLAGS) --log $(@:.jsonl=.log.jsonl) -o $@ $<
$(OUT)/compare/soft-margin.jsonl: $(DATA) $(S)
	@mkdir -p $(@D)
	rm-filter -q $(LAYOUT_FLAGS) -s $(S) --preset soft-margin --log $(@:.jsonl=.log.jsonl) -o $@ $<

# Bucket b: the pairs whose strength mean lies in quantiles [b/10, (b+1)/10).
LO.0 = 0.0
LO.1 = 0.1
LO.2 = 0.2
LO.3 = 0.3
LO.4 = 0.4
LO.5 = 0.5
LO.6 = 0.6
LO.7 = 0.7
LO.8 = 0.8
LO.9 = 0.9
HI.0 = 0.1
HI.1 = 0.2
HI.2 = 0.3
HI.3 = 0.4
HI.4 = 0.5
HI.5 = 0.6
HI.6 = 0.7
HI.7 = 0.8
HI.8 = 0.9
HI.9 = 1.0
$(OUT)/buckets/%.jsonl: $(DATA) $(S)
	@mkdir -p $(@D)
	rm-filter -q $(LAYOUT_FLAGS) -s $(S) --drop-below $(LO.$*) --drop-above $(HI.$*) -o $@ $<

# ---- tokenize, train, vote on TEST, evaluate
%.rmt: %.jsonl
	rm-tokenize -q $(BASE_TOKENIZE) $(TOKENIZE_FLAGS) $(LAYOUT_FLAGS) -o $@ $<

$(OUT)/compare/simcse.model/.done: TRAIN_EXTRA = $(CONTRASTIVE_FLAGS)
$(OUT)/buckets/%.model/.done: TRAIN_FLAGS := $(BUCKET_TRAIN_FLAGS)
%.model/.done: %.rmt $(OUT)/test.rmt
	rm -rf $(@D)
	rm-train -q -j $(THREADS) --seed $(SEED) $(BASE_TRAIN) $(TRAIN_FLAGS) $(TRAIN_EXTRA) \
		--eval $(OUT)/test.rmt --eval-every $(EVAL_EVERY) --log $*.train.jsonl -o $(@D) $<
	touch $@

%.votes.rmt: %.model/.done $(OUT)/test.rmt
	rm-vote -j $(THREADS) $(<D) $(OUT)/test.rmt -o $@

# With the test data: labels of any layout, and the length baseline.
%.eval.json: %.votes.rmt $(TEST)
	rm-eval --json $(LAYOUT_FLAGS) --data $(if $(TRUTH),$(TRUTH),$(TEST)) -o $@ $<

.PHONY: experiments buckets compare
.SECONDARY:
.DELETE_ON_ERROR:
