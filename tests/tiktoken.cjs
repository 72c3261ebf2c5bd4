// tiktoken.cjs - the reference tokenizer (js-tiktoken, getEncoding("gpt2"))
// for parity tests and benchmarks.  Reads stdin, writes stdout.
//
//   node tests/tiktoken.cjs texts         preference JSONL ({"chosen", "rejected"}
//                                         per line) -> one JSON string per line:
//                                         chosen, then rejected, per record
//   node tests/tiktoken.cjs encode        JSON strings, one per line -> one JSON
//                                         array of ids per line, as
//                                         encode(text, [], []) (special tokens in
//                                         the text are plain text)
//   node tests/tiktoken.cjs bench PASSES  JSON strings -> timing of the encode loop
//                                         only (one warm-up pass, then the best
//                                         of PASSES), in tool-bpe -B's format
//   node tests/tiktoken.cjs fuzz N SEED   N random texts, one JSON string per
//                                         line, built to stress the pattern
//                                         and long merges (words past 64 bytes)
//   node tests/tiktoken.cjs hfjson ENC VOCAB
//                                         a Hugging Face tokenizer.json (BPE,
//                                         ByteLevel) made of GPT-2's
//                                         encoder.json and vocab.bpe, as
//                                         GPT2TokenizerFast's file is
//   node tests/tiktoken.cjs classes       the class of every code point under
//                                         the pattern's regex classes (\p{L}
//                                         \p{N} \s), one character each (L N S
//                                         O), then the engine's Unicode version
//
// js-tiktoken is looked for in $RM_NODE_MODULES, else .cache/npm/node_modules
// beside this directory's parent (where `make deps` puts it).
'use strict';
const fs = require('fs');
const path = require('path');

const modules = process.env.RM_NODE_MODULES ||
	path.join(__dirname, '..', '.cache', 'npm', 'node_modules');

function encoder() {
	const { getEncoding } = require(path.join(modules, 'js-tiktoken'));
	return getEncoding('gpt2');
}

function lines() {
	const s = fs.readFileSync(0, 'utf8');
	const out = s.split('\n');
	if (out.length && out[out.length - 1] === '') out.pop();
	return out;
}

function writeAll(chunks) {
	fs.writeFileSync(1, chunks.join(''));
}

