"""Ansible callback: the slowest tasks of a run, printed after the recap (deploy timings)."""
from __future__ import annotations

import time

from ansible.plugins.callback import CallbackBase

DOCUMENTATION = """
name: marsad_timing
type: aggregate
short_description: the ten slowest tasks of a run
description: Prints the ten slowest tasks (wall time, all hosts together) at the end of a run.
requirements: [enable in ansible.cfg callbacks_enabled]
"""


class CallbackModule(CallbackBase):
    CALLBACK_VERSION = 2.0
    CALLBACK_TYPE = "aggregate"
    CALLBACK_NAME = "marsad_timing"
    CALLBACK_NEEDS_ENABLED = True

    def __init__(self):
        super().__init__()
        self._current = None
        self._durations: dict[str, float] = {}
        self._started = time.monotonic()

    def _close(self):
        if self._current:
            name, start = self._current
            self._durations[name] = self._durations.get(name, 0) + time.monotonic() - start
            self._current = None

    def v2_playbook_on_task_start(self, task, is_conditional=False):
        self._close()
        self._current = (f"{task.get_name()}", time.monotonic())

    def v2_playbook_on_handler_task_start(self, task):
        # Ansible calls this one with the task only.
        self.v2_playbook_on_task_start(task)

    def v2_playbook_on_stats(self, stats):
        self._close()
        total = time.monotonic() - self._started
        self._display.display(f"Slowest tasks (of {total:.0f} s):")
        for name, seconds in sorted(self._durations.items(), key=lambda kv: -kv[1])[:10]:
            self._display.display(f"  {seconds:6.1f} s  {name}")
