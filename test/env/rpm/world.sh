# shellcheck shell=bash
# The test bed's RPM world (job `rpm` of testbed.sh, which sources this file and
# provides log/die/run_in_root/tar_layer/push/...). Why it exists: no RPM mirror
# or registry is reachable, so the bed makes its own GPG key, signed RPM
# repositories (make-repo.mjs, from world.json), a Debian bookworm root with
# Debian's dnf + rpm, and the rpm/* images; it proves them with the real dnf in
# a chroot and pushes them. See README.md in this directory.

RPM_RECIPE=1
RPM_BASE_RECIPE=1
RPM_DIR="$HERE/rpm"
RPM_KEY_DIR="$CACHE/rpm-key"
RPM_REPO="$CACHE/rpm-repo"
RPM_BASE_TAR="$CACHE/rpm-base.tar.zst"
RPM_FIXTURES="${ALPINE_FIXTURES%/alpine}/rpm"
RPM_KEY_NAME=RPM-GPG-KEY-copa-testbed
RPM_KEY_PATH=/etc/pki/rpm-gpg/$RPM_KEY_NAME
# Image tags under repository rpm/<name>; the first column is the layer file.
RPM_IMAGES=(cbl-mariner:2.0-distroless dnf:almalinux-9.3 dnf:centos-6 tooling:latest
	rpmdb:cbl-mariner-2.0 rpmdb:amazonlinux-2023 rpmdb:rhel-8 rpmdb:sles-15)
RPM_DNF_PKGS=(dnf rpm gnupg busybox-static)
DISTROLESS_RPM_CONFIG='{"User":"0","WorkingDir":"/","Cmd":null}'
RPMDB_CONFIG='{"Cmd":null}'
RPM_LOCAL_EDIT='# copa-testbed: local edit, kept across upgrades'

rpm_layer() { echo "$IMAGES/rpm-${1//[:\/]/-}.tar.gz"; } # rpm_layer dnf:centos-6

ensure_rpm_key() {
	[[ -s $RPM_KEY_DIR/keyid && -s $RPM_KEY_DIR/$RPM_KEY_NAME && -d $RPM_KEY_DIR/gnupg ]] && return 0
	log "making the RPM repository signing key (GPG, RSA 3072)"
	rm -rf "$RPM_KEY_DIR"
	mkdir -p "$RPM_KEY_DIR/gnupg"
	chmod 0700 "$RPM_KEY_DIR/gnupg"
	local g=(gpg --homedir "$RPM_KEY_DIR/gnupg" --batch --quiet)
	"${g[@]}" --gen-key <<'EOF'
%no-protection
Key-Type: RSA
Key-Length: 3072
Key-Usage: sign
Name-Real: copa-ts test bed RPM signing key
Name-Email: rpm-testbed@copa-ts.invalid
Expire-Date: 0
%commit
EOF
	"${g[@]}" --with-colons --list-keys | awk -F: '$1 == "pub" { print $5; exit }' >"$RPM_KEY_DIR/keyid"
	"${g[@]}" --with-colons --list-keys | awk -F: '$1 == "fpr" { print $10; exit }' >"$RPM_KEY_DIR/fingerprint"
	"${g[@]}" --armor --export "$(cat "$RPM_KEY_DIR/keyid")" >"$RPM_KEY_DIR/$RPM_KEY_NAME"
	[[ -s $RPM_KEY_DIR/keyid && -s $RPM_KEY_DIR/$RPM_KEY_NAME ]] || die "gpg made no key in $RPM_KEY_DIR"
}

