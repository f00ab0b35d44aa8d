# Copyright (c) 2026 The rstrtmgr developers
# MIT License (see LICENSE at the root of the rstrtmgr repository)
"""Ansible module: close the users of files, replace them, bring the users back."""

from __future__ import annotations

DOCUMENTATION = r"""
---
module: replace_in_use
short_description: Close the users of files, replace the files, restart the users
description:
  - Shuts down the processes on the managed node that use the given files
    (or stale copies, with O(stale=true)), copies O(copy) or runs O(command)
    or O(shell), the step that replaces them, then restarts what was shut down
    and checks that each restarted program stays up for O(settle_time), with
    rstrtmgr (C(rstrtmgr replace) as a module).
  - Whatever happens once the shutdown has begun (the step fails, a user
    cannot be shut down), what was shut down is restarted; a failure leaves
    nothing stopped that is registered for restart.
  - A process comes back when it registered for restart
    (C(rstrtmgr.register_application_restart)) or was started through
    C(rstrtmgr launch). By default (O(only_registered=true)) nothing is shut
    down unless every user would come back.
  - "RV(ignore:changed) is true when something was shut down, a file was copied
    or the command ran. With O(copy) alone, pairs whose destination already has
    the source's content are skipped, and when all are, nothing is shut down
    (the task is idempotent). Without O(copy), O(command) or O(shell), the
    users are restarted (what an upgrade left behind, with O(stale=true))."
  - In check mode nothing is shut down, copied or run; RV(stopped) lists what
    would be shut down.
version_added: "0.1.0"
author:
  - The rstrtmgr developers (!UNKNOWN)
requirements:
  - rstrtmgr (Python package) importable by the managed node's Python
    (see C(ansible_python_interpreter))
  - Linux managed nodes
options:
  files:
    description:
      - Files or directories (every file under them) whose users are shut down.
      - With O(stale=true), where to look for stale copies; none means
        executables and libraries anywhere.
    type: list
    elements: path
    default: []
  stale:
    description:
      - Shut down the processes that use files deleted or replaced under
        O(files), instead of the users of the files themselves.
    type: bool
    default: false
  exclude:
    description:
      - fnmatch patterns of files and directories left out of the directory
        trees in O(files).
    type: list
    elements: str
    default: []
  copy:
    description:
      - Files to copy on the managed node once the users are shut down.
      - Each destination is replaced whole (a temporary file in its directory,
        then a rename), keeping its mode and owner when it exists.
      - Every source is checked before anything is shut down.
    type: list
    elements: dict
    default: []
    suboptions:
      src:
        description: The new file, on the managed node.
        type: path
        required: true
      dest:
        description: The file it replaces.
        type: path
        required: true
  command:
    description:
      - A command to run once the users are shut down (after O(copy)), as a
        list of arguments; no shell is involved.
      - A non-zero exit status fails the task, after the restart.
    type: list
    elements: str
  shell:
    description:
      - The same, as a C(/bin/sh -c) script. Give O(command) or O(shell), not both.
    type: str
  timeout:
    description:
      - Seconds a user gets to exit after the graceful request (SIGTERM, or a
        stop of its systemd unit); rstrtmgr's default (30 for applications, 20
        for services) when not given.
    type: float
  force:
    description: Kill (SIGKILL) a user still running after O(timeout).
    type: bool
    default: false
  only_registered:
    description:
      - Shut down nothing unless every user is registered for restart, so that
        everything shut down comes back. With false, users that are not
        registered stay stopped (RV(not_restartable)).
    type: bool
    default: true
  settle_time:
    description:
      - Seconds each restarted program is watched; one that exits within it
        counts as not restarted (RV(not_restarted)). 0 does not check.
    type: float
    default: 2
  ignore_uninspected:
    description:
      - Go on when some processes could not be looked into (another user's,
        when not root). By default the task fails and does nothing then.
    type: bool
    default: false
attributes:
  check_mode:
    support: full
    description: Lists what would be shut down; shuts down, copies and runs nothing.
  diff_mode:
    support: none
    description: It shows no diff.
notes:
  - Run it as root (C(become=true)).
seealso:
  - module: rstrtmgr.rstrtmgr.files_in_use
"""

