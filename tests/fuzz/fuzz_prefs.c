/*
 * fuzz_prefs.c - JSON records (JSONL or a JSON array) through
 * rm_pref_parse in every dataset shape and template, and the raw-text
 * helpers rm-filter and rm-strength use on the same records.
 *
 * Input: byte 0 picks the shape (mod 8, 0 = auto) and the template (bit
 * 3), the rest is the file.  A record must be exactly one JSON value,
 * its rendered strings must hold no NUL (a string cut short), it must
 * hold no newline (an array element loses the blanks between tokens), and a
 * record rm_jraw_splice rewrote must still parse as a JSON object.
 */
#include <stdint.h>

#include <cjson/cJSON.h>

#include "base/buf.h"
#include "fuzz.h"
#include "stream/jsonl.h"
#include "stream/jsonraw.h"
#include "text/prefs.h"

static int
fuzz_prefs(const uint8_t *data, size_t n)
{
	if (n < 1)
		return 0;
	struct rm_pref_options opt = {0};
	opt.shape = (enum rm_pref_shape)(data[0] & 7);
	opt.chat.kind = (enum rm_template)((data[0] >> 3) % RM_TEMPLATE_COUNT);
	struct rm_in *in = fuzz_memin(data + 1, n - 1, "prefs.jsonl");
	if (!in)
		return 0;
	rm_in_set_max_line(in, 1 << 20);
	struct rm_error err = {0};
	struct rm_jsonl *jr;
	int rc = rm_jsonl_open(&jr, in, &err);
	fuzz_check_err(rc, &err, "rm_jsonl_open");
	if (rc < 0) {
		rm_in_close(in);
		return 0;
	}
	struct rm_pref p = {0};
	struct rm_buf out = {0};
	struct rm_json_record rec;
	for (int i = 0; i < 64; i++) {
		rc = rm_jsonl_next(jr, &rec, &err);
		fuzz_check_err(rc, &err, "rm_jsonl_next");
		if (rc == 0 || (rc < 0 && !rm_jsonl_recoverable(jr)))
			break;
		if (rc < 0)
			continue;
		/* the record is the whole line: nothing after the value */
		const char *end = NULL;
		cJSON *whole = cJSON_ParseWithLengthOpts(rec.raw, rec.raw_len, &end, 0);
		while (whole && end < rec.raw + rec.raw_len && strchr(" \t\r\n", *end))
			end++;
		if (!whole || end != rec.raw + rec.raw_len) {
			fprintf(stderr, "fuzz: record '%.*s' is not one JSON value\n",
				(int)rec.raw_len, rec.raw);
			abort();
		}
		cJSON_Delete(whole);
		/* one line of JSON Lines when a tool writes it out: an array
		 * element comes without the blanks between its tokens */
		if (memchr(rec.raw, '\n', rec.raw_len) ||
		    (rm_jsonl_is_array(jr) && (memchr(rec.raw, ' ', rec.raw_len) &&
		    !memchr(rec.raw, '"', rec.raw_len)))) {
			fprintf(stderr, "fuzz: record '%.*s' is not one compact line\n",
				(int)rec.raw_len, rec.raw);
			abort();
		}
		rc = rm_pref_parse(&rec, &opt, &p, &err);
		fuzz_check_err(rc, &err, "rm_pref_parse");
		if (rc >= 0) {
			/* strlen == len: no text silently cut at a NUL */
			if (p.n < 1 || p.n > RM_PREF_MAX_RESPONSES || !p.prompt ||
			    strlen(p.prompt) != p.prompt_len)
				abort();
			for (size_t j = 0; j < p.n; j++)
				if (!p.resp[j] || strlen(p.resp[j]) != p.resp_len[j])
					abort();
		}
		rm_pref_release(&p);
		uint64_t v;
		rc = rm_json_u64(&rec, "id", &v, &err);
		fuzz_check_err(rc, &err, "rm_json_u64");
		rc = rm_json_u64(&rec, "hash", &v, &err);
		fuzz_check_err(rc, &err, "rm_json_u64");
		(void)rm_json_record_id(&rec);
		struct rm_jraw_field f[3] = {
			{ "target", "0.5", 3 },
			{ "chosen", "\"x\"", 3 },
			{ "margin", "-1e-3", 5 },
		};
		out.len = 0;
		if (rm_jraw_splice(&out, rec.raw, rec.raw_len, f, 3) == 0) {
			cJSON *j = cJSON_ParseWithLength(out.p, out.len);
			if (!j || !cJSON_IsObject(j)) {
				fprintf(stderr, "fuzz: splice gave '%.*s'\n",
					(int)out.len, out.p);
				abort();
			}
			cJSON_Delete(j);
		}
	}
	rm_buf_release(&out);
	rm_jsonl_free(jr);
	rm_in_close(in);
	return 0;
}

FUZZ_ENTRY(fuzz_prefs)
