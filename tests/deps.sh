#!/bin/sh
# Installs what building, testing and the demo need, when it is missing:
# Debian packages (as root, with apt-get) and the pinned npm packages of
# the test identity provider (from tests/provider/package-lock.json).
set -eu
cd "$(dirname "$0")/.."

# --check-libs [tests]: only say which build packages are missing (the
# Makefile runs this before it compiles; with "tests", the unit tests'
# too), install nothing.
if [ "${1:-}" = --check-libs ]; then
	missing=""
	# PKG_CONFIG may carry arguments (tests/first-call.sh).
	pc=${PKG_CONFIG:-pkg-config}
	command -v "${CC:-cc}" >/dev/null 2>&1 || missing="$missing build-essential"
	if ! command -v "${pc%% *}" >/dev/null 2>&1; then
		missing="$missing pkg-config"
	else
		for pair in pam:libpam0g-dev libqrencode:libqrencode-dev libcurl:libcurl4-openssl-dev \
			libcrypto:libssl-dev libssl:libssl-dev libcjson:libcjson-dev \
			libevent_core:libevent-dev libevent_extra:libevent-dev \
			libevent_openssl:libevent-dev ${2:+cmocka:libcmocka-dev}; do
			$pc --exists "${pair%%:*}" 2>/dev/null && continue
			case " $missing " in *" ${pair#*:} "*) ;; *) missing="$missing ${pair#*:}" ;; esac
		done
	fi
	[ -z "$missing" ] && exit 0
	echo "missing packages:$missing (run make deps as root)" >&2
	exit 1
fi

PKGS="build-essential pkg-config libpam0g-dev libcurl4-openssl-dev libssl-dev \
libcjson-dev libqrencode-dev libevent-dev libcmocka-dev libpam-wrapper \
libnss-wrapper pamtester nodejs npm clang libclang-rt-14-dev zbar-tools \
openssh-server openssh-client dpkg-dev debhelper lintian rpm rpmlint elfutils systemd sudo iproute2 \
glewlwyd dbconfig-sqlite3 sqlite3"

missing=""
for p in $PKGS; do
	# npm/nodejs may come from elsewhere; a working binary is enough.
	case $p in
	nodejs) command -v node >/dev/null 2>&1 && continue ;;
	npm) command -v npm >/dev/null 2>&1 && continue ;;
	esac
	dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q "ok installed" || missing="$missing $p"
done
if [ -n "$missing" ]; then
	if [ "$(id -u)" != 0 ]; then
		echo "deps: missing packages:$missing (run as root or install them)" >&2
		exit 1
	fi
	echo "deps: installing$missing"
	apt-get update -qq
	# Installing openssh-server must not start a system sshd: the tests run
	# their own. policy-rc.d is removed again only if we made it.
	made_policy=""
	if [ ! -e /usr/sbin/policy-rc.d ]; then
		printf '#!/bin/sh\nexit 101\n' > /usr/sbin/policy-rc.d
		chmod 755 /usr/sbin/policy-rc.d
		made_policy=1
	fi
	DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends $missing >/dev/null
	[ -z "$made_policy" ] || rm -f /usr/sbin/policy-rc.d
	# The tests start their own Glewlwyd; the package's service must not
	# come up at the next boot either.
	case " $missing " in *" glewlwyd "*)
		systemctl disable --quiet glewlwyd.service 2>/dev/null ||
			rm -f /etc/systemd/system/multi-user.target.wants/glewlwyd.service ;;
	esac
fi

if [ ! -d tests/provider/node_modules ] ||
   [ tests/provider/package-lock.json -nt tests/provider/node_modules/.package-lock.json ]; then
	echo "deps: installing the test provider's npm packages"
	(cd tests/provider && npm ci --no-audit --no-fund --loglevel=error)
fi