# Debian bookworm (the bed's 12-pointrelease layer) + Debian's dnf and rpm, with
# rpm's database at /var/lib/rpm (Debian's rpm defaults to ~/.rpmdb). The base
# of rpm/dnf:* and rpm/tooling; cached as a tarball.
rpm_base_stamp() { echo "$RPM_BASE_RECIPE ${RPM_DNF_PKGS[*]} $(stat -c '%s %Y' "$IMAGES/12-pointrelease.tar.gz")"; }
ensure_rpm_base() {
	local i
	# Job bookworm makes the layer; on a cold bed it runs next to this job.
	for ((i = 0; i < 3600; i++)); do
		[[ -f $IMAGES/12-pointrelease.tar.gz.created-by ]] && break
		((i % 60)) || log "waiting for job bookworm's 12-pointrelease layer"
		sleep 1
	done
	[[ -f $IMAGES/12-pointrelease.tar.gz.created-by ]] || die "no $IMAGES/12-pointrelease.tar.gz (job bookworm)"
	[[ -f $RPM_BASE_TAR && "$(cat "$RPM_BASE_TAR.stamp" 2>/dev/null)" == "$(rpm_base_stamp)" ]] && return 0
	local r="$WORK/rpm-base"
	log "making the dnf root (bookworm + ${RPM_DNF_PKGS[*]})"
	under_cache "$r"
	rm -rf "$r"
	mkdir -p "$r"
	tar -C "$r" --numeric-owner -xzf "$IMAGES/12-pointrelease.tar.gz"
	printf '#!/bin/sh\nexit 101\n' >"$r/usr/sbin/policy-rc.d"
	chmod +x "$r/usr/sbin/policy-rc.d"
	run_in_root "$r" sh -c "apt-get update -q && apt-get install -y -q --no-install-recommends ${RPM_DNF_PKGS[*]} && apt-get clean" \
		>"$LOGS/rpm-base-apt.log" 2>&1 || { tail_log "$LOGS/rpm-base-apt.log"; die "installing dnf into the rpm base root failed"; }
	mkdir -p "$r/etc/rpm" "$r/var/lib/rpm" "$r/etc/yum.repos.d" "$r/etc/pki/rpm-gpg" "$r/etc/dnf/vars"
	printf '# copa-ts test bed: rpm database where RPM distributions keep it (Debian: ~/.rpmdb)\n%%_dbpath /var/lib/rpm\n' >"$r/etc/rpm/macros"
	clean_root "$r"
	tar -C "$r" --numeric-owner --zstd -cf "$RPM_BASE_TAR.tmp" .
	mv -f "$RPM_BASE_TAR.tmp" "$RPM_BASE_TAR"
	rpm_base_stamp >"$RPM_BASE_TAR.stamp"
	rm -rf "$r"
}

unpack_rpm_base() { # dir
	under_cache "$1"
	rm -rf "$1"
	mkdir -p "$1"
	tar -C "$1" --numeric-owner --zstd -xf "$RPM_BASE_TAR"
}

