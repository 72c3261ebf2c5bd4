# demo.mk - the main job: `make demo` (built-in synthetic data) or
# `make demo DATA=file.jsonl` (yours: JSONL, plain or .zst); BASE=dir starts
# every model from a pretrained Hugging Face base (a Llama-family or GPT-2
# directory) and tokenizes with its tokenizer.json and chat template.
#
# 1. data     rm-synth: train pairs with 20% flipped labels and 20% near-ties,
#             a clean test split, and groups of responses from a shifted
#             distribution (a drifting policy's samples); or DATA (JSON Lines
#             or a JSON array, plain or zstd, any layout rm-tokenize reads)
#             split by prompt by pipelines/split.py, one prompt in 10 held
#             out with all its pairs; or TEST=file, a test set of your own
# 2. ensemble pipelines/ensemble.mk: M reward models (from BASE if given),
#             votes, strength
# 3. experiments pipelines/experiments.mk: a model per strength decile, and
#             baseline / flip / margin / flip+margin / soft+margin / +SimCSE
# 4. metarm   pipelines/metarm.mk: a MetaRM round against the shifted groups
#             (built-in data only: a dataset of yours has no policy samples)
# 5. report   tables (Markdown, JSON) and plots in $(OUT)
#
# Everything lands in OUT (default out/demo); re-running resumes.

OUT ?= out/demo
M ?= 10
N ?= 4000
NTEST ?= 1000
NGROUPS ?= 400
SEED ?= 1
DATA ?=
TEST ?=
BASE ?=
NPROC := $(shell nproc 2>/dev/null || echo 1)
PIPE := $(abspath $(dir $(lastword $(MAKEFILE_LIST))))
RMBIN ?= $(abspath $(PIPE)/../bin)
export PATH := $(RMBIN):$(PATH)

ifeq ($(BASE),)
# A small GPT-2 reward model that learns the synthetic task in seconds.
MODEL_FLAGS ?= --layers 2 --heads 2 --width 64 --context 256
TRAIN_FLAGS ?= $(MODEL_FLAGS) --epochs 2 --lr 1e-3 --warmup 20 --batch-size 32
TOKENIZE_FLAGS ?= -m 256
# MetaRM for this small model: the paper's 5e-6 rates suit a 7B model
# fine-tuned from SFT; here the rates match the training above.
META_FLAGS ?= --lr 1e-3 --meta-lr 1e-2
else
# From a pretrained base (ensemble.mk and experiments.mk add --init BASE and
# -t BASE themselves): one epoch at batch 32 as the paper trains, rm-train's
# fine-tuning rate (1e-5 with --init), rm-metastep's own rates.
TRAIN_FLAGS ?= --epochs 1 --warmup 20 --batch-size 32
TOKENIZE_FLAGS ?= -m 512
META_FLAGS ?=
endif
# A dataset whose layout is not detected by its keys: rm-tokenize's layout
# options, e.g. LAYOUT_FLAGS='--shape codes --codes-key prefs
# --label-values A,B,same'; every tool (and the split) reads it with them.
LAYOUT_FLAGS ?=
# The base's tokenizer and template, for the steps run here.
BASE_TOKENIZE = $(if $(BASE),-t $(abspath $(BASE)))

SUB = $(MAKE) --no-print-directory OUT=$(OUT) BASE=$(BASE) \
	TOKENIZE_FLAGS='$(TOKENIZE_FLAGS)' TRAIN_FLAGS='$(TRAIN_FLAGS)' \
	LAYOUT_FLAGS='$(LAYOUT_FLAGS)'

ifeq ($(DATA),)
TRUTH = --truth $(OUT)/train.jsonl
else
TRUTH =
endif

demo: $(OUT)/report.md

ifeq ($(DATA),)
$(OUT)/train.jsonl:
	@mkdir -p $(OUT)
	rm-synth -n $(N) --seed $(SEED) --test $(NTEST) --test-out $(OUT)/test.jsonl \
		--groups $(NGROUPS) --k 5 --groups-out $(OUT)/groups.jsonl -o $@
$(OUT)/test.jsonl $(OUT)/groups.jsonl: $(OUT)/train.jsonl
$(OUT)/split.json: $(OUT)/train.jsonl
	python3 $(PIPE)/split.py --test $(OUT)/test.jsonl --info $@ \
		--method "rm-synth's own test set ($(NTEST) pairs drawn apart from the training pairs)" $<
else
# Read the data once as it is, so that an error names your file, not the
# derived train.jsonl; then split it by prompt (or take TEST as it is).
$(OUT)/train.jsonl: $(DATA) $(TEST)
	@mkdir -p $(OUT)
	rm-tokenize -q $(BASE_TOKENIZE) $(TOKENIZE_FLAGS) $(LAYOUT_FLAGS) $(DATA) > /dev/null
	$(if $(TEST),rm-tokenize -q $(BASE_TOKENIZE) $(TOKENIZE_FLAGS) $(LAYOUT_FLAGS) $(TEST) > /dev/null)
	python3 $(PIPE)/split.py $(if $(TEST),--test $(TEST)) $(LAYOUT_FLAGS) \
		--info $(OUT)/split.json $(DATA) $@ $(OUT)/test.jsonl
$(OUT)/test.jsonl $(OUT)/split.json: $(OUT)/train.jsonl
endif

$(OUT)/strength.jsonl: $(OUT)/train.jsonl
	@echo "== ensemble of $(M) reward models" >&2
	@$(SUB) -f $(PIPE)/ensemble.mk DATA=$(OUT)/train.jsonl M=$(M)

$(OUT)/.experiments: $(OUT)/strength.jsonl $(OUT)/test.jsonl
	@echo "== experiments" >&2
	@$(SUB) -j $(NPROC) -f $(PIPE)/experiments.mk DATA=$(OUT)/train.jsonl \
		TEST=$(OUT)/test.jsonl
	touch $@

ifeq ($(DATA),)
$(OUT)/.metarm: $(OUT)/.experiments $(OUT)/groups.jsonl
	@echo "== MetaRM" >&2
	@$(SUB) -f $(PIPE)/metarm.mk START=$(OUT)/compare/baseline.model \
		PAIRS=$(OUT)/compare/baseline.rmt TEST=$(OUT)/test.rmt \
		SAMPLES=$(OUT)/groups.jsonl MOUT=$(OUT)/metarm META_FLAGS='$(META_FLAGS)'
	touch $@
else
$(OUT)/.metarm: $(OUT)/.experiments
	touch $@
endif

ifeq ($(DATA),)
TITLE ?= rmkit demo: built-in synthetic data (rm-synth, seed $(SEED))$(if $(BASE), from $(notdir $(abspath $(BASE))))
else
TITLE ?= rmkit demo: $(notdir $(DATA))$(if $(BASE), from $(notdir $(abspath $(BASE))))
endif

$(OUT)/report.md: $(OUT)/.experiments $(OUT)/.metarm $(OUT)/split.json
	python3 $(PIPE)/report.py $(OUT) $(TRUTH) --title "$(TITLE)"

.PHONY: demo
.DELETE_ON_ERROR:
