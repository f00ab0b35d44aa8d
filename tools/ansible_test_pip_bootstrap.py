"""Stand-in for the pip bootstrap script ansible-test downloads (get-pip).

ansible-test makes each sanity test's virtual environment without pip and
fetches a bootstrap script from a host that CI cannot reach. This one does
the same job from what the machine has: the interpreter's own ensurepip,
then pip's wanted version from the package index. tools/ansible_lane.sh
puts it where ansible-test looks first (its cache), under a private HOME.
"""

import subprocess
import sys

# get-pip's options for what it should not install: pip itself has none.
GET_PIP_ONLY = {"--no-setuptools", "--no-wheel"}


def quietly(*argv: str) -> None:
    """Run ``argv``; its output only when it fails (then exit with its status)."""
    done = subprocess.run(argv, capture_output=True, text=True, check=False)
    if done.returncode:
        sys.stderr.write(done.stdout + done.stderr)
        sys.exit(done.returncode)


if __name__ == "__main__":
    wanted = [a for a in sys.argv[1:] if a not in GET_PIP_ONLY]
    quietly(sys.executable, "-m", "ensurepip", "--default-pip")
    quietly(sys.executable, "-m", "pip", "install", "-q", *wanted)
