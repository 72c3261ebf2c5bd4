/*
 * tokspec.h - finding and loading a tokenizer named on the command line.
 *
 * A spec is one of:
 *   gpt2          GPT-2's encoder.json + vocab.bpe, looked up in order in
 *                 $RMKIT_GPT2_DIR, DIR/../.cache/gpt2 and
 *                 DIR/../share/rmkit/gpt2 where DIR holds the running program
 *                 (a build tree and an installed tree respectively)
 *   bytes         the file-less byte tokenizer (ids 0..255, EOS 256)
 *   DIR           a model directory: DIR/tokenizer.json, and
 *                 DIR/tokenizer_config.json when present (see rm_tokconfig)
 *   PATH          a Hugging Face tokenizer.json
 *   ENC,VOCAB     an encoder.json and a vocab.bpe
 * The loaded tokenizer is owned by the caller (rm_bpe_free).
 */
#ifndef RM_TOKSPEC_H
#define RM_TOKSPEC_H

#include "text/bpe.h"

int rm_tokspec_load(struct rm_bpe **out, const char *spec,
		    struct rm_error *err);

/*
 * What a model directory's tokenizer_config.json says about using the
 * tokenizer: the BOS and EOS token texts ("bos_token", "eos_token", a string
 * or an {"content": ...} object) and the Jinja "chat_template" (a string, or
 * the one named "default" of a list).  Each is NULL when absent or null.
 * Owned by the struct: rm_tokconfig_release frees them.
 */
struct rm_tokconfig {
	char *path;             /* the file read, NULL when there was none */
	char *bos_token, *eos_token;
	char *chat_template;
};

/*
 * rm_tokspec_open - rm_tokspec_load, and for a DIR spec, its
 * tokenizer_config.json into *cfg (zeroed first; left empty for the other
 * specs or when the file is missing).  A config that is not valid JSON, or
 * whose fields have the wrong type, is an error naming the file.
 */
int rm_tokspec_open(struct rm_bpe **out, struct rm_tokconfig *cfg,
		    const char *spec, struct rm_error *err);
void rm_tokconfig_release(struct rm_tokconfig *cfg);

#endif