rpm_stamp() {
	{
		echo "$RPM_RECIPE $RPM_BASE_RECIPE"
		cat "$RPM_KEY_DIR/keyid"
		cat "$RPM_DIR"/world.json "$RPM_DIR"/*.mjs "$RPM_DIR"/world.sh
		stat -c '%n %s %Y' "$RPM_FIXTURES"/packages/centos-release-* "$RPM_FIXTURES"/rpmdb/* "$RPM_FIXTURES"/*container-manifest-2
	} | sha256sum | cut -c1-16
}

# Expected contents of the real databases (rpm/rpmdb:* images): Debian's rpm
# lists sqlite and Berkeley DB; it has no ndb backend, so SUSE's Packages.db is
# listed by scan-headers.mjs.
rpmdb_expectations() { # out.json
	local n tag fixture path format d list reader
	n="$(jq '.rpmdbImages | length' "$RPM_DIR/world.json")"
	d="$WORK/rpmdb-expect"
	for ((i = 0; i < n; i++)); do
		read -r tag fixture path format < <(jq -r ".rpmdbImages[$i] | \"\(.tag) \(.fixture) \(.path) \(.format)\"" "$RPM_DIR/world.json")
		rm -rf "$d"
		mkdir -p "$d"
		cp "$RPM_FIXTURES/rpmdb/$fixture" "$d/${path##*/}"
		if [[ $format == ndb ]]; then
			list="$(node "$RPM_DIR/scan-headers.mjs" "$d/${path##*/}" | sort -u)"
			reader="scan-headers.mjs (Debian's rpm 4.18 has no ndb backend)"
		else
			list="$(rpm --dbpath "$d" -qa --qf '%{NAME} %{EPOCHNUM}:%{VERSION}-%{RELEASE} %{ARCH}\n' 2>/dev/null | sort)"
			reader="rpm $(rpm --version | awk '{print $3}') --dbpath DIR -qa"
		fi
		[[ -n $list ]] || die "no packages read from $fixture"
		jq -n --arg tag "$tag" --arg list "$list" --arg reader "$reader" --argjson d "$(jq ".rpmdbImages[$i]" "$RPM_DIR/world.json")" '
			($list | split("\n") | map(split(" ") | { name: .[0], evr: .[1], arch: .[2] })) as $pkgs |
			{ image: ("rpm/rpmdb:" + $tag), fixture: $d.fixture, path: $d.path, format: $d.format, readBy: $reader,
			  count: ($pkgs | length),
			  sample: ($d.sample | map(. as $n | { key: $n, value: ($pkgs[] | select(.name == $n) | .evr) }) | from_entries),
			  packages: $pkgs }'
	done | jq -s . >"$1"
	rm -rf "$d"
}

build_rpm_repo() { # stamp
	local new="$RPM_REPO.new"
	log "making the local RPM repositories"
	under_cache "$new"
	rm -rf "$new"
	mkdir -p "$new"
	node "$RPM_DIR/make-repo.mjs" --world "$RPM_DIR/world.json" --fixtures "$RPM_FIXTURES" --out "$new" \
		--gnupghome "$RPM_KEY_DIR/gnupg" --key-id "$(cat "$RPM_KEY_DIR/keyid")" --summary "$new/repos.json" ||
		die "make-repo.mjs failed"
	install -m 0644 "$RPM_KEY_DIR/$RPM_KEY_NAME" "$new/$RPM_KEY_NAME"
	rpmdb_expectations "$new/rpmdb.json"
	jq -n --slurpfile r "$new/repos.json" --slurpfile d "$new/rpmdb.json" --arg fpr "$(cat "$RPM_KEY_DIR/fingerprint")" \
		--arg key "$RPM_KEY_NAME" --arg keypath "$RPM_KEY_PATH" '{
			keyId: $r[0].keyId, fingerprint: $fpr, keyFile: $key, keyPathInImages: $keypath,
			repos: $r[0].repos, rpmdb: $d[0],
			images: {
				"rpm/cbl-mariner:2.0-distroless": { repo: "cbl-mariner-2.0", packageManager: null, releasever: "2.0",
					repoFile: "/etc/yum.repos.d/mariner-official-base.repo", localEdit: "/etc/pki/tls/openssl.cnf",
					manifest: "/var/lib/rpmmanifest/container-manifest-2" },
				"rpm/dnf:almalinux-9.3": { repo: "copa-testbed-el9", packageManager: "dnf",
					repoFile: "/etc/yum.repos.d/copa-testbed.repo", localEdit: "/etc/copa-demo.conf" },
				"rpm/dnf:centos-6": { repo: "centos-7", packageManager: "dnf", repoFile: "/etc/yum.repos.d/copa-centos7.repo" },
				"rpm/tooling:latest": { repo: "cbl-mariner-2.0", packageManager: "dnf", releasever: "2.0",
					repoFile: "/etc/yum.repos.d/mariner-official-base.repo" }
			}
		}' >"$new/packages.json"
	rm -f "$new/repos.json" "$new/rpmdb.json"
	touch "$new/.stamp-$1"
	rm -rf "$RPM_REPO.old"
	[[ -d $RPM_REPO ]] && mv "$RPM_REPO" "$RPM_REPO.old"
	mv "$new" "$RPM_REPO"
	rm -rf "$RPM_REPO.old"
}

