#!/usr/bin/env bash
# The Ansible collection (ansible_collections/rstrtmgr/rstrtmgr): ansible-test
# sanity, then its playbooks over a fleet of SSH hosts in network namespaces
# (tests/ansible_fleet/test_fleet.py). Run by .ci/run as root, with the sdist the
# managed nodes install: tools/ansible_lane.sh dist/rstrtmgr-X.tar.gz
set -euo pipefail
cd "$(dirname "$0")/.."
repo=$PWD
sdist=$(realpath "${1:?usage: tools/ansible_lane.sh SDIST}")
lane=${RSTRTMGR_ANSIBLE_DIR:-/opt/rstrtmgr-ci/ansible}
export DEBIAN_FRONTEND=noninteractive PIP_DISABLE_PIP_VERSION_CHECK=1 PIP_PROGRESS_BAR=off
part() { printf -- '---- ansible: %s (%ss)\n' "$*" "$SECONDS"; }

part "packages: openssh-server, iproute2"
if ! dpkg -s openssh-server openssh-client iproute2 python3-venv >/dev/null 2>&1; then
  apt-get update -qq
  apt-get install -y -qq openssh-server openssh-client iproute2 python3-venv >/dev/null
fi

part "ansible-core and rstrtmgr in $lane/venv"
rm -rf "$lane"
mkdir -p "$lane"
# ansible-test's sanity ignores are per ansible-core release: 2.19 is the
# newest that runs on Debian 12's Python 3.11.
/usr/bin/python3 -m venv "$lane/venv"
"$lane/venv/bin/pip" install -q --no-cache-dir "ansible-core>=2.19,<2.20" pytest "$sdist"
# Read whole, then its first line: `| head -1` closed the pipe while
# ansible still wrote, and its BrokenPipeError failed a CI run.
version=$("$lane/venv/bin/ansible" --version)
echo "${version%%$'\n'*}"

part "ansible-test sanity"
# ansible-test makes a virtual environment per sanity test and downloads a
# pip bootstrap script from a host CI cannot reach; its cache is looked in
# first, so a stand-in goes there, under a HOME of the lane's own.
home=$lane/home
test_root=$("$lane/venv/bin/python" -c 'import ansible_test, os; print(os.path.dirname(ansible_test.__file__))')
pip_version=$(grep -oP "^\s+pip='\K[0-9.]+" "$test_root/_internal/python_requirements.py")
[ -n "$pip_version" ] || { echo "cannot tell which pip ansible-test bootstraps"; exit 1; }
mkdir -p "$home/.ansible/test/cache"
cp tools/ansible_test_pip_bootstrap.py "$home/.ansible/test/cache/get_pip_${pip_version//./_}.py"
python_version=$("$lane/venv/bin/python" -c 'import sys; print("%d.%d" % sys.version_info[:2])')
(cd ansible_collections/rstrtmgr/rstrtmgr && rm -rf tests/output && \
  HOME=$home PATH="$lane/venv/bin:$PATH" \
  ansible-test sanity --python "$python_version" --color no)

part "fleet: playbooks over 3 SSH hosts in network namespaces"
report=$lane/fleet-report.json
# The suite's helpers (tests/support.py) import the installed rstrtmgr.
RSTRTMGR_FLEET_REPORT=$report RSTRTMGR_FLEET_REQUIRED=1 \
  "$lane/venv/bin/pytest" -q -p no:cacheprovider "$repo/tests/ansible_fleet" -rs
"$lane/venv/bin/python" - "$report" <<'EOF'
import json, sys

report = json.load(open(sys.argv[1]))
for key, value in report.items():
    if key.endswith("_seconds"):
        print(f"{key}: {value}")
EOF

part "done"
