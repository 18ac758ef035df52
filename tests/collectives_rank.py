"""One rank of an `mpiexec -n N` job in the collectives tests: `smbench run` with a fault
put in first when SMBENCH_TEST_FAULT says so ("RANK:CALL:die" kills that rank at its
CALL-th timed run of a collective; "RANK:CALL:hang" stops it there for good; "RANK:CALL:corrupt"
spoils one element of its all_reduce output; "RANK:0:other-settings" runs that rank with
another suite setting), the way a crashed or stuck process or a broken link would."""

import os
import signal
import sys
import time

from smbench import cli
from smbench.families.collectives import cpu

fault = os.environ.get("SMBENCH_TEST_FAULT", "")
arguments = sys.argv[1:]
if fault.endswith(":other-settings"):  # this rank alone runs the suite with another setting
    if os.environ.get("PMI_RANK") == fault.split(":")[0]:
        arguments += ["--set", "timing.warmup=2"]
elif fault:
    rank, call, what = fault.split(":")
    calls = [0]
    original_run, original_result = cpu.MpiCall.run, cpu.MpiCall.result

    def run(self, reps):
        if self.engine.world.rank == int(rank) and what in ("die", "hang"):
            calls[0] += 1
            if calls[0] == int(call):
                if what == "die":
                    os.kill(os.getpid(), signal.SIGKILL)
                while True:  # a rank stuck polling, as in a call that never completes: a signal
                    time.sleep(0.05)  # delivered to another thread still reaches the main one here
        return original_run(self, reps)

    def result(self):
        out = original_result(self)
        if self.engine.world.rank == int(rank) and what == "corrupt" and self.collective == "all_reduce":
            out[int(call)] += 1
        return out

    cpu.MpiCall.run, cpu.MpiCall.result = run, result

sys.exit(cli.main(arguments))