EXAMPLES = r"""
- name: Replace a library in use, bring its users back
  rstrtmgr.rstrtmgr.replace_in_use:
    files: [/opt/myapp/lib/libmyapp.so]
    copy:
      - src: /var/cache/myapp/libmyapp.so
        dest: /opt/myapp/lib/libmyapp.so
    timeout: 10
  become: true
  register: replaced

- name: Upgrade a virtual environment while its programs are down
  rstrtmgr.rstrtmgr.replace_in_use:
    files: [/opt/myapp/venv]
    command: [/opt/myapp/venv/bin/pip, install, --upgrade, myapp]
  become: true

- name: Restart what the package upgrade left behind
  rstrtmgr.rstrtmgr.replace_in_use:
    files: [/usr/lib, /opt/myapp]
    stale: true
  become: true

- name: The new pids
  ansible.builtin.debug:
    msg: "{{ replaced.restarted | items2dict(key_name='pid', value_name='new_pid') }}"
"""

RETURN = r"""
stopped:
  description:
    - The processes shut down (in check mode, that would be), with the fields
      of C(rstrtmgr list --json) (see M(rstrtmgr.rstrtmgr.files_in_use)'s
      RV(rstrtmgr.rstrtmgr.files_in_use#module:processes)).
  returned: always
  type: list
  elements: dict
  sample: [{"pid": 4121, "app_name": "serve.py", "restartable": true, "status": ["stopped"]}]
restarted:
  description: The processes restarted, each with its old pid and the new one.
  returned: always
  type: list
  elements: dict
  contains:
    pid:
      description: The pid of the process shut down.
      type: int
      sample: 4121
    new_pid:
      description: The pid of the process started in its place.
      type: int
      sample: 4190
    app_name:
      description: Its name.
      type: str
      sample: serve.py
    command_line:
      description: The arguments of the process shut down.
      type: list
      elements: str
      sample: [/usr/bin/python3, /opt/myapp/serve.py]
not_restarted:
  description:
    - The processes shut down that did not come back, and how each ended
      (C(exited with status 1), C(could not start ...)) with its last output.
  returned: always
  type: list
  elements: dict
  sample: [{"pid": 4122, "app_name": "worker", "reason": "exited with status 1", "output": ""}]
not_restartable:
  description:
    - The processes shut down that are not registered for restart; they stay
      stopped (only with O(only_registered=false)).
  returned: always
  type: list
  elements: dict
  sample: []
copied:
  description: The destinations copied (in check mode, that would be).
  returned: always
  type: list
  elements: str
  sample: [/opt/myapp/lib/libmyapp.so]
rc:
  description: The exit status of O(command) or O(shell).
  returned: when the command ran
  type: int
  sample: 0
stdout:
  description: What the command wrote to its standard output.
  returned: when the command ran
  type: str
  sample: ""
stderr:
  description: What the command wrote to its standard error.
  returned: when the command ran
  type: str
  sample: ""
uninspected:
  description: How many live processes could not be looked into.
  returned: always
  type: int
  sample: 0
"""

import os
import shutil
import signal
import tempfile

from ansible.module_utils.basic import AnsibleModule

from ansible_collections.rstrtmgr.rstrtmgr.plugins.module_utils.rstrtmgr_support import (
    flag_names,
    not_looked_into,
    process_data,
    register,
    require_rstrtmgr,
    rstrtmgr,
)


def _same_content(src, dest):
    """Whether ``dest`` exists and holds what ``src`` holds."""
    if not os.path.isfile(dest) or os.path.getsize(src) != os.path.getsize(dest):
        return False
    with open(src, "rb") as a, open(dest, "rb") as b:
        while True:
            chunk = a.read(1 << 20)
            if chunk != b.read(1 << 20):
                return False
            if not chunk:
                return True


def _copy(src, dest):
    """Replace ``dest`` whole with a copy of ``src``, keeping its mode and owner."""
    directory = os.path.dirname(dest) or "."
    old = os.stat(dest) if os.path.exists(dest) else None
    fd, temporary = tempfile.mkstemp(dir=directory, prefix=".rstrtmgr-")
    try:
        with os.fdopen(fd, "wb") as out, open(src, "rb") as source:
            shutil.copyfileobj(source, out)
        shutil.copystat(src, temporary)
        if old is not None:
            os.chmod(temporary, old.st_mode & 0o7777)
            if os.geteuid() == 0:
                os.chown(temporary, old.st_uid, old.st_gid)
        os.replace(temporary, dest)
    except BaseException:
        os.unlink(temporary)
        raise


