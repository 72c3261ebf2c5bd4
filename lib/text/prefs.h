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
 *
 * Layouts of k rated, ranked or compared responses (kind RM_PREF_RATED),
 * expanded into pairs by a rule (opt->pair_rule):
 *   ultrafeedback "instruction", "completions" [{"response", the score}];
 *                 the score is "fine-grained_score" by default, or the
 *                 field opt->score_key names (a dotted path inside each
 *                 completion: "overall_score",
 *                 "annotations.helpfulness.Rating"); a number or a string
 *                 holding one; "N/A" or null leaves the completion out.
 *   nectar        "prompt" (an HH transcript "\n\nHuman: ...\n\nAssistant:",
 *                 split into turns and rendered through the template),
 *                 "answers" [{"answer", "rank"}], rank 1 the best.
 *   codes         "question", "answers" [k strings], "preferences" [one
 *                 code per pair in the order (1,2), (1,3) ... (1,k), (2,3)
 *                 ... (k-1,k)]: 1 the first of the pair better, 2 the
 *                 second, 0 a tie (or the label values given).
 *   scored        "prompt", "responses" [k], "scores" [k numbers, higher
 *                 better] (or opt->rank_key: ranks, lower better).
 * Each unordered pair {i < j} of the k responses has the pair index
 * i*k - i*(i+1)/2 + j - i - 1 (its place in the list of all pairs), the
 * same whichever rule picked it; the derived pair's id is
 * RM_PREF_PAIR_STRIDE * source id + pair index.  Equal scores (or a tie
 * code) make a tie (target 0.5).
 *
 * A plain-text prompt of these layouts is rendered as a one-turn
 * conversation through the template (opt->concat: prompt and response
 * joined as they are, as TRL does).
 *
 * Conversations (lists of messages) go through a chat template
 * (template.h): the prompt is the history rendered with the generation
 * prompt, a response what the history plus the assistant's message adds to
 * it.
 * Role names accepted: system; user, human; assistant, gpt, bot, model.
 * With merge_turns, consecutive messages of one role (two Human turns in a
 * row of an HH transcript, say) are joined into one, their contents
 * separated by a blank line, before the template sees them: templates that
 * require alternating roles (gemma, mistral) refuse them otherwise.
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
	RM_SHAPE_ULTRAFEEDBACK,
	RM_SHAPE_NECTAR,
	RM_SHAPE_CODES,
	RM_SHAPE_SCORED,
};

/* How rated responses become pairs. */
enum rm_pair_rule {
	RM_PAIRS_ALL = 0,       /* every pair of responses */
	RM_PAIRS_BEST,          /* the best against each other one */
	RM_PAIRS_RANDOM,        /* the best against one other, drawn (seeded) */
};

/* Derived pair ids: stride * source id + pair index (k <= 64: < 2016). */
#define RM_PREF_PAIR_STRIDE 10000u

#define RM_PREF_MAX_KEYS 16

enum rm_pref_kind { RM_PREF_PAIR = 0, RM_PREF_GROUP, RM_PREF_SINGLE,
		    RM_PREF_RATED };

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
	int merge_turns;        /* join consecutive messages of one role */
	/* Rated layouts (NULL: the layout's own) */
	const char *responses_key;      /* the list of responses */
	const char *score_key;          /* score (higher better) */
	const char *rank_key;           /* or rank (lower better) */
	const char *codes_key;          /* pairwise codes */
	enum rm_pair_rule pair_rule;
	unsigned long long pair_seed;   /* RM_PAIRS_RANDOM: with the source id */
	int content_spans;      /* record where contents are (rm_pref spans) */
};

/*
 * One derived pair of a rated record: resp[a] is chosen, resp[b] rejected
 * (the better first; a tie keeps the lower index first).  A record that
 * rm-filter wrote carries "pair_labels" [{"pair_index", "target",
 * "margin", "drop"}], read into has_target ... drop.
 */
struct rm_pref_pair {
	unsigned a, b, index;
	int tie;
	int has_graded;
	double graded;          /* |score difference| (score layouts) */
	int has_target, has_margin, drop;
	double target, margin;
};

#define RM_PREF_MAX_RESPONSES 64

enum { RM_PREF_SPANS_NONE = 0, RM_PREF_SPANS_SET, RM_PREF_SPANS_UNKNOWN };

struct rm_pref {
	enum rm_pref_kind kind;
	enum rm_pref_shape shape;       /* the shape actually used */
	char *prompt;
	size_t prompt_len;
	size_t n;                       /* responses: pair 2 (chosen, rejected) */
	char *resp[RM_PREF_MAX_RESPONSES];
	size_t resp_len[RM_PREF_MAX_RESPONSES];
	/*
	 * With content_spans: where the messages' contents are in prompt and
	 * in each response (offsets into that string).  spans is
	 * RM_PREF_SPANS_NONE when no template text was added (all of it is
	 * content), RM_PREF_SPANS_SET when the ranges below are filled,
	 * RM_PREF_SPANS_UNKNOWN when a template was used but the ranges are
	 * not known (A-versus-B conversations of several turns).
	 */
	int spans;
	struct rm_tspans prompt_spans;
	struct rm_tspans resp_spans[RM_PREF_MAX_RESPONSES];
	/* Set by the A versus B layouts (labelled = 1), 0 otherwise. */
	int labelled;
	int tie;                /* no winner: target 0.5 */
	double target;          /* 1, or 0.5 for a tie */
	int votes, agree;       /* labels read, and how many for the outcome */
	int has_graded;
	double graded;          /* graded preference for chosen (>= 0) */
	/* RM_PREF_RATED: the pairs the rule chose, in pair-index order */
	struct rm_pref_pair *pairs;
	size_t npairs;
	size_t nrated;          /* responses with a score (others left out) */
	uint64_t source_id;
};

/* Parse "hh", "standard", ... (and "auto"); -1 when unknown. */
int rm_pref_shape_parse(const char *s);
const char *rm_pref_shape_name(enum rm_pref_shape s);

int rm_pref_parse(const struct rm_json_record *rec,
		  const struct rm_pref_options *opt, struct rm_pref *p,
		  struct rm_error *err);
void rm_pref_release(struct rm_pref *p);

/* The pair index of responses i < j of k (see above). */
unsigned rm_pref_pair_index(unsigned i, unsigned j, unsigned k);
/* Parse "all", "best", "random"; -1 when unknown. */
int rm_pair_rule_parse(const char *s);
const char *rm_pair_rule_name(enum rm_pair_rule r);

#endif
