#!/bin/sh
# gitrelstate @HOOK@ hook -- gitrelstate-hook-id: 5d0c7a3e91b4 v@VERSION@
# Written by 'git relstate install'. The checks live in 'git relstate hook @HOOK@';
# 'git relstate uninstall' removes this file and restores the hook it replaced.
hook=@HOOK@
python=@PYTHON@
chained="$(dirname "$0")/$hook.relstate-chained"
status=0
if [ -x "$chained" ]; then
    # The hook that was here before runs first, with the same arguments.
    if [ "$hook" = pre-push ]; then
        # Both read the refs being pushed from stdin: keep a copy for the second.
        refs=$(mktemp "${TMPDIR:-/tmp}/relstate-pre-push.XXXXXX") || exit 1
        trap 'rm -f "$refs"' EXIT
        cat >"$refs"
        "$chained" "$@" <"$refs" || status=$?
        exec <"$refs"
    else
        "$chained" "$@" || status=$?
    fi
    case "$hook" in pre-*) [ "$status" = 0 ] || exit "$status" ;; esac
fi
# RELSTATE_SKIP_HOOKS=1 skips gitrelstate's part; RELSTATE_IN_HOOK: no re-entry.
[ "$RELSTATE_SKIP_HOOKS" = 1 ] || [ -n "$RELSTATE_IN_HOOK" ] && exit "$status"
if [ -x "$python" ]; then
    # The interpreter that installed the hook; '' is dropped from sys.path so that
    # a folder named gitrelstate in the work tree cannot stand in for the package.
    "$python" -c 'import sys; sys.path[:] = [p for p in sys.path if p]
from gitrelstate.cli import main; main()' hook "$hook" "$@" || exit $?
elif command -v git-relstate >/dev/null 2>&1; then
    git-relstate hook "$hook" "$@" || exit $?
else
    echo "gitrelstate: cannot run its $hook hook: neither $python nor git-relstate exists" >&2
    echo "hint: reinstall gitrelstate, skip once with RELSTATE_SKIP_HOOKS=1, or delete $0" >&2
    case "$hook" in pre-*) exit 1 ;; esac
fi
exit "$status"