const mode = process.argv[2];
if (mode === 'texts') {
	const out = [];
	for (const l of lines()) {
		const r = JSON.parse(l);
		out.push(JSON.stringify(r.chosen) + '\n', JSON.stringify(r.rejected) + '\n');
	}
	writeAll(out);
} else if (mode === 'encode') {
	const enc = encoder();
	const out = [];
	for (const l of lines())
		out.push(JSON.stringify(enc.encode(JSON.parse(l), [], [])) + '\n');
	writeAll(out);
} else if (mode === 'bench') {
	const passes = Math.max(1, parseInt(process.argv[3] || '3', 10));
	const enc = encoder();
	const texts = lines().map((l) => JSON.parse(l));
	const te = new TextEncoder();
	let bytes = 0;
	for (const t of texts) bytes += te.encode(t).length;
	let best = Infinity, tokens = 0;
	for (let p = 0; p <= passes; p++) {
		const t0 = process.hrtime.bigint();
		let n = 0;
		for (const t of texts) n += enc.encode(t, [], []).length;
		const dt = Number(process.hrtime.bigint() - t0) / 1e9;
		tokens = n;
		if (p > 0 && dt < best) best = dt; // pass 0 warms up the JIT
	}
	console.log(`texts=${texts.length} bytes=${bytes} tokens=${tokens} ` +
		`best_s=${best.toFixed(4)} mbps=${(bytes / best / 1e6).toFixed(2)}`);
} else if (mode === 'fuzz') {
	const n = parseInt(process.argv[3] || '1000', 10);
	let seed = parseInt(process.argv[4] || '1', 10) >>> 0;
	const rnd = () => { // mulberry32
		seed = (seed + 0x6D2B79F5) >>> 0;
		let t = seed;
		t = Math.imul(t ^ (t >>> 15), t | 1);
		t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
		return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
	};
	const pick = (a) => a[Math.floor(rnd() * a.length)];
	const frags = ['the', 'ing', 'tion', 'ab', 'a', 'b', 'er', 'an', 're', 'on',
		'st', 'ed', 'qu', 'x', 'z', 'ous', 'ment', 'ly', 'pre', 'un', 'E', 'TH'];
	const spaces = [' ', ' ', ' ', '  ', '\t', '\n', '\r\n', '\n\n', '\u00a0',
		'\u3000', '\ufeff', '\u2028', '\u000b'];
	const others = ['!', '.', ',', '?', '-', '"', '(', ')', '#', '\u2019',
		'\u0301', '\u0085', '\u200d', '<|endoftext|>', '\ud83d\ude00', '\u2014'];
	const letters = ['\u00e9', '\u0436', '\u4e2d', '\u03bb', '\u0645', '\u1e9e'];
	const digits = ['0', '1', '7', '42', '\u0663', '\u00bd'];
	const contr = ["'s", "'t", "'re", "'ve", "'m", "'ll", "'d", "'S", "'LL", "'"];
	const out = [];
	for (let i = 0; i < n; i++) {
		const parts = [];
		const k = 1 + Math.floor(rnd() * 30);
		for (let j = 0; j < k; j++) {
			const r = rnd();
			if (r < 0.3) {
				let w = '', len = rnd() < 0.3 ? 65 + rnd() * 160 : 1 + rnd() * 12;
				while (w.length < len) w += pick(frags);
				parts.push(w);
			} else if (r < 0.5) {
				let w = '', m = 1 + Math.floor(rnd() * 4);
				while (m-- > 0) w += pick(spaces);
				parts.push(w);
			} else if (r < 0.65) {
				let w = '', m = 1 + Math.floor(rnd() * (rnd() < 0.2 ? 24 : 4));
				while (m-- > 0) w += pick(others);
				parts.push(w);
			} else if (r < 0.75) {
				let w = '', m = 1 + Math.floor(rnd() * 6);
				while (m-- > 0) w += pick(letters);
				parts.push(w);
			} else if (r < 0.85) {
				let w = '', m = 1 + Math.floor(rnd() * (rnd() < 0.2 ? 60 : 5));
				while (m-- > 0) w += pick(digits);
				parts.push(w);
			} else {
				parts.push(pick(contr));
			}
		}
		out.push(JSON.stringify(parts.join('')) + '\n');
	}
	writeAll(out);
} else if (mode === 'hfjson') {
	const vocab = JSON.parse(fs.readFileSync(process.argv[3], 'utf8'));
	const merges = fs.readFileSync(process.argv[4], 'utf8').split('\n')
		.filter((l, i) => l && !(i === 0 && l.startsWith('#version')));
	const bl = { type: 'ByteLevel', add_prefix_space: false, trim_offsets: true,
		use_regex: true };
	writeAll([JSON.stringify({
		version: '1.0', truncation: null, padding: null,
		added_tokens: [{ id: vocab['<|endoftext|>'], content: '<|endoftext|>',
			single_word: false, lstrip: false, rstrip: false,
			normalized: true, special: true }],
		normalizer: null, pre_tokenizer: bl, post_processor: bl, decoder: bl,
		model: { type: 'BPE', dropout: null, unk_token: null,
			continuing_subword_prefix: '', end_of_word_suffix: '',
			fuse_unk: false, byte_fallback: false, vocab, merges },
	})]);
} else if (mode === 'classes') {
	const L = /^\p{L}$/u, N = /^\p{N}$/u, S = /^\s$/u;
	const out = new Array(0x110000);
	for (let cp = 0; cp < 0x110000; cp++) {
		if (cp >= 0xD800 && cp <= 0xDFFF) { out[cp] = 'O'; continue; }
		const c = String.fromCodePoint(cp);
		out[cp] = L.test(c) ? 'L' : N.test(c) ? 'N' : S.test(c) ? 'S' : 'O';
	}
	writeAll([out.join(''), '\n', process.versions.unicode || '?', '\n']);
} else {
	process.stderr.write('usage: node tiktoken.cjs texts | encode | bench PASSES | fuzz N SEED | hfjson ENC VOCAB | classes\n');
	process.exit(2);
}
