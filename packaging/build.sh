#!/usr/bin/env bash
# Builds the one-folder PyInstaller bundle of Jobdock: <dist>/jobdock/jobdock (+ _internal/).
# Runs from the repo's venv (scripts/setup makes it); installs PyInstaller there through the
# `packaging` extra when it is missing. Prints the build time and the bundle's size.
#
# Usage: packaging/build.sh [--dist DIR] [--work DIR]
#   --dist DIR   where the bundle goes (default: dist, so dist/jobdock/jobdock)
#   --work DIR   PyInstaller's build cache (default: build/pyinstaller)
# The bundle runs without the venv: dist/jobdock/jobdock --version; dist/jobdock/jobdock --demo
set -euo pipefail

cd "$(dirname "${BASH_SOURCE[0]}")/.."
readonly python=.venv/bin/python

say() { printf 'build: %s\n' "$*"; }
die() {
    printf 'build: error: %s\n' "$*" >&2
    exit 1
}

dist=dist
work=build/pyinstaller
while (($#)); do
    case $1 in
    --dist) dist=${2:?--dist needs a directory} && shift ;;
    --work) work=${2:?--work needs a directory} && shift ;;
    -h | --help)
        sed -n '2,9s/^# \{0,1\}//p' "${BASH_SOURCE[0]}"
        exit 0
        ;;
    *) die "unknown option: $1 (try --help)" ;;
    esac
    shift
done

[[ -x $python ]] || die "no $python: run scripts/setup first"
if ! "$python" -c 'import PyInstaller' 2>/dev/null; then
    say "installing PyInstaller into .venv (the [packaging] extra)"
    "$python" -m pip install --quiet --disable-pip-version-check --progress-bar off \
        --root-user-action=ignore -e '.[packaging]' </dev/null
fi

start=$SECONDS
say "PyInstaller $("$python" -m PyInstaller --version) -> $dist/jobdock"
"$python" -m PyInstaller --noconfirm --clean --log-level WARN \
    --distpath "$dist" --workpath "$work" packaging/pyinstaller/jobdock.spec
bundle=$dist/jobdock
[[ -x $bundle/jobdock ]] || die "PyInstaller finished but $bundle/jobdock is missing"
version=$("$bundle/jobdock" --version) || die "$bundle/jobdock --version failed"
say "built $version in $((SECONDS - start))s"
say "bundle size: $(du -sh "$bundle" | cut -f1) ($(find "$bundle" -type f | wc -l) files) in $bundle"
