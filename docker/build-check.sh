#!/bin/bash
# Builds docker/Dockerfile and checks the image for real, on a Debian 12 machine with root and
# no container registry at hand: only the Debian archive (apt) and PyPI are needed.
#
#   sudo docker/build-check.sh          # from the repository root; takes a few minutes
#
# 1. Installs docker.io, iptables and debootstrap from Debian if missing, and starts dockerd
#    (overlay2, else vfs) when no daemon answers; a daemon it started is stopped at the end.
# 2. Makes the base image: `debootstrap --variant=minbase bookworm`, slimmed as the official
#    debian:bookworm-slim is (updates and security fixes applied; no docs, man pages,
#    locales, apt lists), imported as
#    $BASE_IMAGE. A base image that already exists is reused (REBUILD_BASE=1 remakes it).
# 3. When the host trusts extra CAs (/usr/local/share/ca-certificates/*.crt, or the PEM files
#    in BUILD_CA_CERTS) — a network intercepting TLS — the first stage is built on a copy of
#    the base that trusts them too (BUILD_IMAGE); the runtime image never contains them.
# 4. Builds the image, reports its size, and checks it: `fhir-server --version`, uid 10001,
#    no compiler / pip / pip cache / tests; then runs it with a data volume and the demo data,
#    authentication on: HEALTHCHECK turns healthy, /metadata and /readyz answer, a FHIR
#    search needs a token and works with one minted in the container, the server process is
#    uid 10001, `docker stop` ends it with exit code 0, a restart keeps the data, and it also
#    runs with a read-only root file system.
# Not part of CI (it needs root, the Debian archive and minutes). Exit status 0: all passed.
set -euo pipefail
cd "$(dirname "$0")/.."

