# git-agent shell integration for bash. Load it from ~/.bashrc with
#   eval "$(git agent init bash)"
# It exports a slot's variables while the shell is inside the slot, follows `git agent add`
# and `git agent cd` into a slot, and completes `git agent` and `git-agent`.
#
# The prompt hook costs no process when nothing changed: the binary runs only when the shell
# enters, leaves or switches slots. Its output is data (NUL-separated records), never code.

__git_agent_bin=@BIN@
__git_agent_roots=@ROOTS@
# Seeded from the environment, so a nested shell inside its parent's slot does not reload it.
__ga_root=${GIT_AGENT_ROOT:-}
__ga_pwd=
export GIT_AGENT_DIRECTIVE=@DIRECTIVE_DIR@/cd.$$

# A name the hook may set: a plain variable name, and not one of the hook's own.
__git_agent_name_ok() {
  [[ $1 =~ ^[A-Za-z_][A-Za-z0-9_]*$ && $1 != __ga_* && $1 != __git_agent* ]]
}

# Runs `git-agent hook-env` once and applies its records: set NAME VALUE / unset NAME.
__git_agent_load() {
  local __ga_op __ga_k __ga_v
  while IFS= read -r -d '' __ga_op; do
    case $__ga_op in
      set)
        IFS= read -r -d '' __ga_k || break
        IFS= read -r -d '' __ga_v || break
        __git_agent_name_ok "$__ga_k" && export -- "$__ga_k=$__ga_v"
        ;;
      unset)
        IFS= read -r -d '' __ga_k || break
        __git_agent_name_ok "$__ga_k" && unset -v -- "$__ga_k"
        ;;
      *) break ;;
    esac
  done < <(command "$__git_agent_bin" hook-env -- "$PWD")
}

# The directory changed: find the slot root containing it (the user's own list of roots,
# read with builtins) and load the binary only if that root differs from the active one.
__git_agent_check() {
  if [[ -n $__ga_root && ($PWD == "$__ga_root" || $PWD == "$__ga_root"/*) ]]; then
    return 0
  fi
  local __ga_found='' __ga_line __ga_all='' __ga_dir=$PWD
  local -a __ga_roots=()
  if [[ -r $__git_agent_roots ]]; then
    # The list in one read, then $PWD and its parents, deepest first, looked up in it: a loop
    # over every root cost about 10 µs a root (1.3 ms a cd with 120 slots, BENCHMARKS.md).
    if ((BASH_VERSINFO[0] >= 4)); then
      mapfile -t __ga_roots <"$__git_agent_roots"
    else
      while IFS= read -r __ga_line || [[ -n $__ga_line ]]; do
        __ga_roots+=("$__ga_line")
      done <"$__git_agent_roots"
    fi
    ((${#__ga_roots[@]})) && printf -v __ga_all '\n%s' "${__ga_roots[@]}"
    __ga_all+=$'\n'
    while [[ -n $__ga_dir ]]; do
      if [[ $__ga_all == *$'\n'"$__ga_dir"$'\n'* ]]; then
        __ga_found=$__ga_dir
        break
      fi
      __ga_dir=${__ga_dir%/*}
    done
  fi
  if [[ $__ga_found != "$__ga_root" ]]; then
    __ga_root=$__ga_found
    __git_agent_load
  fi
}

# `git agent add` and `git agent cd` leave a directory in this shell's directive file.
__git_agent_directive() {
  local __ga_dir=''
  IFS= read -r -d '' __ga_dir <"$GIT_AGENT_DIRECTIVE" || :
  : >|"$GIT_AGENT_DIRECTIVE"
  if [[ -n $__ga_dir && -d $__ga_dir ]]; then
    builtin cd -- "$__ga_dir" || :
  fi
}

__git_agent_hook() {
  local __ga_status=$?
  if [[ -n ${GIT_AGENT_DIRECTIVE:-} && -s $GIT_AGENT_DIRECTIVE && -O $GIT_AGENT_DIRECTIVE ]]; then
    __git_agent_directive
  fi
  if [[ $PWD != "$__ga_pwd" ]]; then
    __ga_pwd=$PWD
    __git_agent_check
  fi
  return "$__ga_status"
}

# Forces a reload at the next prompt (after editing the slot's env file by hand).
git_agent_reload() {
  __ga_pwd=
  __ga_root=
}

# Run first, so a prompt drawn after it shows the new directory and variables. Other hooks
# keep running: bash-preexec's precmd_functions, an array PROMPT_COMMAND (bash 5.1+) gets a
# new first element, a string PROMPT_COMMAND gets a first line.
if [[ -n ${bash_preexec_imported:-}${__bp_imported:-} ]]; then
  if [[ " ${precmd_functions[*]-} " != *" __git_agent_hook "* ]]; then
    precmd_functions=(__git_agent_hook "${precmd_functions[@]}")
  fi
elif ((BASH_VERSINFO[0] > 5 || (BASH_VERSINFO[0] == 5 && BASH_VERSINFO[1] >= 1))) && [[ -n ${PROMPT_COMMAND+set} && ${PROMPT_COMMAND@a} == *a* ]]; then
  if [[ " ${PROMPT_COMMAND[*]} " != *" __git_agent_hook "* ]]; then
    PROMPT_COMMAND=(__git_agent_hook "${PROMPT_COMMAND[@]}")
  fi
else
  # shellcheck disable=SC2128,SC2178 # here PROMPT_COMMAND is a string (or unset)
  case ${PROMPT_COMMAND:-} in
    __git_agent_hook | __git_agent_hook$'\n'*) ;;
    *) PROMPT_COMMAND=__git_agent_hook${PROMPT_COMMAND:+$'\n'$PROMPT_COMMAND} ;;
  esac
fi
