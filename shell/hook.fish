# git-agent shell integration for fish. Load it from ~/.config/fish/config.fish with
#   git agent init fish | source
# It exports a slot's variables while the shell is inside the slot, follows `git agent add`
# and `git agent cd` into a slot, and completes `git agent` and `git-agent`.
#
# The hooks cost no process when nothing changed: the binary runs only when the shell enters,
# leaves or switches slots. Its output is data (NUL-separated records), never code.

if status is-interactive
    set -g __git_agent_bin @BIN@
    set -g __git_agent_roots @ROOTS@
    # Seeded from the environment, so a nested shell inside its parent's slot does not reload it.
    set -g __ga_root ''
    set -q GIT_AGENT_ROOT[1]; and set -g __ga_root $GIT_AGENT_ROOT[1]
    set -g __ga_pwd ''
    set -gx GIT_AGENT_DIRECTIVE @DIRECTIVE_DIR@/cd.$fish_pid

    # A name the hook may set: a plain variable name, and not one of the hook's own.
    function __git_agent_name_ok
        string match -qr '^[A-Za-z_][A-Za-z0-9_]*$' -- $argv[1]
        and not string match -q -- '__ga_*' $argv[1]
        and not string match -q -- '__git_agent*' $argv[1]
    end

    # Applies `git-agent hook-env` records: set NAME VALUE / unset NAME.
    function __git_agent_apply
        while read -lz __ga_op
            switch $__ga_op
                case set
                    read -lz __ga_k; or break
                    read -lz __ga_v; or break
                    __git_agent_name_ok $__ga_k; and set -gx $__ga_k $__ga_v
                case unset
                    read -lz __ga_k; or break
                    __git_agent_name_ok $__ga_k; and set -eg $__ga_k
                case '*'
                    break
            end
        end
    end

    # The active root and the length of "$root/", for an exact prefix test (no globbing).
    function __git_agent_set_root
        set -g __ga_root $argv[1]
        set -g __ga_root_len (string length -- "$argv[1]/")
    end
    __git_agent_set_root $__ga_root

    # The directory changed: find the slot root containing it (the user's own list of roots,
    # read with builtins) and run the binary only if that root differs from the active one.
    function __git_agent_check
        test "$PWD" = "$__ga_pwd"; and return 0
        set -g __ga_pwd $PWD
        if test -n "$__ga_root"
            test "$PWD" = "$__ga_root"; and return 0
            test (string sub -l $__ga_root_len -- $PWD) = "$__ga_root/"; and return 0
        end
        set -l __ga_roots
        if test -r $__git_agent_roots
            # The whole list in one read (a line at a time cost a read per line).
            read -lz __ga_all <$__git_agent_roots
            set __ga_roots (string split -n \n -- $__ga_all)
        end
        # The deepest ancestor of $PWD (or $PWD itself) that is a slot root.
        set -l __ga_found ''
        set -l __ga_prefix ''
        for __ga_part in (string split -n / -- $PWD)
            set __ga_prefix "$__ga_prefix/$__ga_part"
            contains -- $__ga_prefix $__ga_roots; and set __ga_found $__ga_prefix
        end
        if test "$__ga_found" != "$__ga_root"
            __git_agent_set_root $__ga_found
            command $__git_agent_bin hook-env -- $PWD | __git_agent_apply
        end
    end

    # `git agent add` and `git agent cd` leave a directory in this shell's directive file.
    function __git_agent_prompt --on-event fish_prompt
        if set -q GIT_AGENT_DIRECTIVE[1]; and test -s "$GIT_AGENT_DIRECTIVE"; and test -O "$GIT_AGENT_DIRECTIVE"
            read -lz __ga_dir <$GIT_AGENT_DIRECTIVE
            printf '' >$GIT_AGENT_DIRECTIVE
            test -n "$__ga_dir"; and test -d "$__ga_dir"; and cd $__ga_dir
        end
        # Nothing changed: one comparison, without the function call (BENCHMARKS.md).
        test "$PWD" = "$__ga_pwd"; or __git_agent_check
    end

    # On cd too, so `cd slot; and npm run dev` sees the slot's variables.
    function __git_agent_pwd --on-variable PWD
        __git_agent_check
    end

    # Forces a reload at the next prompt (after editing the slot's env file by hand).
    function git_agent_reload
        set -g __ga_pwd ''
        __git_agent_set_root ''
    end
end
