#!/usr/bin/env bash
# shellcheck source=/dev/null disable=SC1090
# copa-ts end-to-end test bed: BuildKit (buildkitd + buildctl + buildx), a
# plain-HTTP registry with Debian, Alpine and RPM test images, a signed local APK
# repository (test/env/alpine/), signed local RPM repositories (test/env/rpm/)
# and a Docker engine (Debian trixie's docker.io in a chroot) -- all private to
# one cache dir, on 127.0.0.1.
#
#   testbed.sh up [--owner-pid PID]   raise (idempotent); prints addresses. With
#                                     an owner, the bed stops when its last owner
#                                     releases it or dies; without, it stays up.
#   testbed.sh release PID            drop an owner (down if it was the last)
#   testbed.sh down                   stop everything, unmount, remove sockets
#   testbed.sh status [--quiet]       exit 0 iff every service answers
#   testbed.sh env                    `export` lines for a shell (eval them)
#
# Slow outputs (binaries, rootfs tarballs, registry storage, buildkitd state)
# persist in $COPA_TESTBED_CACHE (default ~/.cache/copa-testbed) so a warm
# `up` only starts processes. Nothing uses system default sockets or dirs, so
# a user's own buildkitd/dockerd are untouched. Needs root (runc, chroot, mounts).
set -euo pipefail

BUILDKIT_VERSION=v0.34.2
BUILDX_VERSION=v0.38.2
MIRROR=http://deb.debian.org/debian
SECURITY_MIRROR=http://deb.debian.org/debian-security
RUNC=/usr/sbin/runc
# Bump when the recipe of a cached artefact changes, to force a rebuild.
IMAGES_RECIPE=1
DOCKER_ROOT_RECIPE=1
# Packages of the distroless image (bookworm main suite, no dpkg/apt/shell).
DISTROLESS_PKGS=(base-files netbase tzdata libc6 libgcc-s1 gcc-12-base liblzma5 libpcre2-8-0 zlib1g libssl3)
IMAGE_TAGS=(12-pointrelease 12-slim 13-pointrelease 12-nonroot 12-distroless 12-multi)
# Alpine world (job alpine): images under repository `alpine`, and a local APK
# repository of newer releases of these origins (every subpackage, pkgrel+1).
# musl is left at its installed version: the "repository lacks the fix" case.
ALPINE_RECIPE=1
ALPINE_TAGS=(3.20-pointrelease 3.19-pointrelease 3.20-multi 3.20-static 3.20-nonroot 3.20)
APK_BUMP_ORIGINS=openssl,zlib,busybox,ca-certificates
# What 3.20-static drops to be apk-less and shell-less, as an apko-built image is.
APK_STATIC_REMOVE=apk-tools,busybox,busybox-binsh,ssl_client,alpine-baselayout,musl-utils,scanelf
APK_STATIC_WORLD="alpine-baselayout-data alpine-keys ca-certificates-bundle libssl3 zlib"

HERE="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd -P)"
SELF="$HERE/$(basename "${BASH_SOURCE[0]}")"
CACHE="${COPA_TESTBED_CACHE:-$HOME/.cache/copa-testbed}"
mkdir -p "$CACHE"
CACHE="$(cd "$CACHE" && pwd -P)" # absolute: it is embedded in addresses and the chroot
RUN="$CACHE/run"
LOGS="$RUN/logs"
BIN="$CACHE/bin"
WORK="$CACHE/work"
IMAGES="$CACHE/images"
DOCKER_ROOT="$CACHE/docker-root"
DOCKER_ROOTFS_TAR="$CACHE/docker-rootfs.tar.zst"
DOCKER_CONFIG_DIR="$CACHE/docker-config"
BUILDKIT_ROOT="$CACHE/buildkitd-root"
REGISTRY_DIR="$CACHE/registry"
ENV_JSON="$RUN/env.json"
PORTS_FILE="$CACHE/ports"
ALPINE_DIR="$HERE/alpine"
APK_KEY_DIR="$CACHE/apk-key"
APK_REPO="$CACHE/apk-repo"
# Official minirootfs tarballs (read-only fixtures), found as test/unit finds them.
ALPINE_FIXTURES="${COPA_SHARED_FIXTURES:-$(cd "$HERE/../../.." && pwd -P)/shared/fixtures}/alpine"
[[ -d $ALPINE_FIXTURES ]] || ALPINE_FIXTURES=/work/shared/fixtures/alpine
# dockerd's exec-root inside the chroot; short because containerd puts sockets there.
DOCKER_EXEC_ROOT=/run/copa-docker
HOST_DOCKER="$(command -v docker || echo /usr/local/bin/docker)"
export DEBIAN_FRONTEND=noninteractive LC_ALL=C
# The RPM world (job rpm): its variables and functions.
source "$HERE/rpm/world.sh"

log() { printf '[testbed %s] %s\n' "$(date +%T)" "$*" >&2; }
die() {
	log "ERROR: $*"
	exit 1
}
tail_log() { [[ -f $1 ]] && { echo "---- last lines of $1:" >&2; tail -n 25 "$1" >&2; } || true; }

# ---------------------------------------------------------------- helpers

# wait_for SECONDS WHAT LOGFILE CMD...: poll CMD until it succeeds.
wait_for() {
	local secs=$1 what=$2 logf=$3
	shift 3
	local deadline=$((SECONDS + secs))
	until "$@" >/dev/null 2>&1; do
		if ((SECONDS >= deadline)); then
			tail_log "$logf"
			die "$what did not come up within ${secs}s; read $logf"
		fi
		sleep 0.3
	done
}

# Guard for rm -rf and chroot on rootfs dirs: never outside the cache.
under_cache() { [[ $1 == "$CACHE"/?* ]] || die "refusing to work on $1 (not under $CACHE)"; }

pid_alive() { [[ -f $1 ]] && kill -0 "$(cat "$1")" 2>/dev/null; }

# stop_pidfile FILE NAME: SIGTERM, wait up to 30 s, then SIGKILL.
stop_pidfile() {
	local f=$1 name=$2 pid i
	[[ -f $f ]] || return 0
	pid="$(cat "$f")"
	if [[ $pid =~ ^[0-9]+$ ]] && kill -0 "$pid" 2>/dev/null; then
		kill -TERM "$pid" 2>/dev/null || true
		for ((i = 0; i < 150; i++)); do
			kill -0 "$pid" 2>/dev/null || break
			sleep 0.2
		done
		if kill -0 "$pid" 2>/dev/null; then
			log "$name (pid $pid) ignored SIGTERM; killing"
			kill -KILL "$pid" 2>/dev/null || true
			sleep 0.5
		fi
	fi
	rm -f "$f"
}

free_port() {
	node -e 'const s=require("net").createServer();s.listen(0,"127.0.0.1",()=>{console.log(s.address().port);s.close()})'
}
port_free() { ! (exec 3<>"/dev/tcp/127.0.0.1/$1") 2>/dev/null; }

# Reuse last run's ports when free, so refs (and buildkitd's cache keys) stay stable.
choose_ports() {
	local REGISTRY_PORT="" BUILDKIT_PORT="" APK_PORT="" RPM_PORT=""
	[[ -f $PORTS_FILE ]] && source "$PORTS_FILE"
	[[ $REGISTRY_PORT =~ ^[0-9]+$ ]] && port_free "$REGISTRY_PORT" || REGISTRY_PORT="$(free_port)"
	[[ $BUILDKIT_PORT =~ ^[0-9]+$ && $BUILDKIT_PORT != "$REGISTRY_PORT" ]] && port_free "$BUILDKIT_PORT" || BUILDKIT_PORT="$(free_port)"
	# The APK repository's URL (with this port) is baked into the Alpine images:
	# keeping the port keeps them valid; a new port rebuilds them (job alpine).
	until [[ $APK_PORT =~ ^[0-9]+$ && $APK_PORT != "$REGISTRY_PORT" && $APK_PORT != "$BUILDKIT_PORT" ]] && port_free "$APK_PORT"; do
		APK_PORT="$(free_port)"
	done
	# Likewise the RPM repositories' URL is baked into the rpm/* images (job rpm).
	until [[ $RPM_PORT =~ ^[0-9]+$ && $RPM_PORT != "$REGISTRY_PORT" && $RPM_PORT != "$BUILDKIT_PORT" && $RPM_PORT != "$APK_PORT" ]] && port_free "$RPM_PORT"; do
		RPM_PORT="$(free_port)"
	done
	printf 'REGISTRY_PORT=%s\nBUILDKIT_PORT=%s\nAPK_PORT=%s\nRPM_PORT=%s\n' "$REGISTRY_PORT" "$BUILDKIT_PORT" "$APK_PORT" "$RPM_PORT" >"$PORTS_FILE"
}

