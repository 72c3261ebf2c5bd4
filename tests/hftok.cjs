// hftok.cjs - the reference tokenizers and chat templates for parity tests
// and benchmarks: @huggingface/tokenizers and @huggingface/jinja (npm)
// loading a model directory's tokenizer.json, tokenizer_config.json.
// Reads stdin, writes stdout.
//
//   node tests/hftok.cjs texts HH LF      one JSON string per line: every
//                                         chosen and rejected text of the
//                                         HH-RLHF JSONL file HH, then every
//                                         string of the LLaMA-Factory JSON
//                                         array LF (conversation values,
//                                         chosen, rejected)
//   node tests/hftok.cjs convs HH LF      one conversation per line
//                                         ({"messages": [...]}): each
//                                         LLaMA-Factory record with its chosen
//                                         answer, with a system prompt every
//                                         third record, then HH transcripts
//                                         split into turns
//   node tests/hftok.cjs convs HH LF RAW  the same, and to RAW a line for
//                                         each: "-" for a LLaMA-Factory one,
//                                         the HH transcript as a record
//                                         {"chosen": T, "rejected": T} else
//   node tests/hftok.cjs convs HH LF RAW MERGED MRAW
//                                         and to MERGED the HH transcripts
//                                         (every chosen and rejected one of
//                                         HH) with two turns of one
//                                         role in a row, each run joined by
//                                         a blank line as --merge-turns
//                                         does (shape hh), to MRAW
//                                         those transcripts as records
//   node tests/hftok.cjs tmpl DIR CONVS OUT
//                                         OUT.render and OUT.want of "all"
//                                         only (no texts encoded)
//   node tests/hftok.cjs encode DIR [MODE]  JSON strings -> JSON arrays of
//                                         ids, encode(text,
//                                         {add_special_tokens: false});
//                                         MODE "text": special-token text
//                                         encoded as text (the special tokens
//                                         removed from the added-token
//                                         splitter)
//   node tests/hftok.cjs render DIR       conversations -> the rendered
//                                         text (JSON string) of DIR's own
//                                         chat_template, add_generation_prompt
//                                         false, bos_token and eos_token from
//                                         the config
//   node tests/hftok.cjs bench DIR PASSES JSON strings -> "bytes=N tokens=N
//                                         best_s=S mbps=M" for the fastest of
//                                         PASSES encode passes (one warm-up)
//   node tests/hftok.cjs all DIR TEXTS EDGE CONVS OUT
//                                         one load for a parity test:
//                                         OUT.split (encode TEXTS), OUT.text
//                                         (EDGE, specials as text), and when
//                                         DIR has a chat_template OUT.render
//                                         (CONVS rendered) and OUT.want (those
//                                         renders encoded)
//   node tests/hftok.cjs decode DIR       JSON arrays of ids -> decode(ids),
//                                         NUL-terminated
//   node tests/hftok.cjs guard DIR        conversations -> the ids of their
//                                         rendering with special-token text
//                                         in the contents as text, the
//                                         template's own split out
//   node tests/hftok.cjs post DIR         "PRE SUF": the ids the tokenizer
//                                         adds around "x" with special tokens
//
// The packages are looked for in $RM_NODE_MODULES, else .cache/npm/node_modules
// beside this directory's parent (where `make deps` puts them).
'use strict';
const fs = require('fs');
const path = require('path');

const modules = process.env.RM_NODE_MODULES ||
	path.join(__dirname, '..', '.cache', 'npm', 'node_modules');

function lines() {
	const s = fs.readFileSync(0, 'utf8');
	const out = s.split('\n');
	if (out.length && out[out.length - 1] === '') out.pop();
	return out;
}

function load(dir) {
	const { Tokenizer } = require(path.join(modules, '@huggingface', 'tokenizers'));
	const tj = JSON.parse(fs.readFileSync(path.join(dir, 'tokenizer.json'), 'utf8'));
	const cf = path.join(dir, 'tokenizer_config.json');
	const tc = fs.existsSync(cf) ? JSON.parse(fs.readFileSync(cf, 'utf8')) : {};
	return { tok: new Tokenizer(tj, tc), tj, tc };
}

// Special tokens as text: the raw-text splitter rebuilt without them.
function textMode(tok) {
	const Splitter = tok.splitter_unnormalized.constructor;
	tok.splitter_unnormalized = new Splitter(tok.added_tokens
		.filter((t) => !t.special && !(t.normalized && tok.normalizer))
		.map((t) => t.content));
	for (const t of tok.added_tokens)
		if (t.special) tok.added_tokens_map.delete(t.content);
}

function tokText(t) {
	return t == null ? '' : typeof t === 'string' ? t : t.content;
}

// The LLaMA-Factory records and the HH records.
function readData(hh, lf) {
	const hhRecs = fs.readFileSync(hh, 'utf8').split('\n').filter((l) => l)
		.map((l) => JSON.parse(l));
	const lfRecs = JSON.parse(fs.readFileSync(lf, 'utf8'));
	return { hhRecs, lfRecs };
}

const role = { human: 'user', gpt: 'assistant', system: 'system',
	user: 'user', assistant: 'assistant' };

