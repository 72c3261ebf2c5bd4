/*
 * t-jsonl.c - JSON records: JSON arrays streamed element by element (the
 * text kept byte for byte but for the blanks between tokens, line numbers,
 * the hash, the per-element size limit, structural errors fatal and
 * element errors recoverable), and the strict-JSON checks both forms share.
 */
#include "check.h"
#include "base/hash.h"
#include "stream/jsonl.h"

#include <string.h>
#include <sys/mman.h>
#include <unistd.h>

static struct rm_in *
memin(const char *text, size_t max)
{
	struct rm_error err = { 0 };
	struct rm_in *in = NULL;
	int fd = memfd_create("a.json", 0);

	if (fd < 0 || write(fd, text, strlen(text)) != (ssize_t)strlen(text) ||
	    lseek(fd, 0, SEEK_SET) != 0 || rm_in_fdopen(&in, fd, "a.json", &err) < 0) {
		CHECK(0, "memfd: %s", err.msg);
		return NULL;
	}
	if (max)
		rm_in_set_max_line(in, max);
	return in;
}

/*
 * Read text to the end; the records' raw texts joined by '|' (a bad record
 * as "!" followed by its message), then "#" and the final error message
 * when reading stopped on one.
 */
static void
run(const char *text, size_t max, const char *want)
{
	struct rm_error err = { 0 };
	struct rm_in *in = memin(text, max);
	struct rm_jsonl *r;
	struct rm_json_record rec;
	char got[4096] = "";
	int rc;

	if (in == NULL)
		return;
	CHECK(rm_jsonl_open(&r, in, &err) == 0, "open: %s", err.msg);
	while ((rc = rm_jsonl_next(r, &rec, &err)) != 0) {
		size_t n = strlen(got);
		if (n)
			strcat(got, "|");
		if (rc < 0 && !rm_jsonl_recoverable(r)) {
			snprintf(got + strlen(got), sizeof got - strlen(got), "#%s",
			    err.msg);
			break;
		}
		if (rc < 0)
			snprintf(got + strlen(got), sizeof got - strlen(got), "!%s",
			    err.msg);
		else {
			CHECK(rec.hash == rm_hash64(rec.raw, rec.raw_len), "hash");
			snprintf(got + strlen(got), sizeof got - strlen(got), "%.*s",
			    (int)rec.raw_len, rec.raw);
		}
	}
	CHECK(strcmp(got, want) == 0, "%s:\n got  %s\n want %s", text, got, want);
	rm_jsonl_free(r);
	rm_in_close(in);
}

int
main(void)
{
	struct rm_error err = { 0 };

	/* Numbers, strings and escapes byte for byte; blanks between tokens
	 * go, blanks inside strings stay. */
	run("\xef\xbb\xbf [\n {\"a\" : 9007199254740993, \"b\":[ 0.30000000000000004 ,\n"
	    "  1e400, -0.0, 1.7976931348623157e308 ],\n \"s\": \"x \\\" ] } y\\n\"},\n"
	    "\t{ }\n]\n \n",
	    0, "{\"a\":9007199254740993,\"b\":[0.30000000000000004,1e400,-0.0,"
	    "1.7976931348623157e308],\"s\":\"x \\\" ] } y\\n\"}|{}");
	run("[]", 0, "");
	run(" [ \n ] \n", 0, "");
	/* Element errors are one bad record; reading goes on. */
	run("[{\"a\":1}, 2, \"s\", {\"a\":[1,]}, {\"c\":\"\x01\"}, {\"b\":2}]", 0,
	    "{\"a\":1}|!a.json:1: element 1: record is not a JSON object"
	    "|!a.json:1: element 2: record is not a JSON object"
	    "|!a.json:1: element 3: invalid JSON"
	    "|!a.json:1: element 4: invalid JSON (control character in a string)"
	    "|{\"b\":2}");
	/* The line an element starts on. */
	run("[\n{\"a\":1},\n\n  {\"a\":\n\"\xff\"}]", 0,
	    "{\"a\":1}|!a.json:4: element 1: invalid UTF-8 at byte 7");
	/* Structure: fatal, located. */
	run("[", 0, "#a.json:1: the JSON array is not closed (']' missing)");
	run("[{\"a\":1}\n", 0,
	    "{\"a\":1}|#a.json:2: the JSON array is not closed (']' missing)");
	run("[{\"a\":1},", 0,
	    "{\"a\":1}|#a.json:1: the JSON array is not closed (']' missing)");
	run("[{\"a\":1},\n]", 0, "{\"a\":1}|#a.json:2: invalid JSON (',' before ']')");
	run("[{\"a\":1}][]", 0, "{\"a\":1}|#a.json:1: invalid JSON (text after the array)");
	run("[{\"a\":1} {\"b\":2}]", 0,
	    "{\"a\":1}|#a.json:1: invalid JSON (',' or ']' expected after an element)");
	run("[,{}]", 0, "#a.json:1: invalid JSON (an element is missing before ',')");
	run("[{\"a\":\"abc", 0,
	    "#a.json:1: element 0 is not complete at the end of the input");
	/* The per-record limit holds for elements as for lines. */
	run("[{\"a\":\"0123456789\"},\n{\"a\":\"01234567890123456789\"}]", 24,
	    "{\"a\":\"0123456789\"}|#a.json:2: element 1 is longer than 24 bytes");
	/* JSON Lines: the same strict checks. */
	run("{\"a\":\"x\ty\"}\n{\"a\":1} x\n{\"a\":2}\n", 0,
	    "!a.json:1: invalid JSON (control character in a string)"
	    "|!a.json:2: invalid JSON (text after the value)|{\"a\":2}");
	/* rm_jsonl_next_line hands out elements too. */
	{
		struct rm_in *in = memin("[{\"a\": 1},\n {\"b\": 2}]", 0);
		struct rm_jsonl *r;
		struct rm_json_line ln;
		CHECK(rm_jsonl_open(&r, in, &err) == 0 && rm_jsonl_is_array(r), "open");
		CHECK(rm_jsonl_next_line(r, &ln, &err) == 1 && ln.index == 0 &&
		    ln.line == 1 && ln.len == 7 && memcmp(ln.raw, "{\"a\":1}", 7) == 0,
		    "line 0");
		CHECK(rm_jsonl_next_line(r, &ln, &err) == 1 && ln.index == 1 &&
		    ln.line == 2 && strcmp(ln.where, "a.json:2: element 1") == 0,
		    "line 1: %s", ln.where);
		CHECK(rm_jsonl_next_line(r, &ln, &err) == 0, "end");
		rm_jsonl_free(r);
		rm_in_close(in);
	}
	return check_done();
}
