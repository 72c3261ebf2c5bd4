/*
 * tokspec.h - finding and loading a tokenizer named on the command line.
 *
 * A spec is one of:
 *   gpt2          GPT-2's encoder.json + vocab.bpe, looked up in order in
 *                 $RMKIT_GPT2_DIR, DIR/../.cache/gpt2 and
 *                 DIR/../share/rmkit/gpt2 where DIR holds the running program
 *                 (a build tree and an installed tree respectively)
 *   bytes         the file-less byte tokenizer (ids 0..255, EOS 256)
 *   PATH          a Hugging Face tokenizer.json
 *   ENC,VOCAB     an encoder.json and a vocab.bpe
 * The loaded tokenizer is owned by the caller (rm_bpe_free).
 */
#ifndef RM_TOKSPEC_H
#define RM_TOKSPEC_H

#include "text/bpe.h"

int rm_tokspec_load(struct rm_bpe **out, const char *spec,
		    struct rm_error *err);

#endif
