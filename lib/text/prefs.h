/*
 * prefs.h - preference records in their many dataset shapes, rendered to
 * text.
 *
 * A record is one of three kinds: a pair (prompt, chosen, rejected), a group
 * (prompt, k responses, for MetaRM) or a single (prompt, response, for
 * scoring).  Every shape is rendered to a prompt string and one string per
 * response such that prompt + response is the exact text the model reads:
 *
 *   hh            "chosen"/"rejected" are whole HH-RLHF transcripts
 *                 "\n\nHuman: ...\n\nAssistant: ..."; the prompt is the shared
 *                 text up to and including the last shared "\n\nAssistant:".
 *   standard      TRL standard: "chosen", "rejected" strings and optional
 *                 "prompt" string; without a prompt, the longest common
 *                 prefix (cut at a UTF-8 boundary) is the prompt.
 *   conversational TRL conversational: "prompt" (optional), "chosen",
 *                 "rejected" as lists of {"role","content"}.
 *   turns         MOSS / hh-rlhf-strength-cleaned: "chosen", "rejected" as
 *                 lists of utterances alternating human, assistant; the last
 *                 item is the response.
 *   sharegpt      ShareGPT / LLaMA-Factory: "conversations" [{from,value}],
 *                 "chosen" {from,value}, "rejected" {from,value}.
 *   group         "prompt" + "responses" [k strings or messages].
 *   single        "prompt" + "response".
 *
 * Layouts of two responses and a label saying which won (A versus B), read
 * as published; the label orients the pair (chosen = the winner) and its
 * details land in the rm_pref's label fields:
 *   pandalm       "instruction" + "input" (the prompt, joined by a blank
 *                 line), "response1", "response2", "annotator1".."annotatorN"
 *                 each 1 (response1 better), 2 (response2) or 0 (tie); the
 *                 majority decides, a draw between outcomes is a tie.
 *   shp           Stanford SHP: "history", "human_ref_A", "human_ref_B",
 *                 "labels" 1 (A preferred) or 0 (B); "score_A", "score_B"
 *                 give the graded preference ln(score_chosen/score_rejected).
 *   arena         Chatbot Arena: "prompt", "response_a", "response_b" as
 *                 lists of turns (or strings holding such a JSON list),
 *                 "winner_model_a", "winner_model_b", "winner_tie" 0 or 1.
 *   helpsteer2    HelpSteer2-Preference: "prompt", "response_1",
 *                 "response_2", "preference_strength" -3..3 (negative:
 *                 response_1 better; 0 tie); |strength| is the graded
 *                 preference.
 *   ab            any such layout named by options: a_key, b_key,
 *                 label_keys (several: annotators, majority decides) and
 *                 the label values meaning A, B and tie, or label_sign
 *                 (negative A, positive B, 0 tie, |value| graded).
 * A plain-text prompt of these layouts is rendered as a one-turn
 * conversation through the template (opt->concat: prompt and response
 * joined as they are, as TRL does).
 *
 * Conversations (lists of messages) go through a chat template
 * (template.h): the prompt is the history rendered with the generation
 * prompt, a response what the history plus the assistant's message adds to
 * it.
 * Role names accepted: system; user, human; assistant, gpt, bot, model.
 *
 * Ownership: rm_pref_parse fills a caller-owned struct rm_pref whose strings
 * it allocates; rm_pref_release frees them (the struct can be reused).
 */
#ifndef RM_PREFS_H
#define RM_PREFS_H

#include <stddef.h>

#include "stream/jsonl.h"
#include "text/template.h"

enum rm_pref_shape {
	RM_SHAPE_AUTO = 0,
	RM_SHAPE_HH,
	RM_SHAPE_STANDARD,
	RM_SHAPE_CONVERSATIONAL,
	RM_SHAPE_TURNS,
	RM_SHAPE_SHAREGPT,
	RM_SHAPE_GROUP,
	RM_SHAPE_SINGLE,
	RM_SHAPE_AB,
	RM_SHAPE_PANDALM,
	RM_SHAPE_SHP,
	RM_SHAPE_ARENA,
	RM_SHAPE_HELPSTEER2,
};

#define RM_PREF_MAX_KEYS 16

enum rm_pref_kind { RM_PREF_PAIR = 0, RM_PREF_GROUP, RM_PREF_SINGLE };

struct rm_pref_options {
	enum rm_pref_shape shape;       /* RM_SHAPE_AUTO: detect per record */
	struct rm_chat chat;            /* zeroed: hh */
	const char *prompt_key;         /* defaults "prompt", "chosen", ... */
	const char *chosen_key;
	const char *rejected_key;
	/* A versus B layouts (NULL or 0: the layout's own) */
	const char *prompt_keys[RM_PREF_MAX_KEYS]; /* joined by "\n\n" */
	size_t nprompt_keys;
	const char *a_key, *b_key;
	const char *label_keys[RM_PREF_MAX_KEYS];  /* one per annotator */
	size_t nlabel_keys;
	const char *label_a, *label_b, *label_tie; /* JSON text of the values */
	int label_sign;
	int concat;             /* plain-text prompt + response, untemplated */
};

#define RM_PREF_MAX_RESPONSES 64

struct rm_pref {
	enum rm_pref_kind kind;
	enum rm_pref_shape shape;       /* the shape actually used */
	char *prompt;
	size_t prompt_len;
	size_t n;                       /* responses: pair 2 (chosen, rejected) */
	char *resp[RM_PREF_MAX_RESPONSES];
	size_t resp_len[RM_PREF_MAX_RESPONSES];
	/* Set by the A versus B layouts (labelled = 1), 0 otherwise. */
	int labelled;
	int tie;                /* no winner: target 0.5 */
	double target;          /* 1, or 0.5 for a tie */
	int votes, agree;       /* labels read, and how many for the outcome */
	int has_graded;
	double graded;          /* graded preference for chosen (>= 0) */
};

/* Parse "hh", "standard", ... (and "auto"); -1 when unknown. */
int rm_pref_shape_parse(const char *s);
const char *rm_pref_shape_name(enum rm_pref_shape s);

int rm_pref_parse(const struct rm_json_record *rec,
		  const struct rm_pref_options *opt, struct rm_pref *p,
		  struct rm_error *err);
void rm_pref_release(struct rm_pref *p);

#endif
