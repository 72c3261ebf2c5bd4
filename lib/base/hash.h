/*
 * hash.h - the 64-bit record hash that lets tools verify that joined
 * streams line up.
 *
 * rm_hash64 is FNV-1a 64 (offset basis 0xcbf29ce484222325, prime
 * 0x100000001b3) over the record's source bytes: for a JSONL record, the
 * line without its "\n" or "\r\n"; for an element of a JSON array file, its
 * text without the blanks between tokens (jsonl.h), the line rm-filter
 * writes for it.  Check value: rm_hash64("a", 1)
 * == 0xaf63dc4c8601ec8c.
 */
#ifndef RM_HASH_H
#define RM_HASH_H

#include <stddef.h>
#include <stdint.h>

uint64_t rm_hash64(const void *buf, size_t n);

#endif
