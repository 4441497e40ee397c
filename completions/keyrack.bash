# shellcheck shell=bash
# bash completion for keyrack: subcommands, their flags, shell names for
# `init`, formats for `export`, and keyrack's profiles (and sso-sessions) read
# from $KEYRACK_HOME/prompt/ with a glob: no Python runs on TAB.
# Loaded by the shell hook (`eval "$(keyrack init bash)"`); it can also be
# sourced on its own. tests/completions_test.py keeps it in step with cli.py.

__keyrack_comp_commands='set unlock relock status list credential-process init use export exec console serve sync remove demo'

# Flags of each subcommand; the ones that take a value are listed again below.
__keyrack_comp_flags() {
    case $1 in
    set) REPLY='--help -h --start-url --sso-region --account-id --role-name --region --sso-session --device-code --no-browser --auto-unlock --no-verify --roundtrip --adopt --yes -y --json' ;;
    unlock) REPLY='--help -h --device-code --no-browser --json' ;;
    relock) REPLY='--help -h --session --all --json' ;;
    status) REPLY='--help -h --json --all' ;;
    list) REPLY='--help -h --json' ;;
    init) REPLY='--help -h --write --no-prompt' ;;
    use) REPLY='--help -h --clear' ;;
    export) REPLY='--help -h --format' ;;
    console) REPLY='--help -h --service --destination --region --url --browser' ;;
    exec) REPLY='--help -h --static' ;;
    serve) REPLY='--help -h --port --format' ;;
    sync) REPLY='--help -h --start-url --sso-region --sso-session --template --prefix --region --device-code --no-browser --prune --dry-run --overwrite-edited --adopt --yes -y --json' ;;
    remove) REPLY='--help -h --adopted --sso-session --yes -y --json' ;;
    demo) REPLY='--help -h --shell' ;;
    *) REPLY='--help -h' ;;
    esac
}

__keyrack_comp_takes_value() {
    case $1 in
    --start-url | --sso-region | --account-id | --role-name | --region | --sso-session | --auto-unlock | --session | --format | --service | --destination | --browser | --template | --prefix) return 0 ;;
    *) return 1 ;;
    esac
}

# Names of the files in $KEYRACK_HOME/prompt/$1 that start with $2.
__keyrack_comp_names() {
    local dir="${KEYRACK_HOME:-${HOME-}/.aws/keyrack}"
    # shellcheck disable=SC2088 # a literal "~/" in KEYRACK_HOME, as Python's expanduser reads it
    if [[ ${dir} == "~/"* ]]; then
        dir=${HOME-}/${dir:2}
    fi
    local file
    # Names never start with "." (atomic writes' temp files do).
    if [[ $2 == .* ]]; then
        return 0
    fi
    for file in "${dir}/prompt/$1/$2"*; do
        if [[ -f ${file} ]]; then
            COMPREPLY+=("${file##*/}")
        fi
    done
}

__keyrack_comp_words() {
    local word
    for word in $1; do
        if [[ ${word} == "$2"* ]]; then
            COMPREPLY+=("${word}")
        fi
    done
}

_keyrack() {
    COMPREPLY=()
    local cur="${COMP_WORDS[COMP_CWORD]}" prev=""
    if ((COMP_CWORD > 0)); then
        prev=${COMP_WORDS[COMP_CWORD - 1]}
    fi

    # The subcommand, and how many positional words follow it (before the cursor).
    local i word cmd="" positionals=0 skip=0
    for ((i = 1; i < COMP_CWORD; i++)); do
        word=${COMP_WORDS[i]}
        if ((skip)); then
            skip=0
        elif [[ ${word} == -* ]]; then
            if __keyrack_comp_takes_value "${word}"; then
                skip=1
            fi
        elif [[ -z ${cmd} ]]; then
            cmd=${word}
        else
            positionals=$((positionals + 1))
        fi
    done

    if [[ -z ${cmd} ]]; then
        if [[ ${cur} == -* ]]; then
            __keyrack_comp_words '--help -h --version' "${cur}"
        else
            __keyrack_comp_words "${__keyrack_comp_commands}" "${cur}"
        fi
        return 0
    fi

    case ${prev} in
    --auto-unlock) __keyrack_comp_words 'tty always never' "${cur}"; return 0 ;;
    --format) __keyrack_comp_words 'env env-no-export dotenv json fish powershell' "${cur}"; return 0 ;;
    --sso-session | --session) __keyrack_comp_names sessions "${cur}"; return 0 ;;
    --start-url | --sso-region | --account-id | --role-name | --region | --service | --destination | --browser | --port | --template | --prefix) return 0 ;;
    *) ;;
    esac

    if [[ ${cmd} == exec && ${positionals} -ge 1 ]]; then
        # The command to run: let bash complete commands and files.
        # A read loop, not mapfile: bash 3.2 (macOS's /bin/bash) has no mapfile.
        local kind=-f
        if ((positionals == 1)) || [[ ${prev} == -- ]]; then
            kind=-c
        fi
        while IFS= read -r word; do
            COMPREPLY+=("${word}")
        done < <(compgen "${kind}" -- "${cur}")
        return 0
    fi

    if [[ ${cur} == -* ]]; then
        local REPLY
        __keyrack_comp_flags "${cmd}"
        __keyrack_comp_words "${REPLY}" "${cur}"
        return 0
    fi
    if ((positionals > 0)); then
        return 0
    fi
    case ${cmd} in
    init) __keyrack_comp_words 'bash zsh fish' "${cur}" ;;
    set | unlock | relock | status | credential-process | use | export | exec | console | serve | remove)
        __keyrack_comp_names profiles "${cur}" ;;
    *) ;;
    esac
    return 0
}

complete -F _keyrack keyrack
