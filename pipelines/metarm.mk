# metarm.mk - iterative MetaRM (paper section 3.2), one round per sample file.
#
#   make -f pipelines/metarm.mk BASE=rm PAIRS=train.rmt TEST=test.rmt \
#        SAMPLES="round1.jsonl round2.jsonl ..." MOUT=metarm
#
# Round r starts from round r-1's reward model (round 1 from BASE) and runs
# rm-metastep on the original pairs PAIRS and the groups of responses that
# round's policy sampled (SAMPLES word r: JSONL {"prompt", "responses"}; the
# policy and its sampling live outside rmkit).  Each model, BASE included, is
# then scored on its round's samples (the spread of reward differences
# between responses to the same prompt, paper Fig. 16) and on TEST (held-out
# accuracy), and MOUT/summary.json gathers the figures.

BASE ?= rm
PAIRS ?= pairs.rmt
TEST ?= test.rmt
SAMPLES ?= samples.jsonl
MOUT ?= metarm
THREADS ?= $(shell nproc 2>/dev/null || echo 1)
TOKENIZE_FLAGS ?= -m 256
META_FLAGS ?=
PIPE := $(abspath $(dir $(lastword $(MAKEFILE_LIST))))
RMBIN ?= $(abspath $(PIPE)/../bin)
export PATH := $(RMBIN):$(PATH)

NR := $(words $(SAMPLES))
ROUNDS := $(shell seq 1 $(NR))

metarm: $(MOUT)/summary.json

$(MOUT)/base.model:
	@mkdir -p $(MOUT)
	ln -sfn $(abspath $(BASE)) $@

# round r: its samples, its model, and the model it starts from
define round
$(MOUT)/samples-$(1).rmt: $(word $(1),$(SAMPLES))
	@mkdir -p $(MOUT)
	rm-tokenize -q -s group $(TOKENIZE_FLAGS) -o $$@ $$<
$(MOUT)/round-$(1).model/.done: $(MOUT)/samples-$(1).rmt $(PAIRS) \
		$(if $(filter 1,$(1)),$(MOUT)/base.model,$(MOUT)/round-$(shell echo $$(($(1)-1))).model/.done)
	rm -rf $$(@D)
	rm-metastep -q -j $(THREADS) $(META_FLAGS) \
		--init $(if $(filter 1,$(1)),$(MOUT)/base.model,$(MOUT)/round-$(shell echo $$(($(1)-1))).model) \
		--log $(MOUT)/round-$(1).train.jsonl -o $$(@D) $(PAIRS) $$<
	touch $$@
$(MOUT)/round-$(1).groups.jsonl: $(MOUT)/round-$(1).model/.done
	rm-vote -j $(THREADS) --jsonl -o $$@ $(MOUT)/round-$(1).model $(MOUT)/samples-$(1).rmt
$(MOUT)/base-$(1).groups.jsonl: $(MOUT)/samples-$(1).rmt $(MOUT)/base.model
	rm-vote -j $(THREADS) --jsonl -o $$@ $(MOUT)/base.model $$<
$(MOUT)/round-$(1).eval.json: $(MOUT)/round-$(1).model/.done $(TEST)
	rm-vote -j $(THREADS) $(MOUT)/round-$(1).model $(TEST) | rm-eval --json -o $$@
endef
$(foreach r,$(ROUNDS),$(eval $(call round,$(r))))

$(MOUT)/base.eval.json: $(MOUT)/base.model $(TEST)
	rm-vote -j $(THREADS) $(MOUT)/base.model $(TEST) | rm-eval --json -o $@

$(MOUT)/summary.json: $(MOUT)/base.eval.json \
		$(foreach r,$(ROUNDS),$(MOUT)/round-$(r).eval.json $(MOUT)/round-$(r).groups.jsonl $(MOUT)/base-$(r).groups.jsonl)
	python3 $(PIPE)/metarm_summary.py $(MOUT) $(NR) > $@.tmp && mv $@.tmp $@

.PHONY: metarm
.DELETE_ON_ERROR:
