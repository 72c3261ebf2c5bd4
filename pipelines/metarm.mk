# metarm.mk - iterative MetaRM (paper section 3.2), one round per sample file.
#
#   make -f pipelines/metarm.mk START=rm PAIRS=train.rmt TEST=test.rmt \
#        SAMPLES="round1.jsonl round2.jsonl ..." MOUT=metarm [BASE=dir]
#
# Round r starts from round r-1's reward model (round 1 from START) and runs
# rm-metastep on the original pairs PAIRS and the groups of responses that
# round's policy sampled (SAMPLES word r: JSONL {"prompt", "responses"}; the
# policy and its sampling live outside rmkit).  Each model, START included, is
# then scored on its round's samples (the spread of reward differences
# between responses to the same prompt, paper Fig. 16) and on TEST (held-out
# accuracy), and MOUT/summary.json gathers the figures.  The samples are
# tokenized as PAIRS and TEST were: with TOKENIZE_FLAGS, and with the
# tokenizer of BASE (the pretrained directory START was trained from) when
# given.  (BASE used to name the starting reward model: that is START now.)

START ?= rm
BASE ?=
BASE_TOKENIZE = $(if $(BASE),-t $(abspath $(BASE)))
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
	ln -sfn $(abspath $(START)) $@

# Two chains of rounds from START: "round" trains with MetaRM, "vanilla" the
# same way with the meta step off (--meta-lr 0), so that the figures compare
# MetaRM with ordinary training on the same data, steps and schedule.
prev = $(if $(filter 1,$(2)),$(MOUT)/base.model,$(MOUT)/$(1)-$(shell echo $$(($(2)-1))).model)
define chain
$(MOUT)/$(1)-$(2).model/.done: $(MOUT)/samples-$(2).rmt $(PAIRS) \
		$(if $(filter 1,$(2)),$(MOUT)/base.model,$(MOUT)/$(1)-$(shell echo $$(($(2)-1))).model/.done)
	rm -rf $$(@D)
	rm-metastep -q -j $(THREADS) $(META_FLAGS) $(3) --init $(call prev,$(1),$(2)) \
		--log $(MOUT)/$(1)-$(2).train.jsonl -o $$(@D) $(PAIRS) $$<
	touch $$@
$(MOUT)/$(1)-$(2).groups.jsonl: $(MOUT)/$(1)-$(2).model/.done
	rm-vote -j $(THREADS) --jsonl -o $$@ $(MOUT)/$(1)-$(2).model $(MOUT)/samples-$(2).rmt
$(MOUT)/$(1)-$(2).eval.json: $(MOUT)/$(1)-$(2).model/.done $(TEST)
	rm-vote -j $(THREADS) $(MOUT)/$(1)-$(2).model $(TEST) | rm-eval --json -o $$@
endef
define round
$(MOUT)/samples-$(1).rmt: $(word $(1),$(SAMPLES))
	@mkdir -p $(MOUT)
	rm-tokenize -q -s group $(BASE_TOKENIZE) $(TOKENIZE_FLAGS) -o $$@ $$<
$(MOUT)/base-$(1).groups.jsonl: $(MOUT)/samples-$(1).rmt $(MOUT)/base.model
	rm-vote -j $(THREADS) --jsonl -o $$@ $(MOUT)/base.model $$<
endef
$(foreach r,$(ROUNDS),$(eval $(call round,$(r))))
$(foreach r,$(ROUNDS),$(eval $(call chain,round,$(r),)))
$(foreach r,$(ROUNDS),$(eval $(call chain,vanilla,$(r),--meta-lr 0)))

$(MOUT)/base.eval.json: $(MOUT)/base.model $(TEST)
	rm-vote -j $(THREADS) $(MOUT)/base.model $(TEST) | rm-eval --json -o $@

$(MOUT)/summary.json: $(MOUT)/base.eval.json \
		$(foreach r,$(ROUNDS),$(foreach c,round vanilla,$(MOUT)/$(c)-$(r).eval.json \
			$(MOUT)/$(c)-$(r).groups.jsonl) $(MOUT)/base-$(r).groups.jsonl)
	python3 $(PIPE)/metarm_summary.py $(MOUT) $(NR) > $@.tmp && mv $@.tmp $@

.PHONY: metarm
.DELETE_ON_ERROR:
