#!/usr/bin/env bash
# The shell hook's cost, self-contained:
#   1. a prompt where nothing changed (inside a slot), N times (default 1000) in bash, zsh and
#      fish: time per prompt and processes spawned, next to direnv (`.envrc`: dotenv .env.local);
#   2. one `git-agent hook-env` call (entering a slot), next to `git-agent --version`;
#   3. one `git agent rm <TAB>` completion as the shell glue runs it.
# The prompt hook is called the way the prompt calls it (bash: __git_agent_hook from
# PROMPT_COMMAND; zsh: __git_agent_precmd; fish: the fish_prompt handler), in a loop inside
# the shell, timed with the clock read before and after; processes are counted with strace
# as the difference between a run of N prompts and a run of none.
# Prints one JSON line per case ({"row","case","ours_ms","peer","peer_ms","target","ok","note"},
# as bench/run reads them) and a readable summary on stderr.
# Env: GIT_AGENT_BIN (default target/release/git-agent, built if missing), BENCH_WORK (work
# dir, default a temp dir), BENCH_QUICK=1 (100 prompts), DIRENV_BIN (default: direnv on PATH).
set -euo pipefail
ROOT=$(cd "$(dirname "$0")/.." && pwd)
BIN=${GIT_AGENT_BIN:-$ROOT/target/release/git-agent}
if [ ! -x "$BIN" ]; then
  (cd "$ROOT" && cargo build --release --quiet)
fi
N=1000
[ -n "${BENCH_QUICK:-}" ] && N=100
WORK=${BENCH_WORK:-$(mktemp -d /tmp/ga-bench-hook.XXXXXX)}
mkdir -p "$WORK"
WORK=$(cd "$WORK" && pwd)
DIRENV=${DIRENV_BIN:-$(command -v direnv || true)}

# An isolated user: nothing here touches the real HOME or state.
export HOME=$WORK/home XDG_STATE_HOME=$WORK/state XDG_CONFIG_HOME=$WORK/config XDG_DATA_HOME=$WORK/data \
  XDG_RUNTIME_DIR=$WORK/run GIT_CONFIG_GLOBAL=$WORK/gitconfig GIT_CONFIG_NOSYSTEM=1
unset __GIT_AGENT_STATE GIT_AGENT_ROOT GIT_AGENT_SLOT GIT_AGENT_DIRECTIVE PROMPT_COMMAND DIRENV_DIR DIRENV_DIFF DIRENV_WATCHES DIRENV_FILE
rm -rf "$HOME" "$XDG_STATE_HOME" "$XDG_CONFIG_HOME" "$XDG_DATA_HOME" "$XDG_RUNTIME_DIR" "$WORK/app" "$WORK/app-worktrees"
mkdir -p "$HOME" "$XDG_STATE_HOME" "$XDG_CONFIG_HOME" "$XDG_DATA_HOME" "$XDG_RUNTIME_DIR"
chmod 700 "$XDG_RUNTIME_DIR"
printf '[user]\n\tname = Bench\n\temail = bench@example.com\n[init]\n\tdefaultBranch = main\n' >"$GIT_CONFIG_GLOBAL"
BINDIR=$WORK/bin
mkdir -p "$BINDIR"
ln -sf "$BIN" "$BINDIR/git-agent"
export PATH=$BINDIR:$PATH

say() { printf 'bench/hook: %s\n' "$*" >&2; }
json() { python3 -c 'import json, sys; print(json.dumps(json.loads(sys.argv[1])))' "$1"; }

git init -q "$WORK/app"
git -C "$WORK/app" commit -q --allow-empty -m initial
SLOT=$(cd "$WORK/app" && git-agent add feature/bench 2>/dev/null)
mkdir -p "$SLOT/src/deep"
say "slot $SLOT"

