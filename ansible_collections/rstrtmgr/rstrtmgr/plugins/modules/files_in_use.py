# Copyright (c) 2026 The rstrtmgr developers
# MIT License (see LICENSE at the root of the rstrtmgr repository)
"""Ansible module: the processes that use given files, trees or stale copies."""

from __future__ import annotations

DOCUMENTATION = r"""
---
module: files_in_use
short_description: List the processes that use files, directory trees or stale copies
description:
  - Lists the processes on the managed node that use any of the given files now
    (open, mapped as a library, executed, or as their working directory),
    with rstrtmgr, the Restart Manager's contract on Linux.
  - A directory stands for every file under it.
  - With O(stale=true), lists instead the processes that still use files an
    upgrade deleted or replaced under the paths (what C(needrestart) or
    C(dnf needs-restarting) report), like C(rstrtmgr list --stale).
  - Never changes anything.
version_added: "0.1.0"
author:
  - The rstrtmgr developers (!UNKNOWN)
requirements:
  - rstrtmgr (Python package) importable by the managed node's Python
    (see C(ansible_python_interpreter))
  - Linux managed nodes
options:
  paths:
    description:
      - Files or directories whose users are listed.
      - A path that does not exist is still searched (a deleted file can still
        be held); it is returned in RV(missing).
      - With O(stale=true), where to look for stale copies; none means
        executables and libraries anywhere.
    type: list
    elements: path
    default: []
  stale:
    description:
      - List the processes that use files deleted or replaced under O(paths)
        instead of the files themselves.
    type: bool
    default: false
  exclude:
    description:
      - fnmatch patterns of files and directories left out of the directory
        trees in O(paths). A pattern with a C(/) matches the path relative to
        the directory, one without the file's name.
    type: list
    elements: str
    default: []
attributes:
  check_mode:
    support: full
    description: The module changes nothing, in check mode or not.
  diff_mode:
    support: none
    description: It shows no diff.
notes:
  - Run it as root (C(become=true)) to see every user's processes; otherwise
    RV(uninspected) counts those that could not be looked into.
seealso:
  - module: rstrtmgr.rstrtmgr.replace_in_use
"""

EXAMPLES = r"""
- name: Who uses the application's library and binaries
  rstrtmgr.rstrtmgr.files_in_use:
    paths:
      - /opt/myapp/lib/libmyapp.so
      - /opt/myapp/bin
  register: users

- name: What the upgrade left behind (needrestart's question)
  rstrtmgr.rstrtmgr.files_in_use:
    paths: [/usr/lib, /opt/myapp/venv]
    stale: true
  become: true
  register: leftovers

- name: Show the pids
  ansible.builtin.debug:
    msg: "{{ leftovers.processes | map(attribute='pid') | list }}"
"""

RETURN = r"""
in_use:
  description: Whether some process uses the files.
  returned: success
  type: bool
  sample: true
pids:
  description: The pids of RV(processes), in order.
  returned: success
  type: list
  elements: int
  sample: [4121, 4122]
processes:
  description:
    - The processes that use the files, in pid order, with the fields of
      C(rstrtmgr list --json) (schema version 1).
  returned: success
  type: list
  elements: dict
  contains:
    pid:
      description: Its pid.
      type: int
      sample: 4121
    start_time:
      description: When it started (ISO 8601, UTC); with the pid, which process it is.
      type: str
      sample: "2026-12-07T12:31:02.410000+00:00"
    app_name:
      description: Its name; for an interpreter running a script, the script's.
      type: str
      sample: serve.py
    service_name:
      description: Its systemd unit, empty for none.
      type: str
      sample: myapp.service
    app_type:
      description: C(console), C(service), C(critical), C(unknown), ...
      type: str
      sample: console
    status:
      description: Its Restart Manager status flags, lower-case names.
      type: list
      elements: str
      sample: [running]
    restartable:
      description: Whether it is registered for restart (it comes back after a shutdown).
      type: bool
      sample: true
    uid:
      description: Its real user id.
      type: int
      sample: 0
    user:
      description: Its user's name; null when the uid has none.
      type: str
      sample: root
    command_line:
      description: Its arguments.
      type: list
      elements: str
      sample: [/usr/bin/python3, /opt/myapp/serve.py]
    files:
      description: Which of the files it uses and how (C(fd), C(mapping), C(executable), C(cwd)).
      type: list
      elements: dict
      sample: [{"path": "/opt/myapp/lib/libmyapp.so", "uses": ["mapping"], "deleted": false}]
uninspected:
  description:
    - How many live processes could not be looked into (another user's, when
      not root). Above 0, "not in use" cannot be promised.
  returned: success
  type: int
  sample: 0
reboot_reasons:
  description:
    - Why some users cannot be shut down (C(permission_denied),
      C(critical_process), C(critical_service), ...); empty for none.
  returned: success
  type: list
  elements: str
  sample: []
missing:
  description: The given paths that did not exist; they were still searched.
  returned: success
  type: list
  elements: str
  sample: []
"""

from ansible.module_utils.basic import AnsibleModule

from ansible_collections.rstrtmgr.rstrtmgr.plugins.module_utils.rstrtmgr_support import (
    list_data,
    register,
    require_rstrtmgr,
    rstrtmgr,
)


def main():
    """Run the module."""
    module = AnsibleModule(
        argument_spec={
            "paths": {"type": "list", "elements": "path", "default": []},
            "stale": {"type": "bool", "default": False},
            "exclude": {"type": "list", "elements": "str", "default": []},
        },
        supports_check_mode=True,
    )
    paths = module.params["paths"]
    if not paths and not module.params["stale"]:
        module.fail_json(msg="give paths, or stale: true")
    require_rstrtmgr(module)
    try:
        with rstrtmgr.Session() as session:
            register(session, paths, module.params["stale"], module.params["exclude"])
            result = session.get_list(details=True)
    except (rstrtmgr.RestartManagerError, OSError, ValueError) as e:
        module.fail_json(msg=f"rstrtmgr could not list the users: {e}")
    module.exit_json(changed=False, **list_data(result, paths))


if __name__ == "__main__":
    main()
