#!/bin/bash
# test/upgrade/build-old.sh: the released lakehouse 0.1 for the upgrade test
# (test/t/018_upgrade.pl), and a private PostgreSQL installation tree in
# which the test "installs the package" of one version or the other.
#
#   build-old.sh build OUT
#       As root (scripts/run-tests.sh does it before the TAP suite): take
#       the tree of the release from git (tag v0.1, else commit 093e11e) of
#       the repository this script lives in (or $LH_REPO), build it with
#       PGXS (make with_llvm=no) in OUT/src and stage what `make install`
#       installs under OUT/stage (DESTDIR), e.g.
#       OUT/stage/usr/lib/postgresql/15/lib/lakehouse.so.  Without git
#       history (no .git, or a clone without the tag and the commit) it
#       fails with a message saying so; run-tests.sh hands that message to
#       the test, which fails with it.
#
#   build-old.sh mirror DEST
#       Make DEST a private copy of the PostgreSQL installation that
#       pg_config names, without any lakehouse file.  PostgreSQL finds its
#       share and lib directories relative to the directory of its
#       binaries, so DEST mirrors bindir, pkglibdir and sharedir with the
#       same relative layout (Debian: DEST/usr/lib/postgresql/15/bin,
#       .../lib, DEST/usr/share/postgresql/15).  The binaries are copied
#       (PostgreSQL resolves symbolic links to its own executable, so a
#       link would lead back to the system tree); everything else is a
#       symbolic link to the system file, pg_cron included.  The tree is
#       what PostgreSQL::Test::Cluster->new(install_path => ...) wants:
#       install_path = DEST<dirname of bindir>.
#
#   build-old.sh package DEST ROOT
#       "Install the lakehouse package" rooted at ROOT into the mirror
#       DEST: remove DEST's lakehouse files (library, bitcode, control file
#       and SQL scripts), then copy ROOT's in (ROOT/ = the system
#       installation, i.e. the current build; OUT/stage = the 0.1 build).
#       The library is copied to a temporary name and renamed, as a package
#       manager would.
#
# Environment: PG_CONFIG (default pg_config), LH_REPO (build), MAKEFLAGS.
set -euo pipefail

PG_CONFIG=${PG_CONFIG:-pg_config}
OLD_TAG=v0.1
OLD_COMMIT=093e11e

die() { printf 'build-old: ERROR: %s\n' "$*" >&2; exit 1; }

pg_paths()
{
	command -v "$PG_CONFIG" >/dev/null 2>&1 || die "pg_config not found ($PG_CONFIG)"
	BINDIR=$("$PG_CONFIG" --bindir)
	PKGLIBDIR=$("$PG_CONFIG" --pkglibdir)
	SHAREDIR=$("$PG_CONFIG" --sharedir)
	[ -x "$BINDIR/postgres" ] || die "no postgres binary in $BINDIR"
}

cmd_build()
{
	local out=$1 repo commit
	repo=${LH_REPO:-$(cd "$(dirname "${BASH_SOURCE[0]}")/../.." && pwd)}
	command -v git >/dev/null 2>&1 ||
		die "git is not installed: the upgrade test builds lakehouse $OLD_TAG from git history"
	# the work tree's own history, not that of a repository around it
	if [ "$(git -c safe.directory="$repo" -C "$repo" rev-parse --show-toplevel 2>/dev/null)" != "$(cd "$repo" && pwd -P)" ]; then
		die "$repo has no git history (no .git): the upgrade test builds lakehouse $OLD_TAG from git; run the tests from a git clone"
	fi
	commit=$(git -c safe.directory="$repo" -C "$repo" rev-parse -q --verify "$OLD_TAG^{commit}" 2>/dev/null ||
		git -c safe.directory="$repo" -C "$repo" rev-parse -q --verify "$OLD_COMMIT^{commit}" 2>/dev/null) ||
		die "neither tag $OLD_TAG nor commit $OLD_COMMIT is in $repo (a shallow clone?): the upgrade test needs the released tree; fetch it (git fetch --tags, or a full clone)"
	rm -rf "$out/src" "$out/stage"
	mkdir -p "$out/src" "$out/stage"
	git -c safe.directory="$repo" -C "$repo" archive "$commit" | tar -x -C "$out/src" ||
		die "git archive $commit failed"
	echo "build-old: building lakehouse $OLD_TAG (commit $commit) in $out/src"
	if ! make -C "$out/src" -s -j"$(nproc)" with_llvm=no PG_CONFIG="$PG_CONFIG" >"$out/build.log" 2>&1; then
		tail -n 40 "$out/build.log" >&2
		die "the build of lakehouse $OLD_TAG failed (log: $out/build.log)"
	fi
	if ! make -C "$out/src" -s with_llvm=no PG_CONFIG="$PG_CONFIG" DESTDIR="$out/stage" install \
		>>"$out/build.log" 2>&1; then
		tail -n 40 "$out/build.log" >&2
		die "staging lakehouse $OLD_TAG failed (log: $out/build.log)"
	fi
	pg_paths
	[ -f "$out/stage$PKGLIBDIR/lakehouse.so" ] || die "no lakehouse.so staged under $out/stage$PKGLIBDIR"
	[ -f "$out/stage$SHAREDIR/extension/lakehouse.control" ] ||
		die "no lakehouse.control staged under $out/stage$SHAREDIR/extension"
	echo "$commit" >"$out/stage/COMMIT"
	echo "build-old: lakehouse $OLD_TAG staged in $out/stage"
}

