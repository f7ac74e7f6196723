# git-agent shell integration for zsh. Load it from ~/.zshrc (after compinit) with
#   eval "$(git agent init zsh)"
# It exports a slot's variables while the shell is inside the slot, follows `git agent add`
# and `git agent cd` into a slot, and completes `git agent` and `git-agent`.
#
# The hooks cost no process when nothing changed: the binary runs only when the shell enters,
# leaves or switches slots. Its output is data (NUL-separated records), never code.

typeset -g __git_agent_bin=@BIN@
typeset -g __git_agent_roots=@ROOTS@
# Seeded from the environment, so a nested shell inside its parent's slot does not reload it.
typeset -g __ga_root=${GIT_AGENT_ROOT:-}
typeset -g __ga_pwd=
export GIT_AGENT_DIRECTIVE=@DIRECTIVE_DIR@/cd.$$

# A name the hook may set: a plain variable name, and not one of the hook's own.
__git_agent_name_ok() {
  [[ $1 =~ '^[A-Za-z_][A-Za-z0-9_]*$' && $1 != __ga_* && $1 != __git_agent* ]]
}

# Runs `git-agent hook-env` once and applies its records: set NAME VALUE / unset NAME.
__git_agent_load() {
  emulate -L zsh
  local __ga_op __ga_k __ga_v
  while IFS= read -r -d '' __ga_op; do
    case $__ga_op in
      (set)
        IFS= read -r -d '' __ga_k || break
        IFS= read -r -d '' __ga_v || break
        __git_agent_name_ok "$__ga_k" && export -- "$__ga_k=$__ga_v"
        ;;
      (unset)
        IFS= read -r -d '' __ga_k || break
        __git_agent_name_ok "$__ga_k" && unset -- "$__ga_k"
        ;;
      (*) break ;;
    esac
  done < <(command "$__git_agent_bin" hook-env -- "$PWD")
}

# The directory changed: find the slot root containing it (the user's own list of roots,
# read with builtins) and load the binary only if that root differs from the active one.
__git_agent_check() {
  emulate -L zsh
  [[ $PWD == "$__ga_pwd" ]] && return 0
  __ga_pwd=$PWD
  if [[ -n $__ga_root && ($PWD == "$__ga_root" || $PWD == "$__ga_root"/*) ]]; then
    return 0
  fi
  local __ga_found='' __ga_dir=$PWD
  local -a __ga_roots
  if [[ -r $__git_agent_roots ]]; then
    # The list in one read, then $PWD and its parents, deepest first, looked up in it: reading
    # it line by line cost 4 ms a cd with 120 slots (BENCHMARKS.md).
    __ga_roots=("${(@f)$(<$__git_agent_roots)}")
    while [[ -n $__ga_dir ]]; do
      if ((${__ga_roots[(Ie)$__ga_dir]})); then
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

__git_agent_precmd() {
  # `git agent add` and `git agent cd` leave a directory in this shell's directive file.
  if [[ -n ${GIT_AGENT_DIRECTIVE:-} && -s $GIT_AGENT_DIRECTIVE && -O $GIT_AGENT_DIRECTIVE ]]; then
    emulate -L zsh
    local __ga_dir=''
    IFS= read -r -d '' __ga_dir <"$GIT_AGENT_DIRECTIVE" || :
    : >|"$GIT_AGENT_DIRECTIVE"
    if [[ -n $__ga_dir && -d $__ga_dir ]]; then
      builtin cd -- "$__ga_dir" || :
    fi
  fi
  # The prompt's path when nothing changed: one comparison, before `emulate` (a third of the
  # hook's cost per prompt, BENCHMARKS.md); the test reads the same under any user options.
  [[ $PWD == "$__ga_pwd" ]] || __git_agent_check
}

# On cd too, so `cd slot && npm run dev` sees the slot's variables; not while completing or
# in subshells (zsh's own chpwd_recent_dirs guard).
__git_agent_chpwd() {
  emulate -L zsh -o extended_glob
  [[ ! -o interactive || $ZSH_SUBSHELL -ne 0 || (-n $ZSH_EVAL_CONTEXT && $ZSH_EVAL_CONTEXT != toplevel(:[a-z]#func|)#) ]] && return 0
  __git_agent_check
}

# Forces a reload at the next prompt (after editing the slot's env file by hand).
git_agent_reload() {
  __ga_pwd=
  __ga_root=
}

# First among the precmd hooks, so a prompt drawn after it shows the new directory.
typeset -ga precmd_functions chpwd_functions
precmd_functions=(__git_agent_precmd ${precmd_functions:#__git_agent_precmd})
chpwd_functions=(${chpwd_functions:#__git_agent_chpwd} __git_agent_chpwd)