# direnv, set up the way its users do: .envrc loading the same env file, allowed.
have_direnv=
if [ -n "$DIRENV" ]; then
  printf 'dotenv .env.local\n' >"$SLOT/.envrc"
  (cd "$SLOT" && "$DIRENV" allow .) && have_direnv=1
fi

# The body each shell runs: load a hook, enter the slot (its one run of the binary), then call
# the prompt hook $1 times and print the nanoseconds the loop took.
# shellcheck disable=SC2016 # these are scripts for the shells, expanded there
script() { # shell tool
  local shell=$1 tool=$2
  case $shell/$tool in
    bash/ours) printf '%s\n' 'eval "$(git-agent init bash)"' 'cd "$SLOT"; __git_agent_hook' \
      's=$(date +%s%N); for ((i = 0; i < $1; i++)); do __git_agent_hook; done; e=$(date +%s%N); echo $((e - s))' ;;
    bash/direnv) printf '%s\n' 'eval "$("$DIRENV" hook bash)"' 'cd "$SLOT"; _direnv_hook 2>/dev/null' \
      's=$(date +%s%N); for ((i = 0; i < $1; i++)); do _direnv_hook; done 2>/dev/null; e=$(date +%s%N); echo $((e - s))' ;;
    zsh/ours) printf '%s\n' 'eval "$(git-agent init zsh)"' 'cd "$SLOT"; __git_agent_precmd' \
      's=$(date +%s%N); for ((i = 0; i < $1; i++)); do __git_agent_precmd; done; e=$(date +%s%N); echo $((e - s))' ;;
    zsh/direnv) printf '%s\n' 'eval "$("$DIRENV" hook zsh)"' 'cd "$SLOT"; _direnv_hook 2>/dev/null' \
      's=$(date +%s%N); for ((i = 0; i < $1; i++)); do _direnv_hook; done 2>/dev/null; e=$(date +%s%N); echo $((e - s))' ;;
    fish/ours) printf '%s\n' 'git-agent init fish | source' 'cd $SLOT; __git_agent_prompt' \
      'set s (date +%s%N); for i in (seq $argv[1]); __git_agent_prompt; end; set e (date +%s%N); math $e - $s' ;;
    fish/direnv) printf '%s\n' '$DIRENV hook fish | source' 'cd $SLOT; __direnv_export_eval 2>/dev/null' \
      'set s (date +%s%N); for i in (seq $argv[1]); __direnv_export_eval; end 2>/dev/null; set e (date +%s%N); math $e - $s' ;;
  esac
}

# The shell, interactive (so fish defines its hooks), running a script file with arguments.
shell_argv() {
  case $1 in
    bash) echo bash --noprofile --norc -i ;;
    zsh) echo zsh -f -i ;;
    fish) echo fish --no-config -i ;;
  esac
}

# Runs `script` in the shell with $3 prompts; prints the loop's nanoseconds.
run_shell() { # shell tool prompts
  local file=$WORK/$1-$2.sh
  script "$1" "$2" >"$file"
  # shellcheck disable=SC2046 # the argv is words on purpose
  $(shell_argv "$1") "$file" "$3" 2>/dev/null | tail -1
}

# Processes started while the shell ran $3 prompts: forks in a run of $3 minus a run of 0.
forks() { # shell tool prompts
  local file=$WORK/$1-$2.sh n runs=()
  script "$1" "$2" >"$file"
  for n in 0 "$3"; do
    # shellcheck disable=SC2046
    strace -f -qq -e trace=fork,vfork,clone,clone3 -o "$WORK/trace" $(shell_argv "$1") "$file" "$n" >/dev/null 2>&1
    runs+=("$(grep -E '(fork|clone3?)\(' "$WORK/trace" | grep -v -e resumed -e CLONE_THREAD -c || true)")
  done
  echo $((runs[1] - runs[0]))
}

export SLOT DIRENV
for shell in bash zsh fish; do
  if ! command -v "$shell" >/dev/null; then
    json "{\"row\": \"hook\", \"case\": \"$shell\", \"skip\": \"$shell is not installed\"}"
    continue
  fi
  ours_ns=$(run_shell "$shell" ours "$N")
  ours_forks=$(forks "$shell" ours "$N")
  ours_ms=$(python3 -c "print(round($ours_ns / $N / 1e6, 4))")
  peer_ms=null peer_forks=- note=
  if [ -n "$have_direnv" ]; then
    peer_ns=$(run_shell "$shell" direnv "$N")
    peer_forks=$(forks "$shell" direnv "$N")
    peer_ms=$(python3 -c "print(round($peer_ns / $N / 1e6, 4))")
  else
    note="direnv is not installed; "
  fi
  ok=false
  [ "$ours_forks" = 0 ] && ok=true
  say "$shell: unchanged prompt x$N: git-agent $ours_ms ms/prompt, $ours_forks processes; direnv $peer_ms ms/prompt, $peer_forks processes"
  json "{\"row\": \"hook\", \"case\": \"$shell: prompt, nothing changed (x$N)\", \"ours_ms\": $ours_ms, \"peer\": \"direnv\", \"peer_ms\": $peer_ms, \"target\": \"0 processes\", \"ok\": $ok, \"note\": \"${note}processes over $N prompts: git-agent $ours_forks, direnv $peer_forks\"}"
done

# One hook-env call (entering the slot) and one completion, timed with hyperfine if present.
time_ms() { # label command...
  local out=$WORK/hf.json
  if command -v hyperfine >/dev/null; then
    hyperfine -N --warmup 10 --runs "$([ -n "${BENCH_QUICK:-}" ] && echo 50 || echo 300)" --export-json "$out" "$@" >/dev/null 2>&1
    python3 -c 'import json, sys; print(round(json.load(open(sys.argv[1]))["results"][0]["median"] * 1000, 3))' "$out"
  else
    python3 - "$@" <<'PY'
import statistics, subprocess, sys, time
cmd = sys.argv[1]
runs = []
for _ in range(100):
    t = time.perf_counter()
    subprocess.run(cmd, shell=True, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    runs.append((time.perf_counter() - t) * 1000)
print(round(statistics.median(runs), 3))
PY
  fi
}
version_ms=$(time_ms "git-agent --version")
hook_env_ms=$(cd "$SLOT" && GIT_AGENT_QUIET=1 time_ms "git-agent hook-env $SLOT/src/deep")
records=$(cd "$SLOT" && { git-agent hook-env "$SLOT/src/deep" 2>/dev/null | tr '\0' '\n' | grep -c '^set$'; })
say "hook-env (entering, $records variables): $hook_env_ms ms; git-agent --version: $version_ms ms"
json "{\"row\": \"hook-env\", \"case\": \"one call, entering a slot\", \"ours_ms\": $hook_env_ms, \"peer\": \"git-agent --version\", \"peer_ms\": $version_ms, \"target\": \"-\", \"ok\": null, \"note\": \"$records variables set\"}"

complete_ms=$(cd "$WORK/app" && GIT_AGENT_COMPLETE=bash _CLAP_COMPLETE_INDEX=2 _CLAP_IFS=$'\n' time_ms "git-agent -- git-agent rm ''")
candidates=$(cd "$WORK/app" && GIT_AGENT_COMPLETE=bash _CLAP_COMPLETE_INDEX=2 _CLAP_IFS=' ' git-agent -- git-agent rm '')
say "git agent rm <TAB> ($candidates): $complete_ms ms"
json "{\"row\": \"complete\", \"case\": \"git agent rm <TAB>\", \"ours_ms\": $complete_ms, \"peer\": \"git-agent --version\", \"peer_ms\": $version_ms, \"target\": \"-\", \"ok\": null, \"note\": \"GIT_AGENT_COMPLETE=bash git-agent -- git-agent rm ''\"}"
