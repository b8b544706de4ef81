# bash completion for berth (docs/cli.md). Install:
#   cp contrib/berth.bash /etc/bash_completion.d/berth    (or: source contrib/berth.bash)
# Completes commands, verbs and options; cluster names after --cluster, task
# definition families after `task run` and `service create`, task ids after
# `stop` and `logs`, asking the server the CLI is configured for (quietly:
# nothing is offered when it cannot be reached).

_berth_column() {
	# the first column of a berth table, without its header
	berth "$@" 2>/dev/null | awk 'NR > 1 { print $1 }'
}

_berth() {
	local cur prev words cword
	if declare -F _init_completion >/dev/null; then
		_init_completion || return
	else
		cur=${COMP_WORDS[COMP_CWORD]}
		prev=${COMP_WORDS[COMP_CWORD - 1]}
		words=("${COMP_WORDS[@]}")
		cword=$COMP_CWORD
	fi

	local commands="cluster taskdef task ps stop service instance logs image images server agent dev version help"
	local common="--cluster --json --endpoint-url --region --profile --help"

	case "$prev" in
	--cluster)
		COMPREPLY=($(compgen -W "$(_berth_column cluster ls)" -- "$cur"))
		return ;;
	--profile)
		local profiles
		profiles=$(sed -n 's/^\[\(profile \)\{0,1\}\([^]]*\)\]$/\2/p' \
			"${AWS_SHARED_CREDENTIALS_FILE:-$HOME/.aws/credentials}" \
			"${AWS_CONFIG_FILE:-$HOME/.aws/config}" 2>/dev/null | sort -u)
		COMPREPLY=($(compgen -W "$profiles" -- "$cur"))
		return ;;
	--scheduling)
		COMPREPLY=($(compgen -W "REPLICA DAEMON" -- "$cur"))
		return ;;
	--endpoint-url | --region | --count | --reason | --started-by | --group | --filter | \
		--min-healthy | --max-percent | --limit | -n | --data-dir | --listen)
		return ;;
	esac

	if [ "$cword" -eq 1 ]; then
		COMPREPLY=($(compgen -W "$commands" -- "$cur"))
		return
	fi

	local noun=${words[1]} verb=${words[2]:-} verbs="" opts=""
	case "$noun" in
	cluster) verbs="ls create rm" ;;
	taskdef) verbs="register ls show rm"
		case "$verb" in ls) opts="--family --all" ;; esac ;;
	task) verbs="run ls show stop"
		case "$verb" in
		run) opts="--count --wait --started-by --group" ;;
		ls) opts="--all --service" ;;
		stop) opts="--reason" ;;
		esac ;;
	service) verbs="ls create scale update events rm"
		case "$verb" in
		create) opts="--count --scheduling --min-healthy --max-percent --circuit-breaker --wait" ;;
		scale) opts="--wait" ;;
		update) opts="--taskdef --count --force-new-deployment --wait" ;;
		events) opts="--follow --limit" ;;
		rm) opts="--force" ;;
		esac ;;
	instance) verbs="ls drain activate rm"
		case "$verb" in ls) opts="--filter" ;; rm) opts="--force" ;; esac ;;
	ps) opts="--all --service $common" ;;
	stop) opts="--reason $common" ;;
	logs) opts="--follow $common" ;;
	image) verbs="pull ls" ;;
	esac

	if [ -n "$verbs" ] && [ "$cword" -eq 2 ]; then
		COMPREPLY=($(compgen -W "$verbs help" -- "$cur"))
		return
	fi
	if [[ "$cur" == -* ]]; then
		case "$noun" in
		cluster | taskdef | task | service | instance) opts="$opts $common" ;;
		esac
		COMPREPLY=($(compgen -W "$opts" -- "$cur"))
		return
	fi
	case "$noun $verb" in
	"task run" | "service create" | "taskdef show")
		COMPREPLY=($(compgen -W "$(_berth_column taskdef ls)" -- "$cur")) ;;
	"stop "* | "logs "* | "task stop" | "task show")
		COMPREPLY=($(compgen -W "$(_berth_column ps)" -- "$cur")) ;;
	"cluster rm")
		COMPREPLY=($(compgen -W "$(_berth_column cluster ls)" -- "$cur")) ;;
	"instance drain" | "instance activate" | "instance rm")
		COMPREPLY=($(compgen -W "$(_berth_column instance ls)" -- "$cur")) ;;
	"service "*)
		COMPREPLY=($(compgen -W "$(_berth_column service ls)" -- "$cur")) ;;
	"taskdef register")
		COMPREPLY=($(compgen -f -- "$cur")) ;;
	esac
}

complete -F _berth berth
