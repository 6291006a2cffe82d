#!/usr/bin/env bash
# Every C file the project owns is formatted with .clang-format.
set -u
root=${1:?usage: check_format.sh SOURCE_DIR CLANG_FORMAT}
cf=${2:-clang-format}
cd "$root" || exit 2
files=$(git ls-files --cached --others --exclude-standard '*.c' '*.h' 2>/dev/null || find . -name '*.[ch]' -not -path './build*')
[ -n "$files" ] || { echo "lint_format: no C files found"; exit 1; }
if ! $cf --dry-run --Werror $files; then
    echo "lint_format: run: clang-format -i <the files above>"
    exit 1
fi
echo "lint_format: $(echo "$files" | wc -w) files formatted"