def _pending_copies(module):
    """The copy pairs to do; fails the task on a bad pair, before anything runs."""
    pending = []
    for pair in module.params["copy"]:
        src, dest = pair["src"], pair["dest"]
        if not os.path.isfile(src):
            module.fail_json(msg=f"copy: src {src} is not a file; nothing was done")
        if not os.path.isdir(os.path.dirname(dest) or "."):
            module.fail_json(
                msg=f"copy: the directory of dest {dest} does not exist; nothing was "
                "done"
            )
        if os.path.isdir(dest):
            module.fail_json(msg=f"copy: dest {dest} is a directory; nothing was done")
        if not _same_content(src, dest):
            pending.append((src, dest))
    return pending


def _restarted_data(processes, before):
    """The restarted processes with their new pids; those that did not come back."""
    restarted, failed = [], []
    for p in sorted(processes, key=lambda p: p.pid):
        command_line = before[p.pid]["command_line"] if p.pid in before else None
        new_pid = getattr(p, "restarted_pid", None)
        outcome = getattr(p, "restart_outcome", None)
        if new_pid is not None and (outcome is None or outcome.survived):
            restarted.append(
                {
                    "pid": p.pid,
                    "new_pid": new_pid,
                    "app_name": p.app_name,
                    "command_line": command_line,
                }
            )
        elif p.restartable:
            failed.append(
                {
                    "pid": p.pid,
                    "app_name": p.app_name,
                    "reason": "not restarted"
                    if outcome is None
                    else outcome.describe(),
                    "output": "" if outcome is None else outcome.output,
                }
            )
    return restarted, failed


def _step(module, pending, copied):
    """Copy, then run the command: the step that replaces the files."""
    for src, dest in pending:
        _copy(src, dest)
        copied.append(dest)
    argv = module.params["command"]
    if module.params["shell"] is not None:
        argv = ["/bin/sh", "-c", module.params["shell"]]
    if not argv:
        return None
    rc, out, err = module.run_command(argv)
    return {"rc": rc, "stdout": out, "stderr": err, "argv": argv}


class _Interrupted(BaseException):
    """A signal (SIGTERM, SIGHUP, SIGINT) came while the users were down.

    Not an Exception: AnsibleModule.run_command must not catch it.
    """


def _interrupted(signum, frame):
    """Turn a signal into an exception, so that the restart still runs."""
    raise _Interrupted(signal.Signals(signum).name)


def _replace(module, session, before, pending):
    """Shut down, replace, restart: ``rstrtmgr.shut_down``, keeping what restarted.

    The restart runs however the shutdown and the step end (as in
    ``rstrtmgr.shut_down``); its result (the new pids) is what the task returns.
    """
    p = module.params
    stopped = None
    error = None
    command = None
    copied = []
    # Ansible ends a task past its timeout with SIGTERM, a lost connection
    # with SIGHUP: either must still restart what was shut down.
    for signum in (signal.SIGTERM, signal.SIGHUP, signal.SIGINT):
        signal.signal(signum, _interrupted)
    try:
        stopped = session.shutdown(
            force=p["force"],
            only_registered=p["only_registered"],
            timeout=p["timeout"],
        )
        command = _step(module, pending, copied)
    except (rstrtmgr.ShutdownFailedError, rstrtmgr.RebootRequiredError) as e:
        error = (
            f"not every user could be shut down ({e}); those stopped were "
            "restarted, nothing was replaced"
        )
    except _Interrupted as e:
        error = f"interrupted by {e}; what was shut down was restarted"
    except (OSError, rstrtmgr.RestartManagerError) as e:
        error = f"the replacement failed ({e}); what was shut down was restarted"
    finally:
        for signum in (signal.SIGTERM, signal.SIGHUP, signal.SIGINT):
            signal.signal(signum, signal.SIG_IGN)  # the restart runs to its end
        restart_error = None
        try:
            after = session.restart(settle_time=p["settle_time"]).processes
        except rstrtmgr.OutOfSequenceError:
            after = []  # the shutdown stopped nothing
        except rstrtmgr.RestartFailedError as e:
            after = list(e.processes)
            restart_error = e
    _finish(
        module,
        before,
        stopped=stopped,
        copied=copied,
        command=command,
        error=error,
        after=after,
        restart_error=restart_error,
    )


