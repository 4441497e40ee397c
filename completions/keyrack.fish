# fish completion for keyrack: subcommands, their flags, shell names for
# `init`, formats for `export`, and keyrack's profiles (and sso-sessions) read
# from $KEYRACK_HOME/prompt/ with a glob: no Python runs on TAB.
# The shell hook (`keyrack init fish | source`) puts this folder on
# fish_complete_path. Self-contained (no __fish_* helpers), so it also works
# under `fish --no-config`. tests/completions_test.py keeps it in step with cli.py.

# The subcommand typed so far (the first word that is not a flag).
function __keyrack_comp_command
    set -l skip 0
    for word in (commandline -opc)[2..-1]
        if test $skip = 1
            set skip 0
        else if string match -q -- '-*' $word
            contains -- $word --start-url --sso-region --account-id --role-name --region --sso-session --auto-unlock --session --format --port --template --prefix
            and set skip 1
        else
            echo $word
            return 0
        end
    end
    return 1
end

# True when the subcommand is one of $argv and no positional word follows it yet.
function __keyrack_comp_wants_positional
    set -l words (commandline -opc)[2..-1]
    set -l seen_command 0
    set -l skip 0
    for word in $words
        if test $skip = 1
            set skip 0
        else if string match -q -- '-*' $word
            contains -- $word --start-url --sso-region --account-id --role-name --region --sso-session --auto-unlock --session --format --port --template --prefix
            and set skip 1
        else if test $seen_command = 0
            contains -- $word $argv; or return 1
            set seen_command 1
        else
            return 1
        end
    end
    test $seen_command = 1
end

function __keyrack_comp_using
    set -l command (__keyrack_comp_command); or return 1
    contains -- $command $argv
end

# Names of the files in $KEYRACK_HOME/prompt/$argv[1].
function __keyrack_comp_names
    set -l dir "$KEYRACK_HOME"
    test -n "$dir"; or set dir "$HOME/.aws/keyrack"
    if string match -q -- '~/*' "$dir"
        set dir "$HOME/"(string sub -s 3 -- "$dir")
    end
    set -l files $dir/prompt/$argv[1]/*
    string replace -r -- '^.*/' '' $files
end

complete -c keyrack -f

# Subcommands.
set -l __keyrack_no_command 'not __keyrack_comp_command >/dev/null'
complete -c keyrack -n $__keyrack_no_command -s h -l help -d 'show help'
complete -c keyrack -n $__keyrack_no_command -l version -d 'show the version'
complete -c keyrack -n $__keyrack_no_command -a set -d 'add or update a profile, then prove it works'
complete -c keyrack -n $__keyrack_no_command -a unlock -d "sign in to a profile's sso-session now"
complete -c keyrack -n $__keyrack_no_command -a relock -d 'sign out: end the session and delete its tokens'
complete -c keyrack -n $__keyrack_no_command -a status -d 'lock state and time left'
complete -c keyrack -n $__keyrack_no_command -a list -d 'the profiles keyrack manages'
complete -c keyrack -n $__keyrack_no_command -a credential-process -d 'print credentials for an AWS SDK'
complete -c keyrack -n $__keyrack_no_command -a init -d 'print the shell hook'
complete -c keyrack -n $__keyrack_no_command -a use -d 'set AWS_PROFILE in this shell'
complete -c keyrack -n $__keyrack_no_command -a export -d 'print credentials as shell exports or JSON'
complete -c keyrack -n $__keyrack_no_command -a exec -d "run a command with a profile's credentials"
complete -c keyrack -n $__keyrack_no_command -a console -d "open the AWS console as a profile's role"
complete -c keyrack -n $__keyrack_no_command -a serve -d "serve profiles' credentials to local programs"
complete -c keyrack -n $__keyrack_no_command -a sync -d 'a profile for every account and role of an sso-session'
complete -c keyrack -n $__keyrack_no_command -a remove -d 'remove a profile keyrack wrote'
complete -c keyrack -n $__keyrack_no_command -a demo -d 'the whole flow, offline'

# Every subcommand has --help.
complete -c keyrack -n '__keyrack_comp_command >/dev/null' -s h -l help -d 'show help'

# Profiles, for the commands that take one.
complete -c keyrack -n '__keyrack_comp_wants_positional set unlock relock status credential-process use export exec console serve remove' -a '(__keyrack_comp_names profiles)' -d 'keyrack profile'

