# rmkit - reward modeling from the Unix shell.
#
#   make            build lib/librm.a and bin/rm-*
#   make check      install missing dependencies, build, run every test
#   make check-asan the same suite built with ASan and UBSan
#   make bench      benchmarks with figures and ratios against references
#   make demo       the main job on built-in synthetic data (DATA=file for yours,
#                   BASE=dir to start from a pretrained model)
#   make install PREFIX=/usr/local

PREFIX ?= /usr/local
BINDIR ?= $(PREFIX)/bin
MANDIR ?= $(PREFIX)/share/man
CC ?= cc
CFLAGS ?= -O2 -g
# Warnings and the language level survive a user's CFLAGS.
RM_CFLAGS = -std=c11 -D_GNU_SOURCE -Wall -Wextra -Wno-psabi -pthread \
	-I/usr/include/x86_64-linux-gnu/openblas-pthread -Ilib
LDLIBS = -lopenblas -lcjson -lzstd -lpcre2-8 -lutf8proc -lm -lpthread
# MPI (data-parallel rm-train, lib/train/dist.c): on when mpicc is found,
# make MPI=0 forces it off.  Only dist.c sees mpi.h; programs that do not
# train drop libmpi at link time (--as-needed).
MPI ?= $(shell command -v mpicc >/dev/null 2>&1 && echo 1 || echo 0)
# what deps.sh hears: only an MPI=0 the user gave stops it installing OpenMPI
DEPS_MPI = $(if $(filter command line environment,$(origin MPI)),$(MPI))
ifeq ($(MPI),1)
MPI_CFLAGS := $(shell mpicc --showme:compile 2>/dev/null || mpicc -compile-info 2>/dev/null | \
	tr ' ' '\n' | grep '^-I' | tr '\n' ' ')
MPI_LIBS := $(shell mpicc --showme:link 2>/dev/null || mpicc -link-info 2>/dev/null | \
	tr ' ' '\n' | grep -E '^-(L|l|Wl)' | tr '\n' ' ')
RM_CFLAGS += -DRM_MPI
LDLIBS += -Wl,--as-needed $(MPI_LIBS) -Wl,--no-as-needed
endif
ALL_CFLAGS = $(RM_CFLAGS) $(CFLAGS) $(SAN)

# lib/ is grouped by layer (lib/README.md); still one archive.
LIB_SRC = $(sort $(wildcard lib/*/*.c))
LIB_HDR = $(sort $(wildcard lib/*/*.h))
LIB_OBJ = $(LIB_SRC:.c=.o)
PROGS = $(patsubst src/%.c,bin/%,$(sort $(wildcard src/rm-*.c)))
TEST_SRC = $(sort $(wildcard tests/t-*.c))
TESTS = $(patsubst tests/%.c,tests/bin/%,$(TEST_SRC))
BENCH_SRC = $(sort $(wildcard tests/bench-*.c))
BENCHES = $(patsubst tests/%.c,tests/bin/%,$(BENCH_SRC))
# tests/tool-*.c: small drivers that shell tests call (built, not run).
TOOL_SRC = $(sort $(wildcard tests/tool-*.c))
TOOLS = $(patsubst tests/%.c,tests/bin/%,$(TOOL_SRC))
MAN = $(sort $(wildcard man/*.[157]))

all: $(PROGS) $(TESTS) $(BENCHES) $(TOOLS)

# Rebuild everything when the compiler or flags change (plain vs sanitizer).
.build-flags: FORCE
	@f='$(CC) $(ALL_CFLAGS) $(LDFLAGS)'; \
	 if [ ! -f $@ ] || [ "$$(cat $@)" != "$$f" ]; then echo "$$f" > $@; fi
FORCE:

lib/%.o: lib/%.c $(LIB_HDR) .build-flags
	$(CC) $(ALL_CFLAGS) -c -o $@ $<

lib/train/dist.o: lib/train/dist.c $(LIB_HDR) .build-flags
	$(CC) $(ALL_CFLAGS) $(MPI_CFLAGS) -c -o $@ $<

lib/librm.a: $(LIB_OBJ)
	rm -f $@
	ar rcs $@ $(LIB_OBJ)

bin/%: src/%.c lib/librm.a $(LIB_HDR) .build-flags
	@mkdir -p bin
	$(CC) $(ALL_CFLAGS) $(LDFLAGS) -o $@ $< lib/librm.a $(LDLIBS)

tests/bin/%: tests/%.c lib/librm.a $(LIB_HDR) .build-flags
	@mkdir -p tests/bin
	$(CC) $(ALL_CFLAGS) $(LDFLAGS) -o $@ $< lib/librm.a $(LDLIBS)

deps:
	@RM_MPI=$(DEPS_MPI) sh pipelines/deps.sh

# lib/'s layer rule (lib/README.md), from the #include lines.
check-layers:
	@sh tests/check-layers.sh

check: deps all
	@sh tests/run.sh

check-asan: deps
	$(MAKE) all SAN='-O1 -fno-omit-frame-pointer -fsanitize=address,undefined -fno-sanitize-recover=undefined'
	@ASAN_OPTIONS=detect_leaks=1:abort_on_error=0 UBSAN_OPTIONS=print_stacktrace=1:halt_on_error=1 \
	  RM_SANITIZED=1 sh tests/run.sh

bench: deps all
	@RM_MPI=$(DEPS_MPI) RM_DEPS_EXTRA=python3-torch sh pipelines/deps.sh
	@sh tests/bench.sh

demo: deps all
	@$(MAKE) --no-print-directory -f pipelines/demo.mk $(if $(DATA),DATA=$(DATA))

install: all
	mkdir -p $(DESTDIR)$(BINDIR) $(DESTDIR)$(MANDIR)/man1 $(DESTDIR)$(MANDIR)/man5 $(DESTDIR)$(MANDIR)/man7
	cp $(PROGS) $(DESTDIR)$(BINDIR)/
	for m in $(MAN); do s=$${m##*.}; cp $$m $(DESTDIR)$(MANDIR)/man$$s/; done
	if [ -f .cache/gpt2/encoder.json ]; then \
		mkdir -p $(DESTDIR)$(PREFIX)/share/rmkit/gpt2 && \
		cp .cache/gpt2/encoder.json .cache/gpt2/vocab.bpe $(DESTDIR)$(PREFIX)/share/rmkit/gpt2/; fi

clean:
	rm -f lib/*/*.o lib/librm.a bin/rm-* tests/bin/* .build-flags

.PHONY: all deps check-layers check check-asan bench demo install clean FORCE
.DELETE_ON_ERROR:

# make fuzz: every libFuzzer harness for FUZZ_SECONDS (default 30) each.
fuzz: ; @sh tests/fuzz/run.sh
tests/bin/tool-fuzzreplay: tests/fuzz/*.c tests/fuzz/*.h
.PHONY: fuzz