rpm_repo_path() { jq -r --arg id "$1" '.repos[] | select(.id == $id) | .path' "$RPM_REPO/packages.json"; }

# write_repo_file FILE SECTION NAME URL-PATH GPGKEYS: gpg checks on, always.
write_repo_file() {
	mkdir -p "$(dirname "$1")"
	cat >"$1" <<EOF
# copa-ts test bed: the bed's local repository (http://127.0.0.1:$RPM_PORT), signed packages and metadata
[$2]
name=$3
baseurl=http://127.0.0.1:$RPM_PORT/$4
enabled=1
gpgcheck=1
repo_gpgcheck=1
gpgkey=$5
skip_if_unavailable=False
EOF
}

os_release() { # root text: /etc/os-release a file (Debian's is a symlink), /usr/lib/os-release the same
	rm -f "$1/etc/os-release" "$1/usr/lib/os-release"
	mkdir -p "$1/usr/lib"
	printf '%s' "$2" >"$1/etc/os-release"
	cp "$1/etc/os-release" "$1/usr/lib/os-release"
}

# Files of the first (installed) version of each Mariner package; what the
# distroless image has.
mariner_installed_rpms() {
	local d="$RPM_REPO/$(rpm_repo_path cbl-mariner-2.0)"
	awk -F'\t' '{ print $1 "-" $2 "." $8 ".rpm" }' "$RPM_FIXTURES/cbl-mariner-2.0-distroless-base.container-manifest-2" |
		while read -r f; do
			[[ -f $d/$f ]] || die "repository lacks the installed package $f"
			echo "$d/$f"
		done
}

