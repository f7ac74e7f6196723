#compdef git-agent
#description a slot per parallel coding agent: worktree, branch, ports, database and env
# zsh completion for git-agent, both as `git agent ...` (zsh's _git calls _git-agent, with
# words[1] = "agent") and as `git-agent ...`. Candidates come from the binary.

_git-agent() {
  # After the `--` of `exec SLOT -- CMD` or `add BRANCH -- CMD` the words are a command line
  # of their own: zsh completes it as it would at the prompt.
  local -i __ga_dd=${words[(i)--]}
  if ((__ga_dd < CURRENT)) && [[ -n ${words[(r)exec]}${words[(r)add]} ]]; then
    shift __ga_dd words
    ((CURRENT -= __ga_dd))
    _normal
    return
  fi
  local -a __ga_lines __ga_dirs __ga_other
  local __ga_out __ga_c
  __ga_out=$(GIT_AGENT_COMPLETE=zsh _CLAP_IFS=$'\n' _CLAP_COMPLETE_INDEX=$((CURRENT - 1)) \
    command "${__git_agent_bin:-git-agent}" -- git-agent "${(@)words[2,-1]}" 2>/dev/null) || return 1
  [[ -n $__ga_out ]] || return 1
  __ga_lines=("${(@f)__ga_out}")
  # Directories complete without a trailing space, so the next component can follow.
  local __ga_value
  for __ga_c in $__ga_lines; do
    __ga_value=${__ga_c%%:*}
    if [[ $__ga_value != */ ]]; then
      __ga_other+=("$__ga_c")
    elif [[ $__ga_c == *:* ]]; then
      __ga_dirs+=("${__ga_value%/}:${__ga_c#*:}")
    else
      __ga_dirs+=("${__ga_value%/}")
    fi
  done
  local ret=1
  (($#__ga_dirs)) && _describe -V 'directories' __ga_dirs -S '/' -r '/' && ret=0
  (($#__ga_other)) && _describe -V 'git-agent' __ga_other && ret=0
  return ret
}