# link_entries SRC DST [SKIP_GLOB]: DST/x -> SRC/x for every entry of SRC,
# except names matching SKIP_GLOB.
link_entries()
{
	local src=$1 dst=$2 skip=${3:-} e name
	mkdir -p "$dst"
	for e in "$src"/* "$src"/.[!.]*; do
		if [ ! -e "$e" ] && [ ! -L "$e" ]; then continue; fi
		name=${e##*/}
		# shellcheck disable=SC2053
		if [ -n "$skip" ] && [[ $name == $skip ]]; then continue; fi
		ln -s "$e" "$dst/$name"
	done
}

cmd_mirror()
{
	local dest=$1
	pg_paths
	[ ! -e "$dest$BINDIR" ] || die "$dest$BINDIR exists already"
	mkdir -p "$dest$BINDIR"
	cp -a "$BINDIR/." "$dest$BINDIR/"
	# pkglibdir: every module but lakehouse's, bitcode likewise
	link_entries "$PKGLIBDIR" "$dest$PKGLIBDIR" 'lakehouse*'
	if [ -d "$PKGLIBDIR/bitcode" ]; then
		rm -f "$dest$PKGLIBDIR/bitcode"
		link_entries "$PKGLIBDIR/bitcode" "$dest$PKGLIBDIR/bitcode" 'lakehouse*'
	fi
	# sharedir: everything, but extension/ without lakehouse's files
	link_entries "$SHAREDIR" "$dest$SHAREDIR"
	rm -f "$dest$SHAREDIR/extension"
	link_entries "$SHAREDIR/extension" "$dest$SHAREDIR/extension" 'lakehouse*'
	# the copy must know where it is
	[ "$("$dest$BINDIR/pg_config" --sharedir)" = "$dest$SHAREDIR" ] ||
		die "the mirrored pg_config does not find $dest$SHAREDIR"
	echo "build-old: PostgreSQL mirrored in $dest (install_path $(dirname "$dest$BINDIR"))"
}

cmd_package()
{
	local dest=$1 root=${2%/} f
	pg_paths
	if [ ! -d "$dest$PKGLIBDIR" ] || [ ! -d "$dest$SHAREDIR/extension" ]; then
		die "$dest is not a mirror (build-old.sh mirror)"
	fi
	[ -f "$root$PKGLIBDIR/lakehouse.so" ] || die "no lakehouse.so in $root$PKGLIBDIR"
	rm -rf "$dest$PKGLIBDIR"/lakehouse.so "$dest$SHAREDIR"/extension/lakehouse[.-]*
	rm -rf "$dest$PKGLIBDIR"/bitcode/lakehouse*
	cp "$root$PKGLIBDIR/lakehouse.so" "$dest$PKGLIBDIR/.lakehouse.so.new"
	mv "$dest$PKGLIBDIR/.lakehouse.so.new" "$dest$PKGLIBDIR/lakehouse.so"
	for f in "$root$SHAREDIR"/extension/lakehouse.control "$root$SHAREDIR"/extension/lakehouse--*.sql; do
		if [ -f "$f" ]; then cp "$f" "$dest$SHAREDIR/extension/"; fi
	done
	if [ -d "$root$PKGLIBDIR/bitcode" ] && [ -d "$dest$PKGLIBDIR/bitcode" ]; then
		for f in "$root$PKGLIBDIR"/bitcode/lakehouse*; do
			if [ -e "$f" ]; then cp -a "$f" "$dest$PKGLIBDIR/bitcode/"; fi
		done
	fi
	echo "build-old: lakehouse package from ${root:-/} installed in $dest:" \
		"$(sed -n "s/^default_version = //p" "$dest$SHAREDIR/extension/lakehouse.control")"
}

case "${1:-}" in
	build) [ $# -eq 2 ] || die "usage: $0 build OUT"; cmd_build "$2" ;;
	mirror) [ $# -eq 2 ] || die "usage: $0 mirror DEST"; cmd_mirror "$2" ;;
	package) [ $# -eq 3 ] || die "usage: $0 package DEST ROOT"; cmd_package "$2" "$3" ;;
	*) die "usage: $0 build OUT | mirror DEST | package DEST ROOT" ;;
esac