find_go() {
	GO="$(command -v go || true)"
	[[ -n $GO ]] || { [[ -x /usr/local/go/bin/go ]] && GO=/usr/local/go/bin/go; } ||
		die "no Go toolchain (go on PATH or /usr/local/go/bin/go) to build buildkit/buildx"
}

ensure_packages() {
	local missing=() pair
	# package:file-it-provides (runc, debootstrap, docker-registry are not on a fresh machine)
	for pair in runc:/usr/sbin/runc debootstrap:/usr/sbin/debootstrap docker-registry:/usr/bin/docker-registry \
		jq:/usr/bin/jq tmux:/usr/bin/tmux curl:/usr/bin/curl zstd:/usr/bin/zstd \
		rpm:/usr/bin/rpmbuild rpm2cpio:/usr/bin/rpm2archive createrepo-c:/usr/bin/createrepo_c gnupg:/usr/bin/gpg \
		debian-archive-keyring:/usr/share/keyrings/debian-archive-keyring.gpg; do
		[[ -e ${pair#*:} ]] || missing+=("${pair%%:*}")
	done
	((${#missing[@]})) || return 0
	log "installing Debian packages: ${missing[*]}"
	if ! apt-get install -y -q --no-install-recommends "${missing[@]}" >>"$LOGS/apt.log" 2>&1; then
		# Lists are stale or absent on a fresh machine: refresh once, then retry.
		apt-get update -q >>"$LOGS/apt.log" 2>&1 || log "apt-get update reported errors (see $LOGS/apt.log); trying anyway"
		apt-get install -y -q --no-install-recommends "${missing[@]}" >>"$LOGS/apt.log" 2>&1 ||
			{ tail_log "$LOGS/apt.log"; die "apt-get install ${missing[*]} failed; read $LOGS/apt.log"; }
	fi
}

# ---------------------------------------------------------------- Go binaries

go_env() { env GOFLAGS=-buildvcs=false CGO_ENABLED=0 GOTOOLCHAIN="${GOTOOLCHAIN:-auto}" "$@"; }

# buildkit's go.mod has exclude directives, so `go install pkg@version` refuses
# it: copy the module out of the module cache and build inside it.
build_from_module() { # module version outdir ldflags pkgs...
	local mod=$1 ver=$2 out=$3 ldflags=$4
	shift 4
	local dir src="$WORK/src-${mod##*/}"
	dir="$(cd / && go_env "$GO" mod download -json "$mod@$ver" | jq -r .Dir)"
	[[ -d $dir ]] || die "go mod download $mod@$ver gave no directory"
	rm -rf "$src"
	cp -r "$dir" "$src"
	chmod -R u+w "$src"
	(cd "$src" && go_env "$GO" build -trimpath -ldflags "$ldflags" -o "$out/" "$@")
	rm -rf "$src"
}

build_buildkit() {
	local stamp="$BIN/.buildkit-$BUILDKIT_VERSION" out="$WORK/buildkit-bin"
	[[ -f $stamp && -x $BIN/buildkitd && -x $BIN/buildctl ]] && return 0
	log "building buildkitd+buildctl $BUILDKIT_VERSION"
	rm -rf "$out"
	build_from_module github.com/moby/buildkit "$BUILDKIT_VERSION" "$out" \
		"-s -w -X github.com/moby/buildkit/version.Version=$BUILDKIT_VERSION -X github.com/moby/buildkit/version.Package=github.com/moby/buildkit" \
		./cmd/buildkitd ./cmd/buildctl
	mv -f "$out/buildkitd" "$out/buildctl" "$BIN/"
	rm -rf "$out" "$BIN"/.buildkit-*
	touch "$stamp"
}

build_buildx() {
	local stamp="$BIN/.buildx-$BUILDX_VERSION" out="$WORK/buildx-bin"
	local ldflags="-s -w -X github.com/docker/buildx/version.Version=$BUILDX_VERSION -X github.com/docker/buildx/version.Package=github.com/docker/buildx"
	if ! [[ -f $stamp && -x $BIN/buildx ]]; then
		log "building buildx $BUILDX_VERSION"
		rm -rf "$out"
		mkdir -p "$out"
		if ! (cd / && go_env GOBIN="$out" "$GO" install -trimpath -ldflags "$ldflags" "github.com/docker/buildx/cmd/buildx@$BUILDX_VERSION"); then
			log "go install refused buildx; building inside a copy of the module"
			build_from_module github.com/docker/buildx "$BUILDX_VERSION" "$out" "$ldflags" ./cmd/buildx
		fi
		mv -f "$out/buildx" "$BIN/buildx"
		rm -rf "$out" "$BIN"/.buildx-*
		touch "$stamp"
	fi
	# A private DOCKER_CONFIG keeps the user's ~/.docker untouched.
	mkdir -p "$DOCKER_CONFIG_DIR/cli-plugins"
	[[ -f $DOCKER_CONFIG_DIR/config.json ]] || echo '{}' >"$DOCKER_CONFIG_DIR/config.json"
	cmp -s "$BIN/buildx" "$DOCKER_CONFIG_DIR/cli-plugins/docker-buildx" ||
		install -m 0755 "$BIN/buildx" "$DOCKER_CONFIG_DIR/cli-plugins/docker-buildx"
}

# ---------------------------------------------------------------- rootfs helpers

# run_in_root ROOT CMD...: chroot with /proc, /sys, /dev in a private mount
# namespace, so the mounts vanish with the process even if it is killed.
run_in_root() {
	local root=$1
	shift
	under_cache "$root"
	rm -f "$root/etc/resolv.conf"
	cp /etc/resolv.conf "$root/etc/resolv.conf"
	unshare -m --propagation private -- bash -c '
		set -e; r=$1; shift
		mount -t proc proc "$r/proc"
		mount --rbind /sys "$r/sys"
		mount --rbind /dev "$r/dev"
		exec chroot "$r" /usr/bin/env -i PATH=/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin \
			DEBIAN_FRONTEND=noninteractive LC_ALL=C "$@"' _ "$root" "$@"
}

debootstrap_into() { # suite dir [arch]
	local suite=$1 dir=$2 arch=${3:-}
	rm -rf "$dir"
	log "debootstrap ${arch:+--arch=$arch }--variant=minbase $suite"
	debootstrap ${arch:+"--arch=$arch"} --variant=minbase --components=main "$suite" "$dir" "$MIRROR" ||
		{ tail_log "$dir/debootstrap/debootstrap.log"; die "debootstrap $suite failed"; }
}

write_sources() { # root suite [nosecurity]
	cat >"$1/etc/apt/sources.list" <<EOF
deb $MIRROR $2 main
deb $MIRROR $2-updates main
EOF
	[[ ${3:-} == nosecurity ]] || echo "deb $SECURITY_MIRROR $2-security main" >>"$1/etc/apt/sources.list"
}

# What Docker Hub's debian images also drop: apt lists, downloaded debs, logs,
# the build host's resolv.conf.
clean_root() {
	local r=$1
	under_cache "$r"
	rm -rf "$r"/var/lib/apt/lists/* "$r"/var/cache/apt/*.bin "$r"/var/cache/apt/archives/*.deb \
		"$r"/var/cache/apt/archives/partial/* "$r/etc/resolv.conf" "$r/usr/sbin/policy-rc.d" "$r"/tmp/* "$r"/var/tmp/*
	find "$r/var/log" -type f -delete 2>/dev/null || true
}

# tar_layer ROOT OUT.tar.gz: one gzip layer, sorted, numeric owners, no "./" prefix.
tar_layer() {
	local root=$1 out=$2
	(cd "$root" && find . -mindepth 1 -printf '%P\0' | sort -z |
		tar --null --no-recursion -T - --numeric-owner -cf -) | gzip -n -6 >"$out.tmp"
	mv -f "$out.tmp" "$out"
	rm -f "$out.info.json"
}

push() { # tag layer [config-overrides-json [extra push-image.mjs args...]]; PUSH_REPO (default debian)
	local cfg=${3:-}
	[[ -n $cfg ]] || cfg='{}'
	node "$HERE/push-image.mjs" --registry "127.0.0.1:$REGISTRY_PORT" --repo "${PUSH_REPO:-debian}" --tag "$1" \
		--layer "$2" --config "$cfg" --created-by "$(cat "$2.created-by")" "${@:4}"
}

layer_ok() { [[ -f $IMAGES/$1.tar.gz && -f $IMAGES/$1.tar.gz.created-by && -f $IMAGES/.recipe-$IMAGES_RECIPE ]]; }

# ---------------------------------------------------------------- images

NONROOT_CONFIG='{"User":"nobody","WorkingDir":"/srv","Entrypoint":["/usr/bin/env"],"Cmd":["cat","/etc/debian_version"],"Env":["PATH=/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin","COPA_TESTBED=1","LANG=C.UTF-8"],"Labels":{"org.example.keep":"yes","org.opencontainers.image.title":"copa-testbed nonroot"},"ExposedPorts":{"8080/tcp":{}},"StopSignal":"SIGQUIT"}'
DISTROLESS_CONFIG='{"User":"0","WorkingDir":"/","Env":["PATH=/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin"],"Cmd":null}'

# bookworm minbase -> 12-pointrelease (not upgraded) and 12-slim (upgraded).
job_bookworm() {
	local base="$WORK/bookworm" slim="$WORK/bookworm-slim"
	if ! layer_ok 12-pointrelease || ! layer_ok 12-slim; then
		debootstrap_into bookworm "$base"
		write_sources "$base" bookworm
		[[ -d $base/srv ]] || die "bookworm rootfs has no /srv"
		rm -rf "$slim"
		cp -a "$base" "$slim"
		clean_root "$base"
		tar_layer "$base" "$IMAGES/12-pointrelease.tar.gz"
		echo "debootstrap --variant=minbase bookworm $MIRROR (main suite only; sources.list also lists bookworm-updates and bookworm-security)" \
			>"$IMAGES/12-pointrelease.tar.gz.created-by"
		log "upgrading bookworm from bookworm-updates/bookworm-security for 12-slim"
		run_in_root "$slim" sh -c 'apt-get update -q && apt-get -y -q -o Dpkg::Options::=--force-confold dist-upgrade && apt-get clean'
		clean_root "$slim"
		tar_layer "$slim" "$IMAGES/12-slim.tar.gz"
		echo "debootstrap --variant=minbase bookworm $MIRROR && apt-get dist-upgrade (bookworm-updates, bookworm-security)" \
			>"$IMAGES/12-slim.tar.gz.created-by"
		rm -rf "$base" "$slim"
	fi
	push 12-pointrelease "$IMAGES/12-pointrelease.tar.gz"
	push 12-nonroot "$IMAGES/12-pointrelease.tar.gz" "$NONROOT_CONFIG"
	push 12-slim "$IMAGES/12-slim.tar.gz"
}

# bookworm minbase for i386 -> the linux/386 half of 12-multi. i386 binaries run
# natively on x86-64, so no QEMU. Its sources.list leaves out the security suite (the
# mirror's i386 security index has been seen inconsistent with its Release file), so
# this half has nothing to upgrade: the multi-platform test sees one platform patched
# and one kept as it was.
job_bookworm_i386() {
	local base="$WORK/bookworm-i386"
	layer_ok 12-multi-386 && return 0
	debootstrap_into bookworm "$base" i386
	write_sources "$base" bookworm nosecurity
	clean_root "$base"
	tar_layer "$base" "$IMAGES/12-multi-386.tar.gz"
	echo "debootstrap --arch=i386 --variant=minbase bookworm $MIRROR (main suite only; sources.list also lists bookworm-updates)" \
		>"$IMAGES/12-multi-386.tar.gz.created-by"
	rm -rf "$base"
}

# 12-multi: an OCI index of 12-pointrelease's manifest (linux/amd64) and the
# i386 rootfs (linux/386), pushed by digest. Needs jobs bookworm and bookworm-i386.
push_multi() {
	local d386
	d386="$(push 12-multi "$IMAGES/12-multi-386.tar.gz" '{}' --arch 386 --by-digest)"
	node "$HERE/push-image.mjs" --registry "127.0.0.1:$REGISTRY_PORT" --repo debian --tag 12-multi \
		--index-of 12-pointrelease --index-of "$d386"
}

# trixie minbase -> 13-pointrelease, and (copy + docker.io) the Docker engine root.
job_trixie() {
	local base="$WORK/trixie" droot="$WORK/docker-root.build"
	local need_image=0 need_docker=0
	layer_ok 13-pointrelease || need_image=1
	docker_root_ok || [[ -f $DOCKER_ROOTFS_TAR ]] || need_docker=1
	if ((need_image || need_docker)); then
		debootstrap_into trixie "$base"
		write_sources "$base" trixie
		if ((need_docker)); then
			rm -rf "$droot"
			cp -a "$base" "$droot"
		fi
		if ((need_image)); then
			clean_root "$base"
			tar_layer "$base" "$IMAGES/13-pointrelease.tar.gz"
			echo "debootstrap --variant=minbase trixie $MIRROR (main suite only; sources.list also lists trixie-updates and trixie-security)" \
				>"$IMAGES/13-pointrelease.tar.gz.created-by"
		fi
		rm -rf "$base"
	fi
	push 13-pointrelease "$IMAGES/13-pointrelease.tar.gz" &
	local push_pid=$!
	if ((need_docker)); then
		log "installing docker.io into the trixie engine root"
		# policy-rc.d: keep maintainer scripts from starting dockerd in the chroot.
		printf '#!/bin/sh\nexit 101\n' >"$droot/usr/sbin/policy-rc.d"
		chmod +x "$droot/usr/sbin/policy-rc.d"
		run_in_root "$droot" sh -c 'apt-get update -q && apt-get -y -q dist-upgrade && apt-get install -y -q --no-install-recommends docker.io ca-certificates && apt-get clean'
		clean_root "$droot"
		log "packing the engine root to $DOCKER_ROOTFS_TAR"
		tar -C "$droot" --numeric-owner --zstd -cf "$DOCKER_ROOTFS_TAR.tmp" .
		mv -f "$DOCKER_ROOTFS_TAR.tmp" "$DOCKER_ROOTFS_TAR"
		rm -rf "$DOCKER_ROOT"
		mv "$droot" "$DOCKER_ROOT"
		echo "$DOCKER_ROOT_RECIPE" >"$DOCKER_ROOT/.copa-testbed-root"
	fi
	wait "$push_pid"
}

# A Google-distroless-style image: files of a few .debs, dpkg metadata in
# /var/lib/dpkg/status.d/, and no package manager or shell.
job_distroless() {
	layer_ok 12-distroless || build_distroless
	push 12-distroless "$IMAGES/12-distroless.tar.gz" "$DISTROLESS_CONFIG"
}

build_distroless() {
	local a="$WORK/distroless-apt" r="$WORK/distroless-root" deb name sd
	rm -rf "$a" "$r"
	mkdir -p "$a/lists/partial" "$a/cache/archives/partial" "$a/debs" "$a/empty" "$r"
	echo "deb [signed-by=/usr/share/keyrings/debian-archive-keyring.gpg] $MIRROR bookworm main" >"$a/sources.list"
	# A private apt state dir: the host's sources, pins and package state do not matter.
	local apt_opts=(-o "Dir::Etc::SourceList=$a/sources.list" -o "Dir::Etc::SourceParts=$a/empty"
		-o "Dir::State::Lists=$a/lists" -o "Dir::Cache=$a/cache" -o Dir::State::status=/dev/null
		-o "Dir::Etc::Preferences=$a/empty/none" -o "Dir::Etc::PreferencesParts=$a/empty"
		-o APT::Architecture=amd64 -o Debug::NoLocking=1 -o APT::Sandbox::User=root)
	log "fetching distroless packages: ${DISTROLESS_PKGS[*]}"
	apt-get "${apt_opts[@]}" -q update
	(cd "$a/debs" && apt-get "${apt_opts[@]}" -q download "${DISTROLESS_PKGS[@]}")
	sd="$r/var/lib/dpkg/status.d"
	mkdir -p "$sd"
	for deb in "$a"/debs/*.deb; do
		name="$(dpkg-deb -f "$deb" Package)"
		dpkg-deb -x "$deb" "$r"
		# status.d stanza = the control file + an installed Status, as distroless has.
		dpkg-deb -f "$deb" | awk 'NR==1{print; print "Status: install ok installed"; next} {print}' >"$sd/$name"
		dpkg-deb --ctrl-tarfile "$deb" | tar -xO ./md5sums >"$sd/$name.md5sums" 2>/dev/null || rm -f "$sd/$name.md5sums"
	done
	mkdir -p "$r/tmp" "$r/root" "$r/home/nonroot" "$r/etc"
	chmod 1777 "$r/tmp"
	chmod 0700 "$r/root"
	chown 65532:65532 "$r/home/nonroot"
	printf 'root:x:0:0:root:/root:/sbin/nologin\nnobody:x:65534:65534:nobody:/nonexistent:/sbin/nologin\nnonroot:x:65532:65532:nonroot:/home/nonroot:/sbin/nologin\n' >"$r/etc/passwd"
	printf 'root:x:0:\nnobody:x:65534:\ntty:x:5:\nstaff:x:50:\nnonroot:x:65532:\n' >"$r/etc/group"
	[[ -e $r/etc/os-release ]] || die "distroless: no /etc/os-release"
	[[ -f $sd/libc6 && -f $sd/libc6.md5sums ]] || die "distroless: status.d incomplete"
	local bad
	bad="$(cd "$r" && find . \( -name sh -o -name bash -o -name dash -o -name dpkg -o -name apt -o -name apt-get \) \
		-path '*bin/*' -print; [[ ! -e var/lib/dpkg/status ]] || echo var/lib/dpkg/status)"
	[[ -z $bad ]] || die "distroless rootfs has forbidden files: $bad"
	tar_layer "$r" "$IMAGES/12-distroless.tar.gz"
	echo "dpkg-deb -x of bookworm main: ${DISTROLESS_PKGS[*]}; status.d metadata" >"$IMAGES/12-distroless.tar.gz.created-by"
	rm -rf "$a" "$r"
}

# ---------------------------------------------------------------- Alpine world
#
# Job alpine: the bed's RSA key (made once), a signed local APK repository made
# by test/env/alpine/make-repo.mjs from the official minirootfs tarballs, the
# alpine:* images (their /etc/apk/repositories name only that repository, so the
# images depend on APK_PORT), a self-check with the roots' own apk, and the pushes.
# Everything is cached under one stamp of the inputs: a warm `up` only pushes.

# minirootfs per branch/arch: "branch apk-arch tarball"
ALPINE_ROOTS=("v3.20 x86_64 alpine-minirootfs-3.20.3-x86_64.tar.gz"
	"v3.20 x86 alpine-minirootfs-3.20.3-x86.tar.gz"
	"v3.19 x86_64 alpine-minirootfs-3.19.4-x86_64.tar.gz")
NONROOT_ALPINE_CONFIG='{"User":"nobody","WorkingDir":"/srv","Entrypoint":["/usr/bin/env"],"Cmd":["cat","/etc/alpine-release"],"Env":["PATH=/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin","COPA_TESTBED=1","LANG=C.UTF-8"],"Labels":{"org.example.keep":"yes","org.opencontainers.image.title":"copa-testbed alpine nonroot"},"ExposedPorts":{"8080/tcp":{}},"StopSignal":"SIGQUIT"}'
ALPINE_CONFIG='{"Cmd":["/bin/sh"]}'
STATIC_ALPINE_CONFIG='{"User":"0","WorkingDir":"/","Cmd":null}'

ensure_apk_key() {
	[[ -f $APK_KEY_DIR/key.rsa && -f $APK_KEY_DIR/keyname && -f $APK_KEY_DIR/$(cat "$APK_KEY_DIR/keyname" 2>/dev/null) ]] && return 0
	log "making the APK repository signing key"
	rm -rf "$APK_KEY_DIR"
	node "$ALPINE_DIR/keygen.mjs" "$APK_KEY_DIR"
}

# One hash of everything the Alpine outputs are made from.
alpine_stamp() {
	local r
	{
		echo "$ALPINE_RECIPE $APK_BUMP_ORIGINS $APK_STATIC_REMOVE $APK_STATIC_WORLD"
		cat "$APK_KEY_DIR/keyname"
		cat "$ALPINE_DIR"/*.mjs
		for r in "${ALPINE_ROOTS[@]}"; do stat -c '%n %s %Y' "$ALPINE_FIXTURES/${r##* }"; done
	} | sha256sum | cut -c1-16
}

build_apk_repo() { # stamp
	local new="$APK_REPO.new" r b ar t pids=() i
	log "making the local APK repository (${APK_BUMP_ORIGINS//,/, } bumped)"
	under_cache "$new"
	rm -rf "$new"
	mkdir -p "$new/keys" "$new/summaries"
	for r in "${ALPINE_ROOTS[@]}"; do
		read -r b ar t <<<"$r"
		[[ -f $ALPINE_FIXTURES/$t ]] || die "missing Alpine fixture $ALPINE_FIXTURES/$t (set COPA_SHARED_FIXTURES)"
		node "$ALPINE_DIR/make-repo.mjs" --rootfs "$ALPINE_FIXTURES/$t" --branch "$b" --out "$new" \
			--key "$APK_KEY_DIR/key.rsa" --key-name "$(cat "$APK_KEY_DIR/keyname")" \
			--bump "$APK_BUMP_ORIGINS" --summary "$new/summaries/$b-$ar.json" &
		pids+=($!)
	done
	for i in "${pids[@]}"; do wait "$i" || die "make-repo.mjs failed"; done
	install -m 0644 "$APK_KEY_DIR/$(cat "$APK_KEY_DIR/keyname")" "$new/keys/"
	jq -s --arg key "$(cat "$APK_KEY_DIR/keyname")" --arg bump "$APK_BUMP_ORIGINS" '{
		keyName: $key, bumpedOrigins: ($bump | split(",")),
		repos: map(. + { path: (.branch + "/main/" + .arch) })
	}' "$new"/summaries/*.json >"$new/packages.json"
	rm -rf "$new/summaries"
	touch "$new/.stamp-$1"
	# The server resolves each request by path name, so swapping the dir is enough.
	rm -rf "$APK_REPO.old"
	[[ -d $APK_REPO ]] && mv "$APK_REPO" "$APK_REPO.old"
	mv "$new" "$APK_REPO"
	rm -rf "$APK_REPO.old"
}

# unpack_alpine DIR TARBALL BRANCH: a minirootfs whose apk trusts the bed's key
# and knows only the local repository.
unpack_alpine() {
	local d=$1 keyname
	keyname="$(cat "$APK_KEY_DIR/keyname")"
	under_cache "$d"
	rm -rf "$d"
	mkdir -p "$d"
	tar -C "$d" --numeric-owner -xzf "$2"
	printf 'http://127.0.0.1:%s/%s/main\n' "$APK_PORT" "$3" >"$d/etc/apk/repositories"
	install -m 0644 "$APK_KEY_DIR/$keyname" "$d/etc/apk/keys/$keyname"
}

# apk_in ROOT ARGS...: the root's own apk, chrooted (private mount namespace).
apk_in() {
	local r=$1
	shift
	under_cache "$r"
	unshare -m --propagation private -- chroot "$r" /sbin/apk "$@"
}

# jq filter over packages.json for one branch/arch: bumped names or markers
apk_bumped() { jq -r --arg b "$1" --arg a "$2" '.repos[] | select(.branch == $b and .arch == $a) | .packages[] | '"$3" "$APK_REPO/packages.json"; }

# The proof that the repository works with the real apk: update (signature
# verified: no --allow-untrusted anywhere), `version -l '<'` lists every bumped
# package, upgrade installs them and their marker files, nothing is left to do.
alpine_check_root() { # root branch arch [command running apk for root; default: apk_in root]
	local r=$1 b=$2 ar=$3 out n m clog="$LOGS/alpine-check-${2}-${3}${4:+-tooling}.log"
	shift 3
	local run=(apk_in "$r")
	(($#)) && run=("$@")
	: >"$clog"
	"${run[@]}" update >>"$clog" 2>&1 || { tail_log "$clog"; die "apk update ($b $ar, $r) failed"; }
	out="$("${run[@]}" version -l '<' 2>>"$clog")"
	echo "$out" >>"$clog"
	# every bumped package the root has installed
	while read -r n m; do
		grep -qx "P:$n" "$r/lib/apk/db/installed" || continue
		grep -q "^$n-[0-9]" <<<"$out" || die "apk version -l '<' ($b $ar) does not list $n: $out"
	done < <(apk_bumped "$b" "$ar" '"\(.name) \(.marker)"')
	"${run[@]}" upgrade >>"$clog" 2>&1 || { tail_log "$clog"; die "apk upgrade ($b $ar, $r) failed"; }
	while read -r n m; do
		grep -qx "P:$n" "$r/lib/apk/db/installed" || continue
		[[ -f $r$m ]] || die "apk upgrade ($b $ar) did not install $m"
	done < <(apk_bumped "$b" "$ar" '"\(.name) \(.marker)"')
	out="$("${run[@]}" version -l '<' 2>>"$clog" | tail -n +2)"
	[[ -z $out ]] || die "after apk upgrade ($b $ar) still upgradable: $out"
}

wait_pids() { # pid...: wait for all, fail if any failed
	local p rc=0
	for p in "$@"; do wait "$p" || rc=1; done
	return $rc
}

# apk from the tooling root TOOL patching TARGET (bind-mounted at /target).
apk_tooling() { # tool target args...
	local tool=$1 target=$2
	shift 2
	under_cache "$tool"
	under_cache "$target"
	mkdir -p "$tool/target"
	unshare -m --propagation private -- bash -c 't=$1; mount --bind "$2" "$t/target"; shift 2; exec chroot "$t" /sbin/apk "$@"' \
		_ "$tool" "$target" --root /target --keys-dir /etc/apk/keys --repositories-file /etc/apk/repositories "$@"
}

build_alpine_images() {
	local w="$WORK/alpine" f="$ALPINE_FIXTURES" t0=$SECONDS
	log "building the Alpine images"
	rm -rf "$w"
	unpack_alpine "$w/3.20" "$f/alpine-minirootfs-3.20.3-x86_64.tar.gz" v3.20
	unpack_alpine "$w/3.20-x86" "$f/alpine-minirootfs-3.20.3-x86.tar.gz" v3.20
	unpack_alpine "$w/3.19" "$f/alpine-minirootfs-3.19.4-x86_64.tar.gz" v3.19
	cp -a "$w/3.20" "$w/3.20-pointrelease"
	# A locally modified config file (libcrypto3 owns it): a patch must keep it.
	echo '# copa-testbed: local edit, kept across upgrades' >>"$w/3.20-pointrelease/etc/ssl/openssl.cnf"
	cp -a "$w/3.20" "$w/3.20-static"
	node "$ALPINE_DIR/make-static.mjs" --root "$w/3.20-static" --remove "$APK_STATIC_REMOVE" --world "$APK_STATIC_WORLD"
	local src="official minirootfs" repos="/etc/apk/repositories = the bed's APK repository; bed key in /etc/apk/keys"
	local pids=() t
	for t in 3.20 3.20-pointrelease 3.20-x86:3.20-multi-386 3.19:3.19-pointrelease 3.20-static; do
		tar_layer "$w/${t%%:*}" "$IMAGES/alpine-${t#*:}.tar.gz" &
		pids+=($!)
	done
	wait_pids "${pids[@]}" || die "packing the Alpine layers failed"
	echo "$src 3.20.3 x86_64; $repos" >"$IMAGES/alpine-3.20.tar.gz.created-by"
	echo "$src 3.20.3 x86_64; $repos; /etc/ssl/openssl.cnf locally edited" >"$IMAGES/alpine-3.20-pointrelease.tar.gz.created-by"
	echo "$src 3.20.3 x86; $repos" >"$IMAGES/alpine-3.20-multi-386.tar.gz.created-by"
	echo "$src 3.19.4 x86_64; $repos" >"$IMAGES/alpine-3.19-pointrelease.tar.gz.created-by"
	echo "$src 3.20.3 x86_64 without ${APK_STATIC_REMOVE//,/ } (files and db entries); $repos" >"$IMAGES/alpine-3.20-static.tar.gz.created-by"
	# Self-check on the unpacked roots (the layers are already packed).
	pids=()
	alpine_check_root "$w/3.20-x86" v3.20 x86 &
	pids+=($!)
	alpine_check_root "$w/3.19" v3.19 x86_64 &
	pids+=($!)
	alpine_check_root "$w/3.20-static" v3.20 x86_64 apk_tooling "$w/3.20" "$w/3.20-static" &
	pids+=($!)
	alpine_check_root "$w/3.20-pointrelease" v3.20 x86_64
	wait_pids "${pids[@]}" || die "Alpine self-check failed; read $LOGS/alpine-check-*.log"
	tail -n 1 "$w/3.20-pointrelease/etc/ssl/openssl.cnf" | grep -q 'copa-testbed: local edit' ||
		die "apk upgrade dropped the local edit of /etc/ssl/openssl.cnf"
	[[ ! -e $w/3.20-static/bin/sh && ! -e $w/3.20-static/sbin/apk ]] || die "patching 3.20-static brought in a shell or apk"
	log "Alpine self-check passed (real apk: update, version -l '<', upgrade on 3.20 x86_64/x86, 3.19, tooling --root into static) in $((SECONDS - t0))s"
	rm -rf "$w"
}

job_alpine() {
	ensure_apk_key
	local stamp
	stamp="$(alpine_stamp)"
	[[ -f $APK_REPO/.stamp-$stamp && -f $APK_REPO/packages.json ]] || build_apk_repo "$stamp"
	local t ok=1
	for t in 3.20 3.20-pointrelease 3.20-multi-386 3.19-pointrelease 3.20-static; do
		[[ -f $IMAGES/alpine-$t.tar.gz && -f $IMAGES/alpine-$t.tar.gz.created-by ]] || ok=0
	done
	[[ -f $IMAGES/.alpine-$stamp-port-$APK_PORT ]] || ok=0
	if ((!ok)); then
		rm -f "$IMAGES"/.alpine-*
		build_alpine_images
		touch "$IMAGES/.alpine-$stamp-port-$APK_PORT"
	fi
	local pids=()
	PUSH_REPO=alpine push 3.20 "$IMAGES/alpine-3.20.tar.gz" "$ALPINE_CONFIG" &
	pids+=($!)
	PUSH_REPO=alpine push 3.20-pointrelease "$IMAGES/alpine-3.20-pointrelease.tar.gz" "$ALPINE_CONFIG" &
	pids+=($!)
	PUSH_REPO=alpine push 3.19-pointrelease "$IMAGES/alpine-3.19-pointrelease.tar.gz" "$ALPINE_CONFIG" &
	pids+=($!)
	PUSH_REPO=alpine push 3.20-static "$IMAGES/alpine-3.20-static.tar.gz" "$STATIC_ALPINE_CONFIG" &
	pids+=($!)
	wait_pids "${pids[@]}" || die "pushing the Alpine images failed"
	# Same layer as 3.20-pointrelease, as debian:12-nonroot shares 12-pointrelease's.
	PUSH_REPO=alpine push 3.20-nonroot "$IMAGES/alpine-3.20-pointrelease.tar.gz" "$NONROOT_ALPINE_CONFIG"
	local d386
	d386="$(PUSH_REPO=alpine push 3.20-multi "$IMAGES/alpine-3.20-multi-386.tar.gz" "$ALPINE_CONFIG" --arch 386 --by-digest)"
	node "$HERE/push-image.mjs" --registry "127.0.0.1:$REGISTRY_PORT" --repo alpine --tag 3.20-multi \
		--index-of 3.20-pointrelease --index-of "$d386"
}

docker_root_ok() { [[ -x $DOCKER_ROOT/usr/sbin/dockerd && "$(cat "$DOCKER_ROOT/.copa-testbed-root" 2>/dev/null)" == "$DOCKER_ROOT_RECIPE" ]]; }

ensure_docker_root() {
	docker_root_ok && return 0
	[[ -f $DOCKER_ROOTFS_TAR ]] || die "no Docker engine rootfs (job trixie should have built it)"
	log "unpacking the Docker engine root from $DOCKER_ROOTFS_TAR"
	rm -rf "$DOCKER_ROOT.tmp"
	mkdir -p "$DOCKER_ROOT.tmp"
	tar -C "$DOCKER_ROOT.tmp" --numeric-owner --zstd -xf "$DOCKER_ROOTFS_TAR"
	rm -rf "$DOCKER_ROOT"
	mv "$DOCKER_ROOT.tmp" "$DOCKER_ROOT"
	echo "$DOCKER_ROOT_RECIPE" >"$DOCKER_ROOT/.copa-testbed-root"
}

# ---------------------------------------------------------------- services

registry_up() { curl -fsS -m 2 -o /dev/null "http://127.0.0.1:$REGISTRY_PORT/v2/"; }
buildkit_up() { timeout 10 "$BIN/buildctl" --addr "unix://$RUN/buildkitd.sock" debug workers; }
# curl, not the docker CLI: the engine must be checkable without a client.
docker_up() { curl -fsS -m 5 --unix-socket "$RUN/docker.sock" http://docker/_ping; }
repo_server_up() { curl -fsS -m 2 -o /dev/null "http://127.0.0.1:$1/healthz"; }
apkrepo_up() { repo_server_up "$APK_PORT"; }
rpmrepo_up() { repo_server_up "$RPM_PORT"; }
docker_version() { curl -fsS -m 5 --unix-socket "$RUN/docker.sock" http://docker/version | jq -r .Version; }

start_registry() {
	pid_alive "$RUN/registry.pid" && registry_up && return 0
	stop_pidfile "$RUN/registry.pid" registry
	mkdir -p "$REGISTRY_DIR"
	cat >"$RUN/registry.yml" <<EOF
version: 0.1
log:
  level: warn
  accesslog:
    disabled: true
storage:
  filesystem:
    rootdirectory: $REGISTRY_DIR
  delete:
    enabled: true
http:
  addr: 127.0.0.1:$REGISTRY_PORT
  secret: copa-testbed-local-only
EOF
	setsid /usr/bin/docker-registry serve "$RUN/registry.yml" >"$LOGS/registry.log" 2>&1 </dev/null 9>&- &
	echo $! >"$RUN/registry.pid"
	wait_for 30 "registry on 127.0.0.1:$REGISTRY_PORT" "$LOGS/registry.log" registry_up
}

# start_repo_server NAME ROOT PORT WHAT: a static server (serve-repo.mjs) over ROOT on
# 127.0.0.1:PORT, with pid file run/NAME.pid and log logs/NAME.log.
start_repo_server() {
	local name=$1 root=$2 port=$3 what=$4
	pid_alive "$RUN/$name.pid" && repo_server_up "$port" && return 0
	stop_pidfile "$RUN/$name.pid" "$name"
	mkdir -p "$root"
	setsid node "$ALPINE_DIR/serve-repo.mjs" --root "$root" --port "$port" \
		>"$LOGS/$name.log" 2>&1 </dev/null 9>&- &
	echo $! >"$RUN/$name.pid"
	wait_for 30 "$what on 127.0.0.1:$port" "$LOGS/$name.log" repo_server_up "$port"
}

# The local APK repository (job alpine fills it) and the RPM repositories (job rpm fills them).
start_apkrepo() { start_repo_server apkrepo "$APK_REPO" "$APK_PORT" "APK repository"; }
start_rpmrepo() { start_repo_server rpmrepo "$RPM_REPO" "$RPM_PORT" "RPM repository"; }

start_buildkitd() {
	pid_alive "$RUN/buildkitd.pid" && buildkit_up && return 0
	stop_pidfile "$RUN/buildkitd.pid" buildkitd
	mkdir -p "$BUILDKIT_ROOT"
	cat >"$RUN/buildkitd.toml" <<EOF
root = "$BUILDKIT_ROOT"
[worker.oci]
  enabled = true
  binary = "$RUNC"
  networkMode = "host"
[worker.containerd]
  enabled = false
[registry."127.0.0.1:$REGISTRY_PORT"]
  http = true
  insecure = true
EOF
	rm -f "$RUN/buildkitd.sock"
	# Own mount namespace: snapshot mounts die with buildkitd, whatever kills it.
	setsid unshare -m --propagation private -- "$BIN/buildkitd" --config "$RUN/buildkitd.toml" \
		--root "$BUILDKIT_ROOT" --addr "unix://$RUN/buildkitd.sock" --addr "tcp://127.0.0.1:$BUILDKIT_PORT" \
		--oci-worker=true --oci-worker-binary "$RUNC" --oci-worker-net=host --containerd-worker=false \
		>"$LOGS/buildkitd.log" 2>&1 </dev/null 9>&- &
	echo $! >"$RUN/buildkitd.pid"
	wait_for 60 "buildkitd" "$LOGS/buildkitd.log" buildkit_up
}

start_dockerd() {
	pid_alive "$RUN/dockerd.pid" && docker_up && return 0
	stop_dockerd
	local r=$DOCKER_ROOT
	mkdir -p "$r/etc/docker" "$r$RUN"
	cat >"$r/etc/docker/daemon.json" <<EOF
{
  "features": { "containerd-snapshotter": true },
  "insecure-registries": ["127.0.0.1:$REGISTRY_PORT"],
  "bridge": "none",
  "iptables": false,
  "ip6tables": false,
  "ip-forward": false,
  "ip-masq": false,
  "userland-proxy": false,
  "log-level": "warn"
}
EOF
	rm -f "$r/etc/resolv.conf" "$r/etc/hosts"
	cp /etc/resolv.conf "$r/etc/resolv.conf"
	cp /etc/hosts "$r/etc/hosts"
	rm -f "$RUN/docker.sock"
	# Private mount namespace: the root is bind-mounted onto itself (runc's
	# pivot_root needs a mount point), /proc /sys /dev inside, and $RUN at the
	# same path so the socket and pid file are where the host expects them.
	setsid unshare -m --propagation private -- bash -c '
		set -e; r=$1; run=$2; shift 2
		mount --bind "$r" "$r"
		mount -t proc proc "$r/proc"
		mount --rbind /sys "$r/sys"
		mount --rbind /dev "$r/dev"
		mount --bind "$run" "$r$run"
		exec chroot "$r" /usr/bin/env -i PATH=/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin "$@"' \
		_ "$r" "$RUN" /usr/sbin/dockerd --config-file /etc/docker/daemon.json \
		-H "unix://$RUN/docker.sock" --group root --data-root /var/lib/docker --exec-root "$DOCKER_EXEC_ROOT" \
		--pidfile "$RUN/dockerd.pid.inner" \
		>"$LOGS/dockerd.log" 2>&1 </dev/null 9>&- &
	echo $! >"$RUN/dockerd.pid"
	wait_for 120 "dockerd" "$LOGS/dockerd.log" docker_up
}

stop_dockerd() {
	stop_pidfile "$RUN/dockerd.pid" dockerd
	rm -f "$RUN/dockerd.pid.inner"
	# containerd (and shims) normally exit with dockerd; kill stragglers that
	# run from our engine root -- and only those.
	local p exe
	for p in /proc/[0-9]*; do
		exe="$(readlink "$p/exe" 2>/dev/null)" || continue
		if [[ $exe == "$DOCKER_ROOT/"* ]] || { [[ $exe == /usr/bin/containerd* || $exe == /usr/sbin/dockerd ]] &&
			[[ "$(readlink "$p/root" 2>/dev/null)" == "$DOCKER_ROOT" ]]; }; then
			log "killing leftover engine process ${p#/proc/} ($exe)"
			kill -KILL "${p#/proc/}" 2>/dev/null || true
		fi
	done
}

write_env_json() {
	local dockerver keyname
	dockerver="$(docker_version 2>/dev/null || echo unknown)"
	keyname="$(cat "$APK_KEY_DIR/keyname")"
	jq -n --arg cache "$CACHE" --arg run "$RUN" --arg reg "127.0.0.1:$REGISTRY_PORT" \
		--arg bku "unix://$RUN/buildkitd.sock" --arg bkt "tcp://127.0.0.1:$BUILDKIT_PORT" \
		--arg dh "unix://$RUN/docker.sock" --arg dc "$DOCKER_CONFIG_DIR" --arg docker "$HOST_DOCKER" \
		--arg buildctl "$BIN/buildctl" --arg buildkitd "$BIN/buildkitd" --arg buildx "$BIN/buildx" \
		--arg bkv "$BUILDKIT_VERSION" --arg bxv "$BUILDX_VERSION" --arg dv "$dockerver" \
		--arg started "$(date -u +%Y-%m-%dT%H:%M:%SZ)" --arg logs "$LOGS" \
		--arg tags "${IMAGE_TAGS[*]}" --arg atags "${ALPINE_TAGS[*]}" \
		--arg apkurl "http://127.0.0.1:$APK_PORT" --arg keyname "$keyname" --arg pubkey "$APK_KEY_DIR/$keyname" \
		--arg pkgfile "$APK_REPO/packages.json" --slurpfile pkgs "$APK_REPO/packages.json" \
		--arg rtags "${RPM_IMAGES[*]}" --arg rpmurl "http://127.0.0.1:$RPM_PORT" --arg rpmkey "$RPM_KEY_DIR/$RPM_KEY_NAME" \
		--arg rpmpkgfile "$RPM_REPO/packages.json" --slurpfile rpkgs "$RPM_REPO/packages.json" '{
			cacheDir: $cache, runDir: $run, logsDir: $logs,
			buildkitAddr: $bku, buildkitTcpAddr: $bkt,
			registry: $reg,
			dockerHost: $dh, dockerConfig: $dc, docker: $docker,
			buildctl: $buildctl, buildkitd: $buildkitd, buildx: $buildx,
			buildxBuilder: "copa-testbed",
			versions: { buildkit: $bkv, buildx: $bxv, dockerServer: $dv },
			images: (($tags | split(" ") | map({ key: ("debian:" + .), value: ($reg + "/debian:" + .) }) | from_entries)
				+ ($atags | split(" ") | map({ key: ("alpine:" + .), value: ($reg + "/alpine:" + .) }) | from_entries)
				+ ($rtags | split(" ") | map({ key: ("rpm/" + .), value: ($reg + "/rpm/" + .) }) | from_entries)),
			apkRepo: {
				url: $apkurl, keyName: $keyname, publicKeyPath: $pubkey, packagesFile: $pkgfile,
				repositories: ($pkgs[0].repos | map({ key: .branch, value: ($apkurl + "/" + .branch + "/main") }) | from_entries),
				repos: $pkgs[0].repos
			},
			rpmRepo: ($rpkgs[0] + {
				url: $rpmurl, gpgKeyPath: $rpmkey, packagesFile: $rpmpkgfile,
				gpgKeyUrl: ($rpmurl + "/" + $rpkgs[0].keyFile),
				repositories: ($rpkgs[0].repos | map({ key: .id, value: ($rpmurl + "/" + .path) }) | from_entries)
			}),
			startedAt: $started
		}' >"$ENV_JSON.tmp"
	mv -f "$ENV_JSON.tmp" "$ENV_JSON"
}

# A buildx builder driving our buildkitd, so `docker buildx --builder copa-testbed` works.
ensure_buildx_builder() {
	[[ -x $HOST_DOCKER ]] || { log "no docker CLI at $HOST_DOCKER: no buildx builder"; return 0; }
	local dx=(env DOCKER_CONFIG="$DOCKER_CONFIG_DIR" DOCKER_HOST="unix://$RUN/docker.sock" "$HOST_DOCKER" buildx)
	"${dx[@]}" rm copa-testbed >/dev/null 2>&1 || true
	"${dx[@]}" create --name copa-testbed --driver remote "unix://$RUN/buildkitd.sock" >>"$LOGS/buildx.log" 2>&1 ||
		{ tail_log "$LOGS/buildx.log"; die "docker buildx create failed; read $LOGS/buildx.log"; }
}

# Ownership: `up --owner-pid P` registers P in run/owners/ (several test runs
# may share one bed); `release P` unregisters it. The bed goes down when its
# last owner releases it or dies (the watchdog notices), unless a plain `up`
# pinned it, in which case only `down` stops it.
add_owner() {
	mkdir -p "$RUN/owners"
	kill -0 "$1" 2>/dev/null || die "--owner-pid $1: no such process"
	: >"$RUN/owners/$1"
	pid_alive "$RUN/watchdog.pid" && return 0
	setsid bash "$SELF" _watchdog >>"$LOGS/watchdog.log" 2>&1 </dev/null 9>&- &
	echo $! >"$RUN/watchdog.pid"
}

owners_text() { # "123 456, pinned" for logs
	local o
	o="$(live_owners | xargs)"
	printf '%s%s' "${o:-none}" "$([[ -f $RUN/pinned ]] && echo ', pinned by a plain up')"
}

live_owners() { # prints live owner pids, forgets dead ones
	local f
	for f in "$RUN"/owners/*; do
		[[ -e $f ]] || continue
		if kill -0 "${f##*/}" 2>/dev/null; then echo "${f##*/}"; else rm -f "$f"; fi
	done
}

# ---------------------------------------------------------------- commands

# Each slow step runs as `testbed.sh _job NAME` in its own process group, so a
# failed `up` can stop a whole step (go build, debootstrap...) and not just its shell.
JOB_NAMES=()
JOB_PIDS=()
start_job() { # name
	setsid bash "$SELF" _job "$1" >"$LOGS/$1.log" 2>&1 </dev/null 9>&- &
	JOB_NAMES+=("$1")
	JOB_PIDS+=($!)
}
wait_job() { # name
	local i
	for i in "${!JOB_NAMES[@]}"; do
		[[ ${JOB_NAMES[$i]} == "$1" ]] || continue
		wait "${JOB_PIDS[$i]}" || { tail_log "$LOGS/$1.log"; die "step '$1' failed; read $LOGS/$1.log"; }
		return 0
	done
}
kill_jobs() {
	local pid
	for pid in "${JOB_PIDS[@]}"; do kill -TERM -- "-$pid" 2>/dev/null || true; done
}
cmd_job() {
	source "$PORTS_FILE"
	find_go
	case $1 in
	buildkit) build_buildkit ;;
	buildx) build_buildx ;;
	bookworm) job_bookworm ;;
	bookworm-i386) job_bookworm_i386 ;;
	rpm) job_rpm ;;
	trixie) job_trixie ;;
	distroless) job_distroless ;;
	alpine) job_alpine ;;
	*) die "unknown job $1" ;;
	esac
}

