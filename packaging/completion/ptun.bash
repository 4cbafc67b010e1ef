# bash completion for ptun. Subcommands and options are read from the binary's own --help, so
# this file never lags behind the CLI; config files complete to *.toml, sockets and dirs to paths.
# The COMPREPLY=($(compgen ...)) idiom is bash completion's own: words never contain spaces here.
# shellcheck disable=SC2207
# Needs nothing from the bash-completion package (works with plain `source`).

# _ptun_words HELP_TEXT SECTION: the subcommand names ("Subcommands:") or the option spellings
# ("Options:") listed in CLI11's help text.
_ptun_words() {
  local in=0 line w
  while IFS= read -r line; do
    case $line in
      "$2:"*) in=1; continue ;;
      [A-Za-z]*) in=0; continue ;;
    esac
    [ $in = 1 ] || continue
    if [ "$2" = Subcommands ]; then
      [[ $line =~ ^\ \ ([a-z][a-z-]*) ]] && printf '%s\n' "${BASH_REMATCH[1]}"
    else
      [[ $line =~ ^\ \ (-[^ ]*) ]] || continue
      for w in ${BASH_REMATCH[1]//,/ }; do printf '%s\n' "$w"; done
    fi
  done <<<"$1"
}

_ptun() {
  local cur=${COMP_WORDS[COMP_CWORD]} prev=${COMP_WORDS[COMP_CWORD-1]} ptun=${COMP_WORDS[0]}
  local i cmd=() w
  COMPREPLY=()
  case $prev in
    -c|--config) COMPREPLY=($(compgen -f -X '!*.toml' -- "$cur") $(compgen -d -S / -- "$cur")); compopt -o nospace 2>/dev/null; return ;;
    -s|--socket) COMPREPLY=($(compgen -f -- "$cur")); return ;;
    --log-level) COMPREPLY=($(compgen -W "error warn info debug" -- "$cur")); return ;;
  esac
  # the subcommand path so far (ptun pki issue ...), options and their values skipped
  for ((i = 1; i < COMP_CWORD; i++)); do
    w=${COMP_WORDS[i]}
    case $w in
      -c|--config|-s|--socket|--log-level|--app|--data|--days|--dns|--ip) ((i++)) ;;
      -*) ;;
      *) cmd+=("$w") ;;
    esac
  done
  [ "${cmd[0]:-}" = exec ] && [[ " ${COMP_WORDS[*]:1:COMP_CWORD-1} " == *" -- "* ]] && return   # the command's own args
  local help
  help=$("$ptun" "${cmd[@]}" --help 2>/dev/null) || return
  if [[ $cur == -* ]]; then
    COMPREPLY=($(compgen -W "$(_ptun_words "$help" Options)" -- "$cur"))
    return
  fi
  local subs
  subs=$(_ptun_words "$help" Subcommands)
  if [ -n "$subs" ]; then
    COMPREPLY=($(compgen -W "$subs" -- "$cur"))
  elif [ "${cmd[0]:-}" = check-config ]; then
    COMPREPLY=($(compgen -f -X '!*.toml' -- "$cur") $(compgen -d -S / -- "$cur")); compopt -o nospace 2>/dev/null
  elif [ "${cmd[0]:-}" = pki ]; then
    COMPREPLY=($(compgen -d -- "$cur"))
  fi
}
complete -F _ptun ptun