build_rpm_images() {
	local w="$WORK/rpm" t0=$SECONDS key="$RPM_KEY_DIR/$RPM_KEY_NAME" mpath dpath cpath
	mpath="$(rpm_repo_path cbl-mariner-2.0)"
	dpath="$(rpm_repo_path copa-testbed-el9)"
	cpath="$(rpm_repo_path centos-7)"
	log "building the RPM images"
	under_cache "$w"
	rm -rf "$w"
	mkdir -p "$w"
	local mrepo="cbl-mariner/\$releasever/prod/base/\$basearch"
	[[ $mpath == cbl-mariner/2.0/prod/base/x86_64 ]] || die "world.json moved the Mariner repository ($mpath)"

	# (a) Mariner 2.0 distroless: the packages' files, the real manifest, no rpmdb/rpm/dnf.
	local m="$w/mariner" mrpms
	mkdir -p "$m"
	rpmkeys --root "$m" --dbpath /var/lib/rpm --import "$key"
	mapfile -t mrpms < <(mariner_installed_rpms)
	((${#mrpms[@]} == $(wc -l <"$RPM_FIXTURES/cbl-mariner-2.0-distroless-base.container-manifest-2"))) || die "Mariner packages missing from the repository"
	# Signatures verified with the bed key; the database is dropped afterwards (distroless).
	rpm --root "$m" --dbpath /var/lib/rpm --define '_pkgverify_level all' -i --nodeps --noscripts "${mrpms[@]}" \
		>>"$LOGS/rpm-images.log" 2>&1 || { tail_log "$LOGS/rpm-images.log"; die "unpacking the Mariner packages failed"; }
	rm -rf "$m/var/lib/rpm"
	mkdir -p "$m/var/lib/rpmmanifest" "$m/etc/pki/rpm-gpg" "$m/root" "$m/var/tmp"
	cp "$RPM_FIXTURES/cbl-mariner-2.0-distroless-base.container-manifest-2" "$m/var/lib/rpmmanifest/container-manifest-2"
	awk -F'\t' '{ print $1 "-" $2 "." $8 }' "$m/var/lib/rpmmanifest/container-manifest-2" >"$m/var/lib/rpmmanifest/container-manifest-1"
	install -m 0644 "$key" "$m$RPM_KEY_PATH"
	write_repo_file "$m/etc/yum.repos.d/mariner-official-base.repo" mariner-official-base \
		'CBL-Mariner Official Base $releasever $basearch (copa-ts test bed stand-in)' "$mrepo" "file://$RPM_KEY_PATH"
	echo "$RPM_LOCAL_EDIT" >>"$m/etc/pki/tls/openssl.cnf"
	local bad
	bad="$(cd "$m" && find . \( -name sh -o -name bash -o -name rpm -o -name dnf -o -name tdnf -o -name busybox -o -name rpmdb.sqlite \) -print)"
	[[ -z $bad && ! -e $m/var/lib/rpm ]] || die "distroless Mariner root has forbidden files: $bad"

	# (b) the dnf image, pretending AlmaLinux 9.3: copa-demo-* 1.0 installed (rpmdb), a local config edit.
	local d="$w/dnf"
	unpack_rpm_base "$d"
	os_release "$d" "$(printf 'NAME="AlmaLinux"\nVERSION="9.3 (Shamrock Pampas Cat)"\nID="almalinux"\nID_LIKE="rhel centos fedora"\nVERSION_ID="9.3"\nPLATFORM_ID="platform:el9"\nPRETTY_NAME="AlmaLinux 9.3 (copa-ts test bed: Debian bookworm root with Debian'"'"'s dnf and rpm)"\nCOPA_TESTBED="Debian bookworm root with Debian dnf 4.14 and rpm 4.18; the RPM database lists only the copa-demo packages"\n')"
	echo 9 >"$d/etc/dnf/vars/releasever"
	install -m 0644 "$key" "$d$RPM_KEY_PATH"
	write_repo_file "$d/etc/yum.repos.d/copa-testbed.repo" copa-testbed 'copa-ts test bed el9 $basearch' "$dpath" "file://$RPM_KEY_PATH"
	mkdir -p "$d/tmp/rpms"
	cp "$RPM_REPO/$dpath"/*-1.0-1.*.rpm "$d/tmp/rpms/"
	run_in_root "$d" sh -c 'rpm --import '"$RPM_KEY_PATH"' && rpm -i --define "_pkgverify_level all" /tmp/rpms/*.rpm && rm -rf /tmp/rpms' \
		>>"$LOGS/rpm-images.log" 2>&1 || { tail_log "$LOGS/rpm-images.log"; die "installing copa-demo 1.0 into the dnf root failed"; }
	echo "$RPM_LOCAL_EDIT" >>"$d/etc/copa-demo.conf"

	# (e) the centos-release 6 -> 7 image: the real centos-release-6 installed (its repo files left
	# out: they name CentOS's mirrors), the repository has the real centos-release-7.
	local c="$w/centos" ck="$w/centos-keys"
	unpack_rpm_base "$c"
	os_release "$c" "$(printf 'NAME="CentOS"\nVERSION="6 (Final)"\nID="centos"\nID_LIKE="rhel fedora"\nVERSION_ID="6"\nPRETTY_NAME="CentOS release 6.0 (Final) (copa-ts test bed: Debian bookworm root with Debian'"'"'s dnf and rpm)"\nCOPA_TESTBED="Debian bookworm root with Debian dnf and rpm; the RPM database lists only centos-release; CentOS 6 had no os-release"\n')"
	mkdir -p "$ck"
	local cold cnew
	cold="$(jq -r .centos.old "$RPM_DIR/world.json")"
	cnew="$(jq -r .centos.new "$RPM_DIR/world.json")"
	rpm2archive - <"$RPM_FIXTURES/packages/$cold" | tar -xzf - -C "$ck" ./etc/pki/rpm-gpg/RPM-GPG-KEY-CentOS-6
	rpm2archive - <"$RPM_FIXTURES/packages/$cnew" | tar -xzf - -C "$ck" ./etc/pki/rpm-gpg/RPM-GPG-KEY-CentOS-7
	install -m 0644 "$ck/etc/pki/rpm-gpg/RPM-GPG-KEY-CentOS-6" "$ck/etc/pki/rpm-gpg/RPM-GPG-KEY-CentOS-7" "$c/etc/pki/rpm-gpg/"
	install -m 0644 "$key" "$c$RPM_KEY_PATH"
	write_repo_file "$c/etc/yum.repos.d/copa-centos7.repo" copa-centos7 'CentOS 7 (copa-ts test bed: only centos-release)' "$cpath" \
		"file:///etc/pki/rpm-gpg/RPM-GPG-KEY-CentOS-7 file://$RPM_KEY_PATH"
	mkdir -p "$c/tmp/rpms"
	cp "$RPM_FIXTURES/packages/$cold" "$c/tmp/rpms/"
	run_in_root "$c" sh -c 'rpm --import /etc/pki/rpm-gpg/RPM-GPG-KEY-CentOS-6 && rpm -i --nodeps --define "_pkgverify_level all" --excludepath /etc/yum.repos.d /tmp/rpms/*.rpm && rm -rf /tmp/rpms' \
		>>"$LOGS/rpm-images.log" 2>&1 || { tail_log "$LOGS/rpm-images.log"; die "installing centos-release-6 failed"; }

	# (d) tooling: Debian's dnf/rpm/busybox, the bed key where the targets' repo files expect it,
	# the Mariner repository configured (as in Mariner's base/core image). os-release stays Debian's.
	local t="$w/tooling"
	unpack_rpm_base "$t"
	echo 2.0 >"$t/etc/dnf/vars/releasever"
	install -m 0644 "$key" "$t$RPM_KEY_PATH"
	write_repo_file "$t/etc/yum.repos.d/mariner-official-base.repo" mariner-official-base \
		'CBL-Mariner Official Base $releasever $basearch (copa-ts test bed stand-in)' "$mrepo" "file://$RPM_KEY_PATH"

	# (c) the real databases, each with an os-release.
	local n i tag fixture path
	n="$(jq '.rpmdbImages | length' "$RPM_DIR/world.json")"
	for ((i = 0; i < n; i++)); do
		read -r tag fixture path < <(jq -r ".rpmdbImages[$i] | \"\(.tag) \(.fixture) \(.path)\"" "$RPM_DIR/world.json")
		local r="$w/rpmdb-$tag"
		mkdir -p "$r/etc" "$r$(dirname "$path")" "$r/tmp"
		jq -j ".rpmdbImages[$i].osRelease" "$RPM_DIR/world.json" >"$r/etc/os-release"
		install -m 0644 "$RPM_FIXTURES/rpmdb/$fixture" "$r$path"
	done

	local pids=() x
	for x in cbl-mariner:2.0-distroless:mariner dnf:almalinux-9.3:dnf dnf:centos-6:centos tooling:latest:tooling \
		rpmdb:cbl-mariner-2.0:rpmdb-cbl-mariner-2.0 rpmdb:amazonlinux-2023:rpmdb-amazonlinux-2023 rpmdb:rhel-8:rpmdb-rhel-8 rpmdb:sles-15:rpmdb-sles-15; do
		tar_layer "$w/${x##*:}" "$(rpm_layer "${x%:*}")" &
		pids+=($!)
	done
	wait_pids "${pids[@]}" || die "packing the RPM layers failed"
	echo "rpm -i --nodeps of the bed's stand-in Mariner 2.0 packages (rpmdb dropped); real container-manifest-2; repo file -> bed" >"$(rpm_layer cbl-mariner:2.0-distroless).created-by"
	echo "bookworm + Debian dnf/rpm; os-release AlmaLinux 9.3 (pretence); rpm -i copa-demo-* 1.0; repo file -> bed" >"$(rpm_layer dnf:almalinux-9.3).created-by"
	echo "bookworm + Debian dnf/rpm; os-release CentOS 6 (pretence); rpm -i --nodeps real centos-release-6; repo file -> bed" >"$(rpm_layer dnf:centos-6).created-by"
	echo "bookworm + Debian dnf/rpm/busybox-static; Mariner repo file -> bed; bed key at $RPM_KEY_PATH" >"$(rpm_layer tooling:latest).created-by"
	for x in cbl-mariner-2.0 amazonlinux-2023 rhel-8 sles-15; do
		echo "os-release + a real rpm database ($x) from the shared fixtures" >"$(rpm_layer rpmdb:$x).created-by"
	done

	rpm_self_check "$w"
	log "RPM self-check passed (Debian's dnf, gpg checks on: upgrade in the dnf image, centos-release 6 -> 7, tooling --installroot into distroless Mariner) in $((SECONDS - t0))s"
	rm -rf "$w"
}

# rpm_q ROOT ARGS: rpm -q in a root, one "name evr" line per package
rpm_q() { local r=$1; shift; run_in_root "$r" rpm -q --qf '%{NAME} %{EPOCHNUM}:%{VERSION}-%{RELEASE}\n' "$@"; }

# The proof with the real dnf, in chroots of the (already packed) roots:
# signatures checked (gpgcheck and repo_gpgcheck, no --nogpgcheck anywhere).
rpm_self_check() {
	local w=$1 clog="$LOGS/rpm-check.log" p n from to marker got
	: >"$clog"
	local d="$w/dnf" c="$w/centos" t="$w/tooling" m="$w/mariner"
	# A repository whose key is not the signer's must be refused (repo_gpgcheck works).
	mkdir -p "$d/tmp/neg"
	sed -e 's/^\[copa-testbed\]/[copa-wrongkey]/' -e 's#^gpgkey=.*#gpgkey=file:///tmp/neg/wrong.key#' \
		"$d/etc/yum.repos.d/copa-testbed.repo" >"$d/tmp/neg/neg.repo"
	cp "$c/etc/pki/rpm-gpg/RPM-GPG-KEY-CentOS-7" "$d/tmp/neg/wrong.key"
	if run_in_root "$d" dnf -y --setopt=reposdir=/tmp/neg makecache >>"$clog" 2>&1; then
		die "dnf accepted the bed's repository with the wrong key (repo_gpgcheck not effective); read $clog"
	fi
	rm -rf "$d/tmp/neg"
	# (b) targeted upgrade, then everything
	run_in_root "$d" dnf -y upgrade copa-demo-tools >>"$clog" 2>&1 || { tail_log "$clog"; die "dnf upgrade copa-demo-tools failed"; }
	got="$(rpm_q "$d" copa-demo-tools copa-demo-libs copa-demo-conf | xargs)"
	[[ $got == "copa-demo-tools 0:1.1-1 copa-demo-libs 0:1.1-1 copa-demo-conf 1:1.0-1" ]] || die "after dnf upgrade copa-demo-tools: $got"
	run_in_root "$d" dnf -y upgrade >>"$clog" 2>&1 || { tail_log "$clog"; die "dnf upgrade failed"; }
	while read -r n to marker; do
		got="$(rpm_q "$d" "$n")"
		[[ $got == "$n $to" ]] || die "dnf upgrade: $got, expected $n $to"
		[[ -f $d$marker ]] || die "dnf upgrade did not install $marker"
	done < <(jq -r '.repos[] | select(.id == "copa-testbed-el9") | .packages[] | "\(.name) \(.toEvr) \(.marker)"' "$RPM_REPO/packages.json")
	[[ "$(rpm_q "$d" copa-demo-extras)" == "copa-demo-extras 0:1.0-1" ]] || die "copa-demo-extras changed"
	[[ "$(tail -n 1 "$d/etc/copa-demo.conf")" == "$RPM_LOCAL_EDIT" && -f $d/etc/copa-demo.conf.rpmnew ]] ||
		die "dnf upgrade did not keep the edited /etc/copa-demo.conf (and write .rpmnew)"
	run_in_root "$d" dnf -q check-update >>"$clog" 2>&1 || die "after dnf upgrade, dnf check-update still lists updates"
	# (e) the real centos-release, verified with CentOS's key
	run_in_root "$c" dnf -y upgrade centos-release >>"$clog" 2>&1 || { tail_log "$clog"; die "dnf upgrade centos-release failed"; }
	got="$(rpm_q "$c" centos-release)"
	to="$(jq -r '.repos[] | select(.id == "centos-7") | .packages[0].toEvr' "$RPM_REPO/packages.json")"
	[[ $got == "centos-release $to" && -f $c/etc/centos-release ]] || die "centos-release after upgrade: $got"
	# (a)+(d) the distroless path: from the tooling root, rebuild a database for the target's
	# packages at their installed versions, then upgrade, all with the target's own repo file.
	mkdir -p "$t/target"
	local inst
	inst="$(awk -F'\t' '{ printf "%s-%s ", $1, $2 }' "$m/var/lib/rpmmanifest/container-manifest-2")"
	unshare -m --propagation private -- bash -c 't=$1; mount --bind "$2" "$t/target"; shift 2
		mount -t proc proc "$t/proc"; mount --rbind /sys "$t/sys"; mount --rbind /dev "$t/dev"
		exec chroot "$t" /usr/bin/env -i PATH=/usr/sbin:/usr/bin:/sbin:/bin LC_ALL=C HOME=/root sh -c "$*"' _ "$t" "$m" \
		"dnf -y --installroot=/target --setopt=reposdir=/target/etc/yum.repos.d --releasever=2.0 install $inst &&
		 dnf -y --installroot=/target --setopt=reposdir=/target/etc/yum.repos.d --releasever=2.0 upgrade" >>"$clog" 2>&1 ||
		{ tail_log "$clog"; die "dnf --installroot into the distroless Mariner root failed"; }
	while read -r n to marker; do
		got="$(rpm --root "$m" --dbpath /var/lib/rpm -q --qf '%{NAME} %{EPOCHNUM}:%{VERSION}-%{RELEASE}\n' "$n")"
		[[ $got == "$n $to" ]] || die "distroless upgrade: $got, expected $n $to"
		[[ -f $m$marker ]] || die "distroless upgrade did not install $marker"
	done < <(jq -r '.repos[] | select(.id == "cbl-mariner-2.0") | .packages[] | "\(.name) \(.toEvr) \(.marker)"' "$RPM_REPO/packages.json")
	[[ "$(tail -n 1 "$m/etc/pki/tls/openssl.cnf")" == "$RPM_LOCAL_EDIT" ]] || die "distroless upgrade dropped the openssl.cnf edit"
	[[ ! -e $m/bin/sh && ! -e $m/usr/bin/sh && ! -e $m/usr/bin/dnf ]] || die "patching distroless Mariner brought in a shell or dnf"
}

job_rpm() {
	ensure_rpm_key
	ensure_rpm_base
	local stamp x ok=1
	stamp="$(rpm_stamp)"
	[[ -f $RPM_REPO/.stamp-$stamp && -f $RPM_REPO/packages.json ]] || build_rpm_repo "$stamp"
	for x in "${RPM_IMAGES[@]}"; do
		[[ -f $(rpm_layer "$x") && -f $(rpm_layer "$x").created-by ]] || ok=0
	done
	[[ -f $IMAGES/.rpm-$stamp-port-$RPM_PORT ]] || ok=0
	if ((!ok)); then
		rm -f "$IMAGES"/.rpm-*
		build_rpm_images
		touch "$IMAGES/.rpm-$stamp-port-$RPM_PORT"
	fi
	local pids=() cfg
	for x in "${RPM_IMAGES[@]}"; do
		case $x in
		cbl-mariner:*) cfg=$DISTROLESS_RPM_CONFIG ;;
		rpmdb:*) cfg=$RPMDB_CONFIG ;;
		*) cfg='{}' ;;
		esac
		PUSH_REPO="rpm/${x%%:*}" push "${x#*:}" "$(rpm_layer "$x")" "$cfg" &
		pids+=($!)
	done
	wait_pids "${pids[@]}" || die "pushing the RPM images failed"
}
