#!/usr/bin/env bash
# Installs the PostgreSQL server binaries that the tests start themselves
# (pkg/store/pgtest: initdb + postgres on a temporary directory and a free
# loopback port). Debian/Ubuntu only; idempotent. No server is left running:
# Debian's default cluster is not created.
#
# The tests run the server as the system user "postgres" when they run as
# root (PostgreSQL refuses to run as root); the package creates that user.
set -euo pipefail

found() {
	local d
	for d in /usr/lib/postgresql/*/bin; do
		if [[ -x "$d/initdb" && -x "$d/postgres" ]]; then
			echo "$d"
			return 0
		fi
	done
	return 1
}

if dir=$(found); then
	echo "PostgreSQL server binaries present in $dir"
else
	sudo=()
	if [[ $(id -u) -ne 0 ]]; then
		sudo=(sudo)
	fi
	if ! command -v apt-get >/dev/null; then
		echo "hack/postgres.sh: no apt-get; install the PostgreSQL server (initdb, postgres) and set TIMESHEETS_PG_BIN to its bin directory" >&2
		exit 1
	fi
	# Do not create and start Debian's "main" cluster on port 5432.
	"${sudo[@]}" mkdir -p /etc/postgresql-common
	if [[ ! -e /etc/postgresql-common/createcluster.conf ]]; then
		echo "create_main_cluster = false" | "${sudo[@]}" tee /etc/postgresql-common/createcluster.conf >/dev/null
	fi
	"${sudo[@]}" apt-get update
	"${sudo[@]}" env DEBIAN_FRONTEND=noninteractive apt-get install -y --no-install-recommends \
		-o Dpkg::Options::=--force-confold postgresql
	dir=$(found) || { echo "hack/postgres.sh: installed postgresql, but found no initdb under /usr/lib/postgresql/*/bin" >&2; exit 1; }
	echo "PostgreSQL server binaries installed in $dir"
fi

if [[ $(id -u) -eq 0 ]] && ! id postgres >/dev/null 2>&1; then
	useradd --system --home-dir /var/lib/postgresql --shell /usr/sbin/nologin postgres
	echo "created system user postgres"
fi
