# ensemble.mk - preference strength for a dataset (paper section 2.2).
#
#   make -f pipelines/ensemble.mk DATA=pairs.jsonl OUT=out [M=10] [BASE=dir] [HOSTS=file]
#
# Tokenizes DATA, trains M reward models that differ only by seed (data order
# and initialisation), has each score every pair it was trained on, and
# measures per-pair strength: OUT/strength.jsonl.  GNU parallel runs the
# members, JOBS at a time, each with THREADS threads; with HOSTS (a GNU
# parallel --sshloginfile) they spread over machines, which need rmkit on
# their PATH and this directory at the same path.  Every output is written
# atomically and re-running resumes where a run stopped.  BASE, a pretrained
# model directory (Hugging Face's layout, or an rmkit checkpoint), starts
# every member from it (rm-train --init; each seed gives the reward head and
# the data order) and tokenizes with its tokenizer.json and chat template
# (rm-tokenize -t); TOKENIZE_FLAGS and TRAIN_FLAGS come after these.

DATA ?= data.jsonl
OUT ?= out
M ?= 10
NPROC := $(shell nproc 2>/dev/null || echo 1)
JOBS ?= $(NPROC)
THREADS ?= $(shell t=$$(( $(NPROC) / $(JOBS) )); [ $$t -ge 1 ] && echo $$t || echo 1)
TOKENIZE_FLAGS ?= -m 256
LAYOUT_FLAGS ?=
TRAIN_FLAGS ?=
HOSTS ?=
BASE ?=
BASE_TOKENIZE = $(if $(BASE),-t $(abspath $(BASE)))
BASE_TRAIN = $(if $(BASE),--init $(abspath $(BASE)))
RMBIN ?= $(abspath $(dir $(lastword $(MAKEFILE_LIST)))/../bin)
PIPE ?= $(abspath $(dir $(lastword $(MAKEFILE_LIST))))
export PATH := $(RMBIN):$(PATH)

PARALLEL = parallel --will-cite --halt now,fail=1 -j $(JOBS) \
	$(if $(HOSTS),--sshloginfile $(HOSTS) --workdir $(CURDIR))

ensemble: $(OUT)/strength.jsonl

$(OUT)/pairs.rmt: $(DATA)
	@mkdir -p $(OUT)
	rm-tokenize $(BASE_TOKENIZE) $(TOKENIZE_FLAGS) $(LAYOUT_FLAGS) -o $@ $<

# One stamp for the whole ensemble: member.sh skips what is already done.
$(OUT)/votes/.done: $(OUT)/pairs.rmt
	$(PARALLEL) sh $(PIPE)/member.sh {} $(OUT) $(OUT)/pairs.rmt \
		-j $(THREADS) $(BASE_TRAIN) $(TRAIN_FLAGS) ::: $$(seq 1 $(M))
	touch $@

$(OUT)/strength.jsonl: $(OUT)/votes/.done
	rm-strength -o $@ --groups 20 --tsv --groups-out $(OUT)/strength-groups.tsv \
		$(foreach i,$(shell seq 1 $(M)),$(OUT)/votes/$(i).rmt) 2>$(OUT)/strength-summary.txt
	@cat $(OUT)/strength-summary.txt >&2

.PHONY: ensemble
.DELETE_ON_ERROR:
