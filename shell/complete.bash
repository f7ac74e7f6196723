# bash completion for git-agent, both as `git agent ...` (git's completion calls _git_agent)
# and as `git-agent ...`. Candidates come from the binary (slot and branch names included).

# Asks the binary for candidates. $1: suffix added to each (git's completion wants a space);
# $2: index of the word under the cursor among the rest; the rest: `git-agent ARGS...`.
__git_agent_candidates() {
  local __ga_suffix=$1 __ga_index=$2 __ga_out __ga_c
  shift 2
  __ga_out=$(
    if [[ -n ${__git_C_args+set} ]]; then
      # `git -C DIR agent ...`: complete as if run in DIR.
      local __ga_i
      for ((__ga_i = 1; __ga_i < ${#__git_C_args[@]}; __ga_i += 2)); do
        builtin cd -- "${__git_C_args[__ga_i]}" 2>/dev/null || exit 1
      done
    fi
    GIT_AGENT_COMPLETE=bash _CLAP_IFS=$'\n' _CLAP_COMPLETE_INDEX=$__ga_index \
      command "${__git_agent_bin:-git-agent}" -- "$@" 2>/dev/null
  ) || return 0
  COMPREPLY=()
  [[ -n $__ga_out ]] || return 0
  while IFS= read -r __ga_c; do
    case $__ga_c in
      */ | *=) COMPREPLY+=("$__ga_c") ;;
      *) COMPREPLY+=("$__ga_c$__ga_suffix") ;;
    esac
  done <<<"$__ga_out"
}

# After the `--` of `exec SLOT -- CMD` or `add BRANCH -- CMD` the words are a command line of
# their own: completes it as bash would at the prompt. Returns 1 when the cursor is not there.
__git_agent_after_dashes() {
  local __ga_i __ga_sub=''
  for ((__ga_i = 1; __ga_i < COMP_CWORD; __ga_i++)); do
    case ${COMP_WORDS[__ga_i]} in
      exec | add) [[ -n $__ga_sub ]] || __ga_sub=${COMP_WORDS[__ga_i]} ;;
      --)
        [[ -n $__ga_sub ]] || return 1
        if declare -F _command_offset >/dev/null; then
          _command_offset "$((__ga_i + 1))"
        elif ((__ga_i + 1 == COMP_CWORD)); then
          COMPREPLY=()
          local __ga_c
          while IFS= read -r __ga_c; do COMPREPLY+=("$__ga_c"); done < <(compgen -c -- "${COMP_WORDS[COMP_CWORD]}")
        fi
        return 0
        ;;
    esac
  done
  return 1
}

# Called by git's completion for `git agent ...`, with words/cword set and __git_cmd_idx the
# index of "agent".
_git_agent() {
  __git_agent_after_dashes && return
  local __ga_at=${__git_cmd_idx:-1}
  __git_agent_candidates " " "$((cword - __ga_at))" git-agent "${words[@]:__ga_at+1}"
}

# `git-agent ...` typed directly.
__git_agent_complete_bin() {
  __git_agent_after_dashes && return
  local words cword
  if declare -F _get_comp_words_by_ref >/dev/null; then
    _get_comp_words_by_ref -n =: words cword
  else
    words=("${COMP_WORDS[@]}")
    cword=$COMP_CWORD
  fi
  __git_agent_candidates " " "$cword" git-agent "${words[@]:1}"
}

complete -o nospace -o bashdefault -F __git_agent_complete_bin git-agent