# set
complete -c keyrack -n '__keyrack_comp_using set' -x -l start-url -d 'IAM Identity Center start URL'
complete -c keyrack -n '__keyrack_comp_using set' -x -l sso-region -d 'region of the IAM Identity Center instance'
complete -c keyrack -n '__keyrack_comp_using set' -x -l account-id -d '12-digit AWS account id'
complete -c keyrack -n '__keyrack_comp_using set' -x -l role-name -d 'permission set (role) name'
complete -c keyrack -n '__keyrack_comp_using set' -x -l region -d 'default region for the profile'
complete -c keyrack -n '__keyrack_comp_using set' -x -l sso-session -a '(__keyrack_comp_names sessions)' -d 'sso-session name'
complete -c keyrack -n '__keyrack_comp_using set' -x -l auto-unlock -a 'tty always never' -d 'when credential_process may sign in'
complete -c keyrack -n '__keyrack_comp_using set' -l no-verify -d 'write the config but skip the roundtrip'
complete -c keyrack -n '__keyrack_comp_using set' -l roundtrip -d 'sign out and in again even if the session passed the roundtrip'
complete -c keyrack -n '__keyrack_comp_using set' -l adopt -d 'convert a profile aws configure sso made, in place'
complete -c keyrack -n '__keyrack_comp_using set sync remove' -s y -l yes -d 'do not ask'
complete -c keyrack -n '__keyrack_comp_using remove' -l adopted -d 'give every profile keyrack took over its own keys back'
complete -c keyrack -n '__keyrack_comp_using remove' -x -l sso-session -a '(__keyrack_comp_names sessions)' -d 'with --adopted: only this sso-session'

# sign-in flags
complete -c keyrack -n '__keyrack_comp_using set unlock sync' -l device-code -d 'sign in with a device code'
complete -c keyrack -n '__keyrack_comp_using set unlock sync' -l no-browser -d 'print the sign-in URL instead of opening a browser'
complete -c keyrack -n '__keyrack_comp_using set unlock relock status list sync remove' -l json -d 'print the result as JSON'

# relock
complete -c keyrack -n '__keyrack_comp_using relock' -x -l session -a '(__keyrack_comp_names sessions)' -d 'relock this sso-session'
complete -c keyrack -n '__keyrack_comp_using relock' -l all -d 'relock every sso-session keyrack manages'
complete -c keyrack -n '__keyrack_comp_using status' -l all -d 'every keyrack profile, whatever AWS_PROFILE says'

# init
complete -c keyrack -n '__keyrack_comp_wants_positional init' -a 'bash zsh fish' -d shell
complete -c keyrack -n '__keyrack_comp_using init' -l write -d 'write the hook to a file and print the rc line'
complete -c keyrack -n '__keyrack_comp_using init' -l no-prompt -d 'leave out the prompt hook'

# use
complete -c keyrack -n '__keyrack_comp_using use' -l clear -d 'unset AWS_PROFILE'

# export
complete -c keyrack -n '__keyrack_comp_using export' -x -l format -a 'env env-no-export dotenv json fish powershell' -d 'output format'

# console
complete -c keyrack -n '__keyrack_comp_using console' -x -l service -a 's3 ec2 iam lambda cloudwatch' -d 'open this console service'
complete -c keyrack -n '__keyrack_comp_using console' -x -l destination -d 'open this console URL'
complete -c keyrack -n '__keyrack_comp_using console' -x -l region -d "the console's region"
complete -c keyrack -n '__keyrack_comp_using console' -l url -d 'print the sign-in URL instead of opening a browser'
complete -c keyrack -n '__keyrack_comp_using console' -x -l browser -d 'browser command, {url} where the URL goes'

# sync
complete -c keyrack -n '__keyrack_comp_using sync' -x -l start-url -d 'IAM Identity Center start URL'
complete -c keyrack -n '__keyrack_comp_using sync' -x -l sso-region -d 'region of the IAM Identity Center instance'
complete -c keyrack -n '__keyrack_comp_using sync' -x -l sso-session -a '(__keyrack_comp_names sessions)' -d 'the sso-session to sync'
complete -c keyrack -n '__keyrack_comp_using sync' -x -l template -d 'jinja2 template of the profile names'
complete -c keyrack -n '__keyrack_comp_using sync' -x -l prefix -d 'put this before every generated name'
complete -c keyrack -n '__keyrack_comp_using sync' -x -l region -d 'default region for every generated profile'
complete -c keyrack -n '__keyrack_comp_using sync' -l prune -d 'remove the profiles sync made that the server no longer has'
complete -c keyrack -n '__keyrack_comp_using sync' -l dry-run -d 'show the plan, write nothing'
complete -c keyrack -n '__keyrack_comp_using sync' -l overwrite-edited -d 'also overwrite or prune profiles edited after sync'
complete -c keyrack -n '__keyrack_comp_using sync' -l adopt -d 'convert your aws configure sso profiles in place'

# demo
complete -c keyrack -n '__keyrack_comp_using demo' -l shell -d 'afterwards, open your shell inside the demo'

# exec, serve
complete -c keyrack -n '__keyrack_comp_using exec' -l static -d 'put the keys themselves in the environment'
complete -c keyrack -n '__keyrack_comp_using serve' -x -l port -d 'port on 127.0.0.1'
complete -c keyrack -n '__keyrack_comp_using serve' -x -l format -a 'env json fish' -d 'how to print the variables'