cmd_up() {
	OWNER_PID=""
	while (($#)); do
		case $1 in
		--owner-pid)
			OWNER_PID=${2:?--owner-pid needs a PID}
			shift 2
			;;
		*) die "up: unknown argument $1" ;;
		esac
	done
	[[ $(id -u) == 0 ]] || die "the test bed needs root (runc, chroot, mounts)"
	mkdir -p "$RUN" "$LOGS" "$BIN" "$WORK" "$IMAGES"
	exec 9>"$CACHE/.lock"
	flock -w 3600 9 || die "another testbed.sh holds $CACHE/.lock"
	local t0=$SECONDS
	if cmd_status --quiet; then
		source "$PORTS_FILE"
		if [[ -n $OWNER_PID ]]; then add_owner "$OWNER_PID"; else : >"$RUN/pinned"; fi
		log "already up (owners: $(owners_text))"
		print_addresses
		return 0
	fi
	# Half up (a daemon died): restart everything rather than patch it up.
	[[ -f $RUN/registry.pid || -f $RUN/buildkitd.pid || -f $RUN/dockerd.pid || -f $RUN/apkrepo.pid || -f $RUN/rpmrepo.pid ]] && cmd_down_locked
	trap 'rc=$?; if ((rc)); then log "up failed; stopping what was started"; kill_jobs; cmd_down_locked || true; fi' EXIT
	ensure_packages
	find_go
	command -v node >/dev/null || die "node is required"
	[[ -f $IMAGES/.recipe-$IMAGES_RECIPE ]] || { rm -f "$IMAGES"/*; touch "$IMAGES/.recipe-$IMAGES_RECIPE"; }
	choose_ports
	source "$PORTS_FILE"
	rm -rf "$RUN/owners" "$RUN/pinned"
	# Registered before the slow part, so an owner killed meanwhile still ends the bed.
	if [[ -n $OWNER_PID ]]; then add_owner "$OWNER_PID"; else : >"$RUN/pinned"; fi
	start_registry
	start_apkrepo
	start_rpmrepo
	# Go builds are CPU-bound, debootstraps network-bound: run them side by side.
	start_job buildkit build_buildkit
	start_job buildx build_buildx
	start_job bookworm job_bookworm
	start_job bookworm-i386 job_bookworm_i386
	start_job trixie job_trixie
	start_job distroless job_distroless
	start_job alpine
	start_job rpm
	wait_job trixie
	ensure_docker_root
	start_dockerd
	wait_job buildkit
	start_buildkitd
	wait_job buildx
	ensure_buildx_builder
	wait_job bookworm
	wait_job bookworm-i386
	push_multi
	wait_job distroless
	wait_job alpine
	wait_job rpm
	rm -rf "${WORK:?}"/*
	write_env_json
	trap - EXIT
	log "test bed up in $((SECONDS - t0))s"
	print_addresses
}

print_addresses() {
	cat <<EOF
copa-ts test bed is up (cache $CACHE)
  buildkit      unix://$RUN/buildkitd.sock  tcp://127.0.0.1:$BUILDKIT_PORT
  registry      127.0.0.1:$REGISTRY_PORT (plain HTTP)
  docker        DOCKER_HOST=unix://$RUN/docker.sock DOCKER_CONFIG=$DOCKER_CONFIG_DIR
  images        $(for t in "${IMAGE_TAGS[@]}"; do printf '127.0.0.1:%s/debian:%s ' "$REGISTRY_PORT" "$t"; done)
                $(for t in "${ALPINE_TAGS[@]}"; do printf '127.0.0.1:%s/alpine:%s ' "$REGISTRY_PORT" "$t"; done)
                $(for t in "${RPM_IMAGES[@]}"; do printf '127.0.0.1:%s/rpm/%s ' "$REGISTRY_PORT" "$t"; done)
  apk repo      http://127.0.0.1:$APK_PORT/{v3.20,v3.19}/main, key $(cat "$APK_KEY_DIR/keyname" 2>/dev/null); bumped packages in $APK_REPO/packages.json
  rpm repos     http://127.0.0.1:${RPM_PORT:-none}/{cbl-mariner/2.0/prod/base,copa-testbed/el9,centos/7/os}/x86_64, key $RPM_KEY_DIR/$RPM_KEY_NAME; bumped packages in $RPM_REPO/packages.json
  env           $ENV_JSON   (shell: eval "\$(bash $SELF env)")
  logs          $LOGS
EOF
}

cmd_down() {
	mkdir -p "$RUN"
	exec 9>"$CACHE/.lock"
	# An `up` in progress holds the lock; its own failure path calls down.
	flock -w 3600 9 || die "could not take $CACHE/.lock"
	cmd_down_locked
}

cmd_down_locked() {
	local wd
	if [[ -f $RUN/watchdog.pid ]]; then
		wd="$(cat "$RUN/watchdog.pid")"
		# The watchdog runs `down` itself: do not kill our own caller.
		if [[ $wd != "${WATCHDOG_SELF:-}" ]]; then stop_pidfile "$RUN/watchdog.pid" watchdog; else rm -f "$RUN/watchdog.pid"; fi
	fi
	# Signal all first: each takes ~2 s to shut down, so wait for them together.
	local f
	for f in dockerd buildkitd registry apkrepo rpmrepo; do
		pid_alive "$RUN/$f.pid" && kill -TERM "$(cat "$RUN/$f.pid")" 2>/dev/null || true
	done
	stop_dockerd
	stop_pidfile "$RUN/buildkitd.pid" buildkitd
	stop_pidfile "$RUN/registry.pid" registry
	stop_pidfile "$RUN/apkrepo.pid" apkrepo
	stop_pidfile "$RUN/rpmrepo.pid" rpmrepo
	# Mounts live in private namespaces that die with their process; anything
	# still mounted under the cache (e.g. by a crashed older run) goes now.
	local m
	findmnt -rn -o TARGET | awk -v c="$CACHE" 'index($0, c "/") == 1' | sort -r | while read -r m; do
		log "unmounting leftover $m"
		umount "$m" 2>/dev/null || umount -l "$m" || true
	done
	rm -rf "$RUN"/*.sock "$ENV_JSON" "$RUN/owners" "$RUN/pinned"
	log "test bed down"
}

cmd_status() {
	local quiet=0 ok=0 REGISTRY_PORT="" BUILDKIT_PORT="" APK_PORT="" RPM_PORT=""
	[[ ${1:-} == --quiet ]] && quiet=1
	[[ -f $PORTS_FILE ]] && source "$PORTS_FILE"
	say() { ((quiet)) || printf '%-10s %s\n' "$1" "$2"; }
	if [[ -n $REGISTRY_PORT ]] && pid_alive "$RUN/registry.pid" && registry_up &>/dev/null; then say registry "up 127.0.0.1:$REGISTRY_PORT"; else
		say registry down
		ok=1
	fi
	if [[ -n $APK_PORT ]] && pid_alive "$RUN/apkrepo.pid" && apkrepo_up &>/dev/null; then say apkrepo "up http://127.0.0.1:$APK_PORT"; else
		say apkrepo down
		ok=1
	fi
	# A bed raised by an older testbed.sh has no RPM_PORT: it is up without the RPM
	# world (down + up adds it) rather than half up, so a running bed is not restarted.
	if [[ -z $RPM_PORT ]]; then say rpmrepo "not part of this bed (raised before the RPM world)"
	elif pid_alive "$RUN/rpmrepo.pid" && rpmrepo_up &>/dev/null; then say rpmrepo "up http://127.0.0.1:$RPM_PORT"; else
		say rpmrepo down
		ok=1
	fi
	if pid_alive "$RUN/buildkitd.pid" && buildkit_up &>/dev/null; then say buildkitd "up unix://$RUN/buildkitd.sock tcp://127.0.0.1:$BUILDKIT_PORT"; else
		say buildkitd down
		ok=1
	fi
	if pid_alive "$RUN/dockerd.pid" && docker_up &>/dev/null; then say dockerd "up unix://$RUN/docker.sock"; else
		say dockerd down
		ok=1
	fi
	[[ -f $ENV_JSON ]] || ok=1
	say owners "$(owners_text)"
	return $ok
}

cmd_env() {
	[[ -f $ENV_JSON ]] || die "test bed is not up ($ENV_JSON missing); run: bash $SELF up"
	jq -r '
		"export COPA_TESTBED_CACHE=\(.cacheDir | @sh)",
		"export BUILDKIT_HOST=\(.buildkitAddr | @sh)",
		"export COPA_BUILDKIT_TCP=\(.buildkitTcpAddr | @sh)",
		"export COPA_REGISTRY=\(.registry | @sh)",
		"export COPA_APK_REPO=\(.apkRepo.url | @sh)",
		"export COPA_RPM_REPO=\((.rpmRepo.url // "") | @sh)",
		"export DOCKER_HOST=\(.dockerHost | @sh)",
		"export DOCKER_CONFIG=\(.dockerConfig | @sh)",
		"export COPA_BUILDCTL=\(.buildctl | @sh)",
		"export COPA_BUILDKITD=\(.buildkitd | @sh)",
		"export COPA_BUILDX=\(.buildx | @sh)",
		"export PATH=\((.buildctl | sub("/[^/]*$"; "")) | @sh):\"$PATH\""
	' "$ENV_JSON"
}

cmd_release() {
	local pid=${1:?release needs a PID}
	exec 9>"$CACHE/.lock"
	flock -w 3600 9 || die "could not take $CACHE/.lock"
	rm -f "$RUN/owners/$pid"
	if [[ -f $RUN/pinned || -n "$(live_owners)" ]]; then
		log "released by $pid; staying up (owners: $(owners_text))"
	else
		cmd_down_locked
	fi
}

cmd_watchdog() {
	log "watchdog $$ started"
	while sleep 1; do
		[[ -f $RUN/pinned ]] && { log "bed pinned by a plain up; watchdog exits"; rm -f "$RUN/watchdog.pid"; return 0; }
		[[ -n "$(live_owners)" ]] && continue
		# Re-check under the lock: an `up --owner-pid` may be registering right now.
		exec 9>"$CACHE/.lock"
		flock -w 3600 9 || continue
		if [[ -z "$(live_owners)" && ! -f $RUN/pinned ]]; then
			log "no live owner left; taking the test bed down"
			WATCHDOG_SELF=$$ cmd_down_locked
			return 0
		fi
		exec 9>&-
	done
}

main() {
	case "${1:-}" in
	up)
		shift
		cmd_up "$@"
		;;
	down) cmd_down ;;
	status)
		shift
		cmd_status "$@"
		;;
	env) cmd_env ;;
	release)
		shift
		cmd_release "$@"
		;;
	_watchdog) cmd_watchdog ;;
	_job) cmd_job "$2" ;;
	*)
		echo "usage: $0 up [--owner-pid PID] | release PID | down | status [--quiet] | env" >&2
		exit 2
		;;
	esac
}

# One line, so editing this file while it runs cannot change what bash reads next.
main "$@"; exit $?
