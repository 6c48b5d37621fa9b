#!/usr/bin/env bash
# Lays out, under $1, the sources build_sets.py reads, at the commits the
# committed sets were built from (SOURCES.md).
set -euo pipefail
dst=${1:?usage: fetch_sources.sh DIR}
mkdir -p "$dst"
get() { # repo commit dir paths...
    local repo=$1 commit=$2 dir=$3; shift 3
    local tmp; tmp=$(mktemp -d)
    git clone -q --filter=blob:none --no-checkout "https://github.com/$repo" "$tmp"
    git -C "$tmp" checkout -q "$commit" -- "$@"
    mkdir -p "$dst/$dir"
    (cd "$tmp" && cp -r "$@" "$dst/$dir/")
    rm -rf "$tmp"
}
get arthurdejong/python-stdnum 006192e59be8ed6e08fd680256868a6c31eb2ba9 stdnum-src tests stdnum COPYING
get pelias/parser b4494c2a979dd16683c7604258131a55cdf8668a pelias test LICENSE
get maxmind/MaxMind-DB 2f18851d11a77ca981975666b18680979a6759a5 maxmind source-data LICENSE-MIT LICENSE-APACHE
get openvenues/libpostal 4c030d8ff2fcf59c26510f68823c28a2346034d4 libpostal test/test_parser.c LICENSE
tmp=$(mktemp -d)
git clone -q --filter=blob:none --no-checkout https://github.com/Babelscape/wikineural "$tmp"
mkdir -p "$dst/wikineural"
for l in de en es fr it nl pl pt; do
    for f in test val; do
        git -C "$tmp" show "d2e28c770cba2b285e742529ae18ed849e336c65:data/wikineural/$l/$f.conllu" > "$dst/wikineural/$l.$f.conllu"
    done
done
rm -rf "$tmp"