IMAGE=${IMAGE:-fhir-server-lu-mr:build-check}
BASE_IMAGE=${BASE_IMAGE:-fhir-build-check/debian:bookworm-slim}
BUILD_IMAGE=${BUILD_IMAGE:-}
SUITE=${SUITE:-bookworm}
MIRROR=${MIRROR:-http://deb.debian.org/debian}
SECURITY_MIRROR=${SECURITY_MIRROR:-http://deb.debian.org/debian-security}
WORK=${WORK:-/tmp/fhir-build-check}
PORT=${PORT:-18080}
NAME=fhir-build-check-$$
VOLUME=fhir-build-check-data-$$

say() { printf '\n== %s\n' "$*"; }
failures=0
check() {  # check DESCRIPTION COMMAND…: runs the command, prints PASS or FAIL
    local what=$1; shift
    if "$@" >"$WORK/check.out" 2>&1; then
        printf 'PASS  %s\n' "$what"
    else
        printf 'FAIL  %s\n' "$what"; sed 's/^/      /' "$WORK/check.out" | tail -20
        failures=$((failures + 1))
    fi
}

[ "$(id -u)" = 0 ] || { echo "build-check.sh needs root (dockerd, debootstrap)"; exit 2; }
mkdir -p "$WORK"

# --- 1. tools and daemon -------------------------------------------------------------------
missing=()
command -v dockerd >/dev/null || missing+=(docker.io)
command -v iptables >/dev/null || missing+=(iptables)
command -v debootstrap >/dev/null || missing+=(debootstrap)
if [ ${#missing[@]} -gt 0 ]; then
    say "installing ${missing[*]} from Debian"
    apt-get update -q
    DEBIAN_FRONTEND=noninteractive apt-get install -y -q --no-install-recommends "${missing[@]}"
fi

dockerd_pid=
cleanup() {
    docker rm -f "$NAME" >/dev/null 2>&1 || true
    docker volume rm "$VOLUME" >/dev/null 2>&1 || true
    if [ -n "$dockerd_pid" ]; then
        kill "$dockerd_pid" 2>/dev/null || true
        wait "$dockerd_pid" 2>/dev/null || true
    fi
}
trap cleanup EXIT

if ! docker info >/dev/null 2>&1; then
    for driver in overlay2 vfs; do
        say "starting dockerd (storage driver $driver; log $WORK/dockerd.log)"
        dockerd --storage-driver="$driver" >"$WORK/dockerd.log" 2>&1 &
        dockerd_pid=$!
        for _ in $(seq 60); do
            docker info >/dev/null 2>&1 && break
            kill -0 "$dockerd_pid" 2>/dev/null || break
            sleep 1
        done
        docker info >/dev/null 2>&1 && break
        kill "$dockerd_pid" 2>/dev/null || true; wait "$dockerd_pid" 2>/dev/null || true
        dockerd_pid=
        tail -5 "$WORK/dockerd.log"
    done
    docker info >/dev/null 2>&1 || { echo "no Docker daemon could be started"; exit 1; }
fi
docker version --format 'docker client {{.Client.Version}}, daemon {{.Server.Version}}'
docker info --format 'storage driver {{.Driver}}, cgroup {{.CgroupVersion}}, security {{.SecurityOptions}}'

# --- 2. base image from debootstrap ----------------------------------------------------------
if [ "${REBUILD_BASE:-0}" = 1 ] || ! docker image inspect "$BASE_IMAGE" >/dev/null 2>&1; then
    say "debootstrap --variant=minbase $SUITE → $BASE_IMAGE"
    rootfs=$WORK/rootfs
    rm -rf "$rootfs"
    debootstrap --variant=minbase "$SUITE" "$rootfs" "$MIRROR" >"$WORK/debootstrap.log" 2>&1 \
        || { tail -20 "$WORK/debootstrap.log"; exit 1; }
    # What debuerreotype does for the official debian:*-slim images: dpkg leaves out docs,
    # man pages and locales; apt keeps no package cache, no translations, gzipped indexes.
    cat >"$rootfs/etc/dpkg/dpkg.cfg.d/docker" <<'EOF'
path-exclude /usr/share/doc/*
path-include /usr/share/doc/*/copyright
path-exclude /usr/share/groff/*
path-exclude /usr/share/info/*
path-exclude /usr/share/linda/*
path-exclude /usr/share/lintian/overrides/*
path-exclude /usr/share/locale/*
path-exclude /usr/share/man/*
EOF
    echo 'force-unsafe-io' >"$rootfs/etc/dpkg/dpkg.cfg.d/docker-apt-speedup"
    cat >"$rootfs/etc/apt/apt.conf.d/docker-clean" <<'EOF'
DPkg::Post-Invoke { "rm -f /var/cache/apt/archives/*.deb /var/cache/apt/archives/partial/*.deb /var/cache/apt/*.bin || true"; };
APT::Update::Post-Invoke { "rm -f /var/cache/apt/archives/*.deb /var/cache/apt/archives/partial/*.deb /var/cache/apt/*.bin || true"; };
Dir::Cache::pkgcache "";
Dir::Cache::srcpkgcache "";
EOF
    echo 'Acquire::GzipIndexes "true";' >"$rootfs/etc/apt/apt.conf.d/docker-gzip-indexes"
    echo 'Acquire::Languages "none";' >"$rootfs/etc/apt/apt.conf.d/docker-no-languages"
    echo 'Apt::AutoRemove::SuggestsImportant "false";' >"$rootfs/etc/apt/apt.conf.d/docker-autoremove-suggests"
    printf '#!/bin/sh\nexit 101\n' >"$rootfs/usr/sbin/policy-rc.d"; chmod 755 "$rootfs/usr/sbin/policy-rc.d"
    rm -f "$rootfs/etc/apt/sources.list"
    cat >"$rootfs/etc/apt/sources.list.d/debian.sources" <<EOF
Types: deb
URIs: $MIRROR
Suites: $SUITE $SUITE-updates
Components: main
Signed-By: /usr/share/keyrings/debian-archive-keyring.gpg

Types: deb
URIs: $SECURITY_MIRROR
Suites: $SUITE-security
Components: main
Signed-By: /usr/share/keyrings/debian-archive-keyring.gpg
EOF
    # The official image is made from the archive with its updates and security fixes: so is this one.
    chroot "$rootfs" sh -c 'apt-get update -q && DEBIAN_FRONTEND=noninteractive apt-get upgrade -y -q' \
        >>"$WORK/debootstrap.log" 2>&1 || { tail -20 "$WORK/debootstrap.log"; exit 1; }
    (cd "$rootfs" && find usr/share/doc -mindepth 1 ! -type d ! -name copyright -delete 2>/dev/null || true
     find usr/share/doc -mindepth 1 -type d -empty -delete 2>/dev/null || true
     rm -rf usr/share/groff/* usr/share/info/* usr/share/linda/* usr/share/lintian/overrides/* \
            usr/share/locale/* usr/share/man/* \
            var/cache/apt/* var/lib/apt/lists/* var/log/*.log var/log/apt/* \
            var/cache/debconf/*-old var/lib/dpkg/*-old
     rm -f etc/resolv.conf etc/hostname; : >etc/machine-id)
    tar --numeric-owner -C "$rootfs" -c . | docker import --change 'CMD ["bash"]' - "$BASE_IMAGE"
    rm -rf "$rootfs"
fi
docker image ls "$BASE_IMAGE"

# --- 3. a build stage image trusting the host's extra CAs, if any --------------------------
if [ -z "$BUILD_IMAGE" ]; then
    cas=${BUILD_CA_CERTS:-$(ls /usr/local/share/ca-certificates/*.crt 2>/dev/null || true)}
    if [ -n "$cas" ]; then
        BUILD_IMAGE=${BASE_IMAGE}-build-ca
        say "build stage on $BUILD_IMAGE, trusting $(echo $cas)"
        rm -rf "$WORK/ca" && mkdir -p "$WORK/ca"
        i=0; for ca in $cas; do i=$((i + 1)); cp "$ca" "$WORK/ca/extra-$i.crt"; done
        docker build -q -t "$BUILD_IMAGE" --build-arg BASE="$BASE_IMAGE" -f - "$WORK/ca" <<'EOF'
ARG BASE
FROM ${BASE}
COPY *.crt /usr/local/share/ca-certificates/
RUN apt-get update && apt-get install -y --no-install-recommends ca-certificates \
    && update-ca-certificates && rm -rf /var/lib/apt/lists/*
ENV PIP_CERT=/etc/ssl/certs/ca-certificates.crt
EOF
    else
        BUILD_IMAGE=$BASE_IMAGE
    fi
fi

# --- 4. build ------------------------------------------------------------------------------
say "docker build -f docker/Dockerfile -t $IMAGE ."
start=$(date +%s)
docker build -f docker/Dockerfile -t "$IMAGE" \
    --build-arg BASE_IMAGE="$BASE_IMAGE" --build-arg BUILD_IMAGE="$BUILD_IMAGE" . 2>&1 \
    | tee "$WORK/build.log" | grep -E '^(Step|Sending|Successfully)|^#[0-9]+ \[' || true
[ "${PIPESTATUS[0]}" = 0 ] || { tail -30 "$WORK/build.log"; exit 1; }
echo "built in $(($(date +%s) - start)) s"
docker image ls "$IMAGE"
docker image inspect -f 'image size {{.Size}} bytes' "$IMAGE"
docker history --format '{{.Size}}\t{{.CreatedBy}}' "$IMAGE" | cut -c1-150

# --- 5. checks on the image ----------------------------------------------------------------
say "checks"
run() { docker run --rm "$IMAGE" "$@"; }
check "fhir-server --version: $(run fhir-server --version 2>&1 | tr -d '\n')" run fhir-server --version
check "default user is uid 10001" sh -c "[ \"\$(docker run --rm $IMAGE id -u)\" = 10001 ]"
check "Debian's Python: $(run python --version 2>&1)" run python -c 'import sys; assert sys.version_info[:2] == (3, 11)'
check "no compiler, no pip, no pip cache, no tests" run sh -c '
    ! command -v gcc && ! command -v cc && ! command -v pip && ! python -m pip --version 2>/dev/null &&
    [ ! -d /root/.cache ] && [ ! -e /app/profiles/examples ] && [ ! -e /app/profiles/fsh ] &&
    [ -z "$(find /app /opt/venv/lib/python3.11/site-packages/fhir_server -name tests -o -name .venv)" ]'
check "the package and its main dependencies import" run python -c '
import importlib.metadata as m; import fhir_server, fastapi, uvicorn, pymongo, cryptography
print(m.version("fhir-server-lu-mr"))'

say "docker run -d -v $VOLUME:/data -p 127.0.0.1:$PORT:8080 (demo data, auth on)"
docker volume create "$VOLUME" >/dev/null
docker run -d --name "$NAME" -v "$VOLUME:/data" -p "127.0.0.1:$PORT:8080" \
    -e FHIR_SERVER_DEMO=true -e FHIR_SERVER_BASE_URL="http://127.0.0.1:$PORT" "$IMAGE" >/dev/null
health() { docker inspect -f '{{if .State.Health}}{{.State.Health.Status}}{{end}}' "$NAME"; }
start=$(date +%s)
for _ in $(seq 120); do
    [ "$(health)" = healthy ] && break
    [ "$(docker inspect -f '{{.State.Running}}' "$NAME")" = true ] || break
    sleep 1
done
echo "health: $(health) after $(($(date +%s) - start)) s"
check "HEALTHCHECK reports healthy" sh -c "[ \"\$(docker inspect -f '{{.State.Health.Status}}' $NAME)\" = healthy ]"
check "the HEALTHCHECK command itself passes (docker exec)" docker exec "$NAME" python -c \
    "import os, urllib.request; urllib.request.urlopen('http://127.0.0.1:%s/readyz' % os.environ.get('FHIR_SERVER_PORT', '8080'), timeout=4)"
url=http://127.0.0.1:$PORT
check "GET /metadata: CapabilityStatement" sh -c "curl -fsS $url/metadata | grep -q '\"resourceType\":\"CapabilityStatement\"'"
check "GET /readyz: 200" curl -fsS "$url/readyz"
check "GET /Patient without token: 401" sh -c "[ \"\$(curl -s -o /dev/null -w '%{http_code}' $url/Patient)\" = 401 ]"
token=$(docker exec "$NAME" fhir-server token --patient lu-patient-marie-schmit 2>/dev/null || true)
check "token minted in the container; GET /CareTeam with it: 200 Bundle" sh -c "curl -fsS -H 'Authorization: Bearer $token' \
    '$url/CareTeam?subject=Patient/lu-patient-marie-schmit' | grep -q '\"resourceType\":\"Bundle\"'"
check "server process (pid 1) runs as uid 10001" sh -c \
    "docker exec $NAME cat /proc/1/status | grep -E '^Uid:[[:space:]]+10001[[:space:]]+10001'"
check "/data (the volume) written by uid 10001" sh -c \
    "docker exec $NAME find /data -maxdepth 1 -name fhir.sqlite3 -user 10001 | grep -q ."
check "docker stop: graceful, exit code 0" sh -c \
    "docker stop -t 30 $NAME >/dev/null && [ \"\$(docker inspect -f '{{.State.ExitCode}}' $NAME)\" = 0 ]"
docker start "$NAME" >/dev/null
for _ in $(seq 120); do [ "$(health)" = healthy ] && break; sleep 1; done
check "restart on the same volume: healthy, data kept" sh -c "curl -fsS -H 'Authorization: Bearer $token' \
    '$url/Patient/lu-patient-marie-schmit' | grep -q '\"id\":\"lu-patient-marie-schmit\"'"
docker logs "$NAME" >"$WORK/container.log" 2>&1 || true
docker rm -f "$NAME" >/dev/null
docker run -d --name "$NAME" --read-only -v "$VOLUME:/data" -p "127.0.0.1:$PORT:8080" \
    -e FHIR_SERVER_BASE_URL="http://127.0.0.1:$PORT" "$IMAGE" >/dev/null
for _ in $(seq 120); do [ "$(health)" = healthy ] && break; sleep 1; done
check "with a read-only root file system (--read-only): healthy, answers" sh -c "curl -fsS -H 'Authorization: Bearer $token' \
    '$url/Patient/lu-patient-marie-schmit' | grep -q '\"id\":\"lu-patient-marie-schmit\"'"

say "$([ $failures = 0 ] && echo "all checks passed" || echo "$failures check(s) failed") (logs in $WORK)"
[ $failures = 0 ]
