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
# Git runs hooks from the top of the work tree. Without .relstate/ there is nothing
# to check, and no reason to need Python at all.
[ -f .relstate/config.yaml ] || exit "$status"
# Only a verdict of gitrelstate's hook stops git (exit 1). When gitrelstate cannot
# run (uninstalled, its interpreter gone, a version without this hook), say so once
# and let git go on: a broken installation must not hold every commit hostage.
inactive() {
    echo "gitrelstate: $hook hook inactive ($1); git continues. Fix: 'git relstate install' from a working installation, or delete $0" >&2
    exit "$status"
}
rc=@UNAVAILABLE@
if [ -x "$python" ]; then
    # The interpreter that installed the hook, importing nothing from the work tree
    # (a committed gitrelstate/ folder must not stand in for the package); exit
    # @UNAVAILABLE@ when it cannot import gitrelstate.
    "$python" @FLAGS@ -c @BOOTSTRAP@ hook "$hook" "$@"
    rc=$?
fi
if [ "$rc" = @UNAVAILABLE@ ]; then
    # A git-relstate in an absolute PATH folder (never the work tree), if it works.
    exe=
    saved_ifs=$IFS
    IFS=:
    set -f
    for dir in $PATH; do
        case "$dir" in
            /*) if [ -f "$dir/git-relstate" ] && [ -x "$dir/git-relstate" ]; then exe="$dir/git-relstate"; break; fi ;;
        esac
    done
    set +f
    IFS=$saved_ifs
    if [ -n "$exe" ] && "$exe" --version >/dev/null 2>&1; then
        "$exe" hook "$hook" "$@"
        rc=$?
    else
        inactive "cannot import gitrelstate with $python"
    fi
fi
case "$rc" in
    0) ;;
    1) exit 1 ;;
    130) exit 130 ;;
    *) inactive "'git relstate hook $hook' ended with status $rc, not a verdict" ;;
esac
exit "$status"