def _finish(module, before, *, stopped, copied, command, error, after, restart_error):
    """End the task with what the shutdown, the step and the restart did."""
    # The shutdown's records have the statuses, the list before it the details.
    detailed = {q.pid: process_data(q) for q in before.processes}
    shut = [] if stopped is None else sorted(stopped.processes, key=lambda q: q.pid)
    # The restart's list also shows the programs it started, which now hold
    # the registered files: only what was shut down is judged.
    shut_pids = {q.pid for q in shut}
    restarted, failed = _restarted_data(
        [p for p in after if p.pid in shut_pids], detailed
    )
    stopped_data = []
    for q in shut:
        data = dict(detailed.get(q.pid) or process_data(q))
        data.update(status=flag_names(q.status), restartable=bool(q.restartable))
        stopped_data.append(data)
    result = {
        "changed": bool(shut or copied or command),
        "stopped": stopped_data,
        "restarted": restarted,
        "not_restarted": failed,
        "not_restartable": [d for d in stopped_data if not d["restartable"]],
        "copied": copied,
        "uninspected": before.uninspected,
    }
    if command is not None:
        result.update(rc=command["rc"], stdout=command["stdout"])
        result.update(stderr=command["stderr"])
        if command["rc"] != 0 and error is None:
            error = (
                f"{command['argv']} exited with status {command['rc']}; what was "
                "shut down was restarted"
            )
    if restart_error is not None or failed:
        gone = ", ".join(f"{f['pid']} ({f['app_name']}): {f['reason']}" for f in failed)
        error = ("" if error is None else error + "; and ") + (
            f"not every process came back: {gone}"
        )
    if error is not None:
        module.fail_json(msg=error, **result)
    module.exit_json(**result)


def main():
    """Run the module."""
    module = AnsibleModule(
        argument_spec={
            "files": {"type": "list", "elements": "path", "default": []},
            "stale": {"type": "bool", "default": False},
            "exclude": {"type": "list", "elements": "str", "default": []},
            "copy": {
                "type": "list",
                "elements": "dict",
                "default": [],
                "options": {
                    "src": {"type": "path", "required": True},
                    "dest": {"type": "path", "required": True},
                },
            },
            "command": {"type": "list", "elements": "str"},
            "shell": {"type": "str"},
            "timeout": {"type": "float"},
            "force": {"type": "bool", "default": False},
            "only_registered": {"type": "bool", "default": True},
            "settle_time": {"type": "float", "default": 2},
            "ignore_uninspected": {"type": "bool", "default": False},
        },
        mutually_exclusive=[("command", "shell")],
        supports_check_mode=True,
    )
    p = module.params
    if not p["files"] and not p["stale"]:
        module.fail_json(msg="give files, or stale: true")
    if p["command"] == []:
        module.fail_json(msg="command is empty: give the program and its arguments")
    require_rstrtmgr(module)
    pending = _pending_copies(module)
    has_step = bool(pending or p["command"] or p["shell"] is not None)
    if p["copy"] and not has_step:
        # Every destination already has its source's content: nothing to replace.
        module.exit_json(
            changed=False,
            stopped=[],
            restarted=[],
            not_restarted=[],
            not_restartable=[],
            copied=[],
            uninspected=0,
        )
    try:
        with rstrtmgr.Session() as session:
            register(session, p["files"], p["stale"], p["exclude"])
            before = session.get_list(details=True)
            not_looked_into(module, before.uninspected, p["ignore_uninspected"])
            users = sorted(before.processes, key=lambda q: q.pid)
            unregistered = [q for q in users if not q.restartable]
            if p["only_registered"] and unregistered:
                names = ", ".join(f"{q.pid} ({q.app_name})" for q in unregistered)
                module.fail_json(
                    msg=f"nothing was done: some users are not registered for "
                    f"restart and would stay stopped ({names}); start them with "
                    "'rstrtmgr launch', or set only_registered: false",
                    stopped=[],
                    not_restartable=[process_data(q) for q in unregistered],
                )
            if module.check_mode:
                module.exit_json(
                    changed=bool(users or has_step),
                    stopped=[process_data(q) for q in users],
                    restarted=[],
                    not_restarted=[],
                    not_restartable=[process_data(q) for q in unregistered],
                    copied=[pair[1] for pair in pending],
                    uninspected=before.uninspected,
                )
            _replace(module, session, before, pending)
    except (rstrtmgr.RestartManagerError, OSError, ValueError) as e:
        module.fail_json(msg=f"rstrtmgr failed: {e}")


if __name__ == "__main__":
    main()
