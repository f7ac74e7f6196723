# fish completion for git-agent, both as `git-agent ...` and as `git agent ...`. fish 3.6.0
# does not forward `git agent` to git-agent's completions, so they are registered on git too.
# Candidates come from the binary.

function __git_agent_complete
    set -l bin git-agent
    set -q __git_agent_bin[1]; and set bin $__git_agent_bin
    set -l tokens (commandline -opc)
    # `git [options] agent ARGS` becomes `git-agent ARGS`.
    if not string match -q -- "*git-agent" "$tokens[1]"
        set -l at (contains -i -- agent $tokens)
        or return
        set tokens git-agent $tokens[(math $at + 1)..-1]
    end
    # After the `--` of `exec SLOT -- CMD` or `add BRANCH -- CMD` the words are a command line
    # of their own: fish completes that as it would at the prompt.
    if contains -- $tokens[2] exec add
        set -l dd (contains -i -- -- $tokens)
        if test -n "$dd"
            set -l rest $tokens[$dd..-1]
            set -e rest[1]
            complete -C (string join ' ' -- (string escape -- $rest) (commandline -ct))
            return
        end
    end
    GIT_AGENT_COMPLETE=fish command $bin -- $tokens (commandline -ct) 2>/dev/null
end

complete -c git-agent -f -k -a '(__git_agent_complete)'
complete -c git -n __fish_git_needs_command -f -a agent -d 'a slot per parallel coding agent'
complete -c git -n '__fish_git_using_command agent' -f -k -a '(__git_agent_complete)'
