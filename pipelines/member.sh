#!/bin/sh
# member.sh SEED OUT PAIRS [rm-train options...]
#
# Train ensemble member SEED into OUT/ens/SEED and vote it on PAIRS into
# OUT/votes/SEED.rmt.  Safe to re-run: a finished member is skipped, a
# member interrupted mid-training resumes from its last checkpoint, and a
# vote stream only appears (atomically) once complete.  GNU parallel runs one
# of these per seed, locally or on the hosts of --sshloginfile.
set -eu
seed=$1 out=$2 pairs=$3
shift 3
dir=$out/ens/$seed
mkdir -p "$out/ens" "$out/votes" "$out/logs"
if [ ! -f "$dir.done" ]; then
	if [ -f "$dir/model.safetensors" ] && [ -f "$dir/training_state.safetensors" ]; then
		rm-train --resume -o "$dir" "$@" --seed "$seed" \
			--log "$out/logs/member-$seed.jsonl" "$pairs"
	else
		rm -rf "$dir"
		rm-train -o "$dir" "$@" --seed "$seed" \
			--log "$out/logs/member-$seed.jsonl" "$pairs"
	fi
	touch "$dir.done"
fi
[ -f "$out/votes/$seed.rmt" ] ||
	rm-vote -j "${RM_VOTE_THREADS:-1}" "$dir" "$pairs" -o "$out/votes/$seed.rmt"