// "\n\nHuman: a\n\nAssistant: b..." -> messages
function hhTurns(t) {
	const parts = t.split(/\n\n(Human|Assistant): /);
	const msgs = [];
	for (let i = 1; i + 1 < parts.length; i += 2)
		msgs.push({ role: parts[i] === 'Human' ? 'user' : 'assistant',
			content: parts[i + 1] });
	return msgs;
}

// The same as rm-tokenize splits it (shape hh): the markers without the
// space, spaces after a marker and spaces and newlines before the next
// one dropped, as a turn's own edges (what --merge-turns then joins)
function hhTurnsRm(t) {
	const parts = t.split(/\n\n(Human|Assistant):/);
	const msgs = [];
	for (let i = 1; i + 1 < parts.length; i += 2)
		msgs.push({ role: parts[i] === 'Human' ? 'user' : 'assistant',
			content: parts[i + 1].replace(/^ +/, '').replace(/[ \n]+$/, '') });
	return msgs;
}

const cmd = process.argv[2];
if (cmd === 'texts') {
	const { hhRecs, lfRecs } = readData(process.argv[3], process.argv[4]);
	const out = [];
	for (const r of hhRecs) out.push(JSON.stringify(r.chosen), JSON.stringify(r.rejected));
	for (const r of lfRecs) {
		for (const m of r.conversations) out.push(JSON.stringify(m.value));
		out.push(JSON.stringify(r.chosen.value), JSON.stringify(r.rejected.value));
	}
	fs.writeFileSync(1, out.join('\n') + '\n');
} else if (cmd === 'convs') {
	const { hhRecs, lfRecs } = readData(process.argv[3], process.argv[4]);
	const out = [];
	lfRecs.forEach((r, i) => {
		const msgs = r.conversations.map((m) => ({ role: role[m.from], content: m.value }));
		if (i % 3 === 0 && msgs[0].role !== 'system')
			msgs.unshift({ role: 'system', content: 'You are a helpful assistant.' });
		msgs.push({ role: 'assistant', content: r.chosen.value });
		out.push(JSON.stringify({ messages: msgs }));
	});
	const raw = lfRecs.map(() => '-');
	for (const r of hhRecs.slice(0, 500)) {
		const msgs = hhTurns(r.chosen);
		if (msgs.length >= 2 && msgs[msgs.length - 1].role === 'assistant') {
			out.push(JSON.stringify({ messages: msgs }));
			raw.push(JSON.stringify({ chosen: r.chosen, rejected: r.chosen }));
		}
	}
	fs.writeFileSync(1, out.join('\n') + '\n');
	if (process.argv[5])
		fs.writeFileSync(process.argv[5], raw.join('\n') + '\n');
	if (process.argv[6]) {
		// --merge-turns joins every run: an HH transcript's response is
		// all it says after its last Human turn
		const merged = [], mraw = [];
		for (const t of hhRecs.flatMap((r) => [r.chosen, r.rejected])) {
			const msgs = hhTurnsRm(t);
			if (msgs.length < 2 || msgs[msgs.length - 1].role !== 'assistant' ||
			    !msgs.some((m, i) => i > 0 && m.role === msgs[i - 1].role))
				continue;
			const h = [];
			for (const m of msgs)
				if (h.length && h[h.length - 1].role === m.role)
					h[h.length - 1].content += '\n\n' + m.content;
				else
					h.push({ role: m.role, content: m.content });
			merged.push(JSON.stringify({ messages: h }));
			mraw.push(JSON.stringify({ chosen: t, rejected: t }));
		}
		fs.writeFileSync(process.argv[6], merged.join('\n') + '\n');
		fs.writeFileSync(process.argv[7], mraw.join('\n') + '\n');
	}
} else if (cmd === 'all' || cmd === 'tmpl') {
	const [dir, texts, edge, convs, out] = cmd === 'all' ? process.argv.slice(3) :
		[process.argv[3], null, null, process.argv[4], process.argv[5]];
	const { tok, tc } = load(dir);
	const rd = (f) => fs.readFileSync(f, 'utf8').split('\n').filter((l) => l !== '');
	const enc = (ts) => ts.map((t) => JSON.stringify(tok.encode(t,
		{ add_special_tokens: false }).ids)).join('\n') + '\n';
	if (texts)
		fs.writeFileSync(out + '.split', enc(rd(texts).map((l) => JSON.parse(l))));
	if (tc.chat_template) {
		const { Template } = require(path.join(modules, '@huggingface', 'jinja'));
		const tpl = new Template(tc.chat_template);
		const r = rd(convs).map((l) => {
			try {
				return tpl.render({ messages: JSON.parse(l).messages,
					add_generation_prompt: false, bos_token: tokText(tc.bos_token),
					eos_token: tokText(tc.eos_token) });
			} catch (e) {
				return null;
			}
		});
		fs.writeFileSync(out + '.render', r.map((t) =>
			t === null ? '{"error":1}' : JSON.stringify(t)).join('\n') + '\n');
		fs.writeFileSync(out + '.want', enc(r.filter((t) => t !== null)));
	}
	if (edge) {
		textMode(tok);
		fs.writeFileSync(out + '.text', enc(rd(edge).map((l) => JSON.parse(l))));
	}
} else if (cmd === 'encode') {
	const { tok } = load(process.argv[3]);
	if (process.argv[4] === 'text') textMode(tok);
	const out = lines().map((l) =>
		JSON.stringify(tok.encode(JSON.parse(l), { add_special_tokens: false }).ids));
	fs.writeFileSync(1, out.join('\n') + (out.length ? '\n' : ''));
} else if (cmd === 'render') {
	const { Template } = require(path.join(modules, '@huggingface', 'jinja'));
	const dir = process.argv[3];
	const tc = JSON.parse(fs.readFileSync(path.join(dir, 'tokenizer_config.json'), 'utf8'));
	const tpl = new Template(tc.chat_template);
	const out = lines().map((l) => {
		const { messages } = JSON.parse(l);
		try {
			return JSON.stringify(tpl.render({ messages, add_generation_prompt: false,
				bos_token: tokText(tc.bos_token), eos_token: tokText(tc.eos_token) }));
		} catch (e) {
			return JSON.stringify({ error: String(e.message || e) });
		}
	});
	fs.writeFileSync(1, out.join('\n') + '\n');
} else if (cmd === 'decode') {
	// JSON arrays of ids -> decode(ids) (no clean-up of spaces before
	// punctuation, which transformers does on request), NUL-terminated
	const { tok } = load(process.argv[3]);
	const out = lines().map((l) => {
		const ids = JSON.parse(l);
		return (ids.length ? tok.decode(ids, { skip_special_tokens: false, clean_up_tokenization_spaces: false }) : '') + '\0';
	});
	fs.writeFileSync(1, out.join(''));
} else if (cmd === 'guard') {
	// The ids of each conversation's rendering (DIR's chat_template) with
	// the template's own special tokens split out and special-token text
	// inside message contents encoded as text, as Hugging Face encodes the
	// sections between added tokens.  Where the template's specials are is
	// found by rendering the same conversation with each content replaced by
	// as many 'x's (contents here are not trimmed or inspected by the
	// templates).
	const { Template } = require(path.join(modules, '@huggingface', 'jinja'));
	const dir = process.argv[3];
	const { tok, tc } = load(dir);
	const tpl = new Template(tc.chat_template);
	const specials = tok.added_tokens.filter((t) => t.special).map((t) => t.content)
		.sort((a, b) => b.length - a.length);
	const idOf = new Map(tok.added_tokens.map((t) => [t.content, t.id]));
	const ctx = (messages) => ({ messages, add_generation_prompt: false,
		bos_token: tokText(tc.bos_token), eos_token: tokText(tc.eos_token) });
	textMode(tok);
	const out = lines().map((l) => {
		const { messages } = JSON.parse(l);
		const real = tpl.render(ctx(messages));
		const mask = tpl.render(ctx(messages.map((m) =>
			({ role: m.role, content: 'x'.repeat(m.content.length) }))));
		if (mask.length !== real.length) throw new Error('template changed a content: ' + l);
		const ids = [];
		let sec = 0;
		for (let i = 0; i < mask.length;) {
			const sp = specials.find((t) => mask.startsWith(t, i));
			if (!sp) { i++; continue; }
			if (i > sec) ids.push(...tok.encode(real.slice(sec, i), { add_special_tokens: false }).ids);
			ids.push(idOf.get(sp));
			i += sp.length;
			sec = i;
		}
		if (sec < real.length) ids.push(...tok.encode(real.slice(sec), { add_special_tokens: false }).ids);
		return JSON.stringify(ids);
	});
	fs.writeFileSync(1, out.join('\n') + '\n');
} else if (cmd === 'bench') {
	const { tok } = load(process.argv[3]);
	const passes = Number(process.argv[4] || 3);
	const texts = lines().map((l) => JSON.parse(l));
	const bytes = texts.reduce((a, t) => a + Buffer.byteLength(t), 0);
	let best = Infinity, tokens = 0;
	for (let p = 0; p <= passes; p++) {
		const t0 = process.hrtime.bigint();
		let n = 0;
		for (const t of texts) n += tok.encode(t, { add_special_tokens: false }).ids.length;
		const s = Number(process.hrtime.bigint() - t0) / 1e9;
		if (p > 0 && s < best) best = s;
		tokens = n;
	}
	console.log(`bytes=${bytes} tokens=${tokens} best_s=${best.toFixed(4)} mbps=${(bytes / best / 1e6).toFixed(2)}`);
} else if (cmd === 'post') {
	const { tok } = load(process.argv[3]);
	const plain = tok.encode('x', { add_special_tokens: false }).ids;
	const full = tok.encode('x', { add_special_tokens: true }).ids;
	const at = full.indexOf(plain[0]);
	console.log(JSON.stringify(full.slice(0, at)) + ' ' + JSON.stringify(full.slice(at + plain.length)));
} else {
	console.error('usage: hftok.cjs texts|convs|encode|render|bench|post ...');
	process.exit(2);
}
